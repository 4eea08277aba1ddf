"""docs/writing-policies.md, the authoring guide, is real: its policy excerpts put together
are the walkthrough's policy file, each case it shows is the file it names, each formula
example checks against that policy (and each counter-example is refused with the message
quoted), each shell block runs from a copy of the repository with the exit status it
states, the diagnostic it prints is what `check` prints, its builtin section is what the
builtin table generates, and its tables name every fact field, event type and case key.
The walkthrough itself checks under --strict, passes its cases with full coverage and is
evaluated alike by both backends."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from evaluator.apps.policytest.cases import CASE_KEYS, EXPECT_KEYS
from evaluator.facts.model import EVENT_TYPES, NOTICE_MARKS
from evaluator.lang.builtins import BUILTINS
from evaluator.lang.typesys import ENTITY_FIELDS
from evaluator.policy import check_policy
from tests.support import ROOT
from tests.test_readme import Block, blocks, commands, environment

GUIDE = ROOT / "docs" / "writing-policies.md"
EXAMPLES = ROOT / "docs" / "examples"
WALKTHROUGH = EXAMPLES / "walkthrough"
BIN = Path(sys.executable).parent

_GUIDE_MARK = re.compile(r"^<!--\s*guide:\s*(.*?)\s*-->\s*$")
#: the readme-test directive of the shell blocks this file runs (README's test skips them)
_RUN_HERE = re.compile(r"skip: tests/test_guide\.py runs it from the repository(?:, exit (\d+))?")


def _guide_blocks() -> list[tuple[Block, str | None]]:
    """Each fenced block of the guide with its `<!-- guide: ... -->` marker, if any."""
    lines = GUIDE.read_text(encoding="utf-8").splitlines()
    out = []
    for b in blocks(GUIDE):
        above = lines[b.line - 2] if b.line >= 2 else ""
        m = _GUIDE_MARK.match(above)
        out.append((b, m.group(1) if m else None))
    return out


def _marked(kind: str) -> list[tuple[Block, str]]:
    """Blocks marked `guide: KIND REST`, with REST."""
    found = []
    for b, mark in _guide_blocks():
        if mark is not None and (mark == kind or mark.startswith(kind + " ")):
            found.append((b, mark[len(kind):].strip()))
    return found


def _ids(items: list[tuple[Block, str]]) -> list[str]:
    return [b.where for b, _ in items]


# -- every block is accounted for ------------------------------------------------------------


def test_every_block_of_the_guide_is_checked_or_says_why_not() -> None:
    kinds = ("excerpt", "file", "definitions", "rejects", "output", "not checked:")
    for b, mark in _guide_blocks():
        if b.lang in ("sh", "bash", "console", "shell"):
            # run here (it needs docs/examples), or by tests/test_readme.py (no skip)
            assert b.directive is None or _RUN_HERE.fullmatch(b.directive) \
                or not b.directive.startswith("skip:"), (
                f"{b.where}: a shell block of the guide is run by tests/test_readme.py, or "
                "here when preceded by <!-- readme-test: skip: tests/test_guide.py runs it "
                "from the repository -->")
            continue
        assert mark is not None and mark.startswith(kinds), (
            f"{b.where}: a {b.lang or 'plain'} block without a guide marker "
            f"({', '.join(kinds)})")
        if mark.startswith("not checked:"):
            assert mark[len("not checked:"):].strip(), f"{b.where}: say why it is not checked"


# -- the walkthrough's files -------------------------------------------------------------------


def test_the_excerpts_put_together_are_the_walkthrough_policy() -> None:
    excerpts = _marked("excerpt")
    assert excerpts, "the guide shows no excerpt of the walkthrough policy"
    targets = {rest for _, rest in excerpts}
    for target in targets:
        shown = "".join(b.text for b, rest in excerpts if rest == target)
        actual = (EXAMPLES / target).read_text(encoding="utf-8")
        assert shown == actual, (
            f"the guide's excerpts of {target}, in order, differ from the file "
            "(every line of the file is shown once, in order)")
    assert "walkthrough/policy.yaml" in targets


@pytest.mark.parametrize("block,target", _marked("file"), ids=_ids(_marked("file")))
def test_a_case_shown_is_the_file_it_names(block: Block, target: str) -> None:
    assert block.text == (EXAMPLES / target).read_text(encoding="utf-8"), (
        f"{block.where} differs from docs/examples/{target}")


def _policy_root(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(WALKTHROUGH, root / "aurora-dormant-deposits")
    return root


def _version() -> str:
    m = re.search(r"^version: (\S+)$", (WALKTHROUGH / "policy.yaml").read_text("utf-8"), re.M)
    assert m is not None
    return m.group(1)


def _child(tmp_path: Path, block: Block) -> Path:
    """The block's `definitions:` over the walkthrough policy, as a child policy."""
    root = _policy_root(tmp_path)
    child = tmp_path / "snippet.yaml"
    child.write_text(
        "policy: guide-snippet\nversion: 0.0.1\nstatus: alternative\ntitle: a guide snippet\n"
        f"extends: aurora-dormant-deposits@{_version()}\n" + block.text, encoding="utf-8")
    return root


@pytest.mark.parametrize("block,_", _marked("definitions"), ids=_ids(_marked("definitions")))
def test_a_formula_example_checks_against_the_walkthrough(block: Block, _: str,
                                                          tmp_path: Path) -> None:
    root = _child(tmp_path, block)
    diags = check_policy(tmp_path / "snippet.yaml", root=root)
    problems = [d for d in diags if d.is_error]
    assert not problems, f"{block.where}: " + "; ".join(d.message for d in problems)


@pytest.mark.parametrize("block,message", _marked("rejects"), ids=_ids(_marked("rejects")))
def test_a_counter_example_is_refused_as_the_guide_says(block: Block, message: str,
                                                        tmp_path: Path) -> None:
    root = _child(tmp_path, block)
    diags = check_policy(tmp_path / "snippet.yaml", root=root)
    said = [f"{d.message} ({d.help})" for d in diags]
    assert any(message in s for s in said), (
        f"{block.where}: expected a diagnostic saying {message!r}, got {said}")


# -- what the commands print and do ----------------------------------------------------------


@pytest.mark.parametrize("block,command", _marked("output"), ids=_ids(_marked("output")))
def test_printed_output_is_what_the_command_prints(block: Block, command: str) -> None:
    proc = subprocess.run(["bash", "-c", command], cwd=ROOT, env=environment(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert (proc.stdout + proc.stderr).rstrip("\n") + "\n" == block.text, (
        f"{block.where}: `{command}` now prints something else")


def test_the_shell_blocks_run_with_the_exit_status_they_state(tmp_path: Path) -> None:
    for name in ("policies", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copytree(EXAMPLES, tmp_path / "docs" / "examples")
    env = environment()
    ran = 0
    failures = []
    for b in blocks(GUIDE):
        m = _RUN_HERE.fullmatch(b.directive or "")
        if b.lang not in ("sh", "bash", "console", "shell") or m is None:
            continue
        expect = int(m.group(1) or 0)
        for cmd in commands(b.text):
            proc = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=120, check=False)
            ran += 1
            if proc.returncode != expect:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
                failures.append(f"{b.where}: `{cmd}` exited {proc.returncode}, expected "
                                f"{expect}: " + " | ".join(tail))
    assert ran >= 8, f"only {ran} commands found in the guide"
    assert not failures, "\n".join(failures)
    summary = (tmp_path / "out" / "compare" / "summary.md").read_text(encoding="utf-8")
    assert "aurora-dormant-deposits@" in summary and "fsra-2024-001@" in summary


def test_both_backends_evaluate_the_walkthrough_alike_on_a_generated_portfolio(
        tmp_path: Path) -> None:
    unclaimed = str(BIN / "unclaimed")
    table = tmp_path / "p.csv"
    subprocess.run([unclaimed, "generate", "--members", "400", "--seed", "7", "--out",
                    str(table)], check=True, capture_output=True, timeout=120)
    outputs = []
    for backend in ("scalar", "columnar"):
        proc = subprocess.run(
            [unclaimed, "evaluate", "--policy", str(WALKTHROUGH), "--facts", str(table),
             "--fx", str(tmp_path / "p.fx.csv"), "--as-of", "2031-02-01", "--format", "csv",
             "--backend", backend], capture_output=True, text=True, timeout=120, check=False)
        outputs.append((proc.returncode, proc.stdout, proc.stderr))
    assert outputs[0][0] in (0, 1), outputs[0][2]
    assert outputs[0] == outputs[1]
    statuses = {line.split(",")[2] for line in outputs[0][1].splitlines()[1:]}
    assert {"active", "unclaimed"} <= statuses, statuses


# -- the reference sections name everything there is ------------------------------------------


def _section(title: str) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start: end if end > 0 else len(text)]


@pytest.mark.parametrize("entity", ["member", "account", "event", "claim", "portfolio"])
def test_the_facts_table_names_every_field_of_each_entity(entity: str) -> None:
    facts = _section("2. Facts your policy reads")
    row = next((line for line in facts.splitlines() if line.startswith(f"| `{entity}` |")),
               None)
    assert row is not None, f"no row for `{entity}` in the facts table"
    missing = [f for f in ENTITY_FIELDS[entity] if f"`{f}`" not in row]
    assert not missing, f"the guide's `{entity}` row lacks {missing}"


def test_the_facts_section_names_every_event_type_and_notice_mark() -> None:
    facts = _section("2. Facts your policy reads")
    missing = [t for t in (*EVENT_TYPES, *NOTICE_MARKS) if f"`{t}`" not in facts]
    assert not missing, f"the facts section does not mention {missing}"


def test_the_case_format_section_names_every_key() -> None:
    section = _section("6. The test-case format")
    rows = set(re.findall(r"^\| `(\w+)` \|", section, re.M))
    assert set(CASE_KEYS) <= rows, set(CASE_KEYS) - rows
    assert set(EXPECT_KEYS) <= rows, set(EXPECT_KEYS) - rows


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "builtins_reference", ROOT / "scripts" / "builtins_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_builtin_section_is_what_the_table_generates_and_names_every_builtin() -> None:
    script = _script()
    text = GUIDE.read_text(encoding="utf-8")
    assert script.refreshed_guide(text) == text, (
        "the guide's builtin section differs from the builtin table: run "
        "python scripts/builtins_reference.py")
    section = text[text.index(script.BEGIN): text.index(script.END)]
    rows = re.findall(r"^\| \[`(\w+)`\]\(builtins\.md#(\w+)\)", section, re.M)
    assert [r[0] for r in rows] == list(BUILTINS)
    assert all(a == b for a, b in rows)


def test_a_builtin_missing_from_the_guide_is_caught() -> None:
    script = _script()
    text = GUIDE.read_text(encoding="utf-8")
    name = next(iter(BUILTINS))
    line = next(x for x in text.splitlines() if x.startswith(f"| [`{name}`]"))
    assert script.refreshed_guide(text.replace(line + "\n", "")) == text
    assert text.replace(line + "\n", "") != text
    done = subprocess.run([sys.executable, "scripts/builtins_reference.py", "--check"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
