"""deposits-base, the regime-neutral base (issue 12, item 2): fsra-2024-001 extends it
without changing what it computes, and a new regime can be written on it (restating the
machinery under its own provisions, removing what its law does not have)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from evaluator import load_policy
from evaluator.policytest import run_tests
from tests.support import ROOT

BIN = Path(sys.executable).parent / "unclaimed"
BASE = ROOT / "policies" / "deposits-base"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, cwd=cwd,
                          check=False)


def test_the_base_checks_strict_and_its_header_lists_what_it_provides() -> None:
    out = run("check", "--strict", str(BASE))
    assert out.returncode == 0, out.stdout + out.stderr
    base = load_policy(BASE)
    header = (BASE / "policy.yaml").read_text(encoding="utf-8").split("\npolicy:")[0]
    for name in [*base.document.definitions, *base.document.parameters]:
        assert name in header, f"{name} is not listed in the header comment"


def test_fsra_takes_the_shared_machinery_from_the_base() -> None:
    fsra = load_policy("fsra-2024-001").document
    base = load_policy(BASE).document
    assert fsra.chain == ("deposits-base@1.0.0", "fsra-2024-001@1.1.0")
    inherited = [n for n, d in fsra.definitions.items()
                 if d.span() is not None and d.span().file.startswith("policies/deposits-base")]
    assert sorted(inherited) == sorted([
        "last_statement_ack", "last_response", "last_transaction", "last_activity",
        "profile_last_activity", "marks", "fx_date", "rate", "amount_cad"])
    for name in inherited:
        assert fsra.definitions[name].formula == base.definitions[name].formula
        # ... cited under the rule's own provisions, not the base's labels
        assert "base" not in (fsra.definitions[name].provision or "")
    assert not [p for p in fsra.provisions if p.startswith("base ")]
    assert "payments_from" not in fsra.parameters
    # every parameter is the rule's own value, as before
    assert {p.set_by for p in fsra.parameters.values()} <= {
        "fsra-2024-001@1.1.0", "derived in fsra-2024-001@1.1.0"}


def test_fsra_and_its_children_check_clean_under_strict() -> None:
    paths = [ROOT / "policies" / "fsra-2024-001",
             *sorted((ROOT / "policies" / "alternatives").glob("*.yaml"))]
    out = run("check", "--strict", *map(str, paths))
    assert out.returncode == 0, out.stdout + out.stderr


REGIME = """\
policy: three-years
version: 1.0.0
status: proposed
title: A regime on the base - three years, no notices, a first-quarter window
extends: deposits-base@1.0.0
provisions:
  "R 1": {text: a deposit is unclaimed three years after its last activity}
  "R 2": {text: it is remitted in the first quarter after the year it became unclaimed}
  "R 3": {text: foreign currency is remitted in Canadian dollars}
remove:
  provisions: [base clock, base profile, base unclaimed, base transfer, base notices,
               base windows, base conversion]
  parameters: [notice_marks]
  definitions: [marks, notices, profile_last_activity]
  invariants: [notices_before_unclaimed]
  outputs: [notices]
parameters:
  unclaimed_period: {type: duration, value: 3 years, provision: "R 1"}
  payment_windows:
    provision: "R 2"
    value:
      - {unclaimed_from: 1 Jan, unclaimed_to: 31 Dec, opens: 1 Jan, closes: 31 Mar, year_offset: 1, provision: "R 2"}
  payments_from: {value: 1900-01-01, provision: "R 2"}
  fx_rate_day: {value: 31 Mar, provision: "R 3"}
definitions:
  last_statement_ack: {provision: "R 1"}
  last_response: {provision: "R 1"}
  last_transaction: {provision: "R 1"}
  last_activity: {provision: "R 1"}
  unclaimed_on: {provision: "R 1"}
  transferred_on: {provision: "R 2"}
  status: {provision: "R 1; R 2"}
  window: {provision: "R 2"}
  payment_window: {provision: "R 2"}
  fx_date: {provision: "R 3"}
  rate: {provision: "R 3"}
  amount_cad: {provision: "R 3"}
"""


def test_a_regime_written_on_the_base(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    shutil.copytree(BASE, root / "deposits-base")
    path = root / "three-years.yaml"
    path.write_text(REGIME, encoding="utf-8")
    out = run("check", "--strict", str(path), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    policy = load_policy(path)
    assert policy.document.outputs["account"] == (
        "status", "last_activity", "unclaimed_on", "payment_window", "amount_cad")
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({
        "fx_rates": [{"currency": "USD", "date": "2025-03-31", "rate": "1.4000"}],
        "members": [{"member_id": "M1", "accounts": [
            {"account_id": "M1-A", "currency": "USD", "balance": "100.00",
             "opened": "2010-01-01"}],
            "events": [{"date": "2021-06-01", "type": "transaction", "account_id": "M1-A"}]}]}),
        encoding="utf-8")
    out = run("evaluate", "--policy", str(path), "--facts", str(facts), "--as-of",
              "2026-11-21", "--explain", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    account = json.loads(out.stdout)["accounts"][0]
    assert (account["status"], account["unclaimed_on"], account["amount_cad"]) == (
        "unclaimed", "2024-06-01", "140.00")
    assert account["payment_window"] == {"opens": "2025-01-01", "closes": "2025-03-31",
                                         "provision": "R 2"}
    assert "notices" not in account
    trace = {t["definition"]: t for t in account["trace"] if "definition" in t}
    assert trace["unclaimed_on"]["provision"] == "R 1"
    assert trace["unclaimed_on"]["quotes"] == {
        "R 1": "a deposit is unclaimed three years after its last activity"}
    assert trace["unclaimed_on"]["at"].startswith("policies/deposits-base/policy.yaml:")
    rows = {r.provision: r.text for r in run_tests(policy, []).coverage_rows()}
    assert set(rows) == {"R 1", "R 2", "R 3"}
