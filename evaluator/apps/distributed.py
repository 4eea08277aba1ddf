"""The Dask engine (``--engine dask``): a snapshot table evaluated partition by partition
on a Dask cluster, its determinations written as a partitioned Parquet dataset.

The client reads the table's member ids once and cuts the rows into partitions that are
*member-consistent* (a member's rows are never split) and ordered: members are ranked by
their first row, and partition ``k`` holds a contiguous range of those ranks. Each task
receives the texts of the policy's files as the client loaded them, rebuilds and checks
the policy once per worker (refused unless its sha256 is the client's), reads its rows, runs the compiled polars plan, writes its
determinations as ``part-NNNNN.parquet`` (already in the scalar backend's order) into a
temporary folder beside the target, and returns its record errors and partial portfolio
aggregates, which the client combines as the chunked path does. Read back in file-name
order (``polars.read_parquet(folder)``), the parts are the single-machine file's rows in
the same order. The folder is swapped in only when every partition is written; a failed
run (a worker lost more often than Dask's ``allowed-failures``, the scheduler gone)
removes it and leaves the previous output as it was.

Dask is imported only here, and only when this engine is used.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from evaluator import atomic
from evaluator.apps.portfolio import (
    PARQUET_ROW_GROUP,
    error_order,
    open_source,
    record_errors,
    write_frame,
)
from evaluator.apps.portfolio import (
    Progress as ChunkProgress,
)
from evaluator.backends.columnar import combine_aggregates, evaluate_frame, table_from_frame
from evaluator.facts import FactsError, parse_fx_csv
from evaluator.facts.model import RecordError

if TYPE_CHECKING:
    from evaluator.lang.document.loader import ParamSpec
    from evaluator.policy import Policy

#: rows per partition unless --partitions says how many (a partition is one task)
DEFAULT_PARTITION_ROWS = 250_000
#: seconds to wait for a scheduler given with --scheduler
CONNECT_TIMEOUT = 10.0
#: test-only: seconds each task sleeps before it starts (to kill a worker mid-run)
DELAY_VARIABLE = "UNCLAIMED_TEST_PARTITION_DELAY"


class EngineError(Exception):
    """The Dask engine could not run or finish: one line, exit 2."""


class StrictRefused(Exception):
    """Under ``--strict``, the dataset has keys or columns the policy does not declare
    (found as the partitions read it): the run stops before anything is written."""

    def __init__(self, unknown: list[str]) -> None:
        super().__init__("; ".join(unknown))
        #: the unknown-key and unknown-column warnings, in the single-machine order
        self.unknown = unknown


@dataclass(frozen=True)
class Engine:
    """Where the tasks run: a running scheduler, or a local cluster of this many worker
    processes started for the run (one thread each)."""

    scheduler: str | None = None
    local_workers: int | None = None
    threads_per_worker: int = 1
    timeout: float = CONNECT_TIMEOUT

    def describe(self) -> str:
        if self.scheduler:
            return f"the Dask scheduler at {self.scheduler}"
        n = self.local_workers or 1
        return f"a local Dask cluster of {n} worker{'s' if n != 1 else ''}"


#: the variable sizing polars' thread pool in a process (read when polars is imported)
POLARS_THREADS = "POLARS_MAX_THREADS"


def worker_env(engine: Engine) -> dict[str, str]:
    """The environment of a local cluster's worker processes: polars' thread pool sized
    to the worker's threads (one per worker by default), as Dask sizes the worker, so N
    workers on N cores each keep one core instead of each spreading over all of them
    (``POLARS_MAX_THREADS`` set in this process's environment is passed on as it is)."""
    return {POLARS_THREADS: os.environ.get(POLARS_THREADS) or str(engine.threads_per_worker)}


#: the client of the run under way in this context (a run's passes share one cluster)
_OPEN: contextvars.ContextVar[tuple[Engine, Any] | None] = contextvars.ContextVar(
    "unclaimed_dask_client", default=None)


@contextlib.contextmanager
def connect(engine: Engine) -> Iterator[Any]:
    """A ``distributed.Client`` for the run; a local cluster is started and stopped.
    Inside another ``connect`` of the same engine (a run of several passes: partitions
    read again at the most decimal places, portfolio shares), that one's client is given,
    so a local cluster is started once per run and its workers keep what they read (the
    partition plan)."""
    open_now = _OPEN.get()
    if open_now is not None and open_now[0] == engine:
        yield open_now[1]
        return
    with _connect(engine) as client:
        token = _OPEN.set((engine, client))
        try:
            yield client
        finally:
            _OPEN.reset(token)


@contextlib.contextmanager
def _connect(engine: Engine) -> Iterator[Any]:
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise EngineError(f"--engine dask needs dask[distributed] ({exc})") from None
    Client: Any = distributed.Client  # untyped: its calls are typed as Any here
    LocalCluster: Any = distributed.LocalCluster
    if engine.scheduler:
        try:
            client = Client(engine.scheduler, timeout=engine.timeout,
                            set_as_default=False)
        except Exception as exc:  # OSError, TimeoutError, ValueError: all one line
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise EngineError(f"cannot reach the Dask scheduler at {engine.scheduler} "
                              f"within {engine.timeout:g} s: {reason}") from None
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.close()
        return
    n = engine.local_workers or 1
    try:
        cluster = LocalCluster(n_workers=n, threads_per_worker=engine.threads_per_worker,
                               processes=True, dashboard_address=":0",
                               silence_logs=logging.CRITICAL, env=worker_env(engine))
    except Exception as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise EngineError(f"cannot start a local Dask cluster of {n} workers: "
                          f"{reason}") from None
    try:
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.close()
    finally:
        with contextlib.suppress(Exception):
            cluster.close()


# -- the partitions ---------------------------------------------------------------------------

@dataclass
class Partition:
    """What one task reads: rows ``rows`` (file order) of the table's scan, the line of
    each in the file and whether its cells could not be matched to the columns."""

    index: int
    lazy: pl.LazyFrame
    rows: np.ndarray[Any, Any]
    lines: np.ndarray[Any, Any]
    ragged: np.ndarray[Any, Any]

    def read(self) -> pl.DataFrame:
        if not self.rows.size:
            return self.lazy.slice(0, 0).collect()
        first, last = int(self.rows[0]), int(self.rows[-1])
        if last - first + 1 == self.rows.size:  # contiguous: read only these rows
            return self.lazy.slice(first, self.rows.size).collect()
        wanted = pl.Series("__wanted", self.rows, pl.UInt32)
        return (self.lazy.with_row_index("__row")
                .filter(pl.col("__row").is_in(wanted)).drop("__row").collect())


@dataclass
class Job:
    """What every task shares: the policy (its files' texts and its sha256), the inputs,
    and the folder the parts are written to."""

    policy: list[str]
    sha256: str
    source: str
    rates: dict[tuple[str, _dt.date], Decimal]
    as_of: _dt.date
    params: dict[str, ParamSpec]
    first_seen: dict[str, int]
    folder: str
    delay: float = 0.0


@dataclass
class PartResult:
    index: int
    rows: int
    determinations: int
    errors: list[RecordError]
    aggregates: list[Any]
    kinds: list[str]
    file: str
    sha256: str


def part_name(k: int) -> str:
    return f"part-{k:05d}.parquet"


def plan(lazy: pl.LazyFrame, lines: np.ndarray[Any, Any], ragged: np.ndarray[Any, Any],
         count: int, source: str) -> tuple[list[Partition], dict[str, int]]:
    """Cut the table into ``count`` member-consistent partitions, in the order of the
    members' first rows (rows without a member id are one member, as in the chunked
    path); and the line where each account id that occurs more than once first occurs."""
    try:
        ids = lazy.select(pl.col("member_id").str.strip_chars().fill_null(""),
                          pl.col("account_id").str.strip_chars()).collect()
    except pl.exceptions.PolarsError as exc:
        raise FactsError(f"{source}: cannot read the table: "
                         f"{str(exc).splitlines()[0]}") from None
    ids = ids.with_row_index("__row")
    good = ids.filter(pl.Series(~ragged)) if ragged.any() else ids
    dups = good.filter(pl.col("account_id").is_not_null() & (pl.col("account_id") != "")
                       & pl.col("account_id").is_duplicated())
    first_seen = {r[0]: int(lines[r[1]]) for r in dups.group_by("account_id").agg(
        pl.col("__row").min()).iter_rows()}
    # each member's rank by its first row; rows of a partition are in file order
    rank = ids.get_column("member_id").rank("min").cast(pl.Int64)  # same id, same rank
    first_row = ids.with_columns(rank.alias("__id")).group_by("__id").agg(
        pl.col("__row").min().alias("__first"))
    order = first_row.sort("__first").with_row_index("__rank")
    members = max(1, order.height)
    count = max(1, min(count, members))
    ranked = ids.with_columns(rank.alias("__id")).join(
        order.select("__id", "__rank"), on="__id", how="left").sort("__row")
    part = (ranked.get_column("__rank").cast(pl.Int64).to_numpy() * count) // members
    parts: list[Partition] = []
    by_part = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[by_part], np.arange(count + 1))
    for k in range(count):
        rows = by_part[bounds[k]:bounds[k + 1]]
        parts.append(Partition(k, lazy, rows, lines[rows], ragged[rows]))
    return parts, first_seen


# -- on the worker ---------------------------------------------------------------------------

_POLICIES: dict[str, Any] = {}


def _policy(texts: list[str], sha256: str) -> Policy:
    """The policy the client loaded, rebuilt on the worker from its files' texts (once
    per worker) and refused unless its sha256 is the one the client loaded."""
    cached = _POLICIES.get(sha256)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    import shutil
    import tempfile

    from evaluator.policy import load_policy

    folder = Path(tempfile.mkdtemp(prefix="unclaimed-policy-"))
    try:
        root = folder / "policies"
        root.mkdir()
        last = root
        for i, text in enumerate(texts):
            last = root / f"{i:02d}.yaml"
            last.write_text(text, encoding="utf-8")
        policy = load_policy(last, root=root)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if policy.sha256 != sha256:
        raise EngineError("the policy rebuilt on a worker is not the one the client "
                          "loaded (its sha256 differs)")
    _POLICIES[sha256] = policy
    return policy


def policy_texts(policy: Policy) -> list[str]:
    """The policy's own files, in the order a decision record keeps them."""
    return [Path(shown).read_text(encoding="utf-8") for shown in policy.document.files]


def evaluate_partition(part: Partition, job: Job) -> PartResult:
    """One task: read the partition, evaluate it, write its part file (replaced whole, so
    a retried task overwrites a part left by a worker that died), and return its errors
    and partial portfolio aggregates."""
    if job.delay:
        time.sleep(job.delay)
    policy = _policy(job.policy, job.sha256)
    table = _table(part, job.rates, job.source, job.first_seen)
    result = evaluate_frame(policy, table, job.as_of, job.params)
    errors = [*table.errors, *record_errors(result.frame)]
    ok = result.frame.filter(pl.col("__error").is_null())
    frame = write_frame(result, Path("determinations.parquet")).with_columns(
        ok.get_column("__member_line").alias("__k1"), ok.get_column("__line").alias("__k2"))
    frame = frame.sort(["__k1", "__k2"]).drop(["__k1", "__k2"])
    name = part_name(part.index)
    final = Path(job.folder) / name
    tmp = final.with_name(f".{name}.{os.getpid()}.tmp")
    frame.write_parquet(tmp, row_group_size=PARQUET_ROW_GROUP)
    atomic.fsync_file(tmp)
    os.replace(tmp, final)
    return PartResult(part.index, part.rows.size, frame.height, errors, result.aggregates,
                      result.aggregate_kinds, name, _sha256(final))


def _table(part: Partition, rates: dict[tuple[str, _dt.date], Decimal], source: str,
           first_seen: dict[str, int]) -> Any:
    """The partition's rows as a validated table (rows whose cells could not be matched
    to the columns left out: the client reports them)."""
    raw = part.read()
    keep = ~part.ragged
    lines = part.lines
    if not keep.all():
        raw = raw.filter(pl.Series(keep))
        lines = lines[keep]
    return table_from_frame(raw, rates, source, lines=pl.Series("__line", lines, pl.UInt32),
                            first_seen=first_seen)


@dataclass
class CompareJob:
    """What every task of `compare --engine dask` shares: each policy (its files' texts
    and sha256), the run's inputs."""

    policies: list[tuple[list[str], str]]
    source: str
    rates: dict[tuple[str, _dt.date], Decimal]
    as_of: _dt.date
    params: dict[str, str]
    first_seen: dict[str, int]
    delay: float = 0.0
    #: the comparison's --trace-limit, the projection's last year, its assumptions, and
    #: where each partition writes its accounts rows
    trace_limit: int = 200
    horizon: int = 0
    assumptions: dict[str, str] = field(default_factory=dict)
    folder: str = ""


@dataclass
class PartRuns:
    """One partition compared by every policy: its record errors and its share of the
    comparison (:class:`~evaluator.apps.compare_shares.Share`)."""

    index: int
    rows: int
    errors: list[RecordError]
    share: Any


def compare_partition(part: Partition, job: CompareJob) -> PartRuns:
    """One task of `compare --engine dask`: every policy over the partition, and its
    share of the comparison (:func:`~evaluator.apps.compare_shares.share_of`: its accounts
    rows written to files, the rest sent back), the profiles of the members it may trace
    built from its raw rows as one machine builds them from the table's."""
    from evaluator.apps.compare import profiles_of, run_policy
    from evaluator.apps.compare_shares import share_of

    if job.delay:
        time.sleep(job.delay)
    table = _table(part, job.rates, job.source, job.first_seen)
    runs = [run_policy(_policy(texts, sha256), table, job.as_of, job.params)
            for texts, sha256 in job.policies]
    share = share_of(part.index, runs, True, job.folder, job.trace_limit, job.as_of,
                     job.horizon, job.assumptions,
                     lambda members: profiles_of(table, members))
    return PartRuns(part.index, part.rows.size, list(table.errors), share)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- on the client ------------------------------------------------------------------------------

class Progress(ChunkProgress):
    """``partitions done/total`` on stderr, when it is a terminal or --progress asks."""

    label = "partitions done"


@dataclass
class DatasetSummary:
    accounts: int = 0
    determinations: int = 0
    errors: list[RecordError] = field(default_factory=list)
    partitions: int = 0
    workers: int = 0
    seconds: float = 0.0
    portfolio: dict[str, Any] | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    #: why the table was evaluated on the client with the scalar backend instead, if it was
    fell_back: str | None = None


def dataset_target(out: str | os.PathLike[str]) -> Path:
    """The folder ``--out`` names for a dataset: ``DIR/`` or ``NAME.parquet``."""
    text = os.fspath(out)
    path = Path(text)
    if text.endswith(("/", os.sep)) or path.suffix.lower() == ".parquet" or path.is_dir():
        return path
    raise EngineError(f"--engine dask writes a partitioned Parquet dataset: --out names a "
                      f"folder (DIR/ or NAME.parquet), not {text}")


def evaluate_dataset(policy: Policy, facts: str | os.PathLike[str],
                     fx: str | os.PathLike[str] | None, as_of: _dt.date,
                     params: dict[str, ParamSpec], out: str | os.PathLike[str],
                     engine: Engine, *, partitions: int | None = None,
                     progress: Progress | None = None, fallback: bool = True,
                     side: Path | None = None, side_doc: Any = None) -> DatasetSummary:
    """Evaluate a snapshot table on Dask into the dataset folder ``out``; with ``side``,
    ``side_doc(summary)`` gives the JSON document written beside it (the portfolio
    outputs), replaced together with the folder (see :class:`evaluator.atomic.Outputs`)."""
    started = time.perf_counter()
    src = Path(facts)  # named as given; read by the workers through its absolute path
    target = Path(os.path.abspath(out))  # checked by dataset_target; workers have their own cwd
    source, rates, parts, first_seen = _partitions(src, fx, partitions)
    texts = policy_texts(policy)
    names = [part_name(p.index) for p in parts]
    summary = DatasetSummary(accounts=source.rows, partitions=len(parts))
    summary.errors.extend(r.error() for r in source.ragged_rows)
    delay = float(os.environ.get(DELAY_VARIABLE, "0") or 0)
    with atomic.Outputs() as outs:
        side_tmp = outs.add(side) if side is not None else None
        with atomic.atomic_folder(target, names) as folder:
            job = Job(texts, policy.sha256, str(src), rates, as_of,
                      params, first_seen, str(folder), delay)
            try:
                results = _run(parts, evaluate_partition, job, engine, progress, summary)
            except _Unsupported:
                if not fallback:
                    raise
                results = None
            for stray in folder.iterdir():  # a part a killed worker left half-written
                if stray.name not in names:
                    stray.unlink()
            if results is None:
                summary.fell_back = "the columnar backend cannot evaluate this table"
                _scalar_part(policy, facts, fx, as_of, params, folder, summary)
            else:
                _combine(policy, source, rates, as_of, params, results, summary)
            write_side(outs, side, side_tmp, side_doc, summary)
        outs.commit()
    summary.seconds = time.perf_counter() - started
    return summary


def _partitions(src: Path, fx: str | os.PathLike[str] | None, partitions: int | None
                ) -> tuple[Any, dict[tuple[str, _dt.date], Decimal], list[Partition],
                           dict[str, int]]:
    source = open_source(Path(os.path.abspath(src)))
    rates = parse_fx_csv(fx) if fx is not None else {}
    count = partitions or max(2, -(-source.rows // DEFAULT_PARTITION_ROWS))
    parts, first_seen = plan(source.lazy, source.lines, source.ragged, count, str(src))
    return source, rates, parts, first_seen


def compare_dataset(policies: list[Policy], facts: str | os.PathLike[str],
                    fx: str | os.PathLike[str] | None, as_of: _dt.date, horizon: int,
                    params: dict[str, str], assumptions: dict[str, str], trace_limit: int,
                    engine: Engine, *, out: str | os.PathLike[str],
                    partitions: int | None = None,
                    progress: Progress | None = None) -> tuple[Any, Any]:
    """`compare` made in parts on Dask: each partition compared by its task, its accounts
    rows written to files in a folder beside ``out`` and its share sent back; the
    comparison put together on the client (:func:`~evaluator.apps.compare_shares.
    comparison_of`; its ``close()`` removes the folder). Returns the comparison and a
    table carrying the record errors, the FX rates, the name and the sha256."""
    from evaluator.apps.compare import default_assumptions
    from evaluator.apps.compare_shares import comparison_of, staging_folder
    from evaluator.apps.records import file_sha256
    from evaluator.backends.columnar import Table

    if not policies:
        raise ValueError("compare needs at least one policy")
    if horizon < as_of.year:
        raise ValueError(f"the horizon {horizon} is before the as-of year {as_of.year}")
    src = Path(facts)
    source, rates, parts, first_seen = _partitions(src, fx, partitions)
    values = assumptions or default_assumptions()
    with staging_folder(out) as staging:
        job = CompareJob([(policy_texts(p), p.sha256) for p in policies], str(src), rates,
                         as_of, params, first_seen,
                         float(os.environ.get(DELAY_VARIABLE, "0") or 0), trace_limit,
                         horizon, values, str(staging))
        summary = DatasetSummary(accounts=source.rows, partitions=len(parts))
        try:
            results: list[PartRuns] = _run(parts, compare_partition, job, engine, progress,
                                           summary)
        except _Unsupported:
            raise EngineError("the columnar backend cannot evaluate this table, and "
                              "`compare` runs on it") from None
        errors = [r.error() for r in source.ragged_rows]
        for res in results:
            errors.extend(res.errors)
        errors.sort(key=error_order)
        table = Table(pl.DataFrame(), rates, errors, source=str(src),
                      sha256=file_sha256(src))
        comparison = comparison_of(policies, [r.share for r in results], staging, table,
                                   as_of, horizon, params, values, trace_limit)
    return comparison, table


class _Unsupported(Exception):
    pass


def _run(parts: list[Any], task: Any, job: Any, engine: Engine,
         progress: Progress | None, summary: DatasetSummary) -> list[Any]:
    import distributed

    as_completed: Any = distributed.as_completed

    from evaluator.errors import Unsupported

    with connect(engine) as client:
        summary.workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        shared = client.scatter(job, broadcast=True, hash=False)
        futures = [client.submit(task, p, shared, pure=False,
                                 key=f"unclaimed-partition-{p.index:05d}-{os.getpid()}-"
                                 f"{time.monotonic_ns()}")
                   for p in parts]
        shown = progress or Progress(total=len(parts))
        shown.total = len(parts)
        shown.start = time.perf_counter()
        results: list[Any] = []
        done_rows = 0
        try:
            for future in as_completed(futures, loop=client.loop):
                try:
                    res = future.result()
                except Unsupported:
                    raise _Unsupported() from None
                except (FactsError, EngineError):
                    raise
                except Exception as exc:
                    raise EngineError(_failure(exc, future.key)) from None
                results.append(res)
                done_rows += res.rows
                shown.update(len(results), done_rows)
        except Exception:
            _drain(futures, wait=True)
            raise
        except BaseException:  # interrupted: the tasks are cancelled, not waited for
            _drain(futures)
            raise
        finally:
            shown.close()
    return sorted(results, key=lambda r: r.index)


def _drain(futures: list[Any], wait: bool = False, timeout: float = 300.0) -> None:
    """After a failed partition: wait (up to ``timeout``) for the partitions still
    running (a cancelled task goes on running on its worker, and would write its part
    into the folder the run is about to drop or fill otherwise), then cancel the rest."""
    deadline = time.monotonic() + timeout
    for f in futures if wait else []:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        with contextlib.suppress(Exception):
            f.exception(timeout=left)  # returns when the task ended, however it ended
    for f in futures:
        with contextlib.suppress(Exception):
            f.cancel()


def _failure(exc: BaseException, key: Any) -> str:
    kind = type(exc).__name__
    text = (str(exc).splitlines() or [kind])[0]
    if kind == "KilledWorker":
        return ("the Dask run failed: a worker died while evaluating a partition, more "
                "often than the scheduler allows (distributed.scheduler.allowed-failures); "
                "no output was written")
    if kind in ("CancelledError", "FutureCancelledError"):
        return ("the Dask run failed: the scheduler cancelled a partition's task (lost "
                "connection?); no output was written")
    return f"the Dask run failed on a partition ({kind}: {text}); no output was written"


def _combine(policy: Policy, source: Any, rates: dict[tuple[str, _dt.date], Decimal],
             as_of: _dt.date, params: dict[str, ParamSpec], results: list[PartResult],
             summary: DatasetSummary) -> None:
    aggregates: list[Any] | None = None
    kinds: list[str] = []
    for r in results:
        summary.determinations += r.determinations
        summary.errors.extend(r.errors)
        summary.files.append({"file": r.file, "sha256": r.sha256, "rows": r.determinations})
        kinds = r.kinds
        aggregates = r.aggregates if aggregates is None else combine_aggregates(
            kinds, aggregates, r.aggregates)
    summary.errors.sort(key=error_order)
    # the portfolio outputs from the combined aggregates: the plan compiled once more
    # here, over no rows, gives the function that computes them
    empty = table_from_frame(source.lazy.slice(0, 0).collect(), rates, "<partitions>",
                             lines=pl.Series("__line", [], pl.UInt32))
    result = evaluate_frame(policy, empty, as_of, params)
    if result.finish is not None:
        summary.portfolio = result.finish(aggregates if aggregates is not None
                                          else result.aggregates)


def _scalar_part(policy: Policy, facts: str | os.PathLike[str],
                 fx: str | os.PathLike[str] | None, as_of: _dt.date,
                 params: dict[str, ParamSpec], folder: Path,
                 summary: DatasetSummary) -> None:
    """The whole table through the scalar backend on the client, as one part (what the
    single-machine run does when the columnar backend cannot evaluate it)."""
    from evaluator.apps.portfolio import evaluate_file

    for old in folder.iterdir():
        old.unlink()
    name = part_name(0)
    done = evaluate_file(policy, facts, fx, as_of, params, folder / name, scalar=True)
    summary.partitions = 1
    summary.determinations = done.determinations
    summary.errors = list(done.errors)
    summary.portfolio = done.portfolio
    summary.files = [{"file": name, "sha256": _sha256(folder / name),
                      "rows": done.determinations}]


def write_side(outs: atomic.Outputs, side: Path | None, side_tmp: Path | None,
               side_doc: Any, summary: DatasetSummary) -> None:
    """The JSON document ``side_doc(summary)`` written to the side file's temporary path
    (or the side file dropped when there is none), and the old side file removed: never
    left beside a folder it does not describe."""
    if side is None or side_tmp is None:
        return
    doc = side_doc(summary) if side_doc is not None else None
    if doc is None:
        outs.drop(side)
    else:
        side_tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
                            encoding="utf-8")
        atomic.fsync_file(side_tmp)
    with contextlib.suppress(FileNotFoundError):
        side.unlink()


def dataset_sha256(files: list[dict[str, Any]]) -> str:
    """One sha256 for a dataset: of its parts' names and sha256s, one line each."""
    text = "".join(f"{f['sha256']}  {f['file']}\n" for f in files)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: what the dataset engine (:mod:`evaluator.apps.distributed_events`) shares with this one
rebuilt_policy = _policy
run_partitions = _run
file_sha256 = _sha256

__all__ = [
    "DEFAULT_PARTITION_ROWS",
    "POLARS_THREADS",
    "DatasetSummary",
    "Engine",
    "EngineError",
    "Progress",
    "StrictRefused",
    "compare_dataset",
    "compare_partition",
    "connect",
    "dataset_sha256",
    "dataset_target",
    "evaluate_dataset",
    "evaluate_partition",
    "file_sha256",
    "plan",
    "rebuilt_policy",
    "run_partitions",
    "worker_env",
]
