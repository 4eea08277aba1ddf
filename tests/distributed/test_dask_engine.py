"""`--engine dask`: the same determinations, portfolio outputs, errors and exit status as
the single-machine run; a worker killed mid-run; a scheduler that cannot be reached;
usage errors. One LocalCluster of 2 worker processes serves the module; the command line
runs as a real subprocess connected to it with --scheduler."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from evaluator.apps.cli import main
from evaluator.apps.generate import generate
from tests.distributed.killing import (
    assert_killed_run,
    run_killing_a_worker,
    wait_for_the_new_worker,
)
from tests.support import BASELINE, ROOT

distributed = pytest.importorskip("distributed")

AS_OF = "2026-11-21"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A local cluster of 2 worker processes (one thread each), and a client to it."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0",  # a free port: never 8787 taken
                                  silence_logs=logging.CRITICAL) as c, \
            distributed.Client(c, set_as_default=False) as client:
        # the workers import the engine once here, not in the first test's tasks
        client.run(__import__, "evaluator.apps.distributed")
        yield client


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A generated table with damaged rows and a duplicate account id in another member
    far away; the same rows shuffled (members no longer contiguous); the policy with a
    portfolio output of every aggregate kind."""
    folder = tmp_path_factory.mktemp("dask")
    out = folder / "sample.csv"
    generate(out, 900, seed=5)
    rows = out.read_text(encoding="utf-8").splitlines()
    rows[30] = rows[30].replace(",CAD,", ",cad,", 1)
    dup = rows[1].split(",")[1]
    cells = rows[700].split(",")
    cells[1] = dup
    rows[700] = ",".join(cells)
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    body = rows[1:]
    shuffled = folder / "shuffled.csv"
    shuffled.write_text("\n".join([rows[0], *body[1::2], *body[0::2]]) + "\n",
                        encoding="utf-8")
    root = folder / "policies"
    shutil.copytree(BASELINE, root / "fsra-2024-001")
    # the baseline extends the regime-neutral base, found beside it
    shutil.copytree(BASELINE.parent / "deposits-base", root / "deposits-base")
    shutil.copy(ROOT / "tests" / "portfolio" / "aggregates.yaml", root / "aggregates.yaml")
    return {"csv": out, "shuffled": shuffled, "fx": folder / "sample.fx.csv",
            "policy": root / "aggregates.yaml"}


@pytest.fixture(scope="module")
def reference(sample: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
              ) -> dict[str, tuple[Path, int]]:
    """The single-machine run of each table (in this process): its folder, exit status."""
    done = {}
    for facts in ("csv", "shuffled"):
        folder = tmp_path_factory.mktemp(f"local-{facts}")
        code = main([*evaluate_args(sample, facts, folder / "local.parquet"), "--errors",
                     str(folder / "local.errors.jsonl")],
                    stdout=io.StringIO(), stderr=io.StringIO())
        done[facts] = (folder, code)
    return done


def cli(*argv: str, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evaluator", *argv], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def evaluate_args(sample: dict[str, Path], facts: str, out: Path) -> list[str]:
    """``--out`` a folder (``DIR/``) unless its name ends in .parquet."""
    where = str(out) if out.suffix == ".parquet" else f"{out}/"
    return ["evaluate", "--policy", str(sample["policy"]), "--facts", str(sample[facts]),
            "--fx", str(sample["fx"]), "--as-of", AS_OF, "--out", where]


def read_side(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".unclaimed-tmp-" in p.name)


@pytest.mark.parametrize("facts", ["csv", "shuffled"])
def test_evaluate_on_dask_is_the_single_machine_run(
        cluster: Any, sample: dict[str, Path], reference: dict[str, tuple[Path, int]],
        tmp_path: Path, facts: str) -> None:
    folder, code = reference[facts]
    for name in ("local.parquet", "local.portfolio.json", "local.errors.jsonl"):
        shutil.copy(folder / name, tmp_path / name)
    dask = cli(*evaluate_args(sample, facts, tmp_path / "dask.parquet"),
               "--errors", str(tmp_path / "dask.errors.jsonl"), "--engine", "dask",
               "--scheduler", cluster.scheduler.address, "--partitions", "4", "--progress")
    assert code == 1  # the damaged rows
    assert dask.returncode == code, dask.stderr
    parts = sorted(p.name for p in (tmp_path / "dask.parquet").iterdir())
    assert parts == [f"part-{k:05d}.parquet" for k in range(4)]
    whole = pl.read_parquet(tmp_path / "local.parquet")
    together = pl.read_parquet(tmp_path / "dask.parquet")  # read back as one table
    assert whole.height > 1000 and whole.schema == together.schema
    assert whole.equals(together)  # same rows, same order, same values
    # every partition has rows: the table really was cut
    assert all(pl.read_parquet(tmp_path / "dask.parquet" / p).height > 100 for p in parts)
    a = read_side(tmp_path / "local.portfolio.json")
    b = read_side(tmp_path / "dask.portfolio.json")
    assert a["portfolio"]["unclaimed_count"] > 10
    for key in ("policy", "as_of", "parameters", "portfolio"):
        assert a[key] == b[key]
    assert b["determinations"]["rows"] == whole.height
    assert [f["file"] for f in b["determinations"]["files"]] == parts
    errors = (tmp_path / "local.errors.jsonl").read_text(encoding="utf-8")
    assert errors.count("\n") == 2  # the bad currency, the duplicate id in another member
    assert (tmp_path / "dask.errors.jsonl").read_text(encoding="utf-8") == errors
    assert "partitions done 4/4" in dask.stderr
    assert leftovers(tmp_path) == []


def test_a_local_cluster_started_for_the_run(sample: dict[str, Path],
                                             reference: dict[str, tuple[Path, int]],
                                             tmp_path: Path) -> None:
    """--local-workers 1: a cluster of its own, started and stopped by the command."""
    folder, code = reference["csv"]
    dask = cli(*evaluate_args(sample, "csv", tmp_path / "out"), "--engine", "dask",
               "--local-workers", "1", "--partitions", "3")
    assert dask.returncode == code == 1, dask.stderr
    assert pl.read_parquet(tmp_path / "out").equals(pl.read_parquet(folder / "local.parquet"))
    assert read_side(tmp_path / "out.portfolio.json")["portfolio"] == \
        read_side(folder / "local.portfolio.json")["portfolio"]
    assert "on a local Dask cluster of 1 worker," in dask.stderr


def _pool() -> tuple[str | None, int]:
    import polars

    return os.environ.get("POLARS_MAX_THREADS"), polars.thread_pool_size()


@pytest.mark.parametrize("threads, preset, expected", [(1, None, "1"), (2, None, "2"),
                                                       (1, "2", "2")])
def test_a_local_clusters_workers_size_polars_to_their_threads(
        threads: int, preset: str | None, expected: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One worker thread, one polars thread (N workers on N cores do not each spread over
    all of them); more threads per worker, as many; a POLARS_MAX_THREADS already set is
    passed on as it is."""
    from evaluator.apps.distributed import Engine, connect

    if preset is None:
        monkeypatch.delenv("POLARS_MAX_THREADS", raising=False)
    else:
        monkeypatch.setenv("POLARS_MAX_THREADS", preset)
    with connect(Engine(local_workers=1, threads_per_worker=threads)) as client:
        (seen,) = client.run(_pool).values()
    assert seen == (expected, int(expected))


@pytest.mark.parametrize("allowed_failures", [3, 0])
def test_a_worker_killed_mid_run(cluster: Any, sample: dict[str, Path],
                                 reference: dict[str, tuple[Path, int]], tmp_path: Path,
                                 allowed_failures: int) -> None:
    """A worker process killed while it evaluates a partition. When the scheduler may
    retry (Dask's default, 3 failures allowed), the partition runs again on another worker
    and the output is complete and identical; when it may not (0), the run fails with one
    line, exit 2, and the previous output is left as it was, with no temporary files."""
    folder, _ = reference["csv"]
    target = tmp_path / "dask.parquet"
    target.mkdir()
    (target / "part-00000.parquet").write_bytes(b"previous run")
    code, err, victim = run_killing_a_worker(
        cluster, [*evaluate_args(sample, "csv", target), "--partitions", "8"],
        allowed_failures)
    assert victim not in cluster.run(os.getpid).values()
    wait_for_the_new_worker(cluster)
    assert_killed_run(code, err, bool(allowed_failures), target, folder / "local.parquet",
                      tmp_path)


def test_a_scheduler_that_cannot_be_reached(sample: dict[str, Path], tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port with no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = tmp_path / "dask.parquet"
    target.mkdir()
    (target / "part-00000.parquet").write_bytes(b"previous run")
    done = cli(*evaluate_args(sample, "csv", target), "--engine", "dask", "--scheduler",
               f"tcp://127.0.0.1:{port}", "--connect-timeout", "1")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: cannot reach the Dask scheduler at "
                               f"tcp://127.0.0.1:{port} within 1 s")
    # the previous output is as it was
    assert sorted(p.name for p in target.iterdir()) == ["part-00000.parquet"]
    assert (target / "part-00000.parquet").read_bytes() == b"previous run"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("extra", "message"), [
    (["--engine", "dask"], "error: --engine dask writes its determinations to a folder"),
    (["--engine", "dask", "--out", "x.csv"], "--out names a folder (DIR/ or NAME.parquet)"),
    (["--engine", "dask", "--out", "x.json"], "--out names a folder (DIR/ or NAME.parquet)"),
    (["--scheduler", "tcp://127.0.0.1:1", "--out", "x.parquet"],
     "--scheduler, --local-workers and --partitions need --engine dask"),
    (["--engine", "dask", "--scheduler", "tcp://127.0.0.1:1", "--local-workers", "2",
      "--out", "x.parquet"], "--scheduler and --local-workers exclude each other"),
    (["--engine", "dask", "--local-workers", "0", "--out", "x.parquet"],
     "--local-workers must be from 1 to 256"),
    (["--engine", "dask", "--partitions", "0", "--out", "x.parquet"],
     "--partitions must be from 1 to 100,000"),
    (["--engine", "dask", "--explain", "--out", "x/"],
     "--explain is not available with --engine dask"),
    (["--engine", "dask", "--backend", "scalar", "--out", "x.parquet"],
     "--backend scalar is not available with --engine dask"),
])
def test_usage_errors(sample: dict[str, Path], tmp_path: Path, extra: list[str],
                      message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    code = main(["evaluate", "--policy", str(sample["policy"]), "--facts",
                 str(sample["csv"]), "--fx", str(sample["fx"]), "--as-of", AS_OF, *extra],
                stdout=out, stderr=err)
    assert code == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err.getvalue()
    assert list(tmp_path.iterdir()) == []


def test_a_json_profile_is_not_a_table(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["evaluate", "--policy", str(BASELINE), "--facts",
                 str(ROOT / "examples" / "members.json"), "--as-of", AS_OF, "--engine", "dask",
                 "--out", str(tmp_path / "x.parquet")], stdout=out, stderr=err)
    assert code == 2
    assert "--engine dask evaluates a snapshot table" in err.getvalue()


@pytest.mark.parametrize("facts", ["csv", "shuffled"])
def test_compare_on_dask_writes_the_same_five_files(cluster: Any, sample: dict[str, Path],
                                                    tmp_path: Path, facts: str) -> None:
    alternatives = ROOT / "policies" / "alternatives"
    argv = ["compare", "--policy", str(BASELINE), "--policy",
            str(alternatives / "quarterly-windows.yaml"), "--policy",
            str(alternatives / "interest.yaml"), "--facts", str(sample[facts]), "--fx",
            str(sample["fx"]), "--as-of", AS_OF]
    err = io.StringIO()
    assert main([*argv, "--out", str(tmp_path / "local")], stdout=io.StringIO(),
                stderr=err) == 0, err.getvalue()
    dask = cli(*argv, "--out", str(tmp_path / "dask"), "--engine", "dask", "--scheduler",
               cluster.scheduler.address, "--partitions", "3")
    assert dask.returncode == 0, dask.stderr
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert names == ["accounts.csv", "assumptions.yaml", "report.html", "summary.md",
                     "yearly.csv"]
    assert sorted(p.name for p in (tmp_path / "dask").iterdir()) == names
    for name in names:
        assert (tmp_path / "dask" / name).read_bytes() == \
            (tmp_path / "local" / name).read_bytes(), name
    # the partitions' accounts rows, written beside the output, are gone once it is written
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    accounts = pl.read_csv(tmp_path / "local" / "accounts.csv", infer_schema=False)
    # not trivial: the policies differ on some accounts, and the damaged row is counted
    assert accounts.filter(pl.col("differs") != "").height > 10
    assert "2 in error" in (tmp_path / "local" / "summary.md").read_text(encoding="utf-8")


def test_a_partitioned_parquet_dataset_is_read_as_one_table(
        cluster: Any, sample: dict[str, Path], reference: dict[str, tuple[Path, int]],
        tmp_path: Path) -> None:
    """A folder of Parquet files (``NAME.parquet/``, hive folders allowed) is a snapshot
    table for both engines: the same determinations, in the same order, on both; the
    same as from the CSV it was cut from."""
    rows = pl.read_csv(sample["csv"], infer_schema=False)
    dataset = tmp_path / "input.parquet"
    for k, start in enumerate(range(0, rows.height, 600)):
        part = dataset / f"region={k % 2}"
        part.mkdir(parents=True, exist_ok=True)
        rows.slice(start, 600).write_parquet(part / f"{k:03d}.parquet")
    sample = {**sample, "dataset": dataset}
    folder, code = reference["csv"]
    err = io.StringIO()
    local = main(evaluate_args(sample, "dataset", tmp_path / "local.parquet"),
                 stdout=io.StringIO(), stderr=err)
    assert local == code, err.getvalue()
    dask = cli(*evaluate_args(sample, "dataset", tmp_path / "dask"), "--engine", "dask",
               "--scheduler", cluster.scheduler.address, "--partitions", "3")
    assert dask.returncode == code, dask.stderr
    here = pl.read_parquet(tmp_path / "local.parquet")
    assert pl.read_parquet(tmp_path / "dask").equals(here)  # in the dataset's order
    # the same determinations as from the CSV (the hive folders order the rows otherwise)
    whole = pl.read_parquet(folder / "local.parquet")
    assert here.height == whole.height
    assert here.sort("account_id").equals(whole.sort("account_id"))


def test_a_table_beyond_the_columnar_backend_falls_back_as_on_one_machine(
        cluster: Any, sample: dict[str, Path], tmp_path: Path) -> None:
    """A balance beyond exact 64-bit cents: the single-machine run evaluates the whole
    table with the scalar backend, and so does the Dask run (on the client, one part)."""
    rows = sample["csv"].read_text(encoding="utf-8").splitlines()[:150]
    cells = rows[5].split(",")
    cells[3] = "92233720368547758.07"
    rows[5] = ",".join(cells)
    facts = tmp_path / "big.csv"
    facts.write_text("\n".join(rows) + "\n", encoding="utf-8")
    sample = {**sample, "big": facts}
    err = io.StringIO()
    code = main(evaluate_args(sample, "big", tmp_path / "local.parquet"),
                stdout=io.StringIO(), stderr=err)
    dask = cli(*evaluate_args(sample, "big", tmp_path / "dask"), "--engine", "dask",
               "--scheduler", cluster.scheduler.address, "--partitions", "3")
    assert dask.returncode == code, dask.stderr
    assert "evaluated with the scalar backend on this machine" in dask.stderr
    assert pl.read_parquet(tmp_path / "dask").equals(pl.read_parquet(tmp_path / "local.parquet"))
    assert sorted(p.name for p in (tmp_path / "dask").iterdir()) == ["part-00000.parquet"]
    assert read_side(tmp_path / "dask.portfolio.json")["portfolio"] == \
        read_side(tmp_path / "local.portfolio.json")["portfolio"]
