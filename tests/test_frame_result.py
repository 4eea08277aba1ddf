"""A table's result stays columnar (issue 15, items 4 and 5): ``policy.evaluate(table)``
returns a result backed by its frame, with the accessors of the list-backed result, and
its JSON and CSV (through the API and ``unclaimed evaluate`` to standard output) are the
same bytes as the list-backed result renders from the same determinations (the
renderings before this change), on the sample, on a generated portfolio, and on ids that
need escaping."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evaluator import load_policy
from evaluator.backends.columnar import determinations, evaluate_frame, read_table
from evaluator.backends.columnar.result import FrameAccounts, FrameResult
from evaluator.backends.results import Determination, EvaluationResult
from evaluator.policy import as_date

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "fsra-2024-001"
AS_OF = "2026-11-21"


@pytest.fixture(scope="module")
def policy():  # type: ignore[no-untyped-def]
    return load_policy(POLICY)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("generated")
    out = folder / "portfolio.csv"
    proc = subprocess.run([sys.executable, "-m", "evaluator", "generate", "--members", "1500",
                           "--seed", "11", "--out", str(out)], cwd=ROOT, capture_output=True,
                          text=True, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    return out, folder / "portfolio.fx.csv"


def reference(policy, facts: Path, fx: Path | None) -> EvaluationResult:  # type: ignore[no-untyped-def]
    """The list-backed result of the same frame: every account a Python object, rendered
    by EvaluationResult itself (what the columnar backend returned before)."""
    table = read_table(facts, fx=fx)
    specs, warnings = policy.run_params(None)
    frame = evaluate_frame(policy, table, as_of_date(), specs)
    dets, errs = determinations(frame)
    from evaluator.policy import param_json

    return EvaluationResult(
        policy=policy.info(), as_of=AS_OF,
        parameters={n: param_json(s) for n, s in sorted(specs.items())},
        accounts=dets, errors=[*table.errors, *errs], warnings=warnings,
        portfolio=frame.portfolio,
        facts=({"source": table.source, "sha256": table.sha256}
               if table.sha256 is not None else None),
        account_outputs=[shown for shown, _ in policy.outputs("account")])


def as_of_date():  # type: ignore[no-untyped-def]
    return as_date(AS_OF)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evaluator", "evaluate", "--policy",
                           str(POLICY), "--as-of", AS_OF, *args], cwd=ROOT,
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def inputs(name: str, generated: tuple[Path, Path]) -> tuple[Path, Path | None]:
    if name == "sample":
        return ROOT / "examples" / "members.csv", ROOT / "examples" / "fx.csv"
    return generated


@pytest.mark.parametrize("name", ["sample", "generated"])
def test_json_and_csv_are_the_list_backed_bytes(policy, generated, name: str) -> None:  # type: ignore[no-untyped-def]
    facts, fx = inputs(name, generated)
    ref = reference(policy, facts, fx)
    got = policy.evaluate(read_table(facts, fx=fx), as_of=AS_OF)
    assert isinstance(got, FrameResult)
    assert len(got.accounts) == len(ref.accounts) > 0
    assert got.to_json() == ref.to_json()
    assert got.to_csv() == ref.to_csv()
    assert got.to_json(indent=2) == ref.to_json(indent=2)
    assert got.to_dict() == ref.to_dict()
    fx_args = ["--fx", str(fx)] if fx is not None else []
    as_json = cli("--facts", str(facts), *fx_args, "--format", "json")
    assert as_json.stdout == ref.to_json() + "\n"
    as_csv = cli("--facts", str(facts), *fx_args, "--format", "csv")
    assert as_csv.stdout == ref.to_csv()
    assert as_json.returncode == as_csv.returncode == (1 if ref.errors else 0)


def test_the_frame_result_has_the_list_results_accessors(policy, generated) -> None:  # type: ignore[no-untyped-def]
    facts, fx = generated
    ref = reference(policy, facts, fx)
    got = policy.evaluate(read_table(facts, fx=fx), as_of=AS_OF)
    accounts = got.accounts
    assert isinstance(accounts, FrameAccounts)
    assert [a.values for a in accounts] == [a.values for a in ref.accounts]
    assert accounts == ref.accounts
    assert accounts[-1] == ref.accounts[-1]
    assert accounts[3:7] == ref.accounts[3:7]
    with pytest.raises(IndexError):
        accounts[len(ref.accounts)]
    some = ref.accounts[len(ref.accounts) // 2]
    found = got.account(some.account_id)
    assert found == some and found is got.account(some.account_id)
    assert got.account("no-such-account") is None
    assert ref.account(some.account_id) == some  # the list-backed result has it too
    assert [e.to_json() for e in got.errors] == [e.to_json() for e in ref.errors]
    assert got.portfolio == ref.portfolio
    assert got.ok == ref.ok
    assert got.rows() == ref.rows()
    assert got.to_table() == ref.to_table()


def test_accounts_are_made_only_when_read_and_a_kept_one_is_written(policy, generated  # type: ignore[no-untyped-def]
                                                                    ) -> None:
    facts, fx = generated
    gc.collect()
    got = policy.evaluate(read_table(facts, fx=fx), as_of=AS_OF)
    text = got.to_json()
    got.to_csv()
    gc.collect()
    made = sum(isinstance(o, Determination) for o in gc.get_objects())
    assert made == 0, f"{made} determinations made to write the result"
    ref = reference(policy, facts, fx)
    assert text == ref.to_json()
    target = ref.accounts[5].account_id
    trace = [{"definition": "status", "value": "x"}]
    got.account(target).trace = trace  # type: ignore[union-attr]
    ref.account(target).trace = trace  # type: ignore[union-attr]
    assert got.to_json() == ref.to_json() != text
    got.account(target).values["status"] = "changed"  # type: ignore[union-attr]
    ref.account(target).values["status"] = "changed"  # type: ignore[union-attr]
    assert got.to_csv() == ref.to_csv()


def test_ids_that_need_escaping_are_written_as_json_writes_them(policy, tmp_path: Path  # type: ignore[no-untyped-def]
                                                                ) -> None:
    rows = ['member_id,account_id,currency,balance,opened,last_transaction,'
            'last_statement_ack,last_response',
            '"M""1",A\\1,CAD,10.00,2001-01-01,2010-01-01,,',
            'Mé,"A,2 ☃",CAD,5.10,2001-01-01,2025-01-01,,',
            'M5,A5,CAD,-5.10,2001-01-01,2025-01-01,,',
            'M\x7f3,A\u20283,CAD,0.00,2001-01-01,,,',
            'M4,"A<""4"">",CAD,1234567.89,2001-01-01,2012-02-29,2013-01-01,2014-01-01']
    facts = tmp_path / "odd.csv"
    facts.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ref = reference(policy, facts, None)
    got = policy.evaluate(read_table(facts), as_of=AS_OF)
    assert len(got.accounts) == 4 and len(got.errors) == 1
    assert got.to_json() == ref.to_json()
    assert got.to_csv() == ref.to_csv()


def test_an_empty_table_writes_the_header_and_no_accounts(policy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    facts = tmp_path / "empty.csv"
    facts.write_text("member_id,account_id,currency,balance,opened,last_transaction,"
                     "last_statement_ack,last_response\n", encoding="utf-8")
    ref = reference(policy, facts, None)
    got = policy.evaluate(read_table(facts), as_of=AS_OF)
    assert got.to_json() == ref.to_json()
    assert got.to_csv() == ref.to_csv()
    assert list(got.accounts) == [] and got.accounts == []
