"""Checks of parameters: derived parameters, invariants, and windows tables.

Derived parameters and invariants are formulas over parameters: they are typed with the
definitions' :class:`~evaluator.lang.check.infer.TypeChecker`, and their diagnostics go to
its list (so that the indexes of help that waits for every definition stay valid).
"""

from __future__ import annotations

from typing import Any

from evaluator.errors import Code, Diagnostic
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T
from evaluator.lang.check.graph import dependency_order
from evaluator.lang.check.infer import TypeChecker
from evaluator.lang.check.model import CheckedDef
from evaluator.lang.document.loader import DefSpec, PolicyDocument
from evaluator.lang.values import MonthDay
from evaluator.text import with_article

__all__ = ["check_derived", "check_invariants", "check_window_tables", "pseudo_params"]


def pseudo_params(doc: PolicyDocument, spec: DefSpec) -> set[str]:
    """The parameters a derived-parameter formula names."""
    assert spec.node is not None
    return {n.id for n in A.walk(spec.node)
            if isinstance(n, A.Name) and n.id in doc.parameters}


def check_derived(typer: TypeChecker) -> dict[str, CheckedDef]:
    """Type derived parameters and order them so each follows those it uses."""
    found: dict[str, CheckedDef] = {}
    for name, p in typer.doc.parameters.items():
        if p.derived is None:
            continue
        cdef = typer.check_pseudo(p.derived)
        found[name] = cdef
        if cdef.type != T.NEVER and not T.assignable(cdef.type, p.type):
            typer.diags.append(Diagnostic(
                f"formula is `{cdef.type}` but the parameter is {with_article(p.type_name)}",
                p.derived.span(), where=f"parameter `{name}`", provision=p.provision,
                source=p.derived.source, code=Code.TYPE))

    def cycle(path: list[str]) -> None:
        spec = found[path[-1]].spec
        typer.diags.append(Diagnostic(
            "derived parameters depend on each other in a cycle: "
            + " -> ".join(f"`{c}`" for c in path), spec.span(),
            where=f"parameter `{path[-1]}`", source=spec.source, code=Code.CYCLE))

    order = dependency_order(
        found, lambda n: sorted(u for u in found[n].params if u in found), cycle)
    return {n: found[n] for n in order}


def check_invariants(typer: TypeChecker) -> dict[str, CheckedDef]:
    """Type invariants: each must be a Bool or a list of texts."""
    out: dict[str, CheckedDef] = {}
    for name, inv in typer.doc.invariants.items():
        cdef = typer.check_pseudo(inv.check)
        if cdef.type not in (T.BOOL, T.ListT(T.TEXT), T.ListT(T.NEVER), T.NEVER) \
                and not T.is_unknown(cdef.type):
            typer.diags.append(Diagnostic(
                f"invariant `{name}` is `{cdef.type}`; it must be a Bool or a list of texts",
                inv.check.span(), where=f"invariant `{name}`", source=inv.check.source,
                code=Code.TYPE, help="a Bool fails when false; each text of a list is "
                "reported as a problem"))
            continue
        out[name] = cdef
    return out

def check_window_tables(doc: PolicyDocument) -> list[Diagnostic]:
    """Rows of a windows table must cover every day of the year exactly once."""
    diags: list[Diagnostic] = []
    for name, p in doc.parameters.items():
        cols = dict(p.columns)
        if p.type_name != "table" or cols.get("unclaimed_from") != "month_day" \
                or cols.get("unclaimed_to") != "month_day" or not p.value:
            continue
        days = [MonthDay(m, d) for m in range(1, 13)
                for d in range(1, _DAYS_2024[m - 1] + 1)]
        owners: dict[MonthDay, list[int]] = {md: [] for md in days}
        for i, row in enumerate(p.value):
            lo, hi = row.get("unclaimed_from"), row.get("unclaimed_to")
            if lo is None or hi is None:
                continue
            for md in days:
                inside = lo <= md <= hi if lo <= hi else (md >= lo or md <= hi)
                if inside:
                    owners[md].append(i + 1)
        for problem in _runs(days, owners):
            diags.append(Diagnostic(
                problem, p.span or p.key_span, where=f"parameter `{name}`",
                provision=p.provision, source=p.source, code=Code.CONFLICT,
                help="each day of the year must fall in exactly one row "
                     "(`unclaimed_from`..`unclaimed_to`, both inclusive)"))
    return diags


_DAYS_2024 = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _runs(days: list[Any], owners: dict[Any, list[int]]) -> list[str]:
    """Gaps and overlaps of a windows table, as runs of consecutive days."""
    problems: list[str] = []
    i = 0
    while i < len(days):
        rows = owners[days[i]]
        if len(rows) == 1:
            i += 1
            continue
        j = i
        while j + 1 < len(days) and owners[days[j + 1]] == rows:
            j += 1
        span = f"{days[i]}" if i == j else f"{days[i]} to {days[j]}"
        if not rows:
            problems.append(f"no row covers {span}")
        else:
            problems.append(f"{span} falls in rows {', '.join(map(str, rows))}")
        i = j + 1
    return problems
