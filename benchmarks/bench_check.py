"""Cold start of `unclaimed check policies/fsra-2024-001` and of a one-member
`unclaimed evaluate`, with a cold and a warm cache of checked policies.

    python benchmarks/bench_check.py [--runs 10] [--policy policies/fsra-2024-001]

Runs each command in ``--runs`` fresh subprocesses (after one untimed warm-up run that
fills the OS file cache and the compiled bytecode, kept in a temporary folder when
``PYTHONDONTWRITEBYTECODE`` is set) and reports the wall-clock time of each in
milliseconds, min / median / max, and the median CPU time (user + system, from
``getrusage``: steadier than wall time on a shared machine). "cold cache" runs each
time with an empty cache folder (the run checks the policy and writes the entry);
"warm cache" with a folder filled by the warm-up run. The one-member evaluate reads the
first member of ``examples/members.json``. Uses the ``unclaimed`` console script when it
is on PATH, else ``python -m evaluator``. For reference it times ``python -c "import
evaluator"`` and ``python -c pass`` (the interpreter alone) the same way.

Targets (issue 15): check <= 150 ms and a one-member evaluate <= 250 ms, median, warm.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECK_MS, EVALUATE_MS = 150, 250


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed_runs(command: list[str], runs: int, cache: str | None
               ) -> tuple[list[float], list[float], subprocess.CompletedProcess[str]]:
    """Wall-clock and CPU milliseconds of ``runs`` fresh runs of ``command`` (after a
    warm-up); ``cache``: "cold" (an empty cache folder each run), "warm" (one folder,
    filled by the warm-up) or None (as the environment says)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.pop("UNCLAIMED_NO_CACHE", None)
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as folder:
        if env.pop("PYTHONDONTWRITEBYTECODE", None):
            # an installed package has its bytecode: where the environment forbids
            # writing it beside the sources, the warm-up writes it in a folder of its own
            env["PYTHONPYCACHEPREFIX"] = os.path.join(folder, "pycache")
        env["UNCLAIMED_CACHE_DIR"] = os.path.join(folder, "warm")
        last = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              check=False)
        times, cpus = [], []
        for k in range(runs):
            if cache == "cold":
                env["UNCLAIMED_CACHE_DIR"] = os.path.join(folder, f"cold-{k}")
            cpu = _cpu()
            start = time.perf_counter()
            last = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                                  check=False)
            times.append((time.perf_counter() - start) * 1e3)
            cpus.append((_cpu() - cpu) * 1e3)
    return times, cpus, last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--policy", default="policies/fsra-2024-001")
    args = parser.parse_args(argv)

    script = shutil.which("unclaimed")
    base = [script] if script else [sys.executable, "-m", "evaluator"]
    name = "unclaimed" if script else "python -m evaluator"
    one = Path(tempfile.mkdtemp(prefix="bench-check-")) / "one-member.json"
    doc = json.loads((ROOT / "examples" / "members.json").read_text(encoding="utf-8"))
    doc["members"] = doc["members"][:1]
    doc["claims"] = []
    one.write_text(json.dumps(doc), encoding="utf-8")
    check = [*base, "check", args.policy]
    evaluate = [*base, "evaluate", "--policy", args.policy, "--facts", str(one),
                "--as-of", "2026-11-21"]
    commands: list[tuple[str, list[str], str | None, int | None]] = [
        (f"{name} check {args.policy} (cold cache)", check, "cold", None),
        (f"{name} check {args.policy} (warm cache)", check, "warm", CHECK_MS),
        (f"{name} evaluate, one member (cold cache)", evaluate, "cold", None),
        (f"{name} evaluate, one member (warm cache)", evaluate, "warm", EVALUATE_MS),
        ('python -c "import evaluator"', [sys.executable, "-c", "import evaluator"], None,
         None),
        ('python -c "pass"', [sys.executable, "-c", "pass"], None, None),
    ]

    print("command: " + shlex.join(["python", os.path.relpath(__file__, Path.cwd()),
                                    *sys.argv[1:]]))
    print(f"python {platform.python_version()} on {platform.platform()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.runs} "
          "fresh runs each after 1 warm-up, wall clock (time.perf_counter) and CPU "
          "(getrusage)\n")
    rows = [("command", "min ms", "median ms", "max ms", "cpu ms", "exit", "target")]
    failed = False
    for label, command, cache, target in commands:
        times, cpus, last = timed_runs(command, args.runs, cache)
        median = statistics.median(times)
        verdict = "" if target is None else (
            f"<= {target} ms " + ("ok" if median <= target else "MISSED"))
        rows.append((label, f"{min(times):.1f}", f"{median:.1f}", f"{max(times):.1f}",
                     f"{statistics.median(cpus):.1f}", str(last.returncode), verdict))
        if last.returncode != 0:
            failed = True
            sys.stderr.write(f"{label}: exit {last.returncode}\n{last.stdout}{last.stderr}\n")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  " + r[0].ljust(widths[0]) + "".join(
            "  " + c.rjust(w) for c, w in zip(r[1:-1], widths[1:-1], strict=True))
            + "  " + r[-1])
    shutil.rmtree(one.parent, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
