"""The columnar portfolio aggregates combine across any member-consistent split of a
dataset: every table of a policy asks the same aggregates in the same order (even a part
whose lists over events are shorter, or empty, or a part of no member), so the parts'
partial aggregates combined give exactly the whole table's portfolio outputs, which are
the scalar backend's. Over a generated dataset (`unclaimed generate --events`) with
transfers, fees and missing rates, for every shipped policy with portfolio outputs and
tests/portfolio/aggregates.yaml."""

from __future__ import annotations

import dataclasses
import io
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from evaluator.apps.cli import main
from evaluator.apps.datasets import DatasetInput, read_dataset
from evaluator.backends.columnar import ColumnarResult, combine_aggregates, evaluate_frame
from evaluator.policy import Policy, load_policy
from tests.support import BASELINE, ROOT

AS_OF = "2026-11-21"
SHIPPED = [p for p in sorted((ROOT / "policies").rglob("*.yaml"))
           if "tests" not in p.parts and p.name != "facts.yaml"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("partials")
    accounts = folder / "d.csv"
    err = io.StringIO()
    assert main(["generate", "--members", "160", "--seed", "6", "--events",
                 "--missing-rates", "0.3", "--out", str(accounts)],
                stdout=io.StringIO(), stderr=err) == 0, err.getvalue()
    root = folder / "policies"
    shutil.copytree(BASELINE, root / "fsra-2024-001")
    shutil.copytree(BASELINE.parent / "deposits-base", root / "deposits-base")
    shutil.copy(ROOT / "tests" / "portfolio" / "aggregates.yaml", root / "aggregates.yaml")
    return {"accounts": accounts, "events": folder / "d.events.csv",
            "fx": folder / "d.fx.csv", "aggregates": root / "aggregates.yaml"}


def members(data: DatasetInput, lo: int, hi: int) -> DatasetInput:
    """The members ``lo`` up to ``hi`` (in the reader's order) of a dataset's table."""
    assert data.table is not None
    table = data.table
    order = table.frame.get_column("__member_order").unique().sort()
    keep = order.slice(lo, max(hi - lo, 0)).implode()
    events = table.events.filter(pl.col("__member_order").is_in(keep)) \
        if table.events is not None else None
    part = dataclasses.replace(table, frame=table.frame.filter(
        pl.col("__member_order").is_in(keep)), events=events, errors=[], ragged=[])
    return DatasetInput(None, [], data.accounts, data.events, table=part)


def member_count(data: DatasetInput) -> int:
    assert data.table is not None
    return data.table.frame.get_column("__member_order").n_unique()


def longest_list(data: DatasetInput) -> int:
    """The most events one account or member of the part has (what lists unroll to)."""
    assert data.table is not None and data.table.events is not None
    events = data.table.events
    if not events.height:
        return 0
    longest: int = events.group_by("__member_order").len().get_column("len").max()  # type: ignore[assignment]
    return longest


def combined(policy: Policy, parts: list[DatasetInput]) -> tuple[dict[str, Any], list[str]]:
    """The portfolio outputs from the parts' partial aggregates, computed (as the Dask
    client does) by the plan compiled over a part of no member; and the kinds asked."""
    results: list[ColumnarResult] = []
    for part in parts:
        assert part.table is not None
        results.append(evaluate_frame(policy, part.table, _day(), _params(policy)))
    kinds = results[0].aggregate_kinds
    assert kinds and all(r.aggregate_kinds == kinds for r in results), \
        [r.aggregate_kinds for r in results]
    values = results[0].aggregates
    for r in results[1:]:
        values = combine_aggregates(kinds, values, r.aggregates)
    assert parts[0].table is not None
    empty = members(DatasetInput(None, [], "", "", table=parts[0].table), 0, 0)
    assert empty.table is not None
    finish = evaluate_frame(policy, empty.table, _day(), _params(policy)).finish
    assert finish is not None
    return finish(values), kinds


def _day() -> Any:
    import datetime as _dt

    return _dt.date.fromisoformat(AS_OF)


def _params(policy: Policy) -> Any:
    specs, _ = policy.run_params({})
    return specs


def whole_outputs(policy: Policy, data: DatasetInput) -> dict[str, Any]:
    """The whole table's portfolio outputs, held to the scalar backend's."""
    assert data.table is not None
    columnar = policy.evaluate(data.table, as_of=AS_OF, backend="columnar")
    scalar = policy.evaluate(data.facts, as_of=AS_OF, backend="scalar")
    assert columnar.portfolio is not None and columnar.portfolio == scalar.portfolio
    assert len(scalar.accounts) > 100
    return columnar.portfolio


def splits(count: int) -> list[list[tuple[int, int]]]:
    """Ways to cut ``count`` members: in 1, 2, 3 and 7 equal ranges, and ranges of no
    member and of one member among the rest."""
    even = [[(k * count // n, (k + 1) * count // n) for k in range(n)] for n in (1, 2, 3, 7)]
    uneven = [(0, 0), (0, 1), (1, 1), (1, 2), (2, count // 2), (count // 2, count // 2 + 1),
              (count // 2 + 1, count), (count, count)]
    return [*even, uneven]


@pytest.mark.parametrize("which", ["aggregates", "fsra-2024-001"])
def test_any_split_combines_to_the_whole_tables_portfolio_outputs(
        dataset: dict[str, Path], which: str) -> None:
    path = dataset["aggregates"] if which == "aggregates" else BASELINE
    policy = load_policy(path)
    data = read_dataset(dataset["accounts"], dataset["events"], dataset["fx"],
                        decl=policy.facts_decl)
    whole = whole_outputs(policy, data)
    count = member_count(data)
    assert count > 100
    assert policy.evaluate(data.table, as_of=AS_OF).errors  # missing rates: not counted
    lengths: set[int] = set()
    for bounds in splits(count):
        parts = [members(data, lo, hi) for lo, hi in bounds]
        lengths |= {longest_list(p) for p in parts}
        got, kinds = combined(policy, parts)
        assert got == whole, bounds
        # the transfers' aggregates are asked even of parts without any transfer
        assert kinds.count("sum") >= 2
    assert len(lengths) > 3  # parts whose lists over events unroll to different lengths


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem if p.stem != "policy" else
                                                p.parent.name for p in SHIPPED])
def test_every_shipped_policy_combines_three_uneven_parts(
        dataset: dict[str, Path], path: Path) -> None:
    policy = load_policy(path)
    if not policy.outputs("portfolio"):
        pytest.skip("no portfolio outputs")
    data = read_dataset(dataset["accounts"], dataset["events"], dataset["fx"],
                        decl=policy.facts_decl)
    whole = whole_outputs(policy, data)
    parts = [members(data, 0, 1), members(data, 1, 1), members(data, 1, 90),
             members(data, 90, 10 ** 6)]
    assert combined(policy, parts)[0] == whole


def test_a_choice_on_an_aggregate_asks_the_aggregates_of_both_sides(
        dataset: dict[str, Path], tmp_path: Path) -> None:
    """An aggregate used only on the side of a portfolio `if` that the real aggregates
    take (not the side the stand-ins take while compiling) is asked all the same: the
    columnar backend gives the scalar backend's value (it raised before)."""
    root = dataset["aggregates"].parent
    policy_file = root / "branchy.yaml"
    policy_file.write_text(
        "policy: branchy\nversion: 1.0.0\nstatus: alternative\ntitle: a choice\n"
        "extends: fsra-2024-001@1.1.0\ndefinitions:\n"
        "  big_sum:\n    entity: portfolio\n    provision: \"2(14)\"\n"
        "    formula: |\n      if count(a for a in accounts) > 5\n"
        "      then sum(a.balance for a in accounts) else 0.00\n"
        "  few_or_sum:\n    entity: portfolio\n    provision: \"2(14)\"\n"
        "    formula: count(a for a in accounts) > 5 and"
        " sum(a.balance for a in accounts if a.currency == \"USD\") > 0.00\n"
        "outputs:\n  portfolio: [big_sum, few_or_sum]\n", encoding="utf-8")
    policy = load_policy(policy_file)
    data = read_dataset(dataset["accounts"], dataset["events"], dataset["fx"],
                        decl=policy.facts_decl)
    whole = whole_outputs(policy, data)
    assert whole["big_sum"] > 1000 and whole["few_or_sum"] is True
    count = member_count(data)
    got, _ = combined(policy, [members(data, 0, 2), members(data, 2, count)])
    assert got == whole


def test_uniform_makes_outputs_known_before_the_rows_columns_read_alike(
        dataset: dict[str, Path]) -> None:
    """What the Dask compare's partitions return (tests/distributed holds the compare
    itself): a columnar result's date, boolean, text and money outputs known before the
    rows (here the notices' marks and the findings' codes) become columns of the frame
    holding that value, and every determination reads back unchanged."""
    from evaluator.apps.compare_parts import uniform
    from evaluator.apps.datasets import part_of
    from evaluator.backends.columnar import determinations

    policy = load_policy(BASELINE)
    data = read_dataset(dataset["accounts"], dataset["events"], dataset["fx"])
    part = part_of(data, 1, 5)
    assert part.table is not None
    result = evaluate_frame(policy, part.table, _day(), _params(policy))
    made = uniform(result)
    added = [c for c in made.frame.columns if c not in result.frame.columns]
    assert any(c.startswith("out:notices[") and c.endswith(".mark") for c in added)
    assert any(c.startswith("out:findings[") and c.endswith(".code") for c in added)

    def consts(shape: Any) -> int:
        if shape[0] == "const":
            return 1
        if shape[0] == "rec":
            return sum(consts(f) for _, f in shape[1])
        if shape[0] == "list":
            return sum(consts(f) for _, f in shape[1])
        return 0
    assert sum(consts(s.shape) for s in result.outputs) > sum(consts(s.shape)
                                                               for s in made.outputs)
    assert determinations(made) == determinations(result)
    assert len(determinations(result)[0]) > 20
