"""Portfolio datasets (an accounts table plus an events table) for the applications: the
one place where a dataset is read and where the backend that evaluates it is chosen, for
``evaluate --events``, ``compare --events`` and the Dask engine's partitions.

Today a dataset is read into full profiles (:func:`evaluator.facts.dataset.load_dataset`)
and evaluated by the scalar backend, with a note saying so; when the columnar backend
reads a dataset's events table, only :func:`read_dataset` (read the columnar table too)
and :func:`evaluate_dataset` / :func:`dataset_runs` (evaluate it, falling back to the
facts with a stated reason) change: every caller goes through these three.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evaluator.facts.dataset import load_dataset
from evaluator.facts.model import Facts

if TYPE_CHECKING:
    from evaluator.apps.compare import Run
    from evaluator.declared import FactsDecl
    from evaluator.policy import Policy

#: why a dataset is evaluated by the scalar backend (the note `auto` prints)
SCALAR_REASON = "the columnar backend does not read an events table yet"


class DatasetRefused(ValueError):
    """A backend asked for explicitly that cannot evaluate a dataset: one line, exit 2."""


@dataclass
class DatasetInput:
    """A dataset read once: its full profiles (every backend's reference), the warnings
    about event rows of no member or account of the accounts table, where it came from."""

    facts: Facts
    warnings: list[str]
    accounts: str
    events: str
    #: the columnar table with its events frame, when the columnar reader is available
    table: Any = None


@dataclass
class DatasetResult:
    """A dataset evaluated: the result, the dataset's warnings, the backend that ran and
    (for ``auto``) the note saying which and why."""

    result: Any
    warnings: list[str]
    backend: str
    note: str | None = None


def read_dataset(accounts: str | os.PathLike[str], events: str | os.PathLike[str],
                 fx: str | os.PathLike[str] | None = None, *,
                 decl: FactsDecl | None = None) -> DatasetInput:
    """Read an accounts table and an events table (and an FX table) once, by the declared
    facts ``decl``. Raises :class:`~evaluator.facts.FactsError` for unusable input."""
    data = load_dataset(accounts, events, fx, decl=decl)
    return DatasetInput(data.facts, list(data.warnings), os.fspath(accounts),
                        os.fspath(events))


def backend_note(backend: str) -> str | None:
    """The note ``auto`` prints about the backend that evaluates a dataset."""
    return f"evaluated by the scalar backend: {SCALAR_REASON}" if backend == "auto" else None


def check_backend(backend: str) -> None:
    """Refuse a backend that cannot evaluate a dataset (``columnar``, today)."""
    if backend == "columnar":
        raise DatasetRefused(f"--backend columnar cannot evaluate a dataset with an events "
                             f"table yet ({SCALAR_REASON}): use --backend auto or scalar")


def evaluate_dataset(policy: Policy, data: DatasetInput, as_of: str | _dt.date,
                     params: dict[str, str] | None = None, *, backend: str = "auto",
                     explain: bool = False) -> DatasetResult:
    """Every account of the dataset evaluated by ``policy`` on ``as_of``: the result (as
    :meth:`Policy.evaluate` returns it), the dataset's warnings and which backend ran."""
    check_backend(backend)
    result = policy.evaluate(data.facts, as_of=as_of, params=params or {}, explain=explain,
                             backend="scalar")
    return DatasetResult(result, list(data.warnings), "scalar", backend_note(backend))


def dataset_runs(policies: list[Policy], data: DatasetInput | Facts, as_of: _dt.date,
                 params: dict[str, str]) -> tuple[list[Run], Any]:
    """Every policy of a comparison over one dataset read once (or over full profiles):
    their runs, and what the comparison traces members from (the facts)."""
    from evaluator.apps.compare_scalar import scalar_run

    facts = data.facts if isinstance(data, DatasetInput) else data
    return [scalar_run(p, facts, as_of, params) for p in policies], facts


__all__ = ["SCALAR_REASON", "DatasetInput", "DatasetRefused", "DatasetResult",
           "backend_note", "check_backend", "dataset_runs", "evaluate_dataset",
           "read_dataset"]
