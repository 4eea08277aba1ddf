"""Records that may be null through the columnar backend, against the scalar one: every
way tests/portfolio/null-records.yaml makes a record that may be null (`if` with a record
literal, an optional record, null or a failure; `??`; a record field of a record;
`window_for`'s window; `first` and `last`), with null and present cases, gives identical
determinations and errors from a JSON profile (scalar), its snapshot table (scalar) and the
table (columnar); and the authoring guide's example, where the columnar backend took an
absent rate for a present one, is a record error through the CLI with either backend."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from evaluator import Policy, load_policy
from evaluator.columnar import read_table
from evaluator.facts import load_facts
from tests.support import BASELINE, ROOT, SNAPSHOT_COLUMNS, fx_rows, snapshot_rows
from tests.test_columnar import EXAMPLES, assert_same, both, portfolio

AS_OF = "2026-11-21"


def account(member: str, currency: str, balance: str, opened: str) -> dict[str, Any]:
    return {"member_id": member,
            "accounts": [{"account_id": f"{member}-A", "currency": currency,
                          "balance": balance, "opened": opened}],
            "events": [{"date": "2016-10-30", "type": "transaction",
                        "account_id": f"{member}-A"}]}


#: rates: USD on 30 Sep 2025 and 2026, EUR on 30 Sep 2026 only, none for CAD or GBP
PROFILE: dict[str, Any] = {
    "fx_rates": [{"currency": "USD", "date": "2025-09-30", "rate": "1.3600"},
                 {"currency": "USD", "date": "2026-09-30", "rate": "1.3850"},
                 {"currency": "EUR", "date": "2026-09-30", "rate": "1.4712"}],
    "members": [
        account("M01", "CAD", "4200.00", "2012-05-14"),
        account("M02", "USD", "780.55", "2009-09-09"),   # no rate on opening, one later
        account("M03", "USD", "150.00", "2025-10-01"),   # a rate the day before opening
        account("M04", "EUR", "1315.20", "2003-03-03"),  # EUR: null in maybe_nested
        account("M05", "USD", "600.00", "2026-09-30"),   # a rate on the day itself
        account("M06", "GBP", "900.00", "2010-01-05"),   # no rate ever
        account("M07", "CAD", "350.00", "2010-01-05"),
        account("M09", "USD", "9000.00", "2001-01-01"),  # the list items fail
        account("M10", "CAD", "6000.00", "2005-05-05"),  # fails only in an untaken branch
        account("M11", "USD", "7000.00", "2026-01-01"),  # fails only in an untaken `??`
        account("M12", "USD", "6000.00", "2001-01-01"),  # fails in its branch
        account("M13", "USD", "7000.00", "2002-02-02"),  # fails in its `??`
        account("M14", "EUR", "4000.00", "2004-04-04"),  # fails instead of a record
    ]}
#: the accounts whose record is an error, and those whose failure is in a branch not taken
FAILING = {"M09-A", "M12-A", "M13-A", "M14-A"}
SPARED = {"M10-A", "M11-A"}


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    """tests/portfolio/null-records.yaml beside the baseline, under a policies root."""
    root = tmp_path_factory.mktemp("policies")
    shutil.copytree(BASELINE, root / "fsra-2024-001")
    shutil.copy(ROOT / "tests" / "portfolio" / "null-records.yaml", root / "null-records.yaml")
    return load_policy(root / "null-records.yaml")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The profile as a JSON file, and as the snapshot table and FX table a user has."""
    folder = tmp_path_factory.mktemp("facts")
    profile = folder / "members.json"
    profile.write_text(json.dumps(PROFILE), encoding="utf-8")
    rows = snapshot_rows(PROFILE, AS_OF)
    assert rows is not None
    accounts, fx = folder / "members.csv", folder / "fx.csv"
    with accounts.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, SNAPSHOT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    with fx.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["currency", "date", "rate"])
        writer.writeheader()
        writer.writerows(fx_rows(PROFILE))
    return profile, accounts, fx


def test_profile_table_and_columnar_agree(policy: Policy,
                                          files: tuple[Path, Path, Path]) -> None:
    profile, accounts, fx = files
    from_profile = policy.evaluate(load_facts(profile), as_of=AS_OF, backend="scalar")
    from_table = policy.evaluate(load_facts(accounts, fx=fx), as_of=AS_OF, backend="scalar")
    columnar = policy.evaluate(read_table(accounts, fx), as_of=AS_OF, backend="columnar")
    for key in ("accounts", "errors", "claims"):  # the facts' file and digest differ
        assert from_table.to_dict()[key] == from_profile.to_dict()[key], key
    assert_same(columnar.to_dict(), from_table.to_dict())
    assert columnar.to_json() == from_table.to_json()
    # the errors are those of the failures whose branch is taken, and no other
    assert {e.account_id for e in columnar.errors} == FAILING
    evaluated = {d.account_id for d in columnar.accounts}
    assert evaluated >= SPARED
    assert len(evaluated) + len(FAILING) == len(PROFILE["members"])


#: the outputs that are never null (a record built whichever way, a list item that is)
NEVER_NULL = {"rate_or_one", "nested", "foreign_window_provision", "record_branch_error",
              "coalesce_error", "list_error", "two_errors"}
#: every other output, in the policy's order
MAY_BE_NULL = [
    "fx", "fx_known", "fx_rate_or_null", "fx_reversed", "fx_reversed_date", "either_rate",
    "either_known", "rate_or_later", "rate_or_later_missing", "nested_rate", "maybe_nested",
    "maybe_nested_inner", "maybe_nested_inner_known", "first_rate", "last_rate",
    "first_known_rate", "last_compact_rate", "first_value", "last_value", "foreign_window",
    "euro_fails", "branch_error", "branch_error_r", "list_records_error"]


def test_every_output_is_both_null_and_present(policy: Policy,
                                               files: tuple[Path, Path, Path]) -> None:
    """The comparison above is not vacuous: each output that may be null is null for some
    account and present for another, each test of nullness true for one and false for
    another (on the columnar backend's determinations)."""
    _, accounts, fx = files
    result = policy.evaluate(read_table(accounts, fx), as_of=AS_OF, backend="columnar")
    rows = [d.values for d in result.accounts]
    assert set(rows[0]) == set(MAY_BE_NULL) | NEVER_NULL
    for name in MAY_BE_NULL:
        seen = {v is None if not isinstance(v, bool) else v for v in (r[name] for r in rows)}
        assert seen == {True, False}, f"{name}: only {seen}"


@settings(max_examples=max(8, EXAMPLES // 6), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=portfolio())
def test_generated_portfolios_agree(policy: Policy, case: dict[str, Any]) -> None:
    columnar, scalar = both(policy, case)
    assert_same(columnar, scalar)


GUIDE_EXAMPLE = """\
policy: fx-record
version: 1.0.0
status: alternative
title: a rate record or none
extends: fsra-2024-001@1.1.0
definitions:
  fx:
    entity: account
    provision: "2(15)"
    formula: |
      if currency == "CAD" then {rate: 1.0, date: last_activity}
      else fx_rate_on_or_before(currency, last_activity)
  amount_cad:
    entity: account
    provision: "2(14); 2(15); D3; P3"
    formula: |
      if fx != null then round_cents(balance * fx.rate)
      else fail(format("no {} exchange rate on or before {}", currency, last_activity))
outputs:
  account: [amount_cad]
"""


def test_the_guide_example_is_a_record_error_with_either_backend(tmp_path: Path) -> None:
    shutil.copytree(BASELINE, tmp_path / "fsra-2024-001")
    path = tmp_path / "fx-record.yaml"
    path.write_text(GUIDE_EXAMPLE, encoding="utf-8")
    out = {}
    for backend in ("scalar", "columnar"):
        run = subprocess.run(
            [sys.executable, "-m", "evaluator", "evaluate", "--policy", str(path),
             "--facts", str(ROOT / "examples" / "members.csv"),
             "--fx", str(ROOT / "examples" / "fx.csv"), "--as-of", AS_OF,
             "--backend", backend, "--format", "json"],
            capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == 1, f"{backend}: {run.returncode} {run.stderr}"
        out[backend] = json.loads(run.stdout)
    assert out["columnar"] == out["scalar"]
    failing = {e["account_id"] for e in out["columnar"]["errors"]}
    assert "M07-A" in failing  # USD, with no rate before its last activity in 2016
    assert "M08-A" not in failing  # USD, with one
    assert all(a["amount_cad"] is not None for a in out["columnar"]["accounts"])
