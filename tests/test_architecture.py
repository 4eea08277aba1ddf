"""The package's layout holds: one-way layers (import-linter's contracts in pyproject.toml),
no private name used across modules, modules of one job and a readable size, and the
language and the command line loadable without a dataframe library.

Each check reads the source as it is, so a change that breaks the layout fails here with
the module and the line to look at.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

PACKAGE = ROOT / "evaluator"
#: a module longer than this says why it is one job anyway
MAX_LINES = 800
LONG_REASON = "Longer than 800 lines because"


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "_data" not in p.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_module(node: ast.ImportFrom, current: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def test_no_private_name_is_imported_across_modules() -> None:
    found = []
    for path in _modules():
        name = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            source = _imported_module(node, name, path.name == "__init__.py")
            if not source.startswith("evaluator"):
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: "
                                 f"from {source} import {alias.name}")
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def test_no_private_attribute_of_another_evaluator_module_is_used() -> None:
    found = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("evaluator"):
                aliases.update(a.asname or a.name for a in node.names)
            elif isinstance(node, ast.Import):
                aliases.update((a.asname or a.name).split(".")[0] for a in node.names
                               if a.name.startswith("evaluator"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: "
                             f"{node.value.id}.{node.attr}")
    assert not found, "private attributes of other modules:\n" + "\n".join(found)


def test_modules_are_of_a_readable_size_or_say_why_not() -> None:
    long = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines <= MAX_LINES:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if LONG_REASON not in doc:
            long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not long, (f"modules over {MAX_LINES} lines whose docstring does not say "
                      f"'{LONG_REASON} ...':\n" + "\n".join(long))


def test_every_module_says_its_job() -> None:
    missing = [str(p.relative_to(ROOT)) for p in _modules()
               if not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))]
    assert not missing, "modules without a docstring:\n" + "\n".join(missing)


def test_the_language_and_the_command_line_load_no_dataframe_library() -> None:
    code = ("import sys, evaluator, evaluator.apps.cli, evaluator.lang.builtins, "
            "evaluator.lang.check.pipeline, evaluator.apps.generate\n"
            "loaded = sorted(m for m in ('polars', 'numpy') if m in sys.modules)\n"
            "print(','.join(loaded))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"loaded at import: {done.stdout.strip()}"


def test_the_import_contracts_hold() -> None:
    tool = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(tool).exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    done = subprocess.run([tool, "--no-cache"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"Contracts: [1-9]\d* kept, 0 broken", done.stdout), done.stdout[-2000:]


def test_diagnostic_codes_are_written_as_code_members() -> None:
    """``code=Code.X``, never ``code="x"``: a misspelt code fails when imported, not when
    a user filters on it (keyword arguments and defaults of ``code`` parameters)."""
    found = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            values: list[ast.expr] = []
            if isinstance(node, ast.keyword) and node.arg == "code":
                values.append(node.value)
            elif isinstance(node, ast.arguments):
                positional = [*node.posonlyargs, *node.args]
                values += [d for a, d in zip(positional[len(positional) - len(node.defaults):],
                                             node.defaults, strict=True) if a.arg == "code"]
                values += [d for a, d in zip(node.kwonlyargs, node.kw_defaults, strict=True)
                           if a.arg == "code" and d is not None]
            found += [f"{path.relative_to(ROOT)}:{v.lineno}: code={ast.unparse(v)}"
                      for v in values
                      if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    assert not found, "diagnostic codes written as text:\n" + "\n".join(found)
