"""The columnar implementations of the builtins: each is named by its entry of the one
builtin table (:data:`evaluator.lang.builtins.BUILTINS`, field ``columnar``) and found
by :func:`columnar_impl`; each takes the compiler, the call node and the compiled
arguments."""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Callable, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import polars as pl

from evaluator.backends.columnar.values import (
    CV,
    DAY_MAX,
    DAY_MIN,
    EPOCH,
    NULL_MARK,
    Col,
    CompilerLike,
    Const,
    Rec,
    UList,
    align,
    and_cv,
    and_present,
    as_rec,
    errors_of,
    fold_err,
    guarded,
    list_items,
    offset_by,
    overflow_mark,
)
from evaluator.errors import Unsupported
from evaluator.facts.table import UNITS_LIMIT
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T
from evaluator.lang.builtins import BUILTINS, INTEREST_METHODS, WINDOW_COLUMNS, window_dates
from evaluator.lang.values import MonthDay, display

# -- builtins on columns (one table with the scalar ones: builtins.BUILTINS) ----------------

Impl = Callable[[CompilerLike, A.Call, list[CV]], CV]


def _unary_items(args: list[CV]) -> list[tuple[CV, CV]]:
    return list_items(args[0])


def _reduce_ulist(comp: CompilerLike, node: A.Call, items: list[tuple[CV, CV]], name: str) -> CV:
    t = comp.types[id(node)]
    if not items:
        return Const({"count": 0, "sum": 0, "any": False, "all": True, "compact": ()}
                     .get(name))
    if name == "compact":
        return UList([(and_cv(p, _not_null(comp, v)), v) for p, v in items])
    if name in ("first", "last"):
        return _pick(comp, items, t, name == "first")
    if name == "count":
        cols = [comp.col(p, None) for p, _ in items]
        return Col(pl.sum_horizontal([c.expr.cast(pl.Int64) for c in cols]),
                   errors_of(*cols), scale=0)
    vals: list[Col] = []
    for p, v in items:
        pc, vc = comp.col(p, None), comp.col(v, None)
        vals.append(Col(pl.when(pc.expr).then(vc.expr),
                        fold_err(pc.err, guarded(vc.err, pc.expr)), vc.scale))
    scale = vals[0].scale
    if any(v.scale != scale for v in vals):
        aligned = [vals[0]]
        for v in vals[1:]:
            a, b = align(aligned[0], v)
            aligned = [a, *aligned[1:], b]
        vals, scale = aligned, aligned[0].scale
    exprs = [v.expr for v in vals]
    err = errors_of(*vals)
    if name in ("latest", "largest"):
        return Col(pl.max_horizontal(exprs), err, scale)
    if name in ("earliest", "smallest"):
        return Col(pl.min_horizontal(exprs), err, scale)
    if name == "sum":
        return Col(pl.sum_horizontal([e.fill_null(0) for e in exprs]), err, scale)
    if name == "any":
        return Col(pl.any_horizontal([e.fill_null(False) for e in exprs]), err)
    if name == "all":
        return Col(pl.all_horizontal([e.fill_null(True) for e in exprs]), err)
    del t
    raise Unsupported(f"`{name}`")


def _pick(comp: CompilerLike, items: list[tuple[CV, CV]], t: T.Type, first: bool) -> CV:
    """The first (last) present item of ``items``, null or not, a record or a value, as
    the scalar backend's ``first`` (``last``); null when none is. Every present item's
    errors count, the first in list order, as the scalar backend builds the whole list
    before it picks."""
    out: CV = Const(None)
    errs: list[pl.Expr | None] = []
    for p, v in items[::-1] if first else items:
        if isinstance(p, Const):
            if p.value:
                out = v
                errs.append(errors_of(v))
            continue
        pc = comp.col(p, None)
        taken = pc.expr.fill_null(False)
        errs.append(fold_err(pc.err, guarded(errors_of(v), taken)))
        out = comp.choose(Col(taken, pc.err), v, out, t)
    err = fold_err(*(errs[::-1] if first else errs))
    if err is None:
        return out
    out = as_rec(out)
    if isinstance(out, Rec):
        return Rec(out.fields, and_present(Col(pl.lit(True), err), out.present))
    oc = comp.col(out, None)
    return Col(oc.expr, fold_err(err, oc.err), oc.scale)


def _not_null(comp: CompilerLike, v: CV) -> CV:
    if isinstance(v, Const):
        return Const(v.value is not None)
    if isinstance(v, Rec):
        return v.present if v.present is not None else Const(True)
    vc = comp.col(v, None)
    return Col(vc.expr.is_not_null(), vc.err)


def c_reduce_list(comp: CompilerLike, node: A.Call, args: list[CV]) -> CV:
    """The builtins over one list (``latest``, ``count``, ``sum``, ``compact``, ...); over
    a list column (a declared ``list of text`` field), ``count``, ``first`` and ``last``."""
    if isinstance(args[0], Col) and node.func in ("count", "first", "last"):
        items = args[0].expr.list
        expr = {"count": items.len().cast(pl.Int64), "first": items.first(),
                "last": items.last()}[node.func]
        return Col(expr, args[0].err, 0 if node.func == "count" else None)
    return _reduce_ulist(comp, node, _unary_items(args), node.func)


def c_extreme(comp: CompilerLike, node: A.Call, args: list[CV]) -> CV:
    """``max`` and ``min`` of their arguments."""
    cols = [comp.col(a, n) for a, n in zip(args, node.args, strict=True)]
    scale = next((c.scale for c in cols if c.scale is not None), None)
    aligned = cols
    if scale is not None:
        top = max(c.scale or 0 for c in cols)
        aligned = [Col(c.expr * 10 ** (top - (c.scale or 0)), c.err, top) for c in cols]
        scale = top
    exprs = [c.expr for c in aligned]
    fn = pl.max_horizontal if node.func == "max" else pl.min_horizontal
    return Col(fn(exprs), errors_of(*aligned), scale)


def c_date_part(comp: CompilerLike, node: A.Call, args: list[CV]) -> CV:
    """``year``, ``month``, ``day`` and ``days_in_month`` of a date."""
    c = comp.col(args[0], node.args[0])
    e = c.expr
    value = {"year": e.dt.year(), "month": e.dt.month(), "day": e.dt.day(),
             "days_in_month": e.dt.month_end().dt.day()}[node.func]
    return Col(value.cast(pl.Int64), c.err, 0)


def c_month_day(comp: CompilerLike, node: A.Call, args: list[CV]) -> CV:
    c = comp.col(args[0], node.args[0])
    return Col((c.expr.dt.month().cast(pl.Int32) * 100 + c.expr.dt.day().cast(pl.Int32)), c.err)


def _civil(y: pl.Expr, m: pl.Expr | int, d: pl.Expr | int) -> pl.Expr:
    """The date of a year, month and day, by integer arithmetic (days from the civil
    calendar, proleptic Gregorian); much faster than building dates one by one."""
    yy = y.cast(pl.Int64)
    mm = m.cast(pl.Int64) if isinstance(m, pl.Expr) else pl.lit(m, pl.Int64)
    dd = d.cast(pl.Int64) if isinstance(d, pl.Expr) else pl.lit(d, pl.Int64)
    yy = yy - (mm <= 2).cast(pl.Int64)
    era = pl.when(yy >= 0).then(yy).otherwise(yy - 399) // 400
    yoe = yy - era * 400
    mp = (mm + 9) % 12
    doy = (153 * mp + 2) // 5 + dd - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146097 + doe - 719468).cast(pl.Int32).cast(pl.Date)


def c_date(comp: CompilerLike, node: A.Call, args: list[CV]) -> CV:
    year, md = args
    if not isinstance(md, Const):
        raise Unsupported("`date` with a computed day of the year")
    yc = comp.col(year, node.args[0])
    m, d = md.value.month, md.value.day
    y = comp.column(yc.expr.cast(pl.Int32))
    err = fold_err(yc.err, pl.when((y < 1) | (y > 9999)).then(comp.fail_message(
        pl.concat_str([pl.lit("year "), y.cast(pl.String), pl.lit(" is out of range")]))))
    if m == 2 and d == 29:
        def build(yy: pl.Expr) -> pl.Expr:
            leap = ((yy % 4 == 0) & (yy % 100 != 0)) | (yy % 400 == 0)
            return _civil(yy, 2, pl.when(leap).then(29).otherwise(28))
        return Col(comp.by_day(y, build, pl.Int32), err)
    return Col(comp.by_day(y, lambda yy: _civil(yy, m, d), pl.Int32), err)


def c_round(comp: CompilerLike, node: A.Call, args: list[CV]) -> CV:
    c = comp.col(args[0], node.args[0])
    s = c.scale or 0
    if s <= 2:
        return Col(c.expr * 10 ** (2 - s), c.err, 2)
    unit = 10 ** (s - 2)
    half = unit // 2
    x = c.expr
    # half up: away from zero at exactly one half (Decimal's ROUND_HALF_UP)
    rounded = pl.when(x >= 0).then((x + half) // unit).otherwise(-((-x + half) // unit))
    return Col(rounded, c.err, 2)


def _currency_code(comp: CompilerLike, cur: pl.Expr) -> pl.Expr:
    """The position of a row's currency among those with rates (null: none): a chain of
    comparisons for the usual handful of currencies, where a hash lookup of each row's
    text costs three times as much."""
    if len(comp.fx_codes) > 8:
        return cur.replace_strict(comp.fx_codes, default=None, return_dtype=pl.Int64)
    chain: Any = pl
    for c, i in comp.fx_codes.items():
        chain = chain.when(cur == c).then(pl.lit(i, pl.Int64))
    out: pl.Expr = chain.otherwise(pl.lit(None, pl.Int64))
    return out


def c_fx_rate(comp: CompilerLike, node: A.Call, args: list[CV]) -> CV:
    cur, day = (comp.col(a, n) for a, n in zip(args, node.args, strict=True))
    if not comp.fx_map:
        return Col(pl.lit(None, pl.Int64), errors_of(cur, day), comp.fx_scale)
    code = _currency_code(comp, cur.expr)
    key = day.expr.cast(pl.Int64) * len(comp.fx_codes) + code
    mapped = key.replace_strict(comp.fx_by_key, default=None, return_dtype=pl.Int64)
    return Col(mapped, errors_of(cur, day), comp.fx_scale)


def c_fx_rate_on_or_before(comp: CompilerLike, node: A.Call, args: list[CV]) -> CV:
    """The latest rate on or before a day, by currency: an as-of join against the rate
    table, done as a binary search (``search_sorted``) of each row's (currency, day) key
    in the table's keys in order, so the portfolio frame keeps its rows and order and
    the plan holds no Python callback. A key is the currency's position times the span
    of days plus the day, so a row can only find a rate of its own currency (checked)."""
    cur, day = (comp.col(a, n) for a, n in zip(args, node.args, strict=True))
    err = errors_of(cur, day)
    if not comp.fx_map:
        nothing = Col(pl.lit(None, pl.Int64), scale=comp.fx_scale)
        return Rec({"rate": nothing, "date": Col(pl.lit(None, pl.Date))},
                   present=Col(pl.lit(False), err))
    span = DAY_MAX - DAY_MIN + 1
    entries = sorted((comp.fx_codes[c] * span + (d - EPOCH).days - DAY_MIN, comp.fx_codes[c],
                      d, rate) for (c, d), rate in comp.fx_map.items())
    keys = pl.Series([e[0] for e in entries], dtype=pl.Int64)
    code = _currency_code(comp, cur.expr)
    key = comp.temp(code * span + day.expr.cast(pl.Int64) - DAY_MIN)
    found_at = comp.temp(pl.lit(keys).search_sorted(key, side="right").cast(pl.Int64) - 1)
    at = found_at.clip(0)
    codes = pl.Series([e[1] for e in entries], dtype=pl.Int64)
    present = comp.temp((found_at >= 0) & key.is_not_null()
                        & (pl.lit(codes).gather(at) == code).fill_null(False))
    rate = pl.lit(pl.Series([e[3] for e in entries], dtype=pl.Int64)).gather(at)
    dated = pl.lit(pl.Series([e[2] for e in entries], dtype=pl.Date)).gather(at)
    return Rec({"rate": Col(pl.when(present).then(rate), scale=comp.fx_scale),
                "date": Col(pl.when(present).then(dated))},
               present=Col(present, err))


def _times(a: pl.Expr, b: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """``a * b`` and where it would leave the exact 64-bit range (``UNITS_LIMIT``)."""
    bound = pl.when(a == 0).then(None).otherwise(pl.lit(UNITS_LIMIT, pl.Int64) // a.abs())
    return a * b, (b.abs() > bound).fill_null(False)


def _rounded_cents(num: pl.Expr, den: pl.Expr | int) -> tuple[pl.Expr, pl.Expr]:
    """``num / den`` (``den`` positive) rounded half up, away from zero (D3), exactly, and
    where the rounding itself would leave the 64-bit range."""
    d = den if isinstance(den, pl.Expr) else pl.lit(den, pl.Int64)
    q = (2 * num.abs() + d) // (2 * d)
    over = num.abs() > (pl.lit(UNITS_LIMIT, pl.Int64) - d) // 2
    return pl.when(num < 0).then(-q).otherwise(q), over


def _principal(p: Col) -> tuple[pl.Expr, int]:
    """A money column as an integer and the power of ten it is over cents (a column
    of whole units is brought to cents; one finer than cents keeps its scale)."""
    sp = p.scale or 0
    if sp < 2:
        return p.expr * 10 ** (2 - sp), 1
    return p.expr, 10 ** (sp - 2)


def c_interest(comp: CompilerLike, node: A.Call, args: list[CV]) -> CV:
    """``interest_simple``, ``interest_compound`` and ``accrued_interest``, exact in
    scaled integers (builtins.interest_simple and interest_compound): the amount is
    rounded half up to the cent from an exact quotient of integers. A row whose integers
    would leave the 64-bit range is an overflow (the table goes to the scalar backend).
    Compound interest needs the rate known in advance (a parameter): (1 + rate)^n is
    then a table of integers by whole years, looked up per row."""
    name = node.func
    extra = args[4:]
    cols = [comp.col(a, n) for a, n in zip(args[:4], node.args[:4], strict=True)]
    p, r, start, end = cols
    err = errors_of(*cols)
    method = "simple" if name == "interest_simple" else "compound"
    if name == "accrued_interest":
        how, cap = extra
        if not isinstance(how, Const) or not isinstance(cap, Const):
            raise Unsupported("`accrued_interest` with a computed method or cap")
        if how.value not in INTEREST_METHODS:
            msg = (f"unknown interest method `{how.value}` "
                   f"(use {' or '.join(INTEREST_METHODS)})")
            return Col(NULL_MARK, fold_err(err, comp.fail_message(pl.lit(msg))))
        if how.value == "compound":
            raise Unsupported("`accrued_interest` compounded continuously (a decimal power "
                              "of a fraction of years) on per-account values")
        method = "simple"
        limit = comp.by_day(comp.column(start.expr), lambda d: offset_by(d, cap.value))
        end = Col(pl.min_horizontal(end.expr, limit), end.err)
    days = (end.expr - start.expr).dt.total_days().cast(pl.Int64)
    principal, finer = _principal(p)
    if method == "simple":
        sr = r.scale or 0
        pr, over1 = _times(principal, r.expr)
        num, over2 = _times(pr, days)
        value, over3 = _rounded_cents(num, 365 * 10 ** sr * finer)
        overs = [over1, over2, over3]
    else:
        if not isinstance(args[1], Const):
            raise Unsupported(f"`{name}` with a computed rate")
        value, overs = _compound(comp, principal, finer, Fraction(Decimal(args[1].value)),
                                 start.expr, end.expr)
    accrues = days > 0
    out = pl.when(accrues).then(value).otherwise(pl.lit(0, pl.Int64))
    over = pl.any_horizontal([o.fill_null(False) for o in overs]) & accrues
    return Col(out, fold_err(err, overflow_mark(over)), 2)


def _compound(comp: CompilerLike, principal: pl.Expr, finer: int, rate: Fraction,
              start: pl.Expr, end: pl.Expr) -> tuple[pl.Expr, list[pl.Expr]]:
    """principal x ((1 + rate)^n x (1 + rate x d / 365) - 1) in cents, exactly: with
    rate = a / b, the factor minus one is (u^n (365 b + a d) - 365 b^(n+1)) / (365
    b^(n+1)), u = a + b; u^n and 365 b^(n+1) are looked up by n while they fit."""
    a, b = rate.numerator, rate.denominator
    u = a + b
    powers: dict[int, int] = {}
    dens: dict[int, int] = {}
    for k in range(0, 10000):
        un, den = u ** k, 365 * b ** (k + 1) * finer
        if abs(un) * (365 * b + abs(a) * 366) + den >= UNITS_LIMIT or 2 * den >= UNITS_LIMIT:
            break
        powers[k], dens[k] = un, den
    y0, y1 = start.dt.year().cast(pl.Int64), end.dt.year().cast(pl.Int64)
    month, dom = start.dt.month().cast(pl.Int64), start.dt.day().cast(pl.Int64)

    def anniversary(year: pl.Expr) -> pl.Expr:
        leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
        return _civil(year, month, pl.when((month == 2) & (dom == 29) & ~leap).then(28)
                      .otherwise(dom))

    this_year = comp.temp(anniversary(y1))
    later = this_year > end
    n = comp.temp(y1 - y0 - later.cast(pl.Int64))
    last = pl.when(later).then(anniversary(y1 - 1)).otherwise(this_year)
    d = (end - last).dt.total_days().cast(pl.Int64)
    un = n.replace_strict(powers, default=None, return_dtype=pl.Int64)
    den = comp.temp(n.replace_strict(dens, default=None, return_dtype=pl.Int64))
    missing = (un.is_null() | den.is_null())
    # u^n (365 b + a d) fits by the table's bound; the base den is 365 b^(n+1)
    excess = un * (365 * b + a * d) - den // finer
    num, over = _times(principal, excess)
    value, over2 = _rounded_cents(num, den)
    return value, [missing, over, over2]


def c_format(comp: CompilerLike, node: A.Call, args: list[CV]) -> CV:
    template = args[0]
    if not isinstance(template, Const):
        raise Unsupported("`format` with a computed template")
    parts = []
    errs = []
    for a, n in zip(args[1:], node.args[1:], strict=True):
        c = _display(comp, a, comp.types[id(n)])
        parts.append(c.expr)
        errs.append(c.err)
    fmt = str(template.value)
    return Col(pl.format(fmt, *parts) if parts else pl.lit(fmt), fold_err(*errs))


def _display(comp: CompilerLike, cv: CV, t: T.Type) -> Col:
    """A value as the scalar `display()` writes it."""
    if isinstance(cv, Const):
        return Col(pl.lit(display(cv.value)))
    c = comp.col(cv, None)
    base = T.strip(t)
    if base == T.DATE:
        e = comp.by_day(c.expr, lambda d: d.dt.strftime("%Y-%m-%d"))
    elif base in (T.MONEY, T.NUMBER) and c.scale:
        units = c.expr
        s = c.scale
        sign = pl.when(units < 0).then(pl.lit("-")).otherwise(pl.lit(""))
        a = units.abs()
        e = pl.concat_str([sign, (a // 10 ** s).cast(pl.String), pl.lit("."),
                           (a % 10 ** s).cast(pl.String).str.pad_start(s, "0")])
    elif base == T.BOOL:
        e = pl.when(c.expr).then(pl.lit("true")).otherwise(pl.lit("false"))
    else:
        e = c.expr.cast(pl.String)
    return Col(comp.masked(e.fill_null("null")), c.err)


def c_text(comp: CompilerLike, node: A.Call, args: list[CV]) -> CV:
    return _display(comp, args[0], comp.types[id(node.args[0])])


def c_join(comp: CompilerLike, node: A.Call, args: list[CV]) -> CV:
    items, sep = args
    if not isinstance(sep, Const):
        raise Unsupported("`join` with a computed separator")
    parts = []
    for p, v in list_items(items):
        pc, vc = comp.col(p, None), comp.col(v, None)
        parts.append(pl.when(pc.expr).then(vc.expr))
    if not parts:
        return Const("")
    return Col(pl.concat_str(parts, separator=str(sep.value), ignore_nulls=True))


def c_fail(comp: CompilerLike, node: A.Call, args: list[CV]) -> CV:
    msg = comp.col(args[0], node.args[0])
    return Col(NULL_MARK, comp.fail_message(msg.expr))


def c_days_between(comp: CompilerLike, node: A.Call, args: list[CV]) -> CV:
    a, b = (comp.col(x, n) for x, n in zip(args, node.args, strict=True))
    return Col((b.expr - a.expr).dt.total_days().cast(pl.Int64), errors_of(a, b), 0)


def c_window_for(comp: CompilerLike, node: A.Call, args: list[CV]) -> CV:
    """Computed once for each day of the range the column spans (a portfolio holds a
    few thousand distinct days among a million rows, :func:`_windows`), by polars over
    that range, then gathered for every row (:class:`~.values.DayTable`): no Python
    callback over the rows."""
    day, table, not_before = args
    if not isinstance(table, Const) or not isinstance(not_before, Const):
        raise Unsupported("`window_for` with a computed table or bound")
    rows: Sequence[dict[str, Any]] = table.value
    nb: _dt.date = not_before.value
    columns = list(rows[0]) if rows else list(WINDOW_COLUMNS)
    for key in columns:
        if rows and not isinstance(rows[0][key], MonthDay | bool | int | str):
            raise Unsupported(f"windows table column `{key}`")
    dc = comp.col(day, node.args[0])
    shape = pl.Struct({"opens": pl.Date, "closes": pl.Date, "deferred": pl.Boolean,
                       "which": pl.Int32, "err": pl.String})

    def build(days: pl.Series) -> pl.Series:
        return _windows(days, rows, nb).select(list(shape.to_schema())).to_struct("w")

    w = comp.day_table(dc.expr, build)

    def part(key: str) -> pl.Expr:
        return comp.temp(w.struct.field(key))

    which = part("which")

    def pick(key: str, conv: Callable[[Any], Any], dtype: Any) -> pl.Expr:
        e: pl.Expr = pl.lit(None, dtype)
        for i in range(len(rows) - 1, -1, -1):
            e = pl.when(which == i).then(pl.lit(conv(rows[i][key]), dtype)).otherwise(e)
        return e

    row_fields: dict[str, CV] = {}
    for key in columns:
        sample = rows[0][key] if rows else None
        if isinstance(sample, MonthDay):
            row_fields[key] = Col(pick(key, _mdi, pl.Int32))
        elif isinstance(sample, bool):
            row_fields[key] = Col(pick(key, bool, pl.Boolean))
        elif isinstance(sample, int):
            row_fields[key] = Col(pick(key, int, pl.Int64), scale=0)
        elif isinstance(sample, str):
            row_fields[key] = Col(pick(key, str, pl.String))
        else:
            row_fields[key] = Col(pl.lit(None))
    err = comp.fail_message(part("err"))
    return Rec({
        "opens": Col(part("opens"), fold_err(dc.err, err)),
        "closes": Col(part("closes")),
        "row": Rec(row_fields),
        "deferred": Col(part("deferred")),
    })


def _mdi(x: MonthDay) -> int:
    return x.month * 100 + x.day


def _windows(days: pl.Series, rows: Sequence[dict[str, Any]], nb: _dt.date) -> pl.DataFrame:
    """The payment window of each day (builtins.payment_window, vectorised): opens,
    closes, deferred, which (the row of the table) and err (the scalar's message)."""
    f = pl.DataFrame({"d": days.cast(pl.Date)})
    d = pl.col("d")
    md = pl.col("md")
    f = f.with_columns((d.dt.month().cast(pl.Int32) * 100 + d.dt.day().cast(pl.Int32))
                       .alias("md"))
    # which row: the first whose range holds the day of the year
    which: pl.Expr = pl.lit(None, pl.Int32)
    for i in range(len(rows) - 1, -1, -1):
        lo, hi = _mdi(rows[i]["unclaimed_from"]), _mdi(rows[i]["unclaimed_to"])
        inside = (md >= lo) & (md <= hi) if lo <= hi else (md >= lo) | (md <= hi)
        which = pl.when(inside).then(pl.lit(i, pl.Int32)).otherwise(which)
    f = f.with_columns(which.alias("which"))

    def pick(key: str) -> pl.Expr:
        e: pl.Expr = pl.lit(None, pl.Int32)
        for i in range(len(rows) - 1, -1, -1):
            value = rows[i][key]
            e = pl.when(pl.col("which") == i).then(
                pl.lit(_mdi(value) if isinstance(value, MonthDay) else int(value), pl.Int32)
            ).otherwise(e)
        return e

    f = f.with_columns((d.dt.year().cast(pl.Int32) + pick("year_offset")).alias("year"),
                       pick("opens").alias("omd"), pick("closes").alias("cmd"))
    year, omd, cmd = pl.col("year"), pl.col("omd"), pl.col("cmd")

    def on(y: pl.Expr, mdx: pl.Expr) -> pl.Expr:
        m = mdx // 100
        dd = mdx % 100
        leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
        dd = pl.when((m == 2) & (dd == 29) & ~leap).then(28).otherwise(dd)
        return _civil(y, m, dd)

    f = f.with_columns(on(year, omd).alias("base_opens"),
                       on(pl.when(cmd >= omd).then(year).otherwise(year + 1), cmd)
                       .alias("base_closes"))
    opens = pl.col("base_opens")
    # deferral: the first recurring window, in date order, opening no earlier and
    # closing on or after the bound; candidates are constants around the bound's year
    shapes = sorted({(r["opens"], r["closes"]) for r in rows})
    candidates = sorted({window_dates(y, o, c) for y in range(nb.year - 1, nb.year + 2)
                         for o, c in shapes if window_dates(y, o, c)[1] >= nb})
    deferred = pl.col("base_closes") < pl.lit(nb)
    new_o: pl.Expr = pl.lit(None, pl.Date)
    new_c: pl.Expr = pl.lit(None, pl.Date)
    for o, c in reversed(candidates):
        ok = pl.lit(o) >= opens
        new_o = pl.when(ok).then(pl.lit(o)).otherwise(new_o)
        new_c = pl.when(ok).then(pl.lit(c)).otherwise(new_c)
    gap = pl.col("which").is_null()
    return f.with_columns(
        pl.when(deferred).then(new_o).otherwise(opens).alias("opens"),
        pl.when(deferred).then(new_c).otherwise(pl.col("base_closes")).alias("closes"),
        deferred.alias("deferred"),
        # builtins.payment_window's messages; the window's year must be 1-9998
        pl.when(gap).then(pl.concat_str([
            pl.lit("no payment window covers "),
            (d.dt.day().cast(pl.String) + pl.lit(" ") + d.dt.strftime("%b")),
            pl.lit(" (the windows table has a gap)")]))
        .when((year < 1) | (year > 9998)).then(pl.concat_str([
            pl.lit("payment year "), year.cast(pl.String), pl.lit(" is out of range")]))
        .alias("err"))


@functools.cache
def columnar_impl(name: str) -> Impl:
    """The columnar implementation of the builtin ``name``: the function of this module
    that its entry of :data:`~evaluator.lang.builtins.BUILTINS` names (a
    :class:`KeyError` when the builtin has none, or is no builtin)."""
    impl_name = BUILTINS[name].columnar
    if impl_name is None:
        raise KeyError(f"`{name}` has no columnar implementation: {BUILTINS[name].no_columnar}")
    impl: Impl = globals()[impl_name]
    return impl
