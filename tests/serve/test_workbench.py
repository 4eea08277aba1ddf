"""The workbench at ``/`` in Debian's headless Chromium, driven by Playwright, against a
real ``unclaimed serve`` (a subprocess on 127.0.0.1, a free port, over a copy of the
shipped policies).

An analyst's session, each step checked against what the CLI or the YAML says rather
than against what the page computes: a misspelt name typed into a formula is underlined at
the line and column the checker reports and listed with its help; fixing it clears it; the
determinations table has the CLI's statuses; an explanation quotes the policy's provision
text; a comparison shows the service's difference sentences; a save that does not check
writes nothing, one that checks writes the file; a bad record in the facts is listed with the
CLI's message while every other account is evaluated. No console errors, no request to another
origin. Screenshots are kept in ``out/`` as artefacts.

Skips (with the reason) when the ``serve`` command, Playwright or Chromium is missing;
with ``CI`` set a missing Chromium fails instead, as in tests/test_report.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import browser

REPO = Path(__file__).resolve().parents[2]
UNCLAIMED = Path(sys.executable).with_name("unclaimed")
OUT = REPO / "out"
AS_OF = "2026-11-21"
BASELINE = REPO / "policies" / "fsra-2024-001" / "policy.yaml"
FORMULA = "profile_last_activity + inactivity_period"
ALTERNATIVE = "fsra-2024-001-quarterly@1.0.0"


def _require() -> None:
    if importlib.util.find_spec("evaluator.apps.serve.command") is None:
        pytest.skip("the `unclaimed serve` command does not exist yet (issue 13's service)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    if not browser.CHROMIUM.exists():
        if browser.ci_requires_chromium():
            pytest.fail(f"CI is set but {browser.CHROMIUM} is missing: run "
                        "scripts/install-chromium.sh")
        pytest.skip(f"{browser.CHROMIUM} not installed (scripts/install-chromium.sh "
                    "installs it; with CI set this test fails instead)")


@dataclass
class Service:
    url: str
    policies: Path
    process: subprocess.Popen[str]

    def post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(self.url + path, json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    _require()
    policies = tmp_path_factory.mktemp("workbench") / "policies"
    shutil.copytree(REPO / "policies", policies)
    proc = subprocess.Popen(
        [str(UNCLAIMED), "serve", "--port", "0", "--policies", str(policies)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    found = re.search(r"http://[^ ]+?/", proc.stdout.readline())
    if not found:
        proc.kill()
        raise AssertionError(f"`unclaimed serve` printed no URL: {proc.communicate()[1]}")
    url = found.group(0).rstrip("/")
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                break
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError("`unclaimed serve` did not answer /healthz") from None
            time.sleep(0.05)
    yield Service(url, policies, proc)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Session:
    page: Any
    service: Service
    problems: list[str] = field(default_factory=list)
    #: console lines a test expects (Chromium logs every 4xx answer as a console error)
    expected: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def shot(self, name: str, selector: str | None = None) -> Path:
        OUT.mkdir(exist_ok=True)
        path = OUT / f"workbench-{name}.png"
        if selector is None:
            self.page.screenshot(path=str(path), full_page=True)
        else:
            self.page.locator(selector).screenshot(path=str(path))
        return path


@pytest.fixture(scope="module")
def chromium(service: Service) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        flags = [f for f in browser.HEADLESS_FLAGS if f != "--headless"]
        launched = p.chromium.launch(executable_path=str(browser.CHROMIUM), headless=True,
                                     args=flags)
        # Debian's Chromium, not a browser Playwright downloaded.
        installed = subprocess.run([str(browser.CHROMIUM), "--version"], capture_output=True,
                                   text=True).stdout
        assert launched.version in installed, (launched.version, installed)
        yield launched
        launched.close()


@pytest.fixture()
def session(service: Service, chromium: Any) -> Iterator[Session]:
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    s = Session(page, service)
    page.on("console", lambda m: s.problems.append(f"console.{m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: s.problems.append(f"uncaught: {e}"))
    page.on("request", lambda r: s.requests.append(r.url))
    page.goto(service.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    yield s
    context.close()
    # Nothing fetched from elsewhere (the page ships its code), nothing went wrong.
    foreign = [u for u in s.requests if not u.startswith(service.url + "/")
               and not u.startswith("data:")]
    assert foreign == [], f"requests to another origin: {foreign}"
    unexpected = [p for p in s.problems if not any(e in p for e in s.expected)]
    assert unexpected == [], "\n".join(unexpected)


def _cli_json(*args: str) -> Any:
    run = subprocess.run([str(UNCLAIMED), *args], capture_output=True, text=True, cwd=REPO)
    assert run.returncode in (0, 1), run.stderr
    return json.loads(run.stdout)


def _starts(page: Any, selector: str, prefix: str) -> None:
    """Wait until the element's text starts with ``prefix`` (Playwright's expect polls
    without eval, which the page's Content-Security-Policy forbids)."""
    from playwright.sync_api import expect

    expect(page.locator(selector)).to_have_text(re.compile("^" + re.escape(prefix)),
                                                timeout=20_000)


def _goto(page: Any, line: int, offset: int) -> None:
    """The editor's own go-to-line panel (Ctrl+Alt+G), as a keyboard user would."""
    from playwright.sync_api import expect

    page.locator("#policy-editor .cm-content").click()
    page.keyboard.press("Control+Alt+g")
    field_ = page.locator("#policy-editor .cm-panel input[name=line]")
    field_.fill(f"{line}:{offset}")
    field_.press("Enter")
    # The panel closes and the focus is back in the text (the page sees to it).
    expect(page.locator("#policy-editor .cm-content")).to_be_focused()


def test_misspelt_name_is_underlined_then_fixed_then_evaluated_explained_compared(
        session: Session) -> None:
    page = session.page
    expect_text = page.locator("#diagnostics-summary")
    _starts(page, "#diagnostics-summary", "No diagnostics")
    lines = BASELINE.read_text(encoding="utf-8").splitlines()
    line = next(i for i, t in enumerate(lines, 1) if FORMULA in t)
    column = lines[line - 1].index("inactivity_period") + 1  # 1-based, as the CLI prints

    # Type a misspelling: delete the `i` of `inactivity` after `inactiv`.
    _goto(page, line, column - 1 + len("inactiv"))
    page.keyboard.press("Delete")
    mark = page.locator("#policy-editor .cm-lintRange-error")
    mark.first.wait_for()
    assert mark.count() == 1
    assert mark.inner_text() == "inactivty_period"
    # Its line is `line` (the gutter's number beside it) and it starts at `column`.
    where = mark.evaluate("""m => {
        const line = m.closest('.cm-line');
        const r = document.createRange();
        r.setStart(line, 0); r.setEndBefore(m);
        const box = m.getBoundingClientRect();
        const gutter = [...m.getRootNode().querySelectorAll('.cm-lineNumbers .cm-gutterElement')]
            .find(g => { const b = g.getBoundingClientRect();
                         return b.height > 0 && b.top <= box.top + 2 && b.bottom >= box.bottom - 2; });
        return {before: r.toString().length, gutter: gutter ? gutter.textContent : null};
    }""")
    assert where == {"before": column - 1, "gutter": str(line)}
    item = page.locator("#diagnostics li")
    assert item.count() == 1
    text = item.inner_text()
    assert f"{line}:{column}" in text and "unknown name `inactivty_period`" in text
    assert "did you mean `inactivity_period`?" in text
    mark.hover()
    tooltip = page.locator("#policy-editor .cm-tooltip-lint")
    tooltip.wait_for()
    assert "unknown name `inactivty_period`" in tooltip.inner_text()
    session.shot("diagnostic")

    # Fix it: the underline and the list entry go.
    page.keyboard.press("Escape")
    _goto(page, line, column - 1 + len("inactiv"))
    page.keyboard.type("i")
    _starts(page, "#diagnostics-summary", "No diagnostics")
    assert mark.count() == 0 and page.locator("#diagnostics li").count() == 0
    assert expect_text.inner_text().startswith("No diagnostics")

    # Evaluate: one row per account, with the CLI's status for each.
    page.locator("#evaluate").click()
    rows = page.locator("table.determinations tbody tr[data-account]")
    rows.first.wait_for()
    cli = _cli_json("evaluate", "--policy", str(BASELINE), "--facts", "examples/members.json",
                    "--as-of", AS_OF, "--format", "json", "--explain")
    shown = {r.get_attribute("data-account"): r.locator("td").nth(2).inner_text()
             for r in rows.all()}
    assert shown == {a["account_id"]: a["status"] for a in cli["accounts"]}

    # Explain an account: the tree shows inactive_on with the CLI's value, and quotes the
    # provision text of the policy (the YAML's, whitespace folded).
    account = next(a for a in cli["accounts"] if a["status"] == "transferred")
    page.get_by_role("button", name=f"Explain {account['account_id']}").click()
    traced = {t["definition"]: t for t in account["trace"] if "definition" in t}
    page.get_by_role("button", name="Expand all").click()
    node = page.locator("table.determinations summary", has_text="inactive_on =").first
    node.wait_for()
    assert str(traced["inactive_on"]["value"]) in node.inner_text()
    # ... and, below it, the parameter its formula reads, with the value the CLI used.
    period = next(t for t in account["trace"] if t.get("parameter") == "inactivity_period")
    leaf = node.locator("xpath=..").locator("summary", has_text="inactivity_period =").first
    assert f"inactivity_period = {period['value']}" in leaf.inner_text()
    provisions = yaml.safe_load(BASELINE.read_text(encoding="utf-8"))["provisions"]
    quote = page.locator("table.determinations blockquote.provision[cite='2(1)']").first
    quoted = " ".join(quote.inner_text().split())
    assert quoted == f"2(1): {' '.join(provisions['2(1)']['text'].split())}"
    session.shot("explanation", "#results-pane")

    # Compare with an alternative: the service's difference sentences are on the page.
    page.locator("#compare-select").select_option(ALTERNATIVE)
    page.locator("#compare").click()
    page.locator("table.differences").wait_for()
    facts = json.loads((REPO / "examples" / "members.json").read_text(encoding="utf-8"))
    answer = session.service.post("/v1/compare", {
        "policies": [{"text": BASELINE.read_text(encoding="utf-8"),
                      "name": "fsra-2024-001.yaml"}, ALTERNATIVE],
        "facts": facts, "as_of": AS_OF})
    assert answer["differences"], "the chosen alternative should differ on the sample"
    cells = page.locator("table.differences td.sentence").all_inner_texts()
    assert cells == [d["explanation"] for d in answer["differences"]]
    session.shot("comparison", "#comparison-pane")


def test_save_writes_only_a_policy_that_checks(session: Session) -> None:
    page = session.page
    before = {p: p.read_bytes() for p in session.service.policies.rglob("*") if p.is_file()}

    page.locator("#new").click()
    _starts(page, "#diagnostics-summary", "No diagnostics")
    # Rename it, and break it: a status the schema does not allow.
    _goto(page, 1, len("policy: "))
    page.keyboard.press("Shift+End")
    page.keyboard.type("workbench-test")
    _goto(page, 3, len("status: "))
    page.keyboard.press("Shift+End")
    page.keyboard.type("draft")
    page.locator("#policy-editor .cm-lintRange-error").first.wait_for()
    session.expected.append("the server responded with a status of 422")  # the refusal
    page.locator("#save").click()
    _starts(page, "#status", "Not saved")
    assert "`draft` is not allowed for `status`" in page.locator("#diagnostics").inner_text()
    after = {p: p.read_bytes() for p in session.service.policies.rglob("*") if p.is_file()}
    assert after == before, "a policy that does not check was written"

    # Put the status back: it checks, and saving writes it where --policies says.
    _goto(page, 3, len("status: "))
    page.keyboard.press("Shift+End")
    page.keyboard.type("alternative")
    _starts(page, "#diagnostics-summary", "No diagnostics")
    page.locator("#save").click()
    _starts(page, "#status", "Saved")
    saved = list(session.service.policies.rglob("workbench-test*.yaml"))
    assert len(saved) == 1, saved
    assert "policy: workbench-test" in saved[0].read_text(encoding="utf-8")
    session.shot("saved")


def test_a_bad_record_is_listed_and_every_other_account_evaluated(
        session: Session, tmp_path: Path) -> None:
    page = session.page
    facts = json.loads((REPO / "examples" / "members.json").read_text(encoding="utf-8"))
    facts["members"].append({"member_id": "M99", "accounts": [
        {"account_id": "M99-A", "currency": "CAD", "balance": "lots", "opened": "2020-01-01"}]})
    text = json.dumps(facts, indent=1)
    (tmp_path / "facts.json").write_text(text, encoding="utf-8")
    cli = _cli_json("evaluate", "--policy", str(BASELINE), "--facts",
                    str(tmp_path / "facts.json"), "--as-of", AS_OF, "--format", "json")
    assert len(cli["errors"]) == 1

    # Replace the sample facts as a user pasting a file would.
    page.locator("#facts-editor .cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)
    page.locator("#evaluate").click()
    rows = page.locator("table.determinations tbody tr[data-account]")
    rows.first.wait_for()
    assert rows.count() == len(cli["accounts"])
    shown = page.locator("ul.record-errors li").all_inner_texts()
    assert shown == [f"M99 / M99-A: {cli['errors'][0]['message']}"]
