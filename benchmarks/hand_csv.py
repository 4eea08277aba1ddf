"""Hand-written polars, end to end: a snapshot CSV in, the determinations CSV out.

    python benchmarks/hand_csv.py SNAPSHOT.csv FX.csv AS_OF OUT.csv|-

What ``unclaimed evaluate --facts SNAPSHOT.csv --fx FX.csv --as-of AS_OF --format csv``
does, written by hand for the baseline policy: read every cell as text, compute the
determinations with :func:`benchmarks.reference.reference`, flatten them to the CLI's
columns (notices and findings as readable text, the window in three columns, money
with two decimals) and write CSV to the file or to standard output. The limit
``bench_csv_cli.py`` measures the command line against.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.reference import read_fx, read_snapshot, reference  # noqa: E402


def flatten(out: pl.DataFrame) -> pl.DataFrame:
    """The determinations as the CLI's CSV columns (rows in error left out)."""
    def notice(n: pl.Expr) -> pl.Expr:
        return pl.concat_str([n.struct.field("mark"), pl.lit(" "),
                              n.struct.field("due").dt.strftime("%Y-%m-%d"),
                              pl.when(n.struct.field("required")).then(pl.lit(""))
                              .otherwise(pl.lit(" (not required)"))])

    cents = pl.col("amount_cad")
    return out.filter(pl.col("error").is_null()).select(
        "member_id", "account_id", pl.col("status").cast(pl.String),
        pl.col("last_activity").dt.strftime("%Y-%m-%d"),
        pl.col("inactive_on").dt.strftime("%Y-%m-%d"),
        pl.col("unclaimed_on").dt.strftime("%Y-%m-%d"),
        pl.col("notices").list.eval(notice(pl.element())).list.join("; ")
        .alias("notices"),
        pl.col("payment_window").struct.field("opens").dt.strftime("%Y-%m-%d")
        .alias("window_opens"),
        pl.col("payment_window").struct.field("closes").dt.strftime("%Y-%m-%d")
        .alias("window_closes"),
        pl.col("payment_window").struct.field("provision").alias("window_provision"),
        pl.concat_str([(cents // 100).cast(pl.String), pl.lit("."),
                       (cents % 100).cast(pl.String).str.zfill(2)]).alias("amount_cad"),
        pl.col("findings").cast(pl.List(pl.String)).list.join("; ").alias("findings"),
    )


def main(argv: list[str]) -> int:
    snapshot, fx, as_of, target = argv
    out = reference(read_snapshot(snapshot), read_fx(fx), dt.date.fromisoformat(as_of))
    flat = flatten(out)
    if target == "-":
        sys.stdout.buffer.write(flat.write_csv().encode())
    else:
        flat.write_csv(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
