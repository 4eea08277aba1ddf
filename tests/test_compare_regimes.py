"""`unclaimed compare` across jurisdictions (issue 12 item 6): FSRA's rule beside the
other regimes over one generated portfolio. The yearly table and the report say, per
regime and year of transfer, how long the holder stays liable, read from each regime's own
`liability_ends` determinations (FSRA, which has none, from its holding periods, R2), and
the report lists each regime's interpretations (its assumptions)."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from evaluator import load_policy
from evaluator.cli import main
from evaluator.generate import generate
from evaluator.report import ReportDataError, validate_report
from tests.support import ROOT
from tests.test_report import _parse, sample_data

AS_OF = "2026-11-21"
REGIMES = ("fsra-2024-001", "quebec", "british-columbia")


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("regimes-cmp") / "p.csv"
    generate(out, 600, seed=21)
    return out, out.with_name("p.fx.csv")


@pytest.fixture(scope="module")
def compared(portfolio: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    facts, fx = portfolio
    out = tmp_path_factory.mktemp("regimes-cmp-out")
    argv = ["compare"]
    for name in REGIMES:
        argv += ["--policy", name]
    code, _, err = _run(*argv, "--facts", str(facts), "--fx", str(fx), "--as-of", AS_OF,
                        "--horizon", "2040", "--out", str(out))
    assert code == 0, err
    return out


def _determinations(name: str, portfolio: tuple[Path, Path]) -> list[dict[str, Any]]:
    facts, fx = portfolio
    code, text, err = _run("evaluate", "--policy", name, "--facts", str(facts),
                           "--fx", str(fx), "--as-of", AS_OF, "--backend", "scalar",
                           "--format", "json")
    assert code in (0, 1), err
    accounts: list[dict[str, Any]] = json.loads(text)["accounts"]
    return accounts


def _expected(accounts: list[dict[str, Any]], end_of: Any) -> dict[int, dict[str, Any]]:
    """Per year of transfer (the as-of year for a window already closed), the first,
    median (lower) and last year the liability ends, and how many never end."""
    as_of = dt.date.fromisoformat(AS_OF)
    by_year: dict[int, list[int | None]] = {}
    for a in accounts:
        if a["status"] == "transferred" or not a.get("in_scope", True):
            continue
        window = a["payment_window"]
        closes = dt.date.fromisoformat(window["closes"])
        year = as_of.year if closes < as_of else dt.date.fromisoformat(window["opens"]).year
        if a["amount_cad"] is None:
            continue
        by_year.setdefault(year, []).append(end_of(a, max(closes, as_of)))
    out = {}
    for year, ends in by_year.items():
        known = sorted(e for e in ends if e is not None)
        out[year] = {"first": known[0] if known else None, "last": known[-1] if known else None,
                     "median": known[(len(known) - 1) // 2] if known else None,
                     "no_limit": sum(e is None for e in ends)}
    return out


def _yearly(folder: Path, name: str) -> dict[int, dict[str, Any]]:
    frame = pl.read_csv(folder / "yearly.csv", infer_schema_length=None)
    rows = frame.filter(pl.col("policy").str.starts_with(name + "@") & (pl.col("transfers") > 0))
    return {r["year"]: r for r in rows.iter_rows(named=True)}


def _year(iso: str | None) -> int | None:
    return None if iso is None else dt.date.fromisoformat(iso).year


@pytest.mark.parametrize("name", ["quebec", "british-columbia"])
def test_liability_per_year_is_read_from_the_regimes_determinations(
        name: str, compared: Path, portfolio: tuple[Path, Path]) -> None:
    """Each year's liability range, median and "no limit" count equal those of the
    regime's own `liability_ends` over the deposits it transfers that year."""
    expected = _expected(_determinations(name, portfolio),
                         lambda a, _paid: _year(a["liability_ends"]))
    got = _yearly(compared, name)
    assert got, f"{name}: no transfers"
    for year, row in got.items():
        e = expected[year]
        assert row["liability_basis"] == "liability_ends"
        assert (row["liability_ends_first"], row["liability_ends_median"],
                row["liability_ends_last"]) == (e["first"], e["median"], e["last"]), year
        assert row["liability_no_limit"] == e["no_limit"], year
    if name == "british-columbia":  # no limitation period: the liability never ends
        assert {r["liability_ends"] for r in got.values()} == {"no limit"}
    else:  # under $500 barred ten years after delivery, any other sum never
        assert any(r["liability_no_limit"] for r in got.values())
        assert any(r["liability_ends_first"] is not None for r in got.values())


def test_fsra_liability_is_derived_from_its_holding_periods(
        compared: Path, portfolio: tuple[Path, Path]) -> None:
    """FSRA's rule has no `liability_ends`: its figure is the Authority's holding period
    (R2: 40 years under its `small_balance_limit`, 100 otherwise) from the payment."""
    params = load_policy(ROOT / "policies" / "fsra-2024-001").document.parameters
    limit = Decimal(str(params["small_balance_limit"].value))

    def end_of(a: dict[str, Any], paid: dt.date) -> int:
        return paid.year + (40 if Decimal(a["amount_cad"]) < limit else 100)

    expected = _expected(_determinations("fsra-2024-001", portfolio), end_of)
    got = _yearly(compared, "fsra-2024-001")
    assert got
    for year, row in got.items():
        assert row["liability_basis"].startswith("derived")
        e = expected[year]
        assert (row["liability_ends_first"], row["liability_ends_median"],
                row["liability_ends_last"], row["liability_no_limit"]) == (
            e["first"], e["median"], e["last"], 0), year


def test_report_lists_each_regimes_assumptions_and_the_liability_table(
        compared: Path) -> None:
    """The HTML is well formed, has a liability section whose rows are the yearly
    table's, and lists every interpretation of every regime compared."""
    doc = _parse((compared / "report.html").read_text(encoding="utf-8"))
    ids = [a.get("id") for t, a in doc.tags if t == "section"]
    assert ids.index("summary") < ids.index("liability") < ids.index("findings")
    text = " ".join(" ".join(doc.text).split())
    for name in REGIMES:
        interpretations = load_policy(ROOT / "policies" / name).document.interpretations
        assert interpretations
        for label, reading in interpretations.items():
            assert " ".join(str(reading).split()) in text, f"{name}: {label}"
    yearly = pl.read_csv(compared / "yearly.csv", infer_schema_length=None)
    for r in yearly.filter(pl.col("transfers") > 0).iter_rows(named=True):
        assert r["liability_ends"] in text
    summary = (compared / "summary.md").read_text(encoding="utf-8")
    assert "liability ends" in summary and "no limit" in summary


def test_report_data_refuses_a_liability_row_of_the_wrong_width() -> None:
    data = sample_data()
    data["liability"] = [["a@1", "2027", "3", "10.00", "no limit"]]
    validate_report(data)
    data["liability"] = [["a@1", "2027", "3"]]
    with pytest.raises(ReportDataError, match="liability"):
        validate_report(data)
