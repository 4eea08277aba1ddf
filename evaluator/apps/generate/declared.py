"""The columns a policy declares beyond the standard snapshot (``generate --policy P``):
each generated from its type, an optional field present for a share of the rows, a
member-level one the same on every row of a member, a ``latest:`` column a date between
the opening and the reference day; a declaration's ``generate:`` hints (``share``,
``range``, ``values``) override the defaults. Every value is drawn from a hash of the
row's id, the column and the seed, so the standard columns are unchanged and the output
does not depend on how members are cut into chunks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import polars as pl

from evaluator.declared import ColumnDecl, FactsDecl, FieldDecl

__all__ = ["declared_schema", "with_declared_columns"]

_SCALE = 1_000_000


def declared_schema(decl: FactsDecl | None) -> dict[str, pl.DataType]:
    """The Parquet types of the declared columns (dates as dates, the rest as text)."""
    out: dict[str, pl.DataType] = {}
    if decl is None:
        return out
    for col in decl.extra_columns():
        f = _field(decl, col)
        out[col.name] = pl.Date() if f is None or f.type == "date" else pl.String()
    return out


def with_declared_columns(chunks: Iterator[pl.DataFrame], decl: FactsDecl | None, seed: int,
                          as_of: date) -> Iterator[pl.DataFrame]:
    """Each chunk with the declared columns added after the standard ones."""
    columns = decl.extra_columns() if decl is not None else ()
    for frame in chunks:
        if columns:
            assert decl is not None
            frame = frame.with_columns([_column(decl, c, seed, as_of) for c in columns])
        yield frame


def _field(decl: FactsDecl, col: ColumnDecl) -> FieldDecl | None:
    if col.latest is not None or col.entity is None or col.field is None:
        return None
    return decl.field(col.entity, col.field)


def _uniform(key: str, name: str, seed: int, salt: str) -> pl.Expr:
    """A number in [0, 1) drawn from the row's ``key`` column, the column and the seed."""
    h = (pl.col(key) + pl.lit(f"|{name}|{salt}|{seed}")).hash(seed=seed)
    return (h % _SCALE).cast(pl.Float64) / _SCALE


def _column(decl: FactsDecl, col: ColumnDecl, seed: int, as_of: date) -> pl.Expr:
    f = _field(decl, col)
    hints: dict[str, Any] = dict(f.generate) if f is not None else {}
    key = "member_id" if col.entity == "member" or (col.on == "member" and \
        col.latest is not None) else "account_id"
    u = _uniform(key, col.name, seed, "value")
    present = _uniform(key, col.name, seed, "present")
    share = float(hints.get("share", 0.3 if f is None or f.optional else 1.0))
    value = _value(f, hints, u, as_of)
    return pl.when(present < share).then(value).otherwise(None).alias(col.name)


def _value(f: FieldDecl | None, hints: dict[str, Any], u: pl.Expr, as_of: date) -> pl.Expr:
    kind = f.type if f is not None else "date"
    low_high = hints.get("range")
    if kind == "date":
        if low_high:
            low, high = (date.fromisoformat(str(x)) for x in low_high)
            start = pl.lit(low)
            days = (high - low).days
        else:  # between the opening and the reference day
            start = pl.col("opened")
            days_expr = (pl.lit(as_of) - pl.col("opened")).dt.total_days().clip(0)
            return (start + pl.duration(days=(u * days_expr).floor().cast(pl.Int64))) \
                .cast(pl.Date)
        return (start + pl.duration(days=(u * days).floor().cast(pl.Int64))).cast(pl.Date)
    values = hints.get("values") or (f.values if f is not None else None)
    if values:
        choice = (u * len(values)).floor().cast(pl.Int64)
        return choice.replace_strict(dict(enumerate(map(str, values))),
                                     return_dtype=pl.String)
    if kind in ("money", "decimal", "percent", "integer"):
        lowest, highest = (_number(x) for x in (low_high or _RANGES[kind]))
        number = pl.lit(lowest) + u * (highest - lowest)
        if kind == "integer":
            return number.floor().cast(pl.Int64).cast(pl.String)
        if kind == "percent":
            return (number * 100).round(2).cast(pl.String) + pl.lit("%")
        return number.round(2).cast(pl.String)
    if kind == "bool":
        return pl.when(u < 0.5).then(pl.lit("true")).otherwise(pl.lit("false"))
    if kind == "currency":
        return pl.lit("CAD")
    if kind == "list of text":
        return pl.lit(None, pl.String)
    name = f.name if f is not None else "value"
    return pl.lit(f"{name}-") + ((u * 5).floor().cast(pl.Int64) + 1).cast(pl.String)


def _number(x: object) -> float:
    """A range bound as a float: ``"2.5%"`` is 0.025, as a percent field reads it."""
    text = str(x).strip()
    return float(text[:-1]) / 100 if text.endswith("%") else float(text)


_RANGES = {"money": (0, 10_000), "decimal": (0, 100), "percent": (0, 0.05),
           "integer": (0, 100)}
