"""`unclaimed compare --events`: several policies over an accounts + events dataset read
once, with every output (the five files, the yearly projection and its liability columns,
the report) the same as for the same portfolio written as full profiles JSON; a snapshot
given as a dataset compares byte for byte as the snapshot table does on the columnar
backend (the scalar runs are the columnar ones, record errors included); bad event rows,
orphan events and unusable tables as `evaluate --events` reports them."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from evaluator.apps.cli import main
from tests.support import BASELINE, ROOT

AS_OF = "2026-11-21"
ALTERNATIVES = ROOT / "policies" / "alternatives"
POLICIES = ["--policy", str(BASELINE), "--policy", str(ALTERNATIVES / "quarterly-windows.yaml"),
            "--policy", str(ALTERNATIVES / "interest.yaml")]
NAMES = ["accounts.csv", "assumptions.yaml", "report.html", "summary.md", "yearly.csv"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def compare(facts: Path, out: Path, *more: str) -> tuple[int, str]:
    code, _, err = run("compare", *POLICIES, "--facts", str(facts), "--fx",
                       str(facts.with_name(facts.stem + ".fx.csv")), "--as-of", AS_OF,
                       "--out", str(out), *more)
    return code, err


def as_profiles(accounts: Path, events: Path, out: Path) -> Path:
    """The dataset written as full profiles JSON: members in the accounts table's order,
    each event in its member's list in the events table's order."""
    members: dict[str, dict[str, Any]] = {}
    with accounts.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            member = members.setdefault(row["member_id"], {"member_id": row["member_id"],
                                                           "accounts": [], "events": []})
            member["accounts"].append({k: row[k] for k in ("account_id", "currency",
                                                           "balance", "opened")})
    with events.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            event: dict[str, Any] = {k: row[k] for k in ("date", "type", "account_id",
                                                         "amount", "mark") if row.get(k)}
            if row.get("attachments"):
                event["with"] = row["attachments"].split(";")
            members[row["member_id"]]["events"].append(event)
    out.write_text(json.dumps({"members": list(members.values())}), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("dataset")
    accounts = folder / "d.csv"
    code, _, err = run("generate", "--members", "400", "--seed", "11", "--events",
                       "--out", str(accounts))
    assert code == 0, err
    events = folder / "d.events.csv"
    profiles = as_profiles(accounts, events, folder / "members.json")
    (folder / "members.fx.csv").write_bytes((folder / "d.fx.csv").read_bytes())
    return {"accounts": accounts, "events": events, "profiles": profiles}


def same_files(a: Path, b: Path, *renamed: tuple[str, str]) -> None:
    assert sorted(p.name for p in a.iterdir()) == NAMES
    assert sorted(p.name for p in b.iterdir()) == NAMES
    for name in NAMES:
        text = (b / name).read_text(encoding="utf-8")
        for old, new in renamed:
            text = text.replace(old, new)
        assert (a / name).read_text(encoding="utf-8") == text, name


def test_a_dataset_compares_as_its_full_profiles(dataset: dict[str, Path],
                                                 tmp_path: Path) -> None:
    code, err = compare(dataset["accounts"], tmp_path / "events", "--events",
                        str(dataset["events"]))
    assert code == 0, err
    assert "note:" not in err  # compared on the columnar backend, against full profiles
    code, err = compare(dataset["profiles"], tmp_path / "json")
    assert code == 0, err
    # the report names its facts: the accounts table, or the JSON file
    import hashlib

    sha = {k: hashlib.sha256(dataset[k].read_bytes()).hexdigest()
           for k in ("accounts", "profiles")}
    same_files(tmp_path / "events", tmp_path / "json",
               (str(dataset["profiles"]), str(dataset["accounts"])),
               (sha["profiles"], sha["accounts"]))
    accounts = pl.read_csv(tmp_path / "events" / "accounts.csv", infer_schema=False)
    # not trivial: the history shows (fees after the unclaimed date, transfers with
    # something missing), the policies differ, and the differences are traced
    assert accounts.height == 3 * pl.read_csv(dataset["accounts"]).height
    findings = accounts.get_column("findings").fill_null("")
    assert findings.str.contains("fee-after-unclaimed").sum() > 0
    assert findings.str.contains("transfer-incomplete").sum() > 0
    assert (accounts.get_column("status") == "transferred").sum() > 0
    differs = accounts.filter(pl.col("differs") != "")
    assert differs.height > 10
    assert differs.get_column("first_divergence").str.contains("window").sum() > 0
    yearly = pl.read_csv(tmp_path / "events" / "yearly.csv", infer_schema=False)
    assert yearly.filter(pl.col("liability_basis").str.starts_with("derived")
                         & (pl.col("liability_ends_first") != "")).height > 0
    assert yearly.get_column("interest_payable_cad").cast(pl.Float64).sum() > 0


def test_a_snapshot_given_as_a_dataset_compares_as_the_table(tmp_path: Path) -> None:
    """The scalar runs against the columnar ones: a snapshot table (with accounts whose
    rate is missing, record errors of their evaluation, and a row the reader refuses)
    and the same table with an empty events table give the same five files."""
    table = tmp_path / "s.csv"
    code, _, err = run("generate", "--members", "300", "--seed", "3", "--missing-rates",
                       "0.5", "--out", str(table))
    assert code == 0, err
    rows = table.read_text(encoding="utf-8").splitlines()
    rows[7] = rows[7].replace(",CAD,", ",cad,", 1)
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    empty = tmp_path / "none.csv"
    empty.write_text("member_id,account_id,date,type\n", encoding="utf-8")
    code, err = compare(table, tmp_path / "table")
    assert code == 0, err
    code, err = compare(table, tmp_path / "dataset", "--events", str(empty))
    assert code == 0, err
    same_files(tmp_path / "table", tmp_path / "dataset")
    accounts = pl.read_csv(tmp_path / "table" / "accounts.csv", infer_schema=False)
    in_error = accounts.filter(pl.col("error").is_not_null())
    assert in_error.height > 3  # the missing rates, under each policy
    # an account in error shows no values, on both backends
    assert in_error.get_column("status").fill_null("").eq("").all()
    assert "in error" in (tmp_path / "table" / "summary.md").read_text(encoding="utf-8")


ACCOUNTS = """member_id,account_id,currency,balance,opened
M1,M1-A,CAD,1520.00,2001-04-01
M2,M2-A,CAD,80.00,2003-02-01
M3,M3-A,CAD,300.00,2004-05-06
"""
EVENTS = """member_id,account_id,date,type,amount
M1,M1-A,2014-03-02,transaction,
M2,M2-A,2013-01-01,transaction,
M2,M2-A,2026-05-05,fee,not money
M3,M3-A,2012-01-01,transaction,
M9,,2015-01-01,response,
M9,,2016-01-01,response,
"""


def test_bad_and_orphan_event_rows(tmp_path: Path) -> None:
    accounts, events = tmp_path / "a.csv", tmp_path / "e.csv"
    accounts.write_text(ACCOUNTS, encoding="utf-8")
    events.write_text(EVENTS, encoding="utf-8")
    (tmp_path / "a.fx.csv").write_text("currency,date,rate\n", encoding="utf-8")
    code, err = compare(accounts, tmp_path / "out", "--events", str(events))
    assert code == 0, err
    # the orphan rows counted once, in one warning
    assert err.count("warning: ") == 1
    assert "2 event rows of 1 member not in the accounts table (`M9`)" in err
    out = pl.read_csv(tmp_path / "out" / "accounts.csv", infer_schema=False)
    # M2's bad fee row makes M2 unusable: an error of the reader, not a row
    assert sorted(set(out.get_column("member_id"))) == ["M1", "M3"]
    assert "1 in error" in (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("events", "says"), [
    ("member_id,date\nM1,2014-01-01\n", "missing column(s) type"),
    (None, "cannot read"),
])
def test_an_unusable_events_table(tmp_path: Path, events: str | None, says: str) -> None:
    accounts = tmp_path / "a.csv"
    accounts.write_text(ACCOUNTS, encoding="utf-8")
    (tmp_path / "a.fx.csv").write_text("currency,date,rate\n", encoding="utf-8")
    path = tmp_path / "e.csv"
    if events is not None:
        path.write_text(events, encoding="utf-8")
    code, err = compare(accounts, tmp_path / "out", "--events", str(path))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], err
    assert not (tmp_path / "out").exists()


def test_the_console_script_compares_a_dataset(dataset: dict[str, Path],
                                               tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "evaluator", "compare", "--policy", str(BASELINE),
         "--facts", str(dataset["accounts"]), "--events", str(dataset["events"]),
         "--fx", str(dataset["accounts"].with_name("d.fx.csv")), "--as-of", AS_OF,
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [str(tmp_path / "out" / n) for n in
                                        ("accounts.csv", "yearly.csv", "report.html",
                                         "summary.md", "assumptions.yaml")]


def test_a_datasets_out_table_is_its_csv_output(dataset: dict[str, Path],
                                                tmp_path: Path) -> None:
    """`evaluate --events --out FILE.csv` writes the determinations `--format csv` prints,
    with the portfolio outputs beside them in FILE.portfolio.json."""
    argv = ["evaluate", "--policy", str(BASELINE), "--facts", str(dataset["accounts"]),
            "--events", str(dataset["events"]), "--fx",
            str(dataset["accounts"].with_name("d.fx.csv")), "--as-of", AS_OF]
    code, printed, err = run(*argv, "--format", "csv")
    assert code == 0, err
    code, _, err = run(*argv, "--out", str(tmp_path / "d.csv"))
    assert code == 0, err
    assert (tmp_path / "d.csv").read_text(encoding="utf-8") == printed
    side = json.loads((tmp_path / "d.portfolio.json").read_text(encoding="utf-8"))
    assert side["determinations"]["rows"] == printed.count("\n") - 1
    assert side["portfolio"]["program_year"] == 2026
