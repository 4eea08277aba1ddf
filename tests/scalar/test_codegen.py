"""The scalar backend as generated code (issue 15, item 2).

- The generated source is plain text: inspectable (``Program.source``, and written to
  ``UNCLAIMED_DEBUG_CODEGEN=DIR`` by a real ``unclaimed evaluate``), compiled under
  ``<policy ID@VERSION>`` so that a traceback names the policy and shows the line.
- Cache safety: the source depends on the checked policy alone (the same policy loaded
  from two directories gives the same source), and a Program built from a cached source
  evaluates as the generated one.
- One policy per family of constructs (literals, names, attributes, operators, calls,
  comprehensions, lists and records, null handling, errors) with the values worked out
  by hand from the language's rules, for the plain and the coverage variant.
- The engine's own paths: a `??` in a comprehension's iterable (no `:=` allowed there),
  a formula nested too deeply for Python's parser split into helper functions, fields
  outside the facts dataclasses read through the one accessor.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import traceback
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from evaluator import load_policy
from evaluator.backends.scalar import codegen, runtime
from evaluator.backends.scalar.codegen import Program
from evaluator.backends.scalar.coverage import Coverage
from evaluator.errors import EvaluationError
from evaluator.facts import facts_from_json
from evaluator.lang import typesys as T
from evaluator.lang.parser import MAX_DEPTH
from evaluator.lang.values import Duration, to_json_value
from tests.support import BASELINE, ROOT

HEADER = ("policy: codegen\nversion: 2.0.1\nstatus: proposed\ntitle: codegen\n"
          'provisions:\n  "Act 147(1)": {text: unclaimed deposit}\n')
PARAMS = """parameters:
  grace:
    type: duration
    value: 1 month
    provision: "Act 147(1)"
  limit:
    type: money
    value: 100.00
    provision: "Act 147(1)"
  kinds:
    type: list
    of: text
    value: [deposit, savings]
    provision: "Act 147(1)"
  marks:
    type: table
    provision: "Act 147(1)"
    columns: {mark: text, after: duration}
    value:
      - {mark: 2y, after: 2 years}
      - {mark: 5y, after: 5 years}
"""
AS_OF = "2026-11-21"
FACTS: dict[str, Any] = {
    "fx_rates": [{"currency": "USD", "date": "2026-09-30", "rate": "1.3850"}],
    "members": [
        {"member_id": "M1", "accounts": [
            {"account_id": "M1-A", "currency": "CAD", "balance": "150.25",
             "opened": "2016-01-31"},
            {"account_id": "M1-B", "currency": "USD", "balance": "10.00",
             "opened": "2020-02-29", "kind": "gift-card"}],
         "events": [
             {"date": "2019-03-02", "type": "transaction", "account_id": "M1-A"},
             {"date": "2021-06-30", "type": "transaction", "account_id": "M1-A"},
             {"date": "2022-01-15", "type": "fee", "account_id": "M1-A", "amount": "2.50"},
             {"date": "2023-05-05", "type": "statement_ack"}]},
        {"member_id": "M2", "accounts": [
            {"account_id": "M2-A", "currency": "CAD", "balance": "0.00",
             "opened": "2024-12-31"}]}],
}


def definition(name: str, formula: str, entity: str = "account") -> str:
    return (f"  {name}:\n    entity: {entity}\n    provision: \"Act 147(1)\"\n"
            f"    formula: {json.dumps(formula)}\n")


def write_policy(tmp_path: Path, defs: dict[str, str], entities: dict[str, str] | None = None,
                 params: str = PARAMS) -> Path:
    entities = entities or {}
    text = (HEADER + params + "definitions:\n"
            + "".join(definition(n, f, entities.get(n, "account")) for n, f in defs.items())
            + "outputs:\n  account: ["
            + ", ".join(n for n in defs if entities.get(n, "account") == "account") + "]\n")
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def evaluate(tmp_path: Path, defs: dict[str, str], entities: dict[str, str] | None = None,
             facts: dict[str, Any] = FACTS) -> dict[str, dict[str, Any]]:
    """Each account's JSON determination, by account id, through the plain and the
    coverage variant (which must agree)."""
    policy = load_policy(write_policy(tmp_path, defs, entities), root=tmp_path)
    out = []
    for coverage in (None, Coverage()):
        result = policy.evaluate(facts_from_json(facts), as_of=AS_OF, backend="scalar",
                                 coverage=coverage)
        data = json.loads(result.to_json())
        out.append({a["account_id"]: a for a in data["accounts"]}
                   | {f"error {e['account_id']}": e for e in data["errors"]})
    assert out[0] == out[1]
    return out[0]


# -- the source ------------------------------------------------------------------------

def test_the_source_is_plain_text_that_compiles_under_the_policy_name() -> None:
    policy = load_policy(BASELINE)
    source = policy.program.source
    assert isinstance(source, str)
    compile(source, "<check>", "exec")
    doc = policy.document
    assert source.startswith(f"# {doc.id}@{doc.version} (sha256 {doc.sha256})")
    assert policy.program.filename == f"<policy {doc.id}@{doc.version}>"
    # one function per definition with a formula, named after it
    for name, cdef in policy.checked.defs.items():
        if cdef.spec.node is not None:
            assert f"    # {name} ({cdef.spec.entity})\n" in source
    # the plain variant records nothing; the coverage variant is a second source
    assert "_entered(" not in source and "_decided(" not in source
    cov = policy.coverage_program.source
    assert "_entered(inst, 'status')" in cov and "_decided(inst, " in cov


def test_a_traceback_points_into_the_generated_source(tmp_path: Path) -> None:
    """A Python error that is no record error (here a patched builtin) shows the
    generated line of the definition it happened in."""
    path = write_policy(tmp_path, {"big": "balance > limit"})
    policy = load_policy(path, root=tmp_path)
    fn = policy.program.defs["big"]
    inst = runtime.Inst("account", None, runtime.Run(policy.program, dt.date(2026, 1, 1),
                                                     {"limit": Decimal(1)}, {}), None)
    with pytest.raises(AttributeError) as info:
        fn(inst)
    frames = traceback.extract_tb(info.value.__traceback__)
    last = [f for f in frames if f.filename == "<policy codegen@2.0.1>"][-1]
    assert last.name.endswith("_big")
    assert last.line is not None and "_o.balance > _p['limit']" in last.line


def test_the_debug_option_writes_the_source_a_real_run_used(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    env = {**os.environ, codegen.DEBUG_ENV: str(out)}
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps(FACTS), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "evaluator", "evaluate", "--policy",
                          str(BASELINE), "--facts", str(facts), "--as-of", AS_OF,
                          "--format", "json"], capture_output=True, text=True, env=env,
                         cwd=ROOT)
    assert run.returncode == 0, run.stderr
    doc = load_policy(BASELINE).document
    written = out / f"{doc.id}@{doc.version}.py"
    assert written.read_text(encoding="utf-8") == load_policy(BASELINE).program.source


def test_the_source_depends_on_the_checked_policy_alone(tmp_path: Path) -> None:
    """The same policy text in another directory gives the same source (a cache keyed
    by the policy's sha256 may hand it back), and a Program made from that source
    evaluates exactly as the one that generated it."""
    policy = load_policy(BASELINE)
    copy = tmp_path / "elsewhere" / BASELINE.name
    shutil.copytree(BASELINE, copy)
    other = load_policy(copy)
    assert other.program.source == policy.program.source
    assert other.coverage_program.source == policy.coverage_program.source
    cached = Program(other.checked, source=policy.program.source)
    assert cached.source == policy.program.source
    facts = facts_from_json(FACTS)
    expected = other.evaluate(facts, as_of=AS_OF, backend="scalar", explain=True).to_json()
    other.program = cached
    assert other.evaluate(facts, as_of=AS_OF, backend="scalar", explain=True).to_json() \
        == expected


# -- constructs, with values worked out by hand -------------------------------------------

def test_literals_and_names(tmp_path: Path) -> None:
    got = evaluate(tmp_path, {
        "d_date": "2024-02-29", "d_duration": "opened + 1 year", "d_month_day": "month_day(opened)",
        "d_decimal": "1.50", "d_percent": "balance * 10%", "d_text": '"a \\"quoted\\" (text)"',
        "d_bool": "not false", "d_null": "null ?? 7", "d_param": "opened + grace",
        "d_as_of": "as_of", "d_field": "currency", "d_kind": "kind",
        "d_member": "m_last", "d_global": "g_end", "m_last": "latest(e.date for e in events)",
        "g_end": "2030-01-01 + grace"},
        entities={"m_last": "member", "g_end": "global"})
    a = got["M1-A"]
    assert a["d_date"] == "2024-02-29"
    assert a["d_duration"] == "2017-01-31"
    assert a["d_month_day"] == "31 Jan"
    assert a["d_decimal"] == "1.50"
    assert a["d_percent"] == "15.025"  # 10% is 0.1
    assert a["d_text"] == 'a "quoted" (text)'
    assert a["d_bool"] is True
    assert a["d_null"] == 7
    assert a["d_param"] == "2016-02-29"  # 31 Jan + 1 month clamps to the month's end
    assert a["d_as_of"] == AS_OF
    assert (a["d_field"], a["d_kind"]) == ("CAD", "deposit")
    assert a["d_member"] == "2023-05-05"
    assert a["d_global"] == "2030-02-01"
    assert got["M1-B"]["d_param"] == "2020-03-29"
    assert got["M1-B"]["d_kind"] == "gift-card"


def test_operators(tmp_path: Path) -> None:
    got = evaluate(tmp_path, {
        "sum_money": "balance + limit", "minus_date": "opened - grace",
        "duration_times": "opened + grace * 3", "times_duration": "opened + 2 * grace",
        "duration_first": "grace + opened", "divide": "balance / 4",
        "neg": "-balance", "compare": "balance >= limit and not (balance == limit)",
        "either": "balance < 1 or currency == \"USD\"", "member_in": "kind in kinds",
        "not_in": "currency not in [\"CAD\", \"EUR\"]", "lists": "[1, 2] + [3]",
        "coalesce_chain": "null ?? null ?? opened", "ternary":
            "if balance > limit then \"big\" else if balance > 0 then \"small\" else \"none\""})
    a, b, c = got["M1-A"], got["M1-B"], got["M2-A"]
    assert a["sum_money"] == "250.25"
    assert a["minus_date"] == "2015-12-31"
    assert a["duration_times"] == "2016-04-30" and a["times_duration"] == "2016-03-31"
    assert a["duration_first"] == "2016-02-29"
    assert a["divide"] == "37.5625"
    assert a["neg"] == "-150.25"
    assert (a["compare"], b["compare"]) == (True, False)
    assert (a["either"], b["either"], c["either"]) == (False, True, True)
    assert (a["member_in"], b["member_in"]) == (True, False)
    assert (a["not_in"], b["not_in"]) == (False, True)
    assert a["lists"] == [1, 2, 3]
    assert a["coalesce_chain"] == "2016-01-31"
    assert (a["ternary"], b["ternary"], c["ternary"]) == ("big", "small", "none")


def test_calls_records_and_comprehensions(tmp_path: Path) -> None:
    got = evaluate(tmp_path, {
        "fees": "sum([e.amount ?? 0.00 for e in events if e.type == \"fee\"])",
        "no_fees": "sum([e.amount ?? 0.00 for e in events if e.type == \"interest\"])",
        "rate": "fx_rate(currency, 2026-09-30)",
        "count_tx": "count([e for e in events if e.type == \"transaction\"])",
        "dates": "[text(e.date) for e in events]",
        "record": "{mark: \"x\", due: opened + grace}.due",
        "dues": "[{mark: m.mark, due: opened + m.after} for m in marks]",
        "nested": "[[m.mark for m in marks if m.after > grace * k] for k in [1, 30]]",
        "own": "balance", "total": "sum([a.own for a in accounts])", "member_total": "total",
        "n_ids": "count([a.account_id for a in accounts if a.own > 0])", "member_ids": "n_ids"},
        entities={"total": "member", "n_ids": "member"})
    a, b = got["M1-A"], got["M1-B"]
    assert a["fees"] == "2.50" and b["fees"] == "0.00" and a["no_fees"] == "0.00"
    assert (a["rate"], b["rate"]) == (None, "1.3850")
    assert (a["count_tx"], b["count_tx"]) == (2, 0)
    assert a["dates"] == ["2019-03-02", "2021-06-30", "2022-01-15"]
    assert b["dates"] == []
    assert a["record"] == "2016-02-29"
    assert a["dues"] == [{"mark": "2y", "due": "2018-01-31"},
                         {"mark": "5y", "due": "2021-01-31"}]
    assert a["nested"] == [["2y", "5y"], ["5y"]]
    assert a["member_total"] == b["member_total"] == "160.25"
    assert a["member_ids"] == b["member_ids"] == 2


def test_a_coalesce_in_a_comprehension_iterable(tmp_path: Path) -> None:
    """Python refuses `:=` in a comprehension's iterable: the generated code takes
    another form there, with the same laziness (`fail` on the right is never reached)."""
    maybe = "if balance > 1 then [1, 2] else null"
    got = evaluate(tmp_path, {"maybe": maybe, "doubled": "[x * 2 for x in maybe ?? [5]]"})
    assert got["M1-A"]["doubled"] == [2, 4] and got["M2-A"]["doubled"] == [10]
    source = load_policy(tmp_path / "policy.yaml", root=tmp_path).program.source
    assert "(lambda _t: _t if _t is not None else" in source
    got = evaluate(tmp_path, {"maybe": maybe,
                              "lazy": "[x for x in maybe ?? fail(\"no list\") if x > 1]"})
    assert got["M1-A"]["lazy"] == [2]
    assert got["error M2-A"]["message"] == "no list (in `lazy`, Act 147(1))"


def test_errors_name_the_record_and_the_definition(tmp_path: Path) -> None:
    got = evaluate(tmp_path, {
        "ratio": "limit / balance", "later": "ratio + 1",
        "bad_date": "if currency == \"USD\" then date(year(opened) + 8000, 1 Jan) else opened"})
    assert got["M1-A"]["later"] == str(Decimal("100.00") / Decimal("150.25") + 1)
    assert got["error M2-A"]["message"] == "division by zero (in `ratio`, Act 147(1))"
    assert got["error M1-B"]["message"] == "year 10020 is out of range (in `bad_date`, Act 147(1))"
    assert "M1-B" not in got and "M2-A" not in got


def test_a_failure_is_remembered_per_instance(tmp_path: Path) -> None:
    path = write_policy(tmp_path, {"boom": "limit / balance", "uses": "boom + 1"})
    policy = load_policy(path, root=tmp_path)
    run = runtime.Run(policy.program, dt.date(2026, 11, 21),
                      {n: s.value for n, s in policy.resolve_params().items()}, {})
    facts = facts_from_json(FACTS)
    member = runtime.Inst("member", facts.members[1], run, None)
    (account,) = member.accounts()
    with pytest.raises(EvaluationError) as first:
        account.get("uses")
    with pytest.raises(EvaluationError) as again:
        account.get("boom")
    assert first.value is again.value and first.value.definition == "boom"
    assert set(account.failed) == {"boom", "uses"} and not account.cache
    # the failures are the account's own: its member, and the instances made later,
    # have none (the empty memo they start with is shared, and never written to)
    assert not member.failed and not runtime.NO_FAILURES
    (other,) = runtime.Inst("member", facts.members[1], run, None).accounts()
    assert not other.failed
    with pytest.raises(EvaluationError):
        other.get("boom")
    assert set(other.failed) == {"boom"} and set(account.failed) == {"boom", "uses"}
    assert not runtime.NO_FAILURES


def test_a_formula_too_deep_for_python_is_split_into_helpers(tmp_path: Path) -> None:
    formula = " ?? ".join(["opened"] * (MAX_DEPTH + 1))
    got = evaluate(tmp_path, {"deep": formula})
    assert got["M1-A"]["deep"] == "2016-01-31"
    source = load_policy(tmp_path / "policy.yaml", root=tmp_path).program.source
    assert "\ndef _h0(inst" in source
    # Python's tokenizer refuses brackets nested 200 deep
    assert max(codegen.nesting(line) for line in source.splitlines()) < 100


def test_fields_outside_the_dataclasses_go_through_one_accessor(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every facts field the dataclass does not hold is read by runtime.field_value
    (the one line to change for declared fields); the others are attributes."""
    path = write_policy(tmp_path, {"c": "currency", "b": "balance"})
    policy = load_policy(path, root=tmp_path)
    assert "_o.currency" in policy.program.source
    assert "_field(" not in policy.program.source
    monkeypatch.setitem(codegen.RECORD_FIELDS, "account", frozenset({"balance"}))
    program = Program(policy.checked)
    assert "_field(_o, 'currency')" in program.source and "_o.balance" in program.source
    seen: list[str] = []

    def field_value(record: Any, name: str) -> Any:
        seen.append(name)
        return getattr(record, name)

    monkeypatch.setattr(runtime, "field_value", field_value)
    program = Program(policy.checked)
    policy.program = program
    result = policy.evaluate(facts_from_json(FACTS), as_of=AS_OF, backend="scalar")
    assert [a["c"] for a in result.accounts] == ["CAD", "USD", "CAD"]
    assert seen == ["currency"] * 3


# the trace's JSON forms, written from the checked types

_D = Decimal
_TYPED_VALUES: list[tuple[Any, list[Any]]] = [
    (T.BOOL, [True, False]),
    (T.INT, [0, -7, _D("3")]),
    (T.TEXT, ["", "é"]),
    (T.DATE, [dt.date(2026, 2, 28), "2026-02-28"]),
    (T.MONEY, [_D("0.10"), _D("1E+3"), _D("-0.0"), 5]),
    (T.NUMBER, [_D("1.50"), 2]),
    (T.DURATION, [Duration(months=12)]),
    (T.OptionalT(T.DATE), [None, dt.date(2024, 2, 29)]),
    (T.ListT(T.OptionalT(T.MONEY)),
     [(), (_D("1.00"), None, _D("2E+1")), [_D("4.5")]]),
    (T.ListT(T.ListT(T.DATE)), [((dt.date(2020, 1, 1),), ())]),
    (T.ListT(T.RecordT((("due", T.DATE), ("n", T.INT)))),
     [({"n": 1, "due": dt.date(2021, 3, 1)}, {"due": None, "n": _D("2")})]),
]


@pytest.mark.parametrize(("t", "values"), _TYPED_VALUES, ids=[str(t) for t, _ in _TYPED_VALUES])
def test_the_traces_json_form_chosen_from_the_type_is_the_general_one(
        t: Any, values: list[Any]) -> None:
    """The expression the trace variant writes for a value of each type gives the same
    JSON as the general conversion, also for a value of another class than the type
    says (an Int that is a decimal, a list that is not a tuple, record keys in their own
    order): the entry's text cannot depend on which path made it."""
    expression = codegen.json_source(t, "value", 0)
    for value in values:
        got = eval(expression, {**codegen.namespace(), "value": value})
        want = to_json_value(value)
        assert json.dumps(got) == json.dumps(want), (t, value)


# -- the fast function of an entity ------------------------------------------------------

def _outputs_only(tmp_path: Path, defs: dict[str, str], outputs: list[str]) -> Any:
    text = (HEADER + PARAMS + "definitions:\n"
            + "".join(definition(n, f) for n, f in defs.items())
            + "outputs:\n  account: [" + ", ".join(outputs) + "]\n")
    (tmp_path / "policy.yaml").write_text(text, encoding="utf-8")
    return load_policy(tmp_path / "policy.yaml", root=tmp_path)


def _by_account(policy: Any, **kw: Any) -> dict[str, Any]:
    data = json.loads(policy.evaluate(facts_from_json(FACTS), as_of=AS_OF,
                                      backend="scalar", **kw).to_json())
    return ({a["account_id"]: a for a in data["accounts"]}
            | {f"error {e['account_id']}": e for e in data["errors"]})


def test_a_failing_record_gets_the_error_of_the_lazy_order(tmp_path: Path) -> None:
    """The fast function computes `e` before `a` (`a` may read it through `c`), but `a`
    fails first when its condition does not hold: the record's error is `a`'s, as the
    lazy order, evaluating the outputs one after the other, always met."""
    policy = _outputs_only(tmp_path, {
        "a": 'if balance > 0.00 then c else fail("a fails")',
        "c": "e + limit",
        "e": 'if balance > 0.00 then balance else fail("e fails")',
        "b": "e"}, ["a", "b"])
    source = policy.program.source
    assert 0 < source.index(" l_e = ") < source.index(" l_a = ")
    got = _by_account(policy)
    assert got["error M2-A"]["message"] == "a fails (in `a`, Act 147(1))"
    assert got["M1-A"]["a"] == "250.25" and got["M1-A"]["b"] == "150.25"
    assert got == _by_account(policy, coverage=Coverage())  # the lazy functions


def test_a_definition_used_under_a_condition_is_computed_once_where_needed(
        tmp_path: Path) -> None:
    """`twice` is used only under conditions: inline into a local the first time (also
    from a comprehension's element), by its function from a comprehension's iterable
    (where Python allows no `:=`), with the values of the lazy functions."""
    policy = _outputs_only(tmp_path, {
        "twice": "balance * 2",
        "picked": "[x for x in [1, 400] if balance > 100.00 and twice > x]",
        "listed": "[t for t in (if balance > 100.00 then [twice] else [])]",
        "again": "if balance > 100.00 then twice else balance"}, ["picked", "listed", "again"])
    source = policy.program.source
    assert "(l_twice if l_twice is not _U else (l_twice := " in source
    got = _by_account(policy)
    assert got["M1-A"] == {**got["M1-A"], "picked": [1], "listed": ["300.50"],
                           "again": "300.50"}
    assert got["M2-A"]["picked"] == [] and got["M2-A"]["again"] == "0.00"
    assert got == _by_account(policy, coverage=Coverage())


def test_the_faster_builtins_of_the_generated_code_are_the_builtin_tables() -> None:
    """`max`, `min` and `compact` are replaced in the generated code's names by versions
    that raise and catch nothing: the same values, down to which of two equal amounts
    (`1.0`, `1.00`) is the result."""
    from evaluator.lang.builtins import BUILTINS

    ns = codegen.namespace()
    day = dt.date(2020, 2, 29)
    cases: list[tuple[Any, ...]] = [
        (), (None,), (None, None), (Decimal("1.0"), Decimal("1.00")),
        (Decimal("1.00"), None, Decimal("1.0")), (None, Decimal("2"), Decimal("-2.5")),
        (day, None, dt.date(2019, 1, 1), day), (1, 3, None, 3, -7)]
    for args in cases:
        for name in ("max", "min"):
            if args:
                got, want = ns[f"_f_{name}"](*args), BUILTINS[name].scalar(*args)
                assert (got, str(got), type(got)) == (want, str(want), type(want)), args
        got, want = ns["_f_compact"](args), BUILTINS["compact"].scalar(args)
        assert got == want and type(got) is tuple and [str(x) for x in got] == [
            str(x) for x in want]
