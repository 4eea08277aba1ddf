"""Tests for evaluator.generate: synthetic snapshot portfolios and their FX tables."""

from __future__ import annotations

import argparse
import csv
import io
import re
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

pl = pytest.importorskip("polars")
pytest.importorskip("numpy")

from evaluator import load_facts, load_policy  # noqa: E402
from evaluator.facts import SNAPSHOT_COLUMNS  # noqa: E402
from evaluator.generate import (  # noqa: E402
    Assumptions,
    AssumptionsError,
    GenerateError,
    add_parser,
    fx_path_for,
    fx_table,
    generate,
    iter_chunks,
    load_assumptions,
    run,
)

MEMBERS = 2000
SEED = 7
AS_OF = Assumptions().as_of
ACTIVITY = ("opened", "last_transaction", "last_statement_ack", "last_response")


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same 2,000-member portfolio as CSV and as Parquet."""
    root = tmp_path_factory.mktemp("small")
    generate(root / "p.csv", MEMBERS, SEED)
    generate(root / "q.parquet", MEMBERS, SEED)
    return {"csv": root / "p.csv", "parquet": root / "q.parquet", "fx": root / "p.fx.csv"}


@pytest.fixture(scope="module")
def frame(small: dict[str, Path]) -> pl.DataFrame:
    return pl.read_parquet(small["parquet"])


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_same_seed_gives_the_same_bytes_whatever_the_chunk_size(
    tmp_path: Path, suffix: str
) -> None:
    outputs = []
    for chunk in (MEMBERS, 701, 97, 3):
        out = tmp_path / f"c{chunk}{suffix}"
        generate(out, MEMBERS, SEED, chunk_members=chunk)
        outputs.append((_bytes(out), _bytes(fx_path_for(out))))
    again = tmp_path / f"again{suffix}"
    generate(again, MEMBERS, SEED)
    outputs.append((_bytes(again), _bytes(fx_path_for(again))))
    assert all(o == outputs[0] for o in outputs)


def test_chunks_concatenate_to_the_same_frame() -> None:
    whole = pl.concat(list(iter_chunks(500, SEED, chunk_members=500)))
    pieces = list(iter_chunks(500, SEED, chunk_members=64))
    assert len(pieces) == 8
    assert pl.concat(pieces).equals(whole)
    for piece in pieces[1:]:  # a member's rows are never split across chunks
        assert piece["account_id"][0].endswith("-A")


def test_another_seed_gives_another_portfolio(tmp_path: Path, small: dict[str, Path]) -> None:
    generate(tmp_path / "other.csv", MEMBERS, SEED + 1)
    assert _bytes(tmp_path / "other.csv") != _bytes(small["csv"])
    assert _bytes(tmp_path / "other.fx.csv") != _bytes(small["fx"])


# --------------------------------------------------------------------------- formats


def test_csv_and_parquet_hold_the_same_values(small: dict[str, Path], frame: pl.DataFrame) -> None:
    assert frame.columns == list(SNAPSHOT_COLUMNS)
    assert frame.schema["balance"] == pl.Decimal(18, 2)
    for name in ACTIVITY:
        assert frame.schema[name] == pl.Date
    text = pl.read_csv(small["csv"], infer_schema=False)
    assert text.columns == list(SNAPSHOT_COLUMNS)
    assert text.equals(frame.select(pl.all().cast(pl.String)))
    assert _bytes(small["fx"]) == _bytes(fx_path_for(small["parquet"]))


def test_csv_cells_are_iso_dates_and_two_decimal_balances(small: dict[str, Path]) -> None:
    with small["csv"].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > MEMBERS
    money = re.compile(r"\d+\.\d{2}")
    day = re.compile(r"\d{4}-\d{2}-\d{2}")
    for row in rows:
        assert money.fullmatch(row["balance"]), row
        assert day.fullmatch(row["opened"]), row
        for name in ACTIVITY[1:]:
            assert row[name] == "" or day.fullmatch(row[name]), row
    assert any(row["last_transaction"] == "" for row in rows)
    assert any(row["last_response"] for row in rows)


# --------------------------------------------------------------------------- the evaluator


def test_csv_loads_and_every_account_is_evaluated(small: dict[str, Path]) -> None:
    facts = load_facts(small["csv"], fx=small["fx"])
    assert facts.errors == ()
    accounts = sum(len(m.accounts) for m in facts.members)
    assert len(facts.members) == MEMBERS
    result = load_policy("policies/fsra-2024-001").evaluate(facts, as_of=AS_OF)
    assert result.errors == []
    assert len(result.accounts) == accounts
    statuses = Counter(a.status for a in result.accounts)
    # a snapshot has no transfer column, so `transferred` cannot occur in one
    assert set(statuses) == {"active", "inactive", "unclaimed"}
    assert min(statuses.values()) > 50
    provisions = {
        str(a.payment_window["provision"]).split(";")[0]
        for a in result.accounts
        if a.status == "unclaimed" and a.payment_window
    }
    assert provisions == {"2(5)(i)", "2(5)(ii)"}
    foreign = [a for a in result.accounts if a.status == "unclaimed" and a.amount_cad is not None]
    assert len(foreign) == statuses["unclaimed"]


def test_parquet_reads_as_the_same_facts_through_the_columnar_reader(
    small: dict[str, Path],
) -> None:
    """The columnar backend's reader takes the Parquet form (Date, Decimal(18, 2)) as-is."""
    columnar = pytest.importorskip("evaluator.columnar")
    table = columnar.read_table(small["parquet"], fx=small["fx"])
    from_parquet = table.to_facts()
    from_csv = load_facts(small["csv"], fx=small["fx"])
    assert from_parquet.errors == ()
    assert from_parquet.members == from_csv.members
    assert from_parquet.fx_rates == from_csv.fx_rates


def test_missing_rates_give_record_errors_only_where_a_rate_is_missing(tmp_path: Path) -> None:
    out = tmp_path / "gaps.csv"
    gaps = Assumptions(missing_rates=0.5)
    seed = 1  # with this seed the 2026 USD rate, which most foreign deposits need, is missing
    summary = generate(out, MEMBERS, seed, gaps)
    assert summary.fx_missing > 0
    facts = load_facts(out, fx=fx_path_for(out))
    assert facts.errors == ()
    result = load_policy("policies/fsra-2024-001").evaluate(facts, as_of=AS_OF)
    assert result.errors
    present = {(c, d.isoformat()) for c, d, _ in fx_table(seed, gaps)}
    assert ("USD", "2026-09-30") not in present
    currency = {a.account_id: a.currency for m in facts.members for a in m.accounts}
    for error in result.errors:
        found = re.search(r"no ([A-Z]{3}) exchange rate dated (\d{4}-\d{2}-\d{2})", error.message)
        assert found, error.message
        assert currency[error.account_id] == found[1] != "CAD"
        assert (found[1], found[2]) not in present
    for determination in result.accounts:
        if determination.status == "unclaimed":
            assert determination.amount_cad is not None


def test_kinds_add_rows_and_change_nothing_else(
    tmp_path: Path, small: dict[str, Path], frame: pl.DataFrame
) -> None:
    out = tmp_path / "kinds.parquet"
    summary = generate(out, MEMBERS, SEED, kinds=True)
    kinds = pl.read_parquet(out)
    assert kinds.columns == [*SNAPSHOT_COLUMNS, "kind"]
    assert set(kinds["kind"]) == {"deposit", "gift-card", "prepaid"}
    assert summary.rows - summary.deposit_rows == (kinds["kind"] != "deposit").sum()
    deposits = kinds.filter(pl.col("kind") == "deposit").drop("kind")
    assert deposits.equals(frame)
    assert _bytes(fx_path_for(out)) == _bytes(small["fx"])
    extra = kinds.filter(pl.col("kind") != "deposit")
    assert (extra["currency"] == "CAD").all()
    assert (extra["balance"].cast(pl.Float64) < 1000).all()
    csv_out = tmp_path / "kinds.csv"
    generate(csv_out, MEMBERS, SEED, kinds=True)
    facts = load_facts(csv_out, fx=fx_path_for(csv_out))
    assert facts.errors == ()
    kinds_seen = {a.kind for m in facts.members for a in m.accounts}
    assert kinds_seen == {"deposit", "gift-card", "prepaid"}
    result = load_policy("policies/fsra-2024-001").evaluate(facts, as_of=AS_OF)
    assert result.errors == []


# --------------------------------------------------------------------------- the data


def test_ids_dates_and_member_level_columns(frame: pl.DataFrame) -> None:
    assert frame["member_id"][0] == "M0000001"
    assert frame["account_id"][0] == "M0000001-A"
    assert frame["member_id"].n_unique() == MEMBERS
    assert frame["account_id"].n_unique() == frame.height
    per_member = frame.group_by("member_id").agg(
        pl.len().alias("n"),
        pl.col("account_id").str.slice(9).alias("letters"),
        pl.col("last_statement_ack").n_unique().alias("acks"),
        pl.col("last_response").n_unique().alias("responses"),
        (pl.col("account_id").str.slice(0, 8) == pl.col("member_id")).all().alias("prefix"),
    )
    assert per_member["n"].min() == 1 and per_member["n"].max() == 5
    share_small = (per_member["n"] <= 2).mean()
    assert share_small is not None and share_small > 0.75
    for n, letters in zip(per_member["n"], per_member["letters"], strict=True):
        assert list(letters) == list("ABCDEFGHIJ"[:n])
    assert per_member["acks"].max() == 1  # member-level: one value (or null) per member
    assert per_member["responses"].max() == 1
    assert per_member["prefix"].all()
    ordered = frame.filter(pl.col("last_transaction").is_not_null())
    assert (ordered["opened"] <= ordered["last_transaction"]).all()
    for name in ACTIVITY:
        assert frame[name].drop_nulls().max() <= AS_OF
        assert frame[name].drop_nulls().min() >= Assumptions().activity_start
    assert frame["opened"].dt.year().min() < 1990  # dates spread over decades


def test_summary_matches_the_file(tmp_path: Path) -> None:
    out = tmp_path / "s.parquet"
    summary = generate(out, MEMBERS, SEED)
    frame = pl.read_parquet(out)
    assert (summary.members, summary.rows, summary.deposit_rows) == (
        MEMBERS, frame.height, frame.height,
    )  # fmt: skip
    assert summary.foreign_rows == (frame["currency"] != "CAD").sum()
    balances = frame["balance"].cast(pl.Float64)
    assert summary.quantiles["max"] == balances.max()
    assert summary.quantiles["p50"] == pytest.approx(balances.median(), rel=0.01)
    edge = date(AS_OF.year - 2, AS_OF.month, AS_OF.day)
    profile = pl.max_horizontal(*ACTIVITY).max().over("member_id")
    quiet = frame.filter(profile <= edge)
    assert summary.dormant_rows == quiet.height
    assert summary.dormant_members == quiet["member_id"].n_unique()
    assert summary.dormant_mean == pytest.approx(quiet["balance"].cast(pl.Float64).mean())
    assert sum(quiet["balance"].to_list()) * 100 == summary.dormant_cents  # exact decimals


def test_currency_mix_and_boundary_dates(frame: pl.DataFrame) -> None:
    shares = dict(frame["currency"].value_counts(normalize=True).iter_rows())
    assert set(shares) == {"CAD", "USD", "EUR", "GBP"}
    assert 0.85 < shares["CAD"] < 0.94
    assert 0.06 < shares["USD"] < 0.10
    days = pl.concat([frame[name].drop_nulls() for name in ACTIVITY])
    month_day = days.dt.strftime("%m-%d")
    for edge in ("02-29", "09-30", "10-01", "12-31", "01-01"):
        assert (month_day == edge).sum() > 0, edge


def test_profiles_fall_on_the_status_edges() -> None:
    frame = pl.concat(list(iter_chunks(20_000, SEED)))
    profile = frame.select(pl.max_horizontal(*ACTIVITY).max().over("member_id").alias("p"))["p"]
    two = date(AS_OF.year - 2, AS_OF.month, AS_OF.day)
    ten = date(AS_OF.year - 10, AS_OF.month, AS_OF.day)
    assert {two, two + timedelta(days=1), ten, ten + timedelta(days=1)} <= set(profile)


def test_calibration_targets_hold_on_a_large_sample() -> None:
    """Dormant balances: ~93% under $1,000, holding ~25% of the value, mean ~$420."""
    frame = pl.concat(list(iter_chunks(200_000, 11)))
    edge = date(AS_OF.year - 2, AS_OF.month, AS_OF.day)
    profile = pl.max_horizontal(*ACTIVITY).max().over("member_id")
    dormant = frame.filter(profile <= edge)["balance"].cast(pl.Float64)
    assert 0.15 < dormant.len() / frame.height < 0.4
    small = dormant < 1000
    share = small.mean()
    value = dormant.filter(small).sum() / dormant.sum()
    mean = dormant.mean()
    assert share is not None and 0.90 <= share <= 0.96, share
    assert 0.18 <= value <= 0.32, value
    assert mean is not None and 350 <= mean <= 500, mean


# --------------------------------------------------------------------------- FX


def test_fx_table_has_a_30_september_rate_for_every_year(small: dict[str, Path]) -> None:
    with small["fx"].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["currency", "date", "rate"]
    first, last = Assumptions().fx_years()
    assert (first, last) == (1995, AS_OF.year + 35)
    bands = {"USD": (1.25, 1.45), "EUR": (1.35, 1.60), "GBP": (1.65, 1.95)}
    seen: dict[str, list[int]] = {}
    for code, day, rate in rows[1:]:
        when = date.fromisoformat(day)
        assert (when.month, when.day) == (9, 30)
        assert re.fullmatch(r"\d+\.\d{4}", rate)
        lo, hi = bands[code]
        assert lo <= float(rate) <= hi
        seen.setdefault(code, []).append(when.year)
    assert {c: sorted(y) for c, y in seen.items()} == {
        c: list(range(first, last + 1)) for c in bands
    }


def test_missing_rates_leave_other_rates_alone() -> None:
    full = fx_table(SEED)
    gaps = fx_table(SEED, Assumptions(missing_rates=0.3))
    assert set(gaps) < set(full)
    assert 0.15 < 1 - len(gaps) / len(full) < 0.45
    assert fx_table(SEED, Assumptions(missing_rates=0.3)) == gaps
    with_gaps = pl.concat(list(iter_chunks(50, SEED, Assumptions(missing_rates=0.3))))
    assert with_gaps.equals(pl.concat(list(iter_chunks(50, SEED))))


# --------------------------------------------------------------------------- assumptions


def test_assumptions_from_a_file_and_flags(tmp_path: Path) -> None:
    spec = tmp_path / "a.yaml"
    spec.write_text(
        "as_of: 2030-06-30\ndormant_share: 0.5\naccounts_per_member: [1]\n"
        "currencies: {CAD: 0.8, USD: 0.2}\n",
        encoding="utf-8",
    )
    a = load_assumptions(spec)
    assert a.as_of == date(2030, 6, 30) and a.dormant_share == 0.5
    assert a.currencies == (("CAD", 0.8), ("USD", 0.2))
    frame = pl.concat(list(iter_chunks(1000, SEED, a)))
    assert frame.height == 1000
    assert frame["last_transaction"].max() <= date(2030, 6, 30)
    assert set(frame["currency"]) == {"CAD", "USD"}
    json_spec = tmp_path / "a.json"
    json_spec.write_text('{"dormant_years": [5, 6]}', encoding="utf-8")
    assert load_assumptions(json_spec).dormant_years == (5.0, 6.0)
    scaled = Assumptions().with_foreign_share(0.21)
    assert scaled.foreign_share() == pytest.approx(0.21)
    assert dict(scaled.currencies)["USD"] == pytest.approx(0.16)


def test_a_mix_without_cad_still_puts_gift_cards_in_cad() -> None:
    a = Assumptions(currencies=(("USD", 1.0),))
    frame = pl.concat(list(iter_chunks(500, SEED, a, kinds=True)))
    currency = dict(
        frame.group_by("kind").agg(pl.col("currency").unique().sort()).iter_rows()
    )
    assert currency == {"deposit": ["USD"], "gift-card": ["CAD"], "prepaid": ["CAD"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dormant_shar: 0.3", "did you mean `dormant_share`"),
        ("dormant_share: 1.5", "dormant_share must be between 0 and 1"),
        ("dormant_share: yes", "expected a number"),
        ("as_of: 2026-02-30", "day is out of range"),
        ("as_of: '2026-02-30'", "expected a date"),
        ("dormant_mean_balance: 20000", "must be below 1,000.00"),
        ("balance_cap: 2000\nactive_median_balance: 500", "a tail capped at 2,000.00"),
        ("currencies: {CAD: 0.5, JPY: 0.5}", "JPY has no fx_ranges entry"),
        ("currencies: {cad: 1}", "not a three-letter"),
        ("dormant_years: [1, 5]", "dormant_years"),
        ("- 1\n- 2", "expected a mapping"),
        ("a: [", "not YAML or JSON"),
    ],
)
def test_bad_assumptions_are_reported(tmp_path: Path, text: str, message: str) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(text, encoding="utf-8")
    with pytest.raises(AssumptionsError, match=re.escape(message)):
        load_assumptions(spec).validate()


# --------------------------------------------------------------------------- command line


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="unclaimed")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["generate", *argv])


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(_args(*argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_run_writes_both_files_and_summarises(tmp_path: Path) -> None:
    out = tmp_path / "cli.parquet"
    code, stdout, stderr = _run(
        "--members", "300", "--seed", "3", "--out", str(out), "--foreign-share", "0.3",
        "--dormant-share", "0.4", "--accounts-per-member", "1,1", "--as-of", "2027-01-01",
        "--missing-rates", "0.1", "--kinds",
    )  # fmt: skip
    assert code == 0, stderr
    assert stdout == ""
    assert out.exists() and (tmp_path / "cli.fx.csv").exists()
    assert str(out) in stderr and str(tmp_path / "cli.fx.csv") in stderr
    for word in ("members", "foreign currency", "dormant", "p50", "p99"):
        assert word in stderr
    assert len(stderr.strip().splitlines()) == 1
    frame = pl.read_parquet(out)
    assert frame["last_transaction"].max() <= date(2027, 1, 1)
    deposits = frame.filter(pl.col("kind") == "deposit")
    assert deposits.group_by("member_id").len()["len"].max() == 2
    assert 0.2 < (deposits["currency"] != "CAD").mean() < 0.4
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--members", "0"], "--members must be between 1"),
        (["--members", "10", "--seed", "-1"], "--seed must be"),
        (["--members", "10", "--out", "x.txt"], "use .csv or .parquet"),
        (["--members", "10", "--out", "{missing}/x.csv"], "cannot write"),
        (["--members", "10", "--out", "{file}/x.csv"], "cannot write"),
        (["--members", "10", "--foreign-share", "1.5"], "foreign share"),
        (["--members", "10", "--dormant-share", "-0.1"], "dormant_share"),
        (["--members", "10", "--accounts-per-member", "1,x"], "--accounts-per-member"),
        (["--members", "10", "--accounts-per-member", "0,0"], "accounts_per_member"),
        (["--members", "10", "--as-of", "yesterday"], "--as-of"),
        (["--members", "10", "--missing-rates", "2"], "missing_rates"),
        (["--members", "10", "--assumptions", "{missing}/a.yaml"], "cannot read assumptions"),
        (["--members", "10", "--chunk-members", "0"], "--chunk-members"),
    ],
)
def test_bad_arguments_exit_2_with_a_clean_message(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    filled = [
        a.format(missing=tmp_path / "missing", file=tmp_path / "file") for a in argv
    ]
    if "--out" not in filled:
        filled += ["--out", str(tmp_path / "p.csv")]
    elif not filled[filled.index("--out") + 1].startswith(str(tmp_path)):
        filled[filled.index("--out") + 1] = str(tmp_path / filled[filled.index("--out") + 1])
    code, _, stderr = _run(*filled)
    assert code == 2
    assert stderr.startswith("error: ") and message in stderr, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "p.csv").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_generate_rejects_a_directory_as_output(tmp_path: Path) -> None:
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(GenerateError, match="is a directory"):
        generate(tmp_path / "d.csv", 10)
