"""The committed workbench (evaluator/apps/serve/static/) without a browser or a server:
the page loads only its own same-origin files under a strict Content-Security-Policy, and,
when asked (``UNCLAIMED_CHECK_BUNDLE=1`` with npm available), the committed bundle is
byte for byte what ``scripts/build-workbench.sh`` builds from web/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "evaluator" / "apps" / "serve" / "static"
BUILT = ("workbench.js", "workbench.css", "workbench.LICENSES.txt")


def test_page_loads_only_its_own_files_under_a_strict_csp() -> None:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp, "no Content-Security-Policy meta"
    directives = dict(d.strip().split(" ", 1) for d in csp.group(1).split(";") if d.strip())
    assert directives["default-src"] == "'self'"
    for name in ("script-src", "style-src", "connect-src"):
        assert directives[name] == "'self'", (name, directives[name])
    # It must come before anything it governs.
    assert page.index("Content-Security-Policy") < page.index("<script")
    assert page.index("Content-Security-Policy") < page.index('rel="stylesheet"')
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert refs, "the page references no assets"
    for ref in refs:
        if ref.startswith("data:"):
            continue
        assert ref.startswith("/static/"), f"{ref}: not a same-origin /static/ file"
        assert (STATIC / ref.removeprefix("/static/")).is_file(), f"{ref} is not committed"
    assert "<script>" not in page and "style=" not in page, "inline code the CSP would block"


def test_committed_bundle_is_what_the_sources_build(tmp_path: Path) -> None:
    if not os.environ.get("UNCLAIMED_CHECK_BUNDLE"):
        pytest.skip("set UNCLAIMED_CHECK_BUNDLE=1 (needs npm and the npm registry) to rebuild "
                    "the workbench and compare it with the committed bundle")
    if shutil.which("npm") is None:
        pytest.fail("UNCLAIMED_CHECK_BUNDLE is set but npm is not installed")
    run = subprocess.run([str(REPO / "scripts" / "build-workbench.sh")], capture_output=True,
                         text=True, env={**os.environ, "WORKBENCH_OUT": str(tmp_path)},
                         timeout=600)
    assert run.returncode == 0, run.stderr
    for name in BUILT:
        assert (tmp_path / name).read_bytes() == (STATIC / name).read_bytes(), (
            f"{name} differs from what web/ builds: run scripts/build-workbench.sh and commit")
