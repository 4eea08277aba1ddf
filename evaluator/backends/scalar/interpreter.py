"""Scalar backend: a checked policy compiled to Python closures, run one member at a time.

Every formula node becomes a closure ``fn(inst, env)`` chosen from the node's checked
types (so ``+`` on a date and a duration is calendar arithmetic, on amounts exact
decimal addition). Definitions are evaluated lazily and memoised per entity instance:
a member's profile definitions are computed once for all its accounts. Nothing here
executes policy text: the closures are fixed Python functions parameterised by the tree.

A definition's closure calls those of the definitions it uses, so a long chain of
definitions would go deep into the Python stack. The definitions that could go deeper
than :data:`STACK_BUDGET` frames count their frames while they run; once that budget is
used up, each of them first evaluates the definitions it always uses, deepest first,
from a loop (:meth:`Inst.prepare`). Only a chain of definitions each used under a
condition (an `if` branch, ...) can still go too deep: such a record goes to the errors.
"""

from __future__ import annotations

import datetime as _dt
import operator
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from decimal import Decimal, DivisionByZero, InvalidOperation
from typing import Any

from evaluator.backends.scalar.coverage import Coverage, DecisionSite
from evaluator.errors import EvaluationError
from evaluator.facts.model import Account, Claim, Event, Member, field_value
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T
from evaluator.lang.builtins import BUILTINS
from evaluator.lang.check.graph import dependency_order
from evaluator.lang.check.model import CheckedPolicy, Resolved
from evaluator.lang.values import Duration, add_duration

Env = dict[str, Any]
Fn = Callable[["Inst", Env], Any]

#: Python frames (estimated) that nested definition evaluations may take before each
#: further one is prepared from a loop
STACK_BUDGET = 300


class Run:
    """One evaluation: the parameters, the as-of date, the rates and the global instance."""

    def __init__(self, program: Program, as_of: _dt.date, params: dict[str, Any],
                 fx_rates: dict[tuple[str, _dt.date], Decimal],
                 coverage: Coverage | None = None) -> None:
        self.program = program
        self.as_of = as_of
        self.params = params
        self.fx_rates = fx_rates
        self.coverage = coverage
        self.global_inst = Inst("global", None, self, None)
        #: account instances by account id, for `claim.account`
        self.accounts_by_id: dict[str, Inst] = {}
        #: Python frames (estimated) the deep definitions being evaluated take
        self.frames = 0


class Inst:
    """An entity instance (member, account, claim or the global one) with its memo."""

    __slots__ = ("_accounts", "_by_account", "_events", "cache", "failed", "kind", "member",
                 "obj", "run")

    def __init__(self, kind: str, obj: Any, run: Run, member: Inst | None) -> None:
        self.kind = kind
        self.obj = obj
        self.run = run
        self.member = member
        #: values of the definitions evaluated so far (successes only)
        self.cache: dict[str, Any] = {}
        #: the errors of the definitions that failed, raised again when used again
        self.failed: dict[str, EvaluationError] = {}
        self._accounts: tuple[Inst, ...] | None = None
        self._events: tuple[Event, ...] | None = None
        #: a member's events grouped by account, made once for all its accounts
        self._by_account: dict[str | None, tuple[Event, ...]] | None = None

    def get(self, name: str) -> Any:
        cache = self.cache
        if name in cache:
            return cache[name]
        failed = self.failed.get(name)
        if failed is not None:  # the same error again, without the last raise's frames
            raise failed.with_traceback(None)
        fn = self.run.program.defs[name]
        try:
            v = fn(self, {})
        except EvaluationError as exc:
            if exc.definition is None:
                exc.definition = name
                exc.provision = self.run.program.provisions.get(name)
            self.failed[name] = exc
            raise
        except (ArithmeticError, ValueError, OverflowError, RecursionError) as exc:
            err = EvaluationError(arith_message(exc), name,
                                  self.run.program.provisions.get(name))
            self.failed[name] = err
            raise err from None
        cache[name] = v
        return v

    def prepare(self, name: str) -> None:
        """Evaluate the definitions that ``name`` always uses and that are not cached yet,
        deepest first, so that evaluating ``name`` then finds them in the cache instead of
        going down into them. Each of them, evaluated by :meth:`get`, is prepared in turn,
        which costs little as what it uses is cached by then.

        It changes no result: a failure is only cached, and evaluating ``name`` then
        meets the failure it would have met anyway. (When a record fails, definitions
        it would not have reached may have been evaluated meanwhile.)"""
        always = self.run.program.always
        stack = [(self, name, iter(always(name)))]
        while stack:
            inst, n, uses = stack[-1]
            for r in uses:
                target = inst.owner(r.entity)
                if r.name not in target.cache and r.name not in target.failed:
                    stack.append((target, r.name, iter(always(r.name))))
                    break
            else:
                stack.pop()
                if stack:
                    with suppress(EvaluationError):
                        inst.get(n)

    def owner(self, entity: str) -> Inst:
        """The instance that definitions of ``entity`` used from this one belong to."""
        if entity == "global":
            return self.run.global_inst
        if entity == "member" and self.kind != "member" and self.member is not None:
            return self.member
        return self

    def accounts(self) -> tuple[Inst, ...]:
        if self._accounts is None and self.kind == "portfolio":
            self._accounts = self.obj.accounts
        if self._accounts is None:
            m: Member = self.obj
            self._accounts = tuple(Inst("account", a, self.run, self) for a in m.accounts)
        return self._accounts

    def events(self) -> tuple[Event, ...]:
        if self._events is None:
            if self.kind == "member":
                self._events = self.obj.events
            else:
                assert self.member is not None
                self._events = self.member.events_by_account().get(self.obj.account_id, ())
        return self._events

    def events_by_account(self) -> dict[str | None, tuple[Event, ...]]:
        """A member's events by account id, in their order: one pass over the events for
        all the member's accounts, not one per account."""
        if self._by_account is None:
            groups: dict[str | None, list[Event]] = {}
            for e in self.obj.events:
                groups.setdefault(e.account_id, []).append(e)
            self._by_account = {k: tuple(v) for k, v in groups.items()}
        return self._by_account

    def field(self, name: str) -> Any:
        if name == "events":
            return self.events()
        if name == "accounts":
            return self.accounts()
        if name == "member":
            return self.member
        if name == "account" and self.kind == "claim":
            return self.run.accounts_by_id.get(self.obj.account_id)
        try:
            return getattr(self.obj, name)
        except AttributeError:  # a field the policy declares beyond the standard ones
            return field_value(self.obj, name)

    def label(self) -> str:
        if self.kind == "account":
            return f"account {self.obj.account_id}"
        if self.kind == "member":
            return f"member {self.obj.member_id}"
        if self.kind == "claim":
            return f"claim {self.obj.claim_id}"
        if self.kind == "portfolio":
            return "portfolio"
        return "policy"


def field_getter(entity: str, name: str) -> Callable[[Any], Any] | None:
    """How a formula reads field ``name`` of a facts record of ``entity`` when it is one
    the policy declares beyond the standard ones (None: a standard field, read as the
    record's attribute of that name)."""
    if name in T.ENTITY_FIELDS.get(entity, ()):
        return None
    return lambda record: field_value(record, name)


def arith_message(exc: Exception) -> str:
    if isinstance(exc, ZeroDivisionError | DivisionByZero):
        return "division by zero"
    if isinstance(exc, InvalidOperation):
        return "invalid arithmetic (for example 0/0)"
    if isinstance(exc, OverflowError):
        return f"a date or number is out of range ({exc})"
    if isinstance(exc, RecursionError):
        # only definitions used under conditions (an `if` branch, ...) can nest this deep
        return ("the definitions used here, one within another, nest too deeply to "
                "evaluate: shorten the chain of definitions used under conditions")
    return str(exc)


class Program(A.NodeVisitor[Fn]):
    """A checked policy compiled to closures, one ``visit_<kind>`` method per kind of
    node (:class:`evaluator.lang.nodes.NodeVisitor`), entered through :meth:`compile`.

    With ``coverage=True`` every definition and decision records into the run's
    :class:`Coverage` (a separate, slightly slower compilation used by policy tests)."""

    def __init__(self, checked: CheckedPolicy, coverage: bool = False) -> None:
        self.checked = checked
        self.coverage = coverage
        self.sites: list[DecisionSite] = []
        self._current = ""
        self.types = checked.types
        self.res = checked.resolutions
        self.provisions: dict[str, str | None] = {
            n: d.spec.provision for n, d in checked.defs.items()}
        self.entities: dict[str, str] = {n: d.spec.entity for n, d in checked.defs.items()}
        self.defs: dict[str, Fn] = {}
        self._always: dict[str, tuple[Resolved, ...]] = {}
        for name, cdef in checked.defs.items():
            node = cdef.spec.node
            if node is not None:
                self._current = name
                fn = self.compile(node)
                self.defs[name] = _recorded(name, fn) if coverage else fn
        self._count_frames()
        saved, self.coverage = self.coverage, False
        #: derived parameters and invariants: formulas over the parameters only
        self.derived: dict[str, Fn] = {
            n: self.compile(c.spec.node) for n, c in checked.derived.items()
            if c.spec.node is not None}
        self.invariants: dict[str, Fn] = {
            n: self.compile(c.spec.node) for n, c in checked.invariants.items()
            if c.spec.node is not None}
        self.coverage = saved

    def always(self, name: str) -> tuple[Resolved, ...]:
        """The definitions definition ``name`` always uses (:func:`always_used`)."""
        found = self._always.get(name)
        if found is None:
            node = self.checked.defs[name].spec.node
            found = always_used(node, self.res) if node is not None else ()
            self._always[name] = found
        return found

    def _count_frames(self) -> None:
        """Wrap with :func:`_counted` the definitions whose evaluation, with all the
        definitions it may use in turn, could take more than :data:`STACK_BUDGET` frames.
        The others are left as they are: they cannot go that deep on their own."""
        defs = self.checked.defs
        # the closures of a formula take at most three frames per level of it, and the
        # definition's own call (and coverage's) one or two more
        frames = {n: 3 + 3 * A.depth(d.spec.node) for n, d in defs.items()
                  if d.spec.node is not None}
        uses = {n: [u for u in sorted(defs[n].uses) if u in frames] for n in frames}
        reach: dict[str, int] = {}
        for n in dependency_order(frames, uses.__getitem__):
            reach[n] = frames[n] + max((reach[u] for u in uses[n]), default=0)
            if reach[n] > STACK_BUDGET:
                self.defs[n] = _counted(n, frames[n], self.defs[n])

    def _site(self, kind: str, node: A.Node) -> int:
        spec = self.checked.defs[self._current].spec
        site = DecisionSite(len(self.sites), self._current, kind, spec.span(node),
                            A.unparse(node))
        self.sites.append(site)
        return site.id

    def _decision(self, kind: str, node: A.Node, fn: Fn) -> Fn:
        """``fn`` (a condition), recording its outcome when compiled for coverage."""
        if not self.coverage:
            return fn
        site = self._site(kind, node)

        def recorded(inst: Inst, env: Env) -> Any:
            value = fn(inst, env)
            cov = inst.run.coverage
            if cov is not None:
                cov.decisions.setdefault(site, set()).add(bool(value))
            return value
        return recorded

    # -- compilation -----------------------------------------------------------------

    def compile(self, node: A.Node) -> Fn:
        """The closure of ``node``: the entry of every recursion (children are compiled
        through it, so a patch of this method sees every node compiled)."""
        return self.visit(node)

    def visit_Literal(self, node: A.Literal) -> Fn:
        value = node.value
        return lambda inst, env: value

    def visit_Unary(self, node: A.Unary) -> Fn:
        operand = self.compile(node.operand)
        if node.op == "not":
            return lambda inst, env: not operand(inst, env)
        return lambda inst, env: -operand(inst, env)

    def visit_If(self, node: A.If) -> Fn:
        c, a, b = (self.compile(n) for n in (node.cond, node.then, node.orelse))
        c = self._decision("if", node.cond, c)
        return lambda inst, env: a(inst, env) if c(inst, env) else b(inst, env)

    def visit_ListComp(self, node: A.ListLit) -> Fn:
        # `[e for x in xs]` is the comprehension itself: compiled here, not through
        # `compile`, so the list and its comprehension are one node compiled
        comprehension = node.comprehension
        assert comprehension is not None
        return self.visit_Comprehension(comprehension)

    def visit_ListLit(self, node: A.ListLit) -> Fn:
        items = [self.compile(i) for i in node.items]
        return lambda inst, env: tuple(f(inst, env) for f in items)

    def visit_RecordLit(self, node: A.RecordLit) -> Fn:
        return _record([(k, self.compile(v)) for k, v in node.fields])

    def visit_Name(self, node: A.Name) -> Fn:
        r: Resolved = self.res[id(node)]
        name = r.name
        if r.kind == "local":
            return lambda inst, env: env[name]
        if r.kind == "def":
            # a value already evaluated is read from the cache here, without a call
            if r.entity == "global":
                def global_def(inst: Inst, env: Env) -> Any:
                    g = inst.run.global_inst
                    cache = g.cache
                    return cache[name] if name in cache else g.get(name)
                return global_def
            if r.entity == "member":
                def member_def(inst: Inst, env: Env) -> Any:
                    target = inst if inst.kind == "member" else inst.member
                    assert target is not None
                    cache = target.cache
                    return cache[name] if name in cache else target.get(name)
                return member_def

            def own_def(inst: Inst, env: Env) -> Any:
                cache = inst.cache
                return cache[name] if name in cache else inst.get(name)
            return own_def
        if r.kind == "field":
            if name in ("events", "accounts", "member", "account"):
                return lambda inst, env: inst.field(name)
            read = field_getter(self.entities.get(self._current, ""), name)
            if read is not None:
                return lambda inst, env: read(inst.obj)
            return lambda inst, env: getattr(inst.obj, name)
        if r.kind == "param":
            return lambda inst, env: inst.run.params[name]
        if r.kind == "as_of":
            return lambda inst, env: inst.run.as_of
        raise TypeError(r)  # pragma: no cover

    def visit_Attr(self, node: A.Attr) -> Fn:
        r: Resolved = self.res[id(node)]
        obj = self.compile(node.obj)
        name = r.name
        if r.kind == "record":
            return lambda inst, env: obj(inst, env)[name]
        if r.kind == "attr_def":
            return lambda inst, env: obj(inst, env).get(name)
        obj_type = T.strip(self.types[id(node.obj)])
        if isinstance(obj_type, T.EntityT) and obj_type.name == "event":
            get = field_getter("event", name) or operator.attrgetter(name)
            if isinstance(node.obj, A.Name) and self.res[id(node.obj)].kind == "local":
                var = node.obj.id
                return lambda inst, env: get(env[var])
            return lambda inst, env: get(obj(inst, env))
        return lambda inst, env: obj(inst, env).field(name)

    def visit_Binary(self, node: A.Binary) -> Fn:
        op = node.op
        left = self.compile(node.left)
        right = self.compile(node.right)
        if op in ("and", "or"):
            left = self._decision(op, node.left, left)
            right = self._decision(op, node.right, right)
        if op == "and":
            return lambda inst, env: left(inst, env) and right(inst, env)
        if op == "or":
            return lambda inst, env: left(inst, env) or right(inst, env)
        if op == "??":
            def coalesce(inst: Inst, env: Env) -> Any:
                v = left(inst, env)
                return v if v is not None else right(inst, env)
            return coalesce
        if op == "in":
            return lambda inst, env: left(inst, env) in right(inst, env)
        if op == "not in":
            return lambda inst, env: left(inst, env) not in right(inst, env)
        if op in A.COMPARE_OPS:
            return _compare(op, node, left, right)
        lt = self.types[id(node.left)]
        rt = self.types[id(node.right)]
        if op == "+":
            if lt == T.DATE:
                return lambda inst, env: add_duration(left(inst, env), right(inst, env))
            if rt == T.DATE:
                return lambda inst, env: add_duration(right(inst, env), left(inst, env))
            if isinstance(lt, T.ListT):
                return lambda inst, env: tuple(left(inst, env)) + tuple(right(inst, env))
            return lambda inst, env: left(inst, env) + right(inst, env)
        if op == "-":
            if lt == T.DATE:
                return lambda inst, env: add_duration(left(inst, env), -right(inst, env))
            return lambda inst, env: left(inst, env) - right(inst, env)
        if op == "*":
            if lt == T.DURATION:
                return lambda inst, env: _times(left(inst, env), right(inst, env))
            if rt == T.DURATION:
                return lambda inst, env: _times(right(inst, env), left(inst, env))
            return lambda inst, env: left(inst, env) * right(inst, env)
        if op == "/":
            return lambda inst, env: _divide(left(inst, env), right(inst, env))
        raise TypeError(op)  # pragma: no cover

    def visit_Call(self, node: A.Call) -> Fn:
        b = BUILTINS[node.func]
        impl = b.scalar
        args = [self.compile(a) for a in node.args]
        if b.typed:
            rt = self.types[id(node)]
            return lambda inst, env: impl(rt, *[a(inst, env) for a in args])
        if b.needs_run:
            return lambda inst, env: impl(inst.run, *[a(inst, env) for a in args])
        # the usual arities without building an argument list
        if len(args) == 1:
            a0 = args[0]
            return lambda inst, env: impl(a0(inst, env))
        if len(args) == 2:
            a0, a1 = args
            return lambda inst, env: impl(a0(inst, env), a1(inst, env))
        if len(args) == 3:
            a0, a1, a2 = args
            return lambda inst, env: impl(a0(inst, env), a1(inst, env), a2(inst, env))
        return lambda inst, env: impl(*[a(inst, env) for a in args])

    def visit_Comprehension(self, node: A.Comprehension) -> Fn:
        var = node.var
        iterable = self.compile(node.iterable)
        element = self.compile(node.element)
        cond = (self._decision("filter", node.cond, self.compile(node.cond))
                if node.cond is not None else None)

        # each definition runs with an environment of its own, so after an error nothing
        # needs restoring; a name an enclosing comprehension also binds is put back
        def run(inst: Inst, env: Env) -> tuple[Any, ...]:
            items: Sequence[Any] = iterable(inst, env)
            if not items:
                return ()
            saved = env.get(var, _MISSING)
            kept: list[Any] = []
            append = kept.append
            if cond is None:
                for x in items:
                    env[var] = x
                    append(element(inst, env))
            else:
                for x in items:
                    env[var] = x
                    if cond(inst, env):
                        append(element(inst, env))
            out = tuple(kept)
            if saved is _MISSING:
                del env[var]
            else:
                env[var] = saved
            return out
        return run


_MISSING = object()


def always_used(node: A.Node, res: dict[int, Resolved]) -> tuple[Resolved, ...]:
    """The definitions a formula uses by name wherever it is evaluated to the end: not
    only in an `if` branch, on the right of `and`, `or` or `??`, or in the element or
    condition of a comprehension. In the order first used, each once."""
    found: dict[Resolved, None] = {}
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, A.Name):
            r = res.get(id(n))
            if r is not None and r.kind == "def":
                found[r] = None
        elif isinstance(n, A.If):
            stack.append(n.cond)
        elif isinstance(n, A.Binary) and n.op in ("and", "or", "??"):
            stack.append(n.left)
        elif isinstance(n, A.Comprehension):
            stack.append(n.iterable)
        else:
            stack.extend(reversed(A.children(n)))
    return tuple(found)


def _record(fields: list[tuple[str, Fn]]) -> Fn:
    """A record literal's closure; the usual sizes without a loop."""
    if len(fields) == 2:
        (k0, f0), (k1, f1) = fields
        return lambda inst, env: {k0: f0(inst, env), k1: f1(inst, env)}
    if len(fields) == 3:
        (k0, f0), (k1, f1), (k2, f2) = fields
        return lambda inst, env: {k0: f0(inst, env), k1: f1(inst, env), k2: f2(inst, env)}
    if len(fields) == 4:
        (k0, f0), (k1, f1), (k2, f2), (k3, f3) = fields
        return lambda inst, env: {k0: f0(inst, env), k1: f1(inst, env),
                                  k2: f2(inst, env), k3: f3(inst, env)}

    def record(inst: Inst, env: Env) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, f in fields:
            out[k] = f(inst, env)
        return out
    return record


def _compare(op: str, node: A.Binary, left: Fn, right: Fn) -> Fn:
    """A comparison closure, with a literal operand folded in as a constant."""
    if isinstance(node.right, A.Literal):
        c = node.right.value
        if op == "==":
            return lambda inst, env: left(inst, env) == c
        if op == "!=":
            return lambda inst, env: left(inst, env) != c
        if op == "<":
            return lambda inst, env: left(inst, env) < c
        if op == "<=":
            return lambda inst, env: left(inst, env) <= c
        if op == ">":
            return lambda inst, env: left(inst, env) > c
        if op == ">=":
            return lambda inst, env: left(inst, env) >= c
    if op == "==":
        return lambda inst, env: left(inst, env) == right(inst, env)
    if op == "!=":
        return lambda inst, env: left(inst, env) != right(inst, env)
    if op == "<":
        return lambda inst, env: left(inst, env) < right(inst, env)
    if op == "<=":
        return lambda inst, env: left(inst, env) <= right(inst, env)
    if op == ">":
        return lambda inst, env: left(inst, env) > right(inst, env)
    return lambda inst, env: left(inst, env) >= right(inst, env)


def _counted(name: str, frames: int, fn: Fn) -> Fn:
    """``fn``, counting its ``frames`` in :attr:`Run.frames` while it runs, and once the
    definitions being evaluated take more than :data:`STACK_BUDGET`, first evaluating
    what it always uses from a loop (:meth:`Inst.prepare`)."""
    def run(inst: Inst, env: Env) -> Any:
        r = inst.run
        if r.frames > STACK_BUDGET:
            inst.prepare(name)
        r.frames += frames
        try:
            return fn(inst, env)
        finally:
            r.frames -= frames
    return run


def _recorded(name: str, fn: Fn) -> Fn:
    def run(inst: Inst, env: Env) -> Any:
        cov = inst.run.coverage
        if cov is not None:
            cov.evaluated.add(name)
        return fn(inst, env)
    return run


def _times(d: Duration, n: int) -> Duration:
    if abs(n) > 100_000:
        raise EvaluationError(f"duration multiplied by {n} is too long")
    return d.times(int(n))


def _divide(a: Any, b: Any) -> Decimal:
    if b == 0:
        raise EvaluationError("division by zero")
    return Decimal(a) / Decimal(b)


# -- walking the facts --------------------------------------------------------------------

def visible(member: Member, as_of: _dt.date) -> Member:
    """The member as known on the as-of date: later events are ignored."""
    if all(e.date <= as_of for e in member.events):
        return member
    return Member(member.member_id, member.accounts,
                  tuple(e for e in member.events if e.date <= as_of))


def visible_claim(claim: Claim, as_of: _dt.date) -> Claim:
    """The claim as known on the as-of date: steps dated later have not happened yet."""
    def known(d: _dt.date | None) -> _dt.date | None:
        return d if d is not None and d <= as_of else None

    decided = known(claim.decided)
    recon_decided = known(claim.reconsideration_decided)
    return Claim(
        claim_id=claim.claim_id, account_id=claim.account_id, received=claim.received,
        complete=known(claim.complete),
        decision=claim.decision if decided is not None or claim.decided is None else None,
        decided=decided,
        reconsideration_received=known(claim.reconsideration_received),
        reconsideration_complete=known(claim.reconsideration_complete),
        reconsideration_decision=(claim.reconsideration_decision
                                  if recon_decided is not None
                                  or claim.reconsideration_decided is None else None),
        reconsideration_decided=recon_decided)


@dataclass(frozen=True)
class Portfolio:
    """What a `portfolio` definition sees: the records that could be evaluated."""

    members: tuple[Inst, ...]
    accounts: tuple[Inst, ...]
    claims: tuple[Inst, ...]


def account_instances(run: Run, members: Sequence[Member]) -> Iterator[Inst]:
    for m in members:
        minst = Inst("member", visible(m, run.as_of), run, None)
        yield from minst.accounts()


def account_of(inst: Inst) -> Account:
    acc: Account = inst.obj
    return acc
