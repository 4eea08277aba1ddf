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


def explanations(folder: Path) -> list[tuple[str, str, str]]:
    """(account, policy, explanation) of the report's largest differences, read back
    from the HTML."""
    import html
    import re

    text = (folder / "report.html").read_text(encoding="utf-8")
    rows = re.findall(r'<td class="id"><code>[^<]*</code></td><td class="id"><code>([^<]*)'
                      r'</code></td><td><code>([^<]*)</code></td>.*?'
                      r'<td class="text explanation">(.*?)</td>', text)
    return [(html.unescape(a), html.unescape(p), html.unescape(e)) for a, p, e in rows]


def _day(iso: str) -> str:
    import datetime as dt

    d = dt.date.fromisoformat(iso)
    return f"{d.day} {d:%b} {d.year}"


def test_differences_are_explained_in_sentences(compared: Path) -> None:
    found = explanations(compared)
    assert {p.split("@")[0] for _, p, _ in found} >= {
        "fsra-2024-001-semi-annual", "fsra-2024-001-a4-profile-unclaimed"}
    base = {r["account_id"]: r for r in accounts(compared, "fsra-2024-001").iter_rows(
        named=True)}
    for aid, policy, sentence in found:
        assert "{" not in sentence and '"' not in sentence, sentence  # no raw records
        assert " because " in sentence, sentence
        alt = {r["account_id"]: r for r in accounts(compared, policy.split("@")[0])
               .iter_rows(named=True)}[aid]
        b = base[aid]
        if policy.startswith("fsra-2024-001-semi-annual"):
            # the window, from the reference's to the alternative's, and the parameter
            assert sentence.startswith("payment window moves from "), sentence
            assert sentence.endswith("because `payment_windows` differs (used by `window`)")
            for row in (b, alt):
                assert _day(row["window_closes"]) in sentence
        if policy.startswith("fsra-2024-001-a4") and "unclaimed_on" in alt["differs"]:
            assert (f"`unclaimed_on` moves from {_day(b['unclaimed_on'])} to "
                    f"{_day(alt['unclaimed_on'])}") in sentence
            assert sentence.endswith(
                "because `unclaimed_on` is defined differently in "
                "fsra-2024-001-a4-profile-unclaimed@1.0.0, citing Act 147(1); A4; D2")


def test_amounts_have_separators_in_the_summary_not_in_the_csv(compared: Path) -> None:
    from decimal import Decimal

    yearly = pl.read_csv(compared / "yearly.csv", infer_schema=False)
    ref = yearly.filter(pl.col("policy").str.starts_with("fsra-2024-001@"))
    total = sum(Decimal(v) for v in ref.get_column("transfers_cad"))
    assert total > 1000
    summary = (compared / "summary.md").read_text(encoding="utf-8")
    assert f"| {total:,.2f} |" in summary
    assert f"against {total:,.2f};" in summary
    # the machine-readable outputs keep raw numbers
    for name in ("yearly.csv", "accounts.csv"):
        frame = pl.read_csv(compared / name, infer_schema=False)
        for col in frame.columns:
            if col.endswith("_cad"):
                assert frame.get_column(col).fill_null("0").str.contains(",").sum() == 0


def test_each_kind_of_value_is_said_in_words() -> None:
    import datetime as dt
    from decimal import Decimal

    from evaluator.compare import _say, _say_window

    d = dt.date
    assert _say("status", "unclaimed", "active") == \
        "`status` changes from unclaimed to active"
    assert _say("unclaimed_on", d(2031, 5, 20), d(2032, 1, 2)) == \
        "`unclaimed_on` moves from 20 May 2031 to 2 Jan 2032"
    assert _say("amount_cad", Decimal("1520"), Decimal("12345.675")) == \
        "`amount_cad` changes from 1,520.00 to 12,345.68 CAD"
    assert _say("amount_cad", None, Decimal("5")) == "`amount_cad` becomes 5.00 CAD (was none)"
    assert _say("records_retain_until", d(2033, 1, 1), None) == \
        "`records_retain_until` is none (was 1 Jan 2033)"
    assert _say("in_scope", True, False) == "`in_scope` changes from yes to no"
    n = {"mark": "9y", "due": d(2030, 5, 20), "required": True, "provision": "2(3)"}
    m = {"mark": "2y", "due": d(2023, 5, 20), "required": False, "provision": "2(2)"}
    assert _say("notices", (m,), (m, n)) == "`notices` add 9y due 20 May 2030"
    assert _say("notices", [m, n], [n]) == "`notices` drop 2y due 20 May 2023"
    assert _say("notices", [m], [{**m, "required": True}]) == (
        "`notices` change from [mark: 2y, due: 20 May 2023, required: no, provision: 2(2)] "
        "to [mark: 2y, due: 20 May 2023, required: yes, provision: 2(2)]")
    f1 = {"code": "payment-overdue", "provision": "2(5)", "severity": "violation",
          "message": "the window closed"}
    f2 = {"code": "unnotified-unclaimed", "provision": "2(2)", "severity": "warning",
          "message": "no notice"}
    assert _say("findings", [f2], [f1]) == \
        "`findings` add payment-overdue and drop unnotified-unclaimed"
    w1 = {"opens": d(2031, 10, 15), "closes": d(2031, 12, 15), "provision": "2(5)(i)"}
    w2 = {"opens": d(2032, 1, 1), "closes": d(2032, 6, 30), "provision": "2(5)(i)"}
    w3 = {"opens": d(2031, 12, 15), "closes": d(2032, 1, 15), "provision": "2(5)(ii)"}
    assert _say_window(w1, w2) == \
        "payment window moves from 15 Oct\u201315 Dec 2031 to 1 Jan\u201330 Jun 2032"
    assert _say_window(w1, w3) == \
        "payment window moves from 15 Oct\u201315 Dec 2031 to 15 Dec 2031\u201315 Jan 2032"
    assert _say_window(None, w1) == \
        "payment window becomes 15 Oct\u201315 Dec 2031 (was none)"
    assert _say_window(w1, {**w1, "provision": "2(5)(ii)"}) == \
        "payment window 15 Oct\u201315 Dec 2031 is under 2(5)(ii) instead of 2(5)(i)"
