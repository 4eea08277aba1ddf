"""Computing a policy diff: the two resolved documents compared section by section
(parameters, definitions, invariants, provisions, interpretations, outputs)."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import yaml

from evaluator.apps.diff.model import (
    KINDS,
    SECTIONS,
    Change,
    Location,
    PolicyDiff,
    PolicyInfo,
    count_changes,
    fold_spaces,
    quote_text,
)
from evaluator.errors import PolicyError
from evaluator.lang.document.loader import (
    DefSpec,
    InvariantSpec,
    ParamSpec,
    PolicyDocument,
    ProvisionSpec,
)
from evaluator.policy import Policy, param_json
from evaluator.text import show_plain, squash_spaces

# --------------------------------------------------------------------------- comparing


def diff_policies(before: Policy, after: Policy) -> PolicyDiff:
    """Every difference between two checked policies, resolved through ``extends``."""
    return diff_documents(before.document, after.document,
                          before_params=_resolved(before), after_params=_resolved(after))


def diff_documents(before: PolicyDocument, after: PolicyDocument, *,
                   before_params: Mapping[str, ParamSpec] | None = None,
                   after_params: Mapping[str, ParamSpec] | None = None) -> PolicyDiff:
    """Like :func:`diff_policies` on loaded documents; ``*_params`` are the parameters with
    derived values computed (``Policy.resolve_params()``), to show what those come to."""
    a_locs, b_locs = _Locator(before), _Locator(after)
    changes: list[Change] = []
    changes += _diff_parameters(before, after, before_params or before.parameters,
                                after_params or after.parameters)
    changes += _diff_definitions(before, after)
    changes += _diff_provisions(before.provisions, after.provisions, a_locs, b_locs)
    changes += _diff_interpretations(before.interpretations, after.interpretations,
                                     a_locs, b_locs)
    changes += _diff_outputs(before, after)
    changes += _diff_invariants(before.invariants, after.invariants)
    return PolicyDiff(PolicyInfo.of(before), PolicyInfo.of(after), _ordered(changes))


def _resolved(policy: Policy) -> dict[str, ParamSpec]:
    try:
        return policy.resolve_params()
    except PolicyError:  # a derived value cannot be computed: show the formula only
        return dict(policy.document.parameters)


def _ordered(changes: list[Change]) -> list[Change]:
    return sorted(changes, key=lambda c: (SECTIONS.index(c.section), KINDS.index(c.kind),
                                          _natural(c.name)))


def _natural(name: str) -> tuple[tuple[int, int, str], ...]:
    """`2(6)` before `2(10)`; digits compare as numbers."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p)
                 for p in re.split(r"(\d+)", name) if p)


def _citation(provision: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (provision or "").split(";") if p.strip())


def _same_formula(a: DefSpec, b: DefSpec) -> bool:
    if a.node is not None and b.node is not None:
        return bool(a.node == b.node)
    return fold_spaces(a.formula) == fold_spaces(b.formula)


def _show(value: Any) -> str:
    """A plain JSON value as written in policies: `10 years`, `[a, b]`, `{k: v}` (a string
    with a line break inside stays bare; JSON strings are ASCII)."""
    return show_plain(value, ascii=True, newline_plain=True)


def _items(a: Mapping[str, Any], b: Mapping[str, Any]) -> Iterable[str]:
    return sorted(set(a) | set(b), key=_natural)


# -- parameters -----------------------------------------------------------------------------

def _param_value(spec: ParamSpec) -> Any:
    try:
        return param_json(spec)
    except TypeError:  # pragma: no cover - every parameter value serialises
        return repr(spec.value)


def _param_info(spec: ParamSpec, resolved: ParamSpec | None) -> dict[str, Any]:
    info: dict[str, Any] = {"type": spec.type_name}
    if spec.columns:
        info["columns"] = dict(spec.columns)
    info["value"] = _param_value(resolved if resolved is not None else spec)
    info["formula"] = squash_spaces(spec.derived.formula) if spec.derived is not None else None
    info["provision"] = spec.provision
    info["description"] = spec.description
    info["set_by"] = spec.set_by
    return info


def _param_at(spec: ParamSpec) -> Location | None:
    """Where the value (or derived formula) in effect is written, and who set it."""
    return Location.of(spec.span or spec.key_span, spec.set_by)


def _param_decl_at(doc: PolicyDocument, spec: ParamSpec) -> Location | None:
    """Where the parameter is last named in the chain (its provision, description)."""
    span = spec.key_span or spec.span
    return Location.of(span, _ref_of(doc, span.file) if span else None)


def _param_summary(info: Mapping[str, Any]) -> list[str]:
    """Added or removed: `type  value  (provision)`, then one line per table row."""
    value = info["value"]
    rows: list[str] = []
    if info["formula"] is not None:
        shown = f"derived: {info['formula']}" + (f" (= {_show(value)})"
                                                  if value is not None else "")
    elif info["type"] == "table" and isinstance(value, list):
        shown = f"{count_changes(len(value), 'row')}"
        rows = [_show(r) for r in value]
    else:
        shown = _show(value)
    cite = f"({info['provision']})" if info["provision"] else ""
    return ["  ".join(p for p in (info["type"], shown, cite) if p), *rows]


def _diff_parameters(before: PolicyDocument, after: PolicyDocument,
                     a_vals: Mapping[str, ParamSpec], b_vals: Mapping[str, ParamSpec]
                     ) -> list[Change]:
    out: list[Change] = []
    for name in _items(before.parameters, after.parameters):
        a, b = before.parameters.get(name), after.parameters.get(name)
        ai = _param_info(a, a_vals.get(name)) if a is not None else None
        bi = _param_info(b, b_vals.get(name)) if b is not None else None
        if a is None or ai is None:
            assert b is not None and bi is not None
            out.append(Change("parameters", "added", name, None, bi,
                              details=tuple(_param_summary(bi)), after_at=_param_at(b)))
            continue
        if b is None or bi is None:
            out.append(Change("parameters", "removed", name, ai, None,
                              details=tuple(_param_summary(ai)), before_at=_param_at(a)))
            continue
        change = _param_change(name, a, b, ai, bi)
        if change is None:
            continue
        if not {"type", "columns", "value", "formula"} & set(change.fields):
            change = replace(change, before_at=_param_decl_at(before, a),
                             after_at=_param_decl_at(after, b))
        out.append(change)
    return out


def _param_change(name: str, a: ParamSpec, b: ParamSpec, ai: dict[str, Any],
                  bi: dict[str, Any]) -> Change | None:
    fields: list[str] = []
    details: list[str] = []
    rows: tuple[dict[str, Any], ...] = ()
    notes: list[str] = []
    note_kind = ""
    if a.type_name != b.type_name:
        fields.append("type")
        details.append(f"type {a.type_name} -> {b.type_name}")
    elif a.columns != b.columns:
        fields.append("columns")
        details.append(f"columns {_show(dict(a.columns))} -> {_show(dict(b.columns))}")
    if a.derived is None and b.derived is None:
        if ai["value"] != bi["value"]:
            fields.append("value")
            if a.type_name in ("table", "list") and isinstance(ai["value"], list) \
                    and isinstance(bi["value"], list):
                head, row_lines, rows = _rows_diff(ai["value"], bi["value"])
                details.append(f"value: {head}")
                details.extend(row_lines)
            else:
                details.append(f"value {_show(ai['value'])} -> {_show(bi['value'])}")
    elif a.derived is None and b.derived is not None:
        fields += ["value", "formula"]
        details.append(f"value {_show(ai['value'])} -> {_derived(bi)}")
    elif a.derived is not None and b.derived is None:
        fields += ["value", "formula"]
        details.append(f"{_derived(ai)} -> value {_show(bi['value'])}")
    elif a.derived is not None and b.derived is not None:
        if not _same_formula(a.derived, b.derived):
            fields.append("formula")
            details.append(f"formula {ai['formula']} -> {bi['formula']}")
            if ai["value"] != bi["value"]:
                details.append(f"value {_show(ai['value'])} -> {_show(bi['value'])}")
        else:
            if a.derived.formula != b.derived.formula:
                note_kind = "reformatted"
                notes.append("formula reformatted only")
            if ai["value"] != bi["value"]:
                note_kind = note_kind or "recomputed"
                notes.append(f"derived value {_show(ai['value'])} -> {_show(bi['value'])} "
                             "(a parameter it reads changed)")
    if _citation(a.provision) != _citation(b.provision):
        fields.append("provision")
        details.append(f"provision {a.provision or '(none)'} -> {b.provision or '(none)'}")
    described = a.description is not None and b.description is not None \
        and fold_spaces(a.description) != fold_spaces(b.description)
    if fields:
        if described:
            fields.append("description")
            details.append(f"description {quote_text(a.description)} -> "
                           f"{quote_text(b.description)}")
        details.extend(notes)
        return Change("parameters", "changed", name, ai, bi, tuple(fields), tuple(details),
                      _param_at(a), _param_at(b), rows)
    if described:
        notes.append(f"description {quote_text(a.description)} -> {quote_text(b.description)}")
        note_kind = note_kind or "redescribed"
    if note_kind:
        label = {"reformatted": "reformatted only", "recomputed": "recomputed only",
                 "redescribed": "description only"}[note_kind]
        fields_n = tuple(f for f, on in (("formula", a.derived is not None
                                          and b.derived is not None
                                          and a.derived.formula != b.derived.formula),
                                         ("value", ai["value"] != bi["value"]),
                                         ("description", described)) if on)
        return Change("parameters", note_kind, name, ai, bi, fields_n,
                      (label, *(n for n in notes if not n.endswith("reformatted only"))),
                      _param_at(a), _param_at(b))
    return None


def _derived(info: Mapping[str, Any]) -> str:
    value = info["value"]
    return f"derived: {info['formula']}" + (f" (= {_show(value)})" if value is not None else "")


def _rows_diff(a: list[Any], b: list[Any]
               ) -> tuple[str, list[str], tuple[dict[str, Any], ...]]:
    """Rows (or list items) aligned by content: the changed cells of each changed row,
    and the rows added and removed. Rows are numbered from 1."""
    keys_a = [json.dumps(r, sort_keys=True) for r in a]
    keys_b = [json.dumps(r, sort_keys=True) for r in b]
    matcher = difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False)
    lines: list[str] = []
    rows: list[dict[str, Any]] = []
    counts = {"changed": 0, "added": 0, "removed": 0}

    def added(j: int) -> None:
        counts["added"] += 1
        lines.append(f"+ row {j + 1}: {_show(b[j])}")
        rows.append({"change": "added", "row": j + 1, "value": b[j]})

    def removed(i: int) -> None:
        counts["removed"] += 1
        lines.append(f"- row {i + 1}: {_show(a[i])}")
        rows.append({"change": "removed", "before_row": i + 1, "value": a[i]})

    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(paired):
            i, j = i1 + k, j1 + k
            counts["changed"] += 1
            cells = _cells(a[i], b[j])
            where = f"row {j + 1}" if i == j else f"row {i + 1} -> {j + 1}"
            text = ", ".join(f"{c} {_show(v['before'])} -> {_show(v['after'])}"
                             for c, v in cells.items())
            lines.append(f"~ {where}: {text}")
            rows.append({"change": "changed", "row": j + 1, "before_row": i + 1,
                         "cells": cells})
        for i in range(i1 + paired, i2):
            removed(i)
        for j in range(j1 + paired, j2):
            added(j)
    head = ", ".join(f"{count_changes(n, 'row')} {k}" if not parts else f"{n} {k}"
                     for parts, (k, n) in enumerate((k, n) for k, n in counts.items() if n))
    return head, lines, tuple(rows)


def _cells(a: Any, b: Any) -> dict[str, dict[str, Any]]:
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return {"value": {"before": a, "after": b}}
    cols = [*b, *(c for c in a if c not in b)]
    return {c: {"before": a.get(c), "after": b.get(c)} for c in cols if a.get(c) != b.get(c)}


# -- definitions and invariants -------------------------------------------------------------

def _def_info(d: DefSpec) -> dict[str, Any]:
    return {"entity": d.entity, "formula": squash_spaces(d.formula), "provision": d.provision,
            "type": d.declared_type, "description": d.description, "defined_in": d.defined_in}


def _def_at(d: DefSpec) -> Location | None:
    return Location.of(d.span(), d.defined_in)


def _diff_definitions(before: PolicyDocument, after: PolicyDocument) -> list[Change]:
    out: list[Change] = []
    for name in _items(before.definitions, after.definitions):
        a, b = before.definitions.get(name), after.definitions.get(name)
        if a is None or b is None:
            spec = b if b is not None else a
            assert spec is not None
            info = _def_info(spec)
            cite = f"({spec.provision})" if spec.provision else ""
            head = "  ".join(p for p in (spec.entity, cite) if p)
            out.append(Change("definitions", "added" if a is None else "removed", name,
                              None if a is None else info, info if a is None else None,
                              details=(head, info["formula"]),
                              before_at=None if a is None else _def_at(a),
                              after_at=None if b is None else _def_at(b)))
            continue
        out.extend(_formula_change("definitions", name, a, b, _def_info(a), _def_info(b),
                                   entity=True))
    return out


def _inv_info(inv: InvariantSpec) -> dict[str, Any]:
    return {"formula": squash_spaces(inv.check.formula), "provision": inv.check.provision,
            "message": inv.message, "severity": inv.severity,
            "description": inv.check.description, "defined_in": inv.check.defined_in}


def _diff_invariants(before: Mapping[str, InvariantSpec], after: Mapping[str, InvariantSpec]
                     ) -> list[Change]:
    out: list[Change] = []
    for name in _items(before, after):
        a, b = before.get(name), after.get(name)
        if a is None or b is None:
            spec = b if b is not None else a
            assert spec is not None
            info = _inv_info(spec)
            cite = f"({spec.check.provision})" if spec.check.provision else ""
            out.append(Change("invariants", "added" if a is None else "removed", name,
                              None if a is None else info, info if a is None else None,
                              details=("  ".join(p for p in (spec.severity, cite) if p),
                                       info["formula"]),
                              before_at=None if a is None else _def_at(a.check),
                              after_at=None if b is None else _def_at(b.check)))
            continue
        extra: list[tuple[str, str]] = []
        if a.severity != b.severity:
            extra.append(("severity", f"severity {a.severity} -> {b.severity}"))
        if fold_spaces(a.message) != fold_spaces(b.message):
            extra.append(("message", f"message {quote_text(a.message)} -> {quote_text(b.message)}"))
        out.extend(_formula_change("invariants", name, a.check, b.check, _inv_info(a),
                                   _inv_info(b), entity=False, extra=extra))
    return out


def _formula_change(section: str, name: str, a: DefSpec, b: DefSpec, ai: dict[str, Any],
                    bi: dict[str, Any], *, entity: bool,
                    extra: Sequence[tuple[str, str]] = ()) -> list[Change]:
    parts: list[tuple[str, list[str]]] = []
    if entity and a.entity != b.entity:
        parts.append(("entity", [f"entity {a.entity} -> {b.entity}"]))
    same = _same_formula(a, b)
    if not same:
        parts.append(("formula", [f"- {ai['formula']}", f"+ {bi['formula']}"]))
    if _citation(a.provision) != _citation(b.provision):
        parts.append(("provision",
                      [f"provision {a.provision or '(none)'} -> {b.provision or '(none)'}"]))
    parts.extend((f, [text]) for f, text in extra)
    notes: list[tuple[str, str]] = []
    if a.declared_type is not None and b.declared_type is not None \
            and a.declared_type != b.declared_type:
        notes.append(("type", f"declared type {a.declared_type} -> {b.declared_type}"))
    if a.description is not None and b.description is not None \
            and fold_spaces(a.description) != fold_spaces(b.description):
        notes.append(("description",
                      f"description {quote_text(a.description)} -> {quote_text(b.description)}"))
    reformatted = same and a.formula != b.formula
    where = (_def_at(a), _def_at(b))
    if parts:
        fields = [f for f, _ in parts]
        details = _headed(parts)
        details += [t for _, t in notes]
        if reformatted:
            details.append("formula reformatted (same syntax tree)")
        return [Change(section, "changed", name, ai, bi,
                       (*fields, *(f for f, _ in notes)), tuple(details), *where)]
    if reformatted:
        return [Change(section, "reformatted", name, ai, bi,
                       ("formula", *(f for f, _ in notes)),
                       ("reformatted only", *(t for _, t in notes)), *where)]
    if notes:
        label = "description only" if all(f == "description" for f, _ in notes) \
            else "annotations only"
        return [Change(section, "redescribed", name, ai, bi, tuple(f for f, _ in notes),
                       (label, *(t for _, t in notes)), *where)]
    return []


def _headed(parts: Sequence[tuple[str, list[str]]]) -> list[str]:
    """Detail lines under a summary line: a lone one-line change is its own summary;
    otherwise `formula, provision changed` and then the lines of each."""
    if len(parts) == 1 and len(parts[0][1]) == 1:
        return list(parts[0][1])
    return [", ".join(f for f, _ in parts) + " changed", *(t for _, ts in parts for t in ts)]


# -- provisions, interpretations ------------------------------------------------------------

class _Locator:
    """Positions of keys in the policy files of a chain, for what the loader keeps
    without a position (provisions, interpretations). The last file naming a key wins,
    as in the merge."""

    def __init__(self, doc: PolicyDocument) -> None:
        self.doc = doc
        self._sections: dict[str, dict[str, Location]] = {}

    def __call__(self, section: str, key: str) -> Location | None:
        if section not in self._sections:
            self._sections[section] = self._scan(section)
        return self._sections[section].get(key)

    def _scan(self, section: str) -> dict[str, Location]:
        found: dict[str, Location] = {}
        for path, ref in zip(self.doc.files, self.doc.chain, strict=False):
            source = self.doc.sources.get(path)
            if source is None:
                continue
            try:
                root = yaml.compose(source.text, Loader=yaml.SafeLoader)
            except yaml.YAMLError:  # pragma: no cover - the loader read it already
                continue
            node = _value_of(root, section)
            if not isinstance(node, yaml.MappingNode):
                continue
            for k, _ in node.value:
                if isinstance(k, yaml.ScalarNode):
                    mark = k.start_mark
                    found[str(k.value)] = Location(path, mark.line + 1, mark.column + 1, ref)
        return found


def _value_of(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                found: yaml.Node = v
                return found
    return None


def _prov_info(p: ProvisionSpec) -> dict[str, Any]:
    return {"text": p.text, "computable": p.computable, "reason": p.reason}


def _diff_provisions(before: Mapping[str, ProvisionSpec], after: Mapping[str, ProvisionSpec],
                     a_locs: _Locator, b_locs: _Locator) -> list[Change]:
    out: list[Change] = []
    for pid in _items(before, after):
        a, b = before.get(pid), after.get(pid)
        a_at, b_at = a_locs("provisions", pid), b_locs("provisions", pid)
        if a is None or b is None:
            spec = b if b is not None else a
            assert spec is not None
            info = _prov_info(spec)
            lines = ["" if spec.computable else "not computable",
                     *([fold_spaces(spec.text) or ""] if spec.text else []),
                     *([f"reason: {fold_spaces(spec.reason)}"]
                       if not spec.computable and spec.reason else [])]
            out.append(Change("provisions", "added" if a is None else "removed", pid,
                              None if a is None else info, info if a is None else None,
                              details=tuple(lines), before_at=None if a is None else a_at,
                              after_at=None if b is None else b_at))
            continue
        parts: list[tuple[str, list[str]]] = []
        if fold_spaces(a.text) != fold_spaces(b.text):
            parts.append(("text", [f"- {fold_spaces(a.text) or '(none)'}",
                                   f"+ {fold_spaces(b.text) or '(none)'}"]))
        if a.computable != b.computable:
            reason = b.reason if not b.computable else a.reason
            parts.append(("computable", [
                f"computable {_show(a.computable)} -> {_show(b.computable)}"
                + (f" ({fold_spaces(reason)})" if reason else "")]))
        elif not b.computable and fold_spaces(a.reason) != fold_spaces(b.reason):
            parts.append(("reason", [f"reason {quote_text(a.reason)} -> {quote_text(b.reason)}"]))
        if parts:
            out.append(Change("provisions", "changed", pid, _prov_info(a), _prov_info(b),
                              tuple(f for f, _ in parts), tuple(_headed(parts)), a_at, b_at))
    return out


def _diff_interpretations(before: Mapping[str, str], after: Mapping[str, str],
                          a_locs: _Locator, b_locs: _Locator) -> list[Change]:
    out: list[Change] = []
    for iid in _items(before, after):
        a, b = before.get(iid), after.get(iid)
        a_at, b_at = a_locs("interpretations", iid), b_locs("interpretations", iid)
        if a is None or b is None:
            text = b if b is not None else a
            info = {"text": text}
            out.append(Change("interpretations", "added" if a is None else "removed", iid,
                              None if a is None else info, info if a is None else None,
                              details=(quote_text(text),), before_at=None if a is None else a_at,
                              after_at=None if b is None else b_at))
        elif fold_spaces(a) != fold_spaces(b):
            out.append(Change("interpretations", "changed", iid, {"text": a}, {"text": b},
                              ("text",), tuple(_headed([("text", [f"- {fold_spaces(a)}",
                                                                  f"+ {fold_spaces(b)}"])])),
                              a_at, b_at))
    return out


# -- outputs ------------------------------------------------------------------------------

def _outputs(doc: PolicyDocument) -> dict[str, list[tuple[str, str]]]:
    """entity -> [(reported name, definition)] in order."""
    return {e: [(doc.output_names.get((e, d), d), d) for d in defs]
            for e, defs in doc.outputs.items()}


def _out_info(entity: str, shown: str, definition: str, position: int) -> dict[str, Any]:
    return {"entity": entity, "name": shown, "definition": definition, "position": position}


def _diff_outputs(before: PolicyDocument, after: PolicyDocument) -> list[Change]:
    out: list[Change] = []
    a_outs, b_outs = _outputs(before), _outputs(after)

    def at(doc: PolicyDocument, entity: str, definition: str) -> Location | None:
        span = doc.output_spans.get((entity, definition))
        return Location.of(span, _ref_of(doc, span.file) if span else None)

    for entity in sorted(set(a_outs) | set(b_outs), key=_natural):
        a_list, b_list = a_outs.get(entity, []), b_outs.get(entity, [])
        a_by, b_by = dict(a_list), dict(b_list)
        a_pos = {s: i + 1 for i, (s, _) in enumerate(a_list)}
        b_pos = {s: i + 1 for i, (s, _) in enumerate(b_list)}
        a_defs = {d: s for s, d in a_list}
        renamed: set[str] = set()  # reported names, on either side, paired as renames
        for shown, d in b_list:
            if shown in a_by:
                continue
            old = a_defs.get(d)
            if old is not None and old not in b_by:
                renamed |= {old, shown}
                out.append(Change(
                    "outputs", "renamed", f"{entity}.{shown}",
                    _out_info(entity, old, d, a_pos[old]), _out_info(entity, shown, d,
                                                                     b_pos[shown]),
                    ("name",), (f"renamed from {entity}.{old} (reports {d})",),
                    at(before, entity, d), at(after, entity, d)))
        for shown, d in b_list:
            if shown in renamed:
                continue
            if shown not in a_by:
                label = f"= {d}" if d != shown else ""
                out.append(Change("outputs", "added", f"{entity}.{shown}", None,
                                  _out_info(entity, shown, d, b_pos[shown]),
                                  details=(label,), after_at=at(after, entity, d)))
            elif a_by[shown] != d:
                out.append(Change(
                    "outputs", "changed", f"{entity}.{shown}",
                    _out_info(entity, shown, a_by[shown], a_pos[shown]),
                    _out_info(entity, shown, d, b_pos[shown]), ("definition",),
                    (f"reports {a_by[shown]} -> {d}",), at(before, entity, a_by[shown]),
                    at(after, entity, d)))
        for shown, d in a_list:
            if shown not in b_by and shown not in renamed:
                label = f"= {d}" if d != shown else ""
                out.append(Change("outputs", "removed", f"{entity}.{shown}",
                                  _out_info(entity, shown, d, a_pos[shown]), None,
                                  details=(label,), before_at=at(before, entity, d)))
        common_a = [s for s, _ in a_list if s in b_by or s in renamed]
        common_b = [s for s, _ in b_list if s in a_by or s in renamed]
        rename = {s: a_defs[d] for s, d in b_list if s in renamed and d in a_defs}
        if [rename.get(s, s) for s in common_b] != common_a:
            out.append(Change(
                "outputs", "reordered", entity, {"order": [s for s, _ in a_list]},
                {"order": [s for s, _ in b_list]}, ("order",),
                (f"order {', '.join(s for s, _ in a_list)} -> "
                 f"{', '.join(s for s, _ in b_list)}",),
                at(before, entity, a_list[0][1]) if a_list else None,
                at(after, entity, b_list[0][1]) if b_list else None))
    return out


def _ref_of(doc: PolicyDocument, path: str) -> str | None:
    for f, ref in zip(doc.files, doc.chain, strict=False):
        if f == path:
            return ref
    return None
