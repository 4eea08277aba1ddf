"""Whether a declared decimal or percent field may be evaluated in one scaled column:
the scalar backend's Decimal keeps each value's places (``0.01`` and ``0.025``, and
``rate ?? 0%`` mixes them), which one scale cannot, so such a field may reach an output
only through values that do not show its places (a comparison, a date, a whole number,
money rounded to the cent); otherwise the columnar backend declines."""

from __future__ import annotations

from evaluator.backends.base import CompiledPolicy
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T

__all__ = ["output_showing_places"]

#: functions whose result has fixed places whatever their arguments' places
_ROUNDING = frozenset({"round", "round_cents", "interest_simple", "interest_compound",
                       "accrued_interest"})
#: types whose values have no decimal places to show
_PLACELESS = (T.BOOL, T.DATE, T.DURATION, T.INT)


def output_showing_places(policy: CompiledPolicy, fields: set[str]) -> str | None:
    """The first output (``entity output``) whose value may show the places of one of
    ``fields`` (declared member or account fields, by name), or None."""
    checked = policy.checked
    types, res = checked.types, checked.resolutions
    memo: dict[str, bool] = {}

    def shows(node: A.Node) -> bool:
        t = types.get(id(node))
        if t is not None and T.strip(t) in _PLACELESS:
            return False
        if isinstance(node, A.Call) and node.func in _ROUNDING:
            return False
        if isinstance(node, A.Name | A.Attr):
            r = res.get(id(node))
            if r is not None and r.kind in ("def", "attr_def"):
                return defined(r.name)
            if r is not None and r.name in fields:
                return True
        return any(shows(child) for child in A.children(node))

    def defined(name: str) -> bool:
        if name not in memo:
            memo[name] = False  # a cycle is the checker's to report
            cdef = checked.defs.get(name)
            node = cdef.spec.node if cdef is not None else None
            memo[name] = node is not None and shows(node)
        return memo[name]

    for entity in ("account", "member", "portfolio"):
        for shown, name in policy.outputs(entity):
            if defined(name):
                return f"{entity} output `{shown}`"
    return None
