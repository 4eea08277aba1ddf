"""The `unclaimed` command, in-process through `main(argv)`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from evaluator.cli import main
from tests.support import BASELINE, ROOT

EXAMPLES = ROOT / "examples"
CONTRACT = {
    "fx_rates": [{"currency": "USD", "date": "2026-09-30", "rate": "1.3850"}],
    "members": [{
        "member_id": "M1",
        "accounts": [{"account_id": "M1-A", "currency": "CAD", "balance": "1520.00",
                      "opened": "2001-04-01"}],
        "events": [
            {"date": "2014-03-02", "type": "transaction", "account_id": "M1-A"},
            {"date": "2014-06-30", "type": "statement_ack"},
            {"date": "2016-03-10", "type": "notice", "mark": "2y"},
            {"date": "2016-04-01", "type": "response"},
            {"date": "2026-05-05", "type": "fee", "account_id": "M1-A", "amount": "5.00"},
            {"date": "2026-11-01", "type": "transfer", "account_id": "M1-A",
             "amount": "1520.00"},
        ]}],
    "claims": [{"claim_id": "C1", "account_id": "M1-A", "received": "2026-11-03",
                "complete": "2026-11-05", "decision": None, "decided": None,
                "reconsideration_complete": None}],
}


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def contract_facts(tmp_path: Path) -> Path:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(CONTRACT), encoding="utf-8")
    return path


def test_contract_example_gives_the_contract_answers(contract_facts: Path) -> None:
    code, out, err = run("evaluate", "--policy", str(BASELINE), "--facts", str(contract_facts),
                         "--as-of", "2026-11-21", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["policy"]["id"] == "fsra-2024-001"
    assert doc["policy"]["version"] == "1.1.0"
    assert len(doc["policy"]["sha256"]) == 64
    assert doc["as_of"] == "2026-11-21"
    assert doc["parameters"]["coming_into_force"] == "2025-01-01"
    (acc,) = doc["accounts"]
    assert acc["member_id"] == "M1" and acc["account_id"] == "M1-A"
    assert acc["status"] == "transferred"
    assert acc["last_activity"] == "2016-04-01"
    assert acc["inactive_on"] == "2018-04-01"
    assert acc["unclaimed_on"] == "2026-04-01"
    assert {"mark": "2y", "due": "2018-04-01", "required": False,
            "provision": "2(2)"} in acc["notices"]
    assert acc["payment_window"] == {"opens": "2026-10-15", "closes": "2026-12-15",
                                     "provision": "2(5)(i)"}
    assert acc["amount_cad"] == "1520.00"
    # the example's transfer lists nothing that accompanied it, so since 1.1.0 it is also
    # reported as incomplete (2(12))
    fee, incomplete = acc["findings"]
    assert incomplete["code"] == "transfer-incomplete"
    assert incomplete["provision"] == "2(12); Act 147(3)"
    finding = fee
    assert finding["code"] == "fee-after-unclaimed"
    assert finding["provision"] == "2(16)"
    assert finding["severity"] == "violation"
    (claim,) = doc["claims"]
    assert claim["claim_id"] == "C1" and claim["response_due"] == "2027-03-05"
    assert doc["errors"] == []


def test_policy_by_id_and_version(contract_facts: Path) -> None:
    for ref in ("fsra-2024-001", "fsra-2024-001@1.1.0", "fsra-2024-001@1.0.0",
                str(BASELINE / "policy.yaml")):
        code, out, _ = run("evaluate", "--policy", ref, "--facts", str(contract_facts),
                           "--as-of", "2026-11-21")
        assert code == 0
        assert json.loads(out)["accounts"][0]["status"] == "transferred"
    code, _, err = run("evaluate", "--policy", "fsra-2024-001@9.9.9", "--facts",
                       str(contract_facts), "--as-of", "2026-11-21")
    assert code == 2 and "no version `9.9.9`" in err and "1.0.0, 1.1.0" in err
    code, _, err = run("evaluate", "--policy", "fsra-2024-01", "--facts",
                       str(contract_facts), "--as-of", "2026-11-21")
    assert code == 2 and "did you mean `fsra-2024-001`" in err


def test_param_overrides_coming_into_force(contract_facts: Path) -> None:
    code, out, _ = run("evaluate", "--policy", "fsra-2024-001", "--facts", str(contract_facts),
                       "--as-of", "2026-11-21", "--param", "coming_into_force=2026-07-01")
    assert code == 0
    doc = json.loads(out)
    assert doc["parameters"]["coming_into_force"] == "2026-07-01"
    # transition end 2027-07-01: the 2026 window closes before it, so 2027's is used
    assert doc["accounts"][0]["payment_window"]["opens"] == "2027-10-15"
    assert doc["accounts"][0]["payment_window"]["provision"] == "2(5)(i); 6(3)"


@pytest.mark.parametrize("param, message", [
    ("coming_into_force=2026-02-30", "not a calendar date"),
    ("coming_into_force=10 years", "is a Duration"),
    ("coming_into_forc=2026-01-01", "did you mean `coming_into_force`"),
    ("unclaimed_period", "expected NAME=VALUE"),
    ("payment_windows=x", "cannot be set from text"),
])
def test_bad_params_exit_2(contract_facts: Path, param: str, message: str) -> None:
    code, out, err = run("evaluate", "--policy", "fsra-2024-001", "--facts",
                         str(contract_facts), "--as-of", "2026-11-21", "--param", param)
    assert code == 2
    assert out == ""
    assert message in err


def test_record_errors_exit_1_and_others_still_evaluated(tmp_path: Path) -> None:
    facts = {"members": [
        {"member_id": "M1", "accounts": [{"account_id": "M1-A", "currency": "USD",
                                          "balance": "10.00", "opened": "2001-01-01"}]},
        {"member_id": "M2", "accounts": [{"account_id": "M2-A", "currency": "CAD",
                                          "balance": "-1", "opened": "2001-01-01"}]},
        {"member_id": "M3", "accounts": [{"account_id": "M3-A", "currency": "CAD",
                                          "balance": "7.50", "opened": "2020-01-01"}]},
    ]}
    path = tmp_path / "f.json"
    path.write_text(json.dumps(facts), encoding="utf-8")
    code, out, _ = run("evaluate", "--policy", "fsra-2024-001", "--facts", str(path),
                       "--as-of", "2026-11-21")
    assert code == 1
    doc = json.loads(out)
    assert [a["account_id"] for a in doc["accounts"]] == ["M3-A"]
    errors = {e["account_id"]: e["message"] for e in doc["errors"]}
    assert set(errors) == {"M1-A", "M2-A"}
    # unclaimed 2011, window deferred past the transition to 2026: the 2026-09-30 rate
    assert "USD" in errors["M1-A"] and "2026-09-30" in errors["M1-A"]
    assert "negative" in errors["M2-A"]


@pytest.mark.parametrize("argv, message", [
    (["--facts", "missing.json"], "missing.json"),
    (["--as-of", "2026-13-01"], "as-of date"),
])
def test_whole_input_errors_exit_2(contract_facts: Path, argv: list[str], message: str) -> None:
    base = {"--policy": "fsra-2024-001", "--facts": str(contract_facts), "--as-of": "2026-11-21"}
    base.update(dict(zip(argv[::2], argv[1::2], strict=True)))
    args = [x for kv in base.items() for x in kv]
    code, _, err = run("evaluate", *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_csv_snapshot_with_fx_matches_json_for_the_same_members() -> None:
    code_csv, out_csv, _ = run("evaluate", "--policy", "fsra-2024-001", "--facts",
                               str(EXAMPLES / "members.csv"), "--fx", str(EXAMPLES / "fx.csv"),
                               "--as-of", "2026-11-21")
    code_json, out_json, _ = run("evaluate", "--policy", "fsra-2024-001", "--facts",
                                 str(EXAMPLES / "members.json"), "--as-of", "2026-11-21")
    assert code_csv == 0 and code_json == 0
    from_csv = {a["account_id"]: a for a in json.loads(out_csv)["accounts"]}
    from_json = {a["account_id"]: a for a in json.loads(out_json)["accounts"]}
    assert from_csv
    for account_id, det in from_csv.items():
        assert det == from_json[account_id]


def test_csv_and_table_formats(contract_facts: Path) -> None:
    code, out, _ = run("evaluate", "--policy", "fsra-2024-001", "--facts", str(contract_facts),
                       "--as-of", "2026-11-21", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["status"] == "transferred"
    assert rows[0]["window_opens"] == "2026-10-15"
    assert rows[0]["findings"] == "fee-after-unclaimed; transfer-incomplete"
    code, out, _ = run("evaluate", "--policy", "fsra-2024-001", "--facts", str(contract_facts),
                       "--as-of", "2026-11-21", "--format", "table")
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["member_id", "account_id", "status"]
    assert "claims: C1" in out


def test_explain_traces_definitions_provisions_and_parameter_setters(
        contract_facts: Path) -> None:
    code, out, _ = run("evaluate", "--policy", "fsra-2024-001", "--facts", str(contract_facts),
                       "--as-of", "2026-11-21", "--explain",
                       "--param", "coming_into_force=2025-03-01")
    assert code == 0
    trace = json.loads(out)["accounts"][0]["trace"]
    defs = {t["definition"]: t for t in trace if "definition" in t}
    params = {t["parameter"]: t for t in trace if "parameter" in t}
    assert defs["unclaimed_on"]["value"] == "2026-04-01"
    assert defs["unclaimed_on"]["provision"].startswith("Act 147(1)")
    assert defs["last_activity"]["value"] == "2016-04-01"
    assert defs["inactive_on"]["entity"] == "member"
    assert defs["unclaimed_on"]["at"].startswith("policies/fsra-2024-001/policy.yaml:")
    assert params["coming_into_force"]["set_by"] == "--param"
    assert params["unclaimed_period"]["set_by"] == "fsra-2024-001@1.1.0"
    # a definition is listed after those it uses
    names = [t["definition"] for t in trace if "definition" in t]
    assert names.index("last_activity") < names.index("unclaimed_on") < names.index("status")


def test_check_ok_and_broken(tmp_path: Path) -> None:
    code, out, _ = run("check", str(BASELINE))
    assert code == 0
    assert "ok: 0 errors" in out
    text = (BASELINE / "policy.yaml").read_text(encoding="utf-8")
    broken = text.replace("formula: last_activity + unclaimed_period",
                          "formula: last_activty + unclaimed_period")
    assert broken != text
    path = tmp_path / "policy.yaml"
    path.write_text(broken, encoding="utf-8")
    code, out, _ = run("check", str(path))
    assert code == 2
    assert "unknown name `last_activty`" in out
    assert "did you mean `last_activity`?" in out
    assert "invalid: 1 error" in out
    code, out, _ = run("check", "--format", "json", str(path))
    assert code == 2
    (report,) = json.loads(out)
    assert report["ok"] is False
    assert report["diagnostics"][0]["line"] > 1


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as exc:
        run("evaluate", "--policy", "x")
    assert exc.value.code == 2
