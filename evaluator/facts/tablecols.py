"""The columns of a snapshot table beyond the standard ones: the declared extra columns
kept (as text, in declared order, a null column for one the table lacks) for the loader
to read by their declared types, and the columns the declaration does not know counted
(the rows with a non-empty cell in each), so each is reported, never silently dropped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from evaluator.declared import FactsDecl, standard
from evaluator.errors import Unsupported
from evaluator.facts.fields import SNAPSHOT_CELLS

__all__ = ["declared_columns", "extra_column", "extra_names", "named_columns",
           "unknown_in_file", "with_declared_fields"]

#: a bound on the scaled integers numbers are held in (``table.UNITS_LIMIT``)
_UNITS_LIMIT = 9 * 10**18


def extra_names(decl: FactsDecl | None) -> tuple[str, ...]:
    """The declared extra columns, in the order the loader reads them after the
    standard cells."""
    return tuple(c.name for c in decl.extra_columns()) if decl is not None else ()


def named_columns(raw: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """A CSV frame whose columns beyond the standard ones are named by position (``#i``)
    renamed as its header names them (a name given twice, or empty, keeps ``#i``)."""
    rename: dict[str, str] = {}
    for i, name in enumerate(names):
        if (f"#{i}" in raw.columns and name and name not in SNAPSHOT_CELLS
                and names.count(name) == 1 and not name.startswith("__")):
            rename[f"#{i}"] = name
    return raw.rename(rename) if rename else raw


def declared_columns(raw: pl.DataFrame, text: pl.DataFrame, decl: FactsDecl | None
                     ) -> tuple[pl.DataFrame, tuple[tuple[str, str, int], ...]]:
    """``text`` (the standard cells of ``raw``'s rows) with the declared extra columns of
    ``raw`` added as text, and the unknown columns of ``raw`` with the number of rows that
    fill each."""
    known = (decl if decl is not None else standard()).columns
    unknown = [c for c in raw.columns if c not in known and not c.startswith(("__", "#"))
               and "_duplicated_" not in c]
    counts: tuple[tuple[str, str, int], ...] = ()
    if unknown and raw.height:
        filled = raw.select([_filled(raw, c).sum().alias(c) for c in unknown]).row(0)
        counts = tuple(("column", c, int(n)) for c, n in zip(unknown, filled, strict=True)
                       if n)
    extra = extra_names(decl)
    if not extra:
        return text, counts
    if raw.height != text.height:  # blank rows were dropped from text: keep its rows
        raw = raw.join(text.select("__line"), on="__line", how="semi")
    cols = [(raw.get_column(c).cast(pl.String) if c in raw.columns else
             pl.Series(c, [None] * raw.height, pl.String)).alias(c) for c in extra]
    return text.with_columns(cols), counts


def _filled(raw: pl.DataFrame, c: str) -> pl.Expr:
    col = pl.col(c)
    if raw.schema[c] == pl.String:
        return (col.is_not_null() & (col.str.strip_chars() != "")).cast(pl.UInt32)
    return col.is_not_null().cast(pl.UInt32)


def extra_column(entity: str, name: str) -> str:
    """The frame column holding a declared field of the member or account (typed), or,
    for entity ``latest``, the date of a declared ``latest:`` column."""
    return f"x:{entity}:{name}"


def with_declared_fields(frame: pl.DataFrame, facts: Any, decl: FactsDecl
                         ) -> tuple[pl.DataFrame, dict[str, int]]:
    """The rows of ``frame`` whose account the scalar loader loaded into ``facts`` (the
    same rows, the same record errors), with the declared fields of each row's account
    and member as typed columns (money and numbers as integers scaled by the returned
    decimal places) and each declared ``latest:`` column as dates."""
    accounts = {a.account_id: a for m in facts.members for a in m.accounts}
    members = {m.member_id: m for m in facts.members}
    kept = frame.filter(pl.col("account_id").is_in(list(accounts)))
    if kept.height != frame.height:  # a member is where its first loaded row is
        kept = kept.with_columns(pl.col("__line").min().over("member_id")
                                 .alias("__member_order")).sort(["__member_order", "__line"])
    frame = kept
    scales: dict[str, int] = {}
    cols: list[pl.Series] = []
    ids = {"account": frame.get_column("account_id").to_list(),
           "member": frame.get_column("member_id").to_list()}
    for entity, records in (("account", accounts), ("member", members)):
        for f in decl.extra_fields(entity):
            name = extra_column(entity, f.name)
            values = [_field(records[i], f.name) for i in ids[entity]]
            if f.type == "list of text":
                cols.append(pl.Series(name, [list(v or ()) for v in values],
                                      pl.List(pl.String)))
                continue
            series, scale = _typed(name, f.type, values)
            cols.append(series)
            if scale is not None:
                scales[name] = scale
    for col in decl.extra_columns():
        if col.latest is not None:
            text = frame.get_column(col.name).str.strip_chars()
            cols.append(_dates(text).alias(extra_column("latest", col.name)))
    return frame.with_columns(cols), scales


def _dates(text: pl.Series) -> pl.Series:
    return text.replace("", None).str.strptime(pl.Date, "%Y-%m-%d", strict=False)


def _field(record: Any, name: str) -> Any:
    for key, value in record.extra:
        if key == name:
            return value
    return None


def _typed(name: str, kind: str, values: list[Any]) -> tuple[pl.Series, int | None]:
    if kind in ("money", "decimal", "percent"):
        numbers = [v for v in values if v is not None]
        scale = max([max(0, -int(v.as_tuple().exponent)) for v in numbers] or [0])
        scale = max(scale, 2) if kind == "money" else scale
        units = [int(v.scaleb(scale)) if v is not None else None for v in values]
        if any(u is not None and abs(u) >= _UNITS_LIMIT for u in units):
            raise Unsupported(f"declared field values too large for exact 64-bit integers "
                              f"({name})")
        return pl.Series(name, units, pl.Int64), scale
    dtype = {"date": pl.Date, "integer": pl.Int64, "bool": pl.Boolean}.get(kind, pl.String)
    return pl.Series(name, values, dtype), None


def unknown_in_file(path: str, decl: FactsDecl | None) -> tuple[tuple[str, str, int], ...]:
    """The columns of a CSV or Parquet snapshot file, or of a Parquet folder (its hive
    keys are columns, as its reader reads them), that ``decl`` does not know, with the
    rows filling each (for readers that stream the file in chunks and keep only the
    columns they know); () when the file cannot be scanned (its reader says why)."""
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
        folder = stat.S_ISDIR(mode) and path.lower().rstrip("/").endswith(".parquet")
        if not (stat.S_ISREG(mode) or folder):  # a FIFO would never end
            return ()
        if folder:
            lazy = pl.scan_parquet(path, hive_partitioning=True)
        elif path.lower().endswith(".parquet"):
            lazy = pl.scan_parquet(path)
        else:
            lazy = pl.scan_csv(path, infer_schema=False, truncate_ragged_lines=True)
        schema = lazy.collect_schema()
        known = (decl if decl is not None else standard()).columns
        unknown = [c for c in schema.names() if c and c not in known
                   and not c.startswith("__") and "_duplicated_" not in c]
        if not unknown:
            return ()
        counts = lazy.select([
            ((pl.col(c).is_not_null() & (pl.col(c).cast(pl.String).str.strip_chars() != ""))
             .cast(pl.UInt32).sum()).alias(c) for c in unknown]).collect().row(0)
    except (pl.exceptions.PolarsError, OSError):
        return ()
    return tuple(("column", c, int(n)) for c, n in zip(unknown, counts, strict=True) if n)
