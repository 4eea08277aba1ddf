"""The builtin reference, docs/builtins.md, is generated from the one builtin table: it is
what the table generates (so a builtin missing from it, or a changed description, fails
here), and each entry's parameters and example fit the builtin's signature."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields, is_dataclass
from typing import Any

import pytest

from evaluator.lang import nodes as A
from evaluator.lang.builtins import BUILTINS, reference_markdown
from evaluator.lang.parser import parse_expression
from tests.support import ROOT

DOC = ROOT / "docs" / "builtins.md"


def test_the_reference_is_what_the_table_generates() -> None:
    assert DOC.read_text(encoding="utf-8") == reference_markdown(), (
        "docs/builtins.md differs from the builtin table: run "
        "python scripts/builtins_reference.py")


def test_every_builtin_has_a_section_and_a_row_and_nothing_else_does() -> None:
    text = DOC.read_text(encoding="utf-8")
    sections = re.findall(r"^## (\S+)$", text, re.M)
    rows = re.findall(r"^\| \[`(\w+)`\]", text, re.M)
    assert sections == rows == list(BUILTINS)


def test_the_script_checks_the_file_in_a_real_process() -> None:
    done = subprocess.run([sys.executable, "scripts/builtins_reference.py", "--check"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _calls(node: Any) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, list | tuple):
            stack.extend(n)
        elif is_dataclass(n) and not isinstance(n, type):
            if isinstance(n, A.Call):
                found.add(n.func)
            stack.extend(getattr(n, f.name) for f in fields(n))
    return found


@pytest.mark.parametrize("name", list(BUILTINS))
def test_each_entry_names_its_parameters_and_has_an_example_calling_it(name: str) -> None:
    b = BUILTINS[name]
    assert b.params and all(p.strip() for p in b.params), name
    declared = b.signature[len(name) + 1:b.signature.index(") ->")]
    variadic = "..." in declared
    if not variadic:
        assert len(b.params) == len(declared.split(", ")), (name, declared, b.params)
    else:
        assert b.params[-1].endswith("..."), name
    assert "\n" not in b.example
    assert name in _calls(parse_expression(b.example)), b.example
