"""Declared facts (issue 12, item 1): the standard deposit declaration is today's facts,
an inconsistent declaration gets every diagnostic at once with file:line:col, the checker
reads the declared fields, and facts are read by the policy's declaration: declared
fields typed as declared, record errors for a missing or bad field and an undeclared
event type (every other record still evaluated), unknown keys and columns reported as
counted warnings, and errors under ``--strict``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from evaluator import load_facts, load_policy
from evaluator.apps.cli import main
from evaluator.declared import standard
from evaluator.errors import PolicyError
from evaluator.facts import SNAPSHOT_CELLS, facts_from_json
from evaluator.facts.model import (
    ACCOUNT_EVENT_TYPES,
    AMOUNT_EVENT_TYPES,
    CLAIM_DECISIONS,
    EVENT_TYPES,
    NOTICE_MARKS,
    RECONSIDERATION_DECISIONS,
    field_value,
)
from evaluator.lang import typesys as T
from evaluator.lang.document.facts_decl import standard_entity_fields
from tests.support import BASELINE, ROOT

DECLARED = ROOT / "tests" / "declared"
POLICY = DECLARED / "policy.yaml"
AS_OF = "2026-11-21"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def profile() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DECLARED / "profile.json").read_text(encoding="utf-8"))
    return data


# -- the standard declaration ---------------------------------------------------------------

def test_the_standard_declaration_gives_the_checker_todays_fields() -> None:
    derived = standard_entity_fields()
    for entity, fields in derived.items():
        given = {n: t for n, t in T.ENTITY_FIELDS[entity].items()
                 if not isinstance(T.strip(t), T.EntityT)
                 and t != T.ListT(T.EntityT("event")) and t != T.ListT(T.EntityT("account"))}
        assert fields == given, entity


def test_the_standard_declaration_is_todays_event_types_marks_and_columns() -> None:
    decl = standard()
    assert tuple(decl.event_types) == EVENT_TYPES
    assert {t.name for t in decl.event_types.values() if t.account == "required"} \
        == ACCOUNT_EVENT_TYPES
    assert {t.name for t in decl.event_types.values() if "amount" in t.fields} \
        == AMOUNT_EVENT_TYPES
    assert decl.fields["event"]["mark"].values == NOTICE_MARKS
    assert decl.fields["claim"]["decision"].values == CLAIM_DECISIONS
    assert decl.fields["claim"]["reconsideration_decision"].values == \
        RECONSIDERATION_DECISIONS
    assert tuple(decl.columns) == SNAPSHOT_CELLS
    assert not decl.has_extras


def test_a_policy_without_facts_keeps_its_digest_and_reads_todays_facts() -> None:
    policy = load_policy(BASELINE)
    assert policy.facts_decl is None
    assert "facts" not in policy.document.canonical
    declared = load_policy(POLICY)
    assert declared.facts_decl is not None
    assert declared.document.canonical["facts"]["account"]["fields"]["maturity"] == \
        {"type": "date", "optional": True, "description": "a fixed-term deposit's maturity"}


# -- inconsistent declarations ----------------------------------------------------------------

def test_every_inconsistency_of_a_declaration_is_reported_at_once() -> None:
    bad = DECLARED / "bad" / "policy.yaml"
    proc = subprocess.run([sys.executable, "-m", "evaluator", "check", str(bad.relative_to(ROOT))],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 2
    assert proc.stdout + proc.stderr == (DECLARED / "bad" / "check.txt").read_text(
        encoding="utf-8")


def test_each_inconsistency_is_at_its_line_and_column() -> None:
    golden = (DECLARED / "bad" / "check.txt").read_text(encoding="utf-8")
    first_lines = [line for line in golden.splitlines() if ": error: " in line]
    at = {line.split(": error: ")[1]: line.split(": error: ")[0].rsplit(":", 2)[1:]
          for line in first_lines}
    assert at == {
        "`member.accounts` is not a field of the input: it is given by the evaluator":
            ["10", "7"],
        "field `account.balance` is already declared by the standard deposit declaration "
        "as `money`": ["13", "7"],
        "unknown field type `dat`": ["14", "24"],
        "`values:` on field `account.rate` of type `percent`": ["15", "29"],
        "default must be a whole number, not `soon`": ["16", "38"],
        "event type `renewal` carries `new_maturty`, which is not a declared event field":
            ["21", "45"],
        "event type `transaction` is already declared by the standard deposit declaration":
            ["22", "7"],
        "columns `balance` and `balance_2` both map to `account.balance`": ["25", "7"],
        "column `maturity` maps to `account.maturity`, which is not a declared field":
            ["26", "17"],
        "column `region` maps to `member.region`, which is not a declared field":
            ["27", "15"],
        "column `claim_of` maps to `claim.claim_id`, which is not a member or account field":
            ["28", "17"],
        "column `last_renewal` is the latest `renewl`, which is not a declared event type":
            ["29", "30"],
        "column `last_roll`: a `renewal` event must name an account": ["30", "40"],
        "column `currency` is already mapped to `account.currency`": ["31", "7"],
    }


def _chain(tmp_path: Path, child_facts: str) -> Path:
    """A base policy declaring account.maturity and a child of it, under a policies root."""
    root = tmp_path / "policies"
    for name in ("decl-base", "decl-child"):
        (root / name).mkdir(parents=True)
    (root / "decl-base" / "policy.yaml").write_text(
        "policy: decl-base\nversion: 1.0.0\nstatus: proposed\ntitle: base\n"
        "facts:\n  account:\n    fields:\n      maturity: {type: date, optional: true}\n",
        encoding="utf-8")
    child = root / "decl-child" / "policy.yaml"
    child.write_text(
        "policy: decl-child\nversion: 1.0.0\nstatus: proposed\ntitle: child\n"
        "extends: decl-base@1.0.0\n" + child_facts +
        'provisions:\n  "1": {text: the clock}\n'
        "definitions:\n  clock:\n    entity: account\n    provision: \"1\"\n"
        "    formula: maturity ?? term_start ?? opened\n"
        "outputs:\n  account: [clock]\n", encoding="utf-8")
    return child


def test_a_child_adds_to_its_bases_declaration(tmp_path: Path) -> None:
    child = _chain(tmp_path, "facts:\n  account:\n    fields:\n"
                             "      term_start: {type: date, optional: true}\n")
    policy = load_policy(child)
    assert policy.facts_decl is not None
    assert [f.name for f in policy.facts_decl.extra_fields("account")] == \
        ["maturity", "term_start"]
    assert policy.facts_decl.fields["account"]["maturity"].declared_in == "decl-base@1.0.0"


def test_a_child_may_not_retype_a_field_of_its_base(tmp_path: Path) -> None:
    child = _chain(tmp_path, "facts:\n  account:\n    fields:\n"
                             "      maturity: {type: text}\n"
                             "      term_start: {type: date, optional: true}\n")
    with pytest.raises(PolicyError) as info:
        load_policy(child)
    (diag,) = [d for d in info.value.diagnostics if d.code == "facts"]
    assert diag.span is not None and (diag.span.line, diag.span.col) == (9, 7)
    assert diag.message == ("field `account.maturity` is already declared by "
                            "`decl-base@1.0.0` as `date?`")


# -- the checker --------------------------------------------------------------------------

def test_the_checker_types_declared_fields(tmp_path: Path) -> None:
    text = POLICY.read_text(encoding="utf-8").replace(
        "formula: product\n", "formula: maturity + 1\n")
    bad = tmp_path / "policy.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(bad)
    messages = [d.message for d in info.value.diagnostics]
    assert any("`maturity` may be null" in m or "Date?" in m for m in messages), messages
    typo = tmp_path / "typo.yaml"
    typo.write_text(POLICY.read_text(encoding="utf-8").replace(
        "formula: product\n", "formula: prodcut\n"), encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(typo)
    (diag,) = info.value.diagnostics
    assert diag.message == "unknown name `prodcut`" and diag.help == "did you mean `product`?"


# -- reading facts by the declaration -------------------------------------------------------

def test_declared_fields_are_read_by_their_types() -> None:
    facts = facts_from_json(profile(), decl=load_policy(POLICY).facts_decl)
    assert facts.errors == ()
    (m1, m2) = facts.members
    assert field_value(m1, "region") == "north" and field_value(m2, "region") is None
    a = m1.accounts[0]
    assert field_value(a, "maturity") == date(2012, 4, 1)
    assert field_value(a, "rate") == Decimal("0.025")
    assert field_value(a, "bore_interest") is True
    assert field_value(m2.accounts[0], "product") == "savings"  # the default
    assert field_value(m2.accounts[1], "rate") == Decimal("0.01")
    renewal = next(e for e in m1.events if e.type == "renewal")
    assert field_value(renewal, "new_maturity") == date(2019, 4, 1)


def test_the_profile_is_evaluated_with_its_declared_fields() -> None:
    code, out, err = run("evaluate", "--policy", str(POLICY), "--facts",
                         str(DECLARED / "profile.json"), "--as-of", AS_OF)
    assert code == 0 and err == ""
    got = {a["account_id"]: a for a in json.loads(out)["accounts"]}
    # M1-A: renewed on 2014-04-01 (to 2019-04-01), after its maturity and transaction
    assert got["M1-A"]["clock_start"] == "2014-04-01"
    assert got["M1-A"]["unclaimed_on"] == "2024-04-01"
    assert got["M1-A"]["renewed_to"] == "2019-04-01"
    assert got["M1-A"]["northern"] is True and got["M1-A"]["bears_interest"] is True
    assert got["M1-A"]["deposit_kind"] == "term"
    # M2-B: its last transaction; a rate, but nothing says it bore interest
    assert got["M2-B"]["clock_start"] == "2009-05-05" and got["M2-B"]["bears_interest"] is False
    assert got["M2-A"]["northern"] is False and got["M2-A"]["deposit_kind"] == "savings"
    assert got["M2-A"]["renewed_to"] is None


def _bad_profile() -> dict[str, Any]:
    data = profile()
    data["members"] += [
        {"member_id": "M3", "region": "east",
         "accounts": [{"account_id": "M3-A", "currency": "CAD", "balance": "5.00",
                       "opened": "2010-01-01"}]},
        {"member_id": "M4",
         "accounts": [{"account_id": "M4-A", "currency": "CAD", "balance": "5.00",
                       "opened": "2010-01-01", "rate": "high"}]},
        {"member_id": "M5",
         "accounts": [{"account_id": "M5-A", "currency": "CAD", "balance": "5.00",
                       "opened": "2010-01-01"}],
         "events": [{"date": "2011-01-01", "type": "renewal", "account_id": "M5-A"}]},
        {"member_id": "M6",
         "accounts": [{"account_id": "M6-A", "currency": "CAD", "balance": "5.00",
                       "opened": "2010-01-01"}],
         "events": [{"date": "2011-01-01", "type": "renewl", "account_id": "M6-A"}]},
    ]
    return data


def test_facts_that_do_not_match_the_declaration_are_record_errors(tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps(_bad_profile()), encoding="utf-8")
    code, out, _ = run("evaluate", "--policy", str(POLICY), "--facts", str(facts),
                       "--as-of", AS_OF)
    assert code == 1
    result = json.loads(out)
    assert [a["account_id"] for a in result["accounts"]] == ["M1-A", "M2-A", "M2-B"]
    errors = {e["member_id"]: (e["field"], e["message"]) for e in result["errors"]}
    assert errors["M3"] == ("region", "region `east` is not one of `north`, `south`")
    assert errors["M4"] == ("rate", "rate `high` is not a percentage (`2.5%`) or a decimal "
                                    "number")
    assert errors["M5"][0] == "new_maturity"
    assert errors["M5"][1].startswith("events[0]: new_maturity is missing")
    assert errors["M6"][0] == "type"
    assert "`renewl` is not one of" in errors["M6"][1] and "`renewal`" in errors["M6"][1]
    assert len(result["accounts"]) + len(result["errors"]) == 7  # records in


def test_a_declared_field_a_record_lacks_is_a_record_error(tmp_path: Path) -> None:
    text = POLICY.read_text(encoding="utf-8").replace(
        "maturity: {type: date, optional: true,", "maturity: {type: date,")
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(text, encoding="utf-8")
    policy = load_policy(policy_file)
    facts = facts_from_json(profile(), decl=policy.facts_decl)
    assert [(e.account_id, e.field, e.message) for e in facts.errors] == [
        ("M2-A", "maturity", "maturity is missing"),
        ("M2-B", "maturity", "maturity is missing")]
    assert [a.account_id for m in facts.members for a in m.accounts] == ["M1-A"]


def test_facts_read_without_the_policys_declaration_are_refused() -> None:
    policy = load_policy(POLICY)
    with pytest.raises(PolicyError, match="load_facts"):
        policy.evaluate(load_facts(DECLARED / "profile.json"), as_of=AS_OF)


# -- unknown keys and columns -------------------------------------------------------------

def test_unknown_keys_are_counted_warnings_and_errors_under_strict(tmp_path: Path) -> None:
    data = profile()
    data["members"][0]["branch"] = "B7"
    for account in data["members"][1]["accounts"]:
        account["teller"] = "T1"
    data["members"][1]["events"][0]["channel"] = "atm"
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps(data), encoding="utf-8")
    code, out, err = run("evaluate", "--policy", str(POLICY), "--facts", str(facts),
                         "--as-of", AS_OF)
    assert code == 0 and len(json.loads(out)["accounts"]) == 3
    assert err.splitlines() == [
        f"warning: {facts}: unknown member key `branch` in 1 record: not declared in the "
        "policy's facts, ignored",
        f"warning: {facts}: unknown account key `teller` in 2 records: not declared in the "
        "policy's facts, ignored",
        f"warning: {facts}: unknown event key `channel` in 1 record: not declared in the "
        "policy's facts, ignored"]
    policy = load_policy(POLICY)
    result = policy.evaluate(load_facts(facts, policy=policy), as_of=AS_OF)
    assert [w.message for w in result.warnings] == [line[9:] for line in err.splitlines()]
    code, out, err = run("evaluate", "--policy", str(POLICY), "--facts", str(facts),
                         "--as-of", AS_OF, "--strict")
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 3 and all(
        line.startswith("error: ") and line.endswith("(--strict)") for line in err.splitlines())


def test_keys_the_standard_declaration_does_not_know_are_reported_for_fsra(
        tmp_path: Path) -> None:
    data = profile()  # maturity, rate, ... are not declared by the shipped policy
    facts = tmp_path / "facts.json"
    data["members"] = [m for m in data["members"] if m["member_id"] == "M2"]
    facts.write_text(json.dumps(data), encoding="utf-8")
    code, _, err = run("evaluate", "--policy", str(BASELINE), "--facts", str(facts),
                       "--as-of", AS_OF)
    assert code == 0
    assert err == (f"warning: {facts}: unknown account key `rate` in 1 record: not declared "
                   "in the policy's facts, ignored\n")


def test_unknown_columns_are_counted_warnings_and_errors_under_strict(tmp_path: Path) -> None:
    table = DECLARED / "table.csv"
    for backend in ("auto", "scalar"):
        code, _, err = run("evaluate", "--policy", str(POLICY), "--facts", str(table),
                           "--as-of", AS_OF, "--backend", backend)
        assert code == 0
        assert err == (f"warning: {table}: unknown column `branch` in 2 records: not "
                       "declared in the policy's facts, ignored\n"), backend
    code, out, err = run("evaluate", "--policy", str(POLICY), "--facts", str(table),
                         "--as-of", AS_OF, "--strict")
    assert code == 2 and out == "" and err.startswith("error: ") and "`branch`" in err


def test_a_member_level_column_must_agree_across_the_members_rows(tmp_path: Path) -> None:
    rows = (DECLARED / "table.csv").read_text(encoding="utf-8").splitlines()
    rows.append("M1,M1-B,CAD,10.00,2001-04-01,,,,,,,,south,,")
    table = tmp_path / "table.csv"
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    policy = load_policy(POLICY)
    facts = load_facts(table, policy=policy)
    (error,) = facts.errors
    assert (error.member_id, error.account_id, error.field, error.location) == \
        ("M1", "M1-B", "region", "row 5")
    assert error.message == ("member `M1`: column region is `south` here but `north` on "
                             "row 2; a member-level column must agree across the member's rows")
    assert len([a for m in facts.members for a in m.accounts]) == 3


def test_declared_columns_are_read_from_csv_and_parquet_alike(tmp_path: Path) -> None:
    pl = pytest.importorskip("polars")
    table = DECLARED / "table.csv"
    parquet = tmp_path / "table.parquet"
    pl.read_csv(table, infer_schema=False).write_parquet(parquet)
    policy = load_policy(POLICY)
    from_csv = load_facts(table, policy=policy)
    from_parquet = load_facts(parquet, policy=policy)
    assert from_csv.members == from_parquet.members
    assert from_csv.errors == from_parquet.errors == ()
    m1 = from_csv.members[0]
    assert field_value(m1, "region") == "north"
    assert [(e.type, e.date) for e in m1.events] == [
        ("transaction", date(2010, 3, 2)), ("renewal", date(2014, 4, 1))]
    assert field_value(m1.accounts[0], "rate") == Decimal("0.025")


def test_the_test_policy_checks_clean() -> None:
    code, out, _ = run("check", str(POLICY))
    assert code == 0 and "0 errors, 0 warnings" in out


# -- both backends ----------------------------------------------------------------------

BAD_ROWS = [
    "M3,M3-A,CAD,10.00,2004-01-01,,,,,,,,east,,",            # a value not declared
    "M4,M4-A,CAD,10.00,2004-01-01,,,,2012-13-01,,,,,,",      # a bad date
    "M4,M4-B,CAD,10.00,2004-01-01,,,,,1.5%,savings,maybe,,,",  # a bad bool
    "M5,M5-A,CAD,10.00,2004-01-01,,,,,,,,,2011-02-30,",      # a bad latest date
    "M1,M1-B,CAD,10.00,2001-04-01,,,,,,,,south,,",           # disagrees with row 2
    "M1,M1-A,CAD,10.00,2001-04-01,,,,,,,,north,,",           # a duplicate account
    "M6,M6-A,CAD,10.00",                                     # too few cells
    "M7,M7-A,CAD,7.50,2003-03-03,2004-04-04,2005-05-05,,,,term,false,south,2006-06-06,",
    "M5,M5-B,CAD,10.00,2004-01-01,,,,,,,,,2011-02-28,",
]


def _tables(tmp_path: Path) -> list[Path]:
    pl = pytest.importorskip("polars")
    lines = (DECLARED / "table.csv").read_text(encoding="utf-8").splitlines()
    good = tmp_path / "good.csv"
    bad = tmp_path / "bad.csv"
    good.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad.write_text("\n".join([*lines, *BAD_ROWS]) + "\n", encoding="utf-8")
    parquet = tmp_path / "good.parquet"
    pl.read_csv(good, infer_schema=False).write_parquet(parquet)
    return [good, bad, parquet]


def test_both_backends_agree_on_declared_facts_and_their_errors(tmp_path: Path) -> None:
    policy = load_policy(POLICY)
    from evaluator.columnar import read_table

    for path in _tables(tmp_path):
        scalar = policy.evaluate(load_facts(path, policy=policy), as_of=AS_OF,
                                 backend="scalar")
        columnar = policy.evaluate(read_table(path, decl=policy.facts_decl), as_of=AS_OF,
                                   backend="columnar")
        assert columnar.to_json() == scalar.to_json(), path.name
        assert scalar.accounts, path.name
        if path.name == "bad.csv":
            errors = {(e.member_id, e.account_id): e.field for e in scalar.errors}
            assert errors == {("M3", "M3-A"): "region", ("M4", "M4-A"): "maturity",
                              ("M4", "M4-B"): "bore_interest",
                              ("M5", "M5-A"): "last_renewal", ("M1", "M1-B"): "region",
                              ("M1", "M1-A"): "account_id", ("M6", "M6-A"): "*"}
            assert [a.account_id for a in scalar.accounts] == \
                ["M1-A", "M2-A", "M2-B", "M7-A", "M5-B"]
            # records in = determinations + errors
            assert len(scalar.accounts) + len(scalar.errors) == 12
        code, out, _ = run("evaluate", "--policy", str(POLICY), "--facts", str(path),
                           "--as-of", AS_OF)
        assert out == columnar.to_json() + "\n"
        assert code == (1 if path.name == "bad.csv" else 0)


def test_a_latest_column_is_an_event_of_its_account_in_both_backends(tmp_path: Path) -> None:
    policy = load_policy(POLICY)
    from evaluator.columnar import read_table

    bad = _tables(tmp_path)[1]
    for backend, facts in (("scalar", load_facts(bad, policy=policy)),
                           ("columnar", read_table(bad, decl=policy.facts_decl))):
        got = {a.account_id: a.values for a in
               policy.evaluate(facts, as_of=AS_OF, backend=backend).accounts}
        # M7-A: its renewal (2006-06-06) is later than its last transaction (2004-04-04)
        assert str(got["M7-A"]["clock_start"]) == "2006-06-06", backend
        assert str(got["M5-B"]["clock_start"]) == "2011-02-28", backend


def test_a_policy_comparing_a_declared_percent_is_evaluated_by_both_backends(
        tmp_path: Path) -> None:
    text = POLICY.read_text(encoding="utf-8").replace(
        "    formula: bore_interest ?? false\n",
        "    formula: (bore_interest ?? false) and (rate ?? 0%) > 0%\n")
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(text, encoding="utf-8")
    table = _tables(tmp_path)[0]
    code, out, err = run("evaluate", "--policy", str(policy_file), "--facts", str(table),
                         "--as-of", AS_OF)
    assert code == 0
    got = {a["account_id"]: a["bears_interest"] for a in json.loads(out)["accounts"]}
    assert got == {"M1-A": True, "M2-A": False, "M2-B": False}
    for backend in ("columnar", "scalar"):  # a comparison shows no decimal places
        code, again, err = run("evaluate", "--policy", str(policy_file), "--facts",
                               str(table), "--as-of", AS_OF, "--backend", backend)
        assert (code, again) == (0, out), err


# -- the JSON Schema of the facts ---------------------------------------------------------

def test_the_published_facts_schema_is_the_standard_declarations() -> None:
    from evaluator.facts.schema import schema_text

    published = ROOT / "evaluator" / "schemas" / "facts.schema.json"
    assert published.read_text(encoding="utf-8") == schema_text(), \
        "regenerate it: python -m evaluator.facts.schema > evaluator/schemas/facts.schema.json"


def test_profiles_the_schema_accepts_load_without_errors_or_unknown_keys(
        tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    policy = load_policy(POLICY)
    code, out, err = run("check", "--facts-schema", str(POLICY))
    assert code == 0 and err == ""
    validator = jsonschema.Draft202012Validator(json.loads(out))
    jsonschema.Draft202012Validator.check_schema(json.loads(out))
    data = profile()
    assert list(validator.iter_errors(data)) == []
    facts = load_facts(DECLARED / "profile.json", policy=policy)
    assert facts.errors == () and facts.unknown == ()
    # the shipped policy's schema (the published one) refuses the declared keys
    standard_schema = json.loads((ROOT / "evaluator" / "schemas" /
                                  "facts.schema.json").read_text(encoding="utf-8"))
    refused = {e.message for e in
               jsonschema.Draft202012Validator(standard_schema).iter_errors(data)}
    assert any("'maturity'" in m for m in refused) and any("'region'" in m for m in refused)
    # and the schema holds what a record error is about: a renewal without its field
    data["members"][0]["events"][1].pop("new_maturity")
    assert [e.message for e in validator.iter_errors(data)] == \
        ["'new_maturity' is a required property"]
    assert [e.field for e in facts_from_json(data, decl=policy.facts_decl).errors] == \
        ["new_maturity"]
    contract = json.loads((ROOT / "examples" / "members.json").read_text(encoding="utf-8"))
    assert list(jsonschema.Draft202012Validator(standard_schema).iter_errors(contract)) == []


def test_the_facts_schema_of_a_policy_with_errors_is_not_printed(tmp_path: Path) -> None:
    code, out, err = run("check", "--facts-schema", str(DECLARED / "bad" / "policy.yaml"))
    assert code == 2 and out == "" and "unknown field type `dat`" in err


# -- generate -----------------------------------------------------------------------------

def test_generate_writes_the_declared_columns_both_backends_read(tmp_path: Path) -> None:
    pl = pytest.importorskip("polars")
    plain, declared, chunked = (tmp_path / n for n in ("plain.csv", "declared.csv",
                                                       "chunked.csv"))
    for out, extra in ((plain, []), (declared, ["--policy", str(POLICY)]),
                       (chunked, ["--policy", str(POLICY), "--chunk-members", "7"])):
        code, _, err = run("generate", "--members", "300", "--seed", "3", "--out", str(out),
                           *extra)
        assert code == 0, err
    assert declared.read_bytes() == chunked.read_bytes()  # chunks change nothing
    frame = pl.read_csv(declared, infer_schema=False)
    assert frame.columns[8:] == ["maturity", "rate", "product", "bore_interest", "region",
                                 "last_renewal"]
    # the standard columns are those generated without the policy
    assert frame.select(frame.columns[:8]).equals(pl.read_csv(plain, infer_schema=False))
    # optional fields for a share of the rows, required ones on every row
    assert 0 < frame.get_column("maturity").null_count() < frame.height
    assert frame.get_column("product").null_count() == 0
    regions = frame.group_by("member_id").agg(pl.col("region").n_unique())
    assert regions.get_column("region").max() == 1  # member-level: one value per member
    policy = load_policy(POLICY)
    from evaluator.columnar import read_table

    fx = tmp_path / "declared.fx.csv"
    facts = load_facts(declared, fx, policy=policy)
    assert facts.errors == () and facts.unknown == ()
    scalar = policy.evaluate(facts, as_of=AS_OF, backend="scalar")
    columnar = policy.evaluate(read_table(declared, fx, decl=policy.facts_decl), as_of=AS_OF,
                               backend="columnar")
    assert columnar.to_json() == scalar.to_json()
    assert {a.values["deposit_kind"] for a in scalar.accounts} == {"savings", "term"}


def test_unknown_columns_of_a_table_written_to_a_file_are_reported(tmp_path: Path) -> None:
    table = DECLARED / "table.csv"
    out = tmp_path / "out.csv"
    code, _, err = run("evaluate", "--policy", str(POLICY), "--facts", str(table),
                       "--as-of", AS_OF, "--out", str(out))
    assert code == 0 and out.is_file()
    assert err.splitlines()[0] == (f"warning: {table}: unknown column `branch` in 2 "
                                   "records: not declared in the policy's facts, ignored")
    out.unlink()
    code, _, err = run("evaluate", "--policy", str(POLICY), "--facts", str(table),
                       "--as-of", AS_OF, "--out", str(out), "--strict")
    assert code == 2 and not out.exists() and "`branch`" in err


def test_unknown_columns_of_a_parquet_folder_written_to_a_file_are_reported(
        tmp_path: Path) -> None:
    """A hive-partitioned Parquet folder streamed to a file: its undeclared columns (a
    hive key among them: a column, as the folder is read) are warnings counted over
    every part, and refused under --strict with nothing written."""
    table = pl.read_csv(DECLARED / "table.csv", infer_schema=False)
    table = table.with_columns(pl.Series("quarter", ["q1"] + ["q2"] * (table.height - 1)))
    folder = tmp_path / "table.parquet"
    table.write_parquet(folder, partition_by="quarter")
    assert folder.is_dir()
    out = tmp_path / "out.csv"
    code, _, err = run("evaluate", "--policy", str(POLICY), "--facts", str(folder),
                       "--as-of", AS_OF, "--out", str(out))
    assert code == 0 and out.is_file(), err
    warned = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warned == [
        f"warning: {folder}: unknown column `branch` in 2 records: not declared in the "
        "policy's facts, ignored",
        f"warning: {folder}: unknown column `quarter` in {table.height} records: not "
        "declared in the policy's facts, ignored"]
    out.unlink()
    code, _, err = run("evaluate", "--policy", str(POLICY), "--facts", str(folder),
                       "--as-of", AS_OF, "--out", str(out), "--strict")
    assert code == 2 and not out.exists() and "`quarter`" in err


def test_policies_declaring_different_facts_are_compared_over_one_table(
        tmp_path: Path) -> None:
    from evaluator.declared import covers, union

    tables = _tables(tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text(POLICY.read_text(encoding="utf-8").replace(
        "policy: declared-deposits", "policy: declared-other").replace(
        "value: 10 years", "value: 5 years"), encoding="utf-8")
    declared, second = load_policy(POLICY), load_policy(other)
    both = union([declared.facts_decl, None, second.facts_decl])
    assert both is not None and covers(both, declared.facts_decl)
    assert covers(both, None) and not covers(None, declared.facts_decl)
    out = tmp_path / "compared"
    code, stdout, err = run("compare", "--policy", str(POLICY), "--policy", "fsra-2024-001",
                            "--policy", str(other), "--facts", str(tables[1]),
                            "--as-of", AS_OF, "--out", str(out))
    assert code == 0, err
    assert (out / "summary.md").is_file() and "summary.md" in stdout
    clash = tmp_path / "clash.yaml"
    clash.write_text(POLICY.read_text(encoding="utf-8").replace(
        "values: [north, south]", "values: [north, south, west]"), encoding="utf-8")
    code, _, err = run("compare", "--policy", str(POLICY), "--policy", str(clash),
                       "--facts", str(tables[1]), "--as-of", AS_OF, "--out", str(out))
    assert code == 2
    assert "the policies declare their facts differently: field `member.region`" in err
