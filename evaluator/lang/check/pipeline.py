"""Checking a parsed policy document: every pass, in order, into one list of diagnostics."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from evaluator.errors import (
    Diagnostic,
    PolicyError,
    PolicyLoadError,
    PolicyTypeError,
    sort_diagnostics,
)
from evaluator.lang.check import cost
from evaluator.lang.check.infer import TypeChecker
from evaluator.lang.check.lints import (
    check_citations,
    check_outputs,
    check_shadowing,
    check_usage,
)
from evaluator.lang.check.model import CheckedPolicy
from evaluator.lang.check.params import check_derived, check_invariants, check_window_tables
from evaluator.lang.document.loader import PolicyDocument, load_document

__all__ = ["Analysis", "analyse", "check_document"]


def check_document(doc: PolicyDocument) -> CheckedPolicy:
    """Check ``doc``: its :class:`CheckedPolicy` with the warnings, or
    :class:`PolicyTypeError` with every diagnostic, in file order, when there are errors."""
    # an unknown `entity:` is reported by the schema; such definitions are skipped
    typer = TypeChecker(doc)
    for name in doc.definitions:
        typer.check_def(name)
    diags = typer.diags
    derived = check_derived(typer)
    invariants = check_invariants(typer)
    diags.extend(check_window_tables(doc))
    typer.resolve_deferred_help()
    diags.extend(check_shadowing(doc))
    diags.extend(check_citations(doc))
    diags.extend(check_outputs(doc, typer.def_types))
    order, unused = check_usage(doc, typer.checked, typer.failed)
    diags.extend(unused)
    checked = CheckedPolicy(doc, typer.checked, typer.types, typer.res, [], order, derived,
                            invariants)
    # looked up when called (tests turn the cost check off through the module)
    diags.extend(cost.cost_diagnostics(checked))
    diags = _in_their_files(doc, diags)
    if any(d.is_error for d in diags):
        raise PolicyTypeError(sorted(diags, key=Diagnostic.position_key))
    checked.warnings = [d for d in diags if not d.is_error]
    return checked


def _in_their_files(doc: PolicyDocument, diags: list[Diagnostic]) -> list[Diagnostic]:
    """Each diagnostic with the text of the file its span is in: a definition restated by
    a child keeps its formula in the file that wrote it, so its spans can be in either."""
    out = []
    for d in diags:
        if d.span is not None and d.source is not None and d.span.file != d.source.path:
            d = replace(d, source=doc.sources.get(d.span.file, d.source))
        out.append(d)
    return out


@dataclass
class Analysis:
    """What reading and checking a policy found: the checked policy (None when it could
    not be checked), every diagnostic (errors and warnings, each once, in file order,
    except as noted at :func:`analyse`), and the error to raise when there are errors."""

    checked: CheckedPolicy | None
    diagnostics: list[Diagnostic]
    failed: type[PolicyError] | None


def analyse(ref: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None
            ) -> Analysis:
    """Read and check a policy (file, directory or ``ID[@VERSION]``) without raising for
    its diagnostics. When the policy cannot be found, or its document cannot be built,
    the diagnostics are the reader's errors as found (or all it reported)."""
    try:
        doc, diags = load_document(ref, root=root)
    except PolicyError as exc:  # no such file or directory
        return Analysis(None, exc.diagnostics, type(exc))
    errors = [d for d in diags if d.is_error]
    if doc is None:
        return Analysis(None, errors or diags or [Diagnostic(f"cannot load `{ref}`")],
                        PolicyLoadError)
    try:
        checked = check_document(doc)
    except PolicyError as exc:
        return Analysis(None, sort_diagnostics([*diags, *exc.diagnostics]), type(exc))
    if errors:
        return Analysis(checked, sort_diagnostics([*diags, *checked.warnings]), PolicyLoadError)
    checked.warnings = sort_diagnostics([*[d for d in diags if not d.is_error], *checked.warnings])
    return Analysis(checked, checked.warnings, None)
