"""evaluator.text is the one copy of the value-as-text helpers: each says a value the way
its callers printed it before (diff and policytest through show_plain's two settings), and
no other module defines its own."""

from __future__ import annotations

import ast
from decimal import Decimal

import pytest

from evaluator import errors, text
from evaluator.apps.diff import compute
from evaluator.apps.policytest import run
from evaluator.text import (
    describe_value,
    one_line,
    quote_value,
    show_plain,
    squash_spaces,
    with_article,
)
from tests.support import ROOT


def test_one_line_escapes_what_does_not_print_and_errors_still_gives_it() -> None:
    assert one_line("M1\nA\t\x00é") == "M1\\nA\\t\\x00é"
    assert one_line("plain id") == "plain id"
    assert errors.one_line is one_line


def test_squash_spaces_makes_one_line_of_any_white_space() -> None:
    assert squash_spaces("  a +\n    b\t\t* c  ") == "a + b * c"
    assert squash_spaces("\n \t") == ""


@pytest.mark.parametrize(("word", "shown"), [
    ("account", "an account"), ("member", "a member"), ("Int", "an Int"),
    ("claim", "a claim"), ("event", "an event"), ("Money", "a Money"),
])
def test_with_article(word: str, shown: str) -> None:
    assert with_article(word) == shown


def test_quote_value_is_short_backquoted_and_on_one_line() -> None:
    assert quote_value("2026-13-01") == "`2026-13-01`"
    assert quote_value("x" * 40) == f"`{'x' * 40}`"
    assert quote_value("y" * 41) == f"`{'y' * 37}...`"
    assert quote_value("a\nb") == "`a\\nb`"
    assert quote_value(Decimal("1.50")) == "`1.50`"


@pytest.mark.parametrize(("value", "shown"), [
    (None, "null"), (True, "true"), (False, "false"), ("abc", "`abc`"), (3, "the number 3"),
    (2.5, "the number 2.5"), (Decimal("1.00"), "the number 1.00"), ([1], "a list"),
    ((1,), "a list"), ({"a": 1}, "an object"), (object(), "a object"),
])
def test_describe_value(value: object, shown: str) -> None:
    assert describe_value(value) == shown


# the two settings of show_plain, as diff and policytest printed values before
VALUES: list[tuple[object, str, str]] = [
    # value, diff (ascii, line breaks bare), policytest (non-ASCII kept, line breaks JSON)
    (None, "null", "null"),
    (True, "true", "true"),
    ("10 years", "10 years", "10 years"),
    ("", '""', '""'),
    (" padded", '" padded"', '" padded"'),
    ("two\nlines", "two\nlines", '"two\\nlines"'),
    ("café ", '"caf\\u00e9 "', '"café "'),
    (["a", 2, {"k": " v"}], '[a, 2, {k: " v"}]', '[a, 2, {k: " v"}]'),
    ({"k": ["x\ny"]}, "{k: [x\ny]}", '{k: ["x\\ny"]}'),
    (Decimal("0.05"), "0.05", "0.05"),
]


@pytest.mark.parametrize(("value", "diff", "case"), VALUES)
def test_show_plain_keeps_each_callers_output(value: object, diff: str, case: str) -> None:
    assert show_plain(value, ascii=True, newline_plain=True) == diff
    assert show_plain(value, ascii=False, newline_plain=False) == case
    # the callers use those settings
    assert compute._show(value) == diff
    assert run._show(value) == case


HELPERS = {"one_line", "squash_spaces", "with_article", "quote_value", "describe_value",
           "show_plain", "_a", "_article", "_quote", "_describe",
           "_one_line"}


def test_no_module_but_text_defines_a_value_as_text_helper() -> None:
    found = []
    for path in sorted((ROOT / "evaluator").rglob("*.py")):
        if path == ROOT / "evaluator" / "text.py" or "_data" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name in HELPERS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.name}")
    assert not found, "copies of evaluator.text helpers:\n" + "\n".join(found)
    assert {n for n in HELPERS if hasattr(text, n)} == {
        "one_line", "squash_spaces", "with_article", "quote_value", "describe_value",
        "show_plain"}
