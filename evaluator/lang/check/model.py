"""What a checked policy is: its definitions with their types and uses, how each name
resolves, and which entities see which definitions (the checker builds it; the cost check
and the backends read it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evaluator.errors import Diagnostic
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T
from evaluator.lang.document.specs import DefSpec, PolicyDocument

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


    # -- pickling (the on-disk cache, evaluator.lang.cache) ------------------------------
    # ``types`` and ``resolutions`` are keyed by the id of each node, which another
    # process does not share: they are stored as (node, value) pairs, the nodes being the
    # very objects of the formulas' trees (pickle keeps them shared), and keyed again by
    # the new ids when read.

    def _nodes(self) -> dict[int, A.Node]:
        specs: list[DefSpec] = [c.spec for c in (*self.defs.values(), *self.derived.values(),
                                                 *self.invariants.values())]
        doc = self.document
        specs += doc.definitions.values()
        specs += [p.derived for p in doc.parameters.values() if p.derived is not None]
        specs += [i.check for i in doc.invariants.values()]
        found: dict[int, A.Node] = {}
        for spec in specs:
            if spec.node is not None and id(spec.node) not in found:
                found.update((id(n), n) for n in A.walk(spec.node))
        return found

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        nodes = self._nodes()
        for name in ("types", "resolutions"):
            table: dict[int, Any] = state[name]
            if any(k not in nodes for k in table):
                raise TypeError(f"a checked policy whose `{name}` names a node outside "
                                "its formulas cannot be stored")
            state[name] = [(nodes[k], v) for k, v in table.items()]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in ("types", "resolutions"):
            state[name] = {id(node): v for node, v in state[name]}
        self.__dict__.update(state)
