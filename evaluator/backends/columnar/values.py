"""Compiled values of the columnar backend (what a formula node compiles to: constants,
columns, records, unrolled lists, the rows of a member), the helpers that combine their
errors and presence and do calendar arithmetic on columns, and :class:`CompilerLike`,
what the builtins and aggregations use of the compiler."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import polars as pl

from evaluator.backends.base import CompiledPolicy
from evaluator.errors import Unsupported
from evaluator.facts.table import UNITS_LIMIT, Table
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T
from evaluator.lang.check.model import CheckedPolicy
from evaluator.lang.values import Duration, MonthDay

# -- compiled values -------------------------------------------------------------------

class CV:
    """A compiled value."""


@dataclass
class Const(CV):
    value: Any


@dataclass
class Col(CV):
    expr: pl.Expr
    err: pl.Expr | None = None
    #: decimal places of a Money or Number column held as a scaled integer
    scale: int | None = None


@dataclass
class Rec(CV):
    fields: dict[str, CV]
    #: None: always present; otherwise a Bool compiled value
    present: CV | None = None


@dataclass
class UList(CV):
    items: list[tuple[CV, CV]]  # (present, item)


@dataclass
class AccountRow(CV):
    """The account of the current row (or, inside an aggregation, of each row)."""


@dataclass
class MemberRef(CV):
    """The member of the current row."""


@dataclass
class MemberEvents(CV):
    """A member's events: the event slots of every row of the member."""


@dataclass
class MemberAccounts(CV):
    """A member's accounts: every row of the member."""


@dataclass
class AllAccounts(CV):
    """Every evaluated account of the portfolio."""


def fold_err(*errs: pl.Expr | None) -> pl.Expr | None:
    present = [e for e in errs if e is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return pl.coalesce(present)


def errors_of(*cvs: CV) -> pl.Expr | None:
    out: list[pl.Expr | None] = []
    for cv in cvs:
        out.append(_err_of(cv))
    return fold_err(*out)


def _err_of(cv: CV) -> pl.Expr | None:
    if isinstance(cv, Col):
        return cv.err
    if isinstance(cv, Rec):
        return fold_err(*(_err_of(f) for f in cv.fields.values()),
                        _err_of(cv.present) if cv.present is not None else None)
    if isinstance(cv, UList):
        return fold_err(*(fold_err(_err_of(p), _err_of(i)) for p, i in cv.items))
    return None


def guarded(err: pl.Expr | None, cond: pl.Expr) -> pl.Expr | None:
    """An error that only counts where ``cond`` holds (a branch that is taken)."""
    if err is None:
        return None
    return pl.when(cond).then(err)


# -- the event slots of a snapshot row ----------------------------------------------------

SLOT_COLUMNS = (("transaction", "last_transaction", False),
                ("statement_ack", "last_statement_ack", True),
                ("response", "last_response", True))


def event_slot(kind: str, column: str, member_level: bool,
               extra: dict[str, CV] | None = None) -> Rec:
    """The event of a row's ``column`` (the date of the latest event of ``kind``);
    ``extra``: the declared event fields, which an event of a table never carries."""
    return Rec({
        "date": Col(pl.col(column)),
        "type": Const(kind),
        "account_id": Const(None) if member_level else Col(pl.col("account_id")),
        "mark": Const(None),
        "amount": Const(None),
        "attachments": Const(()),
        **(extra or {}),
    }, present=Col(pl.col(column).is_not_null()))


# -- helpers on compiled values -----------------------------------------------------------

# a placeholder expression for the value of `fail(...)`: never selected
NULL_MARK = pl.lit(None)
#: the first and last days Python dates (and so the scalar backend) can hold, as days
#: since 1970-01-01 (polars dates reach further)
EPOCH = _dt.date(1970, 1, 1)
DAY_MIN = (_dt.date.min - EPOCH).days
DAY_MAX = (_dt.date.max - EPOCH).days


def is_fail(cv: CV) -> bool:
    return isinstance(cv, Col) and cv.expr is NULL_MARK


def as_rec(cv: CV) -> CV:
    """A constant record as a record of constants (so it can be chosen field by field)."""
    if isinstance(cv, Const) and isinstance(cv.value, dict):
        return Rec({k: Const(v) for k, v in cv.value.items()})
    return cv


def without_presence(rec: Rec) -> Rec:
    return Rec(rec.fields)


def list_items(cv: CV) -> list[tuple[CV, CV]]:
    if isinstance(cv, UList):
        return cv.items
    if isinstance(cv, Const):
        return [(Const(True), Const(v)) for v in cv.value]
    raise Unsupported("a list that is not known in advance")


def and_present(a: CV, b: CV | None) -> CV:
    return a if b is None else and_cv(a, b)


def and_cv(a: CV, b: CV) -> CV:
    if isinstance(a, Const):
        return b if a.value else Const(False)
    if isinstance(b, Const):
        return a if b.value else Const(False)
    assert isinstance(a, Col) and isinstance(b, Col)
    return Col(a.expr & b.expr, fold_err(a.err, guarded(b.err, a.expr)))


def in_branch(cv: CV, cond: pl.Expr) -> CV:
    """The value of a branch taken where ``cond`` holds: its computed columns computed only
    there (a value computed for every row, a message formatted from dates, costs as much
    as the rest) and its errors counting only there, in every field, item and presence of
    a record or list (the scalar backend evaluates only the branch it takes)."""
    if isinstance(cv, Col):
        if cv.expr is NULL_MARK or cv.expr.meta.is_column():
            return Col(cv.expr, guarded(cv.err, cond), cv.scale)
        return Col(pl.when(cond).then(cv.expr), guarded(cv.err, cond), cv.scale)
    if isinstance(cv, Rec):
        return Rec({k: in_branch(f, cond) for k, f in cv.fields.items()},
                   in_branch(cv.present, cond) if cv.present is not None else None)
    if isinstance(cv, UList):
        return UList([(in_branch(p, cond), in_branch(i, cond)) for p, i in cv.items])
    return cv


def when_present(present: CV, v: CV) -> CV:
    """A field ``v`` of a record that is present where ``present`` holds: null elsewhere
    (a field that is a record itself is then absent there too)."""
    v = as_rec(v)
    if isinstance(v, Rec):
        return Rec(v.fields, and_present(present, v.present))
    if isinstance(present, Const):
        return v if present.value else Const(None)
    assert isinstance(present, Col)
    if isinstance(v, Const):
        if v.value is None:
            return v
        v = _lit_col(v)
    if isinstance(v, Col):
        return Col(pl.when(present.expr).then(v.expr), fold_err(present.err, v.err), v.scale)
    raise Unsupported("a field of a record that may be null")


def _lit_col(c: Const) -> Col:
    v = c.value
    if isinstance(v, Decimal):
        scale = max(0, -v.as_tuple().exponent)  # type: ignore[operator]
        return Col(pl.lit(int(v.scaleb(scale)), pl.Int64), scale=scale)
    if isinstance(v, MonthDay):
        return Col(pl.lit(v.month * 100 + v.day, pl.Int32))
    return Col(pl.lit(v))


def align(a: Col, b: Col) -> tuple[Col, Col]:
    """Bring two scaled numbers to the same scale."""
    if a.scale is None or b.scale is None or a.scale == b.scale:
        if a.scale is None and b.scale is not None:
            return Col(a.expr, a.err, b.scale), b
        if b.scale is None and a.scale is not None:
            return a, Col(b.expr, b.err, a.scale)
        return a, b
    if a.scale < b.scale:
        return _rescaled(a, b.scale), b
    return a, _rescaled(b, a.scale)


def _rescaled(c: Col, scale: int) -> Col:
    """``c`` at a finer ``scale``, an overflow where its integer would not fit."""
    factor = 10 ** (scale - (c.scale or 0))
    over = c.expr.abs() > UNITS_LIMIT // factor
    return Col(c.expr * factor, fold_err(c.err, overflow_mark(over)), scale)


#: how a row whose exact 64-bit arithmetic would overflow is marked in `__error`: the
#: whole table is then beyond the columnar backend (Unsupported), and evaluated by the
#: scalar backend (whose decimals do not overflow) when the backend is `auto`
OVERFLOW_MARK = "\x00overflow"


def overflow_mark(over: pl.Expr) -> pl.Expr:
    return pl.when(over.fill_null(False)).then(pl.lit(OVERFLOW_MARK))


def offset_by(expr: pl.Expr, dur: Duration) -> pl.Expr:
    parts = []
    if dur.months:
        parts.append(f"{dur.months}mo")
    if dur.days:
        parts.append(f"{dur.days}d")
    if not parts:
        return expr
    return expr.dt.offset_by("".join(parts))


def per_day(day: pl.Expr, build: Callable[[pl.Expr], pl.Expr], dtype: Any = pl.Date
            ) -> pl.Expr:
    """``build(day)`` for a Date (or year) expression, computed once for each day (year)
    of the range the column spans and looked up by position: a portfolio holds a few
    thousand distinct days among a million rows, and calendar arithmetic on those then
    one gather costs a fraction of the arithmetic on every row. ``build`` must work on
    each value alone (no window, no aggregation, no staged column), as a small
    expression (it is not common-subexpression-eliminated). The range is bounded by the
    years 1-9999, so at worst it is 3.65 million days."""
    days = day.cast(pl.Int32)
    lo = days.min().fill_null(0)
    span = pl.int_range(lo, days.max().fill_null(0) + 1, dtype=pl.Int32).cast(dtype)
    looked = build(span).gather((days - lo).cast(pl.UInt32))
    return pl.when(days.is_null()).then(build(pl.lit(None, dtype))).otherwise(looked)


class FrameStage:
    """A stage computed against the whole frame, not written as one expression: the
    frame columns it reads, and its value for every row."""

    def inputs(self) -> list[str]:
        raise NotImplementedError  # pragma: no cover

    def compute(self, frame: pl.DataFrame) -> pl.Series:
        raise NotImplementedError  # pragma: no cover

    def release(self) -> None:
        """Let go of the frames it holds (it is not computed again)."""


@dataclass
class DayTable(FrameStage):
    """A lookup stage: a value computed once per day of the range a Date column spans,
    eagerly, by polars over that small range (``build`` takes the days in order and
    gives one value each), then gathered for every row by position. For a function of a
    day too large to write as one expression (the payment window): the plan holds no
    Python callback over the rows, and the rows pay one gather."""

    day: str
    build: Callable[[pl.Series], pl.Series]

    def inputs(self) -> list[str]:
        return [self.day]

    def compute(self, frame: pl.DataFrame) -> pl.Series:
        days = frame.get_column(self.day).cast(pl.Int32)
        lo, hi = days.min(), days.max()
        if lo is None or hi is None:  # no day: nothing to look up
            lo = hi = 0
        assert isinstance(lo, int) and isinstance(hi, int)
        span = pl.int_range(lo, hi + 1, dtype=pl.Int32, eager=True).cast(pl.Date)
        return self.build(span).gather((days - lo).cast(pl.UInt32))


@dataclass
class MemberExtreme(DayTable):
    """A stage of each row's member's largest (or smallest) value of the column ``day``
    (nulls ignored; null where the member has none), as a window over the member key
    would give it. Where the key is sorted, as a :class:`~evaluator.facts.table.Table`'s
    is, the members are runs of rows: one NumPy reduction per run and one gather back
    (a third of the window's cost); otherwise the window itself. ``build`` is unused."""

    largest: bool = True

    def compute(self, frame: pl.DataFrame) -> pl.Series:
        values = frame.get_column(self.day)
        order = frame.get_column("__member_order")
        if not (values.dtype == pl.Date or values.dtype.is_integer()) or not frame.height \
                or order.null_count() or not order.is_sorted():
            col = pl.col(self.day)
            return frame.select((col.max() if self.largest else col.min())
                                .over("__member_order")).to_series()
        import numpy as np

        keys = order.to_numpy()
        first = np.empty(len(keys), dtype=bool)
        first[0] = True
        np.not_equal(keys[1:], keys[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        run = np.cumsum(first) - 1
        # a sentinel no value reaches: money and counts stay below UNITS_LIMIT, days
        # are 32-bit
        none = np.iinfo(np.int64).min if self.largest else np.iinfo(np.int64).max
        x = values.to_physical().cast(pl.Int64).fill_null(none).to_numpy()
        reduce = np.maximum if self.largest else np.minimum
        out = pl.Series(self.day, reduce.reduceat(x, starts)[run])
        return frame.select(pl.when(out != none).then(out).cast(values.dtype)).to_series()


def month_start(index: int) -> int:
    """The first day of the month of index ``year * 12 + month - 1`` (any year, proleptic
    Gregorian), as days since 1970-01-01."""
    year, month0 = divmod(index, 12)
    y = year - (month0 < 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((month0 + 10) % 12) + 2) // 5
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def decimal_places(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


# -- what the builtins and aggregations use of the compiler -------------------------------

class CompilerLike(Protocol):
    """The parts of :class:`~evaluator.backends.columnar.compiler.Compiler` that the
    builtins (:mod:`.functions`) and aggregations (:mod:`.aggregates`) use, so that they
    need not import the compiler (which imports them)."""

    policy: CompiledPolicy
    checked: CheckedPolicy
    types: dict[int, T.Type]
    #: where the branches being compiled are taken
    masks: list[pl.Expr]
    memo: dict[str, CV]
    agg_values: dict[int, Any]
    agg_requests: list[tuple[A.Call, Col, Col, str]]
    #: learning which portfolio aggregates are needed (both sides of a choice compiled)
    learning: bool
    fx_map: dict[tuple[str, _dt.date], int]
    fx_codes: dict[str, int]
    fx_by_key: dict[int, int]
    fx_scale: int
    table: Table
    as_of: _dt.date
    #: the stages of the events being compiled (:mod:`.events`), None elsewhere
    event_scope: Any
    #: the table's events known on the as-of day, by kind (:mod:`.events`)
    event_frames: dict[str, pl.DataFrame]

    def put_stage(self, stage: pl.Expr | FrameStage) -> str: ...

    def definition(self, name: str) -> CV: ...

    def event_slots(self) -> list[tuple[Rec, bool]]: ...

    def compile(self, node: A.Node, entity: str, env: dict[str, CV]) -> CV: ...

    def col(self, cv: CV, node: A.Node | None, t: T.Type | None = None) -> Col: ...

    def column(self, expr: pl.Expr) -> pl.Expr: ...

    def temp(self, expr: pl.Expr) -> pl.Expr: ...

    def by_day(self, day: pl.Expr, build: Callable[[pl.Expr], pl.Expr], dtype: Any = pl.Date
               ) -> pl.Expr: ...

    def day_table(self, day: pl.Expr, build: Callable[[pl.Series], pl.Series]) -> pl.Expr: ...

    def member_extreme(self, values: pl.Expr, largest: bool) -> pl.Expr: ...

    def masked(self, expr: pl.Expr) -> pl.Expr: ...

    def fail_message(self, msg: pl.Expr) -> pl.Expr: ...

    def choose(self, cond: Col, a: CV, b: CV, t: T.Type) -> CV: ...
