"""The compiled policy against hand-written code, on two workloads, in one run.

    python benchmarks/bench_limit.py [--accounts 1000000] [--seed 1] [--rounds 5]
                                     [--as-of 2026-11-21] [--portfolio DIR]

One portfolio (``bench_portfolio.generate``: ``evaluator.generate``'s snapshot cut to
whole members, as Parquet with Date columns and Decimal(18,2) balances, and its FX CSV),
then, in one process, ``--rounds`` rounds after an untimed warm-up round, each round
running every engine once in turn (alternating, so that a shared machine's load falls
on all of them alike):

* FSRA baseline (``policies/fsra-2024-001``): the compiled policy (``read_table`` +
  ``evaluate_frame``) and the hand-written reference (``benchmarks/reference.py``:
  polars for the reading, NumPy for the arithmetic);
* dormancy (``benchmarks/dormancy/policy.yaml``): the compiled policy, hand-written
  polars and NumPy (``benchmarks/dormancy/reference.py``).

Each engine is timed reading and evaluating (read + eval) and evaluating a table
already in memory (eval): for the compiled policy the validated :class:`Table` (so
"eval" is ``evaluate_frame`` alone), for the hand-written code the Parquet file's
frame. It prints the medians over the rounds and the median of the per-round ratios to
the workload's hand-written limit (the reference; hand polars), then the issue's
targets. ``--portfolio DIR`` reuses ``DIR/portfolio.parquet`` and ``DIR/fx.csv`` (as
``bench_portfolio.py --keep DIR`` writes them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_portfolio import generate, machine  # noqa: E402
from benchmarks.dormancy.reference import hand_numpy, hand_polars, read_fx_units  # noqa: E402
from benchmarks.reference import read_fx, read_snapshot, reference  # noqa: E402

FSRA = ROOT / "policies" / "fsra-2024-001"
DORMANCY = ROOT / "benchmarks" / "dormancy" / "policy.yaml"
#: the issue's targets: the compiled policy, read + eval, over the hand-written limit
TARGET = 1.2

Run = Callable[[], int]


def engines(parquet: Path, fx: Path, as_of: dt.date
            ) -> list[tuple[str, str, Run, Run, bool]]:
    """(workload, engine, read + eval, eval alone, is the workload's limit)."""
    from evaluator import load_policy
    from evaluator.columnar import evaluate_frame, read_table

    fsra, dormancy = load_policy(FSRA), load_policy(DORMANCY)
    fsra_params, dormancy_params = fsra.resolve_params(None), dormancy.resolve_params(None)
    table = read_table(parquet, fx=fx)
    frame = pl.read_parquet(parquet)
    fx_text, fx_units = read_fx(str(fx)), read_fx_units(str(fx))

    def compiled(policy: Any, params: Any) -> tuple[Run, Run]:
        def full() -> int:
            t = read_table(parquet, fx=fx)
            return int(evaluate_frame(policy, t, as_of, params).frame.height)

        def alone() -> int:
            return int(evaluate_frame(policy, table, as_of, params).frame.height)
        return full, alone

    def ref_full() -> int:
        return int(reference(read_snapshot(str(parquet)).collect(), read_fx(str(fx)),
                             as_of).height)

    def ref_alone() -> int:
        return int(reference(frame, fx_text, as_of).height)

    def hand(fn: Callable[..., pl.DataFrame]) -> tuple[Run, Run]:
        def full() -> int:
            return int(fn(pl.scan_parquet(parquet), read_fx_units(str(fx)), as_of).height)

        def alone() -> int:
            return int(fn(frame.lazy(), fx_units, as_of).height)
        return full, alone

    return [
        ("FSRA baseline", "compiled policy", *compiled(fsra, fsra_params), False),
        ("FSRA baseline", "reference (polars + NumPy)", ref_full, ref_alone, True),
        ("dormancy", "compiled policy", *compiled(dormancy, dormancy_params), False),
        ("dormancy", "hand polars", *hand(hand_polars), True),
        ("dormancy", "hand NumPy", *hand(hand_numpy), False),
    ]


def timed(run: Run) -> float:
    gc.collect()
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--as-of", default="2026-11-21")
    parser.add_argument("--portfolio", metavar="DIR",
                        help="use DIR/portfolio.parquet and DIR/fx.csv instead of generating")
    args = parser.parse_args(argv)
    as_of = dt.date.fromisoformat(args.as_of)
    print("command: python benchmarks/bench_limit.py " + " ".join(sys.argv[1:]))
    print("machine: " + machine())
    with tempfile.TemporaryDirectory(prefix="bench-limit-") as tmp:
        if args.portfolio:
            parquet, fx = Path(args.portfolio) / "portfolio.parquet", Path(args.portfolio) / "fx.csv"
            source = f"{args.portfolio}"
        else:
            parquet, fx = Path(tmp) / "portfolio.parquet", Path(tmp) / "fx.csv"
            snapshot, rates, source = generate(args.accounts, args.seed, as_of, "auto",
                                               "decimal")
            snapshot.write_parquet(parquet)
            rates.write_csv(fx)
            del snapshot
        n = pl.scan_parquet(parquet).select(pl.len()).collect().item()
        print(f"portfolio: {n:,} accounts ({source}), as of {as_of}; {args.rounds} rounds "
              "after a warm-up, engines alternating within each round; medians\n")
        sys.stdout.flush()
        runs = engines(parquet, fx, as_of)
        times: dict[int, tuple[list[float], list[float]]] = {i: ([], []) for i in
                                                              range(len(runs))}
        for r in range(args.rounds + 1):
            for i, (_, _, full, alone, _) in enumerate(runs):
                a, b = timed(full), timed(alone)
                if r:  # the first round warms caches up
                    times[i][0].append(a)
                    times[i][1].append(b)
    limit = {w: i for i, (w, _, _, _, is_limit) in enumerate(runs) if is_limit}
    print(f"  {'workload':14} {'engine':28} {'read+eval s':>11} {'eval s':>7} "
          f"{'vs limit':>8} {'eval vs':>8}")
    ratios: dict[tuple[str, str], float] = {}
    for i, (workload, engine, *_rest) in enumerate(runs):
        full_t, alone_t = times[i]
        base_full, base_alone = times[limit[workload]]
        r_full = statistics.median(a / b for a, b in zip(full_t, base_full, strict=True))
        r_alone = statistics.median(a / b for a, b in zip(alone_t, base_alone, strict=True))
        ratios[(workload, engine)] = r_full
        print(f"  {workload:14} {engine:28} {statistics.median(full_t):11.3f} "
              f"{statistics.median(alone_t):7.3f} {r_full:7.2f}x {r_alone:7.2f}x")
    print("\n(vs limit: the median over the rounds of the ratio to the workload's "
          "hand-written limit in the same round; eval vs: the same for eval alone)")
    print("\ntargets:")
    for workload, what in (("FSRA baseline", "the reference"), ("dormancy", "hand polars")):
        r = ratios[(workload, "compiled policy")]
        print(f"  {workload}: compiled (read + eval) <= {TARGET}x {what}: {r:.2f}x "
              f"{'ok' if r <= TARGET else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
