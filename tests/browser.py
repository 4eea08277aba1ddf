"""Drive Debian's Chromium headless from the tests: standard library only.

Two kinds of run, each with a fresh profile directory and no network:

* ``screenshot(html, png)``: ``--screenshot`` of the page as a reader sees it;
* ``probe(html)``: ``--dump-dom`` of a copy of the page with a small script injected
  *before* the page's Content-Security-Policy (so the page's own policy stays as it is
  and still applies to everything after it). On ``load`` the script writes into
  ``<pre id="probe">`` a JSON record of every ``<svg>``'s laid-out size and viewBox,
  the sections present, uncaught errors, ``console.error`` calls, CSP violations and
  the resources the page fetched; the dumped DOM is parsed back.

Chromium's stderr is captured with ``--enable-logging=stderr --v=0``: without it the
page's console messages (including "Uncaught ..." errors) are not written to stderr at
all, so a check for them would pass vacuously. With it, console messages appear as
``INFO:CONSOLE...`` or ``ERROR:CONSOLE...`` lines; :func:`console_problems` picks them out.
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")

HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Make the page's console (and uncaught errors) reach stderr.
LOGGING_FLAGS = ("--enable-logging=stderr", "--v=0")


def ci_requires_chromium() -> bool:
    """CI installs Chromium (scripts/install-chromium.sh): there its absence is a failure."""
    return bool(os.environ.get("CI", "").strip())


@dataclass
class ChromiumRun:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_chromium(args: list[str], *, work_dir: Path, timeout: float = 60.0) -> ChromiumRun:
    """Run Chromium headless with ``args`` and a fresh ``--user-data-dir`` under ``work_dir``.
    The whole process group is killed if it outlives ``timeout``."""
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-", dir=work_dir))
    argv = [str(CHROMIUM), *HEADLESS_FLAGS, *LOGGING_FLAGS, f"--user-data-dir={profile}", *args]
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
        errors="replace",
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(
            f"chromium did not finish within {timeout:.0f}s: {' '.join(argv)}\n{err[-4000:]}"
        ) from None
    return ChromiumRun(argv, proc.returncode, out, err, time.monotonic() - started)


def screenshot(
    html_path: Path, png_path: Path, *, work_dir: Path, window: tuple[int, int] = (1280, 3000)
) -> ChromiumRun:
    return run_chromium(
        [
            f"--screenshot={png_path}",
            f"--window-size={window[0]},{window[1]}",
            "--hide-scrollbars",
            html_path.resolve().as_uri(),
        ],
        work_dir=work_dir,
    )


PROBE_SCRIPT = """
(function () {
  var errors = [], consoleErrors = [], violations = [];
  window.addEventListener('error', function (e) {
    errors.push(String(e.message || (e.target && (e.target.src || e.target.href)) || 'error'));
  }, true);
  window.addEventListener('unhandledrejection', function (e) { errors.push(String(e.reason)); });
  document.addEventListener('securitypolicyviolation', function (e) {
    violations.push(e.violatedDirective + ' ' + e.blockedURI);
  });
  var original = console.error;
  console.error = function () {
    consoleErrors.push(Array.prototype.join.call(arguments, ' '));
    return original.apply(console, arguments);
  };
  window.addEventListener('load', function () {
    var svgs = Array.prototype.map.call(document.querySelectorAll('svg'), function (s) {
      var b = s.getBoundingClientRect();
      var fig = s.closest('figure');
      return {figure: fig ? fig.id : null, width: b.width, height: b.height,
              viewBox: s.getAttribute('viewBox'), label: s.getAttribute('aria-label')};
    });
    var out = {
      svgs: svgs,
      sections: Array.prototype.map.call(document.querySelectorAll('section'),
                                         function (s) { return s.id; }),
      errors: errors, consoleErrors: consoleErrors, violations: violations,
      resources: performance.getEntriesByType('resource').map(function (r) { return r.name; }),
      scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
      title: document.title
    };
    var pre = document.createElement('pre');
    pre.id = 'probe';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
    // Late reports (CSP violations, errors thrown from timers) arrive as later tasks.
    setTimeout(function () { out.settled = true; pre.textContent = JSON.stringify(out); }, 250);
  });
})();
"""

_CHARSET = '<meta charset="utf-8">'
_PROBE_OUT = re.compile(r'<pre id="probe">(.*?)</pre>', re.S)


def inject_probe(document: str) -> str:
    """A copy of ``document`` with the probe script right after ``<meta charset>``, i.e.
    before anything else in ``<head>`` (its Content-Security-Policy included)."""
    at = document.find(_CHARSET)
    if at < 0:
        raise AssertionError(f"no {_CHARSET} in the document: cannot inject the probe")
    at += len(_CHARSET)
    return f"{document[:at]}\n<script>{PROBE_SCRIPT}</script>{document[at:]}"


def probe(html_path: Path, *, work_dir: Path, window: tuple[int, int] = (1280, 3000)) -> tuple[dict[str, Any], ChromiumRun]:
    """Load a probe-injected copy of ``html_path`` and return the probe's record."""
    copy = work_dir / f"{html_path.stem}.probe.html"
    copy.write_text(inject_probe(html_path.read_text(encoding="utf-8")), encoding="utf-8")
    run = run_chromium(
        [
            f"--window-size={window[0]},{window[1]}",
            # Let the page's timers run (in virtual time) before the DOM is dumped, so the
            # probe's settled record, with late errors and CSP reports, is what is read.
            "--virtual-time-budget=3000",
            "--dump-dom",
            copy.resolve().as_uri(),
        ],
        work_dir=work_dir,
    )
    found = _PROBE_OUT.search(run.stdout)
    if not found:
        raise AssertionError(
            f"the probe wrote nothing (exit {run.returncode}); stderr:\n{run.stderr[-4000:]}"
        )
    record: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    if not record.get("settled"):
        raise AssertionError(f"the DOM was dumped before the probe settled: {record}")
    return record, run


def console_problems(stderr: str) -> list[str]:
    """Lines of Chromium's stderr that report the page's console or an uncaught error."""
    return [
        line for line in stderr.splitlines()
        if "Uncaught" in line or "ERROR:CONSOLE" in line or re.search(r":CONSOLE[:(]", line)
    ]


@dataclass
class PngInfo:
    width: int
    height: int
    size: int
    ink: float  # share of non-zero bytes in the (filtered) image data; ~0 for a blank page


def png_info(path: Path) -> PngInfo:
    """Parse a PNG with the standard library: size, and how much is drawn on it."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError(f"{path} is not a PNG")
    pos, width, height, depth, colour = 8, 0, 0, 0, 0
    idat = bytearray()
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    raw = zlib.decompress(bytes(idat))
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour, 1)
    expected = height * (1 + width * channels * depth // 8)
    if depth != 8 or len(raw) != expected:
        raise AssertionError(f"{path}: unexpected image data ({depth}-bit, {len(raw)} != {expected} bytes)")
    # After PNG filtering a uniform area becomes zeros; text, rules and charts do not.
    return PngInfo(width, height, len(data), (len(raw) - raw.count(0)) / len(raw))
