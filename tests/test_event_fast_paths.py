"""The shortcuts of reading an events table, evaluating comprehensions over it and writing
list outputs to Parquet give what the plain paths give, on both sides of each boundary:
sparse Parquet columns with and without a cell to strip or an odd cell, amounts only on
some rows (first, last, bad, with more places), transfers with and without attachments,
events on the far ends of the calendar and on the day of an accounts-table date (the
packed sort key), events in a file order that is not the event order (the sorted
grouping), and list outputs with no, one and several items per account."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from evaluator import load_policy
from evaluator.facts.dataset import load_dataset
from tests.test_columnar_events import PROBE_EVENTS, probe
from tests.test_event_table import same, write

AS_OF = "2026-11-21"
#: filler rows: transactions of the accounts of test_event_table's ACCOUNTS, no amount
FILLER = [("M1", "M1-A"), ("M1", "M1-B"), ("M2", "M2-A"), ("M3", "M3-A")]


def sparse_events(folder: Path, first: dict[str, Any], last: dict[str, Any],
                  rows: int = 3000) -> Path:
    """A Parquet events table of ``rows`` transactions without amount or attachments,
    the row ``first`` first and ``last`` last."""
    records = [first] + [
        {"member_id": m, "account_id": a, "date": f"20{10 + i % 10}-0{1 + i % 9}-1{i % 9}",
         "type": "transaction"} for i, (m, a) in ((i, FILLER[i % 4]) for i in range(rows))
    ] + [last]
    columns = ("member_id", "account_id", "date", "type", "amount", "mark", "attachments")
    frame = pl.DataFrame({c: [r.get(c) for r in records] for c in columns},
                         schema={c: pl.String for c in columns})
    frame.write_parquet(folder / "events.parquet")
    return folder / "events.parquet"


FEE = {"member_id": "M3", "account_id": "M3-A", "date": "2026-05-05", "type": "fee",
       "amount": "5.00"}
TRANSFER = {"member_id": "M3", "account_id": "M3-A", "date": "2026-11-01",
            "type": "transfer", "amount": "1520.00", "attachments": "b;a"}
NOTICE = {"member_id": "M2", "date": "2016-03-10", "type": "notice", "mark": "2y"}


@pytest.mark.parametrize(("first", "last"), [
    (FEE, TRANSFER),  # nothing to strip, nothing odd
    ({**FEE, "amount": " 5.00 "}, TRANSFER),  # an amount to strip, in a sparse column
    (FEE, {**TRANSFER, "attachments": " b ; a;b "}),  # attachments to strip, sort, dedupe
    (FEE, {**TRANSFER, "attachments": "a\x1fb"}),  # an odd cell: read as written
    (FEE, {**TRANSFER, "attachments": "a;;b"}),  # an empty attachment: a bad row
    (FEE, {**TRANSFER, "attachments": ""}),  # an empty cell, not a null one
    ({**FEE, "amount": "-1.00"}, TRANSFER),  # a negative amount: a bad row
    ({**FEE, "amount": "1234567890123456789"}, TRANSFER),  # beyond 18 digits
    ({**FEE, "amount": "0.125"}, {**TRANSFER, "amount": "7"}),  # the column's scale: 3
    ({**FEE, "amount": None}, TRANSFER),  # a fee without its amount
    (NOTICE, {**NOTICE, "date": "2017-01-01"}),  # no amount and no transfer at all
    ({**TRANSFER, "attachments": None}, NOTICE),  # a transfer without attachments
], ids=["clean", "amount-to-strip", "attachments-to-clean", "odd-cell", "empty-item",
        "empty-cell", "negative", "too-long", "more-places", "no-amount", "no-amounts",
        "no-attachments"])
def test_sparse_parquet_columns_read_as_the_scalar_reader_reads_them(
        first: dict[str, Any], last: dict[str, Any], tmp_path: Path) -> None:
    accounts, _ = write(tmp_path)
    table = same(accounts, sparse_events(tmp_path, first, last))
    if table.events is not None and table.frame.height:
        # the filler was read (at least M2's), not only the first and last rows
        assert table.events.height > 700


@pytest.mark.parametrize("events", [
    # the far ends of the calendar, for several members (the member and day packed in one
    # sort key)
    "M1,M1-A,0001-01-02,transaction,,,\nM2,M2-A,9999-12-30,transaction,,,\n"
    "M1,M1-B,9999-12-30,interest,1.00,,\nM3,M3-A,0001-01-02,fee,2.00,,\n",
    # events on the day of the accounts table's own dates: the accounts table's first
    "M1,M1-A,2013-02-02,fee,1.00,,\nM1,,2012-01-01,response,,,\n"
    "M1,M1-B,2013-02-02,transaction,,,\nM3,,2011-01-01,response,,,\n",
])
def test_the_event_order_holds_at_the_ends_of_the_calendar_and_on_tied_days(
        events: str, tmp_path: Path) -> None:
    accounts, path = write(tmp_path, events="member_id,account_id,date,type,amount,mark,"
                                            "attachments\n" + events)
    same(accounts, path)


def test_events_in_reverse_file_order_make_the_scalar_backend_s_values(
        tmp_path: Path) -> None:
    """Ordered reductions and lists over events whose file order is not their order."""
    header, *lines = PROBE_EVENTS.splitlines(True)
    more = [f"M2,M2-A,2020-0{1 + i % 9}-{10 + i:02d},fee,{i}.00,,\n" for i in range(12)]
    doc, columnar, scalar = probe(tmp_path, header + "".join(reversed(lines + more)))
    assert columnar.to_json() == scalar.to_json()
    m2 = next(a for a in doc["accounts"] if a["account_id"] == "M2-A")
    assert len(m2["fee_list"]) == 12


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("listout")
    subprocess.run([sys.executable, "-m", "evaluator", "generate", "--members", "300",
                    "--seed", "11", "--out", str(folder / "d.csv"), "--events"],
                   check=True, capture_output=True)
    return folder / "d.csv", folder / "d.events.csv", folder / "d.fx.csv"


def test_parquet_list_outputs_of_a_dataset_are_the_scalar_backend_s_lists(
        dataset: tuple[Path, Path, Path], tmp_path: Path) -> None:
    accounts, events, fx = dataset
    out = tmp_path / "d.parquet"
    done = subprocess.run([sys.executable, "-m", "evaluator", "evaluate", "--policy",
                           "fsra-2024-001", "--facts", str(accounts), "--events", str(events),
                           "--fx", str(fx), "--as-of", AS_OF, "--out", str(out),
                           "--backend", "columnar"], capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr
    policy = load_policy("fsra-2024-001")
    facts = load_dataset(accounts, events, fx, decl=policy.facts_decl).facts
    want = {a["account_id"]: a for a in json.loads(policy.evaluate(
        facts, as_of=AS_OF, backend="scalar").to_json())["accounts"]}
    written = pl.read_parquet(out)
    assert sorted(written.get_column("account_id")) == sorted(want)
    sizes: dict[str, set[int]] = {"notices": set(), "findings": set()}  # 0, 1, 2 or more
    for row in written.iter_rows(named=True):
        expected = want[row["account_id"]]
        notices = [{**n, "due": n["due"].isoformat() if isinstance(n["due"], dt.date)
                    else n["due"]} for n in row["notices"]]
        assert notices == expected["notices"], row["account_id"]
        assert row["findings"] == expected["findings"], row["account_id"]
        for name in sizes:
            sizes[name].add(min(len(row[name]), 2))
    # findings: rows without any, with one and with several; notices: always several
    assert sizes == {"notices": {2}, "findings": {0, 1, 2}}
