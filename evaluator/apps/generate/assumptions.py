"""The generator's assumptions: every figure it uses, with defaults, validation, the
balance model solved from them, and reading overrides from a YAML or JSON file."""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from evaluator.apps.generate.distributions import (
    bisect_root,
    lognormal_below,
    lognormal_below_mean,
    pareto_between,
    pareto_between_mean,
)
from evaluator.errors import DataProblem
from evaluator.text import squash_spaces

if TYPE_CHECKING:  # numpy and polars load on first use: `unclaimed --help` stays fast
    import numpy as np
    import numpy.typing as npt

    _Floats = npt.NDArray[np.float64]


#: members generated and written at a time (``--chunk-members``)
DEFAULT_CHUNK_MEMBERS = 200_000
#: rows per Parquet row group; fixed, so the file does not depend on the chunk size
PARQUET_ROW_GROUP = 1 << 19
#: the largest portfolio accepted (ids get wider than M0000001 past 9,999,999 members)
MAX_MEMBERS = 100_000_000
#: up to this many members the summary's balance quantiles are exact
EXACT_QUANTILE_MEMBERS = 10_000_000


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
        if self.activity_start >= minus_years(self.as_of, 2):
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
        BalanceModel.from_assumptions(self)  # the targets must be reachable


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


def read_date(value: object, name: str) -> date:
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
    "as_of": read_date,
    "activity_start": read_date,
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
        raise AssumptionsError(f"{source}: not YAML or JSON: {squash_spaces(str(e))}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise AssumptionsError(f"{source}: expected a mapping of assumption names to values")
    try:
        return assumptions_from_mapping(data, base or Assumptions())
    except AssumptionsError as e:
        raise AssumptionsError(f"{source}: {e}") from None


# --------------------------------------------------------------------------- calendar


def minus_years(day: date, years: int) -> date:
    """``day`` - ``years`` years, 29 Feb -> 28 Feb (D1)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


# --------------------------------------------------------------------------- balance model


@dataclass(frozen=True)
class BalanceModel:
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
    def from_assumptions(a: Assumptions) -> BalanceModel:
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
        widest = pareto_between_mean(small, cap, 0.01)
        if not small * 1.001 < tail_mean < widest:
            raise AssumptionsError(
                f"the balance targets put the mean of balances of {small:,.2f} and more at "
                f"{tail_mean:,.2f}; a tail capped at {cap:,.2f} can give between "
                f"{small:,.2f} and {widest:,.2f}: adjust the targets or balance_cap"
            )
        top = math.log(small)
        mu = bisect_root(
            lambda m: lognormal_below_mean(m, sigma, small) - body_mean,
            top - 40 * sigma - 50,
            top + 10 * sigma,
        )
        alpha = bisect_root(lambda al: tail_mean - pareto_between_mean(small, cap, al), 0.01, 1e4)
        return BalanceModel(small, cap, p, mu, sigma, alpha)

    def sample(self, u_component: _Floats, u_value: _Floats) -> _Floats:
        import numpy as np

        out = np.empty_like(u_value)
        body = u_component < self.p_small
        out[body] = lognormal_below(u_value[body], self.mu, self.sigma, self.small)
        tail = ~body
        out[tail] = pareto_between(u_value[tail], self.small, self.cap, self.alpha)
        return out


def check_counts(members: int, seed: int, chunk_members: int) -> None:
    if not 1 <= members <= MAX_MEMBERS:
        raise GenerateError(f"--members must be between 1 and {MAX_MEMBERS:,}, not {members}")
    if not 0 <= seed < 2**63:
        raise GenerateError(f"--seed must be a whole number >= 0, not {seed}")
    if chunk_members < 1:
        raise GenerateError(f"--chunk-members must be at least 1, not {chunk_members}")
