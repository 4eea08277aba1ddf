"""Provisions as data (issue 12, item 4): every declared label is a coverage row whatever
its shape, with its text; `--require-coverage` holds them all; `--explain` quotes the text
of what each definition cites; citing an undeclared label is a diagnostic. The fixture is
tests/policytest/odd-labels (labels `B-5.1 3`, `QC 3(1)`, `BoC interest`,
`Bank Act 438(1)`, cited also as the paragraph `Bank Act 438(1)(a)`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from evaluator import check_policy, load_policy
from evaluator.policytest import discover, run_tests
from tests.support import ROOT

BIN = Path(sys.executable).parent / "unclaimed"
ODD = ROOT / "tests" / "policytest" / "odd-labels"
LABELS = {
    "B-5.1 3": "a deposit is unclaimed three years after its last activity",
    "Bank Act 438(1)": "a deposit is unclaimed ten years after its last transaction",
    "BoC interest": "interest is paid only on a deposit that bore interest",
    "QC 3(1)": "a holder notifies the owner before remitting",
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, cwd=ROOT,
                          check=False)


def test_every_declared_label_is_a_row_with_its_text() -> None:
    out = run("test", "--require-coverage", "--format", "json", str(ODD))
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    rows = {r["provision"]: r for r in report["coverage"]}
    assert set(rows) == set(LABELS)  # the interpretation X1 is not a row
    assert {p: r["text"] for p, r in rows.items()} == LABELS
    assert {p: r["state"] for p, r in rows.items()} == dict.fromkeys(LABELS, "covered")
    assert rows["Bank Act 438(1)"]["definitions"] == ["bank_on"]
    assert report["summary"]["coverage"]["covered"] == 4


def test_the_text_report_counts_them() -> None:
    out = run("test", str(ODD))
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    for label in LABELS:
        assert any(line.startswith(label + "  ") for line in lines), label
    assert "coverage: 4 covered, 0 partial, 0 uncovered, 0 not computable" in lines


def test_require_coverage_fails_on_an_odd_label_left_partial() -> None:
    policy, cases = discover(ODD)
    report = run_tests(policy, [ODD / "tests" / "small-old.yaml"], require_coverage=True)
    assert report.failed == 0
    failing = {r.provision: r.status for r in report.coverage_failures()}
    assert failing == {"BoC interest": "partial: balance > 1000 never true",
                       "QC 3(1)": "partial: as_of >= quebec_on never false"}
    assert report.exit_code == 1
    assert "FAIL coverage BoC interest: partial" in report.render_text()
    assert run_tests(policy, cases, require_coverage=True).ok


def test_explain_quotes_the_text_of_each_label_cited(tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"members": [{
        "member_id": "M1", "accounts": [{"account_id": "M1-A", "currency": "CAD",
                                         "balance": "10.00", "opened": "2010-01-01"}]}]}),
        encoding="utf-8")
    out = run("evaluate", "--policy", str(ODD), "--facts", str(facts), "--as-of",
              "2026-11-21", "--explain")
    assert out.returncode == 0, out.stderr
    trace = {t["definition"]: t for t in json.loads(out.stdout)["accounts"][0]["trace"]
             if "definition" in t}
    # a paragraph is quoted with the text of the provision it belongs to
    assert trace["bank_on"]["quotes"] == {"Bank Act 438(1)(a)": LABELS["Bank Act 438(1)"]}
    assert trace["notify"]["quotes"] == {"QC 3(1)": LABELS["QC 3(1)"],
                                         "X1": "the amount is the balance as held"}
    assert trace["interest"]["quotes"] == {"BoC interest": LABELS["BoC interest"]}


def test_a_label_without_text_is_not_quoted(tmp_path: Path) -> None:
    text = (ODD / "policy.yaml").read_text(encoding="utf-8").replace(
        '"BoC interest": {text: interest is paid only on a deposit that bore interest}',
        '"BoC interest": {}')
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    policy = load_policy(path)
    assert policy.document.quote("BoC interest") is None
    assert policy.document.quotes("BoC interest; QC 3(1)") == {"QC 3(1)": LABELS["QC 3(1)"]}


def test_citing_an_undeclared_odd_label_is_a_diagnostic(tmp_path: Path) -> None:
    shutil.copytree(ODD, tmp_path / "odd")
    path = tmp_path / "odd" / "policy.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        'provision: "BoC interest"', 'provision: "BoC interests"'), encoding="utf-8")
    found = [(d.severity, d.message, d.help, d.span.line if d.span else None)
             for d in check_policy(path)]
    assert found == [("error", "`BoC interests` is not a provision or interpretation this "
                      "policy declares", "did you mean `BoC interest`?", 38)]


def test_the_base_policy_counts_its_own_labels() -> None:
    out = run("test", "--require-coverage", "--format", "json", "policies/deposits-base")
    assert out.returncode == 0, out.stdout + out.stderr
    rows = {r["provision"]: r for r in json.loads(out.stdout)["coverage"]}
    assert set(rows) == set(load_policy("policies/deposits-base").document.provisions)
    assert len(rows) == 7 and all(r["state"] == "covered" for r in rows.values())
    assert all(r["text"] for r in rows.values())


# -- the comparison report quotes each policy's provisions --------------------------------


def test_the_report_lists_each_policys_provisions_with_their_text() -> None:
    from evaluator.report import render_report
    from tests.test_report import sample_data

    data = sample_data()
    assert "<details class=\"provisions\">" not in render_report(data)  # none given
    data["policies"][0]["provisions"] = {"2(5)": "a credit union <shall> pay",
                                         "BoC interest": "only on a deposit that bore it"}
    text = render_report(data)
    assert text.count('<details class="provisions">') == 1
    assert "<dt>2(5)</dt><dd>a credit union &lt;shall&gt; pay</dd>" in text
    assert "<dt>BoC interest</dt><dd>only on a deposit that bore it</dd>" in text


def test_the_report_refuses_provisions_that_are_not_label_text() -> None:
    import pytest

    from evaluator.report import ReportDataError, render_report
    from tests.test_report import sample_data

    data = sample_data()
    data["policies"][1]["provisions"] = {"2(5)": 3}
    with pytest.raises(ReportDataError, match=r"policies\[1\]\.provisions: expected an "
                       "object of label: text"):
        render_report(data)


def test_compare_quotes_the_provisions_of_every_policy(tmp_path: Path) -> None:
    import html

    out = run("compare", "--policy", "fsra-2024-001", "--policy", "policies/deposits-base",
              "--facts", "examples/members.csv", "--fx", "examples/fx.csv",
              "--as-of", "2026-11-21",
              "--horizon", "2028", "--out", str(tmp_path / "out"))
    assert out.returncode in (0, 1), out.stderr
    text = html.unescape((tmp_path / "out" / "report.html").read_text(encoding="utf-8"))
    base = load_policy("policies/deposits-base").document.provisions
    fsra = load_policy("fsra-2024-001").document.provisions
    assert "Provisions of fsra-2024-001@1.1.0 (" in text.replace("<code>", "").replace(
        "</code>", "")
    assert f"<dt>2(5)(i)</dt><dd>{fsra['2(5)(i)'].text}</dd>" in text
    assert f"<dt>base clock</dt><dd>{base['base clock'].text}</dd>" in text
