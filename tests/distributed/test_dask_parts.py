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
from tests.distributed.passes import spied_passes
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


def test_compare_on_dask_reads_partitions_alone_and_gives_the_single_machine_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`compare --events --engine dask` over the same dataset in 7 partitions: the tasks
    read their partitions alone (the one with the most decimal places sets them for the
    others), the client reads no dataset (its reader is made to fail here: only the
    workers, other processes, read), the members whose determinations differ are traced
    from profiles the partitions send, and the five files, the warnings and the exit
    status are the single-machine compare's."""
    import evaluator.apps.datasets as datasets
    import evaluator.apps.distributed_events as engine_events

    accounts, events = write(tmp_path, BAD_ACCOUNTS, EVENTS + "\n".join(BAD_ROWS) + "\n")
    argv = ["compare", "--policy", str(ROOT / "policies" / "fsra-2024-001"), "--policy",
            str(ROOT / "policies" / "alternatives" / "quarterly-windows.yaml"),
            "--facts", str(accounts), "--events", str(events), "--as-of", AS_OF]
    local_err = io.StringIO()
    code = main([*argv, "--out", str(tmp_path / "local")], stdout=io.StringIO(),
                stderr=local_err)
    assert code == 0, local_err.getvalue()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the client read the dataset")

    monkeypatch.setattr(engine_events, "read_dataset", refuse)
    monkeypatch.setattr(datasets, "read_dataset", refuse)
    passes = spied_passes(monkeypatch)
    dask_err = io.StringIO()
    assert main([*argv, "--out", str(tmp_path / "dask"), "--engine", "dask",
                 "--local-workers", "2", "--partitions", "7"], stdout=io.StringIO(),
                stderr=dask_err) == code, dask_err.getvalue()
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert len(names) == 5
    for name in names:
        assert (tmp_path / "dask" / name).read_bytes() == \
            (tmp_path / "local" / name).read_bytes(), name
    compared = pl.read_csv(tmp_path / "local" / "accounts.csv", infer_schema=False)
    differing = compared.filter(pl.col("differs") != "")
    assert differing.height > 0
    # traced (a definition named), not left untraced
    assert differing.filter(pl.col("first_divergence").str.starts_with("not traced")
                            ).height == 0
    warnings = [line for line in local_err.getvalue().splitlines()
                if line.startswith("warning:")]
    assert len(warnings) >= 2
    assert [line for line in dask_err.getvalue().splitlines()
            if line.startswith("warning:")] == warnings
    # the partitions compared, then those with fewer decimal places than the one
    # holding "2.125" compared again at its places
    assert [task for task, _ in passes] == ["compare_events_partition"] * 2
    first, again = passes[0][1], passes[1][1]
    most = max(r.scales.get("amount", 0) for r in first)
    assert most == 3
    assert sorted(r.index for r in again) == sorted(
        r.index for r in first if r.scales.get("amount", 0) < most)
    assert len(again) >= 5 and {r.scales.get("amount") for r in again} == {most}
