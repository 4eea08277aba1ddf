"""The documentation's commands work as written: every shell block of README.md and of
docs/*.md runs, in order, in a fresh folder holding copies of `policies/` and `examples/`,
with the virtualenv's `bin` first on PATH (what `. .venv/bin/activate` gives).

A block may be preceded, on the line right before its fence, by a directive:

- ``<!-- readme-test: skip: REASON -->``: not run (a reason is required);
- ``<!-- readme-test: exit N: REASON -->``: each of its commands must exit N, not 0;
- ``<!-- readme-test: scale A -> B -->``: run with the text A replaced by B (million-row
  examples scaled down; A must occur in the block);
- ``<!-- readme-test: file NAME -->``: the block is written to NAME (an input that later
  commands use).

Also: every command's --help and README.md's table give each exit status.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from evaluator.cli import EXIT_CODES, main
from tests.support import ROOT

pytestmark = pytest.mark.slow

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent
_FENCE = re.compile(r"^```(\w*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*readme-test:\s*(.*?)\s*-->\s*$")
#: a command of a block may take this long (the scaled-down portfolios take seconds)
TIMEOUT = 120


@dataclass
class Block:
    doc: Path
    line: int
    lang: str
    text: str
    directive: str | None

    @property
    def where(self) -> str:
        doc = self.doc.relative_to(ROOT) if self.doc.is_relative_to(ROOT) else self.doc
        return f"{doc}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, each with the directive right before it."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        start = i
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        prev = _DIRECTIVE.match(lines[start - 1]) if start > 0 else None
        out.append(Block(doc, start + 1, m.group(1), "\n".join(lines[start + 1: j]) + "\n",
                         prev.group(1) if prev else None))
        i = j + 1
    return out


@dataclass
class Plan:
    action: str  # run, skip, file
    expect: int = 0
    reason: str = ""
    replace: tuple[str, str] | None = None
    name: str = ""


def plan(block: Block) -> Plan:
    """What the directive asks; a malformed directive is a failure, not a silent skip."""
    d = block.directive
    if d is None:
        return Plan("run")
    if m := re.fullmatch(r"skip:\s*(\S.*)", d):
        return Plan("skip", reason=m.group(1))
    if m := re.fullmatch(r"exit (\d+):\s*(\S.*)", d):
        return Plan("run", expect=int(m.group(1)), reason=m.group(2))
    if m := re.fullmatch(r"scale (\S+) -> (\S+)", d):
        assert m.group(1) in block.text, f"{block.where}: `{m.group(1)}` is not in the block"
        return Plan("run", replace=(m.group(1), m.group(2)))
    if m := re.fullmatch(r"file (\S+)", d):
        return Plan("file", name=m.group(1))
    raise AssertionError(f"{block.where}: unknown or incomplete readme-test directive `{d}` "
                         "(skip: REASON, exit N: REASON, scale A -> B, file NAME)")


def commands(text: str) -> list[str]:
    """Shell commands of a block: continuation lines joined, blank and comment lines out."""
    out: list[str] = []
    current = ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        out.append(current + line)
        current = ""
    if current:
        out.append(current)
    return out


def workspace(tmp: Path) -> Path:
    for name in ("policies", "examples"):
        shutil.copytree(ROOT / name, tmp / name)
    return tmp


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(BIN.parent)
    env.pop("PYTHONPATH", None)
    return env


def run_doc(doc: Path, cwd: Path) -> list[str]:
    """Run a document's blocks in order; the failures, each naming block and command."""
    failures: list[str] = []
    env = environment()
    for block in blocks(doc):
        if block.lang not in ("sh", "bash", "console", "shell") and block.directive is None:
            continue
        p = plan(block)
        if p.action == "skip":
            continue
        if p.action == "file":
            (cwd / p.name).write_text(block.text, encoding="utf-8")
            continue
        text = block.text if p.replace is None else block.text.replace(*p.replace)
        for cmd in commands(text):
            proc = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True,
                                  text=True, timeout=TIMEOUT, check=False)
            if proc.returncode != p.expect:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
                failures.append(f"{block.where}: `{cmd}` exited {proc.returncode}, expected "
                                f"{p.expect}: " + " | ".join(tail))
    return failures


def test_the_set_up_is_what_the_tests_assume() -> None:
    assert (BIN / "unclaimed").exists(), f"{BIN}/unclaimed: run `make demo` first"
    first = blocks(ROOT / "README.md")[0]
    assert "make demo" in first.text and ". .venv/bin/activate" in first.text
    skipped = [b for b in blocks(ROOT / "README.md") if plan(b).action == "skip"]
    assert any("make test" in b.text for b in skipped)


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_every_command_block_runs(doc: Path, tmp_path: Path) -> None:
    ran = [b for b in blocks(doc) if b.lang in ("sh", "bash") and plan(b).action == "run"]
    assert ran, f"{doc}: no shell block runs"
    failures = run_doc(doc, workspace(tmp_path))
    assert not failures, "\n".join(failures)


def test_a_failing_command_fails_the_run(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("```sh\nunclaimed check policies/nowhere\n```\n\n"
                   "<!-- readme-test: exit 1: wrong on purpose -->\n```sh\ntrue\n```\n"
                   "<!-- readme-test: scale 5 -> 6 -->\n```sh\nexit 5\n```\n"
                   "<!-- readme-test: skip: never run -->\n```sh\nfalse\n```\n",
                   encoding="utf-8")
    (tmp_path / "work").mkdir()
    failures = run_doc(doc, tmp_path / "work")
    assert len(failures) == 3, failures
    assert "`unclaimed check policies/nowhere` exited 2, expected 0" in failures[0]
    assert "`true` exited 0, expected 1" in failures[1]
    assert "`exit 6` exited 6, expected 0" in failures[2]


@pytest.mark.parametrize("directive", ["skip:", "skip", "exit 1", "scale 9 -> 1", "run it"])
def test_a_directive_needs_its_reason_and_its_text(directive: str) -> None:
    block = Block(ROOT / "README.md", 1, "sh", "echo 1000\n", directive)
    with pytest.raises(AssertionError):
        plan(block)


def test_commands_join_continuations_and_drop_comments() -> None:
    assert commands("# note\n\nunclaimed a \\\n   --b c   # what\nunclaimed d\n") == [
        "unclaimed a     --b c   # what", "unclaimed d"]


# -- exit statuses -----------------------------------------------------------------------


def _subcommands() -> list[str]:
    from evaluator.cli import _build_parser

    parser = _build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)  # type: ignore[arg-type]


def test_every_command_documents_its_exit_statuses_in_help() -> None:
    names = _subcommands()
    assert set(names) == set(EXIT_CODES) and len(names) == 8
    for name in names:
        out = io.StringIO()
        with pytest.raises(SystemExit) as done:
            sys.stdout, saved = out, sys.stdout
            try:
                main([name, "--help"])
            finally:
                sys.stdout = saved
        assert done.value.code == 0
        text = out.getvalue()
        section = text[text.index("exit status:"):].splitlines()
        assert [ln.split()[0] for ln in section[1:4]] == ["0", "1", "2"], (name, section)


def test_the_readme_table_lists_every_command_and_status() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "| command | 0 | 1 | 2 |" in text
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*\|$", text, re.M)}
    for name in _subcommands():
        assert name in rows, f"README's exit-status table lacks `{name}`"
        cells = [c.strip() for c in rows[name].strip("|").split("|")]
        assert len(cells) == 4 and all(cells), rows[name]
