"""The columnar compiler: every formula node of a checked policy to a compiled value
(:mod:`.values`), a :class:`~evaluator.lang.nodes.NodeVisitor` over the nodes; constants
are folded with the scalar backend's meaning of each operator and builtin."""

from __future__ import annotations

import datetime as _dt
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import polars as pl

from evaluator.backends.base import CompiledPolicy
from evaluator.backends.columnar.aggregates import AGGREGATES, RowsAggregate, learn_branch
from evaluator.backends.columnar.events import EventComprehension, EventRows, EventScope
from evaluator.backends.columnar.functions import columnar_impl
from evaluator.backends.columnar.places import output_showing_places
from evaluator.backends.columnar.values import (
    CV,
    DAY_MAX,
    DAY_MIN,
    EPOCH,
    NULL_MARK,
    SLOT_COLUMNS,
    AccountRow,
    AllAccounts,
    Col,
    Const,
    DayTable,
    FrameStage,
    MemberAccounts,
    MemberEvents,
    MemberExtreme,
    MemberRef,
    Rec,
    UList,
    align,
    and_cv,
    and_present,
    as_rec,
    decimal_places,
    errors_of,
    event_slot,
    fold_err,
    guarded,
    in_branch,
    is_fail,
    list_items,
    month_start,
    offset_by,
    overflow_mark,
    per_day,
    when_present,
    without_presence,
)
from evaluator.backends.scalar.runtime import arith_message
from evaluator.errors import EvaluationError, Unsupported
from evaluator.facts.table import UNITS_LIMIT, Table
from evaluator.facts.tablecols import extra_column
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T
from evaluator.lang.builtins import BUILTINS
from evaluator.lang.check.model import Resolved
from evaluator.lang.document.loader import ParamSpec
from evaluator.lang.values import Duration, MonthDay, add_duration


class Compiler(A.NodeVisitor[CV]):
    """Compiles the formulas of one policy over one table: :meth:`compile` (the entry,
    every child is compiled through it) dispatches on the node's kind to ``visit_<kind>``;
    a node it cannot express raises :class:`Unsupported`."""

    def __init__(self, policy: CompiledPolicy, params: dict[str, ParamSpec], as_of: _dt.date,
                 table: Table) -> None:
        self.policy = policy
        self.checked = policy.checked
        self.types = self.checked.types
        self.res = self.checked.resolutions
        self.params = {n: s.value for n, s in params.items()}
        self.as_of = as_of
        self.table = table
        self.memo: dict[str, CV] = {}
        self.current: list[str] = []
        #: where the branches being compiled are taken (`if` conditions): a value only
        #: a branch uses need not be computed elsewhere (see :meth:`by_day`)
        self.masks: list[pl.Expr] = []
        #: per-row columns computed before the outputs, in dependency order
        self.stages: list[tuple[str, pl.Expr | FrameStage]] = []
        #: the stages of a comprehension over the events table being compiled, and the
        #: table's events known on the as-of day (:mod:`.events`)
        self.event_scope: EventScope | None = None
        self.event_frames: dict[str, pl.DataFrame] = {}
        #: nodes made while compiling (kept, so that their ids are not reused)
        self.synthesized: list[A.Node] = []
        #: portfolio aggregates already computed over the evaluated rows, by call node
        self.agg_values: dict[int, Any] = {}
        #: portfolio aggregates to compute: (call node, keep, element, function)
        self.agg_requests: list[tuple[A.Call, Col, Col, str]] = []
        self.learning = False
        from evaluator.backends.scalar.runtime import Inst, Run

        self.run = Run(policy.program, as_of, self.params, table.fx_rates)
        self.global_inst = Inst("global", None, self.run, None)
        self.fx_scale = max([decimal_places(r) for r in table.fx_rates.values()] or [0])
        self.fx_map = {(c, d): int(r.scaleb(self.fx_scale))
                       for (c, d), r in table.fx_rates.items()}
        # the key of a (currency, day): the day's number times the currencies known, plus
        # the currency's position, so that rates are looked up without text per row
        self.fx_codes = {c: i for i, c in enumerate(sorted({c for c, _ in self.fx_map}))}
        self.fx_by_key = {(d - EPOCH).days * len(self.fx_codes) + self.fx_codes[c]: rate
                          for (c, d), rate in self.fx_map.items()}
        # money is exact 64-bit integers, which overflow silently: leave room for a
        # balance times a rate, summed over a thousand accounts
        balance = table.frame.select(pl.col("balance").abs().max()).item() \
            if table.frame.height else None
        rate = max(self.fx_map.values(), default=1)
        if balance is not None and int(balance) * max(rate, 1) * 1000 >= UNITS_LIMIT:
            raise Unsupported("balances too large for exact 64-bit arithmetic "
                              "(with these exchange rates)")

    # -- definitions -----------------------------------------------------------------

    def definition(self, name: str) -> CV:
        if name in self.memo:
            return self.memo[name]
        cdef = self.checked.defs[name]
        entity = cdef.spec.entity
        if entity == "global":
            try:
                value = self.global_inst.get(name)
            except EvaluationError as exc:
                raise Unsupported(f"global definition `{name}` fails: {exc}") from None
            cv: CV = Const(value)
        elif entity in ("account", "member", "portfolio"):
            node = cdef.spec.node
            assert node is not None
            self.current.append(name)
            masks, self.masks = self.masks, []  # a definition is computed for every row
            scope, self.event_scope = self.event_scope, None  # not per event
            try:
                cv = self.compile(node, entity, {})
            finally:
                self.current.pop()
                self.masks = masks
                self.event_scope = scope
            if entity != "portfolio":
                cv = self.stage(name, cv)
        else:
            raise Unsupported(f"{entity} definitions are evaluated separately")
        self.memo[name] = cv
        return cv

    def stage(self, name: str, cv: CV) -> CV:
        """Compute a definition's per-row parts once, as columns of their own, and refer
        to those columns wherever the definition is used."""
        counter = [0]

        def put(c: Col) -> Col:
            if c.expr.meta.is_column() and (c.err is None or c.err.meta.is_column()):
                return c  # already a column of its own
            counter[0] += 1
            key = f"d:{name}:{counter[0]}"
            self.stages.append((key, c.expr))
            err = None
            if c.err is not None:
                self.stages.append((f"e:{key}", c.err))
                err = pl.col(f"e:{key}")
            return Col(pl.col(key), err, c.scale)

        def walk(v: CV) -> CV:
            if isinstance(v, Col):
                if v.expr is NULL_MARK:
                    return v
                return put(v)
            if isinstance(v, Rec):
                return Rec({k: walk(f) for k, f in v.fields.items()},
                           walk(v.present) if v.present is not None else None)
            if isinstance(v, UList):
                return UList([(walk(p), walk(i)) for p, i in v.items])
            return v

        return walk(cv)

    def temp(self, expr: pl.Expr) -> pl.Expr:
        """An intermediate value computed once, as a column, and referred to by name."""
        return pl.col(self.put_stage(expr))

    def put_stage(self, stage: pl.Expr | FrameStage) -> str:
        """Add a stage, under a name of its own; one that reads the events being compiled
        is computed per event (:class:`~.events.EventScope`)."""
        if self.event_scope is not None and self.event_scope.reads(stage):
            return self.event_scope.add(stage)
        key = f"t:{len(self.stages)}"
        self.stages.append((key, stage))
        return key

    def column(self, expr: pl.Expr) -> pl.Expr:
        """``expr`` as a column: itself when it already is one, else a :meth:`temp`."""
        return expr if expr.meta.is_column() else self.temp(expr)

    def by_day(self, day: pl.Expr, build: Callable[[pl.Expr], pl.Expr], dtype: Any = pl.Date
               ) -> pl.Expr:
        """``build(day)`` through a table of the days (or years) the column spans
        (:func:`per_day`), computed as a column of its own from a column, so that the
        range is always the whole table's, whatever context the value is used in."""
        if self.masks:  # only the rows of the branches being compiled need it
            day = pl.when(pl.all_horizontal(self.masks)).then(day)
        return self.temp(per_day(self.column(day), build, dtype))

    def day_table(self, day: pl.Expr, build: Callable[[pl.Series], pl.Series]) -> pl.Expr:
        """``build`` over the days the column ``day`` spans, gathered for every row
        (:class:`DayTable`), as a column of its own."""
        name = self.column(day).meta.output_name()
        return pl.col(self.put_stage(DayTable(name, build)))

    def member_extreme(self, values: pl.Expr, largest: bool) -> pl.Expr:
        """The largest (or smallest) of ``values`` over each row's member, as a column of
        its own (:class:`MemberExtreme`)."""
        name = self.column(values).meta.output_name()
        key = f"t:{len(self.stages)}"
        self.stages.append((key, MemberExtreme(name, _unused_build, largest)))
        return pl.col(key)

    def masked(self, expr: pl.Expr) -> pl.Expr:
        """``expr`` where the branches being compiled are taken, null elsewhere."""
        return pl.when(pl.all_horizontal(self.masks)).then(expr) if self.masks else expr

    def fail_message(self, msg: pl.Expr) -> pl.Expr:
        name = self.current[-1] if self.current else "?"
        prov = self.checked.defs[name].spec.provision if name in self.checked.defs else None
        where = f"in `{name}`" + (f", {prov}" if prov else "")
        return pl.concat_str([msg, pl.lit(f" ({where})")])

    # -- expressions -------------------------------------------------------------------

    def compile(self, node: A.Node, entity: str, env: dict[str, CV]) -> CV:
        cv: CV = self.visit(node, entity, env)
        return cv

    def generic_visit(self, node: A.Node, *args: Any) -> CV:
        raise Unsupported(f"`{type(node).__name__}`")  # pragma: no cover

    def visit_Literal(self, node: A.Literal, entity: str, env: dict[str, CV]) -> CV:
        return Const(node.value)

    def visit_Attr(self, node: A.Attr, entity: str, env: dict[str, CV]) -> CV:
        return self.attr(self.compile(node.obj, entity, env), node, entity)

    def visit_Unary(self, node: A.Unary, entity: str, env: dict[str, CV]) -> CV:
        v = self.compile(node.operand, entity, env)
        if isinstance(v, Const):
            return Const(not v.value if node.op == "not" else -v.value)
        assert isinstance(v, Col)
        return Col(~v.expr if node.op == "not" else -v.expr, v.err, v.scale)

    def visit_ListComp(self, node: A.ListLit, entity: str, env: dict[str, CV]) -> CV:
        comp = node.items[0]
        assert isinstance(comp, A.Comprehension)
        cv = self.visit_Comprehension(comp, entity, env)
        return cv.as_list() if isinstance(cv, EventComprehension) else cv

    def visit_ListLit(self, node: A.ListLit, entity: str, env: dict[str, CV]) -> CV:
        items = [self.compile(i, entity, env) for i in node.items]
        if all(isinstance(i, Const) for i in items):
            return Const(tuple(i.value for i in items))  # type: ignore[attr-defined]
        return UList([(Const(True), i) for i in items])

    def visit_RecordLit(self, node: A.RecordLit, entity: str, env: dict[str, CV]) -> CV:
        fields = {k: self.compile(v, entity, env) for k, v in node.fields}
        if all(isinstance(f, Const) for f in fields.values()):
            return Const({k: f.value for k, f in fields.items()})  # type: ignore[attr-defined]
        return Rec(fields)

    def visit_Name(self, node: A.Name, entity: str, env: dict[str, CV]) -> CV:
        r: Resolved = self.res[id(node)]
        if r.kind == "local":
            return env[r.name]
        if r.kind == "param":
            return Const(self.params[r.name])
        if r.kind == "as_of":
            return Const(self.as_of)
        if r.kind == "def":
            return self.definition(r.name)
        if r.kind == "field":
            return self.field(entity, r.name)
        raise Unsupported(f"name `{node.id}`")

    def field(self, entity: str, name: str) -> CV:
        if entity == "account":
            return self.account_field(name)
        if entity == "portfolio":
            if name == "accounts":
                return AllAccounts()
            if name == "claims":
                return Const(())
            raise Unsupported(f"portfolio field `{name}`")
        if entity == "member":
            if name == "member_id":
                return Col(pl.col("member_id"))
            if name == "events":
                return MemberEvents() if self.table.events is None else EventRows(True)
            if name == "accounts":
                return MemberAccounts()
            return self.declared_field("member", name)
        raise Unsupported(f"field `{name}` of {entity}")

    def event_slots(self) -> list[tuple[Rec, bool]]:
        """Each event slot of a row (the standard ``last_*`` columns, then the declared
        ``latest:`` ones) and whether it is the member's."""
        decl = self.table.decl
        slots = [(event_slot(*s, extra=self.no_extra_event_fields()), s[2])
                 for s in SLOT_COLUMNS]
        for c in decl.extra_columns() if decl is not None else ():
            if c.latest is not None:
                slots.append((event_slot(c.latest, extra_column("latest", c.name),
                                         c.on == "member", self.no_extra_event_fields()),
                              c.on == "member"))
        return slots

    def no_extra_event_fields(self) -> dict[str, CV]:
        """The declared event fields, absent from every event of a table."""
        decl = self.table.decl
        return {f.name: Const(() if f.type == "list of text" else f.default)
                for f in (decl.extra_fields("event") if decl is not None else ())}

    def declared_field(self, entity: str, name: str) -> CV:
        """A member or account field the policy declares, as its typed column."""
        decl = self.table.decl
        f = decl.field(entity, name) if decl is not None else None
        if f is None:
            raise Unsupported(f"field `{name}` of {entity}")
        column = extra_column(entity, name)
        if f.type in ("decimal", "percent"):
            # each value keeps the decimal places it was written with (the scalar backend
            # writes `0.01` and `0.025`, and `x ?? 0%` mixes places), which a scaled
            # column holds only where no output shows them
            shown = output_showing_places(self.policy, {name})
            if shown is not None:
                raise Unsupported(f"declared {f.type} field `{entity}.{name}` reaches "
                                  f"{shown} unrounded (each value keeps its own decimal "
                                  "places)")
        return Col(pl.col(column), scale=self.table.extra_scales.get(column))

    def account_field(self, name: str) -> CV:
        if name in ("account_id", "member_id", "currency", "kind"):
            return Col(pl.col(name))
        if name == "opened":
            return Col(pl.col("opened"))
        if name == "balance":
            return Col(pl.col("balance"), scale=self.table.balance_scale)
        if name == "events" and self.table.events is not None:
            return EventRows(False)
        if name == "events":
            return UList([(slot.present or Const(True), without_presence(slot))
                          for slot, member_level in self.event_slots() if not member_level])
        if name == "member":
            return MemberRef()
        return self.declared_field("account", name)

    def attr(self, obj: CV, node: A.Attr, entity: str) -> CV:
        r: Resolved = self.res[id(node)]
        name = r.name
        if isinstance(obj, Const):
            value = obj.value
            if value is None:
                return Const(None)
            if isinstance(value, dict):
                return Const(value[name])
            raise Unsupported(f"field `{name}` of a constant")
        if isinstance(obj, Rec):
            v = obj.fields[name]
            if obj.present is not None:
                return when_present(obj.present, v)
            return v
        if isinstance(obj, AccountRow):
            if r.kind == "attr_def":
                return self.definition(name)
            return self.account_field(name)
        if isinstance(obj, MemberRef):
            if r.kind == "attr_def":
                return self.definition(name)
            return self.field("member", name)
        raise Unsupported(f"field `{name}` of {type(obj).__name__}")

    # -- operators -----------------------------------------------------------------------

    def visit_Binary(self, node: A.Binary, entity: str, env: dict[str, CV]) -> CV:
        op = node.op
        if op in ("+", "-") and isinstance(node.right, A.If) \
                and self.types[id(node.right)] == T.DURATION:
            return self.moved_by_choice(node, node.right, entity, env)
        left = self.compile(node.left, entity, env)
        if op in ("and", "or"):
            if isinstance(left, Const):
                if (op == "and") != bool(left.value) and self.learning \
                        and entity == "portfolio":
                    learn_branch(self, node.right, entity, env)
                if op == "and" and not left.value:
                    return Const(False)
                if op == "or" and left.value:
                    return Const(True)
                return self.compile(node.right, entity, env)
            right = self.compile(node.right, entity, env)
            if isinstance(right, Const):
                if op == "and":
                    return left if right.value else Const(False)
                return Const(True) if right.value else left
            assert isinstance(left, Col) and isinstance(right, Col)
            lazy = guarded(right.err, left.expr if op == "and" else ~left.expr)
            expr = left.expr & right.expr if op == "and" else left.expr | right.expr
            return Col(expr, fold_err(left.err, lazy))
        right = self.compile(node.right, entity, env)
        if op == "??":
            if isinstance(left, Const):
                return right if left.value is None else left
            if isinstance(left, Rec) and not is_fail(right):
                # a record that may be null, else the right side (a record or null)
                if left.present is None:
                    return left
                present = self.col(left.present, None)
                return self.choose(Col(present.expr.fill_null(False), present.err),
                                   without_presence(left), right, self.types[id(node)])
            if isinstance(right, Col) and right.err is not None and right.expr is NULL_MARK:
                # x ?? fail(...): an error where x is missing (x computed once, for both)
                if isinstance(left, Rec):  # a record that may be null: present, or the error
                    if left.present is None:
                        return left
                    present = self.col(left.present, None)
                    return Rec(left.fields, Col(pl.lit(True), fold_err(
                        present.err, pl.when(~present.expr.fill_null(False)).then(right.err))))
                if not isinstance(left, Col):
                    raise Unsupported(f"`??` on {type(left).__name__}")
                value = self.column(left.expr)
                return Col(value, fold_err(left.err, pl.when(value.is_null())
                                           .then(right.err)), left.scale)
            lc, rc = self.col(left, node.left), self.col(right, node.right)
            lc, rc = align(lc, rc)
            return Col(pl.coalesce([lc.expr, rc.expr]),
                       fold_err(lc.err, guarded(rc.err, lc.expr.is_null())), lc.scale)
        if isinstance(left, Const) and isinstance(right, Const):
            try:
                return Const(_const_binary(op, left.value, right.value,
                                           self.types[id(node.left)],
                                           self.types[id(node.right)]))
            except (ArithmeticError, ValueError) as exc:
                # as the scalar backend: an error for every record that evaluates it
                return Col(NULL_MARK, self.fail_message(pl.lit(arith_message(exc))))
        if op in ("==", "!="):
            return self.equality(op, left, right, node)
        if op in A.COMPARE_OPS:
            lc, rc = align(self.col(left, node.left), self.col(right, node.right))
            fn: Callable[[Any, Any], Any] = {"<": operator.lt, "<=": operator.le,
                                             ">": operator.gt, ">=": operator.ge}[op]
            return Col(fn(lc.expr, rc.expr), errors_of(lc, rc))
        if op in ("in", "not in"):
            if isinstance(right, Const):
                values = [self.lit_value(v, self.types[id(node.left)]) for v in right.value]
                lc = self.col(left, node.left)
                expr = lc.expr.is_in(values).fill_null(False)
                return Col(~expr if op == "not in" else expr, lc.err)
            if isinstance(right, Col) and isinstance(self.types[id(node.right)], T.ListT):
                # a declared `list of text` field: a list column (empty when absent)
                lc = self.col(left, node.left)
                expr = (lc.expr.is_not_null() & right.expr.list.contains(lc.expr)
                        ).fill_null(False)
                return Col(~expr if op == "not in" else expr, errors_of(lc, right))
            raise Unsupported("`in` a computed list")
        return self.arith(op, left, right, node)

    def moved_by_choice(self, node: A.Binary, choice: A.If, entity: str, env: dict[str, CV]
                        ) -> CV:
        """``d ± (if c then a else b)`` as ``if c then d ± a else d ± b`` (a date moves
        only by a duration known before the data), ``d``'s errors first, as the scalar
        backend evaluates it first."""
        then = A.Binary(node.op, node.left, choice.then)
        orelse = A.Binary(node.op, node.left, choice.orelse)
        split = A.If(choice.cond, then, orelse)
        for n in (then, orelse, split):
            self.types[id(n)] = self.types[id(node)]
        self.synthesized += [then, orelse, split]  # their ids stay theirs
        left = self.compile(node.left, entity, env)
        out = self.compile(split, entity, env)
        if isinstance(out, Col) and isinstance(left, Col) and left.err is not None:
            return Col(out.expr, fold_err(left.err, out.err), out.scale)
        return out

    def equality(self, op: str, left: CV, right: CV, node: A.Binary) -> CV:
        for a, b in ((left, right), (right, left)):
            if isinstance(b, Const) and b.value is None:
                if isinstance(a, Rec):
                    present = a.present if a.present is not None else Const(True)
                    if isinstance(present, Const):
                        return Const(bool(present.value) == (op == "!="))
                    assert isinstance(present, Col)
                    return Col(present.expr if op == "!=" else ~present.expr, present.err)
                ac = self.col(a, node.left)
                return Col(ac.expr.is_not_null() if op == "!=" else ac.expr.is_null(), ac.err)
        lc, rc = align(self.col(left, node.left), self.col(right, node.right))
        expr = lc.expr.eq_missing(rc.expr)
        return Col(~expr if op == "!=" else expr, errors_of(lc, rc))

    def arith(self, op: str, left: CV, right: CV, node: A.Binary) -> CV:
        lt, rt = self.types[id(node.left)], self.types[id(node.right)]
        if op in ("+", "-") and lt == T.DATE and rt == T.DURATION:
            if not isinstance(right, Const):
                raise Unsupported("a computed duration")
            dur: Duration = right.value if op == "+" else -right.value
            lc = self.col(left, node.left)
            day = self.column(lc.expr)
            return Col(self.by_day(day, lambda d: offset_by(d, dur)),
                       fold_err(lc.err, self.offset_error(day, dur)))
        if op == "+" and lt == T.DURATION and rt == T.DATE:
            return self.arith("+", right, left, A.Binary("+", node.right, node.left))
        if op == "+" and (isinstance(left, UList) or isinstance(right, UList)
                          or isinstance(lt, T.ListT)):
            return UList(list_items(left) + list_items(right))
        if op == "+" and lt == T.TEXT:
            lc, rc = self.col(left, node.left), self.col(right, node.right)
            return Col(pl.concat_str([lc.expr, rc.expr]), errors_of(lc, rc))
        if lt in T.NUMERIC and rt in T.NUMERIC:
            lc, rc = self.col(left, node.left), self.col(right, node.right)
            if op in ("+", "-"):
                lc, rc = align(lc, rc)
                expr = lc.expr + rc.expr if op == "+" else lc.expr - rc.expr
                # |a ± b| < LIMIT whenever both are under half of it
                half = UNITS_LIMIT // 2
                over = (lc.expr.abs() > half) | (rc.expr.abs() > half)
                return Col(expr, fold_err(errors_of(lc, rc), overflow_mark(over)), lc.scale)
            if op == "*":
                bound = pl.when(lc.expr == 0).then(None).otherwise(
                    pl.lit(UNITS_LIMIT, pl.Int64) // lc.expr.abs())
                over = rc.expr.abs() > bound
                return Col(lc.expr * rc.expr, fold_err(errors_of(lc, rc), overflow_mark(over)),
                           (lc.scale or 0) + (rc.scale or 0))
        raise Unsupported(f"`{op}` on `{lt}` and `{rt}`")

    def visit_If(self, node: A.If, entity: str, env: dict[str, CV]) -> CV:
        cond = self.compile(node.cond, entity, env)
        if isinstance(cond, Const):
            if self.learning and entity == "portfolio":
                learn_branch(self, node.orelse if cond.value else node.then, entity, env)
            return self.compile(node.then if cond.value else node.orelse, entity, env)
        assert isinstance(cond, Col)
        taken = cond.expr.fill_null(False)
        self.masks.append(taken)
        try:
            a = self.compile(node.then, entity, env)
            self.masks[-1] = ~taken
            b = self.compile(node.orelse, entity, env)
        finally:
            self.masks.pop()
        return self.choose(cond, a, b, self.types[id(node)])

    def choose(self, cond: Col, a: CV, b: CV, t: T.Type) -> CV:
        """``a`` where ``cond`` holds, else ``b`` (as the scalar backend, a null
        condition takes ``b``); either's errors count only where it is chosen."""
        c = cond.expr
        a, b = as_rec(a), as_rec(b)
        if (isinstance(a, Rec) and _nothing(b)) or (isinstance(b, Rec) and _nothing(a)):
            # a record or nothing (null, or an error): the record is present only where
            # its branch is taken, and where it is present only if it is itself
            rec, other, where = (a, b, c.fill_null(False)) if isinstance(a, Rec) \
                else (b, a, ~c.fill_null(False))
            assert isinstance(rec, Rec)
            taken = in_branch(rec, where)
            assert isinstance(taken, Rec)
            err = fold_err(cond.err, pl.when(~where).then(other.err)
                           if isinstance(other, Col) and other.err is not None else None)
            return Rec(taken.fields, and_present(Col(where, err), taken.present))
        if isinstance(a, Rec | Const) and isinstance(b, Rec | Const) and (
                isinstance(a, Rec) or isinstance(b, Rec)):
            if isinstance(a, Rec) and isinstance(b, Rec) and a.fields.keys() == b.fields.keys():
                sub = T.strip(t)
                fields = {}
                for k in a.fields:
                    ft = sub.field(k) if isinstance(sub, T.RecordT) else None
                    fields[k] = self.choose(cond, a.fields[k], b.fields[k], ft or T.NEVER)
                if a.present is None and b.present is None:
                    return Rec(fields)
                # either may be null: the chosen one's presence is the record's
                present = self.choose(cond, a.present or Const(True), b.present or Const(True),
                                      T.BOOL)
                return Rec(fields, present)
            raise Unsupported("`if` between records of different shapes")
        if isinstance(a, UList | Rec) or isinstance(b, UList | Rec):
            raise Unsupported("`if` between lists")
        if is_fail(a) or is_fail(b):
            value = b if is_fail(a) else a
            failing = a if is_fail(a) else b
            vc = self.col(value, None) if not isinstance(value, Col) else value
            fail_when = c if failing is a else ~c
            assert isinstance(failing, Col)
            return Col(vc.expr, fold_err(cond.err, guarded(vc.err, ~fail_when),
                                         pl.when(fail_when).then(failing.err)), vc.scale)
        ac, bc = align(self.col(a, None, t), self.col(b, None, t))
        expr = pl.when(c).then(ac.expr).otherwise(bc.expr)
        return Col(expr, fold_err(cond.err, guarded(ac.err, c), guarded(bc.err, ~c)), ac.scale)

    # -- comprehensions --------------------------------------------------------------------

    def visit_Comprehension(self, node: A.Comprehension, entity: str, env: dict[str, CV]) -> CV:
        source = self.compile(node.iterable, entity, env)
        if isinstance(source, Const):
            items: list[tuple[CV, CV]] = [(Const(True), Const(v)) for v in source.value]
        elif isinstance(source, UList):
            items = source.items
        elif isinstance(source, EventRows):
            return EventComprehension(self, node, entity, env, source)
        elif isinstance(source, MemberEvents | MemberAccounts | AllAccounts):
            if self.event_scope is not None:
                raise Unsupported("an aggregation over rows inside a comprehension over events")
            return RowsAggregate(self, node, entity, env, source)
        else:
            raise Unsupported(f"a comprehension over {type(source).__name__}")
        out: list[tuple[CV, CV]] = []
        for present, item in items:
            inner = {**env, node.var: item}
            keep: CV = present
            if node.cond is not None:
                c = self.compile(node.cond, entity, inner)
                keep = and_cv(present, c)
            if isinstance(keep, Const) and not keep.value:
                continue
            out.append((keep, self.compile(node.element, entity, inner)))
        if all(isinstance(p, Const) and isinstance(v, Const) for p, v in out):
            return Const(tuple(v.value for _, v in out))  # type: ignore[attr-defined]
        return UList(out)

    # -- calls --------------------------------------------------------------------------

    def visit_Call(self, node: A.Call, entity: str, env: dict[str, CV]) -> CV:
        name = node.func
        if id(node) in self.agg_values:
            return Const(self.agg_values[id(node)])
        if len(node.args) == 1 and isinstance(node.args[0], A.Comprehension):
            arg = self.visit_Comprehension(node.args[0], entity, env)
            if isinstance(arg, EventComprehension):
                reduced = arg.reduce(name, self.types[id(node)])
                if reduced is not None:
                    return reduced
                arg = arg.as_list()
            if isinstance(arg, RowsAggregate):
                if isinstance(arg.source, AllAccounts):
                    return arg.request(node, name)
                return arg.reduce(name, self.types[id(node)])
            args = [arg]
        else:
            args = [self.compile(a, entity, env) for a in node.args]
            if name in AGGREGATES and len(args) == 1 and isinstance(args[0], RowsAggregate):
                return args[0].reduce(name, self.types[id(node)])
        if all(isinstance(a, Const) for a in args):
            return self.const_call(node, [a.value for a in args])  # type: ignore[attr-defined]
        builtin = BUILTINS.get(name)
        if builtin is None or builtin.columnar is None:
            raise Unsupported(f"`{name}` on per-account values")
        return columnar_impl(name)(self, node, args)

    def const_call(self, node: A.Call, values: list[Any]) -> CV:
        b = BUILTINS[node.func]
        try:
            if b.needs_run:
                return Const(b.scalar(self.run, *values))
            if b.typed:
                return Const(b.scalar(self.types[id(node)], *values))
            return Const(b.scalar(*values))
        except EvaluationError as exc:
            message = pl.lit(exc.message)
            return Col(NULL_MARK, message if exc.definition else self.fail_message(message))
        except (ArithmeticError, ValueError) as exc:
            return Col(NULL_MARK, self.fail_message(pl.lit(arith_message(exc))))

    def offset_error(self, day: pl.Expr, dur: Duration) -> pl.Expr | None:
        """Where ``day + dur`` leaves the years 1-9999, the scalar backend's error
        (values.add_duration: months first, then days)."""
        errs: list[pl.Expr | None] = []
        if dur.months:
            # the year stays in 1-9999 for the days from the first of one month (of index
            # year * 12 + month - 1) to the day before the first of another
            days = day.cast(pl.Int64)
            low = month_start(12 - dur.months)
            high = month_start(9999 * 12 + 12 - dur.months)
            out = (days < low) | (days >= high)
            errs.append(pl.when(out).then(self.fail_message(
                pl.concat_str([pl.lit("a date or number is out of range (date out of range: "),
                               day.dt.strftime("%Y-%m-%d"),
                               pl.lit(f" + {dur.months} months)")]))))
        if dur.days:
            moved = offset_by(day, Duration(dur.months, 0)).cast(pl.Int64) + dur.days
            errs.append(pl.when((moved < DAY_MIN) | (moved > DAY_MAX)).then(
                self.fail_message(pl.lit(
                    "a date or number is out of range (date value out of range)"))))
        return fold_err(*errs)

    # -- helpers -------------------------------------------------------------------------

    def lit_value(self, value: Any, t: T.Type) -> Any:
        if isinstance(value, MonthDay):
            return value.month * 100 + value.day
        return value

    def col(self, cv: CV, node: A.Node | None, t: T.Type | None = None) -> Col:
        """A value as a column (constants become literals of the right kind)."""
        if isinstance(cv, Col):
            return cv
        if isinstance(cv, Const):
            v = cv.value
            if isinstance(v, bool) or v is None or isinstance(v, str | _dt.date):
                return Col(pl.lit(v))
            if isinstance(v, MonthDay):
                return Col(pl.lit(v.month * 100 + v.day, pl.Int32))
            if isinstance(v, int):
                return Col(pl.lit(v, pl.Int64), scale=0)
            if isinstance(v, Decimal):
                scale = max(0, -v.as_tuple().exponent)  # type: ignore[operator]
                return Col(pl.lit(int(v.scaleb(scale)), pl.Int64), scale=scale)
            raise Unsupported(f"constant {v!r} as a column")
        if isinstance(cv, Rec):
            raise Unsupported("a record where a value is expected")
        raise Unsupported(f"{type(cv).__name__} where a value is expected")


def _unused_build(days: pl.Series) -> pl.Series:  # pragma: no cover
    raise AssertionError("a member's extreme is not built from days")


def _nothing(cv: CV) -> bool:
    """Null, or a failure: a branch with no value of its own."""
    return is_fail(cv) or (isinstance(cv, Const) and cv.value is None)


def _const_binary(op: str, a: Any, b: Any, lt: T.Type, rt: T.Type) -> Any:
    """The scalar backend's meaning of an operator on two constants."""
    if op == "+":
        if lt == T.DATE:
            return add_duration(a, b)
        if rt == T.DATE:
            return add_duration(b, a)
        if isinstance(lt, T.ListT):
            return tuple(a) + tuple(b)
        return a + b
    if op == "-":
        if lt == T.DATE:
            return add_duration(a, -b)
        return a - b
    if op == "*":
        if lt == T.DURATION:
            return a.times(int(b))
        if rt == T.DURATION:
            return b.times(int(a))
        return a * b
    if op == "/":
        if b == 0:
            raise Unsupported("division by zero in a constant")
        return Decimal(a) / Decimal(b)
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "in":
        return a in b
    if op == "not in":
        return a not in b
    raise Unsupported(f"constant `{op}`")
