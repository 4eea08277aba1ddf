"""The scalar backend's run time: entity instances with their memo, one evaluation's
parameters and rates, and the helpers the generated code of a policy calls.

A definition is evaluated lazily and memoised per entity instance (:class:`Inst`): a
member's profile definitions are computed once for all its accounts. A definition that
fails is remembered and raises the same error wherever it is used again.

A definition's function calls those of the definitions it uses, so a long chain of
definitions would go deep into the Python stack. The definitions that could go deeper
than :data:`STACK_BUDGET` frames count their frames while they run; once that budget is
used up, each of them first evaluates the definitions it always uses, deepest first,
from a loop (:meth:`Inst.prepare`). Only a chain of definitions each used under a
condition (an `if` branch, ...) can still go too deep: such a record goes to the errors.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from decimal import Decimal, DivisionByZero, InvalidOperation
from typing import Any, Protocol

from evaluator.backends.scalar.coverage import Coverage
from evaluator.errors import EvaluationError
from evaluator.facts.model import Account, Claim, Event, Member
from evaluator.facts.model import field_value as model_field_value
from evaluator.lang import nodes as A
from evaluator.lang.check.model import Resolved
from evaluator.lang.values import Duration, format_decimal, to_json_value

#: a compiled definition: called with its instance (``env`` is unused, kept for callers
#: that pass an empty one)
Fn = Callable[..., Any]

#: Python frames (estimated) that nested definition evaluations may take before each
#: further one is prepared from a loop
STACK_BUDGET = 300


class Compiled(Protocol):
    """What the run time needs of a compiled policy (:class:`codegen.Program`)."""

    defs: dict[str, Fn]
    provisions: dict[str, str | None]

    def always(self, name: str) -> tuple[Resolved, ...]:
        """The definitions definition ``name`` always uses."""
        ...


class Run:
    """One evaluation: the parameters, the as-of date, the rates and the global instance."""

    def __init__(self, program: Compiled, as_of: _dt.date, params: dict[str, Any],
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


class _Unset:
    """The value of a definition not computed yet (a fast function's locals, see
    :meth:`codegen.Program._fast`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()

#: the failures of an instance none of whose definitions failed (never written to)
NO_FAILURES: dict[str, EvaluationError] = {}


class Inst:
    """An entity instance (member, account, claim or the global one) with its memo."""

    __slots__ = ("_accounts", "_by_account", "_events", "cache", "entries", "failed", "kind",
                 "member", "obj", "run")

    def __init__(self, kind: str, obj: Any, run: Run, member: Inst | None) -> None:
        self.kind = kind
        self.obj = obj
        self.run = run
        self.member = member
        #: values of the definitions evaluated so far (successes only)
        self.cache: dict[str, Any] = {}
        #: the errors of the definitions that failed, raised again when used again (the
        #: shared empty :data:`NO_FAILURES` until one fails: most instances have none)
        self.failed: dict[str, EvaluationError] = NO_FAILURES
        #: trace entries of this instance's definitions, made once for all the records
        #: whose traces show them (a member's, the global instance's)
        self.entries: dict[str, dict[str, Any] | None] | None = None
        self._accounts: tuple[Inst, ...] | None = None
        self._events: tuple[Event, ...] | None = None
        #: a member's events grouped by account, made once for all its accounts
        self._by_account: dict[str | None, tuple[Event, ...]] | None = None

    def get(self, name: str) -> Any:
        """Definition ``name``'s value for this instance: memoised, evaluated by its
        function otherwise (which memoises the value or the error, see :func:`failed`)."""
        cache = self.cache
        if name in cache:
            return cache[name]
        return self.run.program.defs[name](self)

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
        found = self._by_account
        if found is None:
            groups: dict[str | None, list[Event]] = {}
            get = groups.get
            for e in self.obj.events:
                group = get(e.account_id)
                if group is None:
                    groups[e.account_id] = [e]
                else:
                    group.append(e)
            found = self._by_account = {k: tuple(v) for k, v in groups.items()}
        return found

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
            return model_field_value(self.obj, name)

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


#: the errors of Python arithmetic (and of a chain nested too deeply) that a definition
#: turns into its error
ARITHMETIC = (ArithmeticError, ValueError, OverflowError, RecursionError)


def failed(inst: Inst, name: str, exc: Exception) -> EvaluationError:
    """The error of definition ``name`` for ``inst``, remembered to be raised again when
    the definition is used again: ``exc`` itself when it is an :class:`EvaluationError`
    (which now names the first definition it failed in), else one saying what
    arithmetic failed."""
    provisions = inst.run.program.provisions
    if isinstance(exc, EvaluationError):
        if exc.definition is None:
            exc.definition = name
            exc.provision = provisions.get(name)
        err = exc
    else:
        err = EvaluationError(arith_message(exc), name, provisions.get(name))
    if inst.failed is NO_FAILURES:
        inst.failed = {}
    inst.failed[name] = err
    return err


#: the classes of values that are their own JSON form
_PLAIN = frozenset({str, bool, int, type(None)})


def json_value(value: Any) -> Any:
    """:func:`evaluator.lang.values.to_json_value`, with the usual kinds of value found
    by their class first (and the plain items of a list or record kept without a call)."""
    cls = value.__class__
    if cls in _PLAIN:
        return value
    if cls is _dt.date:
        return value.isoformat()
    if cls is dict:
        return {k: v if v.__class__ in _PLAIN else json_value(v) for k, v in value.items()}
    if cls is tuple:
        return [v if v.__class__ in _PLAIN else json_value(v) for v in value]
    if cls is Decimal:
        return format_decimal(value)
    return to_json_value(value)


def trace_entry(inst: Inst, name: str, entity: str,
                static: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The trace entry of definition ``name`` (evaluated) of ``inst``: its value with
    ``static[name]`` (provision, formula, where), or None for an entity instance."""
    return entry_of(name, entity, inst.cache[name], static)


def entry_of(name: str, entity: str, value: Any,
             static: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The trace entry of definition ``name`` whose value is ``value`` (see
    :func:`trace_entry`)."""
    if value.__class__ is Inst:
        return None
    return {"definition": name, "entity": entity, "value": json_value(value),
            **static[name]}


def shared_entry(inst: Inst, name: str, entity: str,
                 static: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """:func:`trace_entry`, made once per instance (a member's definitions appear in the
    trace of each of its accounts, the global ones in every trace)."""
    entries = inst.entries
    if entries is None:
        entries = inst.entries = {}
    if name in entries:
        return entries[name]
    entry = entries[name] = trace_entry(inst, name, entity, static)
    return entry


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


def counted(name: str, frames: int, fn: Fn) -> Fn:
    """``fn``, counting its ``frames`` in :attr:`Run.frames` while it runs, and once the
    definitions being evaluated take more than :data:`STACK_BUDGET`, first evaluating
    what it always uses from a loop (:meth:`Inst.prepare`)."""
    def run(inst: Inst, env: Any = None) -> Any:
        r = inst.run
        if r.frames > STACK_BUDGET:
            inst.prepare(name)
        r.frames += frames
        try:
            return fn(inst)
        finally:
            r.frames -= frames
    return run


def decided(inst: Inst, site: int, value: Any) -> Any:
    """``value``, the outcome of decision ``site``, recorded in the run's coverage."""
    cov = inst.run.coverage
    if cov is not None:
        cov.decisions.setdefault(site, set()).add(bool(value))
    return value


def entered(inst: Inst, name: str) -> None:
    """Definition ``name`` is being evaluated: recorded in the run's coverage."""
    cov = inst.run.coverage
    if cov is not None:
        cov.evaluated.add(name)


def field_value(record: Any, name: str) -> Any:
    """Field ``name`` of a facts record that is not one of its dataclass's own fields
    (the one path for declared extra fields; the portfolio's fields are its attributes)."""
    if not hasattr(record, "extra"):
        return getattr(record, name)
    return model_field_value(record, name)


def largest(*xs: Any) -> Any:
    """The builtin ``max``: the first largest argument that is not null (null if all
    are), without raising and catching an error when one is null."""
    present = [x for x in xs if x is not None]
    return max(present) if present else None


def smallest(*xs: Any) -> Any:
    """The builtin ``min``, as :func:`largest`."""
    present = [x for x in xs if x is not None]
    return min(present) if present else None


def compact(xs: Sequence[Any]) -> tuple[Any, ...]:
    """The builtin ``compact`` (the list without its nulls), without a generator."""
    return tuple([x for x in xs if x is not None])


def times(d: Duration, n: int) -> Duration:
    if abs(n) > 100_000:
        raise EvaluationError(f"duration multiplied by {n} is too long")
    return d.times(int(n))


def divide(a: Any, b: Any) -> Decimal:
    if b == 0:
        raise EvaluationError("division by zero")
    return Decimal(a) / Decimal(b)


# -- walking the facts --------------------------------------------------------------------

def visible(member: Member, as_of: _dt.date) -> Member:
    """The member as known on the as-of date: later events are ignored."""
    for e in member.events:  # (a loop: no generator per member)
        if e.date > as_of:
            break
    else:
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
