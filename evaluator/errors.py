"""Errors and diagnostics.

Every problem found in a policy is a :class:`Diagnostic` with a file position, the
definition and provision it concerns, and a hint. A policy that cannot be used raises a
:class:`PolicyError` carrying *all* of its diagnostics at once.

Every exception the package raises on purpose is an :class:`UnclaimedError`: a
:class:`PolicyProblem` (the policy, or an expression in it, cannot be used) or a
:class:`DataProblem` (the facts or other input cannot be used, or a record cannot be
evaluated).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from evaluator.span import Source, Span, render_snippet
from evaluator.text import one_line as one_line  # re-exported: callers import it from here


class Code(StrEnum):
    """What kind of problem a :class:`Diagnostic` reports: the closed set of codes, each
    with its section in docs/diagnostics.md. ``--format json`` writes the value."""

    # reading policy files
    IO = "io"
    YAML = "yaml"
    SCHEMA = "schema"
    EXTENDS = "extends"
    SYNTAX = "syntax"
    PARAMETER = "parameter"
    FACTS = "facts"
    # checking formulas and the policy as a whole
    NAME = "name"
    TYPE = "type"
    CYCLE = "cycle"
    PROVISION = "provision"
    CONFLICT = "conflict"
    UNREACHABLE = "unreachable"
    UNUSED = "unused"
    COST = "cost"
    # using a policy
    API = "api"
    # no more specific code
    POLICY = "policy"


@dataclass(frozen=True)
class Diagnostic:
    message: str
    span: Span | None = None
    severity: str = "error"  # error | warning
    #: definition or parameter the problem is in ("definition `unclaimed_on`")
    where: str | None = None
    provision: str | None = None
    help: str | None = None
    #: the file's text, to render the source line and caret
    source: Source | None = None
    #: a :class:`Code`; its text (``"type"``) is accepted and stored as the member
    code: Code = Code.POLICY

    def __post_init__(self) -> None:
        if not isinstance(self.code, Code):
            try:
                code = Code(self.code)
            except ValueError:
                known = ", ".join(c.value for c in Code)
                raise ValueError(f"unknown diagnostic code {self.code!r} "
                                 f"(known: {known})") from None
            object.__setattr__(self, "code", code)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def key(self) -> tuple[object, ...]:
        """What :meth:`render` depends on (the source only for whether there is one): two
        diagnostics with the same key render the same, and it costs nothing to build."""
        return (self.span, self.severity, self.message, self.where, self.provision,
                self.help, self.source is None)

    def position_key(self) -> tuple[str, int, int]:
        """Where the diagnostic is, for sorting: file, line, column (first when it has no
        position)."""
        if self.span is None:
            return ("", 0, 0)
        return (self.span.file, self.span.line, self.span.col)

    def render(self) -> str:
        loc = f"{self.span}: " if self.span is not None else ""
        lines = [f"{loc}{self.severity}: {self.message}"]
        if self.where:
            prov = f" ({self.provision})" if self.provision else ""
            lines.append(f"  in {self.where}{prov}")
        if self.span is not None and self.source is not None:
            lines.append(render_snippet(self.source, self.span))
        if self.help:
            lines.append(f"  help: {self.help}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"severity": self.severity, "code": self.code.value,
                                  "message": self.message}
        if self.span is not None:
            out.update(file=self.span.file, line=self.span.line, col=self.span.col,
                       end_line=self.span.end_line, end_col=self.span.end_col)
        for key in ("where", "provision", "help"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def sort_diagnostics(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics once each (the first of those that render the same), in file order
    (:meth:`Diagnostic.position_key`; the order found where positions tie)."""
    seen: set[tuple[object, ...]] = set()
    out: list[Diagnostic] = []
    for d in diags:
        key = d.key()
        if key not in seen:
            seen.add(key)
            out.append(d)
    return sorted(out, key=Diagnostic.position_key)


class UnclaimedError(Exception):
    """Any problem the package reports on purpose (never a bug)."""


class PolicyProblem(UnclaimedError):
    """The policy, or an expression in it, cannot be used."""


class DataProblem(UnclaimedError):
    """The facts or other input cannot be used, or one record cannot be evaluated."""


class PolicyError(PolicyProblem):
    """A policy cannot be used. ``diagnostics`` holds every problem found.

    Nothing is rendered until asked for: :meth:`render` gives every diagnostic, ``str()``
    the first :data:`SHOWN` and how many more there are."""

    #: diagnostics that ``str()`` of the error shows
    SHOWN = 100

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic | str) -> None:
        if isinstance(diagnostics, str):
            diagnostics = Diagnostic(diagnostics)
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = diagnostics
        super().__init__(diagnostics)

    def __str__(self) -> str:
        text = self.render(limit=self.SHOWN)
        more = len(self.diagnostics) - self.SHOWN
        return f"{text}\n\n... and {more} more" if more > 0 else text

    def render(self, limit: int | None = None) -> str:
        """The diagnostics (the first ``limit`` of them) as text, one paragraph each."""
        return "\n\n".join(d.render() for d in self.diagnostics[:limit])


class PolicyLoadError(PolicyError):
    """The policy file cannot be read, is not valid YAML, or breaks the policy schema."""


class PolicySyntaxError(PolicyError):
    """A formula does not parse."""


class PolicyTypeError(PolicyError):
    """Names, types, cycles or citations are wrong."""


class EvaluationError(DataProblem):
    """One record cannot be evaluated (for example a missing exchange rate)."""

    def __init__(self, message: str, definition: str | None = None,
                 provision: str | None = None) -> None:
        self.message = message
        self.definition = definition
        self.provision = provision
        super().__init__(message)


class ExpressionSyntaxError(PolicyProblem):
    """A parse failure inside one expression, at offsets of the expression text."""

    def __init__(self, message: str, start: int, end: int, help: str | None = None) -> None:
        self.message = message
        self.start = start
        self.end = end
        self.help = help
        super().__init__(message)


class Unsupported(DataProblem):
    """The columnar backend cannot compile this policy (or these facts)."""
