"""The builtins regimes need, through a policy on both backends where the columnar one
cannot be exact: compound interest whose integers leave 64 bits, and accrued_interest
compounded continuously, are refused by the columnar backend and evaluated by the scalar
one under `auto` (never wrapped); and the rate on or before a day, with its date, in the
JSON a user gets from the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from evaluator import Policy, PolicyError, load_policy
from evaluator.columnar import table_from_frame
from evaluator.facts import facts_from_snapshot, parse_fx_rows
from tests.support import BASELINE

POLICY = """\
policy: long-interest
version: 1.0.0
status: alternative
title: interest over decades
extends: fsra-2024-001@1.1.0
definitions:
  compound_40y:
    entity: account
    provision: "5(1)"
    formula: interest_compound(balance, 5%, opened, as_of)
  continuous:
    entity: account
    provision: "5(1)"
    formula: accrued_interest(balance, 5%, opened, as_of, "compound", 100 years)
  rate_used:
    entity: account
    provision: "2(15)"
    formula: fx_rate_on_or_before(currency, opened)
outputs:
  account: [compound_40y, continuous, rate_used]
"""
ROWS = [{"member_id": "M1", "account_id": "M1-A", "currency": "USD", "balance": "1520.00",
         "opened": "1986-02-28", "last_transaction": "", "last_statement_ack": "",
         "last_response": ""},
        {"member_id": "M2", "account_id": "M2-A", "currency": "USD", "balance": "10.00",
         "opened": "1984-02-29", "last_transaction": "", "last_statement_ack": "",
         "last_response": ""}]
FX = [{"currency": "USD", "date": "1985-01-02", "rate": "1.3"}]


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Policy, Path]:
    root = tmp_path_factory.mktemp("policies")
    shutil.copytree(BASELINE, root / "fsra-2024-001")
    shutil.copytree(BASELINE.parent / "deposits-base", root / "deposits-base")  # it extends
    (root / "long.yaml").write_text(POLICY, encoding="utf-8")
    return load_policy(root / "long.yaml"), root / "long.yaml"


def test_beyond_exact_integers_the_columnar_backend_refuses_and_auto_is_scalar(
        policy: tuple[Policy, Path]) -> None:
    p, _ = policy
    frame = pl.DataFrame(ROWS, schema={k: pl.String for k in ROWS[0]})
    table = table_from_frame(frame, parse_fx_rows(FX))
    with pytest.raises(PolicyError, match="columnar backend cannot evaluate"):
        p.evaluate(table, as_of="2026-11-21", backend="columnar")
    auto = p.evaluate(table, as_of="2026-11-21").to_dict()
    scalar = p.evaluate(facts_from_snapshot(ROWS, FX), as_of="2026-11-21",
                        backend="scalar").to_dict()
    assert auto == scalar
    got = {a["account_id"]: a for a in scalar["accounts"]}
    # 40 whole years from 28 Feb 1986 to 28 Feb 2026, then 266 days simple
    want = round(1520 * (1.05 ** 40 * (1 + 0.05 * 266 / 365) - 1), 2)
    assert abs(float(got["M1-A"]["compound_40y"]) - want) < 0.02
    assert got["M1-A"]["compound_40y"] != got["M1-A"]["continuous"]


def test_the_rate_used_and_its_date_are_in_the_json_of_the_cli(
        policy: tuple[Policy, Path], tmp_path: Path) -> None:
    _, path = policy
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"fx_rates": FX, "members": [
        {"member_id": r["member_id"], "accounts": [
            {"account_id": r["account_id"], "currency": r["currency"],
             "balance": r["balance"], "opened": r["opened"]}]} for r in ROWS]}),
        encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "evaluator", "evaluate", "--policy", str(path),
                           "--facts", str(facts), "--as-of", "2026-11-21", "--format", "json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    accounts = {a["account_id"]: a for a in json.loads(done.stdout)["accounts"]}
    assert accounts["M1-A"]["rate_used"] == {"rate": "1.3", "date": "1985-01-02"}
    assert accounts["M2-A"]["rate_used"] is None  # opened before the first rate
