"""Source text, file positions and caret snippets for diagnostics.

Every diagnostic points into a file by a :class:`Span`. Positions are 1-based lines and
columns counted in characters (code points); line breaks are the ones YAML knows
(``\\r\\n``, ``\\r``, ``\\n``, ``\\x85``, ``\\u2028``, ``\\u2029``), so lines agree with the
marks of :func:`yaml.compose`. :func:`render_snippet` shows the source line of a span with
a caret under it. (Where an expression inside a YAML scalar sits in the file is
:mod:`evaluator.lang.document.positions`.)
"""

from __future__ import annotations

import os
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field

__all__ = [
    "ELLIPSIS",
    "SNIPPET_CONTEXT",
    "SNIPPET_WIDTH",
    "TAB_WIDTH",
    "Source",
    "Span",
    "render_snippet",
]

#: tab stops used when a snippet expands tabs
TAB_WIDTH = 4
#: a line longer than this (in characters) is shown in a snippet only around its span
SNIPPET_WIDTH = 200
#: characters of a long line shown before and after the span (see :func:`render_snippet`)
SNIPPET_CONTEXT = 80
#: marks the parts of a long line a snippet leaves out
ELLIPSIS = "..."

#: a line break as YAML counts it (``\r\n`` counts as one)
_BREAK_RE = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_BOM = "\ufeff"


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A range of a file: 1-based line and column; the end is exclusive.

    Spans order by file, then position, so diagnostics sort into reading order.
    """

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Source:
    """The text of one file, with its lines indexed once."""

    path: str
    text: str = field(repr=False)
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _ends: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts = [0]
        ends: list[int] = []
        for match in _BREAK_RE.finditer(self.text):
            ends.append(match.start())
            starts.append(match.end())
        ends.append(len(self.text))
        if self.text.startswith(_BOM):
            # YAML does not count a byte order mark as a column
            starts[0] = 1
        object.__setattr__(self, "_starts", tuple(starts))
        object.__setattr__(self, "_ends", tuple(ends))

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Source:
        """Read a UTF-8 file, keeping its line endings (``\\r\\n`` stays two characters)."""
        with open(path, encoding="utf-8", newline="") as handle:
            return cls(os.fspath(path), handle.read())

    def line(self, n: int) -> str:
        """Line ``n`` (1-based) without its line break; ``""`` out of range."""
        start, end = self.line_range(n)
        return self.text[start:end]

    def line_range(self, n: int) -> tuple[int, int]:
        """Offsets of the start and end of line ``n`` (1-based), without its line break;
        an empty range out of range."""
        if 1 <= n <= len(self._starts):
            return self._starts[n - 1], self._ends[n - 1]
        return 0, 0

    def position(self, index: int) -> tuple[int, int]:
        """1-based (line, column) of an absolute character offset, clamped to the text."""
        index = min(max(index, 0), len(self.text))
        k = max(bisect_right(self._starts, index) - 1, 0)
        return k + 1, max(index - self._starts[k], 0) + 1

    def span_at(self, index: int, end_index: int) -> Span:
        """The span of the absolute character offsets ``[index, end_index)``."""
        start = min(max(index, 0), len(self.text))
        end = min(max(end_index, start), len(self.text))
        line, col = self.position(start)
        end_line, end_col = self.position(end)
        return Span(self.path, line, col, end_line, end_col)


# --------------------------------------------------------------------------- snippets


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 2
    return 1


def _display(line: str, tab_width: int) -> tuple[str, list[int]]:
    """``line`` with tabs expanded, and the display column where each character starts.

    The list has one more entry than ``line``: the column one past its end.
    """
    parts: list[str] = []
    columns: list[int] = []
    column = 0
    for ch in line:
        columns.append(column)
        if ch == "\t":
            width = tab_width - column % tab_width
            parts.append(" " * width)
        else:
            width = _char_width(ch)
            parts.append(ch)
        column += width
    columns.append(column)
    return "".join(parts), columns


def render_snippet(source: Source, span: Span, *, tab_width: int = TAB_WIDTH) -> str:
    """The line of ``span`` under a gutter, and carets under the span.

    ::

        41 |     formula: balance + unclaimed_period
           |              ^^^^^^^^^^^^^^^^^^^^^^^^^^

    A span over several lines shows its first line, with carets to the end of
    it; a zero-width span gets one caret; a span past the end of the line gets
    carets up to one column past its last character.

    Of a line longer than :data:`SNIPPET_WIDTH` characters, only the span and
    ``SNIPPET_CONTEXT`` characters either side are shown (of a span longer than
    ``2 * SNIPPET_CONTEXT``, its start and the context before it), the rest
    elided with :data:`ELLIPSIS`: the cost of a snippet does not grow with the
    length of the line.
    """
    line_start, line_end = source.line_range(span.line)
    length = line_end - line_start
    # 1-based columns of the span's first character and of the one after it
    start = min(max(span.col, 1), length + 1)
    end = length + 1 if span.end_line > span.line else min(span.end_col, length + 2)
    # the characters [lo, hi) of the line are shown
    lo, hi = 0, length
    if length > SNIPPET_WIDTH:
        lo = max(start - 1 - SNIPPET_CONTEXT, 0)
        if end - start <= 2 * SNIPPET_CONTEXT:
            hi = min(end - 1 + SNIPPET_CONTEXT, length)
        else:  # a long span: its start only, with carets to the end of what is shown
            hi = min(start - 1 + 2 * SNIPPET_CONTEXT, length)
            end = hi + 1
    text = source.text[line_start + lo : line_start + hi]
    shown, columns = _display(text, tab_width)
    last = len(text)

    def column_of(col: int) -> int:
        # display column of 1-based character column ``col``; past the end, one per column
        index = max(col - 1 - lo, 0)
        if index <= last:
            return columns[index]
        return columns[last] + index - last

    left = column_of(start)
    width = max(column_of(end) - left, 1) if end > start else 1
    if lo > 0:
        shown = f"{ELLIPSIS} {shown}"
        left += len(ELLIPSIS) + 1
    if hi < length:
        shown = f"{shown} {ELLIPSIS}"
    number = str(span.line)
    gutter = " " * len(number)
    first = f"{number} |" + (f" {shown}" if shown else "")
    return f"{first}\n{gutter} | {' ' * left}{'^' * width}"
