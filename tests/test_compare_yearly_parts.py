"""The yearly projection finished from parts (a Dask partition's share each) is the one
made over every account at once: for the baseline against every shipped policy, by both
backends' runs, over a generated dataset cut into 1, 3 and 7 uneven parts of rows (the
remittance windows counted once across parts, the liability ends' median exact)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import itertools
from pathlib import Path
from typing import Any

import pytest

from evaluator.apps.compare import default_assumptions
from evaluator.apps.compare_yearly import yearly_frame, yearly_part, yearly_rows
from evaluator.apps.datasets import dataset_runs, read_dataset
from evaluator.declared import union
from evaluator.policy import load_policy
from tests.support import BASELINE, generated_dataset
from tests.test_dataset_differential import SHIPPED

AS_OF = _dt.date(2026, 11, 21)
HORIZON = 2045


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_dataset(tmp_path_factory.mktemp("yearly"), 500, 8, "--missing-rates", "0.4")


def cut(run: Any, lo: int, hi: int) -> Any:
    """The run over rows ``[lo, hi)`` only."""
    return dataclasses.replace(
        run, result=dataclasses.replace(run.result, frame=run.result.frame.slice(lo, hi - lo)),
        text=run.text.slice(lo, hi - lo), cents=run.cents.slice(lo, hi - lo))


@pytest.mark.parametrize("backend", ["columnar", "scalar"])
@pytest.mark.parametrize("policy_path", SHIPPED, ids=[p.stem if p.suffix else p.name
                                                      for p in SHIPPED])
def test_the_yearly_rows_from_parts_are_the_whole_ones(dataset: Path, policy_path: Path,
                                                       backend: str) -> None:
    policies = [load_policy(BASELINE), load_policy(policy_path)]
    data = read_dataset(dataset, dataset.with_name("d.events.csv"),
                        dataset.with_name("d.fx.csv"),
                        decl=union([p.facts_decl for p in policies]))
    runs, _, note = dataset_runs(policies, data if backend == "columnar" else data.facts,
                                 AS_OF, {})
    if backend == "columnar" and note is not None:
        pytest.skip(f"compared by the scalar backend: {note}")
    values = default_assumptions()
    for run in runs:
        whole = yearly_frame(yearly_rows(run.policy, [yearly_part(run, AS_OF, HORIZON,
                                                                  values)],
                                         AS_OF, HORIZON, values))
        assert whole.get_column("transfers").sum() > 0
        height = run.text.height
        for count in (3, 7):
            bounds = [0, *sorted({(k * k * height) // (count * count)
                                  for k in range(1, count)}), height]
            parts = [yearly_part(cut(run, lo, hi), AS_OF, HORIZON, values)
                     for lo, hi in itertools.pairwise(bounds)]
            got = yearly_frame(yearly_rows(run.policy, parts, AS_OF, HORIZON, values))
            assert got.equals(whole), (run.policy.id, count)
