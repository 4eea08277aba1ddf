"""How long the holder of a transferred deposit stays liable, per regime, for `compare`.

A regime states it in its ``liability_ends`` output (null: never ends). FSRA's rule has
no such output: its figure is derived from the Authority's holding periods (its
parameters ``small_balance_holding`` under ``small_balance_limit``, ``holding_period``
otherwise, R2), counted from the day the deposit is paid over. Any other policy's figure
is "not stated".
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import polars as pl

#: where a policy's liability figure comes from (the ``liability_basis`` column)
LIABILITY_STATED = "liability_ends"
LIABILITY_DERIVED = "derived: holding periods (small_balance_holding, holding_period)"
LIABILITY_NOT_STATED = "not stated"


def _years(duration: Any) -> int | None:
    text = str(duration or "").strip()
    head, _, unit = text.partition(" ")
    return int(head) if head.isdigit() and unit.rstrip("s") == "year" else None


def liability_end(shapes: Mapping[str, Any], parameters: Mapping[str, Any], paid: pl.Expr
                  ) -> tuple[pl.Expr | None, str]:
    """The day the liability for each deposit ends (null: never), and where that figure
    comes from: the policy's own ``liability_ends`` output; or, for a policy without it
    whose parameters give the holding periods of the amounts transferred (FSRA's R2:
    ``small_balance_holding`` under ``small_balance_limit``, ``holding_period`` otherwise),
    those periods counted from the day paid over; or nothing (not stated)."""
    shape = shapes.get("liability_ends")
    if shape is not None and shape[0] == "col":
        return pl.col(shape[1]).cast(pl.Date), LIABILITY_STATED
    if shape is not None and shape[0] == "const":
        value = shape[1]
        return (pl.lit(value, pl.Date) if value is None or isinstance(value, _dt.date)
                else None), LIABILITY_STATED
    small, other, limit = (parameters.get(k) for k in ("small_balance_holding", "holding_period",
                                              "small_balance_limit"))
    if small is None or other is None or limit is None:
        return None, LIABILITY_NOT_STATED
    short, long_ = _years(small.value), _years(other.value)
    if short is None or long_ is None:
        return None, LIABILITY_NOT_STATED
    cents = int(Decimal(str(limit.value)) * 100)
    return (pl.when(pl.col("__cents") < cents).then(paid.dt.offset_by(f"{short}y"))
            .otherwise(paid.dt.offset_by(f"{long_}y"))), LIABILITY_DERIVED


def liability_text(first: int | None, median: int | None, last: int | None,
                    no_limit: int, transfers: int, basis: str) -> str:
    """One cell: ``2066-2126 (median 2086)``, ``no limit``, with how many never end."""
    if basis == LIABILITY_NOT_STATED:
        return "not stated"
    if not transfers:
        return "\u2014"
    if first is None:
        return "no limit" if no_limit else "unknown"
    span = f"{first}" if first == last else f"{first}-{last}"
    text = f"{span} (median {median})"
    return text + (f"; {no_limit:,} with no limit" if no_limit else "")


def liability_overall(y: pl.DataFrame) -> str:
    """The liability cell of a policy's summary row: the years over all its transfers."""
    if not y.height:
        return "\u2014"
    basis = y.get_column("liability_basis").to_list()[0]
    if basis == LIABILITY_NOT_STATED:
        return "not stated"
    low, high = y.get_column("liability_ends_first").min(), \
        y.get_column("liability_ends_last").max()
    first, last = (None if v is None else int(str(v)) for v in (low, high))
    no_limit = int(y.get_column("liability_no_limit").sum())
    if first is None:
        return "no limit" if no_limit else "\u2014"
    span = f"{first}-{last}" if first != last else f"{first}"
    return span + (f"; {no_limit:,} with no limit" if no_limit else "") + \
        (" (derived)" if basis == LIABILITY_DERIVED else "")
