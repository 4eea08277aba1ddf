"""Tests for the checker's pipeline (issue 11, B1): a mistake in a formula is reported once
(no "never used" warnings for the names only that formula would have used), the usage lint
still warns where the failed formula cannot be the user, and ``analyse`` finds what
``load_policy`` raises or keeps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from evaluator import PolicyError, check_policy, load_policy
from evaluator.lang.check.pipeline import analyse
from tests.support import ROOT

BIN = Path(sys.executable).parent / "unclaimed"
POLICIES = ROOT / "tests" / "policies"

HEAD = """\
policy: usage
version: 1.0.0
status: proposed
title: usage after a mistake
provisions:
  "7(1)": {text: a rule}
"""


def run_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), "check", str(path)], capture_output=True, text=True,
                          cwd=ROOT, check=False)


def diagnostics(tmp_path: Path, text: str) -> list[tuple[str, str, str]]:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return [(d.severity, d.code, d.message) for d in check_policy(path)]


def test_an_override_that_does_not_parse_is_reported_once(tmp_path: Path) -> None:
    # the shipped policy's `in_scope` uses `deposit_kinds` and `foreign_currency_covered`
    # (set again here: only what the checked file declares can be "never used"); an
    # override that does not parse must not make them "never used" as well
    path = tmp_path / "broken-scope.yaml"
    path.write_text("""\
policy: broken-scope
version: 1.0.0
status: alternative
title: Broken scope
extends: fsra-2024-001@1.1.0
parameters:
  deposit_kinds: {value: [deposit]}
  foreign_currency_covered: {value: true}
definitions:
  in_scope:
    formula: kind in deposit_kinds and currency = "CAD"
""", encoding="utf-8")
    out = run_check(path)
    assert out.returncode == 2, out.stderr
    text = out.stdout + out.stderr
    assert "unexpected character `=`" in text
    assert "never used" not in text
    assert f"{path}: invalid: 1 error, 0 warnings" in text


def test_a_parse_error_still_leaves_the_warnings_of_a_sound_policy(tmp_path: Path) -> None:
    # the same override, parsing: `foreign_currency_covered` is then really unused
    path = tmp_path / "narrow-scope.yaml"
    path.write_text("""\
policy: narrow-scope
version: 1.0.0
status: alternative
title: Narrow scope
extends: fsra-2024-001@1.1.0
parameters:
  deposit_kinds: {value: [deposit]}
  foreign_currency_covered: {value: true}
definitions:
  in_scope:
    formula: kind in deposit_kinds and currency == "CAD"
""", encoding="utf-8")
    out = run_check(path)
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "parameter `foreign_currency_covered` is never used" in text
    assert "deposit_kinds` is never used" not in text


def test_a_formula_that_does_not_type_uses_the_names_it_mentions(tmp_path: Path) -> None:
    # `acounts` is a typo: `a.helper` cannot be resolved, but `helper` and `rate` are
    # the formula's, not unused; `spare` and `extra` are unused whatever the fix
    found = diagnostics(tmp_path, HEAD + """\
parameters:
  rate: {type: decimal, value: 2, provision: "7(1)"}
  spare: {type: decimal, value: 3, provision: "7(1)"}
definitions:
  helper:
    entity: account
    provision: "7(1)"
    formula: balance * rate
  extra:
    entity: account
    provision: "7(1)"
    formula: opened
  total:
    entity: member
    provision: "7(1)"
    formula: sum(a.helper * rate for a in acounts)
outputs:
  account: [total]
""")
    assert [f for f in found if f[0] == "error"] == [("error", "name", "unknown name `acounts`")]
    assert sorted(f[2] for f in found if f[0] == "warning") == [
        "definition `extra` is never used", "parameter `spare` is never used"]


def test_without_the_mistake_the_same_policy_warns_alike(tmp_path: Path) -> None:
    found = diagnostics(tmp_path, HEAD + """\
parameters:
  rate: {type: decimal, value: 2, provision: "7(1)"}
  spare: {type: decimal, value: 3, provision: "7(1)"}
definitions:
  helper:
    entity: account
    provision: "7(1)"
    formula: balance * rate
  extra:
    entity: account
    provision: "7(1)"
    formula: opened
  total:
    entity: member
    provision: "7(1)"
    formula: sum(a.helper * rate for a in accounts)
outputs:
  account: [total]
""")
    assert sorted(found) == [
        ("warning", "unused", "definition `extra` is never used"),
        ("warning", "unused", "parameter `spare` is never used")]


def test_an_unused_definition_that_does_not_parse_keeps_its_own_warning(tmp_path: Path) -> None:
    # a failed formula no output needs uses nothing that counts
    found = diagnostics(tmp_path, HEAD + """\
parameters:
  rate: {type: decimal, value: 2, provision: "7(1)"}
definitions:
  broken:
    entity: account
    provision: "7(1)"
    formula: balance * * rate
  out:
    entity: account
    provision: "7(1)"
    formula: opened
outputs:
  account: [out]
""")
    warnings = sorted(f[2] for f in found if f[0] == "warning")
    assert warnings == ["definition `broken` is never used", "parameter `rate` is never used"]
    assert [f[1] for f in found if f[0] == "error"] == ["syntax"]


def test_a_derived_parameter_that_does_not_parse_is_reported_once(tmp_path: Path) -> None:
    found = diagnostics(tmp_path, HEAD + """\
parameters:
  start: {type: date, value: 2025-01-01, provision: "7(1)"}
  delay: {type: duration, value: 2 years, provision: "7(1)"}
  later: {type: date, formula: "start + + delay", provision: "7(1)"}
definitions:
  out:
    entity: account
    provision: "7(1)"
    formula: max(opened, later)
outputs:
  account: [out]
""")
    assert [f for f in found if f[0] == "warning"] == []
    assert [f[1] for f in found if f[0] == "error"] == ["syntax"]


@pytest.mark.parametrize("name", ["unused.yaml", "misc-checker.yaml", "type-error.yaml",
                                  "syntax-error.yaml", "unknown-key.yaml",
                                  "malformed-yaml.yaml", "extends-missing.yaml",
                                  "cycle.yaml", "no-such-file.yaml"])
def test_analyse_finds_what_load_policy_raises_or_keeps(name: str) -> None:
    path = POLICIES / name
    analysis = analyse(path)
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        assert analysis.failed is type(exc)
        assert [d.render() for d in analysis.diagnostics] == \
            [d.render() for d in exc.diagnostics]
        return
    assert analysis.failed is None
    assert analysis.checked is not None
    assert [d.render() for d in analysis.diagnostics] == [d.render() for d in policy.warnings]
