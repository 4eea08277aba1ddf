"""Tests for the backends behind the policy facade (issue 11, B4): the `auto` choice, the
columnar backend declining or refusing a policy it cannot compile, the two backends
agreeing when called directly, and the scalar program compiling every node of every
formula exactly once through ``Program.compile``."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from typing import Any

import pytest

from evaluator import load_policy
from evaluator.backends.base import BACKEND_NAMES, is_table, uses_columnar
from evaluator.backends.columnar import read_table
from evaluator.backends.columnar.evaluate import ColumnarBackend
from evaluator.backends.scalar.coverage import Coverage
from evaluator.backends.scalar.evaluate import ScalarBackend
from evaluator.backends.scalar.interpreter import Program
from evaluator.errors import PolicyError
from evaluator.facts import load_facts
from evaluator.lang import nodes as A
from evaluator.lang.check.model import CheckedPolicy
from evaluator.lang.values import parse_iso_date
from tests.support import BASELINE, ROOT

MEMBERS = ROOT / "examples" / "members.csv"
FX = ROOT / "examples" / "fx.csv"
AS_OF = "2026-11-21"
#: a policy whose `findings` is a constant list of records: no column for the columnar
#: backend (tests/test_cases.py lists it as refused)
REFUSED = ROOT / "tests" / "policytest" / "basic"


def test_auto_evaluates_a_table_with_polars_unless_told_or_tracing() -> None:
    table = read_table(MEMBERS, FX)
    profile = load_facts(ROOT / "examples" / "members.json")
    assert is_table(table) and not is_table(profile)
    assert uses_columnar("auto", table, explain=False, coverage=None)
    assert uses_columnar("columnar", table, explain=False, coverage=None)
    assert not uses_columnar("scalar", table, explain=False, coverage=None)
    assert not uses_columnar("auto", table, explain=True, coverage=None)
    assert not uses_columnar("auto", table, explain=False, coverage=Coverage())
    for name in BACKEND_NAMES:
        assert not uses_columnar(name, profile, explain=False, coverage=None)


def test_the_two_backends_called_directly_agree_on_a_table() -> None:
    policy = load_policy(BASELINE)
    table = read_table(MEMBERS, FX)
    day = parse_iso_date(AS_OF)
    specs, warnings = policy.run_params(None)
    columnar = ColumnarBackend(required=True).evaluate(
        policy, table, day, specs, warnings, explain=False, coverage=None)
    scalar = ScalarBackend().evaluate(policy, table.to_facts(), day, specs, warnings,
                                      explain=False, coverage=None)
    assert columnar is not None
    assert columnar.accounts, "no determination from the example table"
    assert columnar.to_json() == scalar.to_json()


def test_the_columnar_backend_declines_a_policy_it_cannot_compile_unless_named() -> None:
    policy = load_policy(REFUSED)
    table = read_table(MEMBERS, FX)
    day = parse_iso_date(AS_OF)
    specs, warnings = policy.run_params(None)
    assert ColumnarBackend(required=False).evaluate(
        policy, table, day, specs, warnings, explain=False, coverage=None) is None
    with pytest.raises(PolicyError, match="columnar backend cannot evaluate"):
        ColumnarBackend(required=True).evaluate(
            policy, table, day, specs, warnings, explain=False, coverage=None)
    # `auto` falls back to the scalar backend over the same rows
    auto = policy.evaluate(table, as_of=AS_OF)
    assert auto.accounts
    assert auto.to_json() == policy.evaluate(table.to_facts(), as_of=AS_OF,
                                             backend="scalar").to_json()


def formulas(checked: CheckedPolicy) -> list[A.Node]:
    return [c.spec.node for group in (checked.defs, checked.derived, checked.invariants)
            for c in group.values() if c.spec.node is not None]


def test_every_node_is_compiled_once_through_compile() -> None:
    """``[e for x in xs]`` is one node (its comprehension is not compiled on its own);
    every other node goes through ``Program.compile`` exactly once per function that
    computes it: its definition's own, and the fast function of its entity when it is
    one of that function's locals."""
    checked = load_policy(BASELINE).checked
    seen: Counter[int] = Counter()
    original = Program.compile

    def counting(self: Program, node: A.Node) -> Any:
        seen[id(node)] += 1
        return original(self, node)

    Program.compile = counting  # type: ignore[method-assign]
    try:
        source = Program(checked).source
    finally:
        Program.compile = original  # type: ignore[method-assign]
    nodes = [n for f in formulas(checked) for n in A.walk(f)]
    inner = {id(n.comprehension) for n in nodes
             if isinstance(n, A.ListLit) and n.comprehension is not None}
    assert inner, "no list comprehension in the policy: the test shows nothing"
    expected = Counter(id(n) for n in nodes if id(n) not in inner)
    fast = [c.spec.node for name, c in checked.defs.items()
            if c.spec.node is not None and f" l_{name} = " in source]
    assert len(fast) > 10, "no fast function computes the definitions: nothing shown"
    expected.update(id(n) for f in fast for n in A.walk(f) if id(n) not in inner)
    assert seen == expected


def test_every_node_kind_has_its_own_compile_method() -> None:
    kinds = ("Literal", "Name", "Attr", "Unary", "Binary", "If", "Call", "ListComp",
             "ListLit", "RecordLit", "Comprehension")
    assert [k for k in kinds if not hasattr(Program, f"visit_{k}")] == []


def test_the_facade_and_the_backend_protocols_load_no_dataframe_library() -> None:
    code = ("import sys, evaluator.policy, evaluator.backends.base, "
            "evaluator.backends.scalar.evaluate; "
            "print(sorted(m for m in ('polars', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
