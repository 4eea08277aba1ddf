"""Reading and evaluating a snapshot table with declared columns (issue 12 follow-up).

    python benchmarks/bench_declared.py [--rows 1000000] [--policy tests/declared/policy.yaml]

Writes a CSV snapshot of ``--rows`` accounts (two per member) carrying the test policy's
declared columns (a date, a percent, a text with values, a bool, a member-level region, a
``latest:`` date, a ``tags`` list), then prints, for the policy: ``read_table`` with its
declaration, ``evaluate`` of the table (``backend="auto"``) and ``evaluate --out`` to a
Parquet file (chunked), each in seconds, and how many rows went to the scalar loader.
Prints only; nothing is asserted. Run it from another checkout's tree (``PYTHONPATH``)
for a before/after figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import polars as pl


def write_table(path: Path, rows: int) -> None:
    """A valid snapshot of ``rows`` accounts with every declared column of the test
    policy (and a ``tags`` list)."""
    i = pl.int_range(0, rows, eager=True)

    def cycle(values: list[str], by: pl.Series) -> pl.Series:
        return pl.Series(values).gather(by % len(values))

    pl.DataFrame({
        "member_id": "M" + (i // 2).cast(pl.String),
        "account_id": "A" + i.cast(pl.String),
        "currency": cycle(["CAD", "USD"], i),
        "balance": ((i * 37) % 100000).cast(pl.String) + "." + ((i % 90) + 10).cast(pl.String),
        "opened": cycle(["2001-02-03", "2005-06-07"], i),
        "last_transaction": cycle(["2010-03-02", ""], i),
        "last_statement_ack": "", "last_response": "",
        "maturity": cycle(["", "2012-04-01", ""], i),
        "rate": cycle(["2.5%", "", "1.25%", "0.005"], i),
        "product": cycle(["term", "savings", ""], i),
        "bore_interest": cycle(["true", "FALSE", ""], i),
        "region": cycle(["north", "south", ""], i // 2),
        "last_renewal": cycle(["", "2014-04-01"], i),
        "tags": cycle(["vip;gold", "", "plain"], i),
    }).write_csv(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--policy", default="tests/declared/policy.yaml")
    args = parser.parse_args(argv)
    import evaluator
    from evaluator import load_policy
    from evaluator.apps.portfolio import evaluate_file
    from evaluator.columnar import read_table

    try:
        from evaluator.facts.declcols import scalar_rows_read  # absent before it
        counter: list[int] | None = scalar_rows_read
    except ImportError:
        counter = None
    print("$", " ".join([Path(sys.executable).name, *sys.argv]))
    print("evaluator:", Path(evaluator.__file__).parent)
    policy = load_policy(args.policy)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "declared.csv"
        write_table(path, args.rows)
        t0 = time.perf_counter()
        table = read_table(path, decl=policy.facts_decl)
        t1 = time.perf_counter()
        result = policy.evaluate(table, as_of="2026-11-21", backend="auto")
        t2 = time.perf_counter()
        summary = evaluate_file(policy, path, None, dt.date(2026, 11, 21),
                                policy.resolve_params(), Path(tmp) / "out.parquet")
        t3 = time.perf_counter()
    print(f"rows {args.rows:,}: read_table {t1 - t0:.2f}s, evaluate {t2 - t1:.2f}s "
          f"({len(result.accounts):,} accounts), "
          f"evaluate --out {t3 - t2:.2f}s ({summary.determinations:,} determinations)")
    if counter is not None:
        print(f"rows read by the scalar loader: {counter[0]:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
