"""Policy files -> a resolved :class:`PolicyDocument`.

Each file is read by the hardened composer (:mod:`.compose`: scalars stay text as
written, no tag can run code, the position of every node is known; duplicate keys,
anchors/aliases, explicit tags, text that is not valid Unicode and nesting deeper than
:data:`MAX_NESTING` are refused), validated against ``schemas/policy.schema.json``
(:mod:`.schema`) and built into specs (:mod:`.build`); ``extends: ID@VERSION`` is
resolved under the policies root (never outside it) and merged here, child over parent.
Every problem becomes a :class:`Diagnostic`; the loader collects them all rather than
stopping at the first, and reports each once: a value refused by the composer or the
schema is left out of what is built afterwards, not reported again for its consequences.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from evaluator.declared import standard
from evaluator.errors import Code, Diagnostic, PolicyLoadError
from evaluator.lang.document.build import (
    as_mapping,
    as_text,
    build_def,
    build_param,
    convert_scalar,
    literal_type,
    literal_value,
)
from evaluator.lang.document.compose import (
    MAX_NESTING,
    MAX_NODES,
    MAX_POLICY_BYTES,
    Composer,
    RawFile,
    child,
    compose,
    read_text,
)
from evaluator.lang.document.facts_decl import read_facts
from evaluator.lang.document.index import PolicyIndex
from evaluator.lang.document.positions import node_span
from evaluator.lang.document.remove import Merged, Removal, apply_removals, check_removals
from evaluator.lang.document.schema import schema_diagnostics
from evaluator.lang.document.specs import (
    POLICY_FILE,
    DefSpec,
    InvariantSpec,
    ParamSpec,
    PolicyDocument,
    ProvisionSpec,
)
from evaluator.lang.values import to_json_value
from evaluator.resources import policies_root
from evaluator.span import Span

__all__ = [
    "MAX_EXTENDS_DEPTH",
    "MAX_NESTING",
    "MAX_NODES",
    "MAX_POLICY_BYTES",
    "POLICY_FILE",
    "DefSpec",
    "InvariantSpec",
    "ParamSpec",
    "PolicyDocument",
    "ProvisionSpec",
    "convert_scalar",
    "literal_type",
    "literal_value",
    "load_document",
    "resolve_policy_path",
]

MAX_EXTENDS_DEPTH = 16


def _read_raw(path: Path, display: str) -> RawFile:
    """One policy file, composed and checked against the schema."""
    diags: list[Diagnostic] = []
    source = read_text(path, display)
    root = compose(source, diags)
    if root is None:
        if not diags:
            diags.append(Diagnostic("policy file is empty", Span(display, 1, 1, 1, 1),
                                    source=source, code=Code.YAML))
        raise PolicyLoadError(diags)
    if not isinstance(root, yaml.MappingNode):
        raise PolicyLoadError(Diagnostic("a policy file must be a mapping of keys",
                                         node_span(source, root), source=source, code=Code.YAML))
    composer = Composer(source, diags)
    data = composer.plain(root)
    if not isinstance(data, dict):  # pragma: no cover - root is a mapping
        data = {}
    diags.extend(schema_diagnostics(source, root, data, composer.refused))
    return RawFile(source, root, data, diags, composer.refused)


# -- resolving names and paths -----------------------------------------------------------

def _display_path(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)
    return rel if not rel.startswith("..") else str(path)


def resolve_policy_path(ref: str | os.PathLike[str], root: Path | None = None) -> Path:
    """A policy file, a directory holding ``policy.yaml``, or ``ID[@VERSION]``."""
    p = Path(ref)
    if p.is_file():
        return p
    if p.is_dir():
        if (p / POLICY_FILE).is_file():
            return p / POLICY_FILE
        raise PolicyLoadError(Diagnostic(f"{p}: directory has no {POLICY_FILE}", code=Code.IO))
    text = str(ref)
    base = root or policies_root()
    pid, _, version = text.partition("@")
    if re.fullmatch(r"[a-z0-9][a-z0-9.-]*", pid):
        index = PolicyIndex.scan(base)
        found = index.find(pid, version)
        if found is not None:
            return found
        versions = index.versions(pid)
        if versions:
            raise PolicyLoadError(Diagnostic(
                f"policy `{pid}` has no version `{version}`", code=Code.IO,
                help="known versions: " + ", ".join(versions)))
        ids = index.ids()
        sugg = difflib.get_close_matches(pid, ids, n=1)
        raise PolicyLoadError(Diagnostic(
            f"no policy file, directory or id `{text}`", code=Code.IO,
            help=(f"did you mean `{sugg[0]}`?" if sugg else
                  "known ids: " + ", ".join(ids) if ids else None)))
    raise PolicyLoadError(Diagnostic(f"no policy file or directory `{text}`", code=Code.IO))


def _load_chain(path: Path, root: Path, seen: tuple[Path, ...],
                diags: list[Diagnostic]) -> list[RawFile]:
    """The file and every ancestor it extends, root ancestor first."""
    display = _display_path(path)
    raw = _read_raw(path, display)
    diags.extend(raw.diags)
    parent_ref = raw.data.get("extends")
    if not isinstance(parent_ref, str):
        return [raw]
    enode = child(raw.root, "extends")
    span = node_span(raw.source, enode) if enode is not None else None

    def refuse(message: str, help: str | None = None) -> list[RawFile]:
        diags.append(Diagnostic(message, span, source=raw.source, code=Code.EXTENDS, help=help))
        return [raw]

    if len(seen) >= MAX_EXTENDS_DEPTH:
        return refuse(f"`extends` chain is deeper than {MAX_EXTENDS_DEPTH}")
    pid, _, version = parent_ref.partition("@")
    index = PolicyIndex.scan(root)
    found = index.find(pid, version)
    target = found.resolve() if found is not None else None
    if target is None or root.resolve() not in target.parents:
        link = found or index.outside.get(pid)
        if link is not None:
            return refuse(f"`extends: {parent_ref}` leaves the policies root",
                          f"`{_display_path(link)}` leads out of {_display_path(root)}; "
                          "policies outside it are never read")
        sugg = difflib.get_close_matches(parent_ref, index.refs(), n=1)
        return refuse(f"`extends: {parent_ref}`: no such policy under {_display_path(root)}",
                      f"did you mean `{sugg[0]}`?" if sugg else None)
    if target in seen or target == path.resolve():
        chain = " -> ".join(_display_path(p) for p in (*seen, path.resolve(), target))
        return refuse(f"`extends` cycle: {chain}", "a policy cannot extend itself")
    return [*_load_chain(target, root, (*seen, path.resolve()), diags), raw]


def policies_root_for(path: Path) -> Path:
    """The nearest folder named `policies` above the policy: on its path as named (through
    any symlinks), else on its real path, else the package's own."""
    for named in (Path(os.path.abspath(path)), path.resolve()):
        for parent in named.parents:
            if parent.name == "policies":
                return parent
    return policies_root().resolve()


def load_document(ref: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None
                  ) -> tuple[PolicyDocument | None, list[Diagnostic]]:
    """Read, validate and merge a policy and what it extends. Never raises for problems in
    the policy text: they are returned as diagnostics (the document is None when it could
    not be built at all). Raises :class:`PolicyLoadError` when the file cannot be found."""
    path = resolve_policy_path(ref, Path(root) if root else None)
    base = Path(root).resolve() if root else policies_root_for(path)
    diags: list[Diagnostic] = []
    try:
        chain = _load_chain(path, base, (), diags)
    except PolicyLoadError as exc:
        return None, [*diags, *exc.diagnostics]
    if not all(_buildable(r) for r in chain):
        return None, diags
    return _merge(chain, diags), diags


_SECTIONS = ("effective", "provisions", "interpretations", "parameters", "definitions",
             "outputs", "invariants", "remove")


def _buildable(raw: RawFile) -> bool:
    """Whether the file can be built into a document: it has a policy id, and each of its
    sections is a mapping. (When one is not, what the rest of the policy refers to is
    unknown, and checking it would only report that.)"""
    return isinstance(raw.data.get("policy"), str) and all(
        isinstance(raw.data[s], dict) for s in _SECTIONS if s in raw.data)


def _outputs(raw: RawFile, outputs: dict[str, tuple[str, ...]],
             spans: dict[tuple[str, str], Span], names: dict[tuple[str, str], str]) -> None:
    """Read one file's `outputs:` into ``outputs``, ``spans`` and ``names``."""
    onode = child(raw.root, "outputs")
    for entity, items in as_mapping(raw.data.get("outputs")).items():
        if not isinstance(items, list):
            continue
        enode = child(onode, entity)
        listed: list[str] = []
        for i, item in enumerate(items):
            inode = child(enode, i)
            if isinstance(item, dict) and len(item) == 1:
                ((shown, target),) = item.items()
                if not isinstance(target, str):
                    continue
                names[(entity, target)] = shown
                inode = child(inode, shown) or inode
                item = target
            if not isinstance(item, str):
                continue
            listed.append(item)
            if inode is not None:
                spans[(entity, item)] = node_span(raw.source, inode)
        outputs[entity] = tuple(listed)


def _no_formula(raw: RawFile, name: str, node: yaml.Node | None,
                diags: list[Diagnostic]) -> None:
    """A definition without a formula that it does not inherit either."""
    diags.append(Diagnostic(
        f"missing key `formula` in definitions.{name}",
        node_span(raw.source, node) if node is not None else None, source=raw.source,
        code=Code.SCHEMA, where=f"definition `{name}`",
        help="see evaluator/schemas/policy.schema.json for the policy format"))


def _file_order(entries: dict[str, Any], inherited: list[str], declared: Any) -> None:
    """Order ``entries`` as the file declares them, each inherited name it does not
    declare kept right after the name it followed (so a file that restates every name
    it inherits reads in its own order, and one overriding a few keeps its base's)."""
    if not inherited:
        return
    order = [n for n in declared if n in entries]
    placed = set(order)
    for i, name in enumerate(inherited):
        if name in placed or name not in entries:
            continue
        before = next((inherited[j] for j in range(i - 1, -1, -1) if inherited[j] in placed),
                      None)
        order.insert(order.index(before) + 1 if before is not None else 0, name)
        placed.add(name)
    moved = {n: entries.pop(n) for n in order}
    entries.update(moved)


def _merge(chain: list[RawFile], diags: list[Diagnostic]) -> PolicyDocument:
    provisions: dict[str, ProvisionSpec] = {}
    interpretations: dict[str, str] = {}
    params: dict[str, ParamSpec] = {}
    defs: dict[str, DefSpec] = {}
    invariants: dict[str, InvariantSpec] = {}
    outputs: dict[str, tuple[str, ...]] = {}
    output_spans: dict[tuple[str, str], Span] = {}
    output_names: dict[tuple[str, str], str] = {}
    canonical_chain: list[dict[str, Any]] = []
    facts = standard()
    merged = Merged(provisions, interpretations, params, defs, invariants, outputs,
                    output_names)
    removals: list[Removal] = []
    for i, raw in enumerate(chain):
        d = raw.data
        src = raw.source
        ref = f"{d.get('policy')}@{d.get('version')}"
        facts = read_facts(raw, facts, ref, diags)
        removals += apply_removals(raw, merged, i > 0, diags)
        for pid, p in as_mapping(d.get("provisions")).items():
            p = as_mapping(p)
            provisions[pid] = ProvisionSpec(pid, as_text(p.get("text")),
                                            p.get("computable") is not False,
                                            as_text(p.get("reason")))
        for iid, text in as_mapping(d.get("interpretations")).items():
            interpretations[iid] = as_text(text) or ""
        inherited_params, inherited_defs = list(params), list(defs)
        pnodes = child(raw.root, "parameters")
        for name, spec in as_mapping(d.get("parameters")).items():
            param = build_param(name, spec, child(pnodes, name), raw, ref, params.get(name),
                                 diags)
            if param is not None:
                params[name] = param
        inodes = child(raw.root, "invariants")
        for name, spec in as_mapping(d.get("invariants")).items():
            spec = as_mapping(spec)
            built = build_def(name, {**spec, "entity": "parameter"}, child(inodes, name),
                               src, ref, diags, None)
            if built is not None:
                severity = spec.get("severity")
                invariants[name] = InvariantSpec(
                    name, built, as_text(spec.get("message")),
                    severity if severity in ("error", "warning") else "warning")
        dnodes = child(raw.root, "definitions")
        for name, spec in as_mapping(d.get("definitions")).items():
            if isinstance(spec, dict) and "formula" not in spec and name not in defs:
                _no_formula(raw, name, child(dnodes, name), diags)
                continue
            built = build_def(name, as_mapping(spec), child(dnodes, name), src, ref, diags,
                               defs.get(name))
            if built is not None:
                defs[name] = built
        _file_order(params, inherited_params, as_mapping(d.get("parameters")))
        _file_order(defs, inherited_defs, as_mapping(d.get("definitions")))
        _outputs(raw, outputs, output_spans, output_names)
        canonical_chain.append(d)
    check_removals(removals, merged, diags)
    gone = {r.name for r in removals if r.section == "definitions" and r.name not in defs}
    last = chain[-1].data
    doc_params = {n: {"type": p.type_name, "value": to_json_value(p.value),
                      "formula": p.derived.formula if p.derived else None,
                      "provision": p.provision, "set_by": p.set_by,
                      "columns": dict(p.columns)} for n, p in sorted(params.items())}
    doc_defs = {n: {"entity": s.entity, "formula": s.formula, "provision": s.provision,
                    "type": s.declared_type} for n, s in sorted(defs.items())}
    canonical_refs = [f"{c.get('policy')}@{c.get('version')}" for c in canonical_chain]
    canonical = {
        "policy": last.get("policy"), "version": last.get("version"),
        "status": last.get("status"), "title": last.get("title"),
        "chain": canonical_refs,
        "provisions": {k: vars(v) for k, v in sorted(provisions.items())},
        "interpretations": dict(sorted(interpretations.items())),
        "parameters": doc_params, "definitions": doc_defs,
        "outputs": {k: [{output_names[(k, n)]: n} if (k, n) in output_names else n
                        for n in v] for k, v in sorted(outputs.items())},
        "invariants": {n: {"formula": i.check.formula, "provision": i.check.provision,
                           "message": i.message, "severity": i.severity}
                       for n, i in sorted(invariants.items())},
    }
    if facts.has_extras:  # a policy reading only the standard facts keeps its digest
        canonical["facts"] = facts.extras_json()
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":"),
                                       ensure_ascii=False).encode("utf-8")).hexdigest()
    # the effective dates of the nearest policy of the chain that states them
    eff = next((as_mapping(r.data.get("effective")) for r in reversed(chain)
                if r.data.get("effective") is not None), {})
    return PolicyDocument(
        id=str(last.get("policy")), version=str(last.get("version")),
        status=str(last.get("status")), title=str(last.get("title")),
        path=chain[-1].source.path, description=as_text(last.get("description")),
        source_info=last.get("source"),
        effective={"from": as_text(eff.get("from")), "to": as_text(eff.get("to"))},
        extends=as_text(last.get("extends")), models=as_text(last.get("models")),
        provisions=provisions, interpretations=interpretations, parameters=params,
        definitions=defs, outputs=outputs, output_spans=output_spans,
        output_names=output_names,
        sources={r.source.path: r.source for r in chain}, invariants=invariants,
        declared=frozenset(n for r in chain for n in as_mapping(r.data.get("definitions"))
                           if n not in gone),
        chain=tuple(str(c) for c in canonical_refs), files=tuple(r.source.path for r in chain),
        canonical=canonical, sha256=digest,
        facts_decl=facts if facts.has_extras else None)
