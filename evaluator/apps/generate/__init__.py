"""Synthetic snapshot portfolios: ``unclaimed generate --members N --seed S --out FILE``.

Writes an account snapshot table (contract.md, "Account snapshot table") and its FX
table, for trying policies on realistic volumes (up to about 10,000,000 accounts)
without real member data. Every figure the generator uses is a field of
:class:`Assumptions`, with its default, what it means and where it comes from; the
public figures are *calibration targets* (approximate, aggregate), not data, and the
portfolio describes no real credit union. ``docs/synthetic-portfolios.md`` explains
the model in prose.

Output
------
* ``FILE`` (``.csv`` or ``.parquet``, by extension): one row per account, columns
  :data:`evaluator.facts.SNAPSHOT_COLUMNS` in that order, plus ``kind`` when asked
  (``kinds=True``: a share of members get one extra gift-card or prepaid row after
  their deposit accounts; every other row is unchanged). In CSV, dates are ISO text,
  balances decimal text with two decimals and absent dates empty cells; in Parquet,
  dates are ``Date``, balances ``Decimal(18, 2)`` (exact; never floats) and absent
  dates nulls. Rows are ordered by member, then account letter.
* ``<stem>.fx.csv`` beside it: ``currency,date,rate`` with a 30 September rate, four
  decimals, for every non-CAD currency of the mix and every year the payment windows
  could need (:attr:`Assumptions.fx_first_year` .. :attr:`Assumptions.fx_last_year`),
  less the rows dropped on purpose by ``missing_rates``.

Determinism
-----------
The same members, seed, assumptions and options give byte-identical files, whatever
``chunk_members`` is. Four independent streams ``Generator(PCG64(child))`` are spawned
from ``SeedSequence(seed)``: one for members, one for deposit accounts, one for the
optional gift-card/prepaid rows and one for FX rates. Every member consumes exactly
:data:`_MEMBER_DRAWS` uniforms of the member stream and every account
:data:`_ACCOUNT_DRAWS` of the account stream (all distributions are inverse-CDF
transforms of uniforms), members are generated in order, and a member's rows are
never split across chunks, so cutting the member sequence into chunks of any size
consumes the streams identically. Adding ``kinds`` or ``missing_rates`` changes
nothing else in the portfolio. (The identity holds for one platform and one version of
numpy and polars; another libm could in principle move a value by a cent or a day.)

Memory: one chunk (default 200,000 members, about 360,000 rows) is built at a time;
CSV chunks are appended to the file, Parquet chunks are streamed through a polars sink
with fixed row groups. The summary keeps the balances as 8-byte cents for its quantiles
(80 MB for 10,000,000 accounts); past :data:`EXACT_QUANTILE_MEMBERS` members it keeps
those of every k-th member only, so memory stays bounded.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import difflib
import io
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from evaluator import atomic
from evaluator.errors import DataProblem
from evaluator.facts import SNAPSHOT_COLUMNS

if TYPE_CHECKING:  # numpy and polars load on first use: `unclaimed --help` stays fast
    import numpy as np
    import numpy.typing as npt
    import polars as pl

    _Floats = npt.NDArray[np.float64]
    _Ints = npt.NDArray[np.int64]
    _Bools = npt.NDArray[np.bool_]

__all__ = [
    "DEFAULT_CHUNK_MEMBERS",
    "EXACT_QUANTILE_MEMBERS",
    "MAX_MEMBERS",
    "PARQUET_ROW_GROUP",
    "Assumptions",
    "AssumptionsError",
    "GenerateError",
    "Summary",
    "add_parser",
    "assumptions_from_args",
    "assumptions_from_mapping",
    "fx_path_for",
    "fx_table",
    "generate",
    "iter_chunks",
    "load_assumptions",
    "run",
]

EXIT_OK, EXIT_INVALID = 0, 2

#: members generated and written at a time (``--chunk-members``)
DEFAULT_CHUNK_MEMBERS = 200_000
#: rows per Parquet row group; fixed, so the file does not depend on the chunk size
PARQUET_ROW_GROUP = 1 << 19
#: the largest portfolio accepted (ids get wider than M0000001 past 9,999,999 members)
MAX_MEMBERS = 100_000_000
#: up to this many members the summary's balance quantiles are exact
EXACT_QUANTILE_MEMBERS = 10_000_000

_EPOCH = date(1970, 1, 1)
_DAYS_PER_YEAR = 365.2425
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BOUNDARY_KINDS = 9  # 29 Feb, 30 Sep, 1 Oct, 31 Dec, 1 Jan, and four as-of edges


class GenerateError(DataProblem):
    """A generation request that cannot be carried out; ``str(e)`` is one line."""


class AssumptionsError(GenerateError):
    """Assumptions that are malformed, out of range or contradictory."""


# --------------------------------------------------------------------------- assumptions


@dataclass(frozen=True)
class Assumptions:
    """Every figure the generator uses. Any subset can be overridden from a YAML/JSON file.

    Figures marked *public* are approximate aggregate figures used as calibration targets
    (the generated sample reproduces them; it is not data). Figures marked *illustrative*
    are plausible round numbers chosen to exercise the rule, not measurements.
    Shares are fractions in [0, 1]; money is in the account's own currency.
    """

    # --- the calendar ----------------------------------------------------------------
    as_of: date = date(2026, 11, 21)
    """Reference day: no date is after it; dormancy is measured back from it. Fixed
    (not today) so that a seed always gives the same file. Illustrative."""
    activity_start: date = date(1985, 1, 1)
    """No opening or activity date is earlier. Spreads dates over four decades.
    Illustrative."""

    # --- members and accounts --------------------------------------------------------
    accounts_per_member: tuple[float, ...] = (0.55, 0.27, 0.11, 0.05, 0.02)
    """Relative weights of a member holding 1, 2, 3, ... deposit accounts (normalised).
    Mostly one or two. Illustrative."""
    currencies: tuple[tuple[str, float], ...] = (
        ("CAD", 0.895),
        ("USD", 0.08),
        ("EUR", 0.015),
        ("GBP", 0.01),
    )
    """Share of accounts in each currency (normalised); each account draws its own.
    Mostly CAD, about 8% USD. Illustrative (the Bank of Canada does not hold foreign-
    currency balances, so there is no public unclaimed figure to calibrate on)."""

    # --- activity --------------------------------------------------------------------
    dormant_share: float = 0.25
    """Share of members whose profile went quiet ``dormant_years`` ago (their accounts
    are inactive or unclaimed on ``as_of``); the others are active. Deliberately
    enriched so that every status is common. Illustrative."""
    dormant_years: tuple[float, float] = (3.0, 30.0)
    """A dormant profile's last activity is uniformly this many years before
    ``as_of`` (so about a quarter are inactive, the rest unclaimed). Illustrative."""
    active_recent_days: float = 90.0
    """Mean days between an active profile's last activity and ``as_of`` (exponential,
    truncated below the two-year inactivity period of 2(1)). Illustrative."""
    account_gap_days: float = 180.0
    """Mean days between the profile's last activity and the last transaction on one of
    its other accounts (exponential). Illustrative."""
    stale_account_share: float = 0.05
    """Share of an active member's non-anchor accounts left untouched for
    ``stale_years``: a forgotten account in a live profile, which becomes unclaimed on
    its own when no statement acknowledgement covers it (A4). Illustrative."""
    stale_years: tuple[float, float] = (2.0, 25.0)
    """How long a stale account has been untouched (uniform, years). Illustrative."""
    no_transaction_share: float = 0.03
    """Share of non-anchor accounts with no transaction at all (empty
    ``last_transaction``: opened and never used). Illustrative."""
    anchor_ack_share: float = 0.15
    """Share of members whose latest activity is a statement acknowledgement rather
    than a transaction. Illustrative."""
    anchor_response_share: float = 0.02
    """Share of members whose latest activity is a response to a notice.
    Illustrative."""
    statement_ack_share: float = 0.5
    """Share of the other members with an earlier ``last_statement_ack``."""
    statement_ack_gap_days: float = 365.0
    """Mean days that earlier acknowledgement precedes the profile's last activity."""
    response_share: float = 0.05
    """Share of the other members with an earlier ``last_response``."""
    response_gap_days: float = 1095.0
    """Mean days that earlier response precedes the profile's last activity."""
    boundary_share: float = 0.02
    """Chance that a date is moved onto a calendar edge of its year (29 Feb, 30 Sep,
    1 Oct, 31 Dec, 1 Jan) or, for a profile's last activity, exactly 2 or 10 years (or
    that less a day) before ``as_of``; a move that would change the profile's
    dormancy or break the date order is skipped. Exercises D1, P1 and the status
    edges. Illustrative."""

    # --- balances --------------------------------------------------------------------
    small_balance: float = 1000.0
    """The "small balance" threshold of the calibration targets (and of R2)."""
    dormant_share_under_small: float = 0.93
    """Share of dormant balances under ``small_balance``. Public: Bank of Canada,
    unclaimed balances at the end of 2016 and 2019, "over 93 per cent ... under
    $1,000"."""
    dormant_value_share_under_small: float = 0.25
    """Share of the dormant value held by balances under ``small_balance``. Public:
    Bank of Canada, 26% (2016, 2019), 29% (2013); about a quarter."""
    dormant_mean_balance: float = 420.0
    """Mean dormant balance. Public: Bank of Canada, about $888 million in 2.1 million
    balances at the end of 2019 (about $423); $678 million in 1.8 million (about $377)
    at the end of 2016."""
    dormant_body_sigma: float = 1.3
    """Log-scale spread of the lognormal body of dormant balances under
    ``small_balance``; its location is solved from the targets. Illustrative."""
    balance_cap: float = 250_000.0
    """Upper end of the Pareto tail of dormant balances and of active balances.
    Illustrative."""
    active_median_balance: float = 2500.0
    """Median balance of an active member's account (lognormal, not calibrated: live
    accounts hold more than forgotten ones). Illustrative."""
    active_sigma: float = 1.5
    """Log-scale spread of active balances. Illustrative."""

    # --- FX --------------------------------------------------------------------------
    fx_ranges: tuple[tuple[str, float, float], ...] = (
        ("USD", 1.25, 1.45),
        ("EUR", 1.35, 1.60),
        ("GBP", 1.65, 1.95),
    )
    """CAD per unit: the band each currency's 30 September rate wanders in (a reflected
    random walk). Every non-CAD currency of ``currencies`` needs one. Illustrative,
    of the order of recent Bank of Canada annual rates."""
    fx_volatility: float = 0.2
    """Largest yearly move of a rate, as a fraction of its band. Illustrative."""
    fx_first_year: int | None = None
    """First year with a rate; default ``activity_start`` + 10 years (the earliest
    year a deposit can become unclaimed)."""
    fx_last_year: int | None = None
    """Last year with a rate; default ``as_of`` + 35 years, far enough for projections
    (the latest window for activity on ``as_of`` is 11 years later)."""
    missing_rates: float = 0.0
    """Share of (currency, year) rates deliberately left out, to exercise the
    missing-rate errors of P3."""

    # --- non-deposit rows (only with ``kinds``) ---------------------------------------
    kinds_share: float = 0.08
    """Share of members given one extra gift-card or prepaid row. Illustrative."""
    kinds: tuple[tuple[str, float, float], ...] = (
        ("gift-card", 0.6, 25.0),
        ("prepaid", 0.4, 60.0),
    )
    """(kind, share of the extra rows, median balance). Illustrative."""
    kinds_sigma: float = 1.0
    """Log-scale spread of gift-card and prepaid balances (capped at
    ``small_balance``). Illustrative."""

    def fx_years(self) -> tuple[int, int]:
        """The first and last year of the FX table."""
        first = self.fx_first_year
        last = self.fx_last_year
        return (
            self.activity_start.year + 10 if first is None else first,
            self.as_of.year + 35 if last is None else last,
        )

    def foreign_share(self) -> float:
        """The share of non-CAD accounts implied by ``currencies``."""
        total = sum(share for _, share in self.currencies)
        foreign = sum(share for code, share in self.currencies if code != "CAD")
        return foreign / total if total > 0 else 0.0

    def with_foreign_share(self, share: float) -> Assumptions:
        """The same currency mix with the non-CAD currencies scaled to ``share`` in all."""
        if not 0.0 <= share <= 1.0:
            raise AssumptionsError(f"foreign share {share} is not between 0 and 1")
        foreign = [(c, s) for c, s in self.currencies if c != "CAD"]
        total = sum(s for _, s in foreign)
        if share > 0 and total <= 0:
            raise AssumptionsError(
                "a foreign share needs at least one non-CAD currency in `currencies`"
            )
        scaled = [(c, share * s / total if total > 0 else 0.0) for c, s in foreign]
        return dataclasses.replace(self, currencies=(("CAD", 1.0 - share), *scaled))

    def validate(self) -> None:
        """Raise :class:`AssumptionsError` for the first impossible or contradictory figure."""
        if self.activity_start >= _minus_years(self.as_of, 2):
            raise AssumptionsError(
                f"activity_start {self.activity_start} must be more than two years "
                f"before as_of {self.as_of}"
            )
        _weights("accounts_per_member", self.accounts_per_member)
        if len(self.accounts_per_member) > 20:
            raise AssumptionsError("accounts_per_member: at most 20 accounts per member")
        codes = [c for c, _ in self.currencies]
        for code in codes:
            if len(code) != 3 or not code.isascii() or not code.isupper() or not code.isalpha():
                raise AssumptionsError(
                    f"currencies: `{code}` is not a three-letter upper-case currency code"
                )
        if len(set(codes)) != len(codes):
            raise AssumptionsError("currencies: a currency is listed twice")
        _weights("currencies", [s for _, s in self.currencies])
        ranges = {c: (lo, hi) for c, lo, hi in self.fx_ranges}
        for code, share in self.currencies:
            if code != "CAD" and share > 0 and code not in ranges:
                raise AssumptionsError(
                    f"currency {code} has no fx_ranges entry (CAD per unit, low and high)"
                )
        for code, lo, hi in self.fx_ranges:
            if not 0 < lo <= hi <= 10_000:
                raise AssumptionsError(f"fx_ranges: {code} needs 0 < low <= high, not {lo}, {hi}")
        for name in (
            "dormant_share",
            "stale_account_share",
            "no_transaction_share",
            "anchor_ack_share",
            "anchor_response_share",
            "statement_ack_share",
            "response_share",
            "boundary_share",
            "missing_rates",
            "kinds_share",
            "fx_volatility",
        ):
            _share(name, getattr(self, name))
        if self.anchor_ack_share + self.anchor_response_share > 1:
            raise AssumptionsError("anchor_ack_share + anchor_response_share is more than 1")
        if self.no_transaction_share + self.stale_account_share > 1:
            raise AssumptionsError("no_transaction_share + stale_account_share is more than 1")
        lo, hi = self.dormant_years
        if not 2 <= lo <= hi <= 200:
            raise AssumptionsError(
                f"dormant_years: need 2 <= low <= high <= 200 (a dormant profile is at least "
                f"two years quiet), not {lo}, {hi}"
            )
        lo, hi = self.stale_years
        if not 0 <= lo <= hi <= 200:
            raise AssumptionsError(f"stale_years: need 0 <= low <= high <= 200, not {lo}, {hi}")
        for name in (
            "active_recent_days",
            "account_gap_days",
            "statement_ack_gap_days",
            "response_gap_days",
            "dormant_body_sigma",
            "active_sigma",
            "kinds_sigma",
        ):
            value = getattr(self, name)
            if not 0 < value < 1e6:
                raise AssumptionsError(f"{name} must be positive, not {value}")
        if not 0.01 <= self.small_balance < self.balance_cap <= 1e12:
            raise AssumptionsError(
                "need 0.01 <= small_balance < balance_cap <= 1e12, not "
                f"{self.small_balance}, {self.balance_cap}"
            )
        if not 0.01 <= self.active_median_balance <= self.balance_cap:
            raise AssumptionsError("active_median_balance must be between 0.01 and balance_cap")
        _share("dormant_share_under_small", self.dormant_share_under_small, open_=True)
        _share("dormant_value_share_under_small", self.dormant_value_share_under_small, open_=True)
        if self.dormant_mean_balance <= 0:
            raise AssumptionsError("dormant_mean_balance must be positive")
        _weights("kinds", [s for _, s, _ in self.kinds])
        for kind, _, median in self.kinds:
            if not kind.strip() or "," in kind or kind != kind.strip():
                raise AssumptionsError(f"kinds: `{kind}` is not a usable kind name")
            if kind == "deposit":
                raise AssumptionsError("kinds: `deposit` is the kind of every other row")
            if not 0.01 <= median <= self.small_balance:
                raise AssumptionsError(
                    f"kinds: the median balance of {kind} must be between 0.01 and small_balance"
                )
        first, last = self.fx_years()
        if not 1800 <= first <= last <= 2200:
            raise AssumptionsError(f"FX years {first}..{last}: need 1800 <= first <= last <= 2200")
        _BalanceModel.from_assumptions(self)  # the targets must be reachable


def _share(name: str, value: float, *, open_: bool = False) -> None:
    ok = 0 < value < 1 if open_ else 0 <= value <= 1
    if not ok or math.isnan(value):
        bounds = "strictly between 0 and 1" if open_ else "between 0 and 1"
        raise AssumptionsError(f"{name} must be {bounds}, not {value}")


def _weights(name: str, weights: Sequence[float]) -> None:
    if not weights:
        raise AssumptionsError(f"{name}: needs at least one entry")
    if any(not w >= 0 or math.isinf(w) for w in weights) or sum(weights) <= 0:
        raise AssumptionsError(f"{name}: weights must be >= 0 and not all 0")


# --- reading assumptions from a file ---------------------------------------------------


def _as_float(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AssumptionsError(f"{name}: expected a number, not {_shown(value)}")
    return float(value)


def _as_int_or_none(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AssumptionsError(f"{name}: expected a whole number (a year), not {_shown(value)}")
    return value


def _as_date(value: object, name: str) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise AssumptionsError(f"{name}: expected a date YYYY-MM-DD, not {_shown(value)}")


def _as_floats(value: object, name: str) -> tuple[float, ...]:
    if not isinstance(value, list | tuple):
        raise AssumptionsError(f"{name}: expected a list of numbers, not {_shown(value)}")
    return tuple(_as_float(v, f"{name}[{i}]") for i, v in enumerate(value))


def _as_pair(value: object, name: str) -> tuple[float, float]:
    numbers = _as_floats(value, name)
    if len(numbers) != 2:
        raise AssumptionsError(f"{name}: expected [low, high]")
    return numbers[0], numbers[1]


def _as_mapping(value: object, name: str) -> Mapping[object, object]:
    if not isinstance(value, Mapping):
        raise AssumptionsError(f"{name}: expected a mapping, not {_shown(value)}")
    return value


def _as_currencies(value: object, name: str) -> tuple[tuple[str, float], ...]:
    """``{CAD: 0.9, USD: 0.1}``."""
    return tuple(
        (str(code), _as_float(share, f"{name}.{code}"))
        for code, share in _as_mapping(value, name).items()
    )


def _as_fx_ranges(value: object, name: str) -> tuple[tuple[str, float, float], ...]:
    """``{USD: [1.25, 1.45]}``."""
    return tuple(
        (str(code), *_as_pair(band, f"{name}.{code}"))
        for code, band in _as_mapping(value, name).items()
    )


def _as_kinds(value: object, name: str) -> tuple[tuple[str, float, float], ...]:
    """``{gift-card: [0.6, 25.0]}`` (share of the extra rows, median balance)."""
    return tuple(
        (str(kind), *_as_pair(spec, f"{name}.{kind}"))
        for kind, spec in _as_mapping(value, name).items()
    )


_READERS: dict[str, Callable[[object, str], object]] = {
    "as_of": _as_date,
    "activity_start": _as_date,
    "accounts_per_member": _as_floats,
    "currencies": _as_currencies,
    "dormant_years": _as_pair,
    "stale_years": _as_pair,
    "fx_ranges": _as_fx_ranges,
    "fx_first_year": _as_int_or_none,
    "fx_last_year": _as_int_or_none,
    "kinds": _as_kinds,
}


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def assumptions_from_mapping(values: Mapping[object, object], base: Assumptions) -> Assumptions:
    """``base`` with the fields named in ``values`` replaced (file syntax; see the docs)."""
    names = [f.name for f in dataclasses.fields(Assumptions)]
    changes: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key)
        if name not in names:
            near = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean `{near[0]}`?)" if near else ""
            raise AssumptionsError(f"unknown assumption `{name}`{hint}")
        changes[name] = _READERS.get(name, _as_float)(value, name)
    return dataclasses.replace(base, **changes)


def load_assumptions(path: str | os.PathLike[str], base: Assumptions | None = None) -> Assumptions:
    """Assumptions from a YAML or JSON file holding any subset of the fields."""
    source = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise AssumptionsError(f"{source}: cannot read assumptions: {reason}") from None
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as e:  # ValueError: a date like 2026-02-30
        raise AssumptionsError(f"{source}: not YAML or JSON: {_one_line(str(e))}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise AssumptionsError(f"{source}: expected a mapping of assumption names to values")
    try:
        return assumptions_from_mapping(data, base or Assumptions())
    except AssumptionsError as e:
        raise AssumptionsError(f"{source}: {e}") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- calendar


def _minus_years(day: date, years: int) -> date:
    """``day`` - ``years`` years, 29 Feb -> 28 Feb (D1)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _ordinal(day: date) -> int:
    return (day - _EPOCH).days


def _calendar_edges(days: _Ints, kind: _Ints) -> _Ints:
    """For each day, the calendar edge ``kind`` (0-4) of its year.

    0: 29 Feb (of the year, or the latest leap year before it), 1: 30 Sep, 2: 1 Oct,
    3: 31 Dec, 4: 1 Jan.
    """
    import numpy as np

    years = days.astype("datetime64[D]").astype("datetime64[Y]")
    jan1 = years.astype("datetime64[D]").astype(np.int64)
    sep30 = (years.astype("datetime64[M]") + 8).astype("datetime64[D]").astype(np.int64) + 29
    dec31 = (years + 1).astype("datetime64[D]").astype(np.int64) - 1
    year = years.astype(np.int64) + 1970
    leap = year - year % 4
    leap = np.where((leap % 100 == 0) & (leap % 400 != 0), leap - 4, leap)
    mar1 = (
        (leap - 1970).astype("datetime64[Y]").astype("datetime64[M]") + 2
    ).astype("datetime64[D]").astype(np.int64)
    choices = np.stack([mar1 - 1, sep30, sep30 + 1, dec31, jan1])
    out: _Ints = np.take_along_axis(choices, kind[np.newaxis, :], axis=0)[0]
    return out


# --------------------------------------------------------------------------- distributions

# Acklam's rational approximation of the inverse normal CDF (relative error < 1.2e-9)
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)  # fmt: skip
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)  # fmt: skip
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)  # fmt: skip
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
      3.754408661907416e00)  # fmt: skip
_P_LOW = 0.02425


def _norm_ppf(p: _Floats) -> _Floats:
    """Inverse standard normal CDF, vectorised (p in (0, 1))."""
    import numpy as np

    p = np.clip(p, 1e-300, 1.0 - 1e-16)
    out = np.empty_like(p)
    low = p < _P_LOW
    high = p > 1.0 - _P_LOW
    mid = ~(low | high)
    q = p[mid] - 0.5
    r = q * q
    num = ((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]
    den = ((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0
    out[mid] = num * q / den
    for mask, sign in ((low, 1.0), (high, -1.0)):
        tail = p[mask] if sign > 0 else 1.0 - p[mask]
        t = np.sqrt(-2.0 * np.log(tail))
        num = ((((_C[0] * t + _C[1]) * t + _C[2]) * t + _C[3]) * t + _C[4]) * t + _C[5]
        den = (((_D[0] * t + _D[1]) * t + _D[2]) * t + _D[3]) * t + 1.0
        out[mask] = sign * num / den
    return out


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _lognormal_below(u: _Floats, mu: float, sigma: float, top: float) -> _Floats:
    """Lognormal(mu, sigma) conditioned on being below ``top``, by inverse CDF."""
    import numpy as np

    ceiling = _norm_cdf((math.log(top) - mu) / sigma)
    values: _Floats = np.exp(mu + sigma * _norm_ppf(u * ceiling))
    return values


def _lognormal_below_mean(mu: float, sigma: float, top: float) -> float:
    b = (math.log(top) - mu) / sigma
    below = _norm_cdf(b)
    if below <= 0.0:
        return top
    return math.exp(mu + sigma * sigma / 2) * _norm_cdf(b - sigma) / below


def _pareto_between(u: _Floats, low: float, high: float, alpha: float) -> _Floats:
    """Pareto(alpha) from ``low``, truncated at ``high``, by inverse CDF."""
    keep = 1.0 - (low / high) ** alpha
    values: _Floats = low * (1.0 - u * keep) ** (-1.0 / alpha)
    return values


def _pareto_between_mean(low: float, high: float, alpha: float) -> float:
    ratio = low / high
    if abs(alpha - 1.0) < 1e-9:
        return low * math.log(high / low) / (1.0 - ratio)
    return float(low * alpha / (alpha - 1) * (1 - ratio ** (alpha - 1)) / (1 - ratio**alpha))


def _bisect(f: Callable[[float], float], lo: float, hi: float) -> float:
    """The root of an increasing ``f`` on [lo, hi]."""
    for _ in range(200):
        mid = (lo + hi) / 2
        if f(mid) < 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _truncated_exponential(u: _Floats, mean: float, limit: float) -> _Floats:
    """Exponential with ``mean``, conditioned on being below ``limit``."""
    import numpy as np

    keep = -math.expm1(-limit / mean)
    values: _Floats = -mean * np.log1p(-u * keep)
    return values


def _exponential(u: _Floats, mean: float) -> _Floats:
    import numpy as np

    values: _Floats = -mean * np.log1p(-u)
    return values


@dataclass(frozen=True)
class _BalanceModel:
    """Dormant balances: a lognormal body below ``small`` and a Pareto tail above it.

    With p = share under ``small``, v = value share under it and m = the mean, the body
    must average v*m/p and the tail (1-v)*m/(1-p); ``mu`` and ``alpha`` are solved so
    that they do, which makes the three targets hold exactly in expectation.
    """

    small: float
    cap: float
    p_small: float
    mu: float
    sigma: float
    alpha: float

    @staticmethod
    def from_assumptions(a: Assumptions) -> _BalanceModel:
        p = a.dormant_share_under_small
        v = a.dormant_value_share_under_small
        mean = a.dormant_mean_balance
        small, cap, sigma = a.small_balance, a.balance_cap, a.dormant_body_sigma
        body_mean = v * mean / p
        tail_mean = (1 - v) * mean / (1 - p)
        if not 0 < body_mean < small * 0.99:
            raise AssumptionsError(
                f"the balance targets put the mean of balances under {small:,.2f} at "
                f"{body_mean:,.2f}; it must be below {small:,.2f}: lower "
                "dormant_value_share_under_small or dormant_mean_balance"
            )
        widest = _pareto_between_mean(small, cap, 0.01)
        if not small * 1.001 < tail_mean < widest:
            raise AssumptionsError(
                f"the balance targets put the mean of balances of {small:,.2f} and more at "
                f"{tail_mean:,.2f}; a tail capped at {cap:,.2f} can give between "
                f"{small:,.2f} and {widest:,.2f}: adjust the targets or balance_cap"
            )
        top = math.log(small)
        mu = _bisect(
            lambda m: _lognormal_below_mean(m, sigma, small) - body_mean,
            top - 40 * sigma - 50,
            top + 10 * sigma,
        )
        alpha = _bisect(lambda al: tail_mean - _pareto_between_mean(small, cap, al), 0.01, 1e4)
        return _BalanceModel(small, cap, p, mu, sigma, alpha)

    def sample(self, u_component: _Floats, u_value: _Floats) -> _Floats:
        import numpy as np

        out = np.empty_like(u_value)
        body = u_component < self.p_small
        out[body] = _lognormal_below(u_value[body], self.mu, self.sigma, self.small)
        tail = ~body
        out[tail] = _pareto_between(u_value[tail], self.small, self.cap, self.alpha)
        return out


def _cents(values: _Floats) -> _Ints:
    """Whole cents, rounded down (a body value stays under the threshold), at least 1."""
    import numpy as np

    cents: _Ints = np.maximum(np.floor(values * 100.0), 1.0).astype(np.int64)
    return cents


# --------------------------------------------------------------------------- generation

# uniforms consumed per member / per deposit account / per member for extra kinds rows;
# changing a layout changes every portfolio, so the columns are named here.
_M_DORMANT, _M_GAP, _M_EDGE, _M_ANCHOR = 0, 1, 2, 3
_M_ACK, _M_ACK_GAP, _M_ACK_EDGE = 4, 5, 6
_M_RESP, _M_RESP_GAP, _M_RESP_EDGE = 7, 8, 9
_M_COUNT = 10
_MEMBER_DRAWS = 11
_A_CURRENCY, _A_COMPONENT, _A_BALANCE = 0, 1, 2
_A_TX_KIND, _A_TX_GAP, _A_TX_EDGE, _A_OPENED, _A_OPENED_EDGE = 3, 4, 5, 6, 7
_ACCOUNT_DRAWS = 8
_K_KIND, _K_BALANCE, _K_TX_KIND, _K_TX_GAP, _K_OPENED = 0, 1, 2, 3, 4
_KIND_DRAWS = 5
_KIND_NO_TX = 0.2  # share of gift-card/prepaid rows never used after purchase


def _streams(seed: int) -> list[np.random.Generator]:
    import numpy as np

    children = np.random.SeedSequence(seed).spawn(4)
    return [np.random.Generator(np.random.PCG64(child)) for child in children]


def _choose(u: _Floats, weights: Sequence[float]) -> _Ints:
    import numpy as np

    cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
    cumulative /= cumulative[-1]
    chosen: _Ints = np.searchsorted(cumulative[:-1], u, side="right").astype(np.int64)
    return chosen


def _snap(
    days: _Ints, u: _Floats, share: float, low: _Ints | int, high: _Ints | int, eligible: _Bools
) -> _Ints:
    """Move a share of ``days`` onto a calendar edge of their year, when it stays in range."""
    import numpy as np

    if share <= 0:
        return days
    pick = eligible & (u < share)
    if not pick.any():
        return days
    idx = np.flatnonzero(pick)
    kind = np.minimum((u[idx] / share * 5).astype(np.int64), 4)
    candidate = _calendar_edges(days[idx], kind)
    lo = low[idx] if isinstance(low, np.ndarray) else low
    hi = high[idx] if isinstance(high, np.ndarray) else high
    ok = (candidate >= lo) & (candidate <= hi)
    out = days.copy()
    out[idx[ok]] = candidate[ok]
    return out


@dataclass
class _Chunk:
    """The arrays of one chunk, before they become a DataFrame."""

    first_member: int  # 0-based index of the chunk's first member
    member: _Ints  # per row: index of the member in the chunk
    ordinal: _Ints  # per row: 0 for A, 1 for B, ...
    currency: _Ints  # index into the currency codes
    cents: _Ints
    opened: _Ints
    last_tx: _Ints
    no_tx: _Bools
    ack: _Ints  # per member
    no_ack: _Bools
    resp: _Ints
    no_resp: _Bools
    dormant: _Bools  # per member
    kind: _Ints | None  # 0 = deposit, 1.. = Assumptions.kinds


class _Builder:
    """Builds chunks of consecutive members from the four streams."""

    def __init__(self, a: Assumptions, seed: int, kinds: bool) -> None:
        a.validate()
        self.a = a
        self.kinds = kinds
        self.balances = _BalanceModel.from_assumptions(a)
        self.member_rng, self.account_rng, self.kind_rng, _ = _streams(seed)
        self.codes = [c for c, _ in a.currencies]
        self.currency_weights = [s for _, s in a.currencies]
        if "CAD" not in self.codes:  # gift-card/prepaid rows are in CAD
            self.codes.append("CAD")
            self.currency_weights.append(0.0)
        self.as_of = _ordinal(a.as_of)
        self.start = _ordinal(a.activity_start)
        # a profile whose last activity is on this day is inactive on as_of
        self.inactive_edge = _ordinal(_minus_years(a.as_of, 2))
        self.unclaimed_edge = _ordinal(_minus_years(a.as_of, 10))
        self.active_mu = math.log(a.active_median_balance)

    def chunk(self, first_member: int, n: int) -> _Chunk:
        import numpy as np

        a = self.a
        um = self.member_rng.random(n * _MEMBER_DRAWS).reshape(n, _MEMBER_DRAWS)
        dormant = um[:, _M_DORMANT] < a.dormant_share
        counts = 1 + _choose(um[:, _M_COUNT], a.accounts_per_member)

        # the profile's last activity (L): recent for active members, years ago for dormant ones
        active_limit = self.as_of - self.inactive_edge  # days; L must stay above the edge
        recent = np.minimum(
            np.floor(_truncated_exponential(um[:, _M_GAP], a.active_recent_days, active_limit)),
            active_limit - 1,
        )
        lo, hi = a.dormant_years
        quiet = np.floor((lo + (hi - lo) * um[:, _M_GAP]) * _DAYS_PER_YEAR)
        last = np.maximum(self.as_of - np.where(dormant, quiet, recent), self.start)
        last = last.astype(np.int64)
        last = self._snap_profile(last, um[:, _M_EDGE], dormant)

        # what the last activity was: a statement acknowledgement, a response, or a transaction
        ua = um[:, _M_ANCHOR]
        by_ack = ua < a.anchor_ack_share
        by_resp = ~by_ack & (ua < a.anchor_ack_share + a.anchor_response_share)
        by_tx_share = 1.0 - a.anchor_ack_share - a.anchor_response_share
        position = (ua - a.anchor_ack_share - a.anchor_response_share) / max(by_tx_share, 1e-300)
        anchor = np.where(
            by_ack | by_resp, -1, np.minimum((position * counts).astype(np.int64), counts - 1)
        )

        ack, no_ack = self._member_date(
            last, by_ack, um[:, _M_ACK], um[:, _M_ACK_GAP], um[:, _M_ACK_EDGE],
            a.statement_ack_share, a.statement_ack_gap_days,
        )  # fmt: skip
        resp, no_resp = self._member_date(
            last, by_resp, um[:, _M_RESP], um[:, _M_RESP_GAP], um[:, _M_RESP_EDGE],
            a.response_share, a.response_gap_days,
        )  # fmt: skip

        # deposit accounts
        m = int(counts.sum())
        uacc = self.account_rng.random(m * _ACCOUNT_DRAWS).reshape(m, _ACCOUNT_DRAWS)
        member = np.repeat(np.arange(n, dtype=np.int64), counts)
        starts = np.cumsum(counts) - counts
        ordinal = np.arange(m, dtype=np.int64) - np.repeat(starts, counts)
        currency = _choose(uacc[:, _A_CURRENCY], self.currency_weights)
        row_dormant = dormant[member]
        values = np.empty(m, dtype=np.float64)
        values[row_dormant] = self.balances.sample(
            uacc[row_dormant, _A_COMPONENT], uacc[row_dormant, _A_BALANCE]
        )
        live = ~row_dormant
        values[live] = _lognormal_below(
            uacc[live, _A_BALANCE], self.active_mu, a.active_sigma, a.balance_cap
        )
        cents = _cents(values)

        row_last = last[member]
        is_anchor = ordinal == anchor[member]
        u_kind = uacc[:, _A_TX_KIND]
        no_tx = ~is_anchor & (u_kind < a.no_transaction_share)
        stale_below = a.no_transaction_share + a.stale_account_share
        stale = ~is_anchor & ~no_tx & live & (u_kind < stale_below)
        s_lo, s_hi = a.stale_years
        gap = np.where(
            stale,
            (s_lo + (s_hi - s_lo) * uacc[:, _A_TX_GAP]) * _DAYS_PER_YEAR,
            _exponential(uacc[:, _A_TX_GAP], a.account_gap_days),
        )
        tx = np.where(is_anchor, row_last, np.maximum(row_last - np.floor(gap), self.start))
        tx = tx.astype(np.int64)
        tx = _snap(
            tx, uacc[:, _A_TX_EDGE], a.boundary_share, self.start, row_last, ~is_anchor & ~no_tx
        )
        opened = self._opened(
            np.where(no_tx, row_last, tx), uacc[:, _A_OPENED], uacc[:, _A_OPENED_EDGE]
        )

        chunk = _Chunk(
            first_member=first_member, member=member, ordinal=ordinal, currency=currency,
            cents=cents, opened=opened, last_tx=tx, no_tx=no_tx, ack=ack, no_ack=no_ack,
            resp=resp, no_resp=no_resp, dormant=dormant, kind=None,
        )  # fmt: skip
        if self.kinds:
            chunk = self._add_kinds(chunk, counts, last)
        return chunk

    def _snap_profile(self, last: _Ints, u: _Floats, dormant: _Bools) -> _Ints:
        """Move a share of profiles' last activity onto an edge, keeping dormancy."""
        import numpy as np

        share = self.a.boundary_share
        pick = u < share
        if share <= 0 or not pick.any():
            return last
        idx = np.flatnonzero(pick)
        kind = np.minimum((u[idx] / share * _BOUNDARY_KINDS).astype(np.int64), _BOUNDARY_KINDS - 1)
        candidate = _calendar_edges(last[idx], np.minimum(kind, 4))
        edges = np.array(
            [
                self.inactive_edge,  # inactive from as_of exactly
                self.inactive_edge + 1,  # still active on as_of, inactive the day after
                self.unclaimed_edge,  # unclaimed from as_of exactly (without clamping)
                self.unclaimed_edge + 1,  # unclaimed the day after as_of
            ],
            dtype=np.int64,
        )
        candidate = np.where(kind >= 5, edges[np.maximum(kind - 5, 0)], candidate)
        quiet = dormant[idx]
        keeps_class = np.where(
            quiet, candidate <= self.inactive_edge, candidate > self.inactive_edge
        )
        ok = keeps_class & (candidate >= self.start) & (candidate <= self.as_of)
        out = last.copy()
        out[idx[ok]] = candidate[ok]
        return out

    def _member_date(
        self,
        last: _Ints,
        is_anchor: _Bools,
        u_present: _Floats,
        u_gap: _Floats,
        u_edge: _Floats,
        share: float,
        mean_gap: float,
    ) -> tuple[_Ints, _Bools]:
        """A member-level date: the last activity itself, an earlier one, or none."""
        import numpy as np

        earlier = np.maximum(last - np.floor(_exponential(u_gap, mean_gap)), self.start)
        days = np.where(is_anchor, last, earlier).astype(np.int64)
        absent = ~is_anchor & (u_present >= share)
        days = _snap(days, u_edge, self.a.boundary_share, self.start, last, ~is_anchor & ~absent)
        return days, absent

    def _opened(self, latest: _Ints, u: _Floats, u_edge: _Floats) -> _Ints:
        """Opening days uniform between ``activity_start`` and ``latest``."""
        import numpy as np

        span = latest - self.start + 1
        opened = (latest - np.floor(u * span)).astype(np.int64)
        opened = np.clip(opened, self.start, latest)
        everywhere = np.ones_like(u, dtype=bool)
        return _snap(opened, u_edge, self.a.boundary_share, self.start, latest, everywhere)

    def _add_kinds(self, chunk: _Chunk, counts: _Ints, last: _Ints) -> _Chunk:
        """One extra gift-card/prepaid row after the deposit rows of a share of members."""
        import numpy as np

        a = self.a
        n = len(counts)
        uk = self.kind_rng.random(n * _KIND_DRAWS).reshape(n, _KIND_DRAWS)
        has = uk[:, _K_KIND] < a.kinds_share
        extra = np.flatnonzero(has)
        k = len(extra)
        kind = 1 + _choose(uk[extra, _K_KIND] / a.kinds_share, [s for _, s, _ in a.kinds])
        medians = np.log(np.array([md for _, _, md in a.kinds]))[kind - 1]
        ceiling = np.array(
            [_norm_cdf((math.log(a.small_balance) - math.log(md)) / a.kinds_sigma)
             for _, _, md in a.kinds]
        )[kind - 1]  # fmt: skip
        z = _norm_ppf(uk[extra, _K_BALANCE] * ceiling)
        cents = _cents(np.exp(medians + a.kinds_sigma * z))
        row_last = last[extra]
        no_tx = uk[extra, _K_TX_KIND] < _KIND_NO_TX
        gap = np.floor(_exponential(uk[extra, _K_TX_GAP], a.account_gap_days))
        tx = np.maximum(row_last - gap, self.start).astype(np.int64)
        latest = np.where(no_tx, row_last, tx)
        span = latest - self.start + 1
        opened = np.clip((latest - np.floor(uk[extra, _K_OPENED] * span)).astype(np.int64),
                         self.start, latest)  # fmt: skip

        # interleave: each member's extra row goes right after its deposit rows
        total = counts + has
        new_starts = np.cumsum(total) - total
        m = len(chunk.member)
        deposit_pos = np.repeat(new_starts, counts) + chunk.ordinal
        extra_pos = new_starts[extra] + counts[extra]
        size = m + k

        def merge(deposit: npt.NDArray[Any], added: npt.NDArray[Any]) -> npt.NDArray[Any]:
            out = np.empty(size, dtype=deposit.dtype)
            out[deposit_pos] = deposit
            out[extra_pos] = added
            return out

        cad = self.codes.index("CAD")
        return _Chunk(
            first_member=chunk.first_member,
            member=merge(chunk.member, extra),
            ordinal=merge(chunk.ordinal, counts[extra]),
            currency=merge(chunk.currency, np.full(k, cad, dtype=np.int64)),
            cents=merge(chunk.cents, cents),
            opened=merge(chunk.opened, opened),
            last_tx=merge(chunk.last_tx, tx),
            no_tx=merge(chunk.no_tx, no_tx),
            ack=chunk.ack,
            no_ack=chunk.no_ack,
            resp=chunk.resp,
            no_resp=chunk.no_resp,
            dormant=chunk.dormant,
            kind=merge(np.zeros(m, dtype=np.int64), kind),
        )


def _id_width(members: int) -> int:
    return max(7, len(str(members)))


def _frame(chunk: _Chunk, codes: Sequence[str], kinds: Sequence[str], width: int) -> pl.DataFrame:
    """The snapshot rows of one chunk (Parquet types: Date, Decimal(18, 2))."""
    import numpy as np
    import polars as pl

    letters = {i: _LETTERS[i] for i in range(len(_LETTERS))}
    member = chunk.member
    raw = pl.DataFrame(
        {
            "m": chunk.first_member + 1 + member,
            "o": chunk.ordinal,
            "c": chunk.currency,
            "b": chunk.cents,
            "opened": chunk.opened.astype(np.int32),
            "tx": chunk.last_tx.astype(np.int32),
            "no_tx": chunk.no_tx,
            "ack": chunk.ack[member].astype(np.int32),
            "no_ack": chunk.no_ack[member],
            "resp": chunk.resp[member].astype(np.int32),
            "no_resp": chunk.no_resp[member],
        }
    )
    if chunk.kind is not None:
        raw = raw.with_columns(k=pl.Series(chunk.kind))

    def day(col: str, absent: str) -> pl.Expr:
        return pl.when(pl.col(absent)).then(None).otherwise(pl.col(col).cast(pl.Date)).alias(col)

    member_id = pl.lit("M") + pl.col("m").cast(pl.String).str.zfill(width)
    columns: list[pl.Expr] = [
        member_id.alias("member_id"),
        pl.concat_str(
            [member_id, pl.lit("-"), pl.col("o").replace_strict(letters, return_dtype=pl.String)]
        ).alias("account_id"),
        pl.col("c")
        .replace_strict(dict(enumerate(codes)), return_dtype=pl.String)
        .alias("currency"),
        (pl.col("b").cast(pl.Decimal(18, 0)).cast(pl.Decimal(18, 2)) / 100)
        .cast(pl.Decimal(18, 2))
        .alias("balance"),
        pl.col("opened").cast(pl.Date).alias("opened"),
        day("tx", "no_tx").alias("last_transaction"),
        day("ack", "no_ack").alias("last_statement_ack"),
        day("resp", "no_resp").alias("last_response"),
    ]
    if chunk.kind is not None:
        names = {0: "deposit", **{i + 1: k for i, k in enumerate(kinds)}}
        columns.append(pl.col("k").replace_strict(names, return_dtype=pl.String).alias("kind"))
    return raw.select(columns)


def _schema(kinds: bool) -> dict[str, pl.DataType]:
    import polars as pl

    schema: dict[str, pl.DataType] = {
        "member_id": pl.String(),
        "account_id": pl.String(),
        "currency": pl.String(),
        "balance": pl.Decimal(18, 2),
        "opened": pl.Date(),
        "last_transaction": pl.Date(),
        "last_statement_ack": pl.Date(),
        "last_response": pl.Date(),
    }
    if kinds:
        schema["kind"] = pl.String()
    assert tuple(schema)[:8] == SNAPSHOT_COLUMNS
    return schema


# --------------------------------------------------------------------------- summary


@dataclass
class Summary:
    """What was generated: counts, shares and balance figures, for the report."""

    out: str = ""
    fx_out: str = ""
    members: int = 0
    rows: int = 0
    deposit_rows: int = 0
    foreign_rows: int = 0
    dormant_members: int = 0
    dormant_rows: int = 0
    dormant_under_small: int = 0
    dormant_cents: int = 0
    dormant_cents_under_small: int = 0
    fx_rows: int = 0
    fx_missing: int = 0
    small_balance: float = 1000.0
    #: balance quantiles p10, p50, p90, p99 and the max, in the accounts' own currencies
    quantiles: dict[str, float] = field(default_factory=dict)
    #: quantiles use the rows of every ``stride``-th member (1: all rows, exact)
    stride: int = 1
    _cents: list[_Ints] = field(default_factory=list, repr=False)
    _max_cents: int = 0

    def add(self, chunk: _Chunk, codes: Sequence[str]) -> None:
        import numpy as np

        n = len(chunk.dormant)
        self.members += n
        self.rows += len(chunk.member)
        deposit = chunk.kind == 0 if chunk.kind is not None else np.ones(len(chunk.member), bool)
        self.deposit_rows += int(deposit.sum())
        cad = codes.index("CAD") if "CAD" in codes else -1
        self.foreign_rows += int((chunk.currency != cad).sum())
        self.dormant_members += int(chunk.dormant.sum())
        quiet = chunk.dormant[chunk.member] & deposit
        cents = chunk.cents[quiet]
        small = cents < round(self.small_balance * 100)
        self.dormant_rows += len(cents)
        self.dormant_under_small += int(small.sum())
        self.dormant_cents += int(cents.sum())
        self.dormant_cents_under_small += int(cents[small].sum())
        if len(chunk.cents):
            self._max_cents = max(self._max_cents, int(chunk.cents.max()))
        if self.stride == 1:
            self._cents.append(chunk.cents)
        else:
            sampled = (chunk.first_member + chunk.member) % self.stride == 0
            self._cents.append(chunk.cents[sampled])

    def finish(self) -> None:
        import numpy as np

        cents = np.concatenate(self._cents) if self._cents else np.zeros(0, np.int64)
        self._cents = []
        if len(cents):
            qs = (0.1, 0.5, 0.9, 0.99)
            values = np.quantile(cents, qs, method="inverted_cdf")
            self.quantiles = {
                f"p{round(q * 100)}": float(v) / 100 for q, v in zip(qs, values, strict=True)
            }
            self.quantiles["max"] = self._max_cents / 100

    @property
    def dormant_share_under_small(self) -> float:
        return self.dormant_under_small / self.dormant_rows if self.dormant_rows else 0.0

    @property
    def dormant_value_share_under_small(self) -> float:
        return self.dormant_cents_under_small / self.dormant_cents if self.dormant_cents else 0.0

    @property
    def dormant_mean(self) -> float:
        return self.dormant_cents / 100 / self.dormant_rows if self.dormant_rows else 0.0

    def render(self) -> str:
        rows = max(self.rows, 1)
        members = max(self.members, 1)
        q = self.quantiles
        quantiles = ", ".join(f"{k} {v:,.2f}" for k, v in q.items())
        extra = self.rows - self.deposit_rows
        kinds = f" (of which {extra:,} gift-card/prepaid)" if extra else ""
        missing = f", {self.fx_missing:,} left out on purpose" if self.fx_missing else ""
        return (
            f"Generated {self.rows:,} accounts{kinds} for {self.members:,} members "
            f"({self.rows / members:.2f} per member); {self.foreign_rows / rows:.1%} "
            f"in a foreign currency; {self.dormant_members / members:.1%} of members "
            f"({self.dormant_rows / rows:.1%} of accounts) dormant. Balances (own "
            f"currency): {quantiles}. Dormant balances: "
            f"{self.dormant_share_under_small:.1%} under {self.small_balance:,.2f}, "
            f"holding {self.dormant_value_share_under_small:.1%} of their value, mean "
            f"{self.dormant_mean:,.2f}. FX table: {self.fx_rows:,} rates{missing}. "
            f"Wrote {self.out} and {self.fx_out}."
        )


# --------------------------------------------------------------------------- public API


def iter_chunks(
    members: int,
    seed: int = 0,
    assumptions: Assumptions | None = None,
    *,
    kinds: bool = False,
    chunk_members: int = DEFAULT_CHUNK_MEMBERS,
    summary: Summary | None = None,
) -> Iterator[pl.DataFrame]:
    """The portfolio as DataFrames of whole members, in order (Parquet column types).

    The concatenation is the same whatever ``chunk_members`` is. ``summary``, if given,
    accumulates the figures of :class:`Summary` as chunks are produced.
    """
    a = assumptions or Assumptions()
    _check_counts(members, seed, chunk_members)
    builder = _Builder(a, seed, kinds)
    width = _id_width(members)
    kind_names = [k for k, _, _ in a.kinds]
    for first in range(0, members, chunk_members):
        n = min(chunk_members, members - first)
        chunk = builder.chunk(first, n)
        if summary is not None:
            summary.add(chunk, builder.codes)
        yield _frame(chunk, builder.codes, kind_names, width)


def fx_table(seed: int = 0, assumptions: Assumptions | None = None) -> list[tuple[str, date, str]]:
    """(currency, 30 September, rate with 4 decimals) rows, by currency then date."""
    a = assumptions or Assumptions()
    a.validate()
    rng = _streams(seed)[3]
    first, last = a.fx_years()
    years = last - first + 1
    ranges = {c: (lo, hi) for c, lo, hi in a.fx_ranges}
    foreign = sorted({c for c, s in a.currencies if c != "CAD" and s > 0})
    rows: list[tuple[str, date, str]] = []
    for code in foreign:
        lo, hi = ranges[code]
        u = rng.random(2 * years + 1)
        rate = lo + (hi - lo) * u[0]
        step = a.fx_volatility * (hi - lo)
        for i in range(years):
            if i:
                rate += step * (2 * u[2 * i - 1] - 1)
                if rate > hi:  # reflect into the band
                    rate = 2 * hi - rate
                if rate < lo:
                    rate = 2 * lo - rate
                rate = min(max(rate, lo), hi)
            if u[2 * i + 2] >= a.missing_rates:
                rows.append((code, date(first + i, 9, 30), f"{rate:.4f}"))
    return rows


def fx_path_for(out: str | os.PathLike[str]) -> Path:
    """``<stem>.fx.csv`` beside the portfolio file."""
    path = Path(out)
    return path.with_name(path.stem + ".fx.csv")


def generate(
    out: str | os.PathLike[str],
    members: int,
    seed: int = 0,
    assumptions: Assumptions | None = None,
    *,
    kinds: bool = False,
    chunk_members: int = DEFAULT_CHUNK_MEMBERS,
) -> Summary:
    """Write the portfolio to ``out`` (.csv or .parquet) and its FX table beside it.

    Each file is written to a temporary name in its directory and renamed when complete,
    so a failure leaves no partial file. Raises :class:`GenerateError` (with a one-line
    message) for bad arguments, unreachable assumptions or an unwritable path.
    """
    a = assumptions or Assumptions()
    _check_counts(members, seed, chunk_members)
    a.validate()
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        shown = f"`{path.suffix}`" if path.suffix else "no extension"
        raise GenerateError(f"{out}: cannot tell the format from {shown}: use .csv or .parquet")
    fx_path = fx_path_for(path)
    for target in (path, fx_path):
        if target.is_dir():
            raise GenerateError(f"{target}: is a directory")
    summary = Summary(
        out=str(path),
        fx_out=str(fx_path),
        small_balance=a.small_balance,
        stride=max(1, -(-members // EXACT_QUANTILE_MEMBERS)),
    )
    chunks = iter_chunks(
        members, seed, a, kinds=kinds, chunk_members=chunk_members, summary=summary
    )
    fx_rows = fx_table(seed, a)
    first, last = a.fx_years()
    foreign = {c for c, s in a.currencies if c != "CAD" and s > 0}
    summary.fx_rows = len(fx_rows)
    summary.fx_missing = len(foreign) * (last - first + 1) - len(fx_rows)
    with _replacing(path) as tmp:
        if suffix == ".csv":
            _write_csv(tmp, chunks)
        else:
            _write_parquet(tmp, chunks, kinds)
    with _replacing(fx_path) as tmp:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(("currency", "date", "rate"))
        writer.writerows((c, d.isoformat(), r) for c, d, r in fx_rows)
        tmp.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    summary.finish()
    return summary


def _check_counts(members: int, seed: int, chunk_members: int) -> None:
    if not 1 <= members <= MAX_MEMBERS:
        raise GenerateError(f"--members must be between 1 and {MAX_MEMBERS:,}, not {members}")
    if not 0 <= seed < 2**63:
        raise GenerateError(f"--seed must be a whole number >= 0, not {seed}")
    if chunk_members < 1:
        raise GenerateError(f"--chunk-members must be at least 1, not {chunk_members}")


class _replacing:
    """Context manager: a temporary path beside ``target`` (named with this process's id,
    see :mod:`evaluator.atomic`), fsynced and renamed onto it on success, removed
    otherwise."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.tmp: Path | None = None
        self._outputs = atomic.Outputs()

    def __enter__(self) -> Path:
        try:
            self.tmp = self._outputs.add(self.target)
        except OSError as e:
            raise GenerateError(f"cannot write {self.target}: {e.strerror or e}") from None
        return self.tmp

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        import polars as pl

        assert self.tmp is not None
        if kind is None:
            try:
                self._outputs.commit()
                return
            except atomic.WriteError as e:
                self._outputs.discard()
                raise GenerateError(str(e)) from None
        self._outputs.discard()
        if isinstance(value, OSError):
            raise GenerateError(f"cannot write {self.target}: {value.strerror or value}") from None
        if isinstance(value, pl.exceptions.PolarsError):
            raise GenerateError(f"cannot write {self.target}: {_one_line(str(value))}") from None


def _write_csv(path: Path, chunks: Iterator[pl.DataFrame]) -> None:
    with path.open("wb") as fh:
        for i, frame in enumerate(chunks):
            frame.write_csv(fh, include_header=i == 0, date_format="%Y-%m-%d", null_value="")


def _write_parquet(path: Path, chunks: Iterator[pl.DataFrame], kinds: bool) -> None:
    from polars.io.plugins import register_io_source

    schema = _schema(kinds)

    def source(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        for frame in chunks:
            if with_columns is not None:
                frame = frame.select(with_columns)
            if predicate is not None:
                frame = frame.filter(predicate)
            yield frame

    frame = register_io_source(source, schema=schema, validate_schema=True)
    frame.sink_parquet(path, row_group_size=PARQUET_ROW_GROUP, compression="zstd", statistics=True)


# --------------------------------------------------------------------------- command line


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``generate`` to the CLI's subparsers (``parser.add_subparsers(...)``)."""
    p = subparsers.add_parser(
        "generate",
        help="write a synthetic snapshot portfolio and its FX table",
        description="Write a synthetic account snapshot table (CSV or Parquet, by the "
        "extension of --out) and its FX table <stem>.fx.csv, from documented assumptions "
        "calibrated to public figures (docs/synthetic-portfolios.md). The same members, "
        "seed and options always give the same files.",
    )
    p.add_argument("--members", type=int, required=True, metavar="N", help="number of members")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--out", required=True, metavar="FILE", help="portfolio file: .csv or .parquet")
    p.add_argument("--assumptions", metavar="FILE",
                   help="YAML or JSON file overriding any subset of the assumptions")  # fmt: skip
    p.add_argument("--as-of", dest="as_of", metavar="DATE",
                   help="reference day, YYYY-MM-DD (default 2026-11-21)")  # fmt: skip
    p.add_argument("--foreign-share", dest="foreign_share", type=float, metavar="X",
                   help="share of non-CAD accounts, 0-1 (default 0.105); the mix of "
                   "foreign currencies keeps its proportions")  # fmt: skip
    p.add_argument("--dormant-share", dest="dormant_share", type=float, metavar="X",
                   help="share of members with a dormant profile, 0-1 (default 0.25)")  # fmt: skip
    p.add_argument("--accounts-per-member", dest="accounts_per_member", metavar="W1,W2,...",
                   help="relative weights of 1, 2, ... accounts per member "
                   "(default 0.55,0.27,0.11,0.05,0.02)")  # fmt: skip
    p.add_argument("--missing-rates", dest="missing_rates", type=float, metavar="FRACTION",
                   help="share of FX rates to leave out on purpose (default 0)")  # fmt: skip
    p.add_argument("--kinds", action="store_true",
                   help="add a `kind` column and gift-card/prepaid rows")  # fmt: skip
    p.add_argument("--chunk-members", dest="chunk_members", type=int,
                   default=DEFAULT_CHUNK_MEMBERS, metavar="N",
                   help="members generated at a time; bounds memory, never changes the output "
                   f"(default {DEFAULT_CHUNK_MEMBERS:,})")  # fmt: skip


def assumptions_from_args(args: argparse.Namespace) -> Assumptions:
    """Defaults, then ``--assumptions FILE``, then the direct flags."""
    a = Assumptions()
    if getattr(args, "assumptions", None):
        a = load_assumptions(args.assumptions, a)
    changes: dict[str, Any] = {}
    if getattr(args, "as_of", None):
        changes["as_of"] = _as_date(args.as_of, "--as-of")
    if getattr(args, "dormant_share", None) is not None:
        changes["dormant_share"] = args.dormant_share
    if getattr(args, "missing_rates", None) is not None:
        changes["missing_rates"] = args.missing_rates
    if getattr(args, "accounts_per_member", None):
        try:
            weights = tuple(float(w) for w in args.accounts_per_member.split(","))
        except ValueError:
            raise AssumptionsError(
                f"--accounts-per-member `{args.accounts_per_member}`: expected weights "
                "like 0.55,0.27,0.11,0.05,0.02"
            ) from None
        changes["accounts_per_member"] = weights
    a = dataclasses.replace(a, **changes)
    if getattr(args, "foreign_share", None) is not None:
        a = a.with_foreign_share(args.foreign_share)
    return a


def run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """``unclaimed generate``: 0 when both files were written, 2 for any bad input."""
    try:
        a = assumptions_from_args(args)
        a.validate()
        summary = generate(
            args.out,
            args.members,
            args.seed,
            a,
            kinds=bool(getattr(args, "kinds", False)),
            chunk_members=getattr(args, "chunk_members", DEFAULT_CHUNK_MEMBERS),
        )
    except GenerateError as e:
        print(f"error: {e}", file=stderr)
        return EXIT_INVALID
    print(summary.render(), file=stderr)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - manual use
    """``python -m evaluator.generate ...`` until the CLI wires ``generate`` in."""
    import sys

    parser = argparse.ArgumentParser(prog="unclaimed")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["generate", *(sys.argv[1:] if argv is None else argv)])
    return run(args, sys.stdout, sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
