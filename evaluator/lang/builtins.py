"""The function table: one entry per builtin, shared by every backend.

Each :class:`Builtin` has a signature check (argument types in, result type out, or a
:class:`SignatureError` that the checker turns into a diagnostic), a scalar
implementation, and the name of its columnar implementation (or the reason it has none),
so that a function cannot mean two things in two places. All functions are total: they
terminate on any input. Missing values are handled explicitly: aggregations over lists
skip ``null`` elements and return ``null`` for an empty list, as their result types say.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as _dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from evaluator.errors import EvaluationError, PolicyProblem
from evaluator.lang import typesys as T
from evaluator.lang.values import MonthDay, display, round_cents

Check = Callable[[Sequence[T.Type]], T.Type]


class SignatureError(PolicyProblem):
    def __init__(self, message: str, arg: int | None = None, help: str | None = None) -> None:
        self.message = message
        self.arg = arg
        self.help = help
        super().__init__(message)


class RunContext:
    """What a builtin may read from the current evaluation besides its arguments."""

    fx_rates: dict[tuple[str, _dt.date], Decimal]


@dataclass(frozen=True)
class Builtin:
    name: str
    signature: str
    doc: str
    check: Check
    scalar: Callable[..., Any]
    needs_run: bool = False
    #: the name of the columnar implementation, a function of
    #: :mod:`evaluator.backends.columnar.functions` (named, not imported: the language
    #: layer loads no dataframe library)
    columnar: str | None = None
    #: why there is no columnar implementation (exactly one of the two is given)
    no_columnar: str | None = None
    #: the implementation takes the checked result type as its first argument
    typed: bool = False
    #: the parameters' names, for the reference (``...`` after the last: any number more)
    params: tuple[str, ...] = ()
    #: a one-line example of a call, as a policy's formula would write it
    example: str = ""

    def __post_init__(self) -> None:
        if (self.columnar is None) == (self.no_columnar is None):
            raise ValueError(f"builtin `{self.name}`: give exactly one of columnar "
                             "and no_columnar")


# -- signature helpers ---------------------------------------------------------------

def _arity(args: Sequence[T.Type], n: int, name: str) -> None:
    if len(args) != n:
        raise SignatureError(f"`{name}` takes {n} argument{'s' if n != 1 else ''}, "
                             f"got {len(args)}")


def _expect(t: T.Type, want: T.Type, i: int, name: str) -> None:
    if T.is_optional(t) and T.assignable(T.strip(t), want):
        raise SignatureError(f"argument {i + 1} of `{name}` may be null", i,
                             "give a default with `??` or test it with `!= null` first")
    if not T.assignable(t, want):
        raise SignatureError(f"argument {i + 1} of `{name}` must be `{want}`, not `{t}`", i)


def _list_elem(t: T.Type, i: int, name: str) -> T.Type:
    if not isinstance(t, T.ListT):
        hint = "write the values as a list: `[a, b]`, or use a comprehension"
        raise SignatureError(f"`{name}` takes a list, not `{t}`", i, hint)
    return t.elem


def _chk_extreme(name: str, kinds: tuple[T.Type, ...]) -> Check:
    def check(args: Sequence[T.Type]) -> T.Type:
        _arity(args, 1, name)
        elem = _list_elem(args[0], 0, name)
        base = T.strip(elem)
        if base == T.NEVER or base == T.NULL:
            return T.NULL
        if base not in kinds:
            raise SignatureError(f"`{name}` needs a list of "
                                 f"{' or '.join(str(k) for k in kinds)}, not `{args[0]}`", 0)
        return T.optional(base)
    return check


def _chk_minmax(name: str) -> Check:
    def check(args: Sequence[T.Type]) -> T.Type:
        if not args:
            raise SignatureError(f"`{name}` needs at least one argument")
        result: T.Type = T.NEVER
        for i, a in enumerate(args):
            j = T.join(result, a)
            if j is None or T.strip(j) not in T.ORDERED:
                raise SignatureError(f"argument {i + 1} of `{name}` is `{a}`, which cannot "
                                     f"be compared with the others (`{result}`)", i)
            result = j
        if any(not T.is_optional(a) for a in args):
            result = T.strip(result)
        return result
    return check


def _chk_count(args: Sequence[T.Type]) -> T.Type:
    _arity(args, 1, "count")
    _list_elem(args[0], 0, "count")
    return T.INT


def _chk_sum(args: Sequence[T.Type]) -> T.Type:
    _arity(args, 1, "sum")
    elem = _list_elem(args[0], 0, "sum")
    if T.is_optional(elem):
        raise SignatureError("`sum` over values that may be null", 0,
                             "filter them out with a condition or default them with `??`")
    if elem == T.NEVER:
        return T.INT
    if not T.is_numeric(elem):
        raise SignatureError(f"`sum` needs a list of numbers or money, not `{args[0]}`", 0)
    return elem


def _chk_bool_agg(name: str) -> Check:
    def check(args: Sequence[T.Type]) -> T.Type:
        _arity(args, 1, name)
        elem = _list_elem(args[0], 0, name)
        if elem not in (T.BOOL, T.NEVER):
            raise SignatureError(f"`{name}` needs a list of Bool, not `{args[0]}`", 0)
        return T.BOOL
    return check


def _chk_pick(name: str) -> Check:
    def check(args: Sequence[T.Type]) -> T.Type:
        _arity(args, 1, name)
        return T.optional(T.strip(_list_elem(args[0], 0, name)))
    return check


def _chk_compact(args: Sequence[T.Type]) -> T.Type:
    _arity(args, 1, "compact")
    elem = _list_elem(args[0], 0, "compact")
    return T.ListT(T.NEVER if elem == T.NULL else T.strip(elem))


def _chk_fixed(name: str, params: tuple[T.Type, ...], result: T.Type) -> Check:
    def check(args: Sequence[T.Type]) -> T.Type:
        _arity(args, len(params), name)
        for i, (a, p) in enumerate(zip(args, params, strict=True)):
            _expect(a, p, i, name)
        return result
    return check


def _chk_round(args: Sequence[T.Type]) -> T.Type:
    _arity(args, 1, "round_cents")
    if args[0] not in (T.MONEY, T.NUMBER, T.INT):
        _expect(args[0], T.MONEY, 0, "round_cents")
    return T.MONEY if args[0] == T.MONEY else T.NUMBER


_PLACEHOLDER = re.compile(r"\{\}")


def _printable(args: Sequence[T.Type], name: str) -> None:
    for i, t in enumerate(args):
        if T.has_entity(t):
            raise SignatureError(f"argument {i + 1} of `{name}` is `{t}`, which cannot be "
                                 "turned into text", i,
                                 "give one of its fields instead, such as `member.member_id` "
                                 "or `account.account_id`")


def _chk_format(args: Sequence[T.Type]) -> T.Type:
    if not args:
        raise SignatureError("`format` needs a template text")
    _expect(args[0], T.TEXT, 0, "format")
    _printable(args, "format")
    return T.TEXT


def _chk_text(args: Sequence[T.Type]) -> T.Type:
    _arity(args, 1, "text")
    _printable(args, "text")
    return T.TEXT


def _chk_fail(args: Sequence[T.Type]) -> T.Type:
    _arity(args, 1, "fail")
    _expect(args[0], T.TEXT, 0, "fail")
    return T.NEVER


WINDOW_COLUMNS: dict[str, T.Type] = {
    "unclaimed_from": T.MONTH_DAY,
    "unclaimed_to": T.MONTH_DAY,
    "opens": T.MONTH_DAY,
    "closes": T.MONTH_DAY,
    "year_offset": T.INT,
}


def window_type(row: T.Type) -> T.Type:
    return T.RecordT((("opens", T.DATE), ("closes", T.DATE), ("row", row),
                      ("deferred", T.BOOL)))


def _chk_window(args: Sequence[T.Type]) -> T.Type:
    _arity(args, 3, "window_for")
    _expect(args[0], T.DATE, 0, "window_for")
    row = _list_elem(args[1], 1, "window_for")
    if not isinstance(row, T.RecordT):
        raise SignatureError("`window_for` needs a table of windows", 1)
    for col, want in WINDOW_COLUMNS.items():
        got = row.field(col)
        if got is None or not T.assignable(got, want):
            raise SignatureError(f"the windows table needs a column `{col}` of type `{want}`", 1,
                                 "columns: " + ", ".join(WINDOW_COLUMNS))
    _expect(args[2], T.DATE, 2, "window_for")
    return window_type(row)


# -- scalar implementations ----------------------------------------------------------

def _present(xs: Sequence[Any]) -> list[Any]:
    return [x for x in xs if x is not None]


def _latest(xs: Sequence[Any]) -> Any:
    if not xs:
        return None
    try:  # most lists hold no null: the first largest item, as over the present ones
        return max(xs)
    except TypeError:  # a null among them (or only nulls)
        p = _present(xs)
        return max(p) if p else None


def _earliest(xs: Sequence[Any]) -> Any:
    p = _present(xs)
    return min(p) if p else None


def _max(*xs: Any) -> Any:
    return _latest(xs)


def _min(*xs: Any) -> Any:
    return _earliest(xs)


def _sum(result: T.Type, xs: Sequence[Any]) -> Any:
    """The total, starting from a zero of the result's type (an empty Money sum is 0.00)."""
    total: Any = Decimal("0.00") if result == T.MONEY else Decimal(0) \
        if result == T.NUMBER else 0
    for x in xs:
        total = total + x
    return total


def _first(xs: Sequence[Any]) -> Any:
    return xs[0] if xs else None


def _last(xs: Sequence[Any]) -> Any:
    return xs[-1] if xs else None


def _date(year: int, md: MonthDay) -> _dt.date:
    if not 1 <= year <= 9999:
        raise EvaluationError(f"year {year} is out of range")
    return md.in_year(year)


def _format(template: str, *args: Any) -> str:
    parts = _PLACEHOLDER.split(template)
    out = [parts[0]]
    for i, part in enumerate(parts[1:]):
        out.append(display(args[i]) if i < len(args) else "{}")
        out.append(part)
    return "".join(out)


def _fail(message: str) -> Any:
    raise EvaluationError(message)


def _fx_rate(run: RunContext, currency: str, on: _dt.date) -> Decimal | None:
    return run.fx_rates.get((currency, on))


class FxHistory:
    """The rates of each currency in date order, for the latest rate on or before a day
    (built once per evaluation, from the ``(currency, date) -> rate`` table). Each rate
    is written with the decimal places of the table's most precise rate, as the columnar
    backend holds them (``0.72`` beside ``1.3850`` is ``0.7200``: the same number)."""

    def __init__(self, rates: Mapping[tuple[str, _dt.date], Decimal]) -> None:
        self.rates = rates
        places = max((max(0, -int(r.as_tuple().exponent)) for r in rates.values()), default=0)
        unit = Decimal(1).scaleb(-places)
        by_currency: dict[str, list[tuple[_dt.date, Decimal]]] = {}
        for (currency, day), rate in rates.items():
            by_currency.setdefault(currency, []).append((day, rate.quantize(unit)))
        self.days: dict[str, list[_dt.date]] = {}
        self.values: dict[str, list[Decimal]] = {}
        for currency, pairs in by_currency.items():
            pairs.sort(key=lambda p: p[0])
            self.days[currency] = [d for d, _ in pairs]
            self.values[currency] = [r for _, r in pairs]

    def on_or_before(self, currency: str, on: _dt.date) -> dict[str, Any] | None:
        days = self.days.get(currency)
        if not days:
            return None
        i = bisect.bisect_right(days, on) - 1
        if i < 0:
            return None
        return {"rate": self.values[currency][i], "date": days[i]}


def _fx_history(run: RunContext) -> FxHistory:
    history: FxHistory | None = getattr(run, "_fx_history", None)
    if history is None or history.rates is not run.fx_rates:
        history = FxHistory(run.fx_rates)
        setattr(run, "_fx_history", history)  # noqa: B010 (a run has no such attribute)
    return history


def _fx_rate_on_or_before(run: RunContext, currency: str, on: _dt.date
                          ) -> dict[str, Any] | None:
    return _fx_history(run).on_or_before(currency, on)


FX_ON_OR_BEFORE = T.RecordT((("rate", T.NUMBER), ("date", T.DATE)))


def _days_between(a: _dt.date, b: _dt.date) -> int:
    return (b - a).days


def payment_window(unclaimed_on: _dt.date, table: Sequence[dict[str, Any]],
                   not_before: _dt.date) -> dict[str, Any]:
    """The window a deposit unclaimed on ``unclaimed_on`` is paid in (2(5), 6(3)).

    The row whose ``unclaimed_from``..``unclaimed_to`` contains the day gives the base
    window (``year_offset`` years after the unclaimed year). When that window closes
    before ``not_before`` (the end of a transition period), the first later window of
    the table's recurring windows that closes on or after ``not_before`` is used and
    ``deferred`` is true. The search is bounded by the years between the two dates.

    Memoised per table: the row of each day of the year, and the window of each
    (year, row, ``not_before``); a fresh dict is returned every time. A table value is
    never changed in place (the language has no mutation), and the memo holds the table
    itself, so its identity cannot be reused by another table while memoised.
    """
    memo = _WINDOW_MEMOS.get(id(table))
    if memo is None or memo.table is not table:
        if len(_WINDOW_MEMOS) >= _WINDOW_MEMO_TABLES:
            _WINDOW_MEMOS.clear()
        memo = _WINDOW_MEMOS[id(table)] = _WindowMemo(table)
    day = (unclaimed_on.month, unclaimed_on.day)
    index = memo.rows.get(day)
    if index is None:
        index = memo.rows[day] = _window_row(MonthDay.of(unclaimed_on), table)
    row = table[index]
    key = (unclaimed_on.year, index, not_before)
    window = memo.windows.get(key)
    if window is None:
        window = memo.windows[key] = _window(unclaimed_on.year + int(row["year_offset"]),
                                             row, table, not_before)
    return {"opens": window[0], "closes": window[1], "row": row, "deferred": window[2]}


class _WindowMemo:
    """What :func:`payment_window` has computed for one table."""

    __slots__ = ("rows", "table", "windows")

    def __init__(self, table: Sequence[dict[str, Any]]) -> None:
        self.table = table
        self.rows: dict[tuple[int, int], int] = {}
        self.windows: dict[tuple[int, int, _dt.date], tuple[_dt.date, _dt.date, bool]] = {}


#: the tables memoised at once (a run uses one; the memos are dropped past this many)
_WINDOW_MEMO_TABLES = 16
_WINDOW_MEMOS: dict[int, _WindowMemo] = {}


def _window_row(md: MonthDay, table: Sequence[dict[str, Any]]) -> int:
    """The index of the row whose ``unclaimed_from``..``unclaimed_to`` contains ``md``."""
    for i, r in enumerate(table):
        lo, hi = r["unclaimed_from"], r["unclaimed_to"]
        if (lo <= md <= hi) if lo <= hi else (md >= lo or md <= hi):
            return i
    raise EvaluationError(f"no payment window covers {md} (the windows table has a gap)")


def _window(year: int, row: dict[str, Any], table: Sequence[dict[str, Any]],
            not_before: _dt.date) -> tuple[_dt.date, _dt.date, bool]:
    """(opens, closes, deferred) of :func:`payment_window` for the base ``year``."""
    opens, closes = window_dates(year, row["opens"], row["closes"])
    if closes >= not_before:
        return opens, closes, False
    # recurring windows of the table, tried in date order, from the base window on
    shapes = sorted({(r["opens"], r["closes"]) for r in table})
    for y in range(year, max(year, not_before.year) + 2):
        for o, c in shapes:
            wo, wc = window_dates(y, o, c)
            if wo >= opens and wc >= not_before:
                return wo, wc, True
    raise EvaluationError("no payment window after the transition period")  # pragma: no cover


def window_dates(year: int, opens: MonthDay, closes: MonthDay) -> tuple[_dt.date, _dt.date]:
    if not 1 <= year <= 9998:
        raise EvaluationError(f"payment year {year} is out of range")
    o = opens.in_year(year)
    c = closes.in_year(year if closes >= opens else year + 1)
    return o, c


INTEREST_METHODS = ("simple", "compound")


def accrued_interest(principal: Decimal, rate: Decimal, start: _dt.date, end: _dt.date,
                     method: str, cap: Any) -> Decimal:
    """Interest on ``principal`` at an annual ``rate`` from ``start`` to ``end``, counted
    for at most ``cap`` (a duration) after ``start``, t = actual days / 365, rounded half
    up to the cent. ``simple``: principal x rate x t, exact (:func:`interest_simple` up to
    the capped day); ``compound`` (annually, continuously in t): principal x ((1 + rate)^t
    - 1), a decimal power to 28 significant digits. Nothing accrues when ``end`` is not
    after ``start``."""
    from evaluator.lang.values import add_duration

    if method not in INTEREST_METHODS:
        raise EvaluationError(f"unknown interest method `{method}` "
                              f"(use {' or '.join(INTEREST_METHODS)})")
    try:
        limit = add_duration(start, cap)
    except OverflowError:
        limit = _dt.date.max
    stop = min(end, limit)
    days = (stop - start).days
    if days <= 0 or rate == 0 or principal == 0:
        return Decimal("0.00")
    t = Decimal(days) / Decimal(365)
    if method == "simple":
        return interest_simple(principal, rate, start, stop)
    return round_cents(Decimal(principal) * ((1 + Decimal(rate)) ** t - 1))


def round_half_up(x: Fraction) -> Decimal:
    """An exact amount rounded to the cent, half up (away from zero at one half, as
    :func:`~evaluator.lang.values.round_cents`)."""
    cents = abs(x) * 100
    whole = int(cents + Fraction(1, 2))  # floor, the amount being positive
    return (Decimal(whole if x >= 0 else -whole) / 100).quantize(Decimal("0.01"))


def whole_years(start: _dt.date, end: _dt.date) -> tuple[int, _dt.date]:
    """The whole years from ``start`` to ``end`` (``end`` not before ``start``) and the
    last anniversary, ``start`` plus those years (29 Feb is 28 Feb in other years)."""
    from evaluator.lang.values import Duration, add_duration

    n = end.year - start.year
    anniversary = add_duration(start, Duration(12 * n, 0))
    if anniversary > end:
        n -= 1
        anniversary = add_duration(start, Duration(12 * n, 0))
    return n, anniversary


def interest_simple(principal: Decimal, rate: Decimal, start: _dt.date, end: _dt.date
                    ) -> Decimal:
    """Simple interest: principal x rate x days / 365 (actual/365: the calendar days from
    ``start`` to ``end``, a leap year's 366 included, over 365), computed exactly and
    rounded to the cent, half up, at the end only; 0.00 when ``end`` is not after
    ``start``."""
    days = (end - start).days
    if days <= 0:
        return Decimal("0.00")
    return round_half_up(Fraction(principal) * Fraction(rate) * days / 365)


def interest_compound(principal: Decimal, rate: Decimal, start: _dt.date, end: _dt.date
                      ) -> Decimal:
    """Interest compounded annually on each anniversary of ``start``, simple actual/365
    for the broken period after the last one: principal x ((1 + rate)^n x (1 + rate x
    d / 365) - 1), n the whole years from ``start`` to ``end`` and d the days from the
    last anniversary to ``end``; exact, rounded to the cent, half up, at the end only;
    0.00 when ``end`` is not after ``start``."""
    if end <= start:
        return Decimal("0.00")
    n, anniversary = whole_years(start, end)
    d = (end - anniversary).days
    r = Fraction(rate)
    factor = (1 + r) ** n * (1 + r * d / 365)
    return round_half_up(Fraction(principal) * (factor - 1))


def _year(d: _dt.date) -> int:
    return d.year


def _month(d: _dt.date) -> int:
    return d.month


def _day(d: _dt.date) -> int:
    return d.day


def _days_in_month(d: _dt.date) -> int:
    return calendar.monthrange(d.year, d.month)[1]


def _round(x: Any) -> Decimal:
    return round_cents(Decimal(x))


_ORDERED_AGG = (T.DATE, T.INT, T.NUMBER, T.MONEY, T.DURATION, T.MONTH_DAY, T.TEXT)

BUILTINS: dict[str, Builtin] = {b.name: b for b in [
    Builtin("latest", "latest(List[Date?]) -> Date?",
            "the latest date of a list, ignoring nulls; null when there is none",
            _chk_extreme("latest", (T.DATE,)), _latest, columnar="c_reduce_list",
            params=('dates',),
            example="latest(e.date for e in events if e.type == \"transaction\")"),
    Builtin("earliest", "earliest(List[Date?]) -> Date?",
            "the earliest date of a list, ignoring nulls; null when there is none",
            _chk_extreme("earliest", (T.DATE,)), _earliest, columnar="c_reduce_list",
            params=('dates',),
            example="earliest(a.opened for a in accounts)"),
    Builtin("largest", "largest(List[T?]) -> T?",
            "the largest value of a list, ignoring nulls; null when there is none",
            _chk_extreme("largest", _ORDERED_AGG), _latest, columnar="c_reduce_list",
            params=('values',),
            example="largest(a.balance for a in accounts)"),
    Builtin("smallest", "smallest(List[T?]) -> T?",
            "the smallest value of a list, ignoring nulls; null when there is none",
            _chk_extreme("smallest", _ORDERED_AGG), _earliest, columnar="c_reduce_list",
            params=('values',),
            example="smallest(a.balance for a in accounts)"),
    Builtin("max", "max(a, b, ...) -> T",
            "the largest argument, ignoring nulls; null only if every argument may be null "
            "and is", _chk_minmax("max"), _max, columnar="c_extreme",
            params=('a', 'b', '...'),
            example="max(last_activity, coming_into_force)"),
    Builtin("min", "min(a, b, ...) -> T",
            "the smallest argument, ignoring nulls", _chk_minmax("min"), _min,
            columnar="c_extreme",
            params=('a', 'b', '...'),
            example="min(as_of, unclaimed_on + 1 year)"),
    Builtin("count", "count(List[T]) -> Int", "how many elements a list has",
            _chk_count, len, columnar="c_reduce_list",
            params=('list',),
            example="count(e for e in events if e.type == \"notice\")"),
    Builtin("sum", "sum(List[Money]) -> Money", "the total of a list of amounts (0 if empty)",
            _chk_sum, _sum, typed=True, columnar="c_reduce_list",
            params=('amounts',),
            example="sum(e.amount ?? 0.00 for e in events if e.type == \"fee\")"),
    Builtin("any", "any(List[Bool]) -> Bool", "true when some element is true",
            _chk_bool_agg("any"), any, columnar="c_reduce_list",
            params=('conditions',),
            example="any(e.type == \"interest\" for e in events)"),
    Builtin("all", "all(List[Bool]) -> Bool", "true when no element is false",
            _chk_bool_agg("all"), all, columnar="c_reduce_list",
            params=('conditions',),
            example="all(a.balance < 100.00 for a in accounts)"),
    Builtin("first", "first(List[T]) -> T?", "the first element, null for an empty list",
            _chk_pick("first"), _first, columnar="c_reduce_list",
            params=('list',),
            example="first(n for n in notices if n.required)"),
    Builtin("last", "last(List[T]) -> T?", "the last element, null for an empty list",
            _chk_pick("last"), _last, columnar="c_reduce_list",
            params=('list',),
            example="last(e.date for e in events)"),
    Builtin("compact", "compact(List[T?]) -> List[T]", "the list without its nulls",
            _chk_compact, lambda xs: tuple(x for x in xs if x is not None),
            columnar="c_reduce_list",
            params=('list',),
            example="compact([catch_up_notice, transition_notice])"),
    Builtin("year", "year(Date) -> Int", "the calendar year of a date",
            _chk_fixed("year", (T.DATE,), T.INT), _year, columnar="c_date_part",
            params=('date',),
            example="year(unclaimed_on)"),
    Builtin("month", "month(Date) -> Int", "the month (1-12) of a date",
            _chk_fixed("month", (T.DATE,), T.INT), _month, columnar="c_date_part",
            params=('date',),
            example="month(as_of)"),
    Builtin("day", "day(Date) -> Int", "the day of the month of a date",
            _chk_fixed("day", (T.DATE,), T.INT), _day, columnar="c_date_part",
            params=('date',),
            example="day(as_of)"),
    Builtin("days_in_month", "days_in_month(Date) -> Int", "28 to 31",
            _chk_fixed("days_in_month", (T.DATE,), T.INT), _days_in_month,
            columnar="c_date_part",
            params=('date',),
            example="days_in_month(as_of)"),
    Builtin("month_day", "month_day(Date) -> MonthDay", "the day of the year, e.g. 30 Sep",
            _chk_fixed("month_day", (T.DATE,), T.MONTH_DAY), MonthDay.of,
            columnar="c_month_day",
            params=('date',),
            example="month_day(unclaimed_on) <= 30 Sep"),
    Builtin("date", "date(Int, MonthDay) -> Date",
            "that day in that year (29 Feb becomes 28 Feb in a non-leap year)",
            _chk_fixed("date", (T.INT, T.MONTH_DAY), T.DATE), _date, columnar="c_date",
            params=('year', 'month_day'),
            example="date(year(as_of), 30 Sep)"),
    Builtin("days_between", "days_between(Date, Date) -> Int",
            "calendar days from the first date to the second (negative if earlier)",
            _chk_fixed("days_between", (T.DATE, T.DATE), T.INT), _days_between,
            columnar="c_days_between",
            params=('from', 'to'),
            example="days_between(unclaimed_on, as_of)"),
    Builtin("round_cents", "round_cents(Money) -> Money",
            "rounded to the cent, half up (D3)", _chk_round, _round, columnar="c_round",
            params=('amount',),
            example="round_cents(balance * 0.015)"),
    Builtin("fx_rate", "fx_rate(Text, Date) -> Number?",
            "the credit union's rate (CAD per unit) for a currency dated exactly that day, "
            "null when none is recorded", _chk_fixed("fx_rate", (T.TEXT, T.DATE),
                                                     T.OptionalT(T.NUMBER)),
            _fx_rate, needs_run=True, columnar="c_fx_rate",
            params=('currency', 'date'),
            example="if currency == \"CAD\" then 1 else fx_rate(currency, fx_date)"),
    Builtin("fx_rate_on_or_before", "fx_rate_on_or_before(Text, Date) -> {rate: Number, "
            "date: Date}?",
            "the credit union's latest rate (CAD per unit) for a currency dated on or before "
            "that day, with the date of that rate; null when none is (CAD is no exception: "
            "write `if currency == \"CAD\" then 1 else ...`, as for `fx_rate`)",
            _chk_fixed("fx_rate_on_or_before", (T.TEXT, T.DATE), T.OptionalT(FX_ON_OR_BEFORE)),
            _fx_rate_on_or_before, needs_run=True, columnar="c_fx_rate_on_or_before",
            params=('currency', 'date'),
            example="(fx_rate_on_or_before(currency, unclaimed_on) ?? fail(\"no rate\")).rate"),
    Builtin("interest_simple", "interest_simple(Money, Number, Date, Date) -> Money",
            "simple interest on an amount at an annual rate from the first date to the "
            "second: amount x rate x days / 365 (actual/365), exact, rounded to the cent "
            "half up at the end only; 0.00 when the second date is not after the first",
            _chk_fixed("interest_simple", (T.MONEY, T.NUMBER, T.DATE, T.DATE), T.MONEY),
            interest_simple, columnar="c_interest",
            params=('principal', 'rate', 'from', 'to'),
            example="interest_simple(balance, 2.5%, maturity, as_of)"),
    Builtin("interest_compound", "interest_compound(Money, Number, Date, Date) -> Money",
            "interest compounded annually on each anniversary of the first date (29 Feb: "
            "28 Feb in other years), simple actual/365 for the days after the last one: "
            "amount x ((1 + rate)^years x (1 + rate x days / 365) - 1), exact, rounded to the "
            "cent half up at the end only; 0.00 when the second date is not after the first",
            _chk_fixed("interest_compound", (T.MONEY, T.NUMBER, T.DATE, T.DATE), T.MONEY),
            interest_compound, columnar="c_interest",
            params=('principal', 'rate', 'from', 'to'),
            example="interest_compound(balance, 2.5%, unclaimed_on, as_of)"),
    Builtin("format", "format(Text, ...) -> Text",
            "the template with each `{}` replaced by the next argument", _chk_format, _format,
            columnar="c_format",
            params=('template', 'values...'),
            example="format(\"unclaimed since {}\", unclaimed_on)"),
    Builtin("text", "text(T) -> Text", "a value as text (dates as YYYY-MM-DD)",
            _chk_text, display, columnar="c_text",
            params=('value',),
            example="text(unclaimed_on)"),
    Builtin("fail", "fail(Text) -> Never",
            "stop: this record cannot be evaluated, with this message (goes to `errors`)",
            _chk_fail, _fail, columnar="c_fail",
            params=('message',),
            example="fx_rate(currency, fx_date) ?? fail(\"no rate for the conversion day\")"),
    Builtin("join", "join(List[Text], Text) -> Text",
            "the texts one after the other, with the separator between them",
            _chk_fixed("join", (T.ListT(T.TEXT), T.TEXT), T.TEXT),
            lambda xs, sep: sep.join(xs), columnar="c_join",
            params=('texts', 'separator'),
            example="join([n.mark for n in notices], \", \")"),
    Builtin("accrued_interest",
            "accrued_interest(Money, Number, Date, Date, Text, Duration) -> Money",
            "interest on an amount at an annual rate between two dates, `simple` or "
            "`compound`, for at most the given duration, actual/365, to the cent",
            _chk_fixed("accrued_interest", (T.MONEY, T.NUMBER, T.DATE, T.DATE, T.TEXT,
                                            T.DURATION), T.MONEY), accrued_interest,
            columnar="c_interest",
            params=('principal', 'rate', 'from', 'to', 'method', 'cap'),
            example="accrued_interest(amount, interest_rate, transferred_on, as_of, \"simple\", 10 years)"),
    Builtin("window_for", "window_for(Date, Table, Date) -> Window",
            "the window of a windows table a date falls in, moved to the first window "
            "closing on or after the third argument", _chk_window, payment_window,
            columnar="c_window_for",
            params=('day', 'windows', 'not_before'),
            example="window_for(unclaimed_on, payment_windows, transition_end)"),
]}


def count_placeholders(template: str) -> int:
    return len(_PLACEHOLDER.findall(template))


def reference_markdown() -> str:
    """The builtin reference (``docs/builtins.md``), generated from :data:`BUILTINS`:
    each builtin's signature, parameters, description and example, in the table's
    order. ``python scripts/builtins_reference.py`` writes it; a test fails when the
    file differs."""
    lines = ["# Builtin functions", "",
             "<!-- generated from evaluator/lang/builtins.py (BUILTINS) by "
             "scripts/builtins_reference.py: do not edit by hand -->", "",
             "Every function a formula can call, with both backends (scalar and columnar). "
             "Functions are total; `T?` is a value that may be null: test it with "
             "`!= null` or give a default with `??` before a function that needs a value.",
             "", "| function | parameters | what it gives |", "|---|---|---|"]
    for b in BUILTINS.values():
        lines.append(f"| [`{b.name}`](#{b.name}) | "
                     f"{', '.join(f'`{p}`' for p in b.params)} | "
                     f"{b.doc.split(';')[0].replace('|', '&#124;')} |")
    for b in BUILTINS.values():
        lines += ["", f"## {b.name}", "", "```", b.signature, "```", "",
                  f"Parameters: {', '.join(f'`{p}`' for p in b.params)}.", "",
                  f"{b.doc[0].upper()}{b.doc[1:]}.", "", "Example:", "", "```",
                  b.example, "```"]
    lines += ["", "## Trying them", "",
              "A policy extending the baseline with a definition per function, evaluated "
              "on the bundled snapshot (the rate on or before each account's last activity "
              "shows the date it was taken from):", "",
              "<!-- readme-test: file policies/try-builtins.yaml -->", "```yaml",
              *_TRY_POLICY, "```", "", "```sh",
              "unclaimed check policies/try-builtins.yaml",
              "unclaimed evaluate --policy policies/try-builtins.yaml "
              "--facts examples/members.csv --fx examples/fx.csv --as-of 2026-11-21 "
              "--format csv", "```"]
    return "\n".join(lines) + "\n"


_TRY_POLICY = (
    "policy: try-builtins",
    "version: 1.0.0",
    "status: alternative",
    "title: the builtins regimes need, tried",
    "extends: fsra-2024-001@1.1.0",
    "definitions:",
    "  rate_used:",
    "    entity: account",
    '    provision: "2(15)"',
    "    formula: fx_rate_on_or_before(currency, last_activity)",
    "  simple_interest:",
    "    entity: account",
    '    provision: "5(1)"',
    "    formula: interest_simple(balance, 2.5%, last_activity, as_of)",
    "  compound_interest:",
    "    entity: account",
    '    provision: "5(1)"',
    "    formula: interest_compound(balance, 2.5%, last_activity, as_of)",
    "outputs:",
    "  account: [status, last_activity, rate_used, simple_interest, compound_interest]",
)
