"""The events table of a portfolio dataset as text: its header and its rows' cells, each
column ``c:NAME`` as the file has it (not yet stripped) with the row's ``__line``, and the
rows whose cells do not match the header, read from a CSV file (by the vector scan where
it can vouch for the file, else by the scalar reader), a Parquet file or a hive folder
(or given, already filtered, as one partition's rows): what
:mod:`evaluator.facts.eventtable` checks and reads the events from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from evaluator.facts.csvscan import csv_layout, read_csv_rows
from evaluator.facts.dataset import (
    EVENT_COLUMNS,
    check_event_header,
    event_rows,
    open_events_csv,
    read_frame,
)
from evaluator.facts.fields import FactsError

__all__ = ["EventText", "cell", "event_text"]


def cell(name: str) -> str:
    """The frame column of the events table's column ``name`` (internal ones start __)."""
    return f"c:{name}"


@dataclass
class EventText:
    """The events table as text: its header, its rows' cells (columns ``c:NAME``, not yet
    stripped) with ``__line``, and the rows whose cells do not match the header."""

    header: list[str]
    frame: pl.DataFrame
    ragged: list[tuple[int, str]] = field(default_factory=list)
    #: a CSV table skips rows whose cells are all blank; a Parquet one does not
    csv: bool = True


# -- the events table as text ---------------------------------------------------------------

def event_text(source: str, rows: pl.DataFrame | None = None) -> EventText:
    path = Path(source)
    if rows is None and path.suffix.lower() == ".csv" and not path.is_dir():
        return _csv_text(source)
    frame = rows if rows is not None else read_frame(source, "events file")[0]
    lines = frame.get_column("__line") if "__line" in frame.columns else None
    frame = frame.drop("__line") if lines is not None else frame
    header = list(frame.columns)
    check_event_header(header, source)
    floats = [c for c, t in frame.schema.items() if t.is_float()]
    if floats:
        raise FactsError(f"{source}: column(s) {', '.join(floats)} hold binary floating-point "
                         "numbers, which cannot say an exact amount: write them as decimals "
                         "or text")
    cols = [_as_text(frame.get_column(c)).alias(cell(c)) for c in header]
    text = pl.DataFrame(cols, height=frame.height)
    text = text.with_row_index("__line", offset=2) if lines is None else \
        text.with_columns(lines.alias("__line"))
    return EventText(header, text.with_columns(pl.col("__line").cast(pl.UInt32)), csv=False)


def _as_text(values: pl.Series) -> pl.Series:
    """A Parquet column as the text ``str(value)`` gives: natively where polars writes
    the same text, else value by value."""
    dtype = values.dtype
    if dtype == pl.String:
        return values
    if dtype == pl.Null or dtype == pl.Date or dtype.is_integer() or isinstance(
            dtype, pl.Categorical | pl.Enum):
        return values.cast(pl.String)
    return pl.Series(values.name, [None if v is None else str(v) for v in values.to_list()],
                     pl.String)


def _csv_text(source: str) -> EventText:
    data, _, header = open_events_csv(source)
    if all(header):
        try:
            layout = csv_layout(data, source, required=EVENT_COLUMNS)
        except FactsError:  # the csv module reads it otherwise: let the scalar reader
            layout = None
        if layout is not None and layout.frame is None and layout.header.line == 1 \
                and list(layout.header.names) == header:
            raw = read_csv_rows(data, layout)
            if raw is not None:
                raw = raw.rename(dict(zip(raw.columns, map(cell, header), strict=True)))
                raw = raw.with_columns(pl.Series("__line", layout.lines, pl.UInt32))
                raw = raw.filter(pl.Series(~layout.ragged))
                ragged = [(r.line, f"{r.cells} cells where the header has {r.width}")
                          for r in layout.ragged_rows]
                return EventText(header, raw, ragged)
    return _scalar_text(source, header)


def _scalar_text(source: str, header: list[str]) -> EventText:
    """A CSV events table the vector scan cannot vouch for, read by the scalar reader."""
    lines: list[int] = []
    cells: list[list[str | None]] = [[] for _ in header]
    ragged: list[tuple[int, str]] = []
    for line, row in event_rows(source):
        if "" in row:  # the scalar reader's mark of a row that does not match the header
            ragged.append((line, f"{row['']}"))
            continue
        lines.append(line)
        for i, name in enumerate(header):
            cells[i].append(row.get(name))
    frame = pl.DataFrame([pl.Series(cell(n), v, pl.String) for n, v in zip(header, cells,
                                                                          strict=True)])
    frame = frame.with_columns(pl.Series("__line", lines, pl.UInt32))
    return EventText(header, frame, ragged)
