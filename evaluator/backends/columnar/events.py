"""Comprehensions over a dataset's events table in the columnar backend: an aggregation
(``latest``, ``count``, ``sum``, ...) or a list over ``events`` (an account's or a
member's) becomes a stage computed against the frame: the events with the frame columns
their condition and element read (gathered from their account's row), evaluated per
event, grouped by account (or member) and put back on the rows; a list keeps its items as list columns read into as many
unrolled items as the longest list of the table (:class:`EventComprehension`)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from evaluator.backends.columnar.places import output_showing_places
from evaluator.backends.columnar.values import (
    CV,
    NULL_MARK,
    OVERFLOW_MARK,
    Col,
    CompilerLike,
    Const,
    FrameStage,
    Rec,
    UList,
    and_cv,
    errors_of,
    fold_err,
    guarded,
)
from evaluator.errors import Unsupported
from evaluator.facts.table import UNITS_LIMIT
from evaluator.facts.tablecols import extra_column
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T

#: the aggregations computed over the events of a group (any other builtin over a
#: comprehension takes the comprehension as a list)
REDUCTIONS = ("latest", "earliest", "largest", "smallest", "count", "sum", "any", "all",
              "first", "last")
#: the most items a list over events is unrolled into (the longest list of the table)
MAX_ITEMS = 64
#: the prefix of the events' columns where they are joined with the frame's
PREFIX = "ev:"
#: the names of the stages of every scope
_KEYS = itertools.count(1)
_STANDARD = ("date", "type", "account_id", "mark", "amount", "attachments")


@dataclass
class EventRows(CV):
    """The events of the row's account (``member_level`` False) or of its member, rows
    of the table's events frame (:attr:`~evaluator.facts.table.Table.events`)."""

    member_level: bool


class EventScope:
    """The stages of the events being compiled: a stage that reads an event's column (or
    another stage of the scope) is computed per event, in the joined frame, not per row."""

    def __init__(self, names: set[str]) -> None:
        self.names = set(names)
        self.stages: list[tuple[str, pl.Expr | FrameStage]] = []

    def reads(self, stage: pl.Expr | FrameStage) -> bool:
        roots = stage.meta.root_names() if isinstance(stage, pl.Expr) else stage.inputs()
        return any(r in self.names for r in roots)

    def add(self, stage: pl.Expr | FrameStage) -> str:
        key = f"{PREFIX}t:{next(_KEYS)}"
        self.names.add(key)
        self.stages.append((key, stage))
        return key


def visible_events(comp: CompilerLike, member_level: bool) -> pl.DataFrame:
    """The table's events known on the as-of day (the scalar backend ignores later ones),
    columns renamed with :data:`PREFIX` but for ``__member_order`` and ``__seq``, each
    with ``__row``: the frame row of its account (an account's events, those naming one)
    or of its member's first account (a member's events)."""
    key = "member" if member_level else "account"
    if key not in comp.event_frames:
        events = comp.table.events
        assert events is not None
        renamed = events.lazy().filter(pl.col("date") <= comp.as_of).rename(
            {c: PREFIX + c for c in events.columns if c not in ("__member_order", "__seq")})
        rows = comp.table.frame.lazy().select("__member_order", pl.col("account_id").alias(
            PREFIX + "account_id")).with_row_index("__row")
        # (one lazy query: the eager join of a million-row frame took half as long again)
        if member_level:
            rows = rows.unique("__member_order", keep="first").drop(PREFIX + "account_id")
            renamed = renamed.join(rows, on="__member_order")
        else:
            renamed = renamed.join(rows, on=["__member_order", PREFIX + "account_id"])
        comp.event_frames[key] = renamed.collect()
    return comp.event_frames[key]


def first_rows(comp: CompilerLike) -> pl.Series:
    """For every frame row, the row of its member's first account."""
    if "first" not in comp.event_frames:
        comp.event_frames["first"] = comp.table.frame.select("__member_order").with_row_index(
            "__row").select(pl.col("__row").min().over("__member_order"))
    return comp.event_frames["first"].get_column("__row")


def event_record(comp: CompilerLike) -> Rec:
    """An event of the events frame: its columns, and the declared event fields."""
    fields: dict[str, CV] = {name: Col(pl.col(PREFIX + name)) for name in _STANDARD}
    fields["amount"] = Col(pl.col(PREFIX + "amount"), scale=comp.table.event_amount_scale)
    decl = comp.table.decl
    for f in decl.extra_fields("event") if decl is not None else ():
        column = extra_column("event", f.name)
        if f.type in ("decimal", "percent"):
            shown = output_showing_places(comp.policy, {f.name})
            if shown is not None:
                raise Unsupported(f"declared {f.type} field `event.{f.name}` reaches "
                                  f"{shown} unrounded (each value keeps its own decimal "
                                  "places)")
        fields[f.name] = Col(pl.col(PREFIX + column), scale=comp.table.extra_scales.get(column))
    return Rec(fields)


@dataclass
class _Compiled:
    """A comprehension's condition and element compiled per event."""

    keep: Col
    elem: CV
    err: pl.Expr | None
    stages: list[tuple[str, pl.Expr | FrameStage]]
    #: the leading conditions that read only the event and cannot fail
    prefilter: pl.Expr | None


class EventComprehension(CV):
    """A comprehension over :class:`EventRows`: reduced (:meth:`reduce`) or taken as a
    list (:meth:`as_list`)."""

    def __init__(self, comp: CompilerLike, node: A.Comprehension, entity: str,
                 env: dict[str, CV], source: EventRows) -> None:
        if comp.event_scope is not None:
            raise Unsupported("a comprehension over events inside another one")
        self.comp = comp
        self.node = node
        self.entity = entity
        self.env = env
        self.source = source

    def _compile(self) -> _Compiled:
        comp, node = self.comp, self.node
        frame = visible_events(comp, self.source.member_level)
        scope = EventScope({c for c in frame.columns if c.startswith(PREFIX)})
        masks, comp.masks = comp.masks, []  # computed for every event
        comp.event_scope = scope
        try:
            inner = {**self.env, node.var: event_record(comp)}
            prefilter = self._prefilter(inner, scope)
            keep: CV = Const(True)
            if node.cond is not None:
                keep = and_cv(keep, comp.compile(node.cond, self.entity, inner))
            elem = comp.compile(node.element, self.entity, inner)
        finally:
            comp.event_scope = None
            comp.masks = masks
        kc = comp.col(keep, None)
        err = fold_err(kc.err, guarded(errors_of(elem), kc.expr.fill_null(False)))
        return _Compiled(Col(kc.expr.fill_null(False)), elem, err, scope.stages, prefilter)

    def _prefilter(self, inner: dict[str, CV], scope: EventScope) -> pl.Expr | None:
        """The leading conjuncts of the condition that read only the event's own columns
        and cannot fail (``e.type == "fee"``): the events they reject are dropped before
        the join (the scalar backend evaluates nothing else of them)."""
        conjuncts: list[A.Node] = []
        cond = self.node.cond
        while isinstance(cond, A.Binary) and cond.op == "and":
            conjuncts.append(cond.right)
            cond = cond.left
        if cond is not None:
            conjuncts.append(cond)
        exprs: list[pl.Expr] = []
        for c in reversed(conjuncts):
            before = len(scope.stages)
            cv = self.comp.compile(c, self.entity, inner)
            if not isinstance(cv, Col) or cv.err is not None or len(scope.stages) != before \
                    or not cv.expr.meta.root_names() \
                    or not all(r.startswith(PREFIX) for r in cv.expr.meta.root_names()):
                del scope.stages[before:]
                break
            exprs.append(cv.expr.fill_null(False))
        return pl.all_horizontal(exprs) if exprs else None

    def _stage(self, compiled: _Compiled, per_event: list[pl.Expr], aggs: list[pl.Expr],
               empty: dict[str, Any], ordered: bool = False) -> str:
        """Add the stage aggregating ``per_event`` values by group (``aggs``, over the
        events in event order when ``ordered``; ``empty``: what a group without events
        gives) for every row of the frame; its column's name."""
        member_level = self.source.member_level
        if member_level and self.entity != "member":  # the checker refuses it already
            raise Unsupported("a member's events outside a member definition")
        scope_names = {c for c in visible_events(self.comp, member_level).columns
                       if c.startswith(PREFIX)} | {k for k, _ in compiled.stages}
        roots: set[str] = set()
        for _, s in compiled.stages:
            roots.update(s.meta.root_names() if isinstance(s, pl.Expr) else s.inputs())
        for e in per_event:
            roots.update(e.meta.root_names())
        needed = sorted(r for r in roots if r not in scope_names
                        and r not in ("__member_order", "__seq"))
        stage = EventStage(visible_events(self.comp, member_level), compiled.prefilter,
                           needed, compiled.stages, per_event, aggs, empty, ordered,
                           first_rows(self.comp) if member_level else None)
        return self.comp.put_stage(stage)

    def reduce(self, name: str, t: T.Type) -> CV | None:
        """The aggregation ``name`` of the comprehension; None for a builtin that takes
        it as a list."""
        if name not in REDUCTIONS:
            return None
        compiled = self._compile()
        k, v = pl.col("__k"), pl.col("__v")
        scale: int | None = None
        per = [compiled.keep.expr.alias("__k"), _err_expr(compiled.err).alias("__e")]
        if name != "count":
            ec = self.comp.col(compiled.elem, None)
            scale = ec.scale
            per.append(ec.expr.alias("__v"))
        overflow: pl.Expr | None = None
        empty: Any = None
        if name == "count":
            value, empty = k.sum().cast(pl.Int64), 0
        elif name == "sum":
            value, empty = v.filter(k).sum(), 0
            big = (v.filter(k).abs().max().cast(pl.Float64) * k.sum()) >= UNITS_LIMIT
            overflow = pl.when(big.fill_null(False)).then(pl.lit(OVERFLOW_MARK))
        elif name in ("latest", "largest"):
            value = v.filter(k).max()
        elif name in ("earliest", "smallest"):
            value = v.filter(k).min()
        elif name == "any":
            value, empty = (k & v.fill_null(False)).any(), False
        elif name == "all":
            value, empty = (~k | v.fill_null(False)).all(), True
        else:
            value = v.filter(k).first() if name == "first" else v.filter(k).last()
        aggs = [value.alias("v")] + ([overflow.alias("o")] if overflow is not None else [])
        key = self._stage(compiled, per, aggs, {"v": empty}, name in ("first", "last"))
        out = pl.col(key).struct
        err = out.field("e") if compiled.err is not None else None
        if overflow is not None:
            err = fold_err(out.field("o"), err)
        return Col(out.field("v"), err, scale)

    def as_list(self) -> CV:
        """The comprehension as a list: each group's kept items, in event order, as list
        columns; item ``i`` of the result reads the ``i``-th of each (absent past the
        group's count). The first failing event's error is that of the first item's
        presence, so it counts wherever the list is used."""
        compiled = self._compile()
        size = self._longest(compiled.prefilter)
        if size > MAX_ITEMS:
            raise Unsupported(f"a list over events of up to {size} items per "
                              f"{'member' if self.source.member_level else 'account'} "
                              f"(unrolled up to {MAX_ITEMS})")
        leaves: list[Col] = []
        rebuild = _flatten(compiled.elem, leaves)
        if size == 0:  # no group has an event that can be kept
            return Const(())
        k = pl.col("__k")
        per = [compiled.keep.expr.alias("__k"), _err_expr(compiled.err).alias("__e")]
        per += [leaf.expr.alias(f"__l{j}") for j, leaf in enumerate(leaves)]
        aggs = [k.sum().cast(pl.Int64).alias("n")]
        aggs += [pl.col(f"__l{j}").filter(k).alias(f"l{j}") for j in range(len(leaves))]
        key = self._stage(compiled, per, aggs, {"n": 0}, True)
        out = pl.col(key).struct
        items: list[tuple[CV, CV]] = []
        for i in range(size):
            present = Col(out.field("n") > i,
                          out.field("e") if i == 0 and compiled.err is not None else None)
            values = [out.field(f"l{j}").list.get(i, null_on_oob=True)
                      for j in range(len(leaves))]
            items.append((present, rebuild(values)))
        return UList(items)

    def _longest(self, prefilter: pl.Expr | None) -> int:
        """The most events of one group (account, or member) that the prefilter keeps:
        the items a list over them can have."""
        frame = visible_events(self.comp, self.source.member_level)
        if prefilter is not None:
            frame = frame.filter(prefilter)
        if not frame.height:
            return 0
        return int(frame.group_by("__row").len().get_column("len").max() or 0)  # type: ignore[arg-type]


def _err_expr(err: pl.Expr | None) -> pl.Expr:
    return err if err is not None else pl.lit(None, pl.String)


def _flatten(cv: CV, leaves: list[Col]) -> Callable[[list[pl.Expr]], CV]:
    """The per-event columns of an element (appended to ``leaves``) and the function
    making the element again from the columns an item reads."""
    if isinstance(cv, Const):
        return lambda values: cv
    if isinstance(cv, Col):
        if cv.expr is NULL_MARK:
            return lambda values: Col(NULL_MARK)
        j = len(leaves)
        leaves.append(cv)
        return lambda values: Col(values[j], None, cv.scale)
    if isinstance(cv, Rec):
        fields = {k: _flatten(f, leaves) for k, f in cv.fields.items()}
        present = _flatten(cv.present, leaves) if cv.present is not None else None
        return lambda values: Rec({k: f(values) for k, f in fields.items()},
                                  present(values) if present is not None else None)
    if isinstance(cv, UList):
        items = [(_flatten(p, leaves), _flatten(i, leaves)) for p, i in cv.items]
        return lambda values: UList([(p(values), i(values)) for p, i in items])
    raise Unsupported(f"a list over events of {type(cv).__name__}")


@dataclass
class EventStage(FrameStage):
    """A comprehension over events computed for every row of the frame: the (visible,
    prefiltered) events with the frame columns ``needed`` of their group's row (the
    account's, or the member's first account's), the scope's stages and ``per_event``
    values computed per event, aggregated by group (``aggs``; each group's first error
    as ``e``) and put back on the frame's rows (a group without events gets ``empty``);
    one struct column."""

    events: pl.DataFrame
    prefilter: pl.Expr | None
    needed: list[str]
    stages: list[tuple[str, pl.Expr | FrameStage]]
    per_event: list[pl.Expr]
    aggs: list[pl.Expr]
    empty: dict[str, Any]
    #: the aggregations read the events in event order (``first``, lists)
    ordered: bool
    #: for every frame row, the row of its member's first account (member events)
    first_rows: pl.Series | None = None

    def inputs(self) -> list[str]:
        return [*self.needed, "__member_order", "account_id"]

    def release(self) -> None:
        self.events = self.events.clear()

    def compute(self, frame: pl.DataFrame) -> pl.Series:
        # the events' columns it reads only (a filter copies every column it is given)
        used = {"__row", "__seq"}
        for e in [*self.per_event, *([self.prefilter] if self.prefilter is not None else [])]:
            used.update(e.meta.root_names())
        for _, s in self.stages:
            used.update(s.meta.root_names() if isinstance(s, pl.Expr) else s.inputs())
        events = self.events.select([c for c in self.events.columns if c in used])
        if self.prefilter is not None:
            events = events.filter(self.prefilter)
        # one frame row per group (the account's, the member's first): its columns
        # gathered, not joined
        joined = events if not self.needed else events.with_columns(
            frame.select(pl.col(self.needed).gather(events.get_column("__row"))))
        keys = ["__row"]
        for key, stage in self.stages:
            joined = joined.with_columns(
                stage.alias(key) if isinstance(stage, pl.Expr)
                else stage.compute(joined).alias(key))
        # each group's events together in event order, grouped by slices of the sorted
        # key (hashing a million groups cost three times the sort; the two keys packed in
        # one integer sort in half the time)
        order = pl.col("__row").cast(pl.UInt64) * pl.lit(1 << 32, pl.UInt64) \
            + pl.col("__seq").cast(pl.UInt64)
        per = joined.select(*keys, "__seq", *self.per_event).sort(order) \
            .with_columns(pl.col("__row").set_sorted())
        grouped = per.group_by(keys, maintain_order=True).agg(self.aggs)
        # each group's first error in event order: few events fail, so from those only
        failed = per.filter(pl.col("__e").is_not_null()).sort("__seq")
        first = failed.group_by(keys).agg(pl.col("__e").first().alias("e"))
        grouped = grouped.join(first, on=keys, how="left")
        values = [c for c in grouped.columns if c not in keys]
        # each frame row's group: its own (an account's) or its member's first row's
        where = pl.repeat(None, frame.height, dtype=pl.UInt32, eager=True).scatter(
            grouped.get_column("__row"),
            pl.int_range(grouped.height, dtype=pl.UInt32, eager=True))
        if self.first_rows is not None:  # member events
            where = where.gather(self.first_rows)
        rows = grouped.select(pl.col(values).gather(where))
        empty = self.empty
        return rows.select(pl.struct([
            pl.col(c).fill_null(empty[c]) if empty.get(c) is not None else pl.col(c)
            for c in values])).to_series()
