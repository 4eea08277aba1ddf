"""Parquet determinations keep their structure: notices and findings as lists of structs
with typed fields, dates as dates, money as decimals, never a Null-typed column; the
chunked columnar path and the scalar fallback write the same schema and the same rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import evaluator.portfolio as portfolio
from evaluator import Policy, load_policy
from evaluator.columnar import Unsupported
from evaluator.facts import load_facts
from evaluator.generate import generate
from evaluator.portfolio import evaluate_file
from tests.support import BASELINE

AS_OF = dt.date(2026, 11, 21)
NOTICE = pl.Struct({"mark": pl.String, "due": pl.Date, "required": pl.Boolean,
                    "provision": pl.String})
FINDING = pl.Struct({"code": pl.String, "provision": pl.String, "severity": pl.String,
                     "message": pl.String})


@pytest.fixture(scope="module")
def baseline() -> Policy:
    return load_policy(BASELINE)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("parquet")
    out = folder / "sample.csv"
    generate(out, 800, seed=5)
    rows = out.read_text(encoding="utf-8").splitlines()
    rows[30] = rows[30].replace(",CAD,", ",cad,", 1)  # one record error
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out, folder / "sample.fx.csv"


@pytest.fixture(scope="module")
def columnar(baseline: Policy, sample: tuple[Path, Path],
             tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    facts, fx = sample
    out = tmp_path_factory.mktemp("columnar") / "d.parquet"
    evaluate_file(baseline, facts, fx, AS_OF, baseline.resolve_params(), out, chunk_rows=300)
    return pl.read_parquet(out)


def nulls_typed(dtype: Any) -> list[str]:
    """Where a (nested) type is Null."""
    if dtype == pl.Null:
        return ["here"]
    if isinstance(dtype, pl.List):
        return ["[]" + w for w in nulls_typed(dtype.inner)]
    if isinstance(dtype, pl.Struct):
        return [f".{f.name}{w}" for f in dtype.fields for w in nulls_typed(f.dtype)]
    return []


def test_parquet_keeps_structure_and_types(columnar: pl.DataFrame) -> None:
    schema = columnar.schema
    assert schema["notices"] == pl.List(NOTICE)
    assert schema["findings"] == pl.List(FINDING)
    for name in ("last_activity", "inactive_on", "unclaimed_on", "window_opens",
                 "window_closes", "records_retain_until"):
        assert schema[name] == pl.Date, name
    assert schema["amount_cad"] == pl.Decimal(38, 2)
    assert schema["in_scope"] == pl.Boolean
    assert {n: w for n, d in schema.items() for w in nulls_typed(d)} == {}
    # a snapshot has no transfers: the whole column is null, and still a Date column
    assert columnar.get_column("records_retain_until").null_count() == columnar.height


def test_parquet_values_are_the_json_determinations(
        baseline: Policy, sample: tuple[Path, Path], columnar: pl.DataFrame) -> None:
    facts, fx = sample
    result = baseline.evaluate(load_facts(facts, fx=fx), as_of=AS_OF).to_dict()
    expected = {a["account_id"]: a for a in result["accounts"]}
    assert sorted(columnar.get_column("account_id")) == sorted(expected)
    findings = 0
    for row in columnar.iter_rows(named=True):
        want = expected[row["account_id"]]
        notices = [{**n, "due": n["due"].isoformat()} for n in row["notices"]]
        assert notices == want["notices"]
        assert row["findings"] == want["findings"]
        assert (row["unclaimed_on"].isoformat(), str(row["amount_cad"])) == \
            (want["unclaimed_on"], want["amount_cad"])
        findings += len(row["findings"])
    assert findings > 0


def test_scalar_fallback_writes_the_same_parquet(
        baseline: Policy, sample: tuple[Path, Path], columnar: pl.DataFrame,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    facts, fx = sample

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise Unsupported("forced by the test")

    monkeypatch.setattr(portfolio, "_evaluate_chunks", refuse)
    out = tmp_path / "scalar.parquet"
    summary = evaluate_file(baseline, facts, fx, AS_OF, baseline.resolve_params(), out)
    assert summary.chunks == 1 and len(summary.errors) == 1  # the scalar path ran
    scalar = pl.read_parquet(out)
    assert scalar.schema == columnar.schema
    assert scalar.equals(columnar)
