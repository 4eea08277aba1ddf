"""Tests for the command modules of the CLI (issue 11, B8): each command module adds its
own subparser and its ``run`` is what ``main`` dispatches to; ``--help`` lists the commands
in their documented order; the split packages (cli, diff, policytest) have no import
cycle between sibling modules."""

from __future__ import annotations

import argparse
import ast
import importlib
import io
from pathlib import Path
from typing import Any

import pytest

from evaluator.apps.cli import _build_parser, main
from evaluator.apps.cli.common import Parser

PACKAGE = Path(__file__).resolve().parent.parent / "evaluator"
COMMANDS = ("evaluate", "check", "test", "replay", "compare")
ORDER = ("evaluate", "check", "test", "replay", "compare", "diff", "generate", "serve")


def test_help_lists_the_commands_in_their_order() -> None:
    sub = next(a for a in _build_parser()._actions if a.dest == "command")
    assert tuple(sub.choices) == ORDER  # type: ignore[arg-type]
    out = io.StringIO()
    _build_parser().print_help(out)
    listed = [line.split()[0] for line in out.getvalue().splitlines()
              if line.startswith("    ") and line.split()[0] in ORDER]
    assert tuple(listed) == ORDER


@pytest.mark.parametrize("name", COMMANDS)
def test_a_command_module_adds_exactly_its_own_subparser(name: str) -> None:
    module = importlib.import_module(f"evaluator.apps.cli.{name}_cmd")
    parser = Parser(prog="x")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    module.add_parser(sub)
    assert list(sub.choices) == [name]


@pytest.mark.parametrize(("name", "argv"), [
    ("evaluate", ["evaluate", "--policy", "p", "--facts", "f", "--as-of", "2026-01-01"]),
    ("check", ["check", "p"]),
    ("test", ["test", "p"]),
    ("replay", ["replay", "r.json"]),
    ("compare", ["compare", "--policy", "p", "--facts", "f", "--as-of", "2026-01-01",
                 "--out", "d"]),
])
def test_main_dispatches_to_the_run_of_the_command_module(
        name: str, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module(f"evaluator.apps.cli.{name}_cmd")
    seen: list[str] = []

    def fake(args: argparse.Namespace, out: Any, err: Any) -> int:
        seen.append(args.command)
        return 7

    monkeypatch.setattr(module, "run", fake)
    assert main(argv, stdout=io.StringIO(), stderr=io.StringIO()) == 7
    assert seen == [name]


def _sibling_imports(package: Path) -> dict[str, set[str]]:
    """Each module of ``package`` -> the sibling modules it imports (any kind of import)."""
    dotted = "evaluator." + ".".join(package.relative_to(PACKAGE).parts)
    names = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    found: dict[str, set[str]] = {}
    for stem in names:
        tree = ast.parse((package / f"{stem}.py").read_text(encoding="utf-8"))
        used = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == dotted:
                    used |= {a.name for a in node.names if a.name in names}
                    used.add("__init__")
                elif node.module.startswith(dotted + "."):
                    used.add(node.module.rsplit(".", 1)[1])
        found[stem] = used
    return found


@pytest.mark.parametrize("package", ["apps/cli", "apps/diff", "apps/policytest"])
def test_sibling_modules_import_each_other_one_way(package: str) -> None:
    graph = _sibling_imports(PACKAGE / package)
    assert all("__init__" not in deps for deps in graph.values()), graph
    done: set[str] = set()

    def visit(stem: str, path: tuple[str, ...]) -> None:
        assert stem not in path, f"cycle: {' -> '.join((*path, stem))}"
        if stem in done:
            return
        for dep in graph[stem]:
            visit(dep, (*path, stem))
        done.add(stem)

    for stem in graph:
        visit(stem, ())


def test_command_modules_share_only_common() -> None:
    graph = _sibling_imports(PACKAGE / "apps" / "cli")
    assert {stem: deps for stem, deps in graph.items() if stem.endswith("_cmd")} == {
        f"{name}_cmd": {"common"} for name in COMMANDS}
