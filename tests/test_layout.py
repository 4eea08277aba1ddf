"""Tests for the package layout of issue 11: the old module paths still work (the same
module objects where a module moved whole), nothing inside the package imports them, the
error classes share roots, and the node visitor dispatches on node kinds."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from evaluator.lang import nodes as A
from evaluator.lang.parser import parse_expression

PACKAGE = Path(__file__).resolve().parent.parent / "evaluator"

#: old path -> the module that is now its real home (the old path is the same object)
MOVED = {
    "ast": "lang.nodes", "types": "lang.typesys", "values": "lang.values",
    "parser": "lang.parser", "builtins": "lang.builtins", "policyindex": "lang.document.index",
    "cost": "lang.check.cost", "interpreter": "backends.scalar.interpreter",
    "coverage": "backends.scalar.coverage", "results": "backends.results",
    "model": "facts.model", "cli": "apps.cli", "portfolio": "apps.portfolio",
    "compare": "apps.compare", "records": "apps.records", "report": "apps.report",
    "diff": "apps.diff", "policytest": "apps.policytest", "generate": "apps.generate",
}
#: old paths whose names now live in several modules: name -> the module defining it
SPLIT = {
    "checker": {"CheckedPolicy": "lang.check.model", "dependency_order": "lang.check.graph",
                "check_document": "lang.check.pipeline", "parse_type": "lang.check.infer"},
    "source": {"Span": "span", "render_snippet": "span", "ScalarPositions":
               "lang.document.positions", "node_span": "lang.document.positions"},
    "columnar": {"Unsupported": "errors", "read_table": "facts.table",
                 "evaluate_frame": "backends.columnar.outputs",
                 "Compiler": "backends.columnar.compiler", "csv_layout": "facts.csvscan"},
    "loader": {"load_document": "lang.document.loader", "DefSpec": "lang.document.loader"},
}
OLD_PATHS = sorted([*MOVED, *SPLIT])


@pytest.mark.parametrize("old", sorted(MOVED))
def test_a_moved_module_is_the_same_object_at_its_old_path(old: str) -> None:
    assert importlib.import_module(f"evaluator.{old}") is \
        importlib.import_module(f"evaluator.{MOVED[old]}")


def test_a_patch_through_the_old_path_reaches_the_code_that_runs() -> None:
    import evaluator.cost
    from evaluator.lang.check import cost

    saved = evaluator.cost.cost_diagnostics
    evaluator.cost.cost_diagnostics = lambda checked: []  # type: ignore[assignment]
    try:
        assert cost.cost_diagnostics(None) == []  # type: ignore[arg-type]
    finally:
        evaluator.cost.cost_diagnostics = saved
    assert cost.cost_diagnostics is saved


@pytest.mark.parametrize("old", sorted(SPLIT))
def test_an_old_path_of_a_split_module_gives_the_objects_of_the_new_modules(old: str) -> None:
    shim = importlib.import_module(f"evaluator.{old}")
    for name, home in SPLIT[old].items():
        assert getattr(shim, name) is getattr(importlib.import_module(f"evaluator.{home}"), name)
        assert name in shim.__all__


def test_the_checker_path_does_not_offer_the_cost_check() -> None:
    # tests turn the cost check off by patching every module that has it: a copy here
    # would be patched without effect
    import evaluator.checker

    assert not hasattr(evaluator.checker, "cost_diagnostics")


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "evaluator":
                found += [f"evaluator.{a.name}" for a in node.names]
            else:
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return found


def test_no_module_of_the_package_imports_an_old_path() -> None:
    old = {f"evaluator.{name}" for name in OLD_PATHS}
    shims = {PACKAGE / f"{name}.py" for name in OLD_PATHS}
    offenders = [f"{path.relative_to(PACKAGE)}: {module}"
                 for path in sorted(PACKAGE.rglob("*.py")) if path not in shims
                 for module in _imports(path) if module in old]
    assert offenders == []


def test_every_old_path_is_still_a_file_of_the_package() -> None:
    assert all((PACKAGE / f"{name}.py").is_file() for name in OLD_PATHS)


def test_the_old_entry_points_run_without_loading_polars(tmp_path: Path) -> None:
    code = ("import sys, evaluator, evaluator.cli, evaluator.generate\n"
            "assert evaluator.cli.main_entry and evaluator.generate.main\n"
            "print(sorted(m for m in ('polars', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, check=False)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "[]", "")
    shown = subprocess.run([sys.executable, "-m", "evaluator.generate", "--help"],
                           capture_output=True, text=True, cwd=tmp_path, check=False)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage: unclaimed generate")


# --------------------------------------------------------------------------- errors


def test_every_error_of_the_package_is_a_policy_or_a_data_problem() -> None:
    from evaluator.apps.generate import AssumptionsError, GenerateError
    from evaluator.apps.policytest import DiscoveryError
    from evaluator.apps.report import ReportDataError
    from evaluator.errors import (
        DataProblem,
        EvaluationError,
        ExpressionSyntaxError,
        PolicyError,
        PolicyLoadError,
        PolicyProblem,
        UnclaimedError,
        Unsupported,
    )
    from evaluator.facts import FactsError
    from evaluator.lang.builtins import SignatureError

    policy = [PolicyError, PolicyLoadError, ExpressionSyntaxError, SignatureError]
    data = [EvaluationError, Unsupported, FactsError, GenerateError, AssumptionsError,
            DiscoveryError, ReportDataError]
    assert [c for c in policy if not issubclass(c, PolicyProblem)] == []
    assert [c for c in data if not issubclass(c, DataProblem)] == []
    assert [c for c in policy if issubclass(c, DataProblem)] == []
    assert [c for c in data if issubclass(c, PolicyProblem)] == []
    assert issubclass(PolicyProblem, UnclaimedError) and issubclass(DataProblem, UnclaimedError)
    # callers catching these as before still catch them
    assert issubclass(ReportDataError, ValueError)
    assert not issubclass(ExpressionSyntaxError, PolicyError)


def test_the_columnar_unsupported_error_is_the_one_of_errors() -> None:
    from evaluator.backends.columnar import Unsupported as FromBackend
    from evaluator.columnar import Unsupported as FromOldPath
    from evaluator.errors import Unsupported

    assert FromBackend is Unsupported and FromOldPath is Unsupported


# --------------------------------------------------------------------------- visitor


@pytest.mark.parametrize(("text", "expected"), [
    ("[x for x in xs]", "ListComp"),
    ("[x for x in xs if x > 1]", "ListComp"),
    ("[a, b]", "ListLit"),
    ("[a]", "ListLit"),
    ("[]", "ListLit"),
    ("[[x for x in xs]]", "ListLit"),
    ("a + 1", "Binary"),
    ("not a", "Unary"),
    ("a.b", "Attr"),
    ("f(a)", "Call"),
    ("if a then b else c", "If"),
    ("{a: 1}", "RecordLit"),
    ("a", "Name"),
    ("1", "Literal"),
])
def test_kind_names_a_list_comprehension_and_every_other_node_by_its_class(
        text: str, expected: str) -> None:
    assert A.kind(parse_expression(text)) == expected


def test_a_list_comprehension_offers_its_comprehension() -> None:
    comp = parse_expression("[x + 1 for x in xs]")
    assert isinstance(comp, A.ListLit)
    assert comp.comprehension is comp.items[0]
    assert isinstance(comp.comprehension, A.Comprehension)
    plain = parse_expression("[xs]")
    assert isinstance(plain, A.ListLit) and plain.comprehension is None


class _Shapes(A.NodeVisitor[str]):
    """Writes a tree back by kind, visiting children through ``visit``."""

    def visit_Name(self, node: A.Name, depth: int) -> str:
        return f"{node.id}@{depth}"

    def visit_Literal(self, node: A.Literal, depth: int) -> str:
        return node.text

    def visit_Binary(self, node: A.Binary, depth: int) -> str:
        left, right = self.visit(node.left, depth + 1), self.visit(node.right, depth + 1)
        return f"({left} {node.op} {right})"

    def visit_ListComp(self, node: A.ListLit, depth: int) -> str:
        assert node.comprehension is not None
        return "comp[" + self.visit_Comprehension(node.comprehension, depth) + "]"

    def visit_Comprehension(self, node: A.Comprehension, depth: int) -> str:
        return f"{self.visit(node.element, depth + 1)} for {node.var}"

    def visit_ListLit(self, node: A.ListLit, depth: int) -> str:
        return "list[" + ", ".join(self.visit(i, depth + 1) for i in node.items) + "]"


def test_the_visitor_calls_the_method_of_each_kind_with_the_extra_arguments() -> None:
    shapes = _Shapes()
    assert shapes.visit(parse_expression("a + 2 * b"), 0) == "(a@1 + (2 * b@2))"
    assert shapes.visit(parse_expression("[a + 1 for a in xs]"), 0) == "comp[(a@2 + 1) for a]"
    assert shapes.visit(parse_expression("[a, [b]]"), 0) == "list[a@1, list[b@2]]"


def test_a_kind_without_a_method_goes_to_generic_visit() -> None:
    with pytest.raises(TypeError, match="no visit_Call"):
        _Shapes().visit(parse_expression("f(a)"), 0)

    class Counting(A.NodeVisitor[int]):
        def generic_visit(self, node: A.Node, *args: Any) -> int:
            return sum(1 for _ in A.walk(node))

    assert Counting().visit(parse_expression("f(a, b + 1)")) == 5


def test_the_console_script_is_the_cli_packages_entry_and_the_old_path_gives_it() -> None:
    import tomllib

    import evaluator.apps.cli
    import evaluator.cli

    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    target = project["project"]["scripts"]["unclaimed"]
    assert target == "evaluator.apps.cli:main_entry"
    module, _, name = target.partition(":")
    entry = getattr(importlib.import_module(module), name)
    assert entry is evaluator.cli.main_entry is evaluator.apps.cli.main_entry


def test_the_readme_layout_names_every_package_with_its_job() -> None:
    text = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    rows = {line.split()[0]: line.split(None, 1)[1] for line in block.splitlines()
            if line.strip() and not line.startswith(" ")}
    packages = sorted(f"{p.parent.relative_to(PACKAGE.parent)}/"
                      for p in PACKAGE.rglob("__init__.py") if "_data" not in p.parts)
    missing = [p for p in packages if p not in rows or not rows[p].strip()]
    assert not missing, f"README's Layout block lacks: {missing}"
    assert "still import" in rows["evaluator/*.py"]
