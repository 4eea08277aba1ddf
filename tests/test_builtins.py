"""Tests for evaluator.builtins (every function of the table, on both sides of its edges)
and the calendar arithmetic of evaluator.values (interpretation D1)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from evaluator import EvaluationError, load_policy
from evaluator import types as T
from evaluator.builtins import BUILTINS, WINDOW_COLUMNS, SignatureError, count_placeholders
from evaluator.facts import facts_from_json
from evaluator.values import (
    Duration,
    MonthDay,
    add_duration,
    add_months,
    display,
    round_cents,
)
from tests.support import BASELINE


def D(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def M(text: str) -> Decimal:
    return Decimal(text)


def call(name: str, *args: Any) -> Any:
    b = BUILTINS[name]
    if b.typed:  # typed builtins get the checked result type first; Int keeps a plain 0
        return b.scalar(T.INT, *args)
    return b.scalar(*args)


# --------------------------------------------------------------------------- the table


def test_every_builtin_has_a_doc_and_a_signature() -> None:
    for name, b in BUILTINS.items():
        assert b.name == name
        assert b.signature.startswith(f"{name}("), name
        assert "->" in b.signature, name
        assert b.doc.strip(), name
        # docs end up in diagnostics' help text: lowercase style, no final period
        assert not b.doc.endswith("."), name
        assert callable(b.check) and callable(b.scalar), name


def test_every_builtin_is_exercised_here() -> None:
    """Fails when a builtin is added without tests in this module."""
    tested = set(SCALAR_CASES) | {"fx_rate", "fx_rate_on_or_before", "fail", "window_for"}
    assert tested == set(BUILTINS)


# --------------------------------------------------------------------------- scalar cases

SCALAR_CASES: dict[str, list[tuple[tuple[Any, ...], Any]]] = {
    "interest_simple": [
        # one leap year: 366 days / 365: 1000 x 5% x 366/365 = 50.1369... -> 50.14
        ((M("1000.00"), M("0.05"), D("2020-01-01"), D("2021-01-01")), M("50.14")),
        # exactly one half cent: 18.25 x 10% x 1/365 = 0.005 -> 0.01 (half up, at the end)
        ((M("18.25"), M("0.1"), D("2021-03-01"), D("2021-03-02")), M("0.01")),
        # the same, negative: away from zero
        ((M("-18.25"), M("0.1"), D("2021-03-01"), D("2021-03-02")), M("-0.01")),
        # just under one half cent: 18.24 x 10% / 365 = 0.004997 -> 0.00
        ((M("18.24"), M("0.1"), D("2021-03-01"), D("2021-03-02")), M("0.00")),
        # zero and negative days accrue nothing
        ((M("1000.00"), M("0.05"), D("2021-03-01"), D("2021-03-01")), M("0.00")),
        ((M("1000.00"), M("0.05"), D("2021-03-02"), D("2021-03-01")), M("0.00")),
        # 28 Feb to 1 Mar is two days in a leap year, one otherwise (actual days)
        ((M("36500.00"), M("0.01"), D("2024-02-28"), D("2024-03-01")), M("2.00")),
        ((M("36500.00"), M("0.01"), D("2023-02-28"), D("2023-03-01")), M("1.00")),
    ],
    "interest_compound": [
        # whole years compound: 1000 x (1.05^2 - 1) = 102.50 exactly (not 731/365 years)
        ((M("1000.00"), M("0.05"), D("2020-01-01"), D("2022-01-01")), M("102.50")),
        # 29 Feb's anniversaries are 28 Feb: two years, then 1 day simple:
        # 1000 x (1.1025 x (1 + 0.05/365) - 1) = 102.651... -> 102.65
        ((M("1000.00"), M("0.05"), D("2020-02-29"), D("2022-03-01")), M("102.65")),
        # one day short of the first anniversary: 364 days simple; on it (28 Feb) one year
        ((M("1000.00"), M("0.05"), D("2020-02-29"), D("2021-02-27")), M("49.86")),
        ((M("1000.00"), M("0.05"), D("2020-02-29"), D("2021-02-28")), M("50.00")),
        # within the first year it is simple interest
        ((M("18.25"), M("0.1"), D("2021-03-01"), D("2021-03-02")), M("0.01")),
        ((M("1000.00"), M("0.05"), D("2021-03-01"), D("2021-03-01")), M("0.00")),
        ((M("1000.00"), M("0.05"), D("2021-03-02"), D("2021-03-01")), M("0.00")),
    ],
    "join": [
        ((("a", "b", "c"), ", "), "a, b, c"),
        ((("only",), ", "), "only"),
        (((), ", "), ""),
    ],
    "accrued_interest": [
        # simple, one leap year of 366 days: 1000 x 5% x 366/365 = 50.1369... -> 50.14
        ((M("1000.00"), M("0.05"), D("2020-01-01"), D("2021-01-01"), "simple",
          Duration(months=1200)), M("50.14")),
        # compound over two years: 1000 x (1.05^(731/365) - 1) = 102.647... -> 102.65
        ((M("1000.00"), M("0.05"), D("2020-01-01"), D("2022-01-01"), "compound",
          Duration(months=1200)), M("102.65")),
        # the cap stops accrual after one year: the same as one year simple
        ((M("1000.00"), M("0.05"), D("2020-01-01"), D("2030-01-01"), "simple",
          Duration(months=12)), M("50.14")),
        # nothing before the start, nothing at a zero rate
        ((M("1000.00"), M("0.05"), D("2021-01-01"), D("2020-01-01"), "simple",
          Duration(months=12)), M("0.00")),
        ((M("1000.00"), M("0"), D("2020-01-01"), D("2021-01-01"), "simple",
          Duration(months=12)), M("0.00")),
        # one day short of a full year, half-up at the cent: 1000 x 5% x 365/365 = 50.00
        ((M("1000.00"), M("0.05"), D("2021-01-01"), D("2022-01-01"), "simple",
          Duration(months=1200)), M("50.00")),
    ],
    "latest": [
        (((D("2020-01-01"), D("2021-06-30")),), D("2021-06-30")),
        (((None, D("2020-01-01"), None),), D("2020-01-01")),
        (((None, None),), None),
        (((),), None),
    ],
    "earliest": [
        (((D("2020-01-01"), D("2019-12-31")),), D("2019-12-31")),
        (((None, D("2020-01-01")),), D("2020-01-01")),
        (((None,),), None),
        (((),), None),
    ],
    "largest": [
        (((M("1.50"), None, M("2.25")),), M("2.25")),
        ((("b", "a"),), "b"),
        (((Duration(months=12), Duration(days=400)),), Duration(months=12)),
        (((),), None),
    ],
    "smallest": [
        (((M("1.50"), None, M("2.25")),), M("1.50")),
        (((MonthDay(10, 1), MonthDay(9, 30)),), MonthDay(9, 30)),
        (((None,),), None),
        (((),), None),
    ],
    "max": [
        ((D("2020-01-01"), None, D("2019-01-01")), D("2020-01-01")),
        ((None, D("2019-01-01")), D("2019-01-01")),
        ((None, None), None),
        ((3, 7, 5), 7),
    ],
    "min": [
        ((D("2020-01-01"), None, D("2019-01-01")), D("2019-01-01")),
        ((None, 4), 4),
        ((None, None), None),
        ((3, 7, 5), 3),
    ],
    "count": [
        (((),), 0),
        (((None, 1, None),), 3),
    ],
    "sum": [
        (((M("1.10"), M("2.20")),), M("3.30")),
        (((M("0.01"),),), M("0.01")),
        (((1, 2, 3),), 6),
        (((),), 0),
    ],
    "any": [
        (((),), False),
        (((False, True),), True),
        (((False, False),), False),
    ],
    "all": [
        (((),), True),
        (((True, True),), True),
        (((True, False),), False),
    ],
    "first": [
        (((),), None),
        (((3, 1, 2),), 3),
        (((None, 1),), None),
    ],
    "last": [
        (((),), None),
        (((3, 1, 2),), 2),
    ],
    "compact": [
        (((),), ()),
        (((None, 1, None, 2),), (1, 2)),
        (((None,),), ()),
    ],
    "year": [((D("2024-12-31"),), 2024), ((D("2025-01-01"),), 2025)],
    "month": [((D("2024-01-31"),), 1), ((D("2024-12-01"),), 12)],
    "day": [((D("2024-02-29"),), 29), ((D("2024-03-01"),), 1)],
    "days_in_month": [
        ((D("2024-02-10"),), 29),
        ((D("2023-02-10"),), 28),
        ((D("2100-02-10"),), 28),
        ((D("2000-02-10"),), 29),
        ((D("2024-04-30"),), 30),
        ((D("2024-12-01"),), 31),
    ],
    "month_day": [
        ((D("2024-02-29"),), MonthDay(2, 29)),
        ((D("2025-09-30"),), MonthDay(9, 30)),
    ],
    "date": [
        ((2027, MonthDay(2, 29)), D("2027-02-28")),
        ((2028, MonthDay(2, 29)), D("2028-02-29")),
        ((2100, MonthDay(2, 29)), D("2100-02-28")),
        ((2026, MonthDay(9, 30)), D("2026-09-30")),
        ((1, MonthDay(1, 1)), D("0001-01-01")),
        ((9999, MonthDay(12, 31)), D("9999-12-31")),
    ],
    "days_between": [
        ((D("2024-01-01"), D("2024-12-31")), 365),
        ((D("2023-01-01"), D("2023-12-31")), 364),
        ((D("2024-03-01"), D("2024-02-28")), -2),
        ((D("2024-02-29"), D("2024-02-29")), 0),
    ],
    "round_cents": [
        ((M("0.005"),), M("0.01")),
        ((M("0.004999"),), M("0.00")),
        ((M("1.485"),), M("1.49")),
        ((M("1.484"),), M("1.48")),
        ((M("-1.485"),), M("-1.49")),
        ((M("2.675"),), M("2.68")),
        ((3,), M("3.00")),
        ((M("1234.5"),), M("1234.50")),
    ],
    "format": [
        (("a {} b {}", 1, "x"), "a 1 b x"),
        (("no placeholders",), "no placeholders"),
        (("{} and {}", 1), "1 and {}"),
        (("{}", None), "null"),
        (("{} {}", True, False), "true false"),
        (("{} | {} | {}", M("1E+3"), D("2024-01-02"), Duration(months=24)),
         "1000 | 2024-01-02 | 2 years"),
        (("{} on {}", MonthDay(10, 15), M("-0.0")), "15 Oct on 0"),
        (("{{}}", 1), "{1}"),
    ],
    "text": [
        ((D("2024-02-29"),), "2024-02-29"),
        ((M("1.50"),), "1.50"),
        ((None,), "null"),
        ((True,), "true"),
        ((Duration(days=120),), "120 days"),
        ((MonthDay(10, 15),), "15 Oct"),
        (("as is",), "as is"),
    ],
}

_FLAT = [(name, args, want) for name, cases in SCALAR_CASES.items() for args, want in cases]


@pytest.mark.parametrize(("name", "args", "want"), _FLAT,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(_FLAT)])
def test_scalar(name: str, args: tuple[Any, ...], want: Any) -> None:
    got = call(name, *args)
    assert got == want
    assert type(got) is type(want)


def test_extremes_ignore_nulls_wherever_they_are() -> None:
    dates = (D("2021-01-01"), D("2019-05-05"), D("2020-02-29"))
    for i in range(len(dates) + 1):
        with_null = (*dates[:i], None, *dates[i:])
        assert call("latest", with_null) == D("2021-01-01")
        assert call("earliest", with_null) == D("2019-05-05")
        assert call("max", *with_null) == D("2021-01-01")
        assert call("min", *with_null) == D("2019-05-05")


def test_date_refuses_years_out_of_range() -> None:
    for year in (0, 10000, -1):
        with pytest.raises(EvaluationError, match=f"year {year} is out of range"):
            call("date", year, MonthDay(1, 1))


def test_fail_raises_an_evaluation_error() -> None:
    with pytest.raises(EvaluationError) as info:
        call("fail", "the member has no accounts")
    assert info.value.message == "the member has no accounts"
    assert info.value.definition is None


class _Run:
    def __init__(self, rates: dict[tuple[str, dt.date], Decimal]) -> None:
        self.fx_rates = rates


def test_fx_rate_on_or_before_is_the_latest_rate_up_to_that_day_with_its_date() -> None:
    b = BUILTINS["fx_rate_on_or_before"]
    assert b.needs_run
    run = _Run({("USD", D("2026-09-30")): M("1.3850"), ("USD", D("2024-02-29")): M("1.35"),
                ("EUR", D("2026-10-01")): M("1.47")})

    def rate(currency: str, day: str) -> tuple[str, str] | None:
        got = b.scalar(run, currency, D(day))
        return None if got is None else (str(got["rate"]), got["date"].isoformat())

    assert rate("USD", "2026-09-30") == ("1.3850", "2026-09-30")  # that very day
    assert rate("USD", "2026-10-01") == ("1.3850", "2026-09-30")  # none that day, one before
    assert rate("USD", "2026-09-29") == ("1.3500", "2024-02-29")  # an earlier one, written
    assert rate("USD", "2024-02-29") == ("1.3500", "2024-02-29")  # as precisely as the table
    assert rate("USD", "2024-02-28") is None                      # none before
    assert rate("EUR", "2026-09-30") is None                      # another currency's only
    assert rate("CAD", "2026-09-30") is None                      # CAD is no exception
    assert rate("GBP", "2026-09-30") is None
    assert b.scalar(_Run({}), "USD", D("2026-09-30")) is None


def test_fx_rate_is_the_rate_of_that_exact_day() -> None:
    b = BUILTINS["fx_rate"]
    assert b.needs_run
    run = _Run({("USD", D("2026-09-30")): M("1.3850")})
    assert b.scalar(run, "USD", D("2026-09-30")) == M("1.3850")
    assert b.scalar(run, "USD", D("2026-09-29")) is None
    assert b.scalar(run, "USD", D("2026-10-01")) is None
    assert b.scalar(run, "EUR", D("2026-09-30")) is None
    assert b.scalar(_Run({}), "USD", D("2026-09-30")) is None


def test_count_placeholders() -> None:
    assert count_placeholders("") == 0
    assert count_placeholders("{} {}{}") == 3
    assert count_placeholders("{ }") == 0


# --------------------------------------------------------------------------- window_for


@pytest.fixture(scope="module")
def fsra_windows() -> tuple[dict[str, Any], ...]:
    windows: tuple[dict[str, Any], ...] = load_policy(
        BASELINE).document.parameters["payment_windows"].value
    return windows


def window(table: Any, unclaimed_on: str, not_before: str) -> tuple[dt.date, dt.date, bool, Any]:
    w = call("window_for", D(unclaimed_on), table, D(not_before))
    return w["opens"], w["closes"], w["deferred"], w["row"]["provision"]


NO_TRANSITION = "2000-01-01"


@pytest.mark.parametrize(("unclaimed_on", "opens", "closes", "provision"), [
    ("2026-01-01", "2026-10-15", "2026-12-15", "2(5)(i)"),
    ("2026-09-30", "2026-10-15", "2026-12-15", "2(5)(i)"),
    ("2026-10-01", "2027-10-15", "2027-12-15", "2(5)(ii)"),
    ("2026-12-31", "2027-10-15", "2027-12-15", "2(5)(ii)"),
    ("2028-02-29", "2028-10-15", "2028-12-15", "2(5)(i)"),
])
def test_window_for_fsra_table(fsra_windows: Any, unclaimed_on: str, opens: str, closes: str,
                               provision: str) -> None:
    assert window(fsra_windows, unclaimed_on, NO_TRANSITION) == (
        D(opens), D(closes), False, provision)


def test_window_for_30_sep_and_1_oct_fall_in_different_years(fsra_windows: Any) -> None:
    sep30 = window(fsra_windows, "2026-09-30", NO_TRANSITION)
    oct01 = window(fsra_windows, "2026-10-01", NO_TRANSITION)
    assert (sep30[0].year, oct01[0].year) == (2026, 2027)


def test_window_for_defers_past_the_transition(fsra_windows: Any) -> None:
    # coming into force 2025-01-01 + 12 months: nothing payable before 2026-01-01
    end = "2026-01-01"
    assert window(fsra_windows, "2025-03-01", end) == (
        D("2026-10-15"), D("2026-12-15"), True, "2(5)(i)")
    assert window(fsra_windows, "2024-11-01", end) == (
        D("2026-10-15"), D("2026-12-15"), True, "2(5)(ii)")
    assert window(fsra_windows, "2015-03-01", end) == (
        D("2026-10-15"), D("2026-12-15"), True, "2(5)(i)")
    # a window that closes after the transition is kept
    assert window(fsra_windows, "2025-10-01", end) == (
        D("2026-10-15"), D("2026-12-15"), False, "2(5)(ii)")


def test_window_for_transition_edge_is_inclusive(fsra_windows: Any) -> None:
    # the base window closes 2024-12-15: kept when that is the first payable day ...
    assert window(fsra_windows, "2024-09-30", "2024-12-15") == (
        D("2024-10-15"), D("2024-12-15"), False, "2(5)(i)")
    # ... and moved to the next year's window one day later
    assert window(fsra_windows, "2024-09-30", "2024-12-16") == (
        D("2025-10-15"), D("2025-12-15"), True, "2(5)(i)")


def _row(lo: MonthDay, hi: MonthDay, opens: MonthDay, closes: MonthDay,
         offset: int) -> dict[str, Any]:
    return {"unclaimed_from": lo, "unclaimed_to": hi, "opens": opens, "closes": closes,
            "year_offset": offset, "provision": f"{lo}-{hi}"}


def test_window_for_rows_that_wrap_the_year_and_windows_over_new_year() -> None:
    table = (
        _row(MonthDay(4, 1), MonthDay(9, 30), MonthDay(12, 1), MonthDay(1, 31), 0),
        _row(MonthDay(10, 1), MonthDay(3, 31), MonthDay(6, 1), MonthDay(6, 30), 1),
    )
    # the window opening 1 Dec closes 31 Jan of the next year
    assert window(table, "2026-04-01", NO_TRANSITION)[:2] == (D("2026-12-01"), D("2027-01-31"))
    # 1 Oct .. 31 Mar wraps over the new year: both ends fall in the same row
    assert window(table, "2026-10-01", NO_TRANSITION)[:2] == (D("2027-06-01"), D("2027-06-30"))
    assert window(table, "2027-03-31", NO_TRANSITION)[:2] == (D("2028-06-01"), D("2028-06-30"))


def test_window_for_reports_a_gap_in_the_table() -> None:
    table = (_row(MonthDay(1, 1), MonthDay(9, 29), MonthDay(10, 15), MonthDay(12, 15), 0),
             _row(MonthDay(10, 1), MonthDay(12, 31), MonthDay(10, 15), MonthDay(12, 15), 1))
    with pytest.raises(EvaluationError, match="no payment window covers 30 Sep"):
        call("window_for", D("2026-09-30"), table, D(NO_TRANSITION))


def test_window_for_memo_answers_as_a_first_call_does(fsra_windows: Any) -> None:
    """The windows are memoised per table: every day of two years, before and after the
    transition, gives what a first call on a fresh copy of the table gives, and a
    caller changing the returned window changes no later answer."""
    wrap = (
        _row(MonthDay(4, 1), MonthDay(9, 30), MonthDay(12, 1), MonthDay(1, 31), 0),
        _row(MonthDay(10, 1), MonthDay(3, 31), MonthDay(6, 1), MonthDay(6, 30), 1),
    )
    for table in (fsra_windows, wrap):
        day = D("2023-01-01")
        while day < D("2025-01-01"):
            for not_before in (NO_TRANSITION, "2024-12-16", "2026-01-01"):
                got = call("window_for", day, table, D(not_before))
                fresh = call("window_for", day, tuple(dict(r) for r in table), D(not_before))
                assert (got["opens"], got["closes"], got["deferred"],
                        got["row"]["provision"]) == (fresh["opens"], fresh["closes"],
                                                     fresh["deferred"],
                                                     fresh["row"]["provision"]), (day,
                                                                                  not_before)
                got["opens"] = None
            day += dt.timedelta(days=1)
    again = call("window_for", D("2024-05-01"), fsra_windows, D(NO_TRANSITION))
    assert again["opens"] == D("2024-10-15")


def test_window_for_tables_alike_but_for_one_offset_answer_apart() -> None:
    """A table made after another one is dropped (which may get its identity) is not
    answered from the other's memo."""
    for offset in (0, 1, 2):
        table = (_row(MonthDay(1, 1), MonthDay(12, 31), MonthDay(10, 15), MonthDay(12, 15),
                      offset),)
        assert window(table, "2026-03-01", NO_TRANSITION)[0] == D(f"{2026 + offset}-10-15")
        del table


# --------------------------------------------------------------------------- signatures

LIST_DATE_OPT = T.ListT(T.OptionalT(T.DATE))
WINDOW_ROW = T.RecordT(tuple(WINDOW_COLUMNS.items()))

SIGNATURES: list[tuple[str, list[T.Type], T.Type]] = [
    ("latest", [LIST_DATE_OPT], T.OptionalT(T.DATE)),
    ("latest", [T.ListT(T.DATE)], T.OptionalT(T.DATE)),
    ("latest", [T.ListT(T.NEVER)], T.NULL),
    ("earliest", [LIST_DATE_OPT], T.OptionalT(T.DATE)),
    ("largest", [T.ListT(T.MONEY)], T.OptionalT(T.MONEY)),
    ("smallest", [T.ListT(T.TEXT)], T.OptionalT(T.TEXT)),
    ("max", [T.DATE, T.OptionalT(T.DATE)], T.DATE),
    ("max", [T.OptionalT(T.DATE), T.OptionalT(T.DATE)], T.OptionalT(T.DATE)),
    ("max", [T.INT, T.NUMBER], T.NUMBER),
    ("min", [T.MONEY], T.MONEY),
    ("count", [T.ListT(T.OptionalT(T.TEXT))], T.INT),
    ("sum", [T.ListT(T.MONEY)], T.MONEY),
    ("sum", [T.ListT(T.NEVER)], T.INT),
    ("any", [T.ListT(T.BOOL)], T.BOOL),
    ("all", [T.ListT(T.NEVER)], T.BOOL),
    ("first", [T.ListT(T.TEXT)], T.OptionalT(T.TEXT)),
    ("last", [T.ListT(T.OptionalT(T.TEXT))], T.OptionalT(T.TEXT)),
    ("compact", [LIST_DATE_OPT], T.ListT(T.DATE)),
    ("compact", [T.ListT(T.NULL)], T.ListT(T.NEVER)),
    ("year", [T.DATE], T.INT),
    ("month", [T.DATE], T.INT),
    ("day", [T.DATE], T.INT),
    ("days_in_month", [T.DATE], T.INT),
    ("month_day", [T.DATE], T.MONTH_DAY),
    ("date", [T.INT, T.MONTH_DAY], T.DATE),
    ("days_between", [T.DATE, T.DATE], T.INT),
    ("round_cents", [T.MONEY], T.MONEY),
    ("round_cents", [T.NUMBER], T.NUMBER),
    ("round_cents", [T.INT], T.NUMBER),
    ("fx_rate", [T.TEXT, T.DATE], T.OptionalT(T.NUMBER)),
    ("format", [T.TEXT, T.DATE, T.MONEY], T.TEXT),
    ("format", [T.TEXT], T.TEXT),
    ("text", [T.DATE], T.TEXT),
    ("fail", [T.TEXT], T.NEVER),
    ("window_for", [T.DATE, T.ListT(WINDOW_ROW), T.DATE],
     T.RecordT((("opens", T.DATE), ("closes", T.DATE), ("row", WINDOW_ROW),
                ("deferred", T.BOOL)))),
]


@pytest.mark.parametrize(("name", "args", "result"), SIGNATURES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(SIGNATURES)])
def test_signature_accepts(name: str, args: list[T.Type], result: T.Type) -> None:
    assert BUILTINS[name].check(args) == result


REFUSED: list[tuple[str, list[T.Type], str, int | None]] = [
    ("latest", [T.ListT(T.TEXT)], "`latest` needs a list of Date, not `List[Text]`", 0),
    ("latest", [T.DATE], "`latest` takes a list, not `Date`", 0),
    ("latest", [], "`latest` takes 1 argument, got 0", None),
    ("max", [], "`max` needs at least one argument", None),
    ("max", [T.DATE, T.TEXT], "argument 2 of `max` is `Text`, which cannot be compared with "
                              "the others (`Date`)", 1),
    ("max", [T.BOOL], "argument 1 of `max` is `Bool`, which cannot be compared with the "
                      "others (`Never`)", 0),
    ("sum", [T.ListT(T.OptionalT(T.MONEY))], "`sum` over values that may be null", 0),
    ("sum", [T.ListT(T.DATE)], "`sum` needs a list of numbers or money, not `List[Date]`", 0),
    ("any", [T.ListT(T.INT)], "`any` needs a list of Bool, not `List[Int]`", 0),
    ("year", [T.OptionalT(T.DATE)], "argument 1 of `year` may be null", 0),
    ("year", [T.TEXT], "argument 1 of `year` must be `Date`, not `Text`", 0),
    ("year", [T.DATE, T.DATE], "`year` takes 1 argument, got 2", None),
    ("date", [T.INT, T.DATE], "argument 2 of `date` must be `MonthDay`, not `Date`", 1),
    ("days_between", [T.DATE], "`days_between` takes 2 arguments, got 1", None),
    ("round_cents", [T.TEXT], "argument 1 of `round_cents` must be `Money`, not `Text`", 0),
    ("round_cents", [T.OptionalT(T.MONEY)], "argument 1 of `round_cents` may be null", 0),
    ("fx_rate", [T.TEXT, T.OptionalT(T.DATE)], "argument 2 of `fx_rate` may be null", 1),
    ("format", [], "`format` needs a template text", None),
    ("format", [T.INT], "argument 1 of `format` must be `Text`, not `Int`", 0),
    ("text", [], "`text` takes 1 argument, got 0", None),
    ("fail", [T.INT], "argument 1 of `fail` must be `Text`, not `Int`", 0),
    ("window_for", [T.DATE, T.ListT(T.DATE), T.DATE], "`window_for` needs a table of windows",
     1),
    ("window_for", [T.DATE, T.ListT(T.RecordT((("opens", T.MONTH_DAY),))), T.DATE],
     "the windows table needs a column `unclaimed_from` of type `MonthDay`", 1),
    ("window_for", [T.OptionalT(T.DATE), T.ListT(WINDOW_ROW), T.DATE],
     "argument 1 of `window_for` may be null", 0),
]


@pytest.mark.parametrize(("name", "args", "message", "arg"), REFUSED,
                         ids=[f"{n}-{i}" for i, (n, *_) in enumerate(REFUSED)])
def test_signature_refuses(name: str, args: list[T.Type], message: str,
                           arg: int | None) -> None:
    with pytest.raises(SignatureError) as info:
        BUILTINS[name].check(args)
    assert info.value.message == message
    assert info.value.arg == arg


# --------------------------------------------------------------------------- tiny policies

TINY = """\
policy: builtins-tour
version: 1.0.0
status: proposed
title: builtins through the interpreter
definitions:
  rate:
    entity: account
    provision: "2(15)"
    formula: fx_rate(currency, date(year(as_of), 30 Sep))
  checked_balance:
    entity: account
    provision: "2(14)"
    formula: 'if balance > 100 then fail(format("balance {} of {} is too large", balance, account_id)) else balance'
  fees:
    entity: account
    provision: "2(16)"
    formula: sum(e.amount ?? 0.00 for e in events if e.type == "fee")
  last_fee:
    entity: account
    provision: "2(16)"
    formula: latest(e.date for e in events if e.type == "fee")
  window_year:
    entity: account
    provision: "2(5)"
    formula: year(max(opened, last_fee ?? opened) + 1 year)
outputs:
  account: [rate, checked_balance, fees, last_fee, window_year]
"""

TINY_FACTS = {
    "fx_rates": [{"currency": "USD", "date": "2026-09-30", "rate": "1.3850"}],
    "members": [{
        "member_id": "M1",
        "accounts": [
            {"account_id": "A-USD", "currency": "USD", "balance": "10.00",
             "opened": "2016-02-29"},
            {"account_id": "A-EUR", "currency": "EUR", "balance": "20.00",
             "opened": "2016-02-29"},
            {"account_id": "A-BIG", "currency": "CAD", "balance": "100.01",
             "opened": "2016-02-29"},
        ],
        "events": [
            {"date": "2024-02-29", "type": "fee", "account_id": "A-USD", "amount": "2.50"},
            {"date": "2025-01-15", "type": "fee", "account_id": "A-USD", "amount": "1.25"},
        ],
    }],
}


def _tiny(tmp_path: Path) -> Any:
    path = tmp_path / "policies" / "tour.yaml"
    path.parent.mkdir()
    path.write_text(TINY, encoding="utf-8")
    policy = load_policy(path)
    assert policy.warnings == []
    return policy.evaluate(facts_from_json(TINY_FACTS), as_of="2026-09-30")


def test_builtins_through_a_tiny_policy(tmp_path: Path) -> None:
    result = _tiny(tmp_path)
    by_id = {d.account_id: d for d in result.accounts}
    assert set(by_id) == {"A-USD", "A-EUR"}
    usd, eur = by_id["A-USD"], by_id["A-EUR"]
    assert usd["rate"] == M("1.3850")
    assert eur["rate"] is None  # no EUR rate recorded for that day
    assert usd["fees"] == M("3.75")
    assert usd["last_fee"] == D("2025-01-15")
    assert eur["last_fee"] is None
    assert usd["window_year"] == 2026
    assert eur["window_year"] == 2017  # 2016-02-29 + 1 year = 2017-02-28
    # fail(...) does not stop the run: the account goes to errors with its definition
    (error,) = result.errors
    assert error.account_id == "A-BIG"
    assert error.message == ("balance 100.01 of A-BIG is too large "
                             "(in `checked_balance`, 2(14))")


def test_sum_of_no_money_is_money(tmp_path: Path) -> None:
    result = _tiny(tmp_path)
    eur = next(d for d in result.accounts if d.account_id == "A-EUR")
    assert isinstance(eur["fees"], Decimal)
    assert eur.to_json()["fees"] == "0.00"


# --------------------------------------------------------------------------- values (D1, D3)

ADD_DURATION = [
    ("2016-02-29", Duration(months=12), "2017-02-28"),
    ("2016-02-29", Duration(months=48), "2020-02-29"),
    ("2016-02-29", Duration(months=120), "2026-02-28"),
    ("2016-02-29", Duration(months=24), "2018-02-28"),
    ("2024-01-31", Duration(months=1), "2024-02-29"),
    ("2023-01-31", Duration(months=1), "2023-02-28"),
    ("2024-01-31", Duration(months=3), "2024-04-30"),
    ("2024-01-31", Duration(days=120), "2024-05-30"),
    ("2023-01-31", Duration(days=120), "2023-05-31"),
    ("2024-02-29", Duration(days=365), "2025-02-28"),
    ("2024-12-31", Duration(days=1), "2025-01-01"),
    ("2024-01-01", Duration(days=21), "2024-01-22"),
    # months first, then days
    ("2016-02-29", Duration(months=12, days=1), "2017-03-01"),
    ("2024-01-31", Duration(months=1, days=1), "2024-03-01"),
    # backwards
    ("2024-03-31", Duration(months=-1), "2024-02-29"),
    ("2017-02-28", Duration(months=-12), "2016-02-28"),
    ("2024-03-01", Duration(days=-1), "2024-02-29"),
    ("2024-05-05", Duration(), "2024-05-05"),
]


@pytest.mark.parametrize(("start", "dur", "end"), ADD_DURATION,
                         ids=[f"{s}+{d}" for s, d, _ in ADD_DURATION])
def test_add_duration(start: str, dur: Duration, end: str) -> None:
    assert add_duration(D(start), dur) == D(end)


def test_add_months_out_of_range() -> None:
    with pytest.raises(OverflowError):
        add_months(D("9999-12-01"), 1)
    with pytest.raises(OverflowError):
        add_months(D("0001-01-01"), -1)
    with pytest.raises(OverflowError):  # whole years take a shorter path
        add_months(D("9999-01-01"), 12)
    with pytest.raises(OverflowError):
        add_months(D("0001-12-31"), -12)


def test_add_months_by_whole_years_keeps_month_and_day_or_clamps() -> None:
    """Every day of a leap cycle (and more), moved by whole years either way: the same
    month and day, 29 Feb clamped to 28 Feb in a year without it (D1)."""
    day = D("2015-01-01")
    while day <= D("2021-01-01"):
        for months in (-24, -12, 12, 36, 48, 120):
            year = day.year + months // 12
            leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)  # 2100 is not
            last = 29 if leap else 28
            expected = dt.date(year, day.month, min(day.day, last) if day.month == 2
                               else day.day)
            assert add_months(day, months) == expected, (day, months)
        day += dt.timedelta(days=1)


def test_round_cents_half_up() -> None:
    assert round_cents(M("0.005")) == M("0.01")
    assert round_cents(M("1.485")) == M("1.49")
    assert round_cents(M("1.4849")) == M("1.48")
    assert round_cents(M("-0.005")) == M("-0.01")
    assert str(round_cents(M("7"))) == "7.00"


@pytest.mark.parametrize(("value", "text"), [
    (Duration(months=24), "2 years"), (Duration(months=12), "1 year"),
    (Duration(months=13), "13 months"), (Duration(days=21), "3 weeks"),
    (Duration(days=1), "1 day"), (Duration(), "0 days"),
    (Duration(months=12, days=14), "1 year + 14 days"),
])
def test_duration_text(value: Duration, text: str) -> None:
    assert str(value) == text
    assert display(value) == text


def test_month_day_in_year_clamps_29_feb() -> None:
    assert MonthDay(2, 29).in_year(2025) == D("2025-02-28")
    assert MonthDay(2, 29).in_year(2024) == D("2024-02-29")
    with pytest.raises(ValueError, match="Feb has no day 30"):
        MonthDay(2, 30)
    with pytest.raises(ValueError, match="month 13 out of range"):
        MonthDay(13, 1)



def test_accrued_interest_refuses_an_unknown_method() -> None:
    with pytest.raises(EvaluationError, match="unknown interest method `daily`"):
        call("accrued_interest", M("1.00"), M("0.05"), D("2020-01-01"), D("2021-01-01"),
             "daily", Duration(months=12))


@pytest.mark.parametrize(("name", "args", "refused"), [
    ("text", [T.EntityT("member")], 0),
    ("text", [T.ListT(T.EntityT("account"))], 0),
    ("text", [T.OptionalT(T.EntityT("account"))], 0),
    ("format", [T.TEXT, T.DATE, T.EntityT("event")], 2),
    ("format", [T.TEXT, T.RecordT((("a", T.EntityT("claim")),))], 1),
    ("text", [T.RecordT((("a", T.TEXT),))], None),
    ("format", [T.TEXT, T.DATE, T.ListT(T.MONEY)], None),
])
def test_entities_cannot_be_turned_into_text(name: str, args: list[T.Type],
                                             refused: int | None) -> None:
    """A member, account, event or claim has no text form: refused when checked, rather
    than failing when a record is evaluated."""
    if refused is None:
        assert BUILTINS[name].check(args) == T.TEXT
        return
    with pytest.raises(SignatureError, match="cannot be turned into text") as info:
        BUILTINS[name].check(args)
    assert info.value.arg == refused
