"""Source text, file positions and caret snippets for diagnostics.

Every diagnostic points into a policy file.  Expressions live inside YAML
scalars, and YAML writes the same expression text in many ways (plain,
single-quoted, double-quoted with escapes, literal and folded block scalars),
so an offset into the *value* of a scalar is not an offset into the file.
:class:`ScalarPositions` maps one to the other, once per node, by re-scanning
the raw text of the node exactly as PyYAML's scanner does and recording, for
every character of the value, the range of source characters it came from.

Positions are 1-based lines and columns counted in characters (code points);
line breaks are the ones YAML knows (``\\r\\n``, ``\\r``, ``\\n``, ``\\x85``,
``\\u2028``, ``\\u2029``), so lines agree with the marks of
:func:`yaml.compose`.  The text given to :class:`Source` must be the very
string that was composed (read it with :meth:`Source.read`, which keeps
``\\r\\n`` line endings as they are in the file).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from evaluator.span import Source, Span

if TYPE_CHECKING:  # PyYAML loads only where a node is looked at (a cached policy needs none)
    import yaml

__all__ = ["ScalarPositions", "node_span"]

#: what PyYAML treats as a line break (``\r\n`` counts as one)
_BREAKS = "\r\n\x85\u2028\u2029"

#: double-quoted escapes, as in ``yaml.scanner.Scanner.ESCAPE_REPLACEMENTS``
_ESCAPES = {
    "0": "\0",
    "a": "\x07",
    "b": "\x08",
    "t": "\x09",
    "\t": "\x09",
    "n": "\x0a",
    "v": "\x0b",
    "f": "\x0c",
    "r": "\x0d",
    "e": "\x1b",
    " ": "\x20",
    '"': '"',
    "\\": "\\",
    "/": "/",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
#: ``\xXX``, ``\uXXXX``, ``\UXXXXXXXX``: number of hex digits
_ESCAPE_CODES = {"x": 2, "u": 4, "U": 8}
_HEX = frozenset("0123456789abcdefABCDEF")


# --------------------------------------------------------------------------- nodes


def _mark_index(mark: yaml.Mark | None, text: str) -> int:
    index = getattr(mark, "index", None)
    if isinstance(index, int):
        return min(max(index, 0), len(text))
    return 0


def _trim_end(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1] in " \t" + _BREAKS:
        end -= 1
    return end


def _node_end(text: str, node: yaml.Node) -> int:
    """End offset of ``node``: block collections end with their last child, not at the
    next token (which comes after trailing comments and blank lines)."""
    import yaml

    seen: set[int] = set()
    current = node
    while (
        isinstance(current, yaml.CollectionNode)
        and current.flow_style is not True
        and isinstance(current.value, list)
        and current.value
        and id(current) not in seen
    ):
        seen.add(id(current))
        last = current.value[-1]
        if isinstance(current, yaml.MappingNode):
            key, child = last
            floor = _mark_index(key.end_mark, text)
        else:
            child = last
            previous = current.value[-2] if len(current.value) > 1 else current
            floor = (
                _mark_index(previous.end_mark, text)
                if previous is not current
                else _mark_index(current.start_mark, text)
            )
        if not isinstance(child, yaml.Node) or _mark_index(child.start_mark, text) < floor:
            # the last child is an alias of an earlier node: its marks are elsewhere
            start = _mark_index(current.start_mark, text)
            return _trim_end(text, start, _mark_index(current.end_mark, text))
        current = child
    end = _mark_index(current.end_mark, text)
    if isinstance(current, yaml.ScalarNode) and current.style in ("|", ">"):
        start = _mark_index(current.start_mark, text)
        return _trim_end(text, start + 1, end)
    return end


def node_span(source: Source, node: yaml.Node) -> Span:
    """The span of a whole node (tag and anchor included) from its marks.

    Block scalars end after their last non-blank character and block
    collections after their last child, rather than at the next token.
    """
    text = source.text
    start = _mark_index(node.start_mark, text)
    return source.span_at(start, max(_node_end(text, node), start))


# --------------------------------------------------------------------------- scalars


class _Collector:
    """Characters of a re-scanned value with the source range each came from."""

    __slots__ = ("chars", "ends", "starts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.chars: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = []

    def run(self, start: int, end: int) -> None:
        """Source characters ``[start, end)`` taken verbatim."""
        self.chars.append(self.text[start:end])
        self.starts.extend(range(start, end))
        self.ends.extend(range(start + 1, end + 1))

    def char(self, ch: str, start: int, end: int) -> None:
        """One value character made from the source range ``[start, end)``."""
        self.chars.append(ch)
        self.starts.append(start)
        self.ends.append(end)

    def value(self) -> str:
        return "".join(self.chars)


_Break = tuple[str, int, int]


def _line_break(text: str, i: int) -> _Break:
    """The line break at ``i`` as PyYAML reads it: (value character, start, end)."""
    ch = text[i]
    if ch == "\r" and text.startswith("\n", i + 1):
        return "\n", i, i + 2
    if ch in "\r\n\x85":
        return "\n", i, i + 1
    return ch, i, i + 1


def _fold(out: _Collector, first: _Break, breaks: list[_Break]) -> None:
    """Line folding of plain and quoted scalars: a lone ``\\n`` becomes a space,
    followed by empty lines it vanishes and each empty line gives a ``\\n``."""
    ch, start, end = first
    if ch != "\n":
        out.char(ch, start, end)
    elif not breaks:
        out.char(" ", start, end)
    for brk in breaks:
        out.char(*brk)


def _skip_properties(text: str, i: int) -> int:
    """Skip a node's anchor and tag (and what separates them from the scalar)."""
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "&":
            i += 1
            while i < n and ((text[i].isascii() and text[i].isalnum()) or text[i] in "-_"):
                i += 1
        elif ch == "!":
            if text.startswith("!<", i):
                close = text.find(">", i)
                i = n if close < 0 else close + 1
            else:
                while i < n and text[i] not in " \t" + _BREAKS:
                    i += 1
        elif ch in " \t" + _BREAKS:
            i += 1
        elif ch == "#" and (i == 0 or text[i - 1] in " \t" + _BREAKS):
            while i < n and text[i] not in _BREAKS:
                i += 1
        else:
            return i
    return i


def _scan_plain(text: str, start: int, end: int) -> _Collector:
    """A plain scalar ``text[start:end]`` (PyYAML's end mark is after its last character)."""
    out = _Collector(text)
    i = start
    while i < end:
        ch = text[i]
        if ch in " \t":
            j = i
            while j < end and text[j] in " \t":
                j += 1
            if j < end and text[j] in _BREAKS:
                i = j  # spaces before a line break are dropped
            else:
                out.run(i, j)
                i = j
        elif ch in _BREAKS:
            first = _line_break(text, i)
            i = first[2]
            breaks: list[_Break] = []
            while i < end and (text[i] == " " or text[i] in _BREAKS):
                if text[i] == " ":
                    i += 1
                else:
                    brk = _line_break(text, i)
                    breaks.append(brk)
                    i = brk[2]
            _fold(out, first, breaks)
        else:
            j = i + 1
            while j < end and text[j] not in " \t" + _BREAKS:
                j += 1
            out.run(i, j)
            i = j
    return out


def _flow_breaks(text: str, i: int) -> tuple[list[_Break], int]:
    breaks: list[_Break] = []
    n = len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] in _BREAKS:
            brk = _line_break(text, i)
            breaks.append(brk)
            i = brk[2]
        else:
            return breaks, i


def _scan_quoted(text: str, start: int) -> _Collector | None:
    """A single- or double-quoted scalar whose opening quote is at ``start``."""
    out = _Collector(text)
    quote = text[start]
    double = quote == '"'
    stop = "'\"\\\0 \t" + _BREAKS
    n = len(text)
    i = start + 1
    while True:
        if i >= n:
            return None
        ch = text[i]
        if ch == quote:
            if double or not text.startswith("'", i + 1):
                return out
            out.char("'", i, i + 2)
            i += 2
        elif double and ch == "\\":
            if i + 1 >= n:
                return None
            code = text[i + 1]
            if code in _ESCAPES:
                out.char(_ESCAPES[code], i, i + 2)
                i += 2
            elif code in _ESCAPE_CODES:
                digits = text[i + 2 : i + 2 + _ESCAPE_CODES[code]]
                if len(digits) != _ESCAPE_CODES[code] or not _HEX.issuperset(digits):
                    return None
                out.char(chr(int(digits, 16)), i, i + 2 + len(digits))
                i += 2 + len(digits)
            elif code in _BREAKS:
                # an escaped line break vanishes, empty lines after it remain
                breaks, i = _flow_breaks(text, _line_break(text, i + 1)[2])
                for brk in breaks:
                    out.char(*brk)
            else:
                return None
        elif ch in " \t" + _BREAKS:
            j = i
            while j < n and text[j] in " \t":
                j += 1
            if j < n and text[j] in _BREAKS:
                first = _line_break(text, j)
                breaks, i = _flow_breaks(text, first[2])
                _fold(out, first, breaks)
            else:
                out.run(i, j)
                i = j
        else:
            j = i + 1
            while j < n and text[j] not in stop:
                j += 1
            out.run(i, j)
            i = j


@dataclass(slots=True)
class _BlockHeader:
    folded: bool
    chomping: bool | None  # True: keep (+), False: strip (-), None: clip
    increment: int | None
    body: int  # offset of the first line after the header


def _block_header(text: str, start: int) -> _BlockHeader | None:
    n = len(text)
    folded = text[start] == ">"
    chomping: bool | None = None
    increment: int | None = None
    i = start + 1
    for _ in range(2):
        if i < n and text[i] in "+-" and chomping is None:
            chomping = text[i] == "+"
            i += 1
        elif i < n and text[i] in "123456789" and increment is None:
            increment = int(text[i])
            i += 1
    while i < n and text[i] == " ":
        i += 1
    if i < n and text[i] == "#":
        while i < n and text[i] not in _BREAKS:
            i += 1
    if i < n:
        if text[i] not in _BREAKS:
            return None
        i = _line_break(text, i)[2]
    return _BlockHeader(folded, chomping, increment, i)


def _block_breaks(text: str, i: int, column: int, indent: int) -> tuple[list[_Break], int, int]:
    """Empty lines inside a block scalar: (breaks, offset, column) as PyYAML's
    ``scan_block_scalar_breaks``."""
    n = len(text)
    breaks: list[_Break] = []
    while column < indent and i < n and text[i] == " ":
        i += 1
        column += 1
    while i < n and text[i] in _BREAKS:
        brk = _line_break(text, i)
        breaks.append(brk)
        i, column = brk[2], 0
        while column < indent and i < n and text[i] == " ":
            i += 1
            column += 1
    return breaks, i, column


def _scan_block_body(
    text: str,
    header: _BlockHeader,
    indent: int,
    leading: tuple[list[_Break], int, int] | None,
) -> _Collector:
    """The body of a block scalar with a known indentation (PyYAML's ``scan_block_scalar``).

    ``leading`` is the result of the indentation scan when the indentation was
    detected rather than given.
    """
    out = _Collector(text)
    n = len(text)
    if leading is None:
        breaks, i, column = _block_breaks(text, header.body, 0, indent)
    else:
        breaks, i, column = leading
    line_break: _Break = ("", i, i)
    while column == indent and i < n:
        for brk in breaks:
            out.char(*brk)
        leading_non_space = text[i] not in " \t"
        j = i
        while j < n and text[j] not in _BREAKS:
            j += 1
        out.run(i, j)
        i = j
        if i < n:
            line_break = _line_break(text, i)
            i = line_break[2]
        else:
            line_break = ("", i, i)
        breaks, i, column = _block_breaks(text, i, 0, indent)
        if not (column == indent and i < n):
            break
        if header.folded and line_break[0] == "\n" and leading_non_space and text[i] not in " \t":
            if not breaks:
                out.char(" ", line_break[1], line_break[2])
        else:
            out.char(*line_break)
    if header.chomping is not False and line_break[0]:
        out.char(*line_break)
    if header.chomping is True:
        for brk in breaks:
            out.char(*brk)
    return out


def _column(text: str, index: int) -> int:
    i = index
    while i > 0 and text[i - 1] not in _BREAKS:
        i -= 1
    return index - i


def _scan_block(text: str, start: int, value: str) -> _Collector | None:
    """A block scalar whose indicator is at ``start``.

    The indentation of its body depends on the indentation of the enclosing
    block (PyYAML's ``self.indent``), which a node does not record: every
    possible value is tried, most likely first, and the one that reproduces
    ``value`` wins.
    """
    header = _block_header(text, start)
    if header is None:
        return None
    column = _column(text, start)
    leading: tuple[list[_Break], int, int] | None = None
    if header.increment is None:
        # scan_block_scalar_indentation: the deepest leading space sets the indentation
        n = len(text)
        breaks: list[_Break] = []
        i, col, deepest = header.body, 0, 0
        while i < n and (text[i] == " " or text[i] in _BREAKS):
            if text[i] == " ":
                i += 1
                col += 1
                deepest = max(deepest, col)
            else:
                brk = _line_break(text, i)
                breaks.append(brk)
                i, col = brk[2], 0
        leading = (breaks, i, col)
        candidates = [deepest, *range(column + 1, deepest, -1)]
    else:
        candidates = [low + header.increment - 1 for low in range(column + 1, 0, -1)]
    for indent in dict.fromkeys(candidates):
        out = _scan_block_body(text, header, indent, leading)
        if out.value() == value:
            return out
    return None


def _rescan(text: str, node: yaml.ScalarNode, value: str) -> tuple[_Collector, int] | None:
    """Re-scan a scalar node; (collected characters, offset where the scalar text begins)."""
    start = _mark_index(node.start_mark, text)
    end = max(_mark_index(node.end_mark, text), start)
    begin = _skip_properties(text, start)
    if value == "":
        return _Collector(text), min(begin, end)
    if begin >= len(text):
        return None
    style = node.style or ""
    out: _Collector | None
    if style in ("'", '"'):
        out = _scan_quoted(text, begin) if text[begin] == style else None
    elif style in ("|", ">"):
        out = _scan_block(text, begin, value) if text[begin] == style else None
    else:
        out = _scan_plain(text, begin, end)
    if out is None or out.value() != value:
        return None
    return out, begin


class ScalarPositions:
    """Maps character offsets in a YAML scalar node's *value* (``node.value``) back
    to positions in the file.

    Built once per node: every character of the value is given the range of
    source characters it was read from (a character that was an escape such
    as ``\\u00e9`` or ``''`` covers the whole escape; a space or line break
    made by folding covers the line break it replaced).  When the node cannot
    be re-scanned to its value (nodes not composed from ``source.text``, or a
    scanner this module does not know), every offset maps to the node's start
    and :attr:`exact` is false; nothing raises.
    """

    __slots__ = ("_ends", "_exact", "_source", "_starts", "_tail", "value")

    def __init__(self, source: Source, node: yaml.ScalarNode) -> None:
        self._source = source
        text = source.text
        value = node.value if isinstance(node.value, str) else ""
        self.value = value
        found: tuple[_Collector, int] | None
        try:
            found = _rescan(text, node, value)
        except Exception:  # an exotic node must degrade, never break a diagnostic
            found = None
        if found is None:
            anchor = _mark_index(node.start_mark, text)
            self._starts = [anchor] * len(value)
            self._ends = self._starts
            self._tail = anchor
            self._exact = False
        else:
            out, begin = found
            self._starts = out.starts
            self._ends = out.ends
            self._tail = out.ends[-1] if out.ends else begin
            self._exact = True

    @property
    def exact(self) -> bool:
        """Whether every character of the value was traced to the source."""
        return self._exact

    def source_range(self, start: int, end: int) -> tuple[int, int]:
        """Absolute offsets ``[a, b)`` in ``source.text`` of the value offsets
        ``[start, end)`` (clamped to the value); ``len(value)`` maps to one past
        the last character."""
        size = len(self.value)
        start = min(max(start, 0), size)
        end = min(max(end, start), size)
        if start < end:
            return self._starts[start], self._ends[end - 1]
        at = self._starts[start] if start < size else self._tail
        return at, at

    def span(self, start: int, end: int) -> Span:
        """File span of the value offsets ``[start, end)``."""
        return self._source.span_at(*self.source_range(start, end))
