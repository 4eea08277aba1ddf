"""The type lattice of the policy language.

Primitive types: Bool, Int (a subtype of Number), Number, Money, Date, Duration,
MonthDay, Text. ``Null`` is the type of ``null``; ``Never`` the type of ``fail(...)``.
``Unknown`` is the type of an expression the checker has reported as wrong: it fits
everywhere and anything computed from it is Unknown too, so that one mistake is reported
once, not again by everything that depends on it. ``Optional[T]`` marks a value that may be missing: it must be handled explicitly
(``x ?? default``, ``x != null``) before it is used. Lists, records (table rows,
record literals) and entities (member, account, event, claim) complete the set.
"""

from __future__ import annotations

from dataclasses import dataclass


class Type:
    def __str__(self) -> str:  # pragma: no cover - overridden
        return "?"


@dataclass(frozen=True, slots=True)
class Prim(Type):
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class OptionalT(Type):
    inner: Type

    def __str__(self) -> str:
        return f"{self.inner}?"


@dataclass(frozen=True, slots=True)
class ListT(Type):
    elem: Type

    def __str__(self) -> str:
        return f"List[{self.elem}]"


@dataclass(frozen=True, slots=True)
class RecordT(Type):
    fields: tuple[tuple[str, Type], ...]

    def field(self, name: str) -> Type | None:
        for k, t in self.fields:
            if k == name:
                return t
        return None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.fields)

    def __str__(self) -> str:
        return "{" + ", ".join(f"{k}: {t}" for k, t in self.fields) + "}"


@dataclass(frozen=True, slots=True)
class EntityT(Type):
    name: str

    def __str__(self) -> str:
        return self.name.capitalize()


BOOL = Prim("Bool")
INT = Prim("Int")
NUMBER = Prim("Number")
MONEY = Prim("Money")
DATE = Prim("Date")
DURATION = Prim("Duration")
MONTH_DAY = Prim("MonthDay")
TEXT = Prim("Text")
NULL = Prim("Null")
NEVER = Prim("Never")
#: the type of an erroneous expression (already reported): compatible with every type
UNKNOWN = Prim("Unknown")

NUMERIC = (INT, NUMBER, MONEY)
ORDERED = (INT, NUMBER, MONEY, DATE, DURATION, MONTH_DAY, TEXT)

#: parameter type names as written in policy files
PARAM_TYPES: dict[str, Type] = {
    "bool": BOOL,
    "integer": INT,
    "decimal": NUMBER,
    "percent": NUMBER,
    "money": MONEY,
    "date": DATE,
    "duration": DURATION,
    "month_day": MONTH_DAY,
    "text": TEXT,
}

#: the facts each entity exposes to formulas
ENTITY_FIELDS: dict[str, dict[str, Type]] = {
    "member": {
        "member_id": TEXT,
        "accounts": ListT(EntityT("account")),
        "events": ListT(EntityT("event")),
    },
    "account": {
        "account_id": TEXT,
        "member_id": TEXT,
        "currency": TEXT,
        "balance": MONEY,
        "opened": DATE,
        "kind": TEXT,
        "events": ListT(EntityT("event")),
        "member": EntityT("member"),
    },
    "event": {
        "date": DATE,
        "type": TEXT,
        "account_id": OptionalT(TEXT),
        "mark": OptionalT(TEXT),
        "amount": OptionalT(MONEY),
        "attachments": ListT(TEXT),
    },
    "claim": {
        "claim_id": TEXT,
        "account_id": TEXT,
        "received": DATE,
        "complete": OptionalT(DATE),
        "decision": OptionalT(TEXT),
        "decided": OptionalT(DATE),
        "reconsideration_received": OptionalT(DATE),
        "reconsideration_complete": OptionalT(DATE),
        "reconsideration_decision": OptionalT(TEXT),
        "reconsideration_decided": OptionalT(DATE),
        "account": OptionalT(EntityT("account")),
    },
    "portfolio": {
        "members": ListT(EntityT("member")),
        "accounts": ListT(EntityT("account")),
        "claims": ListT(EntityT("claim")),
    },
    "global": {},
    "parameter": {},
}
#: entities a definition may be attached to
DEFINITION_ENTITIES = ("global", "member", "account", "claim", "portfolio")


def is_optional(t: Type) -> bool:
    return isinstance(t, OptionalT) or t == NULL


def strip(t: Type) -> Type:
    return t.inner if isinstance(t, OptionalT) else t


def optional(t: Type) -> Type:
    if t == UNKNOWN:
        return t
    if t in (NULL, NEVER) or isinstance(t, OptionalT):
        return t if t != NEVER else NULL
    return OptionalT(t)


def is_unknown(t: Type) -> bool:
    """Whether ``t`` is, or holds, the type of an erroneous expression."""
    if t == UNKNOWN:
        return True
    if isinstance(t, OptionalT):
        return is_unknown(t.inner)
    if isinstance(t, ListT):
        return is_unknown(t.elem)
    if isinstance(t, RecordT):
        return any(is_unknown(ft) for _, ft in t.fields)
    return False


def is_numeric(t: Type) -> bool:
    return t in NUMERIC


def join(a: Type, b: Type) -> Type | None:
    """The least type both ``a`` and ``b`` fit in, or None when they are incompatible.
    Unknown (an erroneous expression) fits with everything and absorbs it."""
    if a == b:
        return a
    if a == UNKNOWN or b == UNKNOWN:
        return UNKNOWN
    j = _join(a, b)
    if j is None and (is_unknown(a) or is_unknown(b)):
        return UNKNOWN
    return j


def _join(a: Type, b: Type) -> Type | None:
    if a == NEVER:
        return b
    if b == NEVER:
        return a
    if a == NULL:
        return optional(b)
    if b == NULL:
        return optional(a)
    if isinstance(a, OptionalT) or isinstance(b, OptionalT):
        inner = join(strip(a), strip(b))
        return optional(inner) if inner is not None else None
    if is_numeric(a) and is_numeric(b):
        if MONEY in (a, b):
            return MONEY
        return NUMBER
    if isinstance(a, ListT) and isinstance(b, ListT):
        elem = join(a.elem, b.elem)
        return ListT(elem) if elem is not None else None
    if isinstance(a, RecordT) and isinstance(b, RecordT) and a.names == b.names:
        fields: list[tuple[str, Type]] = []
        for (k, ta), (_, tb) in zip(a.fields, b.fields, strict=True):
            j = join(ta, tb)
            if j is None:
                return None
            fields.append((k, j))
        return RecordT(tuple(fields))
    return None


def assignable(src: Type, dst: Type) -> bool:
    """Can a value of type ``src`` be used where ``dst`` is expected? (An erroneous
    expression can: its mistake is reported where it is.)"""
    j = join(src, dst)
    return j == dst or (j is not None and is_unknown(j))


def has_entity(t: Type) -> bool:
    """Whether a value of type ``t`` holds a member, account, event or claim (which can be
    gone through, but not written out or turned into text)."""
    if isinstance(t, EntityT):
        return True
    if isinstance(t, OptionalT):
        return has_entity(t.inner)
    if isinstance(t, ListT):
        return has_entity(t.elem)
    if isinstance(t, RecordT):
        return any(has_entity(ft) for _, ft in t.fields)
    return False


def arith_type(op: str, lt: Type, rt: Type) -> Type | None:
    """The result type of ``lt op rt``, or None when the operation is not allowed."""
    if op == "+":
        if (lt == DATE and rt == DURATION) or (lt == DURATION and rt == DATE):
            return DATE
        if lt == rt == DURATION:
            return DURATION
        if lt == rt == TEXT:
            return TEXT
        if isinstance(lt, ListT) and isinstance(rt, ListT):
            j = join(lt, rt)
            return j
    if op == "-":
        if lt == DATE and rt == DURATION:
            return DATE
        if lt == rt == DURATION:
            return DURATION
    if op in ("+", "-"):
        if lt == rt and lt in NUMERIC:
            return lt
        if lt in (INT, NUMBER) and rt in (INT, NUMBER):
            return NUMBER
        return None
    if op == "*":
        if (lt == DURATION and rt == INT) or (lt == INT and rt == DURATION):
            return DURATION
        if (lt == MONEY and rt in (INT, NUMBER)) or (rt == MONEY and lt in (INT, NUMBER)):
            return MONEY
        if lt in (INT, NUMBER) and rt in (INT, NUMBER):
            return INT if lt == rt == INT else NUMBER
        return None
    if op == "/":
        if lt == MONEY and rt in (INT, NUMBER):
            return MONEY
        if lt == rt == MONEY:
            return NUMBER
        if lt in (INT, NUMBER) and rt in (INT, NUMBER):
            return NUMBER
    return None
