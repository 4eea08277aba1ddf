"""Depth and size limits: deep formulas, long chains of definitions, huge numbers, long lines.

- A formula nests at most :data:`MAX_DEPTH` levels; deeper ones are refused right after
  parsing, so nothing recursive ever sees them, and one at the limit checks, compiles and
  evaluates even when called from an already deep Python stack.
- Definitions are typed, ordered and evaluated without recursing from one definition into
  the next: chains of thousands of definitions check and evaluate, and a long cycle is
  one diagnostic. Evaluation stays lazy: a definition only an `if` branch not taken uses
  is not evaluated, and an error is the one the record would meet anyway.
- Numbers longer than Python converts (4,300 digits) are diagnostics at their position.
- A snippet of a very long line shows a window around the span, so that N diagnostics on
  one line cost O(N), not O(N * L).
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evaluator import Diagnostic, Policy, PolicyError, check_policy, load_policy
from evaluator import ast as A
from evaluator.checker import dependency_order, parse_type
from evaluator.coverage import Coverage
from evaluator.errors import ExpressionSyntaxError
from evaluator.facts import facts_from_json
from evaluator.parser import (
    MAX_DEPTH,
    MAX_DURATION,
    MAX_NESTING,
    parse_expression,
    parse_literal,
)
from evaluator.policy import _sorted
from evaluator.source import ELLIPSIS, SNIPPET_CONTEXT, SNIPPET_WIDTH, Source, Span, render_snippet
from evaluator.values import Duration, MonthDay

HEADER = ("policy: depth\nversion: 1.0.0\nstatus: proposed\ntitle: depth\n"
          'provisions:\n  "Act 147(1)": {text: unclaimed deposit}\n')
FACTS = {"members": [{"member_id": "M1", "events": [
    {"type": "transaction", "date": "2020-05-01", "account_id": "A1"}], "accounts": [
    {"account_id": "A1", "currency": "CAD", "balance": "12.50", "opened": "2016-02-29"},
    {"account_id": "A2", "currency": "CAD", "balance": "0.00", "opened": "2018-01-31"}]}]}
AS_OF = "2026-11-21"
OPENED = dt.date(2016, 2, 29)
#: Python frames already in use when the deep tests call in (pytest, a CLI, a server...)
CALLER_FRAMES = 150


def definition(name: str, formula: str, entity: str = "account") -> str:
    return (f"  {name}:\n    entity: {entity}\n    provision: \"Act 147(1)\"\n"
            f"    formula: {json.dumps(formula)}\n")


def policy_text(defs: str, outputs: str = "d0", params: str = "") -> str:
    return HEADER + params + "definitions:\n" + defs + f"outputs:\n  account: [{outputs}]\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def deep_call(fn: Callable[[], Any], frames: int = CALLER_FRAMES) -> Any:
    """``fn()`` in a fresh thread (default recursion limit) ``frames`` calls deep."""
    out: dict[str, Any] = {}

    def down(n: int) -> Any:
        return fn() if n == 0 else down(n - 1)

    def target() -> None:
        try:
            out["value"] = down(frames)
        except BaseException as exc:  # reported below, whatever it is
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def evaluate(policy: Policy, **kwargs: Any) -> Any:
    return deep_call(lambda: policy.evaluate(facts_from_json(FACTS), as_of=AS_OF, **kwargs))


# --------------------------------------------------------------------------- formula depth

#: constructs nested ``n`` levels deep (names and literals are not levels; the condition
#: `balance > 0` is one), each of which type-checks as an account definition
NESTING: dict[str, Callable[[int], str]] = {
    "not": lambda n: "not " * n + "true",
    "minus": lambda n: "-" * n + "1",
    "plus": lambda n: "opened" + " + 1 day" * n,
    "coalesce": lambda n: " ?? ".join(["opened"] * (n + 1)),
    "and": lambda n: " and ".join(["balance > 0"] * n),
    "if-then": lambda n: "if balance > 0 then " * (n - 1) + "opened" + " else opened" * (n - 1),
    "if-else": lambda n: "if balance > 0 then opened else " * (n - 1) + "opened",
    "calls": lambda n: "max(" * n + "opened" + ", opened)" * n,
    "lists": lambda n: "[" * n + "1" + "]" * n,
    "records": lambda n: "{a: " * n + "1" + "}" * n,
    "comprehensions": lambda n: "[" * ((n - 1) // 2) + "e.date for e in events"
                                + "]" + " for f in [1]]" * ((n - 1) // 2 - 1),
    "attributes": lambda n: "{a: " * (n // 2) + "opened" + "}" * (n // 2) + ".a" * (n // 2),
}


@pytest.mark.parametrize("construct", sorted(NESTING))
def test_a_formula_nests_at_most_max_depth_levels(construct: str) -> None:
    text = NESTING[construct](MAX_DEPTH)
    assert MAX_DEPTH <= A.depth(parse_expression(text)) <= MAX_DEPTH + 1  # leaves: + 1
    deeper = NESTING[construct](MAX_DEPTH + 2)
    err = _syntax_error(deeper)
    if err.message != f"brackets nest more than {MAX_NESTING} deep":  # before parsing
        assert err.message == "formula is nested too deeply"
        assert err.help is not None and str(MAX_DEPTH) in err.help and "split" in err.help
        assert 0 <= err.start < err.end <= len(deeper)


def test_the_diagnostic_points_at_the_outermost_part_too_deep() -> None:
    text = "not " * (MAX_DEPTH + 5) + "a"
    err = _syntax_error(text)
    assert (err.start, err.end) == (4 * MAX_DEPTH, len(text))  # from the 101st `not` on
    err = _syntax_error("a" + " + a" * (MAX_DEPTH + 1))
    # `+` is left-associative: the deepest sum is the one on the left
    assert err.start == 0 and err.end == len("a" + " + a" * 1)


def _syntax_error(text: str) -> ExpressionSyntaxError:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse_expression(text)
    return info.value


@pytest.mark.parametrize("text", ["not " * 4_900 + "a", "-" * 19_999 + "1",
                                  "a" + ".b" * 9_000, "a" + " + a" * 4_000,
                                  "if a then " * 900 + "b" + " else c" * 900],
                         ids=["not", "minus", "attributes", "plus", "if"])
def test_any_depth_within_the_length_limit_is_refused_without_recursion(text: str) -> None:
    err = deep_call(lambda: _syntax_error(text), frames=900)
    assert err.message == "formula is nested too deeply"


def test_brackets_alone_are_not_levels() -> None:
    assert parse_expression("(" * 100 + "a" + ")" * 100) == A.Name("a")


@pytest.mark.parametrize("construct", sorted(NESTING))
def test_formulas_at_the_limit_check_and_evaluate_from_a_deep_stack(
        construct: str, tmp_path: Path) -> None:
    formula = NESTING[construct](MAX_DEPTH)
    path = write(tmp_path, policy_text(definition("d0", formula)))
    policy = deep_call(lambda: load_policy(path, root=tmp_path))
    for kwargs in ({}, {"explain": True}, {"coverage": Coverage()}):
        result = evaluate(policy, **kwargs)
        assert not result.errors, result.errors
        assert len(result.accounts) == 2


def test_a_chain_of_deep_formulas_evaluates(tmp_path: Path) -> None:
    """Each definition is as deep as allowed, with the next one at the bottom."""
    n = 40
    defs = "".join(definition(f"d{i}", f"d{i + 1}" + " + 1 day" * (MAX_DEPTH - 1))
                   for i in range(n)) + definition(f"d{n}", "opened")
    policy = deep_call(lambda: load_policy(write(tmp_path, policy_text(defs)),
                                           root=tmp_path))
    result = evaluate(policy, coverage=Coverage())
    assert not result.errors
    assert result.accounts[0]["d0"] == OPENED + dt.timedelta(days=n * (MAX_DEPTH - 1))


def test_declared_types_nest_no_deeper_than_formulas() -> None:
    assert parse_type("List[" * MAX_DEPTH + "Int" + "]" * MAX_DEPTH) is not None
    assert parse_type("List[" * 5_000 + "Int" + "]" * 5_000) is None
    assert parse_type("Date" + "?" * 5_000) is None
    assert str(parse_type(" List[ Date? ] ")) == str(parse_type("List[Date?]"))


# --------------------------------------------------------------------------- definition chains


def chain(n: int, formula: str = "{next}", last: str = "opened",
          entity: Callable[[int], str] = lambda i: "account") -> str:
    defs = "".join(definition(f"d{i}", formula.format(next=f"d{i + 1}"), entity(i))
                   for i in range(n))
    return defs + definition(f"d{n}", last, entity(n))


@pytest.mark.parametrize("n", [400, 5_000])
def test_a_long_chain_of_definitions_checks_and_evaluates(n: int, tmp_path: Path) -> None:
    path = write(tmp_path, policy_text(chain(n, "{next} + 1 day")))
    policy = deep_call(lambda: load_policy(path, root=tmp_path))
    assert policy.checked.order == [f"d{i}" for i in range(n, -1, -1)]
    for kwargs in ({}, {"coverage": Coverage()}):
        result = evaluate(policy, **kwargs)
        assert not result.errors
        assert result.accounts[0]["d0"] == OPENED + dt.timedelta(days=n)


def test_a_chain_of_definitions_explains(tmp_path: Path) -> None:
    n = 400
    policy = load_policy(write(tmp_path, policy_text(chain(n, "{next} + 1 day"))),
                         root=tmp_path)
    trace = evaluate(policy, explain=True).accounts[0].trace
    assert [t["definition"] for t in trace] == [f"d{i}" for i in range(n, -1, -1)]


def test_a_long_chain_of_definitions_explains(tmp_path: Path) -> None:
    n = 2_000
    policy = load_policy(write(tmp_path, policy_text(chain(n, "{next} + 1 day"))),
                         root=tmp_path)
    trace = evaluate(policy, explain=True).accounts[0].trace
    assert len(trace) == n + 1


def test_a_chain_written_in_either_order_checks_the_same(tmp_path: Path) -> None:
    n = 600
    defs = chain(n)
    # the same definitions, the last one first
    blocks = defs.split("  d")[1:]
    reverse = "".join("  d" + b for b in reversed(blocks))
    a = deep_call(lambda: load_policy(write(tmp_path, policy_text(defs)), root=tmp_path))
    b = deep_call(lambda: load_policy(write(tmp_path, policy_text(reverse)), root=tmp_path))
    assert a.checked.order == b.checked.order


def test_a_chain_through_member_definitions(tmp_path: Path) -> None:
    """Account definitions use member ones: a chain crosses entity instances."""
    n = 500
    defs = chain(n, entity=lambda i: "account" if i < n // 2 else "member",
                 last="latest(e.date for e in events)")
    result = evaluate(deep_call(lambda: load_policy(write(tmp_path, policy_text(defs)),
                                                    root=tmp_path)))
    assert not result.errors
    assert [a["d0"].isoformat() for a in result.accounts] == ["2020-05-01"] * 2


def test_a_failure_deep_in_a_chain_is_the_records_error(tmp_path: Path) -> None:
    n = 1_000
    defs = chain(n, "{next} + 1 day", last='if balance > 1 then opened else fail("no")')
    result = evaluate(load_policy(write(tmp_path, policy_text(defs)), root=tmp_path))
    assert [a.account_id for a in result.accounts] == ["A1"]
    assert [(e.account_id, e.message) for e in result.errors] == [("A2", f"no (in `d{n}`, "
                                                                         "Act 147(1))")]


def test_evaluation_stays_lazy_in_a_long_chain(tmp_path: Path) -> None:
    """`unused` is only in `if` branches not taken, and fails when evaluated."""
    n = 1_000
    defs = (chain(n, "{next} + (if balance < 0 then unused else 1 day)")
            + definition("unused", 'fail("never evaluated")'))
    policy = load_policy(write(tmp_path, policy_text(defs)), root=tmp_path)
    coverage = Coverage()
    result = evaluate(policy, coverage=coverage)
    assert not result.errors
    assert result.accounts[0]["d0"] == OPENED + dt.timedelta(days=n)
    assert "unused" not in coverage.evaluated and len(coverage.evaluated) == n + 1


def test_a_long_chain_under_conditions_is_evaluated_or_refused_per_record(
        tmp_path: Path) -> None:
    """Each definition is used only in an `if` branch of the one before: nothing can be
    evaluated ahead of time. Short chains evaluate; very long ones send the record to
    the errors with a message, never an exception."""
    for n, deep in ((50, False), (1_500, True)):
        defs = chain(n, "if balance > 0 then {next} else opened")
        policy = load_policy(write(tmp_path, policy_text(defs)), root=tmp_path)
        result = evaluate(policy)
        assert len(result.accounts) + len(result.errors) == 2
        if deep:
            assert result.errors[0].message.startswith(
                "the definitions used here, one within another, nest too deeply to evaluate")
        else:
            assert not result.errors


def test_a_long_cycle_is_one_diagnostic(tmp_path: Path) -> None:
    n = 2_000
    path = write(tmp_path, policy_text(chain(n, last="d0")))
    diags = deep_call(lambda: check_policy(path, root=tmp_path))
    cycles = [d for d in diags if d.code == "cycle"]
    assert len(cycles) == 1 and not [d for d in diags if d.is_error and d.code != "cycle"]
    assert cycles[0].message.startswith(f"definitions depend on each other in a cycle: `d{n}`"
                                        " -> `d0` -> `d1`")
    assert cycles[0].span is not None and cycles[0].span.line == 8 + 4 * n + 3


def test_two_cycles_are_two_diagnostics(tmp_path: Path) -> None:
    defs = (definition("d0", "a + b") + definition("a", "a2 + 1 day") + definition("a2", "a")
            + definition("b", "b2") + definition("b2", "b3") + definition("b3", "b"))
    diags = check_policy(write(tmp_path, policy_text(defs)), root=tmp_path)
    assert sorted(d.message for d in diags if d.code == "cycle") == [
        "definitions depend on each other in a cycle: `a2` -> `a` -> `a2`",
        "definitions depend on each other in a cycle: `b3` -> `b` -> `b2` -> `b3`"]


def test_a_long_chain_of_derived_parameters(tmp_path: Path) -> None:
    n = 1_000
    params = "parameters:\n" + "".join(
        f"  p{i}:\n    type: duration\n    formula: p{i + 1} + 1 day\n"
        f'    provision: "Act 147(1)"\n' for i in range(n)) + (
        f"  p{n}:\n    type: duration\n    value: 1 day\n    provision: \"Act 147(1)\"\n")
    path = write(tmp_path, policy_text(definition("d0", "opened + p0"), params=params))
    policy = deep_call(lambda: load_policy(path, root=tmp_path))
    assert list(policy.checked.derived)[:2] == [f"p{n - 1}", f"p{n - 2}"]
    assert evaluate(policy).accounts[0]["d0"] == OPENED + dt.timedelta(days=n + 1)


def test_dependency_order_reports_each_cycle_it_meets() -> None:
    uses = {"a": ["b"], "b": ["c", "a"], "c": ["c"], "d": []}
    cycles: list[list[str]] = []
    order = dependency_order(["a", "d"], uses.__getitem__, cycles.append)
    assert order == ["c", "b", "a", "d"]
    assert cycles == [["c", "c"], ["a", "b", "a"]]
    long = {str(i): [str(i + 1)] for i in range(50_000)} | {"50000": []}
    assert dependency_order(["0"], long.__getitem__)[0] == "50000"


# --------------------------------------------------------------------------- big numbers

DIGITS = "9" * 5_000


@pytest.mark.parametrize(("text", "message", "start", "end"), [
    ("opened + " + DIGITS + " days", "duration of 5000 digits is too long", 9, 5014),
    ("date(2026, " + DIGITS + " Oct)", "Oct has no day of 5000 digits", 11, 5015),
    ("x + " + DIGITS, "number is too long", 4, 5004),
], ids=["duration", "day", "integer"])
def test_numbers_longer_than_python_converts_are_diagnostics(
        text: str, message: str, start: int, end: int) -> None:
    err = _syntax_error(text)
    assert (err.message, err.start, err.end) == (message, start, end)


def test_leading_zeros_do_not_count() -> None:
    zeros = "0" * 5_000
    assert parse_literal(zeros + "7 days") == A.Literal(Duration(days=7), "duration", "7 days")
    assert parse_literal(zeros + "7 Oct") == A.Literal(MonthDay(10, 7), "month_day", "7 Oct")


def test_a_duration_just_over_the_limit_keeps_its_message() -> None:
    err = _syntax_error(f"{MAX_DURATION + 1} days")
    assert err.message == f"duration `{MAX_DURATION + 1} days` is too long"


def test_a_huge_number_in_a_policy_is_a_diagnostic_at_its_place(tmp_path: Path) -> None:
    path = write(tmp_path, policy_text(definition("d0", "opened + " + DIGITS + " years")))
    [diag] = check_policy(path, root=tmp_path)
    assert diag.code == "syntax" and "5000 digits" in diag.message
    assert diag.span is not None and (diag.span.line, diag.span.col) == (11, 24)
    assert "set_int_max_str_digits" not in diag.render()


# --------------------------------------------------------------------------- long lines


def _line_source(length: int) -> Source:
    line = "".join(chr(ord("a") + i % 26) for i in range(length))
    return Source("f.yaml", "first\n" + line + "\nlast\n")


def test_a_line_up_to_the_snippet_width_is_shown_whole() -> None:
    src = _line_source(SNIPPET_WIDTH)
    text = render_snippet(src, Span("f.yaml", 2, 150, 2, 153))
    assert text.splitlines() == ["2 | " + src.line(2), "  | " + " " * 149 + "^^^"]


def test_a_long_line_is_shown_around_its_span() -> None:
    src = _line_source(100_000)
    line = src.line(2)
    text = render_snippet(src, Span("f.yaml", 2, 50_001, 2, 50_004))
    first, carets = text.splitlines()
    shown = line[50_000 - SNIPPET_CONTEXT: 50_003 + SNIPPET_CONTEXT]
    assert first == f"2 | {ELLIPSIS} {shown} {ELLIPSIS}"
    assert carets == "  | " + " " * (len(ELLIPSIS) + 1 + SNIPPET_CONTEXT) + "^^^"


def test_a_long_span_on_a_long_line_shows_its_start() -> None:
    src = _line_source(10_000)
    first, carets = render_snippet(src, Span("f.yaml", 2, 1, 3, 2)).splitlines()
    assert first == f"2 | {src.line(2)[:2 * SNIPPET_CONTEXT]} {ELLIPSIS}"
    assert carets == "  | " + "^" * (2 * SNIPPET_CONTEXT)
    # at the end of the line, carets may go one past it, as on short lines
    first, carets = render_snippet(src, Span("f.yaml", 2, 10_000, 2, 10_002)).splitlines()
    assert first.endswith(src.line(2)[-1]) and carets.endswith(" ^^")


def test_many_diagnostics_on_one_long_line_cost_little(tmp_path: Path) -> None:
    n = 5_000
    src = _line_source(1_000_000)
    diags = [Diagnostic("bad", Span("f.yaml", 2, 1 + 50 * i, 2, 3 + 50 * i), source=src)
             for i in range(n)] * 2
    start = time.perf_counter()
    unique = _sorted(diags)
    err = PolicyError(unique)
    assert len(unique) == n
    assert len(str(err)) < 400 * (PolicyError.SHOWN + 1)
    assert str(err).endswith(f"... and {n - PolicyError.SHOWN} more")
    rendered = err.render()
    assert time.perf_counter() - start < 5
    assert rendered.count("error: bad") == n and len(rendered) < 400 * n


def test_a_policy_error_renders_lazily_and_survives_pickling() -> None:
    err = PolicyError([Diagnostic("one"), Diagnostic("two", help="do this")])
    assert str(err) == "error: one\n\nerror: two\n  help: do this"
    copy = pickle.loads(pickle.dumps(err))
    assert copy.diagnostics == err.diagnostics and str(copy) == str(err)
    assert str(PolicyError("plain")) == "error: plain"


def test_dedupe_keeps_diagnostics_that_render_differently() -> None:
    span = Span("f.yaml", 1, 1, 1, 2)
    a = Diagnostic("m", span)
    assert _sorted([a, Diagnostic("m", span), Diagnostic("m", span, help="h"),
                    Diagnostic("m", span, severity="warning")]) == [
        a, Diagnostic("m", span, help="h"), Diagnostic("m", span, severity="warning")]
