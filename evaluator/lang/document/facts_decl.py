"""A policy's ``facts:`` section read into the declaration it adds to its base's (the
standard deposit declaration at the root of every chain), each inconsistency a
:class:`Diagnostic` at its place in the file; and the names and types formulas can read
on each entity, derived from a declaration."""

from __future__ import annotations

import functools

from evaluator.declared import ENTITIES, FactsDecl, FieldDecl, build, standard
from evaluator.errors import Code, Diagnostic
from evaluator.lang import typesys as T
from evaluator.lang.document.compose import RawFile, child, key_node, node_at
from evaluator.lang.document.positions import node_span

__all__ = ["entity_fields", "field_type", "read_facts"]

_TYPES: dict[str, T.Type] = {
    "text": T.TEXT, "id": T.TEXT, "currency": T.TEXT, "money": T.MONEY,
    "decimal": T.NUMBER, "percent": T.NUMBER, "integer": T.INT, "bool": T.BOOL,
    "date": T.DATE, "list of text": T.ListT(T.TEXT),
}


def read_facts(raw: RawFile, base: FactsDecl, ref: str, diags: list[Diagnostic]) -> FactsDecl:
    """``base`` with the file's ``facts:`` section added (``base`` when it has none)."""
    data = raw.data.get("facts")
    if not isinstance(data, dict):
        return base
    decl, problems = build(data, base, ref)
    section = child(raw.root, "facts")
    for p in problems:
        if section is None:  # pragma: no cover - the data came from this node
            diags.append(Diagnostic(p.message, code=Code.FACTS, help=p.hint))
            continue
        path = list(p.path)
        node = node_at(section, path)
        if p.at_key and path and isinstance(path[-1], str):
            node = key_node(node_at(section, path[:-1]), path[-1]) or node
        diags.append(Diagnostic(p.message, node_span(raw.source, node), source=raw.source,
                                code=Code.FACTS, help=p.hint, where="facts"))
    return decl


def field_type(decl: FactsDecl, f: FieldDecl) -> T.Type:
    """The type a formula sees for a declared field: ``T?`` when it may be absent, unless
    it has a default (or is a list: an absent list is empty)."""
    t = _TYPES[f.type]
    if f.default is not None or f.type == "list of text":
        return t
    optional = f.optional if f.entity != "event" else decl.event_field_optional(f.name)
    return T.OptionalT(t) if optional else t


def entity_fields(decl: FactsDecl | None) -> dict[str, dict[str, T.Type]]:
    """The names formulas read on each entity: the standard ones, plus every field the
    declaration adds."""
    if decl is None or not decl.has_extras:
        return T.ENTITY_FIELDS
    return _entity_fields(decl)


@functools.lru_cache(maxsize=64)
def _entity_fields(decl: FactsDecl) -> dict[str, dict[str, T.Type]]:
    out = {entity: dict(fields) for entity, fields in T.ENTITY_FIELDS.items()}
    for entity in ENTITIES:
        for f in decl.extra_fields(entity):
            out[entity][f.name] = field_type(decl, f)
    return out


def standard_entity_fields() -> dict[str, dict[str, T.Type]]:
    """The standard declaration's view (a test holds it equal to ``ENTITY_FIELDS``)."""
    decl = standard()
    return {entity: {f.name: field_type(decl, f) for f in decl.fields[entity].values()}
            for entity in ENTITIES}
