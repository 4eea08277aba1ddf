"""What a comparison needs of runs made in parts (the Dask engine's partitions), kept
apart from :mod:`evaluator.apps.compare` so that module stays one job: where the full
profiles of the members traced come from when the client does not hold the dataset
(:class:`Profiles`), a policy's accounts rows finished once the traces are known
(:func:`finished`), ``accounts.csv`` written from the rows each partition wrote to a file
(:class:`AccountsParts`), so the client never holds every account's rows, and a run's
outputs known before a partition's rows made columns as another partition's may be
(:func:`uniform`)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import polars as pl

from evaluator.backends.columnar import ColumnarResult, Shape
from evaluator.facts.model import Facts
from evaluator.lang import typesys as T


class Profiles(Protocol):
    """Where the full profiles of the members to trace come from when the comparison does
    not hold the dataset (the Dask engine reads them on its workers)."""

    def member_facts(self, member_ids: list[str]) -> Facts: ...


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
    Arrow IPC file per policy (``files[k][i]``: partition ``k``'s rows under the policy
    ``labels[i]``, in row order, ``first_divergence`` not yet filled); what the client traced
    (``updates``: per (policy, account), the first diverging definition); and the counts
    the summary reads."""

    folder: Path
    labels: list[str]
    files: list[list[Path]]
    updates: dict[tuple[str, str], str]
    limit: int
    #: per policy label: the accounts differing from the reference
    differing: dict[str, int] = field(default_factory=dict)
    #: the accounts evaluated, and those the reference could not evaluate
    accounts: int = 0
    errors: int = 0

    def write_csv(self, path: Path) -> None:
        """``accounts.csv``: policy by policy, partition by partition, each part's rows
        finished (its traced accounts' first diverging definitions filled in) and
        appended, one part in memory at a time; the bytes of the whole frame written at
        once."""
        with path.open("wb") as fh:
            first = True
            for i, label in enumerate(self.labels):
                for part in self.files:
                    rows = finished(pl.read_ipc(part[i]), self.updates, label, self.limit)
                    if first or rows.height:
                        rows.write_csv(fh, include_header=first)
                        first = False

    def close(self) -> None:
        """Remove the parts' folder."""
        shutil.rmtree(self.folder, ignore_errors=True)


_UNIFORM = {T.DATE: pl.Date, T.BOOL: pl.Boolean, T.TEXT: pl.String, T.MONEY: pl.Int64}


def uniform(result: ColumnarResult) -> ColumnarResult:
    """A columnar result whose date, boolean, text and money outputs (and record fields,
    list items' fields) known before the rows (a constant in this partition, a column in
    another: e.g. from a list over events empty here) are columns of the frame too, named
    as a column of theirs would be: what the comparison reads from every partition."""
    import dataclasses

    added: dict[str, pl.Expr] = {}

    def walk(prefix: str, shape: Shape, t: T.Type) -> Shape:
        base = T.strip(t)
        if shape[0] == "const" and base in _UNIFORM:
            value = shape[1]
            if base == T.MONEY and value is not None:
                value = int(Decimal(value).scaleb(2))
            added[prefix] = pl.lit(value, _UNIFORM[base])
            return ("col", prefix, t, 2 if base == T.MONEY else None)
        if shape[0] == "rec" and isinstance(base, T.RecordT):
            types = dict(base.fields)
            return ("rec", [(k, walk(f"{prefix}.{k}", f, types[k])) for k, f in shape[1]],
                    shape[2])
        if shape[0] == "list" and isinstance(base, T.ListT):
            return ("list", [(p, walk(f"{prefix}[{i}]", f, base.elem))
                             for i, (p, f) in enumerate(shape[1])])
        return shape

    outputs = [dataclasses.replace(s, shape=walk(f"out:{s.name}", s.shape, s.type))
               for s in result.outputs]
    if not added:
        return result
    frame = result.frame.with_columns(e.alias(n) for n, e in added.items()
                                      if n not in result.frame.columns)
    return dataclasses.replace(result, frame=frame, outputs=outputs)


__all__ = ["AccountsParts", "Profiles", "finished", "uniform"]
