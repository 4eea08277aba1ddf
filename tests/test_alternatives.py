"""Each alternative or interpretation policy changes exactly the outcomes it should.

Account outcomes are compared over a generated portfolio (columnar backend); claim
outcomes over the bundled full profiles (scalar backend).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from evaluator import Policy, check_policy, load_facts, load_policy
from evaluator.columnar import read_table
from evaluator.facts import facts_from_json
from evaluator.generate import generate
from evaluator.policytest import discover, run_tests
from tests.support import BASELINE, ROOT

ALTERNATIVES = ROOT / "policies" / "alternatives"
INTERPRETATIONS = ROOT / "policies" / "interpretations"
AS_OF = "2026-11-21"
POLICY_FILES = sorted([*ALTERNATIVES.glob("*.yaml"), *INTERPRETATIONS.glob("*.yaml")])


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("alt") / "p.parquet"
    generate(out, 3000, seed=21)
    return read_table(out, out.with_name("p.fx.csv"))


def accounts(policy: Policy, facts: Any) -> dict[str, dict[str, Any]]:
    result = policy.evaluate(facts, as_of=AS_OF).to_dict()
    return {a["account_id"]: a for a in result["accounts"]}


def claims(policy: Policy) -> dict[str, dict[str, Any]]:
    result = policy.evaluate(load_facts(ROOT / "examples" / "members.json"), as_of=AS_OF)
    return {c["claim_id"]: c for c in result.to_dict()["claims"]}


@pytest.fixture(scope="module")
def baseline() -> Policy:
    return load_policy(BASELINE)


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.stem)
def test_every_alternative_checks_and_cites_what_it_models(path: Path) -> None:
    errors = [d for d in check_policy(path) if d.is_error]
    assert not errors, "\n".join(d.render() for d in errors)
    policy = load_policy(path)
    assert policy.document.extends == "fsra-2024-001@1.1.0"
    assert policy.document.models
    assert policy.document.status in ("alternative", "interpretation")
    # effective dates not restated are the baseline's
    assert policy.document.effective == {"from": "2025-01-01", "to": None}


def same_except(a: dict[str, Any], b: dict[str, Any], fields: set[str]) -> None:
    for key in a:
        if key not in fields:
            assert a[key] == b[key], (a["account_id"], key)


def test_semi_annual_windows_move_payments_earlier_never_later(baseline: Policy,
                                                               portfolio: Any) -> None:
    base = accounts(baseline, portfolio)
    alt = accounts(load_policy(ALTERNATIVES / "semi-annual-windows.yaml"), portfolio)
    earlier = 0
    for aid, b in base.items():
        a = alt[aid]
        assert a["payment_window"]["opens"] <= b["payment_window"]["opens"]
        assert a["payment_window"]["closes"] <= b["payment_window"]["closes"]
        earlier += a["payment_window"]["opens"] < b["payment_window"]["opens"]
        same_except(a, b, {"payment_window", "amount_cad", "findings"})
    assert earlier > 0


def test_quarterly_windows_open_within_a_quarter_of_the_unclaimed_date(
        baseline: Policy, portfolio: Any) -> None:
    alt = accounts(load_policy(ALTERNATIVES / "quarterly-windows.yaml"), portfolio)
    transition_end = dt.date(2026, 1, 1)
    for a in alt.values():
        opens = dt.date.fromisoformat(a["payment_window"]["opens"])
        unclaimed = dt.date.fromisoformat(a["unclaimed_on"])
        assert opens > unclaimed
        assert (opens - unclaimed).days <= 106 or opens >= transition_end


def test_interest_raises_amounts_payable_and_nothing_else(baseline: Policy,
                                                          portfolio: Any) -> None:
    alt_policy = load_policy(ALTERNATIVES / "interest.yaml")
    assert accounts(alt_policy, portfolio) == accounts(baseline, portfolio)
    base, alt = claims(baseline), claims(alt_policy)
    raised = 0
    for cid, b in base.items():
        a = alt[cid]
        same = {k: v for k, v in a.items() if k != "amount_payable"}
        assert same == {k: v for k, v in b.items() if k != "amount_payable"}
        if b["amount_payable"] is not None:
            assert float(a["amount_payable"]) >= float(b["amount_payable"])
            raised += a["amount_payable"] != b["amount_payable"]
    assert raised > 0


def test_no_reconsideration_removes_section_4_only(baseline: Policy, portfolio: Any) -> None:
    alt_policy = load_policy(ALTERNATIVES / "no-reconsideration.yaml")
    assert accounts(alt_policy, portfolio) == accounts(baseline, portfolio)
    base, alt = claims(baseline), claims(alt_policy)
    for cid, b in base.items():
        a = alt[cid]
        assert a["reconsideration_due"] is None
        codes_b = [f["code"] for f in b["findings"] if not f["code"].startswith("reconsideration")]
        codes_a = [f["code"] for f in a["findings"] if not f["code"].startswith("reconsideration")]
        assert codes_a == codes_b
    assert any(f["code"] == "reconsideration-not-available"
               for c in alt.values() for f in c["findings"])


def test_a3_literal_or_makes_profiles_inactive_earlier_or_the_same(
        baseline: Policy, portfolio: Any) -> None:
    base = accounts(baseline, portfolio)
    alt = accounts(load_policy(INTERPRETATIONS / "a3-literal-or.yaml"), portfolio)
    for aid, b in base.items():
        a = alt[aid]
        assert a["inactive_on"] <= b["inactive_on"]
        assert a["unclaimed_on"] == b["unclaimed_on"]
        assert (a["status"], b["status"]) in {(s, s) for s in ("active", "inactive",
                                                               "unclaimed")} | {
            ("inactive", "active")}


def test_a4_profile_unclaimed_makes_deposits_unclaimed_later_or_the_same(
        baseline: Policy, portfolio: Any) -> None:
    base = accounts(baseline, portfolio)
    alt = accounts(load_policy(INTERPRETATIONS / "a4-profile-unclaimed.yaml"), portfolio)
    later = 0
    for aid, b in base.items():
        a = alt[aid]
        assert a["unclaimed_on"] >= b["unclaimed_on"]
        assert a["inactive_on"] == b["inactive_on"]
        later += a["unclaimed_on"] > b["unclaimed_on"]
        assert not any(f["code"] == "unnotified-unclaimed" for f in a["findings"])
    assert later > 0


def test_n1_marks_after_inactive_is_reported_and_moves_later_notices(
        baseline: Policy, portfolio: Any) -> None:
    path = INTERPRETATIONS / "n1-marks-after-inactive.yaml"
    conflicts = [d for d in check_policy(path) if d.code == "conflict"]
    assert [d.message for d in conflicts] == [
        "notice mark `9y` is due 11 years after the last activity, on or after the deposit "
        "becomes unclaimed (10 years)"]
    base = accounts(baseline, portfolio)
    alt = accounts(load_policy(path), portfolio)
    for aid, b in base.items():
        marks_a = {n["mark"]: n["due"] for n in alt[aid]["notices"]}
        marks_b = {n["mark"]: n["due"] for n in b["notices"]}
        assert marks_a.get("2y") == marks_b.get("2y")
        if "5y" in marks_a and "5y" in marks_b:
            assert marks_a["5y"] > marks_b["5y"]
        assert "9y" not in marks_a  # 11 years: always after the deposit is unclaimed


def test_prescriptive_information_rejects_incomplete_transfers(baseline: Policy,
                                                              portfolio: Any) -> None:
    alt_policy = load_policy(ALTERNATIVES / "prescriptive-information.yaml")
    # snapshots carry no transfers: no account changes
    assert accounts(alt_policy, portfolio) == accounts(baseline, portfolio)
    facts = load_facts(ROOT / "examples" / "members.json")
    base = {a.account_id: a for a in baseline.evaluate(facts, as_of=AS_OF).accounts}
    alt = {a.account_id: a for a in alt_policy.evaluate(facts, as_of=AS_OF).accounts}
    moved = 0
    for aid, b in base.items():
        a = alt[aid]
        if b.status == "transferred":  # the sample's transfers list none of the data points
            assert a.status == "unclaimed"
            assert "transfer-rejected" in [f["code"] for f in a.findings]
            moved += 1
        else:
            assert a.values == b.values
    assert moved > 0


def test_excluding_foreign_currency_removes_exactly_the_foreign_transfers(
        baseline: Policy, portfolio: Any) -> None:
    base = accounts(baseline, portfolio)
    alt = accounts(load_policy(ALTERNATIVES / "exclude-foreign-currency.yaml"), portfolio)
    foreign = {r["account_id"] for r in portfolio.frame.iter_rows(named=True)
               if r["currency"] != "CAD"}
    assert foreign
    for aid, b in base.items():
        a = alt[aid]
        if aid in foreign:
            assert a["in_scope"] is False and b["in_scope"] is True
            assert a["status"] != "unclaimed"
            assert not any(f["code"] in ("payment-overdue", "unnotified-unclaimed")
                           for f in a["findings"])
        else:
            assert a == b


def test_broader_deposit_brings_gift_cards_in(tmp_path: Path) -> None:
    out = tmp_path / "kinds.csv"
    generate(out, 1500, seed=8, kinds=True)
    table = read_table(out, out.with_name("kinds.fx.csv"))
    kinds = {r["account_id"]: r["kind"] for r in table.frame.iter_rows(named=True)}
    assert {"gift-card", "prepaid"} <= set(kinds.values())
    base = accounts(load_policy(BASELINE), table)
    alt = accounts(load_policy(ALTERNATIVES / "broader-deposit.yaml"), table)
    for aid, b in base.items():
        a = alt[aid]
        if kinds[aid] == "deposit":
            assert a == b
        else:
            assert b["in_scope"] is False and a["in_scope"] is True
            assert b["status"] != "unclaimed"
    assert any(a["status"] == "unclaimed" for aid, a in alt.items() if kinds[aid] != "deposit")


MARKS_ON_EVERY_ACCOUNT = INTERPRETATIONS / "marks-on-every-account.yaml"
N4_CASES = ROOT / "tests" / "interpretations" / "marks-on-every-account"


def test_marks_on_every_account_cites_n4() -> None:
    policy = load_policy(MARKS_ON_EVERY_ACCOUNT)
    assert "N4" in policy.document.interpretations
    assert "N4" in policy.document.definitions["regular_notices"].provision.split("; ")


def test_marks_on_every_account_cases_pass_and_the_baseline_differs_on_and_after(
        baseline: Policy) -> None:
    """The cases put a mark before, on, the day before and after an account's unclaimed
    date: the alternative lists them all; the baseline misses exactly those on or after."""
    policy, cases = discover(N4_CASES, policy_ref=MARKS_ON_EVERY_ACCOUNT)
    assert len(cases) == 3
    report = run_tests(policy, cases)
    assert [c.name for c in report.cases if not c.passed] == []
    for case in cases:
        facts = facts_from_json(yaml.safe_load(case.read_text(encoding="utf-8"))["facts"])
        alt, base = accounts(policy, facts), accounts(baseline, facts)
        for aid, b in base.items():
            a = alt[aid]
            same_except(a, b, {"notices"})
            extra = [n for n in a["notices"] if n not in b["notices"]]
            assert all(n["due"] >= b["unclaimed_on"] for n in extra), (case.name, aid)
            # whatever falls before the unclaimed date is listed by both
            assert [n for n in a["notices"] if n not in extra] == b["notices"]
    failed = [c.name for c in run_tests(baseline, cases).cases if not c.passed]
    assert failed == ["n4-mark-before-on-after-unclaimed", "n4-mark-on-unclaimed"]


def test_marks_on_every_account_adds_only_marks_on_or_after_the_unclaimed_date(
        baseline: Policy, portfolio: Any) -> None:
    base = accounts(baseline, portfolio)
    alt = accounts(load_policy(MARKS_ON_EVERY_ACCOUNT), portfolio)
    added = 0
    for aid, b in base.items():
        a = alt[aid]
        same_except(a, b, {"notices"})
        extra = [n for n in a["notices"] if n not in b["notices"]]
        assert [n for n in a["notices"] if n not in extra] == b["notices"]
        assert all(n["due"] >= b["unclaimed_on"] for n in extra), aid
        added += len(extra)
    assert added > 0
