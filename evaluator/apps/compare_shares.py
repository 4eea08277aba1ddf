"""A comparison made in parts (the Dask engine's partitions, each compared where it was
read): what one partition contributes (:func:`share_of`: its accounts rows written to
files, the yearly projection's parts, the differing accounts counted, the accounts it may
trace with their members' full profiles) and the comparison put together from the
partitions' shares (:func:`comparison_of`: the projection finished, the accounts traced
picked from the candidates and traced, ``accounts.csv`` written from the files when the
comparison is written), so the client never holds every account's rows. Both Dask
comparisons (a snapshot table, a dataset) go through here; the outputs are one machine's
to the byte."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from evaluator.apps.compare import (
    Comparison,
    Run,
    account_rows,
    pick,
    run_of,
    top,
    traced,
    traced_members,
)
from evaluator.apps.compare_parts import AccountsParts, uniform
from evaluator.apps.compare_yearly import YearlyPart, label, yearly_frame, yearly_part, yearly_rows
from evaluator.backends.columnar import ColumnarResult
from evaluator.facts.model import Facts
from evaluator.facts.table import Table

if TYPE_CHECKING:
    from evaluator.policy import Policy


@dataclass
class Share:
    """One partition's share of a comparison: per policy (in order) its part of the yearly
    projection and the file of the partition's accounts rows under it; per policy
    compared with the reference, its first ``--trace-limit`` differing rows here by
    amount and how many differ; the accounts evaluated and those the reference could not;
    the full profiles of the members of the rows picked."""

    rows: int
    yearly: list[YearlyPart] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    picked: dict[str, pl.DataFrame] = field(default_factory=dict)
    differing: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    traced: Facts | None = None


def share_of(index: int, runs: list[Run], columnar: bool, folder: str, limit: int,
             as_of: _dt.date, horizon: int, values: dict[str, str],
             profiles: Callable[[list[str]], Facts]) -> Share:
    """Partition ``index``'s share of the comparison of ``runs`` (by the columnar backend,
    or not): its accounts rows written to ``folder``, one Arrow IPC file per policy
    (replaced whole: a retried task overwrites what a dead worker left), the yearly
    projection's parts (of a columnar run, its outputs known before the partition's rows
    made columns, :func:`~evaluator.apps.compare_parts.uniform`, as another partition's
    may be), the rows it may trace and ``profiles`` of their members."""
    yearly = []
    for run in runs:
        if columnar:
            result = uniform(run.result)
            run = dataclasses.replace(run, result=result,
                                      cents=run_of(run.policy, result).cents)
        yearly.append(yearly_part(run, as_of, horizon, values))
    slices, picked = pick(runs, account_rows(runs), limit)
    files = []
    for i, rows in enumerate(slices):
        final = Path(folder) / f"part-{index:05d}-{i:03d}.arrow"
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        rows.write_ipc(tmp, compression="lz4")
        os.replace(tmp, final)
        files.append(str(final))
    members = traced_members(picked)
    return Share(runs[0].text.height, yearly, files, picked,
                 {label(r.policy): rows.filter(pl.col("differs") != "").height
                  for r, rows in zip(runs[1:], slices[1:], strict=True)},
                 int(runs[0].result.frame.get_column("__error").is_not_null().sum()),
                 profiles(members) if members else None)


class PartProfiles:
    """What `compare` traces the members whose determinations differ from: their full
    profiles, read on the workers with the partitions that hold them (each partition
    sends those of its members the comparison may trace; the client reads no dataset)."""

    def __init__(self, parts: list[Facts | None]) -> None:
        self.parts = parts

    def member_facts(self, member_ids: list[str]) -> Facts:
        """The full profiles of ``member_ids``, without the reader's errors, in partition
        order."""
        wanted = set(member_ids)
        sent = [f for f in self.parts if f is not None]
        members = tuple(m for f in sent for m in f.members if m.member_id in wanted)
        missing = wanted - {m.member_id for m in members}
        if missing or not sent:  # not expected: every member traced is a candidate
            raise ValueError(f"no partition sent the profiles of the members to trace "
                              f"({', '.join(sorted(missing)[:3])})")
        return dataclasses.replace(sent[0], members=members, errors=(), claims=())


@contextlib.contextmanager
def staging_folder(out: str | os.PathLike[str]) -> Iterator[Path]:
    """A new folder beside the output ``out`` for the partitions' accounts rows (on the
    storage the workers write the output to); removed if the comparison is not made,
    else the comparison's to remove (its ``close()``)."""
    import shutil
    import tempfile

    target = Path(os.path.abspath(out))
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.unclaimed-parts-",
                                   dir=target.parent))
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def comparison_of(policies: list[Policy], shares: list[Share], folder: Path, table: Table,
                  as_of: _dt.date, horizon: int, params: dict[str, str],
                  values: dict[str, str], limit: int) -> Comparison:
    """The comparison from the partitions' shares (in partition order), its accounts rows
    in the files of ``folder`` (removed by the comparison's ``close()``); ``table`` names
    the input and carries its record errors and FX rates."""
    labels = [label(p) for p in policies]
    picked = {}
    for name in labels[1:]:
        offered = [s.picked[name] for s in shares if name in s.picked]
        if offered:
            picked[name] = top(pl.concat(offered, how="vertical_relaxed"), limit)
    found: list[dict[str, Any]] = []
    updates: dict[tuple[str, str], str] = {}
    if picked:
        facts = PartProfiles([s.traced for s in shares]).member_facts(traced_members(picked))
        found, updates = traced(policies[0], policies[1:], picked, facts, as_of, params)
    yearly = yearly_frame([row for i, policy in enumerate(policies)
                           for row in yearly_rows(policy, [s.yearly[i] for s in shares],
                                                  as_of, horizon, values)])
    parts = AccountsParts(
        folder, labels, [[Path(f) for f in s.files] for s in shares], updates, limit,
        {name: sum(s.differing.get(name, 0) for s in shares) for name in labels[1:]},
        sum(s.rows for s in shares), sum(s.errors for s in shares))
    # the runs name the policies; their rows are the parts'
    runs = [Run(p, ColumnarResult(pl.DataFrame(), [], table), pl.DataFrame(),
                pl.Series(dtype=pl.Int64), []) for p in policies]
    return Comparison(runs, as_of, horizon, values, pl.DataFrame(), yearly, found, parts)


__all__ = ["PartProfiles", "Share", "comparison_of", "share_of", "staging_folder"]
