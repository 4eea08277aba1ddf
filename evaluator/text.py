"""Values and text as messages show them: one line, spaces squashed, a word with its
article, an input value quoted or described, a plain JSON value as policies write it.

Each helper is the one copy the package uses, so that a message says a value the same way
wherever it is written. This module imports nothing from the package (it is in the base
layer, below :mod:`evaluator.errors`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

#: the longest text :func:`quote_value` shows whole
QUOTE_LIMIT = 40


def one_line(text: str) -> str:
    """``text`` for a one-line message: line breaks and other characters that do not print
    (from ids or values in the input) written as escapes such as ``\\n``."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def squash_spaces(text: str) -> str:
    """``text`` with each run of white space (line breaks included) one space, and none at
    either end: a formula or a paragraph of YAML on one line."""
    return " ".join(text.split())


def with_article(word: str) -> str:
    """``word`` with its indefinite article: ``an account``, ``a member``."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def quote_value(value: object) -> str:
    """A value of the input shown in a message: in backquotes, at most
    :data:`QUOTE_LIMIT` characters, and on one line (see :func:`one_line`)."""
    text = str(value)
    if len(text) > QUOTE_LIMIT:
        text = text[:QUOTE_LIMIT - 3] + "..."
    return f"`{one_line(text)}`"


def describe_value(value: object) -> str:
    """What a value of the input is, for "must be a string, not ..." messages: ``null``,
    ``true``, a quoted string, ``the number 3``, ``a list``, ``an object``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote_value(value)
    if isinstance(value, int | float | Decimal):
        return f"the number {value}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def show_plain(value: Any, *, ascii: bool, newline_plain: bool) -> str:
    """A plain JSON value as policies and case files write it: ``10 years``, ``null``,
    ``[a, b]``, ``{k: v}``.

    A string is written bare unless it is empty or has spaces at either end, or, when
    ``newline_plain`` is false, holds a line break; otherwise it is JSON, with characters
    outside ASCII escaped when ``ascii`` is true."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        plain = bool(value) and value == value.strip() and (newline_plain or "\n" not in value)
        return value if plain else json.dumps(value, ensure_ascii=ascii)
    if isinstance(value, list):
        return "[" + ", ".join(show_plain(v, ascii=ascii, newline_plain=newline_plain)
                               for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show_plain(v, ascii=ascii, newline_plain=newline_plain)}"
                               for k, v in value.items()) + "}"
    return str(value)
