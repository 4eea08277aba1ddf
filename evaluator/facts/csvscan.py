"""The layout of a CSV snapshot: where each record starts and how many cells it has,
found with NumPy over the bytes (or, for text the scan cannot vouch for, with the csv
module as the scalar loader reads it), so that polars can read the rows fast and every
line number and ragged row is still the scalar loader's."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from evaluator.facts import (
    SNAPSHOT_CELLS,
    SNAPSHOT_COLUMNS,
    CsvHeader,
    FactsError,
    RaggedRow,
    csv_header,
    csv_table,
)

# -- the layout of a CSV text ---------------------------------------------------------------
#
# Polars reads CSV fast, but pads a row that has too few cells, cuts (or refuses) one that
# has too many, and numbers records rather than lines. The layout says, for every record,
# where it starts and how many cells it has: found with NumPy over the bytes (quotes,
# commas and line breaks), it costs a fraction of the read. Text the vectorised scan cannot
# vouch for (a quote in the middle of a cell, a lone carriage return, a quote never
# closed) is read record by record with the csv module instead, as the scalar loader does.

_BLOCK = 1 << 24
_BOM = b"\xef\xbb\xbf"
_NL, _CR, _COMMA, _QUOTE = 10, 13, 44, 34


@dataclass
class CsvLayout:
    """The records of a CSV snapshot after its header."""

    header: CsvHeader
    #: physical lines before the header
    skip_lines: int
    #: polars column names, by position: the wanted columns by name, others `#i`
    columns: list[str]
    #: per data record: the line it starts on, and whether its cells are not as many as
    #: the header's
    lines: np.ndarray[Any, Any]
    ragged: np.ndarray[Any, Any]
    #: the ragged records that are not blank (record errors), in file order
    ragged_rows: list[RaggedRow]
    #: the rows, when the layout was found by reading them (the exact way)
    frame: pl.DataFrame | None = None


def csv_layout(data: Any, source: str, *, exact: bool = False,
               required: Sequence[str] = SNAPSHOT_COLUMNS) -> CsvLayout:
    """The layout of a CSV snapshot (``bytes`` or a buffer such as an mmap) whose header
    has the ``required`` columns; raises :class:`FactsError` when the text as a whole is
    unusable (no header, a quote never closed, not UTF-8)."""
    if not exact:
        scanned = _scan_layout(data, source, required)
        if scanned is not None:
            return scanned
    return _exact_layout(bytes(data), source, required)


def _columns(header: CsvHeader) -> list[str]:
    return [n if n in SNAPSHOT_CELLS else f"#{i}" for i, n in enumerate(header.names)]


def _exact_layout(data: bytes, source: str,
                  required: Sequence[str] = SNAPSHOT_COLUMNS) -> CsvLayout:
    """The layout and rows of a CSV text read with the csv module (the scalar reader)."""
    text = _decode_csv(data, source)
    header, rows = csv_table(text, source, required, ("kind",))
    columns = _columns(header)
    width = header.width
    cells: list[list[str | None]] = [[] for _ in range(width)]
    lines: list[int] = []
    ragged_rows: list[RaggedRow] = []
    for line, row in rows:
        if isinstance(row, RaggedRow):
            ragged_rows.append(row)
            continue
        lines.append(line)
        for i in range(width):
            cells[i].append(row[i])
    frame = pl.DataFrame({c: pl.Series(c, v, pl.String) for c, v in zip(columns, cells,
                                                                           strict=True)})
    return CsvLayout(header, header.line - 1, columns, np.array(lines, dtype=np.int64),
                     np.zeros(len(lines), dtype=bool), ragged_rows, frame)


def _decode_csv(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FactsError(f"{source}: not UTF-8 text (invalid byte at offset {e.start})"
                         ) from None


def _scan_layout(buf: Any, source: str,
                 required: Sequence[str] = SNAPSHOT_COLUMNS) -> CsvLayout | None:
    """The layout by a vectorised scan of the bytes; None when the text needs the exact
    reader."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    n = int(arr.size)
    bom = 3 if bytes(arr[:3]) == _BOM else 0
    quoted = buf.find(b'"') >= 0
    returns = buf.find(b"\r") >= 0
    ends: list[np.ndarray[Any, Any]] = []
    commas_before: list[np.ndarray[Any, Any]] = []
    breaks: list[np.ndarray[Any, Any]] = []
    commas = 0
    parity = 0
    for s in range(0, n, _BLOCK):
        a = arr[s:s + _BLOCK]
        if returns:  # \r ends a line for the csv module, not for polars: only \r\n here
            cr = np.flatnonzero(a == _CR)
            after = cr + (s + 1)
            if cr.size and (after[-1] >= n or bool(np.any(arr[after] != _NL))):
                return None
        if not quoted:
            # line breaks and commas in one pass: the commas before a line break are
            # its place among them minus the line breaks before it
            marks = np.flatnonzero((a == _NL) | (a == _COMMA))
            at = np.flatnonzero(a[marks] == _NL)
            ends.append(marks[at] + s)
            commas_before.append(at - np.arange(at.size) + commas)
            commas += int(marks.size - at.size)
            continue
        # quotes: a byte is inside a quoted cell when an odd number of quotes precede it
        nl = np.flatnonzero(a == _NL)
        q = a == _QUOTE
        par = np.bitwise_xor.accumulate(q.view(np.uint8))
        if parity:
            par ^= 1
        qp = np.flatnonzero(q)
        if qp.size and not _quotes_at_cell_edges(arr, qp + s, par[qp], bom):
            return None
        parity = int(par[-1])
        outside = par == 0
        breaks.append(nl + s)
        nl = nl[outside[nl]]
        cm = np.flatnonzero((a == _COMMA) & outside)
        ends.append(nl + s)
        commas_before.append(np.searchsorted(cm, nl) + commas)
        commas += int(cm.size)
    if parity:
        return None  # a quote never closed: the exact reader says where it opened
    end = np.concatenate(ends) if ends else np.zeros(0, dtype=np.int64)
    starts = np.concatenate((np.zeros(1, dtype=np.int64), end + 1))
    if starts[-1] >= n:
        starts = starts[:-1]
    records = int(starts.size)
    if records and int(np.max(np.append(end, n)[:records] - starts)) > csv.field_size_limit():
        return None  # a cell may be longer than the csv module reads: let it say so
    before = np.concatenate((*commas_before, np.array([commas], dtype=np.int64)))
    counts = np.diff(before, prepend=0)[:records] + 1
    if quoted:
        all_breaks = np.concatenate(breaks) if breaks else np.zeros(0, dtype=np.int64)
        lines = np.searchsorted(all_breaks, starts) + 1
    else:
        lines = np.arange(1, records + 1, dtype=np.int64)

    def record(i: int) -> tuple[int, list[str]]:
        stop = int(end[i]) if i < end.size else n
        chunk = bytes(buf[int(starts[i]):stop])
        if i == 0 and chunk.startswith(_BOM):
            chunk = chunk[3:]
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as e:
            raise FactsError(f"{source}: not UTF-8 text (invalid byte at offset "
                             f"{int(starts[i]) + e.start + (3 if i == 0 and bom else 0)})"
                             ) from None
        rows = list(csv.reader(io.StringIO(text, newline="")))
        return int(lines[i]), (rows[0] if rows else [])

    def numbered() -> Any:
        for i in range(records):
            yield record(i)

    it = numbered()
    header = csv_header(it, source, required, ("kind",))
    first = next(i for i in range(records) if int(lines[i]) == header.line)
    body = slice(first + 1, records)
    body_lines = lines[body].astype(np.int64)
    ragged = counts[body] != header.width
    ragged_rows: list[RaggedRow] = []
    for i in np.flatnonzero(ragged):
        line, cells = record(first + 1 + int(i))
        if any(c.strip() for c in cells):
            ragged_rows.append(header.ragged(line, cells))
    return CsvLayout(header, header.line - 1, _columns(header), body_lines, ragged,
                     ragged_rows)


def _quotes_at_cell_edges(arr: np.ndarray[Any, Any], pos: np.ndarray[Any, Any],
                          parity_after: np.ndarray[Any, Any], bom: int) -> bool:
    """Whether every quote opens a cell (after a comma, a line break or the start), closes
    one (before a comma, a line break or the end) or is half of a doubled quote inside
    one: then polars and the csv module read the cells alike."""
    n = arr.size
    opening = parity_after == 1
    prev = arr[np.maximum(pos - 1, 0)]
    nxt = arr[np.minimum(pos + 1, n - 1)]
    opens_ok = (prev == _COMMA) | (prev == _NL) | (prev == _QUOTE) | (pos == bom)
    closes_ok = ((nxt == _COMMA) | (nxt == _NL) | (nxt == _CR) | (nxt == _QUOTE)
                 | (pos == n - 1))
    return bool(np.all(np.where(opening, opens_ok, closes_ok)))


def read_csv_rows(source: Any, layout: CsvLayout) -> pl.DataFrame | None:
    """The data records with polars, every column as text; None when polars does not see
    the records the layout does."""
    try:
        raw = pl.read_csv(source, has_header=True, skip_lines=layout.skip_lines,
                          new_columns=layout.columns, infer_schema=False,
                          truncate_ragged_lines=True)
    except pl.exceptions.PolarsError:
        return None
    if raw.height != layout.lines.size or raw.columns != layout.columns:
        return None
    return raw
