"""What `evaluate` shows a person (issue 16): the table's trace, wide mode and portfolio
outputs, --explain refused by csv, and many record errors summarised on stderr, in full in
--errors FILE and on the API."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from evaluator import load_facts, load_policy
from evaluator.cli import main
from tests.support import ROOT

EXAMPLES = ROOT / "examples"
BASE = ["evaluate", "--policy", "fsra-2024-001", "--as-of", "2026-11-21"]
HEADER = ("member_id,account_id,currency,balance,opened,last_transaction,"
          "last_statement_ack,last_response\n")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _rows_of(out: str) -> dict[str, int]:
    """Line index of each account's row in a table."""
    lines = out.splitlines()
    return {ln.split()[1]: i for i, ln in enumerate(lines)
            if re.match(r"M\d\d +M\d\d-[A-C] ", ln)}


def test_table_explain_shows_an_indented_trace_under_each_account() -> None:
    code, plain, _ = run(*BASE, "--facts", str(EXAMPLES / "members.json"), "--format", "table")
    assert code == 0
    assert "status = " not in plain
    code, out, _ = run(*BASE, "--facts", str(EXAMPLES / "members.json"), "--format", "table",
                       "--explain")
    assert code == 0
    lines = out.splitlines()
    rows = _rows_of(out)
    assert len(rows) == len(_rows_of(plain)) == 15
    # under M05-A (transferred), its status first, then what it rests on, indented deeper
    start = rows["M05-A"]
    block = lines[start + 1: min(i for i in rows.values() if i > start)]
    assert block[0] == "    status = transferred  [2(1); Act 147(1)]"
    depth = {ln.strip().split(" = ")[0]: len(ln) - len(ln.lstrip()) for ln in block
             if " = " in ln and "(above)" not in ln}
    assert depth["status"] < depth["transferred_on"] < depth["transfers"]
    assert depth["unclaimed_on"] < depth["last_activity"]
    assert any(ln.strip() == "unclaimed_on = 2026-04-01  [Act 147(1); A4; D2]" for ln in block)
    assert "    parameters:" in block
    assert any("coming_into_force = 2025-01-01" in ln and "set by" in ln for ln in block)
    # the same values as the JSON trace
    _, js, _ = run(*BASE, "--facts", str(EXAMPLES / "members.json"), "--explain")
    trace = next(a for a in json.loads(js)["accounts"] if a["account_id"] == "M05-A")["trace"]
    for t in trace:
        if "definition" in t and isinstance(t["value"], str):
            assert any(ln.strip().startswith(f"{t['definition']} = {t['value']}")
                       for ln in block), t["definition"]


def test_table_wide_cuts_nothing_and_the_default_cuts_long_cells() -> None:
    code, narrow, _ = run(*BASE, "--facts", str(EXAMPLES / "members.json"), "--format", "table")
    assert code == 0
    assert "…" in narrow
    code, wide, _ = run(*BASE, "--facts", str(EXAMPLES / "members.json"), "--format", "table",
                        "--wide")
    assert code == 0
    assert "…" not in wide
    m04 = next(ln for ln in wide.splitlines() if " M04-A " in ln)
    assert ("2y 2018-02-28 (not required); 5y 2021-02-28 (not required); "
            "9y 2025-02-28; catch-up 2025-01-01") in m04
    code, out, _ = run(*BASE, "--facts", str(EXAMPLES / "members.json"), "--format", "table",
                       "--wide", "--explain")
    assert code == 0 and "…" not in out


def test_table_shows_the_portfolio_outputs_below_the_accounts() -> None:
    _, js, _ = run(*BASE, "--facts", str(EXAMPLES / "members.json"))
    portfolio = json.loads(js)["portfolio"]
    assert portfolio["program_balance"]
    code, out, _ = run(*BASE, "--facts", str(EXAMPLES / "members.json"), "--format", "table")
    assert code == 0
    lines = out.splitlines()
    at = lines.index("portfolio:")
    assert at > max(_rows_of(out).values())
    shown = dict(ln.split() for ln in lines[at + 1: at + 1 + len(portfolio)])
    assert shown == {k: str(v) for k, v in portfolio.items()}


def test_csv_refuses_explain_in_one_line(tmp_path: Path) -> None:
    code, out, err = run(*BASE, "--facts", str(EXAMPLES / "members.json"), "--format", "csv",
                         "--explain")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "--explain" in err and "--format json" in err
    # nor is a trace written as JSON into a file named .parquet or .csv
    for name in ("d.parquet", "d.csv"):
        code, out, err = run(*BASE, "--facts", str(EXAMPLES / "members.csv"), "--fx",
                             str(EXAMPLES / "fx.csv"), "--explain", "M06-B",
                             "--out", str(tmp_path / name))
        assert code == 2 and err.count("\n") == 1 and "--explain" in err
        assert not (tmp_path / name).exists()


def _broken_table(tmp_path: Path, bad_dates: int, bad_balances: int, good: int) -> Path:
    lines = [HEADER]
    n = 0
    for kind, count in (("date", bad_dates), ("balance", bad_balances), ("good", good)):
        for _ in range(count):
            n += 1
            m = f"M{n:04d}"
            balance = "12x" if kind == "balance" else "10.00"
            opened = f"2001-02-{30 + n % 2}" if kind == "date" else "2001-02-03"
            lines.append(f"{m},{m}-A,CAD,{balance},{opened},2020-01-01,,\n")
    path = tmp_path / "broken.csv"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _check_summary(err: str, total: int, counts: dict[str, int], where: str) -> None:
    lines = err.splitlines()
    full = [ln for ln in lines if ln.startswith("error: member ")]
    assert len(full) == 20
    assert f"... {total - 20:,} more; {total:,} errors by message:" in lines
    counted = {}
    for ln in lines:
        m = re.match(r"^ +([\d,]+)  (.*)$", ln)
        if m:
            counted[m.group(2)] = int(m.group(1).replace(",", ""))
    assert counted == counts
    assert lines[-1] == f"all {total:,} errors: {where}" or \
        f"all {total:,} errors: {where}" in lines


COUNTS = {"opened `…` is not a valid date (YYYY-MM-DD)": 30,
          "balance `…` is not a decimal number": 25}


def test_many_errors_first_twenty_then_counts_then_the_full_list(tmp_path: Path) -> None:
    facts = _broken_table(tmp_path, 30, 25, 5)
    errors = tmp_path / "errors.jsonl"
    code, out, err = run(*BASE, "--facts", str(facts), "--format", "csv",
                         "--errors", str(errors))
    assert code == 1
    _check_summary(err, 55, COUNTS, f"{errors} (JSON lines)")
    listed = [json.loads(ln) for ln in errors.read_text(encoding="utf-8").splitlines()]
    assert len(listed) == 55
    assert len({e["account_id"] for e in listed}) == 55
    determined = len(out.splitlines()) - 1
    assert determined + len(listed) == 60
    # without --errors, the last line says how to get them all
    code, _, err = run(*BASE, "--facts", str(facts), "--format", "csv")
    _check_summary(err, 55, COUNTS, "use --errors FILE (JSON lines) or --format json")


def test_many_errors_in_the_table_and_through_out_files(tmp_path: Path) -> None:
    facts = _broken_table(tmp_path, 30, 25, 5)
    code, out, err = run(*BASE, "--facts", str(facts), "--format", "table")
    assert code == 1
    _check_summary(out, 55, COUNTS, "use --errors FILE (JSON lines) or --format json")
    # chunked --out for snapshot tables: the same summary, and the file
    errors = tmp_path / "e.jsonl"
    code, _, err = run(*BASE, "--facts", str(facts), "--out", str(tmp_path / "d.parquet"),
                       "--errors", str(errors))
    assert code == 1
    _check_summary(err, 55, COUNTS, f"{errors} (JSON lines)")
    assert len(errors.read_text(encoding="utf-8").splitlines()) == 55
    # JSON on stdout holds them all; --errors still writes the file
    code, out, err = run(*BASE, "--facts", str(facts), "--errors", str(errors))
    assert code == 1 and err == ""
    assert len(json.loads(out)["errors"]) == 55


def test_few_errors_are_all_shown_without_a_summary(tmp_path: Path) -> None:
    facts = _broken_table(tmp_path, 2, 1, 3)
    code, _, err = run(*BASE, "--facts", str(facts), "--format", "csv")
    assert code == 1
    assert len(err.splitlines()) == 3
    assert all(ln.startswith("error: member M000") for ln in err.splitlines())


def test_errors_file_that_cannot_be_written_exits_2(tmp_path: Path) -> None:
    facts = _broken_table(tmp_path, 2, 0, 1)
    code, _, err = run(*BASE, "--facts", str(facts), "--format", "csv",
                       "--errors", str(tmp_path / "no" / "such" / "e.jsonl"))
    assert code == 2
    assert "cannot write" in err


@pytest.mark.parametrize("first", [0, 5, 100])
def test_error_summary_on_the_api(tmp_path: Path, first: int) -> None:
    facts = _broken_table(tmp_path, 30, 25, 5)
    policy = load_policy(ROOT / "policies" / "fsra-2024-001")
    result = policy.evaluate(load_facts(facts), as_of="2026-11-21")
    summary = result.error_summary(first)
    assert summary.total == len(result.errors) == 55
    assert len(summary.first) == min(first, 55)
    if first < 55:
        assert dict(summary.counts) == COUNTS
        assert summary.counts[0][1] >= summary.counts[-1][1]
    else:
        assert summary.counts == []
    doc = summary.to_dict()
    assert json.loads(json.dumps(doc)) == doc


def test_explain_one_account_of_a_parquet_table(tmp_path: Path) -> None:
    import polars as pl

    from evaluator.columnar import read_table

    parquet = tmp_path / "members.parquet"
    read_table(EXAMPLES / "members.csv").raw.drop("__line").write_parquet(parquet)  # type: ignore[union-attr]
    code, out, err = run(*BASE, "--facts", str(parquet), "--fx", str(EXAMPLES / "fx.csv"),
                         "--explain", "M06-B")
    assert code == 0, err
    accounts = {a["account_id"]: a for a in json.loads(out)["accounts"]}
    assert [k for k, a in accounts.items() if "trace" in a] == ["M06-B"]
    defs = {t["definition"]: t["value"] for t in accounts["M06-B"]["trace"]
            if "definition" in t}
    assert defs["status"] == accounts["M06-B"]["status"] == "unclaimed"
    assert pl.read_parquet(parquet).height == len(accounts)
