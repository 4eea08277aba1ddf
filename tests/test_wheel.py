"""The wheel ships the grammar and the policies: build it, install it into a fresh virtual
environment, and run `unclaimed` from outside the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env, check=False)


def test_wheel_installs_and_runs_outside_the_repository(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
                  str(dist), str(ROOT)], cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    wheels = list(dist.glob("unclaimed-*.whl"))
    assert len(wheels) == 1

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bindir = env_dir / "bin"
    installed = _run([str(bindir / "python"), "-m", "pip", "install", "--quiet",
                      str(wheels[0])], cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    facts = ROOT / "examples" / "members.json"
    ran = _run([str(bindir / "unclaimed"), "evaluate", "--policy", "fsra-2024-001",
                "--facts", str(facts), "--as-of", "2026-11-21"], cwd=outside)
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    assert out["policy"]["id"] == "fsra-2024-001"
    assert {a["status"] for a in out["accounts"]} >= {"active", "unclaimed", "transferred"}

    checked = _run([str(bindir / "unclaimed"), "check", "fsra-2024-001"], cwd=outside)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ok" in checked.stdout

    # the package inside the venv must not be the source tree
    where = _run([str(bindir / "python"), "-c",
                  "import evaluator, sys; print(evaluator.__file__)"], cwd=outside)
    assert str(env_dir) in where.stdout
