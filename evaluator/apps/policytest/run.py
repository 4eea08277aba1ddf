"""Running policy test cases: each case evaluated with its own coverage record, its
results compared with its expectations, and each mismatch explained by its definitions."""

from __future__ import annotations

import difflib
import json
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from evaluator.apps.policytest.cases import (
    CaseError,
    CaseResult,
    case_facts,
    param_text,
    policy_problem,
    read_case,
)
from evaluator.apps.policytest.coverage import TestReport
from evaluator.backends.scalar.coverage import Coverage
from evaluator.errors import PolicyError
from evaluator.facts.model import Facts
from evaluator.policy import Policy
from evaluator.text import show_plain

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
    """A value as it is written in a case file (a string with a line break is JSON, which
    keeps characters outside ASCII)."""
    return show_plain(value, ascii=False, newline_plain=False)


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


def run_case(policy: Policy, path: str | os.PathLike[str], name: str | None = None
             ) -> CaseResult:
    """Run one case file against ``policy``; never raises for a broken case."""
    p = Path(path)
    label = name or p.stem
    cov = Coverage()
    description: str | None = None
    try:
        case = read_case(p)
        if case.get("description") is not None:
            description = str(case["description"])
        facts = case_facts(case, p, policy.facts_decl)
        params = {str(k): param_text(v) for k, v in (case.get("params") or {}).items()}
        try:
            result = policy.evaluate(facts, as_of=str(case["as_of"]), params=params,
                                     coverage=cov)
        except PolicyError as exc:
            raise CaseError(policy_problem(exc)) from None
        keyed = _compare_keyed(result.to_dict(), case["expect"], facts)
        diffs = [d for d, _ in keyed]
        explanations: list[list[str]] = []
        if keyed:  # evaluated again with traces, only for a failing case
            traced = policy.evaluate(facts, as_of=str(case["as_of"]), params=params,
                                     explain=True)
            explanations = [_explain(policy, traced, key, d) for d, key in keyed]
    except CaseError as exc:
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
