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
the client combines (:func:`evaluator.apps.datasets.combined_portfolio`). Failures,
retries and the folder swapped in only when complete are the snapshot engine's
(:mod:`evaluator.apps.distributed`).
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    file_sha256,
    part_name,
    policy_texts,
    rebuilt_policy,
    run_partitions,
    write_side,
)
from evaluator.apps.portfolio import PARQUET_ROW_GROUP, scalar_frame, write_frame
from evaluator.facts.fx import parse_fx_csv
from evaluator.facts.model import RecordError

if TYPE_CHECKING:
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
    portfolio: PortfolioPart | None
    #: the reader's record errors, warnings and unknown columns that are the partition's
    #: to report (read whole: partition 0's are all of them)
    read: ReadPart | None = None
    #: evaluated by the columnar backend (else by the scalar one)
    columnar: bool = False
    #: why the scalar backend evaluated the partition under `auto` (None: it was asked)
    fallback: str | None = None
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


def evaluate_events_partition(part: Slice, job: EventsJob) -> EventsPart:
    """One task: the partition's members evaluated through the dataset seam, their
    determinations written as the part file (replaced whole: a retried task overwrites a
    part left by a worker that died)."""
    if job.delay:
        time.sleep(job.delay)
    policy = rebuilt_policy(job.policy, job.sha256)
    if job.whole:
        data = _dataset(job, policy.facts_decl)
        mine = part_of(data, part.index, job.count)
        read = data.read_part() if part.index == 0 else None
    else:
        try:
            data = read_dataset(job.accounts, job.events, job.fx, decl=policy.facts_decl,
                                backend=job.backend, part=(part.index, job.count),
                                scales=job.scales)
        except PartRefused:
            return EventsPart(part.index, 0, 0, [], "", "", None, refused=True)
        mine, read = data.without_errors(), data.read_part()
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
    # the portfolio outputs' share from the scalar runtime, over the part's full profiles
    # (the columnar partial aggregates of a list over events depend on the part's longest
    # list, so parts' aggregates do not always line up)
    portfolio = portfolio_part(policy, mine.facts, done.result, job.as_of, job.params) \
        if policy.outputs("portfolio") else None
    rows = mine.table.frame.height if mine.table is not None else \
        sum(len(m.accounts) for m in mine.facts.members)
    return EventsPart(part.index, rows, frame.height, list(done.result.errors), name,
                      file_sha256(final), portfolio, read, source is not None, done.note,
                      data.scales if not job.whole else {})


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
                    side: Path | None = None, side_doc: Any = None) -> EventsSummary:
    """Evaluate a dataset on Dask into the Parquet dataset folder ``out``; with ``side``,
    ``side_doc(summary)`` gives the JSON document written beside it (the portfolio
    outputs), replaced together with the folder."""
    from evaluator.apps.datasets import backend_note, check_backend, portfolio_reads
    from evaluator.apps.distributed import EngineError

    check_backend(backend)
    if policy.outputs("portfolio") and portfolio_reads(policy) is None:
        raise EngineError("the policy's portfolio outputs read members' definitions, which "
                          "partitions cannot combine yet: use --engine local")
    started = time.perf_counter()
    target = Path(os.path.abspath(out))
    count = partitions or 2
    names = [part_name(k) for k in range(count)]
    summary = EventsSummary(partitions=count, note=backend_note(backend))
    delay = float(os.environ.get(DELAY_VARIABLE, "0") or 0)
    token = f"{os.getpid()}-{time.time_ns()}"
    absolute = [os.path.abspath(p) if p is not None else None for p in (accounts, events, fx)]
    with atomic.Outputs() as outs:
        side_tmp = outs.add(side) if side is not None else None
        with atomic.atomic_folder(target, names) as folder:
            job = EventsJob(policy_texts(policy), policy.sha256, str(absolute[0]),
                            str(absolute[1]), absolute[2], as_of, params, backend, count,
                            str(folder), token, delay, whole=backend == "scalar")
            results = _evaluate_parts(job, engine, progress, summary)
            # a partition the columnar backend cannot evaluate is evaluated by the scalar
            # one (the same determinations; the portfolio shares are the scalar runtime's
            # in every partition), with the note saying why
            summary.note = next((r.fallback for r in results if r.fallback), None)
            for stray in folder.iterdir():  # a part a killed worker left half-written
                if stray.name not in names:
                    stray.unlink()
            rates = parse_fx_csv(fx) if fx is not None else {}
            _combine(policy, results, as_of, params, rates, summary)
            write_side(outs, side, side_tmp, side_doc, summary)
        outs.commit()
    summary.seconds = time.perf_counter() - started
    return summary


def _evaluate_parts(job: EventsJob, engine: Engine, progress: Progress | None,
                    summary: EventsSummary) -> list[EventsPart]:
    """Every partition evaluated: read alone, those with fewer decimal places than the
    most again at the most; read whole when the columnar reader refuses one."""
    slices = [Slice(k) for k in range(job.count)]
    results: list[EventsPart] = run_partitions(slices, evaluate_events_partition, job,
                                               engine, progress, summary)
    if any(r.refused for r in results):
        job.whole = True
        return list(run_partitions(slices, evaluate_events_partition, job, engine, progress,
                                   summary))
    if not job.whole:
        most = DatasetInput.most_scales([r.scales for r in results])
        again = [Slice(r.index) for r in results if r.scales != most]
        if again:
            job.scales = most
            redone = {r.index: r for r in run_partitions(
                again, evaluate_events_partition, job, engine, progress, summary)}
            results = [redone.get(r.index, r) for r in results]
    return results


def _combine(policy: Policy, results: list[EventsPart], as_of: _dt.date,
             params: dict[str, str], rates: dict[Any, Any], summary: EventsSummary) -> None:
    """The parts put together in partition order: the reader's errors first, then each
    part's evaluation errors (the single-machine order), and the portfolio outputs."""
    read_errors, warnings, unknown = combined_read([r.read for r in results if r.read])
    summary.errors = list(read_errors)
    summary.warnings = [*warnings, *unknown]
    parts: list[PortfolioPart] = []
    for r in results:
        summary.accounts += r.rows
        summary.determinations += r.determinations
        summary.errors.extend(r.errors)
        summary.files.append({"file": r.file, "sha256": r.sha256, "rows": r.determinations})
        if r.portfolio is not None:
            parts.append(r.portfolio)
    summary.accounts += len(read_errors)
    if policy.outputs("portfolio"):
        portfolio, error = combined_portfolio(policy, parts, as_of, params, rates)
        summary.portfolio = portfolio
        if error is not None:
            summary.errors.append(RecordError(error))


# -- compare --------------------------------------------------------------------------------

@dataclass
class CompareEventsJob:
    """What every task of `compare --events --engine dask` shares."""

    policies: list[tuple[list[str], str]]
    accounts: str
    events: str
    fx: str | None
    as_of: _dt.date
    params: dict[str, str]
    count: int
    token: str
    delay: float = 0.0


@dataclass
class EventsRuns:
    """One partition evaluated by every policy: per policy, the run's frame, text, amounts
    in cents, notice columns and output shapes."""

    index: int
    rows: int
    runs: list[tuple[Any, Any, Any, list[Any], list[Any]]]


def compare_events_partition(part: Slice, job: CompareEventsJob) -> EventsRuns:
    """One task of `compare --events --engine dask`: every policy over the partition."""
    from evaluator.apps.compare_scalar import scalar_run
    from evaluator.declared import union

    if job.delay:
        time.sleep(job.delay)
    policies = [rebuilt_policy(texts, sha) for texts, sha in job.policies]
    facts = part_of(_dataset(job, union([p.facts_decl for p in policies])), part.index,
                    job.count).facts
    runs = []
    for policy in policies:
        run = scalar_run(policy, facts, job.as_of, job.params)
        runs.append((run.result.frame, run.text, run.cents, run.notice_due,
                     run.result.outputs))
    return EventsRuns(part.index, sum(len(m.accounts) for m in facts.members), runs)


def compare_events(policies: list[Policy], accounts: str | os.PathLike[str],
                   events: str | os.PathLike[str], fx: str | os.PathLike[str] | None,
                   as_of: _dt.date, horizon: int, params: dict[str, str],
                   assumptions: dict[str, str], trace_limit: int, engine: Engine, *,
                   partitions: int | None = None, progress: Progress | None = None
                   ) -> tuple[Any, DatasetInput]:
    """`compare --events` with every policy evaluated partition by partition on Dask and
    the runs, put back together in the dataset's order, compared on the client (which
    reads the dataset too: its reader's errors and warnings, the members traced)."""
    import polars as pl

    from evaluator.apps.compare import Run, compare_runs
    from evaluator.backends.columnar import ColumnarResult, Table
    from evaluator.declared import union

    if horizon < as_of.year:
        raise ValueError(f"the horizon {horizon} is before the as-of year {as_of.year}")
    data = read_dataset(accounts, events, fx, decl=union([p.facts_decl for p in policies]))
    count = partitions or 2
    absolute = [os.path.abspath(p) if p is not None else None for p in (accounts, events, fx)]
    job = CompareEventsJob([(policy_texts(p), p.sha256) for p in policies], str(absolute[0]),
                           str(absolute[1]), absolute[2], as_of, params, count,
                           f"{os.getpid()}-{time.time_ns()}",
                           float(os.environ.get(DELAY_VARIABLE, "0") or 0))
    summary = DatasetSummary(partitions=count)
    results: list[EventsRuns] = run_partitions([Slice(k) for k in range(count)],
                                               compare_events_partition, job, engine,
                                               progress, summary)
    # what the comparison traces the differing members from: the columnar table (whose
    # full profiles are built for those members only) or the full profiles read
    traced: Any = data.table if data.table is not None else data.facts
    table = Table(pl.DataFrame(), traced.fx_rates, list(data.errors), source=data.source,
                  sha256=data.sha256, decl=traced.decl)
    runs = []
    for i, policy in enumerate(policies):
        pieces = [r.runs[i] for r in results]
        widest = max(pieces, key=lambda p: len(p[3]))  # the most notices unrolled
        frame = pl.concat([p[0] for p in pieces], how="diagonal_relaxed")
        frame = frame.with_columns(pl.col(c).fill_null(False) for c in frame.columns
                                   if c.endswith("]?"))
        text = pl.concat([p[1] for p in pieces], how="vertical_relaxed")
        cents = pl.concat([p[2] for p in pieces])
        runs.append(Run(policy, ColumnarResult(frame, widest[4], table), text, cents,
                        widest[3]))
    return compare_runs(runs, traced, as_of, horizon, params, assumptions, trace_limit), data


__all__ = ["CompareEventsJob", "EventsJob", "EventsPart", "EventsRuns", "EventsSummary", "Slice",
           "compare_events", "compare_events_partition", "evaluate_events",
           "evaluate_events_partition"]
