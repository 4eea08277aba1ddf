"""Hand-written reference for the baseline determinations over an account snapshot.

    from benchmarks.reference import reference, read_snapshot, read_fx
    out = reference(read_snapshot("portfolio.parquet"), read_fx("fx.csv"),
                    as_of=date(2026, 11, 21))

A direct, vectorised implementation (polars for input and output, NumPy for the
arithmetic) of what ``policies/fsra-2024-001/policy.yaml`` computes for the accounts
of a snapshot table (``member_id, account_id, currency, balance, opened,
last_transaction, last_statement_ack, last_response``). It is the baseline the
compiled policy is measured against in ``bench_portfolio.py``, and
``tests/test_reference.py`` checks it against the scalar evaluator. It knows
nothing of the policy language: every rule below is written out by hand.

Semantics (the policy's definitions; A1.. are the interpretation ids):

* ``last_activity`` = max(opened, last_transaction, the member's latest statement
  acknowledgement, the member's latest response) - the member-level dates are the
  maximum over the member's rows (A1); ``profile_last_activity`` = the maximum over
  the member's accounts (A2).
* ``inactive_on`` = profile last activity + 2 years, ``unclaimed_on`` = last activity
  + 10 years; ``+ N years`` keeps month and day, 29 Feb -> 28 Feb (D1, A3, A4).
* ``status``: ``unclaimed`` if as_of >= unclaimed_on, else ``inactive`` if as_of >=
  inactive_on, else ``active`` (a snapshot records no transfers).
* ``notices``: the marks 2y/5y/9y at profile last activity + 2/5/9 years that fall
  before unclaimed_on, ``required`` when due >= CIF (N1, N3); a ``catch-up`` notice
  due on CIF when inactive_on < CIF < unclaimed_on (6(1)); a ``transition`` notice
  due on CIF + 12 months when unclaimed_on <= CIF (6(2)). In that order.
* ``payment_window`` {opens, closes, provision}: 15 Oct..15 Dec of the unclaimed year
  (unclaimed 1 Jan-30 Sep, ``2(5)(i)``) or of the next year (1 Oct-31 Dec,
  ``2(5)(ii)``); when that window closes before transition end (CIF + 12 months) the
  first later year whose 15 Dec is on or after it; opens no earlier than transition
  end; ``"; 6(3)"`` is appended when the window was deferred or its opening moved
  (P1, P2).
* ``amount_cad``: integer **cents**, balance x the rate dated 30 Sep of the window's
  year (1 for CAD), rounded half up, in integer arithmetic (P3, D3). A missing rate
  gives null, and an error when the status is ``unclaimed``.
* ``findings``: ``unnotified-unclaimed`` when as_of >= unclaimed_on and inactive_on >
  unclaimed_on (A4); ``payment-overdue`` when unclaimed and as_of > closes (P6).
* ``error``: null, or why the row is not a determination (its ``status`` is then null
  and its other columns are unspecified), as the scalar evaluator does: a row with an
  unreadable field or a duplicate account id (that row only: its member-level dates
  do not count for the member); a member with a date after the as-of date (every row
  of the member: a snapshot keeps only the latest date, so earlier activity is
  unknown); a missing exchange rate for an unclaimed deposit.

Input types: ids and currency as text; dates as ``Date`` or ISO ``YYYY-MM-DD`` text;
``balance`` as decimal text, ``Decimal`` or an integer (whole units, as the scalar
loader reads ``1520``), or instead an integer ``balance_cents`` column. Money is never
a float. FX rates: a frame ``currency, date, rate`` with the rate as decimal text or
``Decimal``.

Not modelled (the benchmark's generated files never need it): cells are not stripped
of blanks (`` USD`` is a bad row here, ``USD`` for the scalar loader), a row of empty
cells is a bad row rather than skipped, and no ``kind`` column is read.

Speed: members whose rows are adjacent (a snapshot sorted by ``member_id``, the usual
export) are reduced with ``np.maximum.reduceat`` over the runs; otherwise a polars
``over("member_id")`` window does it. Every date function (``+ N years``, the payment
window of an unclaimed date) is a lookup table over the few thousand days that occur.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

__all__ = [
    "FINDINGS",
    "MARKS",
    "NOTICE_PROVISIONS",
    "STATUSES",
    "WINDOW_PROVISIONS",
    "add_months",
    "add_years_days",
    "civil_from_days",
    "days_from_civil",
    "read_fx",
    "read_snapshot",
    "reference",
]

SNAPSHOT_COLUMNS = ("member_id", "account_id", "currency", "balance", "opened",
                    "last_transaction", "last_statement_ack", "last_response")
DATE_COLUMNS = ("opened", "last_transaction", "last_statement_ack", "last_response")

STATUSES = ("active", "inactive", "unclaimed", "transferred")
MARKS = ("2y", "5y", "9y", "catch-up", "transition")
NOTICE_PROVISIONS = ("2(2)", "2(3)", "6(1)", "6(2)")
WINDOW_PROVISIONS = ("2(5)(i)", "2(5)(ii)", "2(5)(i); 6(3)", "2(5)(ii); 6(3)")
FINDINGS = ("unnotified-unclaimed", "payment-overdue")

STATUS_T = pl.Enum(STATUSES)
MARK_T = pl.Enum(MARKS)
NOTICE_PROVISION_T = pl.Enum(NOTICE_PROVISIONS)
WINDOW_PROVISION_T = pl.Enum(WINDOW_PROVISIONS)
FINDING_T = pl.Enum(FINDINGS)

_EPOCH = date(1970, 1, 1).toordinal()
_NONE = np.int32(np.iinfo(np.int32).min)  # "no date": below every real day
_MARK_YEARS = (2, 5, 9)
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_BALANCE_RE = r"^-?[0-9]+(\.[0-9]+)?$"


# ----------------------------------------------------------------------------- calendar


def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = y.astype(np.int64) - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (m.astype(np.int64) + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146097 + doe - 719468).astype(np.int32)


def civil_from_days(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01."""
    z = z.astype(np.int64) + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2)
    return y, m, d


def _leap(y: np.ndarray) -> np.ndarray:
    return (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))


def add_years_days(days: np.ndarray, years: int) -> np.ndarray:
    """``date + N years`` (D1): month and day kept, 29 Feb -> 28 Feb in a common year."""
    y, m, d = civil_from_days(days)
    y = y + years
    d = np.where((m == 2) & (d == 29) & ~_leap(y), 28, d)
    return days_from_civil(y, m, d)


def add_months(d: date, months: int) -> date:
    """``date + N months`` (D1): clamps to the month's last day."""
    total = d.year * 12 + d.month - 1 + months
    year, month0 = divmod(total, 12)
    day = d.day
    while True:
        try:
            return date(year, month0 + 1, day)
        except ValueError:
            day -= 1


def _day(d: date) -> int:
    return d.toordinal() - _EPOCH


def _iso(day: int) -> str:
    return date.fromordinal(int(day) + _EPOCH).isoformat()


# ----------------------------------------------------------------------------- input


def read_snapshot(path: str, columns: tuple[str, ...] = SNAPSHOT_COLUMNS) -> pl.LazyFrame:
    """A lazy scan of a snapshot file: Parquet as stored, CSV with every cell as text
    (parsed and validated by :func:`reference`)."""
    if str(path).endswith(".parquet"):
        return pl.scan_parquet(path).select(columns)
    return pl.scan_csv(path, infer_schema=False).select(columns)


def read_fx(path: str) -> pl.DataFrame:
    """An FX table ``currency,date,rate`` from CSV, every cell as text."""
    return pl.read_csv(path, infer_schema=False)


def _fx_table(fx: pl.DataFrame | None) -> tuple[dict[str, int], int, np.ndarray, int]:
    """(currency -> row, first year, rate units [currency, year - first] (0 = none),
    rate scale): the 30 Sep rates, exactly, as integers of 10**-scale."""
    rates: dict[tuple[str, int], Decimal] = {}
    if fx is not None and fx.height:
        for cur, when, rate in fx.select("currency", "date", "rate").iter_rows():
            cur = str(cur).strip()
            when = date.fromisoformat(str(when).strip()) if not isinstance(when, date) else when
            if isinstance(rate, float):
                raise TypeError("an FX rate must be decimal text or Decimal, not a float")
            value = Decimal(str(rate).strip()) if not isinstance(rate, Decimal) else rate
            if not value.is_finite() or value <= 0:
                raise ValueError(f"bad FX rate {rate!r} for {cur} on {when}")
            if (when.month, when.day) != (9, 30):
                continue  # only 30 Sep rates are ever used (2(15))
            known = rates.get((cur, when.year))
            if known is not None and known != value:
                raise ValueError(f"conflicting FX rate for {cur} on {when}: {value} and {known}")
            rates[(cur, when.year)] = value
    scale = max((-r.as_tuple().exponent for r in rates.values()), default=0)
    scale = max(scale, 0)
    currencies = sorted({c for c, _ in rates})
    index = {c: i for i, c in enumerate(currencies)}
    years = [y for _, y in rates] or [2000]
    first, last = min(years), max(years)
    table = np.zeros((max(len(currencies), 1), last - first + 1), dtype=np.int64)
    for (cur, year), value in rates.items():
        table[index[cur], year - first] = int(value.scaleb(scale))
    return index, first, table, scale


def _balance_units(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """(units of 10**-scale as int64, bad row mask, scale) of the balance column."""
    n = frame.height
    if "balance" not in frame.columns:
        cents = frame.get_column("balance_cents")
        bad = (cents.is_null() | (cents < 0)).to_numpy()
        return cents.fill_null(0).cast(pl.Int64).to_numpy(), bad, 2
    col = frame.get_column("balance")
    dtype = col.dtype
    if dtype == pl.String:
        ok = col.str.contains(_BALANCE_RE).fill_null(False)
        dot = col.str.find(".", literal=True)
        frac = (col.str.len_bytes().cast(pl.Int32) - dot.cast(pl.Int32) - 1).fill_null(0)
        scale = int(frac.filter(ok).max() or 0)
        if scale > 18:
            raise ValueError(f"balances with {scale} decimals are not supported")
        units = col.str.to_decimal(scale=scale).to_physical()
    elif isinstance(dtype, pl.Decimal):
        scale = dtype.scale
        units = col.to_physical()
        ok = col.is_not_null()
    elif dtype.is_integer():
        scale = 0
        units = col
        ok = col.is_not_null()
    else:
        raise TypeError(f"balance must be decimal text, Decimal or an integer, not {dtype}")
    units = units.fill_null(0)
    fits = n == 0 or units.dtype != pl.Int128 or (
        units.max() < 2**62 and units.min() > -(2**62))  # type: ignore[operator]
    # beyond int64: exact Python integers (slow, and only for such balances)
    units_np = units.cast(pl.Int64).to_numpy() if fits else \
        np.array(units.to_list(), dtype=object)
    bad = ~ok.to_numpy() | (units_np < 0).astype(bool)  # "-0.00" is zero: accepted
    return np.abs(units_np), bad, scale


def _dates(frame: pl.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(days since 1970-01-01 as int32 with ``_NONE`` for absent, bad cell mask)."""
    col = frame.get_column(name)
    if col.dtype == pl.String:
        parsed = col.str.to_date("%Y-%m-%d", strict=False)
        text_ok = col.str.len_bytes() == 10  # the scalar wants exactly YYYY-MM-DD
        bad = (col.is_not_null() & (parsed.is_null() | ~text_ok)).to_numpy()
        col = parsed
    elif col.dtype == pl.Datetime:
        raise TypeError(f"{name} must be a date, not a datetime")
    else:
        bad = np.zeros(frame.height, dtype=bool)
    days = col.cast(pl.Date).to_physical().fill_null(_NONE).to_numpy()
    return days.astype(np.int32, copy=False), bad


# ----------------------------------------------------------------------------- members


def _runs(member: pl.Series) -> np.ndarray | None:
    """Start of each member's run of rows when the rows are sorted by member (so each
    member's rows are adjacent), else None."""
    n = member.len()
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if member.null_count() or not member.is_sorted():
        return None
    change = (member.slice(1) != member.slice(0, n - 1)).to_numpy()
    starts = np.empty(int(change.sum()) + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = np.flatnonzero(change) + 1
    return starts


def _member_max(frame: pl.DataFrame, starts: np.ndarray | None,
                values: list[np.ndarray]) -> list[np.ndarray]:
    """Each value's maximum over the rows of the row's member, per row."""
    n = frame.height
    if starts is not None:
        lengths = np.diff(np.append(starts, n))
        return [np.repeat(np.maximum.reduceat(v, starts), lengths) for v in values]
    names = [f"_v{i}" for i in range(len(values))]
    over = pl.DataFrame({"member_id": frame.get_column("member_id"),
                         **dict(zip(names, values, strict=True))})
    out = over.select(pl.col(c).max().over("member_id") for c in names)
    return [out.get_column(c).to_numpy() for c in names]


# ----------------------------------------------------------------------------- lists


def _lists(slots: pl.Series, width: int, counts: np.ndarray) -> pl.Series:
    """A list column from ``width`` slots per row (``slots`` row-major, n x width),
    keeping the first ``counts[i]`` slots of row i."""
    n = counts.shape[0]
    if n == 0:
        return pl.Series(slots.name, [], pl.List(slots.dtype))
    arrays = slots.reshape((n, width))
    return pl.DataFrame({"_a": arrays, "_n": counts}).select(
        pl.col("_a").arr.to_list().list.head(pl.col("_n"))).to_series().alias(slots.name)


# ----------------------------------------------------------------------------- reference


def reference(snapshot: pl.LazyFrame | pl.DataFrame, fx: pl.DataFrame | None,
              as_of: date, cif: date = date(2025, 1, 1), *,
              validate: bool = True) -> pl.DataFrame:
    """The baseline determinations of every row of ``snapshot`` on ``as_of``.

    Columns: member_id, account_id, status (Enum), last_activity,
    profile_last_activity, inactive_on, unclaimed_on (Date), notices
    (list of {mark, due, required, provision}), payment_window ({opens, closes,
    provision}), amount_cad (Int64 cents), findings (list of codes), error (text).
    ``validate=False`` skips the duplicate account id check (a hash of every id).
    """
    wanted = [c for c in SNAPSHOT_COLUMNS if c != "balance"]
    if isinstance(snapshot, pl.LazyFrame):
        names = snapshot.collect_schema().names()
        frame = snapshot.select([*wanted, "balance" if "balance" in names
                                 else "balance_cents"]).collect()
    else:
        frame = snapshot.select([*wanted, "balance" if "balance" in snapshot.columns
                                 else "balance_cents"])
    return _evaluate(frame, fx, as_of, cif, validate)


def _evaluate(frame: pl.DataFrame, fx: pl.DataFrame | None, as_of: date, cif: date,
              validate: bool) -> pl.DataFrame:
    n = frame.height
    A = _day(as_of)
    CIF = _day(cif)
    TE = _day(add_months(cif, 12))  # transition end (6(2), 6(3))
    member = frame.get_column("member_id").cast(pl.String)
    account = frame.get_column("account_id").cast(pl.String)
    currency = frame.get_column("currency").cast(pl.String)

    # ---- fields, and rows the scalar loader rejects
    units, bad, bal_scale = _balance_units(frame)
    opened, bad_opened = _dates(frame, "opened")
    tx, bad_tx = _dates(frame, "last_transaction")
    ack, bad_ack = _dates(frame, "last_statement_ack")
    resp, bad_resp = _dates(frame, "last_response")
    bad |= bad_opened | bad_tx | bad_ack | bad_resp | (opened == _NONE)
    bad |= (member.is_null() | account.is_null() | currency.is_null()).to_numpy()
    if member.dtype == pl.String:
        bad |= (member.str.len_bytes() == 0).fill_null(True).to_numpy()
        bad |= (account.str.len_bytes() == 0).fill_null(True).to_numpy()
    uniq = currency.drop_nulls().unique().to_list()
    bad_currencies = [c for c in uniq if not _CURRENCY_RE.fullmatch(c)]
    if bad_currencies:
        bad |= currency.is_in(bad_currencies).fill_null(False).to_numpy()
    dup = np.zeros(n, dtype=bool)
    if validate and n:
        if account.is_sorted() and not account.null_count():
            dup[1:] = (account.slice(1) == account.slice(0, n - 1)).to_numpy()
        else:
            dup = (~account.is_first_distinct() & account.is_not_null()).to_numpy()
    bad |= dup
    if bad.any():  # a rejected row counts for nothing, not even for its member
        opened, tx, ack, resp = (np.where(bad, _NONE, a) for a in (opened, tx, ack, resp))

    # ---- activity clock (A1, A2)
    own = np.maximum(opened, tx)
    said = np.maximum(ack, resp)
    starts = _runs(member)
    m_said, m_own, m_tx = _member_max(frame, starts, [said, own, tx])
    late = np.maximum(m_tx, m_said) > A  # a snapshot date after as_of: member unknown
    la = np.maximum(own, m_said)
    pla = np.maximum(m_own, m_said)
    del own, said, m_own, m_tx, ack, resp, tx
    good = ~bad & ~late
    if not good.all():
        la = np.where(good, la, A)
        pla = np.where(good, pla, A)

    # ---- dates by lookup: + N years over the days that occur
    lo = int(min(la.min(), pla.min())) if n else A
    hi = int(max(la.max(), pla.max())) if n else A
    span = np.arange(lo, hi + 1, dtype=np.int32)
    ila = la - lo
    ipla = pla - lo
    unclaimed = add_years_days(span, 10)[ila]
    marks = [add_years_days(span, y)[ipla] for y in _MARK_YEARS]
    inactive = marks[0]

    # the payment window of every unclaimed day that occurs (P1, P2)
    ulo = int(unclaimed.min()) if n else A
    uspan = np.arange(ulo, int(unclaimed.max() if n else A) + 1, dtype=np.int32)
    uy, um, _ = civil_from_days(uspan)
    late_year = um >= 10
    year = uy + late_year
    te_year = date.fromordinal(TE + _EPOCH).year
    te_year += _day(date(te_year, 12, 15)) < TE
    ones = np.ones_like(year)
    deferred = days_from_civil(year, 12 * ones, 15 * ones) < TE
    year = np.where(deferred, te_year, year)
    w_opens = days_from_civil(year, 10 * ones, 15 * ones)
    w_closes = days_from_civil(year, 12 * ones, 15 * ones)
    moved = deferred | (w_opens < TE)
    iu = unclaimed - ulo
    opens = np.maximum(w_opens, TE)[iu]
    closes = w_closes[iu]
    w_prov = (late_year.astype(np.uint8) + 2 * moved.astype(np.uint8))[iu]
    fx_year = year[iu]
    del uy, um, late_year, deferred, w_opens, w_closes, moved, iu, ila, ipla

    # ---- status
    status = np.where(unclaimed <= A, 2, np.where(inactive <= A, 1, 0)).astype(np.uint8)
    is_unclaimed = status == 2

    # ---- amount in CAD cents (P3, D3): units x rate, half up, in integers
    index, first_year, rates, rate_scale = _fx_table(fx)
    is_cad = (currency == "CAD").fill_null(False).to_numpy()
    rate = np.where(is_cad, 10**rate_scale, 0).astype(np.int64)
    foreign = [c for c in uniq if c != "CAD"]
    yi = fx_year.astype(np.int64) - first_year
    in_years = (yi >= 0) & (yi < rates.shape[1])
    for cur in foreign:
        if cur not in index:
            continue
        rows = (currency == cur).fill_null(False).to_numpy() & in_years
        rate[rows] = rates[index[cur], yi[rows]]
    missing = rate == 0
    shift = bal_scale + rate_scale - 2
    max_product = int(units.max() if n else 0) * int(rate.max() if n else 0)
    if shift >= 0 and max_product < 2**62 and units.dtype != object:
        div = 10**shift
        cents = (units * rate + div // 2) // div
    else:  # exact, with Python integers (slow; extreme balances or scales only)
        prods = [int(a) * int(b) for a, b in zip(units.tolist(), rate.tolist(), strict=True)]
        if shift >= 0:
            div = 10**shift
            vals = [(p + div // 2) // div for p in prods]
        else:
            vals = [p * 10**-shift for p in prods]
        cents = np.array(vals, dtype=np.int64)

    # ---- notices (2(2), 2(3), 6(1), 6(2)): 4 slots per row, the first `count` kept
    k = np.zeros(n, dtype=np.int8)
    for mark_due in marks:
        k += mark_due < unclaimed  # the marks are in order: kept ones are a prefix
    catch = (inactive < CIF) & (unclaimed > CIF)
    trans = unclaimed <= CIF
    counts = k + catch + trans
    due = np.empty((n, 4), dtype=np.int32)
    code = np.empty((n, 4), dtype=np.uint8)
    for j in range(3):
        due[:, j] = marks[j]
        code[:, j] = j
    code[:, 3] = 3
    for extra, when, mark in ((catch, CIF, 3), (trans, TE, 4)):
        rows = np.flatnonzero(extra)
        due[rows, k[rows]] = when
        code[rows, k[rows]] = mark
    flat_code = code.ravel()
    flat_due = due.ravel()
    notices = _lists(pl.DataFrame({
        "mark": pl.Series(MARKS, dtype=MARK_T).gather(flat_code),
        "due": pl.Series(flat_due).cast(pl.Date),
        "required": pl.Series(flat_due >= CIF),
        "provision": pl.Series(NOTICE_PROVISIONS, dtype=NOTICE_PROVISION_T).gather(
            np.array([0, 1, 1, 2, 3], dtype=np.uint8)[flat_code]),
    }).to_struct("notices"), 4, counts)
    del due, code, flat_code, flat_due, marks

    # ---- findings (A4, P6)
    unnotified = (unclaimed <= A) & (inactive > unclaimed)
    overdue = is_unclaimed & (closes < A)
    f_codes = np.empty((n, 2), dtype=np.uint8)
    f_codes[:, 0] = np.where(unnotified, 0, 1)
    f_codes[:, 1] = 1
    findings = _lists(pl.Series("findings", FINDINGS, dtype=FINDING_T).gather(f_codes.ravel()),
                      2, unnotified.astype(np.int8) + overdue)

    # ---- errors
    no_rate = missing & is_unclaimed & good
    error_rows = np.flatnonzero(~good | no_rate)
    error = pl.repeat(None, n, dtype=pl.String, eager=True).alias("error")
    if error_rows.size:
        messages = _messages(frame, error_rows, bad, dup, late, no_rate, fx_year, A)
        error = error.scatter(error_rows, messages)
    status_s = pl.Series("status", STATUSES, dtype=STATUS_T).gather(status)
    if error_rows.size:
        status_s = status_s.scatter(error_rows, None)

    amount = pl.Series("amount_cad", cents, dtype=pl.Int64)
    if missing.any():
        amount = pl.Series("amount_cad", np.where(missing, 0, cents)).scatter(
            np.flatnonzero(missing), None)

    return pl.DataFrame([
        member.alias("member_id"),
        account.alias("account_id"),
        status_s,
        pl.Series("last_activity", la).cast(pl.Date),
        pl.Series("profile_last_activity", pla).cast(pl.Date),
        pl.Series("inactive_on", inactive).cast(pl.Date),
        pl.Series("unclaimed_on", unclaimed).cast(pl.Date),
        notices.alias("notices"),
        pl.DataFrame({
            "opens": pl.Series(opens).cast(pl.Date),
            "closes": pl.Series(closes).cast(pl.Date),
            "provision": pl.Series(WINDOW_PROVISIONS, dtype=WINDOW_PROVISION_T).gather(w_prov),
        }).to_struct("payment_window"),
        amount,
        findings.alias("findings"),
        error,
    ])


def _messages(frame: pl.DataFrame, rows: np.ndarray, bad: np.ndarray, dup: np.ndarray,
              late: np.ndarray, no_rate: np.ndarray, fx_year: np.ndarray, A: int) -> list[str]:
    """The error message of each error row (few, so built one by one)."""
    cells = frame.select(pl.all().gather(rows)).select(
        pl.col(c).cast(pl.String) for c in ("account_id", "currency", *DATE_COLUMNS)).rows()
    out: list[str] = []
    for i, row in zip(rows.tolist(), cells, strict=True):
        account_id, currency, *_ = row
        if dup[i]:
            out.append(f"duplicate account id `{account_id}`")
        elif bad[i]:
            out.append("the row has an unreadable or missing field")
        elif late[i]:
            out.append(f"a snapshot date of the member is after the as-of date {_iso(A)}; "
                       "the activity before it is unknown")
        else:
            out.append(f"no {currency} exchange rate dated {int(fx_year[i])}-09-30")
    return out


def format_cents(cents: int | None) -> str | None:
    """``123456`` -> ``"1234.56"``."""
    if cents is None:
        return None
    return f"{cents // 100}.{cents % 100:02d}"


def to_records(out: pl.DataFrame) -> list[dict[str, Any]]:
    """The determinations in the scalar evaluator's JSON shape (for comparisons)."""
    recs = []
    for row in out.iter_rows(named=True):
        pw = row["payment_window"]
        recs.append({
            "member_id": row["member_id"],
            "account_id": row["account_id"],
            "status": row["status"],
            "last_activity": row["last_activity"].isoformat(),
            "inactive_on": row["inactive_on"].isoformat(),
            "unclaimed_on": row["unclaimed_on"].isoformat(),
            "notices": [{**nt, "due": nt["due"].isoformat()} for nt in row["notices"]],
            "payment_window": {"opens": pw["opens"].isoformat(),
                               "closes": pw["closes"].isoformat(),
                               "provision": pw["provision"]},
            "amount_cad": format_cents(row["amount_cad"]),
            "findings": list(row["findings"]),
            "error": row["error"],
        })
    return recs
