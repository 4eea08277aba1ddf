"""`unclaimed compare`: several policies over one portfolio."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest

from evaluator.cli import main
from evaluator.generate import generate
from tests.support import ROOT

ALT = ROOT / "policies" / "alternatives"
INTERP = ROOT / "policies" / "interpretations"


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("cmp") / "p.csv"
    generate(out, 1200, seed=4)
    return out, out.with_name("p.fx.csv")


@pytest.fixture(scope="module")
def compared(portfolio: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    facts, fx = portfolio
    out = tmp_path_factory.mktemp("cmp-out")
    code, text, err = run("compare", "--policy", "fsra-2024-001",
                          "--policy", str(ALT / "semi-annual-windows.yaml"),
                          "--policy", str(ALT / "interest.yaml"),
                          "--policy", str(INTERP / "a4-profile-unclaimed.yaml"),
                          "--facts", str(facts), "--fx", str(fx), "--as-of", "2026-11-21",
                          "--horizon", "2041", "--out", str(out))
    assert code == 0, err
    assert "accounts.csv" in text and "yearly.csv" in text
    return out


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


def accounts(folder: Path, policy: str) -> pl.DataFrame:
    frame = pl.read_csv(folder / "accounts.csv", infer_schema=False)
    return frame.filter(pl.col("policy").str.starts_with(policy + "@"))


def test_semi_annual_moves_some_payments_earlier_and_none_later(compared: Path) -> None:
    base = accounts(compared, "fsra-2024-001")
    semi = accounts(compared, "fsra-2024-001-semi-annual")
    assert base.get_column("account_id").to_list() == semi.get_column("account_id").to_list()
    b = base.get_column("window_opens").str.to_date()
    s = semi.get_column("window_opens").str.to_date()
    assert (s <= b).all()
    assert (s < b).sum() > 0
    moved = semi.filter(pl.col("differs").str.contains("window_opens"))
    assert moved.height == int((s < b).sum())
    traced = moved.filter(~pl.col("first_divergence").str.starts_with("not traced"))
    assert 0 < traced.height <= 200  # the default --trace-limit
    assert traced.get_column("first_divergence").str.starts_with(
        "window (parameter payment_windows differs)").all()
    assert (moved.get_column("first_divergence") != "").all()


def test_interest_changes_no_account_and_only_claim_money(compared: Path) -> None:
    interest = accounts(compared, "fsra-2024-001-interest")
    assert (interest.get_column("differs").fill_null("") == "").all()
    yearly = pl.read_csv(compared / "yearly.csv", infer_schema=False)
    paid = yearly.filter(pl.col("policy").str.starts_with("fsra-2024-001-interest@"))
    base = yearly.filter(pl.col("policy").str.starts_with("fsra-2024-001@"))
    assert (base.get_column("interest_payable_cad") == "0.00").all()
    assert (paid.get_column("interest_payable_cad") != "0.00").any()
    same = [c for c in yearly.columns if c not in ("policy", "interest_payable_cad",
                                                   "program_balance_cad", "assessment_effect")]
    assert paid.select(same).equals(base.select(same))


def test_yearly_covers_every_year_for_every_policy(compared: Path) -> None:
    yearly = pl.read_csv(compared / "yearly.csv", infer_schema=False)
    for policy in yearly.get_column("policy").unique().to_list():
        years = yearly.filter(pl.col("policy") == policy).get_column("year").to_list()
        assert years == [str(y) for y in range(2026, 2042)]
    assert set(yearly.get_column("policy").unique()) == {
        "fsra-2024-001@1.1.0", "fsra-2024-001-semi-annual@1.0.0",
        "fsra-2024-001-interest@1.0.0", "fsra-2024-001-a4-profile-unclaimed@1.0.0"}
    semi = yearly.filter(pl.col("policy").str.starts_with("fsra-2024-001-semi-annual@"))
    base = yearly.filter(pl.col("policy").str.starts_with("fsra-2024-001@"))
    assert semi.get_column("remittance_batches").cast(int).sum() > \
        base.get_column("remittance_batches").cast(int).sum()


def test_outputs_and_assumptions(compared: Path, portfolio: tuple[Path, Path],
                                 tmp_path: Path) -> None:
    for name in ("accounts.csv", "yearly.csv", "summary.md", "assumptions.yaml"):
        assert (compared / name).stat().st_size > 0
    summary = (compared / "summary.md").read_text(encoding="utf-8")
    assert "fsra-2024-001-semi-annual@1.0.0" in summary
    facts, fx = portfolio
    edited = tmp_path / "assumptions.yaml"
    edited.write_text((compared / "assumptions.yaml").read_text(encoding="utf-8")
                      .replace("monthly_fee: '2.00'", "monthly_fee: '5.00'"), encoding="utf-8")
    code, _, err = run("compare", "--policy", "fsra-2024-001", "--facts", str(facts), "--fx",
                       str(fx), "--as-of", "2026-11-21", "--horizon", "2030",
                       "--assumptions", str(edited), "--out", str(tmp_path / "o"))
    assert code == 0, err
    y2 = pl.read_csv(tmp_path / "o" / "yearly.csv", infer_schema=False)
    y1 = pl.read_csv(compared / "yearly.csv", infer_schema=False).filter(
        pl.col("policy").str.starts_with("fsra-2024-001@") & (pl.col("year").cast(int) <= 2030))
    f1 = y1.get_column("fees_prevented_cad").cast(float).sum()
    f2 = y2.get_column("fees_prevented_cad").cast(float).sum()
    assert f1 > 0 and abs(f2 - f1 * 2.5) < 0.01 * f2
    bad = tmp_path / "bad.yaml"
    bad.write_text("monthly_fees: 3\n", encoding="utf-8")
    code, _, err = run("compare", "--policy", "fsra-2024-001", "--facts", str(facts),
                       "--as-of", "2026-11-21", "--assumptions", str(bad), "--out",
                       str(tmp_path / "o2"))
    assert code == 2 and "unknown assumption(s) monthly_fees" in err


def test_best_efforts_notices_cost_more_and_change_nothing_else(
        portfolio: tuple[Path, Path], tmp_path: Path) -> None:
    facts, fx = portfolio
    code, _, err = run("compare", "--policy", "fsra-2024-001",
                       "--policy", str(ALT / "best-efforts-notices.yaml"),
                       "--policy", str(ALT / "exclude-foreign-currency.yaml"),
                       "--facts", str(facts), "--fx", str(fx), "--as-of", "2026-11-21",
                       "--horizon", "2036", "--out", str(tmp_path))
    assert code == 0, err
    yearly = pl.read_csv(tmp_path / "yearly.csv", infer_schema=False)
    base = yearly.filter(pl.col("policy").str.starts_with("fsra-2024-001@"))
    best = yearly.filter(pl.col("policy").str.starts_with("fsra-2024-001-best-efforts"))
    assert best.get_column("notices_due").equals(base.get_column("notices_due"))
    b = base.get_column("notice_cost_cad").cast(float).sum()
    e = best.get_column("notice_cost_cad").cast(float).sum()
    assert e > b > 0
    assert (accounts(tmp_path, "fsra-2024-001-best-efforts-notices")
            .get_column("differs").fill_null("") == "").all()
    # excluding foreign currency removes exactly the foreign-currency transfers
    acc_excl = accounts(tmp_path, "fsra-2024-001-exclude-foreign-currency")
    table = pl.read_csv(facts, infer_schema=False)
    foreign = set(table.filter(pl.col("currency") != "CAD").get_column("account_id"))
    changed = set(acc_excl.filter(pl.col("differs") != "").get_column("account_id"))
    assert changed == foreign
    excl = yearly.filter(pl.col("policy").str.starts_with("fsra-2024-001-exclude"))
    assert excl.get_column("transfers").cast(int).sum() < base.get_column("transfers").cast(
        int).sum()


def test_marks_on_every_account_differs_only_in_notices_and_costs_more(
        portfolio: tuple[Path, Path], tmp_path: Path) -> None:
    """N4's alternative through compare: its portfolio impact is the notices listed on
    deposits already unclaimed, diverging at `regular_notices`, and their cost."""
    facts, fx = portfolio
    code, _, err = run("compare", "--policy", "fsra-2024-001",
                       "--policy", str(INTERP / "marks-on-every-account.yaml"),
                       "--facts", str(facts), "--fx", str(fx), "--as-of", "2026-11-21",
                       "--horizon", "2036", "--out", str(tmp_path))
    assert code == 0, err
    alt = accounts(tmp_path, "fsra-2024-001-marks-on-every-account")
    changed = alt.filter(pl.col("differs").fill_null("") != "")
    assert changed.height > 0
    assert set(changed.get_column("differs")) == {"notices"}
    assert set(changed.get_column("first_divergence")) == {"regular_notices"}
    base = accounts(tmp_path, "fsra-2024-001")
    notices = dict(zip(base.get_column("account_id"), base.get_column("notices").fill_null(""),
                       strict=True))
    for aid, listed in zip(changed.get_column("account_id"),
                           changed.get_column("notices").fill_null(""), strict=True):
        assert set(notices[aid].split("; ")) - {""} < set(listed.split("; "))
    yearly = pl.read_csv(tmp_path / "yearly.csv", infer_schema=False)
    cost = {p: yearly.filter(pl.col("policy").str.starts_with(p + "@"))
            .get_column("notice_cost_cad").cast(float).sum()
            for p in ("fsra-2024-001", "fsra-2024-001-marks-on-every-account")}
    assert cost["fsra-2024-001-marks-on-every-account"] > cost["fsra-2024-001"] > 0
