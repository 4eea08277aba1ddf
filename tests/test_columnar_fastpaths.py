"""The columnar backend's fast paths give what the plain polars forms they replace give:
a member's largest or smallest value (:class:`MemberExtreme`) against a window over the
member key, on sorted and unsorted keys, dates and integers, nulls and members with no
value; and exchange rates found by currency, few or many, against the scalar backend."""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal

import polars as pl
import pytest

from evaluator.backends.columnar.values import MemberExtreme


def _frame(seed: int, members: int, *, shuffled: bool, dtype: pl.DataType) -> pl.DataFrame:
    rng = random.Random(seed)
    order: list[int] = []
    values: list[int | None] = []
    line = 2
    for _ in range(members):
        rows = rng.choice((1, 1, 2, 3, 5))
        none = rng.random() < 0.2  # a member with no value at all
        for _ in range(rows):
            order.append(line)
            values.append(None if none or rng.random() < 0.3 else
                          rng.randint(-719_000, 2_900_000))
        line += rows
    frame = pl.DataFrame({"__member_order": pl.Series(order, dtype=pl.Int64),
                          "v": pl.Series(values, dtype=pl.Int64).cast(dtype)})
    if shuffled:
        frame = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    return frame


@pytest.mark.parametrize("dtype", [pl.Date, pl.Int64, pl.Int32])
@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize("largest", [True, False])
def test_member_extreme_is_the_window_over_the_member(dtype: pl.DataType, shuffled: bool,
                                                      largest: bool) -> None:
    for seed in range(3):
        frame = _frame(seed, 400, shuffled=shuffled, dtype=dtype)
        want = frame.select((pl.col("v").max() if largest else pl.col("v").min())
                            .over("__member_order")).to_series()
        got = MemberExtreme("v", lambda s: s, largest).compute(frame)
        assert got.dtype == want.dtype
        assert got.to_list() == want.to_list()
        assert got.null_count() > 0  # members with no value are null, not a sentinel


def test_member_extreme_of_one_row_and_of_text() -> None:
    one = pl.DataFrame({"__member_order": [2], "v": [dt.date(2020, 2, 29)]})
    assert MemberExtreme("v", lambda s: s, True).compute(one).to_list() == [
        dt.date(2020, 2, 29)]
    # text has no NumPy reduction: the window itself
    text = pl.DataFrame({"__member_order": [2, 2, 4], "v": ["b", None, "a"]})
    assert MemberExtreme("v", lambda s: s, False).compute(text).to_list() == ["b", "b", "a"]


@pytest.mark.parametrize("currencies", [3, 12])
def test_rates_by_currency_agree_with_the_scalar_backend(currencies: int) -> None:
    """A row's rate is found by its currency's position: a chain of comparisons for a
    few currencies, a lookup for many; a currency without a rate, an unknown one and a
    missing year are errors or null alike."""
    from evaluator import load_policy
    from evaluator.columnar import table_from_frame
    from tests.support import BASELINE

    codes = [f"X{chr(65 + i)}{chr(65 + i)}" for i in range(currencies)]
    fx = {(c, dt.date(y, 9, 30)): Decimal(f"{1 + i / 7:.4f}")
          for i, c in enumerate(codes[:-1]) for y in range(2014, 2027) if (y + i) % 5}
    rng = random.Random(currencies)
    rows = []
    for m in range(300):
        for a in range(rng.choice((1, 2))):
            old = rng.random() < 0.7  # unclaimed: its amount needs the rate
            rows.append({
                "member_id": f"M{m:04d}", "account_id": f"M{m:04d}-{a}",
                "currency": rng.choice([*codes, "CAD", "ZZZ"]),
                "balance": f"{rng.randint(0, 10**7) / 100:.2f}",
                "opened": "1995-03-01",
                "last_transaction": (dt.date(2003, 1, 1) + dt.timedelta(rng.randint(0, 4000))
                                     if old else dt.date(2025, 5, 5)).isoformat(),
                "last_statement_ack": "", "last_response": ""})
    raw = pl.DataFrame(rows, schema={k: pl.String for k in rows[0]})
    table = table_from_frame(raw, fx)
    policy = load_policy(BASELINE)
    columnar = policy.evaluate(table, as_of="2026-11-21", backend="columnar").to_json()
    scalar = policy.evaluate(table, as_of="2026-11-21", backend="scalar").to_json()
    assert columnar == scalar
    amounts = {a["amount_cad"] for a in json.loads(columnar)["accounts"]}
    assert len(amounts) > 100 and json.loads(columnar)["errors"]
