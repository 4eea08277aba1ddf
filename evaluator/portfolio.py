"""Whole portfolios: evaluate a snapshot table with the columnar backend, in chunks of
members when it is large, and write the determinations to CSV or Parquet.

Chunks are *member-consistent*: rows are split by a hash of ``member_id``, so a member's
accounts are always evaluated together, and the output is put back in the order the
scalar backend uses (members in order of first appearance, accounts in row order), so the
result does not depend on the chunk size. The CSV written here is the same as
``unclaimed evaluate --format csv`` writes from the scalar backend.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import polars as pl

from evaluator import types as T
from evaluator.columnar import (
    ColumnarResult,
    Shape,
    Table,
    evaluate_frame,
    table_from_frame,
)
from evaluator.facts import FactsError, parse_fx_csv
from evaluator.model import RecordError

if TYPE_CHECKING:
    from evaluator.loader import ParamSpec
    from evaluator.policy import Policy

#: above this many rows a table is evaluated in member-consistent chunks
DEFAULT_CHUNK_ROWS = 1_000_000


# -- the CSV / Parquet form of determinations --------------------------------------------

def _display(shape: Shape) -> pl.Expr:
    """A scalar output column as the scalar renderer's text (empty for null)."""
    kind = shape[0]
    if kind == "const":
        from evaluator.results import flat

        return pl.lit(flat("", shape[1]))
    _, name, t, scale = shape
    col = pl.col(name)
    base = T.strip(t)
    if base == T.DATE:
        e = col.dt.strftime("%Y-%m-%d")
    elif base in (T.MONEY, T.NUMBER) and scale:
        sign = pl.when(col < 0).then(pl.lit("-")).otherwise(pl.lit(""))
        a = col.abs()
        e = pl.concat_str([sign, (a // 10 ** scale).cast(pl.String), pl.lit("."),
                           (a % 10 ** scale).cast(pl.String).str.pad_start(scale, "0")])
    elif base == T.BOOL:
        e = pl.when(col).then(pl.lit("true")).otherwise(pl.lit("false"))
    elif base == T.MONTH_DAY:
        months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                  "Nov", "Dec")
        e = pl.concat_str([(col % 100).cast(pl.String), pl.lit(" "),
                           (col // 100).replace_strict(
                               {i + 1: m for i, m in enumerate(months)},
                               return_dtype=pl.String)])
    else:
        e = col.cast(pl.String)
    return e.fill_null("")


def _flat_text(name: str, shape: Shape) -> pl.Expr:
    """The scalar CSV cell of an output (see results.flat), built from flat columns."""
    kind = shape[0]
    if kind in ("const", "col"):
        return _display(shape)
    if kind == "rec":
        _, fields, present = shape
        text = pl.concat_str([pl.concat_str([pl.lit(f"{k}="), _display_or_null(f)])
                              for k, f in fields], separator=", ")
        return text if present is None else pl.when(pl.col(present)).then(text).otherwise(
            pl.lit(""))
    _, items = shape
    parts = []
    for present, item in items:
        if name == "notices" and item[0] == "rec":
            fields = dict(item[1])
            cell = pl.concat_str([_display(fields["mark"]), pl.lit(" "),
                                  _display(fields["due"]),
                                  pl.when(_truth(fields["required"])).then(pl.lit(""))
                                  .otherwise(pl.lit(" (not required)"))])
        elif name == "findings" and item[0] == "rec":
            cell = _display(dict(item[1])["code"])
        else:
            cell = _flat_text("", item)
        parts.append(pl.when(pl.col(present)).then(cell))
    if not parts:
        return pl.lit("")
    return pl.concat_str(parts, separator="; ", ignore_nulls=True).fill_null("")


def _display_or_null(shape: Shape) -> pl.Expr:
    if shape[0] == "col":
        return pl.when(pl.col(shape[1]).is_null()).then(pl.lit("null")).otherwise(
            _display(shape))
    return _display(shape)


def _truth(shape: Shape) -> pl.Expr:
    if shape[0] == "const":
        return pl.lit(bool(shape[1]))
    return pl.col(shape[1]).fill_null(False)


def _typed(shape: Shape) -> pl.Expr:
    """A scalar output column for Parquet: dates stay dates, money exact decimals."""
    if shape[0] == "const":
        return pl.lit(shape[1])
    _, name, t, scale = shape
    base = T.strip(t)
    if base in (T.MONEY, T.NUMBER) and scale:
        return _display(shape).replace("", None).str.to_decimal(scale=scale)
    return pl.col(name)


def output_columns(result: ColumnarResult, typed: bool) -> list[pl.Expr]:
    """member_id, account_id and the outputs, as the scalar CSV lays them out."""
    cols: list[pl.Expr] = [pl.col("member_id"), pl.col("account_id")]
    for spec in result.outputs:
        shape = spec.shape
        if spec.name == "payment_window" and shape[0] == "rec":
            fields = dict(shape[1])
            for key, label in (("opens", "window_opens"), ("closes", "window_closes"),
                               ("provision", "window_provision")):
                f = fields[key]
                cols.append((_typed(f) if typed else _display(f)).alias(label))
            continue
        if typed and shape[0] in ("col", "const"):
            cols.append(_typed(shape).alias(spec.name))
        else:
            cols.append(_flat_text(spec.name, shape).alias(spec.name))
    return cols


def write_frame(result: ColumnarResult, out: Path, with_errors: bool = False) -> pl.DataFrame:
    """The determinations of a result as the frame that is written out."""
    frame = result.frame
    typed = out.suffix.lower() == ".parquet"
    cols = output_columns(result, typed)
    if not typed:  # an empty cell, not a quoted empty text (as Python's csv writes it)
        cols = [pl.when(c == "").then(None).otherwise(c).alias(c.meta.output_name())
                for c in cols]
    if with_errors:
        cols.append(pl.col("__error").alias("error"))
        return frame.select(cols)
    return frame.filter(pl.col("__error").is_null()).select(cols)


# -- chunked evaluation --------------------------------------------------------------------

@dataclass
class Summary:
    accounts: int = 0
    determinations: int = 0
    errors: list[RecordError] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0
    portfolio: dict[str, Any] | None = None


class Progress:
    """A one-line progress report on stderr, only when it is a terminal."""

    def __init__(self, stream: TextIO | None = None, total: int = 0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = total
        self.start = time.perf_counter()

    def update(self, done: int, rows: int) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        rate = rows / elapsed if elapsed > 0 else 0.0
        self.stream.write(f"\r  evaluated chunk {done}/{self.total}: {rows:,} accounts, "
                          f"{rate:,.0f}/s, {elapsed:.1f} s ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _scan(path: Path) -> pl.LazyFrame:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pl.scan_csv(path, infer_schema=False)
    if suffix == ".parquet":
        return pl.scan_parquet(path)
    raise FactsError(f"{path}: a snapshot table is .csv or .parquet")


def evaluate_file(policy: Policy, facts: str | os.PathLike[str],
                  fx: str | os.PathLike[str] | None, as_of: _dt.date,
                  params: dict[str, ParamSpec], out: str | os.PathLike[str], *,
                  chunk_rows: int | None = None, progress: Progress | None = None,
                  on_chunk: Callable[[int], None] | None = None) -> Summary:
    """Evaluate a snapshot table (CSV or Parquet) to a CSV or Parquet file of
    determinations, in member-consistent chunks when it is large."""
    started = time.perf_counter()
    src = Path(facts)
    target = Path(out)
    if target.suffix.lower() not in (".csv", ".parquet"):
        raise FactsError(f"{out}: determinations are written to .csv or .parquet")
    try:
        lazy = _scan(src)
        rows = lazy.select(pl.len()).collect().item()
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise FactsError(f"{src}: cannot read the table: {str(exc).splitlines()[0]}"
                         ) from None
    rates = parse_fx_csv(fx) if fx is not None else {}
    size = chunk_rows or DEFAULT_CHUNK_ROWS
    chunks = max(1, -(-rows // size))
    summary = Summary(accounts=rows, chunks=chunks)
    progress = progress or Progress(total=chunks)
    progress.total = chunks
    numbered = lazy.with_row_index("__row")
    ranges: list[tuple[int, int]] | None = None
    first_seen: dict[str, int] = {}
    if chunks > 1:
        # one look at the ids of the whole file: where members begin, and account ids
        # that occur more than once (a duplicate may sit in another member's chunk)
        ids = lazy.select(pl.col("member_id").str.strip_chars().fill_null(""),
                          pl.col("account_id").str.strip_chars()).collect()
        ranges = _member_ranges(ids.get_column("member_id"), rows, size)
        dups = ids.select(pl.col("account_id"), pl.int_range(pl.len()).alias("__row")) \
            .filter(pl.col("account_id").is_duplicated())
        first_seen = {r[0]: r[1] + 2 for r in dups.group_by("account_id").agg(
            pl.col("__row").min()).iter_rows()}
        del ids, dups
    if ranges is not None:
        chunks = len(ranges)
        summary.chunks = chunks
        progress.total = chunks
    parts: list[Path] = []
    portfolio: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="unclaimed-") as tmp:
        done_rows = 0
        for k in range(chunks):
            chunk = numbered
            if ranges is not None:
                start, stop = ranges[k]
                # slice first, so only these rows are read
                chunk = lazy.slice(start, stop - start).with_row_index("__row", offset=start)
            elif chunks > 1:
                chunk = numbered.filter(
                    pl.col("member_id").str.strip_chars().hash(seed=7) % chunks == k)
            try:
                raw = chunk.collect()
            except pl.exceptions.PolarsError as exc:
                raise FactsError(f"{src}: cannot read the table: "
                                 f"{str(exc).splitlines()[0]}") from None
            lines = raw.get_column("__row") + 2
            table = table_from_frame(raw.drop("__row"), rates, str(src),
                                     lines=lines, first_seen=first_seen)
            result = evaluate_frame(policy, table, as_of, params)
            summary.errors.extend(table.errors)
            frame = result.frame
            summary.errors.extend(_errors(frame))
            part = Path(tmp) / f"part-{k:05d}.parquet"
            keyed = write_frame(result, target).with_columns()
            ok = frame.filter(pl.col("__error").is_null())
            keyed = keyed.with_columns(ok.get_column("__member_line").alias("__k1"),
                                       ok.get_column("__line").alias("__k2"))
            keyed.write_parquet(part)
            parts.append(part)
            summary.determinations += keyed.height
            if result.portfolio is not None and chunks == 1:
                portfolio = result.portfolio
            done_rows += raw.height
            del result, frame, raw, table, keyed, ok
            progress.update(k + 1, done_rows)
            if on_chunk is not None:
                on_chunk(k)
        progress.close()
        merged = pl.scan_parquet(parts)
        if ranges is None:  # hash partitions: put the rows back in order
            merged = merged.sort(["__k1", "__k2"])
        merged = merged.drop(["__k1", "__k2"])
        summary.errors.sort(key=lambda e: _error_order(e))
        try:
            if target.suffix.lower() == ".parquet":
                merged.sink_parquet(target)
            else:
                merged.sink_csv(target)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise FactsError(f"{target}: cannot write: {str(exc).splitlines()[0]}") from None
    summary.portfolio = portfolio
    summary.seconds = time.perf_counter() - started
    return summary


def _member_ranges(ids: pl.Series, rows: int, size: int) -> list[tuple[int, int]] | None:
    """Row ranges of about ``size`` rows cut at member boundaries, when each member's rows
    are contiguous in the file (then the chunks, in file order, are already in the
    scalar backend's order); None when they are not."""
    starts = (ids != ids.shift(1)).fill_null(True)
    if int(starts.sum()) != ids.n_unique():
        return None
    start_rows = starts.arg_true().to_list()
    ranges: list[tuple[int, int]] = []
    begin = 0
    target = size
    for r in start_rows:
        if r >= target and r > begin:
            ranges.append((begin, r))
            begin = r
            target = r + size
    ranges.append((begin, rows))
    return ranges


def _errors(frame: pl.DataFrame) -> list[RecordError]:
    bad = frame.filter(pl.col("__error").is_not_null())
    return [RecordError(r["__error"], r["member_id"], r["account_id"],
                        field="date" if r["__late"] is not None else None,
                        location=f"row {r['__line']}")
            for r in bad.iter_rows(named=True)]


def _error_order(e: RecordError) -> tuple[int, str]:
    loc = e.location or ""
    return (int(loc[4:]) if loc.startswith("row ") and loc[4:].isdigit() else 0, loc)


def money(value: int, scale: int) -> Decimal:
    return Decimal(int(value)).scaleb(-scale)


__all__ = ["DEFAULT_CHUNK_ROWS", "Progress", "Summary", "Table", "evaluate_file",
           "output_columns", "write_frame"]
