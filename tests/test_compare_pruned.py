"""What a Dask partition sends the client of each run (:func:`compared_frame`: the errors
and the columns of the outputs the yearly projection reads and the notice columns, not the
whole frame) is all the comparison reads, by either backend's runs: for the baseline against every shipped policy over a generated
dataset (with rates missing, so some accounts are in error), the comparison of the runs
with their frames cut so is the comparison of the whole runs: the accounts, the yearly
projection, the differences traced and the report's data."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from pathlib import Path
from typing import Any

import pytest

from evaluator.apps.compare import compare_runs, report_data
from evaluator.apps.compare_parts import compared_frame
from evaluator.apps.datasets import dataset_runs, read_dataset
from evaluator.declared import union
from evaluator.policy import load_policy
from tests.support import BASELINE, generated_dataset
from tests.test_dataset_differential import SHIPPED

AS_OF = _dt.date(2026, 11, 21)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_dataset(tmp_path_factory.mktemp("pruned"), 400, 5, "--missing-rates", "0.5")


def cut(run: Any) -> Any:
    return dataclasses.replace(run, result=dataclasses.replace(
        run.result, frame=compared_frame(run.result, run.notice_due)))


@pytest.mark.parametrize("backend", ["columnar", "scalar"])
@pytest.mark.parametrize("policy_path", SHIPPED, ids=[p.stem if p.suffix else p.name
                                                      for p in SHIPPED])
def test_the_columns_sent_are_all_the_comparison_reads(dataset: Path, policy_path: Path,
                                                       backend: str) -> None:
    """By the columnar backend's runs and by the scalar backend's (a partition the
    columnar one cannot compare), whose notice columns are the run's, not its shapes'."""
    policies = [load_policy(BASELINE), load_policy(policy_path)]
    data = read_dataset(dataset, dataset.with_name("d.events.csv"),
                        dataset.with_name("d.fx.csv"),
                        decl=union([p.facts_decl for p in policies]))
    runs, traced, note = dataset_runs(policies, data if backend == "columnar" else
                                      data.facts, AS_OF, {})
    if backend == "columnar" and note is not None:
        pytest.skip(f"compared by the scalar backend: {note}")
    whole = compare_runs(runs, traced, AS_OF, 2045, trace_limit=50)
    sent = [cut(r) for r in runs]
    assert all(r.result.frame.width < w.result.frame.width
               for r, w in zip(sent, runs, strict=True))
    got = compare_runs(sent, traced, AS_OF, 2045, trace_limit=50)
    assert got.accounts.equals(whole.accounts)
    assert got.yearly.equals(whole.yearly)
    assert got.differences == whole.differences
    assert report_data(got, "d", None, 0) == report_data(whole, "d", None, 0)
    assert whole.yearly.get_column("transfers").sum() > 0
