"""Declared snapshot columns read natively by polars: each declared cell parsed as its type
declares (dates, money and numbers as scaled integers, whole numbers, bools, texts with
their allowed values, currencies, ``list of text`` as ``a;b``) for every member whose rows
are all certainly valid; the rows of any other member (a row in error, a cell the vector
parse doubts, a member-level column that disagrees across the member's rows) are given to
the scalar loader, which alone words record errors, so rows and errors are exactly the
scalar loader's."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from evaluator.declared import LIST_SEPARATOR, FactsDecl, FieldDecl
from evaluator.errors import Unsupported
from evaluator.facts.tablecols import extra_column, with_declared_fields

__all__ = ["DeclaredRead", "parse_cell", "read_declared", "scalar_rows_read"]

_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_NUMBER_RE = r"^-?[0-9]+(\.[0-9]+)?$"
_INTEGER_RE = r"^-?[0-9]+$"

#: how many rows were given to the scalar loader by :func:`read_declared` (a counter the
#: tests read to hold that a valid table is read without it)
scalar_rows_read = [0]


@dataclass
class DeclaredRead:
    """The evaluable rows with their declared fields typed, the decimal places of each
    scaled column, and the record errors of the rows read by the scalar loader."""

    frame: pl.DataFrame
    scales: dict[str, int]
    errors: list[Any]


def _number_parts(text: pl.Expr, percent: bool
                  ) -> tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]:
    """Whether a cell is a number (as the scalar loader reads it), its value as an integer
    scaled by its decimal places as the scalar loader's Decimal has them (a percentage is
    divided by 100, which keeps the written places or needs more), those places, and its
    digits before them."""
    has_pct = text.str.ends_with("%") if percent else pl.lit(False)
    body = (pl.when(has_pct).then(text.str.strip_suffix("%").str.strip_chars())
            .otherwise(text)) if percent else text
    ok = body.str.contains(_NUMBER_RE)
    written = body.str.extract(r"\.([0-9]+)$", 1).fill_null("").str.len_chars().cast(pl.Int64)
    digits = body.str.replace(r"\.", "").str.replace("^-", "")
    size = digits.str.len_chars().cast(pl.Int64)
    ok = ok & (size <= 18)
    units = digits.cast(pl.Int64, strict=False)
    places = written
    if percent:  # Decimal(x) / 100: the exact quotient at the written places or finer
        nonzero = digits.str.strip_chars_end("0")
        trailing = size - nonzero.str.len_chars().cast(pl.Int64)
        zero = nonzero.str.strip_chars_start("0") == ""
        drop = pl.when(has_pct & zero).then(2).when(has_pct).then(
            pl.min_horizontal(trailing, pl.lit(2))).otherwise(0).cast(pl.Int64)
        places = written + pl.when(has_pct).then(2).otherwise(0) - drop
        units = units // pl.lit(10, pl.Int64).pow(drop)
        size = size - drop
    units = pl.when(body.str.starts_with("-")).then(-units).otherwise(units)
    present = text.is_not_null()
    return ok, units, pl.when(present).then(places), pl.when(present).then(size - places)


def parse_cell(f: FieldDecl, text: pl.Expr
               ) -> tuple[pl.Expr, pl.Expr, tuple[pl.Expr, pl.Expr] | None]:
    """(certainly valid, typed value, (decimal places, whole digits) or None) of a
    present cell (stripped) of the declared field ``f``."""
    kind = f.type
    if kind in ("text", "id", "currency"):
        ok = pl.lit(True)
        if kind == "currency":
            ok = text.str.contains(r"^[A-Z]{3}$")
        if f.values is not None:
            ok = ok & text.is_in(list(f.values))
        return ok, text, None
    if kind == "date":
        day = text.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
        ok = text.str.contains(_DATE_RE) & ~text.str.starts_with("0000") & day.is_not_null()
        return ok, day, None
    if kind == "bool":
        low = text.str.to_lowercase()
        return low.is_in(["true", "false"]), low == "true", None
    if kind == "integer":
        value = text.cast(pl.Int64, strict=False)
        return text.str.contains(_INTEGER_RE) & value.is_not_null(), value, None
    if kind == "list of text":
        sep = re.escape(LIST_SEPARATOR)
        items = text.str.replace_all(rf"\s*{sep}\s*", LIST_SEPARATOR).str.split(LIST_SEPARATOR)
        return ~text.str.contains(rf"(^|{sep})\s*({sep}|$)"), items, None
    ok, units, places, whole = _number_parts(text, kind == "percent")
    if kind == "money":
        ok = ok & ~text.str.starts_with("-")
    return ok, units, (places, whole)


def _dtype(kind: str) -> pl.DataType:
    return {"date": pl.Date(), "bool": pl.Boolean(), "integer": pl.Int64(),
            "list of text": pl.List(pl.String()), "money": pl.Int64(),
            "decimal": pl.Int64(), "percent": pl.Int64()}.get(kind, pl.String())


def _vector(frame: pl.DataFrame, decl: FactsDecl
            ) -> tuple[pl.DataFrame, dict[str, int], list[str]]:
    """``frame`` with each declared field typed (scaled columns at their largest decimal
    places), a ``__doubt`` column (a cell the vector parse cannot vouch for), the scales
    and the typed columns of member fields."""
    by_field = {(c.entity, c.field): c.name for c in decl.extra_columns()
                if c.latest is None and c.entity is not None}
    doubts: list[pl.Expr] = []
    typed: list[pl.Expr] = []
    placed: list[tuple[str, str]] = []
    member_cols: list[str] = []
    # each cell stripped once (empty: absent); Python strips \x1c-\x1f too, polars not
    cells: list[pl.Expr] = []
    for c in decl.extra_columns():
        stripped = pl.col(c.name).str.strip_chars()
        cells.append(pl.when(stripped == "").then(None).otherwise(stripped)
                     .alias(f"__t:{c.name}"))
        doubts.append(pl.col(c.name).str.contains(r"[\x1c-\x1f]").fill_null(False))
    frame = frame.with_columns(cells)
    for entity in ("account", "member"):
        for f in decl.extra_fields(entity):
            name = extra_column(entity, f.name)
            if entity == "member":
                member_cols.append(name)
            column = by_field.get((entity, f.name))
            text: pl.Expr = (pl.col(f"__t:{column}") if column is not None
                             else pl.lit(None, pl.String))
            absent = text.is_null()
            ok, value, places = parse_cell(f, text)
            if f.default is not None:
                default: Any = f.default
                if f.type in ("money", "decimal", "percent"):
                    default = None  # a number's default has its own decimal places
                    doubts.append(absent)
                fill = pl.lit(default, _dtype(f.type))
            elif f.type == "list of text":
                fill = pl.lit([], pl.List(pl.String))
            else:
                fill = pl.lit(None, _dtype(f.type))
                if not f.optional:
                    doubts.append(absent)
            doubts.append(~absent & ~ok.fill_null(False))
            typed.append(pl.when(absent).then(fill).otherwise(value).alias(name))
            if places is not None:
                placed.append((name, f.type))
                typed += [places[0].alias(f"__p:{name}"), places[1].alias(f"__w:{name}")]
    for col in decl.extra_columns():
        if col.latest is not None:
            text = pl.col(f"__t:{col.name}")
            day = text.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
            bad = text.is_not_null() & ~(text.str.contains(_DATE_RE)
                                         & ~text.str.starts_with("0000") & day.is_not_null())
            doubts.append(bad.fill_null(False))
            typed.append(day.alias(extra_column("latest", col.name)))
    doubt = pl.any_horizontal(doubts) if doubts else pl.lit(False)
    out = frame.with_columns(*typed, doubt.alias("__doubt")).drop(
        [f"__t:{c.name}" for c in decl.extra_columns()])
    scales: dict[str, int] = {}
    if not placed:
        return out, scales, member_cols
    sizes = out.filter(~pl.col("__doubt")).select([e for name, _ in placed for e in (
        pl.col(f"__p:{name}").max(), pl.col(f"__w:{name}").max())]).row(0)
    rescale: list[pl.Expr] = []
    for k, (name, kind) in enumerate(placed):
        after = pl.col(f"__p:{name}")
        most, whole = sizes[2 * k: 2 * k + 2]
        scale = int(most or 0)
        scale = max(scale, 2) if kind == "money" else scale
        if int(whole or 0) + scale > 18:  # beyond exact 64-bit integers
            raise Unsupported(f"declared field values too large for exact 64-bit "
                              f"integers ({name})")
        scales[name] = scale
        factor = pl.lit(10, pl.Int64).pow(pl.lit(scale, pl.Int64) - after.cast(pl.Int64)
                                          .clip(upper_bound=scale))
        rescale.append((pl.col(name) * factor).alias(name))
    temporary = [f"__{x}:{name}" for name, _ in placed for x in "pw"]
    return out.with_columns(rescale).drop(temporary), scales, member_cols


def read_declared(text: pl.DataFrame, frame: pl.DataFrame, decl: FactsDecl,
                  first_seen: dict[str, int],
                  scalar: Callable[[pl.DataFrame, dict[str, str]], Any]) -> DeclaredRead:
    """The rows of ``frame`` (the rows of ``text`` whose standard cells are valid, in
    evaluation order) that the scalar loader would load, with their declared fields
    typed. ``first_seen`` gives the first line of account ids seen before ``text`` (in
    another chunk of the file); ``scalar(rows, seen)`` reads rows of ``text`` by the
    scalar loader, the account ids of ``seen`` already seen where it says, giving its
    ``Facts``."""
    typed, scales, member_cols = _vector(frame, decl)
    # members to hand to the scalar loader: a row in error, a doubted cell, a disagreement
    member_key = pl.col("member_id").str.strip_chars()
    keys = text.select(member_key.alias("__m"), pl.col("__line"))
    bad_lines = keys.join(frame.select("__line"), on="__line", how="anti")
    doubted = set(bad_lines.get_column("__m").drop_nulls().to_list())
    doubted |= set(typed.filter(pl.col("__doubt")).get_column("member_id").to_list())
    if member_cols:
        split = typed.group_by("member_id").agg(
            [pl.col(c).n_unique().alias(c) for c in member_cols]).filter(
            pl.any_horizontal([pl.col(c) > 1 for c in member_cols]))
        doubted |= set(split.get_column("member_id").to_list())
    doubted.discard("")
    clean = typed.filter(~pl.col("member_id").is_in(list(doubted))).drop("__doubt")
    unread = keys.filter(pl.col("__m").is_null() | (pl.col("__m") == "")
                         | pl.col("__m").is_in(list(doubted)))
    if unread.height == 0 and not bad_lines.height:
        return DeclaredRead(clean, scales, [])
    rows = text.join(unread.select("__line"), on="__line", how="semi").sort("__line")
    scalar_rows_read[0] += rows.height
    facts = scalar(rows, _seen_before(text, rows, first_seen))
    loaded = pl.DataFrame(
        [(m.member_id, a.account_id) for m in facts.members for a in m.accounts],
        schema={"member_id": pl.String, "account_id": pl.String}, orient="row")
    mine = frame.join(loaded, on=["member_id", "account_id"], how="semi")
    if mine.height:
        mine, their_scales = with_declared_fields(mine, facts, decl)
        clean, mine = _common_scales(clean, mine, scales, their_scales)
        merged = pl.concat([clean, mine.select(clean.columns)], how="vertical_relaxed")
    else:
        merged = clean
    if merged.height != frame.height:  # a member is where its first loaded row is
        merged = merged.with_columns(pl.col("__line").min().over("member_id")
                                     .alias("__member_order"))
    merged = merged.sort(["__member_order", "__line"])
    return DeclaredRead(merged, scales, list(facts.errors))


def _seen_before(text: pl.DataFrame, rows: pl.DataFrame, first_seen: dict[str, int]
                 ) -> dict[str, str]:
    """The account ids of ``rows`` that occur first elsewhere (in another row of ``text``
    or, by ``first_seen``, of the file), with where, as the scalar loader words it."""
    account = pl.col("account_id").str.strip_chars()
    mine = rows.select(account.alias("a"), pl.col("__line")).drop_nulls().group_by("a").agg(
        pl.col("__line").min().alias("mine"))
    everywhere = text.select(account.alias("a"), pl.col("__line")).drop_nulls().group_by(
        "a").agg(pl.col("__line").min().alias("first"))
    seen: dict[str, str] = {}
    for aid, line, first in mine.join(everywhere, on="a", how="left").iter_rows():
        earliest = min(int(first), first_seen.get(aid, int(first)))
        if earliest < line:
            seen[aid] = f"row {earliest}"
    return seen


def _common_scales(a: pl.DataFrame, b: pl.DataFrame, scales: dict[str, int],
                   other: dict[str, int]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Both frames' scaled columns at the larger of their decimal places (``scales`` is
    updated)."""
    fix_a: list[pl.Expr] = []
    fix_b: list[pl.Expr] = []
    for name, theirs in other.items():
        ours = scales.get(name, theirs)
        both = max(ours, theirs)
        if both > ours:
            fix_a.append((pl.col(name) * 10 ** (both - ours)).alias(name))
        if both > theirs:
            fix_b.append((pl.col(name) * 10 ** (both - theirs)).alias(name))
        scales[name] = both
    for name in scales:
        if name not in other:  # absent from the scalar rows' columns
            fix_b.append(pl.col(name).cast(pl.Int64))
    return (a.with_columns(fix_a) if fix_a else a, b.with_columns(fix_b) if fix_b else b)
