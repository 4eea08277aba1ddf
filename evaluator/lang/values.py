"""Runtime values with calendar semantics (interpretations D1-D3).

- ``Duration(months, days)``: ``date + Duration`` adds months first (a year is 12
  months, keeping month and day; 29 Feb becomes 28 Feb in a non-leap year, and any day
  past a month's end clamps to its last day), then calendar days.
- ``MonthDay(month, day)``: a recurring day of the year such as ``15 Oct``.
- Money is ``Decimal``; ``round_cents`` rounds half up (D3).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS[month - 1]


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True, order=True)
class Duration:
    months: int = 0
    days: int = 0

    def __neg__(self) -> Duration:
        return Duration(-self.months, -self.days)

    def __add__(self, other: Duration) -> Duration:
        return Duration(self.months + other.months, self.days + other.days)

    def __sub__(self, other: Duration) -> Duration:
        return Duration(self.months - other.months, self.days - other.days)

    def times(self, n: int) -> Duration:
        return Duration(self.months * n, self.days * n)

    def __str__(self) -> str:
        parts: list[str] = []
        m = self.months
        if m and m % 12 == 0:
            parts.append(_plural(m // 12, "year"))
        elif m:
            parts.append(_plural(m, "month"))
        if self.days and self.days % 7 == 0 and not m:
            parts.append(_plural(self.days // 7, "week"))
        elif self.days:
            parts.append(_plural(self.days, "day"))
        return " + ".join(parts) if parts else "0 days"


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if abs(n) == 1 else f"{n} {unit}s"


@dataclass(frozen=True, slots=True, order=True)
class MonthDay:
    month: int
    day: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month {self.month} out of range")
        # 29 Feb is a valid recurring day; it clamps to 28 Feb in non-leap years
        if not 1 <= self.day <= days_in_month(2024, self.month):
            raise ValueError(f"{MONTHS[self.month - 1]} has no day {self.day}")

    def in_year(self, year: int) -> _dt.date:
        day = self.day
        if day > 28:
            day = min(day, days_in_month(year, self.month))
        return _dt.date(year, self.month, day)

    @staticmethod
    def of(d: _dt.date) -> MonthDay:
        return MonthDay(d.month, d.day)

    def __str__(self) -> str:
        return f"{self.day} {MONTHS[self.month - 1]}"


def add_months(d: _dt.date, months: int) -> _dt.date:
    if months % 12 == 0:  # whole years (most periods): the month stays, no divmod
        year = d.year + months // 12
        month = d.month
    else:
        year, month0 = divmod(d.year * 12 + (d.month - 1) + months, 12)
        month = month0 + 1
    if not 1 <= year <= 9999:
        raise OverflowError(f"date out of range: {d} + {months} months")
    day = d.day
    if day > 28:
        day = min(day, days_in_month(year, month))
    return _dt.date(year, month, day)


def add_duration(d: _dt.date, dur: Duration) -> _dt.date:
    months = dur.months
    out = add_months(d, months) if months else d
    days = dur.days
    if days:
        out = out + _dt.timedelta(days=days)
    return out


def round_cents(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_iso_date(text: str) -> _dt.date:
    """Strict ``YYYY-MM-DD``; raises ValueError naming the problem."""
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        raise ValueError(f"`{text}` is not a date in the form YYYY-MM-DD")
    try:
        return _dt.date(int(text[:4]), int(text[5:7]), int(text[8:]))
    except ValueError as exc:
        raise ValueError(f"`{text}` is not a calendar date ({exc})") from None


def to_json_value(value: Any) -> Any:
    """Plain JSON form of a runtime value: dates and decimals as strings, stable."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, Duration | MonthDay):
        return str(value)
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if hasattr(value, "describe"):
        return value.describe()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def format_decimal(value: Decimal) -> str:
    """Fixed-point text, never exponent notation (``1E+3`` becomes ``1000``)."""
    text = format(value, "f")
    return "0" if text in ("-0", "-0.0") else text


def display(value: Any) -> str:
    """Human text of a value, as used by ``format()`` and tables."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    j = to_json_value(value)
    return str(j)
