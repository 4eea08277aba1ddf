"""The columns of a snapshot table beyond the standard ones: the declared extra columns
kept (as text, in declared order, a null column for one the table lacks) for the loader
to read by their declared types, and the columns the declaration does not know counted
(the rows with a non-empty cell in each), so each is reported, never silently dropped."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from evaluator.declared import FactsDecl, standard
from evaluator.facts.fields import SNAPSHOT_CELLS

__all__ = ["declared_columns", "extra_names", "named_columns"]


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
