"""A large portfolio dataset (accounts + events, Parquet) written in bounded memory.

    python benchmarks/gen_dataset.py --accounts 10000000 --events-per-account 3 --out DIR

Writes ``DIR/accounts.parquet``, ``DIR/events.parquet`` and ``DIR/fx.csv``: the columns
and calibration of ``unclaimed generate --events`` (its accounts, and its events from
``make_events``: the latest transaction, acknowledgement and response as events, an
earlier transaction, interest, fees after the unclaimed date for about 3% of accounts,
transfers for about 2%, 40% of them lacking something that must accompany them, foreign
currencies with their 30 September rates), plus earlier transactions between each
account's opening and its latest transaction until there are about
``--events-per-account`` events per account. Those extra transactions change no
determination (each is before its account's latest one); they make the history as long
as a real extract's.

Why not ``generate --events`` itself: it holds the whole accounts table and every event
in memory and sorts them at once (0.9 GB of peak memory for 1M accounts, about 9 GB for
10M, with about 2 events per account). Here the members are generated in chunks
(``iter_chunks``, whose concatenation does not depend on the chunk size), each chunk's
events are made with its own seed (chunk ``i``: ``seed * 1,000,003 + i``) and written as
a part, and the parts are streamed into the two files by a polars sink. The same
arguments always give the same files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: accounts per member in `unclaimed generate`'s default mix (about 1.72)
ACCOUNTS_PER_MEMBER = 1.72
AS_OF = dt.date(2026, 11, 21)
ROW_GROUP = 250_000


@dataclass
class DatasetFiles:
    accounts: Path
    events: Path
    fx: Path
    account_rows: int
    event_rows: int


def more_transactions(chunk: pl.DataFrame, wanted: int, seed: int) -> pl.DataFrame:
    """About ``wanted`` earlier transactions over the chunk's accounts (between each
    account's opening and its latest transaction), in the events table's columns."""
    rng = np.random.default_rng([seed, 15])
    acc = chunk.select("member_id", "account_id",
                       pl.col("opened").cast(pl.Date).to_physical().alias("o"),
                       pl.col("last_transaction").cast(pl.Date).to_physical().alias("t")
                       ).filter(pl.col("t").is_not_null() & (pl.col("t") > pl.col("o") + 1))
    if wanted <= 0 or acc.height == 0:
        return pl.DataFrame(schema=EVENT_SCHEMA)
    counts = rng.poisson(wanted / acc.height, acc.height)
    rows = np.repeat(np.arange(acc.height), counts)
    lo = acc.get_column("o").to_numpy()[rows].astype(np.int64) + 1
    hi = acc.get_column("t").to_numpy()[rows].astype(np.int64)
    days = lo + (rng.random(rows.size) * (hi - lo)).astype(np.int64)
    none = pl.lit(None, pl.String)
    return acc.select("member_id", "account_id").select(pl.all().gather(rows)).with_columns(
        pl.Series("date", days.astype(np.int32)).cast(pl.Date).dt.to_string("%Y-%m-%d"),
        pl.lit("transaction").alias("type"), none.alias("amount"), none.alias("mark"),
        none.alias("attachments")).select(list(EVENT_SCHEMA))


EVENT_SCHEMA = {"member_id": pl.String, "account_id": pl.String, "date": pl.String,
                "type": pl.String, "amount": pl.String, "mark": pl.String,
                "attachments": pl.String}


def write_dataset(out: Path, accounts: int, events_per_account: float = 3.0, seed: int = 1,
                  as_of: dt.date = AS_OF, chunk_members: int = 200_000) -> DatasetFiles:
    """Write the dataset into folder ``out`` (created; files replaced)."""
    from evaluator.apps.generate import fx_table, iter_chunks
    from evaluator.apps.generate.events import LAST_COLUMNS, make_events

    out.mkdir(parents=True, exist_ok=True)
    parts = out / ".parts"
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir()
    members = max(1, round(accounts / ACCOUNTS_PER_MEMBER))
    n_accounts = n_events = 0
    for i, chunk in enumerate(iter_chunks(members, seed, chunk_members=chunk_members)):
        chunk_seed = seed * 1_000_003 + i
        events = make_events(chunk, chunk_seed, as_of)
        extra = more_transactions(chunk, round(events_per_account * chunk.height)
                                  - events.height, chunk_seed)
        events = pl.concat([events.cast(EVENT_SCHEMA), extra]).sort(  # type: ignore[arg-type]
            ["member_id", "date"], maintain_order=True)
        chunk.drop([c for c in LAST_COLUMNS if c in chunk.columns]).write_parquet(
            parts / f"a{i:06d}.parquet")
        events.write_parquet(parts / f"e{i:06d}.parquet")
        n_accounts += chunk.height
        n_events += events.height
    files = DatasetFiles(out / "accounts.parquet", out / "events.parquet", out / "fx.csv",
                         n_accounts, n_events)
    for prefix, target in (("a", files.accounts), ("e", files.events)):
        pl.scan_parquet(parts / f"{prefix}*.parquet").sink_parquet(
            target, row_group_size=ROW_GROUP, compression="zstd", maintain_order=True)
    shutil.rmtree(parts)
    with files.fx.open("w") as fh:
        fh.write("currency,date,rate\n")
        for currency, day, rate in fx_table(seed):
            fh.write(f"{currency},{day.isoformat()},{rate}\n")
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=10_000_000)
    ap.add_argument("--events-per-account", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chunk-members", type=int, default=200_000)
    ap.add_argument("--out", type=Path, required=True, help="folder to write into")
    args = ap.parse_args()
    started = time.perf_counter()
    files = write_dataset(args.out, args.accounts, args.events_per_account, args.seed,
                          chunk_members=args.chunk_members)
    print(f"{files.account_rows:,} accounts, {files.event_rows:,} events "
          f"({files.event_rows / max(files.account_rows, 1):.2f} per account) in "
          f"{time.perf_counter() - started:.1f} s: {files.accounts}, {files.events}, "
          f"{files.fx}")


if __name__ == "__main__":
    main()
