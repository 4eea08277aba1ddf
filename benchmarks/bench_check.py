"""Cold start of `unclaimed check policies/fsra-2024-001`.

    python benchmarks/bench_check.py [--runs 10] [--policy policies/fsra-2024-001]

Runs the command in ``--runs`` fresh subprocesses (after one untimed warm-up run that
fills the OS file cache and ``__pycache__``) and reports the wall-clock time of each
in milliseconds, min / median / max. Uses the ``unclaimed`` console script when it is
on PATH, else ``python -m evaluator``. For reference it times ``python -c "import
evaluator"`` and ``python -c pass`` (the interpreter alone) the same way.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed_runs(command: list[str], runs: int) -> tuple[list[float], subprocess.CompletedProcess[str]]:
    """Wall-clock milliseconds of ``runs`` fresh runs of ``command`` (after a warm-up)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    last = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        last = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              check=False)
        times.append((time.perf_counter() - start) * 1e3)
    return times, last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--policy", default="policies/fsra-2024-001")
    args = parser.parse_args(argv)

    script = shutil.which("unclaimed")
    check = ([script, "check", args.policy] if script
             else [sys.executable, "-m", "evaluator", "check", args.policy])
    label = ("unclaimed" if script else "python -m evaluator") + f" check {args.policy}"
    commands = [
        (label, check),
        ('python -c "import evaluator"', [sys.executable, "-c", "import evaluator"]),
        ('python -c "pass"', [sys.executable, "-c", "pass"]),
    ]

    print("command: " + shlex.join(["python", os.path.relpath(__file__, Path.cwd()),
                                    *sys.argv[1:]]))
    print(f"python {platform.python_version()} on {platform.platform()}, "
          f"{os.cpu_count()} CPUs; {args.runs} fresh runs each after 1 warm-up, "
          "wall clock (time.perf_counter)\n")
    rows = [("command", "min ms", "median ms", "max ms", "exit")]
    failed = False
    for label, command in commands:
        times, last = timed_runs(command, args.runs)
        rows.append((label, f"{min(times):.1f}", f"{statistics.median(times):.1f}",
                     f"{max(times):.1f}", str(last.returncode)))
        if last.returncode != 0:
            failed = True
            sys.stderr.write(f"{label}: exit {last.returncode}\n{last.stdout}{last.stderr}\n")
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  " + r[0].ljust(widths[0]) + "".join(
            "  " + c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
