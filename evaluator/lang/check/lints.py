"""Whole-policy checks after typing: shadowed names, citations, outputs, unused parts.

Each check reads the document (and what typing found) and returns its diagnostics; the
order of the checks, and of their diagnostics, is :mod:`.pipeline`'s.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from typing import Any

from evaluator.errors import Code, Diagnostic
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T
from evaluator.lang.check.graph import dependency_order
from evaluator.lang.check.model import GLOBAL_NAMES, VISIBLE_FROM, CheckedDef
from evaluator.lang.check.params import pseudo_params
from evaluator.lang.document.facts_decl import entity_fields
from evaluator.lang.document.loader import DefSpec, PolicyDocument
from evaluator.span import Span
from evaluator.text import with_article

__all__ = ["check_citations", "check_outputs", "check_shadowing", "check_usage",
           "mentioned_names"]


def check_shadowing(doc: PolicyDocument) -> list[Diagnostic]:
    """A definition named like a parameter, a built-in name or a field of its entity."""
    diags: list[Diagnostic] = []
    for name, spec in doc.definitions.items():
        clash = None
        if name in doc.parameters:
            clash = "a parameter"
        elif name in GLOBAL_NAMES:
            clash = "a built-in name"
        elif name in entity_fields(doc.facts_decl).get(spec.entity, {}):
            clash = f"a field of {spec.entity}"
        if clash:
            diags.append(Diagnostic(
                f"definition `{name}` has the same name as {clash}", spec.key_span,
                where=f"definition `{name}`", provision=spec.provision,
                source=spec.source, code=Code.NAME, help="rename one of them"))
    return diags


def check_citations(doc: PolicyDocument) -> list[Diagnostic]:
    """Each citation of a definition or parameter names a declared provision (or one of
    its paragraphs) or interpretation; nothing is checked when none is declared."""
    diags: list[Diagnostic] = []
    if not doc.provisions:
        return diags
    known = set(doc.provisions) | set(doc.interpretations)

    def check(citation: str | None, where: str, span: Any, source: Any,
              positions: Any) -> None:
        if not citation:
            return
        offset = 0
        for raw in citation.split(";"):
            part = raw.strip()
            start = offset + len(raw) - len(raw.lstrip())
            offset += len(raw) + 1
            at = (positions.span(start, start + len(part)) if positions is not None
                  and getattr(positions, "value", citation) == citation else span)
            base = part
            while base not in known and re.search(r"\([a-z]+\)$", base):
                base = re.sub(r"\([a-z]+\)$", "", base)
            if base in known:
                continue
            sugg = difflib.get_close_matches(part, sorted(known), n=1)
            diags.append(Diagnostic(
                f"`{part}` is not a provision or interpretation this policy declares",
                at, where=where, source=source, code=Code.PROVISION,
                help=(f"did you mean `{sugg[0]}`?" if sugg else
                      "declare it under `provisions:` or `interpretations:`")))

    for name, spec in doc.definitions.items():
        check(spec.provision, f"definition `{name}`", spec.key_span, spec.source,
              spec.provision_positions)
    for name, p in doc.parameters.items():
        check(p.provision, f"parameter `{name}`", p.key_span, p.source,
              p.provision_positions)
    return diags


def check_outputs(doc: PolicyDocument, def_types: Mapping[str, T.Type]) -> list[Diagnostic]:
    """Each output is a definition of an entity its section shows, of a type that can be
    written out."""
    diags: list[Diagnostic] = []
    for entity, names in doc.outputs.items():
        for n in names:
            span = doc.output_spans.get((entity, n))
            spec = doc.definitions.get(n)
            if spec is None and n in doc.declared:
                continue  # declared but unusable: the loader has said why
            if spec is None:
                sugg = difflib.get_close_matches(n, list(doc.definitions), n=1)
                diags.append(Diagnostic(
                    f"output `{n}` is not a definition", span, where=f"outputs.{entity}",
                    code=Code.NAME, source=doc.sources.get(span.file) if span else None,
                    help=f"did you mean `{sugg[0]}`?" if sugg else None))
                continue
            if spec.entity not in T.DEFINITION_ENTITIES:
                continue  # the schema has reported the unknown entity
            if spec.entity not in VISIBLE_FROM.get(entity, ()):
                diags.append(Diagnostic(
                    f"output `{n}` is {with_article(spec.entity)} definition, "
                    f"not {with_article(entity)} one",
                    span, where=f"outputs.{entity}", code=Code.NAME,
                    source=doc.sources.get(span.file) if span else None))
                continue
            t = def_types.get(n, T.NEVER)
            if T.has_entity(t):
                diags.append(Diagnostic(
                    f"output `{n}` is `{t}`, which cannot be written out", span,
                    where=f"outputs.{entity}", code=Code.TYPE,
                    source=doc.sources.get(span.file) if span else None,
                    help="output dates, numbers, text, lists or records of those"))
    return diags


def mentioned_names(spec: DefSpec) -> set[str]:
    """The names a formula that parsed mentions: its names and field names."""
    assert spec.node is not None
    return {n.id if isinstance(n, A.Name) else n.name for n in A.walk(spec.node)
            if isinstance(n, A.Name | A.Attr)}


def check_usage(doc: PolicyDocument, checked: Mapping[str, CheckedDef],
                failed: Collection[str] = ()) -> tuple[list[str], list[Diagnostic]]:
    """The definitions the outputs need, each after those it uses; and a warning for each
    definition and parameter of the checked file (not of a base it extends) that no
    output needs.

    ``failed`` names the definitions whose formula did not parse or type. What they use
    is not known, and their mistake has been reported: it is not reported again as
    warnings. So a formula that did not type may use every name it mentions, and one that
    did not parse (a derived parameter's or an invariant's too) every name it could see."""
    roots = [n for names in doc.outputs.values() for n in names if n in checked]
    reached = dependency_order(
        roots, lambda n: sorted(u for u in checked[n].uses if u in checked))
    seen = set(reached)

    def uses(n: str) -> set[str]:
        cdef = checked[n]
        if n not in failed:
            return cdef.uses
        spec = cdef.spec
        if spec.node is not None:
            return cdef.uses | mentioned_names(spec)
        ents = VISIBLE_FROM.get(spec.entity, (spec.entity,))
        return {d for d, s in doc.definitions.items() if s.entity in ents} \
            | set(doc.parameters)

    if failed:
        seen = set(dependency_order(roots, lambda n: sorted(u for u in uses(n) if u in checked)))

    def params_of(spec: DefSpec) -> set[str]:
        return pseudo_params(doc, spec) if spec.node is not None else set(doc.parameters)

    used_params: set[str] = set()
    for n in seen:
        used_params |= checked[n].params
        if n in failed:
            used_params |= {u for u in uses(n) if u in doc.parameters}
    # an invariant uses the parameters it checks
    for inv in doc.invariants.values():
        used_params |= params_of(inv.check)
    # a derived parameter uses the parameters of its formula
    todo = list(used_params)
    while todo:
        p = doc.parameters.get(todo.pop())
        if p is not None and p.derived is not None:
            for q in params_of(p.derived):
                if q not in used_params:
                    used_params.add(q)
                    todo.append(q)
    diags: list[Diagnostic] = []

    def own(span: Span | None) -> bool:
        # what a base declares is not the analyst's to change: only the checked file's
        return span is None or span.file == doc.path

    for name, spec in doc.definitions.items():
        if name not in seen and own(spec.key_span):
            diags.append(Diagnostic(
                f"definition `{name}` is never used", spec.key_span,
                where=f"definition `{name}`", provision=spec.provision, severity="warning",
                source=spec.source, code=Code.UNUSED,
                help="no output depends on it; remove it or use it"))
    for name, p in doc.parameters.items():
        if name not in used_params and own(p.key_span):
            diags.append(Diagnostic(
                f"parameter `{name}` is never used", p.key_span,
                where=f"parameter `{name}`", provision=p.provision, severity="warning",
                source=p.source, code=Code.UNUSED,
                help="no output depends on it; remove it or use it in a formula"))
    return reached, diags
