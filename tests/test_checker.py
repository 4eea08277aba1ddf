"""Diagnostics of broken policies: loader (YAML, schema, parameters, extends) and checker
(names, types, cycles, citations, unused parts).

Every fixture under tests/policies/ is a small self-contained policy; its rendered
diagnostics are kept in tests/golden/diagnostics/<name>.txt (rewrite them with
``pytest --update-golden``). The tests per kind of diagnostic assert the position, the
caret, the definition, the provision and the hint. Expected lines and columns are
counted by hand from the fixture text; ``file_text`` re-reads the fixture at those
columns, so a miscounted constant fails loudly instead of agreeing with the code.

Tests marked ``xfail(strict=True, reason="BUG: ...")`` show known bugs: each asserts the
behaviour that is expected once the bug is fixed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from evaluator import (
    Diagnostic,
    PolicyError,
    PolicyLoadError,
    PolicyTypeError,
    check_policy,
    load_policy,
)
from evaluator.facts import facts_from_json
from evaluator.source import Span
from evaluator.values import Duration
from tests.support import ROOT

POLICIES = ROOT / "tests" / "policies"
GOLDEN = ROOT / "tests" / "golden" / "diagnostics"
FIXTURES = sorted(p.stem for p in POLICIES.glob("*.yaml"))
ERROR_FIXTURES = [
    "bad-parameter-value", "chained-comparison", "cycle", "declared-type", "duplicate-key",
    "extends-bad-override", "extends-cycle-a", "extends-cycle-b", "extends-missing",
    "extends-retype", "if-branches", "knock-on", "malformed-yaml", "misc-checker", "misc-loader",
    "no-provision", "null-tested-call", "optional-without-default", "scalar-styles",
    "syntax-error",
    "three-errors", "type-error", "unknown-attribute", "unknown-function", "unknown-key",
    "unknown-name", "unknown-provision",
]
CLEAN_FIXTURES = ["extends-base", "extends-ok-override", "unused"]


@pytest.fixture(autouse=True)
def _repo_root_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    """Diagnostics name files relative to the working directory: run from the repo root."""
    monkeypatch.chdir(ROOT)


# --------------------------------------------------------------------------- helpers


def rel(name: str) -> str:
    return f"tests/policies/{name}.yaml"


def diagnose(name: str) -> list[Diagnostic]:
    return check_policy(rel(name))


def rendered(diags: list[Diagnostic]) -> str:
    text = "\n\n".join(d.render() for d in diags)
    # `extends` messages name the policies root with its absolute path (see
    # test_extends_messages_have_no_absolute_paths); keep the golden files portable
    return text.replace(str(POLICIES.resolve()), "<policies>")


def errors(diags: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diags if d.severity == "error"]


def warnings(diags: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diags if d.severity == "warning"]


def only(diags: list[Diagnostic]) -> Diagnostic:
    assert len(diags) == 1, rendered(diags)
    return diags[0]


def file_text(name: str, line: int, col: int, end_col: int) -> str:
    """Characters of the fixture on 1-based ``line`` between 1-based columns, read
    independently of the evaluator."""
    lines = (POLICIES / f"{name}.yaml").read_text(encoding="utf-8").split("\n")
    return lines[line - 1][col - 1 : end_col - 1]


def source_line(name: str, line: int) -> str:
    return (POLICIES / f"{name}.yaml").read_text(encoding="utf-8").split("\n")[line - 1]


def assert_caret(d: Diagnostic, line_text: str, col: int, width: int) -> None:
    """The rendered snippet shows ``line_text`` and ``width`` carets from ``col`` (ASCII)."""
    assert d.span is not None
    number = str(d.span.line)
    shown = d.render().splitlines()
    at = shown.index(f"{number} | {line_text}")
    assert shown[at + 1] == f"{' ' * len(number)} | {' ' * (col - 1)}{'^' * width}"


def assert_diag(d: Diagnostic, name: str, line: int, col: int, end_col: int, *,
                message: str, where: str | None, provision: str | None, help: str | None,
                severity: str = "error", code: str | None = None,
                end_line: int | None = None) -> None:
    assert d.span == Span(rel(name), line, col, end_line or line, end_col), d.render()
    assert d.message == message
    assert d.where == where
    assert d.provision == provision
    assert d.help == help
    assert d.severity == severity
    if code is not None:
        assert d.code == code
    first = f"{rel(name)}:{line}:{col}: {severity}: {message}"
    assert d.render().splitlines()[0] == first


# --------------------------------------------------------------------------- golden files


@pytest.mark.parametrize("name", FIXTURES)
def test_golden_diagnostics(name: str, update_golden: bool) -> None:
    text = rendered(diagnose(name)) + "\n"
    golden = GOLDEN / f"{name}.txt"
    if update_golden:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
        return
    assert golden.is_file(), f"no golden file {golden}: run `pytest --update-golden`"
    assert text == golden.read_text(encoding="utf-8")


def test_every_golden_file_has_a_fixture() -> None:
    stale = sorted(p.stem for p in GOLDEN.glob("*.txt") if p.stem not in FIXTURES)
    assert stale == []


def test_fixture_lists_are_complete() -> None:
    assert sorted(ERROR_FIXTURES + CLEAN_FIXTURES) == FIXTURES


@pytest.mark.parametrize("name", FIXTURES)
def test_diagnostics_are_sorted_by_position(name: str) -> None:
    spans = [d.span for d in diagnose(name) if d.span is not None]
    keys = [(s.file, s.line, s.col) for s in spans]
    assert keys == sorted(keys)


@pytest.mark.parametrize("name", ERROR_FIXTURES)
def test_load_policy_raises_with_the_same_diagnostics(name: str) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(rel(name))
    assert info.value.diagnostics == diagnose(name)
    assert any(d.is_error for d in info.value.diagnostics)
    assert str(info.value) == "\n\n".join(d.render() for d in info.value.diagnostics)


@pytest.mark.parametrize("name", CLEAN_FIXTURES)
def test_load_policy_keeps_warnings_of_a_usable_policy(name: str) -> None:
    policy = load_policy(rel(name))
    assert policy.warnings == diagnose(name)
    assert not any(d.is_error for d in policy.warnings)


# --------------------------------------------------------------------------- names


def test_unknown_name_suggests_the_near_name() -> None:
    diags = diagnose("unknown-name")
    d = only(errors(diags))
    assert_diag(d, "unknown-name", 21, 30, 45, code="name",
                message="unknown name `unclaimed_perod`",
                where="definition `unclaimed_on`", provision="Act 147(1)",
                help="did you mean `unclaimed_period`?")
    assert file_text("unknown-name", 21, 30, 45) == "unclaimed_perod"
    assert_caret(d, "    formula: last_activity + unclaimed_perod", 30, 15)
    assert d.render().splitlines()[1] == "  in definition `unclaimed_on` (Act 147(1))"
    assert d.render().splitlines()[-1] == "  help: did you mean `unclaimed_period`?"
    # the misspelt reference leaves the parameter unused
    w = only(warnings(diags))
    assert w.message == "parameter `unclaimed_period` is never used"
    assert w.span is not None and (w.span.line, w.span.col) == (10, 5)


def test_unknown_name_as_json() -> None:
    d = only(errors(diagnose("unknown-name")))
    assert d.to_json() == {
        "severity": "error", "code": "name", "message": "unknown name `unclaimed_perod`",
        "file": rel("unknown-name"), "line": 21, "col": 30, "end_line": 21, "end_col": 45,
        "where": "definition `unclaimed_on`", "provision": "Act 147(1)",
        "help": "did you mean `unclaimed_period`?",
    }


def test_unknown_attribute_of_an_entity() -> None:
    event_field, member_field = errors(diagnose("unknown-attribute"))
    assert_diag(event_field, "unknown-attribute", 12, 21, 26, code="name",
                message="unknown field of event `dte`",
                where="definition `last_transaction`", provision="Act 147(1)",
                help="did you mean `date`?")
    assert file_text("unknown-attribute", 12, 21, 26) == "e.dte"
    assert_caret(event_field,
                 '    formula: latest(e.dte for e in events if e.type == "transaction")', 21, 5)
    assert_diag(member_field, "unknown-attribute", 16, 14, 31, code="name",
                message="unknown field of member `member_idd`",
                where="definition `owner`", provision="Act 147(1)",
                help="did you mean `member_id`?")
    assert file_text("unknown-attribute", 16, 14, 31) == "member.member_idd"
    assert_caret(member_field, "    formula: member.member_idd", 14, 17)


def test_unknown_function_suggests_the_builtin() -> None:
    d = only(diagnose("unknown-function"))
    assert_diag(d, "unknown-function", 12, 14, 21, code="name",
                message="unknown function `lastest`",
                where="definition `last_transaction`", provision="Act 147(1)",
                help="did you mean `latest`?")
    assert file_text("unknown-function", 12, 14, 21) == "lastest"


def test_unknown_function_caret_is_under_the_name_only() -> None:
    d = only(diagnose("unknown-function"))
    assert d.span == Span(rel("unknown-function"), 12, 14, 12, 21)
    assert file_text("unknown-function", 12, 14, 21) == "lastest"


# --------------------------------------------------------------------------- types


def test_type_error_cannot_add_duration_to_money() -> None:
    d = only(diagnose("type-error"))
    assert_diag(d, "type-error", 21, 14, 40, code="type",
                message="cannot add `Duration` to `Money`",
                where="definition `unclaimed_on`", provision="Act 147(1)",
                help="did you mean `last_activity + unclaimed_period`?")
    assert file_text("type-error", 21, 14, 40) == "balance + unclaimed_period"
    assert_caret(d, "    formula: balance + unclaimed_period", 14, 26)
    # the format of the architecture guide, line for line
    assert d.render() == "\n".join([
        "tests/policies/type-error.yaml:21:14: error: cannot add `Duration` to `Money`",
        "  in definition `unclaimed_on` (Act 147(1))",
        "21 |     formula: balance + unclaimed_period",
        "   |              ^^^^^^^^^^^^^^^^^^^^^^^^^^",
        "  help: did you mean `last_activity + unclaimed_period`?",
    ])


def test_type_error_hint_does_not_depend_on_definition_order(tmp_path: Path) -> None:
    text = (POLICIES / "type-error.yaml").read_text(encoding="utf-8")
    head, defs = text.split("definitions:\n")
    defs, tail = defs.split("outputs:\n")
    first, second = defs.split("  unclaimed_on:\n")
    swapped = tmp_path / "type-error-swapped.yaml"
    swapped.write_text(f"{head}definitions:\n  unclaimed_on:\n{second}{first}outputs:\n{tail}",
                       encoding="utf-8")
    d = only(check_policy(swapped))
    assert d.message == "cannot add `Duration` to `Money`"
    assert d.help == "did you mean `last_activity + unclaimed_period`?"


def test_optional_value_used_without_a_default() -> None:
    d = only(diagnose("optional-without-default"))
    assert_diag(d, "optional-without-default", 17, 14, 30, code="type",
                message="`last_transaction` may be null",
                where="definition `inactive_on`", provision="2(1)",
                help="give a default with `??` or test `!= null` first")
    assert file_text("optional-without-default", 17, 14, 30) == "last_transaction"
    assert_caret(d, "    formula: last_transaction + 2 years", 14, 16)


def test_wrong_declared_type() -> None:
    d = only(diagnose("declared-type"))
    assert d.span == Span(rel("declared-type"), 13, 14, 13, 21)
    assert d.message == "formula is `Money` but the definition declares `Date`"
    assert (d.where, d.provision) == ("definition `unclaimed_on`", "Act 147(1)")
    assert file_text("declared-type", 13, 14, 21) == "balance"
    assert_caret(d, "    formula: balance", 14, 7)


def test_wrong_declared_type_has_a_hint() -> None:
    d = only(diagnose("declared-type"))
    assert d.help is not None


def test_if_branches_with_different_types() -> None:
    d = only(diagnose("if-branches"))
    formula = 'if balance > 0 then opened else "never"'
    assert_diag(d, "if-branches", 12, 14, 14 + len(formula), code="type",
                message="the branches have different types: `Date` and `Text`",
                where="definition `payable_from`", provision="Act 147(1)",
                help="both branches of `if` must give the same type")
    assert file_text("if-branches", 12, 14, 53) == formula
    assert_caret(d, f"    formula: {formula}", 14, 39)


# --------------------------------------------------------------------------- knock-on errors

#: a policy of one account definition `root` with a mistake, and `dependent`, which uses it
#: in a way that is wrong only because of the mistake
_KNOCK_ON_POLICY = """\
policy: knock-on
version: 1.0.0
status: proposed
title: knock-on
provisions:
  "2(1)": {{text: inactive}}
parameters:
  rate: {{type: percent, value: 2%, provision: "2(1)"}}
definitions:
  last_transaction:
    entity: account
    provision: "2(1)"
    formula: latest(e.date for e in events if e.type == "transaction")
  root:
    entity: account
    provision: "2(1)"
    formula: >-
      {root}
  dependent:
    entity: account
    provision: "2(1)"
    formula: >-
      {dependent}
outputs:
  account: [dependent]
"""

#: (root formula, formula depending on it, the one message expected)
KNOCK_ON_CASES = {
    # the case: a branch in error, joined with the other branch, was `Number`
    "null-argument-in-a-branch": (
        'if balance > 0 then accrued_interest(balance, rate, last_transaction, as_of, '
        '"simple", 10 years) else 0.0',
        "balance + root",
        "argument 3 of `accrued_interest` may be null"),
    "unknown-function-in-a-branch": (
        "if balance > 0 then lastest([opened]) else 3", "root + 1 years",
        "unknown function `lastest`"),
    "sum-of-an-unknown-field": (
        'sum(e.amont for e in events if e.type == "fee")', "balance - root",
        "unknown field of event `amont`"),
    "unknown-name-in-a-record": (
        "{opens: opened + unclaimed_perod, closes: opened}",
        "days_between(root.opens, root.closes) > 30 and root.opens < as_of",
        "unknown name `unclaimed_perod`"),
    "wrong-argument-in-a-list": (
        "[opened, as_of, year(currency)]", "(first(root) ?? opened) + 1 years",
        "argument 1 of `year` must be `Date`, not `Text`"),
    "mixed-list": (
        '[opened, "never"]', "count(d for d in root if d > as_of)",
        "list mixes `Date` and `Text`"),
    "branches-of-different-types": (
        'if balance > 0 then opened else "never"', "if root < as_of then root else as_of",
        "the branches have different types: `Date` and `Text`"),
    "default-that-does-not-fit": (
        'last_transaction ?? "never"', "year(root) > 2000 and not (root == null)",
        "default `Text` does not fit `Date`"),
    "negated-text": ("-currency", "root * 2 > balance", "cannot negate `Text`"),
    "field-of-text": ("currency.code", "root in [\"CAD\"] or root + 1 > 2",
                      "`Text` has no fields"),
}


@pytest.mark.parametrize("case", sorted(KNOCK_ON_CASES))
def test_a_mistake_is_reported_once_not_again_by_what_depends_on_it(
        case: str, tmp_path: Path) -> None:
    root, dependent, message = KNOCK_ON_CASES[case]
    path = tmp_path / "policy.yaml"
    path.write_text(_KNOCK_ON_POLICY.format(root=root, dependent=dependent),
                    encoding="utf-8")
    d = only(errors(check_policy(path)))
    assert d.message == message
    assert d.where == "definition `root`"


def test_a_dependent_still_reports_its_own_mistake(tmp_path: Path) -> None:
    """Silencing what depends on a mistake does not silence an unrelated one beside it."""
    root, _, message = KNOCK_ON_CASES["null-argument-in-a-branch"]
    path = tmp_path / "policy.yaml"
    path.write_text(_KNOCK_ON_POLICY.format(
        root=root, dependent="if root > balance then opened + 1 else as_of"),
        encoding="utf-8")
    found = [(d.where, d.message) for d in errors(check_policy(path))]
    assert found == [("definition `root`", message),
                     ("definition `dependent`", "cannot add `Int` to `Date`")]


def test_knock_on_fixture_reports_each_root_mistake_once() -> None:
    found = [(d.where, d.message) for d in errors(diagnose("knock-on"))]
    assert found == [
        ("definition `interest`", "argument 3 of `accrued_interest` may be null"),
        ("definition `fees`", "unknown field of event `amont`"),
        ("definition `due`", "unknown function `lastest`"),
        ("definition `window`", "unknown name `unclaimed_perod`"),
        ("definition `mixed`", "argument 1 of `year` must be `Date`, not `Text`"),
    ]


def test_a_call_tested_with_not_null_gets_the_only_names_narrow_hint() -> None:
    diags = errors(diagnose("null-tested-call"))
    assert [(d.where, d.message) for d in diags] == [
        ("definition `first_date`", "`first(events)` may be null, so `.date` may fail"),
        ("definition `last_year`", "argument 1 of `year` may be null"),
        ("definition `last_plus`", "`latest(e.date for e in events)` may be null"),
    ]
    calls = ["first(events)", "latest(e.date for e in events)",
             "latest(e.date for e in events)"]
    for d, call in zip(diags, calls, strict=True):
        assert d.help == (
            f"only names narrow: testing `{call}` with `!= null` does not carry over to this "
            f"use (a call is computed again); make `{call}` a definition and test that name, "
            "or give a default with `??`")
    # the caret is under the second use of the call, not the tested one
    first = diags[0]
    assert first.span is not None
    line = source_line("null-tested-call", first.span.line)
    assert line[first.span.col - 1:].startswith("first(events).date")


def test_an_untested_call_keeps_the_ordinary_null_hint(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(_KNOCK_ON_POLICY.format(
        root="year(latest(e.date for e in events))", dependent="root + 1"),
        encoding="utf-8")
    d = only(errors(check_policy(path)))
    assert d.message == "argument 1 of `year` may be null"
    assert d.help == "give a default with `??` or test it with `!= null` first"


# --------------------------------------------------------------------------- syntax


def test_comparisons_do_not_chain() -> None:
    d = only(diagnose("chained-comparison"))
    assert_diag(d, "chained-comparison", 12, 30, 31, code="syntax",
                message="unexpected `<`", where="definition `in_period`", provision="2(1)",
                help="comparisons do not chain: write `a < b and b < c`")
    assert file_text("chained-comparison", 12, 30, 31) == "<"
    assert_caret(d, "    formula: opened <= as_of < 2030-01-01", 30, 1)


def test_syntax_error() -> None:
    d = only(diagnose("syntax-error"))
    assert_diag(d, "syntax-error", 12, 26, 27, code="syntax",
                message="unexpected character `=`", where="definition `is_cad`",
                provision="2(1)", help="compare with `==`")
    assert file_text("syntax-error", 12, 26, 27) == "="
    assert_caret(d, '    formula: if currency = "CAD" then true else false', 26, 1)


def test_syntax_error_raises_policy_error() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(rel("syntax-error"))
    assert [d.code for d in info.value.diagnostics] == ["syntax"]


# --------------------------------------------------------------------------- structure


def test_cycle_between_two_definitions() -> None:
    d = only(diagnose("cycle"))
    # reported at the reference that closes the cycle, the path starting from its definition
    assert_diag(d, "cycle", 17, 14, 25, code="cycle",
                message="definitions depend on each other in a cycle: "
                        "`unclaimed_on` -> `inactive_on` -> `unclaimed_on`",
                where="definition `unclaimed_on`", provision="Act 147(1)",
                help="a definition cannot use itself, even through others; break the cycle "
                     "with a parameter or a separate definition")
    assert file_text("cycle", 17, 14, 25) == "inactive_on"
    assert_caret(d, "    formula: inactive_on + 8 years", 14, 11)
    with pytest.raises(PolicyTypeError):
        load_policy(rel("cycle"))


def test_definition_without_a_provision() -> None:
    d = only(diagnose("no-provision"))
    # the span is the definition's body, from its first key to the end of the formula
    assert_diag(d, "no-provision", 10, 5, 20, end_line=11, code="provision",
                message="definition `last_activity` cites no provision",
                where="definition `last_activity`", provision=None,
                help="add `provision:` with the subsection it encodes, e.g. `2(5)(i)`, or an "
                     "interpretation id such as `A4`")
    assert file_text("no-provision", 10, 5, 20) == "entity: account"
    assert_caret(d, "    entity: account", 5, 15)


def test_unknown_provision_citation_suggests_the_declared_one() -> None:
    d = only(diagnose("unknown-provision"))
    assert d.message == "`2(2)` is not a provision or interpretation this policy declares"
    assert d.where == "definition `inactive_on`"
    assert d.help == "did you mean `2(1)`?"
    assert d.code == "provision"
    assert d.span is not None and d.span.file == rel("unknown-provision")
    # the interpretation `A3` of the same citation is declared: no diagnostic for it
    assert "A3" not in d.render().splitlines()[0]


def test_unknown_provision_citation_points_at_the_citation() -> None:
    d = only(diagnose("unknown-provision"))
    assert file_text("unknown-provision", 13, 17, 21) == "2(2)"
    assert d.span is not None
    assert (d.span.line, d.span.col) == (13, 17)
    assert_caret(d, '    provision: "2(2); A3"', 17, 4)


def test_unused_parameter_and_definition_are_warnings() -> None:
    diags = diagnose("unused")
    assert errors(diags) == []
    param, definition = diags
    assert_diag(param, "unused", 11, 5, 22, end_line=13, severity="warning", code="unused",
                message="parameter `inactivity_period` is never used",
                where="parameter `inactivity_period`", provision="2(1)",
                help="no output depends on it; remove it or use it in a formula")
    assert_caret(param, "    type: duration", 5, 14)
    assert_diag(definition, "unused", 20, 5, 47, end_line=22, severity="warning",
                code="unused", message="definition `inactive_on` is never used",
                where="definition `inactive_on`", provision="2(1)",
                help="no output depends on it; remove it or use it")
    assert_caret(definition, "    entity: account", 5, 15)
    # warnings do not stop the policy from loading
    policy = load_policy(rel("unused"))
    assert [w.message for w in policy.warnings] == [param.message, definition.message]


# --------------------------------------------------------------------------- YAML and schema


def test_duplicate_yaml_key() -> None:
    d = only(diagnose("duplicate-key"))
    assert_diag(d, "duplicate-key", 13, 5, 12, code="yaml",
                message="duplicate key `formula`", where="definition `last_activity`",
                provision=None,
                help="a later value would silently replace the earlier one; keep one")
    assert file_text("duplicate-key", 13, 5, 12) == "formula"
    assert_caret(d, "    formula: as_of", 5, 7)
    with pytest.raises(PolicyLoadError):
        load_policy(rel("duplicate-key"))


def test_duplicate_yaml_key_names_the_definition() -> None:
    d = only(diagnose("duplicate-key"))
    assert d.where == "definition `last_activity`"


def test_unknown_key_in_a_definition_suggests_formula() -> None:
    diags = diagnose("unknown-key")
    unknown = [d for d in diags if d.message.startswith("unknown key")]
    d = only(unknown)
    assert_diag(d, "unknown-key", 12, 5, 12, code="schema",
                message="unknown key `fromula` in definitions.last_activity",
                where=None, provision=None, help="did you mean `formula`?")
    assert file_text("unknown-key", 12, 5, 12) == "fromula"
    assert_caret(d, "    fromula: opened", 5, 7)
    missing = [d for d in diags if d.message.startswith("missing key")]
    assert [(m.message, m.span.line if m.span else 0) for m in missing] == [
        ("missing key `formula` in definitions.last_activity", 10)]


def test_unknown_key_has_no_cascade_and_every_span_has_a_snippet() -> None:
    diags = diagnose("unknown-key")
    assert all(d.source is not None for d in diags if d.span is not None)
    assert not [d for d in diags if "is not a definition" in d.message]


def test_wrong_parameter_value_for_its_type() -> None:
    d = only(diagnose("bad-parameter-value"))
    assert_diag(d, "bad-parameter-value", 11, 12, 20, code="parameter",
                message="`10 yeers` is not a duration: unexpected `yeers`",
                where="parameter `unclaimed_period`", provision="Act 147(1)",
                help="write durations such as `2 years`, `12 months`, `120 days`")
    assert file_text("bad-parameter-value", 11, 12, 20) == "10 yeers"
    assert_caret(d, "    value: 10 yeers", 12, 8)


def test_malformed_yaml_is_one_diagnostic() -> None:
    d = only(diagnose("malformed-yaml"))
    assert d.code == "yaml"
    assert d.message.startswith("malformed YAML: ")
    assert d.help == "check indentation, colons and quotes near this point"


def test_loader_refuses_aliases_tags_and_bad_schema_values() -> None:
    diags = diagnose("misc-loader")
    messages = [d.message for d in diags]
    assert "`draft` is not allowed for `status`" in messages
    assert "`1.0` is not a valid value for `version`" in messages
    assert "aliases (`*shared`) are not allowed in policies" in messages
    assert ("YAML tag `tag:yaml.org,2002:python/name:os.system` is not allowed in policies"
            in messages)
    assert "parameter `no_type` has no `type`" in messages
    assert "`5` is not a percentage; write it with `%`, e.g. `5%`" in messages
    assert "row 2 of `windows` has no value for column `closes`" in messages
    assert "column `closes` of row 3: `31 Feb` is not a month-day: Feb has no day 31" in messages
    assert ("row 3 of `windows` has a column `extra` that the table does not declare"
            in messages)


def _line_of(name: str, text: str) -> int:
    lines = (POLICIES / f"{name}.yaml").read_text(encoding="utf-8").split("\n")
    return lines.index(text) + 1


def test_bad_parameter_name_points_at_the_name() -> None:
    line = _line_of("misc-loader", "  Bad_Name:")
    d = only([d for d in diagnose("misc-loader") if "Bad_Name" in d.message
              and d.severity == "error"])
    assert d.span is not None and (d.span.line, d.span.col) == (line, 3)


def test_alias_is_reported_where_it_is_written() -> None:
    line = _line_of("misc-loader", "  copied: *shared")
    diags = diagnose("misc-loader")
    assert any(d.span is not None and d.span.line == line for d in diags)
    assert not [d for d in diags if d.message == "`parameters.copied` must be a mapping"]


def test_unknown_entity_is_reported_once() -> None:
    line = _line_of("misc-loader", "    entity: household")
    at = [d for d in diagnose("misc-loader") if d.span is not None and d.span.line == line]
    assert len(at) == 1


def test_messages_use_an_before_vowels() -> None:
    texts = [d.message for name in ("misc-checker", "misc-loader", "extends-retype")
             for d in diagnose(name)]
    assert not [t for t in texts if " a account" in t or " a integer" in t]


def test_formula_that_yaml_reads_as_a_number_or_bool(tmp_path: Path) -> None:
    policy = tmp_path / "literal-formulas.yaml"
    policy.write_text(
        "policy: literal-formulas\nversion: 1.0.0\nstatus: proposed\ntitle: t\n"
        "provisions:\n  \"2(1)\": {text: x}\n"
        "definitions:\n"
        "  always:\n    entity: account\n    provision: \"2(1)\"\n    formula: true\n"
        "  zero:\n    entity: account\n    provision: \"2(1)\"\n    formula: 0\n"
        "outputs:\n  account: [always, zero]\n", encoding="utf-8")
    assert errors(check_policy(policy)) == []


# --------------------------------------------------------------------------- scalar styles

#: definition -> (line, col) of `unclaimed_perod` in tests/policies/scalar-styles.yaml and
#: the source line shown. Counted by hand: `    formula: ` is 13 characters; in the
#: one-line styles the name follows `if currency == "CAD" then last_activity + ` (42
#: characters of the value) plus what the quoting adds before it.
SCALAR_STYLES = {
    # 14 + 42
    "plain": (26, 56, '    formula: if currency == "CAD" then last_activity + unclaimed_perod '
                      "else last_activity"),
    # 14 + 1 (opening quote) + 42 + 2 (each `''` is one `'` of the value)
    "single_quoted": (30, 59, "    formula: 'if currency == ''CAD'' then last_activity + "
                              "unclaimed_perod else last_activity'"),
    # 14 + 1 (quote) + 42 + 2 (`\"` twice) + 1 (`\t` is two characters for one)
    "double_quoted": (34, 60, '    formula: "if currency == \\"CAD\\"\\tthen last_activity + '
                              'unclaimed_perod else last_activity"'),
    # the 2nd line of the block: 6 spaces of indentation + `then last_activity + `
    "literal_block": (40, 28, "      then last_activity + unclaimed_perod"),
    # 3rd line of a folded block, more indented: 8 spaces + `+ `
    "folded_block": (48, 11, "        + unclaimed_perod"),
    # continuation line of a plain scalar
    "plain_multiline": (54, 28, "      then last_activity + unclaimed_perod"),
    # after an escaped line break: 6 spaces + `\ `
    "double_quoted_multiline": (61, 9, '      \\ unclaimed_perod else last_activity"'),
    # 14 + `"format(` 8 + `\"caf` 5 + `\u00e9` 6 + ` {}` 3 + `\", ` 4
    "double_quoted_escape": (65, 40, '    formula: "format(\\"caf\\u00e9 {}\\", '
                                     'unclaimed_perod)"'),
}


@pytest.mark.parametrize("definition", sorted(SCALAR_STYLES))
def test_caret_lands_under_the_error_in_every_scalar_style(definition: str) -> None:
    line, col, text = SCALAR_STYLES[definition]
    assert source_line("scalar-styles", line) == text
    assert file_text("scalar-styles", line, col, col + 15) == "unclaimed_perod"
    d = only([d for d in diagnose("scalar-styles") if d.where == f"definition `{definition}`"])
    assert_diag(d, "scalar-styles", line, col, col + 15, code="name",
                message="unknown name `unclaimed_perod`",
                where=f"definition `{definition}`", provision="Act 147(1)",
                help="did you mean `unclaimed_period`?")
    assert_caret(d, text, col, 15)


def test_caret_under_wide_characters() -> None:
    # `    formula: format("` is 21 characters, then 日本 (two characters, each two
    # columns wide), ` {}", ` (6): the name is character 30 but display column 32
    line, col = 69, 30
    assert file_text("scalar-styles", line, col, col + 15) == "unclaimed_perod"
    d = only([d for d in diagnose("scalar-styles")
              if d.where == "definition `wide_characters`"])
    assert d.span == Span(rel("scalar-styles"), line, col, line, col + 15)
    shown = d.render().splitlines()
    at = shown.index('69 |     formula: format("日本 {}", unclaimed_perod)')
    assert shown[at + 1] == "   | " + " " * 31 + "^" * 15


def test_scalar_styles_report_every_definition_in_file_order() -> None:
    diags = diagnose("scalar-styles")
    assert [d.where for d in diags] == [f"definition `{n}`" for n in (
        "plain", "single_quoted", "double_quoted", "literal_block", "folded_block",
        "plain_multiline", "double_quoted_multiline", "double_quoted_escape",
        "wide_characters")]


# --------------------------------------------------------------------------- all at once


def test_three_independent_errors_are_reported_together_in_file_order() -> None:
    diags = diagnose("three-errors")
    assert len(diags) == 3
    name, money, function = diags
    assert_diag(name, "three-errors", 20, 29, 44, code="name",
                message="unknown name `unclaimed_perod`", where="definition `inactive_on`",
                provision="2(1)", help="did you mean `unclaimed_period`?")
    assert_diag(money, "three-errors", 24, 14, 31, code="type",
                message="cannot add `Duration` to `Money`", where="definition `notice_due`",
                provision="2(2)", help="a duration is added to a date")
    assert_diag(function, "three-errors", 28, 14, 21, code="name",
                message="unknown function `lastest`", where="definition `unclaimed_on`",
                provision="Act 147(1)", help="did you mean `latest`?")
    assert file_text("three-errors", 20, 29, 44) == "unclaimed_perod"
    assert file_text("three-errors", 24, 14, 31) == "balance + 2 years"
    assert file_text("three-errors", 28, 14, 21) == "lastest"
    with pytest.raises(PolicyTypeError) as info:
        load_policy(rel("three-errors"))
    assert info.value.diagnostics == diags


# --------------------------------------------------------------------------- extends


def test_extends_a_missing_policy() -> None:
    d = only(diagnose("extends-missing"))
    assert_diag(d, "extends-missing", 6, 10, 35, code="extends",
                message="`extends: checker-extend-base@1.0.0`: no such policy under "
                        "tests/policies",
                where=None, provision=None, help="did you mean `checker-extends-base@1.0.0`?")
    assert file_text("extends-missing", 6, 10, 35) == "checker-extend-base@1.0.0"
    assert_caret(d, "extends: checker-extend-base@1.0.0", 10, 25)


def test_extends_messages_have_no_absolute_paths() -> None:
    d = only(diagnose("extends-missing"))
    assert str(ROOT) not in d.message


def test_extends_cycle() -> None:
    d = only(diagnose("extends-cycle-a"))
    assert d.code == "extends"
    assert d.span is not None and d.span.file == rel("extends-cycle-b")
    assert d.message.startswith("`extends` cycle: ")


def test_extends_cycle_names_every_policy_in_it() -> None:
    d = only(diagnose("extends-cycle-a"))
    a, b = rel("extends-cycle-a"), rel("extends-cycle-b")
    assert d.message == f"`extends` cycle: {a} -> {b} -> {a}"


def test_extends_override_cannot_change_a_parameter_type() -> None:
    d = only(diagnose("extends-retype"))
    assert d.span == Span(rel("extends-retype"), 9, 11, 9, 18)
    assert d.where == "parameter `unclaimed_period`"
    assert d.message.startswith("parameter `unclaimed_period` is a duration in "
                                "checker-extends-base@1.0.0; an override cannot make it")


def test_extends_override_with_a_type_error_points_into_the_child() -> None:
    d = only(diagnose("extends-bad-override"))
    # the provision and the suggestion come from the parent, the position from the child
    assert_diag(d, "extends-bad-override", 9, 14, 40, code="type",
                message="cannot add `Duration` to `Money`",
                where="definition `unclaimed_on`", provision="Act 147(1)",
                help="did you mean `last_activity + unclaimed_period`?")
    assert file_text("extends-bad-override", 9, 14, 40) == "balance + unclaimed_period"
    assert_caret(d, "    formula: balance + unclaimed_period", 14, 26)
    assert d.source is not None and d.source.path == rel("extends-bad-override")


def test_extends_override_of_a_parameter_value() -> None:
    assert diagnose("extends-ok-override") == []
    policy = load_policy(rel("extends-ok-override"))
    doc = policy.document
    assert doc.chain == ("checker-extends-base@1.0.0", "checker-extends-ok-override@1.0.0")
    assert doc.files == (rel("extends-base"), rel("extends-ok-override"))
    period = doc.parameters["unclaimed_period"]
    assert period.value == Duration(months=60)
    assert period.set_by == "checker-extends-ok-override@1.0.0"
    assert period.provision == "Act 147(1)"  # inherited with the type
    assert period.span == Span(rel("extends-ok-override"), 9, 12, 9, 19)
    # the definitions come from the parent, unchanged
    assert doc.definitions["unclaimed_on"].defined_in == "checker-extends-base@1.0.0"
    base = load_policy(rel("extends-base")).document.parameters["unclaimed_period"]
    assert (base.value, base.set_by) == (Duration(months=120), "checker-extends-base@1.0.0")
    # evaluation uses the child's value and the trace says who set it
    facts = facts_from_json({"members": [{
        "member_id": "M1", "events": [],
        "accounts": [{"account_id": "A1", "currency": "CAD", "balance": "1.00",
                      "opened": "2016-02-29"}]}]})
    result = policy.evaluate(facts, as_of="2024-01-01", explain=True)
    det = result.accounts[0]
    assert det["unclaimed_on"] == dt.date(2021, 2, 28)
    assert det.trace is not None
    assert {"parameter": "unclaimed_period", "value": "5 years", "provision": "Act 147(1)",
            "set_by": "checker-extends-ok-override@1.0.0"} in det.trace


# --------------------------------------------------------------------------- other checks


def test_misc_checker_diagnostics_carry_definition_and_provision() -> None:
    diags = diagnose("misc-checker")
    by_where = {d.where: d for d in diags if d.where and d.where.startswith("definition")}
    expected = {
        "function_as_name": "`latest` is a function",
        "account_def_in_member": "`last_transaction` is an account definition and cannot be "
                                 "used directly in a member definition",
        "useless_default": "`opened` is never null, so `??` has no effect",
        "default_does_not_fit": "default `Text` does not fit `Date`",
        "compare_text_int": "cannot compare `Text` with `Int`",
        "order_nullable": "cannot order `Date?` and `Date`: a value may be null",
        "in_text": "`in` needs a list on its right, not `Text`",
        "mixed_list": "list mixes `Date` and `Int`",
        "over_text": "cannot go through `Text`: it is not a list",
        "hides_parameter": "`unclaimed_period` hides the definition or parameter of the "
                           "same name",
        "too_many_arguments": "`year` takes 1 argument, got 2",
        "wrong_argument": "argument 1 of `year` must be `Date`, not `Text`",
        "nullable_argument": "argument 1 of `year` may be null",
        "placeholders": "the template has 2 `{}` but 1 value follows",
        "always_true": "condition is always true; one branch can never be taken",
        "negate_text": "cannot negate `Text`",
        "not_text": "`not` needs a Bool, not `Text`",
        "field_of_optional": "`first(events)` may be null, so `.date` may fail",
        "field_of_text": "`Text` has no fields",
        "unknown_declared_type": "unknown type `Datum`",
        "currency": "definition `currency` has the same name as a field of account",
        "subtract_dates": "cannot subtract `Date` from `Date`",
        "month_day_vs_date": "cannot compare `Date` with `MonthDay`",
    }
    assert {w[len("definition `"):-1]: d.message for w, d in by_where.items()} == expected
    assert all(d.provision == "Act 147(1)" for d in by_where.values())
    assert all(d.source is not None for d in diags)
    outputs = [d.message for d in diags if d.where and d.where.startswith("outputs")]
    assert outputs == [
        "output `owner` is `Member`, which cannot be written out",
        "output `unclaimed_onn` is not a definition",
        "output `account_def_in_member` is a member definition, not a claim one",
        "output `useless_default` is an account definition, not a claim one",
    ]
    severities = {d.where: d.severity for d in diags}
    assert severities["definition `useless_default`"] == "warning"
    assert severities["definition `always_true`"] == "warning"
    assert severities["definition `hides_parameter`"] == "warning"


# --------------------------------------------------------------------------- static analysis

STATIC = POLICIES / "static"


def test_windows_table_gaps_and_overlaps_are_reported_as_runs_of_days() -> None:
    diags = check_policy(STATIC / "windows-gap.yaml")
    conflicts = [d.message for d in diags if d.code == "conflict"]
    assert conflicts == [
        "1 Jan to 5 Jan falls in rows 1, 4",
        "no row covers 16 Sep to 30 Sep",
        "1 Dec to 31 Dec falls in rows 3, 4",
    ]
    assert all(d.is_error and d.where == "parameter `payment_windows`"
               for d in diags if d.code == "conflict")


def test_the_baseline_windows_cover_the_year_exactly_once() -> None:
    assert not [d for d in check_policy(ROOT / "policies" / "fsra-2024-001")
                if d.code == "conflict"]


def test_a_notice_mark_after_the_unclaimed_date_is_a_conflict() -> None:
    # N1 `marks-after-inactive`: the 11-year notice falls after the deposit is unclaimed
    policy = load_policy(STATIC / "marks-after-unclaimed.yaml", root=ROOT / "policies")
    conflicts = [d for d in policy.warnings if d.code == "conflict"]
    assert [d.message for d in conflicts] == [
        "notice mark `9y` is due 11 years after the last activity, on or after the deposit "
        "becomes unclaimed (10 years)"]
    (d,) = conflicts
    assert d.where == "invariant `notices_before_unclaimed`"
    assert d.severity == "warning"
    assert d.span is not None and d.span.file.endswith("policies/fsra-2024-001/policy.yaml")


def test_an_override_that_breaks_an_invariant_is_reported_at_evaluation() -> None:
    from evaluator.facts import facts_from_json

    policy = load_policy(ROOT / "policies" / "fsra-2024-001")
    facts = facts_from_json({"members": []})
    result = policy.evaluate(facts, as_of="2026-11-21", params={"unclaimed_period": "9 years"})
    messages = [d.message for d in result.warnings]
    assert "notice mark `9y` is due 9 years after the last activity, on or after the deposit " \
        "becomes unclaimed (9 years)" in messages
    assert all("--param unclaimed_period" in (d.help or "") for d in result.warnings)
    assert policy.evaluate(facts, as_of="2026-11-21").warnings == []


def test_derived_parameters_cycles_types_and_names() -> None:
    diags = check_policy(STATIC / "derived.yaml")
    messages = {d.message for d in diags if d.is_error}
    assert "derived parameters depend on each other in a cycle: `loop_a` -> `loop_b` -> " \
        "`loop_a`" in messages
    assert "formula is `Bool` but the parameter is a date" in messages
    assert "unknown parameter `as_of`" in messages


def test_an_error_invariant_makes_the_policy_invalid(tmp_path: Path) -> None:
    text = (STATIC / "derived.yaml").read_text(encoding="utf-8")
    fixed = text.split("  loop_a:")[0] + "definitions:" + text.split("definitions:")[1]
    fixed = fixed.replace("max(opened, start, loop_a, wrong_type, uses_as_of)",
                          "max(opened, start)")
    fixed = fixed.replace("definitions:", "invariants:\n  must_hold:\n    formula: start > "
                          "2030-01-01\n    message: start must be after 2030\n    severity: "
                          "error\ndefinitions:", 1)
    path = tmp_path / "invariant.yaml"
    path.write_text(fixed, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    (d,) = [d for d in info.value.diagnostics if d.code == "conflict"]
    assert d.message == "start must be after 2030"
    assert d.where == "invariant `must_hold`"


def test_coming_into_force_is_derived_and_still_overridable() -> None:
    from evaluator.facts import facts_from_json

    policy = load_policy(ROOT / "policies" / "fsra-2024-001")
    facts = facts_from_json({"members": []})

    def cif(**params: str) -> str:
        value: str = policy.evaluate(facts, as_of="2026-11-21",
                                     params=params).parameters["coming_into_force"]
        return value

    assert cif() == "2025-01-01"
    assert cif(minister_approval="2024-12-17") == "2025-01-01"   # + 15 days = the Act's day
    assert cif(minister_approval="2024-12-18") == "2025-01-02"   # one day later wins
    assert cif(act_s147_in_force="2025-06-01") == "2025-06-01"
    assert cif(coming_into_force="2025-03-01", minister_approval="2026-01-01") == "2025-03-01"
    specs = policy.resolve_params({"coming_into_force": "2025-03-01"})
    assert specs["coming_into_force"].set_by == "--param"
    assert policy.resolve_params()["coming_into_force"].set_by == \
        "derived in fsra-2024-001@1.1.0"


def test_comparing_a_never_null_value_with_null_is_warned_about(tmp_path: Path) -> None:
    base = (ROOT / "policies" / "fsra-2024-001" / "policy.yaml").read_text(encoding="utf-8")
    text = base.replace("formula: last_activity + unclaimed_period",
                        "formula: if opened == null then opened else last_activity + "
                        "unclaimed_period")
    assert text != base
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    warnings = [d for d in check_policy(path) if d.code == "unreachable"]
    assert [d.message for d in warnings] == ["`opened` is never null, so this is always false"]
