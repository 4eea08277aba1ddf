"""The hardened YAML reader (evaluator.lang.document.compose) used on its own, on a file that
is not a policy: plain data out, every refusal at its position, the node of a value found
again by its path, and no dependence on the policy schema, specs or builder."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml

from evaluator.errors import Diagnostic, PolicyLoadError
from evaluator.lang.document import compose as C
from evaluator.span import Source

DOCUMENT = Path(C.__file__).parent


def read(tmp_path: Path, text: str, **options: Any) -> tuple[Any, list[Diagnostic]]:
    """What a reader built on the module gets from a file holding ``text``."""
    path = tmp_path / "settings.yaml"
    path.write_bytes(text.encode("utf-8"))
    source = C.read_text(path, "settings.yaml")
    diags: list[Diagnostic] = []
    root = C.compose(source, diags)
    if root is None:
        return None, diags
    return C.Composer(source, diags, **options).plain(root), diags


def where(diags: list[Diagnostic]) -> list[tuple[str, int, int, str]]:
    return [(d.code, d.span.line, d.span.col, d.message) for d in diags if d.span is not None]


def test_a_file_that_is_not_a_policy_becomes_plain_data(tmp_path: Path) -> None:
    text = ("name: north\nyears: 12\nrate: 0.25\nenabled: yes\nnothing: ~\n"
            "title: 2025\nregions: [east, west]\nlimits: {low: 1, high: 0x10}\n")
    data, diags = read(tmp_path, text, text_keys=())
    assert diags == []
    assert data == {"name": "north", "years": 12, "rate": "0.25", "enabled": True,
                    "nothing": None, "title": 2025, "regions": ["east", "west"],
                    "limits": {"low": 1, "high": 16}}


def test_text_keys_keep_their_values_as_written(tmp_path: Path) -> None:
    text = "title: 2025\nversion: 2025\nnote: yes\n"
    assert read(tmp_path, text)[0] == {"title": "2025", "version": 2025, "note": True}
    assert read(tmp_path, text, text_keys={"note"})[0] == \
        {"title": 2025, "version": 2025, "note": "yes"}


@pytest.mark.parametrize(("text", "expected"), [
    ("base: &b {a: 1}\ncopy: *b\n",
     [("yaml", 2, 7, "aliases (`*b`) are not allowed in policies")]),
    ("a: !!python/object:os.system echo\n",
     [("yaml", 1, 4, "YAML tag `tag:yaml.org,2002:python/object:os.system` is not allowed "
       "in policies")]),
    ("a: 1\nb: 2\na: 3\n", [("yaml", 3, 1, "duplicate key `a`")]),
    ('a: "x\\ud800y"\n', [("yaml", 1, 6, "text is not valid Unicode: `\\ud800` is half of a "
                           "surrogate pair")]),
    ("a: [1, 2\n", [("yaml", 1, 4, "malformed YAML: expected ',' or ']', but got '<stream "
                     "end>' (while parsing a flow sequence)")]),
])
def test_what_the_reader_refuses_is_reported_at_its_position(
        tmp_path: Path, text: str, expected: list[tuple[str, int, int, str]]) -> None:
    data, diags = read(tmp_path, text)
    assert where(diags) == expected
    assert all(d.help for d in diags)
    if data is not None:
        assert "copy" not in data and data.get("a") in (None, 1)


def test_nesting_is_refused_before_the_recursion_limit(tmp_path: Path) -> None:
    ok = "a: " + "[" * C.MAX_NESTING + "]" * C.MAX_NESTING + "\n"
    assert read(tmp_path, ok)[1] == []
    deep = "a: " + "[" * (C.MAX_NESTING + 1) + "]" * (C.MAX_NESTING + 1) + "\n"
    data, diags = read(tmp_path, deep)
    assert data is None
    assert [(d.code, d.message) for d in diags] == [("yaml", "policy file nests too deeply")]


def test_files_too_large_or_not_utf8_are_refused_whole(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: " + b"x" * C.MAX_POLICY_BYTES + b"\n")
    with pytest.raises(PolicyLoadError, match="the limit is"):
        C.read_text(big, "big.yaml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("a: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(PolicyLoadError) as caught:
        C.read_text(latin, "latin.yaml")
    (d,) = caught.value.diagnostics
    assert d.span is not None and (d.span.line, d.span.col) == (1, 7)
    crlf = tmp_path / "crlf.yaml"
    crlf.write_bytes(b"a: 1\r\nb: 2\r")
    assert C.read_text(crlf, "crlf.yaml").text == "a: 1\nb: 2\n"


def test_the_node_of_a_value_is_found_again_by_its_path() -> None:
    source = Source("settings.yaml", "rows:\n  - {id: r1, size: 3}\n  - {id: r2}\n")
    root = C.compose(source, [])
    assert root is not None
    size = C.node_at(root, ["rows", 0, "size"])
    assert isinstance(size, yaml.ScalarNode) and size.value == "3"
    assert size.start_mark.line == 1
    second = C.child(C.child(root, "rows"), 1)
    key = C.key_node(second, "id")
    assert isinstance(key, yaml.ScalarNode) and key.start_mark.line == 2
    assert C.child(root, "missing") is None and C.child(second, 0) is None
    # a path that leaves the file stops at the last node found
    assert C.node_at(root, ["rows", 5, "id"]) is C.child(root, "rows")


def _evaluator_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.module for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("evaluator")}


def test_the_reader_needs_nothing_of_the_policy_format() -> None:
    assert _evaluator_imports(DOCUMENT / "compose.py") <= {
        "evaluator.errors", "evaluator.span", "evaluator.lang.document.positions"}


def test_the_modules_of_the_document_reader_import_each_other_one_way() -> None:
    siblings = {p.stem: p for p in DOCUMENT.glob("*.py") if p.stem != "__init__"}
    uses = {name: {m.rsplit(".", 1)[1] for m in _evaluator_imports(path)
                   if m.rsplit(".", 1)[0] == "evaluator.lang.document"}
            for name, path in siblings.items()}
    # every module's siblings come before it in one order: no cycle, type-only ones included
    order: list[str] = []
    while len(order) < len(uses):
        ready = sorted(n for n, used in uses.items() if n not in order and used <= set(order))
        assert ready, f"import cycle among {sorted(set(uses) - set(order))}"
        order += ready
    assert order.index("compose") < order.index("schema") < order.index("loader")
    assert order.index("specs") < order.index("build") < order.index("loader")
