"""The columnar backend over a dataset's events table (issue 14): aggregations and lists
over ``events`` compiled to group-by stages, byte-identical to the scalar backend over the
same dataset (errors included) for every shipped policy, on generated datasets and on the
profile corpus; what it cannot express is refused with its reason, never answered wrongly."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evaluator.backends.columnar.events import MAX_ITEMS
from evaluator.errors import PolicyError
from evaluator.facts import FactsError
from evaluator.facts.dataset import load_dataset
from evaluator.facts.eventtable import read_dataset_table
from evaluator.policy import Policy, load_policy
from tests.support import ROOT, corpus, load_case, policy_name
from tests.test_dataset_events import write_case_dataset

SHIPPED = sorted([*(p.parent for p in ROOT.glob("policies/*/policy.yaml")),
                  *ROOT.glob("policies/alternatives/*.yaml"),
                  *ROOT.glob("policies/interpretations/*.yaml")])
AS_OF = "2026-11-21"


def events_table(accounts: Path, events: Path, fx: Path | None = None, *,
                 decl: Any = None) -> Any:
    """The dataset as the columnar reader reads it, its events frame in reverse: the
    frame's row order is not the events' order (``__seq`` is), so the tests hold the
    compiler to ``__seq``."""
    import dataclasses

    table, _ = read_dataset_table(accounts, events, fx, decl=decl)
    return dataclasses.replace(table, events=table.events.reverse())


def both(policy: Policy, accounts: Path, events: Path, fx: Path | None, folder: Path,
         as_of: str = AS_OF, params: dict[str, str] | None = None
         ) -> tuple[Any, Any]:
    """The columnar result over the dataset as the columnar reader reads it, and the
    scalar one over the scalar reader's facts of the same files."""
    del folder
    table = events_table(accounts, events, fx, decl=policy.facts_decl)
    facts = load_dataset(accounts, events, fx, decl=policy.facts_decl).facts
    scalar = policy.evaluate(facts, as_of=as_of, params=params, backend="scalar")
    columnar = policy.evaluate(table, as_of=as_of, params=params, backend="columnar")
    return columnar, scalar


# -- generated datasets ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A small generated dataset without its USD rates (so the accounts that need one are
    errors) and with a bad event row (so its member is an error of the reader)."""
    folder = tmp_path_factory.mktemp("generated")
    subprocess.run([sys.executable, "-m", "evaluator", "generate", "--members", "400",
                    "--seed", "7", "--out", str(folder / "d.csv"), "--events"],
                   check=True, capture_output=True)
    fx = folder / "d.fx.csv"
    fx.write_text("".join(line for line in fx.read_text(encoding="utf-8").splitlines(True)
                          if not line.startswith("USD,")), encoding="utf-8")
    events = folder / "d.events.csv"
    lines = events.read_text(encoding="utf-8").splitlines(True)
    fee = next(line for line in lines if ",fee," in line)  # an account with three fees
    other = next(line.split(",")[0] for line in reversed(lines)
                 if line.split(",")[0] != fee.split(",")[0])
    events.write_text("".join([*lines, fee, fee.replace(",fee,", ",fee,1", 1),
                               f"{other},,2020-01-01,bogus,,,\n"]), encoding="utf-8")
    return folder / "d.csv", folder / "d.events.csv", fx


@pytest.mark.parametrize("policy_path", SHIPPED, ids=[p.stem if p.suffix else p.name
                                                      for p in SHIPPED])
def test_every_shipped_policy_over_a_generated_dataset_is_identical_on_both_backends(
        policy_path: Path, generated: tuple[Path, Path, Path], tmp_path: Path) -> None:
    policy = load_policy(policy_path)
    columnar, scalar = both(policy, *generated, tmp_path)
    assert columnar.to_json() == scalar.to_json()
    assert columnar.to_csv() == scalar.to_csv()


def test_the_generated_dataset_has_the_history_cases_and_errors(
        generated: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """What the identity above covers: fees after the unclaimed date, transfers with and
    without what must accompany them, errors, accounts whose list has several items."""
    policy = load_policy(ROOT / "policies" / "fsra-2024-001")
    columnar, _ = both(policy, *generated, tmp_path)
    doc = json.loads(columnar.to_json())
    codes = Counter(f["code"] for a in doc["accounts"] for f in a["findings"])
    assert codes["fee-after-unclaimed"] > 0
    assert codes["transfer-incomplete"] > 0
    statuses = Counter(a["status"] for a in doc["accounts"])
    assert statuses["transferred"] > codes["transfer-incomplete"]  # some were complete
    messages = [e["message"] for e in doc["errors"]]
    assert any("no USD exchange rate" in m for m in messages)
    assert any("bogus" in m for m in messages)
    assert max(Counter((a["account_id"], f["code"]) for a in doc["accounts"]
                       for f in a["findings"]).values()) > 1


# -- the profile corpus as datasets ------------------------------------------------------------

#: the shipped policies' cases (the `unclaimed test` fixture policy is not columnar)
CASES = [(p, c) for p, c in corpus() if (ROOT / "policies") in p.parents
         and not load_case(c).get("facts", {}).get("claims")]


@pytest.mark.parametrize(("policy_path", "case_path"), CASES,
                         ids=[f"{policy_name(p)}/{c.stem}" for p, c in CASES])
def test_every_corpus_profile_as_a_dataset_is_identical_on_both_backends(
        policy_path: Path, case_path: Path, tmp_path: Path) -> None:
    case = load_case(case_path)
    policy = load_policy(policy_path.parent if policy_path.name == "policy.yaml"
                         else policy_path)
    files = write_case_dataset(case, tmp_path)
    if files is None or policy.facts_decl is not None:
        pytest.skip("the profile holds what the tables do not carry")
    fx = files[2]
    params = {k: str(v) for k, v in (case.get("params") or {}).items()}
    try:
        columnar, scalar = both(policy, tmp_path / "accounts.csv", tmp_path / "events.csv",
                                fx, tmp_path, case["as_of"], params)
    except FactsError:
        pytest.skip("the accounts table as a whole is refused")
    assert columnar.to_json() == scalar.to_json()


# -- each aggregation, errors and bounds on a small dataset ------------------------------------

PROBE = Path(__file__).parent / "columnar_events_probe.yaml"
PROBE_ACCOUNTS = ("member_id,account_id,currency,balance,opened\n"
                  "M1,M1-A,CAD,100.00,2001-04-01\n"
                  "M1,M1-B,CAD,50.00,2010-01-01\n"
                  "M2,M2-A,CAD,10.00,2015-06-01\n"
                  "M3,M3-A,CAD,10.00,2012-01-01\n")
PROBE_EVENTS = ("member_id,account_id,date,type,amount,mark,attachments\n"
                "M1,M1-A,2014-03-02,transaction,,,\n"
                "M1,M1-A,2024-05-05,fee,5.00,,\n"
                "M1,M1-A,2022-01-01,fee,7.50,,\n"
                "M1,M1-A,2022-01-01,interest,1.25,,\n"
                "M1,,2016-03-10,notice,,2y,\n"
                "M1,,2000-01-01,notice,,5y,\n"
                "M1,M1-B,2026-11-30,fee,3.00,,\n"
                "M3,M3-A,2021-05-01,fee,200.00,,\n"
                "M3,M3-A,2020-01-01,fee,150.00,,\n"
                "M3,M3-A,2027-01-01,fee,500.00,,\n")


def probe(tmp_path: Path, events: str = PROBE_EVENTS) -> tuple[dict[str, Any], Any, Any]:
    (tmp_path / "a.csv").write_text(PROBE_ACCOUNTS, encoding="utf-8")
    (tmp_path / "e.csv").write_text(events, encoding="utf-8")
    columnar, scalar = both(load_policy(PROBE), tmp_path / "a.csv", tmp_path / "e.csv", None,
                            tmp_path)
    doc = json.loads(columnar.to_json())
    return doc, columnar, scalar


def test_each_aggregation_and_list_over_events_as_the_scalar_backend(tmp_path: Path) -> None:
    doc, columnar, scalar = probe(tmp_path)
    assert columnar.to_json() == scalar.to_json()
    by_id = {a["account_id"]: a for a in doc["accounts"]}
    a, b, c = by_id["M1-A"], by_id["M1-B"], by_id["M2-A"]
    assert (a["fees"], a["fee_total"], a["largest_fee"], a["last_fee"]) == \
        (2, "12.50", "7.50", "2024-05-05")
    assert a["fee_days"] == ["2022-01-01 7.50", "2024-05-05 5.00"]  # in event order
    assert [f["amount"] for f in a["fee_list"]] == ["7.50", "5.00"]
    assert (a["first_type"], a["any_interest"], a["smallest_amount"]) == \
        ("transaction", True, "1.25")
    assert a["first_notice"] == "2000-01-01" and a["member_events"] == 6
    assert a["notices_after_opening"] == 1 and a["accounts_with_fees"] == 1
    # an event after the as-of day is not known yet; no events: what the builtins give
    assert (b["fees"], b["fee_total"], b["last_fee"], b["fee_list"]) == (0, "0.00", None, [])
    assert (c["first_type"], c["any_interest"], c["all_after_opening"]) == (None, False, True)


def test_the_first_failing_event_in_event_order_makes_the_error(tmp_path: Path) -> None:
    doc, _, _ = probe(tmp_path)
    (error,) = doc["errors"]
    assert error["account_id"] == "M3-A"
    assert error["message"].startswith("fee of 150.00 on 2020-01-01")  # not the 200.00


def test_a_list_longer_than_the_unrolled_items_is_refused_with_its_reason(
        tmp_path: Path) -> None:
    many = PROBE_EVENTS + "".join(f"M2,M2-A,2020-01-{1 + i % 28:02d},fee,1.00,,\n"
                                  for i in range(MAX_ITEMS + 1))
    with pytest.raises(PolicyError, match=f"up to {MAX_ITEMS + 1} items per account "
                                          f"\\(unrolled up to {MAX_ITEMS}\\)"):
        probe(tmp_path, many)
    # `auto` falls back to the table's full profiles (with their events), not to its
    # snapshot form
    (tmp_path / "e.csv").write_text(many, encoding="utf-8")
    table = events_table(tmp_path / "a.csv", tmp_path / "e.csv")
    auto = load_policy(PROBE).evaluate(table, as_of=AS_OF, backend="auto")
    facts = load_dataset(tmp_path / "a.csv", tmp_path / "e.csv").facts
    assert auto.to_json() == load_policy(PROBE).evaluate(facts, as_of=AS_OF,
                                                         backend="scalar").to_json()
    assert len(next(a for a in json.loads(auto.to_json())["accounts"]
                    if a["account_id"] == "M2-A")["fee_list"]) == MAX_ITEMS + 1
    doc, columnar, scalar = probe(tmp_path, PROBE_EVENTS + "".join(
        f"M2,M2-A,2020-02-{1 + i % 28:02d},fee,1.00,,\n" for i in range(MAX_ITEMS)))
    assert columnar.to_json() == scalar.to_json()
    assert len(next(a for a in doc["accounts"] if a["account_id"] == "M2-A")["fee_list"]) \
        == MAX_ITEMS


def test_declared_event_fields_and_types_as_the_scalar_backend(tmp_path: Path) -> None:
    """A policy's own event type and field (``renewal``, ``new_maturity``), read from the
    events table's declared column."""
    policy = load_policy(ROOT / "tests" / "declared" / "policy.yaml")
    header = ("member_id,account_id,currency,balance,opened,maturity,rate,product,"
              "bore_interest,region\n")
    (tmp_path / "a.csv").write_text(header + "M1,M1-A,CAD,1500.00,2001-04-01,2012-04-01,2.5%,"
                                    "term,true,north\nM2,M2-A,CAD,20.00,2005-01-10,,,,,\n"
                                    "M2,M2-B,CAD,30.00,2006-01-10,,0.01,,,\n", encoding="utf-8")
    (tmp_path / "e.csv").write_text(
        "member_id,account_id,date,type,new_maturity\nM1,M1-A,2010-03-02,transaction,\n"
        "M1,M1-A,2014-04-01,renewal,2019-04-01\nM1,M1-A,2013-04-01,renewal,2016-04-01\n"
        "M2,M2-B,2009-05-05,transaction,\n", encoding="utf-8")
    columnar, scalar = both(policy, tmp_path / "a.csv", tmp_path / "e.csv", None, tmp_path)
    assert columnar.to_json() == scalar.to_json()
    first = json.loads(columnar.to_json())["accounts"][0]
    assert (first["renewed_to"], first["clock_start"]) == ("2019-04-01", "2014-04-01")
