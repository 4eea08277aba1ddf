"""What a comparison needs of runs made in parts (the Dask engine's partitions), kept
apart from :mod:`evaluator.apps.compare` so that module stays one job: the columns of a
run's frame that a partition sends the client (:func:`compared_frame`), where the full
profiles of the members traced come from when the client does not hold the dataset
(:class:`Profiles`), and ``accounts.csv`` written from the rows each partition wrote to
a file (:class:`AccountsParts`), so the client never holds every account's rows."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from evaluator.backends.columnar import ColumnarResult
from evaluator.facts.model import Facts


class Profiles(Protocol):
    """Where the full profiles of the members to trace come from when the comparison does
    not hold the dataset (the Dask engine reads them on its workers)."""

    def member_facts(self, member_ids: list[str]) -> Facts: ...


#: the outputs whose columns the yearly projection reads (with ``__error``)
YEARLY_OUTPUTS = ("payment_window", "unclaimed_on", "in_scope", "amount_cad", "notices",
                  "liability_ends")


def compared_frame(result: ColumnarResult,
                   notice_due: list[tuple[str, str, str | None, Any]]) -> pl.DataFrame:
    """The columns of a run's frame that a comparison reads once its run is made
    (:func:`run_of`, or the scalar backend's run): the errors, every column of the outputs
    the yearly projection reads and the run's notice columns; what a Dask partition sends
    the client instead of its whole frame (about half the columns, the findings' texts
    not among them)."""
    names: set[str] = {"__error"}
    for present, due, required, mark in notice_due:
        names.update((present, due))
        if required is not None:
            names.add(required)
        if isinstance(mark, pl.Expr):
            names.update(mark.meta.root_names())

    def walk(shape: Any) -> None:
        if not isinstance(shape, tuple) or not shape:
            return
        if shape[0] == "col":
            names.add(shape[1])
        elif shape[0] == "rec":
            if shape[2] is not None:
                names.add(shape[2])
            for _, field_shape in shape[1]:
                walk(field_shape)
        elif shape[0] == "list":
            for present, item in shape[1]:
                names.add(present)
                walk(item)

    for spec in result.outputs:
        if spec.name in YEARLY_OUTPUTS:
            names.add(f"out:{spec.name}")
            walk(spec.shape)
    return result.frame.select(c for c in result.frame.columns if c in names)


def finished(rows: pl.DataFrame, updates: dict[tuple[str, str], str], label: str,
             limit: int) -> pl.DataFrame:
    """A policy's rows of ``accounts.csv`` (all of them, or a partition's) with the first
    diverging definition of those traced, and the others that differ marked as not
    traced."""
    mapping = {aid: name for (lb, aid), name in updates.items() if lb == label}
    if mapping:
        rows = rows.with_columns(pl.col("account_id").replace_strict(
            mapping, default=pl.col("first_divergence"), return_dtype=pl.String)
            .alias("first_divergence"))
    return rows.with_columns(
        pl.when((pl.col("differs") != "") & (pl.col("first_divergence") == ""))
        .then(pl.lit(f"not traced (over --trace-limit {limit}); see unclaimed evaluate "
                     "--explain ACCOUNT_ID"))
        .otherwise(pl.col("first_divergence")).alias("first_divergence"))


@dataclass
class AccountsParts:
    """A comparison's accounts rows as its partitions wrote them: per partition, one
    Arrow IPC file per policy (``files[k][i]``: partition ``k``'s rows under policy
    ``i``, in row order, ``first_divergence`` not yet filled); what the client traced
    (``updates``: per (policy, account), the first diverging definition); and the counts
    the summary reads."""

    folder: Path
    files: list[list[Path]]
    updates: dict[tuple[str, str], str]
    limit: int
    #: per policy label: the accounts differing from the reference
    differing: dict[str, int] = field(default_factory=dict)
    #: the accounts evaluated, and those the reference could not evaluate
    accounts: int = 0
    errors: int = 0

    def write_csv(self, path: Path, runs: list[Any]) -> None:
        """``accounts.csv``: policy by policy, partition by partition, each part's rows
        finished (its traced accounts' first diverging definitions filled in) and
        appended, one part in memory at a time; the bytes of the whole frame written at
        once."""
        from evaluator.apps.compare_yearly import label

        with path.open("wb") as fh:
            first = True
            for i, run in enumerate(runs):
                for part in self.files:
                    rows = finished(pl.read_ipc(part[i]), self.updates,
                                    label(run.policy), self.limit)
                    if first or rows.height:
                        rows.write_csv(fh, include_header=first)
                        first = False

    def close(self) -> None:
        """Remove the parts' folder."""
        shutil.rmtree(self.folder, ignore_errors=True)


__all__ = ["YEARLY_OUTPUTS", "AccountsParts", "Profiles", "compared_frame", "finished"]
