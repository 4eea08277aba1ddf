"""What a checked policy is: its definitions with their types and uses, how each name
resolves, and which entities see which definitions (the checker builds it; the cost check
and the backends read it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from evaluator.errors import Diagnostic
from evaluator.lang import typesys as T
from evaluator.lang.document.loader import DefSpec, PolicyDocument

__all__ = [
    "GLOBAL_NAMES",
    "OUTPUT_ENTITIES",
    "VISIBLE_FROM",
    "CheckedDef",
    "CheckedPolicy",
    "Resolved",
]

#: which entity's definitions a formula may use without naming the instance
VISIBLE_FROM: dict[str, tuple[str, ...]] = {
    "global": ("global",),
    "member": ("member", "global"),
    "account": ("account", "member", "global"),
    "claim": ("claim", "global"),
    "portfolio": ("portfolio", "global"),
    # derived parameters and invariants see parameters only
    "parameter": (),
}
GLOBAL_NAMES: dict[str, T.Type] = {"as_of": T.DATE}
OUTPUT_ENTITIES = ("account", "claim", "portfolio")


@dataclass(frozen=True)
class Resolved:
    """How a name or attribute is found at run time."""

    kind: str  # local | def | field | param | as_of | attr_field | attr_def | record
    name: str
    #: for kind "def": the entity the definition belongs to
    entity: str = ""


@dataclass
class CheckedDef:
    spec: DefSpec
    type: T.Type
    #: definitions used (by name) and parameters used
    uses: set[str] = field(default_factory=set)
    params: set[str] = field(default_factory=set)


@dataclass
class CheckedPolicy:
    document: PolicyDocument
    defs: dict[str, CheckedDef]
    #: id(node) -> inferred type, id(node) -> resolution, for every formula node
    types: dict[int, T.Type]
    resolutions: dict[int, Resolved]
    warnings: list[Diagnostic]
    #: definitions reachable from the outputs, in dependency order
    order: list[str]
    #: derived parameters in the order they must be computed, and invariants
    derived: dict[str, CheckedDef] = field(default_factory=dict)
    invariants: dict[str, CheckedDef] = field(default_factory=dict)

