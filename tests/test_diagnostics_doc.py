"""docs/diagnostics.md shows what the evaluator prints: every example runs, its output is
compared with the document, and its fix is applied and checked.

The document's format (what this module reads):

- the index: one row ``| [`CODE`](#CODE) | SEVERITY | MEANING |`` per code, SEVERITY being
  ``error``, ``warning`` or ``error or warning``;
- one ``## `CODE` `` section per code, each with one or more ``### `` examples;
- an example, before its line starting ``**Fix``: ```` ```yaml ```` blocks whose first line
  is ``# file: PATH`` (written to PATH, comment included, in a fresh folder holding copies
  of ``policies/`` and ``examples/``), then a ```` ```text ```` block whose first line is
  ``$ unclaimed ARGS`` followed by exactly what the command prints (standard output, then
  standard error); or a ```` ```python ```` block and a ```` ```text ```` block of what it
  prints;
- after ``**Fix``: ```` ```diff ```` blocks (hunks separated by ``@@`` lines; ``-`` lines
  replaced by ``+`` lines, lines starting with a space kept, all found together in exactly
  one of the example's files), after which the example's command exits 0 and prints no
  diagnostic at all; and/or ```` ```sh ```` blocks of ``unclaimed`` commands that exit 0
  without a diagnostic of the section's code (tests/test_readme.py runs those too, in a
  folder holding only ``policies/`` and ``examples/``, so they name no example file).

Each example's diagnostics must include the section's code, with the severity the index
gives. Every code the evaluator can emit (``code="..."`` or ``code=Code.X`` anywhere under
``evaluator/``, the defaults of ``code`` parameters and fields, and the members of a
``Code`` enum) has a section, and every section is such a code.

``pytest --update-golden tests/test_diagnostics_doc.py`` rewrites the outputs in the
document (review the diff before committing it).
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import re
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from evaluator import Diagnostic
from evaluator.cli import main
from evaluator.errors import Code
from tests.support import ROOT

DOC = ROOT / "docs" / "diagnostics.md"
_FENCE = re.compile(r"^```(\w*)\s*$")
_SECTION = re.compile(r"^## `([a-z][a-z-]*)`\s*$")
_INDEX_ROW = re.compile(r"^\| \[`([a-z][a-z-]*)`\]\(#([a-z-]+)\) \| (error|warning|error or "
                        r"warning) \| (\S.*\S) \|$")
_FILE = re.compile(r"^# file: (\S+)$")


# -- reading the document ------------------------------------------------------------------


@dataclass
class Block:
    lang: str
    line: int  # of the opening fence, 1-based
    lines: list[str]

    @property
    def text(self) -> str:
        return "".join(f"{ln}\n" for ln in self.lines)


@dataclass
class Example:
    code: str
    title: str
    line: int
    files: dict[str, str] = field(default_factory=dict)
    python: Block | None = None
    shown: Block | None = None  # the text block: the command and its output
    diffs: list[Block] = field(default_factory=list)
    fix_commands: list[Block] = field(default_factory=list)

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")
        return f"{self.code}:{slug}"

    @property
    def where(self) -> str:
        return f"docs/diagnostics.md:{self.line} ({self.code}: {self.title})"

    def command(self) -> list[str]:
        assert self.shown is not None and self.shown.lines, f"{self.where}: no text block"
        first = self.shown.lines[0]
        assert first.startswith("$ unclaimed "), \
            f"{self.where}: the text block starts with `$ unclaimed ...`, not `{first}`"
        return shlex.split(first[2:])[1:]

    def expected(self) -> str:
        assert self.shown is not None, f"{self.where}: no text block"
        lines = self.shown.lines if self.python is not None else self.shown.lines[1:]
        return "".join(f"{ln}\n" for ln in lines)


@dataclass
class Doc:
    index: list[tuple[str, str, str]]  # (code, severity, meaning)
    sections: list[str]
    examples: list[Example]
    #: text blocks outside the examples (each quotes the output of one)
    quotes: list[Block] = field(default_factory=list)


def blocks(lines: list[str]) -> Iterator[tuple[int, Block | str]]:
    """(line index, fenced block or a line outside blocks), in order."""
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            yield i, lines[i]
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        assert j < len(lines), f"docs/diagnostics.md:{i + 1}: unclosed block"
        yield i, Block(m.group(1), i + 1, lines[i + 1:j])
        i = j + 1


def parse(text: str) -> Doc:
    lines = text.splitlines()
    index: list[tuple[str, str, str]] = []
    sections: list[str] = []
    examples: list[Example] = []
    quotes: list[Block] = []
    code: str | None = None
    ex: Example | None = None
    fixing = False
    for i, item in blocks(lines):
        if isinstance(item, str):
            if m := _INDEX_ROW.match(item):
                assert m.group(1) == m.group(2), f"line {i + 1}: link to #{m.group(2)}"
                index.append((m.group(1), m.group(3), m.group(4)))
            elif m := _SECTION.match(item):
                code, ex = m.group(1), None
                sections.append(code)
            elif item.startswith("## "):
                code, ex = None, None
            elif item.startswith("### ") and code is not None:
                ex = Example(code, item[4:].strip(), i + 1)
                examples.append(ex)
                fixing = False
            elif item.startswith("**Fix") and ex is not None:
                fixing = True
            continue
        if ex is None:
            if item.lang == "text":
                quotes.append(item)
            continue
        where = f"docs/diagnostics.md:{item.line}"
        if fixing:
            if item.lang == "diff":
                ex.diffs.append(item)
            elif item.lang == "sh":
                ex.fix_commands.append(item)
            else:
                raise AssertionError(f"{where}: a fix is a ```diff or ```sh block")
        elif item.lang == "yaml":
            m = _FILE.match(item.lines[0]) if item.lines else None
            assert m, f"{where}: a yaml example starts with `# file: PATH`"
            ex.files[m.group(1)] = item.text
        elif item.lang == "python":
            ex.python = item
        elif item.lang == "text":
            assert ex.shown is None, f"{where}: one text block per example"
            ex.shown = item
        else:
            raise AssertionError(f"{where}: unexpected ```{item.lang} block in an example")
    return Doc(index, sections, examples, quotes)


def load() -> Doc:
    return parse(DOC.read_text(encoding="utf-8"))


#: an absent document fails test_the_index_lists_every_section_once_in_order
EXAMPLES = load().examples if DOC.is_file() else []


# -- running -------------------------------------------------------------------------------


@dataclass
class Ran:
    status: int
    output: str
    diagnostics: list[Diagnostic]

    @property
    def codes(self) -> set[str]:
        return {_text(d.code) for d in self.diagnostics}


def _text(code: object) -> str:
    """A code as text, whether a `str` or a `StrEnum` member."""
    return str(getattr(code, "value", code))


@contextlib.contextmanager
def watching(cwd: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Diagnostic]]:
    """Every diagnostic rendered or written as JSON, while working in ``cwd``."""
    seen: list[Diagnostic] = []
    render, to_json = Diagnostic.render, Diagnostic.to_json

    def spy_render(self: Diagnostic) -> str:
        seen.append(self)
        return render(self)

    def spy_json(self: Diagnostic) -> dict[str, object]:
        seen.append(self)
        return to_json(self)

    with monkeypatch.context() as m:
        m.chdir(cwd)
        m.setattr(Diagnostic, "render", spy_render)
        m.setattr(Diagnostic, "to_json", spy_json)
        yield seen


def run_cli(argv: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> Ran:
    out, err = io.StringIO(), io.StringIO()
    with watching(cwd, monkeypatch) as seen:
        status = main(argv, stdout=out, stderr=err)
    return Ran(status, _portable(out.getvalue() + err.getvalue(), cwd), seen)


def run_python(code: Block, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> Ran:
    out = io.StringIO()
    with watching(cwd, monkeypatch) as seen, contextlib.redirect_stdout(out):
        exec(compile(code.text, f"docs/diagnostics.md:{code.line}", "exec"),
             {"__name__": "__diagnostics_doc__"})
    return Ran(0, _portable(out.getvalue(), cwd), seen)


def _portable(text: str, cwd: Path) -> str:
    """The output as the document shows it: the example's folder is the current one."""
    return text.replace(f"{cwd}/", "").replace(str(cwd), ".")


def workspace(tmp: Path, files: dict[str, str] | None = None) -> Path:
    for name in ("policies", "examples"):
        shutil.copytree(ROOT / name, tmp / name)
    for name, text in (files or {}).items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp


def apply_diff(files: dict[str, str], diff: Block) -> dict[str, str]:
    """``files`` with each hunk of ``diff`` applied in the one file where its old lines
    are found together."""
    hunks: list[list[str]] = [[]]
    for line in diff.lines:
        if line.startswith("@@"):
            hunks.append([])
        else:
            hunks[-1].append(line)
    out = dict(files)
    for hunk in (h for h in hunks if h):
        old: list[str] = []
        new: list[str] = []
        for line in hunk:
            mark, rest = (line[:1], line[1:]) if line else (" ", "")
            assert mark in " -+", f"docs/diagnostics.md:{diff.line}: diff line `{line}`"
            if mark in " -":
                old.append(rest)
            if mark in " +":
                new.append(rest)
        hits = [(name, i) for name, text in out.items()
                for i in _find(text.splitlines(), old)]
        assert len(hits) == 1, (f"docs/diagnostics.md:{diff.line}: the lines to replace are "
                                f"found {len(hits)} times in the example's files, not once:\n"
                                + "\n".join(old))
        name, at = hits[0]
        lines = out[name].splitlines()
        lines[at:at + len(old)] = new
        out[name] = "".join(f"{ln}\n" for ln in lines)
    return out


def _find(lines: list[str], part: list[str]) -> list[int]:
    return [i for i in range(len(lines) - len(part) + 1) if lines[i:i + len(part)] == part]


def fix_commands(block: Block) -> list[list[str]]:
    """The commands of a ```sh fix block (comments and blank lines left out)."""
    out: list[list[str]] = []
    text = "\n".join(block.lines).replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        argv = shlex.split(line, comments=True)
        assert argv[0] == "unclaimed", f"docs/diagnostics.md:{block.line}: `{line}`"
        out.append(argv[1:])
    return out


def rewrite_output(ex: Example, output: str) -> None:
    """``pytest --update-golden``: the example's text block shows ``output``."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    current = next(e for e in load().examples if e.id == ex.id)
    assert current.shown is not None
    keep = 0 if current.python is not None else 1
    start = current.shown.line + keep  # first output line, 0-based
    end = current.shown.line + len(current.shown.lines)
    lines[start:end] = output.splitlines()
    DOC.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- the examples --------------------------------------------------------------------------


def severities() -> dict[str, set[str]]:
    return {code: set(sev.split(" or ")) for code, sev, _ in load().index}


@pytest.mark.parametrize("ex", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_example_prints_what_the_document_shows(ex: Example, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                update_golden: bool) -> None:
    cwd = workspace(tmp_path / "example", ex.files)
    if ex.python is not None:
        ran = run_python(ex.python, cwd, monkeypatch)
    else:
        assert ex.files or ex.fix_commands, f"{ex.where}: no policy and no fixed command"
        ran = run_cli(ex.command(), cwd, monkeypatch)
    if update_golden:
        rewrite_output(ex, ran.output)
    else:
        assert ran.output == ex.expected(), f"{ex.where}: the output differs"
    assert ex.code in ran.codes, f"{ex.where}: codes printed: {sorted(ran.codes)}"
    shown = {d.severity for d in ran.diagnostics if _text(d.code) == ex.code}
    assert shown <= severities()[ex.code], f"{ex.where}: severities {shown}"
    if ex.python is None and ex.command()[:1] == ["check"]:
        # the same command with --format json: the code as scripts see it
        js = run_cli([*ex.command(), "--format", "json"], cwd, monkeypatch)
        codes = {d["code"] for p in json.loads(js.output) for d in p["diagnostics"]}
        assert ex.code in codes and codes == ran.codes, (ex.where, codes)


@pytest.mark.parametrize("ex", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_the_fix_removes_the_diagnostic(ex: Example, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if ex.python is not None:
        assert not (ex.diffs or ex.fix_commands), f"{ex.where}: a Python example has no fix"
        return
    assert ex.diffs or ex.fix_commands, f"{ex.where}: no fix (```diff or ```sh after **Fix)"
    if ex.diffs:
        files = ex.files
        for diff in ex.diffs:
            files = apply_diff(files, diff)
        ran = run_cli(ex.command(), workspace(tmp_path / "fixed", files), monkeypatch)
        assert ran.status == 0 and ran.diagnostics == [], \
            f"{ex.where}: after the fix:\n{ran.output}"
    if ex.fix_commands:
        cwd = workspace(tmp_path / "commands")  # as tests/test_readme.py runs them
        for block in ex.fix_commands:
            for argv in fix_commands(block):
                ran = run_cli(argv, cwd, monkeypatch)
                assert ran.status == 0 and ex.code not in ran.codes, \
                    f"{ex.where}: `unclaimed {shlex.join(argv)}`:\n{ran.output[-2000:]}"


# -- every code, once ----------------------------------------------------------------------


def emitted_codes(sources: dict[str, str]) -> set[str]:
    """The diagnostic codes that Python sources can emit: ``code="..."`` and
    ``code=Code.X`` arguments, defaults of ``code`` parameters and fields, and the
    members of a ``Code`` enum."""
    members: dict[str, str] = {}
    plain: set[str] = set()
    refs: set[str] = set()
    for name, text in sources.items():
        for node in ast.walk(ast.parse(text, name)):
            values: list[ast.expr] = []
            if isinstance(node, ast.ClassDef) and node.name == "Code":
                for st in node.body:
                    if isinstance(st, ast.Assign) and len(st.targets) == 1 \
                            and isinstance(st.targets[0], ast.Name) \
                            and isinstance(st.value, ast.Constant) \
                            and isinstance(st.value.value, str):
                        members[st.targets[0].id] = st.value.value
            elif isinstance(node, ast.keyword | ast.AnnAssign):
                # `code=...` in a call, or a field `code: ... = ...`
                name = node.arg if isinstance(node, ast.keyword) else \
                    getattr(node.target, "id", None)
                if name == "code" and node.value is not None:
                    values.append(node.value)
            elif isinstance(node, ast.arguments):
                positional = [*node.posonlyargs, *node.args]
                pairs = [*zip(positional[len(positional) - len(node.defaults):],
                              node.defaults, strict=True),
                         *((a, d) for a, d in zip(node.kwonlyargs, node.kw_defaults,
                                                  strict=True) if d is not None)]
                values += [d for a, d in pairs if a.arg == "code"]
            for v in values:
                if isinstance(v, ast.Constant) and isinstance(v.value, str):
                    plain.add(v.value)
                elif isinstance(v, ast.Attribute) and isinstance(v.value, ast.Name) \
                        and v.value.id == "Code":
                    refs.add(v.attr)
    unknown = sorted(refs - set(members))
    assert not unknown, f"Code members used but not defined: {unknown}"
    return plain | {members[r] for r in refs} | set(members.values())


def evaluator_sources() -> dict[str, str]:
    package = ROOT / "evaluator"
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
            for p in sorted(package.rglob("*.py"))}


def test_every_code_the_evaluator_emits_has_a_section() -> None:
    emitted = emitted_codes(evaluator_sources())
    documented = set(load().sections)
    assert not emitted - documented, f"codes without a section: {sorted(emitted - documented)}"
    assert not documented - emitted, \
        f"sections of codes the evaluator no longer emits: {sorted(documented - emitted)}"


def test_every_code_member_has_a_section_and_every_section_is_a_member() -> None:
    assert load().sections == [c.value for c in Code]


def test_the_index_lists_every_section_once_in_order() -> None:
    assert DOC.is_file(), f"{DOC} is missing"
    doc = load()
    assert [c for c, _, _ in doc.index] == doc.sections
    assert len(set(doc.sections)) == len(doc.sections)
    by_code = {c: [e for e in doc.examples if e.code == c] for c in doc.sections}
    assert all(by_code.values()), [c for c, exs in by_code.items() if not exs]
    ids = [e.id for e in doc.examples]
    assert len(set(ids)) == len(ids), "two examples of a code have the same title"


def test_outputs_quoted_outside_the_examples_are_theirs() -> None:
    doc = load()
    shown = "\n".join(e.expected() for e in doc.examples)
    assert doc.quotes
    for q in doc.quotes:
        assert q.text in shown, f"docs/diagnostics.md:{q.line}: no example prints this"


def test_the_code_scan_reads_strings_defaults_and_the_enum() -> None:
    source = '''
from enum import StrEnum
class Code(StrEnum):
    TYPE = "type"
    UNUSED_MEMBER = "spare"
@dataclass
class Diagnostic:
    code: Code | str = "policy"
def error(message, *, code: Code = Code.TYPE, severity="error"): ...
def check(): Diagnostic("x", code="name"); Diagnostic("y", code=Code.TYPE)
def positional(message, code="cycle"): ...
'''
    assert emitted_codes({"x.py": source}) == {"type", "spare", "policy", "name", "cycle"}
    with pytest.raises(AssertionError, match="GONE"):
        emitted_codes({"y.py": "Diagnostic('x', code=Code.GONE)"})


def test_a_changed_output_or_an_ineffective_fix_fails(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    doc = parse("| [`name`](#name) | error | n |\n\n## `name`\n\n### Typo\n\n"
                "```yaml\n# file: policies/t.yaml\npolicy: t\nversion: 1.0.0\n"
                "status: proposed\ntitle: t\nprovisions:\n  \"1\": {text: t}\ndefinitions:\n"
                "  x:\n    entity: account\n    provision: \"1\"\n    formula: opned\n"
                "outputs:\n  account: [x]\n```\n\n"
                "```text\n$ unclaimed check policies/t.yaml\nnothing\n```\n\n**Fix**\n\n"
                "```diff\n-    formula: opned\n+    formula: opened\n```\n")
    (ex,) = doc.examples
    ran = run_cli(ex.command(), workspace(tmp_path / "a", ex.files), monkeypatch)
    assert ran.status == 2 and ran.codes == {"name"} and ran.output != ex.expected()
    fixed = apply_diff(ex.files, ex.diffs[0])
    ran = run_cli(ex.command(), workspace(tmp_path / "b", fixed), monkeypatch)
    assert ran.status == 0 and ran.diagnostics == []
    with pytest.raises(AssertionError, match="found 0 times"):
        apply_diff(fixed, ex.diffs[0])
