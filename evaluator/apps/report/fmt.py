"""Text of the report's values: exact decimal numbers with thousands separators in a fixed
context (no locale), cells, amounts, and HTML escaping."""

from __future__ import annotations

import html
import re
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Final, Literal

Number = int | float | Decimal
Unit = Literal["CAD", "count"]
Kind = Literal["bar", "line"]


# ---------------------------------------------------------------------------------------
# Numbers: exact decimals, a fixed context, thousands separators, no locale.

DECIMAL_CONTEXT: Final = Context(prec=40)
CENT: Final = Decimal("0.01")
_NUMERIC_TEXT: Final = re.compile(r"[-+\u2212]?(?:CAD\s*|\$)?\d[\d,]*(?:\.\d+)?%?")


def to_decimal(value: Number) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(repr(value))


def unminus(text: str) -> str:
    return text[1:] if re.fullmatch(r"-0(?:\.0*)?", text) else text


def fmt_cad(value: Number) -> str:
    """1234567.891 -> '1,234,567.89' (half up, as the rule's conversions round)."""
    with localcontext(DECIMAL_CONTEXT):
        return unminus(f"{to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP):,.2f}")


def fmt_count(value: Number) -> str:
    d = to_decimal(value)
    with localcontext(DECIMAL_CONTEXT):
        if d == d.to_integral_value():
            return unminus(f"{int(d):,}")
        return unminus(f"{d.quantize(CENT, rounding=ROUND_HALF_UP):,.2f}")


def fmt_value(value: Number, unit: Unit) -> str:
    return f"CAD {fmt_cad(value)}" if unit == "CAD" else fmt_count(value)


def fmt_cell(value: str | Number | None, column: str) -> str:
    """A summary cell: text as given; numbers in a column whose name says CAD as CAD
    (two decimals); integers with thousands separators, except in a column whose name
    mentions a year; other numbers with their own decimals."""
    if value is None:
        return "\u2014"
    if isinstance(value, str):
        # an amount given as text (as compare gives money, exact) is formatted like one
        return fmt_amount(value) if "CAD" in column else value
    if "CAD" in column:
        return fmt_cad(value)
    if isinstance(value, int):
        return str(value) if "year" in column.lower() else f"{value:,}"
    with localcontext(DECIMAL_CONTEXT):
        d = to_decimal(value)
        return unminus(f"{d:,f}" if d != d.to_integral_value() else f"{d:,.0f}")


def format_cad(value: Number | str) -> str:
    """An amount as every human output shows it: thousands separators, two decimals
    (half up). Text that is not a plain decimal is returned as it is."""
    return fmt_amount(value) if isinstance(value, str) else fmt_cad(value)


def format_count(value: Number) -> str:
    """A count as every human output shows it: thousands separators."""
    return fmt_count(value)


def is_numeric_cell(value: str | Number | None) -> bool:
    return value is not None and (not isinstance(value, str) or bool(_NUMERIC_TEXT.fullmatch(value.strip())))


def fmt_amount(text: str) -> str:
    """An amount given as text: reformatted with separators when it is a plain decimal."""
    t = text.strip()
    if re.fullmatch(r"[-+]?\d+(?:\.\d+)?", t):
        return fmt_cad(Decimal(t))
    return text

DASH: Final = "\u2014"
ELLIPSIS: Final = "\u2026"
NUM_ATTR: Final = ' class="num"'


def escape(text: str) -> str:
    return html.escape(text, quote=True)
