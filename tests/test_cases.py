"""The policy test cases (policies/fsra-2024-001/tests/*.yaml), run as the `unclaimed
test` command runs them, the coverage they give, and every policy's cases through both
backends.

Each case was computed by hand from the rule and interpretations.md, independently of
the evaluator. Every computable provision must be fully covered (both sides of each of
its conditions); an uncovered or partly covered provision fails the suite. Every case of
every policy with cases (see ``tests.support.corpus``) whose facts a snapshot table can
express is written as the CSV files a user gives and evaluated by both backends, which
must give byte-identical JSON that meets the case's expectations; the others are skipped
as profile-only with what a table cannot express, and the split per policy is printed at
the end of the run.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evaluator import EvaluationResult, Policy, PolicyError, load_facts, load_policy
from evaluator.columnar import read_table
from evaluator.facts import facts_from_json
from evaluator.policytest import TestReport, run_case, run_tests
from tests.support import (
    BASELINE,
    CORPUS_SPLIT,
    case_files,
    corpus,
    load_case,
    policy_name,
    snapshot_of,
    write_snapshot,
)

CASE_FILES = case_files()


@pytest.fixture(scope="module")
def baseline() -> Policy:
    return load_policy(BASELINE)


@pytest.fixture(scope="module")
def report(baseline: Policy) -> TestReport:
    return run_tests(baseline, CASE_FILES)


def test_corpus_is_not_empty() -> None:
    assert len(CASE_FILES) >= 90


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_case(baseline: Policy, path: Path) -> None:
    result = run_case(baseline, path)
    assert result.ran, result.diffs
    assert result.passed, "\n".join(result.diffs)


def test_every_computable_provision_is_fully_covered(report: TestReport) -> None:
    rows = report.coverage_rows()
    problems = [f"{r.provision}: {r.status}" for r in rows
                if r.computable and r.state != "covered"]
    assert not problems, "\n".join(problems)


def test_coverage_lists_every_subsection_of_sections_2_to_7(report: TestReport) -> None:
    listed = {r.provision for r in report.coverage_rows()}
    expected = ({f"2({i})" for i in range(1, 17)} | {f"3({i})" for i in range(1, 5)}
                | {f"4({i})" for i in range(1, 7)} | {"5(1)", "5(2)", "6(1)", "6(2)",
                                                    "6(3)", "7(1)", "Act 147(1)"})
    assert expected <= listed
    not_computable = {r.provision: r.reason for r in report.coverage_rows()
                      if not r.computable}
    assert set(not_computable) == {"3(2)", "4(2)", "4(3)"}
    assert all(reason for reason in not_computable.values())


# -- every case a snapshot table can express, through both backends ---------------------

CORPUS = corpus()
#: policy name -> why the columnar backend refuses that policy's cases (each listed policy
#: is checked to be still refused: a policy the backend learns to run must leave the list)
UNSUPPORTED: dict[str, str] = {
    "policytest-basic": "its `findings` is a constant list of records, which the columnar "
                        "backend cannot make a column of",
}


class _OnTheTable:
    """A policy whose `evaluate` runs the columnar backend on one snapshot table, so that
    `run_case` compares the columnar determinations with a case file's expectations
    (the case's own facts are the profile the table was written from)."""

    def __init__(self, policy: Policy, table: Any) -> None:
        self._policy, self._table = policy, table

    def __getattr__(self, name: str) -> Any:
        return getattr(self._policy, name)

    def evaluate(self, facts: Any, *, as_of: str, params: Any = None, explain: bool = False,
                 coverage: Any = None) -> EvaluationResult:
        if explain:  # a failing case explains the mismatch from the scalar trace
            return self._policy.evaluate(facts, as_of=as_of, params=params, explain=True)
        return self._policy.evaluate(self._table, as_of=as_of, params=params,
                                     backend="columnar")


@functools.cache
def _policy(path: Path) -> Policy:
    return load_policy(path)


def _ids(record: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(record.get(k) for k in ("member_id", "account_id", "claim_id", "field"))


def _differences(profile: dict[str, Any], table: dict[str, Any]) -> list[str]:
    """What the scalar backend determines differently from the profile and from its
    snapshot table: account fields, claims, portfolio values, the records in errors."""
    out: list[str] = []
    got = {a["account_id"]: a for a in table["accounts"]}
    for a in profile["accounts"]:
        b = got.pop(a["account_id"], None)
        if b is None:
            out.append(f"{a['account_id']} not determined")
            continue
        fields = [k for k in {**a, **b} if a.get(k) != b.get(k)]
        if fields:
            out.append(f"{a['account_id']} {', '.join(fields)}")
    out += [f"{aid} determined only from the table" for aid in got]
    if profile["claims"] != table["claims"]:
        out.append(f"{len(profile['claims'])} claim(s) determined, not {len(table['claims'])}")
    for k in sorted(set(profile.get("portfolio") or {}) | set(table.get("portfolio") or {})):
        if (profile.get("portfolio") or {}).get(k) != (table.get("portfolio") or {}).get(k):
            out.append(f"portfolio {k}")
    if [_ids(e) for e in profile["errors"]] != [_ids(e) for e in table["errors"]]:
        out.append("the records in errors")
    if [a["account_id"] for a in profile["accounts"]] != \
            [a["account_id"] for a in table["accounts"]] and not out:
        out.append("the order of accounts")
    return out


def _table_of(policy_path: Path, path: Path, folder: Path) -> tuple[Path, Path | None] | str:
    """The snapshot table a case's facts are written as (the CSV files a user gives:
    accounts and FX rates), or why the case is profile-only: what of its facts a table
    cannot express, and what the scalar backend then determines differently."""
    case = load_case(path)
    if "facts_file" in case:  # facts already in a file: a table is used as it is
        accounts = path.parent / case["facts_file"]
        if accounts.suffix.lower() != ".csv":
            return (f"profile-only ({path.stem}): facts in a profile file "
                    f"({accounts.name}), not a table")
        return accounts, path.parent / case["fx_file"] if "fx_file" in case else None
    snapshot = snapshot_of(case["facts"], case["as_of"])
    if isinstance(snapshot, str):
        return f"profile-only ({path.stem}): {snapshot}"
    folder.mkdir(parents=True, exist_ok=True)
    accounts, fx = write_snapshot(snapshot, folder)
    policy, as_of, params = _policy(policy_path), case["as_of"], case.get("params") or {}
    profile = policy.evaluate(facts_from_json(case["facts"], source=str(path),
                                              decl=policy.facts_decl),
                              as_of=as_of, params=params, backend="scalar").to_dict()
    table = policy.evaluate(load_facts(accounts, fx=fx, policy=policy), as_of=as_of,
                            params=params, backend="scalar").to_dict()
    differ = _differences(profile, table)
    if not differ:
        return accounts, fx
    # a table that leaves nothing out must give what its profile gives (contract.md)
    assert snapshot.left_out, f"{path.name}: the table carries the whole profile, yet " \
                              f"{'; '.join(differ)} differ"
    shown = "; ".join(differ[:3]) + ("; ..." if len(differ) > 3 else "")
    return (f"profile-only ({path.stem}): a snapshot table cannot express "
            f"{'; '.join(snapshot.left_out)} "
            f"(without them the scalar backend differs on {shown})")


@pytest.mark.parametrize(("policy_path", "path"), CORPUS,
                         ids=[f"{policy_name(p)}/{c.stem}" for p, c in CORPUS])
def test_case_through_both_backends(policy_path: Path, path: Path, tmp_path: Path) -> None:
    """A case whose facts a snapshot table expresses (the scalar backend determines the
    same from the table as from the profile) gives, from that table written as the CSV
    files a user has, byte-identical JSON from the columnar and scalar backends, and the
    columnar determinations meet the case's expectations. Any other case is profile-only,
    skipped with what the table cannot express."""
    files = _table_of(policy_path, path, tmp_path)
    if isinstance(files, str):
        pytest.skip(files)
    accounts, fx = files
    policy, name, case = _policy(policy_path), policy_name(policy_path), load_case(path)
    as_of, params = case["as_of"], case.get("params") or {}
    scalar = policy.evaluate(load_facts(accounts, fx=fx, policy=policy), as_of=as_of,
                             params=params, backend="scalar")
    table = read_table(accounts, fx=fx, decl=policy.facts_decl)
    try:
        columnar = policy.evaluate(table, as_of=as_of, params=params, backend="columnar")
    except PolicyError as exc:
        reason = UNSUPPORTED.get(name)
        assert reason is not None, f"the columnar backend refuses the case: {exc}"
        pytest.skip(f"the columnar backend refuses it: {reason}")
    assert name not in UNSUPPORTED, "listed as unsupported, yet the columnar backend ran it"
    assert columnar.accounts or columnar.errors, "a table with no record in the results"
    assert columnar.to_json() == scalar.to_json()
    result = run_case(_OnTheTable(policy, table), path)  # type: ignore[arg-type]
    assert result.passed, "\n".join(result.diffs)


def test_corpus_split_between_both_backends_and_profile_only(tmp_path: Path) -> None:
    """How many cases of each policy run through both backends and how many are
    profile-only (printed once at the end of the run). Every policy with cases has some
    through both backends, so does most of the shipped policy's corpus that has no claims,
    and every profile-only case says what a table cannot express."""
    split: dict[str, Counter[str]] = {}
    for i, (policy_path, path) in enumerate(CORPUS):
        files = _table_of(policy_path, path, tmp_path / str(i))
        name = policy_name(policy_path)
        kind = ("profile-only" if isinstance(files, str) else
                "columnar refuses" if name in UNSUPPORTED else "both backends")
        split.setdefault(name, Counter())[kind] += 1
        if isinstance(files, str):
            assert files.startswith(f"profile-only ({path.stem}): ") and "table" in files, files
    CORPUS_SPLIT.clear()
    CORPUS_SPLIT.update(split)
    assert sum(sum(c.values()) for c in split.values()) == len(CORPUS)
    assert all(c["both backends"] > 0 for n, c in split.items() if n not in UNSUPPORTED), split
    assert all(c["columnar refuses"] > 0 for n, c in split.items() if n in UNSUPPORTED), split
    baseline = policy_name(BASELINE / "policy.yaml")
    without_claims = [p for _, p in CORPUS if p.parent.parent == BASELINE
                      and not (load_case(p).get("facts") or {}).get("claims")]
    assert split[baseline]["both backends"] * 2 > len(without_claims), split
