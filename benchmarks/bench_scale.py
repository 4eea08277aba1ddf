"""Scale-out over a dataset: one process against Dask with 1 and 2 workers, and the
compiled policy against the history-aware hand-written reference.

    python benchmarks/bench_scale.py --accounts 1000000             # minutes
    python benchmarks/bench_scale.py                                # 10M accounts, ~30M events
    python benchmarks/bench_scale.py --accounts 1000000 --workers 1,2,4 --partitions 16
    python benchmarks/bench_scale.py --dataset /tmp/b14/d1m --runs reference,single --rounds 3

Writes a dataset with ``benchmarks/gen_dataset.py`` (``accounts.parquet`` +
``events.parquet`` + ``fx.csv``, about ``--events-per-account`` events per account,
calibrated like ``unclaimed generate --events``), then runs, each as a fresh subprocess
whose peak resident memory is sampled every 50 ms (psutil):

* ``reference``: ``benchmarks/reference.py``'s ``reference_dataset`` reading both tables,
  computing every determination and writing them to Parquet (the hand-written limit);
* ``single process``: ``unclaimed evaluate --facts accounts.parquet --events
  events.parquet --fx fx.csv --as-of D --out single.parquet --backend columnar``;
* ``dask, N workers``: the same with ``--engine dask --scheduler ADDRESS --partitions P
  --out DIR/`` against a ``LocalCluster`` of N single-threaded worker processes started
  by this script before the timing (so the wall time is the evaluation's, not the
  cluster's start-up) and stopped after; each worker's peak RSS is sampled too.

Where a path does not take a dataset yet (the command exits 2 saying so), the script
prints the command's message and measures what runs instead, labelled in the table's
``input`` column: ``snapshot`` (the same accounts with their latest dates as
``last_*`` columns, derived from the events: no history findings) for the single-process
and Dask runs, and the scalar backend over the dataset on a sample of the first
``--scalar-sample`` accounts (whole members), with the reference on the same sample.

``--runs`` picks among ``reference``, ``single`` and ``dask`` (default: all three; without
``dask`` neither the snapshot nor the scalar sample is measured), ``--rounds N`` runs the
reference and the single process N times each and reports the median wall time and the
median peak (each round's figures are printed too): with ``--dataset DIR`` (an existing
dataset) the compiled / reference ratio is measured in a minute.

Printed: the command line, the machine, the load average before and after each run
(the machine may be shared: read wall times next to it), then one table: wall time,
accounts/s, client and worker peaks, speed-up and efficiency against one worker
(T1 / TN and T1 / (N x TN)), worker-seconds per partition (N x TN / partitions: the
figure a larger cluster is estimated from), whether the Dask output read back equals
the single-process file, and the compiled / reference wall-time ratio.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: the Dask workers' environment (``--polars-threads worker``: one polars thread per
#: single-threaded worker, as ``--engine dask --local-workers N`` starts them)
WORKER_ENV: dict[str, str] = {"POLARS_MAX_THREADS": "1"}
#: GiB a measured process (or a worker) may take before the run is stopped
MEMORY_CAP = 16.0
#: the checkout whose `evaluator` is measured (``--source``; default this one)
SOURCE = ROOT
AS_OF = "2026-11-21"
MiB = 2**20

#: run in a subprocess: the reference over a dataset, written to Parquet
REFERENCE_SCRIPT = """
import sys, time, json
from datetime import date
sys.path.insert(0, {root!r})
from benchmarks.reference import read_fx, read_table, reference_dataset
t = time.perf_counter()
out = reference_dataset(read_table({accounts!r}), read_table({events!r}),
                        read_fx({fx!r}), date.fromisoformat({as_of!r}))
computed = time.perf_counter() - t
out.write_parquet({out!r})
print(json.dumps({{"compute": computed, "total": time.perf_counter() - t,
                  "status": {{str(k): v for k, v in out["status"].value_counts().rows()}}}}))
"""


class Sampler:
    """Peak RSS per process id, sampled every ``every`` seconds until stopped."""

    def __init__(self, pids: Any, every: float = 0.05, cap: int = 0,
                 over: Any = None) -> None:
        self.pids = pids  # a callable giving the process ids to sample
        self.every = every
        self.cap = cap  # bytes; above it (on any process) `over()` is called once
        self.over = over
        self.capped = False
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
                if self.cap and rss > self.cap and not self.capped:
                    self.capped = True
                    self.over()
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Run:
    label: str
    input: str
    accounts: int
    wall: float = 0.0
    client: int = 0
    workers: list[int] = field(default_factory=list)
    n: int = 0  # Dask workers (0: not Dask)
    load: tuple[float, float] = (0.0, 0.0)
    identical: str = "-"
    stdout: str = ""
    stderr: str = ""
    rc: int = 0
    stopped: str = ""  # why the run was stopped before it ended
    rounds: list[tuple[float, int]] = field(default_factory=list)  # (wall, peak) of each


def median_run(rounds: int, once: Any) -> Run:
    """``once()`` run ``rounds`` times: the last run with the median wall time and the
    median peak of the rounds (each round's kept in ``rounds``)."""
    import statistics

    runs = [once() for _ in range(max(1, rounds))]
    last = runs[-1]
    last.rounds = [(r.wall, r.client) for r in runs]
    if len(runs) > 1:
        for r in runs:
            print(f"  round: {r.label}: {r.wall:.2f} s, peak {r.client / MiB:,.0f} MiB, "
                  f"load {r.load[0]:.1f} / {r.load[1]:.1f}")
        last.wall = statistics.median(r.wall for r in runs)
        last.client = int(statistics.median(r.client for r in runs))
        last.load = (runs[0].load[0], runs[-1].load[1])
    return last


def load1() -> float:
    return os.getloadavg()[0]


def run_command(cmd: list[str], label: str, what: str, accounts: int,
                worker_pids: Any = None) -> Run:
    """One subprocess: wall time, peak RSS of it and of the workers, its output."""
    run = Run(label, what, accounts)
    before = load1()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=SOURCE)
    cap = int(MEMORY_CAP * 2**30)
    with Sampler(lambda: [proc.pid], cap=cap, over=proc.kill) as client, \
            Sampler(worker_pids or (lambda: []), cap=cap, over=proc.kill) as workers:
        run.stdout, run.stderr = proc.communicate()
    if client.capped or workers.capped:
        who = "the command" if client.capped else "a worker"
        run.stopped = f"stopped: {who} went above --memory-cap {MEMORY_CAP:g} GiB"
    run.wall = time.perf_counter() - started
    run.load = (before, load1())
    run.rc = proc.returncode
    run.client = client.peak.get(proc.pid, 0)
    run.workers = sorted(workers.peak.values(), reverse=True)
    return run


def unsupported(run: Run) -> str | None:
    """The command's message when it exited 2 (the path does not take this input), or
    why it was stopped."""
    if run.stopped:
        return run.stopped
    if run.rc == 2:
        lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
        return lines[0] if lines else "exit 2"
    if run.rc not in (0, 1):
        raise SystemExit(f"failed ({run.rc}): {run.label}\n{run.stderr}")
    return None


def evaluate_cmd(facts: Path, events: Path | None, fx: Path, out: str,
                 extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "evaluator", "evaluate", "--policy",
           str(SOURCE / "policies" / "fsra-2024-001"),
           "--facts", str(facts), "--fx", str(fx), "--as-of", AS_OF, "--out", out]
    if events is not None:
        cmd += ["--events", str(events)]
    return cmd + extra


def reference_run(label: str, accounts: Path, events: Path, fx: Path, out: Path,
                  rows: int) -> Run:
    code = REFERENCE_SCRIPT.format(root=str(ROOT), accounts=str(accounts),
                                   events=str(events), fx=str(fx), as_of=AS_OF, out=str(out))
    run = run_command([sys.executable, "-c", code], label, "dataset", rows)
    if run.stopped:
        raise SystemExit(f"the reference was {run.stopped}")
    if run.rc != 0:
        raise SystemExit(f"the reference failed:\n{run.stderr}")
    return run


def snapshot_of(accounts: Path, events: Path, out: Path) -> None:
    """The accounts with their latest dates from the events (a snapshot table)."""
    import polars as pl

    ev = pl.scan_parquet(events).with_columns(pl.col("date").cast(pl.String).str.to_date())
    tx = ev.filter((pl.col("type") == "transaction") & (pl.col("date") <= pl.lit(
        AS_OF).str.to_date())).group_by("account_id").agg(
        pl.col("date").max().alias("last_transaction"))
    member = ev.filter(pl.col("type").is_in(["statement_ack", "response"])).group_by(
        "member_id").agg(
        pl.col("date").filter(pl.col("type") == "statement_ack").max()
        .alias("last_statement_ack"),
        pl.col("date").filter(pl.col("type") == "response").max().alias("last_response"))
    pl.scan_parquet(accounts).join(tx, on="account_id", how="left", maintain_order="left"
                                   ).join(member, on="member_id", how="left",
                                          maintain_order="left").sink_parquet(out)


def sample_of(accounts: Path, events: Path, rows: int, folder: Path) -> tuple[Path, Path, int]:
    """The first ``rows`` accounts (whole members) and their events."""
    import polars as pl

    folder.mkdir(parents=True, exist_ok=True)
    acc = pl.scan_parquet(accounts).head(rows).collect()
    last = acc.get_column("member_id")[-1]
    acc = acc.filter(pl.col("member_id") != last) if acc.height == rows else acc
    members = acc.get_column("member_id").unique().implode()
    ev = pl.scan_parquet(events).filter(pl.col("member_id").is_in(members)).collect()
    acc.write_parquet(folder / "accounts.parquet")
    ev.write_parquet(folder / "events.parquet")
    return folder / "accounts.parquet", folder / "events.parquet", acc.height


def dask_runs(workers: list[int], partitions: int, facts: Path, events: Path | None,
              fx: Path, prefix: Path, what: str, rows: int,
              extra: list[str] | None = None) -> list[Run]:
    """Dask with each worker count in turn; out: ``{prefix}-{N}/``."""
    from distributed import Client, LocalCluster

    runs = []
    for n in workers:
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=":0", silence_logs=logging.CRITICAL,
                          env=WORKER_ENV) as cluster, \
                Client(cluster) as client:
            client.run(__import__, "evaluator.apps.distributed")  # imports before timing
            fixed = list(client.run(os.getpid).values())
            cmd = evaluate_cmd(facts, events, fx, f"{prefix}-{n}/",
                               ["--engine", "dask", "--scheduler", cluster.scheduler_address,
                                "--partitions", str(partitions), *(extra or [])])
            run = run_command(cmd, f"dask, {n} worker{'s' if n != 1 else ''}", what, rows,
                              worker_pids=lambda fixed=fixed: fixed)
        run.n = n
        why = unsupported(run)
        if why is not None:
            print(f"note: dask over the {what}: not available ({why})")
            return []
        runs.append(run)
    return runs


def identical(out: Path, expected: Path) -> str:
    import polars as pl

    if not (expected.exists() and is_parquet(expected)):
        return "?"
    return "yes" if pl.read_parquet(out).equals(pl.read_parquet(expected)) else "NO"


def is_parquet(path: Path) -> bool:
    if path.is_dir():
        return True
    with path.open("rb") as fh:
        return fh.read(4) == b"PAR1"


def statuses(path: Path) -> dict[str, int]:
    """Accounts per status in an output (Parquet file or folder, or the JSON document)."""
    import polars as pl

    if not is_parquet(path):
        doc = json.loads(path.read_text())
        counts: dict[str, int] = {}
        for a in doc["accounts"]:
            counts[a["status"]] = counts.get(a["status"], 0) + 1
        return counts
    col = pl.read_parquet(path).get_column("status").drop_nulls().cast(pl.String)
    return {str(k): int(v) for k, v in col.value_counts().rows()}


def main() -> None:
    global MEMORY_CAP, SOURCE
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=10_000_000)
    ap.add_argument("--events-per-account", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", default="1,2", help="worker counts (comma-separated)")
    ap.add_argument("--partitions", type=int, default=None,
                    help="partitions per Dask run (default: the engine's, one per "
                    "250,000 rows)")
    ap.add_argument("--scalar-sample", type=int, default=50_000,
                    help="accounts of the scalar fallback's sample (0: none)")
    ap.add_argument("--keep", "--dataset", dest="keep", type=Path, default=None,
                    help="folder to generate into and keep (a dataset already there is "
                    "reused; default: a temporary folder)")
    ap.add_argument("--runs", default="reference,single,dask",
                    help="what to run, comma-separated among reference, single, dask")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of the reference and of the single process (the median "
                    "is reported)")
    ap.add_argument("--source", type=Path, default=None,
                    help="measure the `evaluator` of this checkout instead of this one's "
                    "(e.g. a branch exported with `git archive BRANCH | tar -x -C DIR`): "
                    "the commands run there and the Dask workers import it")
    ap.add_argument("--polars-threads", choices=("worker", "all"), default="worker",
                    help="polars threads in each Dask worker: as many as the worker's (one, "
                         "as `--local-workers` sets them; default) or every core")
    ap.add_argument("--memory-cap", type=float, default=MEMORY_CAP,
                    help="GiB a measured command or a worker may take before the "
                    f"benchmark stops it and exits (default {MEMORY_CAP:g})")
    args = ap.parse_args()
    want = {r.strip() for r in args.runs.split(",") if r.strip()}
    if not want or want - {"reference", "single", "dask"}:
        ap.error(f"--runs takes reference, single, dask (got {args.runs!r})")
    MEMORY_CAP = args.memory_cap
    if args.polars_threads == "all":
        WORKER_ENV.clear()
    if args.source is not None:
        SOURCE = args.source.resolve()
        sys.path.insert(0, str(SOURCE))  # the workers start with this process's path
        os.environ["PYTHONPATH"] = str(SOURCE)
    import polars as pl

    from evaluator.apps.distributed import DEFAULT_PARTITION_ROWS

    print(f"$ {shlex.join([Path(sys.executable).name, *sys.argv])}")
    if SOURCE != ROOT:
        print(f"measuring the evaluator of {SOURCE}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, polars {pl.__version__}; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("dask workers: one thread each, polars threads "
          + (f"{WORKER_ENV['POLARS_MAX_THREADS']} each" if WORKER_ENV else "every core"))
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    accounts, events, fx = (folder / "accounts.parquet", folder / "events.parquet",
                            folder / "fx.csv")
    if not (accounts.exists() and events.exists() and fx.exists()):
        gen = run_command([sys.executable, str(ROOT / "benchmarks" / "gen_dataset.py"),
                           "--accounts", str(args.accounts), "--events-per-account",
                           str(args.events_per_account), "--seed", str(args.seed),
                           "--out", str(folder)], "generate", "dataset", 0)
        if gen.rc != 0:
            raise SystemExit(f"generating failed:\n{gen.stderr}")
        print(f"generated: {gen.stdout.strip()} (peak {gen.client / MiB:,.0f} MiB)")
    rows = pl.scan_parquet(accounts).select(pl.len()).collect().item()
    n_events = pl.scan_parquet(events).select(pl.len()).collect().item()
    partitions = args.partitions or max(2, -(-rows // DEFAULT_PARTITION_ROWS))
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    print(f"dataset: {rows:,} accounts, {n_events:,} events ({folder}); {partitions} "
          "partitions per Dask run")

    runs: list[Run] = []
    ref: Run | None = None
    if "reference" in want:
        ref = median_run(args.rounds, lambda: reference_run(
            "reference", accounts, events, fx, folder / "reference.parquet", rows))
        runs.append(ref)
    ratio_pairs: list[tuple[str, Run, Run]] = []
    checks: list[tuple[str, Path, Path]] = []  # (what, output, the reference's output)
    why: str | None = None
    expected = folder / "single.parquet"
    if "single" in want:
        single = median_run(args.rounds, lambda: run_command(
            evaluate_cmd(accounts, events, fx, str(expected), ["--backend", "columnar"]),
            "single process", "dataset", rows))
        why = unsupported(single)
        if why is None:
            runs.append(single)
            if ref is not None:
                ratio_pairs.append(("compiled / reference, dataset", single, ref))
                checks.append(("compiled, dataset", expected, folder / "reference.parquet"))
        else:
            print(f"note: the compiled policy over the dataset: not available ({why})")
    if "dask" in want and why is None:
        runs += dask_runs(workers, partitions, accounts, events, fx, folder / "dask-dataset",
                          "dataset", rows, [])  # auto: the engine refuses --backend columnar
    if "dask" in want and not any(r.n for r in runs):  # no Dask over the dataset: snapshot
        snapshot = folder / "snapshot.parquet"
        if not snapshot.exists():
            snapshot_of(accounts, events, snapshot)
        expected = folder / "single-snapshot.parquet"
        if why is not None:
            s = run_command(evaluate_cmd(snapshot, None, fx, str(expected), []),
                            "single process", "snapshot", rows)
            why_s = unsupported(s)
            if why_s is None:
                runs.append(s)
            else:
                print(f"note: one process over the snapshot: not measured ({why_s})")
        runs += dask_runs(workers, partitions, snapshot, None, fx, folder / "dask-snapshot",
                          "snapshot", rows)
    if "dask" in want and why is not None and args.scalar_sample:
        sacc, sev, srows = sample_of(accounts, events, args.scalar_sample, folder / "sample")
        sref = reference_run("reference", sacc, sev, fx, folder / "sample" / "ref.parquet",
                             srows)
        sref.input = f"dataset sample ({srows:,})"
        # the scalar path of main writes the JSON document (even to a .parquet name)
        sout = folder / "sample" / "out.parquet"
        scalar = run_command(evaluate_cmd(sacc, sev, fx, str(sout), []), "scalar backend",
                             sref.input, srows)
        why_s = unsupported(scalar)
        if why_s is not None:
            print(f"note: the scalar backend over the sample: not measured ({why_s})")
        else:
            runs += [sref, scalar]
            ratio_pairs.append((f"scalar / reference, {sref.input}", scalar, sref))
            checks.append((f"scalar, {sref.input}", sout, folder / "sample" / "ref.parquet"))
            # Dask over the sample dataset, whatever backend the engine chooses for it
            sample_runs = dask_runs(workers, max(2, len(workers)), sacc, sev, fx,
                                    folder / "sample" / "dask", sref.input, srows, [])
            for r in sample_runs:
                r.identical = identical(folder / "sample" / f"dask-{r.n}", sout)
            runs += sample_runs
    for r in runs:
        if r.n and r.identical == "-":
            r.identical = identical(folder / f"dask-{r.input}-{r.n}", expected)

    ones = {r.input: r for r in runs if r.n == 1}  # the 1-worker run of each input
    print()
    print("| run | input | wall (s) | accounts/s | client peak (MiB) | worker peaks (MiB) "
          "| speed-up vs 1 worker | efficiency | worker-s per partition | identical "
          "| load avg before/after |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in runs:
        one = ones.get(r.input)
        peaks = ", ".join(f"{w / MiB:,.0f}" for w in r.workers) or "-"
        speed = f"{one.wall / r.wall:.2f}x" if one and r.n else "-"
        eff = f"{one.wall / (r.n * r.wall):.2f}" if one and r.n else "-"
        per_part = f"{r.n * r.wall / partitions:.2f}" if r.n else "-"
        print(f"| {r.label} | {r.input} | {r.wall:.1f} | {r.accounts / r.wall:,.0f} | "
              f"{r.client / MiB:,.0f} | {peaks} | {speed} | {eff} | {per_part} | "
              f"{r.identical} | {r.load[0]:.1f} / {r.load[1]:.1f} |")
    print()
    for label, a, b in ratio_pairs:
        print(f"{label}: {a.wall / b.wall:.2f}x wall (target for the compiled policy: "
              "<= 2x)")
    if ref is not None:
        ref_out = json.loads(ref.stdout.strip().splitlines()[-1])
        print(f"reference: compute {ref_out['compute']:.1f} s of {ref.wall:.1f} s; "
              f"statuses {ref_out['status']}")
    for what, out, reference_out in checks:
        got, want = statuses(out), statuses(reference_out)
        same = "same as the reference" if got == want else f"DIFFERENT from the reference: {got}"
        print(f"status counts, {what}: {same}")
    for r in runs:
        if r.n == 2 and r.input in ones:
            print(f"2 workers over 1, {r.input}: {ones[r.input].wall / r.wall:.2f}x "
                  "(target: >= 1.6x)")
    peak = max((w for r in runs for w in r.workers), default=0)
    if peak:
        print(f"largest worker peak: {peak / MiB:,.0f} MiB (target: <= 4,096 MiB)")
    print(f"\nfiles kept in {folder}" if args.keep else "")


if __name__ == "__main__":
    main()
