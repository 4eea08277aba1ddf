"""`generate --events`: a generated snapshot turned into a portfolio dataset, an accounts
table (the snapshot without its ``last_*`` columns) and an events table beside it
(``<stem>.events.csv`` or ``.parquet``): the snapshot's latest dates as events, plus a
calibrated history (an earlier transaction, interest, fees after the unclaimed date for a
few percent of accounts, transfers with all of what must accompany them and without some
of it). The same files and seed always give the same events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from evaluator.apps.generate.assumptions import GenerateError

if TYPE_CHECKING:
    import polars as pl

#: the snapshot's latest dates, which become events
LAST_COLUMNS = {"last_transaction": "transaction", "last_statement_ack": "statement_ack",
                "last_response": "response"}
#: what must accompany a transfer to the Authority (fsra-2024-001's transfer_requirements)
TRANSFER_ITEMS = ("electronic_funds_transfer", "material_information", "officer_attestation",
                  "notice_evidence", "material_information_copies", "portal")
#: years of quiet after which an account is taken to be unclaimed (fsra-2024-001: two years
#: to inactive, then ten)
UNCLAIMED_YEARS = 12
#: a transfer with everything that must accompany it (a foreign one also its FX record)
FULL = ";".join(TRANSFER_ITEMS)
EVENT_COLUMNS = ("member_id", "account_id", "date", "type", "amount", "mark", "attachments")


@dataclass(frozen=True)
class EventShares:
    """Shares of all accounts given each calibrated event (illustrative, see
    docs/synthetic-portfolios.md)."""

    fee_after_unclaimed: float = 0.03
    transfer: float = 0.02
    transfer_complete: float = 0.6
    interest: float = 0.2
    earlier_transaction: float = 0.5


@dataclass
class EventsSummary:
    path: str
    rows: int
    fees_after_unclaimed: int
    transfers: int
    transfers_incomplete: int

    def render(self) -> str:
        return (f"{self.path}: {self.rows:,} events ({self.fees_after_unclaimed:,} fees after "
                f"the unclaimed date, {self.transfers:,} transfers of which "
                f"{self.transfers_incomplete:,} lack something that must accompany them)")


def events_path_for(out: str | Path) -> Path:
    """``<stem>.events.csv`` (or ``.parquet``) beside the accounts file."""
    path = Path(out)
    return path.with_name(f"{path.stem}.events{path.suffix.lower()}")


def make_events(accounts: pl.DataFrame, seed: int, as_of: dt.date,
                shares: EventShares | None = None) -> pl.DataFrame:
    """The events of a generated snapshot's rows (text or typed columns), one row each."""
    import polars as pl

    s = shares or EventShares()
    rng = np.random.default_rng([seed, 14])
    day = pl.col
    acc = accounts.select(
        pl.col("member_id").cast(pl.String), pl.col("account_id").cast(pl.String),
        pl.col("currency").cast(pl.String), pl.col("balance").cast(pl.String),
        *(day(c).cast(pl.String).str.to_date(strict=False).alias(c)
          for c in ("opened", *LAST_COLUMNS)))
    n = acc.height
    parts: list[pl.DataFrame] = []
    text = pl.lit(None, pl.String)

    def frame(rows: pl.DataFrame, kind: str, amount: pl.Expr = text,
              attachments: pl.Expr = text, account: bool = True) -> pl.DataFrame:
        return rows.select(pl.col("member_id"),
                           (pl.col("account_id") if account else text).alias("account_id"),
                           pl.col("date"), pl.lit(kind).alias("type"), amount.alias("amount"),
                           text.alias("mark"), attachments.alias("attachments"))

    tx = acc.filter(pl.col("last_transaction").is_not_null()).with_columns(
        pl.col("last_transaction").alias("date"))
    parts.append(frame(tx, "transaction"))
    for column in ("last_statement_ack", "last_response"):
        rows = acc.filter(pl.col(column).is_not_null()).unique(
            ["member_id", column], keep="first", maintain_order=True).with_columns(
            pl.col(column).alias("date"))
        parts.append(frame(rows, LAST_COLUMNS[column], account=False))
    # an earlier transaction, between the opening and the latest one
    back = pl.Series(rng.integers(30, 3650, n))
    pick = pl.Series(rng.random(n) < s.earlier_transaction)
    earlier = acc.with_columns((pl.col("last_transaction") - pl.duration(days=pl.lit(back))
                                ).alias("date")).filter(
        pick & pl.col("date").is_not_null() & (pl.col("date") > pl.col("opened")))
    parts.append(frame(earlier, "transaction"))
    # interest credited between the opening and the latest transaction
    cents = pl.Series(rng.integers(1, 2000, n))
    pick = pl.Series(rng.random(n) < s.interest)
    interest = acc.with_columns(
        (pl.col("last_transaction") - pl.duration(days=pl.lit(back // 2))).alias("date"),
        (cents / 100).round(2).cast(pl.Decimal(12, 2)).cast(pl.String).alias("amount")
    ).filter(pick & pl.col("date").is_not_null() & (pl.col("date") > pl.col("opened")))
    parts.append(frame(interest, "interest", pl.col("amount")))
    # accounts quiet long enough to be unclaimed: the latest of their dates
    latest = pl.max_horizontal("opened", *LAST_COLUMNS).alias("latest")
    quiet = acc.with_columns(latest, pl.Series("u", rng.random(n)),
                             pl.Series("v", rng.random(n)), pl.Series("w", rng.random(n)),
                             pl.Series("gap", rng.integers(1, 365, n)),
                             pl.Series("miss", rng.integers(0, len(TRANSFER_ITEMS), n)))
    cutoff = as_of.replace(year=as_of.year - UNCLAIMED_YEARS) if not (
        as_of.month == 2 and as_of.day == 29) else dt.date(as_of.year - UNCLAIMED_YEARS, 2, 28)
    quiet = quiet.filter(pl.col("latest") <= cutoff)
    eligible = max(quiet.height, 1)
    fee_p = min(1.0, s.fee_after_unclaimed * n / eligible)
    transfer_p = min(1.0, s.transfer * n / eligible)
    fees = quiet.filter(pl.col("u") < fee_p).with_columns(
        (pl.lit(as_of) - pl.duration(days=pl.col("gap"))).alias("date"),
        ((pl.col("gap") % 15) + 1).cast(pl.String).add(".00").alias("amount"))
    parts.append(frame(fees, "fee", pl.col("amount")))
    missing = pl.col("miss").replace_strict(
        list(range(len(TRANSFER_ITEMS))),
        [";".join(t for t in TRANSFER_ITEMS if t != m) for m in TRANSFER_ITEMS],
        return_dtype=pl.String)
    transfers = quiet.filter(pl.col("v") >= 1 - transfer_p).with_columns(
        (pl.lit(as_of) - pl.duration(days=pl.col("gap") // 2)).alias("date"),
        pl.when(pl.col("w") < s.transfer_complete).then(
            pl.when(pl.col("currency") == "CAD").then(pl.lit(FULL)).otherwise(
                pl.lit(f"{FULL};fx_conversion_record"))).otherwise(missing).alias("attachments"))
    parts.append(frame(transfers, "transfer", pl.col("balance"), pl.col("attachments")))
    events = pl.concat(parts, how="vertical").with_columns(
        pl.col("date").dt.to_string("%Y-%m-%d"))
    return events.sort(["member_id", "date"], maintain_order=True).select(EVENT_COLUMNS)


def write_dataset(out: str | Path, seed: int, as_of: dt.date,
                  shares: EventShares | None = None) -> EventsSummary:
    """Turn the generated snapshot at ``out`` into a dataset: ``out`` rewritten without its
    ``last_*`` columns, the events beside it (each file replaced whole, or not at all)."""
    import polars as pl

    from evaluator.atomic import Outputs

    path = Path(out)
    events_path = events_path_for(path)
    if events_path.is_dir():
        raise GenerateError(f"{events_path}: is a directory")
    parquet = path.suffix.lower() == ".parquet"
    accounts = pl.read_parquet(path) if parquet else pl.read_csv(path, infer_schema=False)
    events = make_events(accounts, seed, as_of, shares)
    accounts = accounts.drop([c for c in LAST_COLUMNS if c in accounts.columns])
    with Outputs() as outs:
        tmp_accounts, tmp_events = outs.add(path), outs.add(events_path)
        if parquet:
            accounts.write_parquet(tmp_accounts)
            events.write_parquet(tmp_events)
        else:
            accounts.write_csv(tmp_accounts)
            events.write_csv(tmp_events)
        outs.commit()
    transfers = events.filter(pl.col("type") == "transfer")
    complete = pl.col("attachments").is_in([FULL, f"{FULL};fx_conversion_record"])
    return EventsSummary(str(events_path), events.height,
                         events.filter(pl.col("type") == "fee").height, transfers.height,
                         transfers.filter(~complete).height)
