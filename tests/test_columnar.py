"""The columnar backend against the scalar one: identical determinations, errors included.

Generated snapshot portfolios cluster at the rule's boundaries: leap days, 30 Sep / 1 Oct,
31 Dec / 1 Jan, the payment window's edges, coming into force and the end of the
transition, several accounts per member with member-level columns that agree or not,
foreign currency with and without a 30 Sep rate, snapshot dates after the as-of date,
and now and then a row that cannot be read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluator import Policy, load_policy
from evaluator.columnar import read_table, table_from_frame
from evaluator.facts import facts_from_snapshot, load_facts
from tests.support import BASELINE, ROOT

COLUMNS = ("member_id", "account_id", "currency", "balance", "opened", "last_transaction",
           "last_statement_ack", "last_response")
SPECIAL = [dt.date(y, m, d) for y, m, d in (
    (2016, 2, 29), (2016, 3, 1), (2015, 2, 28), (2014, 9, 30), (2014, 10, 1),
    (2016, 9, 30), (2016, 10, 1), (2015, 12, 31), (2016, 1, 1), (2014, 12, 15),
    (2015, 1, 1), (2016, 1, 1), (2015, 1, 2), (2014, 12, 31), (2023, 1, 1), (2024, 2, 29),
    (2016, 10, 15), (2016, 12, 16), (2005, 6, 30), (2019, 4, 1), (2024, 9, 30))]
AS_OF = [dt.date(2026, 11, 21), dt.date(2026, 10, 14), dt.date(2026, 12, 15),
         dt.date(2026, 12, 16), dt.date(2026, 2, 28), dt.date(2025, 1, 1),
         dt.date(2024, 12, 31), dt.date(2028, 2, 29), dt.date(2026, 1, 1)]
CIF = [None, "2024-02-29", "2025-01-01", "2025-11-01", "2025-10-15"]
#: examples per run; UNCLAIMED_DIFFERENTIAL_EXAMPLES=3000 for a long run
EXAMPLES = int(os.environ.get("UNCLAIMED_DIFFERENTIAL_EXAMPLES", "60"))


@pytest.fixture(scope="module")
def baseline() -> Policy:
    return load_policy(BASELINE)


@st.composite
def a_date(draw: st.DrawFn) -> dt.date:
    if draw(st.booleans()):
        base = draw(st.sampled_from(SPECIAL))
        shift = draw(st.sampled_from([0, 0, 0, 1, -1, 365, -365, 730, 3652]))
        return base + dt.timedelta(days=shift)
    return dt.date(1995, 1, 1) + dt.timedelta(days=draw(st.integers(0, 12000)))


def text(d: dt.date | None) -> str:
    return d.isoformat() if d is not None else ""


@st.composite
def portfolio(draw: st.DrawFn) -> dict[str, Any]:
    rows: list[dict[str, str]] = []
    n_members = draw(st.integers(1, 6))
    for m in range(n_members):
        member = f"M{m}"
        ack = draw(st.none() | a_date())
        resp = draw(st.none() | a_date())
        for a in range(draw(st.integers(1, 3))):
            opened = draw(a_date())
            tx = draw(st.none() | a_date())
            if draw(st.integers(0, 9)) == 0:  # member-level columns may disagree
                ack = draw(st.none() | a_date())
            row = {
                "member_id": member, "account_id": f"{member}-{a}",
                "currency": draw(st.sampled_from(["CAD", "CAD", "CAD", "USD", "EUR"])),
                "balance": draw(st.sampled_from(
                    ["0.00", "25.00", "100.10", "999.99", "1000.00", "1520.00", "12",
                     "0.01", "4200.5"])),
                "opened": text(opened), "last_transaction": text(tx),
                "last_statement_ack": text(ack), "last_response": text(resp),
            }
            damage = draw(st.integers(0, 40))
            if damage == 0:
                row["opened"] = "2026-02-30"
            elif damage == 1:
                row["balance"] = "-5.00"
            elif damage == 2:
                row["balance"] = "abc"
            elif damage == 3 and rows:
                row["account_id"] = rows[0]["account_id"]  # a duplicate id
            elif damage == 4:
                row["member_id"] = " "
            elif damage == 5:
                row["currency"] = "usd"
            elif damage == 6:
                row["balance"] = "-0.00"
            rows.append(row)
    if draw(st.booleans()):
        rows = draw(st.permutations(rows))
    years = draw(st.sets(st.integers(2014, 2040), max_size=27))
    fx = [{"currency": c, "date": f"{y}-09-30", "rate": r}
          for y in sorted(years) for c, r in (("USD", "1.3850"), ("EUR", "1.4712"))]
    if draw(st.booleans()):
        fx.append({"currency": "USD", "date": "2026-09-29", "rate": "9.9999"})
    return {"rows": rows, "fx": fx, "as_of": draw(st.sampled_from(AS_OF)),
            "cif": draw(st.sampled_from(CIF))}


def both(policy: Policy, case: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    params = {"coming_into_force": case["cif"]} if case["cif"] else {}
    frame = pl.DataFrame(case["rows"], schema={c: pl.String for c in COLUMNS})
    from evaluator.facts import parse_fx_rows

    rates = parse_fx_rows(case["fx"])
    table = table_from_frame(frame, rates)
    columnar = policy.evaluate(table, as_of=case["as_of"], params=params,
                               backend="columnar").to_dict()
    facts = facts_from_snapshot(case["rows"], case["fx"])
    scalar = policy.evaluate(facts, as_of=case["as_of"], params=params,
                             backend="scalar").to_dict()
    return columnar, scalar


def assert_same(columnar: dict[str, Any], scalar: dict[str, Any]) -> None:
    for a, b in zip(columnar["accounts"], scalar["accounts"], strict=False):
        assert a == b, f"\ncolumnar {json.dumps(a)}\nscalar   {json.dumps(b)}"
    assert len(columnar["accounts"]) == len(scalar["accounts"])
    assert columnar["errors"] == scalar["errors"]
    assert columnar == scalar


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=portfolio())
def test_both_backends_give_identical_determinations(baseline: Policy,
                                                     case: dict[str, Any]) -> None:
    columnar, scalar = both(baseline, case)
    assert_same(columnar, scalar)


def test_the_bundled_snapshot_is_identical(baseline: Policy) -> None:
    table = read_table(ROOT / "examples" / "members.csv", ROOT / "examples" / "fx.csv")
    columnar = baseline.evaluate(table, as_of="2026-11-21", backend="columnar")
    scalar = baseline.evaluate(table, as_of="2026-11-21", backend="scalar")
    assert columnar.to_json() == scalar.to_json()
    assert len(columnar.accounts) == 11


def test_auto_picks_columnar_for_tables_and_scalar_for_profiles(baseline: Policy) -> None:
    from evaluator import PolicyError, load_facts

    table = read_table(ROOT / "examples" / "members.csv", ROOT / "examples" / "fx.csv")
    auto = baseline.evaluate(table, as_of="2026-11-21")
    assert auto.to_json() == baseline.evaluate(table, as_of="2026-11-21",
                                               backend="columnar").to_json()
    profiles = load_facts(ROOT / "examples" / "members.json")
    with pytest.raises(PolicyError, match="columnar backend evaluates snapshot tables"):
        baseline.evaluate(profiles, as_of="2026-11-21", backend="columnar")


def test_every_builtin_has_a_columnar_implementation() -> None:
    from evaluator.builtins import BUILTINS
    from evaluator.columnar import COLUMNAR

    assert set(BUILTINS) == set(COLUMNAR)


ALTERNATIVE_FILES = sorted([*(ROOT / "policies" / "alternatives").glob("*.yaml"),
                            *(ROOT / "policies" / "interpretations").glob("*.yaml")])


@pytest.mark.parametrize("path", ALTERNATIVE_FILES, ids=lambda p: p.stem)
def test_alternatives_compile_and_agree_with_the_scalar_backend(path: Any) -> None:
    policy = load_policy(path)

    @settings(max_examples=max(4, EXAMPLES // 10), deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(case=portfolio())
    def check(case: dict[str, Any]) -> None:
        columnar, scalar = both(policy, case)
        assert_same(columnar, scalar)

    check()


@pytest.fixture(scope="module")
def branch_policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    """tests/portfolio/branches.yaml beside the baseline, under a policies root of its own."""
    import shutil

    root = tmp_path_factory.mktemp("policies")
    shutil.copytree(BASELINE, root / "fsra-2024-001")
    shutil.copytree(BASELINE.parent / "deposits-base", root / "deposits-base")  # it extends
    shutil.copy(ROOT / "tests" / "portfolio" / "branches.yaml", root / "branches.yaml")
    return load_policy(root / "branches.yaml")


def test_counts_and_branch_values_on_the_bundled_snapshot(branch_policy: Policy) -> None:
    """Literal counts over a member's accounts (once per row, not once per member), and
    values computed only where their branch is taken, as the scalar backend gives them."""
    table = read_table(ROOT / "examples" / "members.csv", ROOT / "examples" / "fx.csv")
    columnar = branch_policy.evaluate(table, as_of="2026-11-21", backend="columnar")
    scalar = branch_policy.evaluate(load_facts(ROOT / "examples" / "members.csv",
                                               fx=ROOT / "examples" / "fx.csv"),
                                    as_of="2026-11-21", backend="scalar")
    assert columnar.to_dict() == scalar.to_dict()
    by_member: dict[str, int] = {}
    for d in scalar.accounts:
        by_member[d.member_id] = by_member.get(d.member_id, 0) + 1
    counts = {d.member_id: d.values["account_count"] for d in columnar.accounts}
    assert counts == by_member and max(counts.values()) > 1
    assert all(d.values["account_ones"] == by_member[d.member_id] for d in columnar.accounts)


@settings(max_examples=max(10, EXAMPLES // 3), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=portfolio())
def test_branch_values_agree_with_the_scalar_backend(branch_policy: Policy,
                                                     case: dict[str, Any]) -> None:
    columnar, scalar = both(branch_policy, case)
    assert_same(columnar, scalar)


@pytest.fixture(scope="module")
def regime_builtins(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    """tests/portfolio/builtins.yaml beside the baseline, under a policies root of its own."""
    import shutil

    root = tmp_path_factory.mktemp("policies")
    shutil.copytree(BASELINE, root / "fsra-2024-001")
    shutil.copytree(BASELINE.parent / "deposits-base", root / "deposits-base")  # it extends
    shutil.copy(ROOT / "tests" / "portfolio" / "builtins.yaml", root / "builtins.yaml")
    return load_policy(root / "builtins.yaml")


@st.composite
def rates_around_boundaries(draw: st.DrawFn) -> dict[str, Any]:
    """A generated portfolio whose rates fall on boundary days of their own (leap days,
    year ends, the days the rows' dates cluster at, a day either side), for some
    currencies only: a row's day may have a rate, or only an earlier one, or none before
    it, or its currency none at all."""
    case = draw(portfolio())
    fx = []
    for currency in draw(st.sets(st.sampled_from(["USD", "EUR"]), max_size=2)):
        for _ in range(draw(st.integers(0, 6))):
            day = draw(a_date())
            rate = draw(st.sampled_from(["1.3850", "0.72", "1.4712", "2", "1.05005"]))
            fx.append({"currency": currency, "date": day.isoformat(), "rate": rate})
    unique = {(r["currency"], r["date"]): r for r in fx}
    case["fx"] = list(unique.values())
    return case


@settings(max_examples=max(10, EXAMPLES // 3), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=rates_around_boundaries())
def test_regime_builtins_agree_with_the_scalar_backend(regime_builtins: Policy,
                                                       case: dict[str, Any]) -> None:
    columnar, scalar = both(regime_builtins, case)
    assert_same(columnar, scalar)
