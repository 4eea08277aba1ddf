"""Portfolio datasets (an accounts table plus an events table) for the applications: the
one place where a dataset is read and where the backend that evaluates it is chosen, for
``evaluate --events``, ``compare --events`` and the Dask engine's partitions.

A dataset is read natively into a columnar table with its events frame
(:func:`evaluator.facts.eventtable.read_dataset_table`) and evaluated by the columnar
backend. ``auto`` falls back to the scalar backend, with a note stating the reason, when
the columnar reader refuses the dataset (amounts beyond exact 64-bit integers: the dataset
is then read into full profiles by :func:`evaluator.facts.dataset.load_dataset`) or the
compiler refuses the policy (the table's full profiles are then
:func:`~evaluator.facts.eventtable.dataset_facts`); ``--backend columnar`` refuses, in one
line, with the same reason; ``--backend scalar`` reads full profiles. Every caller goes
through :func:`read_dataset`, :func:`part_of`, :func:`evaluate_dataset` and
:func:`dataset_runs`. A partition can also be read alone (``read_dataset(..., part=)``,
:mod:`evaluator.facts.eventrange`): :func:`combined_read` puts the partitions' record
errors and warnings in the whole read's order.

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

from evaluator.errors import PolicyError, Unsupported
from evaluator.facts.dataset import load_dataset
from evaluator.facts.fields import FactsError
from evaluator.facts.model import Facts

if TYPE_CHECKING:
    from evaluator.apps.compare import Run
    from evaluator.backends.columnar import Table
    from evaluator.declared import FactsDecl
    from evaluator.policy import Policy

#: why a dataset is evaluated by the scalar backend when asked for (``--backend scalar``)
SCALAR_REASON = "--backend scalar"


class DatasetRefused(FactsError):
    """A backend asked for explicitly that cannot evaluate a dataset: one line, exit 2."""


class PartRefused(Exception):
    """The columnar reader cannot read a partition alone (under ``auto``): the dataset is
    to be read whole, by the scalar reader."""


class DatasetInput:
    """A dataset read once: its columnar table (None when the columnar reader refused it,
    or the scalar backend was asked for) and why not, the warnings about event rows of no
    member or account of the accounts table, where it came from; its full profiles
    (:attr:`facts`) are built when first needed."""

    def __init__(self, facts: Facts | None, warnings: list[str], accounts: str, events: str,
                 table: Table | None = None, reason: str | None = None,
                 account_errors: int | None = None) -> None:
        self._facts = facts
        self.warnings = warnings
        self.accounts = accounts
        self.events = events
        self.table = table
        self.reason = reason
        #: a partition read alone: how many of its errors are its accounts rows' (the
        #: first ones; the rest are its events rows'); None: the whole dataset
        self.account_errors = account_errors

    @property
    def facts(self) -> Facts:
        """The dataset's full profiles (the scalar backend's input, every member)."""
        if self._facts is None:
            from evaluator.facts.eventtable import dataset_facts

            assert self.table is not None
            self._facts = dataset_facts(self.table)
        return self._facts

    def member_ids(self) -> list[str] | None:
        """The evaluable members of a dataset read into a columnar table whose full
        profiles are not built, in the reader's order (None otherwise)."""
        if self._facts is not None or self.table is None:
            return None
        ids: list[str] = self.table.frame.select("__member_order", "member_id").unique(
            "__member_order").sort("__member_order").get_column("member_id").to_list()
        return ids

    def member_facts(self, member_ids: list[str]) -> Facts:
        """The full profiles of the members ``member_ids`` alone (for --explain, and for
        compare's traces), without the reader's errors."""
        import dataclasses

        if self._facts is None and self.table is not None:
            from evaluator.facts.eventtable import dataset_facts

            facts = dataset_facts(self.table, member_ids)
        else:
            wanted = set(member_ids)
            facts = dataclasses.replace(self.facts, members=tuple(
                m for m in self.facts.members if m.member_id in wanted))
        return dataclasses.replace(facts, errors=(), claims=())

    def unknown_warnings(self) -> list[str]:
        """The columns of the accounts table that the declaration does not know."""
        source = self.table if self.table is not None else self.facts
        warned: list[str] = source.unknown_warnings()
        return warned

    def read_part(self) -> ReadPart:
        """What the reader reported (record errors, warnings, unknown columns), small
        enough to send from a worker (see :func:`combined_read`)."""
        source = self.table if self.table is not None else self.facts
        return ReadPart(list(self.errors), len(self.errors) if self.account_errors is None
                        else self.account_errors, list(self.warnings), tuple(source.unknown),
                        self.source)

    def without_errors(self) -> DatasetInput:
        """A partition read alone, without the reader's errors (reported on their own),
        as :func:`part_of` gives a partition of the whole."""
        import dataclasses

        if self.table is None:
            return self
        return DatasetInput(None, [], self.accounts, self.events, table=dataclasses.replace(
            self.table, errors=[], ragged=[]))

    @property
    def scales(self) -> dict[str, int]:
        """The decimal places of a columnar table's scaled integers (none: full profiles)."""
        from evaluator.facts.eventrange import table_scales

        return table_scales(self.table) if self.table is not None else {}

    @staticmethod
    def most_scales(parts: list[dict[str, int]]) -> dict[str, int]:
        """The whole dataset's decimal places: each one's most over the partitions'."""
        most: dict[str, int] = {}
        for scales in parts:
            for name, places in scales.items():
                most[name] = max(most.get(name, 0), places)
        return most

    @property
    def source(self) -> str:
        """The dataset's name (its accounts table)."""
        return str((self.table if self.table is not None else self.facts).source)

    @property
    def sha256(self) -> str | None:
        """The sha256 of the accounts table."""
        digest: str | None = (self.table if self.table is not None else self.facts).sha256
        return digest

    @property
    def errors(self) -> tuple[Any, ...]:
        """The reader's record errors."""
        source = self.table if self.table is not None else self.facts
        return tuple(source.errors)


@dataclass
class ReadPart:
    """A dataset's reader's report for one partition read alone (or for the whole): its
    record errors (the first ``account_errors`` the accounts rows', then the events
    rows'), warnings, and unknown columns and keys with the rows filling each."""

    errors: list[Any]
    account_errors: int
    warnings: list[str]
    unknown: tuple[tuple[str, str, int], ...]
    source: str


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
                 decl: FactsDecl | None = None, backend: str = "auto",
                 part: tuple[int, int] | None = None,
                 scales: dict[str, int] | None = None) -> DatasetInput:
    """Read an accounts table and an events table (and an FX table) once, by the declared
    facts ``decl``: into a columnar table unless ``backend`` is ``scalar`` (or, under
    ``auto``, the columnar reader refuses it, with the reason kept). Raises
    :class:`~evaluator.facts.FactsError` for unusable input, and :class:`DatasetRefused`
    when ``backend`` is ``columnar`` and the columnar reader refuses the dataset.

    ``part`` = (index, count): only that partition's members, read alone into a columnar
    table (:mod:`evaluator.facts.eventrange`: its accounts rows and events rows, with the
    record errors and warnings that are its to report); not with ``backend`` ``scalar``.
    When the columnar reader refuses the partition, raises :class:`PartRefused` under
    ``auto`` (the caller reads the whole dataset instead). A partition holds its scaled
    integers at the places its own rows need (:attr:`DatasetInput.scales`); the whole's
    are every partition's most, which ``scales`` gives it (the same determinations, to
    the text, as the whole read)."""
    where = (os.fspath(accounts), os.fspath(events))
    if part is not None:
        from evaluator.facts.eventrange import read_dataset_part, rescaled

        if backend == "scalar":
            raise ValueError("a partition is read alone into a columnar table only")
        try:
            got = read_dataset_part(accounts, events, fx, decl=decl, part=part)
            if scales:
                got.table = rescaled(got.table, scales)
        except Unsupported as exc:
            if backend == "columnar":
                raise DatasetRefused(refusal(f"the columnar reader cannot read it ({exc})")
                                     ) from None
            raise PartRefused(str(exc)) from None
        return DatasetInput(None, got.warnings, *where, table=got.table,
                            account_errors=got.account_errors)
    reason = SCALAR_REASON
    if backend != "scalar":
        from evaluator.facts.eventtable import read_dataset_table

        try:
            table, warnings = read_dataset_table(accounts, events, fx, decl=decl)
        except Unsupported as exc:
            if backend == "columnar":
                raise DatasetRefused(refusal(f"the columnar reader cannot read it ({exc})")
                                     ) from None
            reason = f"the columnar reader cannot read the dataset ({exc})"
        else:
            return DatasetInput(None, list(warnings), *where, table=table)
    data = load_dataset(accounts, events, fx, decl=decl)
    return DatasetInput(data.facts, list(data.warnings), *where, reason=reason)


def combined_read(parts: list[ReadPart]) -> tuple[list[Any], list[str], list[str]]:
    """The record errors, warnings and unknown-column warnings of a dataset read as the
    partitions ``parts`` (each read alone, in partition order), in the whole read's order:
    the accounts rows' errors by row, then the events rows' (each partition's members',
    then those of rows of no member); a partition's warnings are its own (partition 0
    holds the rows of no member or account); unknown columns and keys counted over all.
    A whole read's report, alone, is given back as it is."""
    import heapq

    def row(error: Any) -> int:
        loc = error.location or ""
        return int(loc[4:]) if loc.startswith("row ") and loc[4:].isdigit() else 0

    errors: list[Any] = list(heapq.merge(*[p.errors[:p.account_errors] for p in parts],
                                         key=row))
    rest = [e for p in parts for e in p.errors[p.account_errors:]]
    errors += [e for e in rest if e.member_id is not None]
    errors += [e for e in rest if e.member_id is None]
    warnings = [w for p in parts for w in p.warnings]
    counts: dict[tuple[str, str], int] = {}
    for p in parts:
        for what, name, count in p.unknown:
            counts[what, name] = counts.get((what, name), 0) + count
    unknown = Facts(members=(), source=parts[0].source if parts else "",
                    unknown=tuple((w, n, counts[w, n]) for w, n in sorted(
                        counts, key=lambda k: k[0] != "column"))).unknown_warnings()
    return errors, warnings, unknown


def refusal(why: str) -> str:
    """The one line ``--backend columnar`` is refused with."""
    return f"--backend columnar cannot evaluate this dataset: {why}; use --backend auto " \
           f"or scalar"


def part_of(data: DatasetInput, index: int, count: int) -> DatasetInput:
    """Partition ``index`` of ``count`` of a dataset: a contiguous range of its evaluable
    members (in the reader's order), with all their accounts and events, alone (without
    the reader's errors, which belong to the whole): of a columnar table, the table of
    those members (whose full profiles are built, when needed, for them only)."""
    import dataclasses

    if data.member_ids() is not None and data.table is not None:
        import polars as pl

        table = data.table
        order = table.frame.get_column("__member_order").unique().sort()
        lo, hi = (index * len(order)) // count, ((index + 1) * len(order)) // count
        keep = order.slice(lo, hi - lo).implode()
        frame = table.frame.filter(pl.col("__member_order").is_in(keep))
        ids = frame.get_column("member_id").unique().implode()
        events = table.events.filter(pl.col("__member_order").is_in(keep)) \
            if table.events is not None else None
        raw = table.raw.filter(pl.col("member_id").str.strip_chars().is_in(ids)) \
            if table.raw is not None else None
        part = dataclasses.replace(table, frame=frame, events=events, raw=raw, errors=[],
                                   ragged=[])
        return DatasetInput(None, [], data.accounts, data.events, table=part)
    members = data.facts.members
    lo, hi = (index * len(members)) // count, ((index + 1) * len(members)) // count
    facts = dataclasses.replace(data.facts, members=members[lo:hi], errors=(), claims=())
    return DatasetInput(facts, [], data.accounts, data.events, reason=data.reason)


def backend_note(backend: str, reason: str | None = None) -> str | None:
    """The note ``auto`` prints when the scalar backend evaluates a dataset, and why."""
    if backend != "auto" or reason is None:
        return None
    return f"evaluated by the scalar backend: {reason}"


def check_backend(backend: str) -> None:
    """Refuse a backend that cannot evaluate a dataset (none, now that the columnar
    backend reads an events table: kept for the callers that check before reading)."""
    del backend


def evaluate_dataset(policy: Policy, data: DatasetInput, as_of: str | _dt.date,
                     params: dict[str, str] | None = None, *, backend: str = "auto",
                     explain: bool = False) -> DatasetResult:
    """Every account of the dataset evaluated by ``policy`` on ``as_of``: the result (as
    :meth:`Policy.evaluate` returns it), the dataset's warnings and which backend ran.
    Traces (``explain``) are the scalar backend's."""
    params = params or {}
    reason = data.reason
    if data.table is not None and backend != "scalar" and not explain:
        try:
            result = policy.evaluate(data.table, as_of=as_of, params=params,
                                     backend="columnar")
            return DatasetResult(result, list(data.warnings), "columnar")
        except PolicyError as exc:
            cause = exc.__cause__
            if not isinstance(cause, Unsupported):
                raise
            if backend == "columnar":
                raise DatasetRefused(refusal(f"the columnar backend cannot compile the "
                                             f"policy over it ({cause})")) from None
            reason = f"the columnar backend cannot compile the policy over it ({cause})"
    result = policy.evaluate(data.facts, as_of=as_of, params=params, explain=explain,
                             backend="scalar")
    return DatasetResult(result, list(data.warnings), "scalar", backend_note(backend, reason))


def dataset_runs(policies: list[Policy], data: DatasetInput | Facts, as_of: _dt.date,
                 params: dict[str, str]) -> tuple[list[Run], Any, str | None]:
    """Every policy of a comparison over one dataset read once (or over full profiles):
    their runs, what the comparison traces members from (the facts, or the columnar
    table), and the note saying why the scalar backend ran (None: columnar)."""
    from evaluator.apps.compare import run_policy
    from evaluator.apps.compare_scalar import scalar_run

    if isinstance(data, DatasetInput) and data.table is not None:
        try:
            return [run_policy(p, data.table, as_of, params) for p in policies], \
                data.table, None
        except Unsupported as exc:
            reason: str | None = f"the columnar backend cannot compile a policy over it " \
                                 f"({exc})"
    else:
        reason = data.reason if isinstance(data, DatasetInput) else None
    facts = data.facts if isinstance(data, DatasetInput) else data
    note = f"compared with the scalar backend: {reason}" if reason else None
    return [scalar_run(p, facts, as_of, params) for p in policies], facts, note


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
           "PartRefused", "PortfolioPart", "ReadPart", "backend_note", "check_backend", "combined_portfolio",
           "combined_read",
           "dataset_runs", "evaluate_dataset", "part_of", "portfolio_part",
           "portfolio_reads", "read_dataset", "refusal"]
