"""The outputs of a columnar evaluation: the outputs' compiled values flattened to
polars columns with their error column, the evaluation of a whole table
(:func:`evaluate_frame`), and the rows read back as the scalar backend's determinations."""

from __future__ import annotations

import datetime as _dt
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import polars as pl

from evaluator.backends.base import CompiledPolicy
from evaluator.backends.columnar.aggregates import (
    aggregate_value,
    portfolio_outputs,
    portfolio_requests,
)
from evaluator.backends.columnar.compiler import Compiler
from evaluator.backends.columnar.values import (
    CV,
    DAY_MAX,
    DAY_MIN,
    NULL_MARK,
    OVERFLOW_MARK,
    Col,
    Const,
    FrameStage,
    Rec,
    UList,
    as_rec,
    fold_err,
    guarded,
)
from evaluator.errors import Unsupported
from evaluator.facts.model import RecordError
from evaluator.facts.table import Table
from evaluator.gcpause import fewer_collections
from evaluator.lang import typesys as T
from evaluator.lang.check.graph import dependency_order
from evaluator.lang.document.loader import ParamSpec
from evaluator.lang.values import MonthDay

# -- materialising outputs ------------------------------------------------------------------

# An output's *shape* says how its flat columns make up the value:
#   ("const", value) | ("col", column, type, scale)
#   | ("rec", [(field, shape)], presence column or None) | ("list", [(presence column, shape)])
Shape = tuple[Any, ...]


class _Flat:
    """Collects the flat columns of the outputs, and their errors."""

    def __init__(self, comp: Compiler) -> None:
        self.comp = comp
        self.columns: list[pl.Expr] = []
        self.errs: list[pl.Expr | None] = []
        #: errors where a date output (where it is present) is outside the years 1-9999
        self.out_of_range: list[pl.Expr | None] = []

    def add(self, name: str, c: Col) -> str:
        self.columns.append(c.expr.alias(name))
        return name

    def shape(self, prefix: str, cv: CV, t: T.Type, guard: pl.Expr | None = None) -> Shape:
        """Flat columns for an output value (errors count only where ``guard`` holds)."""
        comp = self.comp
        base = T.strip(t)
        if isinstance(cv, Const) and isinstance(cv.value, dict):
            cv = as_rec(cv)
        if isinstance(cv, Const) and isinstance(cv.value, tuple | list) and cv.value:
            cv = UList([(Const(True), Const(x)) for x in cv.value])
        if isinstance(cv, Rec):
            assert isinstance(base, T.RecordT)
            present_col = None
            inner = guard
            if cv.present is not None:
                pc = comp.col(cv.present, None)
                self.errs.append(guarded(pc.err, guard) if guard is not None else pc.err)
                present_col = self.add(f"{prefix}.present?", pc)
                inner = pc.expr if guard is None else guard & pc.expr
            fields = [(k, self.shape(f"{prefix}.{k}", cv.fields[k], ft, inner))
                      for k, ft in base.fields]
            return ("rec", fields, present_col)
        if isinstance(cv, UList):
            assert isinstance(base, T.ListT)
            items = []
            for i, (p, v) in enumerate(cv.items):
                pc = comp.col(p, None)
                self.errs.append(guarded(pc.err, guard) if guard is not None else pc.err)
                name = self.add(f"{prefix}[{i}]?", Col(pc.expr.fill_null(False)))
                inner = pc.expr if guard is None else guard & pc.expr
                items.append((name, self.shape(f"{prefix}[{i}]", v, base.elem, inner)))
            return ("list", items)
        if isinstance(cv, Const):
            return ("const", () if isinstance(base, T.ListT) else cv.value)
        assert isinstance(cv, Col)
        self.errs.append(guarded(cv.err, guard) if guard is not None else cv.err)
        if cv.expr is NULL_MARK:
            return ("const", None)
        c = cv
        if base in (T.MONEY, T.NUMBER):
            c = _as_scale(cv, _out_scale(comp, base, cv.scale))
        elif base == T.INT:
            c = Col(cv.expr.cast(pl.Int64), cv.err, 0)
        elif base == T.DATE:
            name = comp.current[-1] if comp.current else "?"
            days = cv.expr.cast(pl.Int64)
            bad = pl.when((days < DAY_MIN) | (days > DAY_MAX)).then(pl.lit(
                f"a date or number is out of range (date value out of range) (in `{name}`)"))
            self.out_of_range.append(guarded(bad, guard) if guard is not None else bad)
        return ("col", self.add(prefix, c), t, c.scale)


def _out_scale(comp: Compiler, t: T.Type, native: int | None = None) -> int:
    return 2 if t == T.MONEY else (native or 0)


def _as_scale(c: Col, scale: int) -> Col:
    s = c.scale or 0
    if s == scale:
        return Col(c.expr.cast(pl.Int64), c.err, scale)
    if s < scale:
        return Col(c.expr.cast(pl.Int64) * 10 ** (scale - s), c.err, scale)
    # keep the exact value: more places than the output scale are kept as they are
    return Col(c.expr.cast(pl.Int64), c.err, s)


@dataclass
class OutputSpec:
    name: str
    definition: str
    type: T.Type
    shape: Shape


def compile_outputs(policy: CompiledPolicy, params: dict[str, ParamSpec], as_of: _dt.date,
                    table: Table, comp: Compiler | None = None
                    ) -> tuple[list[pl.Expr], pl.Expr, list[OutputSpec]]:
    """Flat polars columns for every account output, the error column, and their shapes."""
    comp = comp or Compiler(policy, params, as_of, table)
    flat = _Flat(comp)
    specs: list[OutputSpec] = []
    defs = policy.checked.defs
    # each definition after those it uses, so that compiling one never recurses through a
    # long chain of definitions
    for name in dependency_order([n for _, n in policy.outputs("account")],
                                 lambda n: sorted(u for u in defs[n].uses if u in defs
                                                  and defs[u].spec.entity != "claim")):
        comp.definition(name)
    for shown, name in policy.outputs("account"):
        t = policy.checked.defs[name].type
        cv = comp.definition(name)
        comp.current.append(name)
        shape = flat.shape(f"out:{shown}", cv, t)
        comp.current.pop()
        specs.append(OutputSpec(shown, name, t, shape))
    # a safety net: a date output beyond what Python (and so the scalar backend) can hold
    err = fold_err(*flat.errs, *flat.out_of_range)
    return flat.columns, (err if err is not None else pl.lit(None, pl.String)), specs


_LATE_COLUMNS = ("last_transaction", "last_statement_ack", "last_response")


def _late_errors(frame: pl.DataFrame, as_of: _dt.date) -> pl.Expr:
    """A snapshot date after the as-of date: the member cannot be evaluated (as scalar).

    The message names the member's earliest late date, ties broken as the scalar loader
    orders events (row by row: transaction, acknowledgement, response)."""
    day = pl.lit(as_of)
    if not frame.height or not frame.select(
            pl.any_horizontal([pl.col(c) > day for c in _LATE_COLUMNS]).any()).item():
        return pl.lit(None, pl.String)
    # one integer key per candidate: days since 1970, then the scalar loader's order
    keys = [pl.when(pl.col(c) > day).then(
        pl.col(c).cast(pl.Int64) * 10 ** 12 + pl.col("__line").cast(pl.Int64) * 3 + i)
        for i, c in enumerate(_LATE_COLUMNS)]
    first = pl.min_horizontal(keys).min().over("__member_order")
    when = (first // 10 ** 12).cast(pl.Date)
    which = (first % 10 ** 12) % 3
    column = pl.when(which == 0).then(pl.lit(_LATE_COLUMNS[0])).when(which == 1).then(
        pl.lit(_LATE_COLUMNS[1])).otherwise(pl.lit(_LATE_COLUMNS[2]))
    return pl.when(first.is_not_null()).then(pl.concat_str([
        column, pl.lit(" "), when.dt.strftime("%Y-%m-%d"),
        pl.lit(f" is after the as-of date {as_of}; a snapshot keeps only the latest date, "
               "so the activity before the as-of date is unknown (use a full profile, or a "
               "snapshot taken on or before the as-of date)")]))


@dataclass
class ColumnarResult:
    frame: pl.DataFrame
    outputs: list[OutputSpec]
    table: Table
    portfolio: dict[str, Any] | None = None
    #: the portfolio aggregates over this table's evaluated rows, one per request of
    #: :attr:`aggregate_kinds`: what chunks of one portfolio combine
    #: (:func:`combine_aggregates`) before :attr:`finish` computes the portfolio outputs
    aggregates: list[Any] = field(default_factory=list)
    aggregate_kinds: list[str] = field(default_factory=list)
    finish: Callable[[list[Any]], dict[str, Any]] | None = None


def evaluate_frame(policy: CompiledPolicy, table: Table, as_of: _dt.date,
                   params: dict[str, ParamSpec]) -> ColumnarResult:
    """Evaluate every account of a table; the frame has the output columns and `__error`,
    and the portfolio outputs are computed over the rows that could be evaluated."""
    comp = Compiler(policy, params, as_of, table)
    exprs, err, specs = compile_outputs(policy, params, as_of, table, comp)
    requests = portfolio_requests(comp)
    extra = []
    for i, (_, keep, elem, _) in enumerate(requests):
        extra += [keep.expr.fill_null(False).alias(f"__pk{i}"), elem.expr.alias(f"__pv{i}")]
    late = _late_errors(table.frame, as_of) if table.events is None \
        else pl.lit(None, pl.String)  # a dataset's member has no snapshot dates
    frame = table.frame.with_columns(late.alias("__late"))
    # eagerly, one step per level of the stages' dependencies: the stages of a level are
    # computed side by side (measured: about 0.3 s for a million rows, where one lazy
    # query of a step per stage took 0.5 s)
    for level in _levels(comp.stages):
        frame = frame.with_columns([e if isinstance(e, pl.Expr) else e[1].compute(frame)
                                    .alias(e[0]) for e in level])
    # the events joined for the stages are not read again (the portfolio outputs read the
    # aggregates): let go before the output is made
    comp.event_frames.clear()
    for _, stage in comp.stages:
        if isinstance(stage, FrameStage):
            stage.release()
    out = frame.with_columns(
        pl.coalesce([pl.col("__late"), err]).alias("__error"), *exprs, *extra,
    ).select(["member_id", "account_id", "__line", "__late", "__error",
              pl.col("__member_order").alias("__member_line"),
              *[e.meta.output_name() for e in exprs],
              *[f"__p{k}{i}" for i in range(len(requests)) for k in "kv"]])
    del frame
    if out.select(pl.col("__error").eq(OVERFLOW_MARK).any()).item():
        raise Unsupported("amounts beyond exact 64-bit arithmetic in this policy's formulas")
    result = ColumnarResult(out, specs, table)
    if policy.outputs("portfolio"):
        ok = out.filter(pl.col("__error").is_null())
        result.aggregates = [aggregate_value(ok, i, name, elem.scale, comp.types[id(node)])
                             for i, (node, _keep, elem, name) in enumerate(requests)]
        result.aggregate_kinds = [name for *_, name in requests]

        def finish(values: list[Any]) -> dict[str, Any]:
            return portfolio_outputs(comp, requests, values)
        result.finish = finish
        result.portfolio = finish(result.aggregates)
        result.frame = out.drop([c for c in out.columns if c.startswith("__p")])
    return result


def _levels(stages: Sequence[tuple[str, pl.Expr | FrameStage]]
            ) -> list[list[pl.Expr | tuple[str, FrameStage]]]:
    """The stages grouped by depth: each group uses only columns of the table and of
    the groups before it (a lookup table, by its key, is computed from the frame of the
    groups before it)."""
    depth: dict[str, int] = {}
    groups: list[list[pl.Expr | tuple[str, FrameStage]]] = []
    for key, stage in stages:
        roots = stage.inputs() if isinstance(stage, FrameStage) else stage.meta.root_names()
        d = max((depth.get(n, -1) for n in roots), default=-1) + 1
        depth[key] = d
        while len(groups) <= d:
            groups.append([])
        groups[d].append((key, stage) if isinstance(stage, FrameStage) else stage.alias(key))
    return groups


def _reader(shape: Shape, index: Mapping[str, int]) -> Callable[[tuple[Any, ...]], Any]:
    """A function from a result row (a tuple, columns as in ``index``) to an output's
    Python value, as the scalar backend gives it; types and positions resolved once."""
    kind = shape[0]
    if kind == "const":
        value = shape[1]
        return lambda row: value
    if kind == "col":
        _, name, t, scale = shape
        i = index[name]
        base = T.strip(t)
        if base in (T.MONEY, T.NUMBER):
            exp = -(scale or 0)
            return lambda row: None if row[i] is None else Decimal(int(row[i])).scaleb(exp)
        if base == T.MONTH_DAY:
            return lambda row: None if row[i] is None else MonthDay(int(row[i]) // 100,
                                                                    int(row[i]) % 100)
        return operator.itemgetter(i)
    if kind == "rec":
        _, fields, present = shape
        readers = [(k, _reader(f, index)) for k, f in fields]
        p = index[present] if present is not None else None

        def record(row: tuple[Any, ...]) -> Any:
            if p is not None and not row[p]:
                return None
            return {k: r(row) for k, r in readers}
        return record
    items = [(index[p], _reader(f, index)) for p, f in shape[1]]
    return lambda row: tuple(r(row) for p, r in items if row[p])


def determinations(result: ColumnarResult) -> tuple[list[Any], list[RecordError]]:
    """Scalar-shaped determinations and evaluation errors, in the scalar order."""
    from evaluator.backends.results import Determination

    dets: list[Any] = []
    errs: list[RecordError] = []
    frame = result.frame
    failed = frame.filter(pl.col("__error").is_not_null()).select(
        "member_id", "account_id", "__error", "__late")
    for row in failed.iter_rows(named=True):
        errs.append(RecordError(row["__error"], row["member_id"], row["account_id"],
                                field="date" if row["__late"] is not None else None))
    # dates Python cannot hold only sit where a value is not used (an item not present)
    ok = frame.filter(pl.col("__error").is_null()).with_columns(
        pl.when(pl.col(pl.Date).cast(pl.Int64).is_between(DAY_MIN, DAY_MAX))
        .then(pl.col(pl.Date)).name.keep())
    index = {c: i for i, c in enumerate(ok.columns)}
    readers = [(s.name, _reader(s.shape, index)) for s in result.outputs]
    member, account = index["member_id"], index["account_id"]
    with fewer_collections():
        for values in ok.iter_rows():
            dets.append(Determination(values[member], values[account],
                                      {name: r(values) for name, r in readers}))
    return dets, errs


def row_readers(result: ColumnarResult, columns: Sequence[str]
                ) -> list[tuple[str, Callable[[tuple[Any, ...]], Any]]]:
    """Per output, its name and the function from a result row (a tuple of ``columns``,
    in this order) to its Python value, as :func:`determinations` reads it."""
    index = {c: i for i, c in enumerate(columns)}
    return [(s.name, _reader(s.shape, index)) for s in result.outputs]
