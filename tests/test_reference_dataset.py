"""The history-aware reference of ``benchmarks/reference.py`` agrees with the policy.

``reference_dataset`` is what the compiled policy over a dataset (accounts + events) is
benchmarked against, so it must compute what ``fsra-2024-001`` computes from a history.
Both evaluate datasets written by ``unclaimed generate --events`` (2,000 members, some
FX rates missing), with extra events the generator does not write (interest and fees on
and after the unclaimed date, transfers without attachments or without the FX record,
events after the as-of date, bad event rows), at three as-of dates, from CSV and from
Parquet, and with an accounts table that keeps its ``last_*`` columns; and the output
of ``benchmarks/gen_dataset.py``. Every output field and every error row must match the
scalar backend's determinations over ``load_dataset``.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.reference import (  # noqa: E402
    read_fx,
    read_table,
    reference_dataset,
    to_dataset_records,
)
from evaluator import load_policy  # noqa: E402
from evaluator.facts.dataset import load_dataset  # noqa: E402

POLICY = ROOT / "policies" / "fsra-2024-001"
AS_OF = date(2026, 11, 21)


@pytest.fixture(scope="module")
def policy() -> Any:
    return load_policy(POLICY)


def generate(folder: Path, ext: str, seed: int) -> Path:
    """A generated dataset ``folder/p.<ext>`` + ``p.events.<ext>`` + ``p.fx.csv``."""
    out = folder / f"p.{ext}"
    subprocess.run([sys.executable, "-m", "evaluator", "generate", "--members", "2000",
                    "--seed", str(seed), "--events", "--missing-rates", "0.2",
                    "--out", str(out)], check=True, cwd=ROOT, capture_output=True)
    return out


def add_events(accounts: Path, events: Path, fx: Path) -> None:
    """Events the generator never writes, appended to the events CSV file."""
    out = reference_dataset(read_table(str(accounts)), read_table(str(events)),
                            read_fx(str(fx)), AS_OF)
    unclaimed = out.filter(out["status"] == "unclaimed")
    active = out.filter(out["status"] == "active")
    rows: list[list[str]] = []
    for n, row in enumerate(unclaimed.head(40).iter_rows(named=True)):
        acc, member, on = row["account_id"], row["member_id"], row["unclaimed_on"]
        when = (on + timedelta(days=n % 3)).isoformat()  # on the unclaimed day, and after
        if n % 4 == 0:
            rows.append([member, acc, when, "interest", "1.25", "", ""])
            rows.append([member, acc, when, "fee", "2.50", "", ""])
            rows.append([member, acc, (on - timedelta(days=1)).isoformat(), "fee", "3.00",
                         "", ""])  # the day before: no finding
        elif n % 4 == 1:
            rows.append([member, acc, (AS_OF - timedelta(days=5)).isoformat(), "transfer",
                         "10.00", "", ""])  # nothing accompanied it
        elif n % 4 == 2:
            items = ("electronic_funds_transfer;material_information;officer_attestation;"
                     "notice_evidence;material_information_copies;portal")
            rows.append([member, acc, (AS_OF - timedelta(days=5)).isoformat(), "transfer",
                         "10.00", "", items])  # complete, unless a foreign currency
        else:
            rows.append([member, acc, (AS_OF + timedelta(days=3)).isoformat(), "transfer",
                         "10.00", "", ""])  # after the as-of date: not yet known
    for row in active.head(3).iter_rows(named=True):  # bad rows: the member is an error
        rows.append([row["member_id"], "", "2026-13-01", "response", "", "", ""])
    for row in active.slice(3, 2).iter_rows(named=True):
        rows.append([row["member_id"], row["account_id"], "2020-01-01", "fee", "", "", ""])
    for row in active.slice(5, 2).iter_rows(named=True):
        rows.append([row["member_id"], "", "2020-01-01", "payment", "", "", ""])
    for row in active.slice(10, 5).iter_rows(named=True):  # a response resets the clock
        rows.append([row["member_id"], "", "2016-02-29", "response", "", "", ""])
    with events.open("a", newline="") as fh:
        csv.writer(fh).writerows(rows)


def compare(policy: Any, accounts: Path, events: Path, fx: Path, as_of: date) -> Any:
    dataset = load_dataset(accounts, events, fx)
    scalar = policy.evaluate(dataset.facts, as_of=as_of, backend="scalar").to_dict()
    ref = reference_dataset(read_table(str(accounts)), read_table(str(events)),
                            read_fx(str(fx)), as_of)
    assert ref.height == len(scalar["accounts"]) + len(scalar["errors"])
    got = {a["account_id"]: a for a in scalar["accounts"]}
    errors = {e["account_id"] for e in scalar["errors"]}
    ref_errors = set()
    checked = 0
    for rec in to_dataset_records(ref):
        error = rec.pop("error")
        if error is not None:
            ref_errors.add(rec["account_id"])
            continue
        assert rec == got.get(rec["account_id"]), rec["account_id"]
        checked += 1
    assert ref_errors == errors
    assert checked == len(got)
    return ref


def test_generated_csv_dataset_with_added_history(policy: Any, tmp_path: Path) -> None:
    accounts = generate(tmp_path, "csv", 5)
    events, fx = tmp_path / "p.events.csv", tmp_path / "p.fx.csv"
    add_events(accounts, events, fx)
    refs = [compare(policy, accounts, events, fx, as_of)
            for as_of in (AS_OF, date(2025, 6, 30), date(2027, 12, 20))]
    # what the comparison covered, so that it cannot pass on an empty case
    codes = {f["code"] for ref in refs for fs in ref["findings"].to_list() for f in fs}
    ref = refs[0]
    assert codes == {"fee-after-unclaimed", "interest-after-unclaimed", "unnotified-unclaimed",
                     "payment-overdue", "transfer-incomplete"}
    statuses = set(ref["status"].drop_nulls().to_list())
    assert statuses == {"active", "inactive", "unclaimed", "transferred"}
    assert ref["error"].drop_nulls().str.contains("exchange rate").any()
    assert ref["error"].drop_nulls().str.contains("bad event").any()
    assert ref["records_retain_until"].drop_nulls().len() > 0


def test_generated_parquet_dataset(policy: Any, tmp_path: Path) -> None:
    accounts = generate(tmp_path, "parquet", 6)
    compare(policy, accounts, tmp_path / "p.events.parquet", tmp_path / "p.fx.csv", AS_OF)
    # an accounts table that keeps its last_* columns: their dates are events too (and
    # those after the as-of date are not known yet, as any event)
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    subprocess.run([sys.executable, "-m", "evaluator", "generate", "--members", "2000",
                    "--seed", "6", "--missing-rates", "0.2", "--out",
                    str(snapshot / "p.parquet")], check=True, cwd=ROOT, capture_output=True)
    for as_of in (AS_OF, date(2024, 3, 1)):
        ref = compare(policy, snapshot / "p.parquet", tmp_path / "p.events.parquet",
                      tmp_path / "p.fx.csv", as_of)
        assert ref["error"].null_count() > 0.9 * ref.height


def test_fast_generator_output_is_read_without_errors(policy: Any, tmp_path: Path) -> None:
    """``benchmarks/gen_dataset.py`` (the generator of the scale benchmark): its files are
    a dataset ``load_dataset`` reads without a record error or a warning, with about the
    events per account asked, the same files for the same arguments, and determinations
    the reference agrees with."""
    from benchmarks.gen_dataset import write_dataset

    files = write_dataset(tmp_path / "one", 3000, 3.0, seed=2, chunk_members=400)
    again = write_dataset(tmp_path / "two", 3000, 3.0, seed=2, chunk_members=400)
    for a, b in ((files.accounts, again.accounts), (files.events, again.events),
                 (files.fx, again.fx)):
        assert a.read_bytes() == b.read_bytes()
    dataset = load_dataset(files.accounts, files.events, files.fx)
    assert dataset.facts.errors == () and dataset.warnings == []
    accounts = sum(len(m.accounts) for m in dataset.facts.members)
    events = sum(len(m.events) for m in dataset.facts.members)
    assert accounts == files.account_rows
    assert events == files.event_rows
    assert 2.8 <= events / accounts <= 3.2
    kinds = {e.type for m in dataset.facts.members for e in m.events}
    assert {"transaction", "statement_ack", "fee", "transfer", "interest"} <= kinds
    compare(policy, files.accounts, files.events, files.fx, AS_OF)
