"""`compare` over a dataset: one process against Dask with 1 and 2 workers, with the
client's and each worker's peak memory (what `--engine dask` saves a comparison).

    python benchmarks/bench_compare_scale.py --dataset /tmp/b14/d1m
    python benchmarks/bench_compare_scale.py --dataset /tmp/b14/d1m --source /tmp/old

Reads a dataset written by ``benchmarks/gen_dataset.py`` (``accounts.parquet`` +
``events.parquet`` + ``fx.csv``; ``benchmarks/bench_scale.py --keep DIR`` keeps one),
then runs, each as a fresh subprocess sampled every 50 ms (``bench_scale``'s sampler):

* ``single process``: ``unclaimed compare --policy fsra-2024-001 --policy
  policies/alternatives/quarterly-windows.yaml --facts accounts.parquet --events
  events.parquet --fx fx.csv --as-of D --out DIR``;
* ``dask, N workers``: the same with ``--engine dask --scheduler ADDRESS --partitions P``
  against a ``LocalCluster`` of N single-threaded workers started before the timing.

Printed: the machine and load, then one table: wall time, the client's and the workers'
peaks, the speed-up over one worker, and whether the five files are the single
process's byte for byte. ``--source DIR`` measures another checkout's `evaluator` (e.g.
an earlier commit exported with ``git archive COMMIT | tar -x -C DIR``).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_scale  # noqa: E402  (the path above first)
from benchmarks.bench_scale import MiB, Run, run_command, unsupported  # noqa: E402

POLICIES = ["policies/fsra-2024-001", "policies/alternatives/quarterly-windows.yaml"]


def compare_cmd(folder: Path, out: Path, extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "evaluator", "compare"]
    for policy in POLICIES:
        cmd += ["--policy", str(bench_scale.SOURCE / policy)]
    return [*cmd, "--facts", str(folder / "accounts.parquet"), "--events",
            str(folder / "events.parquet"), "--fx", str(folder / "fx.csv"),
            "--as-of", bench_scale.AS_OF, "--out", str(out), *extra]


def same_files(a: Path, b: Path) -> str:
    names = sorted(p.name for p in a.iterdir())
    if not names or names != sorted(p.name for p in b.iterdir()):
        return "NO (files)"
    differ = [n for n in names if (a / n).read_bytes() != (b / n).read_bytes()]
    return "yes" if not differ else f"NO ({', '.join(differ)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--workers", default="1,2", help="worker counts (comma-separated)")
    ap.add_argument("--partitions", type=int, default=None,
                    help="partitions per Dask run (default: one per 250,000 accounts)")
    ap.add_argument("--no-single", action="store_true",
                    help="skip the single process (the Dask outputs are then compared "
                    "with a single-process output already in the dataset folder)")
    ap.add_argument("--source", type=Path, default=None,
                    help="measure the `evaluator` of this checkout instead of this one's")
    ap.add_argument("--memory-cap", type=float, default=bench_scale.MEMORY_CAP,
                    help="GiB a measured command or worker may take before it is stopped")
    args = ap.parse_args()
    bench_scale.MEMORY_CAP = args.memory_cap
    if args.source is not None:
        bench_scale.SOURCE = args.source.resolve()
        sys.path.insert(0, str(bench_scale.SOURCE))
        os.environ["PYTHONPATH"] = str(bench_scale.SOURCE)
    import polars as pl
    from distributed import Client, LocalCluster

    folder = args.dataset
    rows = pl.scan_parquet(folder / "accounts.parquet").select(pl.len()).collect().item()
    events = pl.scan_parquet(folder / "events.parquet").select(pl.len()).collect().item()
    partitions = args.partitions or max(2, -(-rows // 250_000))
    print(f"$ {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"measuring the evaluator of {bench_scale.SOURCE}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"dataset: {rows:,} accounts, {events:,} events; {partitions} partitions")
    single_out = folder / "compare-single"
    runs: list[tuple[Run, str]] = []
    if not args.no_single:
        single = run_command(compare_cmd(folder, single_out, []), "single process",
                             "dataset", rows)
        why = unsupported(single)
        if why is not None:
            raise SystemExit(f"the single process did not run: {why}")
        runs.append((single, "-"))
    for n in [int(w) for w in args.workers.split(",") if w.strip()]:
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=":0", silence_logs=logging.CRITICAL,
                          env=bench_scale.WORKER_ENV) as cluster, Client(cluster) as client:
            client.run(__import__, "evaluator.apps.distributed_events")
            fixed = list(client.run(os.getpid).values())
            out = folder / f"compare-dask-{n}"
            run = run_command(compare_cmd(folder, out, [
                "--engine", "dask", "--scheduler", cluster.scheduler_address,
                "--partitions", str(partitions)]), f"dask, {n} worker{'s' * (n != 1)}",
                "dataset", rows, worker_pids=lambda fixed=fixed: fixed)
        run.n = n
        why = unsupported(run)
        if why is not None:
            print(f"note: dask, {n} workers: not measured ({why})")
            continue
        runs.append((run, same_files(out, single_out) if single_out.exists() else "?"))
    one = next((r for r, _ in runs if r.n == 1), None)
    print()
    print("| run | wall (s) | client peak (MiB) | worker peaks (MiB) | speed-up vs 1 worker "
          "| same five files | load avg before/after |")
    print("|---|---:|---:|---:|---:|---|---|")
    for r, same in runs:
        peaks = ", ".join(f"{w / MiB:,.0f}" for w in r.workers) or "-"
        speed = f"{one.wall / r.wall:.2f}x" if one is not None and r.n else "-"
        print(f"| {r.label} | {r.wall:.1f} | {r.client / MiB:,.0f} | {peaks} | {speed} | "
              f"{same} | {r.load[0]:.1f} / {r.load[1]:.1f} |")


if __name__ == "__main__":
    main()
