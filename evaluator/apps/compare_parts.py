"""What a comparison needs of runs made in parts (the Dask engine's partitions), kept
apart from :mod:`evaluator.apps.compare` so that module stays one job: the columns of a
run's frame that a partition sends the client (:func:`compared_frame`), and where the
full profiles of the members traced come from when the client does not hold the dataset
(:class:`Profiles`)."""

from __future__ import annotations

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


__all__ = ["YEARLY_OUTPUTS", "Profiles", "compared_frame"]
