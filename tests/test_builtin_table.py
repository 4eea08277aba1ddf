"""Tests for the one builtin table: every builtin names its columnar implementation (a
function of evaluator.backends.columnar.functions) or says why it has none, the names and
the functions match both ways, and the table itself loads no dataframe library."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from evaluator.backends.columnar import functions
from evaluator.lang import nodes as A
from evaluator.lang.builtins import BUILTINS, Builtin


def _named() -> dict[str, str]:
    return {n: b.columnar for n, b in BUILTINS.items() if b.columnar is not None}


def test_every_builtin_has_exactly_one_of_an_implementation_or_a_reason() -> None:
    for name, b in BUILTINS.items():
        assert (b.columnar is None) != (b.no_columnar is None), name
        if b.no_columnar is not None:
            assert b.no_columnar.strip(), name


@pytest.mark.parametrize(("columnar", "reason"), [(None, None), ("c_text", "because")])
def test_a_builtin_with_neither_or_both_is_refused(columnar: str | None,
                                                   reason: str | None) -> None:
    with pytest.raises(ValueError, match="exactly one of columnar and no_columnar"):
        Builtin("x", "x() -> Int", "", lambda args: args, lambda: 0,
                columnar=columnar, no_columnar=reason)


def test_every_named_implementation_is_a_function_of_the_columnar_functions() -> None:
    for name, impl_name in _named().items():
        impl = getattr(functions, impl_name, None)
        assert inspect.isfunction(impl), (name, impl_name)
        assert impl.__module__ == functions.__name__
        assert list(inspect.signature(impl).parameters) == ["comp", "node", "args"]
        assert functions.columnar_impl(name) is impl


def test_every_columnar_function_is_named_by_some_builtin() -> None:
    defined = {n for n, f in vars(functions).items()
               if n.startswith("c_") and inspect.isfunction(f)
               and f.__module__ == functions.__name__}
    assert defined == set(_named().values())


def test_every_builtin_has_a_columnar_implementation() -> None:
    without = [n for n, b in BUILTINS.items() if b.columnar is None]
    assert without == []
    with pytest.raises(KeyError):
        functions.columnar_impl("no_such_builtin")


def test_the_old_columnar_table_is_built_from_the_builtin_table() -> None:
    from evaluator.columnar import COLUMNAR

    assert set(COLUMNAR) == set(_named())
    for name, impl in COLUMNAR.items():
        assert impl is getattr(functions, BUILTINS[name].columnar or "")


def test_the_compiler_is_a_node_visitor_with_a_method_per_kind() -> None:
    from evaluator.backends.columnar.compiler import Compiler

    assert issubclass(Compiler, A.NodeVisitor)
    kinds = {"Literal", "Name", "Attr", "Unary", "Binary", "If", "Call", "ListComp",
             "ListLit", "RecordLit", "Comprehension"}
    assert {k for k in kinds if callable(getattr(Compiler, f"visit_{k}", None))} == kinds


def test_the_builtin_table_loads_no_dataframe_library() -> None:
    code = ("import sys, evaluator.lang.builtins\n"
            "loaded = [m for m in ('polars', 'numpy') if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
