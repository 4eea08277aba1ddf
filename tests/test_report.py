"""The comparison report (evaluator/report.py): structure, escaping, determinism, input
validation, the Markdown summary, and a real headless-Chromium rendering."""

from __future__ import annotations

import copy
import re
import shutil
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluator.report import ReportDataError, markdown_summary, render_report, validate_report
from tests import browser
from tests.support import ROOT

YEARS = list(range(2026, 2041))
REF = "fsra-2024-001"
INTEREST = "fsra-2024-001-interest"
QUARTERLY = "fsra-2024-001-quarterly-windows"
A4 = "fsra-2024-001-a4-profile-unclaimed"
NASTY = "<script>alert(\"x\")</script> & 'quoted'"


def _transfers(scale: float, start: int) -> list[float | None]:
    return [0 if i < start else round(scale * (1.0 + 0.06 * (i - start)), 2) for i in range(len(YEARS))]


def sample_data() -> dict[str, Any]:
    """A realistic `unclaimed compare` result: four policies, 2026-2040, a program balance
    that goes negative, zeros and nulls, ten differences, text that needs escaping."""
    transferred = {
        REF: _transfers(1_250_000.0, 2),
        INTEREST: _transfers(1_250_000.0, 2),
        QUARTERLY: _transfers(1_310_500.5, 1),
        A4: _transfers(2_075_250.25, 2),
    }
    transferred[A4][5] = None  # a year the policy could not be evaluated
    balance: dict[str, list[float | None]] = {}
    for pid, rate in ((REF, 0.0), (INTEREST, 0.025), (QUARTERLY, 0.0), (A4, 0.0)):
        total, series = 0.0, list[float | None]()
        for i, t in enumerate(transferred[pid]):
            claims = 420_000.0 + 95_000.0 * i + (180_000.0 * i if rate else 0.0)
            total = total * (1 + rate) + (t or 0.0) - claims - (60_000.0 * i if rate else 0.0)
            series.append(round(total, 2))
        balance[pid] = series
    balance[QUARTERLY][0] = 0
    accounts = {
        REF: [0, 0, 1_204, 1_311, 1_402, 1_455, 1_530, 1_611, 1_690, 1_702, 1_755, 1_803, 1_850, 1_921, 2_004],
        INTEREST: [0, 0, 1_204, 1_311, 1_402, 1_455, 1_530, 1_611, 1_690, 1_702, 1_755, 1_803, 1_850, 1_921, 2_004],
        QUARTERLY: [0, 1_120, 1_260, 1_333, 1_420, 1_470, 1_544, 1_630, 1_700, 1_712, 1_770, 1_810, 1_866, 1_930, 2_010],
        A4: [0, 0, 1_980, 2_050, None, 2_211, 2_290, 2_301, 2_350, 2_402, 2_455, 2_501, 2_560, 2_600, 2_653],
    }
    interest = {
        REF: [None] * len(YEARS),
        INTEREST: [0, 0, 0] + [round(31_250.0 * k, 2) for k in range(1, 13)],
    }
    differences = []
    for n in range(10):
        differences.append({
            "member_id": f"M{n * 7919 % 100000:07d}",
            "account_id": f"M{n * 7919 % 100000:07d}-{'AB'[n % 2]}",
            "policy": [A4, QUARTERLY, INTEREST][n % 3],
            "fields": ["unclaimed_on", "payment_window", "amount_cad"][: 1 + n % 3],
            "first_definition": None if n == 9 else ["unclaimed_on", "window_start", "interest_cad"][n % 3],
            "explanation": (
                f"Balance < CAD 1,000 & \"dormant\" since 2014-0{1 + n % 9}-15: the profile's "
                f"last activity rule moves the date by {n + 1} year(s)."
            ),
            "amount_cad": None if n == 8 else f"{(10 - n) * 18_250.5 - (50_000 if n == 7 else 0):.2f}",
        })
    return {
        "title": f"FSRA Rule 2024-001: alternatives compared {NASTY}",
        "as_of": "2026-11-21",
        "horizon": 2040,
        "facts": {
            "source": "portfolio <synthetic> & co.parquet",
            "sha256": "9f2c4e1a" * 8,
            "accounts": 1_000_000,
            "errors": 3,
        },
        "policies": [
            {"id": REF, "version": "1.1.0", "sha256": "a1" * 32, "status": "proposed",
             "title": "Credit unions - unclaimed deposits (FSRA Rule 2024-001), baseline reading",
             "models": None},
            {"id": INTEREST, "version": "1.0.0", "sha256": "b2" * 32, "status": "alternative",
             "title": "Interest payable on transferred unclaimed amounts",
             "models": "Notice of Rule, Alternatives Considered 1) Interest payable"},
            {"id": QUARTERLY, "version": "1.0.0", "sha256": "c3" * 32, "status": "alternative",
             "title": "Quarterly payment windows", "models": "Alternatives Considered 2) \"quarterly\" windows"},
            {"id": A4, "version": "1.0.0", "sha256": "d4" * 32, "status": "interpretation",
             "title": "Unclaimed per profile: every account ten years after the profile's last activity",
             "models": "interpretations.md A4 <profile-unclaimed>"},
        ],
        "assumptions": [
            {"name": "interest_rate", "value": "2.5%", "description": "Annual interest paid on transferred amounts.",
             "source": "policies/alternatives/interest.yaml (an assumption for the comparison)"},
            {"name": "claim_rate", "value": "4% / year", "description": "Share of transferred amounts claimed back each year & paid out.",
             "source": "Consultation team estimate <2024>"},
            {"name": "fx_usd_cad", "value": "1.3650", "description": "USD to CAD for foreign-currency deposits (\"noon\" rate).",
             "source": "examples/fx.csv"},
            {"name": "admin_cost_cad", "value": "60,000 / year", "description": "Authority's administration cost per year.",
             "source": "FSRA budget note"},
        ],
        "summary": {
            "columns": ["Policy", "Accounts unclaimed", "Transferred (CAD)", "Balance 2040 (CAD)", "Breaches", "First year"],
            "rows": [
                [f"{REF}@1.1.0", 20_259, "18,453,125.00", balance[REF][-1], 0, 2028],
                [f"{INTEREST}@1.0.0", 20_259, "18,453,125.00", balance[INTEREST][-1], 0, 2028],
                [f"{QUARTERLY}@1.0.0", 21_575, "20,790,444.71", balance[QUARTERLY][-1], 12, 2027],
                [f"{A4}@1.0.0", 29_353, Decimal("29711206.83"), None, 4, 2028],
            ],
        },
        "yearly": {
            "years": YEARS,
            "series": {
                "transferred_cad": {"label": "Transferred to the Authority", "unit": "CAD", "values": transferred},
                "program_balance_cad": {"label": "Program balance", "unit": "CAD", "values": balance},
                "accounts_unclaimed": {"label": "Accounts becoming unclaimed", "unit": "count", "values": accounts},
                "interest_cad": {"label": "Interest paid", "unit": "CAD", "values": interest},
            },
        },
        "charts": [
            {"metric": "transferred_cad", "title": "Amounts transferred per year", "kind": "bar"},
            {"metric": "program_balance_cad", "title": "Program balance (can go negative) & <claims>", "kind": "line"},
            {"metric": "accounts_unclaimed", "title": "Accounts becoming unclaimed per year", "kind": "bar"},
            {"metric": "interest_cad", "title": "Interest paid by the Authority", "kind": "line"},
        ],
        "differences": differences,
        "findings": [
            "Interest at 2.5% turns the program balance negative from 2029 & it stays < 0.",
            "Quarterly windows bring the first transfers forward by a year (2027, not 2028).",
            "Reading A4 (\"profile-unclaimed\") adds 9,094 accounts over the horizon.",
        ],
    }


class _Doc(HTMLParser):
    """Collects what the structural assertions need, and checks tags are balanced."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr",
                      "source", "track", "embed", "param"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(document: str) -> _Doc:
    doc = _Doc()
    doc.feed(document)
    doc.close()
    assert not doc.problems, doc.problems[:5]
    assert not doc.stack, f"unclosed: {doc.stack}"
    return doc


def _attrs(doc: _Doc, tag: str) -> list[dict[str, str | None]]:
    return [a for t, a in doc.tags if t == tag]


# --------------------------------------------------------------------------------------
# Structure


def test_every_section_is_present_in_order() -> None:
    html_text = render_report(sample_data())
    assert html_text.startswith("<!DOCTYPE html>\n")
    doc = _parse(html_text)
    ids = [a.get("id") for a in _attrs(doc, "section")]
    assert ids == ["policies", "assumptions", "summary", "findings", "charts", "differences"]
    assert len(_attrs(doc, "header")) == 1 and len(_attrs(doc, "footer")) == 1
    text = " ".join(doc.text)
    for needle in ("2026-11-21", "Projected to", "portfolio <synthetic> & co.parquet", "9f2c4e1a" * 8,
                   "1,000,000", "Records in error"):
        assert needle in text, needle


def test_policies_table_abbreviates_hashes_with_the_full_value_in_a_title() -> None:
    data = sample_data()
    doc = _parse(render_report(data))
    titles = {a.get("title") for a in _attrs(doc, "code")}
    text = " ".join(doc.text)
    for p in data["policies"]:
        assert p["sha256"] in titles
        assert f"{p['id']}@{p['version']}" in text
        assert p["sha256"][:12] + "\u2026" in text
    assert "interpretations.md A4 <profile-unclaimed>" in text
    assert "reference" in text


def test_every_assumption_is_listed() -> None:
    data = sample_data()
    html_text = render_report(data)
    section = html_text[html_text.index('<section id="assumptions"'):html_text.index('<section id="summary"')]
    text = " ".join(_parse(f"<div>{section}</div>").text)
    for a in data["assumptions"]:
        for key in ("name", "value", "description", "source"):
            assert a[key] in text, (key, a[key])
    assert section.count("<tr>") == len(data["assumptions"]) + 1


def test_assumptions_section_is_present_when_there_are_none() -> None:
    data = sample_data()
    data["assumptions"] = []
    html_text = render_report(data)
    assert '<section id="assumptions"' in html_text
    assert "No assumed figures" in html_text


def test_summary_findings_and_differences() -> None:
    data = sample_data()
    html_text = render_report(data)
    text = " ".join(_parse(html_text).text)
    assert "20,259" in text and "29,711,206.83" in text and "2028" in text and "2,028" not in text
    for finding in data["findings"]:
        assert finding in text
    section = html_text[html_text.index('<section id="differences"'):html_text.index("</main>")]
    assert section.count("<tr>") == 1 + len(data["differences"])
    for d in data["differences"]:
        assert d["explanation"] in text
    assert "182,505.00" in text  # amounts reformatted with thousands separators
    assert "\u2014" in section  # null amount / first definition


def test_one_sized_svg_per_chart() -> None:
    data = sample_data()
    doc = _parse(render_report(data))
    svgs = _attrs(doc, "svg")
    assert len(svgs) == len(data["charts"])
    for svg, chart in zip(svgs, data["charts"], strict=True):
        width, height = float(svg["width"] or 0), float(svg["height"] or 0)
        assert width > 0 and height > 0
        assert svg["viewbox"] == f"0 0 {svg['width']} {svg['height']}"
        assert svg["role"] == "img" and svg["aria-label"] == chart["title"]
    titles = [t for t in doc.text if t in {c["title"] for c in data["charts"]}]
    assert len(titles) >= 2 * len(data["charts"])  # <figcaption> and the svg's <title>


def test_charts_have_axes_legend_ticks_and_cad_values() -> None:
    html_text = render_report(sample_data())
    figures = re.findall(r'<figure id="chart-\d+">.*?</figure>', html_text, re.S)
    assert len(figures) == 4
    bars, line = figures[0], figures[1]
    assert bars.count("<rect") > 40 and "<polyline" not in bars.split("</svg>")[0]
    assert "<polyline" in line
    # Negative program balance: negative tick labels and a zero line.
    assert re.search(r'class="tick"[^>]*>-[\d,]+</text>', line)
    assert 'class="grid zero"' in line
    # Thousands separators in ticks and tooltips; every policy in the legend.
    assert re.search(r'class="tick"[^>]*>\d{1,3}(,\d{3})+</text>', bars)
    assert "CAD 1,250,000.00" in bars
    for pid in (REF, INTEREST, QUARTERLY, A4):
        assert f"{pid}@" in bars
    assert "(reference)" in bars
    for year in (2026, 2033, 2040):
        assert f">{year}</text>" in bars
    assert "Year</text>" in bars and "(CAD)</text>" in bars and "(count)</text>" in figures[2]
    # A policy without the metric is not drawn; one with only nulls says so.
    assert "(no data)" in figures[3] and QUARTERLY not in figures[3].split("</svg>")[0]


def test_colours_are_stable_per_policy() -> None:
    html_text = render_report(sample_data())
    series = re.findall(r'<g class="series" (?:fill="([^"]+)" )?data-policy="([^"]+)"', html_text)
    fills = {(pid, fill) for fill, pid in series if fill}
    assert len({pid for pid, _ in fills}) == len(fills) == 4  # one colour per policy, 4 distinct
    assert len({fill for _, fill in fills}) == 4


def test_nothing_points_outside_the_document() -> None:
    html_text = render_report(sample_data())
    assert "http://" not in html_text and "https://" not in html_text
    assert not re.search(r"\b(src|srcset|action|xlink:href)\s*=", html_text)
    assert "<script" not in html_text.lower() and "<link" not in html_text.lower()
    assert "@import" not in html_text and "url(" not in html_text
    doc = _parse(html_text)
    for tag, attrs in doc.tags:
        href = attrs.get("href")
        if href is not None:
            assert href.startswith("#"), (tag, href)
            assert f'id="{href[1:]}"' in html_text, href
    assert "default-src 'none'" in html_text


def test_text_is_escaped() -> None:
    html_text = render_report(sample_data())
    assert "<script>alert" not in html_text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;quoted&#x27;" in html_text
    assert "portfolio &lt;synthetic&gt; &amp; co.parquet" in html_text
    assert "Balance &lt; CAD 1,000 &amp; &quot;dormant&quot;" in html_text
    assert "Program balance (can go negative) &amp; &lt;claims&gt;" in html_text
    doc = _parse(html_text)
    assert any(NASTY in t for t in doc.text)
    assert [t for t, _ in doc.tags].count("script") == 0


def test_output_is_deterministic() -> None:
    first = render_report(sample_data())
    assert render_report(sample_data()) == first
    assert render_report(copy.deepcopy(sample_data())) == first
    assert markdown_summary(sample_data()) == markdown_summary(sample_data())
    assert "NaN" not in first and "inf" not in first.lower().replace("info", "")


def test_print_css_and_footer() -> None:
    data = sample_data()
    html_text = render_report(data)
    assert "@media print" in html_text and "@page" in html_text
    footer = html_text[html_text.index("<footer>"):]
    assert "Generated by Unclaimed" in footer
    for p in data["policies"]:
        assert p["sha256"] in footer


def test_edge_cases_render() -> None:
    data = sample_data()
    data["charts"] = []
    data["differences"] = []
    data["findings"] = []
    data["summary"]["rows"] = []
    data["facts"]["sha256"] = None
    html_text = render_report(data)
    assert "<svg" not in html_text and "No charts requested" in html_text
    assert "No findings recorded" in html_text
    # All-zero and all-null series still give a sized chart.
    data = sample_data()
    data["yearly"]["series"]["transferred_cad"]["values"] = {REF: [0] * 15, INTEREST: [None] * 15}
    data["yearly"]["series"]["accounts_unclaimed"]["values"] = {}
    html_text = render_report(data)
    assert html_text.count("<svg") == 4 and "No values." in html_text


_VALUE = st.one_of(
    st.none(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=60, deadline=None)
@given(
    years=st.integers(min_value=1, max_value=40),
    values=st.lists(_VALUE, min_size=40, max_size=40),
    unit=st.sampled_from(["CAD", "count"]),
    kind=st.sampled_from(["bar", "line"]),
)
def test_any_series_gives_a_sized_finite_chart(years: int, values: list[Any], unit: str, kind: str) -> None:
    data = sample_data()
    data["yearly"]["years"] = list(range(2026, 2026 + years))
    data["yearly"]["series"] = {"m": {"label": "Metric", "unit": unit, "values": {
        REF: values[:years], A4: values[::-1][:years],
    }}}
    data["charts"] = [{"metric": "m", "title": "Any", "kind": kind}]
    html_text = render_report(data)
    svg = re.search(r'<svg class="chart"[^>]*>', html_text)
    assert svg and re.search(r'width="960" height="\d+" viewBox="0 0 960 \d+"', svg.group(0))
    chart = html_text[svg.start():html_text.index("</svg>", svg.start())]
    coords = re.findall(r' (?:x|y|x1|x2|y1|y2|cx|cy|r|width|height)="([^"]*)"', chart)
    coords += [c for pts in re.findall(r' points="([^"]*)"', chart) for p in pts.split() for c in p.split(",")]
    assert coords and all(re.fullmatch(r"-?\d+(\.\d{1,2})?", c) for c in coords), coords
    ticks = re.findall(r'class="tick" x="[^"]+" y="[^"]+" text-anchor="end">([^<]+)<', html_text)
    assert len(ticks) >= 2 and len(set(ticks)) == len(ticks)  # distinct tick labels
    assert render_report(data) == html_text


def test_markdown_summary() -> None:
    data = sample_data()
    md = markdown_summary(data)
    lines = md.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| Policy"))
    assert lines[header + 1] == "| --- | ---: | ---: | ---: | ---: | ---: |"
    rows = lines[header + 2:header + 2 + len(data["summary"]["rows"])]
    assert all(r.startswith("| ") and r.endswith(" |") for r in rows)
    assert "| 20,259 |" in rows[0] and "| 2028 |" in rows[0] and "29,711,206.83" in rows[3]
    assert "### Key findings" in md
    assert "- Interest at 2.5% turns the program balance negative from 2029 &amp; it stays &lt; 0." in md
    assert "&lt;script&gt;" in md and "<script>" not in md
    bullets = [line for line in lines if line.startswith("- ")]
    assert len(bullets) == len(data["findings"])


def test_markdown_escapes_table_breakers() -> None:
    data = sample_data()
    data["summary"]["rows"][0][0] = "a | b\nc *d*"
    data["findings"] = ["# not a heading", "1. not a list"]
    md = markdown_summary(data)
    assert "| a \\| b c \\*d\\* |" in md
    assert "| -21,472,348.82 |" in md  # a cell is inline: a leading '-' needs no escape
    assert "- \\# not a heading" in md and "- 1\\. not a list" in md


# --------------------------------------------------------------------------------------
# Validation


def _bad(mutate: Any) -> str:
    data = sample_data()
    mutate(data)
    with pytest.raises(ValueError) as info:
        render_report(data)
    assert isinstance(info.value, ReportDataError)
    with pytest.raises(ReportDataError):
        markdown_summary(data)
    with pytest.raises(ReportDataError):
        validate_report(data)
    return str(info.value)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("title"), "missing key(s) 'title'"),
        (lambda d: d.update(extra=1), "unknown key(s) 'extra'"),
        (lambda d: d.update(title=""), "title: must not be empty"),
        (lambda d: d.update(as_of="21/11/2026"), "as_of: expected a date as YYYY-MM-DD"),
        (lambda d: d.update(as_of="2026-02-30"), "as_of: expected a date"),
        (lambda d: d.update(horizon="15"), "horizon: expected an integer, got a string"),
        (lambda d: d.update(horizon=True), "horizon: expected an integer, got a boolean"),
        (lambda d: d["facts"].update(accounts=-1), "facts.accounts: must be at least 0"),
        (lambda d: d.update(policies=[]), "policies: at least one policy"),
        (lambda d: d["policies"][1].update(sha256=None), "policies[1].sha256: expected a string, got null"),
        (lambda d: d["policies"].append(dict(d["policies"][0])), "policies[4].id: duplicate policy id"),
        (lambda d: d["assumptions"][2].pop("source"), "assumptions[2]: missing key(s) 'source'"),
        (lambda d: d["summary"]["rows"][1].pop(), "summary.rows[1]: has 5 cells, expected 6"),
        (lambda d: d["summary"]["rows"][0].__setitem__(1, [1]), "summary.rows[0][1]: expected a number"),
        (lambda d: d["yearly"].update(years=[2026, 2026]), "yearly.years: years must be strictly increasing"),
        (lambda d: d["yearly"]["series"]["interest_cad"].update(unit="USD"), "interest_cad.unit: expected 'CAD' or 'count'"),
        (lambda d: d["yearly"]["series"]["interest_cad"]["values"].update(nope=[0] * 15), "unknown policy id 'nope'"),
        (lambda d: d["yearly"]["series"]["interest_cad"]["values"][REF].pop(), "has 14 values, expected 15"),
        (lambda d: d["yearly"]["series"]["interest_cad"]["values"][REF].__setitem__(3, float("nan")), "expected a finite number"),
        (lambda d: d["yearly"]["series"]["interest_cad"]["values"][REF].__setitem__(3, "1"), "[3]: expected a number, got a string"),
        (lambda d: d["charts"][0].update(metric="nope"), "charts[0].metric: no series 'nope'"),
        (lambda d: d["charts"][0].update(kind="pie"), "charts[0].kind: expected 'bar' or 'line'"),
        (lambda d: d["differences"][0].update(fields="unclaimed_on"), "differences[0].fields: expected a list"),
        (lambda d: d["differences"][3].update(amount_cad=12.5), "differences[3].amount_cad: expected a string"),
        (lambda d: d["findings"].append(None), "findings[3]: expected a string, got null"),
        (lambda d: d.update(findings="none"), "findings: expected a list"),
    ],
)
def test_bad_input_raises_value_error(mutate: Any, message: str) -> None:
    assert message in _bad(mutate)


def test_non_mapping_input() -> None:
    bad: Any
    for bad in (None, [], "report"):
        with pytest.raises(ValueError, match="report data: expected an object"):
            render_report(bad)


# --------------------------------------------------------------------------------------
# A real browser


def _require_chromium() -> None:
    if browser.CHROMIUM.exists():
        return
    if browser.ci_requires_chromium():
        pytest.fail(f"CI is set but {browser.CHROMIUM} is missing: run scripts/install-chromium.sh")
    pytest.skip(f"{browser.CHROMIUM} not installed (scripts/install-chromium.sh installs it; "
                "with CI set this test fails instead)")


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    _require_chromium()
    data = sample_data()
    page = tmp_path / "report.html"
    page.write_text(render_report(data), encoding="utf-8")

    # (1) It renders: a screenshot with something on it.
    png = tmp_path / "report.png"
    shot = browser.screenshot(page, png, work_dir=tmp_path)
    assert shot.returncode == 0, shot.stderr[-4000:]
    assert png.is_file(), shot.stderr[-4000:]
    info = browser.png_info(png)
    assert (info.width, info.height) == (1280, 3000)
    # A blank 1280x3000 page: ~17 KB and ink ~0.0003; this report: ~350 KB and ink ~0.03.
    assert info.size > 100_000 and info.ink > 0.01, info
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    kept = out / "report-screenshot.png"
    shutil.copyfile(png, kept)
    print(f"\nscreenshot: {kept} (and {png}), {info.size:,} bytes, {shot.seconds:.1f}s")

    # (2) Every chart has a non-zero laid-out size, nothing failed, nothing was fetched.
    record, dumped = browser.probe(page, work_dir=tmp_path)
    assert dumped.returncode == 0, dumped.stderr[-4000:]
    assert record["title"] == data["title"]
    assert record["sections"] == ["policies", "assumptions", "summary", "findings", "charts", "differences"]
    assert len(record["svgs"]) == len(data["charts"])
    for svg, chart in zip(record["svgs"], data["charts"], strict=True):
        assert svg["label"] == chart["title"]
        assert svg["width"] > 100 and svg["height"] > 100, svg
        _, _, vb_w, vb_h = map(float, svg["viewBox"].split())
        assert abs(svg["width"] / svg["height"] - vb_w / vb_h) < 0.01, svg  # not distorted
    assert record["errors"] == [] and record["consoleErrors"] == []
    assert record["violations"] == [], record["violations"]
    assert record["resources"] == [], record["resources"]
    assert record["scrollWidth"] <= record["innerWidth"], "the page scrolls sideways"
    for run in (shot, dumped):
        assert browser.console_problems(run.stderr) == []
    print(f"probe: {dumped.seconds:.1f}s, charts {[(s['width'], s['height']) for s in record['svgs']]}")


@pytest.mark.slow
def test_browser_checks_are_not_vacuous(tmp_path: Path) -> None:
    """The same probe and stderr checks do catch an uncaught error, a console error and a
    blocked inline script (CSP)."""
    _require_chromium()
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        "<script>console.error('deliberate console error');"
        "setTimeout(function () { throw new Error('deliberate uncaught'); }, 0);</script>"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\">"
        "</head><body><svg width=\"10\" height=\"10\" viewBox=\"0 0 10 10\"></svg>"
        "<script>document.title = 'not blocked';</script></body></html>",
        encoding="utf-8",
    )
    record, run = browser.probe(page, work_dir=tmp_path)
    assert record["consoleErrors"] == ["deliberate console error"]
    assert any("script-src" in v for v in record["violations"]), record
    assert record["title"] != "not blocked"
    problems = browser.console_problems(run.stderr)
    assert any("deliberate console error" in line for line in problems), run.stderr[-4000:]
    assert any("Uncaught Error: deliberate uncaught" in line for line in problems), run.stderr[-4000:]
    assert any("Content Security Policy" in line for line in problems), run.stderr[-4000:]
    assert record["errors"] == ["Uncaught Error: deliberate uncaught"]
