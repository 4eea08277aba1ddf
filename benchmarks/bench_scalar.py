"""Throughput of the scalar evaluator on a synthetic portfolio.

    python benchmarks/bench_scalar.py --members 10000 [--seed 1] [--as-of 2026-11-21]

Generates ``--members`` members deterministically (``random.Random(seed)``), builds
the facts with ``facts_from_json``, then measures, best of ``--repeat`` runs each:
building the facts, evaluating without and with ``explain=True``, and serialising the
result to JSON. The scalar engine is the policy compiled to Python source (its size is
printed); ``--profile N`` adds the N functions taking the most time (cProfile, one
evaluation without and one with the trace); ``--clock cpu`` measures the process's CPU
time instead of wall time. Peak memory is reported twice: the process's peak resident set size
(``ru_maxrss``, everything including the interpreter) and the peak of Python
allocations (``tracemalloc``) during one extra, untimed evaluation of each kind.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import os
import platform
import pstats
import random
import resource
import shlex
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evaluator import load_policy  # noqa: E402
from evaluator.facts import facts_from_json  # noqa: E402

POLICY = ROOT / "policies" / "fsra-2024-001"


# ----------------------------------------------------------------------------- data


def _day(rng: random.Random, lo: dt.date, hi: dt.date) -> dt.date:
    return lo + dt.timedelta(rng.randrange((hi - lo).days + 1))


def _money(rng: random.Random) -> str:
    """Mostly small balances, a long tail of large ones (log-uniform 0.01 .. 1e6)."""
    cents = int(10 ** rng.uniform(0, 8))
    return f"{cents // 100}.{cents % 100:02d}"


def generate(members: int, seed: int, as_of: dt.date) -> dict[str, Any]:
    """A full-profile document with ``members`` members and 1-3 accounts each.

    About a quarter of the profiles are dormant (last used 3-25 years ago), so every
    status and most findings occur; 15% of accounts are in USD and 3% in EUR, with
    30 Sep rates for every year the payment windows need.
    """
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(members):
        mid = f"M{i:07d}"
        dormant = rng.random() < 0.25
        accounts = []
        events: list[dict[str, Any]] = []
        for j in range(rng.choice((1, 1, 1, 2, 2, 3))):
            aid = f"{mid}-{'ABC'[j]}"
            opened = _day(rng, dt.date(1985, 1, 1), as_of - dt.timedelta(days=30))
            r = rng.random()
            currency = "USD" if r < 0.15 else "EUR" if r < 0.18 else "CAD"
            accounts.append({"account_id": aid, "currency": currency,
                             "balance": _money(rng), "opened": opened.isoformat()})
            if dormant:  # last used 3-25 years ago
                newest = as_of - dt.timedelta(days=rng.randint(3 * 365, 25 * 365))
                count = rng.randint(0, 3)
            else:  # in use: a transaction in the last two years, most of the time
                newest = as_of
                count = rng.randint(1, 5) if rng.random() < 0.85 else 0
            for k in range(count):
                if newest <= opened:
                    break
                lo = max(opened, newest - dt.timedelta(days=730)) if k == 0 else opened
                events.append({"date": _day(rng, lo, newest).isoformat(),
                               "type": "transaction", "account_id": aid})
            if rng.random() < 0.05:
                events.append({"date": _day(rng, dt.date(2020, 1, 1), as_of).isoformat(),
                               "type": rng.choice(("fee", "interest")), "account_id": aid,
                               "amount": "2.50"})
            if dormant and rng.random() < 0.04:
                events.append({"date": _day(rng, dt.date(2026, 10, 15), as_of).isoformat(),
                               "type": "transfer", "account_id": aid,
                               "amount": accounts[-1]["balance"]})
        if rng.random() < 0.3:
            events.append({"date": _day(rng, dt.date(1995, 1, 1), as_of).isoformat(),
                           "type": "statement_ack"})
        if dormant and rng.random() < 0.3:
            notice = _day(rng, dt.date(2000, 1, 1), as_of - dt.timedelta(days=60))
            events.append({"date": notice.isoformat(), "type": "notice", "mark": "2y"})
            if rng.random() < 0.3:
                events.append({"date": (notice + dt.timedelta(days=rng.randint(1, 60))
                                        ).isoformat(), "type": "response"})
        out.append({"member_id": mid, "accounts": accounts, "events": events})
    rates = [{"currency": c, "date": f"{y}-09-30", "rate": f"{base + (y % 7) * 0.0125:.4f}"}
             for c, base in (("USD", 1.30), ("EUR", 1.45)) for y in range(1995, 2060)]
    return {"fx_rates": rates, "members": out}


# ----------------------------------------------------------------------------- timing


#: the clock measurements are read from (``--clock``)
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter,
                                          "cpu": time.process_time}
clock = time.perf_counter


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best = float("inf")
    value = None
    for _ in range(repeat):
        gc.collect()
        start = clock()
        value = fn()
        best = min(best, clock() - start)
    return best, value


def traced_peak(fn: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def max_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", default="2026-11-21")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    parser.add_argument("--no-tracemalloc", action="store_true",
                        help="skip the traced (slow) memory runs")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the N functions with the most own time (cProfile)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall time (time.perf_counter, the default) or the process's "
                             "CPU time (time.process_time: steadier on a shared machine)")
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
    as_of = dt.date.fromisoformat(args.as_of)

    t0 = time.perf_counter()
    policy = load_policy(POLICY)
    policy_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    doc = generate(args.members, args.seed, as_of)
    generate_s = time.perf_counter() - t0

    build_s, facts = best_of(args.repeat, lambda: facts_from_json(doc, source="synthetic"))
    rss_facts = max_rss_bytes()
    n_accounts = sum(len(m.accounts) for m in facts.members)
    n_events = sum(len(m.events) for m in facts.members)

    def run(explain: bool) -> Any:
        return policy.evaluate(facts, as_of=as_of, explain=explain)

    plain_s, plain = best_of(args.repeat, lambda: run(False))
    json_s, _ = best_of(args.repeat, lambda: plain.to_json())
    rss_plain = max_rss_bytes()
    explain_s, explained = best_of(args.repeat, lambda: run(True))
    explain_json_s, _ = best_of(args.repeat, lambda: explained.to_json())
    rss_explain = max_rss_bytes()
    explained = None  # free the traces before the traced runs
    statuses: dict[str, int] = {}
    for a in plain.accounts:
        statuses[a.status or "?"] = statuses.get(a.status or "?", 0) + 1

    traced_plain = traced_explain = None
    if not args.no_tracemalloc:
        traced_plain = traced_peak(lambda: run(False))
        traced_explain = traced_peak(lambda: run(True))

    print("command: " + shlex.join(["python", os.path.relpath(__file__, Path.cwd()),
                                    *sys.argv[1:]]))
    print(f"python {platform.python_version()} on {platform.platform()}, "
          f"{os.cpu_count()} CPUs")
    print(f"portfolio: {args.members} members, {n_accounts} accounts, {n_events} events, "
          f"seed {args.seed}, as of {as_of}; {len(plain.errors)} errors; statuses "
          + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    source = policy.program.source
    print(f"scalar engine: generated Python source, {source.count(chr(10))} lines, "
          f"{len(policy.checked.defs)} definitions ({policy.program.filename})")
    print(f"best of {args.repeat} runs each ({clock.__module__}.{clock.__name__})\n")
    rows: list[tuple[str, str, str]] = [
        ("load + check policy", f"{policy_s * 1e3:.1f} ms", "once"),
        ("generate portfolio", f"{generate_s * 1e3:.1f} ms", "once, not the evaluator"),
        ("facts_from_json", f"{build_s * 1e3:.1f} ms",
         f"{n_accounts / build_s:,.0f} accounts/s"),
        ("evaluate", f"{plain_s * 1e3:.1f} ms", f"{n_accounts / plain_s:,.0f} accounts/s"),
        ("evaluate explain=True", f"{explain_s * 1e3:.1f} ms",
         f"{n_accounts / explain_s:,.0f} accounts/s"),
        ("to_json", f"{json_s * 1e3:.1f} ms", f"{n_accounts / json_s:,.0f} accounts/s"),
        ("to_json (explained)", f"{explain_json_s * 1e3:.1f} ms",
         f"{n_accounts / explain_json_s:,.0f} accounts/s"),
    ]
    if traced_plain is not None and traced_explain is not None:
        rows += [
            ("peak traced, evaluate", f"{traced_plain / 2**20:.1f} MiB", "tracemalloc"),
            ("peak traced, explain", f"{traced_explain / 2**20:.1f} MiB", "tracemalloc"),
        ]
    rows += [
        ("peak RSS, facts built", f"{rss_facts / 2**20:.1f} MiB", "ru_maxrss, whole process"),
        ("peak RSS, + evaluate", f"{rss_plain / 2**20:.1f} MiB", "ru_maxrss, with to_json"),
        ("peak RSS, + explain", f"{rss_explain / 2**20:.1f} MiB", "ru_maxrss, with to_json"),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for name, value, note in rows:
        print(f"  {name.ljust(widths[0])}  {value.rjust(widths[1])}  {note}")
    if args.profile:
        for explain in (False, True):
            print(f"\nprofile, evaluate explain={explain} (cProfile, own time; the profiler "
                  "inflates per-call costs)")
            profiler = cProfile.Profile()
            profiler.runcall(run, explain)
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.profile)
            print(out.getvalue().split("\n\n", 1)[-1].rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
