"""Hand-written references for the simplified dormancy workload (``policy.yaml`` beside
this file): the same outputs computed directly, once with polars and once with NumPy.

    from benchmarks.dormancy.reference import hand_polars, hand_numpy, read_fx_units
    out = hand_polars(pl.scan_parquet("p.parquet"), read_fx_units("fx.csv"), as_of)

Both take a snapshot (``member_id, account_id, currency, balance, opened,
last_transaction, last_statement_ack, last_response``; dates as ``Date``, the balance
as ``Decimal``; a LazyFrame, read here so that reading counts) and give one row per
account, in the snapshot's order: ``member_id, account_id, status, unclaimed_on,
remittance_year, amount_cad`` (integer cents), ``next_notice`` and ``error`` (null, or
the policy's message for a missing rate of an unclaimed account). What the policy says:

* ``last_activity`` = max(opened, last_transaction, the member's latest statement
  acknowledgement, the member's latest response) - the member-level dates are the
  maximum over the member's rows;
* ``unclaimed_on`` = last_activity + 10 years (29 Feb -> 28 Feb);
* ``status``: ``unclaimed`` if as_of >= unclaimed_on, else ``dormant`` if as_of >=
  last_activity + 3 years, else ``active``;
* ``remittance_year``: the unclaimed year if unclaimed 1 Jan-30 Jun, else the next;
* ``amount_cad``: balance x the rate of 30 Sep of the year before remittance (1 for
  CAD), half up to the cent, in integers; null without a rate (an error if unclaimed);
* ``next_notice``: last_activity + 3 years if after as_of, else + 9 years if after as_of,
  else null.

Like a hand-written script, neither validates its input (the benchmark's generated
files are valid): a blank cell, a duplicate account or a date after the as-of day is
not looked for. ``tests/test_dormancy_reference.py`` holds both to the policy's
results.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import polars as pl

from benchmarks.reference import add_years_days, civil_from_days, days_from_civil

#: the policy's message for a missing rate (its `fail`), with the definition it is in
RATE_MESSAGE = "no {} exchange rate dated {} (in `amount_cad`, B4)"
_EPOCH = date(1970, 1, 1)


def read_fx_units(path: str) -> tuple[pl.DataFrame, int]:
    """The FX table ``currency,date,rate`` as (currency, date, rate in integer units of
    10**-scale) and the scale: exact, no float."""
    fx = pl.read_csv(path, infer_schema=False)
    rates = [Decimal(r) for r in fx.get_column("rate")]
    scale = max((max(0, -int(r.as_tuple().exponent)) for r in rates), default=0)
    return pl.DataFrame({
        "currency": fx.get_column("currency"),
        "fx_date": fx.get_column("date").str.to_date("%Y-%m-%d"),
        "rate": pl.Series([int(r.scaleb(scale)) for r in rates], dtype=pl.Int64),
    }), scale


def hand_polars(snapshot: pl.LazyFrame, fx: tuple[pl.DataFrame, int], as_of: date
                ) -> pl.DataFrame:
    """The dormancy outputs with polars, one lazy query (read included)."""
    rates, scale = fx
    la = pl.max_horizontal("opened", "last_transaction",
                           pl.col("last_statement_ack").max().over("member_id"),
                           pl.col("last_response").max().over("member_id"))
    unclaimed = pl.col("unclaimed_on")
    year = unclaimed.dt.year().cast(pl.Int64)
    late = (unclaimed.dt.month() > 6)
    unit = 10 ** scale
    product = pl.col("balance_cents") * pl.col("rate_units")
    frame = (
        snapshot
        .with_columns(la.alias("last_activity"),
                      (pl.col("balance") * 100).cast(pl.Int64).alias("balance_cents"))
        .with_columns(pl.col("last_activity").dt.offset_by("10y").alias("unclaimed_on"),
                      pl.col("last_activity").dt.offset_by("3y").alias("dormant_on"),
                      pl.col("last_activity").dt.offset_by("9y").alias("final_on"))
        .with_columns((year + late.cast(pl.Int64)).alias("remittance_year"))
        .with_columns(pl.date(pl.col("remittance_year") - 1, 9, 30).alias("fx_date"))
        .join(rates.lazy(), on=["currency", "fx_date"], how="left", maintain_order="left")
        .with_columns(pl.when(pl.col("currency") == "CAD").then(unit)
                      .otherwise(pl.col("rate")).alias("rate_units"))
        .with_columns(
            pl.when(pl.lit(as_of) >= unclaimed).then(pl.lit("unclaimed"))
            .when(pl.lit(as_of) >= pl.col("dormant_on")).then(pl.lit("dormant"))
            .otherwise(pl.lit("active")).alias("status"),
            pl.when(product >= 0).then((product + unit // 2) // unit)
            .otherwise(-((-product + unit // 2) // unit)).alias("amount_cad"),
            pl.when(pl.lit(as_of) < pl.col("dormant_on")).then(pl.col("dormant_on"))
            .when(pl.lit(as_of) < pl.col("final_on")).then(pl.col("final_on"))
            .alias("next_notice"))
    )
    missing = pl.col("rate_units").is_null() & (pl.col("status") == "unclaimed")
    return frame.select(
        "member_id", "account_id",
        pl.when(missing).then(None).otherwise(pl.col("status")).alias("status"),
        "unclaimed_on", "remittance_year", "amount_cad", "next_notice",
        pl.when(missing).then(pl.format(RATE_MESSAGE, "currency",
                                        pl.col("fx_date").dt.to_string("%Y-%m-%d")))
        .alias("error"),
    ).collect()


def hand_numpy(snapshot: pl.LazyFrame, fx: tuple[pl.DataFrame, int], as_of: date
               ) -> pl.DataFrame:
    """The dormancy outputs with NumPy arrays (polars only reads the file and holds the
    result): member maxima with ``reduceat`` over the member runs (rows sorted by
    member, as the generator writes them; ``np.unique`` otherwise), calendar arithmetic
    on day numbers, the rate by a sorted-key search."""
    rates, scale = fx
    frame = snapshot.collect()
    none = np.iinfo(np.int32).min

    def days(name: str) -> np.ndarray:
        return frame.get_column(name).cast(pl.Int32).fill_null(none).to_numpy()

    member = frame.get_column("member_id")
    n = frame.height
    if member.is_sorted():
        change = np.flatnonzero((member.slice(1) != member.slice(0, n - 1)).to_numpy()) + 1
        starts = np.concatenate(([0], change)) if n else np.zeros(0, dtype=np.int64)
        lengths = np.diff(np.append(starts, n))

        def member_max(v: np.ndarray) -> np.ndarray:
            return np.repeat(np.maximum.reduceat(v, starts), lengths) if n else v
    else:
        _, inverse = np.unique(member.to_numpy(), return_inverse=True)

        def member_max(v: np.ndarray) -> np.ndarray:
            out = np.full(int(inverse.max()) + 1 if n else 0, none, dtype=v.dtype)
            np.maximum.at(out, inverse, v)
            return out[inverse]

    la = np.maximum.reduce([days("opened"), days("last_transaction"),
                            member_max(days("last_statement_ack")),
                            member_max(days("last_response"))])
    unclaimed = add_years_days(la, 10)
    dormant = add_years_days(la, 3)
    final = add_years_days(la, 9)
    day = (as_of - _EPOCH).days
    status = np.where(day >= unclaimed, 2, np.where(day >= dormant, 1, 0))
    y, m, _ = civil_from_days(unclaimed)
    remit = y + (m > 6)
    fx_day = days_from_civil(remit - 1, np.full(n, 9), np.full(n, 30)).astype(np.int64)
    codes = sorted(set(rates.get_column("currency").to_list()))
    code_of = {c: i for i, c in enumerate(codes)}
    currency = frame.get_column("currency")
    cur = currency.replace_strict(code_of, default=-1, return_dtype=pl.Int64).to_numpy()
    keys = (rates.get_column("currency").replace_strict(code_of, return_dtype=pl.Int64)
            .to_numpy() * 10**7 + rates.get_column("fx_date").cast(pl.Int64).to_numpy())
    order = np.argsort(keys)
    keys, units = keys[order], rates.get_column("rate").to_numpy()[order]
    key = cur * 10**7 + fx_day
    at = np.clip(np.searchsorted(keys, key), 0, max(len(keys) - 1, 0))
    found = (cur >= 0) & (keys[at] == key) if len(keys) else np.zeros(n, dtype=bool)
    cad = (currency == "CAD").to_numpy()
    unit = 10 ** scale
    rate = np.where(cad, unit, units[at] if len(keys) else 0)
    has_rate = cad | found
    cents = (frame.get_column("balance") * 100).cast(pl.Int64).to_numpy()
    product = cents * rate
    amount = np.where(product >= 0, (product + unit // 2) // unit,
                      -((-product + unit // 2) // unit))
    notice = np.where(day < dormant, dormant, np.where(day < final, final, none))
    missing = ~has_rate & (status == 2)
    names = np.array(["active", "dormant", "unclaimed"], dtype=object)
    out = pl.DataFrame({
        "member_id": member,
        "account_id": frame.get_column("account_id"),
        "status": pl.Series(names[status], dtype=pl.String),
        "unclaimed_on": pl.Series(unclaimed, dtype=pl.Int32).cast(pl.Date),
        "remittance_year": pl.Series(remit, dtype=pl.Int64),
        "amount_cad": pl.Series(amount, dtype=pl.Int64),
        "next_notice": pl.Series(notice, dtype=pl.Int32),
        "__missing": missing, "__has_rate": has_rate,
        "currency": currency,
        "fx_date": pl.Series(fx_day, dtype=pl.Int64).cast(pl.Int32).cast(pl.Date),
    })
    return out.select(
        "member_id", "account_id",
        pl.when(pl.col("__missing")).then(None).otherwise(pl.col("status")).alias("status"),
        "unclaimed_on", "remittance_year",
        pl.when(pl.col("__has_rate")).then(pl.col("amount_cad")).alias("amount_cad"),
        pl.when(pl.col("next_notice") != none).then(pl.col("next_notice")).cast(pl.Date)
        .alias("next_notice"),
        pl.when(pl.col("__missing")).then(pl.format(
            RATE_MESSAGE, "currency", pl.col("fx_date").dt.to_string("%Y-%m-%d")))
        .alias("error"),
    )
