"""What a backend needs of a loaded policy and what the facade needs of a backend
(protocols, so that backends never import the policy facade that calls them), and the
`auto` choice between the scalar and the columnar backend."""

from __future__ import annotations

import datetime as _dt
import sys
from typing import Any, Protocol, TypeGuard

from evaluator.backends.results import EvaluationResult
from evaluator.backends.scalar.codegen import Program
from evaluator.backends.scalar.coverage import Coverage
from evaluator.backends.scalar.evaluate import ScalarPolicy
from evaluator.errors import Diagnostic
from evaluator.lang.check.model import CheckedPolicy
from evaluator.lang.document.specs import ParamSpec

__all__ = ["BACKEND_NAMES", "Backend", "CompiledPolicy", "EvaluablePolicy", "SnapshotTable",
           "is_table", "uses_columnar"]

#: the backends a caller may name; `auto` lets :func:`uses_columnar` decide
BACKEND_NAMES = ("auto", "scalar", "columnar")


class CompiledPolicy(Protocol):
    """A checked policy with its scalar program: :class:`evaluator.policy.Policy`."""

    checked: CheckedPolicy

    @property
    def program(self) -> Program:
        """The policy compiled for the scalar backend."""
        ...

    def outputs(self, entity: str) -> tuple[tuple[str, str], ...]:
        """(reported name, definition) for each output of an entity, in order."""
        ...


class EvaluablePolicy(CompiledPolicy, ScalarPolicy, Protocol):
    """What a backend's evaluation reads of :class:`evaluator.policy.Policy`: the
    compiled policy, its document, its identity and its traces."""


class Backend(Protocol):
    """One way of evaluating facts with a policy, given the as-of date, the parameters
    of the run and the warnings they raised (both already checked by the facade)."""

    name: str

    def evaluate(self, policy: EvaluablePolicy, facts: Any, day: _dt.date,
                 specs: dict[str, ParamSpec], warnings: list[Diagnostic], *,
                 explain: bool, coverage: Coverage | None) -> EvaluationResult | None:
        """The determinations, or None when this backend declines the facts and the
        caller should try the scalar backend instead."""
        ...


class SnapshotTable(Protocol):
    """A snapshot table (:class:`evaluator.facts.table.Table`) as the scalar
    backend sees it: rows it can turn into facts."""

    def to_facts(self) -> Any:
        """The same rows as scalar :class:`~evaluator.facts.model.Facts`."""
        ...


def is_table(facts: object) -> TypeGuard[SnapshotTable]:
    """Whether ``facts`` is a snapshot table read for the columnar backend (without
    importing the table reader, so polars, when no table was read)."""
    table = sys.modules.get("evaluator.facts.table")  # no table without its module: a
    return table is not None and isinstance(facts, table.Table)  # profile loads no polars


def uses_columnar(backend: str, facts: object, *, explain: bool,
                  coverage: Coverage | None) -> bool:
    """The `auto` choice: the columnar backend evaluates a snapshot table unless the
    caller named the scalar backend, or wants traces (``explain``) or coverage, which
    only the scalar backend records. (When it cannot compile the policy, it declines and
    the scalar backend evaluates the table, unless the caller named `columnar`.)"""
    return (is_table(facts) and backend != "scalar" and not explain
            and coverage is None)
