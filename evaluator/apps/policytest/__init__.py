"""`unclaimed test`: run a policy's test cases and report its coverage by provision.

A *case* is a YAML file (as in ``policies/fsra-2024-001/tests/``)::

    description: what the case shows
    provisions: ["2(1)", "A3"]          # informational
    as_of: "2026-11-21"
    params: {coming_into_force: "2025-07-01"}   # optional, NAME -> text
    facts: {members: [...], claims: [...], fx_rates: [...]}   # the full profile, or
    facts_file: members.json           # .json or .csv, relative to the case file
    fx_file: fx.csv                    # optional, with facts_file
    expect:
      accounts: {M1-A: {status: unclaimed, finding_codes: [payment-overdue]}}
      claims: {C1: {response_due: "2027-03-05"}}
      errors: [M9-A]                   # exactly these ids in errors (none when absent)
      portfolio: {field: value}
      parameters: {name: value}

Every case is evaluated with its own :class:`~evaluator.coverage.Coverage`; the report
folds them into one row per provision (subsection): the definitions citing it, the
cases that exercised it, the cases where it decided the outcome, and whether every
decision of its definitions went both ways.

```python
from evaluator.policytest import discover, run_tests
policy, cases = discover("policies/fsra-2024-001")        # or discover(dir, policy_ref=...)
report = run_tests(policy, cases)
print(report.render_text()); report.ok
```
"""

from __future__ import annotations

import difflib
import json
import os
import re
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from evaluator.backends.scalar.coverage import Coverage, DecisionSite, cited, subsection
from evaluator.errors import DataProblem, Diagnostic, PolicyError, PolicyLoadError
from evaluator.facts import FactsError, facts_from_json, load_facts
from evaluator.facts.model import Facts
from evaluator.lang.document.loader import POLICY_FILE, ProvisionSpec, resolve_policy_path
from evaluator.policy import Policy, load_policy

__all__ = [
    "CaseResult",
    "CoverageRow",
    "DiscoveryError",
    "SiteGap",
    "TestReport",
    "discover",
    "discover_paths",
    "find_cases",
    "run_case",
    "run_tests",
]

CASE_KEYS = ("description", "provisions", "as_of", "params", "facts", "facts_file",
             "fx_file", "expect")
EXPECT_KEYS = ("accounts", "claims", "errors", "portfolio", "parameters")
STATES = ("covered", "partial", "uncovered", "not computable")
_CASE_SUFFIXES = (".yaml", ".yml")
_POLICY_HEADER = re.compile(r"^policy:[ \t]*['\"]?[A-Za-z0-9]", re.MULTILINE)
_NUMBER = re.compile(r"(\d+)")


class DiscoveryError(DataProblem):
    """The paths given to ``unclaimed test`` name no policy or no cases."""


class _CaseError(Exception):
    """A case that cannot be run (bad YAML, bad facts, a parameter the policy refuses)."""


# -- discovery -----------------------------------------------------------------------


def _looks_like_policy(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as fh:
            head = fh.read(4000)
    except (OSError, UnicodeDecodeError):
        return False
    return bool(_POLICY_HEADER.search(head))


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and p.suffix.lower() in _CASE_SUFFIXES)


def _beside(policy_file: Path) -> list[Path]:
    """The cases of a policy: ``tests/*.yaml`` beside its file."""
    tests = policy_file.parent / "tests"
    return _yaml_files(tests) if tests.is_dir() else []


def _owner(directory: Path, shown: Path) -> Path:
    """The policy a directory of cases belongs to: its parent's ``policy.yaml``, or the
    parent's only policy file."""
    parent = directory.resolve().parent
    if (parent / POLICY_FILE).is_file():
        return parent / POLICY_FILE
    found = [p for p in _yaml_files(parent) if _looks_like_policy(p)] if parent.is_dir() \
        else []
    if len(found) == 1:
        return found[0]
    raise DiscoveryError(f"{shown}: cannot tell which policy these cases test; "
                         "give --policy FILE, DIRECTORY or ID[@VERSION]")


def find_cases(path: str | os.PathLike[str]) -> list[Path]:
    """The case files a path names when the policy is given separately: a case file, a
    directory of case files, or a policy directory / file (its ``tests/*.yaml``)."""
    p = Path(path)
    if p.is_dir():
        if (p / POLICY_FILE).is_file():
            return _beside(p / POLICY_FILE)
        return _yaml_files(p)
    if p.is_file():
        return _beside(p) if _looks_like_policy(p) else [p]
    raise DiscoveryError(f"{p}: no such file or directory")


def _policy_and_cases(path: str | os.PathLike[str]) -> tuple[Path, list[Path]]:
    """Without --policy: the policy file a path belongs to, and its cases."""
    p = Path(path)
    if p.is_dir():
        if (p / POLICY_FILE).is_file():
            return p / POLICY_FILE, _beside(p / POLICY_FILE)
        return _owner(p, p), _yaml_files(p)
    if p.is_file():
        if _looks_like_policy(p):
            return p, _beside(p)
        return _owner(p.parent, p), [p]
    text = os.fspath(p)
    if "/" in text or os.sep in text or p.suffix.lower() in _CASE_SUFFIXES:
        raise DiscoveryError(f"{p}: no such file or directory")
    try:
        policy_file = resolve_policy_path(text)  # ID[@VERSION]
    except PolicyLoadError as exc:
        raise DiscoveryError(_diag_text(exc.diagnostics[0])) from None
    return policy_file, _beside(policy_file)


def discover_paths(paths: Sequence[str | os.PathLike[str]],
                   policy_ref: str | os.PathLike[str] | None = None
                   ) -> tuple[Policy, list[Path]]:
    """The policy and the case files of several paths (see :func:`discover`)."""
    if not paths:
        raise DiscoveryError("no PATH given")
    cases: list[Path] = []
    if policy_ref is not None:
        for p in paths:
            cases += find_cases(p)
        ref: str | os.PathLike[str] = policy_ref
    else:
        found = [_policy_and_cases(p) for p in paths]
        owners = {f.resolve() for f, _ in found}
        if len(owners) > 1:
            raise DiscoveryError("the PATHs belong to different policies ("
                                 + ", ".join(sorted({str(f) for f, _ in found}))
                                 + "); test them one at a time, or give --policy")
        ref = found[0][0]
        for _, some in found:
            cases += some
    seen: set[Path] = set()
    unique: list[Path] = []
    for case in cases:
        key = case.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(case)
    if not unique:
        where = ", ".join(os.fspath(p) for p in paths)
        raise DiscoveryError(f"no test cases in {where} (a policy's cases are "
                             "tests/*.yaml beside its policy file)")
    return load_policy(ref), unique


def discover(path: str | os.PathLike[str],
             policy_ref: str | os.PathLike[str] | None = None) -> tuple[Policy, list[Path]]:
    """The policy and the case files named by ``path``.

    ``path`` is a policy directory (cases: ``<dir>/tests/*.yaml``, sorted), a policy file
    (cases: ``tests/*.yaml`` beside it), or, with ``policy_ref`` (policy file, directory
    or ``ID[@VERSION]``), a case file or a directory of case files. Raises
    :class:`DiscoveryError` when there is nothing to test and :class:`PolicyError` when
    the policy is invalid.
    """
    return discover_paths([path], policy_ref)


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


def _read_case(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _CaseError(f"{path}: no such file") from None
    except OSError as exc:
        raise _CaseError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise _CaseError(f"{path} is not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=_CaseLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise _CaseError(_yaml_problem(exc)) from None
    if not isinstance(data, dict):
        raise _CaseError("a case is a mapping with `as_of`, `facts` (or `facts_file`) "
                         "and `expect`")
    case: dict[str, Any] = _plain(data)
    unknown = [k for k in case if k not in CASE_KEYS]
    if unknown:
        raise _CaseError(_unknown_keys(unknown, CASE_KEYS, "a case"))
    if "as_of" not in case:
        raise _CaseError("missing `as_of` (YYYY-MM-DD)")
    if "expect" not in case:
        raise _CaseError("missing `expect` (use `expect: {}` for a case that only "
                         "expects no errors)")
    if ("facts" in case) == ("facts_file" in case):
        raise _CaseError("give the facts inline under `facts` or in a file with "
                         "`facts_file`" + (", not both" if "facts" in case else ""))
    if "fx_file" in case and "facts_file" not in case:
        raise _CaseError("`fx_file` goes with `facts_file` (inline facts carry `fx_rates`)")
    expect = case["expect"] if case["expect"] is not None else {}
    if not isinstance(expect, dict):
        raise _CaseError("`expect` must be a mapping")
    unknown = [k for k in expect if k not in EXPECT_KEYS]
    if unknown:
        raise _CaseError(_unknown_keys(unknown, EXPECT_KEYS, "`expect`"))
    for section in ("accounts", "claims"):
        records = expect.get(section)
        if records is None:
            continue
        if not isinstance(records, dict) or not all(
                isinstance(v, dict) or v is None for v in records.values()):
            raise _CaseError(f"`expect.{section}` must map ids to their expected fields")
    for section in ("portfolio", "parameters"):
        if section in expect and not isinstance(expect[section], dict):
            raise _CaseError(f"`expect.{section}` must map names to expected values")
    if expect.get("errors") is not None and not isinstance(expect["errors"], list):
        raise _CaseError("`expect.errors` must be a list of account or claim ids")
    if case.get("params") is not None and not isinstance(case["params"], dict):
        raise _CaseError("`params` must map parameter names to values")
    case["expect"] = expect
    return case


def _unknown_keys(unknown: list[str], known: Sequence[str], what: str) -> str:
    parts = []
    for k in unknown:
        sugg = difflib.get_close_matches(str(k), list(known), n=1)
        parts.append(f"`{k}`" + (f" (did you mean `{sugg[0]}`?)" if sugg else ""))
    return (f"unknown key{'s' if len(parts) > 1 else ''} {', '.join(parts)} in {what} "
            f"(known: {', '.join(known)})")


def _param_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    return value


def _facts(case: Mapping[str, Any], path: Path) -> Facts:
    try:
        if "facts" in case:
            return facts_from_json(case["facts"], source=str(path))
        base = path.parent
        facts_file = base / str(case["facts_file"])
        fx = case.get("fx_file")
        return load_facts(facts_file, fx=base / str(fx) if fx is not None else None)
    except FactsError as exc:
        raise _CaseError(f"facts: {exc}") from None


def _policy_problem(exc: PolicyError) -> str:
    return "; ".join(_diag_text(d) for d in exc.diagnostics)


def _diag_text(d: Diagnostic) -> str:
    return d.message + (f" ({d.help})" if d.help else "")


# -- comparing -------------------------------------------------------------------------


def _norm(value: Any) -> Any:
    """The comparable form: numbers as text, dates as ISO text, records and lists
    recursively; text, booleans and null as they are."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float | Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _norm(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_norm(v) for v in value]
    return str(value)


def _show(value: Any) -> str:
    """A value as it is written in a case file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        plain = value and value == value.strip() and "\n" not in value
        return value if plain else json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def _diff_value(path: str, got: Any, want: Any, out: list[str]) -> None:
    g, w = _norm(got), _norm(want)
    if g == w:
        return
    if isinstance(g, dict) and isinstance(w, dict):
        for k in w:
            if k not in g:
                out.append(f"{path}.{k}: expected {_show(w[k])}, got nothing")
            else:
                _diff_value(f"{path}.{k}", g[k], w[k], out)
        out.extend(f"{path}.{k}: unexpected {_show(g[k])}" for k in g if k not in w)
        return
    if isinstance(g, list) and isinstance(w, list) and len(g) == len(w):
        for i, (gi, wi) in enumerate(zip(g, w, strict=True)):
            _diff_value(f"{path}[{i}]", gi, wi, out)
        return
    out.append(f"{path}: expected {_show(w)}, got {_show(g)}")


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _diff_notices(got: Any, want: Any, out: list[str]) -> None:
    g, w = _norm(got), _norm(want)
    if not isinstance(g, list) or not isinstance(w, list):
        _diff_value("notices", g, w, out)
        return
    left = Counter(_canon(n) for n in g)
    left.subtract(Counter(_canon(n) for n in w))
    if all(v == 0 for v in left.values()):
        return
    missing = list(w)
    unexpected = list(g)
    for n in w:  # drop exact matches, order-insensitively
        if n in unexpected:
            unexpected.remove(n)
            missing.remove(n)
    for n in list(missing):  # pair the rest by mark
        mark = n.get("mark") if isinstance(n, dict) else None
        twin = next((u for u in unexpected if isinstance(u, dict)
                     and mark is not None and u.get("mark") == mark), None)
        if twin is not None:
            unexpected.remove(twin)
            missing.remove(n)
            _diff_value(f"notices[{mark}]", twin, n, out)
    out.extend(f"notices: missing {_show(n)}" for n in missing)
    out.extend(f"notices: unexpected {_show(n)}" for n in unexpected)


def _diff_codes(got: Any, want: Any, out: list[str]) -> None:
    if want is not None and not isinstance(want, list):
        out.append(f"finding_codes: expected a list of codes in the case, not {_show(want)}")
        return
    found = [f for f in (got or []) if isinstance(f, Mapping)]
    got_codes = Counter(str(f.get("code")) for f in found)
    want_codes = Counter(str(c) for c in (want or []))
    if got_codes == want_codes:
        return
    missing = sorted((want_codes - got_codes).elements())
    extra = got_codes - want_codes
    out.extend(f"finding_codes: missing {code}" for code in missing)
    for f in found:  # each unexpected finding with what it says and cites
        code = str(f.get("code"))
        if extra[code] > 0:
            extra[code] -= 1
            prov = f" [{f['provision']}]" if f.get("provision") else ""
            msg = f": {f['message']}" if f.get("message") else ""
            out.append(f"finding_codes: unexpected {code}{prov}{msg}")


def _diff_record(got: Mapping[str, Any], want: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for name, value in want.items():
        if name == "finding_codes":
            if "findings" not in got:
                out.append("finding_codes: the policy reports no `findings`")
            else:
                _diff_codes(got["findings"], value, out)
        elif name not in got:
            sugg = difflib.get_close_matches(name, [k for k in got if k not in
                                                    ("member_id", "account_id")], n=1)
            out.append(f"{name}: not an output of the policy"
                       + (f" (did you mean `{sugg[0]}`?)" if sugg else ""))
        elif name == "notices":
            _diff_notices(got[name], value, out)
        else:
            _diff_value(name, got[name], value, out)
    return out


def _error_id(e: Mapping[str, Any]) -> str:
    return str(e.get("account_id") or e.get("claim_id") or e.get("member_id")
               or e.get("location") or "?")


#: what a mismatch is about, for its explanation: (entity, record id, reported field)
_Key = tuple[str, str, str]


def _compare(out: Mapping[str, Any], expect: Mapping[str, Any], facts: Facts) -> list[str]:
    return [d for d, _ in _compare_keyed(out, expect, facts)]


def _compare_keyed(out: Mapping[str, Any], expect: Mapping[str, Any], facts: Facts
                   ) -> list[tuple[str, _Key | None]]:
    """Each mismatch as a line, with the account or claim field it is about (if any)."""
    diffs: list[Any] = []
    errors: dict[str, str] = {}
    for e in out.get("errors") or []:
        errors.setdefault(_error_id(e), str(e.get("message", "")))
    want_errors = {str(x) for x in expect.get("errors") or []}
    diffs.extend(f"errors: expected {x}, not reported" for x in sorted(want_errors - set(errors)))
    diffs.extend(f"errors: unexpected {x}: {m}" for x, m in errors.items()
                 if x not in want_errors)
    for kind, section, id_key in (("account", "accounts", "account_id"),
                                  ("claim", "claims", "claim_id")):
        got = {str(r[id_key]): r for r in out.get(section) or []}
        for rid, fields in (expect.get(section) or {}).items():
            if rid not in got:
                why = (f"not determined: in errors ({errors[rid]})" if rid in errors
                       else "not in the results")
                diffs.append(f"{kind} {rid}: {why}")
                continue
            for name, value in (fields or {}).items():
                diffs.extend((f"{kind} {rid}: {d}", (kind, rid, str(name)))
                             for d in _diff_record(got[rid], {name: value}))
        if kind == "account":
            for member in facts.members:
                for acc in member.accounts:
                    if acc.account_id not in got and acc.account_id not in errors:
                        diffs.append(f"account {acc.account_id}: neither determined nor "
                                     "reported in errors")
    for section in ("portfolio", "parameters"):
        if section not in expect:
            continue
        have = out.get(section)
        if not isinstance(have, Mapping):
            diffs.append(f"{section}: the result has no `{section}` section")
            continue
        for name, value in expect[section].items():
            if name not in have:
                diffs.append(f"{section}: {name}: not in the result")
            else:
                found: list[str] = []
                _diff_value(name, have[name], value, found)
                diffs.extend(f"{section}: {d}" for d in found)
    return [d if isinstance(d, tuple) else (d, None) for d in diffs]


# -- running -------------------------------------------------------------------------


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


def run_case(policy: Policy, path: str | os.PathLike[str], name: str | None = None
             ) -> CaseResult:
    """Run one case file against ``policy``; never raises for a broken case."""
    p = Path(path)
    label = name or p.stem
    cov = Coverage()
    description: str | None = None
    try:
        case = _read_case(p)
        if case.get("description") is not None:
            description = str(case["description"])
        facts = _facts(case, p)
        params = {str(k): _param_text(v) for k, v in (case.get("params") or {}).items()}
        try:
            result = policy.evaluate(facts, as_of=str(case["as_of"]), params=params,
                                     coverage=cov)
        except PolicyError as exc:
            raise _CaseError(_policy_problem(exc)) from None
        keyed = _compare_keyed(result.to_dict(), case["expect"], facts)
        diffs = [d for d, _ in keyed]
        explanations: list[list[str]] = []
        if keyed:  # evaluated again with traces, only for a failing case
            traced = policy.evaluate(facts, as_of=str(case["as_of"]), params=params,
                                     explain=True)
            explanations = [_explain(policy, traced, key, d) for d, key in keyed]
    except _CaseError as exc:
        return CaseResult(label, p, False, [f"case could not run: {exc}"], Coverage(),
                          description, ran=False)
    except Exception as exc:  # never a traceback for one case
        return CaseResult(label, p, False,
                          [f"case could not run: internal error: {type(exc).__name__}: {exc}"],
                          Coverage(), description, ran=False)
    return CaseResult(label, p, not diffs, diffs, cov, description,
                      explanations=explanations)


#: levels of definitions shown under a mismatch (the definition, what it uses, and so on)
EXPLAIN_DEPTH = 3
_CODE = re.compile(r"finding_codes: (?:missing|unexpected) ([^\s\[:]+)")


def _explain(policy: Policy, result: Any, key: _Key | None, diff: str) -> list[str]:
    """The chain of definitions behind one mismatch of a record's field: the field's
    definition (for a finding code, the definition that writes that code) with values and
    provisions, ``EXPLAIN_DEPTH`` levels deep."""
    from evaluator.backends.results import render_trace, trace_uses

    if key is None:
        return []
    entity, rid, name = key
    records = result.accounts if entity == "account" else result.claims
    attr = "account_id" if entity == "account" else "claim_id"
    rec = next((r for r in records if getattr(r, attr) == rid), None)
    if rec is None or not rec.trace:
        return []
    defs = policy.checked.defs
    target: str | None = dict(policy.outputs(entity)).get(name)
    code = _CODE.search(diff)
    if name == "finding_codes" and code is not None:
        literal = json.dumps(code.group(1))
        writers = [n for n, d in defs.items()
                   if d.spec.entity == entity and literal in d.spec.formula]
        traced = {t.get("definition") for t in rec.trace}
        target = next((n for n in writers if n in traced), writers[0] if writers else None)
    if target is None:
        return []
    return render_trace(rec.trace, trace_uses(defs), indent=0, width=110, roots=[target],
                        depth=EXPLAIN_DEPTH, parameters=False, rest=False)[:40]


def _names(paths: Sequence[Path]) -> list[str]:
    stems = Counter(p.stem for p in paths)
    return [p.stem if stems[p.stem] == 1 else str(p) for p in paths]


def run_tests(policy: Policy, cases: Sequence[str | os.PathLike[str]], *,
              require_coverage: bool = False) -> TestReport:
    """Run every case against ``policy``, each with a fresh coverage record."""
    paths = [Path(c) for c in cases]
    results = [run_case(policy, p, n) for p, n in zip(paths, _names(paths), strict=True)]
    return TestReport(policy, results, require_coverage=require_coverage)


# -- coverage --------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteGap:
    """A decision of a citing definition that was not seen both ways over all cases."""

    definition: str
    kind: str
    text: str
    line: int | None
    #: the outcomes never seen: (False,), (True,) or (True, False) when never reached
    never: tuple[bool, ...]

    def describe(self) -> str:
        text = _clip(" ".join(self.text.split()), 48)
        if len(self.never) == 2:
            return f"{text} never reached"
        return f"{text} never {'true' if self.never[0] else 'false'}"

    def to_dict(self) -> dict[str, Any]:
        return {"definition": self.definition, "kind": self.kind, "text": self.text,
                "line": self.line, "never": list(self.never)}


@dataclass(frozen=True)
class CoverageRow:
    """One provision (subsection) of the coverage table."""

    provision: str
    declared: bool
    computable: bool
    reason: str | None
    #: definitions citing it, directly or through a parameter they read
    definitions: tuple[str, ...]
    #: parameters citing it
    parameters: tuple[str, ...]
    #: case names
    exercised: tuple[str, ...]
    decided: tuple[str, ...]
    #: decision sites of its definitions
    sites: int
    gaps: tuple[SiteGap, ...]

    @property
    def state(self) -> str:
        """`covered`, `partial`, `uncovered` or `not computable`."""
        if not self.computable:
            return "not computable"
        if not self.exercised:
            return "uncovered"
        return "partial" if self.gaps else "covered"

    @property
    def status(self) -> str:
        """The status as the table shows it."""
        state = self.state
        if state == "not computable":
            text = f"not computable: {self.reason}" if self.reason else state
        elif state == "partial":
            shown = [g.describe() for g in self.gaps]
            unique = list(dict.fromkeys(shown))
            text = "partial: " + "; ".join(unique[:3])
            if len(unique) > 3:
                text += f"; +{len(unique) - 3} more"
        else:
            text = state
        return text if self.declared else f"undeclared ({text})"

    @property
    def failing(self) -> bool:
        """Whether --require-coverage fails on it."""
        return self.state in ("uncovered", "partial")

    def to_dict(self) -> dict[str, Any]:
        return {"provision": self.provision, "status": self.status, "state": self.state,
                "declared": self.declared, "computable": self.computable,
                "reason": self.reason, "definitions": list(self.definitions),
                "parameters": list(self.parameters), "exercised": list(self.exercised),
                "decided": list(self.decided), "decision_sites": self.sites,
                "gaps": [g.to_dict() for g in self.gaps]}


def _is_provision(pid: str) -> bool:
    """Rule and Act provisions; interpretation ids (`A4`, `P1`) are not rows."""
    return pid[:1].isdigit() or pid.startswith("Act ")


def _provision_key(pid: str) -> tuple[int, list[tuple[int, int | str]]]:
    act = pid.startswith("Act ")
    parts = [(0, int(t)) if t.isdigit() else (1, t)
             for t in _NUMBER.split(pid[4:] if act else pid) if t]
    return (1 if act else 0, parts)


def _computable(pid: str, provisions: Mapping[str, ProvisionSpec]
                ) -> tuple[bool, bool, str | None]:
    """(declared, computable, reason) of a row: its own declaration, or, when only its
    paragraphs are declared, not computable when none of them is."""
    own = provisions.get(pid)
    if own is not None:
        return True, own.computable, own.reason
    parts = [s for k, s in provisions.items() if subsection(k) == pid]
    if not parts:
        return False, True, None
    off = [s for s in parts if not s.computable]
    if len(off) == len(parts):
        return True, False, off[0].reason
    return True, True, None


def coverage_rows(policy: Policy, cases: Sequence[CaseResult]) -> list[CoverageRow]:
    """One row per provision declared or cited, over the cases' coverage."""
    doc = policy.document
    defs = policy.checked.defs
    citing: dict[str, set[str]] = {}
    params: dict[str, set[str]] = {}
    declared_rows = {subsection(pid) for pid in doc.provisions if _is_provision(pid)}
    for name, cdef in defs.items():
        for sub in cited(cdef.spec.provision):
            if _is_provision(sub):
                citing.setdefault(sub, set()).add(name)
    for pname, pspec in doc.parameters.items():
        for sub in cited(pspec.provision):
            if not _is_provision(sub):
                continue
            params.setdefault(sub, set()).add(pname)
            users = {n for n, cdef in defs.items() if pname in cdef.params}
            citing.setdefault(sub, set()).update(users)
    sites_of: dict[str, list[DecisionSite]] = {}
    for site in policy.coverage_program.sites:
        sites_of.setdefault(site.definition, []).append(site)
    seen: dict[int, set[bool]] = {}
    for case in cases:
        for sid, outcomes in case.coverage.decisions.items():
            seen.setdefault(sid, set()).update(outcomes)

    rows: list[CoverageRow] = []
    for pid in sorted(declared_rows | set(citing) | set(params), key=_provision_key):
        declared, computable, reason = _computable(pid, doc.provisions)
        names = citing.get(pid, set())
        ordered = tuple(n for n in defs if n in names)
        sites = [x for n in ordered for x in sites_of.get(n, [])]
        plain = [n for n in ordered if n not in sites_of]
        exercised = tuple(c.name for c in cases if names & c.coverage.evaluated)
        decided = tuple(
            c.name for c in cases
            if any(True in c.coverage.decisions.get(x.id, ()) for x in sites)
            or any(n in c.coverage.evaluated for n in plain))
        gaps = []
        for site in sorted(sites, key=lambda x: x.id):
            never = tuple(b for b in (True, False) if b not in seen.get(site.id, set()))
            if never:
                gaps.append(SiteGap(site.definition, site.kind, site.text,
                                    site.span.line if site.span else None, never))
        rows.append(CoverageRow(pid, declared, computable, reason, ordered,
                                tuple(sorted(params.get(pid, ()))), exercised, decided,
                                len(sites), tuple(gaps)))
    return rows


# -- the report ------------------------------------------------------------------------


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _listing(names: Sequence[str], width: int, few: int = 3) -> str:
    """``3: a, b, c`` or ``12: a, b, c, +9`` within ``width``."""
    if not names:
        return "0"
    shown = list(names[:few])
    rest = len(names) - len(shown)
    while True:
        text = f"{len(names)}: " + ", ".join(shown) + (f", +{rest}" if rest else "")
        if len(text) <= width or len(shown) <= 1:
            return _clip(text, width)
        shown.pop()
        rest += 1


def _count(names: Sequence[str], total: int, width: int) -> str:
    """A count of cases, naming them when there are one or two."""
    if not names:
        return "0"
    if len(names) == total and total > 2:
        return f"{total} (all)"
    if len(names) > 2:
        return str(len(names))
    return _clip(f"{len(names)}: " + ", ".join(names), width)


@dataclass
class TestReport:
    """The outcome of ``unclaimed test``: a result per case, coverage per provision."""

    __test__ = False  # not a pytest test class

    policy: Policy
    cases: list[CaseResult]
    #: --require-coverage: an uncovered or partial computable provision is a failure
    require_coverage: bool = False
    _rows: list[CoverageRow] | None = field(default=None, init=False, repr=False)

    @property
    def passed(self) -> int:
        return sum(1 for c in self.cases if c.passed)

    @property
    def failed(self) -> int:
        return len(self.cases) - self.passed

    def coverage_rows(self) -> list[CoverageRow]:
        if self._rows is None:
            self._rows = coverage_rows(self.policy, self.cases)
        return self._rows

    def coverage_counts(self) -> dict[str, int]:
        counts = dict.fromkeys((*STATES, "undeclared"), 0)
        for row in self.coverage_rows():
            counts[row.state if row.declared else "undeclared"] += 1
        return counts

    def coverage_failures(self) -> list[CoverageRow]:
        """Rows --require-coverage fails on (empty without it)."""
        if not self.require_coverage:
            return []
        return [r for r in self.coverage_rows() if r.failing]

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.coverage_failures()

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    # -- text --------------------------------------------------------------------

    def coverage_line(self) -> str:
        c = self.coverage_counts()
        line = (f"coverage: {c['covered']} covered, {c['partial']} partial, "
                f"{c['uncovered']} uncovered, {c['not computable']} not computable")
        return line + (f", {c['undeclared']} undeclared" if c["undeclared"] else "")

    def coverage_table(self, status_width: int = 64) -> str:
        """The coverage rows aligned in plain text; long statuses wrap in their column."""
        total = len(self.cases)
        header = ["provision", "definitions citing it", "cases exercising it",
                  "cases where it decided", "status"]
        body = [[r.provision, _listing(r.definitions, 40), _count(r.exercised, total, 28),
                 _count(r.decided, total, 28), r.status] for r in self.coverage_rows()]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header) - 1)]
        lead = sum(widths) + 2 * len(widths)

        def line(cells: list[str]) -> list[str]:
            head = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False))
            parts = textwrap.wrap(cells[-1], status_width, break_on_hyphens=False) or [""]
            return [(head + "  " + parts[0]).rstrip(),
                    *(" " * lead + more for more in parts[1:])]

        out = line(header) + line(["-" * w for w in widths] + ["-" * status_width])
        for row in body:
            out += line(row)
        return "\n".join(out)

    def render_text(self) -> str:
        out: list[str] = []
        for c in self.cases:
            out.append(f"{'PASS' if c.passed else 'FAIL'} {c.name}")
            for i, d in enumerate(c.diffs):
                out.append(f"  {d}")
                out.extend(f"      {line}" for line in c.explanation(i))
        out.append(f"{self.passed} passed, {self.failed} failed")
        out.append("")
        out.append(f"coverage of {self.policy.document.ref} by provision "
                   f"({len(self.cases)} case{'' if len(self.cases) == 1 else 's'}):")
        out.append(self.coverage_table())
        out.append(self.coverage_line())
        for r in self.coverage_failures():
            out.append(f"FAIL coverage {r.provision}: {r.status}")
        return "\n".join(out) + "\n"

    # -- machine-readable --------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.info(),
            "ok": self.ok,
            "require_coverage": self.require_coverage,
            "summary": {"passed": self.passed, "failed": self.failed,
                        "coverage": self.coverage_counts()},
            "cases": [c.to_dict() for c in self.cases],
            "coverage": [r.to_dict() for r in self.coverage_rows()],
            "coverage_failures": [r.provision for r in self.coverage_failures()],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_junit(self) -> str:
        """JUnit XML: a testcase per case, then one per provision (`coverage 2(5)`),
        failing when uncovered (or partial, under --require-coverage) and skipped when
        not computable."""
        suite = ET.Element("testsuite", name=f"unclaimed test {self.policy.document.ref}")
        failures = skipped = 0
        for c in self.cases:
            tc = ET.SubElement(suite, "testcase", name=c.name,
                               classname=f"{self.policy.id}.cases", file=str(c.path))
            if not c.passed:
                failures += 1
                fail = ET.SubElement(tc, "failure", message=c.diffs[0] if c.diffs else "",
                                     type="could-not-run" if not c.ran else "mismatch")
                fail.text = "\n".join(
                    "\n".join([d, *(f"    {x}" for x in c.explanation(i))])
                    for i, d in enumerate(c.diffs))
        for r in self.coverage_rows():
            tc = ET.SubElement(suite, "testcase", name=f"coverage {r.provision}",
                               classname=f"{self.policy.id}.coverage")
            if r.state == "not computable":
                skipped += 1
                ET.SubElement(tc, "skipped", message=r.status)
            elif r.state == "uncovered" or (self.require_coverage and r.failing):
                failures += 1
                fail = ET.SubElement(tc, "failure", message=r.status, type=r.state)
                fail.text = _row_detail(r)
        suite.set("tests", str(len(self.cases) + len(self.coverage_rows())))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", str(skipped))
        root = ET.Element("testsuites")
        root.append(suite)
        ET.indent(root)
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                + ET.tostring(root, encoding="unicode") + "\n")


def _row_detail(r: CoverageRow) -> str:
    lines = [f"{r.provision}: {r.status}",
             "definitions: " + (", ".join(r.definitions) or "none")]
    lines.extend(f"{g.definition} (line {g.line}): {g.describe()}" for g in r.gaps)
    return "\n".join(lines)
