"""Tests for the layout of the facts package (issue 11, step B5): the package still offers
every name its callers import, its modules import each other one way only and share no
private names, and none of them loads polars or NumPy when imported."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import evaluator.facts

ROOT = Path(__file__).resolve().parent.parent
FACTS = ROOT / "evaluator" / "facts"
#: the modules of the package, each importing only modules before it
ORDER = ["model", "fields", "files", "csvtext", "extra", "schema", "fx", "builder", "load"]


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _imported_from(tree: ast.AST, module: str) -> set[str]:
    return {alias.name for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == module
            for alias in node.names}


def test_every_name_imported_from_the_package_is_exported() -> None:
    wanted: dict[str, set[str]] = {}
    for folder in ("evaluator", "tests", "benchmarks", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for name in _imported_from(_tree(path), "evaluator.facts") - {"model"}:
                wanted.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    assert "load_facts" in wanted and "FactsBuilder" in wanted  # the scan found the callers
    missing = {name: sorted(where) for name, where in wanted.items()
               if name not in evaluator.facts.__all__}
    assert missing == {}
    assert [n for n in evaluator.facts.__all__ if not hasattr(evaluator.facts, n)] == []


def test_the_modules_import_each_other_one_way_and_share_no_private_names() -> None:
    # table and csvscan (moved from the columnar backend), tablecols and declcols (declared
    # columns) and dataset (accounts and events tables, eventrange: one partition of them)
    # read tables with polars
    polars_readers = {"__init__", "table", "csvscan", "tablecols", "declcols", "dataset",
                      "eventtable", "eventrange", "eventtext"}
    assert {p.stem for p in FACTS.glob("*.py")} - polars_readers == set(ORDER)
    wrong = []
    for i, name in enumerate(ORDER):
        tree = _tree(FACTS / f"{name}.py")
        for later in ORDER[i:]:
            if _imported_from(tree, f"evaluator.facts.{later}"):
                wrong.append(f"{name} imports {later}")
        if _imported_from(tree, "evaluator.facts"):
            wrong.append(f"{name} imports the package")
        for earlier in ORDER[:i]:
            private = [n for n in _imported_from(tree, f"evaluator.facts.{earlier}")
                       if n.startswith("_")]
            if private:
                wrong.append(f"{name} imports {private} from {earlier}")
    assert wrong == []


def test_each_exported_name_is_defined_in_a_module_of_the_package() -> None:
    objects = {name: getattr(evaluator.facts, name) for name in evaluator.facts.__all__}
    classes_and_functions = {n: x.__module__ for n, x in objects.items()
                             if inspect.isclass(x) or inspect.isfunction(x)}
    assert "load_facts" in classes_and_functions
    assert {n: m for n, m in classes_and_functions.items()
            if m not in {f"evaluator.facts.{x}" for x in ORDER}} == {}


def test_importing_every_module_of_the_package_loads_neither_polars_nor_numpy(
    tmp_path: Path,
) -> None:
    modules = ", ".join(f"evaluator.facts.{name}" for name in ORDER)
    code = (f"import sys, {modules}\n"
            "print(sorted(m for m in ('polars', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, check=False)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "[]", "")
