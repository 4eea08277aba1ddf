"""Writing a generated portfolio: the CSV or Parquet file and its FX table, each to a
temporary name renamed into place when complete."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from evaluator import atomic
from evaluator.apps.generate.assumptions import (
    DEFAULT_CHUNK_MEMBERS,
    EXACT_QUANTILE_MEMBERS,
    PARQUET_ROW_GROUP,
    Assumptions,
    GenerateError,
    check_counts,
)
from evaluator.apps.generate.builder import Summary, fx_table, iter_chunks, parquet_schema
from evaluator.text import squash_spaces

if TYPE_CHECKING:  # polars loads on first use: `unclaimed --help` stays fast
    import polars as pl

    from evaluator.declared import FactsDecl


def fx_path_for(out: str | os.PathLike[str]) -> Path:
    """``<stem>.fx.csv`` beside the portfolio file."""
    path = Path(out)
    return path.with_name(path.stem + ".fx.csv")


def generate(
    out: str | os.PathLike[str],
    members: int,
    seed: int = 0,
    assumptions: Assumptions | None = None,
    *,
    kinds: bool = False,
    chunk_members: int = DEFAULT_CHUNK_MEMBERS,
    decl: FactsDecl | None = None,
) -> Summary:
    """Write the portfolio to ``out`` (.csv or .parquet) and its FX table beside it.

    Each file is written to a temporary name in its directory and renamed when complete,
    so a failure leaves no partial file. Raises :class:`GenerateError` (with a one-line
    message) for bad arguments, unreachable assumptions or an unwritable path.
    """
    a = assumptions or Assumptions()
    check_counts(members, seed, chunk_members)
    a.validate()
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        shown = f"`{path.suffix}`" if path.suffix else "no extension"
        raise GenerateError(f"{out}: cannot tell the format from {shown}: use .csv or .parquet")
    fx_path = fx_path_for(path)
    for target in (path, fx_path):
        if target.is_dir():
            raise GenerateError(f"{target}: is a directory")
    summary = Summary(
        out=str(path),
        fx_out=str(fx_path),
        small_balance=a.small_balance,
        stride=max(1, -(-members // EXACT_QUANTILE_MEMBERS)),
    )
    from evaluator.apps.generate.declared import declared_schema, with_declared_columns

    chunks = with_declared_columns(iter_chunks(
        members, seed, a, kinds=kinds, chunk_members=chunk_members, summary=summary
    ), decl, seed, a.as_of)
    fx_rows = fx_table(seed, a)
    first, last = a.fx_years()
    foreign = {c for c, s in a.currencies if c != "CAD" and s > 0}
    summary.fx_rows = len(fx_rows)
    summary.fx_missing = len(foreign) * (last - first + 1) - len(fx_rows)
    with _replacing(path) as tmp:
        if suffix == ".csv":
            _write_csv(tmp, chunks)
        else:
            _write_parquet(tmp, chunks, kinds, declared_schema(decl))
    with _replacing(fx_path) as tmp:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(("currency", "date", "rate"))
        writer.writerows((c, d.isoformat(), r) for c, d, r in fx_rows)
        tmp.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    summary.finish()
    return summary


class _replacing:
    """Context manager: a temporary path beside ``target`` (named with this process's id,
    see :mod:`evaluator.atomic`), fsynced and renamed onto it on success, removed
    otherwise."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.tmp: Path | None = None
        self._outputs = atomic.Outputs()

    def __enter__(self) -> Path:
        try:
            self.tmp = self._outputs.add(self.target)
        except OSError as e:
            raise GenerateError(f"cannot write {self.target}: {e.strerror or e}") from None
        return self.tmp

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        import polars as pl

        assert self.tmp is not None
        if kind is None:
            try:
                self._outputs.commit()
                return
            except atomic.WriteError as e:
                self._outputs.discard()
                raise GenerateError(str(e)) from None
        self._outputs.discard()
        if isinstance(value, OSError):
            raise GenerateError(f"cannot write {self.target}: {value.strerror or value}") from None
        if isinstance(value, pl.exceptions.PolarsError):
            raise GenerateError(f"cannot write {self.target}: {squash_spaces(str(value))}") from None


def _write_csv(path: Path, chunks: Iterator[pl.DataFrame]) -> None:
    with path.open("wb") as fh:
        for i, frame in enumerate(chunks):
            frame.write_csv(fh, include_header=i == 0, date_format="%Y-%m-%d", null_value="")


def _write_parquet(path: Path, chunks: Iterator[pl.DataFrame], kinds: bool,
                   declared: dict[str, pl.DataType] | None = None) -> None:
    from polars.io.plugins import register_io_source

    schema = {**parquet_schema(kinds), **(declared or {})}

    def source(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        for frame in chunks:
            if with_columns is not None:
                frame = frame.select(with_columns)
            if predicate is not None:
                frame = frame.filter(predicate)
            yield frame

    frame = register_io_source(source, schema=schema, validate_schema=True)
    frame.sink_parquet(path, row_group_size=PARQUET_ROW_GROUP, compression="zstd", statistics=True)
