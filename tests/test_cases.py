"""The shipped policy test cases (policies/fsra-2024-001/tests/*.yaml), run as the
`unclaimed test` command runs them, and the coverage they give.

Each case was computed by hand from the rule and interpretations.md, independently of
the evaluator. Every computable provision must be fully covered (both sides of each of
its conditions); an uncovered or partly covered provision fails the suite. Cases whose
facts a snapshot table can express are also run through the CSV snapshot form, which must
give identical determinations.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator import Policy, load_policy
from evaluator.facts import facts_from_json, facts_from_snapshot
from evaluator.policytest import TestReport, run_case, run_tests
from tests.support import BASELINE, case_files, fx_rows, load_case, snapshot_rows

CASE_FILES = case_files()


@pytest.fixture(scope="module")
def baseline() -> Policy:
    return load_policy(BASELINE)


@pytest.fixture(scope="module")
def report(baseline: Policy) -> TestReport:
    return run_tests(baseline, CASE_FILES)


def test_corpus_is_not_empty() -> None:
    assert len(CASE_FILES) >= 90


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_case(baseline: Policy, path: Path) -> None:
    result = run_case(baseline, path)
    assert result.ran, result.diffs
    assert result.passed, "\n".join(result.diffs)


def test_every_computable_provision_is_fully_covered(report: TestReport) -> None:
    rows = report.coverage_rows()
    problems = [f"{r.provision}: {r.status}" for r in rows
                if r.computable and r.state != "covered"]
    assert not problems, "\n".join(problems)


def test_coverage_lists_every_subsection_of_sections_2_to_7(report: TestReport) -> None:
    listed = {r.provision for r in report.coverage_rows()}
    expected = ({f"2({i})" for i in range(1, 17)} | {f"3({i})" for i in range(1, 5)}
                | {f"4({i})" for i in range(1, 7)} | {"5(1)", "5(2)", "6(1)", "6(2)",
                                                    "6(3)", "7(1)", "Act 147(1)"})
    assert expected <= listed
    not_computable = {r.provision: r.reason for r in report.coverage_rows()
                      if not r.computable}
    assert set(not_computable) == {"3(2)", "4(2)", "4(3)"}
    assert all(reason for reason in not_computable.values())


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_snapshot_form_gives_identical_determinations(baseline: Policy, path: Path) -> None:
    case = load_case(path)
    rows = snapshot_rows(case["facts"], case["as_of"])
    if rows is None:
        pytest.skip("facts a snapshot cannot express (notices, fees, transfers or claims)")
    params = case.get("params") or {}
    from_json = baseline.evaluate(facts_from_json(case["facts"], source="case"),
                                  as_of=case["as_of"], params=params).to_dict()
    snap = facts_from_snapshot(rows, fx_rows(case["facts"]), source="case")
    from_csv = baseline.evaluate(snap, as_of=case["as_of"], params=params).to_dict()
    assert from_csv["accounts"] == from_json["accounts"]
    assert [e.get("account_id") for e in from_csv["errors"]] == \
        [e.get("account_id") for e in from_json["errors"]]
