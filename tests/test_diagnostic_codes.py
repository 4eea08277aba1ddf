"""Diagnostic codes are a closed set (``errors.Code``): text is still accepted and becomes
the member, unknown text is refused, scripts see the same JSON as before, and
``sort_diagnostics`` is the one order of diagnostics (file, line, column; each once)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluator import PolicyError, check_policy
from evaluator.errors import Code, Diagnostic, sort_diagnostics
from evaluator.span import Span
from tests.support import ROOT

BIN = Path(sys.executable).parent / "unclaimed"
POLICIES = ROOT / "tests" / "policies"


def test_text_of_a_known_code_becomes_the_member() -> None:
    for code in Code:
        d = Diagnostic("m", code=code.value)
        assert d.code is code
    assert Diagnostic("m").code is Code.POLICY
    assert PolicyError("plain text").diagnostics[0].code is Code.POLICY


def test_unknown_code_text_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"unknown diagnostic code 'typo'.*known: io, yaml"):
        Diagnostic("m", code="typo")  # type: ignore[arg-type]


def test_json_writes_the_code_as_text_as_before() -> None:
    d = Diagnostic("m", Span("p.yaml", 3, 5, 3, 9), code="type")  # type: ignore[arg-type]
    out = d.to_json()
    assert type(out["code"]) is str and out["code"] == "type"
    assert json.dumps(out) == json.dumps(
        {"severity": "error", "code": "type", "message": "m", "file": "p.yaml", "line": 3,
         "col": 5, "end_line": 3, "end_col": 9})


def test_check_json_prints_the_codes_of_the_checker() -> None:
    done = subprocess.run([str(BIN), "check", "--format", "json",
                           str(POLICIES / "type-error.yaml")],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 2, done.stderr
    codes = [d["code"] for p in json.loads(done.stdout) for d in p["diagnostics"]]
    assert codes and set(codes) <= {c.value for c in Code} and "type" in codes
    assert all(isinstance(d.code, Code) for d in check_policy(POLICIES / "type-error.yaml"))


def _at(file: str, line: int, col: int, message: str = "m") -> Diagnostic:
    return Diagnostic(message, Span(file, line, col, line, col + 1))


def test_sort_diagnostics_orders_by_position_and_keeps_each_once() -> None:
    late, early, other = _at("a.yaml", 9, 1), _at("a.yaml", 2, 7), _at("b.yaml", 1, 1)
    same_line_left = _at("a.yaml", 9, 1, "first found")
    nowhere = Diagnostic("no position", code=Code.API)
    got = sort_diagnostics([other, late, same_line_left, early, nowhere,
                            _at("a.yaml", 9, 1), _at("b.yaml", 1, 1)])
    # duplicates (same rendering) once; ties keep the order found; no position first
    assert got == [nowhere, early, late, same_line_left, other]
    assert [d.position_key() for d in got] == [("", 0, 0), ("a.yaml", 2, 7), ("a.yaml", 9, 1),
                                              ("a.yaml", 9, 1), ("b.yaml", 1, 1)]


def test_a_checked_policy_lists_its_diagnostics_once_in_file_order() -> None:
    diags = check_policy(POLICIES / "type-error.yaml")
    keys = [d.position_key() for d in diags]
    assert keys == sorted(keys) and len(diags) == len(sort_diagnostics(diags))
