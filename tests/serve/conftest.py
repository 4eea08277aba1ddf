"""A real `unclaimed serve` (uvicorn, 127.0.0.1, a free port) for the service's tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
UNCLAIMED = Path(sys.executable).with_name("unclaimed")


@dataclass
class Server:
    url: str
    policies: Path
    log: Path | None
    process: subprocess.Popen[str]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def start(policies: Path, *args: str, log: Path | None = None) -> Server:
    cmd = [str(UNCLAIMED), "serve", "--port", "0", "--policies", str(policies), *args]
    if log is not None:
        cmd += ["--decision-log", str(log)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"http://[^ ]+/", line)
    if not found:
        proc.kill()
        raise AssertionError(f"serve did not print its URL: {line!r} {proc.stderr.read()!r}"
                             if proc.stderr else line)
    url = found.group(0).rstrip("/")
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError("serve did not answer /healthz")
        time.sleep(0.05)
    return Server(url, policies, log, proc)


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def copy_policies(folder: Path) -> Path:
    target = folder / "policies"
    shutil.copytree(REPO / "policies", target)
    return target


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service over a copy of the shipped policies, with a decision log."""
    folder = tmp_path_factory.mktemp("serve")
    s = start(copy_policies(folder), log=folder / "decisions.jsonl")
    yield s
    stop(s)


@pytest.fixture(scope="session")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Read-only, with a deadline no evaluation meets."""
    folder = tmp_path_factory.mktemp("serve-strict")
    s = start(copy_policies(folder), "--read-only", "--timeout", "0.0001")
    yield s
    stop(s)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def unclaimed(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(UNCLAIMED), *args], capture_output=True, cwd=cwd,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
