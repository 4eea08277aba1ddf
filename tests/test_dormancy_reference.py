"""The dormancy workload's hand-written references (benchmarks/dormancy/reference.py)
give the policy's results: status, unclaimed date, remittance year, CAD amount, next
notice and the missing-rate errors, against both backends, on a generated portfolio
(written by `unclaimed generate`, with rates left out) and on dates at the edges
(29 Feb, 30 Jun / 1 Jul, the as-of day, 3/9/10 years before it)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from benchmarks.dormancy.reference import hand_numpy, hand_polars, read_fx_units
from evaluator import load_policy
from evaluator.columnar import read_table

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "benchmarks" / "dormancy" / "policy.yaml"
UNCLAIMED = Path(sys.executable).parent / "unclaimed"


def _policy_rows(path: Path, fx: Path, as_of: dt.date, backend: str
                 ) -> tuple[dict[str, tuple[Any, ...]], dict[str, str]]:
    """(account -> outputs, account -> error message) as the policy evaluates them."""
    policy = load_policy(POLICY)
    if backend == "columnar":
        facts: Any = read_table(path, fx=fx)
    else:
        from evaluator.columnar import parquet_facts
        facts = parquet_facts(path, fx=fx)
    result = policy.evaluate(facts, as_of=as_of.isoformat(), backend=backend)
    rows = {}
    for d in result.accounts:
        o = d.values
        amount = o["amount_cad"]
        rows[d.account_id] = (o["status"], o["unclaimed_on"], o["remittance_year"],
                              None if amount is None else int(amount * 100),
                              o["next_notice"])
    errors = {e.account_id: e.message for e in result.errors}
    return rows, errors


def _hand_rows(out: pl.DataFrame) -> tuple[dict[str, tuple[Any, ...]], dict[str, str]]:
    rows, errors = {}, {}
    for r in out.iter_rows(named=True):
        if r["error"] is not None:
            errors[r["account_id"]] = r["error"]
        else:
            rows[r["account_id"]] = (r["status"], r["unclaimed_on"], r["remittance_year"],
                                     r["amount_cad"], r["next_notice"])
    return rows, errors


def _check(path: Path, fx: Path, as_of: dt.date) -> int:
    rates = read_fx_units(str(fx))
    by_polars = _hand_rows(hand_polars(pl.scan_parquet(path), rates, as_of))
    by_numpy = _hand_rows(hand_numpy(pl.scan_parquet(path), rates, as_of))
    columnar = _policy_rows(path, fx, as_of, "columnar")
    scalar = _policy_rows(path, fx, as_of, "scalar")
    assert by_polars[1] == columnar[1] == scalar[1]
    assert by_numpy[1] == columnar[1]
    for account, expected in scalar[0].items():
        assert by_polars[0][account] == expected, account
        assert by_numpy[0][account] == expected, account
    assert by_polars[0] == by_numpy[0] == columnar[0] == scalar[0]
    return len(scalar[0]) + len(scalar[1])


@pytest.mark.parametrize("as_of", ["2026-11-21", "2028-06-30"])
def test_generated_portfolio_with_missing_rates(tmp_path: Path, as_of: str) -> None:
    out = tmp_path / "p.parquet"
    subprocess.run([str(UNCLAIMED), "generate", "--members", "600", "--seed", "7",
                    "--missing-rates", "0.3", "--foreign-share", "0.4",
                    "--out", str(out)], check=True, capture_output=True)
    fx = tmp_path / "p.fx.csv"
    rows, errors = _policy_rows(out, fx, dt.date.fromisoformat(as_of), "scalar")
    statuses = {r[0] for r in rows.values()}
    assert statuses == {"active", "dormant", "unclaimed"} and errors  # every case occurs
    assert _check(out, fx, dt.date.fromisoformat(as_of)) > 900


def test_edge_dates(tmp_path: Path) -> None:
    as_of = dt.date(2026, 11, 21)
    days = [dt.date(2016, 2, 29), dt.date(2020, 2, 29), dt.date(2016, 6, 30),
            dt.date(2016, 7, 1), dt.date(2017, 6, 30), dt.date(2017, 7, 1),
            dt.date(2016, 11, 21), dt.date(2016, 11, 22), dt.date(2023, 11, 21),
            dt.date(2023, 11, 22), dt.date(2017, 11, 21), dt.date(2017, 11, 22), as_of,
            dt.date(2012, 2, 29), dt.date(2015, 12, 31), dt.date(2016, 1, 1)]
    rows = []
    for i, day in enumerate(days):
        for j, (cur, bal) in enumerate([("CAD", "0.00"), ("USD", "12.345"), ("EUR", "1.005"),
                                        ("GBP", "999999.99")]):
            member = f"M{i:02d}"
            rows.append({"member_id": member, "account_id": f"{member}-{j}",
                         "currency": cur, "balance": Decimal(bal).quantize(Decimal("0.01")),
                         "opened": dt.date(1990, 1, 1),
                         "last_transaction": day if j != 1 else None,
                         # member-level: on one row of the member, counts for all
                         "last_statement_ack": day if j == 1 else None,
                         "last_response": None})
    frame = pl.DataFrame(rows, schema={
        "member_id": pl.String, "account_id": pl.String, "currency": pl.String,
        "balance": pl.Decimal(18, 2), "opened": pl.Date, "last_transaction": pl.Date,
        "last_statement_ack": pl.Date, "last_response": pl.Date})
    path = tmp_path / "edges.parquet"
    frame.write_parquet(path)
    fx = tmp_path / "fx.csv"
    # USD for every year, EUR only some: EUR deposits unclaimed in other years fail
    lines = ["currency,date,rate"]
    lines += [f"USD,{y}-09-30,1.3{y % 10}55" for y in range(2000, 2040)]
    lines += [f"EUR,{y}-09-30,1.4875" for y in (2025, 2026)]
    fx.write_text("\n".join(lines) + "\n")
    assert _check(path, fx, as_of) == len(rows)
    errors = _policy_rows(path, fx, as_of, "scalar")[1]
    assert any("no GBP exchange rate" in m for m in errors.values())
