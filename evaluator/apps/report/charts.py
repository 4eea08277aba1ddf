"""The report's charts: inline SVG bar and line charts with their axes, legends and
markers, and the table that gives each chart's figures as text."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from typing import Final

from evaluator.apps.report.data import Chart, ReportData
from evaluator.apps.report.fmt import (
    CENT,
    DASH,
    DECIMAL_CONTEXT,
    Number,
    escape,
    fmt_cad,
    fmt_count,
    fmt_value,
    to_decimal,
    unminus,
)

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
    with localcontext(DECIMAL_CONTEXT):
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
        floor = Decimal(1) if integer else CENT  # counts are whole, CAD has cents
        if step < floor:
            step = floor
        start = (lo / step).to_integral_value(rounding=ROUND_FLOOR) * step
        end = (hi / step).to_integral_value(rounding=ROUND_CEILING) * step
        count = int((end - start) / step) + 1
        return [start + i * step for i in range(count)], step


def _fmt_tick(value: Decimal, step: Decimal) -> str:
    with localcontext(DECIMAL_CONTEXT):
        if step == step.to_integral_value():
            return unminus(f"{value:,.0f}")
        return unminus(f"{value:,.2f}")


def _marker(shape: str, x: float, y: float, colour: str, tip: str) -> str:
    r = 4.0
    title = f"<title>{escape(tip)}</title>"
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


def chart_svg(report: ReportData, chart: Chart, number: int) -> str:
    series = report.series[chart.metric]
    years = report.years
    # Policies drawn, in the report's policy order (stable colours, markers, dashes).
    drawn = [(i, p) for i, p in enumerate(report.policies) if p.id in series.values]
    numbers = [to_decimal(v) for _, p in drawn for v in series.values[p.id] if v is not None]
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
                      f'<text x="{_n(lx + 24)}" y="{_n(ly)}">{escape(label)}</text></g>')
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
                   f"{escape(label)}</text>")
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
               f'transform="rotate(-90 14 {_n(mid)})">{escape(axis_title)}</text>')

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
                tip = f"{p.ref}, {years[idx]}: {fmt_value(v, series.unit)}"
                bars.append(f'<rect x="{_n(x)}" y="{_n(min(y, zero))}" width="{_n(bar_w)}" '
                            f'height="{_n(h)}"><title>{escape(tip)}</title></rect>')
            out.append(f'<g class="series" fill="{colour}" data-policy="{escape(p.id)}">'
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
                tip = f"{p.ref}, {years[idx]}: {fmt_value(v, series.unit)}"
                parts.append(_marker(shape, x_of(idx), y_of(v), colour, tip))
            lines = [
                f'<polyline points="{" ".join(f"{_n(x)},{_n(y)}" for x, y in seg)}" fill="none" '
                f'stroke="{colour}" stroke-width="2"' + (f' stroke-dasharray="{dash}"' if dash else "")
                + "/>"
                for seg in segments if len(seg) > 1
            ]
            out.append(f'<g class="series" data-policy="{escape(p.id)}">' + "".join(lines + parts) + "</g>")

    title_id, desc_id = f"chart-{number}-title", f"chart-{number}-desc"
    span = f"{years[0]}\u2013{years[-1]}" if len(years) > 1 else str(years[0])
    shown = ", ".join(p.ref for _, p in drawn) or "none"
    desc = (
        f"{'Grouped bars' if chart.kind == 'bar' else 'Lines'} of {series.label} ({unit_label}) "
        f"per policy, {span}. Policies: {shown}. "
        + (f"Range {fmt_value(min(numbers), series.unit)} to {fmt_value(max(numbers), series.unit)}. "
           if numbers else "No values. ")
        + "A missing value (no data) is left blank."
    )
    return (
        f'<svg class="chart" role="img" width="{_CHART_W}" height="{height}" '
        f'viewBox="0 0 {_CHART_W} {height}" aria-labelledby="{title_id}" aria-describedby="{desc_id}" '
        f'aria-label="{escape(chart.title)}" font-size="{_FONT_PX}">'
        f'<title id="{title_id}">{escape(chart.title)}</title><desc id="{desc_id}">{escape(desc)}</desc>'
        f'<rect class="bg" x="0" y="0" width="{_CHART_W}" height="{height}"/>'
        + "".join(legend) + "".join(out) + "</svg>"
    )


def chart_table(report: ReportData, chart: Chart) -> str:
    series = report.series[chart.metric]
    drawn = [p for p in report.policies if p.id in series.values]
    head = "".join(f'<th scope="col" class="num">{escape(p.ref)}</th>' for p in drawn)
    body = []
    for idx, year in enumerate(report.years):
        cells = []
        for p in drawn:
            v = series.values[p.id][idx]
            text = DASH if v is None else fmt_cad(v) if series.unit == "CAD" else fmt_count(v)
            cells.append(f'<td class="num">{escape(text)}</td>')
        body.append(f'<tr><th scope="row">{year}</th>{"".join(cells)}</tr>')
    unit = "CAD" if series.unit == "CAD" else "count"
    caption = f"{series.label} ({unit}) per policy and year; \u2014 means no value."
    return (f'<details><summary>Data table</summary><table class="data">'
            f"<caption>{escape(caption)}</caption><thead><tr>"
            f'<th scope="col">Year</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></details>')
