"""`remove:` in a policy that extends another (issue 12, item 2): inherited parameters,
definitions, outputs, invariants and provisions taken out, every misuse diagnosed at its
item at once; and "never used" warnings only for what the checked file declares."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evaluator import PolicyError, check_policy, load_policy
from tests.support import ROOT

BIN = Path(sys.executable).parent / "unclaimed"

HEAD = """\
policy: child
version: 1.0.0
status: alternative
title: A child of the baseline
extends: fsra-2024-001@1.1.0
"""

# what Quebec had to neutralise by trial (`formula: null`) before `remove:` existed
NO_TRANSITION = """\
remove:
  parameters: [transition_period, minister_approval, approval_delay, act_s147_in_force]
  definitions: [catch_up_notice, transition_notice, transition_end]
  invariants: [transition_ends_after_it_starts]
  provisions: ["6(1)", "6(2)", "6(3)"]
parameters:
  coming_into_force: {type: date, value: 2025-01-01, provision: "7(1)"}
definitions:
  notices:
    provision: "2(2); 2(3)"
    formula: regular_notices
  window:
    provision: "2(5); P1"
    formula: window_for(unclaimed_on, payment_windows, coming_into_force)
  payment_window:
    provision: "2(5)"
    formula: "{opens: window.opens, closes: window.closes, provision: window.row.provision}"
"""


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    root.mkdir()
    shutil.copytree(ROOT / "policies" / "fsra-2024-001", root / "fsra-2024-001")
    if (ROOT / "policies" / "deposits-base").exists():
        shutil.copytree(ROOT / "policies" / "deposits-base", root / "deposits-base")
    return root


def write(root: Path, text: str, name: str = "child.yaml") -> Path:
    path = root / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[tuple[int, int, str, str | None]]:
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    return [(d.span.line, d.span.col, d.message, d.help) for d in info.value.diagnostics
            if d.is_error and d.span is not None and d.span.file.endswith(path.name)]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, cwd=cwd,
                          check=False)


def test_removed_names_are_gone_and_the_rest_evaluates(policies: Path) -> None:
    path = write(policies, HEAD + NO_TRANSITION)
    policy = load_policy(path)
    doc = policy.document
    for name in ("transition_period", "minister_approval", "approval_delay"):
        assert name not in doc.parameters
    for name in ("catch_up_notice", "transition_notice", "transition_end"):
        assert name not in doc.definitions and name not in doc.declared
    assert "transition_ends_after_it_starts" not in doc.invariants
    assert not {"6(1)", "6(2)", "6(3)"} & set(doc.provisions)
    assert policy.warnings == []
    facts = ROOT / "examples" / "members.json"
    out = run("evaluate", "--policy", str(path), "--facts", str(facts), "--as-of",
              "2026-11-21", "--format", "json", cwd=policies.parent)
    assert out.returncode in (0, 1), out.stderr
    marks = {n["mark"] for a in json.loads(out.stdout)["accounts"] for n in a["notices"]}
    assert marks and not marks & {"catch-up", "transition"}


def test_outputs_are_removed_by_name_reported_name_or_entity(policies: Path) -> None:
    path = write(policies, HEAD + """\
remove:
  outputs: [records_retain_until, claim.findings, account.in_scope]
""")
    doc = load_policy(path).document
    assert "records_retain_until" not in doc.outputs["account"]
    assert "in_scope" not in doc.outputs["account"]
    assert "findings" in doc.outputs["account"]  # only the claim's was named
    assert "claim_findings" not in doc.outputs["claim"]
    assert doc.outputs["claim"][0] == "claim_status"


def test_a_name_removed_and_declared_again_may_change_its_type(policies: Path) -> None:
    path = write(policies, HEAD + """\
remove:
  parameters: [notice_effort]
  invariants: [notice_effort_known]
parameters:
  notice_effort: {type: bool, value: true, provision: "2(3)"}
definitions:
  in_scope:
    provision: "Act 147(1)"
    formula: notice_effort and kind in deposit_kinds and (foreign_currency_covered or currency == "CAD")
""")
    assert load_policy(path).document.parameters["notice_effort"].type_name == "bool"


def test_every_misuse_is_reported_at_once_at_its_item(policies: Path) -> None:
    path = write(policies, HEAD + """\
remove:
  parameters: [catch_up_notice_days, transition_period]
  definitions: [claim_findngs, transition_end]
  outputs: [nosuch]
  invariants: [no_such_invariant]
  provisions: ["6(1)"]
""")
    found = errors_of(path)
    assert [(line, col) for line, col, _, _ in found] == [
        (7, 16), (7, 38), (8, 17), (8, 32), (9, 13), (10, 16), (11, 16)]
    messages = [m for _, _, m, _ in found]
    assert messages[0] == ("cannot remove parameter `catch_up_notice_days`: the policy "
                           "does not inherit a parameter of that name")
    # transition_period is still used by transition_end, whose removal is refused too
    assert messages[1] == ("cannot remove parameter `transition_period`: definition "
                           "`transition_end`, invariant `transition_ends_after_it_starts` "
                           "still use it")
    assert found[2][3] == "did you mean `claim_findings`?"
    assert messages[3] == ("cannot remove definition `transition_end`: definition "
                           "`payment_window`, definition `transition_notice`, definition "
                           "`window` still use it")
    assert messages[4].startswith("cannot remove output `nosuch`")
    assert messages[5].startswith("cannot remove invariant `no_such_invariant`")
    assert messages[6] == ("cannot remove provision `6(1)`: definition `catch_up_notice`, "
                           "definition `notices` still cite it")
    # a refused removal is undone: its uses are not reported as unknown names
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert not [d for d in info.value.diagnostics if "unknown name" in d.message]


def test_the_cli_shows_the_removal_with_a_caret_and_a_hint(policies: Path) -> None:
    path = write(policies, HEAD + "remove:\n  definitions: [transition_end]\n")
    out = run("check", str(path), cwd=policies.parent)
    assert out.returncode == 2
    text = out.stdout + out.stderr
    assert ("policies/child.yaml:7:17: error: cannot remove definition `transition_end`"
            in text)
    assert "7 |   definitions: [transition_end]\n  |                 ^^^^^^^^^^^^^^" in text
    assert "help: remove those too, or override them so that they no longer use it" in text


def test_remove_without_extends_is_an_error(policies: Path) -> None:
    path = write(policies, """\
policy: alone
version: 1.0.0
status: proposed
title: Alone
remove:
  definitions: [x]
definitions:
  y: {entity: account, formula: opened, provision: "1"}
outputs:
  account: [y]
""")
    found = errors_of(path)
    assert found == [(5, 1, "`remove` takes out what a policy inherits, and this policy "
                      "extends nothing",
                      "add `extends: ID@VERSION`, or delete the names from this file instead")]


def test_a_name_listed_twice_is_a_schema_error(policies: Path) -> None:
    path = write(policies, HEAD + "remove:\n  outputs: [in_scope, in_scope]\n")
    found = errors_of(path)
    assert [m for _, _, m, _ in found] == ["`remove.outputs` names the same item twice"]


# -- "never used" only for what the checked file declares ------------------------------


def test_a_child_of_the_baseline_checks_clean_under_strict(policies: Path) -> None:
    # its overrides leave base parameters and definitions unused (the 30 Sep conversion,
    # catch-up notices, ...): they are the base's, not the analyst's to remove
    path = write(policies, HEAD + """\
definitions:
  notices:
    provision: "2(2); 2(3)"
    formula: regular_notices
  findings:
    provision: "2(16); P4"
    formula: fee_findings
""")
    out = run("check", "--strict", str(path), cwd=policies.parent)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "never used" not in out.stdout + out.stderr


def test_what_the_child_declares_is_still_warned_unused(policies: Path) -> None:
    path = write(policies, HEAD + """\
parameters:
  spare: {type: decimal, value: 3, provision: "7(1)"}
  reject_incomplete_transfers: {value: true}
definitions:
  notices:
    provision: "2(2); 2(3)"
    formula: regular_notices
  extra:
    entity: account
    provision: "7(1)"
    formula: opened
""")
    warned = sorted(d.message for d in check_policy(path) if d.code == "unused")
    assert warned == ["definition `extra` is never used", "parameter `spare` is never used"]
    out = run("check", "--strict", str(path), cwd=policies.parent)
    assert out.returncode == 2
    assert "policies/child.yaml" in out.stdout + out.stderr
    assert "fsra-2024-001/policy.yaml" not in out.stdout + out.stderr


def test_remove_under_an_extends_that_cannot_be_read_adds_nothing(policies: Path) -> None:
    path = write(policies, HEAD.replace("fsra-2024-001@1.1.0", "fsra-2024-001@9.9.9")
                 + "remove:\n  definitions: [transition_end]\n")
    found = errors_of(path)
    assert [m for _, _, m, _ in found] == [
        "`extends: fsra-2024-001@9.9.9`: no such policy under "
        f"{policies.relative_to(Path.cwd()) if policies.is_relative_to(Path.cwd()) else policies}"]
