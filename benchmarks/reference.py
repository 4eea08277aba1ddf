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

``reference_dataset(accounts, events, fx, as_of)`` does the same for a dataset (an
accounts table and an events table, one row per event, as ``unclaimed generate
--events`` writes it): the clock from the history, transfers, and the findings a
history gives (fees and interest after the unclaimed date, 2(16); transfers lacking
what must accompany them, 2(7)-(12)); ``tests/test_reference_dataset.py`` checks it
against the scalar evaluator over ``load_dataset``.

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
    "read_table",
    "reference",
    "reference_dataset",
    "to_dataset_records",
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


# ----------------------------------------------------------------------------- datasets

#: the standard event types; those naming an account; those with an amount
EVENT_TYPES = ("transaction", "statement_ack", "notice", "response", "fee", "interest",
               "transfer")
ACCOUNT_EVENTS = ("transaction", "fee", "interest", "transfer")
AMOUNT_EVENTS = ("fee", "interest", "transfer")
#: fsra-2024-001's transfer_requirements: (item, provision, foreign only), in its order
TRANSFER_REQUIREMENTS = (
    ("electronic_funds_transfer", "2(6)", False),
    ("material_information", "2(7)", False),
    ("officer_attestation", "2(8)", False),
    ("notice_evidence", "2(9)(i)", False),
    ("material_information_copies", "2(9)(ii)", False),
    ("fx_conversion_record", "2(9)(iii)", True),
    ("portal", "2(10)", False),
)
FINDING_STRUCT = pl.Struct({"code": pl.String, "provision": pl.String,
                            "severity": pl.String, "message": pl.String})
_ACCOUNT_BASE = ("member_id", "account_id", "currency", "opened")
_SMALL_BALANCE_CENTS = 100_000  # small_balance_limit 1000.00 (R2)


def read_table(path: str) -> pl.LazyFrame:
    """A lazy scan of a dataset table: a Parquet file or folder as stored, CSV as text."""
    if str(path).rstrip("/").endswith(".parquet"):
        return pl.scan_parquet(path)
    return pl.scan_csv(path, infer_schema=False)


def _as_date(name: str, schema: pl.Schema) -> pl.Expr:
    col = pl.col(name)
    if schema[name] == pl.String:
        return col.str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
    return col.cast(pl.Date)


def reference_dataset(accounts: pl.LazyFrame | pl.DataFrame,
                      events: pl.LazyFrame | pl.DataFrame, fx: pl.DataFrame | None,
                      as_of: date, cif: date = date(2025, 1, 1), *,
                      validate: bool = True) -> pl.DataFrame:
    """The baseline determinations of every account of a dataset (an accounts table and an
    events table, one row per event) on ``as_of``, as ``fsra-2024-001`` computes them
    from the history; the columns of :func:`reference`, with ``status`` possibly
    ``transferred``, ``findings`` as a list of ``{code, provision, severity, message}``
    (the policy's text), plus ``transferred_on``, ``records_retain_until`` and
    ``in_scope``.

    Semantics beyond :func:`reference` (A1, A2, P4, P5, R1, R2):

    * events dated after ``as_of`` are not known yet: ignored (a dataset keeps every
      event, so unlike a snapshot a later date hides nothing);
    * ``last_transaction`` of an account: the latest ``transaction`` event naming it
      (and its own ``last_transaction`` cell, when the accounts table has the column);
      ``last_statement_ack`` / ``last_response`` of a member: the latest event of that
      type of the member, whatever account it names; then the clock as in a snapshot;
    * ``transferred_on``: the latest ``transfer`` event of the account (incomplete
      transfers are accepted: ``reject_incomplete_transfers`` is false); ``status`` is
      ``transferred`` when there is one; a missing exchange rate is an error for an
      unclaimed or transferred deposit;
    * ``findings``, in the policy's order: a ``fee-after-unclaimed`` per fee event of the
      account on or after its unclaimed date, an ``interest-after-unclaimed`` per such
      interest event (each in event order: by date, then file order), then
      ``unnotified-unclaimed``, ``payment-overdue`` (only for ``unclaimed``, not
      transferred), then a ``transfer-incomplete`` per transfer lacking a required item
      of :data:`TRANSFER_REQUIREMENTS` (``fx_conversion_record`` for foreign currency
      only; ``attachments`` is ``a;b;c``);
    * ``records_retain_until``: ``transferred_on`` + 40 years when ``amount_cad`` is
      under 1,000.00, + 100 years otherwise; null before a transfer.

    Event rows are validated only as far as the benchmark needs: a row without a
    readable date, with a type not in :data:`EVENT_TYPES`, without the account of an
    account's event, without the decimal amount of a fee, interest or transfer, or a
    notice without its mark makes its member an error (every account of it); an event of
    a member or account the accounts table lacks, or naming another member's account, and
    declared event types are not handled (the scalar reader warns about or rejects them).
    """
    acc_l = accounts.lazy() if isinstance(accounts, pl.DataFrame) else accounts
    ev_l = events.lazy() if isinstance(events, pl.DataFrame) else events
    names = acc_l.collect_schema().names()
    balance = "balance" if "balance" in names else "balance_cents"
    lasts = [c for c in DATE_COLUMNS[1:] if c in names]
    acc = acc_l.select(*_ACCOUNT_BASE, balance, *lasts).collect()
    ev_schema = ev_l.collect_schema()
    ev_cols = ev_schema.names()
    # ---- the events, as of the as-of date
    ev = ev_l.select(
        pl.col("member_id").cast(pl.String),
        (pl.col("account_id").cast(pl.String) if "account_id" in ev_cols
         else pl.lit(None, pl.String)).alias("account_id"),
        _as_date("date", ev_schema).alias("date"),
        pl.col("type").cast(pl.String).str.strip_chars().alias("type"),
        *((pl.col(c).cast(pl.String).str.strip_chars().alias(c) if c in ev_cols else
           pl.lit(None, pl.String).alias(c)) for c in ("amount", "attachments", "mark")),
    ).with_row_index("_row").collect()
    kind = pl.col("type")
    broken = ev.filter(
        pl.col("date").is_null() | ~kind.is_in(EVENT_TYPES).fill_null(False)
        | (kind.is_in(ACCOUNT_EVENTS) & pl.col("account_id").is_null())
        | (kind.is_in(AMOUNT_EVENTS)
           & ~pl.col("amount").str.contains(_BALANCE_RE).fill_null(False))
        | ((kind == "notice") & pl.col("mark").is_null()))
    ev = ev.filter(pl.col("date") <= as_of)
    kinds = pl.col("type")
    member_dates = ev.filter(kinds.is_in(["statement_ack", "response"])).group_by(
        "member_id").agg(
        pl.col("date").filter(kinds == "statement_ack").max().alias("_ack"),
        pl.col("date").filter(kinds == "response").max().alias("_resp"))
    account_dates = ev.filter(kinds.is_in(["transaction", "transfer"])
                              & pl.col("account_id").is_not_null()).group_by(
        "account_id").agg(
        pl.col("date").filter(kinds == "transaction").max().alias("_tx"),
        pl.col("date").filter(kinds == "transfer").max().alias("_transferred"))
    acc_schema = acc.schema
    own = {c: _as_date(c, acc_schema) for c in lasts}
    own = {c: pl.when(e <= as_of).then(e) for c, e in own.items()}
    snap = acc.with_columns(pl.col("member_id").cast(pl.String),
                            pl.col("account_id").cast(pl.String)).join(
        member_dates, on="member_id", how="left", maintain_order="left").join(
        account_dates, on="account_id", how="left", maintain_order="left").with_columns(
        pl.max_horizontal(own.get("last_transaction", pl.lit(None, pl.Date)),
                          "_tx").alias("last_transaction"),
        pl.max_horizontal(own.get("last_statement_ack", pl.lit(None, pl.Date)),
                          "_ack").alias("last_statement_ack"),
        pl.max_horizontal(own.get("last_response", pl.lit(None, pl.Date)),
                          "_resp").alias("last_response"))
    transferred = snap.get_column("_transferred")
    out = _evaluate(snap.select(*SNAPSHOT_COLUMNS[:3], balance, *DATE_COLUMNS),
                    fx, as_of, cif, validate)
    return _with_history(out, snap.get_column("currency").cast(pl.String), transferred,
                         ev, broken, as_of)


def _with_history(out: pl.DataFrame, currency: pl.Series, transferred: pl.Series,
                  ev: pl.DataFrame, broken: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """The snapshot determinations ``out`` completed with what the history says."""
    st = pl.col("status")
    ok = pl.col("error").is_null()
    out = out.with_columns(transferred.alias("transferred_on"), currency.alias("_cur"))
    out = out.with_columns(
        pl.when(ok & pl.col("transferred_on").is_not_null()).then(pl.lit("transferred"))
        .otherwise(st.cast(pl.String)).cast(pl.Enum(STATUSES)).alias("status"))
    # a missing rate is an error for a transferred deposit too
    no_rate = ok & (st == "transferred") & pl.col("amount_cad").is_null()
    out = out.with_columns(
        pl.when(no_rate).then(pl.format("no {} exchange rate dated {}-09-30", "_cur",
                                        pl.col("payment_window").struct.field("opens")
                                        .dt.year()))
        .otherwise("error").alias("error"))
    if broken.height:
        bad_members = broken.get_column("member_id").unique()
        out = out.with_columns(
            pl.when(pl.col("member_id").is_in(bad_members.implode()))
            .then(pl.lit("a bad event row makes the whole member unusable"))
            .otherwise("error").alias("error"))
    ok = pl.col("error").is_null()
    out = out.with_columns(pl.when(ok).then(st).alias("status"))
    # ---- findings, one row each, then a list per account in the policy's order
    idx = out.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_i"), "account_id", "error",
                     "unclaimed_on", "_cur").filter(  # an account id once (its first row)
        pl.col("account_id").is_not_null()
        & ~pl.col("error").str.starts_with("duplicate account id").fill_null(False))
    hist = ev.filter(pl.col("type").is_in(["fee", "interest", "transfer"])
                     & pl.col("account_id").is_not_null()).join(
        idx, on="account_id", how="inner")
    cols = ["_i", "_g", "date", "_row", "code", "provision", "severity", "message"]
    paid = hist.filter(pl.col("type").is_in(["fee", "interest"])
                       & (pl.col("date") >= pl.col("unclaimed_on"))).select(
        "_i", (pl.col("type") == "interest").cast(pl.Int8).alias("_g"), "date", "_row",
        (pl.col("type") + "-after-unclaimed").alias("code"),
        pl.lit("2(16)").alias("provision"), pl.lit("violation").alias("severity"),
        pl.when(pl.col("type") == "fee").then(pl.format(
            "fee of {} {} charged on {}, after the deposit became unclaimed on {}",
            "amount", "_cur", "date", "unclaimed_on")).otherwise(pl.format(
            "interest of {} {} paid on {}, after the deposit became unclaimed on {}",
            "amount", "_cur", "date",
            "unclaimed_on")).alias("message"))
    given = pl.col("attachments").str.split(";").list.eval(pl.element().str.strip_chars())
    tr = hist.filter(pl.col("type") == "transfer").with_columns(given.alias("_with"))
    lacks = [pl.when(~pl.col("_with").list.contains(item).fill_null(False)
                     & (pl.col("_cur") != "CAD" if foreign else pl.lit(True)))
             .then(pl.lit(f"{item} ({prov})")) for item, prov, foreign in
             TRANSFER_REQUIREMENTS]
    tr = tr.with_columns(pl.concat_list(lacks).list.drop_nulls().list.join(", ")
                         .alias("_missing")).filter(pl.col("_missing") != "")
    transfers = tr.select(
        "_i", pl.lit(4, pl.Int8).alias("_g"), "date", "_row",
        pl.lit("transfer-incomplete").alias("code"),
        pl.lit("2(12); Act 147(3)").alias("provision"), pl.lit("violation").alias("severity"),
        pl.format("the transfer of {} lacks {}; the Authority may reject it and the credit "
                  "union stays liable", "date", "_missing").alias("message"))
    rows = out.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_i"), "unclaimed_on",
                      "inactive_on", "status",
                      pl.col("payment_window").struct.field("closes").alias("_closes"))
    unnotified = rows.filter((pl.col("unclaimed_on") <= as_of)
                             & (pl.col("inactive_on") > pl.col("unclaimed_on"))).select(
        "_i", pl.lit(2, pl.Int8).alias("_g"), pl.lit(None, pl.Date).alias("date"),
        pl.lit(None, pl.UInt32).alias("_row"), pl.lit("unnotified-unclaimed").alias("code"),
        pl.lit("Act 147(1); 2(2)").alias("provision"), pl.lit("warning").alias("severity"),
        pl.format("the deposit became unclaimed on {} while the profile stays active until "
                  "{}; no notice was due", "unclaimed_on", "inactive_on").alias("message"))
    overdue = rows.filter((pl.col("status") == "unclaimed")
                          & (pl.col("_closes") < as_of)).select(
        "_i", pl.lit(3, pl.Int8).alias("_g"), pl.lit(None, pl.Date).alias("date"),
        pl.lit(None, pl.UInt32).alias("_row"), pl.lit("payment-overdue").alias("code"),
        pl.lit("2(5); Act 147(3)").alias("provision"), pl.lit("violation").alias("severity"),
        pl.format("the payment window closed on {} and no transfer is recorded",
                  "_closes").alias("message"))
    found = pl.concat([f.select(cols) for f in (paid, unnotified, overdue, transfers)])
    lists = found.sort(["_i", "_g", "date", "_row"]).group_by("_i", maintain_order=True).agg(
        pl.struct("code", "provision", "severity", "message").alias("findings"))
    findings = pl.DataFrame({"_i": np.arange(out.height, dtype=np.uint32)}).join(
        lists, on="_i", how="left", maintain_order="left").get_column("findings")
    findings = findings.fill_null(pl.lit([], pl.List(FINDING_STRUCT)))
    # ---- records (2(11), R1, R2)
    tdays = transferred.cast(pl.Int32).fill_null(0).to_numpy()
    small = add_years_days(tdays, 40)
    large = add_years_days(tdays, 100)
    cents = out.get_column("amount_cad").fill_null(0).to_numpy()
    retain = pl.Series("records_retain_until",
                       np.where(cents < _SMALL_BALANCE_CENTS, small, large)).cast(pl.Date)
    keep = (out.get_column("status") == "transferred").fill_null(False)
    return out.with_columns(
        findings.alias("findings"),
        pl.when(keep).then(retain).alias("records_retain_until"),
        pl.lit(True).alias("in_scope"),
    ).drop("_cur")


def to_dataset_records(out: pl.DataFrame) -> list[dict[str, Any]]:
    """:func:`reference_dataset`'s determinations in the scalar evaluator's JSON shape:
    :func:`to_records`'s, with the records' retention and the scope before the error."""
    recs = []
    for rec, row in zip(to_records(out), out.iter_rows(named=True), strict=True):
        error = rec.pop("error")
        retain = row["records_retain_until"]
        rec["records_retain_until"] = retain.isoformat() if retain is not None else None
        rec["in_scope"] = row["in_scope"]
        rec["error"] = error
        recs.append(rec)
    return recs
