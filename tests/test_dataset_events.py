"""Portfolio datasets (an accounts table plus an events table): the same determinations as
the full profiles they are made from, a bad event row a record error naming its member and
row, event rows of unknown members or accounts counted in a warning, and `evaluate
--events` on CSV, Parquet and a hive-partitioned Parquet folder."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from evaluator.cli import main
from evaluator.facts import FactsError, load_facts
from evaluator.facts.dataset import load_dataset
from evaluator.policy import load_policy
from tests.support import BASELINE, corpus, load_case, policy_name

ACCOUNT_KEYS = ("account_id", "currency", "balance", "opened", "kind")
EVENT_KEYS = ("account_id", "date", "type", "amount", "mark")
ACCOUNTS = ("member_id,account_id,currency,balance,opened\n"
            "M1,M1-A,CAD,1520.00,2001-04-01\n"
            "M2,M2-A,USD,100.00,2005-01-01\n"
            "M3,M3-A,CAD,50.00,2010-01-01\n")
EVENTS = ("member_id,account_id,date,type,amount,mark,attachments\n"
          "M1,M1-A,2014-03-02,transaction,,,\n"
          "M1,,2014-06-30,statement_ack,,,\n"
          "M1,,2016-03-10,notice,,2y,\n"
          "M1,,2016-04-01,response,,,\n"
          "M1,M1-A,2026-05-05,fee,5.00,,\n"
          "M1,M1-A,2026-11-01,transfer,1520.00,,\n"
          "M2,M2-A,2025-01-01,transaction,,,\n"
          "M3,M3-A,2013-01-01,transaction,,,\n")
FX = "currency,date,rate\nUSD,2026-09-30,1.3850\n"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write(folder: Path, accounts: str = ACCOUNTS, events: str = EVENTS) -> tuple[Path, Path]:
    (folder / "accounts.csv").write_text(accounts, encoding="utf-8")
    (folder / "events.csv").write_text(events, encoding="utf-8")
    (folder / "fx.csv").write_text(FX, encoding="utf-8")
    return folder / "accounts.csv", folder / "events.csv"


def evaluate(folder: Path, facts: Path, *more: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run("evaluate", "--policy", str(BASELINE), "--facts", str(facts),
                         "--fx", str(folder / "fx.csv"), "--as-of", "2026-11-21", *more)
    return code, (json.loads(out) if out else {}), err


# -- the profile corpus as datasets ----------------------------------------------------------

def as_dataset(facts: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, str]]] | None:
    """The accounts and events tables of a profile, or None when the profile holds what
    the tables do not carry (claims, declared fields, records that are not objects)."""
    if facts.get("claims"):
        return None
    accounts: list[dict[str, str]] = []
    events: list[dict[str, str]] = []
    for member in facts.get("members") or []:
        if not isinstance(member, dict) or set(member) - {"member_id", "accounts", "events"}:
            return None
        mid = member.get("member_id")
        if not isinstance(mid, str) or not mid.strip():
            return None
        for acc in member.get("accounts") or []:
            if not isinstance(acc, dict) or set(acc) - set(ACCOUNT_KEYS):
                return None
            accounts.append({"member_id": mid,
                             **{k: "" if acc.get(k) is None else str(acc[k])
                                for k in ACCOUNT_KEYS}})
        for ev in member.get("events") or []:
            if not isinstance(ev, dict):
                return None
            flags = [k for k, v in ev.items() if v is True]
            listed = ev.get("with") or []
            if set(ev) - {*EVENT_KEYS, "with", *flags} or not isinstance(listed, list) \
                    or any(";" in str(x) for x in [*flags, *listed]):
                return None
            events.append({"member_id": mid,
                           **{k: "" if ev.get(k) is None else str(ev[k]) for k in EVENT_KEYS},
                           "attachments": ";".join([*flags, *map(str, listed)])})
    if not accounts:
        return None
    return accounts, events


def write_rows(path: Path, rows: list[dict[str, str]], header: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, header)
        w.writeheader()
        w.writerows(rows)


def write_case_dataset(case: dict[str, Any], folder: Path, *, always_fx: bool = False
                       ) -> tuple[Path, Path, Path | None] | None:
    """A corpus case's profile written as a dataset in ``folder``: the accounts table, the
    events table and the FX file (None when the case has no rates, unless ``always_fx``);
    None when the profile holds what the tables do not carry."""
    tables = as_dataset(case.get("facts") or {})
    if tables is None:
        return None
    accounts, events = tables
    write_rows(folder / "accounts.csv", accounts, ["member_id", *ACCOUNT_KEYS])
    write_rows(folder / "events.csv", events, ["member_id", *EVENT_KEYS, "attachments"])
    rates = case["facts"].get("fx_rates") or []
    fx = None
    if rates or always_fx:
        fx = folder / "fx.csv"
        write_rows(fx, [{k: str(r[k]) for k in ("currency", "date", "rate")} for r in rates],
                   ["currency", "date", "rate"])
    return folder / "accounts.csv", folder / "events.csv", fx


CASES = [(p, c) for p, c in corpus() if not load_case(c).get("facts", {}).get("claims")]


@pytest.mark.parametrize(("policy_path", "case_path"), CASES,
                         ids=[f"{policy_name(p)}/{c.stem}" for p, c in CASES])
def test_every_corpus_profile_as_a_dataset_gives_the_profiles_determinations(
        policy_path: Path, case_path: Path, tmp_path: Path) -> None:
    case = load_case(case_path)
    policy = load_policy(policy_path.parent if policy_path.name == "policy.yaml"
                         else policy_path)
    files = write_case_dataset(case, tmp_path)
    if files is None or policy.facts_decl is not None:
        pytest.skip("the profile holds what the tables do not carry")
    fx = files[2]
    profile = tmp_path / "facts.json"
    profile.write_text(json.dumps(case["facts"]), encoding="utf-8")
    params = {k: str(v) for k, v in (case.get("params") or {}).items()}
    try:
        want = policy.evaluate(load_facts(profile, fx=fx, policy=policy), as_of=case["as_of"],
                               params=params, backend="scalar")
    except FactsError:  # a profile the JSON loader refuses as a whole
        pytest.skip("the profile as a whole is refused")
    dataset = load_dataset(tmp_path / "accounts.csv", tmp_path / "events.csv", fx,
                           decl=policy.facts_decl)
    got = policy.evaluate(dataset.facts, as_of=case["as_of"], params=params, backend="scalar")
    assert dataset.warnings == []
    assert [a.values for a in got.accounts] == [a.values for a in want.accounts]
    assert sorted((e.member_id or "", e.account_id or "") for e in got.errors) == \
        sorted((e.member_id or "", e.account_id or "") for e in want.errors)


def test_the_corpus_has_datasets_with_fees_and_transfers() -> None:
    kinds = set()
    for _, case_path in CASES:
        tables = as_dataset(load_case(case_path).get("facts") or {})
        if tables is not None:
            kinds |= {e["type"] for e in tables[1]}
    assert {"fee", "transfer", "notice", "interest"} <= kinds


# -- the command line ------------------------------------------------------------------------

def test_a_dataset_gives_the_contract_determinations(tmp_path: Path) -> None:
    accounts, events = write(tmp_path)
    code, doc, err = evaluate(tmp_path, accounts, "--events", str(events))
    assert code == 0, err
    by_id = {a["account_id"]: a for a in doc["accounts"]}
    assert by_id["M1-A"]["status"] == "transferred"
    assert by_id["M1-A"]["last_activity"] == "2016-04-01"
    assert "fee-after-unclaimed" in [f["code"] for f in by_id["M1-A"]["findings"]]
    assert by_id["M2-A"]["status"] == "active"
    assert by_id["M3-A"]["last_activity"] == "2013-01-01"


def test_a_bad_event_row_is_an_error_of_its_member_naming_the_row(tmp_path: Path) -> None:
    bad = EVENTS + "M3,M3-A,20130101,transaction,,,\nM2,M2-A,2024-01-01,fee,-1,,\n"
    accounts, events = write(tmp_path, events=bad)
    code, doc, err = evaluate(tmp_path, accounts, "--events", str(events))
    assert code == 1
    assert [a["account_id"] for a in doc["accounts"]] == ["M1-A"]
    errors = {e["account_id"]: e for e in doc["errors"]}
    assert set(errors) == {"M2-A", "M3-A"}
    assert errors["M3-A"]["location"] == "events.csv row 10"
    assert errors["M3-A"]["member_id"] == "M3"
    assert "20130101" in errors["M3-A"]["message"]
    assert errors["M2-A"]["location"] == "events.csv row 11"
    assert errors["M2-A"]["field"] == "amount"
    assert "Traceback" not in err


def test_event_rows_of_unknown_members_or_accounts_are_counted_not_dropped(
        tmp_path: Path) -> None:
    more = EVENTS + ("M9,M9-A,2013-01-01,transaction,,,\nM9,,2013-01-01,response,,,\n"
                     "M2,ZZ,2013-01-01,transaction,,,\n")
    accounts, events = write(tmp_path, events=more)
    code, doc, err = evaluate(tmp_path, accounts, "--events", str(events))
    assert code == 0, err
    assert len(doc["accounts"]) == 3
    assert "2 event rows of 1 member not in the accounts table (`M9`)" in err
    assert "1 event row of 1 account not in the accounts table (`ZZ`)" in err


def test_an_event_on_another_members_account_is_an_error(tmp_path: Path) -> None:
    accounts, events = write(tmp_path, events=EVENTS + "M2,M1-A,2020-01-01,transaction,,,\n")
    code, doc, _ = evaluate(tmp_path, accounts, "--events", str(events))
    assert code == 1
    assert [e["account_id"] for e in doc["errors"]] == ["M2-A"]
    assert "not an account of member `M2`" in doc["errors"][0]["message"]


def test_last_columns_of_the_accounts_table_count_with_the_events(tmp_path: Path) -> None:
    with_last = ACCOUNTS.replace("opened\n", "opened,last_transaction\n", 1).replace(
        "2010-01-01\n", "2010-01-01,2019-05-05\n").replace(
        "2001-04-01\n", "2001-04-01,\n").replace("2005-01-01\n", "2005-01-01,\n")
    accounts, events = write(tmp_path, accounts=with_last)
    code, doc, err = evaluate(tmp_path, accounts, "--events", str(events))
    assert code == 0, err
    by_id = {a["account_id"]: a for a in doc["accounts"]}
    assert by_id["M3-A"]["last_activity"] == "2019-05-05"


def test_parquet_files_and_a_hive_folder_give_the_csv_determinations(tmp_path: Path) -> None:
    accounts, events = write(tmp_path)
    _, want, _ = evaluate(tmp_path, accounts, "--events", str(events))
    pl.read_csv(accounts, infer_schema=False).write_parquet(tmp_path / "accounts.parquet")
    frame = pl.read_csv(events, infer_schema=False)
    frame.write_parquet(tmp_path / "events.parquet")
    frame.write_parquet(tmp_path / "events_hive.parquet", partition_by="type")
    assert (tmp_path / "events_hive.parquet").is_dir()
    for acc, ev in (("accounts.parquet", "events.parquet"),
                    ("accounts.csv", "events_hive.parquet")):
        code, got, err = evaluate(tmp_path, tmp_path / acc, "--events", str(tmp_path / ev))
        assert code == 0, err
        assert got["accounts"] == want["accounts"]


@pytest.mark.parametrize(("events", "says"), [
    ("member_id,date\nM1,2020-01-01\n", "missing column(s) type"),
    ("", "no header"),
    ("member_id,date,type\nM1,2020-01-01\n", "2 cells where the header has 3"),
])
def test_unusable_events_tables(tmp_path: Path, events: str, says: str) -> None:
    accounts, path = write(tmp_path, events=events)
    code, doc, err = evaluate(tmp_path, accounts, "--events", str(path))
    assert "Traceback" not in err
    if code == 2:
        assert says in err and len(err.strip().splitlines()) == 1
    else:  # a row that cannot be read: an error of its own, every member evaluated
        assert code == 1 and len(doc["accounts"]) == 3
        assert says in doc["errors"][0]["message"]


def test_what_events_cannot_be_combined_with_yet(tmp_path: Path) -> None:
    accounts, events = write(tmp_path)
    code, _, err = evaluate(tmp_path, accounts, "--events", str(events), "--record", "r.json")
    assert code == 2
    assert "error: --record cannot be used with --events" in err
    assert not (tmp_path / "r.json").exists()


def test_a_dataset_runs_columnar_and_falls_back_only_with_its_reason(tmp_path: Path) -> None:
    """auto and --backend columnar evaluate a dataset on the columnar backend (no note);
    an amount beyond exact 64-bit integers makes auto fall back to the scalar backend
    with a note naming it, and --backend columnar refuse in one line."""
    accounts, events = write(tmp_path)
    code, doc, err = evaluate(tmp_path, accounts, "--events", str(events))
    code_c, doc_c, err_c = evaluate(tmp_path, accounts, "--events", str(events),
                                    "--backend", "columnar")
    code_s, doc_s, _ = evaluate(tmp_path, accounts, "--events", str(events),
                                "--backend", "scalar")
    assert (code, code_c, code_s) == (0, 0, 0) and "note:" not in err + err_c
    assert doc == doc_c == doc_s and len(doc["accounts"]) == 3
    huge = EVENTS.replace("2026-05-05,fee,5.00", "2026-05-05,fee,123456789012345678901.00")
    accounts, events = write(tmp_path, events=huge)
    code, doc, err = evaluate(tmp_path, accounts, "--events", str(events))
    assert code == 0 and len(doc["accounts"]) == 3
    assert "note: evaluated by the scalar backend: the columnar reader cannot read" in err
    assert "64-bit" in err
    code, doc, err = evaluate(tmp_path, accounts, "--events", str(events),
                              "--backend", "columnar")
    assert code == 2 and doc == {} and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and "--backend columnar" in err and "64-bit" in err


def test_the_console_script_reads_a_dataset(tmp_path: Path) -> None:
    accounts, events = write(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "evaluator", "evaluate", "--policy", str(BASELINE),
         "--facts", str(accounts), "--events", str(events), "--fx", str(tmp_path / "fx.csv"),
         "--as-of", "2026-11-21", "--format", "csv"],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["account_id"] for r in rows] == ["M1-A", "M2-A", "M3-A"]


@pytest.mark.parametrize("count", [1, 2, 5])
def test_a_dataset_read_columnar_is_cut_into_its_members_profiles_range_by_range(
        tmp_path: Path, count: int) -> None:
    """The Dask engine's partitions of a dataset read into a columnar table: each part
    holds the full profiles of its range of members only (the whole dataset's are never
    built), and the parts in order are the scalar reader's members."""
    from evaluator.apps.datasets import part_of, read_dataset

    accounts, events = write(tmp_path)
    whole = load_dataset(accounts, events, tmp_path / "fx.csv").facts
    data = read_dataset(accounts, events, tmp_path / "fx.csv")
    assert data.table is not None
    parts = [part_of(data, k, count) for k in range(count)]
    assert data.member_ids() is not None  # still no full profiles of the whole
    assert all(p.table is not None for p in parts)
    assert [m for p in parts for m in p.facts.members] == list(whole.members)
    assert all(not p.facts.errors and not p.warnings for p in parts)
