"""The random distributions of the synthetic portfolio, as vectorised inverse-CDF
transforms of uniforms (normal, truncated lognormal, truncated Pareto, exponential), and
the calendar arithmetic on day numbers they are applied to."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy and polars load on first use: `unclaimed --help` stays fast
    import numpy as np
    import numpy.typing as npt

    _Floats = npt.NDArray[np.float64]
    _Ints = npt.NDArray[np.int64]


_EPOCH = date(1970, 1, 1)


def day_ordinal(day: date) -> int:
    return (day - _EPOCH).days


def calendar_edges(days: _Ints, kind: _Ints) -> _Ints:
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


def norm_ppf(p: _Floats) -> _Floats:
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


def norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def lognormal_below(u: _Floats, mu: float, sigma: float, top: float) -> _Floats:
    """Lognormal(mu, sigma) conditioned on being below ``top``, by inverse CDF."""
    import numpy as np

    ceiling = norm_cdf((math.log(top) - mu) / sigma)
    values: _Floats = np.exp(mu + sigma * norm_ppf(u * ceiling))
    return values


def lognormal_below_mean(mu: float, sigma: float, top: float) -> float:
    b = (math.log(top) - mu) / sigma
    below = norm_cdf(b)
    if below <= 0.0:
        return top
    return math.exp(mu + sigma * sigma / 2) * norm_cdf(b - sigma) / below


def pareto_between(u: _Floats, low: float, high: float, alpha: float) -> _Floats:
    """Pareto(alpha) from ``low``, truncated at ``high``, by inverse CDF."""
    keep = 1.0 - (low / high) ** alpha
    values: _Floats = low * (1.0 - u * keep) ** (-1.0 / alpha)
    return values


def pareto_between_mean(low: float, high: float, alpha: float) -> float:
    ratio = low / high
    if abs(alpha - 1.0) < 1e-9:
        return low * math.log(high / low) / (1.0 - ratio)
    return float(low * alpha / (alpha - 1) * (1 - ratio ** (alpha - 1)) / (1 - ratio**alpha))


def bisect_root(f: Callable[[float], float], lo: float, hi: float) -> float:
    """The root of an increasing ``f`` on [lo, hi]."""
    for _ in range(200):
        mid = (lo + hi) / 2
        if f(mid) < 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def truncated_exponential(u: _Floats, mean: float, limit: float) -> _Floats:
    """Exponential with ``mean``, conditioned on being below ``limit``."""
    import numpy as np

    keep = -math.expm1(-limit / mean)
    values: _Floats = -mean * np.log1p(-u * keep)
    return values


def exponential(u: _Floats, mean: float) -> _Floats:
    import numpy as np

    values: _Floats = -mean * np.log1p(-u)
    return values


def to_cents(values: _Floats) -> _Ints:
    """Whole cents, rounded down (a body value stays under the threshold), at least 1."""
    import numpy as np

    cents: _Ints = np.maximum(np.floor(values * 100.0), 1.0).astype(np.int64)
    return cents
