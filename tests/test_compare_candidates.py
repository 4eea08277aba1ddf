"""The members a comparison traces, picked partition by partition (what each Dask task of
`compare --events` sends the client the profiles of): for every --trace-limit, from one
that cuts inside every partition's differing accounts to one above them all, each
partition's candidates are its own members and hold every member of it that the whole
comparison traces, and a partition's candidates are the whole's picks over that
partition alone (no more than the limit per policy)."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import pytest

from evaluator.apps.compare import account_rows, pick, traced_members
from evaluator.apps.datasets import dataset_runs, part_of, read_dataset
from evaluator.policy import load_policy
from tests.support import BASELINE, ROOT, generated_dataset

AS_OF = _dt.date(2026, 11, 21)
PARTS = 4


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], list[Any]]:
    """The runs of the baseline and two alternatives over a generated dataset, whole and
    in ``PARTS`` partitions."""
    folder = generated_dataset(tmp_path_factory.mktemp("candidates"), 600, 11).parent
    policies = [load_policy(BASELINE),
                load_policy(ROOT / "policies" / "alternatives" / "quarterly-windows.yaml"),
                load_policy(ROOT / "policies" / "alternatives" / "interest.yaml")]
    data = read_dataset(folder / "d.csv", folder / "d.events.csv", folder / "d.fx.csv")
    whole, _, note = dataset_runs(policies, data, AS_OF, {})
    assert note is None
    parts = [dataset_runs(policies, part_of(data, k, PARTS), AS_OF, {})[0]
             for k in range(PARTS)]
    return whole, parts


def picks(runs: list[Any], limit: int) -> set[str]:
    """The members traced, by the rule written out: per policy compared with the first
    (the reference), its differing accounts ordered by amount, the largest first (no
    amount last), ties in row order, the first ``limit`` of them."""
    rows = account_rows(runs).to_dicts()
    height = runs[0].text.height
    members: set[str] = set()
    for k in range(1, len(runs)):
        mine = [r for r in rows[k * height:(k + 1) * height] if r["differs"]]

        def key(r: dict[str, Any]) -> tuple[int, float]:
            amount = r["amount_cad"]
            return (1, 0.0) if amount in (None, "") else (0, -float(amount))

        members |= {r["member_id"] for r in sorted(mine, key=key)[:limit]}
    return members


def candidates(runs: list[Any], limit: int) -> list[str]:
    """The members a partition sends the profiles of, as its task picks them
    (``compare_events_partition``): those of its own picks."""
    return traced_members(pick(runs, account_rows(runs), limit)[1])


@pytest.mark.parametrize("limit", [1, 3, 10, 40, 100_000])
def test_each_partition_sends_every_member_the_whole_traces(
        runs: tuple[list[Any], list[Any]], limit: int) -> None:
    whole, parts = runs
    traced = picks(whole, limit)
    assert traced
    assert set(candidates(whole, limit)) == traced  # the whole as one partition
    sent: set[str] = set()
    for part in parts:
        members = set(part[0].text.get_column("member_id").to_list())
        mine = candidates(part, limit)
        assert len(mine) == len(set(mine))
        assert set(mine) == picks(part, limit)
        assert set(mine) <= members
        assert traced & members <= set(mine)
        # no more than the limit per policy compared with the reference
        assert len(mine) <= limit * (len(part) - 1)
        sent |= set(mine)
    if limit == 100_000:  # above every count: every differing member, whole or in parts
        assert sent == traced
    elif limit <= 3:  # the limit cuts: the parts send fewer than all that differ
        differing = set(account_rows(whole).filter(
            account_rows(whole).get_column("differs") != "").get_column("member_id").to_list())
        assert len(sent) < len(differing)
