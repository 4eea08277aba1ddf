"""Reading CSV text into records: line numbers as :mod:`csv` counts them, unterminated
quotes named by the line they open on, header checks, blank rows skipped, and rows of the
wrong width as :class:`RaggedRow` record errors."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter

from evaluator.facts.fields import FactsError
from evaluator.facts.model import WHOLE_RECORD, RecordError


@dataclass(frozen=True)
class RaggedRow:
    """A data row whose number of cells differs from the header's: its cells cannot be
    matched to columns (a missing cell, an extra one, an unquoted comma), so the row as a
    whole is a record error. The ids are the cells in the id columns' places, if any."""

    line: int
    cells: int
    width: int
    member_id: str | None
    account_id: str | None

    @property
    def message(self) -> str:
        why = ("a cell is missing" if self.cells < self.width else
               "an extra cell, or an unquoted comma in a value such as `1,234.56`")
        return (f"the row has {self.cells} cells but the header has {self.width} columns "
                f"({why}): its cells cannot be matched to columns")

    def error(self) -> RecordError:
        return RecordError(self.message, self.member_id, self.account_id, field=WHOLE_RECORD,
                           location=f"row {self.line}")


@dataclass(frozen=True)
class CsvHeader:
    """The header of a CSV table: its cells (stripped), where it is, and the position of
    each wanted column (-1 for an absent optional one)."""

    names: tuple[str, ...]
    line: int
    positions: tuple[int, ...]

    @property
    def width(self) -> int:
        return len(self.names)

    def ragged(self, line: int, cells: Sequence[str]) -> RaggedRow:
        def cell(name: str) -> str | None:
            if name not in self.names:
                return None
            i = self.names.index(name)
            return (cells[i].strip() or None) if i < len(cells) else None

        return RaggedRow(line, len(cells), self.width, cell("member_id"), cell("account_id"))


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_QUOTES = re.compile(r'"+')


def csv_rows(text: str, source: str) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, cells) for every record of a CSV text, blank ones
    included (an empty line has no cells). Lines are counted as :mod:`csv` reads them
    (``\\r\\n``, ``\\r`` or ``\\n`` ends a line).

    A quote that is never closed swallows the rest of the text into one cell: that is a
    :class:`FactsError` naming the line where the quote opened.
    """
    ended = False

    def lines() -> Iterator[str]:
        nonlocal ended
        yield from io.StringIO(text, newline="")
        ended = True

    reader = csv.reader(lines())
    start = 1
    try:
        for cells in reader:
            if ended:  # the reader only ends a record at the end of the text inside quotes
                raise FactsError(_unterminated(text, source, start))
            yield start, cells
            start = reader.line_num + 1
    except csv.Error as e:
        # a cell over the csv module's size limit is most likely a quote never closed
        offset = _line_offset(text, start)
        if text.count('"', offset) % 2:
            raise FactsError(_unterminated(text, source, start)) from None
        if "field larger than field limit" in str(e):
            raise FactsError(f"{source}: row {start}: a cell is longer than "
                             f"{csv.field_size_limit():,} characters, the limit for a cell"
                             ) from None
        raise FactsError(f"{source}: line {reader.line_num}: malformed CSV: {e}") from None


def _line_offset(text: str, line: int) -> int:
    """Where line ``line`` (1-based, as :mod:`csv` counts lines) of a text begins."""
    if line > 1:
        for n, m in enumerate(_LINE_BREAK.finditer(text), start=2):
            if n == line:
                return m.end()
    return 0


def _unterminated(text: str, source: str, start: int) -> str:
    """The message for a quote opened in the record starting on line ``start`` and never
    closed: the opening quote is the first of the last run of an odd number of quotes
    (inside a quoted cell quotes come in pairs)."""
    offset = _line_offset(text, start)
    opened = offset
    for m in _QUOTES.finditer(text, offset):
        if len(m.group()) % 2:
            opened = m.start()
    line = start + len(_LINE_BREAK.findall(text, offset, opened))
    return (f"{source}: row {line}: unterminated quote: the quoted cell opened on this line "
            "is never closed, so the rest of the file would be read into one cell")


def csv_header(rows: Iterator[tuple[int, list[str]]], source: str, required: Sequence[str],
               optional: Sequence[str] = ()) -> CsvHeader:
    """Read up to the header (the first record that is not blank) and check it."""
    for line, cells in rows:
        if any(cell.strip() for cell in cells):
            return check_header([cell.strip() for cell in cells], line, source, required,
                                optional)
    raise FactsError(f"{source}: empty file; expected a header line with {', '.join(required)}")


def check_header(names: Sequence[str], line: int, source: str, required: Sequence[str],
                 optional: Sequence[str] = ()) -> CsvHeader:
    """The header of a table, or a FactsError when a required column is missing or a
    wanted one is repeated."""
    missing = [c for c in required if c not in names]
    if missing:
        raise FactsError(
            f"{source}: line {line}: header lacks required column(s) {', '.join(missing)}"
        )
    wanted = (*required, *optional)
    repeated = sorted({c for c in wanted if names.count(c) > 1})
    if repeated:
        raise FactsError(
            f"{source}: line {line}: header repeats column(s) {', '.join(repeated)}"
        )
    positions = tuple(names.index(c) if c in names else -1 for c in wanted)
    return CsvHeader(tuple(names), line, positions)


def csv_table(text: str, source: str, required: Sequence[str], optional: Sequence[str] = ()
              ) -> tuple[CsvHeader, Iterator[tuple[int, list[str] | RaggedRow]]]:
    """The header of a CSV text, and (line, cells) for each data row that is not blank
    (a blank row has only empty or blank cells); a row with more or fewer cells than the
    header comes as a :class:`RaggedRow` instead of its cells."""
    rows = csv_rows(text, source)
    header = csv_header(rows, source, required, optional)

    def data() -> Iterator[tuple[int, list[str] | RaggedRow]]:
        width = header.width
        for line, cells in rows:
            if len(cells) == width:
                if any(cell.strip() for cell in cells):
                    yield line, cells
            elif any(cell.strip() for cell in cells):
                yield line, header.ragged(line, cells)

    return header, data()


def csv_records(
    text: str, source: str, required: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[tuple[int, tuple[str | None, ...] | RaggedRow]]:
    """(line number, cells of ``required`` + ``optional`` columns) per non-blank data row,
    or a :class:`RaggedRow`. The header must name every ``required`` column; the cell of
    an absent optional column is None."""
    header, rows = csv_table(text, source, required, optional)
    # each row gets a None appended, so an absent optional column reads position -1
    pick = itemgetter(*header.positions)  # returns a tuple: there are always several columns
    for line, cells in rows:
        if isinstance(cells, RaggedRow):
            yield line, cells
        else:
            cells.append(None)  # type: ignore[arg-type]
            yield line, pick(cells)


def stripped_row(row: Mapping[str, str | None]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, value in row.items():
        out[key] = (value.strip() or None) if isinstance(value, str) else value
    return out
