"""The loader on broken input, beyond the hostile corpus: every value the schema or the
composer refuses is reported once, in prose, at its position, and never used afterwards;
YAML nesting is limited before Python's recursion limit; the policy index reads only
bounded headers of regular files inside the root."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from evaluator import Diagnostic, check_policy
from evaluator.policyindex import HEADER_CHARS, PolicyIndex

HEADER = "policy: hardening\nversion: 1.0.0\nstatus: proposed\ntitle: hardening\n"
PROVISIONS = 'provisions:\n  "Act 147(1)": {text: unclaimed deposit}\n'
DEFINITION = ('definitions:\n  unclaimed_on:\n    entity: account\n    provision: "Act 147(1)"\n'
              "    formula: opened + unclaimed_period\noutputs:\n  account: [unclaimed_on]\n")


def check(tmp_path: Path, text: str, name: str = "policy.yaml") -> list[Diagnostic]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return check_policy(path, root=tmp_path)


def errors(diags: list[Diagnostic]) -> list[tuple[str, int, int, str]]:
    return [(d.code, d.span.line, d.span.col, d.message) for d in diags
            if d.is_error and d.span is not None]


# --------------------------------------------------------------------------- schema prose

@pytest.mark.parametrize(("snippet", "message", "line", "col"), [
    ("source: [1, 2]\n", "`source` must be text or a mapping", 5, 9),
    ("source: {a: [1]}\n", "`source.a` must be text", 5, 13),
    ("outputs:\n  account: [{}]\n", "`outputs.account.0` must have at least 1 key", 6, 13),
    ("outputs:\n  account: [{a: b, c: d}]\n", "`outputs.account.0` must have at most 1 key",
     6, 13),
    ("outputs:\n  account: [{a: [b]}]\n", "`outputs.account.0.a` must be text", 6, 17),
    ("parameters:\n  p:\n    type: duration\n    value: 1 year\n    formula: p\n",
     "`parameters.p` cannot have both `value` and `formula`", 7, 5),
    ("definitions:\n  d:\n    formula: ''\n", "`definitions.d.formula` is empty", 7, 14),
])
def test_schema_diagnostics_are_prose_with_a_hint(tmp_path: Path, snippet: str, message: str,
                                                  line: int, col: int) -> None:
    diags = [d for d in check(tmp_path, HEADER + snippet) if d.code == "schema"]
    assert len(diags) == 1, [d.message for d in diags]
    d = diags[0]
    assert d.span is not None and (d.span.line, d.span.col) == (line, col)
    assert d.message == message
    assert d.help
    assert not re.search(r"valid under|non-empty|\{'|\['|None", d.message)


def test_a_value_of_the_wrong_type_gets_only_its_type_error(tmp_path: Path) -> None:
    """`p: [1 year]` also breaks `not: {required: [value, formula]}`: not said twice."""
    diags = check(tmp_path, HEADER + "parameters:\n  p: [1 year]\n")
    assert [m for _, _, _, m in errors(diags)] == ["`parameters.p` must be a mapping"]


# --------------------------------------------------------------------------- reported once

def test_a_tagged_parameter_value_is_only_reported_for_its_tag(tmp_path: Path) -> None:
    diags = check(tmp_path, HEADER + PROVISIONS + "parameters:\n  unclaimed_period:\n"
                  "    type: duration\n    value: !custom 10 years\n"
                  '    provision: "Act 147(1)"\n' + DEFINITION)
    assert errors(diags) == [
        ("yaml", 10, 12, "YAML tag `!custom` is not allowed in policies")]


@pytest.mark.parametrize(("entry", "message"), [
    ("    type: Duration\n", "`Duration` is not allowed for `type`"),
    ("    type: [duration]\n", "`parameters.unclaimed_period.type` must be text"),
    ("    type: !custom duration\n", "YAML tag `!custom` is not allowed in policies"),
])
def test_a_parameter_of_unknown_type_is_not_reported_where_it_is_used(
        tmp_path: Path, entry: str, message: str) -> None:
    diags = check(tmp_path, HEADER + PROVISIONS + "parameters:\n  unclaimed_period:\n"
                  + entry + '    value: 10 years\n    provision: "Act 147(1)"\n' + DEFINITION)
    assert [m for _, _, _, m in errors(diags)] == [message]


def test_a_citation_that_is_not_text_is_not_reported_as_missing(tmp_path: Path) -> None:
    diags = check(tmp_path, HEADER + PROVISIONS + DEFINITION.replace(
        '    provision: "Act 147(1)"', '    provision: ["Act 147(1)"]')
        + "parameters:\n  unclaimed_period: {type: duration, value: 10 years}\n")
    assert [m for _, _, _, m in errors(diags)] == [
        "`definitions.unclaimed_on.provision` must be text"]


@pytest.mark.parametrize("value", ['"\\ud800x"', '["a", "\\udc00"]', '[{c: "\\ud800"}]'])
def test_a_lone_surrogate_is_reported_at_its_escape(tmp_path: Path, value: str) -> None:
    kind = ("type: text" if value.startswith('"') else "type: list" if "{" not in value
            else "type: table\n    columns: {c: text}")
    diags = check(tmp_path, HEADER + PROVISIONS + f"parameters:\n  p:\n    {kind}\n"
                  f"    value: {value}\n" + '    provision: "Act 147(1)"\n')
    found = errors(diags)
    assert len(found) == 1, found
    code, line, col, message = found[0]
    text = (tmp_path / "policy.yaml").read_text(encoding="utf-8").split("\n")[line - 1]
    assert code == "yaml" and "is half of a surrogate pair" in message
    assert text[col - 1:col + 5] in ("\\ud800", "\\udc00")


# --------------------------------------------------------------------------- YAML reading

@pytest.mark.parametrize("style", ["flow", "block"])
def test_yaml_nests_at_most_60_levels(tmp_path: Path, style: str) -> None:
    def nested(levels: int) -> str:
        if style == "flow":
            return "source: " + "[" * levels + "]" * levels + "\n"
        return "source:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, levels)) \
            + " " * levels + "x\n"

    assert not [d for d in check(tmp_path, HEADER + nested(60)) if "deep" in d.message]
    deep = [d for d in check(tmp_path, HEADER + nested(61)) if "deep" in d.message]
    assert [d.message for d in deep] == ["policy file nests too deeply"]
    # at the first node 61 levels deep: the innermost `[`, or the key `k60`
    where = (5, 69) if style == "flow" else (65, 61)
    assert deep[0].span is not None and (deep[0].span.line, deep[0].span.col) == where


def test_invalid_utf8_is_reported_at_its_byte(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(HEADER.encode() + "description: café €\n".encode() + b"x: \xc3\xa9\xff\n")
    (d,) = check_policy(path, root=tmp_path)
    assert (d.code, d.span and (d.span.line, d.span.col)) == ("io", (6, 5))
    assert d.message == "not UTF-8 text (byte 0xff: invalid start byte)"


def test_a_control_character_is_reported_at_its_position(tmp_path: Path) -> None:
    (d,) = check(tmp_path, HEADER + "description: a\x07b\n")
    assert (d.span and (d.span.line, d.span.col)) == (5, 15)
    assert d.message == ("malformed YAML: unacceptable character #x0007: control characters "
                         "are not allowed")


# --------------------------------------------------------------------------- policy index

def _write(path: Path, pid: str, version: str = "1.0.0") -> None:
    path.write_text(f"policy: {pid}\nversion: {version}\n", encoding="utf-8")


def test_the_index_reads_headers_of_regular_files_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    (root / "sub").mkdir(parents=True)
    _write(root / "a.yaml", "a")
    _write(root / "sub" / "a2.yaml", "a", "2.0.0")
    (root / "late.yaml").write_text("#" * HEADER_CHARS + "\npolicy: late\nversion: 1.0.0\n",
                                    encoding="utf-8")
    _write(tmp_path / "elsewhere.yaml", "elsewhere")
    (root / "link.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    (root / "loop.yaml").symlink_to(root / "loop.yaml")
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "pipe.yaml")
    index = PolicyIndex.scan(root)
    assert index.refs() == ["a@1.0.0", "a@2.0.0"]
    assert index.find("a") == root / "sub" / "a2.yaml"
    assert index.find("a", "1.0.0") == root / "a.yaml"
    assert index.outside == {"link": root / "link.yaml", "elsewhere": root / "link.yaml"}


def test_extends_through_an_unread_link_names_the_link(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    root.mkdir()
    _write(tmp_path / "base.yaml", "base")
    (root / "base.yaml").symlink_to(tmp_path / "base.yaml")
    diags = check(root, HEADER + "extends: base@1.0.0\n")
    (d,) = [d for d in diags if d.code == "extends"]
    assert d.message == "`extends: base@1.0.0` leaves the policies root"
    assert d.help is not None and "base.yaml` leads out of" in d.help
