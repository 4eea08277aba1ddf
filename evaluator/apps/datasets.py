"""Portfolio datasets (an accounts table plus an events table) for the applications: the
one place where a dataset is read and where the backend that evaluates it is chosen, for
``evaluate --events``, ``compare --events`` and the Dask engine's partitions.

Today a dataset is read into full profiles (:func:`evaluator.facts.dataset.load_dataset`)
and evaluated by the scalar backend, with a note saying so; when the columnar backend
reads a dataset's events table, only :func:`read_dataset` (read the columnar table too),
:func:`part_of` (a partition of it) and :func:`evaluate_dataset` / :func:`dataset_runs`
(evaluate it, falling back to the facts with a stated reason) change: every caller goes
through these.

A dataset evaluated in parts (the Dask engine's partitions) has its portfolio outputs
combined from each part's contribution: a columnar result's partial aggregates, or, from
the scalar backend, each evaluated account's values of the account definitions the
portfolio outputs read (:func:`portfolio_part`), from which :func:`combined_portfolio`
computes them as the scalar backend does over the whole dataset.
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


def part_of(data: DatasetInput, index: int, count: int) -> DatasetInput:
    """Partition ``index`` of ``count`` of a dataset: a contiguous range of its evaluable
    members (in the reader's order), with all their accounts and events, alone (without
    the reader's errors, which belong to the whole)."""
    import dataclasses

    members = data.facts.members
    lo, hi = (index * len(members)) // count, ((index + 1) * len(members)) // count
    facts = dataclasses.replace(data.facts, members=members[lo:hi], errors=(), claims=())
    return dataclasses.replace(data, facts=facts, warnings=[])


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


@dataclass
class PortfolioPart:
    """One part's contribution to the portfolio outputs, from the scalar backend: per
    evaluated account (in order), the account, and the values and errors of the account
    definitions the portfolio outputs read."""

    accounts: list[tuple[Any, dict[str, Any], dict[str, Any]]]


def portfolio_reads(policy: Policy) -> tuple[str, ...] | None:
    """The account definitions the policy's portfolio outputs read, through the portfolio
    definitions they use; None when they read a member's definitions (which a part's
    accounts do not carry)."""
    defs = policy.checked.defs
    seen: set[str] = set()
    reads: list[str] = []
    stack = [name for _, name in policy.outputs("portfolio")]
    while stack:
        name = stack.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        entity = defs[name].spec.entity
        if entity == "account":
            reads.append(name)
        elif entity == "member":
            return None
        elif entity in ("portfolio", "global"):
            stack.extend(sorted(defs[name].uses))
    return tuple(sorted(reads))


def portfolio_part(policy: Policy, facts: Facts, result: Any, as_of: _dt.date,
                   params: dict[str, str]) -> PortfolioPart | None:
    """What the accounts of ``facts`` (evaluated into ``result`` by the scalar backend)
    contribute to the portfolio outputs; None when the policy has none."""
    if not policy.outputs("portfolio"):
        return None
    from evaluator.backends.scalar.runtime import Run as ScalarRun
    from evaluator.backends.scalar.runtime import account_instances
    from evaluator.errors import EvaluationError

    reads = portfolio_reads(policy) or ()
    specs, _ = policy.run_params(params)
    run = ScalarRun(policy.program, as_of, {n: s.value for n, s in specs.items()},
                    facts.fx_rates)
    ok = {d.account_id for d in result.accounts}
    accounts: list[tuple[Any, dict[str, Any], dict[str, Any]]] = []
    for inst in account_instances(run, facts.members):
        if inst.obj.account_id not in ok:
            continue
        values: dict[str, Any] = {}
        failed: dict[str, Any] = {}
        for name in reads:
            try:
                values[name] = inst.get(name)
            except EvaluationError as exc:
                failed[name] = exc.with_traceback(None)
        accounts.append((inst.obj, values, failed))
    return PortfolioPart(accounts)


def combined_portfolio(policy: Policy, parts: list[PortfolioPart], as_of: _dt.date,
                       params: dict[str, str], fx_rates: dict[Any, Any]
                       ) -> tuple[dict[str, Any] | None, str | None]:
    """The portfolio outputs over every part's accounts (in the parts' order), as the
    scalar backend computes them over the whole dataset; or the error that stops them."""
    from evaluator.backends.scalar.runtime import Inst, Portfolio
    from evaluator.backends.scalar.runtime import Run as ScalarRun
    from evaluator.errors import EvaluationError

    specs, _ = policy.run_params(params)
    run = ScalarRun(policy.program, as_of, {n: s.value for n, s in specs.items()}, fx_rates)
    insts = []
    for part in parts:
        for account, values, failed in part.accounts:
            inst = Inst("account", account, run, None)
            inst.cache.update(values)
            if failed:
                inst.failed = dict(failed)
            insts.append(inst)
    whole = Inst("portfolio", Portfolio((), tuple(insts), ()), run, None)
    try:
        return policy.program.outputs["portfolio"](whole), None
    except EvaluationError as exc:
        where = [w for w in (f"in `{exc.definition}`" if exc.definition else "",
                             exc.provision or "") if w]
        text = f"{exc.message} ({', '.join(where)})" if where else exc.message
        return None, f"portfolio: {text}"


__all__ = ["SCALAR_REASON", "DatasetInput", "DatasetRefused", "DatasetResult",
           "PortfolioPart", "backend_note", "check_backend", "combined_portfolio",
           "dataset_runs", "evaluate_dataset", "part_of", "portfolio_part",
           "portfolio_reads", "read_dataset"]
