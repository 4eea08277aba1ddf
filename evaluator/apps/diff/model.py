"""What a policy diff is: its changes (``Location``, ``Change``), the two sides
(``PolicyInfo``) and the result with its text and JSON renderings (``PolicyDiff``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evaluator.lang.document.loader import PolicyDocument
from evaluator.span import Span
from evaluator.text import squash_spaces

EXIT_SAME, EXIT_DIFFERENT, EXIT_INVALID = 0, 1, 2

#: sections in report order
SECTIONS = ("parameters", "definitions", "provisions", "interpretations", "outputs",
            "invariants")
#: kinds in report order; the last three are notes, not substance
KINDS = ("added", "removed", "renamed", "changed", "reordered", "reformatted", "redescribed",
         "recomputed")
NOTE_KINDS = frozenset({"reformatted", "redescribed", "recomputed"})
_SYMBOL = {"added": "+", "removed": "-", "renamed": "~", "changed": "~", "reordered": "~",
           "reformatted": "=", "redescribed": "=", "recomputed": "="}
_NOUN = {"parameters": "parameter", "definitions": "definition", "provisions": "provision",
         "interpretations": "interpretation", "outputs": "output", "invariants": "invariant"}


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class Location:
    """Where one side of a change is written, and which policy of the chain set it."""

    file: str
    line: int
    col: int
    #: "ID@VERSION" of the policy that set it (for parameters, as in ParamSpec.set_by)
    set_by: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where} ({self.set_by})" if self.set_by else where

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "col": self.col, "set_by": self.set_by}

    @classmethod
    def of(cls, span: Span | None, set_by: str | None) -> Location | None:
        return None if span is None else cls(span.file, span.line, span.col, set_by)


@dataclass(frozen=True)
class Change:
    """One difference. ``before``/``after`` are the item's fields on each side (plain JSON
    values; None when the item is absent); ``fields`` names those that differ."""

    section: str
    kind: str
    name: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    fields: tuple[str, ...] = ()
    #: human-readable lines, as in the text report
    details: tuple[str, ...] = ()
    before_at: Location | None = None
    after_at: Location | None = None
    #: for tables and lists: one entry per row added, removed or changed
    rows: tuple[dict[str, Any], ...] = ()

    @property
    def substantive(self) -> bool:
        return self.kind not in NOTE_KINDS

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "section": self.section, "kind": self.kind, "name": self.name,
            "substantive": self.substantive, "fields": list(self.fields),
            "before": self.before, "after": self.after, "details": list(self.details),
            "locations": {"before": self.before_at.to_json() if self.before_at else None,
                          "after": self.after_at.to_json() if self.after_at else None},
        }
        if self.rows:
            out["rows"] = list(self.rows)
        return out


@dataclass(frozen=True)
class PolicyInfo:
    """What identifies one side of a diff (metadata, never compared as substance)."""

    ref: str
    status: str
    title: str
    effective: dict[str, str | None]
    chain: tuple[str, ...]
    files: tuple[str, ...]
    sha256: str

    @classmethod
    def of(cls, doc: PolicyDocument) -> PolicyInfo:
        return cls(doc.ref, doc.status, doc.title, dict(doc.effective), doc.chain, doc.files,
                   doc.sha256)

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.ref, "status": self.status, "title": self.title,
                "effective": self.effective, "chain": list(self.chain),
                "files": list(self.files), "sha256": self.sha256}


@dataclass
class PolicyDiff:
    before: PolicyInfo
    after: PolicyInfo
    changes: list[Change] = field(default_factory=list)

    @property
    def same(self) -> bool:
        """Identical in substance: no change other than notes."""
        return not any(c.substantive for c in self.changes)

    @property
    def exit_code(self) -> int:
        return EXIT_SAME if self.same else EXIT_DIFFERENT

    def find(self, section: str, name: str) -> Change | None:
        """The change of an item (``find("parameters", "coming_into_force")``), if any."""
        return next((c for c in self.changes if c.section == section and c.name == name),
                    None)

    def names(self, section: str, kind: str | None = None) -> list[str]:
        return [c.name for c in self.changes
                if c.section == section and (kind is None or c.kind == kind)]

    def summary(self) -> dict[str, dict[str, int]]:
        """section -> kind -> count, sections and kinds in report order, zeros left out."""
        out: dict[str, dict[str, int]] = {}
        for section in SECTIONS:
            counts = {k: sum(1 for c in self.changes if c.section == section and c.kind == k)
                      for k in KINDS}
            counts = {k: n for k, n in counts.items() if n}
            if counts:
                out[section] = counts
        return out

    def summary_text(self) -> str:
        substance: list[str] = []
        notes: list[str] = []
        for section, counts in self.summary().items():
            subst = [(k, n) for k, n in counts.items() if k not in NOTE_KINDS]
            note = [(k, n) for k, n in counts.items() if k in NOTE_KINDS]
            for items, target in ((subst, substance), (note, notes)):
                if items:
                    (k0, n0), *rest = items
                    words = [f"{count_changes(n0, _NOUN[section])} {k0}",
                             *(f"{n} {k}" for k, n in rest)]
                    target.append(", ".join(words))
        if not substance:
            text = "identical in substance" if notes else "identical"
            return text + (f" ({'; '.join(notes)})" if notes else "")
        return "; ".join(substance) + (f"; notes: {'; '.join(notes)}" if notes else "")

    def render_text(self) -> str:
        lines = [f"{self.before.ref} -> {self.after.ref}"]
        lines.extend(f"  {line}" for line in _metadata_lines(self.before, self.after))
        for section in SECTIONS:
            changes = [c for c in self.changes if c.section == section]
            if not changes:
                continue
            lines.append(section)
            for c in changes:
                lines.extend(_render_change(c))
        lines.append(f"summary: {self.summary_text()}")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {"before": self.before.to_json(), "after": self.after.to_json(),
                "same": self.same, "summary": self.summary(),
                "changes": [c.to_json() for c in self.changes]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def count_changes(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _metadata_lines(a: PolicyInfo, b: PolicyInfo) -> list[str]:
    out: list[str] = []
    if a.status != b.status:
        out.append(f"status {a.status} -> {b.status}")
    if a.title != b.title:
        out.append(f"title {quote_text(a.title)} -> {quote_text(b.title)}")
    if a.effective != b.effective:
        out.append(f"effective {_effective(a.effective)} -> {_effective(b.effective)}")
    ea, eb = ", ".join(a.chain[:-1]) or "(none)", ", ".join(b.chain[:-1]) or "(none)"
    if ea != eb:
        out.append(f"extends {ea} -> {eb}")
    return out


def _effective(e: Mapping[str, str | None]) -> str:
    start, end = e.get("from"), e.get("to")
    if not start and not end:
        return "(not set)"
    return f"from {start or '(not set)'}" + (f" to {end}" if end else "")


def _render_change(c: Change) -> list[str]:
    sym = _SYMBOL[c.kind]
    head = f"  {sym} {c.name}"
    if c.kind in ("added", "removed"):
        at = c.after_at if c.kind == "added" else c.before_at
        summary, *rest = c.details or ("",)
        parts = [head, summary, str(at) if at else ""]
        return ["  ".join(p for p in parts if p), *(f"      {d}" for d in rest)]
    summary, *rest = c.details or (c.kind,)
    lines = [f"{head}  {summary}", *(f"      {d}" for d in rest)]
    if c.before_at is not None or c.after_at is not None:
        ba, aa = str(c.before_at or "(nowhere)"), str(c.after_at or "(nowhere)")
        lines.append(f"      at {ba}" if ba == aa else f"      at {ba} -> {aa}")
    return lines


def fold_spaces(text: str | None) -> str | None:
    return None if text is None else squash_spaces(text)


def quote_text(text: str | None) -> str:
    return "(none)" if text is None else json.dumps(fold_spaces(text), ensure_ascii=False)
