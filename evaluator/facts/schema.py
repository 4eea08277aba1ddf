"""The JSON Schema (draft 2020-12) of a full JSON profile, derived from a declaration: the
standard one is published as ``evaluator/schemas/facts.schema.json`` (regenerate it with
``python -m evaluator.facts.schema``), and ``unclaimed check --facts-schema POLICY`` prints
the one a policy's own declaration gives. A profile the schema accepts is read with no
record error about its form and no unknown key (the loader's checks across records,
such as duplicate ids, are beyond a schema)."""

from __future__ import annotations

import json
from typing import Any

from evaluator.declared import FactsDecl, FieldDecl, standard

__all__ = ["facts_schema", "schema_text"]

_ID = "https://unclaimed.example/schemas/facts.schema.json"
_DATE = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "format": "date"}
_NUMBER = "^-?[0-9]+(\\.[0-9]+)?$"


def _value(f: FieldDecl) -> dict[str, Any]:
    kind = f.type
    out: dict[str, Any]
    if kind in ("text", "id"):
        out = {"type": "string", "minLength": 1}
        if kind == "id":
            out["maxLength"] = 1000
        if f.values is not None:
            out = {"enum": list(f.values)}
    elif kind == "currency":
        out = {"type": "string", "pattern": "^[A-Z]{3}$"}
    elif kind == "date":
        out = dict(_DATE)
    elif kind == "money":
        out = {"anyOf": [{"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"},
                         {"type": "number", "minimum": 0}]}
    elif kind == "decimal":
        out = {"anyOf": [{"type": "string", "pattern": _NUMBER}, {"type": "number"}]}
    elif kind == "percent":
        out = {"anyOf": [{"type": "string", "pattern": "^ *-?[0-9]+(\\.[0-9]+)? *%?$"},
                         {"type": "number"}]}
    elif kind == "integer":
        out = {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^-?[0-9]+$"}]}
    elif kind == "bool":
        out = {"type": "boolean"}
    else:  # list of text
        out = {"type": "array", "items": {"type": "string", "minLength": 1}}
    if f.optional or f.default is not None:
        out = {"anyOf": [out, {"type": "null"}]}
    if f.description:
        out["description"] = f.description
    return out


def _required(decl: FactsDecl, entity: str, skip: tuple[str, ...] = ()) -> list[str]:
    return [f.name for f in decl.fields[entity].values()
            if not f.optional and f.default is None and f.type != "list of text"
            and f.name not in skip]


def _object(decl: FactsDecl, entity: str, extra: dict[str, Any], required: list[str],
            description: str) -> dict[str, Any]:
    props = {name: _value(f) for name, f in decl.fields[entity].items()}
    return {"type": "object", "description": description, "required": required,
            "properties": {**props, **extra}, "additionalProperties": False}


def facts_schema(decl: FactsDecl | None = None) -> dict[str, Any]:
    """The JSON Schema of a full profile read by ``decl`` (None: the standard one)."""
    d = decl if decl is not None else standard()
    carried = {n for t in d.event_types.values() for n in t.fields}
    event_fields = {name: _value(f) for name, f in d.fields["event"].items()}
    event_fields["type"] = {"enum": list(d.event_types),
                            "description": "one of the declared event types"}
    event_fields["with"] = {"type": "array", "items": {"type": "string", "minLength": 1},
                            "description": "what accompanied a transfer"}
    rules = []
    for t in d.event_types.values():
        need = [n for n in t.fields if not d.fields["event"][n].optional]
        if t.account == "required":
            need = ["account_id", *need]
        if need:
            rules.append({"if": {"properties": {"type": {"const": t.name}},
                                 "required": ["type"]},
                          "then": {"required": need}})
    event = {
        "type": "object",
        "description": "A dated event; the fields an event type carries are required on it. "
                       "Any other key set to true on an event is what accompanied a transfer.",
        "required": [n for n in _required(d, "event") if n not in carried],
        "properties": event_fields,
        "additionalProperties": {"const": True},
        "allOf": rules,
    }
    member = _object(d, "member", {
        "accounts": {"type": ["array", "null"], "items": {"$ref": "#/$defs/account"}},
        "events": {"type": ["array", "null"], "items": {"$ref": "#/$defs/event"}},
    }, _required(d, "member"), "A member with its accounts and dated events.")
    account = _object(d, "account", {}, _required(d, "account", ("member_id",)),
                      "An account of the member.")
    claim = _object(d, "claim", {}, _required(d, "claim"), "A claim for an account.")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": _ID,
        "title": "Unclaimed facts (full profile)",
        "description": "Members with their accounts and dated events, claims and FX rates, "
                       "as the policy's declared facts describe them (contract.md, "
                       "\"Facts in\"). Keys the declaration does not know are reported "
                       "(an error under --strict), so this schema does not allow them.",
        "type": "object",
        "required": ["members"],
        "properties": {
            "members": {"type": "array", "items": {"$ref": "#/$defs/member"}},
            "claims": {"type": ["array", "null"], "items": {"$ref": "#/$defs/claim"}},
            "fx_rates": {"type": ["array", "null"], "items": {"$ref": "#/$defs/fx_rate"}},
        },
        "$defs": {
            "member": member,
            "account": account,
            "event": event,
            "claim": claim,
            "fx_rate": {
                "type": "object", "required": ["currency", "date", "rate"],
                "description": "Units of CAD per unit of the currency on the day.",
                "properties": {
                    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                    "date": dict(_DATE),
                    "rate": {"anyOf": [{"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"},
                                       {"type": "number", "exclusiveMinimum": 0}]},
                },
            },
        },
    }


def schema_text(decl: FactsDecl | None = None) -> str:
    """The schema as the published file holds it."""
    return json.dumps(facts_schema(decl), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # pragma: no cover - regenerates the published file
    print(schema_text(), end="")
