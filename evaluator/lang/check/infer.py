"""Type inference: the type of every node of every formula, and what each name means.

:class:`TypeChecker` walks every formula once, infers the type of every node, resolves
every name, and records which definitions and parameters each definition uses. It
collects *all* diagnostics of the formulas (it never stops at the first); the other
passes (:mod:`.params`, :mod:`.lints`) and their order are in :mod:`.pipeline`.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable

from evaluator.errors import Code, Diagnostic
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T
from evaluator.lang.builtins import BUILTINS, SignatureError, count_placeholders
from evaluator.lang.check.model import (
    GLOBAL_NAMES,
    VISIBLE_FROM,
    CheckedDef,
    Resolved,
)
from evaluator.lang.document.facts_decl import entity_fields
from evaluator.lang.document.loader import DefSpec, PolicyDocument
from evaluator.lang.parser import MAX_DEPTH
from evaluator.lang.typesys import arith_type
from evaluator.text import with_article

__all__ = ["TypeChecker", "parse_type"]


class _Ctx:
    def __init__(self, spec: DefSpec) -> None:
        self.spec = spec
        self.entity = spec.entity
        self.locals: list[tuple[str, T.Type]] = []
        self.narrowed: dict[str, T.Type] = {}
        self.uses: set[str] = set()
        self.params: set[str] = set()
        self.first_use: dict[str, A.Node] = {}

    def local(self, name: str) -> T.Type | None:
        for n, t in reversed(self.locals):
            if n == name:
                return t
        return None


class TypeChecker(A.NodeVisitor[T.Type]):
    """Types formulas (:meth:`infer` is the entry of every node; its children go through
    it too) and collects their diagnostics in :attr:`diags`, in the order found."""

    def __init__(self, doc: PolicyDocument) -> None:
        self.doc = doc
        #: the names each entity has: the standard facts plus those the policy declares
        self.fields = entity_fields(doc.facts_decl)
        self.diags: list[Diagnostic] = []
        self.types: dict[int, T.Type] = {}
        self.res: dict[int, Resolved] = {}
        self.def_types: dict[str, T.Type] = {}
        #: definitions being typed, outermost first, each waiting for the next one, and
        #: where each is in that list
        self.in_progress: list[str] = []
        self.position: dict[str, int] = {}
        #: definitions that the formula being typed uses but that are not typed yet
        self.wanted: dict[str, None] = {}
        self.checked: dict[str, CheckedDef] = {}
        self.cycles_reported: set[frozenset[str]] = set()
        self.deferred_help: list[tuple[int, Callable[[], str | None]]] = []
        #: definitions whose formula did not parse or did not type: what they use is not
        #: known, so the usage lint does not call unused what they may use
        self.failed: set[str] = set()

    # -- diagnostics -----------------------------------------------------------------

    def error(self, ctx: _Ctx, node: A.Node | None, message: str,
              help: str | Callable[[], str | None] | None = None, code: Code = Code.TYPE,
              severity: str = "error", offsets: tuple[int, int] | None = None) -> None:
        """A diagnostic at a node (or explicit offsets) of the formula being checked.
        ``help`` may be a function, called once every definition has been typed."""
        spec = ctx.spec
        span = (spec.positions.span(*offsets) if offsets and spec.positions
                else spec.span(node))
        diag = Diagnostic(message, span, severity=severity, where=f"definition `{spec.name}`",
                          provision=spec.provision, help=None if callable(help) else help,
                          source=spec.source, code=code)
        if callable(help):
            self.deferred_help.append((len(self.diags), help))
        self.diags.append(diag)

    def resolve_deferred_help(self) -> None:
        """Fill in the help of diagnostics whose help waited for every definition."""
        for index, make in self.deferred_help:
            self.diags[index] = dataclasses.replace(self.diags[index], help=make())

    # -- entry -----------------------------------------------------------------------

    def check_def(self, root: str) -> None:
        """Type definition ``root`` and, before it, the definitions it uses.

        This uses a stack of its own rather than recursion, so that a chain of thousands
        of definitions, each using the next, costs no Python stack. Typing a formula that
        uses definitions not typed yet only notes them (see :meth:`def_type`); they are
        typed next, one after the other, while the formula stays in progress (a use of
        it from them closes a cycle); then the formula is typed again from the start,
        and what its first attempt reported is dropped."""
        if root in self.def_types:
            return
        # (definition in progress, definitions it waits for, the next one last)
        stack: list[tuple[str, list[str]]] = [(root, [])]
        self.enter(root)
        while stack:
            name, waiting = stack[-1]
            if waiting:
                dep = waiting.pop()
                if dep not in self.def_types:
                    self.enter(dep)
                    stack.append((dep, []))
                continue
            waiting.extend(reversed(self.type_formula(name)))
            if not waiting:
                stack.pop()
                self.in_progress.pop()
                del self.position[name]

    def enter(self, name: str) -> None:
        self.position[name] = len(self.in_progress)
        self.in_progress.append(name)

    def def_type(self, name: str, ctx: _Ctx, node: A.Node) -> T.Type:
        """The type of definition ``name``, used at ``node`` of the formula being typed.

        A definition not typed yet is noted in :attr:`wanted` and is `Never` for now (the
        formula is typed again once it is); one in progress closes a cycle."""
        t = self.def_types.get(name)
        if t is not None:
            return t
        if name in self.position:
            self.report_cycle(name, ctx, node)
        else:
            self.wanted[name] = None
        return T.UNKNOWN

    def report_cycle(self, name: str, ctx: _Ctx, node: A.Node) -> None:
        """``node`` of the formula being typed uses ``name``, which is in progress."""
        cycle = self.in_progress[self.position[name]:]
        key = frozenset(cycle)
        if key in self.cycles_reported:
            return
        self.cycles_reported.add(key)
        # underline the reference that closes the cycle, and start the path from the
        # definition it is in
        spec = ctx.spec
        if spec.name in cycle:
            i = cycle.index(spec.name)
            cycle = cycle[i:] + cycle[:i]
        path = " -> ".join(f"`{n}`" for n in [*cycle, cycle[0]])
        self.diags.append(Diagnostic(
            f"definitions depend on each other in a cycle: {path}",
            spec.span(node), where=f"definition `{spec.name}`",
            provision=spec.provision, source=spec.source, code=Code.CYCLE,
            help="a definition cannot use itself, even through others; "
                 "break the cycle with a parameter or a separate definition"))

    def type_formula(self, name: str) -> list[str]:
        """Type the formula of definition ``name``; or, when it uses definitions not typed
        yet, drop what this attempt reported and return them, in the order of use."""
        spec = self.doc.definitions[name]
        if spec.node is None or spec.entity not in T.DEFINITION_ENTITIES:
            self.def_types[name] = T.UNKNOWN  # the loader has said why
            self.checked[name] = CheckedDef(spec, T.UNKNOWN)
            self.failed.add(name)
            return []
        marks = len(self.diags), len(self.deferred_help), set(self.cycles_reported)
        self.wanted = {}
        ctx = _Ctx(spec)
        t = self.infer(spec.node, ctx)
        if self.wanted:
            del self.diags[marks[0]:]
            del self.deferred_help[marks[1]:]
            self.cycles_reported = marks[2]
            return list(self.wanted)
        if any(d.is_error for d in self.diags[marks[0]:]):
            self.failed.add(name)
        if spec.declared_type:
            want = parse_type(spec.declared_type)
            if want is None:
                self.error(ctx, None, f"unknown type `{spec.declared_type}`",
                           "types: Bool, Int, Number, Money, Date, Duration, MonthDay, Text, "
                           "List[T], T? (may be null)")
            elif not T.assignable(t, want):
                self.error(ctx, spec.node, f"formula is `{t}` but the definition declares "
                           f"`{spec.declared_type}`",
                           f"change `type:` to `{t}`, or correct the formula"
                           if not T.has_entity(t) else "correct the formula")
        if spec.provision is None:
            self.diags.append(Diagnostic(
                f"definition `{name}` cites no provision", spec.key_span,
                where=f"definition `{name}`", source=spec.source, code=Code.PROVISION,
                help="add `provision:` with the subsection it encodes, e.g. `2(5)(i)`, "
                     "or an interpretation id such as `A4`"))
        self.def_types[name] = t
        self.checked[name] = CheckedDef(spec, t, ctx.uses, ctx.params)
        return []

    # -- inference -------------------------------------------------------------------

    def infer(self, node: A.Node, ctx: _Ctx) -> T.Type:
        t = self.visit(node, ctx)
        self.types[id(node)] = t
        return t

    def generic_visit(self, node: A.Node, *args: object) -> T.Type:
        raise TypeError(node)  # pragma: no cover

    def visit_Literal(self, node: A.Literal, ctx: _Ctx) -> T.Type:
        return {"date": T.DATE, "duration": T.DURATION, "month_day": T.MONTH_DAY,
                "int": T.INT, "decimal": T.NUMBER, "percent": T.NUMBER, "text": T.TEXT,
                "bool": T.BOOL, "null": T.NULL}[node.kind]

    def visit_ListComp(self, node: A.ListLit, ctx: _Ctx) -> T.Type:
        # `[e for x in xs]`: the type of the comprehension is recorded too
        return self.infer(node.items[0], ctx)

    def visit_ListLit(self, node: A.ListLit, ctx: _Ctx) -> T.Type:
        result: T.Type = T.NEVER
        for item in node.items:
            it = self.infer(item, ctx)
            j = T.join(result, it)
            if j is None:
                self.error(ctx, item, f"list mixes `{result}` and `{it}`",
                           "every element of a list has the same type")
                return T.UNKNOWN
            result = j
        return T.ListT(result)

    def visit_RecordLit(self, node: A.RecordLit, ctx: _Ctx) -> T.Type:
        return T.RecordT(tuple((k, self.infer(v, ctx)) for k, v in node.fields))

    def visible_names(self, ctx: _Ctx) -> list[str]:
        names = [n for n, _ in ctx.locals]
        ents = VISIBLE_FROM.get(ctx.entity, (ctx.entity,))
        names += [n for n, s in self.doc.definitions.items() if s.entity in ents]
        names += list(self.fields.get(ctx.entity, {}))
        names += list(self.doc.parameters) + list(GLOBAL_NAMES)
        return names

    def visit_Name(self, node: A.Name, ctx: _Ctx) -> T.Type:
        n = node.id
        narrowed = ctx.narrowed.get(n)
        lt = ctx.local(n)
        if lt is not None:
            self.res[id(node)] = Resolved("local", n)
            return narrowed or lt
        spec = self.doc.definitions.get(n)
        if spec is not None:
            ents = VISIBLE_FROM.get(ctx.entity, (ctx.entity,))
            if spec.entity not in ents:
                hint = None
                if spec.entity == "account" and ctx.entity == "member":
                    hint = (f"`{n}` is defined per account; in a member definition go "
                            f"through the accounts, e.g. `latest(a.{n} for a in accounts)`")
                elif spec.entity == "member" and ctx.entity == "claim":
                    hint = "claims are not attached to a member profile"
                self.error(ctx, node, f"`{n}` is {with_article(spec.entity)} definition and "
                           f"cannot be used directly in {with_article(ctx.entity)} definition",
                           hint, code=Code.NAME)
                return T.UNKNOWN
            self.res[id(node)] = Resolved("def", n, spec.entity)
            ctx.uses.add(n)
            ctx.first_use.setdefault(n, node)
            return narrowed or self.def_type(n, ctx, node)
        fields = self.fields.get(ctx.entity, {})
        if n in fields:
            self.res[id(node)] = Resolved("field", n)
            return narrowed or fields[n]
        param = self.doc.parameters.get(n)
        if param is not None:
            self.res[id(node)] = Resolved("param", n)
            ctx.params.add(n)
            return param.type
        if n in GLOBAL_NAMES and ctx.entity != "parameter":
            self.res[id(node)] = Resolved(n, n)
            return GLOBAL_NAMES[n]
        if ctx.entity == "parameter":
            self.unknown(ctx, node, n, list(self.doc.parameters), "parameter")
            return T.UNKNOWN
        if n in BUILTINS:
            self.error(ctx, node, f"`{n}` is a function", f"call it: `{n}(...)`", code=Code.NAME)
            return T.UNKNOWN
        self.unknown(ctx, node, n, self.visible_names(ctx), "name")
        return T.UNKNOWN

    def unknown(self, ctx: _Ctx, node: A.Node, n: str, candidates: list[str],
                what: str) -> None:
        sugg = difflib.get_close_matches(n, candidates, n=1, cutoff=0.6)
        help_ = f"did you mean `{sugg[0]}`?" if sugg else None
        if not sugg and what == "name":
            other = [e for e, fs in self.fields.items() if n in fs and e != ctx.entity]
            if other:
                help_ = f"`{n}` is a field of {other[0]}; reach it through a {other[0]}"
        self.error(ctx, node, f"unknown {what} `{n}`", help_, code=Code.NAME)

    def visit_Attr(self, node: A.Attr, ctx: _Ctx) -> T.Type:
        key = _path(node)
        ot = self.infer(node.obj, ctx)
        narrowed = ctx.narrowed.get(key) if key else None
        if ot == T.NEVER:
            return T.NEVER
        if T.is_unknown(ot):
            return T.UNKNOWN
        if T.is_optional(ot):
            self.error(ctx, node.obj, f"`{A.unparse(node.obj)}` may be null, so `.{node.name}` "
                       "may fail", self.tested_help(ctx, node.obj) or "test it first (`if x != "
                       "null then x.field else ...`) or give a default with `??`")
            ot = T.strip(ot)
        if isinstance(ot, T.EntityT):
            fields = self.fields.get(ot.name, {})
            if node.name in fields:
                self.res[id(node)] = Resolved("attr_field", node.name)
                return narrowed or fields[node.name]
            spec = self.doc.definitions.get(node.name)
            if spec is not None and spec.entity == ot.name:
                self.res[id(node)] = Resolved("attr_def", node.name, ot.name)
                ctx.uses.add(node.name)
                ctx.first_use.setdefault(node.name, node)
                return narrowed or self.def_type(node.name, ctx, node)
            cands = list(fields) + [n for n, s in self.doc.definitions.items()
                                    if s.entity == ot.name]
            self.unknown(ctx, node, node.name, cands, f"field of {ot.name}")
            return T.UNKNOWN
        if isinstance(ot, T.RecordT):
            ft = ot.field(node.name)
            if ft is None:
                self.unknown(ctx, node, node.name, list(ot.names), "field")
                return T.UNKNOWN
            self.res[id(node)] = Resolved("record", node.name)
            return narrowed or ft
        self.error(ctx, node, f"`{ot}` has no fields", f"`.{node.name}` needs a record or an "
                   "entity on its left")
        return T.UNKNOWN

    def visit_Unary(self, node: A.Unary, ctx: _Ctx) -> T.Type:
        t = self.infer(node.operand, ctx)
        if t == T.NEVER:
            return T.NEVER
        if T.is_unknown(t):
            return T.BOOL if node.op == "not" else T.UNKNOWN
        if node.op == "not":
            self.want_bool(ctx, node.operand, t, "`not`")
            return T.BOOL
        if t in (T.INT, T.NUMBER, T.MONEY, T.DURATION):
            return t
        self.error(ctx, node, f"cannot negate `{t}`",
                   self.null_help(t, ctx, node.operand)
                   or "only numbers, amounts and durations have a negative")
        return T.UNKNOWN

    def want_bool(self, ctx: _Ctx, node: A.Node, t: T.Type, what: str) -> None:
        if t not in (T.BOOL, T.NEVER) and not T.is_unknown(t):
            self.error(ctx, node, f"{what} needs a Bool, not `{t}`",
                       self.null_help(t, ctx, node)
                       or "compare the value to get a Bool, e.g. `x > 0`")

    @staticmethod
    def null_help(t: T.Type, ctx: _Ctx | None = None, node: A.Node | None = None) -> str | None:
        if T.is_optional(t):
            return (TypeChecker.tested_help(ctx, node) if ctx is not None and node is not None
                    else None) or \
                "the value may be null: give a default with `??` or test `!= null` first"
        return None

    @staticmethod
    def tested_help(ctx: _Ctx, node: A.Node) -> str | None:
        """The hint for a value that may be null although it was tested with `!= null`:
        the test narrows only names (a call is computed again where it is used)."""
        text = A.unparse(node)
        if _TESTED + text not in ctx.narrowed:
            return None
        return (f"only names narrow: testing `{text}` with `!= null` does not carry over "
                f"to this use (a call is computed again); make `{text}` a definition and "
                f"test that name, or give a default with `??`")

    def visit_Binary(self, node: A.Binary, ctx: _Ctx) -> T.Type:
        op = node.op
        if op in ("and", "or"):
            lt = self.infer(node.left, ctx)
            self.want_bool(ctx, node.left, lt, f"`{op}`")
            saved = dict(ctx.narrowed)
            if op == "and":
                self.narrow(node.left, ctx, True)
            else:
                self.narrow(node.left, ctx, False)
            rt = self.infer(node.right, ctx)
            ctx.narrowed = saved
            self.want_bool(ctx, node.right, rt, f"`{op}`")
            return T.BOOL
        lt = self.infer(node.left, ctx)
        rt = self.infer(node.right, ctx)
        if op == "??" and lt != T.NEVER and rt == T.NEVER:
            return T.strip(lt)  # `x ?? fail(...)`: the default never returns
        if T.is_unknown(lt) or T.is_unknown(rt):
            # one side is wrong and has been reported: so is what depends on it
            return T.UNKNOWN if op not in A.COMPARE_OPS | {"in", "not in"} else T.BOOL
        if T.NEVER in (lt, rt):
            return T.NEVER if op not in A.COMPARE_OPS | {"in", "not in"} else T.BOOL
        if op == "??":
            if not T.is_optional(lt):
                self.error(ctx, node.left, f"`{A.unparse(node.left)}` is never null, so `??` "
                           "has no effect", "remove `?? ...`", severity="warning",
                           code=Code.UNREACHABLE)
            j = T.join(T.strip(lt), rt)
            if j is None:
                self.error(ctx, node, f"default `{rt}` does not fit `{T.strip(lt)}`",
                           "the value after `??` must have the same type")
                return T.UNKNOWN
            return j if T.is_optional(rt) else T.strip(j)
        if op in ("==", "!="):
            for side, other in ((node.left, rt), (node.right, lt)):
                st = self.types.get(id(side))
                if other == T.NULL and st is not None and st != T.NULL \
                        and not T.is_optional(st):
                    always = "false" if op == "==" else "true"
                    self.error(ctx, node, f"`{A.unparse(side)}` is never null, so this is "
                               f"always {always}", "remove the test, or the branch it guards",
                               severity="warning", code=Code.UNREACHABLE)
            if lt == T.NULL or rt == T.NULL or T.join(lt, rt) is not None:
                return T.BOOL
            self.error(ctx, node, f"cannot compare `{lt}` with `{rt}`",
                       _compare_help(lt, rt) or "both sides of `==` must have the same type")
            return T.BOOL
        if op in A.COMPARE_OPS:
            if T.is_optional(lt) or T.is_optional(rt):
                self.error(ctx, node, f"cannot order `{lt}` and `{rt}`: "
                           "a value may be null", self.null_help(lt, ctx, node.left)
                           if T.is_optional(lt) else self.null_help(rt, ctx, node.right))
                return T.BOOL
            j = T.join(lt, rt)
            if j is None or j not in T.ORDERED:
                self.error(ctx, node, f"cannot compare `{lt}` with `{rt}`",
                           _compare_help(lt, rt) or "dates compare with dates, amounts with "
                           "amounts, durations with durations")
            return T.BOOL
        if op in ("in", "not in"):
            if not isinstance(rt, T.ListT):
                self.error(ctx, node.right, f"`{op}` needs a list on its right, not `{rt}`",
                           "write the values as a list: `x in [\"a\", \"b\"]`")
                return T.BOOL
            if rt.elem != T.NEVER and T.join(lt, rt.elem) is None:
                self.error(ctx, node, f"cannot look for `{lt}` in `{rt}`")
            return T.BOOL
        return self.arith(node, op, lt, rt, ctx)

    def arith(self, node: A.Binary, op: str, lt: T.Type, rt: T.Type, ctx: _Ctx) -> T.Type:
        if T.is_optional(lt) or T.is_optional(rt):
            side = node.left if T.is_optional(lt) else node.right
            self.error(ctx, side, f"`{A.unparse(side)}` may be null",
                       self.tested_help(ctx, side)
                       or "give a default with `??` or test `!= null` first")
            return T.UNKNOWN
        result = arith_type(op, lt, rt)
        if result is not None:
            return result
        verb = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}[op]
        pair = {"+": ("`{r}` to `{l}`"), "-": ("`{r}` from `{l}`"),
                "*": ("`{l}` by `{r}`"), "/": ("`{l}` by `{r}`")}[op]
        self.error(ctx, node, f"cannot {verb} " + pair.format(l=lt, r=rt),
                   lambda: self.arith_help(op, lt, rt, node, ctx))
        return T.UNKNOWN

    def arith_help(self, op: str, lt: T.Type, rt: T.Type, node: A.Binary,
                   ctx: _Ctx) -> str | None:
        if op == "-" and lt == T.DATE and rt == T.DATE:
            return "use `days_between(a, b)` for the days between two dates"
        if T.DURATION in (lt, rt) and T.DATE not in (lt, rt) and op == "+":
            other = node.left if rt == T.DURATION else node.right
            dates = [n for n, t in self.def_types.items() if t == T.DATE
                     and self.doc.definitions[n].entity in VISIBLE_FROM.get(ctx.entity, ())]
            dur = node.right if rt == T.DURATION else node.left
            if dates:
                guess = difflib.get_close_matches(A.unparse(other), dates, n=1, cutoff=0.0)
                if guess:
                    return f"did you mean `{guess[0]} + {A.unparse(dur)}`?"
            return "a duration is added to a date"
        if T.MONEY in (lt, rt) and op in "+-":
            return "amounts are added to amounts; a number multiplies an amount"
        return None

    def narrow(self, cond: A.Node, ctx: _Ctx, truth: bool) -> None:
        """Record that, where ``cond`` is ``truth``, a compared-with-null path is not null."""
        if isinstance(cond, A.Binary) and cond.op in ("==", "!="):
            for a, b in ((cond.left, cond.right), (cond.right, cond.left)):
                if isinstance(b, A.Literal) and b.kind == "null":
                    key = _path(a)
                    t = self.types.get(id(a))
                    if t is not None and T.is_optional(t):
                        not_null = (cond.op == "!=") == truth
                        if not_null and key:
                            ctx.narrowed[key] = T.strip(t)
                        elif not_null:
                            # not narrowed (only names are), but remembered for the hint
                            ctx.narrowed[_TESTED + A.unparse(a)] = T.strip(t)
        elif isinstance(cond, A.Binary) and cond.op == "and" and truth:
            self.narrow(cond.left, ctx, True)
            self.narrow(cond.right, ctx, True)
        elif isinstance(cond, A.Binary) and cond.op == "or" and not truth:
            self.narrow(cond.left, ctx, False)
            self.narrow(cond.right, ctx, False)
        elif isinstance(cond, A.Unary) and cond.op == "not":
            self.narrow(cond.operand, ctx, not truth)

    def visit_If(self, node: A.If, ctx: _Ctx) -> T.Type:
        ct = self.infer(node.cond, ctx)
        self.want_bool(ctx, node.cond, ct, "`if`")
        if isinstance(node.cond, A.Literal) and node.cond.kind == "bool":
            self.error(ctx, node.cond, f"condition is always {node.cond.text}; one branch can "
                       "never be taken", "remove the `if`", severity="warning",
                       code=Code.UNREACHABLE)
        saved = dict(ctx.narrowed)
        self.narrow(node.cond, ctx, True)
        a = self.infer(node.then, ctx)
        ctx.narrowed = dict(saved)
        self.narrow(node.cond, ctx, False)
        b = self.infer(node.orelse, ctx)
        ctx.narrowed = saved
        j = T.join(a, b)
        if j is None:
            self.error(ctx, node, f"the branches have different types: `{a}` and `{b}`",
                       "both branches of `if` must give the same type")
            return T.UNKNOWN
        return j

    def visit_Comprehension(self, node: A.Comprehension, ctx: _Ctx) -> T.Type:
        it = self.infer(node.iterable, ctx)
        if it == T.NEVER:
            elem: T.Type = T.NEVER
        elif T.is_unknown(it):
            elem = T.UNKNOWN
        elif not isinstance(it, T.ListT):
            self.error(ctx, node.iterable, f"cannot go through `{it}`: it is not a list",
                       self.null_help(it, ctx, node.iterable)
                       or "`for x in ...` needs a list, such as `events` or "
                       "`accounts`")
            elem = T.UNKNOWN
        else:
            elem = it.elem
        if node.var in self.doc.definitions or node.var in self.doc.parameters:
            self.error(ctx, node, f"`{node.var}` hides the definition or parameter of the "
                       "same name", "choose another variable name", code=Code.NAME,
                       severity="warning")
        ctx.locals.append((node.var, elem))
        saved = dict(ctx.narrowed)
        ctx.narrowed.pop(node.var, None)
        if node.cond is not None:
            ct = self.infer(node.cond, ctx)
            self.want_bool(ctx, node.cond, ct, "the condition")
            self.narrow(node.cond, ctx, True)
        et = self.infer(node.element, ctx)
        ctx.narrowed = saved
        ctx.locals.pop()
        return T.ListT(et)

    def visit_Call(self, node: A.Call, ctx: _Ctx) -> T.Type:
        b = BUILTINS.get(node.func)
        arg_types = [self.infer(a, ctx) for a in node.args]
        if b is None:
            sugg = difflib.get_close_matches(node.func, list(BUILTINS), n=1)
            self.error(ctx, node, f"unknown function `{node.func}`",
                       f"did you mean `{sugg[0]}`?" if sugg else
                       "functions: " + ", ".join(sorted(BUILTINS)), code=Code.NAME,
                       offsets=(node.start, node.name_end or node.end))
            return T.UNKNOWN
        if node.func != "fail" and any(T.is_unknown(a) for a in arg_types):
            return T.UNKNOWN
        if T.NEVER in arg_types and node.func != "fail":
            return T.NEVER
        try:
            result = b.check(arg_types)
        except SignatureError as exc:
            target = node.args[exc.arg] if exc.arg is not None and exc.arg < len(node.args) \
                else node
            hint = self.tested_help(ctx, target) if target is not node else None
            self.error(ctx, target, exc.message,
                       hint or exc.help or f"`{b.signature}`: {b.doc}")
            return T.UNKNOWN
        if node.func == "format" and node.args:
            first = node.args[0]
            if isinstance(first, A.Literal) and first.kind == "text":
                want = count_placeholders(str(first.value))
                given = len(node.args) - 1
                if want != given:
                    self.error(ctx, node, f"the template has {want} `{{}}` but "
                               f"{given} {'value follows' if given == 1 else 'values follow'}",
                               "give one value after the template for each `{}`")
        return result

    # -- parameters: derived values and invariants --------------------------------------


    def check_pseudo(self, spec: DefSpec) -> CheckedDef:
        ctx = _Ctx(spec)
        t = self.infer(spec.node, ctx) if spec.node is not None else T.UNKNOWN
        return CheckedDef(spec, t, ctx.uses, ctx.params)

#: prefix of the keys under which :attr:`_Ctx.narrowed` remembers expressions that are not
#: names but were tested with `!= null` (they are not narrowed; the hint says why)
_TESTED = "\0tested:"

def _path(node: A.Node) -> str | None:
    if isinstance(node, A.Name):
        return node.id
    if isinstance(node, A.Attr):
        base = _path(node.obj)
        return f"{base}.{node.name}" if base else None
    return None


def _compare_help(lt: T.Type, rt: T.Type) -> str | None:
    if T.MONTH_DAY in (lt, rt) and T.DATE in (lt, rt):
        return "turn the date into a day of the year with `month_day(d)`"
    return None


_PRIMS = {str(t): t for t in (T.BOOL, T.INT, T.NUMBER, T.MONEY, T.DATE, T.DURATION,
                              T.MONTH_DAY, T.TEXT)}


def parse_type(text: str) -> T.Type | None:
    """Parse a declared type such as ``Date?`` or ``List[Text]``; None when it is not one
    (or nests more than a formula may, :data:`~evaluator.parser.MAX_DEPTH`)."""
    wrappers: list[str] = []
    s = text.strip()
    while len(wrappers) <= MAX_DEPTH:
        if s.endswith("?"):
            wrappers.append("?")
            s = s[:-1].strip()
        elif s.startswith("List[") and s.endswith("]"):
            wrappers.append("List")
            s = s[5:-1].strip()
        else:
            t: T.Type | None = _PRIMS.get(s)
            for w in reversed(wrappers):
                if t is None:
                    break
                t = T.optional(t) if w == "?" else T.ListT(t)
            return t
    return None


