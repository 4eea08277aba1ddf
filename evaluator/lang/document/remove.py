"""`remove:` in a policy that extends another: taking inherited parameters, definitions,
outputs, invariants, provisions and interpretations out of the merged document.

A file's removals apply to what it inherits, before its own sections are merged (so a
file may remove a name and declare it afresh). Removing a name the policy does not
inherit, removing anything in a policy that extends nothing, and removing what is still
used by what remains are diagnostics at the removal's item (every one at once); a removal
refused because the name is still used is undone, so the uses are not reported again as
unknown names.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from evaluator.errors import Code, Diagnostic
from evaluator.lang import nodes as A
from evaluator.lang.document.compose import RawFile, child, key_node
from evaluator.lang.document.positions import node_span
from evaluator.lang.document.specs import DefSpec, InvariantSpec, ParamSpec
from evaluator.span import Source
from evaluator.text import with_article

#: the sections `remove:` can name, as the schema lists them
SECTIONS = ("parameters", "definitions", "outputs", "invariants", "provisions",
            "interpretations")
_SINGULAR = {"parameters": "parameter", "definitions": "definition", "outputs": "output",
             "invariants": "invariant", "provisions": "provision",
             "interpretations": "interpretation"}


@dataclass
class Removal:
    """One item of a `remove:` list that took something out."""

    section: str
    name: str
    node: yaml.Node | None
    source: Source
    #: what was taken out (restored when the removal is refused)
    removed: Any


@dataclass
class Merged:
    """The sections merged so far, which removals take names out of (in place)."""

    provisions: dict[str, Any]
    interpretations: dict[str, str]
    params: dict[str, ParamSpec]
    defs: dict[str, DefSpec]
    invariants: dict[str, InvariantSpec]
    outputs: dict[str, tuple[str, ...]]
    output_names: dict[tuple[str, str], str]

    def section(self, name: str) -> dict[str, Any]:
        return {"provisions": self.provisions, "interpretations": self.interpretations,
                "parameters": self.params, "definitions": self.defs,
                "invariants": self.invariants}[name]


def _items(raw: RawFile) -> Iterable[tuple[str, str, yaml.Node | None]]:
    """(section, name, node) of each text item of the file's `remove:`, once (the schema
    has reported anything else, and repeats)."""
    rnode = child(raw.root, "remove")
    spec = raw.data.get("remove")
    if not isinstance(spec, dict):
        return
    for section in SECTIONS:
        names = spec.get(section)
        if not isinstance(names, list):
            continue
        snode = child(rnode, section)
        seen: set[str] = set()
        for i, name in enumerate(names):
            inode = child(snode, i)
            if isinstance(name, str) and name not in seen and raw.usable(inode):
                seen.add(name)
                yield section, name, inode


def apply_removals(raw: RawFile, merged: Merged, inherits: bool,
                   diags: list[Diagnostic]) -> list[Removal]:
    """Take the names of ``raw``'s `remove:` out of ``merged``; the removals made."""
    src = raw.source
    out: list[Removal] = []

    def report(node: yaml.Node | None, message: str, help: str | None) -> None:
        diags.append(Diagnostic(message, node_span(src, node) if node is not None else None,
                                source=src, code=Code.EXTENDS, help=help))

    items = list(_items(raw))
    if items and not inherits:
        if raw.data.get("extends") is not None:
            return out  # what it names could not be read, and that is reported
        report(key_node(raw.root, "remove"), "`remove` takes out what a policy inherits, "
               "and this policy extends nothing",
               "add `extends: ID@VERSION`, or delete the names from this file instead")
        return out
    for section, name, node in items:
        what = _SINGULAR[section]
        if section == "outputs":
            found = _remove_output(merged, name)
            if found:
                out.append(Removal(section, name, node, src, found))
                continue
            known = sorted({f"{e}.{merged.output_names.get((e, n), n)}"
                            for e, ns in merged.outputs.items() for n in ns})
        else:
            entries = merged.section(section)
            if name in entries:
                out.append(Removal(section, name, node, src, entries.pop(name)))
                continue
            known = sorted(entries)
        sugg = difflib.get_close_matches(name, known, n=1)
        listed = ", ".join(f"`{k}`" for k in known[:8]) + (
            f" and {len(known) - 8} more" if len(known) > 8 else "")
        report(node, f"cannot remove {what} `{name}`: the policy does not inherit "
               f"{with_article(what)} of that name",
               f"did you mean `{sugg[0]}`?" if sugg else
               f"it inherits {what}s {listed}" if known else f"it inherits no {what}s")
    return out


def _remove_output(merged: Merged, item: str) -> list[tuple[str, str, int, str | None]]:
    """Take output ``item`` (a definition or reported name, or ``entity.name``) out of
    every entity's list; (entity, definition, position, reported name) of each."""
    entity, _, name = item.rpartition(".")
    found: list[tuple[str, str, int, str | None]] = []
    for ent, names in list(merged.outputs.items()):
        if entity and ent != entity:
            continue
        keep: list[str] = []
        for i, n in enumerate(names):
            shown = merged.output_names.get((ent, n))
            if name in (n, shown):
                found.append((ent, n, i, merged.output_names.pop((ent, n), None)))
            else:
                keep.append(n)
        merged.outputs[ent] = tuple(keep)
    return found


def _names(spec: DefSpec | None) -> set[str]:
    """The names (and field names) a formula mentions; none when it did not parse."""
    if spec is None or spec.node is None:
        return set()
    return {n.id if isinstance(n, A.Name) else n.name for n in A.walk(spec.node)
            if isinstance(n, A.Name | A.Attr)}


_PARAGRAPH = re.compile(r"\([a-z]+\)$")


def _citations(text: str | None) -> set[str]:
    """Each label a `provision:` cites, and the labels it is a paragraph of."""
    out: set[str] = set()
    for part in (text or "").split(";"):
        label = part.strip()
        while label:
            out.add(label)
            shorter = _PARAGRAPH.sub("", label)
            if shorter == label:
                break
            label = shorter
    return out


def _users(merged: Merged) -> dict[str, dict[str, set[str]]]:
    """section -> name -> who still uses it (``definition `x```, ``outputs.account``)."""
    users: dict[str, dict[str, set[str]]] = {s: {} for s in SECTIONS}
    formulas: list[tuple[str, DefSpec | None, str | None]] = [
        *((f"definition `{n}`", d, d.provision) for n, d in merged.defs.items()),
        *((f"parameter `{n}`", p.derived, p.provision) for n, p in merged.params.items()),
        *((f"invariant `{n}`", i.check, i.check.provision)
          for n, i in merged.invariants.items())]
    for who, spec, provision in formulas:
        for name in _names(spec):
            users["definitions"].setdefault(name, set()).add(who)
            users["parameters"].setdefault(name, set()).add(who)
        for label in _citations(provision):
            users["provisions"].setdefault(label, set()).add(who)
            users["interpretations"].setdefault(label, set()).add(who)
    for entity, names in merged.outputs.items():
        for name in names:
            users["definitions"].setdefault(name, set()).add(f"outputs.{entity}")
    return users


def check_removals(removals: list[Removal], merged: Merged,
                   diags: list[Diagnostic]) -> None:
    """Refuse (and undo) each removal of a name that is gone from the merged document but
    still used by what remains (including what an undone removal brings back)."""
    pending = [r for r in removals if r.section not in ("outputs", "invariants")]
    refused: list[Removal] = []
    while True:
        users = _users(merged)
        more = [r for r in pending if r.name not in merged.section(r.section)
                and users[r.section].get(r.name)]
        if not more:
            break
        for r in more:
            pending.remove(r)
            refused.append(r)
            merged.section(r.section)[r.name] = r.removed
    for r in refused:
        who = sorted(users[r.section][r.name])
        what = _SINGULAR[r.section]
        cites = r.section in ("provisions", "interpretations")
        verb = ("cites" if cites else "uses") if len(who) == 1 else ("cite" if cites else "use")
        shown = ", ".join(who[:4]) + (f" and {len(who) - 4} more" if len(who) > 4 else "")
        diags.append(Diagnostic(
            f"cannot remove {what} `{r.name}`: {shown} still {verb} it",
            node_span(r.source, r.node) if r.node is not None else None,
            source=r.source, code=Code.EXTENDS,
            help=("remove those too, or override their `provision:` so that they no "
                  "longer cite it" if cites else
                  "remove those too, or override them so that they no longer use it")))
