"""The killed-worker probe shared by the Dask tests: a run on the test cluster whose
worker is killed while it evaluates a partition, and what must hold afterwards (retried:
the single-machine output; not retried: one line, exit 2, the previous output kept)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

from tests.support import ROOT


def run_killing_a_worker(cluster: Any, args: list[str], allowed_failures: int
                         ) -> tuple[int, str, int]:
    """``python -m evaluator ARGS`` on the cluster (each task sleeps 0.7 s first), one
    worker killed while it evaluates a partition: the exit status, stderr and the killed
    process id. The scheduler allows ``allowed_failures`` for the run only."""
    scheduler = cluster.cluster.scheduler  # in this process: a LocalCluster
    before = scheduler.allowed_failures
    scheduler.allowed_failures = allowed_failures
    argv = [sys.executable, "-m", "evaluator", *args, "--engine", "dask", "--scheduler",
            cluster.scheduler.address]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ,
                                           "UNCLAIMED_TEST_PARTITION_DELAY": "0.7"})
    try:
        deadline = time.monotonic() + 60
        busy: list[str] = []
        while not busy and time.monotonic() < deadline:
            busy = [w for w, keys in cluster.processing().items()
                    if any("unclaimed-partition" in str(k) for k in keys)]
            time.sleep(0.05)
        assert busy, "no partition was being evaluated"
        victim: int = cluster.run(os.getpid)[busy[0]]
        os.kill(victim, signal.SIGKILL)
        _, err = proc.communicate(timeout=600)
    finally:
        scheduler.allowed_failures = before
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err, victim


def wait_for_the_new_worker(cluster: Any) -> None:
    """The nanny starts a new worker; slow on a loaded machine, and the later tests need
    only one worker, so its arrival is waited for but not required."""
    with contextlib.suppress(Exception):
        cluster.wait_for_workers(2, timeout=180)


def _side(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))["portfolio"]


def assert_killed_run(code: int, err: str, retried: bool, target: Path, local: Path,
                      folder: Path) -> None:
    """What a killed worker leaves: retried, the output of the local run ``local`` (exit
    1: the sample's damaged rows); not, one line, exit 2, the previous ``target`` as it
    was (one part reading ``previous run``); never temporary files in ``folder``."""
    side = target.with_name(f"{target.stem}.portfolio.json")
    if retried:
        assert code == 1, err
        assert pl.read_parquet(target).equals(pl.read_parquet(local))
        assert _side(side) == _side(local.with_name(f"{local.stem}.portfolio.json"))
    else:
        assert code == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: the Dask run failed: a "
                                                       "worker died"), err
        assert sorted(p.name for p in target.iterdir()) == ["part-00000.parquet"]
        assert (target / "part-00000.parquet").read_bytes() == b"previous run"
        assert not side.exists()
    assert sorted(p.name for p in folder.iterdir() if ".unclaimed-tmp-" in p.name) == []
