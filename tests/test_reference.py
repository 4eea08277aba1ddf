"""The hand-written reference of ``benchmarks/reference.py`` agrees with the scalar evaluator.

The reference is the baseline the compiled policy is benchmarked against, so it must
mean exactly what the policy means. Both evaluate the bundled snapshot and generated
snapshots whose dates cluster on the boundaries the rule turns on (29 Feb, 30 Sep /
1 Oct, 31 Dec / 1 Jan, coming into force and the end of the transition period, the
as-of date, the payment window's closing day), each +/- one day, over several as-of
dates and coming-into-force dates, with blank and repeated member-level dates, foreign
currencies with missing rates, odd decimals, bad rows and dates after the as-of date.
"""

from __future__ import annotations

import csv
import random
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.reference import (  # noqa: E402
    add_months,
    add_years_days,
    civil_from_days,
    days_from_civil,
    read_fx,
    read_snapshot,
    reference,
    to_records,
)
from evaluator import load_policy  # noqa: E402
from evaluator.facts import load_facts  # noqa: E402

POLICY = ROOT / "policies" / "fsra-2024-001"
EXAMPLES = ROOT / "examples"
SNAPSHOT_HEADER = ["member_id", "account_id", "currency", "balance", "opened",
                   "last_transaction", "last_statement_ack", "last_response"]
#: findings a snapshot cannot produce (it records no transfers, fees or interest)
EVENT_FINDINGS = {"transfer-incomplete", "fee-after-unclaimed", "interest-after-unclaimed"}
FIELDS = ("status", "last_activity", "inactive_on", "unclaimed_on", "payment_window",
          "amount_cad")


@pytest.fixture(scope="module")
def policy() -> Any:
    return load_policy(POLICY)


# ----------------------------------------------------------------------------- helpers


def _py_add_years(d: date, n: int) -> date:
    try:
        return d.replace(year=d.year + n)
    except ValueError:  # 29 Feb in a common year
        return d.replace(year=d.year + n, day=28)


def _notice_key(n: dict[str, Any]) -> tuple[Any, ...]:
    return (n["mark"], n["due"], n["required"], n["provision"])


def compare(policy: Any, snapshot: Path, fx: Path, as_of: date,
            cif: date | None = None) -> tuple[int, int]:
    """Evaluate ``snapshot`` both ways and assert identical determinations and errors;
    returns (accounts compared, errors compared)."""
    params = {"coming_into_force": cif.isoformat()} if cif is not None else None
    scalar = policy.evaluate(load_facts(snapshot, fx=fx), as_of=as_of, params=params).to_dict()
    out = reference(read_snapshot(str(snapshot)), read_fx(str(fx)), as_of,
                    cif if cif is not None else date(2025, 1, 1))
    records = to_records(out)
    ours = {r["account_id"]: r for r in records if r["error"] is None}
    theirs = {a["account_id"]: a for a in scalar["accounts"]}
    where = f"as of {as_of}, CIF {cif or '2025-01-01'}"
    assert set(ours) == set(theirs), (
        f"{where}: evaluated by the reference only: {sorted(set(ours) - set(theirs))[:10]}, "
        f"by the scalar evaluator only: {sorted(set(theirs) - set(ours))[:10]}")
    problems: list[str] = []
    for account_id, want in theirs.items():
        got = ours[account_id]
        for name in FIELDS:
            if got[name] != want[name]:
                problems.append(f"{account_id} {name}: reference {got[name]!r}, "
                                f"scalar {want[name]!r}")
        got_notices = sorted(map(_notice_key, got["notices"]))
        want_notices = sorted(map(_notice_key, want["notices"]))
        if got_notices != want_notices:
            problems.append(f"{account_id} notices: reference {got_notices}, "
                            f"scalar {want_notices}")
        want_codes = [f["code"] for f in want["findings"] if f["code"] not in EVENT_FINDINGS]
        if got["findings"] != want_codes:
            problems.append(f"{account_id} findings: reference {got['findings']}, "
                            f"scalar {want_codes}")
    assert not problems, f"{where}: {len(problems)} differences:\n" + "\n".join(problems[:20])
    got_errors = Counter(r["account_id"] for r in records if r["error"] is not None)
    want_errors = Counter(e["account_id"] for e in scalar["errors"])
    assert got_errors == want_errors, f"{where}: errors differ: reference {got_errors}, " \
        f"scalar {want_errors}"
    return len(theirs), sum(want_errors.values())


# ----------------------------------------------------------------------------- data


AS_OFS = (date(2026, 11, 21), date(2026, 12, 15), date(2026, 12, 16), date(2025, 1, 1),
          date(2028, 2, 29), date(2027, 10, 1))
CIFS = (date(2025, 1, 1), date(2024, 2, 29), date(2025, 10, 15))


def _boundaries() -> list[date]:
    """Days the rule turns on, and the days a 2/5/9/10-year clock must start from to
    land on them, each +/- 1 day."""
    anchors: set[date] = set()
    for year in range(2000, 2032):
        anchors |= {date(year, 9, 30), date(year, 10, 1), date(year, 12, 31),
                    date(year, 1, 1), date(year, 10, 15), date(year, 12, 15),
                    date(year, 2, 28), date(year, 3, 1)}
        if year % 4 == 0:
            anchors.add(date(year, 2, 29))
    for cif in CIFS:
        anchors |= {cif, add_months(cif, 12)}
    anchors |= set(AS_OFS)
    days: set[date] = set()
    for anchor in anchors:
        for years in (0, 2, 5, 9, 10):
            start = _py_add_years(anchor, -years)
            days |= {start - timedelta(days=1), start, start + timedelta(days=1)}
            if start.month == 2 and start.day == 28 and start.year % 4 == 0:
                days.add(start.replace(day=29))
    return sorted(d for d in days if date(1985, 1, 1) <= d <= date(2028, 12, 31))


def _balance(rng: random.Random) -> str:
    shape = rng.random()
    if shape < 0.05:
        return rng.choice(["0", "0.00", "-0.00", "1.005", "2.675", "0.005", "999.995",
                           "1234.5", "7", "0.1", "1000000.00"])
    cents = int(10 ** rng.uniform(0, 8))
    text = f"{cents // 100}.{cents % 100:02d}"
    if shape < 0.15:
        text += str(rng.randrange(10))  # a third decimal: rounding half up
    return text


def write_sample(tmp: Path, members: int, seed: int, *, shuffle: bool = False,
                 bad_rows: bool = True) -> tuple[Path, Path]:
    """A snapshot CSV of ``members`` members clustered on the boundaries, and its FX CSV."""
    rng = random.Random(seed)
    edges = _boundaries()
    latest = max(AS_OFS)

    def when(lo: date = date(1986, 1, 1), hi: date = date(2026, 11, 21)) -> date:
        if rng.random() < 0.7:
            picked = rng.choice(edges)
            if lo <= picked <= hi or rng.random() < 0.02:  # now and then after as-of
                return picked
        lo = min(lo, hi)
        return lo + timedelta(days=rng.randrange((hi - lo).days + 1))

    rows: list[list[str]] = []
    for i in range(members):
        mid = f"M{i:05d}"
        n_accounts = rng.choice((1, 1, 1, 2, 2, 3, 4))
        ack = when(date(1990, 1, 1)) if rng.random() < 0.35 else None
        resp = when(date(1995, 1, 1)) if rng.random() < 0.2 else None
        for j in range(n_accounts):
            opened = when(date(1986, 1, 1), latest)
            tx = when(opened, latest) if rng.random() < 0.75 else None
            if tx is not None and rng.random() < 0.9:
                tx = min(tx, date(2026, 11, 21))
            r = rng.random()
            currency = ("CAD" if r < 0.6 else "USD" if r < 0.8 else "EUR" if r < 0.95
                        else "GBP")
            # member-level dates: on every row, some rows, or a stale one on another row
            row_ack = ack if ack is not None and rng.random() < 0.7 else None
            if ack is not None and row_ack is None and rng.random() < 0.3:
                row_ack = ack - timedelta(days=rng.randrange(1, 900))
            row_resp = resp if resp is not None and rng.random() < 0.7 else None
            rows.append([mid, f"{mid}-{j}", currency, _balance(rng), opened.isoformat(),
                         tx.isoformat() if tx else "",
                         row_ack.isoformat() if row_ack else "",
                         row_resp.isoformat() if row_resp else ""])
    if bad_rows:
        rows[3][3] = "-1.00"
        rows[10][4] = "2021-02-30"
        rows[17][3] = "12,50"
        rows[24][5] = "2020-1-05"
        rows[31][2] = "usd"
        rows.append(list(rows[40]))  # a duplicate account id
        rows[-1][4] = "1999-01-01"
    if shuffle:
        rng.shuffle(rows)
    snapshot = tmp / f"sample-{seed}.csv"
    with snapshot.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(SNAPSHOT_HEADER)
        writer.writerows(rows)
    fx = tmp / f"fx-{seed}.csv"
    with fx.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["currency", "date", "rate"])
        for year in range(1995, 2045):
            if year != 2027:  # no USD rate for 2027: an error once payment is due
                writer.writerow(["USD", f"{year}-09-30", f"1.{3000 + 37 * (year % 11):04d}5"])
            writer.writerow(["EUR", f"{year}-09-30", f"{1.4 + (year % 5) * 0.0125:.4f}"])
            writer.writerow(["USD", f"{year}-09-29", "9.9999"])  # never used: not 30 Sep
    return snapshot, fx


# ----------------------------------------------------------------------------- tests


def test_calendar_helpers_match_python_dates() -> None:
    days = np.arange(-30000, 60000, dtype=np.int32)  # 1887 .. 2134
    y, m, d = civil_from_days(days)
    epoch = date(1970, 1, 1)
    for i in range(0, days.size, 997):
        want = epoch + timedelta(days=int(days[i]))
        assert (int(y[i]), int(m[i]), int(d[i])) == (want.year, want.month, want.day)
    assert np.array_equal(days_from_civil(y, m, d), days)
    for years in (2, 5, 9, 10, -10):
        got = add_years_days(days, years)
        leap_day = int(np.flatnonzero((m == 2) & (d == 29))[0])
        for i in [*range(0, days.size, 331), leap_day]:
            start = epoch + timedelta(days=int(days[i]))
            assert epoch + timedelta(days=int(got[i])) == _py_add_years(start, years)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)


def test_bundled_examples(policy: Any) -> None:
    compared, _ = compare(policy, EXAMPLES / "members.csv", EXAMPLES / "fx.csv",
                          date(2026, 11, 21))
    assert compared == 11
    out = reference(read_snapshot(str(EXAMPLES / "members.csv")),
                    read_fx(str(EXAMPLES / "fx.csv")), date(2026, 11, 21))
    m07 = out.filter(pl.col("account_id") == "M07-A").row(0, named=True)
    assert m07["amount_cad"] == 13864  # 100.10 USD x 1.3850 = 138.6385 -> 138.64


def test_generated_boundaries(policy: Any, tmp_path: Path) -> None:
    snapshot, fx = write_sample(tmp_path, 3000, seed=20241)
    total = 0
    for as_of in AS_OFS:
        compared, errors = compare(policy, snapshot, fx, as_of)
        assert errors >= 6  # the bad rows, at least
        total += compared
    assert total > 20000


@pytest.mark.parametrize("cif", CIFS[1:])
def test_generated_other_coming_into_force(policy: Any, tmp_path: Path, cif: date) -> None:
    snapshot, fx = write_sample(tmp_path, 1500, seed=7)
    for as_of in (date(2026, 11, 21), date(2026, 12, 16)):
        compare(policy, snapshot, fx, as_of, cif)


def test_generated_unsorted_members(policy: Any, tmp_path: Path) -> None:
    """Rows of a member not adjacent: the member maxima go through polars ``over``."""
    snapshot, fx = write_sample(tmp_path, 1500, seed=99, shuffle=True)
    compare(policy, snapshot, fx, date(2026, 11, 21))


def test_parquet_and_typed_input_give_the_same_result(tmp_path: Path) -> None:
    snapshot, fx = write_sample(tmp_path, 500, seed=3, bad_rows=False)
    as_of = date(2026, 11, 21)
    from_csv = reference(read_snapshot(str(snapshot)), read_fx(str(fx)), as_of)
    typed = pl.read_csv(snapshot, infer_schema=False).with_columns(
        pl.col("balance").str.to_decimal(scale=3),
        *(pl.col(c).str.to_date() for c in SNAPSHOT_HEADER[4:]))
    parquet = tmp_path / "sample.parquet"
    typed.write_parquet(parquet)
    from_parquet = reference(read_snapshot(str(parquet)), read_fx(str(fx)), as_of)
    assert from_parquet.equals(from_csv)
    from_frame = reference(typed, read_fx(str(fx)), as_of)
    assert from_frame.equals(from_csv)


def test_empty_snapshot() -> None:
    frame = pl.DataFrame({c: pl.Series([], dtype=pl.String) for c in SNAPSHOT_HEADER})
    out = reference(frame, None, date(2026, 11, 21))
    assert out.height == 0
    assert "notices" in out.columns


def test_money_forms_and_exact_large_amounts() -> None:
    """Integer balances are whole units (as the scalar loader reads `1520`); an integer
    `balance_cents` column is cents; products past 2**62 are still exact."""
    from decimal import ROUND_HALF_UP, Decimal

    base = {"member_id": ["M1", "M2", "M3"], "account_id": ["A1", "A2", "A3"],
            "currency": ["USD", "CAD", "USD"], "opened": [date(2010, 3, 1)] * 3,
            "last_transaction": [None, None, None], "last_statement_ack": [None] * 3,
            "last_response": [None] * 3}
    fx = pl.DataFrame({"currency": ["USD"], "date": ["2026-09-30"], "rate": ["1.38505"]})
    as_of = date(2026, 11, 21)
    whole = reference(pl.DataFrame({**base, "balance": [1520, 7, 0]}), fx, as_of)
    cents = reference(pl.DataFrame({**base, "balance_cents": [152000, 700, 0]}), fx, as_of)
    assert whole.get_column("amount_cad").to_list() == [210528, 700, 0]  # 2105.276 -> .28
    assert cents.equals(whole)
    huge = "12345678901234567.89"
    out = reference(pl.DataFrame({**base, "balance": [huge, "0.005", "1.00"]}), fx, as_of)
    want = (Decimal(huge) * Decimal("1.38505")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert out.get_column("amount_cad").to_list() == [int(want * 100), 1, 139]
