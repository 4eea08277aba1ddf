"""The declared facts: which fields members, accounts, events and claims carry (with their
types), which event types there are and what each carries, and how the columns of a
snapshot table map to fields. A :class:`FactsDecl` is built from plain data (a policy's
``facts:`` section, or the standard deposit declaration shipped in the package as
``data/deposits.facts.yaml``) over the declaration it extends, every inconsistency a
:class:`Problem` at its path in the data; :func:`parse_value` reads one value by its type.

This module is the base both the language (names and types of formulas) and the facts
readers (JSON loader, table reader) derive from, so it imports neither."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from evaluator.resources import data_file
from evaluator.text import describe_value, quote_value, with_article

#: the type names a declared field may have
FIELD_TYPES = ("text", "id", "currency", "money", "decimal", "percent", "integer", "bool",
               "date", "list of text")
#: the entities that carry declared fields
ENTITIES = ("member", "account", "event", "claim")
#: names an entity has that are not fields of the input (they cannot be declared)
STRUCTURAL: Mapping[str, frozenset[str]] = {
    "member": frozenset({"accounts", "events", "extra"}),
    "account": frozenset({"events", "member", "extra"}),
    "event": frozenset({"extra"}),
    "claim": frozenset({"account", "extra"}),
}
ACCOUNT_RULES = ("required", "optional", "none")
#: ``declared_in`` of what the standard declaration declares
STANDARD = "standard"
#: a cell of a ``list of text`` column holds its items separated by this
LIST_SEPARATOR = ";"

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DECIMAL_RE = re.compile(r"-?\d+(?:\.\d+)?", re.ASCII)
_INTEGER_RE = re.compile(r"-?\d+", re.ASCII)
_CURRENCY_RE = re.compile(r"[A-Z]{3}", re.ASCII)


@dataclass(frozen=True)
class FieldDecl:
    """One declared field of an entity."""

    entity: str
    name: str
    type: str
    optional: bool = False
    values: tuple[str, ...] | None = None
    default: Any = None
    description: str | None = None
    generate: Mapping[str, Any] = field(default_factory=dict, compare=False)
    #: "standard", or the policy ("ID@VERSION") that declared it
    declared_in: str = STANDARD

    @property
    def standard(self) -> bool:
        return self.declared_in == STANDARD

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.values is not None:
            out["values"] = list(self.values)
        if self.optional:
            out["optional"] = True
        if self.default is not None:
            out["default"] = _json_value(self.default)
        if self.description:
            out["description"] = self.description
        if self.generate:
            out["generate"] = dict(self.generate)
        return out


@dataclass(frozen=True)
class EventTypeDecl:
    """A declared event type: whether it names an account and the fields it carries."""

    name: str
    account: str = "optional"
    fields: tuple[str, ...] = ()
    description: str | None = None
    declared_in: str = STANDARD

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"account": self.account}
        if self.fields:
            out["fields"] = list(self.fields)
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class ColumnDecl:
    """A column of a snapshot table: a field of the member or account, or the date of the
    latest event of a type (unrolled to one event on the account or the member)."""

    name: str
    entity: str | None = None
    field: str | None = None
    latest: str | None = None
    on: str = "account"
    declared_in: str = STANDARD

    @property
    def standard(self) -> bool:
        return self.declared_in == STANDARD

    def to_json(self) -> Any:
        if self.latest is not None:
            return {"latest": self.latest, "on": self.on}
        return f"{self.entity}.{self.field}"


@dataclass(frozen=True)
class Problem:
    """An inconsistency of a declaration, at ``path`` below its ``facts:`` section (at the
    key of the last step when ``at_key``)."""

    path: tuple[str | int, ...]
    message: str
    hint: str | None = None
    at_key: bool = False


@dataclass(frozen=True, eq=False)
class FactsDecl:
    """A whole declaration: the standard one plus what policies add."""

    fields: Mapping[str, Mapping[str, FieldDecl]]
    event_types: Mapping[str, EventTypeDecl]
    columns: Mapping[str, ColumnDecl]

    def field(self, entity: str, name: str) -> FieldDecl | None:
        return self.fields.get(entity, {}).get(name)

    def extra_fields(self, entity: str) -> tuple[FieldDecl, ...]:
        """The fields of ``entity`` beyond the standard declaration, in declared order."""
        return tuple(f for f in self.fields.get(entity, {}).values() if not f.standard)

    def extra_columns(self) -> tuple[ColumnDecl, ...]:
        return tuple(c for c in self.columns.values() if not c.standard)

    def extra_event_types(self) -> tuple[EventTypeDecl, ...]:
        return tuple(t for t in self.event_types.values() if t.declared_in != STANDARD)

    @functools.cached_property
    def has_extras(self) -> bool:
        """Whether anything is declared beyond the standard declaration."""
        return bool(self.extra_columns() or self.extra_event_types()
                    or any(self.extra_fields(e) for e in ENTITIES))

    def keys(self, entity: str) -> frozenset[str]:
        """The keys a JSON object of ``entity`` may carry."""
        return frozenset(self.fields.get(entity, {}))

    def event_field_optional(self, name: str) -> bool:
        """Whether ``event.name`` may be null: a field no event type names is carried by
        every event (``date``, ``type``); one that some types name, only by those."""
        decl = self.field("event", name)
        if decl is None or decl.optional:
            return True
        carriers = [t for t in self.event_types.values() if name in t.fields]
        return bool(carriers) and len(carriers) < len(self.event_types)

    def to_json(self) -> dict[str, Any]:
        """The declaration as plain data, in the ``facts:`` format (standard included)."""
        out: dict[str, Any] = {}
        for entity in ENTITIES:
            section: dict[str, Any] = {"fields": {n: f.to_json() for n, f in
                                                  self.fields.get(entity, {}).items()}}
            if entity == "event":
                section["types"] = {n: t.to_json() for n, t in self.event_types.items()}
            out[entity] = section
        out["snapshot"] = {"columns": {n: c.to_json() for n, c in self.columns.items()}}
        return out

    def extras_json(self) -> dict[str, Any]:
        """What this declaration adds to the standard one, as plain data (empty: nothing)."""
        out: dict[str, Any] = {}
        for entity in ENTITIES:
            fields = {f.name: f.to_json() for f in self.extra_fields(entity)}
            if fields:
                out.setdefault(entity, {})["fields"] = fields
        types = {t.name: t.to_json() for t in self.extra_event_types()}
        if types:
            out.setdefault("event", {})["types"] = types
        columns = {c.name: c.to_json() for c in self.extra_columns()}
        if columns:
            out["snapshot"] = {"columns": columns}
        return out

    @functools.cached_property
    def digest(self) -> str:
        text = json.dumps(self.extras_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


EMPTY = FactsDecl({e: {} for e in ENTITIES}, {}, {})


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


# -- reading one value by its type -----------------------------------------------------------

def parse_value(decl: FieldDecl, value: object, name: str | None = None) -> Any:
    """``value`` read as ``decl`` declares it (present: not None); ValueError with the
    message a record error shows."""
    name = name or decl.name
    kind = decl.type
    if kind in ("text", "id", "currency"):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, not {describe_value(value)}")
        if not value.strip():
            raise ValueError(f"{name} is empty")
        if kind == "currency" and _CURRENCY_RE.fullmatch(value) is None:
            raise ValueError(f"{name} {quote_value(value)} is not a three-letter upper-case "
                             "currency code")
        if decl.values is not None and value not in decl.values:
            listed = ", ".join(f"`{c}`" for c in decl.values)
            raise ValueError(f"{name} {quote_value(value)} is not one of {listed}")
        return value
    if kind == "date":
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str) and _DATE_RE.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        if isinstance(value, str):
            raise ValueError(f"{name} {quote_value(value)} is not a valid date (YYYY-MM-DD)")
        raise ValueError(f"{name} must be a date string (YYYY-MM-DD), not "
                         f"{describe_value(value)}")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError(f"{name} must be true or false, not {describe_value(value)}")
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INTEGER_RE.fullmatch(value):
            return int(value)
        if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral():
            return int(value)
        raise ValueError(f"{name} must be a whole number, not {describe_value(value)}")
    if kind == "list of text":
        items = value.split(LIST_SEPARATOR) if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(
                isinstance(i, str) and i.strip() for i in items):
            raise ValueError(f"{name} must be a list of non-empty strings, not "
                             f"{describe_value(value)}")
        return tuple(i.strip() for i in items)
    # money, decimal, percent
    number = _number(value, name, percent=kind == "percent")
    if kind == "money" and number < 0:
        raise ValueError(f"{name} {quote_value(value)} must not be negative")
    return number.copy_abs() if number.is_zero() else number


def _number(value: object, name: str, *, percent: bool) -> Decimal:
    scale = Decimal(1)
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a decimal number, not {describe_value(value)}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if percent and text.endswith("%"):
            text, scale = text[:-1].strip(), Decimal(100)
        if _DECIMAL_RE.fullmatch(text) is None:
            what = "a percentage (`2.5%`) or a decimal number" if percent else \
                "a decimal number"
            raise ValueError(f"{name} {quote_value(value)} is not {what}")
        number = Decimal(text)
    else:
        raise ValueError(f"{name} must be a decimal number, not {describe_value(value)}")
    if not number.is_finite():
        raise ValueError(f"{name} {quote_value(value)} is not a finite number")
    try:
        return number / scale
    except InvalidOperation:  # pragma: no cover - finite / 100 is exact enough
        raise ValueError(f"{name} {quote_value(value)} is not a decimal number") from None


# -- building a declaration from plain data --------------------------------------------------

def build(data: object, base: FactsDecl, origin: str) -> tuple[FactsDecl, list[Problem]]:
    """``base`` with what ``data`` (a ``facts:`` section) declares added, declared in
    ``origin``; every inconsistency is a :class:`Problem` (what is inconsistent is left
    out)."""
    problems: list[Problem] = []
    fields = {e: dict(base.fields.get(e, {})) for e in ENTITIES}
    types = dict(base.event_types)
    columns = dict(base.columns)
    section = data if isinstance(data, dict) else {}
    for entity in ENTITIES:
        part = section.get(entity)
        declared = part.get("fields") if isinstance(part, dict) else None
        for name, spec in (declared or {}).items() if isinstance(declared, dict) else ():
            built = _field(entity, str(name), spec, origin, (entity, "fields", name), problems)
            if built is None:
                continue
            before = fields[entity].get(built.name)
            if before is not None:
                if before.type != built.type or before.values != built.values or \
                        before.optional != built.optional:
                    where = ("the standard deposit declaration" if before.standard
                             else f"`{before.declared_in}`")
                    problems.append(Problem(
                        (entity, "fields", name),
                        f"field `{entity}.{name}` is already declared by {where} as "
                        f"`{_shown_type(before)}`", "a field keeps the type it was first "
                        "declared with: give this one another name", at_key=True))
                continue
            fields[entity][built.name] = built
    event = section.get("event")
    declared_types = event.get("types") if isinstance(event, dict) else None
    for name, spec in (declared_types or {}).items() if isinstance(declared_types,
                                                                    dict) else ():
        path: tuple[str | int, ...] = ("event", "types", name)
        if name in types and isinstance(spec, dict) and types[name].to_json() == {
                "account": spec.get("account", "optional"),
                **({"fields": list(spec["fields"])} if spec.get("fields") else {}),
                **({"description": spec["description"]} if spec.get("description") else {})}:
            continue  # declared again alike (a policy compared with another)
        if name in types:
            where = ("the standard deposit declaration" if types[name].declared_in == STANDARD
                     else f"`{types[name].declared_in}`")
            problems.append(Problem(path, f"event type `{name}` is already declared by "
                                    f"{where}", "give the new event type another name",
                                    at_key=True))
            continue
        spec = spec if isinstance(spec, dict) else {}
        carried: list[str] = []
        for i, fname in enumerate(spec.get("fields") or []):
            if not isinstance(fname, str):
                continue
            if fname not in fields["event"]:
                problems.append(Problem((*path, "fields", i), f"event type `{name}` carries "
                                        f"`{fname}`, which is not a declared event field",
                                        _suggest(fname, fields["event"], "declare it under "
                                                 "`facts: event: fields:`")))
            else:
                carried.append(fname)
        account = spec.get("account", "optional")
        types[str(name)] = EventTypeDecl(str(name), account if account in ACCOUNT_RULES
                                         else "optional", tuple(carried),
                                         _text(spec.get("description")), origin)
    snap = section.get("snapshot")
    declared_cols = snap.get("columns") if isinstance(snap, dict) else None
    targets = {(c.entity, c.field): c.name for c in columns.values() if c.field is not None}
    for name, spec in (declared_cols or {}).items() if isinstance(declared_cols,
                                                                   dict) else ():
        col = _column(str(name), spec, fields, types, origin, ("snapshot", "columns", name),
                      problems)
        if col is None:
            continue
        before_col = columns.get(col.name)
        if before_col is not None and before_col.to_json() != col.to_json():
            problems.append(Problem(("snapshot", "columns", name), f"column `{name}` is "
                                    f"already mapped to `{_shown_column(before_col)}`",
                                    "a column maps to one field: give this one another name",
                                    at_key=True))
            continue
        if col.field is not None:
            other = targets.get((col.entity, col.field))
            if other is not None and other != col.name:
                problems.append(Problem(("snapshot", "columns", name), f"columns `{other}` "
                                        f"and `{name}` both map to `{col.entity}.{col.field}`",
                                        "map each field from one column", at_key=True))
                continue
            targets[(col.entity, col.field)] = col.name
        columns[col.name] = col
    return FactsDecl(fields, types, columns), problems


def _field(entity: str, name: str, spec: object, origin: str, path: tuple[str | int, ...],
           problems: list[Problem]) -> FieldDecl | None:
    if not isinstance(spec, dict):
        return None
    if name in STRUCTURAL[entity]:
        problems.append(Problem(path, f"`{entity}.{name}` is not a field of the input: it "
                                "is given by the evaluator", "give the field another name",
                                at_key=True))
        return None
    kind = spec.get("type")
    if kind not in FIELD_TYPES:
        problems.append(Problem((*path, "type"), f"unknown field type `{kind}`",
                                _suggest(str(kind), FIELD_TYPES, "field types: " +
                                         ", ".join(f"`{t}`" for t in FIELD_TYPES))))
        return None
    values = spec.get("values")
    if values is not None and kind != "text":
        problems.append(Problem((*path, "values"), f"`values:` on field `{entity}.{name}` "
                                f"of type `{kind}`", "only a `text` field lists its values",
                                at_key=True))
        values = None
    decl = FieldDecl(entity, name, str(kind), spec.get("optional") is True,
                     tuple(str(v) for v in values) if isinstance(values, list) else None,
                     None, _text(spec.get("description")),
                     dict(spec["generate"]) if isinstance(spec.get("generate"), dict) else {},
                     origin)
    default = spec.get("default")
    if default is not None:
        try:
            decl = FieldDecl(decl.entity, decl.name, decl.type, decl.optional, decl.values,
                             parse_value(decl, default, "default"), decl.description,
                             decl.generate, origin)
        except ValueError as exc:
            problems.append(Problem((*path, "default"), str(exc),
                                    f"a default is written as {with_article(str(kind))} value"))
    return decl


def _column(name: str, spec: object, fields: Mapping[str, Mapping[str, FieldDecl]],
            types: Mapping[str, EventTypeDecl], origin: str, path: tuple[str | int, ...],
            problems: list[Problem]) -> ColumnDecl | None:
    if isinstance(spec, dict):
        latest, on = spec.get("latest"), spec.get("on", "account")
        if not isinstance(latest, str):
            return None
        if latest not in types:
            problems.append(Problem((*path, "latest"), f"column `{name}` is the latest "
                                    f"`{latest}`, which is not a declared event type",
                                    _suggest(latest, types, "declare it under "
                                             "`facts: event: types:`")))
            return None
        if on == "account" and types[latest].account == "none":
            problems.append(Problem((*path, "on"), f"column `{name}`: a `{latest}` event "
                                    "names no account", "write `on: member`"))
            return None
        if on == "member" and types[latest].account == "required":
            problems.append(Problem((*path, "on"), f"column `{name}`: a `{latest}` event "
                                    "must name an account", "write `on: account`"))
            return None
        return ColumnDecl(name, latest=latest, on=str(on), declared_in=origin)
    if not isinstance(spec, str):
        return None
    entity, _, fname = spec.partition(".")
    if entity not in ("member", "account") or not fname:
        problems.append(Problem(path, f"column `{name}` maps to `{spec}`, which is not a "
                                "member or account field", "write `account.FIELD` or "
                                "`member.FIELD`, or `{latest: EVENT_TYPE, on: account}`"))
        return None
    if fname not in fields[entity]:
        problems.append(Problem(path, f"column `{name}` maps to `{spec}`, which is not a "
                                "declared field", _suggest(fname, fields[entity],
                                                           f"declare it under `facts: "
                                                           f"{entity}: fields:`")))
        return None
    return ColumnDecl(name, entity, fname, declared_in=origin)


def _suggest(name: str, known: Any, otherwise: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, [str(k) for k in known], n=1)
    return f"did you mean `{close[0]}`?" if close else otherwise


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _shown_type(decl: FieldDecl) -> str:
    shown = decl.type + ("?" if decl.optional else "")
    return shown + (f" [{', '.join(decl.values)}]" if decl.values else "")


def _shown_column(col: ColumnDecl) -> str:
    shown = col.to_json()
    return shown if isinstance(shown, str) else f"latest {col.latest} on {col.on}"


def union(decls: list[FactsDecl | None]) -> FactsDecl | None:
    """One declaration holding what each of ``decls`` declares (None: only the standard
    one), for one table read for several policies; ValueError when two declare the same
    field, event type or column differently."""
    out = standard()
    for decl in decls:
        if decl is None or not decl.has_extras:
            continue
        merged, problems = build(decl.extras_json(), out, "several policies")
        if problems:
            raise ValueError(f"the policies declare their facts differently: "
                             f"{problems[0].message}")
        out = merged
    return out if out.has_extras else None


def covers(theirs: FactsDecl | None, mine: FactsDecl | None) -> bool:
    """Whether facts read by ``theirs`` hold everything ``mine`` declares, alike."""
    if mine is None or not mine.has_extras:
        return True
    if theirs is None:
        return False
    if theirs is mine or theirs.digest == mine.digest:
        return True
    merged, problems = build(mine.extras_json(), theirs, "check")
    return not problems and merged.extras_json() == theirs.extras_json()


#: the standard declaration as a cache entry of checked policies carried it (made by this
#: same code, so equal to reading the file), which spares a warm start the YAML reader
_ADOPTED: list[FactsDecl] = []


def adopt_standard(decl: object) -> None:
    """Take the standard declaration from a cache entry (the first one seen)."""
    if not _ADOPTED and isinstance(decl, FactsDecl):
        _ADOPTED.append(decl)


def standard() -> FactsDecl:
    """The standard deposit declaration (``data/deposits.facts.yaml``): today's facts."""
    return _ADOPTED[0] if _ADOPTED else _read_standard()


@functools.lru_cache(maxsize=1)
def _read_standard() -> FactsDecl:
    import yaml  # only when the standard declaration is first read: `check` from the cache needs none

    data = yaml.safe_load(data_file("deposits.facts.yaml").read_text(encoding="utf-8"))
    decl, problems = build(data["facts"], EMPTY, STANDARD)
    if problems:  # pragma: no cover - the shipped file is checked by a test
        raise ValueError(f"deposits.facts.yaml: {problems[0].message}")
    return decl
