"""Reading facts: JSON profiles and account snapshot tables into :mod:`evaluator.model`.

Two input forms give one fact model (see ``contract.md``, "Facts in"):

* a **full profile** (``.json``): ``members`` with their ``accounts`` and dated
  ``events``, plus optional ``claims`` and ``fx_rates``;
* an **account snapshot table** (``.csv``): one row per account with the dates of
  the latest transaction, statement acknowledgement and response. Each row becomes
  an :class:`~evaluator.model.Account` plus synthetic events (``transaction`` on the
  account, member-level ``statement_ack`` and ``response``), so a profile and its
  snapshot give equal :class:`~evaluator.model.Member` values.

FX rates (``currency,date,rate``) may be embedded in the JSON form and/or given as
a separate CSV file; both are merged, and one (currency, date) with two different
rates is an error.

Validation policy
-----------------
* The input **as a whole** is unusable -> :class:`FactsError`, a one-line message
  naming the file (and line or row where known): unreadable file, malformed JSON,
  a top level that is not an object, ``members``/``claims``/``fx_rates`` that are
  not lists, a CSV header without the required columns, a quote in a CSV file that is
  never closed (it would swallow the rest of the file; the message names the line
  where it opened), any bad FX rate or FX row (the rate table is one input) and
  conflicting duplicate rates.
* A **record** is unusable -> a :class:`~evaluator.model.RecordError` in
  ``Facts.errors``; every other record is still loaded:

  - a bad account field drops that account (the member's other accounts are kept),
    together with the events that name it;
  - a bad event (or a member without a usable ``member_id``, a duplicate
    ``member_id``, ``accounts``/``events`` that are not lists) drops the whole
    member, since dropping one event would silently change its results; there is
    one error per account of the member (accounts with their own problems report
    those instead);
  - an account id seen before anywhere in the input is an error for the second
    and later occurrences (even when the first occurrence was itself invalid);
  - a member with no accounts at all gets one error with ``account_id=None``;
  - a bad claim, or a duplicate ``claim_id``, is one error for that claim;
  - in a snapshot, a bad row is one error for that row (all its cells, including
    the member-level dates, are ignored); the other rows still load. A row with more
    or fewer cells than the header (a missing cell, an unquoted ``1,234.56``) cannot
    be matched to columns: it is an error with ``field="*"``, naming the ids found in
    the id columns' places;
  - an error about a record as a whole (a member, account or claim that is not an
    object, a ragged row) has ``field="*"``.

  The number of errors is therefore exactly the number of records (accounts, or
  members without accounts, plus claims) that were not loaded.

Leniency, on purpose
--------------------
* Unknown keys on any JSON object are ignored, as are extra CSV columns (except
  an optional ``kind`` column, which sets :attr:`Account.kind`).
* ``amount`` and ``mark`` on event types that do not use them are ignored. A
  member-level event may name one of the member's accounts; it keeps it.
* A ``transfer`` records what accompanied it in ``attachments``: the names of its
  other keys whose value is ``true``, plus the strings listed under ``with``.
* Account events (transaction, fee, interest, transfer) naming an account the member
  declares but which was rejected are dropped with that account (its error is
  reported); member-level events (statement_ack, notice, response) are kept, since
  they count for the whole profile. An event naming an account the member does not
  declare at all makes the member unusable.
* Claims are not cross-checked against accounts (a claim may concern an account
  that is no longer on the books).
* CSV cells are stripped of surrounding blanks; an empty cell is "absent"; rows
  whose cells are all empty or blank (however many there are) are skipped; a UTF-8
  byte order mark is tolerated. A row's location (``row N``) is the line it starts on.
* JSON ``null`` is "absent" for optional fields (``kind``, event ``account_id``,
  the claim fields after ``received``, the top-level lists).

Strictness
----------
Money and rates are decimal strings (``-?digits[.digits]``) or JSON numbers (read
exactly; a Python float is converted through ``repr``), never binary floats;
``NaN``/``Infinity`` are rejected. Balances and fee/interest/transfer amounts must
be >= 0, rates > 0. Dates are ``YYYY-MM-DD`` and must exist (``date`` objects are
accepted from Python callers, datetimes are not). Currencies are three upper-case
letters. Ids are non-blank strings (a JSON number is not an id).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import BinaryIO, TypeVar

from evaluator.errors import DataProblem, one_line
from evaluator.facts.model import (
    ACCOUNT_EVENT_TYPES,
    AMOUNT_EVENT_TYPES,
    CLAIM_DECISIONS,
    EVENT_TYPES,
    NOTICE_MARKS,
    RECONSIDERATION_DECISIONS,
    WHOLE_RECORD,
    Account,
    Claim,
    Event,
    Facts,
    Member,
    RecordError,
)
from evaluator.gcpause import fewer_collections

__all__ = [
    "FX_COLUMNS",
    "SNAPSHOT_COLUMNS",
    "FactsError",
    "check_lines",
    "check_regular",
    "facts_from_json",
    "facts_from_snapshot",
    "load_facts",
    "max_line_bytes",
    "open_regular",
    "parse_fx_csv",
]

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
#: required columns of an FX rate table
FX_COLUMNS = ("currency", "date", "rate")

#: event keys with a meaning of their own; any other key set to ``true`` on a transfer
#: is an attachment
_EVENT_KEYS = frozenset({"date", "type", "account_id", "amount", "mark"})
_UNUSABLE = "a bad event makes the whole member unusable"

_T = TypeVar("_T")

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DECIMAL_RE = re.compile(r"-?\d+(?:\.\d+)?", re.ASCII)
CURRENCY_RE = re.compile(r"[A-Z]{3}", re.ASCII)


class FactsError(DataProblem):
    """The facts input as a whole is unusable; ``str(e)`` is a one-line message."""


# --------------------------------------------------------------------------- fields


class _Bad(Exception):
    """One unreadable field of a record."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _describe(value: object) -> str:
    """What a value is, for "must be a string, not ..." messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, int | float | Decimal):
        return f"the number {value}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _quote(value: object) -> str:
    """A value shown in a message: at most 40 characters, and on one line (line breaks and
    other characters that do not print are written as escapes such as `\\n`)."""
    text = str(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"`{one_line(text)}`"


def _text(value: object, name: str) -> str:
    """A required, non-blank string (ids, kinds)."""
    if value is None:
        raise _Bad(name, f"{name} is missing")
    if not isinstance(value, str):
        raise _Bad(name, f"{name} must be a string, not {_describe(value)}")
    if not value.strip():
        raise _Bad(name, f"{name} is empty")
    if not value.isascii():
        _unicode(value, name)
    return value


def _unicode(value: str, name: str) -> None:
    """Text that can be written out: a JSON string may hold a lone surrogate (`\\udfff`),
    which no output encoding can write; the message shows it escaped."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise _Bad(name, f"{name} {_quote(value)} is not valid Unicode text (a lone "
                         f"surrogate at character {e.start + 1})") from None


#: the longest id a JSON profile may give: a member's id is copied into each of its
#: accounts' determinations, so an unbounded one would make output grow with accounts x
#: id length (a snapshot table repeats the id on every row anyway)
MAX_ID_LENGTH = 1_000


def _id(value: object, name: str) -> str:
    """A required id of a JSON profile: non-blank text of at most MAX_ID_LENGTH."""
    text = _text(value, name)
    if len(text) > MAX_ID_LENGTH:
        raise _Bad(name, f"{name} is {len(text):,} characters long; the limit is "
                         f"{MAX_ID_LENGTH:,}")
    return text


@lru_cache(maxsize=1 << 16)
def _iso_date(text: str) -> date | None:
    if _DATE_RE.fullmatch(text) is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _date(value: object, name: str) -> date:
    if value is None:
        raise _Bad(name, f"{name} is missing")
    if isinstance(value, str):
        parsed = _iso_date(value)
        if parsed is None:
            raise _Bad(name, f"{name} {_quote(value)} is not a valid date (YYYY-MM-DD)")
        return parsed
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise _Bad(name, f"{name} must be a date string (YYYY-MM-DD), not {_describe(value)}")


def _decimal(value: object, name: str) -> Decimal:
    if value is None:
        raise _Bad(name, f"{name} is missing")
    if isinstance(value, bool):
        raise _Bad(name, f"{name} must be a decimal number, not {_describe(value)}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest decimal that reads back as this float
    elif isinstance(value, str):
        if _DECIMAL_RE.fullmatch(value) is None:
            raise _Bad(name, f"{name} {_quote(value)} is not a decimal number")
        number = Decimal(value)
    else:
        raise _Bad(name, f"{name} must be a decimal number, not {_describe(value)}")
    if not number.is_finite():
        raise _Bad(name, f"{name} {_quote(value)} is not a finite number")
    return number


def _amount(value: object, name: str) -> Decimal:
    """Money that cannot be negative (balances, fees, interest, transfers)."""
    number = _decimal(value, name)
    if number < 0:
        raise _Bad(name, f"{name} {_quote(value)} must not be negative")
    return number.copy_abs() if number.is_zero() else number  # no "-0.00"


def _rate(value: object, name: str) -> Decimal:
    number = _decimal(value, name)
    if number <= 0:
        raise _Bad(name, f"{name} {_quote(value)} must be positive")
    return number


def _currency(value: object, name: str) -> str:
    if value is None:
        raise _Bad(name, f"{name} is missing")
    if not isinstance(value, str):
        raise _Bad(name, f"{name} must be a string, not {_describe(value)}")
    if CURRENCY_RE.fullmatch(value) is None:
        raise _Bad(name, f"{name} {_quote(value)} is not a three-letter upper-case currency code")
    return value


def _one_of(choices: Sequence[str]) -> Callable[[object, str], str]:
    listed = ", ".join(f"`{c}`" for c in choices)

    def parse_choice(value: object, name: str) -> str:
        if value is None:
            raise _Bad(name, f"{name} is missing")
        if not isinstance(value, str) or value not in choices:
            shown = _quote(value) if isinstance(value, str) else _describe(value)
            raise _Bad(name, f"{name} {shown} is not one of {listed}")
        return value

    return parse_choice


def _optional(parse: Callable[[object, str], _T]) -> Callable[[object, str], _T | None]:
    def parse_optional(value: object, name: str) -> _T | None:
        return None if value is None else parse(value, name)

    return parse_optional


def _kind(value: object, name: str) -> str:
    return "deposit" if value is None else _text(value, name)


_opt_date = _optional(_date)
_event_type = _one_of(EVENT_TYPES)
_notice_mark = _one_of(NOTICE_MARKS)
_claim_decision = _optional(_one_of(CLAIM_DECISIONS))
_reconsideration_decision = _optional(_one_of(RECONSIDERATION_DECISIONS))


class _Checker:
    """Parses the fields of one record, collecting every problem instead of stopping."""

    __slots__ = ("problems",)

    def __init__(self) -> None:
        self.problems: list[_Bad] = []

    def __call__(self, parse: Callable[[object, str], _T], value: object, name: str) -> _T | None:
        try:
            return parse(value, name)
        except _Bad as bad:
            self.problems.append(bad)
            return None

    def add(self, name: str, message: str) -> None:
        self.problems.append(_Bad(name, message))

    @property
    def field(self) -> str | None:
        return self.problems[0].field if self.problems else None

    @property
    def message(self) -> str:
        return "; ".join(p.message for p in self.problems)


# --------------------------------------------------------------------------- FX rates


class _FxTable:
    """FX rates with where each was first given, to explain conflicts."""

    def __init__(self) -> None:
        self.rates: dict[tuple[str, date], Decimal] = {}
        self.where: dict[tuple[str, date], str] = {}

    def add_row(self, row: Mapping[str, object], where: str) -> None:
        check = _Checker()
        currency = check(_currency, row.get("currency"), "currency")
        when = check(_date, row.get("date"), "date")
        rate = check(_rate, row.get("rate"), "rate")
        if check.problems:
            raise FactsError(f"{where}: {check.message}")
        assert currency is not None and when is not None and rate is not None
        self.add(currency, when, rate, where)

    def add(self, currency: str, when: date, rate: Decimal, where: str) -> None:
        key = (currency, when)
        known = self.rates.get(key)
        if known is None:
            self.rates[key] = rate
            self.where[key] = where
        elif known != rate:
            raise FactsError(
                f"{where}: conflicting FX rate for {currency} on {when.isoformat()}: "
                f"{rate} here, {known} at {self.where[key]}"
            )

    def merge(self, other: _FxTable) -> None:
        for key, rate in other.rates.items():
            self.add(key[0], key[1], rate, other.where[key])


# --------------------------------------------------------------------------- loading


@dataclass
class _SnapshotMember:
    member_id: str
    accounts: list[Account] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    member_level: set[tuple[str, date]] = field(default_factory=set)

    def member_event(self, when: date, kind: str, shared: dict[tuple[str, date], Event]) -> None:
        """Add a member-level event once per date; ``shared`` reuses equal Event values."""
        key = (kind, when)
        if key not in self.member_level:
            self.member_level.add(key)
            event = shared.get(key)
            if event is None:
                event = shared[key] = Event(when, kind)
            self.events.append(event)


@dataclass
class _AccountEntry:
    """One account of a JSON member: its readable id, and the account or its error."""

    account_id: str | None
    account: Account | None
    error: RecordError | None


_by_date = attrgetter("date")


class FactsBuilder:
    """Builds one :class:`Facts`, accumulating record errors in input order."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.members: list[Member] = []
        self.claims: list[Claim] = []
        self.errors: list[RecordError] = []
        self.fx = _FxTable()
        self.account_seen: dict[str, str] = {}
        self.member_seen: dict[str, str] = {}
        self.claim_seen: dict[str, str] = {}
        self.member_events: dict[tuple[str, date], Event] = {}
        self.form = "profile"

    def facts(self) -> Facts:
        return Facts(
            members=tuple(self.members),
            claims=tuple(self.claims),
            fx_rates=dict(self.fx.rates),
            errors=tuple(self.errors),
            source=self.source,
            form=self.form,
        )

    def _duplicate_account(self, check: _Checker, account_id: str | None, where: str) -> None:
        if account_id is None:
            return
        first = self.account_seen.get(account_id)
        if first is None:
            self.account_seen[account_id] = where
        else:
            check.add("account_id", f"duplicate account id `{account_id}`, first seen at {first}")

    # ----------------------------------------------------------------- JSON form

    def json_document(self, obj: object) -> None:
        if not isinstance(obj, dict):
            raise FactsError(
                f"{self.source}: the top level must be an object, not {_describe(obj)}"
            )
        for k, row in enumerate(self._json_list(obj, "fx_rates")):
            if not isinstance(row, dict):
                raise FactsError(
                    f"{self.source}: fx_rates[{k}] must be an object, not {_describe(row)}"
                )
            self.fx.add_row(row, f"{self.source}: fx_rates[{k}]")
        if obj.get("members") is None:
            raise FactsError(f"{self.source}: the top-level `members` list is missing")
        for i, member in enumerate(self._json_list(obj, "members")):
            self._json_member(i, member)
        for k, claim in enumerate(self._json_list(obj, "claims")):
            self._json_claim(k, claim)

    def _json_list(self, obj: Mapping[str, object], key: str) -> list[object]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise FactsError(f"{self.source}: `{key}` must be a list, not {_describe(value)}")
        return value

    def _json_member(self, i: int, raw: object) -> None:
        loc = f"members[{i}]"
        if not isinstance(raw, dict):
            self.errors.append(
                RecordError(
                    f"member must be an object, not {_describe(raw)}",
                    field=WHOLE_RECORD,
                    location=loc,
                )
            )
            return
        # why the member as a whole cannot be used: (field, message, location)
        reason: tuple[str, str, str] | None = None
        member_id: str | None
        try:
            member_id = _id(raw.get("member_id"), "member_id")
        except _Bad as bad:
            member_id = None
            reason = (bad.field, bad.message, loc)
        if member_id is not None:
            first = self.member_seen.get(member_id)
            if first is None:
                self.member_seen[member_id] = loc
            else:
                reason = (
                    "member_id",
                    f"duplicate member id `{member_id}`, first seen at {first}",
                    loc,
                )

        raw_accounts = raw.get("accounts")
        if raw_accounts is None:
            raw_accounts = []
        elif not isinstance(raw_accounts, list):
            reason = reason or (
                "accounts",
                f"accounts must be a list, not {_describe(raw_accounts)}",
                loc,
            )
            raw_accounts = []
        entries = [
            self._json_account(account, f"{loc}.accounts[{j}]", member_id)
            for j, account in enumerate(raw_accounts)
        ]
        declared = {e.account_id for e in entries if e.account_id is not None}
        loaded = {e.account.account_id for e in entries if e.account is not None}

        raw_events = raw.get("events")
        if raw_events is None:
            raw_events = []
        elif not isinstance(raw_events, list):
            reason = reason or (
                "events",
                f"events must be a list, not {_describe(raw_events)}",
                loc,
            )
            raw_events = []
        events: list[Event] = []
        bad_events = 0
        for k, raw_event in enumerate(raw_events):
            event, problems = self._json_event(raw_event, declared, member_id)
            if event is None:
                bad_events += 1
                if reason is None:
                    text = "; ".join(p.message for p in problems)
                    reason = (problems[0].field, f"events[{k}]: {text}", f"{loc}.events[{k}]")
            elif (event.account_id is None or event.account_id in loaded
                  or event.type not in ACCOUNT_EVENT_TYPES):
                # member-level events count for the whole profile even when they name
                # an account that was rejected; account events go with their account
                events.append(event)
        if reason is not None and bad_events and reason[2] != loc:
            more = f" (and {bad_events - 1} more bad events)" if bad_events > 1 else ""
            reason = (reason[0], f"{reason[1]}{more}; {_UNUSABLE}", reason[2])

        if reason is not None:
            name, message, where = reason
            if not entries:
                self.errors.append(
                    RecordError(message, member_id, None, field=name, location=where)
                )
            for entry in entries:
                if entry.error is not None:
                    self.errors.append(entry.error)
                else:
                    self.errors.append(
                        RecordError(
                            message, member_id, entry.account_id, field=name, location=where
                        )
                    )
            return
        assert member_id is not None
        accounts: list[Account] = []
        for entry in entries:
            if entry.error is not None:
                self.errors.append(entry.error)
            elif entry.account is not None:
                accounts.append(entry.account)
        if not accounts:
            if not entries:
                self.errors.append(
                    RecordError(
                        "member has no accounts", member_id, None, field="accounts", location=loc
                    )
                )
            return
        events.sort(key=_by_date)
        self.members.append(Member(member_id, tuple(accounts), tuple(events)))

    def _json_account(self, raw: object, loc: str, member_id: str | None) -> _AccountEntry:
        if not isinstance(raw, dict):
            message = f"account must be an object, not {_describe(raw)}"
            error = RecordError(message, member_id, field=WHOLE_RECORD, location=loc)
            return _AccountEntry(None, None, error)
        check = _Checker()
        account_id = check(_id, raw.get("account_id"), "account_id")
        self._duplicate_account(check, account_id, loc)
        currency = check(_currency, raw.get("currency"), "currency")
        balance = check(_amount, raw.get("balance"), "balance")
        opened = check(_date, raw.get("opened"), "opened")
        kind = check(_kind, raw.get("kind"), "kind")
        if check.problems:
            error = RecordError(
                check.message, member_id, account_id, field=check.field, location=loc
            )
            return _AccountEntry(account_id, None, error)
        assert account_id is not None and currency is not None and balance is not None
        assert opened is not None and kind is not None
        account = Account(account_id, member_id or "", currency, balance, opened, kind)
        return _AccountEntry(account_id, account, None)

    def _json_event(
        self, raw: object, declared: set[str], member_id: str | None
    ) -> tuple[Event | None, list[_Bad]]:
        if not isinstance(raw, dict):
            return None, [_Bad("events", f"an event must be an object, not {_describe(raw)}")]
        check = _Checker()
        when = check(_date, raw.get("date"), "date")
        kind = check(_event_type, raw.get("type"), "type")
        account_id: str | None = None
        amount: Decimal | None = None
        mark: str | None = None
        attachments: tuple[str, ...] = ()
        if kind is not None:
            raw_account = raw.get("account_id")
            if kind in ACCOUNT_EVENT_TYPES or raw_account is not None:
                account_id = check(_id, raw_account, "account_id")
                if account_id is not None and account_id not in declared:
                    whose = f"member `{member_id}`" if member_id is not None else "the member"
                    check.add(
                        "account_id", f"account_id `{account_id}` is not an account of {whose}"
                    )
            if kind in AMOUNT_EVENT_TYPES:
                amount = check(_amount, raw.get("amount"), "amount")
            if kind == "notice":
                mark = check(_notice_mark, raw.get("mark"), "mark")
            if kind == "transfer":
                attachments = self._attachments(raw, check)
        if check.problems:
            return None, check.problems
        assert when is not None and kind is not None
        return Event(when, kind, account_id, mark, amount, attachments), []

    @staticmethod
    def _attachments(raw: Mapping[str, object], check: _Checker) -> tuple[str, ...]:
        names = {key for key, value in raw.items() if value is True and key not in _EVENT_KEYS}
        for key in names:
            check(_text, key, "with")
        listed = raw.get("with")
        if listed is not None:
            if not isinstance(listed, list):
                check.add("with", f"with must be a list of strings, not {_describe(listed)}")
            else:
                for item in listed:
                    if isinstance(item, str) and item.strip():
                        check(_text, item, "with")
                        names.add(item)
                    else:
                        check.add(
                            "with", f"with must list non-empty strings, not {_describe(item)}"
                        )
        return tuple(sorted(names))

    def _json_claim(self, k: int, raw: object) -> None:
        loc = f"claims[{k}]"
        if not isinstance(raw, dict):
            self.errors.append(
                RecordError(
                    f"claim must be an object, not {_describe(raw)}",
                    field=WHOLE_RECORD,
                    location=loc,
                    claim=True,
                )
            )
            return
        check = _Checker()
        claim_id = check(_id, raw.get("claim_id"), "claim_id")
        if claim_id is not None:
            first = self.claim_seen.get(claim_id)
            if first is None:
                self.claim_seen[claim_id] = loc
            else:
                check.add("claim_id", f"duplicate claim id `{claim_id}`, first seen at {first}")
        account_id = check(_id, raw.get("account_id"), "account_id")
        received = check(_date, raw.get("received"), "received")
        complete = check(_opt_date, raw.get("complete"), "complete")
        decision = check(_claim_decision, raw.get("decision"), "decision")
        decided = check(_opt_date, raw.get("decided"), "decided")
        re_received = check(
            _opt_date, raw.get("reconsideration_received"), "reconsideration_received"
        )
        re_complete = check(
            _opt_date, raw.get("reconsideration_complete"), "reconsideration_complete"
        )
        re_decision = check(
            _reconsideration_decision,
            raw.get("reconsideration_decision"),
            "reconsideration_decision",
        )
        re_decided = check(_opt_date, raw.get("reconsideration_decided"), "reconsideration_decided")
        if check.problems:
            self.errors.append(
                RecordError(
                    check.message,
                    account_id=account_id,
                    claim_id=claim_id,
                    field=check.field,
                    location=loc,
                    claim=True,
                )
            )
            return
        assert claim_id is not None and account_id is not None and received is not None
        self.claims.append(
            Claim(
                claim_id=claim_id,
                account_id=account_id,
                received=received,
                complete=complete,
                decision=decision,
                decided=decided,
                reconsideration_received=re_received,
                reconsideration_complete=re_complete,
                reconsideration_decision=re_decision,
                reconsideration_decided=re_decided,
            )
        )

    # ----------------------------------------------------------------- snapshot form

    def snapshot(self, rows: Iterable[tuple[int, Sequence[str | None] | RaggedRow]]) -> None:
        """Load snapshot rows given as (line, cells in ``SNAPSHOT_CELLS`` order); a
        :class:`RaggedRow` is a record error (its ids are not registered as seen)."""
        groups: dict[str, _SnapshotMember] = {}
        for line, cells in rows:
            if isinstance(cells, RaggedRow):
                self.errors.append(cells.error())
            elif not self._snapshot_row_fast(line, cells, groups):
                self.snapshot_row(line, cells, groups)
        for group in groups.values():
            group.events.sort(key=_by_date)
            self.members.append(Member(group.member_id, tuple(group.accounts), tuple(group.events)))

    def _snapshot_row_fast(
        self, line: int, cells: Sequence[str | None], groups: dict[str, _SnapshotMember]
    ) -> bool:
        """Load a well-formed row quickly; False, having changed nothing, for any doubt.

        Must accept exactly what :meth:`snapshot_row` accepts, with the same result.
        """
        (
            raw_member,
            raw_account,
            raw_currency,
            raw_balance,
            raw_opened,
            raw_tx,
            raw_ack,
            raw_resp,
            raw_kind,
        ) = cells
        if None in (
            raw_member,
            raw_account,
            raw_currency,
            raw_balance,
            raw_opened,
            raw_tx,
            raw_ack,
            raw_resp,
        ):
            return False
        assert raw_member is not None and raw_account is not None and raw_currency is not None
        assert raw_balance is not None and raw_opened is not None and raw_tx is not None
        assert raw_ack is not None and raw_resp is not None
        member_id = raw_member.strip()
        account_id = raw_account.strip()
        currency = raw_currency.strip()
        balance = raw_balance.strip()
        opened = _iso_date(raw_opened.strip())
        tx_text = raw_tx.strip()
        ack_text = raw_ack.strip()
        resp_text = raw_resp.strip()
        kind = raw_kind.strip() if raw_kind is not None else ""
        if (
            not member_id
            or not account_id
            or account_id in self.account_seen
            or opened is None
            or CURRENCY_RE.fullmatch(currency) is None
            or _DECIMAL_RE.fullmatch(balance) is None
            or balance[0] == "-"
        ):
            return False
        last_tx = _iso_date(tx_text) if tx_text else None
        last_ack = _iso_date(ack_text) if ack_text else None
        last_resp = _iso_date(resp_text) if resp_text else None
        if (
            (tx_text and last_tx is None)
            or (ack_text and last_ack is None)
            or (resp_text and last_resp is None)
        ):
            return False
        self.account_seen[account_id] = f"row {line}"
        self._snapshot_add(
            groups,
            Account(account_id, member_id, currency, Decimal(balance), opened, kind or "deposit"),
            last_tx,
            last_ack,
            last_resp,
        )
        return True

    def snapshot_row(
        self, line: int, raw: Sequence[str | None], groups: dict[str, _SnapshotMember]
    ) -> None:
        cells = [(value.strip() or None) if value is not None else None for value in raw]
        loc = f"row {line}"
        check = _Checker()
        member_id = check(_text, cells[0], "member_id")
        account_id = check(_text, cells[1], "account_id")
        self._duplicate_account(check, account_id, loc)
        currency = check(_currency, cells[2], "currency")
        balance = check(_amount, cells[3], "balance")
        opened = check(_date, cells[4], "opened")
        last_tx = check(_opt_date, cells[5], "last_transaction")
        last_ack = check(_opt_date, cells[6], "last_statement_ack")
        last_resp = check(_opt_date, cells[7], "last_response")
        kind = check(_kind, cells[8], "kind")
        if check.problems:
            self.errors.append(
                RecordError(check.message, member_id, account_id, field=check.field, location=loc)
            )
            return
        assert member_id is not None and account_id is not None and currency is not None
        assert balance is not None and opened is not None and kind is not None
        account = Account(account_id, member_id, currency, balance, opened, kind)
        self._snapshot_add(groups, account, last_tx, last_ack, last_resp)

    def _snapshot_add(
        self,
        groups: dict[str, _SnapshotMember],
        account: Account,
        last_tx: date | None,
        last_ack: date | None,
        last_resp: date | None,
    ) -> None:
        group = groups.get(account.member_id)
        if group is None:
            group = groups[account.member_id] = _SnapshotMember(account.member_id)
        group.accounts.append(account)
        if last_tx is not None:
            group.events.append(Event(last_tx, "transaction", account.account_id))
        if last_ack is not None:
            group.member_event(last_ack, "statement_ack", self.member_events)
        if last_resp is not None:
            group.member_event(last_resp, "response", self.member_events)


# --------------------------------------------------------------------------- public API


def facts_from_json(obj: object, source: str = "<memory>") -> Facts:
    """Facts from an already-parsed full profile (see the module docstring).

    Parse JSON text with ``json.loads(text, parse_float=Decimal)`` so numbers are exact.
    Raises :class:`FactsError` when the document as a whole is unusable.
    """
    loader = FactsBuilder(source)
    with fewer_collections():
        loader.json_document(obj)
    return loader.facts()


def facts_from_snapshot(
    rows: Iterable[Mapping[str, str]],
    fx_rows: Iterable[Mapping[str, str]] = (),
    source: str = "<memory>",
    first_row: int = 2,
) -> Facts:
    """Facts from snapshot rows (for example a :class:`csv.DictReader`).

    Rows are numbered from ``first_row`` for error locations ("row 2" is the first
    data row of a file with a header line). The first row's keys are taken as the
    header. Raises :class:`FactsError` when they lack a required column or an FX row
    is bad.
    """
    loader = FactsBuilder(source)
    for n, fx_row in enumerate(fx_rows, start=2):
        loader.fx.add_row(_stripped(fx_row), f"{source}: fx row {n}")
    loader.form = "snapshot"
    with fewer_collections():
        loader.snapshot(_mapping_cells(rows, source, first_row))
    return loader.facts()


def _mapping_cells(
    rows: Iterable[Mapping[str, str | None]], source: str, first_row: int
) -> Iterator[tuple[int, tuple[str | None, ...]]]:
    for line, row in enumerate(rows, start=first_row):
        if line == first_row:
            missing = [c for c in SNAPSHOT_COLUMNS if c not in row]
            if missing:
                raise FactsError(
                    f"{source}: row {line}: missing column(s) {', '.join(missing)} "
                    f"(expected {', '.join(SNAPSHOT_COLUMNS)})"
                )
        yield line, tuple(row.get(c) for c in SNAPSHOT_CELLS)


def parse_fx_csv(path: str | os.PathLike[str]) -> dict[tuple[str, date], Decimal]:
    """FX rates from a CSV file with header ``currency,date,rate`` (CAD per unit)."""
    return _read_fx_csv(path).rates


def parse_fx_rows(
    rows: Iterable[Mapping[str, str | None]], source: str = "<memory>"
) -> dict[tuple[str, date], Decimal]:
    """FX rates from rows with keys currency, date, rate; raises FactsError when bad."""
    table = _FxTable()
    for n, row in enumerate(rows, start=2):
        table.add_row(_stripped(row), f"{source}: fx row {n}")
    return table.rates


def load_facts(path: str | os.PathLike[str], fx: str | os.PathLike[str] | None = None) -> Facts:
    """Facts from a ``.json`` profile or a ``.csv`` or ``.parquet`` snapshot, plus an
    optional FX CSV file."""
    source = os.fspath(path)
    suffix = Path(source).suffix.lower()
    if suffix == ".parquet":  # the columnar reader's frame, read by this loader's rules
        from evaluator.backends.columnar import parquet_facts

        return parquet_facts(path, fx)
    if suffix not in (".json", ".csv"):
        shown = f"`{suffix}`" if suffix else "no extension"
        raise FactsError(
            f"{source}: cannot read facts from a file with {shown} (expected .json, .csv or "
            ".parquet)"
        )
    if suffix == ".csv":
        check_lines(path, "facts file")
    data = _read_bytes(path, "facts file")
    text = _decode(data, source)
    loader = FactsBuilder(source)
    with fewer_collections():
        if suffix == ".json":
            loader.json_document(_parse_json(text, source))
        else:
            loader.form = "snapshot"
            loader.snapshot(_csv_records(text, source, SNAPSHOT_COLUMNS, ("kind",)))
    if fx is not None:
        loader.fx.merge(_read_fx_csv(fx))
    facts = loader.facts()
    return Facts(
        members=facts.members,
        claims=facts.claims,
        fx_rates=facts.fx_rates,
        errors=facts.errors,
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        form=facts.form,
    )


def facts_from_bytes(data: bytes, source: str) -> Facts:
    """Facts from the bytes of a ``.json`` profile, read exactly as :func:`load_facts` reads
    a file holding them (same messages, same ``sha256``), shown as ``source``."""
    text = _decode(data, source)
    loader = FactsBuilder(source)
    with fewer_collections():
        loader.json_document(_parse_json(text, source))
    facts = loader.facts()
    return Facts(members=facts.members, claims=facts.claims, fx_rates=facts.fx_rates,
                 errors=facts.errors, source=source,
                 sha256=hashlib.sha256(data).hexdigest(), form=facts.form)


# --------------------------------------------------------------------------- files


def _read_bytes(path: str | os.PathLike[str], what: str) -> bytes:
    """The bytes of a facts or FX file, which must be a regular file (see
    :func:`check_regular`)."""
    try:
        with open_regular(path, what) as fh:
            return fh.read()
    except OSError as e:
        raise FactsError(f"{os.fspath(path)}: cannot read {what}: {e.strerror or e}") from None


def _kind_of(mode: int) -> str | None:
    """What a file that is not a regular file is, for messages (None: a regular file)."""
    if stat.S_ISREG(mode):
        return None
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _not_regular(path: str | os.PathLike[str], what: str, kind: str) -> FactsError:
    return FactsError(f"{os.fspath(path)}: cannot read {what}: it is {kind}, not a regular "
                      "file")


def check_regular(path: str | os.PathLike[str], what: str) -> None:
    """Refuse, with a :class:`FactsError`, a path that is not a regular file once symbolic
    links are followed: a folder, a FIFO (opening it would wait for a writer; read, it
    has no end), a device such as ``/dev/zero`` (an endless read) or a socket. Nothing is
    opened."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise FactsError(f"{os.fspath(path)}: cannot read {what}: {e.strerror or e}") from None
    kind = _kind_of(mode)
    if kind is not None:
        raise _not_regular(path, what, kind)


def open_regular(path: str | os.PathLike[str], what: str) -> BinaryIO:
    """A regular file opened for reading; a FactsError for anything else. The file is
    checked before it is opened (a device is never opened) and again once opened without
    blocking (it may have been replaced in between)."""
    check_regular(path, what)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        kind = _kind_of(os.fstat(fd).st_mode)
        if kind is not None:
            raise _not_regular(path, what, kind)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


#: the longest line a CSV file (a snapshot table or an FX table) may have, in bytes; a
#: longer one makes the whole file unusable. Lines are measured by a streaming scan
#: before the file is read, so a huge line costs no more memory than a short one.
DEFAULT_MAX_LINE_BYTES = 1 << 20
#: the environment variable that sets another limit (a whole number of bytes)
MAX_LINE_BYTES_ENV = "UNCLAIMED_MAX_LINE_BYTES"
_SCAN_BLOCK = 1 << 20


def max_line_bytes() -> int:
    """The line limit: ``UNCLAIMED_MAX_LINE_BYTES`` when set, else 1 MiB."""
    raw = os.environ.get(MAX_LINE_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_LINE_BYTES
    if not raw.isdigit() or int(raw) < 1:
        raise FactsError(f"{MAX_LINE_BYTES_ENV}={one_line(raw)[:40]}: expected a positive "
                         "whole number of bytes")
    return int(raw)


def check_lines(path: str | os.PathLike[str], what: str, limit: int | None = None) -> None:
    """Refuse a CSV file with a line longer than ``limit`` bytes (default
    :func:`max_line_bytes`), naming the line, after reading at most one block of it at a
    time. A line ends at ``\\n``, ``\\r\\n`` or ``\\r``, as :mod:`csv` reads lines."""
    import numpy as np  # only here: the loader itself does not need NumPy

    limit = max_line_bytes() if limit is None else limit
    breaks = 0  # line breaks before this block
    run = 0  # bytes of the current line before this block
    after_cr = False  # the previous block ended with \r
    with open_regular(path, what) as fh:
        while block := fh.read(_SCAN_BLOCK):
            a = np.frombuffer(block, dtype=np.uint8)
            marks = np.flatnonzero((a == 10) | (a == 13))
            if marks.size:
                lengths = np.diff(marks, prepend=-1) - 1
                lengths[0] += run
                prev = np.where(marks > 0, a[np.maximum(marks - 1, 0)], 13 if after_cr else 0)
                is_break = ~((a[marks] == 10) & (prev == 13))  # \r\n is one break
                over = np.flatnonzero(lengths > limit)
                if over.size:
                    line = breaks + int(np.count_nonzero(is_break[:int(over[0])])) + 1
                    raise _long_line(path, what, line, limit)
                breaks += int(np.count_nonzero(is_break))
                run = a.size - int(marks[-1]) - 1
            else:
                run += a.size
            after_cr = a[-1] == 13
            if run > limit:
                raise _long_line(path, what, breaks + 1, limit)


def _long_line(path: str | os.PathLike[str], what: str, line: int, limit: int) -> FactsError:
    return FactsError(f"{os.fspath(path)}: line {line}: longer than {limit:,} bytes, the "
                      f"limit for a line of a CSV file ({MAX_LINE_BYTES_ENV}): the {what} "
                      "is not read")


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FactsError(f"{source}: not UTF-8 text (invalid byte at offset {e.start})") from None


def _parse_json(text: str, source: str) -> object:
    try:
        # NaN/Infinity become Decimal and are then rejected per field as "not a finite number"
        return json.loads(text, parse_float=Decimal, parse_constant=Decimal)
    except json.JSONDecodeError as e:
        raise FactsError(
            f"{source}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}"
        ) from None
    except (ValueError, RecursionError) as e:
        raise FactsError(f"{source}: malformed JSON: {e}") from None


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


def _csv_records(
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


def _stripped(row: Mapping[str, str | None]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, value in row.items():
        out[key] = (value.strip() or None) if isinstance(value, str) else value
    return out


def _read_fx_csv(path: str | os.PathLike[str]) -> _FxTable:
    source = os.fspath(path)
    check_lines(path, "FX file")
    text = _decode(_read_bytes(path, "FX file"), source)
    table = _FxTable()
    for line, cells in _csv_records(text, source, FX_COLUMNS):
        if isinstance(cells, RaggedRow):
            raise FactsError(f"{source}: line {line}: {cells.message}")
        table.add_row(
            _stripped(dict(zip(FX_COLUMNS, cells, strict=True))), f"{source}: line {line}"
        )
    return table
