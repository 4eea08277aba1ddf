"""What a policy becomes once read: the specs of its provisions, parameters, invariants
and definitions, and the merged :class:`PolicyDocument` the checker and the backends use."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from evaluator.declared import FactsDecl, standard
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T
from evaluator.lang.document.positions import ScalarPositions
from evaluator.span import Source, Span

POLICY_FILE = "policy.yaml"
_PARAGRAPH = re.compile(r"\([a-z0-9]+\)$")


@dataclass(frozen=True)
class ProvisionSpec:
    id: str
    text: str | None = None
    computable: bool = True
    reason: str | None = None


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type_name: str
    type: T.Type
    value: Any
    provision: str | None
    description: str | None
    #: "ID@VERSION" of the policy that set the value, or "--param"
    set_by: str
    span: Span | None = None
    key_span: Span | None = None
    source: Source | None = field(default=None, repr=False)
    #: column types for tables, element type for lists
    columns: tuple[tuple[str, str], ...] = ()
    provision_positions: ScalarPositions | None = field(default=None, repr=False)
    #: a derived parameter's formula (over other parameters), as a pseudo-definition
    derived: DefSpec | None = field(default=None, repr=False)


@dataclass(frozen=True)
class InvariantSpec:
    """A condition on the parameters, checked by `check` and before every evaluation."""

    name: str
    check: DefSpec
    message: str | None
    severity: str


@dataclass(frozen=True)
class DefSpec:
    name: str
    entity: str
    formula: str
    node: A.Node | None  # None when the formula did not parse
    provision: str | None
    description: str | None
    declared_type: str | None
    defined_in: str
    key_span: Span | None = None
    positions: ScalarPositions | None = field(default=None, repr=False)
    source: Source | None = field(default=None, repr=False)
    entity_span: Span | None = None
    provision_positions: ScalarPositions | None = field(default=None, repr=False)

    def span(self, node: A.Node | None = None) -> Span | None:
        """File span of a sub-expression (or of the whole formula)."""
        if self.positions is None:
            return self.key_span
        if node is None:
            return self.positions.span(0, len(self.formula))
        return self.positions.span(node.start, node.end)


@dataclass(frozen=True)
class PolicyDocument:
    id: str
    version: str
    status: str
    title: str
    path: str
    description: str | None
    source_info: Any
    effective: dict[str, str | None]
    extends: str | None
    models: str | None
    provisions: dict[str, ProvisionSpec]
    interpretations: dict[str, str]
    parameters: dict[str, ParamSpec]
    definitions: dict[str, DefSpec]
    outputs: dict[str, tuple[str, ...]]
    output_spans: dict[tuple[str, str], Span]
    #: (entity, definition) -> the name it is reported under, when renamed
    output_names: dict[tuple[str, str], str]
    #: every file's text by its displayed path, to render diagnostics anywhere in it
    sources: dict[str, Source]
    invariants: dict[str, InvariantSpec]
    #: definitions named in the files, including those that could not be built
    declared: frozenset[str]
    #: "ID@VERSION" from the root ancestor down to this policy
    chain: tuple[str, ...]
    files: tuple[str, ...]
    canonical: dict[str, Any] = field(repr=False)
    sha256: str = ""
    #: the declared facts (None: the standard deposit declaration alone)
    facts_decl: FactsDecl | None = field(default=None, repr=False)

    @property
    def facts(self) -> FactsDecl:
        """The facts the policy reads: the standard declaration plus its own."""
        return self.facts_decl if self.facts_decl is not None else standard()

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def quote(self, label: str) -> str | None:
        """The text the policy declares for a cited label (a provision or an
        interpretation), or for the nearest provision it is a paragraph of (`2(5)(i)` ->
        `2(5)`); None when it declares none."""
        label = label.strip()
        while True:
            spec = self.provisions.get(label)
            if spec is not None and spec.text:
                return spec.text
            if label in self.interpretations:
                return self.interpretations[label] or None
            shorter = _PARAGRAPH.sub("", label)
            if shorter == label:
                return None
            label = shorter

    def quotes(self, citation: str | None) -> dict[str, str]:
        """Label -> text of each label a `provision:` cites that has a text."""
        out: dict[str, str] = {}
        for part in (citation or "").split(";"):
            text = self.quote(part) if part.strip() else None
            if text is not None:
                out[part.strip()] = text
        return out
