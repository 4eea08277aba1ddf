"""Whole portfolios: evaluate a snapshot table with the columnar backend, in chunks of
members when it is large, and write the determinations to CSV or Parquet.

Chunks are *member-consistent*: rows are split by a hash of ``member_id``, so a member's
accounts are always evaluated together, and the output is put back in the order the
scalar backend uses (members in order of first appearance, accounts in row order), so the
result does not depend on the chunk size. The CSV written here is the same as
``unclaimed evaluate --format csv`` writes from the scalar backend.

A CSV file is read as :func:`evaluator.columnar.read_table` reads it (its layout first:
where each record starts, which rows have more or fewer cells than the header), so rows
that cannot be matched to columns are record errors here too. When the columnar backend
cannot evaluate the table at all, the file is evaluated with the scalar backend and
written in the same form.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import gc
import mmap
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import polars as pl

from evaluator import atomic
from evaluator.backends.columnar import (
    CsvLayout,
    Table,
    binary_as_text,
    check_columns,
    combine_aggregates,
    csv_layout,
    evaluate_frame,
    facts_from_frame,
    table_from_frame,
)
from evaluator.backends.columnar.render import (
    output_columns,
    parquet_dtype,
    places,
    write_frame,
)
from evaluator.errors import Unsupported
from evaluator.facts import (
    SNAPSHOT_COLUMNS,
    FactsError,
    RaggedRow,
    check_lines,
    check_regular,
    load_facts,
    open_regular,
    parse_fx_csv,
)
from evaluator.facts.model import RecordError
from evaluator.facts.tablecols import named_columns
from evaluator.lang import typesys as T

if TYPE_CHECKING:
    from evaluator.backends.results import EvaluationResult
    from evaluator.lang.document.loader import ParamSpec
    from evaluator.policy import Policy

#: above this many rows a table is evaluated in member-consistent chunks
DEFAULT_CHUNK_ROWS = 1_000_000
#: the smallest chunk the command line takes: each chunk costs tens of milliseconds of
#: fixed work (compiling and evaluating the policy's stages), so 10,000-row chunks keep
#: that under about a third of the time while holding little memory
MIN_CHUNK_ROWS = 10_000
#: the largest chunk size asked for that is not an error (a billion rows)
MAX_CHUNK_ROWS = 1_000_000_000
#: rows per Parquet row group of the determinations, whatever the chunks (so the bytes
#: do not depend on the chunk size; polars' own default for ``write_parquet``)
PARQUET_ROW_GROUP = 512 * 512


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
    """A one-line progress report on stderr, when it is a terminal or ``force`` asks."""

    #: what one step is (the Dask engine's progress counts partitions)
    label = "evaluated chunk"

    def __init__(self, stream: TextIO | None = None, total: int = 0,
                 force: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = force or bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = total
        self.start = time.perf_counter()

    def update(self, done: int, rows: int) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        rate = rows / elapsed if elapsed > 0 else 0.0
        self.stream.write(f"\r  {self.label} {done}/{self.total}: {rows:,} accounts, "
                          f"{rate:,.0f}/s, {elapsed:.1f} s ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class _Source:
    """The data records of a snapshot file, read lazily: polars reads the cells (every
    column as text for CSV); ``lines`` and ``ragged`` say, per record, the line it starts
    on and whether its cells could not be matched to the header's columns."""

    lazy: pl.LazyFrame
    rows: int
    lines: np.ndarray[Any, Any]
    ragged: np.ndarray[Any, Any]
    ragged_rows: list[RaggedRow]
    #: a CSV header's names (its declared columns are renamed from their position)
    names: tuple[str, ...] = ()


def _open(path: Path) -> _Source:
    suffix = path.suffix.lower()
    folder = suffix == ".parquet" and path.is_dir()  # a Parquet dataset (hive folders too)
    if suffix in (".csv", ".parquet") and not folder:
        check_regular(path, "facts file")
    try:
        if suffix == ".parquet" or folder:
            lazy = _parquet_columns(pl.scan_parquet(path, hive_partitioning=folder), path)
            rows = int(lazy.select(pl.len()).collect().item())
            return _Source(lazy, rows, np.arange(2, rows + 2, dtype=np.int64),
                           np.zeros(rows, dtype=bool), [])
        if suffix != ".csv":
            raise FactsError(f"{path}: a snapshot table is .csv or .parquet")
        layout = _csv_layout(path)
        if layout.frame is None:
            lazy = pl.scan_csv(path, has_header=True, skip_lines=layout.skip_lines,
                               new_columns=layout.columns, infer_schema=False,
                               truncate_ragged_lines=True)
            try:
                rows = int(lazy.select(pl.len()).collect().item())
                names = lazy.collect_schema().names()
            except pl.exceptions.PolarsError:
                rows, names = -1, []
            if rows == layout.lines.size and names == layout.columns:
                return _Source(lazy, rows, layout.lines, layout.ragged, layout.ragged_rows,
                               tuple(layout.header.names))
            # polars sees other records than the layout: read the rows the exact way
            layout = csv_layout(path.read_bytes(), str(path), exact=True)
        assert layout.frame is not None
        return _Source(layout.frame.lazy(), layout.frame.height, layout.lines,
                       layout.ragged, layout.ragged_rows, tuple(layout.header.names))
    except (OSError, pl.exceptions.PolarsError) as exc:
        text = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise FactsError(f"{path}: cannot read the table: {text}") from None


def _parquet_columns(lazy: pl.LazyFrame, path: Path) -> pl.LazyFrame:
    """A Parquet scan whose snapshot columns' types are checked (see
    :func:`~evaluator.columnar.check_columns`), binary ones read as text."""
    schema = lazy.collect_schema()
    check_columns(schema, str(path))
    binary = [c for c in schema if c in (*SNAPSHOT_COLUMNS, "kind") and schema[c] == pl.Binary]
    if binary:
        values = lazy.select(binary).collect()
        for c in binary:  # a FactsError naming the first row that is not UTF-8
            binary_as_text(values.get_column(c), str(path))
        lazy = lazy.with_columns([pl.col(c).cast(pl.String) for c in binary])
    return lazy


def _csv_layout(path: Path) -> CsvLayout:
    """The layout of a CSV file, scanned through a memory map (the file is not copied)."""
    check_lines(path, "facts file")
    with open_regular(path, "facts file") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return csv_layout(b"", str(path))
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    message = None
    try:
        layout = csv_layout(mapped, str(path))
    except FactsError as exc:  # its traceback holds views of the map: keep the text only
        message = str(exc)
    gc.collect()
    with contextlib.suppress(BufferError):  # a view still alive: closed when it goes
        mapped.close()
    if message is not None:
        raise FactsError(message)
    return layout


def evaluate_file(policy: Policy, facts: str | os.PathLike[str],
                  fx: str | os.PathLike[str] | None, as_of: _dt.date,
                  params: dict[str, ParamSpec], out: str | os.PathLike[str], *,
                  chunk_rows: int | None = None, progress: Progress | None = None,
                  on_chunk: Callable[[int], None] | None = None,
                  fallback: bool = True, scalar: bool = False,
                  outputs: atomic.Outputs | None = None) -> Summary:
    """Evaluate a snapshot table (CSV or Parquet) to a CSV or Parquet file of
    determinations, in member-consistent chunks when it is large.

    The file appears complete under its name or not at all (see :mod:`evaluator.atomic`):
    with ``outputs``, it is staged there (as its main file unless that is another) and
    replaced when the caller commits them, together with its side files.

    When the columnar backend cannot evaluate the policy or the table (for example
    balances too large or too fine for its exact integers), the whole file is evaluated
    with the scalar backend instead, unless ``fallback`` is false (then
    :class:`~evaluator.columnar.Unsupported` is raised). ``scalar`` asks for the scalar
    backend from the start (``--backend scalar``)."""
    started = time.perf_counter()
    src = Path(facts)
    target = Path(out)
    if target.suffix.lower() not in (".csv", ".parquet"):
        raise FactsError(f"{out}: determinations are written to .csv or .parquet")
    check_chunk_rows(chunk_rows)
    with atomic.Outputs() as own:
        staged = outputs if outputs is not None else own
        try:
            tmp = staged.temporary(target)
        except StopIteration:
            tmp = staged.add(target)
        source = _open(src)
        rows = source.rows
        rates = parse_fx_csv(fx) if fx is not None else {}
        summary: Summary | None = None
        if not scalar:
            try:
                summary = _evaluate_chunks(policy, src, source, rates, as_of, params,
                                           target, tmp, chunk_rows=chunk_rows,
                                           progress=progress, on_chunk=on_chunk)
            except Unsupported:
                if not fallback:
                    raise
                if progress is not None:
                    progress.close()
        if summary is None:
            summary = _evaluate_scalar(policy, src, source, rates, as_of, params, target,
                                       tmp)
        if outputs is None:
            own.commit()
    summary.accounts = rows
    summary.seconds = time.perf_counter() - started
    return summary


def _evaluate_chunks(policy: Policy, src: Path, source: _Source,
                     rates: dict[tuple[str, _dt.date], Decimal], as_of: _dt.date,
                     params: dict[str, ParamSpec], target: Path, tmp_out: Path, *,
                     chunk_rows: int | None, progress: Progress | None,
                     on_chunk: Callable[[int], None] | None) -> Summary:
    lazy, rows = source.lazy, source.rows
    size = chunk_rows or DEFAULT_CHUNK_ROWS
    chunks = max(1, -(-rows // size))
    summary = Summary(accounts=rows, chunks=chunks)
    summary.errors.extend(r.error() for r in source.ragged_rows)
    progress = progress or Progress(total=chunks)
    progress.total = chunks
    numbered = lazy.with_row_index("__row")
    ranges: list[tuple[int, int]] | None = None
    first_seen: dict[str, int] = {}
    if chunks > 1:
        # one look at the ids of the whole file: where members begin, and account ids
        # that occur more than once (a duplicate may sit in another member's chunk);
        # rows whose cells cannot be matched to columns are not records of any member
        try:
            ids = lazy.select(pl.col("member_id").str.strip_chars().fill_null(""),
                              pl.col("account_id").str.strip_chars()).collect()
        except pl.exceptions.PolarsError as exc:
            raise FactsError(f"{src}: cannot read the table: "
                             f"{str(exc).splitlines()[0]}") from None
        ids = ids.with_row_index("__row")
        if source.ragged.any():
            ids = ids.filter(pl.Series(~source.ragged))
        ranges = _member_ranges(ids, rows, size)
        dups = ids.filter(pl.col("account_id").is_not_null() & (pl.col("account_id") != "")
                          & pl.col("account_id").is_duplicated())
        first_seen = {r[0]: int(source.lines[r[1]]) for r in dups.group_by("account_id").agg(
            pl.col("__row").min()).iter_rows()}
        del ids, dups
    if ranges is not None:
        chunks = len(ranges)
        summary.chunks = chunks
        progress.total = chunks
    parts: list[Path] = []
    direct: pl.DataFrame | None = None
    # the portfolio outputs: aggregates combined over the chunks, then computed once
    aggregates: list[Any] | None = None
    finish: Callable[[list[Any]], dict[str, Any]] | None = None
    # the spill folder: named with the process id, removed on every exit path, and
    # removed by the next run when this process is killed outright
    with atomic.temporary_folder(label="unclaimed-chunks") as tmp:
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
            index = raw.get_column("__row").to_numpy()
            keep = ~source.ragged[index]
            lines = source.lines[index]
            raw = raw.drop("__row")
            if not keep.all():
                raw = raw.filter(pl.Series(keep))
                lines = lines[keep]
            if source.names:
                raw = named_columns(raw, source.names)
            table = table_from_frame(raw, rates, str(src),
                                     lines=pl.Series("__line", lines, pl.UInt32),
                                     first_seen=first_seen, decl=policy.facts_decl)
            result = evaluate_frame(policy, table, as_of, params)
            summary.errors.extend(table.errors)
            frame = result.frame
            summary.errors.extend(_errors(frame))
            part = Path(tmp) / f"part-{k:05d}.parquet"
            keyed = write_frame(result, target).with_columns()
            ok = frame.filter(pl.col("__error").is_null())
            keyed = keyed.with_columns(ok.get_column("__member_line").alias("__k1"),
                                       ok.get_column("__line").alias("__k2"))
            if chunks == 1 and target.suffix.lower() == ".csv":
                # one chunk to CSV: written at once, in the order the merge below gives,
                # without the round trip through a temporary Parquet part
                direct = keyed.sort(["__k1", "__k2"]).drop(["__k1", "__k2"])
            else:
                try:
                    keyed.write_parquet(part)
                except (OSError, pl.exceptions.PolarsError) as exc:
                    raise atomic.WriteError(
                        tmp, exc if isinstance(exc, OSError) else _first_line(exc),
                        "cannot write the chunks' temporary files in") from None
                parts.append(part)
            summary.determinations += keyed.height
            if result.finish is not None:
                finish = result.finish
                aggregates = result.aggregates if aggregates is None else combine_aggregates(
                    result.aggregate_kinds, aggregates, result.aggregates)
            done_rows += raw.height
            del result, frame, raw, table, keyed, ok
            progress.update(k + 1, done_rows)
            if on_chunk is not None:
                on_chunk(k)
        progress.close()
        summary.errors.sort(key=lambda e: _error_order(e))
        if direct is not None:
            _write(target, tmp_out, direct.write_parquet, direct.write_csv)
        else:
            _merge_parts(parts, target, tmp_out, Path(tmp), sorted_=ranges is None)
    if finish is not None and aggregates is not None:
        summary.portfolio = finish(aggregates)
    return summary


def _merge_parts(parts: list[Path], target: Path, tmp_out: Path, folder: Path,
                 sorted_: bool) -> None:
    """The chunks' parts written to the target's temporary file, in the scalar order
    (hash partitions, ``sorted_``, are put back in order)."""
    merged = pl.scan_parquet(parts)
    if sorted_:
        merged = merged.sort(["__k1", "__k2"])
    merged = merged.drop(["__k1", "__k2"])
    _write(target, tmp_out, lambda p: _sink_parquet(merged, p, folder, sorted_=sorted_),
           merged.sink_csv)


def _member_ranges(ids: pl.DataFrame, rows: int, size: int) -> list[tuple[int, int]] | None:
    """Row ranges of about ``size`` rows cut at member boundaries, when each member's rows
    are contiguous in the file (then the chunks, in file order, are already in the
    scalar backend's order); None when they are not. ``ids`` has the member id and the
    row (``__row``) of each record; rows without a member id are in no member."""
    members = ids.filter(pl.col("member_id") != "")
    mid = members.get_column("member_id")
    starts = (mid != mid.shift(1)).fill_null(True)
    if int(starts.sum()) != mid.n_unique():
        return None
    start_rows = members.get_column("__row").filter(starts).to_list()
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


# -- the scalar backend, when the columnar one cannot evaluate a file -------------------------

def _evaluate_scalar(policy: Policy, src: Path, source: _Source,
                     rates: dict[tuple[str, _dt.date], Decimal], as_of: _dt.date,
                     params: dict[str, ParamSpec], target: Path,
                     tmp_out: Path | None = None) -> Summary:
    """The whole file through the scalar backend, written as the columnar path writes it
    (to ``tmp_out``, the target's temporary file, when given)."""
    if src.suffix.lower() == ".csv":
        # the scalar reader, which the columnar one agrees with
        facts = load_facts(src, policy=policy)
    else:
        raw = source.lazy.collect().with_columns(
            pl.Series("__line", source.lines, pl.UInt32))
        facts = facts_from_frame(raw, {}, str(src), decl=policy.facts_decl)
    facts = dataclasses.replace(facts, fx_rates={**facts.fx_rates, **rates})
    result = _with_params(policy, params).evaluate(facts, as_of=as_of, backend="scalar")
    frame = scalar_frame(policy, result, typed=target.suffix.lower() == ".parquet")
    _write(target, tmp_out or target, lambda p: frame.write_parquet(
        p, row_group_size=PARQUET_ROW_GROUP), frame.write_csv)
    return Summary(accounts=source.rows, determinations=len(result.accounts),
                   errors=list(result.errors), chunks=1, portfolio=result.portfolio)


def _sink_parquet(merged: pl.LazyFrame, path: Path, folder: Path, sorted_: bool) -> None:
    """Write the chunks' rows to one Parquet file whose bytes do not depend on the chunks.

    Row groups of a fixed size are not enough: polars encodes list columns (notices,
    findings) according to the batches the rows arrive in, which follow the chunks. So
    the rows are first cut again into parts of exactly one row group each, in ``folder``,
    and the file is written from those. A sorted frame is written once first, so that
    cutting it does not sort it again for every part."""
    if sorted_:
        whole = folder / "sorted.parquet"
        merged.sink_parquet(whole)
        merged = pl.scan_parquet(whole)
    rows = int(merged.select(pl.len()).collect().item())
    if rows == 0:
        merged.collect().write_parquet(path, row_group_size=PARQUET_ROW_GROUP)
        return
    groups = []
    for k, start in enumerate(range(0, rows, PARQUET_ROW_GROUP)):
        group = folder / f"group-{k:06d}.parquet"
        merged.slice(start, PARQUET_ROW_GROUP).collect().rechunk().write_parquet(group)
        groups.append(group)
    pl.scan_parquet(groups).sink_parquet(path, row_group_size=PARQUET_ROW_GROUP)


def _write(target: Path, path: Path, parquet: Callable[[Path], object],
           csv: Callable[[Path], object]) -> None:
    """Write determinations meant for ``target`` to ``path`` (its temporary file) with the
    writer its suffix calls for."""
    try:
        (parquet if target.suffix.lower() == ".parquet" else csv)(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise atomic.WriteError(target, exc if isinstance(exc, OSError)
                                else _first_line(exc)) from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def check_chunk_rows(chunk_rows: int | None) -> None:
    """A chunk size is a whole number of rows from 1 to :data:`MAX_CHUNK_ROWS`."""
    if chunk_rows is None:
        return
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) \
            or not 1 <= chunk_rows <= MAX_CHUNK_ROWS:
        raise ValueError(f"--chunk-rows must be a whole number of rows from 1 to "
                         f"{MAX_CHUNK_ROWS:,}, not {chunk_rows}")


def _with_params(policy: Policy, params: dict[str, ParamSpec]) -> Policy:
    """The policy, evaluating with these (already resolved) parameters."""
    from evaluator.policy import Policy as _Policy

    class Resolved(_Policy):
        def run_params(self, overrides: Mapping[str, Any] | None
                       ) -> tuple[dict[str, ParamSpec], list[Any]]:
            return dict(params), []

    fixed = Resolved.__new__(Resolved)
    fixed.__dict__.update(policy.__dict__)
    return fixed


def scalar_frame(policy: Policy, result: EvaluationResult, typed: bool) -> pl.DataFrame:
    """The scalar backend's determinations as the frame :func:`write_frame` gives for the
    columnar backend: the same columns, dates and exact decimals typed for Parquet, and
    for CSV the cells of ``unclaimed evaluate --format csv``."""
    from evaluator.backends.results import flat
    from evaluator.lang.values import display

    accounts = result.accounts
    columns: list[pl.Series] = [
        pl.Series("member_id", [a.member_id for a in accounts], pl.String),
        pl.Series("account_id", [a.account_id for a in accounts], pl.String)]

    def text(name: str, cells: list[str]) -> pl.Series:
        return pl.Series(name, cells if typed else [c or None for c in cells], pl.String)

    for shown, definition in policy.outputs("account"):
        t = T.strip(policy.checked.defs[definition].type)
        values = [a.values.get(shown) for a in accounts]
        if shown == "payment_window" and isinstance(t, T.RecordT):
            windows = [v or {} for v in values]
            for key, label in (("opens", "window_opens"), ("closes", "window_closes"),
                               ("provision", "window_provision")):
                got = [w.get(key) for w in windows]
                if typed and key != "provision":
                    columns.append(pl.Series(label, got, pl.Date))
                elif key == "provision":
                    columns.append(text(label, ["" if g is None else str(g) for g in got]))
                else:
                    columns.append(text(label, [display(g) if g is not None else ""
                                                for g in got]))
            continue
        if not typed or parquet_dtype(t) is None:
            columns.append(text(shown, [flat(shown, v) for v in values]))
        elif isinstance(t, T.RecordT | T.ListT):
            converted = [_parquet_value(v, t) for v in values]
            columns.append(pl.Series(shown, converted, parquet_dtype(t)))
        elif t == T.DATE:
            columns.append(pl.Series(shown, values, pl.Date))
        elif t in (T.MONEY, T.NUMBER):
            most = max([places(v) for v in values if v is not None] or [0])
            scale = max(2, most) if t == T.MONEY else most
            if scale:
                quantum = Decimal(1).scaleb(-scale)
                columns.append(pl.Series(shown, [None if v is None else Decimal(v).quantize(
                    quantum) for v in values], pl.Decimal(38, scale)))
            else:
                columns.append(pl.Series(shown, [None if v is None else int(v)
                                                 for v in values], pl.Int64))
        elif t == T.INT:
            columns.append(pl.Series(shown, values, pl.Int64))
        elif t == T.BOOL:
            columns.append(pl.Series(shown, values, pl.Boolean))
        elif t == T.TEXT:
            columns.append(pl.Series(shown, values, pl.String))
        elif t == T.MONTH_DAY:
            columns.append(pl.Series(shown, [None if v is None else v.month * 100 + v.day
                                             for v in values], pl.Int32))
        else:
            columns.append(text(shown, [flat(shown, v) for v in values]))
    return pl.DataFrame(columns)


def _parquet_value(value: Any, t: T.Type) -> Any:
    """A scalar-backend value as :func:`parquet_dtype` types it (dates stay dates, money
    exact to the cent, a day of the year as MMDD)."""
    if value is None:
        return None
    base = T.strip(t)
    if isinstance(base, T.ListT):
        return [_parquet_value(v, base.elem) for v in value]
    if isinstance(base, T.RecordT):
        return {k: _parquet_value(value.get(k), ft) for k, ft in base.fields}
    if base == T.MONTH_DAY:
        return value.month * 100 + value.day
    if base == T.MONEY:
        return Decimal(value).quantize(Decimal("0.01")) if places(value) <= 2 \
            else Decimal(value)
    if base == T.NUMBER:
        return Decimal(value)
    return value


def _errors(frame: pl.DataFrame) -> list[RecordError]:
    bad = frame.filter(pl.col("__error").is_not_null()).select(
        "member_id", "account_id", "__error", "__late", "__line")
    return [RecordError(r["__error"], r["member_id"], r["account_id"],
                        field="date" if r["__late"] is not None else None,
                        location=f"row {r['__line']}")
            for r in bad.iter_rows(named=True)]


def _error_order(e: RecordError) -> tuple[int, str]:
    loc = e.location or ""
    return (int(loc[4:]) if loc.startswith("row ") and loc[4:].isdigit() else 0, loc)


def money(value: int, scale: int) -> Decimal:
    return Decimal(int(value)).scaleb(-scale)


# the names the Dask engine (evaluator.apps.distributed) evaluates its partitions with
open_source = _open
record_errors = _errors
error_order = _error_order


__all__ = ["DEFAULT_CHUNK_ROWS", "MAX_CHUNK_ROWS", "MIN_CHUNK_ROWS", "Progress", "Summary", "Table", "evaluate_file",
           "output_columns", "write_frame"]
