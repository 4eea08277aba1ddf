"""`unclaimed test`: case discovery, comparison, diffs, provision coverage, JUnit, CLI.

Fixtures under tests/policytest/: `basic/` (a policy with one `if` decision, a
definition reached only through its `then` branch, a paragraph of an undeclared
subsection, a parameter citing its own provision, a `computable: false` provision, and
three passing cases), `failing/` (cases run against `basic` that fail on purpose),
`noprov/` (no `provisions:` section) and `invalid/` (a policy with a type error).
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from evaluator import Policy, load_policy
from evaluator.cli import main
from evaluator.policytest import (
    CoverageRow,
    DiscoveryError,
    TestReport,
    discover,
    discover_paths,
    run_case,
    run_tests,
)
from tests.support import CASES, ROOT

HERE = ROOT / "tests" / "policytest"
BASIC = HERE / "basic"
ACTIVE = BASIC / "tests" / "active.yaml"
DORMANT = BASIC / "tests" / "dormant.yaml"
FAILING = HERE / "failing"


@pytest.fixture(scope="module")
def basic() -> Policy:
    return load_policy(BASIC)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["test", *argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def rows(report: TestReport) -> dict[str, CoverageRow]:
    return {r.provision: r for r in report.coverage_rows()}


def write_case(tmp_path: Path, text: str, name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- discovery -------------------------------------------------------------------------


def test_policy_directory_finds_its_tests_sorted() -> None:
    policy, cases = discover(BASIC)
    assert policy.id == "policytest-basic"
    assert [c.name for c in cases] == ["active.yaml", "dormant.yaml", "snapshot-file.yaml"]


def test_policy_file_finds_tests_beside_it() -> None:
    policy, cases = discover(HERE / "noprov" / "policy.yaml")
    assert policy.id == "policytest-noprov"
    assert [c.name for c in cases] == ["one.yaml"]


def test_cases_with_policy_ref_and_inferred_owner() -> None:
    policy, cases = discover(FAILING, policy_ref=BASIC)
    assert policy.id == "policytest-basic"
    assert [c.stem for c in cases] == ["bad-param", "broken", "missing-facts-file", "wrong"]
    # a case file inside a policy's tests/ needs no --policy
    policy, cases = discover(ACTIVE)
    assert policy.id == "policytest-basic" and cases == [ACTIVE]


def test_discovery_problems() -> None:
    with pytest.raises(DiscoveryError, match="cannot tell which policy"):
        discover(FAILING)
    with pytest.raises(DiscoveryError, match="different policies"):
        discover_paths([ACTIVE, HERE / "noprov" / "tests" / "one.yaml"])
    with pytest.raises(DiscoveryError, match="no such file or directory"):
        discover(HERE / "nowhere")
    with pytest.raises(DiscoveryError, match="no test cases"):
        discover(BASIC / "tests" / "data", policy_ref=BASIC)


# -- running and comparing ---------------------------------------------------------------


def test_passing_suite(basic: Policy) -> None:
    _, cases = discover(BASIC)
    report = run_tests(basic, cases)
    assert [(c.name, c.passed, c.diffs) for c in report.cases] == [
        ("active", True, []), ("dormant", True, []), ("snapshot-file", True, [])]
    assert (report.passed, report.failed, report.ok, report.exit_code) == (3, 0, True, 0)
    assert all(c.coverage.evaluated for c in report.cases)  # each kept its own coverage
    assert report.cases[0].coverage is not report.cases[1].coverage


def test_failing_case_diff_lines(basic: Policy) -> None:
    result = run_case(basic, FAILING / "wrong.yaml")
    assert not result.passed and result.ran
    assert result.diffs == [
        "errors: expected M9-A, not reported",
        "account M1-A: dormant_on: expected 2023-01-01, got 2022-01-01",
        "account M1-A: status: expected active, got dormant since 2022-01-01",
        "account M1-A: amount_payable: expected 10, got 10.00",
        "account M1-A: colour: not an output of the policy",
        "account M1-A: notices[2y].required: expected false, got true",
        "account M1-A: notices: missing {mark: 9y, due: 2029-01-01, required: true}",
        "account M1-A: notices: unexpected {mark: 5y, due: 2025-01-01, required: false}",
        "account M1-A: finding_codes: missing overdue",
        "account M1-A: finding_codes: unexpected dormant [1(2)]: account is dormant",
        "account M2-A: not in the results",
        "portfolio: the result has no `portfolio` section",
        "parameters: dormancy_period: expected 3 years, got 2 years",
    ]


def test_cases_that_cannot_run_are_reported_not_raised(basic: Policy) -> None:
    broken = run_case(basic, FAILING / "broken.yaml")
    assert (broken.passed, broken.ran) == (False, False)
    assert broken.diffs == ["case could not run: invalid YAML at line 3, column 19: "
                            "expected the node content, but found '}'"]
    assert not broken.coverage.evaluated
    param = run_case(basic, FAILING / "bad-param.yaml")
    assert param.diffs == ["case could not run: unknown parameter `dormancy` "
                           "(did you mean `dormancy_period`?)"]
    missing = run_case(basic, FAILING / "missing-facts-file.yaml")
    assert missing.diffs[0].startswith("case could not run: facts: ")
    assert "nowhere.json" in missing.diffs[0]
    gone = run_case(basic, FAILING / "not-there.yaml")
    assert gone.diffs[0].startswith("case could not run: ") and "no such file" in gone.diffs[0]


@pytest.mark.parametrize(("text", "message"), [
    ("as_of: '2026-01-01'\nfacts: {members: []}\nexpected: {}\n",
     "unknown key `expected` (did you mean `expect`?) in a case"),
    ("as_of: '2026-01-01'\nfacts: {members: []}\n",
     "missing `expect`"),
    ("as_of: '2026-01-01'\nexpect: {}\n",
     "give the facts inline under `facts` or in a file with `facts_file`"),
    ("as_of: '2026-01-01'\nfacts: {members: []}\nexpect: {accounts: {A: 1}}\n",
     "`expect.accounts` must map ids to their expected fields"),
    ("as_of: '2026-01-01'\nfacts: {members: []}\nexpect:\n  accounts: {A: {}, A: {}}\n",
     "duplicate key `A`"),
    ("- just a list\n", "a case is a mapping"),
])
def test_malformed_cases(basic: Policy, tmp_path: Path, text: str, message: str) -> None:
    result = run_case(basic, write_case(tmp_path, text))
    assert not result.passed and not result.ran
    assert len(result.diffs) == 1 and result.diffs[0].startswith("case could not run: ")
    assert message in result.diffs[0]


def test_unexpected_errors_and_unreported_accounts(basic: Policy, tmp_path: Path) -> None:
    case = write_case(tmp_path, """\
as_of: 2026-01-01
facts:
  members:
    - member_id: M1
      accounts: [{account_id: M1-A, currency: CAD, balance: "1.00", opened: 2020-13-01}]
    - member_id: M2
      accounts: [{account_id: M2-A, currency: CAD, balance: 1520, opened: 2020-01-01}]
expect:
  accounts:
    M1-A: {status: active}
    M2-A: {amount_payable: 1520, notices: [{mark: 5y, due: 2025-01-01, required: false},
                                          {mark: 2y, due: 2022-01-01, required: true}]}
""")
    result = run_case(basic, case)
    assert len(result.diffs) == 2, result.diffs
    assert result.diffs[0].startswith("errors: unexpected M1-A: opened ")
    assert result.diffs[1].startswith("account M1-A: not determined: in errors (opened ")
    # numbers in facts and expectations compare as text; notices in any order
    expected = write_case(tmp_path, case.read_text().replace("M1-A: {status: active}", "")
                          + "  errors: [M1-A]\n", "expected.yaml")
    assert run_case(basic, expected).diffs == []


# -- coverage --------------------------------------------------------------------------


def test_coverage_statuses_of_the_full_suite(basic: Policy) -> None:
    _, cases = discover(BASIC)
    report = run_tests(basic, cases)
    table = rows(report)
    # 1(3)(a) folds into 1(3); the interpretation X1 is not a row
    assert list(table) == ["1(1)", "1(2)", "1(3)", "1(4)", "1(5)", "9(1)"]
    assert {p: r.status for p, r in table.items()} == {
        "1(1)": "covered", "1(2)": "covered", "1(3)": "covered", "1(4)": "covered",
        "1(5)": "covered",
        "9(1)": "not computable: the report is a filing, not a determination from "
                "account facts"}
    assert table["1(2)"].definitions == ("status", "findings")
    assert table["1(2)"].exercised == ("active", "dormant", "snapshot-file")
    assert table["1(2)"].decided == ("dormant", "snapshot-file")  # its `if` held
    assert table["1(4)"].exercised == ("dormant", "snapshot-file")
    # a parameter's provision counts through the definitions that read it
    assert (table["1(5)"].definitions, table["1(5)"].parameters) == \
        (("dormant_on",), ("dormancy_period",))
    assert table["9(1)"].definitions == () and table["9(1)"].exercised == ()
    assert report.coverage_counts() == {"covered": 5, "partial": 0, "uncovered": 0,
                                        "not computable": 1, "undeclared": 0}


def test_if_true_only_is_partial_then_covered_with_a_false_case(basic: Policy) -> None:
    only_true = rows(run_tests(basic, [DORMANT]))
    assert only_true["1(2)"].state == "partial"
    assert only_true["1(2)"].status == "partial: dormant_on <= as_of never false"
    assert only_true["1(4)"].status == "covered"
    only_false = rows(run_tests(basic, [ACTIVE]))
    assert only_false["1(2)"].status == "partial: dormant_on <= as_of never true"
    assert only_false["1(2)"].decided == ()
    assert only_false["1(4)"].status == "uncovered"  # only reached through `then`
    both = rows(run_tests(basic, [ACTIVE, DORMANT]))
    assert both["1(2)"].status == "covered"
    assert both["1(4)"].status == "covered"


def test_cases_that_cannot_run_exercise_nothing(basic: Policy) -> None:
    report = run_tests(basic, [FAILING / "broken.yaml"])
    assert {p: r.state for p, r in rows(report).items()} == {
        "1(1)": "uncovered", "1(2)": "uncovered", "1(3)": "uncovered", "1(4)": "uncovered",
        "1(5)": "uncovered", "9(1)": "not computable"}


def test_undeclared_provisions() -> None:
    policy, cases = discover(HERE / "noprov")
    report = run_tests(policy, cases)
    assert {p: r.status for p, r in rows(report).items()} == {
        "1(1)": "undeclared (covered)", "1(2)": "undeclared (covered)",
        "1(5)": "undeclared (covered)"}
    assert report.coverage_line() == \
        "coverage: 0 covered, 0 partial, 0 uncovered, 0 not computable, 3 undeclared"


def test_require_coverage(basic: Policy) -> None:
    report = run_tests(basic, [ACTIVE], require_coverage=True)
    assert report.failed == 0
    assert [r.provision for r in report.coverage_failures()] == ["1(2)", "1(4)"]
    assert (report.ok, report.exit_code) == (False, 1)
    assert run_tests(basic, [ACTIVE, DORMANT], require_coverage=True).ok


# -- renderings ------------------------------------------------------------------------


def test_text_report(basic: Policy) -> None:
    text = run_tests(basic, [ACTIVE, FAILING / "broken.yaml"]).render_text()
    lines = text.splitlines()
    assert lines[:3] == ["PASS active", "FAIL broken",
                         "  case could not run: invalid YAML at line 3, column 19: "
                         "expected the node content, but found '}'"]
    assert "1 passed, 1 failed" in lines
    header = next(line for line in lines if line.startswith("provision"))
    for column in ("definitions citing it", "cases exercising it", "cases where it decided",
                   "status"):
        assert column in header
    row = next(line for line in lines if line.startswith("1(4) "))
    assert row.split()[-1] == "uncovered"
    assert lines[-1] == "coverage: 3 covered, 1 partial, 1 uncovered, 1 not computable"


def test_json_report(basic: Policy) -> None:
    doc = json.loads(run_tests(basic, [ACTIVE, FAILING / "wrong.yaml"]).to_json())
    assert doc["summary"]["passed"] == 1 and doc["summary"]["failed"] == 1
    assert doc["cases"][1]["name"] == "wrong" and len(doc["cases"][1]["diffs"]) == 13
    cov = {r["provision"]: r for r in doc["coverage"]}
    assert cov["1(2)"]["state"] == "covered"
    assert cov["9(1)"]["computable"] is False


def test_junit_counts(basic: Policy) -> None:
    report = run_tests(basic, [ACTIVE, FAILING / "wrong.yaml"])
    suite = ET.fromstring(report.to_junit()).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("8", "1", "1")
    cases = {tc.get("name"): tc for tc in suite.iter("testcase")}
    assert list(cases) == ["active", "wrong", "coverage 1(1)", "coverage 1(2)",
                           "coverage 1(3)", "coverage 1(4)", "coverage 1(5)", "coverage 9(1)"]
    failure = cases["wrong"].find("failure")
    assert failure is not None and failure.text is not None
    assert failure.text.splitlines()[0] == "errors: expected M9-A, not reported"
    assert cases["coverage 9(1)"].find("skipped") is not None
    # an uncovered provision always fails; a partial one under --require-coverage
    for require, failures in ((False, "1"), (True, "2")):
        only = run_tests(basic, [ACTIVE], require_coverage=require)
        suite = ET.fromstring(only.to_junit()).find("testsuite")
        assert suite is not None and suite.get("failures") == failures


# -- command line ----------------------------------------------------------------------


def test_cli_exit_codes(tmp_path: Path) -> None:
    code, out, err = run(str(BASIC))
    assert code == 0, err
    assert "3 passed, 0 failed\n" in out
    code, out, _ = run(str(FAILING), "--policy", str(BASIC))
    assert code == 1
    assert "0 passed, 4 failed\n" in out and "FAIL wrong\n" in out
    assert "Traceback" not in out
    code, out, err = run(str(HERE / "invalid"))
    assert code == 2 and out == ""
    assert "cannot add `Text` to `Date`" in err
    code, _, err = run(str(HERE / "nowhere"))
    assert code == 2 and "no such file or directory" in err
    code, _, err = run(str(FAILING))
    assert code == 2 and "give --policy" in err


def test_cli_require_coverage_json_and_junit(tmp_path: Path) -> None:
    assert run(str(ACTIVE))[0] == 0
    code, out, _ = run(str(ACTIVE), "--require-coverage")
    assert code == 1
    assert "FAIL coverage 1(4): uncovered" in out
    assert run(str(ACTIVE), str(DORMANT), "--require-coverage")[0] == 0
    junit = tmp_path / "report.xml"
    code, out, _ = run(str(BASIC), "--format", "json", "--junit", str(junit))
    assert code == 0
    assert json.loads(out)["ok"] is True
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "9"


def test_baseline_corpus_passes() -> None:
    """The hand-computed corpus through `unclaimed test` against the baseline policy."""
    code, out, err = run(*(str(p) for p in sorted(CASES.glob("*.yaml"))),
                         "--policy", "fsra-2024-001")
    failures = [line for line in out.splitlines()
                if line.startswith("FAIL") or (line.startswith("  ") and line[2:3] != " ")]
    assert code == 0, "\n".join(failures) or err
    assert f"{len(list(CASES.glob('*.yaml')))} passed, 0 failed" in out


# -- explaining failures (issue 16) ------------------------------------------------------


def _swapped_case(tmp_path: Path) -> Path:
    """The 2(6) case with M1-A's and M2-A's finding codes swapped and a wrong status."""
    text = (CASES / "s2-06-transfer-missing-eft.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    accounts = doc["expect"]["accounts"]
    accounts["M1-A"]["finding_codes"] = ["transfer-incomplete"]
    accounts["M2-A"]["finding_codes"] = []
    accounts["M2-A"]["status"] = "unclaimed"
    path = tmp_path / "swapped.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_a_failing_baseline_case_explains_each_mismatch(tmp_path: Path) -> None:
    policy = load_policy(ROOT / "policies" / "fsra-2024-001")
    result = run_case(policy, _swapped_case(tmp_path))
    assert not result.passed and result.ran
    got = result.to_dict()
    by_diff = dict(zip(got["diffs"], got["explanations"], strict=True))
    unexpected = next(d for d in by_diff if d.startswith("account M2-A: finding_codes: "
                                                         "unexpected transfer-incomplete"))
    # the finding's provision and its message, which names what the transfer lacked
    assert "[2(12)" in unexpected or "[2(6)" in unexpected, unexpected
    assert "electronic_funds_transfer" in unexpected or "electronic funds" in unexpected
    # a missing finding: the definition that writes that code, with what it read
    missing = by_diff["account M1-A: finding_codes: missing transfer-incomplete"]
    assert missing[0].startswith("transfer_findings = []  [")
    assert any(line.strip().startswith("transfers = [") for line in missing[1:])
    # a wrong value: the chain of definitions behind it, with values and provisions,
    # at most three levels deep
    status = by_diff["account M2-A: status: expected unclaimed, got transferred"]
    assert status[0] == "status = transferred  [2(1); Act 147(1)]"
    assert any(line.startswith("  transferred_on = 2026-11-01  [") for line in status)
    assert all(len(line) - len(line.lstrip()) <= 4 for line in status if " = " in line)
    assert any(line.lstrip().startswith("uses ") for line in status)
    # the text report shows them under the mismatch, and the JUnit failure too
    report = run_tests(policy, [_swapped_case(tmp_path)])
    text = report.render_text().splitlines()
    at = text.index("  account M2-A: status: expected unclaimed, got transferred")
    assert text[at + 1] == "      status = transferred  [2(1); Act 147(1)]"
    junit = ET.fromstring(report.to_junit())
    failure = junit.find(".//testcase[@name='swapped']/failure")
    assert failure is not None and failure.text is not None
    assert "    status = transferred  [2(1); Act 147(1)]" in failure.text
