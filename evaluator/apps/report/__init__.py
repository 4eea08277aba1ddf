"""The comparison report: one self-contained HTML document, and a Markdown summary.

``render_report(data)`` turns the plain, JSON-able dict that ``unclaimed compare``
assembles into a single HTML file that consultation teams can circulate: inline CSS,
charts as inline SVG drawn here, no script, no font, no image, no link to anything
outside the document (a Content-Security-Policy of ``default-src 'none'`` makes a
browser refuse to fetch anything even if that ever changed). The same data always
gives byte-identical output: nothing depends on the clock, the locale, dict order
beyond the data's own, or the decimal context.

``markdown_summary(data)`` gives the summary table and the key findings in GitHub
Markdown (for ``summary.md``).

The shape of ``data`` (every key required, no other key allowed)::

    {"title": str, "as_of": "YYYY-MM-DD", "horizon": int,
     "facts": {"source": str, "sha256": str|None, "accounts": int, "errors": int},
     "policies": [{"id", "version", "sha256", "status", "title": str, "models": str|None}],
     "assumptions": [{"name", "value", "description", "source": str}],
     "summary": {"columns": [str], "rows": [[str|number|None]]},
     "yearly": {"years": [int], "series": {metric: {"label": str, "unit": "CAD"|"count",
                                                    "values": {policy_id: [number|None]}}}},
     "charts": [{"metric": str, "title": str, "kind": "bar"|"line"}],
     "differences": [{"member_id", "account_id", "policy": str, "fields": [str],
                      "first_definition": str|None, "explanation": str,
                      "amount_cad": str|None}],
     "findings": [str]}

The first policy is the reference (baseline). Numbers are ``int``, ``float`` or
``Decimal`` (never ``bool``, never NaN or infinite). Bad input raises
:class:`ReportDataError`, a ``ValueError`` naming the offending path, e.g.
``report data: policies[1].sha256: expected a string, got null``.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, localcontext
from itertools import pairwise
from typing import Final, Literal, NoReturn

from evaluator import __version__
from evaluator.errors import DataProblem

__all__ = ["ReportDataError", "format_cad", "format_count", "markdown_summary", "render_report",
           "validate_report"]

Number = int | float | Decimal
Unit = Literal["CAD", "count"]
Kind = Literal["bar", "line"]


class ReportDataError(DataProblem, ValueError):
    """The report data does not have the documented shape."""


# ---------------------------------------------------------------------------------------
# Validation: the untyped dict becomes a typed, immutable report.


@dataclass(frozen=True)
class _Facts:
    source: str
    sha256: str | None
    accounts: int
    errors: int


@dataclass(frozen=True)
class _Policy:
    id: str
    version: str
    sha256: str
    status: str
    title: str
    models: str | None

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"


@dataclass(frozen=True)
class _Assumption:
    name: str
    value: str
    description: str
    source: str


@dataclass(frozen=True)
class _Series:
    label: str
    unit: Unit
    values: dict[str, tuple[Number | None, ...]]


@dataclass(frozen=True)
class _Chart:
    metric: str
    title: str
    kind: Kind


@dataclass(frozen=True)
class _Difference:
    member_id: str
    account_id: str
    policy: str
    fields: tuple[str, ...]
    first_definition: str | None
    explanation: str
    amount_cad: str | None


@dataclass(frozen=True)
class _Report:
    title: str
    as_of: str
    horizon: int
    facts: _Facts
    policies: tuple[_Policy, ...]
    assumptions: tuple[_Assumption, ...]
    columns: tuple[str, ...]
    rows: tuple[tuple[str | Number | None, ...], ...]
    years: tuple[int, ...]
    series: dict[str, _Series]
    charts: tuple[_Chart, ...]
    differences: tuple[_Difference, ...]
    findings: tuple[str, ...]


_TOP_KEYS: Final = (
    "title", "as_of", "horizon", "facts", "policies", "assumptions", "summary",
    "yearly", "charts", "differences", "findings",
)
_LIMIT: Final = Decimal(10) ** 18  # far beyond any portfolio; keeps decimal arithmetic exact
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


def _fail(path: str, message: str) -> NoReturn:
    raise ReportDataError(f"report data: {path}: {message}" if path else f"report data: {message}")


def _kind_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _object(value: object, path: str, keys: Sequence[str]) -> dict[str, object]:
    if not isinstance(value, Mapping):
        _fail(path, f"expected an object, got {_kind_of(value)}")
    for k in value:
        if not isinstance(k, str):
            _fail(path, f"keys must be strings, got {_kind_of(k)}")
    extra = sorted(k for k in value if k not in keys)
    if extra:
        _fail(path, f"unknown key(s) {', '.join(map(repr, extra))} (expected {', '.join(keys)})")
    missing = [k for k in keys if k not in value]
    if missing:
        _fail(path, f"missing key(s) {', '.join(map(repr, missing))}")
    return {k: value[k] for k in keys}


def _str(value: object, path: str, *, nonempty: bool = False) -> str:
    if not isinstance(value, str):
        _fail(path, f"expected a string, got {_kind_of(value)}")
    if nonempty and not value.strip():
        _fail(path, "must not be empty")
    return value


def _opt_str(value: object, path: str) -> str | None:
    return None if value is None else _str(value, path)


def _int(value: object, path: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(path, f"expected an integer, got {_kind_of(value)}")
    if value < minimum:
        _fail(path, f"must be at least {minimum}, got {value}")
    return value


def _num(value: object, path: str) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        _fail(path, f"expected a number, got {_kind_of(value)}")
    d = _dec(value)  # NaN and infinities become Decimal ones
    if not d.is_finite():
        _fail(path, f"expected a finite number, got {value!r}")
    if abs(d) >= _LIMIT:
        _fail(path, f"number out of range: {value!r}")
    return value


def _list(value: object, path: str) -> list[object]:
    if not isinstance(value, list | tuple):
        _fail(path, f"expected a list, got {_kind_of(value)}")
    return list(value)


def _validate(data: object) -> _Report:
    top = _object(data, "", _TOP_KEYS)
    title = _str(top["title"], "title", nonempty=True)
    as_of = _str(top["as_of"], "as_of")
    try:
        if not _DATE.fullmatch(as_of):
            raise ValueError(as_of)
        dt.date.fromisoformat(as_of)
    except ValueError:
        _fail("as_of", f"expected a date as YYYY-MM-DD, got {as_of!r}")
    horizon = _int(top["horizon"], "horizon")

    f = _object(top["facts"], "facts", ("source", "sha256", "accounts", "errors"))
    facts = _Facts(
        source=_str(f["source"], "facts.source"),
        sha256=_opt_str(f["sha256"], "facts.sha256"),
        accounts=_int(f["accounts"], "facts.accounts"),
        errors=_int(f["errors"], "facts.errors"),
    )

    policies: list[_Policy] = []
    for i, raw in enumerate(_list(top["policies"], "policies")):
        p = f"policies[{i}]"
        o = _object(raw, p, ("id", "version", "sha256", "status", "title", "models"))
        policy = _Policy(
            id=_str(o["id"], f"{p}.id", nonempty=True),
            version=_str(o["version"], f"{p}.version", nonempty=True),
            sha256=_str(o["sha256"], f"{p}.sha256", nonempty=True),
            status=_str(o["status"], f"{p}.status"),
            title=_str(o["title"], f"{p}.title"),
            models=_opt_str(o["models"], f"{p}.models"),
        )
        if any(q.id == policy.id for q in policies):
            _fail(f"{p}.id", f"duplicate policy id {policy.id!r}")
        policies.append(policy)
    if not policies:
        _fail("policies", "at least one policy (the reference) is required")
    ids = [p.id for p in policies]

    assumptions = []
    for i, raw in enumerate(_list(top["assumptions"], "assumptions")):
        p = f"assumptions[{i}]"
        o = _object(raw, p, ("name", "value", "description", "source"))
        assumptions.append(_Assumption(
            name=_str(o["name"], f"{p}.name", nonempty=True),
            value=_str(o["value"], f"{p}.value"),
            description=_str(o["description"], f"{p}.description"),
            source=_str(o["source"], f"{p}.source"),
        ))

    s = _object(top["summary"], "summary", ("columns", "rows"))
    columns = tuple(
        _str(c, f"summary.columns[{i}]") for i, c in enumerate(_list(s["columns"], "summary.columns"))
    )
    if not columns:
        _fail("summary.columns", "at least one column is required")
    rows = []
    for i, raw in enumerate(_list(s["rows"], "summary.rows")):
        cells = _list(raw, f"summary.rows[{i}]")
        if len(cells) != len(columns):
            _fail(f"summary.rows[{i}]", f"has {len(cells)} cells, expected {len(columns)} (one per column)")
        row: list[str | Number | None] = []
        for j, c in enumerate(cells):
            row.append(c if c is None or isinstance(c, str) else _num(c, f"summary.rows[{i}][{j}]"))
        rows.append(tuple(row))

    y = _object(top["yearly"], "yearly", ("years", "series"))
    years = tuple(_int(v, f"yearly.years[{i}]") for i, v in enumerate(_list(y["years"], "yearly.years")))
    if any(b <= a for a, b in pairwise(years)):
        _fail("yearly.years", "years must be strictly increasing")
    raw_series = y["series"]
    if not isinstance(raw_series, Mapping):
        _fail("yearly.series", f"expected an object, got {_kind_of(raw_series)}")
    series: dict[str, _Series] = {}
    for key, raw in raw_series.items():
        if not isinstance(key, str):
            _fail("yearly.series", f"keys must be strings, got {_kind_of(key)}")
        p = f"yearly.series.{key}"
        o = _object(raw, p, ("label", "unit", "values"))
        unit = o["unit"]
        if unit != "CAD" and unit != "count":
            _fail(f"{p}.unit", f"expected 'CAD' or 'count', got {unit!r}")
        vals = o["values"]
        if not isinstance(vals, Mapping):
            _fail(f"{p}.values", f"expected an object, got {_kind_of(vals)}")
        values: dict[str, tuple[Number | None, ...]] = {}
        for pid, seq in vals.items():
            if pid not in ids:
                _fail(f"{p}.values", f"unknown policy id {pid!r} (known: {', '.join(ids)})")
            items = _list(seq, f"{p}.values.{pid}")
            if len(items) != len(years):
                _fail(f"{p}.values.{pid}", f"has {len(items)} values, expected {len(years)} (one per year)")
            values[pid] = tuple(
                None if v is None else _num(v, f"{p}.values.{pid}[{i}]") for i, v in enumerate(items)
            )
        series[key] = _Series(label=_str(o["label"], f"{p}.label"), unit=unit, values=values)

    charts = []
    for i, raw in enumerate(_list(top["charts"], "charts")):
        p = f"charts[{i}]"
        o = _object(raw, p, ("metric", "title", "kind"))
        metric = _str(o["metric"], f"{p}.metric")
        if metric not in series:
            _fail(f"{p}.metric", f"no series {metric!r} in yearly.series (known: {', '.join(series) or 'none'})")
        kind = o["kind"]
        if kind != "bar" and kind != "line":
            _fail(f"{p}.kind", f"expected 'bar' or 'line', got {kind!r}")
        if not years:
            _fail("yearly.years", "charts need at least one year")
        charts.append(_Chart(metric=metric, title=_str(o["title"], f"{p}.title"), kind=kind))

    differences = []
    for i, raw in enumerate(_list(top["differences"], "differences")):
        p = f"differences[{i}]"
        o = _object(raw, p, ("member_id", "account_id", "policy", "fields", "first_definition",
                             "explanation", "amount_cad"))
        differences.append(_Difference(
            member_id=_str(o["member_id"], f"{p}.member_id"),
            account_id=_str(o["account_id"], f"{p}.account_id"),
            policy=_str(o["policy"], f"{p}.policy"),
            fields=tuple(_str(v, f"{p}.fields[{j}]") for j, v in enumerate(_list(o["fields"], f"{p}.fields"))),
            first_definition=_opt_str(o["first_definition"], f"{p}.first_definition"),
            explanation=_str(o["explanation"], f"{p}.explanation"),
            amount_cad=_opt_str(o["amount_cad"], f"{p}.amount_cad"),
        ))

    findings = tuple(
        _str(v, f"findings[{i}]") for i, v in enumerate(_list(top["findings"], "findings"))
    )
    return _Report(
        title=title, as_of=as_of, horizon=horizon, facts=facts, policies=tuple(policies),
        assumptions=tuple(assumptions), columns=columns, rows=tuple(rows), years=years,
        series=series, charts=tuple(charts), differences=tuple(differences), findings=findings,
    )


def validate_report(data: object) -> None:
    """Raise :class:`ReportDataError` (a ``ValueError``) unless ``data`` is valid report data."""
    _validate(data)


# ---------------------------------------------------------------------------------------
# Numbers: exact decimals, a fixed context, thousands separators, no locale.

_CTX: Final = Context(prec=40)
_CENT: Final = Decimal("0.01")
_NUMERIC_TEXT: Final = re.compile(r"[-+\u2212]?(?:CAD\s*|\$)?\d[\d,]*(?:\.\d+)?%?")


def _dec(value: Number) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(repr(value))


def _unminus(text: str) -> str:
    return text[1:] if re.fullmatch(r"-0(?:\.0*)?", text) else text


def _fmt_cad(value: Number) -> str:
    """1234567.891 -> '1,234,567.89' (half up, as the rule's conversions round)."""
    with localcontext(_CTX):
        return _unminus(f"{_dec(value).quantize(_CENT, rounding=ROUND_HALF_UP):,.2f}")


def _fmt_count(value: Number) -> str:
    d = _dec(value)
    with localcontext(_CTX):
        if d == d.to_integral_value():
            return _unminus(f"{int(d):,}")
        return _unminus(f"{d.quantize(_CENT, rounding=ROUND_HALF_UP):,.2f}")


def _fmt_value(value: Number, unit: Unit) -> str:
    return f"CAD {_fmt_cad(value)}" if unit == "CAD" else _fmt_count(value)


def _fmt_cell(value: str | Number | None, column: str) -> str:
    """A summary cell: text as given; numbers in a column whose name says CAD as CAD
    (two decimals); integers with thousands separators, except in a column whose name
    mentions a year; other numbers with their own decimals."""
    if value is None:
        return "\u2014"
    if isinstance(value, str):
        # an amount given as text (as compare gives money, exact) is formatted like one
        return _fmt_amount(value) if "CAD" in column else value
    if "CAD" in column:
        return _fmt_cad(value)
    if isinstance(value, int):
        return str(value) if "year" in column.lower() else f"{value:,}"
    with localcontext(_CTX):
        d = _dec(value)
        return _unminus(f"{d:,f}" if d != d.to_integral_value() else f"{d:,.0f}")


def format_cad(value: Number | str) -> str:
    """An amount as every human output shows it: thousands separators, two decimals
    (half up). Text that is not a plain decimal is returned as it is."""
    return _fmt_amount(value) if isinstance(value, str) else _fmt_cad(value)


def format_count(value: Number) -> str:
    """A count as every human output shows it: thousands separators."""
    return _fmt_count(value)


def _is_numeric_cell(value: str | Number | None) -> bool:
    return value is not None and (not isinstance(value, str) or bool(_NUMERIC_TEXT.fullmatch(value.strip())))


def _fmt_amount(text: str) -> str:
    """An amount given as text: reformatted with separators when it is a plain decimal."""
    t = text.strip()
    if re.fullmatch(r"[-+]?\d+(?:\.\d+)?", t):
        return _fmt_cad(Decimal(t))
    return text


# ---------------------------------------------------------------------------------------
# Charts: inline SVG.

# Okabe & Ito's colour-blind-safe palette (yellow darkened to be legible on white),
# assigned by position in data["policies"], so a policy has one colour throughout.
_PALETTE: Final = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#666666", "#A08C00",
)
_DASHES: Final = ("", "7 3", "2 3", "9 3 2 3", "4 4")
_MARKERS: Final = ("circle", "square", "triangle", "diamond", "triangle-down")
_CHART_W: Final = 960
_PLOT_H: Final = 280
_FONT_PX: Final = 12


def _colour(index: int) -> str:
    if index < len(_PALETTE):
        return _PALETTE[index]
    hue = (index * 137.508) % 360  # golden angle: deterministic and well spread
    return f"hsl({hue:.1f}, 60%, 40%)"


def _n(x: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros, never '-0'."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _text_width(text: str, px: int = _FONT_PX) -> float:
    return len(text) * px * 0.6


def _ticks(lo: Decimal, hi: Decimal, *, integer: bool) -> tuple[list[Decimal], Decimal]:
    """Round tick values (1, 2 or 5 times a power of ten apart, at least one unit or one
    cent) covering lo..hi and 0."""
    with localcontext(_CTX):
        lo, hi = min(lo, Decimal(0)), max(hi, Decimal(0))
        if lo == hi:
            hi = lo + 1
        raw = (hi - lo) / 5
        mag = Decimal(1).scaleb(math.floor(raw.log10()))
        step = mag * 10
        for m in (1, 2, 5, 10):
            if mag * m >= raw:
                step = mag * m
                break
        floor = Decimal(1) if integer else _CENT  # counts are whole, CAD has cents
        if step < floor:
            step = floor
        start = (lo / step).to_integral_value(rounding=ROUND_FLOOR) * step
        end = (hi / step).to_integral_value(rounding=ROUND_CEILING) * step
        count = int((end - start) / step) + 1
        return [start + i * step for i in range(count)], step


def _fmt_tick(value: Decimal, step: Decimal) -> str:
    with localcontext(_CTX):
        if step == step.to_integral_value():
            return _unminus(f"{value:,.0f}")
        return _unminus(f"{value:,.2f}")


def _marker(shape: str, x: float, y: float, colour: str, tip: str) -> str:
    r = 4.0
    title = f"<title>{_e(tip)}</title>"
    if shape == "circle":
        return f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" fill="{colour}">{title}</circle>'
    if shape == "square":
        return (f'<rect x="{_n(x - r)}" y="{_n(y - r)}" width="{_n(2 * r)}" height="{_n(2 * r)}" '
                f'fill="{colour}">{title}</rect>')
    if shape == "triangle":
        pts = [(x, y - r - 1), (x + r + 1, y + r), (x - r - 1, y + r)]
    elif shape == "triangle-down":
        pts = [(x, y + r + 1), (x + r + 1, y - r), (x - r - 1, y - r)]
    else:  # diamond
        pts = [(x, y - r - 1), (x + r + 1, y), (x, y + r + 1), (x - r - 1, y)]
    points = " ".join(f"{_n(px)},{_n(py)}" for px, py in pts)
    return f'<polygon points="{points}" fill="{colour}">{title}</polygon>'


def _chart_svg(report: _Report, chart: _Chart, number: int) -> str:
    series = report.series[chart.metric]
    years = report.years
    # Policies drawn, in the report's policy order (stable colours, markers, dashes).
    drawn = [(i, p) for i, p in enumerate(report.policies) if p.id in series.values]
    numbers = [_dec(v) for _, p in drawn for v in series.values[p.id] if v is not None]
    ticks, step = _ticks(min(numbers, default=Decimal(0)), max(numbers, default=Decimal(0)),
                         integer=series.unit == "count")
    tick_labels = [_fmt_tick(t, step) for t in ticks]
    unit_label = "CAD" if series.unit == "CAD" else "count"
    axis_title = f"{series.label} ({unit_label})"

    left = 34 + max(_text_width(t) for t in tick_labels) + 8
    right = 16
    plot_w = _CHART_W - left - right

    # Legend above the plot, wrapped to the chart's width.
    legend: list[str] = []
    lx, ly, row_h = left, 18.0, 20
    for i, p in drawn:
        label = p.ref + (" (reference)" if i == 0 else "")
        if not any(v is not None for v in series.values[p.id]):
            label += " (no data)"
        item_w = 26 + _text_width(label) + 22
        if lx > left and lx + item_w > _CHART_W - right:
            lx, ly = left, ly + row_h
        colour = _colour(i)
        if chart.kind == "bar":
            swatch = (f'<rect x="{_n(lx)}" y="{_n(ly - 9)}" width="18" height="12" '
                      f'fill="{colour}"/>')
        else:
            dash = _DASHES[i % len(_DASHES)]
            swatch = (f'<line x1="{_n(lx)}" y1="{_n(ly - 3)}" x2="{_n(lx + 18)}" y2="{_n(ly - 3)}" '
                      f'stroke="{colour}" stroke-width="2"'
                      + (f' stroke-dasharray="{dash}"' if dash else "") + "/>"
                      + _marker(_MARKERS[i % len(_MARKERS)], lx + 9, ly - 3, colour, label))
        legend.append(f'<g class="legend-item">{swatch}'
                      f'<text x="{_n(lx + 24)}" y="{_n(ly)}">{_e(label)}</text></g>')
        lx += item_w
    top = ly + 18
    bottom_axis = 46
    height = math.ceil(top + _PLOT_H + bottom_axis)
    plot_top, plot_bottom = top, top + _PLOT_H

    lo_t, hi_t = float(ticks[0]), float(ticks[-1])

    def y_of(v: Number) -> float:
        return plot_top + (hi_t - float(v)) / (hi_t - lo_t) * _PLOT_H

    band = plot_w / len(years)

    def x_of(index: int) -> float:
        return left + band * (index + 0.5)

    out: list[str] = []
    # Grid and y-axis ticks.
    for t, label in zip(ticks, tick_labels, strict=True):
        y = y_of(t)
        out.append(f'<line class="grid{" zero" if t == 0 else ""}" x1="{_n(left)}" y1="{_n(y)}" '
                   f'x2="{_n(left + plot_w)}" y2="{_n(y)}"/>')
        out.append(f'<text class="tick" x="{_n(left - 6)}" y="{_n(y + 4)}" text-anchor="end">'
                   f"{_e(label)}</text>")
    out.append(f'<line class="axis" x1="{_n(left)}" y1="{_n(plot_top)}" x2="{_n(left)}" '
               f'y2="{_n(plot_bottom)}"/>')
    out.append(f'<line class="axis" x1="{_n(left)}" y1="{_n(plot_bottom)}" '
               f'x2="{_n(left + plot_w)}" y2="{_n(plot_bottom)}"/>')
    # X-axis ticks: every year when they fit, else every k-th.
    every = max(1, math.ceil(len(years) * (_text_width("2040") + 10) / plot_w))
    for idx, year in enumerate(years):
        x = x_of(idx)
        out.append(f'<line class="axis" x1="{_n(x)}" y1="{_n(plot_bottom)}" x2="{_n(x)}" '
                   f'y2="{_n(plot_bottom + 4)}"/>')
        if idx % every == 0:
            out.append(f'<text class="tick" x="{_n(x)}" y="{_n(plot_bottom + 18)}" '
                       f'text-anchor="middle">{year}</text>')
    out.append(f'<text class="axis-title" x="{_n(left + plot_w / 2)}" y="{height - 8}" '
               f'text-anchor="middle">Year</text>')
    mid = plot_top + _PLOT_H / 2
    out.append(f'<text class="axis-title" x="14" y="{_n(mid)}" text-anchor="middle" '
               f'transform="rotate(-90 14 {_n(mid)})">{_e(axis_title)}</text>')

    zero = y_of(0)
    if chart.kind == "bar":
        group = band * 0.8
        bar_w = group / max(1, len(drawn))
        for slot, (i, p) in enumerate(drawn):
            colour = _colour(i)
            bars: list[str] = []
            for idx, v in enumerate(series.values[p.id]):
                if v is None:
                    continue
                x = x_of(idx) - group / 2 + slot * bar_w
                y = y_of(v)
                h = abs(zero - y)
                if v != 0 and h < 1:
                    h = 1.0
                    y = zero - 1 if v > 0 else zero
                tip = f"{p.ref}, {years[idx]}: {_fmt_value(v, series.unit)}"
                bars.append(f'<rect x="{_n(x)}" y="{_n(min(y, zero))}" width="{_n(bar_w)}" '
                            f'height="{_n(h)}"><title>{_e(tip)}</title></rect>')
            out.append(f'<g class="series" fill="{colour}" data-policy="{_e(p.id)}">'
                       + "".join(bars) + "</g>")
    else:
        for i, p in drawn:
            colour = _colour(i)
            dash = _DASHES[i % len(_DASHES)]
            shape = _MARKERS[i % len(_MARKERS)]
            parts: list[str] = []
            segment: list[tuple[float, float]] = []
            segments: list[list[tuple[float, float]]] = [segment]
            for idx, v in enumerate(series.values[p.id]):
                if v is None:
                    segment = []
                    segments.append(segment)
                    continue
                segment.append((x_of(idx), y_of(v)))
                tip = f"{p.ref}, {years[idx]}: {_fmt_value(v, series.unit)}"
                parts.append(_marker(shape, x_of(idx), y_of(v), colour, tip))
            lines = [
                f'<polyline points="{" ".join(f"{_n(x)},{_n(y)}" for x, y in seg)}" fill="none" '
                f'stroke="{colour}" stroke-width="2"' + (f' stroke-dasharray="{dash}"' if dash else "")
                + "/>"
                for seg in segments if len(seg) > 1
            ]
            out.append(f'<g class="series" data-policy="{_e(p.id)}">' + "".join(lines + parts) + "</g>")

    title_id, desc_id = f"chart-{number}-title", f"chart-{number}-desc"
    span = f"{years[0]}\u2013{years[-1]}" if len(years) > 1 else str(years[0])
    shown = ", ".join(p.ref for _, p in drawn) or "none"
    desc = (
        f"{'Grouped bars' if chart.kind == 'bar' else 'Lines'} of {series.label} ({unit_label}) "
        f"per policy, {span}. Policies: {shown}. "
        + (f"Range {_fmt_value(min(numbers), series.unit)} to {_fmt_value(max(numbers), series.unit)}. "
           if numbers else "No values. ")
        + "A missing value (no data) is left blank."
    )
    return (
        f'<svg class="chart" role="img" width="{_CHART_W}" height="{height}" '
        f'viewBox="0 0 {_CHART_W} {height}" aria-labelledby="{title_id}" aria-describedby="{desc_id}" '
        f'aria-label="{_e(chart.title)}" font-size="{_FONT_PX}">'
        f'<title id="{title_id}">{_e(chart.title)}</title><desc id="{desc_id}">{_e(desc)}</desc>'
        f'<rect class="bg" x="0" y="0" width="{_CHART_W}" height="{height}"/>'
        + "".join(legend) + "".join(out) + "</svg>"
    )


def _chart_table(report: _Report, chart: _Chart) -> str:
    series = report.series[chart.metric]
    drawn = [p for p in report.policies if p.id in series.values]
    head = "".join(f'<th scope="col" class="num">{_e(p.ref)}</th>' for p in drawn)
    body = []
    for idx, year in enumerate(report.years):
        cells = []
        for p in drawn:
            v = series.values[p.id][idx]
            text = _DASH if v is None else _fmt_cad(v) if series.unit == "CAD" else _fmt_count(v)
            cells.append(f'<td class="num">{_e(text)}</td>')
        body.append(f'<tr><th scope="row">{year}</th>{"".join(cells)}</tr>')
    unit = "CAD" if series.unit == "CAD" else "count"
    caption = f"{series.label} ({unit}) per policy and year; \u2014 means no value."
    return (f'<details><summary>Data table</summary><table class="data">'
            f"<caption>{_e(caption)}</caption><thead><tr>"
            f'<th scope="col">Year</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></details>')


# ---------------------------------------------------------------------------------------
# HTML.

_CSS: Final = """
:root { color-scheme: light; --ink: #1b1f24; --muted: #57606a; --rule: #d0d7de; --soft: #f6f8fa; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0 auto; max-width: 1120px; padding: 24px 32px 48px; color: var(--ink);
  background: #fff; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto,
  "Liberation Sans", "DejaVu Sans", Arial, sans-serif;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }
h1 { font-size: 1.7em; line-height: 1.25; margin: 0 0 8px; }
h2 { font-size: 1.25em; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.05em; margin: 0 0 6px; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas,
  monospace; font-size: 0.88em; }
.muted { color: var(--muted); }
header .meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0 0; }
header .meta dt { color: var(--muted); }
header .meta dd { margin: 0; overflow-wrap: anywhere; }
table { display: block; max-width: 100%; overflow-x: auto; }
.warn { color: #9a3412; font-weight: 600; }
nav.toc { margin: 16px 0 0; font-size: 0.92em; }
nav.toc a { color: #0550ae; margin-right: 14px; text-decoration: none; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 0; font-size: 0.92em; }
th, td { border-bottom: 1px solid var(--rule); padding: 5px 8px; text-align: left; vertical-align: top; }
thead th { background: var(--soft); border-bottom: 2px solid var(--rule); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.text { white-space: pre-line; }
td.id { white-space: nowrap; }
td.explanation { min-width: 32ch; }
.badge { display: inline-block; font-size: 0.75em; padding: 0 6px; margin-left: 6px;
  border: 1px solid #0072B2; color: #0072B2; border-radius: 8px; vertical-align: 1px; }
ul.findings li { margin: 4px 0; }
figure { margin: 18px 0 26px; }
figcaption { font-weight: 600; margin: 0 0 6px; }
svg.chart { display: block; max-width: 100%; height: auto; }
svg.chart text { fill: var(--ink); font-family: system-ui, "Liberation Sans", "DejaVu Sans", Arial, sans-serif; }
svg.chart .bg { fill: #fff; }
svg.chart .grid { stroke: #e4e7eb; stroke-width: 1; shape-rendering: crispEdges; }
svg.chart .grid.zero { stroke: #57606a; }
svg.chart .axis { stroke: #8c959f; stroke-width: 1; shape-rendering: crispEdges; }
svg.chart .tick { fill: var(--muted); }
svg.chart .series rect { shape-rendering: crispEdges; }
details { margin: 6px 0 0; font-size: 0.92em; }
details summary { cursor: pointer; color: var(--muted); }
caption { caption-side: top; text-align: left; color: var(--muted); padding: 4px 0; }
footer { margin-top: 40px; padding-top: 10px; border-top: 1px solid var(--rule); color: var(--muted);
  font-size: 0.85em; }
footer ul { margin: 4px 0 0; padding-left: 18px; }
footer code { overflow-wrap: anywhere; }
.empty { color: var(--muted); font-style: italic; }
@page { size: auto; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav.toc, details summary { display: none; }
  h2 { break-after: avoid; page-break-after: avoid; }
  figure, tr, .meta { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  a { color: inherit; text-decoration: none; }
}
"""

_DASH: Final = "\u2014"
_ELLIPSIS: Final = "\u2026"
_NUM: Final = ' class="num"'
_CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _abbrev(sha: str) -> str:
    return f'<code title="{_e(sha)}">{_e(sha[:12])}{_ELLIPSIS if len(sha) > 12 else ""}</code>'


def _section(ident: str, heading: str, body: str) -> str:
    return f'<section id="{ident}" aria-labelledby="{ident}-h"><h2 id="{ident}-h">{_e(heading)}</h2>\n{body}\n</section>\n'


def _header(r: _Report) -> str:
    f = r.facts
    sha = f"<code>{_e(f.sha256)}</code>" if f.sha256 else '<span class="muted">not recorded</span>'
    errors = (f'<span class="warn">{f.errors:,}</span>' if f.errors else "0")
    ref = r.policies[0]
    items = [
        ("As of", f"<time datetime=\"{_e(r.as_of)}\">{_e(r.as_of)}</time>"),
        ("Projected to", f"{r.horizon}"),
        ("Facts", f"<code>{_e(f.source)}</code>"),
        ("Facts SHA-256", sha),
        ("Accounts", f"{f.accounts:,}"),
        ("Records in error", errors),
        ("Reference policy", f"<code>{_e(ref.ref)}</code>"),
        ("Policies compared", f"{len(r.policies):,}"),
    ]
    meta = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
    toc = "".join(
        f'<a href="#{i}">{_e(t)}</a>' for i, t in (
            ("policies", "Policies"), ("assumptions", "Assumptions"), ("summary", "Summary"),
            ("findings", "Key findings"), ("charts", "Charts"), ("differences", "Differences"),
        )
    )
    return (f'<header><h1>{_e(r.title)}</h1>\n<dl class="meta">{meta}</dl>\n'
            f'<nav class="toc" aria-label="Contents">{toc}</nav></header>\n')


def _policies(r: _Report) -> str:
    rows = []
    for i, p in enumerate(r.policies):
        badge = '<span class="badge">reference</span>' if i == 0 else ""
        models = _e(p.models) if p.models else '<span class="muted">\u2014</span>'
        rows.append(
            f'<tr><td><code>{_e(p.ref)}</code>{badge}</td><td>{_e(p.status)}</td>'
            f'<td>{_e(p.title)}</td><td>{models}</td><td>{_abbrev(p.sha256)}</td></tr>'
        )
    return _section("policies", "Policies", (
        '<table><thead><tr><th scope="col">Policy</th><th scope="col">Status</th>'
        '<th scope="col">Title</th><th scope="col">What it models</th>'
        '<th scope="col">SHA-256</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>"
    ))


def _assumptions(r: _Report) -> str:
    if not r.assumptions:
        body = '<p class="empty">No assumed figures: every figure comes from the policies and the facts.</p>'
    else:
        rows = "".join(
            f'<tr><td><code>{_e(a.name)}</code></td><td class="num">{_e(a.value)}</td>'
            f'<td class="text">{_e(a.description)}</td><td class="text">{_e(a.source)}</td></tr>'
            for a in r.assumptions
        )
        body = (
            f'<p class="muted">Every figure assumed for this comparison ({len(r.assumptions)}).</p>'
            '<table><thead><tr><th scope="col">Name</th><th scope="col" class="num">Value</th>'
            '<th scope="col">Description</th><th scope="col">Source</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    return _section("assumptions", "Assumptions", body)


def _summary(r: _Report) -> str:
    numeric = [
        bool(r.rows) and all(_is_numeric_cell(row[j]) or row[j] is None for row in r.rows)
        and any(row[j] is not None for row in r.rows)
        for j in range(len(r.columns))
    ]
    head = "".join(
        f"<th scope=\"col\"{_NUM if numeric[j] else ''}>{_e(c)}</th>" for j, c in enumerate(r.columns)
    )
    body = []
    for row in r.rows:
        cells = []
        for j, v in enumerate(row):
            cls = ' class="num"' if numeric[j] or (j > 0 and _is_numeric_cell(v)) else ""
            tag = "th scope=\"row\"" if j == 0 else "td"
            end = "th" if j == 0 else "td"
            cells.append(f"<{tag}{cls}>{_e(_fmt_cell(v, r.columns[j]))}</{end}>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    if not body:
        return _section("summary", "Summary", '<p class="empty">No summary rows.</p>')
    return _section("summary", "Summary", (
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    ))


def _findings(r: _Report) -> str:
    if not r.findings:
        return _section("findings", "Key findings", '<p class="empty">No findings recorded.</p>')
    items = "".join(f"<li>{_e(x)}</li>" for x in r.findings)
    return _section("findings", "Key findings", f'<ul class="findings">{items}</ul>')


def _charts(r: _Report) -> str:
    if not r.charts:
        return _section("charts", "Charts", '<p class="empty">No charts requested.</p>')
    figures = []
    for n, chart in enumerate(r.charts, start=1):
        figures.append(
            f'<figure id="chart-{n}"><figcaption>{_e(chart.title)}</figcaption>'
            f"{_chart_svg(r, chart, n)}{_chart_table(r, chart)}</figure>"
        )
    return _section("charts", "Charts", "\n".join(figures))


def _differences(r: _Report) -> str:
    if not r.differences:
        return _section("differences", "Largest per-account differences",
                        '<p class="empty">No account differs from the reference.</p>')
    rows = []
    for n, d in enumerate(r.differences, start=1):
        fields = ", ".join(f"<code>{_e(x)}</code>" for x in d.fields) or '<span class="muted">\u2014</span>'
        first = f"<code>{_e(d.first_definition)}</code>" if d.first_definition else '<span class="muted">\u2014</span>'
        amount = _e(_fmt_amount(d.amount_cad)) if d.amount_cad is not None else '<span class="muted">\u2014</span>'
        rows.append(
            f'<tr><td class="num">{n}</td><td class="id"><code>{_e(d.member_id)}</code></td>'
            f'<td class="id"><code>{_e(d.account_id)}</code></td><td><code>{_e(d.policy)}</code></td>'
            f'<td>{fields}</td><td>{first}</td><td class="num">{amount}</td>'
            f'<td class="text explanation">{_e(d.explanation)}</td></tr>'
        )
    return _section("differences", "Largest per-account differences", (
        f'<p class="muted">Accounts whose determinations differ from the reference '
        f"(<code>{_e(r.policies[0].ref)}</code>), largest first; amounts in CAD.</p>"
        '<table><thead><tr><th scope="col" class="num">#</th><th scope="col">Member</th>'
        '<th scope="col">Account</th><th scope="col">Policy</th><th scope="col">Fields</th>'
        '<th scope="col">First differing definition</th><th scope="col" class="num">Amount (CAD)</th>'
        '<th scope="col">Explanation</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    ))


def _footer(r: _Report) -> str:
    hashes = "".join(f"<li><code>{_e(p.ref)}</code> sha256:<code>{_e(p.sha256)}</code></li>" for p in r.policies)
    facts = f" sha256:<code>{_e(r.facts.sha256)}</code>" if r.facts.sha256 else ""
    return (
        f"<footer><p>Generated by Unclaimed {_e(__version__)}, a policy-as-code evaluator for "
        f"FSRA Rule 2024-001. Self-contained: this document loads nothing from anywhere else. "
        f"Facts <code>{_e(r.facts.source)}</code>{facts}, as of {_e(r.as_of)}.</p>"
        f"<p>Policy hashes:</p><ul>{hashes}</ul></footer>\n"
    )


def render_report(data: Mapping[str, object]) -> str:
    """The comparison report as one self-contained HTML document (see the module docstring
    for the shape of ``data``). Raises :class:`ReportDataError` (a ``ValueError``) on bad
    input. The same data gives byte-identical output."""
    r = _validate(data)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="Unclaimed {_e(__version__)}">\n'
        f"<title>{_e(r.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + _header(r)
        + "<main>\n"
        + _policies(r)
        + _assumptions(r)
        + _summary(r)
        + _findings(r)
        + _charts(r)
        + _differences(r)
        + "</main>\n"
        + _footer(r)
        + "</body>\n</html>\n"
    )


# ---------------------------------------------------------------------------------------
# Markdown.

_MD_INLINE: Final = re.compile(r"([\\`*_\[\]|~])")
_MD_LEADING: Final = re.compile(r"^([#>+=-]|(\d+)([.)]))")


def _md(text: str, *, block: bool = False) -> str:
    """Text shown literally by GitHub Markdown, on one line (safe in a table cell); with
    ``block``, also safe at the start of a list item (no heading, quote or nested list)."""
    one_line = " ".join(text.split())
    escaped = html.escape(one_line, quote=False)
    escaped = _MD_INLINE.sub(r"\\\1", escaped)
    if not block:
        return escaped
    # What would start a heading, quote, list or setext underline at the start of a line.
    return _MD_LEADING.sub(
        lambda m: f"{m.group(2)}\\{m.group(3)}" if m.group(2) else f"\\{m.group(1)}", escaped
    )


def markdown_summary(data: Mapping[str, object]) -> str:
    """The summary table and the key findings in GitHub Markdown (for ``summary.md``)."""
    r = _validate(data)
    lines = [
        f"## {_md(r.title)}",
        "",
        f"As of {r.as_of}, projected to {r.horizon}; facts `{r.facts.source.replace('`', '')}` "
        f"({r.facts.accounts:,} accounts, {r.facts.errors:,} in error); "
        f"reference `{r.policies[0].ref.replace('`', '')}`.",
        "",
        "### Summary",
        "",
    ]
    if r.rows:
        numeric = [
            all(_is_numeric_cell(row[j]) or row[j] is None for row in r.rows)
            and any(row[j] is not None for row in r.rows)
            for j in range(len(r.columns))
        ]
        lines.append("| " + " | ".join(_md(c) or " " for c in r.columns) + " |")
        lines.append("| " + " | ".join("---:" if n else "---" for n in numeric) + " |")
        for row in r.rows:
            lines.append("| " + " | ".join(_md(_fmt_cell(v, r.columns[j])) for j, v in enumerate(row)) + " |")
    else:
        lines.append("_No summary rows._")
    lines += ["", "### Key findings", ""]
    if r.findings:
        lines += [f"- {_md(x, block=True)}" for x in r.findings]
    else:
        lines.append("_No findings recorded._")
    return "\n".join(lines) + "\n"
