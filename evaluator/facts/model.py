"""The fact model: what the evaluator knows about members, accounts, events and claims.

Both input forms (full JSON profiles and account snapshot tables) are turned into
these frozen records by :mod:`evaluator.facts`; the evaluator never sees raw input.
Money is :class:`~decimal.Decimal`, dates are :class:`datetime.date`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

EVENT_TYPES = (
    "transaction",
    "statement_ack",
    "notice",
    "response",
    "fee",
    "interest",
    "transfer",
)
#: event types that must name an account
ACCOUNT_EVENT_TYPES = frozenset({"transaction", "fee", "interest", "transfer"})
#: event types that must carry an amount
AMOUNT_EVENT_TYPES = frozenset({"fee", "interest", "transfer"})
NOTICE_MARKS = ("2y", "5y", "9y", "catch-up", "transition")
#: declared fields beyond the standard ones: (name, value) pairs, in declared order
Extra = tuple[tuple[str, Any], ...]

CLAIM_DECISIONS = ("approved", "denied", "more-information")
RECONSIDERATION_DECISIONS = ("confirmed", "reversed", "more-information")


@dataclass(frozen=True, slots=True)
class Event:
    date: date
    type: str
    account_id: str | None = None
    mark: str | None = None
    amount: Decimal | None = None
    #: what accompanied a transfer (2(6)-2(10)); free-form flags kept for later provisions
    attachments: tuple[str, ...] = ()
    #: the fields a policy declares beyond the standard ones, as (name, value) pairs
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    member_id: str
    currency: str
    balance: Decimal
    opened: date
    kind: str = "deposit"
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    accounts: tuple[Account, ...]
    #: every event of the member, account-level and member-level, sorted by date (stable)
    events: tuple[Event, ...] = ()
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class Claim:
    claim_id: str
    account_id: str
    received: date
    complete: date | None = None
    decision: str | None = None
    decided: date | None = None
    reconsideration_received: date | None = None
    reconsideration_complete: date | None = None
    reconsideration_decision: str | None = None
    reconsideration_decided: date | None = None
    extra: Extra = ()


#: the ``field`` of an error about a record as a whole (a row with cells missing, a member
#: that is not an object, a record whose evaluation fails)
WHOLE_RECORD = "*"


@dataclass(frozen=True, slots=True)
class RecordError:
    """A record that could not be read or evaluated; every other record still is.

    Every error names a field: the input field at fault, or :data:`WHOLE_RECORD` (``"*"``)
    when the record as a whole is (an error created without a field gets ``"*"``).
    """

    message: str
    member_id: str | None = None
    account_id: str | None = None
    claim_id: str | None = None
    field: str | None = None
    #: where in the input: "members[3].accounts[0]" or "row 17"
    location: str | None = None
    #: an error about a claim (rendered with ``claim_id``, even when the claim has none)
    claim: bool = False

    def __post_init__(self) -> None:
        if self.field is None:
            object.__setattr__(self, "field", WHOLE_RECORD)
        if self.claim_id is not None and not self.claim:
            object.__setattr__(self, "claim", True)

    def to_json(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        if self.claim:
            out["claim_id"] = self.claim_id
        else:
            out["member_id"] = self.member_id
            out["account_id"] = self.account_id
        if self.field is not None:
            out["field"] = self.field
        if self.location is not None:
            out["location"] = self.location
        out["message"] = self.message
        return out


def field_value(record: Any, name: str) -> Any:
    """A declared field of a record beyond the standard ones (None when it has none)."""
    for key, value in record.extra:
        if key == name:
            return value
    return None


@dataclass(frozen=True, slots=True)
class Facts:
    """A validated portfolio: what was readable, plus an error per unreadable record."""

    members: tuple[Member, ...]
    claims: tuple[Claim, ...] = ()
    #: (currency, date) -> units of CAD per unit of currency
    fx_rates: dict[tuple[str, date], Decimal] = field(default_factory=dict)
    errors: tuple[RecordError, ...] = ()
    #: where the facts came from (file path or "<memory>") and their sha256, when known
    source: str = "<memory>"
    sha256: str | None = None
    #: "profile" (full event history) or "snapshot" (only the latest date of each kind)
    form: str = "profile"
    #: keys or columns the declaration does not know: (what, name, records carrying it)
    unknown: tuple[tuple[str, str, int], ...] = ()
    #: the declared facts they were read by (None: the standard declaration alone)
    decl: Any = None

    def unknown_warnings(self) -> list[str]:
        """One line per unknown key or column, naming it and counting its records."""
        return [f"{self.source}: unknown {what} `{name}` in {count:,} record"
                f"{'' if count == 1 else 's'}: not declared in the policy's facts, ignored"
                for what, name, count in self.unknown]

    @property
    def record_count(self) -> int:
        """Records in: accounts (or account-less members) plus claims plus bad records."""
        accounts = sum(max(1, len(m.accounts)) for m in self.members)
        return accounts + len(self.claims) + len(self.errors)
