"""`evaluate --events --engine dask` with each task reading its partition alone: over a
dataset with bad rows of every kind (rows of no member, orphan events, ragged rows,
members whose rows are apart) and with amounts of more decimal places in one partition
than in the others (that partition's places are the whole's: the others are evaluated
again at them), 7 partitions on a local cluster of 2 workers give the single-machine run:
the same rows in the same order, the same record errors in the same order, each warning
once, the same exit status."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest

from evaluator.apps.cli import main
from tests.support import ROOT
from tests.test_dataset_parts import BAD_ACCOUNTS, BAD_ROWS, write
from tests.test_event_table import EVENTS

pytest.importorskip("distributed")

AS_OF = "2026-11-21"


def test_partitions_read_alone_on_dask_are_the_single_machine_run(tmp_path: Path) -> None:
    accounts, events = write(tmp_path, BAD_ACCOUNTS, EVENTS + "\n".join(BAD_ROWS) + "\n")
    args = ["evaluate", "--policy", str(ROOT / "tests" / "portfolio" / "aggregates.yaml"),
            "--facts", str(accounts), "--events", str(events), "--as-of", AS_OF]
    local_err = io.StringIO()
    code = main([*args, "--out", str(tmp_path / "local.parquet"), "--errors",
                 str(tmp_path / "local.jsonl")], stdout=io.StringIO(), stderr=local_err)
    assert code == 1
    dask_err = io.StringIO()
    assert main([*args, "--out", f"{tmp_path / 'dask'}/", "--errors",
                 str(tmp_path / "dask.jsonl"), "--engine", "dask", "--local-workers", "2",
                 "--partitions", "7"], stdout=io.StringIO(), stderr=dask_err) == code
    local = pl.read_parquet(tmp_path / "local.parquet")
    assert local.height > 8
    # the amounts' places are those of the partition with the most (2.125: "2.125 CAD")
    assert "fee of 5.000 CAD" in str(local.get_column("findings").to_list())
    assert pl.read_parquet(tmp_path / "dask").equals(local)
    errors = (tmp_path / "local.jsonl").read_text(encoding="utf-8")
    assert errors.count("\n") >= 8
    assert (tmp_path / "dask.jsonl").read_text(encoding="utf-8") == errors
    for warning in [line for line in local_err.getvalue().splitlines()
                    if "not in the accounts table" in line]:
        assert dask_err.getvalue().count(warning.split(": ", 1)[1]) == 1
