"""Tests for evaluator.source: positions of expression text inside YAML scalars.

Expected positions are written by hand (line and column of the target in the
YAML text as shown); ``raw_at`` re-reads the file text at those constants so a
miscounted constant fails loudly instead of silently agreeing with the code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluator.source import (
    ScalarPositions,
    Source,
    Span,
    node_span,
    render_snippet,
)

GOLDEN = Path(__file__).parent / "golden" / "source"
FILE = "policy.yaml"


# --------------------------------------------------------------------------- helpers


def compose(text: str) -> yaml.Node:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    assert node is not None
    return node


def lookup(node: yaml.Node, *path: str | int) -> yaml.Node:
    """Follow mapping keys (str) and sequence indexes (int) through composed nodes."""
    for step in path:
        if isinstance(step, int):
            assert isinstance(node, yaml.SequenceNode)
            node = node.value[step]
        else:
            assert isinstance(node, yaml.MappingNode)
            matches = [value for key, value in node.value if key.value == step]
            assert matches, f"no key {step!r}"
            node = matches[0]
    return node


def scalar(text: str, *path: str | int) -> tuple[Source, yaml.ScalarNode]:
    node = lookup(compose(text), *path)
    assert isinstance(node, yaml.ScalarNode)
    return Source(FILE, text), node


def raw_at(text: str, line: int, col: int, end_col: int) -> str:
    """Characters of ``text`` on 1-based ``line`` between 1-based columns (independent
    of Source: splits on ``\\n`` and drops a ``\\r`` before it)."""
    row = text.split("\n")[line - 1].removesuffix("\r")
    return row[col - 1 : end_col - 1]


def target_span(text: str, path: tuple[str | int, ...], target: str, nth: int = 0) -> Span:
    source, node = scalar(text, *path)
    positions = ScalarPositions(source, node)
    assert positions.exact
    value: str = node.value
    start = -1
    for _ in range(nth + 1):
        start = value.index(target, start + 1)
    return positions.span(start, start + len(target))


def check_golden(name: str, actual: str, update: bool) -> None:
    path = GOLDEN / f"{name}.txt"
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(actual)
        return
    if not path.exists():
        pytest.fail(f"missing golden file {path}; run pytest with --update-golden")
    with open(path, encoding="utf-8", newline="") as handle:
        expected = handle.read()
    assert actual == expected


# --------------------------------------------------------------------------- Source and Span


def test_span_str_is_file_line_col() -> None:
    assert str(Span("p/policy.yaml", 41, 22, 41, 48)) == "p/policy.yaml:41:22"


def test_spans_sort_into_reading_order() -> None:
    spans = [Span("b", 1, 1, 1, 2), Span("a", 2, 1, 2, 2), Span("a", 1, 5, 1, 6)]
    assert sorted(spans) == [spans[2], spans[1], spans[0]]
    assert "text" not in repr(Source(FILE, "x: 1\n"))


def test_source_lines_are_one_based_without_breaks() -> None:
    source = Source(FILE, "a: 1\r\nb: 2\rc: 3\nd: 4\u2028e\n")
    assert [source.line(n) for n in range(1, 6)] == ["a: 1", "b: 2", "c: 3", "d: 4", "e"]
    assert source.line(6) == ""  # after the final break
    assert source.line(0) == ""
    assert source.line(99) == ""
    assert source.line(-1) == ""


def test_span_at_counts_lines_like_yaml_marks() -> None:
    text = "a: 1\r\nb: [x,\r  y]\n"
    source = Source(FILE, text)
    node = lookup(compose(text), "b", 1)
    mark = node.start_mark
    assert mark is not None
    span = source.span_at(mark.index, mark.index + 1)
    assert (span.line, span.col) == (mark.line + 1, mark.column + 1) == (3, 3)
    assert span == Span(FILE, 3, 3, 3, 4)


def test_span_at_clamps_and_crosses_lines() -> None:
    source = Source(FILE, "ab\ncd")
    assert source.span_at(1, 4) == Span(FILE, 1, 2, 2, 2)
    assert source.span_at(-5, 99) == Span(FILE, 1, 1, 2, 3)
    assert source.span_at(3, 1) == Span(FILE, 2, 1, 2, 1)  # end before start: empty


def test_byte_order_mark_is_not_a_column() -> None:
    text = "\ufeffformula: a + b\n"
    source = Source(FILE, text)
    assert source.line(1) == "formula: a + b"
    assert target_span(text, ("formula",), "b") == Span(FILE, 1, 14, 1, 15)


def test_read_keeps_crlf(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"formula: |\r\n  a +\r\n  b\r\n")
    source = Source.read(path)
    assert source.text == "formula: |\r\n  a +\r\n  b\r\n"
    assert source.path == str(path)


# --------------------------------------------------------------------------- scalar styles

PLAIN = """\
policy: demo
definitions:
  unclaimed_on:
    formula: balance + unclaimed_period
"""


def test_plain_one_line() -> None:
    assert raw_at(PLAIN, 4, 24, 40) == "unclaimed_period"
    span = target_span(PLAIN, ("definitions", "unclaimed_on", "formula"), "unclaimed_period")
    assert span == Span(FILE, 4, 24, 4, 40)
    assert str(span) == "policy.yaml:4:24"


def test_plain_whole_value_and_end_offset() -> None:
    source, node = scalar(PLAIN, "definitions", "unclaimed_on", "formula")
    positions = ScalarPositions(source, node)
    size = len(node.value)
    assert positions.span(0, size) == Span(FILE, 4, 14, 4, 40)
    assert positions.span(size, size) == Span(FILE, 4, 40, 4, 40)  # one past the end
    assert positions.span(0, 0) == Span(FILE, 4, 14, 4, 14)
    assert positions.span(-3, 10_000) == Span(FILE, 4, 14, 4, 40)  # clamped


PLAIN_FOLDED = """\
definitions:
  unclaimed_on:
    formula: last_activity +
      unclaimed_period
    provision: "Act 147(1)"
"""


def test_plain_folded_over_lines() -> None:
    path = ("definitions", "unclaimed_on", "formula")
    source, node = scalar(PLAIN_FOLDED, *path)
    assert node.value == "last_activity + unclaimed_period"
    assert raw_at(PLAIN_FOLDED, 4, 7, 23) == "unclaimed_period"
    assert target_span(PLAIN_FOLDED, path, "unclaimed_period") == Span(FILE, 4, 7, 4, 23)
    # a span over the folded space starts on line 3 and ends on line 4
    assert raw_at(PLAIN_FOLDED, 3, 28, 29) == "+"
    assert target_span(PLAIN_FOLDED, path, "+ unclaimed") == Span(FILE, 3, 28, 4, 16)
    # the folded space itself is the line break at the end of line 3
    positions = ScalarPositions(source, node)
    assert positions.span(15, 16) == Span(FILE, 3, 29, 4, 1)


PLAIN_EMPTY_LINES = "formula: a\n\n\n  unclaimed_period\n"


def test_plain_folded_with_empty_lines() -> None:
    source, node = scalar(PLAIN_EMPTY_LINES, "formula")
    assert node.value == "a\n\nunclaimed_period"
    assert target_span(PLAIN_EMPTY_LINES, ("formula",), "unclaimed_period") == Span(
        FILE, 4, 3, 4, 19
    )
    positions = ScalarPositions(source, node)
    assert positions.span(1, 2) == Span(FILE, 2, 1, 3, 1)  # the empty line 2 gave a \n


PLAIN_COMMENT = "formula: balance + unclaimed_period   # Act 147(1)\nnext: 1\n"


def test_plain_with_trailing_spaces_and_comment() -> None:
    source, node = scalar(PLAIN_COMMENT, "formula")
    assert node.value == "balance + unclaimed_period"
    assert raw_at(PLAIN_COMMENT, 1, 20, 36) == "unclaimed_period"
    assert target_span(PLAIN_COMMENT, ("formula",), "unclaimed_period") == Span(FILE, 1, 20, 1, 36)
    positions = ScalarPositions(source, node)
    size = len(node.value)
    assert positions.span(size, size) == Span(FILE, 1, 36, 1, 36)


SINGLE = """\
check:
  formula: 'status == ''unclaimed'' and unclaimed_period > 0'
"""


def test_single_quoted_with_doubled_quotes() -> None:
    path = ("check", "formula")
    _, node = scalar(SINGLE, *path)
    assert node.value == "status == 'unclaimed' and unclaimed_period > 0"
    assert raw_at(SINGLE, 2, 41, 57) == "unclaimed_period"
    assert target_span(SINGLE, path, "unclaimed_period") == Span(FILE, 2, 41, 2, 57)
    # a quote written as '' covers both characters
    assert raw_at(SINGLE, 2, 23, 36) == "''unclaimed''"
    assert target_span(SINGLE, path, "'unclaimed'") == Span(FILE, 2, 23, 2, 36)
    assert target_span(SINGLE, path, "status") == Span(FILE, 2, 13, 2, 19)


SINGLE_MULTILINE = "formula: 'a +\n    unclaimed_period\n\n    ''x'''\n"


def test_single_quoted_over_lines() -> None:
    _, node = scalar(SINGLE_MULTILINE, "formula")
    assert node.value == "a + unclaimed_period\n'x'"
    assert target_span(SINGLE_MULTILINE, ("formula",), "unclaimed_period") == Span(
        FILE, 2, 5, 2, 21
    )
    assert target_span(SINGLE_MULTILINE, ("formula",), "'x'") == Span(FILE, 4, 5, 4, 10)


DOUBLE = r"""formula: "say \"hi\"\n then \\ unclaimed_period"
"""


def test_double_quoted_with_escapes_before_target() -> None:
    _, node = scalar(DOUBLE, "formula")
    assert node.value == 'say "hi"\n then \\ unclaimed_period'
    assert raw_at(DOUBLE, 1, 32, 48) == "unclaimed_period"
    assert target_span(DOUBLE, ("formula",), "unclaimed_period") == Span(FILE, 1, 32, 1, 48)
    # escapes cover their whole spelling
    assert target_span(DOUBLE, ("formula",), '"hi"') == Span(FILE, 1, 15, 1, 21)
    assert target_span(DOUBLE, ("formula",), "\n") == Span(FILE, 1, 21, 1, 23)
    assert target_span(DOUBLE, ("formula",), "\\") == Span(FILE, 1, 29, 1, 31)


DOUBLE_CODES = r"""formula: "\x41\t\u00e9\U0001F600 unclaimed_period"
"""


def test_double_quoted_code_escapes() -> None:
    path = ("formula",)
    _, node = scalar(DOUBLE_CODES, *path)
    assert node.value == "A\t\u00e9\U0001f600 unclaimed_period"
    assert raw_at(DOUBLE_CODES, 1, 34, 50) == "unclaimed_period"
    assert target_span(DOUBLE_CODES, path, "unclaimed_period") == Span(FILE, 1, 34, 1, 50)
    assert target_span(DOUBLE_CODES, path, "A") == Span(FILE, 1, 11, 1, 15)
    assert target_span(DOUBLE_CODES, path, "\t") == Span(FILE, 1, 15, 1, 17)
    assert target_span(DOUBLE_CODES, path, "\u00e9") == Span(FILE, 1, 17, 1, 23)
    assert target_span(DOUBLE_CODES, path, "\U0001f600") == Span(FILE, 1, 23, 1, 33)


DOUBLE_MULTILINE = 'formula: "a + \\\n    b +\n\n    unclaimed_period"\n'


def test_double_quoted_escaped_line_break_and_folding() -> None:
    path = ("formula",)
    _, node = scalar(DOUBLE_MULTILINE, *path)
    assert node.value == "a + b +\nunclaimed_period"
    assert target_span(DOUBLE_MULTILINE, path, "b") == Span(FILE, 2, 5, 2, 6)
    assert target_span(DOUBLE_MULTILINE, path, "unclaimed_period") == Span(FILE, 4, 5, 4, 21)


LITERAL = """\
policy: demo
definitions:
  unclaimed_on:
    formula: |
      if dormant
      then last_activity + unclaimed_period
      else never
    provision: "Act 147(1)"
"""


def test_literal_block() -> None:
    path = ("definitions", "unclaimed_on", "formula")
    source, node = scalar(LITERAL, *path)
    assert node.value == "if dormant\nthen last_activity + unclaimed_period\nelse never\n"
    assert raw_at(LITERAL, 6, 28, 44) == "unclaimed_period"
    assert target_span(LITERAL, path, "unclaimed_period") == Span(FILE, 6, 28, 6, 44)
    assert target_span(LITERAL, path, "if") == Span(FILE, 5, 7, 5, 9)
    assert target_span(LITERAL, path, "never") == Span(FILE, 7, 12, 7, 17)
    positions = ScalarPositions(source, node)
    size = len(node.value)
    # the kept final line break is the one ending line 7
    assert positions.span(size - 1, size) == Span(FILE, 7, 17, 8, 1)
    assert positions.span(size, size) == Span(FILE, 8, 1, 8, 1)
    # a span over several lines
    start = node.value.index("dormant")
    end = node.value.index("last_activity") + len("last_activity")
    assert positions.span(start, end) == Span(FILE, 5, 10, 6, 25)


LITERAL_STRIP = "formula: |-\n  balance +\n    unclaimed_period\nnext: 1\n"


def test_literal_block_strip() -> None:
    source, node = scalar(LITERAL_STRIP, "formula")
    assert node.value == "balance +\n  unclaimed_period"
    assert target_span(LITERAL_STRIP, ("formula",), "unclaimed_period") == Span(FILE, 3, 5, 3, 21)
    positions = ScalarPositions(source, node)
    size = len(node.value)
    assert positions.span(size, size) == Span(FILE, 3, 21, 3, 21)


LITERAL_KEEP = "formula: |+\n  a\n\n  unclaimed_period\n\n\nnext: 1\n"


def test_literal_block_keep() -> None:
    source, node = scalar(LITERAL_KEEP, "formula")
    assert node.value == "a\n\nunclaimed_period\n\n\n"
    assert target_span(LITERAL_KEEP, ("formula",), "unclaimed_period") == Span(FILE, 4, 3, 4, 19)
    positions = ScalarPositions(source, node)
    size = len(node.value)
    assert positions.span(size - 1, size) == Span(FILE, 6, 1, 7, 1)


FOLDED = """\
rule:
  formula: >
    balance
    + unclaimed_period

    and more
      indented
"""


def test_folded_block() -> None:
    path = ("rule", "formula")
    source, node = scalar(FOLDED, *path)
    assert node.value == "balance + unclaimed_period\nand more\n  indented\n"
    assert raw_at(FOLDED, 4, 7, 23) == "unclaimed_period"
    assert target_span(FOLDED, path, "unclaimed_period") == Span(FILE, 4, 7, 4, 23)
    assert target_span(FOLDED, path, "and") == Span(FILE, 6, 5, 6, 8)
    assert target_span(FOLDED, path, "indented") == Span(FILE, 7, 7, 7, 15)
    positions = ScalarPositions(source, node)
    # the space that folding made is the line break ending line 3
    assert positions.span(7, 8) == Span(FILE, 3, 12, 4, 1)


INDICATOR = """\
definitions:
  x:
    formula: |2
         leading spaces keep unclaimed_period
items:
- |1-
  x unclaimed_period
"""


def test_block_with_indentation_indicator() -> None:
    path = ("definitions", "x", "formula")
    _, node = scalar(INDICATOR, *path)
    assert node.value == "   leading spaces keep unclaimed_period\n"
    assert raw_at(INDICATOR, 4, 30, 46) == "unclaimed_period"
    assert target_span(INDICATOR, path, "unclaimed_period") == Span(FILE, 4, 30, 4, 46)
    assert target_span(INDICATOR, path, "   leading") == Span(FILE, 4, 7, 4, 17)
    _, item = scalar(INDICATOR, "items", 0)
    assert item.value == " x unclaimed_period"
    assert target_span(INDICATOR, ("items", 0), "unclaimed_period") == Span(FILE, 7, 5, 7, 21)


CRLF = (
    "policy: demo\r\n"
    "formula: |\r\n"
    "  a +\r\n"
    "  unclaimed_period\r\n"
    "plain: x +\r\n"
    "  unclaimed_period\r\n"
    "quoted: 'y +\r\n"
    "  unclaimed_period'\r\n"
)


def test_crlf_line_endings() -> None:
    source = Source(FILE, CRLF)
    assert source.line(3) == "  a +"
    _, block = scalar(CRLF, "formula")
    assert block.value == "a +\nunclaimed_period\n"
    assert raw_at(CRLF, 4, 3, 19) == "unclaimed_period"
    assert target_span(CRLF, ("formula",), "unclaimed_period") == Span(FILE, 4, 3, 4, 19)
    # the \n read from \r\n covers both characters
    assert target_span(CRLF, ("formula",), "\n") == Span(FILE, 3, 6, 4, 1)
    _, plain = scalar(CRLF, "plain")
    assert plain.value == "x + unclaimed_period"
    assert target_span(CRLF, ("plain",), "unclaimed_period") == Span(FILE, 6, 3, 6, 19)
    _, quoted = scalar(CRLF, "quoted")
    assert quoted.value == "y + unclaimed_period"
    assert target_span(CRLF, ("quoted",), "unclaimed_period") == Span(FILE, 8, 3, 8, 19)


NON_ASCII = (
    "formula: 'café € 😀 + unclaimed_period'\n"
    "plain: Jöhn\u2019s ½ + unclaimed_period\n"
    "block: |\n"
    "  «élan» unclaimed_period\n"
)


def test_non_ascii_before_target() -> None:
    assert raw_at(NON_ASCII, 1, 22, 38) == "unclaimed_period"
    assert target_span(NON_ASCII, ("formula",), "unclaimed_period") == Span(FILE, 1, 22, 1, 38)
    assert target_span(NON_ASCII, ("formula",), "😀") == Span(FILE, 1, 18, 1, 19)
    assert raw_at(NON_ASCII, 2, 19, 35) == "unclaimed_period"
    assert target_span(NON_ASCII, ("plain",), "unclaimed_period") == Span(FILE, 2, 19, 2, 35)
    assert target_span(NON_ASCII, ("block",), "unclaimed_period") == Span(FILE, 4, 10, 4, 26)


TABS = 'formula: "a\t+ unclaimed_period"\nblock: |\n  if\tx\n  \tunclaimed_period\n'


def test_tabs() -> None:
    _, quoted = scalar(TABS, "formula")
    assert quoted.value == "a\t+ unclaimed_period"
    assert raw_at(TABS, 1, 15, 31) == "unclaimed_period"
    assert target_span(TABS, ("formula",), "unclaimed_period") == Span(FILE, 1, 15, 1, 31)
    assert target_span(TABS, ("formula",), "\t") == Span(FILE, 1, 12, 1, 13)
    _, block = scalar(TABS, "block")
    assert block.value == "if\tx\n\tunclaimed_period\n"
    assert target_span(TABS, ("block",), "unclaimed_period") == Span(FILE, 4, 4, 4, 20)


PROPERTIES = "a: !!str &anchor # the formula\n  x + unclaimed_period\nb: *anchor\n"


def test_tag_anchor_and_comment_before_the_scalar() -> None:
    _, node = scalar(PROPERTIES, "a")
    assert node.value == "x + unclaimed_period"
    assert target_span(PROPERTIES, ("a",), "unclaimed_period") == Span(FILE, 2, 7, 2, 23)
    # the alias is the same node: positions of the anchored scalar
    assert target_span(PROPERTIES, ("b",), "x") == Span(FILE, 2, 3, 2, 4)


FLOW = "args: [a + b, 'c', \"d\",\n  e f, {k: unclaimed_period}]\n"


def test_flow_collections() -> None:
    assert target_span(FLOW, ("args", 0), "b") == Span(FILE, 1, 12, 1, 13)
    assert target_span(FLOW, ("args", 1), "c") == Span(FILE, 1, 16, 1, 17)
    assert target_span(FLOW, ("args", 2), "d") == Span(FILE, 1, 21, 1, 22)
    assert target_span(FLOW, ("args", 3), "f") == Span(FILE, 2, 5, 2, 6)
    assert target_span(FLOW, ("args", 4, "k"), "unclaimed_period") == Span(FILE, 2, 12, 2, 28)


@pytest.mark.parametrize("text", ["a:\n", "a: ''\n", 'a: ""\n', "a: !!str\n", "a: |\nb: 1\n"])
def test_empty_scalars(text: str) -> None:
    source, node = scalar(text, "a")
    assert node.value == ""
    positions = ScalarPositions(source, node)
    assert positions.exact
    span = positions.span(0, 0)
    assert span.line == span.end_line and span.col == span.end_col


def test_degrades_to_node_start_when_alignment_fails() -> None:
    source, node = scalar(PLAIN, "definitions", "unclaimed_on", "formula")
    wrong = yaml.ScalarNode(node.tag, "not what the file says", node.start_mark, node.end_mark)
    positions = ScalarPositions(source, wrong)
    assert not positions.exact
    assert positions.span(4, 8) == Span(FILE, 4, 14, 4, 14)
    assert positions.span(100, 200) == Span(FILE, 4, 14, 4, 14)


def test_degrades_without_marks_or_with_odd_nodes() -> None:
    source = Source(FILE, PLAIN)
    bare = yaml.ScalarNode("tag:yaml.org,2002:str", "abc")
    positions = ScalarPositions(source, bare)
    assert not positions.exact
    assert positions.span(1, 2) == Span(FILE, 1, 1, 1, 1)
    # marks from another, longer text
    _, node = scalar(PLAIN + "x" * 200 + ": |\n  y\n", "x" * 200)
    assert not ScalarPositions(Source(FILE, "short"), node).exact
    # a style that does not match the text
    _, plain = scalar(PLAIN, "policy")
    quoted = yaml.ScalarNode(plain.tag, plain.value, plain.start_mark, plain.end_mark, style='"')
    assert ScalarPositions(source, quoted).span(0, 1) == Span(FILE, 1, 9, 1, 9)


# --------------------------------------------------------------------------- node_span


NODES = """\
plain: a + b   # comment
quoted: "x"
block: |
  one
  two

# trailing comment
map:
  k: v
  s:
  - 1
  - [2, 3]

# comment after the mapping
alias: &v 5
last:
  x: 1
  y: *v
"""


def test_node_span() -> None:
    source = Source(FILE, NODES)
    root = compose(NODES)
    assert node_span(source, lookup(root, "plain")) == Span(FILE, 1, 8, 1, 13)
    assert node_span(source, lookup(root, "quoted")) == Span(FILE, 2, 9, 2, 12)
    # block scalars end after their last character, not on the next line
    assert node_span(source, lookup(root, "block")) == Span(FILE, 3, 8, 5, 6)
    # block collections end with their last child, before trailing comments
    assert node_span(source, lookup(root, "map")) == Span(FILE, 9, 3, 12, 11)
    assert node_span(source, lookup(root, "map", "s")) == Span(FILE, 11, 3, 12, 11)
    assert node_span(source, lookup(root, "map", "s", 1)) == Span(FILE, 12, 5, 12, 11)
    # a last child that is an alias does not pull the end back to the anchor
    last = node_span(source, lookup(root, "last"))
    assert (last.line, last.col, last.end_line) == (17, 3, 18)
    whole = node_span(source, root)
    assert (whole.line, whole.col) == (1, 1)
    assert (whole.end_line, whole.end_col) == (last.end_line, last.end_col)


def test_node_span_without_marks() -> None:
    source = Source(FILE, "a: 1\n")
    assert node_span(source, yaml.ScalarNode("tag:yaml.org,2002:str", "x")) == Span(
        FILE, 1, 1, 1, 1
    )


# --------------------------------------------------------------------------- render_snippet


def line41_document() -> str:
    filler = "".join(f"# filler line {n}\n" for n in range(1, 38))
    entry = "definitions:\n  unclaimed_on:\n    entity: account\n"
    return filler + entry + "    formula: balance + unclaimed_period\n"


def test_render_snippet_matches_the_architecture_example() -> None:
    text = line41_document()
    source, node = scalar(text, "definitions", "unclaimed_on", "formula")
    span = ScalarPositions(source, node).span(0, len(node.value))
    assert span == Span(FILE, 41, 14, 41, 40)
    expected = [
        "41 |     formula: balance + unclaimed_period",
        "   |              ^^^^^^^^^^^^^^^^^^^^^^^^^^",
    ]
    assert render_snippet(source, span) == "\n".join(expected)


def test_render_snippet_edges() -> None:
    source = Source(FILE, "ab\n\tx = 1\n\ncd\n")
    assert render_snippet(source, Span(FILE, 1, 2, 1, 2)) == "1 | ab\n  |  ^"  # zero width
    assert render_snippet(source, Span(FILE, 1, 2, 1, 9)) == "1 | ab\n  |  ^^"  # past the end
    assert render_snippet(source, Span(FILE, 1, 3, 1, 3)) == "1 | ab\n  |   ^"  # at the end
    assert render_snippet(source, Span(FILE, 1, 7, 1, 8)) == "1 | ab\n  |   ^"  # clamped
    assert render_snippet(source, Span(FILE, 1, 1, 4, 2)) == "1 | ab\n  | ^^"  # first line only
    # tabs are expanded in the line and under it alike
    assert render_snippet(source, Span(FILE, 2, 2, 2, 3)) == "2 |     x = 1\n  |     ^"
    assert render_snippet(source, Span(FILE, 2, 1, 2, 3)) == "2 |     x = 1\n  | ^^^^^"
    assert render_snippet(source, Span(FILE, 2, 2, 2, 3), tab_width=8) == (
        "2 |         x = 1\n  |         ^"
    )
    assert render_snippet(source, Span(FILE, 3, 1, 3, 1)) == "3 |\n  | ^"  # empty line
    assert render_snippet(source, Span(FILE, 9, 1, 9, 2)) == "9 |\n  | ^"  # out of range


def test_render_snippet_wide_characters() -> None:
    source = Source(FILE, "x: '😀 a'\n")
    assert render_snippet(source, Span(FILE, 1, 5, 1, 6)) == "1 | x: '😀 a'\n  |     ^^"
    assert render_snippet(source, Span(FILE, 1, 7, 1, 8)) == "1 | x: '😀 a'\n  |        ^"


GOLDEN_CASES: dict[str, tuple[str, tuple[str | int, ...], str]] = {
    "plain_line_41": (line41_document(), ("definitions", "unclaimed_on", "formula"), "balance"),
    "literal_block": (LITERAL, ("definitions", "unclaimed_on", "formula"), "unclaimed_period"),
    "double_quoted_escapes": (DOUBLE, ("formula",), "unclaimed_period"),
    "folded_span_over_lines": (
        PLAIN_FOLDED,
        ("definitions", "unclaimed_on", "formula"),
        "last_activity + unclaimed",
    ),
    "single_quoted": (SINGLE, ("check", "formula"), "'unclaimed'"),
    "crlf_plain": (CRLF, ("plain",), "unclaimed_period"),
    "tabs": (TABS, ("block",), "unclaimed_period"),
    "non_ascii": (NON_ASCII, ("formula",), "unclaimed_period"),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_render_snippet_golden(name: str, update_golden: bool) -> None:
    text, path, target = GOLDEN_CASES[name]
    span = target_span(text, path, target)
    rendered = f"{span}\n{render_snippet(Source(FILE, text), span)}\n"
    check_golden(name, rendered, update_golden)


def test_render_snippet_golden_end_of_value(update_golden: bool) -> None:
    source, node = scalar(LITERAL_STRIP, "formula")
    size = len(node.value)
    span = ScalarPositions(source, node).span(size, size)
    rendered = f"{span}\n{render_snippet(source, span)}\n"
    check_golden("end_of_value", rendered, update_golden)


# --------------------------------------------------------------------------- property

LINE_BREAKS = ("\n", "\r\n", "\r", "\x85")
ALPHABET = st.sampled_from(
    [
        *"abcxyz_019",
        *" +-*/<>=!().,:#&|%@`?[]{}",
        "'",
        '"',
        "\\",
        "\t",
        "\n",
        " ",
        " ",
        *"éß€½\u2019«»",
        "😀",
        "\u00a0",
        "\x85",
        "\u2028",
        "\x07",
        "\r",
    ]
)


def wrap(value: str, shape: str) -> object:
    if shape == "top":
        return value
    if shape == "map":
        return {"formula": value}
    if shape == "nested":
        return {"definitions": {"unclaimed_on": {"formula": value, "entity": "account"}}}
    return {"items": [{"formula": value}, value]}


def value_node(root: yaml.Node, shape: str) -> yaml.Node:
    if shape == "top":
        return root
    if shape == "map":
        return lookup(root, "formula")
    if shape == "nested":
        return lookup(root, "definitions", "unclaimed_on", "formula")
    return lookup(root, "items", 1)


def justified(raw: str, ch: str, style: str | None) -> bool:
    """Whether source text ``raw`` can have produced value character ``ch``."""
    if raw == ch:
        return True
    if raw in LINE_BREAKS and ch in (" ", "\n"):
        return True  # folding, or a line break normalised to \n
    if style == "'" and raw == "''":
        return ch == "'"
    if style == '"' and raw.startswith("\\"):
        escaped = yaml.compose(f'"{raw}"', Loader=yaml.SafeLoader)
        return escaped is not None and escaped.value == ch
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=st.text(ALPHABET, max_size=60),
    style=st.sampled_from(["'", '"', "|", ">", None]),
    shape=st.sampled_from(["top", "map", "nested", "seq"]),
    allow_unicode=st.booleans(),
    width=st.sampled_from([12, 30, 80]),
)
def test_every_value_character_maps_to_its_source(
    value: str, style: str | None, shape: str, allow_unicode: bool, width: int
) -> None:
    text = yaml.dump(
        wrap(value, shape), default_style=style, allow_unicode=allow_unicode, width=width
    )
    node = value_node(compose(text), shape)
    assert isinstance(node, yaml.ScalarNode)
    # not always ``value``: PyYAML's emitter does not round-trip every line break
    value = node.value
    positions = ScalarPositions(Source(FILE, text), node)
    assert positions.exact, (text, node.style)
    assert node.start_mark is not None and node.end_mark is not None
    previous_end = node.start_mark.index
    for i, ch in enumerate(value):
        start, end = positions.source_range(i, i + 1)
        assert previous_end <= start < end <= node.end_mark.index, (text, i)
        raw = text[start:end]
        assert justified(raw, ch, node.style), (text, node.style, i, raw, ch)
        if ch.isalnum() or ch in "+-*/<>=_":
            assert raw[0] == ch or (node.style == '"' and raw[0] == "\\"), (text, i)
        previous_end = end
    assert positions.source_range(len(value), len(value)) == (previous_end, previous_end) or (
        not value
    )


PIECES = st.sampled_from(
    [*"ab1 \t'\"\\#:-é😀", " ", "\\n", "\\x41", "\\u00e9", "''", " #c", ": ", "&", "!"]
)
BREAKS = st.sampled_from(["\n", "\n", "\r\n", "\r", "\x85", "\u2028"])
HEADERS = st.sampled_from(
    ["", "'", '"', "|", ">", "|-", ">+", "|2", ">1-", "|+3", "| # c", "!!str ", "&a "]
)


@st.composite
def hand_written_documents(draw: st.DrawFn) -> str:
    """Layouts yaml.dump never writes: odd indentation, empty lines, tabs, CR, NEL."""
    entries = []
    for _ in range(draw(st.integers(1, 3))):
        indent = draw(st.sampled_from(["", "  "]))
        key = draw(st.sampled_from(["k", "- k", "-", "? k\n:"]))
        header = draw(HEADERS)
        body = "".join(draw(st.lists(PIECES, max_size=8)))
        for _ in range(draw(st.integers(0, 4))):
            more = "".join(draw(st.lists(PIECES, max_size=8)))
            body += draw(BREAKS) + " " * draw(st.integers(0, 6)) + more
        closing = header if header in ("'", '"') else ""
        entries.append(f"{indent}{key} {header}{body}{closing}{draw(BREAKS)}")
    return "".join(entries)


def all_scalars(node: yaml.Node, seen: set[int]) -> list[yaml.ScalarNode]:
    if id(node) in seen:
        return []
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        return [node]
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    return [found for child in children for found in all_scalars(child, seen)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=hand_written_documents())
def test_hand_written_layouts_map_exactly(text: str) -> None:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return  # most random layouts are not YAML; the valid ones are what count
    if root is None:
        return
    source = Source(FILE, text)
    for node in all_scalars(root, set()):
        positions = ScalarPositions(source, node)
        assert positions.exact, (text, node.value, node.style)
        assert node.start_mark is not None
        previous_end = node.start_mark.index
        for i, ch in enumerate(node.value):
            start, end = positions.source_range(i, i + 1)
            assert previous_end <= start < end, (text, i)
            assert justified(text[start:end], ch, node.style), (text, node.style, i)
            previous_end = end
