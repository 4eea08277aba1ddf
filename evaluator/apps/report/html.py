"""The report as one self-contained HTML document: inline CSS, a Content-Security-Policy
that fetches nothing, and its sections from header to footer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from evaluator import __version__
from evaluator.apps.report.charts import chart_svg, chart_table
from evaluator.apps.report.data import LIABILITY_COLUMNS, ReportData, validated
from evaluator.apps.report.fmt import (
    ELLIPSIS,
    NUM_ATTR,
    escape,
    fmt_amount,
    fmt_cell,
    is_numeric_cell,
)

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
_CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _abbrev(sha: str) -> str:
    return f'<code title="{escape(sha)}">{escape(sha[:12])}{ELLIPSIS if len(sha) > 12 else ""}</code>'


def _section(ident: str, heading: str, body: str) -> str:
    return f'<section id="{ident}" aria-labelledby="{ident}-h"><h2 id="{ident}-h">{escape(heading)}</h2>\n{body}\n</section>\n'


def _header(r: ReportData) -> str:
    f = r.facts
    sha = f"<code>{escape(f.sha256)}</code>" if f.sha256 else '<span class="muted">not recorded</span>'
    errors = (f'<span class="warn">{f.errors:,}</span>' if f.errors else "0")
    ref = r.policies[0]
    items = [
        ("As of", f"<time datetime=\"{escape(r.as_of)}\">{escape(r.as_of)}</time>"),
        ("Projected to", f"{r.horizon}"),
        ("Facts", f"<code>{escape(f.source)}</code>"),
        ("Facts SHA-256", sha),
        ("Accounts", f"{f.accounts:,}"),
        ("Records in error", errors),
        ("Reference policy", f"<code>{escape(ref.ref)}</code>"),
        ("Policies compared", f"{len(r.policies):,}"),
    ]
    meta = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
    toc = "".join(
        f'<a href="#{i}">{escape(t)}</a>' for i, t in (
            ("policies", "Policies"), ("assumptions", "Assumptions"), ("summary", "Summary"),
            *([("liability", "Liability")] if r.liability else []),
            ("findings", "Key findings"), ("charts", "Charts"), ("differences", "Differences"),
        )
    )
    return (f'<header><h1>{escape(r.title)}</h1>\n<dl class="meta">{meta}</dl>\n'
            f'<nav class="toc" aria-label="Contents">{toc}</nav></header>\n')


def _policies(r: ReportData) -> str:
    rows = []
    for i, p in enumerate(r.policies):
        badge = '<span class="badge">reference</span>' if i == 0 else ""
        models = escape(p.models) if p.models else '<span class="muted">\u2014</span>'
        rows.append(
            f'<tr><td><code>{escape(p.ref)}</code>{badge}</td><td>{escape(p.status)}</td>'
            f'<td>{escape(p.title)}</td><td>{models}</td><td>{_abbrev(p.sha256)}</td></tr>'
        )
    quoted = "".join(
        f'<details class="provisions"><summary>Provisions of <code>{escape(p.ref)}</code> '
        f"({len(p.provisions)})</summary><dl>"
        + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in p.provisions)
        + "</dl></details>"
        for p in r.policies if p.provisions)
    quoted += "".join(
        f"<h3>Assumptions of <code>{escape(p.ref)}</code> (its interpretations, "
        f"{len(p.interpretations)})</h3><dl>"
        + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in p.interpretations)
        + "</dl>"
        for p in r.policies if p.interpretations)
    return _section("policies", "Policies", (
        '<table><thead><tr><th scope="col">Policy</th><th scope="col">Status</th>'
        '<th scope="col">Title</th><th scope="col">What it models</th>'
        '<th scope="col">SHA-256</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>"
        + quoted
    ))


def _assumptions(r: ReportData) -> str:
    if not r.assumptions:
        body = '<p class="empty">No assumed figures: every figure comes from the policies and the facts.</p>'
    else:
        rows = "".join(
            f'<tr><td><code>{escape(a.name)}</code></td><td class="num">{escape(a.value)}</td>'
            f'<td class="text">{escape(a.description)}</td><td class="text">{escape(a.source)}</td></tr>'
            for a in r.assumptions
        )
        body = (
            f'<p class="muted">Every figure assumed for this comparison ({len(r.assumptions)}).</p>'
            '<table><thead><tr><th scope="col">Name</th><th scope="col" class="num">Value</th>'
            '<th scope="col">Description</th><th scope="col">Source</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    return _section("assumptions", "Assumptions", body)


def _summary(r: ReportData) -> str:
    numeric = [
        bool(r.rows) and all(is_numeric_cell(row[j]) or row[j] is None for row in r.rows)
        and any(row[j] is not None for row in r.rows)
        for j in range(len(r.columns))
    ]
    head = "".join(
        f"<th scope=\"col\"{NUM_ATTR if numeric[j] else ''}>{escape(c)}</th>" for j, c in enumerate(r.columns)
    )
    body = []
    for row in r.rows:
        cells = []
        for j, v in enumerate(row):
            cls = ' class="num"' if numeric[j] or (j > 0 and is_numeric_cell(v)) else ""
            tag = "th scope=\"row\"" if j == 0 else "td"
            end = "th" if j == 0 else "td"
            cells.append(f"<{tag}{cls}>{escape(fmt_cell(v, r.columns[j]))}</{end}>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    if not body:
        return _section("summary", "Summary", '<p class="empty">No summary rows.</p>')
    return _section("summary", "Summary", (
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    ))


def _liability(r: ReportData) -> str:
    if not r.liability:
        return ""
    head = "".join(f'<th scope="col"{NUM_ATTR if 1 <= j <= 3 else ""}>{escape(c)}</th>'
                   for j, c in enumerate(LIABILITY_COLUMNS))
    cells = []
    for row in r.liability:
        tds = [f'<th scope="row">{escape(row[0])}</th>']
        tds += [f'<td class="num">{escape(v)}</td>' for v in row[1:4]]
        tds += [f"<td>{escape(v)}</td>" for v in row[4:]]
        cells.append("<tr>" + "".join(tds) + "</tr>")
    body = "".join(cells)
    return _section("liability", "Transfers and how long the holder stays liable", (
        '<p class="muted">Per regime and year of transfer: the deposits that leave the '
        "credit union, their amount, and the years in which the liability of whoever "
        "then holds them ends (range and median; \u201cno limit\u201d when it never "
        "does).</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"))


def _findings(r: ReportData) -> str:
    if not r.findings:
        return _section("findings", "Key findings", '<p class="empty">No findings recorded.</p>')
    items = "".join(f"<li>{escape(x)}</li>" for x in r.findings)
    return _section("findings", "Key findings", f'<ul class="findings">{items}</ul>')


def _charts(r: ReportData) -> str:
    if not r.charts:
        return _section("charts", "Charts", '<p class="empty">No charts requested.</p>')
    figures = []
    for n, chart in enumerate(r.charts, start=1):
        figures.append(
            f'<figure id="chart-{n}"><figcaption>{escape(chart.title)}</figcaption>'
            f"{chart_svg(r, chart, n)}{chart_table(r, chart)}</figure>"
        )
    return _section("charts", "Charts", "\n".join(figures))


def _differences(r: ReportData) -> str:
    if not r.differences:
        return _section("differences", "Largest per-account differences",
                        '<p class="empty">No account differs from the reference.</p>')
    rows = []
    for n, d in enumerate(r.differences, start=1):
        fields = ", ".join(f"<code>{escape(x)}</code>" for x in d.fields) or '<span class="muted">\u2014</span>'
        first = f"<code>{escape(d.first_definition)}</code>" if d.first_definition else '<span class="muted">\u2014</span>'
        amount = escape(fmt_amount(d.amount_cad)) if d.amount_cad is not None else '<span class="muted">\u2014</span>'
        rows.append(
            f'<tr><td class="num">{n}</td><td class="id"><code>{escape(d.member_id)}</code></td>'
            f'<td class="id"><code>{escape(d.account_id)}</code></td><td><code>{escape(d.policy)}</code></td>'
            f'<td>{fields}</td><td>{first}</td><td class="num">{amount}</td>'
            f'<td class="text explanation">{escape(d.explanation)}</td></tr>'
        )
    return _section("differences", "Largest per-account differences", (
        f'<p class="muted">Accounts whose determinations differ from the reference '
        f"(<code>{escape(r.policies[0].ref)}</code>), largest first; amounts in CAD.</p>"
        '<table><thead><tr><th scope="col" class="num">#</th><th scope="col">Member</th>'
        '<th scope="col">Account</th><th scope="col">Policy</th><th scope="col">Fields</th>'
        '<th scope="col">First differing definition</th><th scope="col" class="num">Amount (CAD)</th>'
        '<th scope="col">Explanation</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    ))


def _footer(r: ReportData) -> str:
    hashes = "".join(f"<li><code>{escape(p.ref)}</code> sha256:<code>{escape(p.sha256)}</code></li>" for p in r.policies)
    facts = f" sha256:<code>{escape(r.facts.sha256)}</code>" if r.facts.sha256 else ""
    return (
        f"<footer><p>Generated by Unclaimed {escape(__version__)}, a policy-as-code evaluator for "
        f"FSRA Rule 2024-001. Self-contained: this document loads nothing from anywhere else. "
        f"Facts <code>{escape(r.facts.source)}</code>{facts}, as of {escape(r.as_of)}.</p>"
        f"<p>Policy hashes:</p><ul>{hashes}</ul></footer>\n"
    )


def render_report(data: Mapping[str, object]) -> str:
    """The comparison report as one self-contained HTML document (see the module docstring
    for the shape of ``data``). Raises :class:`ReportDataError` (a ``ValueError``) on bad
    input. The same data gives byte-identical output."""
    r = validated(data)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="Unclaimed {escape(__version__)}">\n'
        f"<title>{escape(r.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + _header(r)
        + "<main>\n"
        + _policies(r)
        + _assumptions(r)
        + _summary(r)
        + _liability(r)
        + _findings(r)
        + _charts(r)
        + _differences(r)
        + "</main>\n"
        + _footer(r)
        + "</body>\n</html>\n"
    )
