"""Reading one policy test case: its YAML (hardened: duplicate keys, floats and
timestamps kept as written), its facts and parameters, and the ``CaseResult`` a run gives."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from evaluator.backends.scalar.coverage import Coverage
from evaluator.errors import Diagnostic, PolicyError
from evaluator.facts import FactsError, facts_from_json, load_facts
from evaluator.facts.model import Facts

CASE_KEYS = ("description", "provisions", "as_of", "params", "facts", "facts_file",
             "fx_file", "expect")
EXPECT_KEYS = ("accounts", "claims", "errors", "portfolio", "parameters")


class CaseError(Exception):
    """A case that cannot be run (bad YAML, bad facts, a parameter the policy refuses)."""


# -- reading a case ----------------------------------------------------------------


class _CaseLoader(yaml.SafeLoader):
    """Safe YAML with decimals kept as written (``1520.00`` stays ``"1520.00"``) and
    duplicate keys refused (a repeated account id would silently drop expectations)."""


def _float_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    assert isinstance(node, yaml.ScalarNode)
    return str(node.value)


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    assert isinstance(node, yaml.MappingNode)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            duplicate = key in seen
        except TypeError:
            continue  # unhashable key: construct_mapping reports it
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key `{key}`", key_node.start_mark)
        seen.add(key)
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node))


def _timestamp_or_text(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """Dates as dates (made ISO text later); one that is no date (`2020-13-01`) stays the
    text written, for the facts to reject with its field."""
    assert isinstance(node, yaml.ScalarNode)
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return str(node.value)


_CaseLoader.add_constructor("tag:yaml.org,2002:float", _float_as_text)
_CaseLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)
_CaseLoader.add_constructor("tag:yaml.org,2002:map", _mapping_without_duplicates)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "cannot parse"
        if mark is not None:
            return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {what}"
        return f"invalid YAML: {what}"
    return f"invalid YAML: {exc}"


def _plain(value: Any) -> Any:
    """YAML dates to ISO text, keys to text (an id may read as a number)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _key(k: Any) -> Any:
    if isinstance(k, bool) or k is None:
        return k
    if isinstance(k, int | str):
        return str(k)
    return _plain(k)


def read_case(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaseError(f"{path}: no such file") from None
    except OSError as exc:
        raise CaseError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CaseError(f"{path} is not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=_CaseLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise CaseError(_yaml_problem(exc)) from None
    if not isinstance(data, dict):
        raise CaseError("a case is a mapping with `as_of`, `facts` (or `facts_file`) "
                         "and `expect`")
    case: dict[str, Any] = _plain(data)
    unknown = [k for k in case if k not in CASE_KEYS]
    if unknown:
        raise CaseError(_unknown_keys(unknown, CASE_KEYS, "a case"))
    if "as_of" not in case:
        raise CaseError("missing `as_of` (YYYY-MM-DD)")
    if "expect" not in case:
        raise CaseError("missing `expect` (use `expect: {}` for a case that only "
                         "expects no errors)")
    if ("facts" in case) == ("facts_file" in case):
        raise CaseError("give the facts inline under `facts` or in a file with "
                         "`facts_file`" + (", not both" if "facts" in case else ""))
    if "fx_file" in case and "facts_file" not in case:
        raise CaseError("`fx_file` goes with `facts_file` (inline facts carry `fx_rates`)")
    expect = case["expect"] if case["expect"] is not None else {}
    if not isinstance(expect, dict):
        raise CaseError("`expect` must be a mapping")
    unknown = [k for k in expect if k not in EXPECT_KEYS]
    if unknown:
        raise CaseError(_unknown_keys(unknown, EXPECT_KEYS, "`expect`"))
    for section in ("accounts", "claims"):
        records = expect.get(section)
        if records is None:
            continue
        if not isinstance(records, dict) or not all(
                isinstance(v, dict) or v is None for v in records.values()):
            raise CaseError(f"`expect.{section}` must map ids to their expected fields")
    for section in ("portfolio", "parameters"):
        if section in expect and not isinstance(expect[section], dict):
            raise CaseError(f"`expect.{section}` must map names to expected values")
    if expect.get("errors") is not None and not isinstance(expect["errors"], list):
        raise CaseError("`expect.errors` must be a list of account or claim ids")
    if case.get("params") is not None and not isinstance(case["params"], dict):
        raise CaseError("`params` must map parameter names to values")
    case["expect"] = expect
    return case


def _unknown_keys(unknown: list[str], known: Sequence[str], what: str) -> str:
    parts = []
    for k in unknown:
        sugg = difflib.get_close_matches(str(k), list(known), n=1)
        parts.append(f"`{k}`" + (f" (did you mean `{sugg[0]}`?)" if sugg else ""))
    return (f"unknown key{'s' if len(parts) > 1 else ''} {', '.join(parts)} in {what} "
            f"(known: {', '.join(known)})")


def param_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    return value


def case_facts(case: Mapping[str, Any], path: Path, decl: Any = None) -> Facts:
    """A case's facts, read by the declared facts ``decl`` (None: the standard ones)."""
    try:
        if "facts" in case:
            return facts_from_json(case["facts"], source=str(path), decl=decl)
        base = path.parent
        facts_file = base / str(case["facts_file"])
        fx = case.get("fx_file")
        return load_facts(facts_file, fx=base / str(fx) if fx is not None else None,
                          decl=decl)
    except FactsError as exc:
        raise CaseError(f"facts: {exc}") from None


def policy_problem(exc: PolicyError) -> str:
    return "; ".join(diag_text(d) for d in exc.diagnostics)


def diag_text(d: Diagnostic) -> str:
    return d.message + (f" ({d.help})" if d.help else "")


# -- the result of a case -------------------------------------------------------------


@dataclass
class CaseResult:
    """One case: whether it passed, a line per mismatch, and what it exercised."""

    name: str
    path: Path
    passed: bool
    diffs: list[str]
    coverage: Coverage
    description: str | None = None
    #: False when the case could not run (bad file, bad facts, refused parameter)
    ran: bool = True
    #: per diff (same order), the explanation of the definition behind it: the chain of
    #: definitions with values and provisions, indented, depth-limited (may be empty)
    explanations: list[list[str]] = field(default_factory=list)

    def explanation(self, i: int) -> list[str]:
        return self.explanations[i] if i < len(self.explanations) else []

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "description": self.description,
                "passed": self.passed, "ran": self.ran, "diffs": list(self.diffs),
                "explanations": [self.explanation(i) for i in range(len(self.diffs))],
                "definitions_evaluated": sorted(self.coverage.evaluated)}
