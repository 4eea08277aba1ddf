"""Aggregations over many rows in the columnar backend: over a member's accounts or
events (window aggregations over the member's rows), and over the portfolio's evaluated
accounts (requested while compiling, computed after the rows are, combined across chunks)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import polars as pl

from evaluator.backends.columnar.values import (
    CV,
    AccountRow,
    AllAccounts,
    Col,
    CompilerLike,
    Const,
    MemberAccounts,
    Rec,
    and_cv,
    fold_err,
    guarded,
    without_presence,
)
from evaluator.errors import Unsupported
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T

# -- aggregations over a member's accounts or events ---------------------------------------

AGGREGATES = {"latest", "earliest", "largest", "smallest", "count", "sum", "any", "all"}


def _empty_aggregate(name: str, t: T.Type, placeholder: bool = False) -> Any:
    """An aggregate over no rows, as the scalar builtins give it (or, while only learning
    which aggregates are needed, a harmless stand-in that cannot divide by zero)."""
    base = T.strip(t)
    zero: Any = Decimal("0.00") if base == T.MONEY else Decimal(0) if base == T.NUMBER else 0
    if placeholder and name in ("count", "sum"):
        zero = zero + 1
    return {"count": zero, "sum": zero, "any": False, "all": True}.get(name)


class NeedAggregates(Exception):
    """Compiling a portfolio definition needs aggregates that are not computed yet."""


class RowsAggregate(CV):
    """A comprehension over all rows of a member: reduced with window aggregations."""

    def __init__(self, comp: CompilerLike, node: A.Comprehension, entity: str,
                 env: dict[str, CV], source: CV) -> None:
        self.comp = comp
        self.node = node
        self.entity = entity
        self.env = env
        self.source = source

    def parts(self) -> list[tuple[Col, CV, bool]]:
        """(keep, element, member-level) for each slot of a row. Compiled for every row:
        a window over the member reads the other rows' items, whichever branch their own
        row takes."""
        comp = self.comp
        masks, comp.masks = comp.masks, []
        try:
            return self._parts()
        finally:
            comp.masks = masks

    def _parts(self) -> list[tuple[Col, CV, bool]]:
        comp, node = self.comp, self.node
        if isinstance(self.source, MemberAccounts | AllAccounts):
            slots: list[tuple[CV, bool]] = [(AccountRow(), False)]
        else:
            slots = list(comp.event_slots())
        out: list[tuple[Col, CV, bool]] = []
        for item, member_level in slots:
            present: CV = item.present if isinstance(item, Rec) and item.present else Const(True)
            value = without_presence(item) if isinstance(item, Rec) else item
            inner = {**self.env, node.var: value}
            keep = present
            if node.cond is not None:
                keep = and_cv(present, comp.compile(node.cond, self.entity, inner))
            if isinstance(keep, Const) and not keep.value:
                continue
            elem = comp.compile(node.element, self.entity, inner)
            out.append((comp.col(keep, None), elem, member_level))
        return out

    def request(self, node: A.Call, name: str) -> CV:
        """An aggregate over every evaluated account: computed after the rows are."""
        if name not in AGGREGATES:
            raise Unsupported(f"`{name}` over the portfolio's accounts")
        parts = self.parts()
        if parts:
            ((keep, elem, _),) = parts
            # a count does not look at the items (which may be the accounts themselves)
            value = Col(pl.lit(True)) if name == "count" else self.comp.col(elem, None)
        else:
            # no account of this table can qualify (the condition folds to false: e.g. a
            # list over events unrolled to this table's longest list, here empty): still
            # requested, over no rows, so that every table asks the same aggregates and
            # the partial aggregates of any split of a table line up
            keep, value = Col(pl.lit(False)), Col(pl.lit(None))
        self.comp.agg_requests.append((node, keep, value, name))
        raise NeedAggregates()

    def reduce(self, name: str, t: T.Type) -> CV:
        if name not in AGGREGATES:
            raise Unsupported(f"`{name}` over a member's rows")
        parts = self.parts()
        if not parts:
            return Const({"count": 0, "sum": 0, "any": False, "all": True}.get(name))
        results: list[Col] = []
        errs: list[pl.Expr | None] = []
        # a condition or an item known before the data (a literal) still counts once per
        # row: tied to a column, or `count`/`sum` over the window would see one value
        rows = pl.col("__member_order").is_not_null()
        for keep, elem, member_level in parts:
            keep = Col(keep.expr & rows, keep.err)
            errs.append(keep.err)
            if name == "count":
                if member_level:
                    ec = self.comp.col(elem, None)
                    v = ec.expr.filter(keep.expr).n_unique().over("__member_order")
                else:
                    v = keep.expr.cast(pl.Int64).sum().over("__member_order")
                results.append(Col(v, scale=0))
                continue
            ec = self.comp.col(elem, None)
            errs.append(guarded(ec.err, keep.expr))
            masked = pl.when(keep.expr).then(ec.expr)
            if name in ("latest", "largest", "earliest", "smallest"):
                v = self.comp.member_extreme(masked, name in ("latest", "largest"))
            elif name == "sum":
                if member_level:
                    raise Unsupported("`sum` over member-level events")
                v = masked.fill_null(0).sum().over("__member_order")
            elif name == "any":
                v = (keep.expr & ec.expr).any().over("__member_order")
            else:
                v = (~keep.expr | ec.expr).all().over("__member_order")
            results.append(Col(v, scale=ec.scale))
        err = fold_err(*errs)
        if err is not None:
            err = err.drop_nulls().first().over("__member_order")
        exprs = [r.expr for r in results]
        scale = results[0].scale
        if name in ("latest", "largest"):
            return Col(pl.max_horizontal(exprs), err, scale)
        if name in ("earliest", "smallest"):
            return Col(pl.min_horizontal(exprs), err, scale)
        if name in ("count", "sum"):
            return Col(pl.sum_horizontal(exprs), err, scale)
        if name == "any":
            return Col(pl.any_horizontal(exprs), err)
        return Col(pl.all_horizontal(exprs), err)


def portfolio_outputs(comp: CompilerLike, requests: list[tuple[A.Call, Col, Col, str]],
                      values: list[Any]) -> dict[str, Any]:
    """The portfolio outputs, given the value of each aggregate they need."""
    for (node, *_), value in zip(requests, values, strict=True):
        comp.agg_values[id(node)] = value
    comp.memo = {k: v for k, v in comp.memo.items()
                 if comp.checked.defs[k].spec.entity != "portfolio"}
    portfolio: dict[str, Any] = {}
    for shown, name in comp.policy.outputs("portfolio"):
        cv = comp.definition(name)
        if not isinstance(cv, Const):
            raise Unsupported(f"portfolio output `{name}` is not a single value")
        portfolio[shown] = cv.value
    return portfolio


def combine_aggregates(kinds: Sequence[str], a: Sequence[Any], b: Sequence[Any]
                       ) -> list[Any]:
    """The aggregates of two disjoint sets of rows combined: what they would be over both
    (every portfolio aggregate is a count, a sum, an or, an and, a maximum or a minimum;
    sums are exact decimals or integers)."""
    out: list[Any] = []
    for kind, x, y in zip(kinds, a, b, strict=True):
        if kind in ("count", "sum"):
            out.append(x + y)
        elif kind == "any":
            out.append(bool(x or y))
        elif kind == "all":
            out.append(bool(x and y))
        elif x is None or y is None:
            out.append(y if x is None else x)
        else:
            out.append(max(x, y) if kind in ("latest", "largest") else min(x, y))
    return out


def portfolio_requests(comp: CompilerLike) -> list[tuple[A.Call, Col, Col, str]]:
    """Compile the portfolio outputs once to learn which aggregates they need: the same
    for every table (of any rows) of a policy, in the same order. An aggregate over the
    accounts counts even where no account of this table qualifies, and while learning
    both sides of a portfolio-level choice (`if`, `and`, `or`) whose condition is known
    before the rows (from the aggregates' stand-ins) are compiled
    (:func:`learn_branch`), since the real aggregates may take the other side."""
    comp.learning = True
    try:
        for _, name in comp.policy.outputs("portfolio"):
            while True:
                try:
                    comp.definition(name)
                    break
                except NeedAggregates:
                    _stand_in(comp)
    finally:
        comp.learning = False
    requests = list(comp.agg_requests)
    for node, *_ in requests:
        comp.agg_values.pop(id(node), None)
    return requests


def _stand_in(comp: CompilerLike) -> None:
    """The aggregate just requested answered by a stand-in, while compiling (the real
    value is known after the rows are evaluated), and the portfolio definitions compiled
    so far forgotten."""
    node, _, _, fn = comp.agg_requests[-1]
    comp.agg_values[id(node)] = _empty_aggregate(fn, comp.types[id(node)], True)
    comp.memo = {k: v for k, v in comp.memo.items()
                 if comp.checked.defs[k].spec.entity != "portfolio"}


def learn_branch(comp: CompilerLike, node: A.Node, entity: str, env: dict[str, CV]) -> None:
    """While learning the portfolio's aggregates: compile the side of a choice that the
    stand-ins do not take, for the aggregates it requests (whatever else it gives, or
    fails with, is not used: the real values decide which side is computed)."""
    try:
        while True:
            try:
                comp.compile(node, entity, env)
                return
            except NeedAggregates:
                _stand_in(comp)
    except Exception:  # the side not taken may not compile: it is not used
        return


def aggregate_value(ok: pl.DataFrame, i: int, name: str, scale: int | None, t: T.Type) -> Any:
    keep, val = pl.col(f"__pk{i}"), pl.col(f"__pv{i}")
    rows = ok.filter(keep)
    if name == "count":
        return rows.height
    if name == "any":
        return bool(rows.select(val.any()).item()) if rows.height else False
    if name == "all":
        return bool(rows.select(val.all()).item()) if rows.height else True
    if name == "sum":
        total = rows.select(val.sum()).item() if rows.height else 0
        if T.strip(t) == T.MONEY:
            return Decimal(int(total or 0)).scaleb(-(scale or 0)).quantize(Decimal("0.01")) \
                if (scale or 0) <= 2 else Decimal(int(total or 0)).scaleb(-(scale or 0))
        if T.strip(t) == T.NUMBER:
            return Decimal(int(total or 0)).scaleb(-(scale or 0))
        return int(total or 0)
    value = rows.select(val.max() if name in ("latest", "largest") else val.min()).item() \
        if rows.height else None
    if value is not None and T.strip(t) in (T.MONEY, T.NUMBER):
        return Decimal(int(value)).scaleb(-(scale or 0))
    return value
