"""`unclaimed diff A B` and evaluator.diff: what differs between two resolved policies."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from evaluator import load_policy
from evaluator.diff import (
    EXIT_DIFFERENT,
    EXIT_INVALID,
    EXIT_SAME,
    SECTIONS,
    Change,
    Location,
    PolicyDiff,
    add_parser,
    diff_policies,
    run,
)
from evaluator.policy import Policy

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "diff"
OLD, NEW = "fsra-2024-001@1.0.0", "fsra-2024-001@1.1.0"


@pytest.fixture(scope="module")
def old() -> Policy:
    return load_policy(OLD)


@pytest.fixture(scope="module")
def new() -> Policy:
    return load_policy(NEW)


@pytest.fixture(scope="module")
def versions(old: Policy, new: Policy) -> PolicyDiff:
    return diff_policies(old, new)


@pytest.fixture(scope="module")
def assorted(new: Policy) -> PolicyDiff:
    return diff_policies(new, load_policy(FIXTURES / "assorted.yaml"))


def _run(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="unclaimed")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["diff", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = run(args, out, err)
    return code, out.getvalue(), err.getvalue()


def _change(d: PolicyDiff, section: str, name: str) -> Change:
    found = d.find(section, name)
    assert found is not None, f"no change of {section} `{name}` in\n{d.render_text()}"
    return found


def _line_at(loc: Location | None) -> str:
    """The text of the file line a location points at."""
    assert loc is not None
    return Path(loc.file).read_text(encoding="utf-8").splitlines()[loc.line - 1]


def _same_file(loc: Location | None, path: Path) -> bool:
    return loc is not None and Path(loc.file).resolve() == path.resolve()


# --------------------------------------------------------------------------- 1.0.0 -> 1.1.0


def test_coming_into_force_becomes_derived(versions: PolicyDiff) -> None:
    c = _change(versions, "parameters", "coming_into_force")
    assert c.kind == "changed" and c.substantive
    assert {"value", "formula"} <= set(c.fields)
    assert c.before is not None and c.after is not None
    assert c.before["value"] == "2025-01-01" and c.before["formula"] is None
    assert c.after["formula"] == "max(act_s147_in_force, minister_approval + approval_delay)"
    assert c.after["value"] == "2025-01-01"  # what the formula comes to
    assert c.details[0] == ("value 2025-01-01 -> derived: max(act_s147_in_force, "
                            "minister_approval + approval_delay) (= 2025-01-01)")
    # each side: the file and line it is written on, and the policy that set it
    assert c.before_at is not None and c.after_at is not None
    assert c.before_at.file.endswith("history/1.0.0.yaml")
    assert c.before_at.set_by == OLD
    assert "value: 2025-01-01" in _line_at(c.before_at)
    assert c.after_at.file.endswith("fsra-2024-001/policy.yaml")
    assert c.after_at.set_by == f"derived in {NEW}"
    assert "max(act_s147_in_force" in _line_at(c.after_at)


def test_parameters_added(versions: PolicyDiff) -> None:
    added = versions.names("parameters", "added")
    assert {"act_s147_in_force", "minister_approval", "approval_delay",
            "transfer_requirements", "small_balance_limit"} <= set(added)
    c = _change(versions, "parameters", "act_s147_in_force")
    assert c.kind == "added" and c.before is None and c.before_at is None
    assert c.after is not None
    assert {k: c.after[k] for k in ("type", "value", "formula", "provision", "set_by")} == \
        {"type": "date", "value": "2025-01-01", "formula": None, "provision": "7(1); T1",
         "set_by": NEW}
    assert c.after_at is not None and c.after_at.set_by == NEW
    assert "2025-01-01" in _line_at(c.after_at)
    table = _change(versions, "parameters", "transfer_requirements")
    assert table.after is not None and table.after["type"] == "table"
    assert table.after["value"][0]["item"] == "electronic_funds_transfer"


def test_definitions(versions: PolicyDiff) -> None:
    status = _change(versions, "definitions", "claim_status")
    assert status.kind == "added" and status.after is not None
    assert status.after["entity"] == "claim"
    assert status.after["defined_in"] == NEW
    assert "reconsideration_decision" in _line_at(status.after_at)
    findings = _change(versions, "definitions", "findings")
    assert findings.kind == "changed" and "formula" in findings.fields
    assert findings.before is not None and findings.after is not None
    assert "transfer_findings" not in findings.before["formula"]
    assert "transfer_findings" in findings.after["formula"]
    assert f"- {findings.before['formula']}" in findings.details
    assert f"+ {findings.after['formula']}" in findings.details
    assert findings.before_at is not None and findings.before_at.set_by == OLD
    assert "fee_findings" in _line_at(findings.before_at)
    assert findings.after_at is not None and findings.after_at.set_by == NEW
    # definitions the same in both versions are not reported
    assert versions.find("definitions", "unclaimed_on") is None
    assert versions.find("definitions", "last_activity") is None


def test_provisions_outputs_interpretations_invariants(versions: PolicyDiff) -> None:
    added = set(versions.names("provisions", "added"))
    assert {f"2({i})" for i in range(6, 14)} <= added
    p = _change(versions, "provisions", "2(6)")
    assert p.after is not None and "electronic fund transfer" in p.after["text"]
    assert p.after_at is not None and _line_at(p.after_at).strip().startswith('"2(6)":')
    not_computable = _change(versions, "provisions", "3(2)")
    assert not_computable.after is not None and not_computable.after["computable"] is False
    assert "not computable" in not_computable.details
    assert versions.find("provisions", "2(5)") is None
    retain = _change(versions, "outputs", "account.records_retain_until")
    assert retain.kind == "added"
    assert "records_retain_until" in _line_at(retain.after_at)
    claim_status = _change(versions, "outputs", "claim.status")
    assert claim_status.kind == "added" and claim_status.after is not None
    assert claim_status.after["definition"] == "claim_status"
    assert versions.find("outputs", "claim.response_due") is None
    assert {"C3", "R1", "R2", "T1"} <= set(versions.names("interpretations", "added"))
    assert "inactive_before_unclaimed" in versions.names("invariants", "added")


def test_versions_text(versions: PolicyDiff) -> None:
    text = versions.render_text()
    lines = text.splitlines()
    assert lines[0] == f"{OLD} -> {NEW}"
    headers = [line for line in lines if line in SECTIONS]
    assert headers == [s for s in SECTIONS if s in headers]  # fixed section order
    assert headers[:3] == ["parameters", "definitions", "provisions"]
    assert any(line.startswith("  ~ coming_into_force  value 2025-01-01 -> derived: "
                               "max(act_s147_in_force, minister_approval + approval_delay)")
               for line in lines)
    act = _change(versions, "parameters", "act_s147_in_force").after_at
    assert act is not None and str(act) == f"{act.file}:{act.line} ({NEW})"
    assert f"  + act_s147_in_force  date  2025-01-01  (7(1); T1)  {act}" in lines
    assert any(line.startswith("  + 2(6)  ") for line in lines)
    assert any(line.startswith("  + claim_status  claim  ") for line in lines)
    assert any(line.startswith("  ~ findings  formula") for line in lines)
    assert any(line.startswith("  + account.records_retain_until  ") for line in lines)
    # provisions in their natural order: 2(9) before 2(10)
    assert text.index("  + 2(9)  ") < text.index("  + 2(10)  ")
    summary = lines[-1]
    assert summary.startswith("summary: ")
    n_params = len(versions.names("parameters", "added"))
    assert f"{n_params} parameters added, 1 changed" in summary
    assert "provisions added" in summary and "outputs added" in summary
    assert versions.render_text() == text  # stable


def test_versions_json(versions: PolicyDiff) -> None:
    doc = json.loads(versions.to_json())
    assert doc["same"] is False
    assert doc["before"]["policy"] == OLD and doc["after"]["policy"] == NEW
    assert doc["summary"]["provisions"]["added"] >= 8
    for change in doc["changes"]:
        assert {"kind", "section", "name", "before", "after", "locations"} <= set(change)
    cif = next(c for c in doc["changes"] if c["name"] == "coming_into_force")
    assert cif["section"] == "parameters" and cif["kind"] == "changed"
    assert cif["before"]["value"] == "2025-01-01"
    assert cif["after"]["formula"].startswith("max(")
    assert cif["locations"]["before"]["set_by"] == OLD
    assert cif["locations"]["after"]["file"].endswith("policy.yaml")
    assert isinstance(cif["locations"]["after"]["line"], int)


def test_versions_cli() -> None:
    code, out, err = _run(OLD, NEW)
    assert code == EXIT_DIFFERENT, err
    assert out.startswith(f"{OLD} -> {NEW}\n") and "summary: " in out
    code, out, err = _run(OLD, NEW, "--format", "json")
    assert code == EXIT_DIFFERENT, err
    assert json.loads(out)["same"] is False


# --------------------------------------------------------------------------- the same policy


def test_policy_against_itself(new: Policy) -> None:
    d = diff_policies(new, new)
    assert d.changes == [] and d.same and d.exit_code == EXIT_SAME
    assert d.render_text() == f"{NEW} -> {NEW}\nsummary: identical\n"


def test_directory_against_its_id_is_identical() -> None:
    code, out, err = _run("policies/fsra-2024-001/policy.yaml", NEW)
    assert code == EXIT_SAME, err
    assert out.splitlines()[-1] == "summary: identical"
    code, out, _ = _run(NEW, NEW, "--format", "json")
    assert code == EXIT_SAME
    doc = json.loads(out)
    assert doc["same"] is True and doc["changes"] == [] and doc["summary"] == {}


# --------------------------------------------------------------------------- fixtures


def test_override_and_reformat_only(new: Policy) -> None:
    fixture = FIXTURES / "override.yaml"
    d = diff_policies(new, load_policy(fixture))
    substance = [c for c in d.changes if c.substantive]
    notes = [c for c in d.changes if not c.substantive]
    assert [(c.section, c.kind, c.name) for c in substance] == \
        [("parameters", "changed", "inactivity_period")]
    (p,) = substance
    assert p.fields == ("value",)
    assert p.details == ("value 2 years -> 3 years",)
    assert p.before_at is not None and p.before_at.set_by == NEW
    assert p.after_at is not None and p.after_at.set_by == "diff-override@1.0.0"
    assert _same_file(p.after_at, fixture) and "3 years" in _line_at(p.after_at)
    assert [(c.section, c.kind, c.name) for c in notes] == \
        [("definitions", "reformatted", "status")]
    assert notes[0].details[0] == "reformatted only"
    assert _same_file(notes[0].after_at, fixture)
    assert not d.same
    text = d.render_text()
    assert "  ~ inactivity_period  value 2 years -> 3 years\n" in text
    assert "  = status  reformatted only\n" in text
    # the baseline extends deposits-base; the override extends the baseline
    assert "  extends deposits-base@1.0.0 -> deposits-base@1.0.0, fsra-2024-001@1.1.0\n" in text
    assert text.endswith("summary: 1 parameter changed; notes: 1 definition reformatted\n")


def test_reformatting_alone_is_identical_in_substance(new: Policy, tmp_path: Path) -> None:
    src = (FIXTURES / "override.yaml").read_text(encoding="utf-8")
    only_format = src.replace("parameters:\n  inactivity_period:\n    value: 3 years\n", "")
    assert only_format != src
    path = tmp_path / "reformat.yaml"
    path.write_text(only_format, encoding="utf-8")
    d = diff_policies(new, load_policy(path))
    assert d.same and [c.kind for c in d.changes] == ["reformatted"]
    assert d.summary_text() == "identical in substance (1 definition reformatted)"
    code, out, _ = _run(NEW, str(path))
    assert code == EXIT_SAME and "  = status  reformatted only" in out


def test_one_change_of_each_kind(assorted: PolicyDiff) -> None:
    kinds = {(c.section, c.name): c.kind for c in assorted.changes}
    assert kinds[("parameters", "dormancy_fee_limit")] == "added"
    assert kinds[("parameters", "act_s147_in_force")] == "changed"
    assert kinds[("parameters", "transfer_requirements")] == "changed"
    assert kinds[("parameters", "notice_marks")] == "redescribed"
    assert kinds[("definitions", "fee_limit_exceeded")] == "added"
    assert kinds[("definitions", "final")] == "changed"  # another tree, the same meaning
    assert kinds[("definitions", "interest_until")] == "reformatted"  # parentheses only
    assert kinds[("definitions", "last_activity")] == "redescribed"
    assert kinds[("provisions", "8(1)")] == "added"
    assert kinds[("provisions", "2(6)")] == "changed"
    assert kinds[("provisions", "3(2)")] == "changed"
    assert kinds[("interpretations", "Z1")] == "added"
    assert kinds[("interpretations", "N2")] == "changed"
    assert ("interpretations", "A3") not in kinds  # whitespace only
    assert kinds[("outputs", "account.fee_limit_exceeded")] == "added"
    assert kinds[("outputs", "claim.final")] == "removed"
    assert kinds[("outputs", "account.window")] == "renamed"
    assert kinds[("outputs", "account")] == "reordered"
    assert kinds[("invariants", "inactive_before_unclaimed")] == "changed"


def test_table_rows_and_changed_cells(assorted: PolicyDiff) -> None:
    c = _change(assorted, "parameters", "transfer_requirements")
    assert c.details[0] == "value: 1 row changed, 1 removed"
    assert "~ row 3: foreign_only false -> true" in c.details
    assert any(d.startswith("- row 5: {item: material_information_copies") for d in c.details)
    changed = [r for r in c.rows if r["change"] == "changed"]
    assert changed == [{"change": "changed", "row": 3, "before_row": 3,
                        "cells": {"foreign_only": {"before": False, "after": True}}}]
    removed = [r for r in c.rows if r["change"] == "removed"]
    assert removed[0]["before_row"] == 5
    assert removed[0]["value"]["item"] == "material_information_copies"


def test_provision_only_and_derived_notes(assorted: PolicyDiff) -> None:
    windows = _change(assorted, "parameters", "payment_windows")
    assert windows.fields == ("provision",)
    # the value is inherited; the location is where the provision is overridden
    assert windows.after_at is not None and windows.after_at.set_by == "diff-assorted@2.0.0"
    assert _same_file(windows.after_at, FIXTURES / "assorted.yaml")
    cif = _change(assorted, "parameters", "coming_into_force")
    assert cif.kind == "reformatted" and not cif.substantive
    assert "derived value 2025-01-01 -> 2025-07-01 (a parameter it reads changed)" in cif.details
    assert cif.after_at is not None
    assert cif.after_at.set_by == "derived in diff-assorted@2.0.0"
    inv = _change(assorted, "invariants", "inactive_before_unclaimed")
    assert inv.fields == ("severity", "message")
    assert "severity warning -> error" in inv.details
    renamed = _change(assorted, "outputs", "account.window")
    assert renamed.before is not None and renamed.before["name"] == "payment_window"
    assert renamed.after is not None and renamed.after["definition"] == "payment_window"
    assert assorted.find("outputs", "account.payment_window") is None


def test_reversed_diff_reports_removals(new: Policy) -> None:
    d = diff_policies(load_policy(FIXTURES / "assorted.yaml"), new)
    assert _change(d, "parameters", "dormancy_fee_limit").kind == "removed"
    assert _change(d, "definitions", "fee_limit_exceeded").kind == "removed"
    assert _change(d, "provisions", "8(1)").kind == "removed"
    assert _change(d, "interpretations", "Z1").kind == "removed"
    assert _change(d, "outputs", "claim.final").kind == "added"
    assert _change(d, "outputs", "account.payment_window").kind == "renamed"
    removed = _change(d, "definitions", "fee_limit_exceeded")
    assert removed.after is None and removed.after_at is None
    assert removed.before_at is not None
    assert removed.before_at.set_by == "diff-assorted@2.0.0"
    assert "\n  - dormancy_fee_limit  money  0.00  (2(16))  " in d.render_text()


# --------------------------------------------------------------------------- invalid input


def test_invalid_policy_exits_2_with_its_diagnostics() -> None:
    code, out, err = _run(NEW, str(FIXTURES / "invalid.yaml"))
    assert code == EXIT_INVALID
    assert out == ""
    assert "invalid.yaml: invalid policy (1 error)" in err
    assert "invalid.yaml:9:14: error: unknown name `last_activty`" in err
    assert "did you mean `last_activity`?" in err
    assert "Traceback" not in err


def test_invalid_policy_json() -> None:
    code, out, err = _run(str(FIXTURES / "invalid.yaml"), NEW, "--format", "json")
    assert code == EXIT_INVALID
    doc = json.loads(out)
    assert doc["same"] is None
    (bad,) = doc["invalid"]
    assert bad["policy"].endswith("invalid.yaml")
    assert any(d["message"] == "unknown name `last_activty`" and d["line"] == 9
               for d in bad["diagnostics"])
    assert "unknown name" in err


def test_missing_policies_are_both_reported() -> None:
    code, out, err = _run("no-such-policy", str(FIXTURES / "no-such-file.yaml"))
    assert code == EXIT_INVALID and out == ""
    assert "no-such-policy: invalid policy" in err
    assert "no-such-file.yaml: invalid policy" in err
    assert "Traceback" not in err


def test_parser() -> None:
    parser = argparse.ArgumentParser(prog="unclaimed")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["diff", "a", "b"])
    assert (args.command, args.before, args.after, args.format) == ("diff", "a", "b", "text")
    with pytest.raises(SystemExit):
        parser.parse_args(["diff", "a", "b", "--format", "yaml"])
    with pytest.raises(SystemExit):
        parser.parse_args(["diff", "a"])
