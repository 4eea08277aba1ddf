"""Scale-out: one process against Dask with 1 and 2 local workers, on one portfolio.

    python benchmarks/bench_scale.py --accounts 1000000            # about a minute or two
    python benchmarks/bench_scale.py                               # 10M accounts (default)
    python benchmarks/bench_scale.py --accounts 1000000 --workers 1,2,4 --partitions 16

Generates the portfolio with ``unclaimed generate`` (a Parquet snapshot table and its FX
table; until portfolios with event histories exist, about 1.7 accounts per member and
no events), then runs, each as a fresh ``unclaimed evaluate --out`` subprocess:

* ``single``: the single-machine engine (``--engine local``, member-consistent chunks);
* ``dask N``: ``--engine dask --scheduler ADDRESS`` against a ``LocalCluster`` of N worker
  processes (one thread each) started by this script before the timing and stopped
  after it, so the wall time is the evaluation's, not the cluster's start-up.

For each run it prints the wall time, accounts/s, the peak resident memory of the
command (the client) and of each worker (RSS sampled every 50 ms with psutil, the
largest seen), the scaling efficiency against one worker (T1 / (N x TN)), the
worker-seconds per partition (N x TN / partitions: what a partition costs, the figure to
extrapolate a larger cluster from) and whether the determinations, read back as one
table, are identical to the single-machine file.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

POLICY = ROOT / "policies" / "fsra-2024-001"
MiB = 2**20
#: accounts per member in `unclaimed generate`'s default mix (about 1.72)
ACCOUNTS_PER_MEMBER = 1.72


class Sampler:
    """Peak RSS per process id, sampled every ``every`` seconds until stopped."""

    def __init__(self, pids: Any, every: float = 0.05) -> None:
        self.pids = pids  # a callable giving the process ids to sample
        self.every = every
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        import psutil

        while not self._stop.is_set():
            for pid in self.pids():
                try:
                    rss = psutil.Process(pid).memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                self.peak[pid] = max(self.peak.get(pid, 0), rss)
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def evaluate(facts: Path, fx: Path, out: str, extra: list[str],
             worker_pids: Any = None) -> dict[str, Any]:
    """One ``unclaimed evaluate`` subprocess: wall time, peak RSS of it and the workers."""
    cmd = [sys.executable, "-m", "evaluator", "evaluate", "--policy", str(POLICY),
           "--facts", str(facts), "--fx", str(fx), "--as-of", "2026-11-21", "--out", out,
           *extra]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    with Sampler(lambda: [proc.pid]) as client, \
            Sampler(worker_pids or (lambda: [])) as workers:
        _, err = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"failed ({proc.returncode}): {shlex.join(cmd)}\n{err}")
    return {"wall": wall, "client": client.peak.get(proc.pid, 0),
            "workers": sorted(workers.peak.values(), reverse=True), "stderr": err.strip()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", default="1,2", help="worker counts (comma-separated)")
    ap.add_argument("--partitions", type=int, default=None,
                    help="partitions per Dask run (default: the engine's, one per "
                    "250,000 rows)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="folder to generate into and keep (default: a temporary one)")
    args = ap.parse_args()
    import polars as pl
    from distributed import Client, LocalCluster

    from evaluator.apps.distributed import DEFAULT_PARTITION_ROWS

    print(f"$ {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, polars {pl.__version__}")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    facts = folder / "portfolio.parquet"
    fx = folder / "portfolio.fx.csv"
    members = max(1, round(args.accounts / ACCOUNTS_PER_MEMBER))
    if not facts.exists():
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "evaluator", "generate", "--members",
                        str(members), "--seed", str(args.seed), "--out", str(facts)],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        print(f"generated {members:,} members in {time.perf_counter() - t:.1f} s")
    rows = pl.scan_parquet(facts).select(pl.len()).collect().item()
    partitions = args.partitions or max(2, -(-rows // DEFAULT_PARTITION_ROWS))
    print(f"portfolio: {rows:,} accounts ({facts}), {partitions} partitions per Dask run")

    results: list[tuple[str, int, dict[str, Any]]] = []
    single = evaluate(facts, fx, str(folder / "single.parquet"), [])
    results.append(("single process", 0, single))
    expected = pl.read_parquet(folder / "single.parquet")
    for n in [int(w) for w in args.workers.split(",") if w.strip()]:
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
                Client(cluster) as client:
            client.run(__import__, "evaluator.apps.distributed")  # imports before timing

            def pids(client: Any = client) -> list[int]:
                return list(client.run(os.getpid).values())

            fixed = pids()
            out = folder / f"dask-{n}"
            run = evaluate(facts, fx, f"{out}/", ["--engine", "dask", "--scheduler",
                                                  cluster.scheduler_address,
                                                  "--partitions", str(partitions)],
                           worker_pids=lambda fixed=fixed: fixed)
        run["identical"] = pl.read_parquet(out).equals(expected)
        results.append((f"dask, {n} worker{'s' if n != 1 else ''}", n, run))

    one = next((r for _, n, r in results if n == 1), None)
    print()
    print("| run | wall (s) | accounts/s | client peak (MiB) | worker peak (MiB) "
          "| efficiency vs 1 worker | worker-s per partition | identical |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for label, n, r in results:
        workers = ", ".join(f"{w / MiB:,.0f}" for w in r["workers"]) or "-"
        eff = f"{one['wall'] / (n * r['wall']):.2f}" if one and n else "-"
        per_part = f"{n * r['wall'] / partitions:.2f}" if n else "-"
        same = "-" if not n else ("yes" if r.get("identical") else "NO")
        print(f"| {label} | {r['wall']:.1f} | {rows / r['wall']:,.0f} | "
              f"{r['client'] / MiB:,.0f} | {workers} | {eff} | {per_part} | {same} |")
    if one:
        speedups = [f"{n} workers {one['wall'] / r['wall']:.2f}x" for _, n, r in results
                    if n > 1]
        if speedups:
            print(f"\nspeed-up over 1 worker: {', '.join(speedups)} (target for 2: 1.6x)")
    print(f"\nfiles kept in {folder}" if args.keep else "")


if __name__ == "__main__":
    main()
