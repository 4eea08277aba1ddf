"""Reading one field of a facts record: the parsers of ids, dates, money, rates, currencies
and choices, each raising :class:`BadField` with the message a record error shows, and
:class:`FieldChecker`, which collects every problem of a record. Also the column names of
the snapshot table and :class:`FactsError` (the input as a whole is unusable)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import TypeVar

from evaluator.errors import DataProblem
from evaluator.facts.model import (
    CLAIM_DECISIONS,
    EVENT_TYPES,
    NOTICE_MARKS,
    RECONSIDERATION_DECISIONS,
)
from evaluator.text import describe_value, quote_value

#: required columns of an account snapshot table
SNAPSHOT_COLUMNS = (
    "member_id",
    "account_id",
    "currency",
    "balance",
    "opened",
    "last_transaction",
    "last_statement_ack",
    "last_response",
)
#: cells of a snapshot row, in the order the loader reads them (``kind`` is optional)
SNAPSHOT_CELLS = (*SNAPSHOT_COLUMNS, "kind")

_T = TypeVar("_T")

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
DECIMAL_RE = re.compile(r"-?\d+(?:\.\d+)?", re.ASCII)
CURRENCY_RE = re.compile(r"[A-Z]{3}", re.ASCII)


class FactsError(DataProblem):
    """The facts input as a whole is unusable; ``str(e)`` is a one-line message."""


class BadField(Exception):
    """One unreadable field of a record."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_text(value: object, name: str) -> str:
    """A required, non-blank string (ids, kinds)."""
    if value is None:
        raise BadField(name, f"{name} is missing")
    if not isinstance(value, str):
        raise BadField(name, f"{name} must be a string, not {describe_value(value)}")
    if not value.strip():
        raise BadField(name, f"{name} is empty")
    if not value.isascii():
        _unicode(value, name)
    return value


def _unicode(value: str, name: str) -> None:
    """Text that can be written out: a JSON string may hold a lone surrogate (`\\udfff`),
    which no output encoding can write; the message shows it escaped."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise BadField(name, f"{name} {quote_value(value)} is not valid Unicode text (a lone "
                         f"surrogate at character {e.start + 1})") from None


#: the longest id a JSON profile may give: a member's id is copied into each of its
#: accounts' determinations, so an unbounded one would make output grow with accounts x
#: id length (a snapshot table repeats the id on every row anyway)
MAX_ID_LENGTH = 1_000


def parse_id(value: object, name: str) -> str:
    """A required id of a JSON profile: non-blank text of at most MAX_ID_LENGTH."""
    text = parse_text(value, name)
    if len(text) > MAX_ID_LENGTH:
        raise BadField(name, f"{name} is {len(text):,} characters long; the limit is "
                         f"{MAX_ID_LENGTH:,}")
    return text


@lru_cache(maxsize=1 << 16)
def iso_date(text: str) -> date | None:
    if _DATE_RE.fullmatch(text) is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse_date(value: object, name: str) -> date:
    if value is None:
        raise BadField(name, f"{name} is missing")
    if isinstance(value, str):
        parsed = iso_date(value)
        if parsed is None:
            raise BadField(name, f"{name} {quote_value(value)} is not a valid date (YYYY-MM-DD)")
        return parsed
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise BadField(name, f"{name} must be a date string (YYYY-MM-DD), not {describe_value(value)}")


def _decimal(value: object, name: str) -> Decimal:
    if value is None:
        raise BadField(name, f"{name} is missing")
    if isinstance(value, bool):
        raise BadField(name, f"{name} must be a decimal number, not {describe_value(value)}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest decimal that reads back as this float
    elif isinstance(value, str):
        if DECIMAL_RE.fullmatch(value) is None:
            raise BadField(name, f"{name} {quote_value(value)} is not a decimal number")
        number = Decimal(value)
    else:
        raise BadField(name, f"{name} must be a decimal number, not {describe_value(value)}")
    if not number.is_finite():
        raise BadField(name, f"{name} {quote_value(value)} is not a finite number")
    return number


def parse_amount(value: object, name: str) -> Decimal:
    """Money that cannot be negative (balances, fees, interest, transfers)."""
    number = _decimal(value, name)
    if number < 0:
        raise BadField(name, f"{name} {quote_value(value)} must not be negative")
    return number.copy_abs() if number.is_zero() else number  # no "-0.00"


def parse_rate(value: object, name: str) -> Decimal:
    number = _decimal(value, name)
    if number <= 0:
        raise BadField(name, f"{name} {quote_value(value)} must be positive")
    return number


def parse_currency(value: object, name: str) -> str:
    if value is None:
        raise BadField(name, f"{name} is missing")
    if not isinstance(value, str):
        raise BadField(name, f"{name} must be a string, not {describe_value(value)}")
    if CURRENCY_RE.fullmatch(value) is None:
        raise BadField(
            name, f"{name} {quote_value(value)} is not a three-letter upper-case currency code"
        )
    return value


def _one_of(choices: Sequence[str]) -> Callable[[object, str], str]:
    listed = ", ".join(f"`{c}`" for c in choices)

    def parse_choice(value: object, name: str) -> str:
        if value is None:
            raise BadField(name, f"{name} is missing")
        if not isinstance(value, str) or value not in choices:
            shown = quote_value(value) if isinstance(value, str) else describe_value(value)
            raise BadField(name, f"{name} {shown} is not one of {listed}")
        return value

    return parse_choice


def _optional(parse: Callable[[object, str], _T]) -> Callable[[object, str], _T | None]:
    def parse_optional(value: object, name: str) -> _T | None:
        return None if value is None else parse(value, name)

    return parse_optional


def parse_kind(value: object, name: str) -> str:
    return "deposit" if value is None else parse_text(value, name)


#: a parser of a choice among ``choices`` (declared event types, text values)
one_of = _one_of
parse_optional_date = _optional(parse_date)
parse_event_type = _one_of(EVENT_TYPES)
parse_notice_mark = _one_of(NOTICE_MARKS)
parse_claim_decision = _optional(_one_of(CLAIM_DECISIONS))
parse_reconsideration_decision = _optional(_one_of(RECONSIDERATION_DECISIONS))


class FieldChecker:
    """Parses the fields of one record, collecting every problem instead of stopping."""

    __slots__ = ("problems",)

    def __init__(self) -> None:
        self.problems: list[BadField] = []

    def __call__(self, parse: Callable[[object, str], _T], value: object, name: str) -> _T | None:
        try:
            return parse(value, name)
        except BadField as bad:
            self.problems.append(bad)
            return None

    def add(self, name: str, message: str) -> None:
        self.problems.append(BadField(name, message))

    @property
    def field(self) -> str | None:
        return self.problems[0].field if self.problems else None

    @property
    def message(self) -> str:
        return "; ".join(p.message for p in self.problems)
