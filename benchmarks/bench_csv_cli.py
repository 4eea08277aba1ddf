"""1M accounts CSV -> CSV through the command line, against hand-written polars.

    python benchmarks/bench_csv_cli.py [--accounts 1000000] [--rounds 3] [--seed 1]

Writes one snapshot CSV (``bench_portfolio.generate_local``, balances as text) and its
FX table, then runs, alternating in each round, each in a fresh process:

* ``stdout``: ``unclaimed evaluate --policy policies/fsra-2024-001 --facts F --fx FX
  --as-of D --format csv > out.csv`` (the result written from the frame);
* ``--out``: the same with ``--out out.csv`` (chunked, the portfolio file beside);
* ``hand``: ``python benchmarks/hand_csv.py F FX D -`` > out.csv (hand-written polars).

and prints wall time (best and median of the rounds), the exit status, and the ratio of each command-line form to the hand-written script. Target (issue 15): both
forms <= 1.5x the hand-written script.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET = 1.5


def run(command: list[str], stdout: Path) -> tuple[float, int]:
    """(seconds, exit status) of one run."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(stdout, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, env=env, stdout=out,
                              stderr=subprocess.PIPE, check=False)
        seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stderr.decode(errors="replace")[-2000:])
    return seconds, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", default="2026-11-21")
    args = parser.parse_args(argv)

    from benchmarks.bench_portfolio import generate_local

    print("command: " + shlex.join(["python", os.path.relpath(__file__, Path.cwd()),
                                    *sys.argv[1:]]))
    print(f"python {platform.python_version()} on {platform.platform()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-csv-") as folder:
        work = Path(folder)
        snapshot, fx = generate_local(args.accounts, args.seed,
                                      dt.date.fromisoformat(args.as_of), "text")
        facts, rates = work / "portfolio.csv", work / "fx.csv"
        snapshot.write_csv(facts)
        fx.write_csv(rates)
        del snapshot
        print(f"{args.accounts:,} accounts, {facts.stat().st_size / 2**20:.0f} MiB of CSV; "
              f"{args.rounds} rounds, forms alternating\n")
        cli = [sys.executable, "-m", "evaluator", "evaluate", "--policy",
               "policies/fsra-2024-001", "--facts", str(facts), "--fx", str(rates),
               "--as-of", args.as_of]
        forms = {
            "hand-written polars (stdout)": ([sys.executable, "benchmarks/hand_csv.py",
                                              str(facts), str(rates), args.as_of, "-"],
                                             work / "hand.csv"),
            "unclaimed evaluate --format csv > out.csv": ([*cli, "--format", "csv"],
                                                          work / "stdout.csv"),
            "unclaimed evaluate --out out.csv": ([*cli, "--out", str(work / "out.csv")],
                                                 work / "log.txt"),
        }
        times: dict[str, list[float]] = {k: [] for k in forms}
        codes: dict[str, int] = {}
        for _ in range(args.rounds):
            for label, (command, out) in forms.items():
                seconds, code = run(command, out)
                times[label].append(seconds)
                codes[label] = code
        same = (work / "stdout.csv").read_bytes() == (work / "out.csv").read_bytes()
        hand = min(times["hand-written polars (stdout)"])
        print(f"  {'form':44} {'best s':>7} {'median s':>9} {'exit':>5}  ratio (best)")
        for label, ts in times.items():
            ratio = min(ts) / hand
            verdict = "" if label.startswith("hand") else (
                f"{ratio:.2f}x " + ("ok" if ratio <= TARGET else "MISSED")
                + f" (target <= {TARGET}x)")
            print(f"  {label:44} {min(ts):7.2f} {statistics.median(ts):9.2f} "
                  f"{codes[label]:5d}  {verdict}")
        print(f"\n  --format csv and --out give the same bytes: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
