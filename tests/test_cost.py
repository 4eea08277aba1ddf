"""The cost check (evaluator/cost.py): evaluation time is linear in the size of the facts.

- Small policies on both sides of each part of the rule: quadratic formulas are reported
  (code ``cost``, at the exact line and column of the list that is gone through too
  often), linear ones are not.
- Every shipped policy (``policies/``) passes the check.
- Linearity shown by counting, without timing: the scalar backend is instrumented (the
  generated expression of each node is wrapped in a counting call: every node evaluation
  counts one, plus the length of every list or text an operator or a function is
  given), and policies that
  pass the check are evaluated on facts of growing size. For work ``f(n)`` that is linear
  in ``n``, ``f(8n) - f(4n) == 2 (f(4n) - f(2n))`` whatever the constant; a quadratic
  part makes it more (up to 4 times), and every reported formula is shown to. A
  hypothesis property does the same for generated formulas: whenever the check passes,
  the work must be linear (``UNCLAIMED_COST_EXAMPLES`` sets how many, 60 by default).
- The run-time side: the member's events are gone through once to find every account's
  events (not once per account), and the checker runs the cost check on every load.
- Sizes (the "billion laughs"): texts, lists, records and Ints that double at each of a
  chain of definitions (account, member, global definitions, derived parameters, nested
  comprehensions in one formula) are reported at the first link over the limit, chains
  that only append are not, and a hostile policy of 30-link chains is refused without
  ever holding a large value (tracemalloc). The bounds are bounds: evaluated values,
  including ones Python's ``repr`` escapes, are no larger.
- Steps: comprehensions over long constant lists nested in one another are reported.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from evaluator import PolicyTypeError, check_policy, load_policy
from evaluator import ast as A
from evaluator.backends.scalar import codegen
from evaluator.backends.scalar.codegen import Program
from evaluator.checker import CheckedPolicy, check_document
from evaluator.cost import cost_diagnostics
from evaluator.errors import Diagnostic
from evaluator.loader import load_document
from evaluator.model import Account, Claim, Event, Facts, Member
from tests.support import ROOT

COST = ROOT / "tests" / "cost"
POLICIES = ROOT / "policies"
HEADER = "policy: cost-check\nversion: 1.0.0\nstatus: proposed\ntitle: cost check\n"
PROVISIONS = 'provisions:\n  "Act 147(1)": {text: unclaimed deposit}\n'
#: the formula of definition i is on line FIRST_LINE + 4 i, from column FIRST_COL
FIRST_LINE = 11
FIRST_COL = 15  # `    formula: '` is 14 characters
TABLE = """parameters:
  kinds_table:
    type: table
    provision: "Act 147(1)"
    columns: {item: text, weight: integer}
    value:
      - {item: a, weight: 1}
      - {item: b, weight: 2}
"""
AS_OF = dt.date(2030, 1, 1)


# -- building and checking policies ------------------------------------------------------

def policy_text(defs: Sequence[tuple[str, str, str]], outputs: Sequence[str] = ()) -> str:
    """A policy with definitions ``(name, entity, formula)``, each formula single-quoted
    on line ``FIRST_LINE + 4 i``. Outputs: ``outputs``, or the last definition."""
    text = HEADER + PROVISIONS + "definitions:\n"
    for name, entity, formula in defs:
        assert "'" not in formula
        text += (f"  {name}:\n    entity: {entity}\n    provision: \"Act 147(1)\"\n"
                 f"    formula: '{formula}'\n")
    entities = {name: entity for name, entity, _ in defs}
    by_output: dict[str, list[str]] = {}
    for name in outputs or [defs[-1][0]]:
        e = entities[name]
        key = "account" if e in ("account", "member", "global") else e
        by_output.setdefault(key, []).append(name)
    text += TABLE + "outputs:\n"
    for key, names in by_output.items():
        text += f"  {key}: [{', '.join(names)}]\n"
    return text


@contextmanager
def cost_check_off() -> Iterator[None]:
    """Policies checked or loaded meanwhile skip the cost check, should the checker call
    it (so that these tests call :func:`cost_diagnostics` themselves, and can measure
    the work of policies it reports)."""
    import evaluator.checker
    import evaluator.cost

    def nothing(checked: CheckedPolicy) -> list[Diagnostic]:
        return []

    modules = [m for m in (evaluator.cost, evaluator.checker) if hasattr(m, "cost_diagnostics")]
    saved = [m.cost_diagnostics for m in modules]
    for m in modules:
        m.cost_diagnostics = nothing  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for m, f in zip(modules, saved, strict=True):
            m.cost_diagnostics = f  # type: ignore[attr-defined]


def checked_policy(path: Path, root: Path) -> CheckedPolicy:
    doc, diags = load_document(path, root=root)
    assert doc is not None, [d.render() for d in diags]
    assert not [d for d in diags if d.is_error], [d.render() for d in diags]
    with cost_check_off():
        return check_document(doc)


def cost_of(tmp: Path, defs: Sequence[tuple[str, str, str]]) -> list[Diagnostic]:
    path = tmp / "policy.yaml"
    path.write_text(policy_text(defs), encoding="utf-8")
    return cost_diagnostics(checked_policy(path, tmp))


def where(defs: Sequence[tuple[str, str, str]], index: int, sub: str, nth: int = 0
          ) -> tuple[int, int]:
    """(line, col) of the ``nth`` occurrence of ``sub`` (as a whole: not `events` of
    `a.events`) in the formula of definition ``index``."""
    formula = defs[index][2]
    found = [m.start() for m in re.finditer(rf"(?<![\w.]){re.escape(sub)}(?!\w)", formula)]
    return FIRST_LINE + 4 * index, FIRST_COL + found[nth]


# -- both sides of each rule ----------------------------------------------------------

#: (id, definitions, (index of the definition, the flagged text, its occurrence),
#:  words the message must contain)
QUADRATIC: list[tuple[str, list[tuple[str, str, str]], tuple[int, str, int], tuple[str, ...]]] = [
    ("member-events-per-account-of-member",
     [("x", "member", 'count(a for a in accounts if count(e for e in events '
                      'if e.account_id == a.account_id) > 0)')],
     (0, "events", 0), ("for every `a` in `accounts`", "accounts × events", "`a.events`")),
    ("member-events-from-account",
     [("x", "account", 'count(e for e in member.events if e.type == "fee")')],
     (0, "member.events", 0), ("the member's", "once for every account",
                               "accounts × events")),
    ("member-accounts-from-account",
     [("x", "account", 'count(a for a in member.accounts if a.balance > balance)')],
     (0, "member.accounts", 0), ("accounts × accounts",)),
    ("member-list-definition-from-account",
     [("dates", "member", "[e.date for e in events]"),
      ("x", "account", "latest(d for d in dates)")],
     (1, "dates", 0), ("`dates` is the member's", "accounts × the length of `dates`")),
    ("own-list-definition-inside-comprehension",
     [("ids", "member", "[a.account_id for a in accounts]"),
      ("x", "member", "count(e for e in events if e.account_id in ids)")],
     (1, "ids", 0), ("for every `e` in `events`",)),
    ("own-events-inside-own-events",
     [("x", "account", "count(e for e in events if any(f.date < e.date for f in events))")],
     (0, "events", 1), ("events × events",)),
    ("account-events-from-claim",
     [("x", "claim", "if account != null then count(e for e in account.events "
                     'if e.type == "fee") else 0')],
     (0, "account.events", 0), ("the account's", "claims × events")),
    ("member-events-through-portfolio-accounts",
     [("x", "portfolio", "sum(count(e for e in a.member.events) for a in accounts)")],
     (0, "a.member.events", 0), ("the member's",)),
    ("portfolio-accounts-inside-claims",
     [("x", "portfolio", "count(c for c in claims "
                         "if c.account_id in [a.account_id for a in accounts])")],
     (0, "accounts", 0), ("for every `c` in `claims`", "claims × accounts")),
    ("member-accounts-inside-account-events",
     [("x", "member", "sum(count(e for e in a.events "
                      "if e.account_id in [b.account_id for b in accounts]) for a in accounts)")],
     (0, "accounts", 0), ("for every `e` in `a.events`",)),
    ("outer-variable-list-inside-inner-comprehension",
     [("x", "member", "sum(count(e for e in a.events if any(f.date > e.date for f in a.events))"
                      " for a in accounts)")],
     (0, "a.events", 1), ("for every `e` in `a.events`",)),
    ("same-record-repeated",
     [("best", "member", 'first(accounts) ?? fail("no account")'),
      ("x", "member", "count(b for b in [best for e in events] "
                      'if any(x.type == "fee" for x in b.events))')],
     (1, "b.events", 0), ("for every `b` in",)),
    ("text-built-from-a-list",
     [("types", "account", 'join([e.type for e in events], ",")'),
      ("x", "account", 'count(e for e in events if e.type + types == "fee")')],
     (1, "types", 0), ("the length of `types`",)),
    ("record-holding-a-list",
     [("r", "account", "{n: count(events), evs: events}"),
      ("x", "account", "count(e for e in events if e in r.evs)")],
     (1, "r.evs", 0), ("for every `e` in `events`",)),
    ("list-of-lists-element-against-itself",
     [("x", "member", "sum(count(y for y in l if y in l) for l in [a.events for a in accounts])")],
     (0, "l", 1), ("for every `y` in `l`",)),
    ("through-a-chain-of-definitions",
     [("l0", "member", '[e for e in events if e.type == "fee"]'),
      *[(f"l{i}", "member", f"l{i - 1}") for i in range(1, 10)],
      ("x", "account", "count(f for f in l9 if f.amount != null)")],
     (10, "l9", 0), ("`l9` is the member's",)),
    ("through-if-compact-and-plus",
     [("l", "member", "compact([e.amount for e in events]) + []"),
      ("x", "account", 'count(y for y in (if kind == "deposit" then [] else l) if y > 0.00)')],
     (1, "l", 0), ("`l` is the member's",)),
    ("attachments-against-themselves",
     [("x", "account", "count(e for e in events "
                       "if count(f for f in e.attachments if f in e.attachments) > 0)")],
     (0, "e.attachments", 1), ("for every `f` in `e.attachments`",)),
]

LINEAR: list[tuple[str, list[tuple[str, str, str]]]] = [
    ("member-latest-over-accounts",
     [("last", "account", "latest(e.date for e in events) ?? opened"),
      ("x", "member", "latest(a.last for a in accounts)")]),
    ("count-own-events", [("x", "account", "count(e for e in events)")]),
    ("table-inside-events",
     [("x", "account", "count(e for e in events "
                       "if count(r for r in kinds_table if r.item in e.attachments) > 0)")]),
    ("constant-list-inside-events",
     [("x", "account", 'count(e for e in events if e.type in ["fee", "transfer"])')]),
    ("account-events-inside-accounts",
     [("x", "member", 'sum(count(e for e in a.events if e.type == "fee") for a in accounts)')]),
    ("member-scalar-from-account",
     [("seen", "member", "latest(e.date for e in events) ?? as_of"),
      ("x", "account", "seen > opened")]),
    ("constant-member-list-from-account",
     [("marks", "member", "[{mark: r.item, due: as_of} for r in kinds_table]"),
      ("x", "account", "count(n for n in marks if n.due > opened)")]),
    ("scalars-of-the-claim-account",
     [("x", "claim", "if account != null then account.balance else 0.00")]),
    ("account-definition-from-claim",
     [("fees", "account", '[e for e in events if e.type == "fee"]'),
      ("x", "claim", "if account != null then count(account.fees) else 0")]),
    ("count-of-member-accounts-from-account",
     [("x", "account", "count(member.accounts) > 1")]),
    ("first-of-member-accounts-from-account",
     [("x", "account", '(first(member.accounts) ?? fail("none")).balance')]),
    ("portfolio-nested-own-lists",
     [("x", "portfolio", "sum(sum(count(e for e in a.events) for a in m.accounts) for m in members)")]),
    ("portfolio-accounts-and-claims",
     [("x", "portfolio", "count(a for a in accounts if a.balance > 0.00)"
                         " + count(c for c in claims if c.decision != null)")]),
    ("list-of-lists",
     [("x", "member", "sum(count(y for y in l) for l in [a.events for a in accounts])")]),
    ("record-field-inside-comprehension",
     [("r", "account", "{n: count(events), evs: events}"),
      ("x", "account", "count(e for e in events if r.n > 2)")]),
    ("comprehension-over-if",
     [("x", "account", 'count(e for e in (if kind == "deposit" then events else []))')]),
    ("own-list-definition-at-top-level",
     [("fees", "account", '[e for e in events if e.type == "fee"]'),
      ("x", "account", "count(f for f in fees) + count(e for e in events)")]),
    ("element-picked-from-own-list",
     [("best", "member", 'first(accounts) ?? fail("no account")'),
      ("x", "member", 'count(e for e in best.events if e.type == "fee")')]),
    ("own-lists-of-account-definition-of-element",
     [("fees", "account", '[e for e in events if e.type == "fee"]'),
      ("x", "member", "sum(count(f for f in a.fees if f.amount != null) for a in accounts)")]),
]


@pytest.mark.parametrize(("defs", "at", "words"),
                         [pytest.param(d, at, w, id=i) for i, d, at, w in QUADRATIC])
def test_quadratic_formulas_are_reported(tmp_path: Path, defs: list[tuple[str, str, str]],
                                         at: tuple[int, str, int], words: tuple[str, ...]
                                         ) -> None:
    diags = cost_of(tmp_path, defs)
    assert len(diags) == 1, [d.render() for d in diags]
    d = diags[0]
    line, col = where(defs, *at)
    assert d.code == "cost" and d.is_error
    assert d.span is not None and (d.span.line, d.span.col) == (line, col), d.render()
    # the caret is under the whole list expression
    assert d.span.end_col - d.span.col == len(at[1]), d.render()
    assert d.where == f"definition `{defs[at[0]][0]}`" and d.provision == "Act 147(1)"
    assert d.help
    for w in words:
        assert w in d.message or w in d.help, d.render()


@pytest.mark.parametrize("defs", [pytest.param(d, id=i) for i, d in LINEAR])
def test_linear_formulas_pass(tmp_path: Path, defs: list[tuple[str, str, str]]) -> None:
    assert [d.render() for d in cost_of(tmp_path, defs)] == []


def test_rendered_message(tmp_path: Path) -> None:
    defs = [("x", "account", 'count(e for e in member.events if e.type == "fee")')]
    (d,) = cost_of(tmp_path, defs)
    text = d.render()
    assert "error: `member.events` is the member's, not this account's, and is gone through " \
           "once for every account: the time grows with accounts × events" in text
    assert "in definition `x` (Act 147(1))" in text
    assert "^^^^^^^^^^^^^" in text
    assert "help: compute what you need from it as a single value on the member " \
           "(a member definition) and use that here, or go through this account's own " \
           "`events`" in text


def test_every_problem_is_reported_once(tmp_path: Path) -> None:
    defs = [("x", "account", "count(e for e in member.events "
                             "if e.type in [f.type for f in member.events])")]
    diags = cost_of(tmp_path, defs)
    assert [(d.span.line, d.span.col) for d in diags if d.span] == [
        where(defs, 0, "member.events", 0), where(defs, 0, "member.events", 1)]


def test_fixture_policies() -> None:
    """The policies of tests/cost/: a quadratic one, reported; its linear rewrite, not."""
    quadratic = cost_diagnostics(checked_policy(COST / "quadratic.yaml", COST))
    assert [(d.code, d.span.line, d.span.col) for d in quadratic if d.span] == [
        ("cost", 14, 72), ("cost", 19, 31)], [d.render() for d in quadratic]
    assert cost_diagnostics(checked_policy(COST / "linear.yaml", COST)) == []


def test_check_reports_cost_errors() -> None:
    """Once the checker runs the cost check, `unclaimed check` and loading report it."""
    diags = check_policy(COST / "quadratic.yaml", root=COST)
    assert [(d.span.line, d.span.col) for d in diags if d.code == "cost" and d.span] == [
        (14, 72), (19, 31)]
    with pytest.raises(PolicyTypeError):
        load_policy(COST / "quadratic.yaml", root=COST)
    assert not [d for d in check_policy(COST / "linear.yaml", root=COST) if d.is_error]


# -- the shipped policies ----------------------------------------------------------------

def shipped_policies() -> list[Path]:
    return sorted({*POLICIES.glob("*/policy.yaml"), *POLICIES.glob("*/history/*.yaml"),
                   *POLICIES.glob("alternatives/*.yaml"),
                   *POLICIES.glob("interpretations/*.yaml")})


@pytest.mark.parametrize("path", shipped_policies(), ids=lambda p: str(p.relative_to(POLICIES)))
def test_shipped_policies_pass(path: Path) -> None:
    checked = checked_policy(path, POLICIES)
    assert checked.defs
    assert [d.render() for d in cost_diagnostics(checked)] == []


# -- linearity, counted ------------------------------------------------------------------

@contextmanager
def metered() -> Iterator[list[int]]:
    """While active, policies loaded compile to code that counts into the list's one
    item: 1 per node evaluated, plus the length of each list or text given to an
    operator (`in`, `==`, `+`...) or a function, the work they do inside (but `count`,
    `first` and `last` take a list's length or an end: O(1)). Each node's generated
    expression is wrapped in a call of a counting function added to the names the
    generated code sees."""
    meter = [0]
    consumed: set[int] = set()
    original = Program.compile
    original_namespace = codegen.namespace

    def sized(v: Any) -> Any:
        meter[0] += 1 + (len(v) if isinstance(v, tuple | list | str) else 0)
        return v

    def counted(v: Any) -> Any:
        meter[0] += 1
        return v

    def namespace() -> dict[str, Any]:
        return {**original_namespace(), "__sized__": sized, "__counted__": counted}

    def compile(self: Program, node: A.Node) -> str:
        if isinstance(node, A.Binary) or (isinstance(node, A.Call)
                                          and node.func not in ("count", "first", "last")):
            consumed.update(id(c) for c in A.children(node))
        src = original(self, node)
        return f"__sized__({src})" if id(node) in consumed else f"__counted__({src})"

    Program.compile = compile  # type: ignore[method-assign]
    codegen.namespace = namespace
    try:
        yield meter
    finally:
        Program.compile = original  # type: ignore[method-assign]
        codegen.namespace = original_namespace


def facts_of_size(n: int, events: Callable[[Sequence[Event]], tuple[Event, ...]] = tuple
                  ) -> Facts:
    """Facts that grow linearly with ``n`` in every direction a formula could multiply:
    member m1 has n accounts of two events each and n events of its own; member m2 one
    account with n events (the first with n attachments) and n claims; n members of one account and one event; a claim
    on each account of m1. Every record follows a fixed pattern (and every event is
    dated the same day, so that no date moves with ``n``), so that what a formula counts
    grows exactly linearly (or quadratically) with ``n``."""
    day = dt.date(2020, 1, 1)
    accounts = tuple(Account(f"a{i}", "m1", "CAD", Decimal("10.00"), day,
                             "deposit" if i % 2 else "gift-card") for i in range(n))
    m1_events = sorted(
        [e for i in range(n) for e in (
            Event(day, "transaction", f"a{i}"),
            Event(day, "fee", f"a{i}", amount=Decimal("1.00"),
                  attachments=("a", "b")))]
        + [Event(day, "statement_ack") for i in range(n)],
        key=lambda e: e.date)
    m2_events = [Event(day, "fee" if i % 2 else "transaction", "b0", amount=Decimal("1.00"),
                       attachments=tuple(f"t{j:03}" for j in range(n)) if i == 0 else ())
                 for i in range(n)]
    members = [Member("m1", accounts, events(m1_events)),
               Member("m2", (Account("b0", "m2", "CAD", Decimal("5.00"), day),),
                      events(m2_events))]
    members += [Member(f"s{i}", (Account(f"s{i}a", f"s{i}", "CAD", Decimal("1.00"), day),),
                       events([Event(day, "transaction", f"s{i}a")])) for i in range(n)]
    claims = [Claim(f"c{i}", "b0", day, decision="approved" if i % 2 else None)
              for i in range(n)]
    claims += [Claim(f"d{i}", f"a{i}", day) for i in range(n)]
    return Facts(tuple(members), tuple(claims))


def work(path: Path, root: Path, sizes: Sequence[int] = (2, 4, 8)) -> list[int]:
    """The work of evaluating the policy at ``path`` on facts of each size."""
    with metered() as meter, cost_check_off():
        policy = load_policy(path, root=root)
    out = []
    for n in sizes:
        facts = facts_of_size(n)
        meter[0] = 0
        result = policy.evaluate(facts, as_of=AS_OF, backend="scalar")
        assert not result.errors, result.errors
        out.append(meter[0])
    return out


#: sizes for showing that reported formulas do superlinear work: large enough for the
#: quadratic part to dominate
SUPERLINEAR_SIZES = (4, 8, 16)


def growth(counts: Sequence[int]) -> float:
    """How much more the work grew from 4n to 8n than from 2n to 4n: exactly 2 when the
    work is linear (whatever its constant part), between 2 and 4 when it has a quadratic
    part, tending to 4 as that part dominates."""
    f2, f4, f8 = counts
    return (f8 - f4) / (f4 - f2) if f4 != f2 else (0.0 if f8 == f4 else float("inf"))


def test_fixture_policies_work_linear_or_quadratic() -> None:
    linear = work(COST / "linear.yaml", COST)
    quadratic = work(COST / "quadratic.yaml", COST, SUPERLINEAR_SIZES)
    assert growth(linear) <= 2, linear
    assert growth(quadratic) > 2.2, quadratic


@pytest.mark.parametrize(("name", "defs"), [pytest.param(i, d, id=i) for i, d in LINEAR])
def test_linear_formulas_do_linear_work(tmp_path: Path, name: str,
                                        defs: list[tuple[str, str, str]]) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(policy_text(defs), encoding="utf-8")
    counts = work(path, tmp_path)
    assert growth(counts) <= 2, counts


@pytest.mark.parametrize(("name", "defs"), [pytest.param(i, d, id=i)
                                            for i, d, _, _ in QUADRATIC])
def test_reported_formulas_do_superlinear_work(tmp_path: Path, name: str,
                                               defs: list[tuple[str, str, str]]) -> None:
    """The counter sees what the check reports (so the linear results above mean
    something)."""
    path = tmp_path / "policy.yaml"
    path.write_text(policy_text(defs), encoding="utf-8")
    counts = work(path, tmp_path, SUPERLINEAR_SIZES)
    assert growth(counts) > 2.2, counts


def test_shipped_policy_does_linear_work() -> None:
    counts = work(POLICIES / "fsra-2024-001", POLICIES)
    assert growth(counts) <= 2, counts


# -- generated formulas: when the check passes, the work is linear ----------------------

#: lists an entity's formula names directly, with the kind of their elements
ENTITY_LISTS = {
    "member": [("events", "event"), ("accounts", "account")],
    "account": [("events", "event"), ("member.events", "event"),
                ("member.accounts", "account")],
    "portfolio": [("accounts", "account"), ("members", "member"), ("claims", "claim")],
    "claim": [],
}
#: lists reached from a comprehension variable of a kind
VAR_LISTS = {
    "account": [("events", "event"), ("member.events", "event"),
                ("member.accounts", "account")],
    "member": [("events", "event"), ("accounts", "account")],
    "event": [("attachments", "text")],
    "claim": [],
    "text": [],
}
CONST_LISTS = [('["a", "fee"]', "text")]
SIMPLE = {"event": ['{v}.type == "fee"', "{v}.type != \"transaction\"", '"a" in {v}.attachments'],
          "account": ['{v}.kind == "deposit"', "{v}.balance > 1.00"],
          "member": ['{v}.member_id != "m2"'], "claim": ["{v}.decision != null"],
          "text": ['{v} == "a"']}


@st.composite
def formulas(draw: st.DrawFn) -> tuple[str, str]:
    """(entity, formula): a count over a list, with nested conditions that go through
    other lists, some linear, some not."""
    entity = draw(st.sampled_from(["member", "account", "portfolio"]))
    counter = iter(range(100))

    def lists(scope: list[tuple[str, str]]) -> list[tuple[str, str]]:
        out = list(ENTITY_LISTS[entity]) + CONST_LISTS
        for name, kind in scope:
            out += [(f"{name}.{attr}", k) for attr, k in VAR_LISTS[kind]]
        return out

    def cond(scope: list[tuple[str, str]], depth: int) -> str:
        options = ["simple", "count-named"]
        if depth > 0:
            options += ["count", "any", "in"]
        choice = draw(st.sampled_from(options))
        if choice == "simple" and scope:
            name, kind = draw(st.sampled_from(scope))
            return draw(st.sampled_from(SIMPLE[kind])).format(v=name)
        if choice == "count-named":
            src, _ = draw(st.sampled_from(lists(scope)))
            return f"count({src}) > 1"
        if choice in ("count", "any"):
            src, kind = draw(st.sampled_from(lists(scope)))
            v = f"v{next(counter)}"
            inner = cond([*scope, (v, kind)], depth - 1)
            if choice == "count":
                return f"count({v} for {v} in {src} if {inner}) > 0"
            return f"any({inner} for {v} in {src})"
        if choice == "in":
            accounts = [s for s in lists(scope) if s[1] == "account"]
            events = [n for n, k in scope if k == "event"]
            if accounts and events:
                src, _ = draw(st.sampled_from(accounts))
                e = draw(st.sampled_from(events))
                v = f"v{next(counter)}"
                return f"{e}.account_id in [{v}.account_id for {v} in {src}]"
        return "true"

    src, kind = draw(st.sampled_from([s for s in lists([]) if s[1] != "text"]))
    v = f"v{next(counter)}"
    return entity, f"count({v} for {v} in {src} if {cond([(v, kind)], 3)})"


@settings(max_examples=int(os.environ.get("UNCLAIMED_COST_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(formulas())
def test_generated_formulas_that_pass_do_linear_work(case: tuple[str, str]) -> None:
    entity, formula = case
    note(f"{entity}: {formula}")
    defs = [("x", entity, formula)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "policy.yaml"
        path.write_text(policy_text(defs), encoding="utf-8")
        diags = cost_diagnostics(checked_policy(path, root))
        note("\n".join(d.render() for d in diags))
        if diags:
            return
        counts = work(path, root)
    note(f"work: {counts}")
    assert growth(counts) <= 2, counts


# -- the run-time side -------------------------------------------------------------------

class CountingTuple(tuple[Event, ...]):
    """A member's events that count how many times an element is gone through."""

    seen: ClassVar[list[int]] = [0]

    def __iter__(self) -> Iterator[Event]:
        for e in tuple.__iter__(self):
            CountingTuple.seen[0] += 1
            yield e


def test_finding_each_account_events_is_linear(tmp_path: Path) -> None:
    defs = [("x", "account", "count(e for e in events)")]
    path = tmp_path / "policy.yaml"
    path.write_text(policy_text(defs), encoding="utf-8")
    with cost_check_off():
        policy = load_policy(path, root=tmp_path)
    counts = []
    for n in (2, 4, 8):
        facts = facts_of_size(n, CountingTuple)
        CountingTuple.seen[0] = 0
        policy.evaluate(facts, as_of=AS_OF, backend="scalar")
        counts.append(CountingTuple.seen[0])
    assert growth(counts) <= 2, counts




# == sizes: no value grows with the policy (the "billion laughs") ========================

def chain(n: int, first: str, step: str = "{p} + {p}", entity: str = "account",
          name: str = "t") -> list[tuple[str, str, str]]:
    """``t0: first``, then ``t1`` ... ``tn``, each ``step`` of the one before."""
    return [(f"{name}0", entity, first)] + [
        (f"{name}{i}", entity, step.format(p=f"{name}{i - 1}")) for i in range(1, n + 1)]


def using(defs: list[tuple[str, str, str]], formula: str,
          entity: str = "account") -> list[tuple[str, str, str]]:
    """``defs`` and, last, a definition ``out`` with ``formula`` (the output)."""
    return [*defs, ("out", entity, formula)]


#: (id, definitions, (the definition reported, the sub-expression reported, or None for
#: its whole formula), words of the message): each reported once, in the first
#: definition over the limit
EXPLOSIVE: list[tuple[str, list[tuple[str, str, str]], int | tuple[int, str],
                      tuple[str, ...]]] = [
    ("doubling-a-facts-text-11", chain(11, "account_id"), 10,
     ("`t10` can be 1,024 times as long as `account_id`",
      "texts that double at each definition grow without bound")),
    ("doubling-a-facts-text-30", chain(30, "account_id"), 10, ("1,024 times",)),
    ("doubling-a-literal-30", chain(30, '"xxxxxxxx"'), 17,
     ("`t17` can be 1,048,576 characters long",)),
    ("format-twice", chain(30, "member_id", 'format("{{}}-{{}}", {p}, {p})'), 10,
     ("1,024 times as long as `member_id`",)),
    ("doubling-a-list", chain(30, "[account_id]"), 10,
     ("`t10` can hold 1,024 copies of `account_id`", "lists that double")),
    ("doubling-a-literal-list", chain(30, "[1, 2, 3]"), 17,
     ("`t17` can have 393,216 elements (1,572,864 characters, elements and digits",)),
    ("list-of-the-list-twice", chain(30, "[kind]", "[{p}, {p}]"), 10, ("1,024 copies",)),
    ("comprehension-and-list", chain(30, "[kind]", "[x for x in {p}] + {p}"), 10,
     ("1,024 copies",)),
    ("record-holding-it-twice", chain(30, "kind", "{{a: {p}, b: {p}}}.a + {p}"),
     (10, "{a: t9, b: t9}"),
     ("`{a: t9, b: t9}` can hold 1,024 copies of `kind`", "records that double")),
    ("text-of-a-list", chain(30, "[currency]", "[text({p})]"), (3, "text(t2)"),
     ("`text(t2)` can be 1,000 times as long as `currency`: more than a text may hold",)),
    ("join-of-the-list-twice", chain(30, "currency", 'join([{p}, {p}], ",")'),
     (10, "[t9, t9]"), ("`[t9, t9]` can hold 1,024 copies of `currency`",)),
    ("int-squared", chain(30, "count(events)", "{p} * {p}"), 10,
     ("`t10` can have 19,456 digits", "Ints multiplied by themselves")),
    ("doubling-a-join-over-the-facts",
     chain(30, 'join([e.type for e in events], ",")'), 10,
     ("`t10` can hold 1,024 copies of `e.type` for each element of `events`",)),
    ("global-definitions", chain(30, '"xxxxxxxx"', entity="global"), 17,
     ("1,048,576 characters",)),
    ("member-definitions-used-by-accounts", chain(30, "member_id", entity="member"), 10,
     ("1,024 times as long as `member_id`",)),
    ("mixed-values", chain(30, "account_id + member_id", "{p} + {p} + kind"), 9,
     ("times as long as `account_id` and other values",)),
    # principal x (1 + rate)^t, for up to 10,000 years: a Decimal's text can then be as
    # long as the context lets it (a million digits)
    ("absurd-interest-rate",
     [("x", "account", f'format("{{}}", accrued_interest(balance, {"9" * 120}.0, opened, '
                       'as_of, "compound", 5 years))')],
     (0, "format"), ("`x` can be 1,000,034 characters long: more than a text may hold",)),
]


@pytest.mark.parametrize(("defs", "at", "words"),
                         [pytest.param(d, i, w, id=n) for n, d, i, w in EXPLOSIVE])
def test_values_that_grow_with_the_policy_are_reported(
        tmp_path: Path, defs: list[tuple[str, str, str]], at: int | tuple[int, str],
        words: tuple[str, ...]) -> None:
    diags = cost_of(tmp_path, defs)
    assert len(diags) == 1, [d.render() for d in diags]
    d = diags[0]
    assert d.code == "cost" and d.is_error and d.span is not None
    index, sub = at if isinstance(at, tuple) else (at, None)
    line, col = where(defs, index, sub) if sub else (FIRST_LINE + 4 * index, FIRST_COL)
    assert (d.span.line, d.span.col) == (line, col), d.render()
    assert d.where == f"definition `{defs[index][0]}`" and d.provision == "Act 147(1)"
    assert d.help and "shorten the chain" in d.help
    for w in words:
        assert w in d.message, d.render()


#: (id, definitions): within the limit
BOUNDED: list[tuple[str, list[tuple[str, str, str]]]] = [
    ("doubling-a-facts-text-9", chain(9, "account_id")),
    ("doubling-a-literal-16", chain(16, '"xxxxxxxx"')),
    ("doubling-a-list-9", chain(9, "[account_id]")),
    ("appending-to-a-text-200", chain(200, "account_id", '{p} + "-" + kind')),
    ("appending-to-a-list-200", chain(200, "[account_id]", "{p} + [kind, currency]")),
    ("format-around-a-text-200", chain(200, "account_id", 'format("({{}})", {p})')),
    ("global-appending-200", chain(200, '"x"', '{p} + "y"', entity="global")),
    ("int-doubling-200", chain(200, "count(events)", "{p} + {p}")),
    ("int-squared-9", chain(9, "count(events)", "{p} * {p}")),
    # a Decimal has 28 digits and a bounded exponent: squaring it cannot explode
    ("numbers-squared-60", chain(60, "balance / balance", "{p} * {p}")),
    ("join-over-the-facts", [("x", "account", 'join([e.type for e in events], ", ")')]),
    ("join-over-accounts",
     [("x", "member", 'join([format("{} {}", a.account_id, a.kind) for a in accounts], ";")')]),
    ("big-element-over-the-facts",
     using(chain(9, "account_id"), 'join([t9 for e in events], ",")')),
    ("lists-of-lists-over-the-facts",
     [("x", "member", "[[e.type for e in a.events] for a in accounts]")]),
    ("text-of-the-facts", [("x", "member", "text([e.attachments for e in events])")]),
    ("table-rows", [("x", "account", 'join([r.item + kind for r in kinds_table], ",")')]),
    ("records", [("x", "account", "{a: account_id, b: [kind, currency]}.b")]),
    ("if-does-not-add-up", chain(200, "account_id", '(if kind == "a" then {p} else {p})')),
    ("interest-written-out",
     [("x", "account", 'format("interest of {}", accrued_interest(balance, 3.25%, opened, '
                       'as_of, "compound", 5 years))')]),
]


@pytest.mark.parametrize("defs", [pytest.param(d, id=i) for i, d in BOUNDED])
def test_values_within_the_limit_pass(tmp_path: Path, defs: list[tuple[str, str, str]]
                                      ) -> None:
    assert [d.render() for d in cost_of(tmp_path, defs)] == []


def nested_doubling(levels: int) -> str:
    """One formula: ``account_id`` twice, then ``levels`` comprehensions, each giving its
    variable the one inside it and using it twice."""
    formula = "account_id + account_id"
    for i in range(1, levels + 1):
        formula = f'(first([x{i} + x{i} for x{i} in [{formula}]]) ?? "")'
    return formula


def test_comprehensions_nested_in_one_formula_are_bounded(tmp_path: Path) -> None:
    assert cost_of(tmp_path, [("x", "account", nested_doubling(8))]) == []
    defs = [("x", "account", nested_doubling(12))]
    (d,) = cost_of(tmp_path, defs)
    assert d.span is not None and (d.span.line, d.span.col) == where(defs, 0, "x9 + x9")
    assert d.message == ("`x9 + x9` can be 1,024 times as long as `account_id`: texts that "
                         "double at each step grow without bound")


def test_a_separator_that_grows_with_the_facts_is_reported(tmp_path: Path) -> None:
    defs = [("x", "account",
             'join([e.type for e in events], join([e.type for e in events], ","))')]
    (d,) = cost_of(tmp_path, defs)
    assert d.span is not None and (d.span.line, d.span.col) == where(defs, 0, "join", 1)
    assert "is written once for every element" in d.message


def test_a_big_element_over_the_facts_is_reported_where_it_is_built(tmp_path: Path) -> None:
    """Linear in the facts, but each element is over the limit."""
    defs = using(chain(9, "account_id"), "[t9 + t9 for e in events]")
    (d,) = cost_of(tmp_path, defs)
    assert d.span is not None and (d.span.line, d.span.col) == where(defs, 10, "t9 + t9")
    assert d.message.startswith("`t9 + t9` can be 1,024 times as long as `account_id`")
    assert d.where == "definition `out`"


def test_rendered_size_message(tmp_path: Path) -> None:
    (d,) = cost_of(tmp_path, chain(12, "account_id"))
    text = d.render()
    assert ("error: `t10` can be 1,024 times as long as `account_id`: texts that double at "
            "each definition grow without bound") in text
    assert "in definition `t10` (Act 147(1))" in text
    assert "^^^^^^^" in text
    assert ("help: build the text once, or shorten the chain: a value may hold at most "
            "1,000,000 characters, elements or digits, each value of the facts or of a "
            "parameter counting as 1,000") in text


def with_params(text: str, params: str) -> str:
    return text.replace("parameters:\n", "parameters:\n" + params, 1)


def doubling_params(n: int) -> str:
    """Text parameter ``p0``, and derived parameters ``p1`` ... ``pn``, each doubling the
    one before."""
    return "".join(
        f"  p{i}:\n    type: text\n    provision: \"Act 147(1)\"\n"
        + (f"    formula: p{i - 1} + p{i - 1}\n" if i else "    value: ab\n")
        for i in range(n + 1))


@pytest.mark.parametrize("n", [9, 30])
def test_derived_parameters_that_double(tmp_path: Path, n: int) -> None:
    path = tmp_path / "policy.yaml"
    text = with_params(policy_text([("x", "account", f"p{n} + account_id")]),
                       doubling_params(n))
    path.write_text(text, encoding="utf-8")
    diags = cost_diagnostics(checked_policy(path, tmp_path))
    if n < 10:
        assert diags == []
        return
    (d,) = diags
    line = text.splitlines().index("    formula: p9 + p9") + 1
    assert d.span is not None and (d.span.line, d.span.col) == (line, 14), d.render()
    assert d.where == "parameter `p10`"
    # set with --param, `p0` could be any text: the bound counts copies of it
    assert "`p10` can be 1,024 times as long as `p0`" in d.message


def test_an_explosive_policy_is_refused_before_anything_is_evaluated(tmp_path: Path
                                                                    ) -> None:
    """Chains of 30 doublings through account, global and member definitions, derived
    parameters (which loading computes once the policy is accepted) and Ints: each
    refused, once, without ever holding a large value."""
    defs = [*chain(30, "account_id"), *chain(30, '"xxxxxxxx"', entity="global", name="g"),
            *chain(30, "count(events)", "{p} * {p}", name="i"),
            *chain(30, "[member_id]", name="l", entity="member"),
            ("out", "account", "t30 + g30 + text(i30) + p30 + text(l30)")]
    path = tmp_path / "policy.yaml"
    path.write_text(with_params(policy_text(defs), doubling_params(30)), encoding="utf-8")
    tracemalloc.start()
    try:
        diags = check_policy(path, root=tmp_path)
        with pytest.raises(PolicyTypeError):
            load_policy(path, root=tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    cost = sorted(d.where for d in diags if d.code == "cost")
    assert cost == ["definition `g17`", "definition `i10`", "definition `l10`",
                    "definition `t10`", "parameter `p10`"], [d.render() for d in diags]
    assert peak < 50 * 2**20, peak



# -- steps: comprehensions over long lists, nested in one another --------------------------

HUNDRED = "[" + ", ".join(str(i) for i in range(100)) + "]"


def nested_loops(depth: int) -> str:
    """``depth`` comprehensions over the same 100 numbers, each inside the last."""
    formula = "x1 == 1000"
    for i in range(2, depth + 1):
        formula = f"any({formula.replace('== 1000', f'+ x{i} == 1000')} for x{i} in {HUNDRED})"
    return f"count(x1 for x1 in {HUNDRED} if {formula})"


def test_nested_comprehensions_over_constant_lists(tmp_path: Path) -> None:
    """Linear in the facts, but 100 ** depth steps for each record: 100 ** 4 is over
    the limit, reported at the outermost comprehension."""
    assert cost_of(tmp_path, [("x", "account", nested_loops(3))]) == []
    defs = [("x", "account", nested_loops(4))]
    (d,) = cost_of(tmp_path, defs)
    assert d.span is not None and (d.span.line, d.span.col) == where(defs, 0, "x1 for x1")
    assert "goes through 101,010,100 elements each time it is evaluated" in d.message
    assert d.help and "one after the other" in d.help


def test_a_long_list_searched_for_each_of_its_elements(tmp_path: Path) -> None:
    """`t17` is 131,072 Bools (within the size limit): searching it for each of its
    elements is 2 ** 34 steps."""
    defs = using(chain(17, "[true]"), "count(x for x in t17 if x in t17)")
    (d,) = cost_of(tmp_path, defs)
    assert d.span is not None and (d.span.line, d.span.col) == where(defs, 18, "x for x")
    assert "goes through 17,180,000,256 elements" in d.message
    # once, or for each element of the facts, is fine
    assert cost_of(tmp_path, using(chain(17, "[true]"), "count(x for x in t17) + "
                                   "count(e for e in events if true in t17)")) == []


def test_steps_inside_a_comprehension_over_the_facts(tmp_path: Path) -> None:
    """Reported where the steps for one element of the facts cross the limit."""
    defs = using(chain(12, "[true]"),
                 "count(e for e in events if any(any(x for y in t12) for x in t12))")
    (d,) = cost_of(tmp_path, defs)
    assert d.span is not None and (d.span.line, d.span.col) == where(defs, 13, "any", 1)
    assert "goes through 16,781,312 elements each time it is evaluated" in d.message

# -- the bounds are bounds: evaluated values are no larger ----------------------------

def size_of(v: Any) -> int:
    """A value's size as the check counts it (see ``cost.Size``)."""
    from evaluator.values import format_decimal

    if isinstance(v, str):
        return len(v)
    if isinstance(v, bool) or v is None:
        return 5
    if isinstance(v, int):
        return len(str(abs(v)))
    if isinstance(v, Decimal):
        return len(format_decimal(v))
    if isinstance(v, tuple | list):
        return len(v) + sum(size_of(x) for x in v)
    if isinstance(v, dict):
        return sum(len(k) + 1 + size_of(x) for k, x in v.items())
    if isinstance(v, dt.date):
        return 10
    return 1  # a record of the facts


SOUND: list[tuple[str, str]] = [
    ("account", 'format("{} of {}: {}", account_id, member_id, [kind, currency])'),
    ("account", "text({a: [account_id], b: balance * 2.5 / balance, c: opened})"),
    ("account", "join([text(e.attachments) + e.type for e in events], account_id)"),
    ("account", "text([[e.type, e.account_id ?? kind] for e in events])"),
    ("member", "[[text(e.amount) for e in a.events] for a in accounts] + [[member_id]]"),
    ("member", 'join([format("{}{}", a.account_id, a.account_id) for a in accounts], "")'),
    ("account", "text(count(events) * count(events) * 1000)"),
    ("account", "text(balance / 3 + balance * 2.5)"),
    ("account", "[r.item + text(r.weight) for r in kinds_table] + [account_id]"),
]


def odd_facts() -> Facts:
    """One member whose values Python's ``repr`` escapes (``text`` of a list writes
    them so), and numbers with exponents."""
    day = dt.date(2020, 1, 1)
    odd = "a'\"\x00\U000e0001"
    account = Account(odd, "m\x01", "CAD", Decimal("1E+5"), day, "k\U000e0001")
    events = tuple(Event(day, odd, odd, amount=Decimal("0.000001"),
                         attachments=("\x00\x01", "\U000e0001" * 3)) for _ in range(3))
    return Facts((Member("m\x01", (account,), events),), ())


def test_evaluated_values_are_within_their_bounds(tmp_path: Path) -> None:
    """Each formula, evaluated on facts of a few sizes, is no larger than its bound
    ``c + k u + N (nc + nk u)``, with ``u`` the longest value of the facts and ``N`` the
    longest list of the facts."""
    from evaluator.cost import _Sizes
    from evaluator.values import display

    defs = [(f"x{i}", entity, formula) for i, (entity, formula) in enumerate(SOUND)]
    path = tmp_path / "policy.yaml"
    path.write_text(policy_text(defs, [n for n, _, _ in defs]), encoding="utf-8")
    sizes = _Sizes(checked_policy(path, tmp_path))
    assert sizes.run() == []
    policy = load_policy(path, root=tmp_path)
    for facts in (facts_of_size(1), facts_of_size(3), facts_of_size(6), odd_facts()):
        result = policy.evaluate(facts, as_of=AS_OF, backend="scalar")
        assert not result.errors, result.errors
        members = facts.members
        values = [m.member_id for m in members] + [
            x for m in members for a in m.accounts
            for x in (a.account_id, a.kind, a.currency, display(a.balance))] + [
            x for m in members for e in m.events
            for x in (e.type, e.account_id or "", *e.attachments, display(e.amount))]
        u = max(len(v) for v in values)
        big_n = max([len(m.accounts) for m in members] + [len(m.events) for m in members]
                    + [len(e.attachments) for m in members for e in m.events])
        for name, _, formula in defs:
            b = sizes.defs[name].size
            bound = b.c + b.k * u + big_n * (b.nc + b.nk * u)
            got = [size_of(d.values[name]) for d in result.accounts]
            assert got and max(got) <= bound, (formula, max(got), bound)
