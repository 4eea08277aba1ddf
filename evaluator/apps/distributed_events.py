"""The Dask engine over a dataset (``evaluate --events E --engine dask``): an accounts table
and its events table evaluated partition by partition on a Dask cluster, through the
dataset seam (:mod:`evaluator.apps.datasets`), the determinations written as a partitioned
Parquet dataset, identical to the single-machine run.

Partitions are member-consistent and ordered: each task reads its partition alone
(``read_dataset(..., part=(k, n))``, :mod:`evaluator.facts.eventrange`: about ``1/n`` of
the members of the accounts table in the order of their first row, with all their
accounts rows and events rows, and nothing else), evaluated by the columnar backend
(under `auto`, a partition it cannot evaluate by the scalar backend, with the note saying
why), so a worker's memory follows its partition, and every record error, warning and row
location is the one the single-machine run gives: each partition returns the reader's
errors and warnings that are its own (the rows of no member are partition 0's) and the
client puts them in the single-machine order (:func:`evaluator.apps.datasets.combined_read`).
A partition whose decimal places (of balances, amounts, declared numbers) are fewer than
another's is evaluated again at the most (the whole read's), and when the columnar reader
refuses a partition, or ``--backend scalar`` is asked for, every task reads the whole
dataset (once per run) and keeps its members. Each task evaluates its members, writes
``part-NNNNN.parquet``
and returns its evaluation errors and its contribution to the portfolio outputs, which
the client combines: a columnar partition's partial aggregates (every partition asks the
same ones, whatever its rows), from which the client computes the outputs as the
single-machine run does (the plan compiled over partition 0's table without its rows); a
scalar partition's accounts' values, from which the scalar runtime computes them
(:func:`evaluator.apps.datasets.combined_portfolio`); both kinds in one run, a second
pass asks the columnar partitions for their accounts' values too (:func:`_shares`).
`compare --events` reads its partitions the same way, runs every policy over each by the
columnar backend too (:func:`compare_events_partition`), or by the scalar one with the
note, and is made in parts: each partition writes its accounts rows to files beside the
output and sends its share (the yearly projection's parts, the differing accounts
counted, the accounts it may trace with their members' full profiles,
:class:`PartProfiles`); the client finishes the projection, picks and traces the
accounts, and writes ``accounts.csv`` from the files part by part, reading no dataset and
never holding every account's rows. A run's passes (partitions read again at the most
decimal places, shares) share one connection, so a local cluster starts once.
Failures, retries and the folder swapped in only when complete are the snapshot engine's
(:mod:`evaluator.apps.distributed`).
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from evaluator import atomic
from evaluator.apps.datasets import (
    DatasetInput,
    PartRefused,
    PortfolioPart,
    ReadPart,
    combined_portfolio,
    combined_read,
    evaluate_dataset,
    part_of,
    portfolio_part,
    read_dataset,
)
from evaluator.apps.distributed import (
    DELAY_VARIABLE,
    DatasetSummary,
    Engine,
    Progress,
    StrictRefused,
    connect,
    file_sha256,
    part_name,
    policy_texts,
    rebuilt_policy,
    run_partitions,
    write_side,
)
from evaluator.apps.portfolio import PARQUET_ROW_GROUP, scalar_frame, write_frame
from evaluator.backends.columnar import combine_aggregates, evaluate_frame
from evaluator.facts.fx import parse_fx_csv
from evaluator.facts.model import RecordError
from evaluator.facts.table import Table

if TYPE_CHECKING:
    from evaluator.apps.compare_shares import Share
    from evaluator.policy import Policy


@dataclass
class EventsJob:
    """What every task shares: the policy (its files' texts and sha256), the dataset's
    files, the run's date and parameters, the partitions and the folder of the parts."""

    policy: list[str]
    sha256: str
    accounts: str
    events: str
    fx: str | None
    as_of: _dt.date
    params: dict[str, str]
    backend: str
    count: int
    folder: str
    #: one run's read of the dataset is kept by each worker under this key
    token: str
    delay: float = 0.0
    #: each task reads the whole dataset and keeps its partition (else its partition alone)
    whole: bool = False
    #: the decimal places a partition read alone is held at (None: its own)
    scales: dict[str, int] | None = None


@dataclass
class Slice:
    """One partition: its index (the members it holds follow from the dataset)."""

    index: int
    rows: int = 0


@dataclass
class EventsPart:
    index: int
    rows: int
    determinations: int
    errors: list[RecordError]
    file: str
    sha256: str
    #: evaluated by the scalar backend: the part's accounts' share of the portfolio outputs
    portfolio: PortfolioPart | None
    #: the reader's record errors, warnings and unknown columns that are the partition's
    #: to report (read whole: partition 0's are all of them)
    read: ReadPart | None = None
    #: evaluated by the columnar backend (else by the scalar one)
    columnar: bool = False
    #: why the scalar backend evaluated the partition under `auto` (None: it was asked)
    fallback: str | None = None
    #: evaluated by the columnar backend: the portfolio aggregates over the partition's
    #: evaluated rows (their kinds, their values), the same requests for every partition
    partials: tuple[list[str], list[Any]] | None = None
    #: partition 0, evaluated by the columnar backend: its table without its rows, over
    #: which the client compiles the portfolio outputs from the combined aggregates
    empty: Table | None = None
    #: the decimal places the partition read alone holds its numbers at
    scales: dict[str, int] = field(default_factory=dict)
    #: the columnar reader refused the partition read alone (nothing was written)
    refused: bool = False


_READ: dict[str, DatasetInput] = {}


def _dataset(job: EventsJob | CompareEventsJob, decl: Any) -> DatasetInput:
    """The dataset as this worker read it for this run (read once per run)."""
    data = _READ.get(job.token)
    if data is None:
        _READ.clear()  # a previous run's read: not needed any more
        data = read_dataset(job.accounts, job.events, job.fx, decl=decl)
        _READ[job.token] = data
    return data


def _read_part(part: Slice, job: EventsJob | CompareEventsJob, decl: Any
               ) -> tuple[DatasetInput, ReadPart | None, DatasetInput] | None:
    """The partition's members (without the reader's errors), the reader's errors and
    warnings that are the partition's to report, and the read they come from: the
    partition read alone (at the job's decimal places), or kept from the whole dataset
    read once by this worker; None when the columnar reader refuses the partition."""
    if job.whole:
        data = _dataset(job, decl)
        return part_of(data, part.index, job.count), \
            data.read_part() if part.index == 0 else None, data
    try:
        data = read_dataset(job.accounts, job.events, job.fx, decl=decl,
                            backend=job.backend, part=(part.index, job.count),
                            scales=job.scales)
    except PartRefused:
        return None
    return data.without_errors(), data.read_part(), data


def evaluate_events_partition(part: Slice, job: EventsJob) -> EventsPart:
    """One task: the partition's members evaluated through the dataset seam, their
    determinations written as the part file (replaced whole: a retried task overwrites a
    part left by a worker that died)."""
    if job.delay:
        time.sleep(job.delay)
    policy = rebuilt_policy(job.policy, job.sha256)
    got = _read_part(part, job, policy.facts_decl)
    if got is None:
        return EventsPart(part.index, 0, 0, [], "", "", None, refused=True)
    mine, read, data = got
    done = evaluate_dataset(policy, mine, job.as_of, job.params, backend=job.backend)
    source = getattr(done.result, "source", None)  # a columnar result's frame and plan
    if source is not None:
        frame = write_frame(source, Path("determinations.parquet"))
    else:
        frame = scalar_frame(policy, done.result, typed=True)
    name = part_name(part.index)
    final = Path(job.folder) / name
    tmp = final.with_name(f".{name}.{os.getpid()}.tmp")
    frame.write_parquet(tmp, row_group_size=PARQUET_ROW_GROUP)
    atomic.fsync_file(tmp)
    os.replace(tmp, final)
    rows = mine.table.frame.height if mine.table is not None else \
        sum(len(m.accounts) for m in mine.facts.members)
    done_part = EventsPart(part.index, rows, frame.height, list(done.result.errors), name,
                           file_sha256(final), None, read, source is not None, done.note,
                           scales=data.scales if not job.whole else {})
    if policy.outputs("portfolio"):
        if source is not None:  # the columnar partial aggregates
            done_part.partials = (list(source.aggregate_kinds), list(source.aggregates))
            if part.index == 0 and mine.table is not None:
                done_part.empty = without_rows(mine.table)
        else:  # the accounts' values, from the scalar runtime
            done_part.portfolio = portfolio_part(policy, mine.facts, done.result, job.as_of,
                                                 job.params)
    return done_part


def without_rows(table: Table) -> Table:
    """A table's columns without its rows (what the portfolio outputs compile over)."""
    import dataclasses

    return dataclasses.replace(
        table, frame=table.frame.clear(), errors=[], ragged=[],
        events=table.events.clear() if table.events is not None else None,
        raw=table.raw.clear() if table.raw is not None else None)


@dataclass
class PortfolioShare:
    """A partition's accounts' values for the portfolio outputs, from the scalar runtime
    (asked again of a partition evaluated by the columnar backend when another partition
    was evaluated by the scalar one)."""

    index: int
    rows: int
    portfolio: PortfolioPart | None


def portfolio_share_partition(part: Slice, job: EventsJob) -> PortfolioShare:
    """One task of the second pass: the partition evaluated again (its determinations not
    written) and its accounts' share of the portfolio outputs from the scalar runtime."""
    policy = rebuilt_policy(job.policy, job.sha256)
    read = _read_part(part, job, policy.facts_decl)
    assert read is not None  # the first pass read every partition so
    mine = read[0]
    done = evaluate_dataset(policy, mine, job.as_of, job.params, backend=job.backend)
    return PortfolioShare(part.index, 0, portfolio_part(policy, mine.facts, done.result,
                                                        job.as_of, job.params))


@dataclass
class EventsSummary(DatasetSummary):
    """A dataset's Dask run: the snapshot engine's summary, and the reader's warnings."""

    warnings: list[str] = field(default_factory=list)
    note: str | None = None


def evaluate_events(policy: Policy, accounts: str | os.PathLike[str],
                    events: str | os.PathLike[str], fx: str | os.PathLike[str] | None,
                    as_of: _dt.date, params: dict[str, str], out: str | os.PathLike[str],
                    engine: Engine, *, partitions: int | None = None,
                    progress: Progress | None = None, backend: str = "auto",
                    side: Path | None = None, side_doc: Any = None,
                    strict: bool = False) -> EventsSummary:
    """Evaluate a dataset on Dask into the Parquet dataset folder ``out``; with ``side``,
    ``side_doc(summary)`` gives the JSON document written beside it (the portfolio
    outputs), replaced together with the folder. ``strict``: raises
    :class:`~evaluator.apps.distributed.StrictRefused`, with nothing written, when the
    dataset has keys or columns the policy does not declare."""
    from evaluator.apps.datasets import backend_note, check_backend, portfolio_reads
    from evaluator.apps.distributed import EngineError

    check_backend(backend)
    if policy.outputs("portfolio") and portfolio_reads(policy) is None:
        # the columnar backend cannot compile such outputs (they iterate over members),
        # and the scalar partitions' accounts do not carry their members' definitions
        raise EngineError(_MEMBERS_READ)
    started = time.perf_counter()
    target = Path(os.path.abspath(out))
    count = partitions or 2
    names = [part_name(k) for k in range(count)]
    summary = EventsSummary(partitions=count, note=backend_note(backend))
    delay = float(os.environ.get(DELAY_VARIABLE, "0") or 0)
    token = f"{os.getpid()}-{time.time_ns()}"
    absolute = [os.path.abspath(p) if p is not None else None for p in (accounts, events, fx)]
    with atomic.Outputs() as outs, connect(engine):  # one cluster for every pass
        side_tmp = outs.add(side) if side is not None else None
        with atomic.atomic_folder(target, names) as folder:
            job = EventsJob(policy_texts(policy), policy.sha256, str(absolute[0]),
                            str(absolute[1]), absolute[2], as_of, params, backend, count,
                            str(folder), token, delay, whole=backend == "scalar")
            results = read_passes(job, evaluate_events_partition, engine, progress,
                                  summary)
            refuse_unknown(results, strict)
            # a partition the columnar backend cannot evaluate is evaluated by the scalar
            # one (the same determinations; the portfolio shares are the scalar runtime's
            # in every partition), with the note saying why
            summary.note = next((r.fallback for r in results if r.fallback), None)
            for stray in folder.iterdir():  # a part a killed worker left half-written
                if stray.name not in names:
                    stray.unlink()
            if policy.outputs("portfolio"):
                results = _shares(results, job, engine, summary)
            rates = parse_fx_csv(fx) if fx is not None else {}
            _combine(policy, results, as_of, params, rates, summary)
            write_side(outs, side, side_tmp, side_doc, summary)
        outs.commit()
    summary.seconds = time.perf_counter() - started
    return summary


_MEMBERS_READ = ("the policy's portfolio outputs read members' definitions, which "
                 "partitions cannot combine: use --engine local")


def refuse_unknown(results: list[EventsPart] | list[EventsRuns], strict: bool) -> None:
    """Under ``--strict``: stop the run (before anything is committed) when the
    partitions found keys or columns the policy does not declare."""
    if strict:
        _, _, unknown = combined_read([r.read for r in results if r.read])
        if unknown:
            raise StrictRefused(unknown)


def _shares(results: list[EventsPart], job: EventsJob, engine: Engine,
            summary: EventsSummary) -> list[EventsPart]:
    """The partitions' contributions made one kind. Every partition evaluated by the
    columnar backend: their partial aggregates (the same requests in every partition,
    whatever its rows) are combined. Every one by the scalar backend: their accounts'
    values, from which the scalar runtime computes the outputs. Mixed (under `auto`, a
    partition the columnar backend could not evaluate): a second pass asks the columnar
    partitions for their accounts' values too (the scalar parts' values cannot be turned
    into the compiled aggregates), so the outputs are the scalar runtime's over every
    account, as one machine's are."""
    scalar = [r for r in results if r.partials is None]
    if not scalar:
        return results
    columnar = [r for r in results if r.partials is not None]
    if columnar:
        quiet = Progress(total=len(columnar))
        quiet.enabled = False
        shares: list[PortfolioShare] = run_partitions(
            [Slice(r.index) for r in columnar], portfolio_share_partition, job, engine,
            quiet, summary)
        by_index = {s.index: s.portfolio for s in shares}
        for r in columnar:
            r.portfolio, r.partials = by_index[r.index], None
    return results


def read_passes(job: EventsJob | CompareEventsJob, task: Any, engine: Engine,
                progress: Progress | None, summary: DatasetSummary) -> list[Any]:
    """Every partition done by ``task`` (giving an :class:`EventsPart` or
    :class:`EventsRuns`): each read alone, and those with fewer decimal places than the
    most done again at the most (which ``job.scales`` then holds, for any later pass);
    every one again from the whole dataset when the columnar reader refuses one."""
    slices = [Slice(k) for k in range(job.count)]
    results: list[Any] = run_partitions(slices, task, job, engine, progress, summary)
    if any(r.refused for r in results):
        job.whole = True
        return list(run_partitions(slices, task, job, engine, progress, summary))
    if not job.whole:
        most = DatasetInput.most_scales([r.scales for r in results])
        job.scales = most
        again = [Slice(r.index) for r in results if r.scales != most]
        if again:
            redone = {r.index: r for r in run_partitions(again, task, job, engine,
                                                         progress, summary)}
            results = [redone.get(r.index, r) for r in results]
    return results


def _combine(policy: Policy, results: list[EventsPart], as_of: _dt.date,
             params: dict[str, str], rates: dict[Any, Any], summary: EventsSummary) -> None:
    """The parts put together in partition order: the reader's errors first, then each
    part's evaluation errors (the single-machine order), and the portfolio outputs (from
    the combined partial aggregates, or by the scalar runtime from the accounts' values)."""
    first = next(r for r in results if r.index == 0)
    read_errors, warnings, unknown = combined_read([r.read for r in results if r.read])
    summary.errors = list(read_errors)
    summary.warnings = [*warnings, *unknown]
    parts: list[PortfolioPart] = []
    kinds: list[str] = []
    aggregates: list[Any] | None = None
    for r in results:
        summary.accounts += r.rows
        summary.determinations += r.determinations
        summary.errors.extend(r.errors)
        summary.files.append({"file": r.file, "sha256": r.sha256, "rows": r.determinations})
        if r.portfolio is not None:
            parts.append(r.portfolio)
        if r.partials is not None:
            kinds = r.partials[0]
            aggregates = r.partials[1] if aggregates is None else combine_aggregates(
                kinds, aggregates, r.partials[1])
    summary.accounts += len(read_errors)
    if not policy.outputs("portfolio"):
        return
    if aggregates is not None:
        assert first.empty is not None
        specs, _ = policy.run_params(params)
        finish = evaluate_frame(policy, first.empty, as_of, specs).finish
        assert finish is not None
        summary.portfolio = finish(aggregates)
        return
    portfolio, error = combined_portfolio(policy, parts, as_of, params, rates)
    summary.portfolio = portfolio
    if error is not None:
        summary.errors.append(RecordError(error))


# -- compare --------------------------------------------------------------------------------

@dataclass
class CompareEventsJob:
    """What every task of `compare --events --engine dask` shares (the partitions are
    read as :func:`evaluate_events` reads them: alone, or whole when refused)."""

    policies: list[tuple[list[str], str]]
    accounts: str
    events: str
    fx: str | None
    as_of: _dt.date
    params: dict[str, str]
    count: int
    token: str
    delay: float = 0.0
    backend: str = "auto"
    whole: bool = False
    scales: dict[str, int] | None = None
    #: the comparison's --trace-limit (each partition sends the profiles of its members
    #: the comparison may trace)
    trace_limit: int = 200
    #: the projection's last year and the assumptions it is made with
    horizon: int = 0
    assumptions: dict[str, str] = field(default_factory=dict)
    #: where each partition writes its accounts rows (one Arrow IPC file per policy)
    folder: str = ""


@dataclass
class EventsRuns:
    """One partition compared by every policy: its share of the comparison
    (:class:`~evaluator.apps.compare_shares.Share`), the reader's report that is the
    partition's, and the decimal places it was read at."""

    index: int
    rows: int
    #: why the scalar backend compared the partition (None: the columnar backend did)
    note: str | None = None
    read: ReadPart | None = None
    scales: dict[str, int] = field(default_factory=dict)
    refused: bool = False
    share: Share | None = None


def _compared_policies(job: CompareEventsJob) -> tuple[list[Policy], Any]:
    """The policies compared (rebuilt once per worker) and what they declare together."""
    from evaluator.declared import union

    policies = [rebuilt_policy(texts, sha) for texts, sha in job.policies]
    return policies, union([p.facts_decl for p in policies])


def compare_events_partition(part: Slice, job: CompareEventsJob) -> EventsRuns:
    """One task of `compare --events --engine dask`: the partition read (alone, as
    :func:`evaluate_events_partition` reads it) and every policy over it, by the columnar
    backend as one machine's compare runs them (:func:`dataset_runs`), or by the scalar
    backend with the note saying why; then its share of the comparison
    (:func:`~evaluator.apps.compare_shares.share_of`)."""
    from evaluator.apps.compare_shares import share_of
    from evaluator.apps.datasets import dataset_runs

    if job.delay:
        time.sleep(job.delay)
    policies, decl = _compared_policies(job)
    got = _read_part(part, job, decl)
    if got is None:
        return EventsRuns(part.index, 0, refused=True)
    mine, read, data = got
    done, _, note = dataset_runs(policies, mine, job.as_of, job.params)
    share = share_of(part.index, done, note is None, job.folder, job.trace_limit, job.as_of,
                     job.horizon, job.assumptions, mine.member_facts)
    return EventsRuns(part.index, share.rows, note, read,
                      data.scales if not job.whole else {}, share=share)


@dataclass
class ComparedDataset:
    """What `compare` reports of the dataset it compared on Dask: the reader's record
    errors and warnings (the single-machine read's, put together from the partitions'),
    its name and the sha256 of its accounts table."""

    errors: list[RecordError]
    warnings: list[str]
    unknown: list[str]
    source: str
    sha256: str | None

    def unknown_warnings(self) -> list[str]:
        return list(self.unknown)


def compare_events(policies: list[Policy], accounts: str | os.PathLike[str],
                   events: str | os.PathLike[str], fx: str | os.PathLike[str] | None,
                   as_of: _dt.date, horizon: int, params: dict[str, str],
                   assumptions: dict[str, str], trace_limit: int, engine: Engine, *,
                   out: str | os.PathLike[str], partitions: int | None = None,
                   progress: Progress | None = None, strict: bool = False
                   ) -> tuple[Any, ComparedDataset, str | None]:
    """`compare --events` made in parts on Dask: each partition read alone by its task,
    compared there (its accounts rows written to files in a folder beside ``out``), and
    the comparison put together on the client from the partitions' shares: the yearly
    projection from their parts, the accounts traced picked from their candidates (and
    traced from the profiles they sent), the counts summed, ``accounts.csv`` written from
    their files when the comparison is written (:class:`AccountsParts`; the comparison's
    ``close()`` removes them). The client reads only the FX table and the accounts
    table's bytes for its sha256, and never holds every account's rows. Returns the
    comparison, what it reports of the dataset and the note saying why (a partition of)
    the dataset was compared by the scalar backend."""
    from evaluator.apps.compare import default_assumptions
    from evaluator.apps.compare_shares import comparison_of, staging_folder
    from evaluator.declared import union

    if horizon < as_of.year:
        raise ValueError(f"the horizon {horizon} is before the as-of year {as_of.year}")
    count = partitions or 2
    values = assumptions or default_assumptions()
    absolute = [os.path.abspath(p) if p is not None else None for p in (accounts, events, fx)]
    with staging_folder(out) as staging:
        job = CompareEventsJob([(policy_texts(p), p.sha256) for p in policies],
                               str(absolute[0]), str(absolute[1]), absolute[2], as_of,
                               params, count, f"{os.getpid()}-{time.time_ns()}",
                               float(os.environ.get(DELAY_VARIABLE, "0") or 0),
                               trace_limit=trace_limit, horizon=horizon,
                               assumptions=values, folder=str(staging))
        summary = DatasetSummary(partitions=count)
        with connect(engine):  # one cluster for every pass
            results: list[EventsRuns] = read_passes(job, compare_events_partition, engine,
                                                    progress, summary)
        refuse_unknown(results, strict)
        read_errors, warnings, unknown = combined_read([r.read for r in results if r.read])
        source = os.fspath(accounts)
        path = Path(source)
        dataset = ComparedDataset(read_errors, warnings, unknown, source,
                                  file_sha256(path) if path.is_file() else None)
        table = Table(pl.DataFrame(), parse_fx_csv(fx) if fx is not None else {},
                      list(read_errors), source=source, sha256=dataset.sha256,
                      decl=union([p.facts_decl for p in policies]))
        shares = [r.share for r in results if r.share is not None]
        comparison = comparison_of(policies, shares, staging, table, as_of, horizon, params,
                                   values, trace_limit)
    note = next((r.note for r in results if r.note is not None), None)
    return comparison, dataset, note


__all__ = ["CompareEventsJob", "ComparedDataset", "EventsJob", "EventsPart", "EventsRuns",
           "EventsSummary", "PortfolioShare", "Slice", "compare_events",
           "compare_events_partition", "evaluate_events", "evaluate_events_partition",
           "portfolio_share_partition", "read_passes", "without_rows"]
