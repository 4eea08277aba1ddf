"""A dataset read partition by partition (`read_dataset(..., part=(index, count))`, the Dask
engine's tasks) gives what the whole read gives: for generated CSV, Parquet and hive
datasets and for datasets with bad rows of every kind (ragged rows, blank member ids,
orphan events, bad amounts, members whose rows are not together, a member whose rows are
all in errors), and for 1, 2, 3 and 7 partitions (more than some datasets' members), the
partitions' determinations one after the other are the whole's (same rows, same order,
same types) and their record errors and warnings together are the whole's, each once. A
partition of a Parquet dataset reads only its members' rows: the filter is in the scan."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from evaluator.apps.datasets import (
    DatasetInput,
    combined_read,
    evaluate_dataset,
    read_dataset,
)
from evaluator.apps.portfolio import scalar_frame, write_frame
from evaluator.facts.eventrange import (
    PY_SPACE,
    dataset_plan,
    event_runs,
    events_scan,
    read_dataset_part,
)
from evaluator.policy import Policy, load_policy
from tests.support import ROOT
from tests.test_event_table import ACCOUNTS, EVENTS

AS_OF = "2026-11-21"
COUNTS = (1, 2, 3, 7)


@functools.cache
def policy() -> Policy:
    return load_policy(ROOT / "tests" / "portfolio" / "aggregates.yaml")


def determinations(pol: Policy, data: DatasetInput) -> tuple[pl.DataFrame, list[Any]]:
    """The frame a Dask task writes for ``data`` (without its reader's errors), and the
    evaluation errors."""
    done = evaluate_dataset(pol, data.without_errors(), AS_OF)
    source = getattr(done.result, "source", None)
    frame = write_frame(source, Path("d.parquet")) if source is not None else \
        scalar_frame(pol, done.result, typed=True)
    return frame, list(done.result.errors)


def agree(accounts: Path, events: Path, fx: Path | None = None,
          counts: tuple[int, ...] = COUNTS) -> DatasetInput:
    """Assert that every partitioning of the dataset gives the whole read's rows, record
    errors and warnings; the whole read."""
    pol = policy()
    whole = read_dataset(accounts, events, fx, decl=pol.facts_decl)
    assert whole.table is not None
    expected, eval_errors = determinations(pol, whole)
    for count in counts:
        parts = [read_dataset(accounts, events, fx, decl=pol.facts_decl, part=(k, count))
                 for k in range(count)]
        # the whole's decimal places are the partitions' most: a partition with fewer
        # is read again at those (as the Dask client does)
        most = DatasetInput.most_scales([p.scales for p in parts])
        parts = [p if p.scales == most else read_dataset(
            accounts, events, fx, decl=pol.facts_decl, part=(k, count), scales=most)
            for k, p in enumerate(parts)]
        assert all(p.scales == most == whole.scales for p in parts), count
        errors, warnings, unknown = combined_read([p.read_part() for p in parts])
        assert errors == list(whole.errors), count
        assert warnings == whole.warnings, count
        assert unknown == whole.unknown_warnings(), count
        done = [determinations(pol, p) for p in parts]
        frame = pl.concat([f for f, _ in done], how="vertical")
        assert frame.equals(expected), count
        assert [e for _, es in done for e in es] == eval_errors, count
        # each member in one partition only
        members = [set(p.table.frame.get_column("member_id").to_list())
                   for p in parts if p.table is not None]
        assert sum(map(len, members)) == len(set().union(*members))
    return whole


# -- generated datasets --------------------------------------------------------------------

@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`unclaimed generate --events` datasets (CSV and Parquet), rates partly missing."""
    folders = {}
    for suffix in (".csv", ".parquet"):
        folder = folders[suffix] = tmp_path_factory.mktemp(f"parts{suffix}")
        proc = subprocess.run(
            [sys.executable, "-m", "evaluator", "generate", "--members", "300", "--seed", "5",
             "--out", str(folder / f"d{suffix}"), "--events", "--missing-rates", "0.5"],
            capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
    return folders


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_generated_datasets_read_in_parts_are_the_whole(
        suffix: str, generated: dict[str, Path]) -> None:
    folder = generated[suffix]
    whole = agree(folder / f"d{suffix}", folder / f"d.events{suffix}", folder / "d.fx.csv")
    assert whole.table is not None and whole.table.frame.height > 300


def test_a_hive_events_folder_read_in_parts_is_the_whole(generated: dict[str, Path],
                                                          tmp_path: Path) -> None:
    folder = generated[".parquet"]
    hive = tmp_path / "events.parquet"
    pl.read_parquet(folder / "d.events.parquet").write_parquet(hive, partition_by="type")
    assert hive.is_dir()
    agree(folder / "d.parquet", hive, folder / "d.fx.csv", counts=(1, 3))


# -- bad rows --------------------------------------------------------------------------------

# an accounts row with no member id, one with no account id, a ragged row, members whose
# rows are apart (M3 again after M4; M12 again after M13, its first row in errors: the
# whole orders it by its first row that is not), a member only in errors; events of
# unknown members and accounts, without a member, ragged, bad amounts
BAD_ACCOUNTS = ACCOUNTS.replace("M5,M5-A,", "M3,M3-B,CAD,4.00,2010-01-01,,\nM5,M5-A,", 1) + (
    ",M0-A,CAD,1.00,2010-01-01,,\n"
    "M7,,CAD,1.00,2010-01-01,,\n"
    "M8,M8-A,CAD,1.00\n"
    "M2,M2-B,CAD,3.00,2004-01-01,,\n"
    "M10,M10-A,CAD,2.00,2011-01-01,,2012-01-01\n"
    "M12,M12-A,CAD,x,2011-01-01,,\n"
    "M13,M13-A,CAD,2.00,2011-01-01,,\n"
    "M12,M12-B,CAD,2.00,2011-01-01,,\n"
    "M11,M11-A,CAD,8.00,2011-01-01,,\n"
    "M14,M14-A,CAD,9.00,2011-01-01,,\n")
BAD_ROWS = [
    ",M1-A,2014-03-02,transaction,,,",  # no member id
    "M9,M9-A,2014-03-02,transaction,,,",  # a member not in the accounts table
    "M7,M7-A,2014-03-02,transaction,,,",  # a member with no account id
    "M10,ZZ,2014-03-02,transaction,,,",  # an account not in the accounts table
    "M14,ZY,2014-03-02,transaction,,,",  # another, of a member of another partition
    "M10,M11-A,2014-03-02,transaction,,,",  # another member's account
    "M11,M10-A,2014-03-02,fee,1e3,,",  # a bad amount
    "M1,M1-A,2014-03-02,transaction,,",  # ragged
    "M1,M1-A,2026-06-01,fee,2.125,,",
    "M12,M12-B,2026-06-01,fee,2.00,,",
    "M13,M13-A,2026-06-01,fee,3.00,,",
    "M2,M2-B,2026-06-01,interest,0.5,,",
    "M4,M4-A,2014-03-02,transaction,,,",  # a member whose accounts are all in errors
    "M6,M1-A,2014-03-02,transaction,,,",  # an id both M1's and (in errors) M6's
    "M1,M1-A,\x1c2014-03-02\x1d,transaction,,,",  # read by the scalar builder
    " M10 , M10-A ,2026-01-02,fee,1.00,,",
    "M9,M9-B,2015-03-02,transaction,,,",
]


def write(folder: Path, accounts: str, events: str) -> tuple[Path, Path]:
    (folder / "accounts.csv").write_text(accounts, encoding="utf-8")
    (folder / "events.csv").write_text(events, encoding="utf-8")
    return folder / "accounts.csv", folder / "events.csv"


def test_a_dataset_with_bad_rows_of_every_kind_read_in_parts_is_the_whole(
        tmp_path: Path) -> None:
    events = EVENTS + "\n".join(BAD_ROWS) + "\n"
    whole = agree(*write(tmp_path, BAD_ACCOUNTS, events))
    assert len(whole.errors) >= 8 and len(whole.warnings) == 2
    # the members whose rows are apart (M2, M3, M12) are not cut from those in between
    plan = dataset_plan(tmp_path / "accounts.csv")
    members = plan.members.to_list()
    assert [members[i] for i in plan.allowed[:-1]] == ["M1", "M2", "M10", "M12", "M11", "M14"]


@pytest.mark.parametrize("row", BAD_ROWS)
def test_each_bad_row_read_in_parts_is_the_whole(row: str, tmp_path: Path) -> None:
    events = EVENTS.replace("M6,M6-A,2013", f"{row}\nM6,M6-A,2013", 1)
    agree(*write(tmp_path, BAD_ACCOUNTS, f"{events}{row}\n"), counts=(2, 7))


def test_parquet_tables_with_bad_rows_read_in_parts_are_the_whole(tmp_path: Path) -> None:
    events = EVENTS + "\n".join(r for r in BAD_ROWS if r.count(",") == 6) + "\n"
    accounts_csv, events_csv = write(tmp_path, BAD_ACCOUNTS.replace("M8,M8-A,CAD,1.00\n", ""),
                                     events)
    accounts, events_pq = tmp_path / "accounts.parquet", tmp_path / "events.parquet"
    pl.read_csv(accounts_csv, infer_schema=False).write_parquet(accounts)
    pl.read_csv(events_csv, infer_schema=False).write_parquet(events_pq)
    whole = agree(accounts, events_pq)
    assert whole.warnings and whole.errors


# -- reading only the partition ---------------------------------------------------------------

def test_a_parquet_partition_reads_only_its_members_rows(generated: dict[str, Path],
                                                         tmp_path: Path) -> None:
    folder = generated[".parquet"]
    accounts, events = folder / "d.parquet", folder / "d.events.parquet"
    plan = dataset_plan(accounts)
    lo, hi = plan.range(1, 3)
    mine = set(plan.members.slice(lo, hi - lo).to_list())
    all_events = pl.read_parquet(events)
    part = read_dataset_part(accounts, events, None, part=(1, 3))
    assert part.table.events is not None
    assert set(part.table.frame.get_column("member_id").to_list()) <= mine
    # the part's events are its members' events table rows (and the accounts table's
    # latest dates): no other member's row was read
    assert part.table.raw is not None
    assert part.table.raw.height == pl.read_parquet(accounts).filter(
        pl.col("member_id").is_in(list(mine))).height
    theirs = all_events.filter(pl.col("member_id").is_in(list(mine))).height
    assert 0 < theirs < all_events.height // 2
    assert part.table.events.height <= theirs + 4 * part.table.raw.height
    # the filter is pushed into the Parquet scan (its rows numbered before it)
    query, _ = events_scan(str(events), lambda m, a: (m.is_in(list(mine)), None))
    scan = query.explain().split("Parquet SCAN", 1)[1]
    assert "SELECTION" in scan and "member_id" in scan and "ROW_INDEX" in scan


def test_ids_are_stripped_as_python_strips_them() -> None:
    assert "".join(chr(c) for c in range(0x110000) if chr(c).isspace()) == PY_SPACE


# -- the span of rows a partition looks at ---------------------------------------------------

def test_shuffled_parquet_tables_read_in_parts_are_the_whole(generated: dict[str, Path],
                                                             tmp_path: Path) -> None:
    # members' rows scattered over both tables: the spans a part looks at are wide, the
    # parts still the whole
    folder = generated[".parquet"]
    accounts, events = tmp_path / "a.parquet", tmp_path / "e.parquet"
    pl.read_parquet(folder / "d.parquet").sample(fraction=1.0, shuffle=True, seed=3) \
        .write_parquet(accounts)
    pl.read_parquet(folder / "d.events.parquet").sample(fraction=1.0, shuffle=True, seed=4) \
        .write_parquet(events)
    agree(accounts, events, folder / "d.fx.csv", counts=(3, 7))


def test_a_part_of_tables_in_member_order_looks_at_its_span_only(
        generated: dict[str, Path]) -> None:
    folder = generated[".parquet"]
    accounts, events = folder / "d.parquet", folder / "d.events.parquet"
    table = pl.read_parquet(events).with_row_index("__line", offset=2)
    runs = event_runs(str(events))
    # the runs cover every row once, in order
    assert runs.get_column("first").to_list()[0] == 2
    assert runs.get_column("last").to_list()[-1] == table.height + 1
    assert (runs.get_column("first").slice(1) == runs.get_column("last").slice(
        0, runs.height - 1) + 1).all()
    plan = dataset_plan(accounts)
    lo, hi = plan.range(2, 3)
    mine = plan.members.slice(lo, hi - lo)
    theirs = table.filter(pl.col("member_id").is_in(mine.implode()))
    inside = runs.filter(pl.col("m").is_in(mine.implode()))
    first, last = inside.get_column("first").min(), inside.get_column("last").max()
    assert isinstance(first, int) and isinstance(last, int)
    assert first == theirs.get_column("__line").min()
    assert last == theirs.get_column("__line").max()
    assert last - first + 1 < table.height // 2  # a third of the table, not all of it
    query, _ = events_scan(str(events), lambda m, a: (m.is_in(mine.implode()), None),
                           (first - 2, last - first + 1))
    scan = query.explain().split("Parquet SCAN", 1)[1]
    assert "SLICE" in scan and "SELECTION" in scan
    assert query.collect().height == theirs.height
