"""A dataset (accounts table + events table) read natively as a columnar Table with events:
converted back to per-member event lists it equals the scalar dataset reader's
(`load_dataset`) members, events (date, type, account, amount, mark, attachments, declared
fields, order), record errors and warnings (and so do the scalar facts made back from the
Table), for every corpus profile as a dataset, for
`unclaimed generate --events` datasets (CSV, Parquet, a hive folder) and for bad event rows
of every kind; a valid events table is read without the scalar builder."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from evaluator.declared import FactsDecl, build, standard
from evaluator.errors import Unsupported
from evaluator.facts import FactsBuilder, FactsError
from evaluator.facts.dataset import load_dataset
from evaluator.facts.eventtable import dataset_facts, read_dataset_table
from evaluator.facts.model import Facts
from evaluator.facts.table import Table
from evaluator.facts.tablecols import extra_column
from evaluator.policy import load_policy
from tests.support import ROOT, load_case, policy_name
from tests.test_dataset_events import ACCOUNT_KEYS, CASES, EVENT_KEYS, as_dataset, write_rows

DECLARED = ROOT / "tests" / "declared" / "policy.yaml"
ACCOUNTS = ("member_id,account_id,currency,balance,opened,last_transaction,last_response\n"
            "M1,M1-A,CAD,1520.00,2001-04-01,2013-02-02,2012-01-01\n"
            "M1,M1-B,CAD,10.00,2001-04-01,2013-02-02,2012-01-01\n"
            "M2,M2-A,USD,100.00,2005-01-01,,\n"
            "M3,M3-A,CAD,50.00,2010-01-01,,2011-01-01\n"
            "M4,M4-A,CAD,bad,2010-01-01,,\n"
            "M5,M5-A,CAD,5.00,2010-01-01,,\n"
            "M5,M5-B,CAD,-5.00,2010-01-01,,\n"
            "M6,M6-A,CAD,5.00,2010-01-01,,\n"
            "M6,M1-A,CAD,5.00,2010-01-01,,\n")
HEADER = "member_id,account_id,date,type,amount,mark,attachments\n"
EVENTS = (HEADER +
          "M1,M1-A,2014-03-02,transaction,,,\n"
          "M1,,2014-06-30,statement_ack,,,\n"
          "M1,,2016-03-10,notice,,2y,\n"
          "M1,,2012-01-01,response,,,\n"
          "M1,M1-A,2026-05-05,fee,5.00,,\n"
          "M1,M1-B,2026-05-05,interest,0.125,,\n"
          "M1,M1-A,2026-11-01,transfer,1520.00,, b ;a;a\n"
          "M1,M1-B,2026-11-01,transfer,10,,\n"
          "M2,M2-A,2025-01-01,transaction,7.00,9y,x\n"
          "M2,M2-A,2025-01-01,fee,-0.00,,\n"
          "M4,M4-A,2013-01-01,transaction,,,\n"
          "M5,M5-A,2013-01-01,transaction,,,\n"
          "M5,M5-B,2013-01-01,transaction,,,\n"
          "\n"
          ",,,,,,\n"
          "M6,M6-A,2013-01-01,transaction,,,\n")


def convert(table: Table) -> tuple[dict[str, list[str]], dict[str, list[tuple[Any, ...]]]]:
    """The Table's accounts and events per member, as the scalar Facts would hold them."""
    assert table.events is not None
    frame = table.frame
    orders = dict(frame.select("__member_order", "member_id").unique().iter_rows())
    accounts: dict[str, list[str]] = {}
    for member_id, account_id in frame.select("member_id", "account_id").iter_rows():
        accounts.setdefault(member_id, []).append(account_id)
    fields = [f.name for f in table.decl.extra_fields("event")] if table.decl else []
    events: dict[str, list[tuple[Any, ...]]] = {}
    seqs: dict[str, list[int]] = {}
    for row in table.events.sort("__member_order", "__seq").iter_rows(named=True):
        member_id = orders[row["__member_order"]]
        extra = []
        for name in fields:
            value = row[extra_column("event", name)]
            scale = table.extra_scales.get(extra_column("event", name))
            if scale is not None and value is not None:
                value = Decimal(value).scaleb(-scale)
            extra.append((name, tuple(value) if isinstance(value, list) else value))
        amount = row["amount"]
        events.setdefault(member_id, []).append((
            row["date"], row["type"], row["account_id"], row["mark"],
            None if amount is None else Decimal(amount).scaleb(-table.event_amount_scale),
            tuple(row["attachments"]), tuple(extra)))
        seqs.setdefault(member_id, []).append(row["__seq"])
    assert all(s == list(range(len(s))) for s in seqs.values())
    return accounts, events


def scalar(facts: Facts) -> tuple[dict[str, list[str]], dict[str, list[tuple[Any, ...]]]]:
    accounts = {m.member_id: [a.account_id for a in m.accounts] for m in facts.members}
    events = {m.member_id: [(e.date, e.type, e.account_id, e.mark, e.amount, e.attachments,
                             e.extra) for e in m.events] for m in facts.members if m.events}
    return accounts, events


def same(accounts: Path, events: Path, fx: Path | None = None,
         decl: FactsDecl | None = None) -> Table:
    """Read both ways; assert the Table says what the scalar reader says."""
    try:
        want = load_dataset(accounts, events, fx, decl=decl)
    except FactsError as exc:
        with pytest.raises(FactsError) as got:
            read_dataset_table(accounts, events, fx, decl=decl)
        assert str(got.value) == str(exc)
        return Table(pl.DataFrame(), {})
    if any(len(e.amount.as_tuple().digits) > 18 for m in want.facts.members
           for e in m.events if e.amount is not None):
        with pytest.raises(Unsupported, match="64-bit"):  # the columnar backend's limit
            read_dataset_table(accounts, events, fx, decl=decl)
        return Table(pl.DataFrame(), {})
    table, warnings = read_dataset_table(accounts, events, fx, decl=decl)
    assert convert(table) == scalar(want.facts)
    assert [e.to_json() for e in table.errors] == [e.to_json() for e in want.facts.errors]
    assert warnings == want.warnings
    assert table.unknown == want.facts.unknown
    assert len(table) == want.facts.record_count
    back = dataset_facts(table)  # and back to the scalar backend's facts
    assert scalar(back) == scalar(want.facts)
    assert back.errors == want.facts.errors
    for member in want.facts.members[-1:]:
        one = dataset_facts(table, [member.member_id])
        assert [(m.member_id, m.accounts, m.events, m.extra) for m in one.members] == [
            (member.member_id, member.accounts, member.events, member.extra)]
    assert table.events is not None
    schema = table.events.schema
    assert list(schema)[:8] == ["__member_order", "account_id", "__seq", "date", "type",
                                "mark", "amount", "attachments"]
    assert (schema["__member_order"], schema["account_id"], schema["__seq"], schema["date"],
            schema["type"], schema["mark"], schema["amount"], schema["attachments"]) == (
        table.frame.schema["__member_order"], pl.String, pl.UInt32, pl.Date, pl.String,
        pl.String, pl.Int64, pl.List(pl.String))
    return table


def write(folder: Path, accounts: str = ACCOUNTS, events: str = EVENTS,
          name: str = "events.csv") -> tuple[Path, Path]:
    (folder / "accounts.csv").write_text(accounts, encoding="utf-8")
    (folder / name).write_text(events, encoding="utf-8")
    return folder / "accounts.csv", folder / name


# -- the corpus ------------------------------------------------------------------------------

@functools.cache
def _decl(policy_path: Path) -> FactsDecl | None:
    policy = load_policy(policy_path.parent if policy_path.name == "policy.yaml"
                         else policy_path)
    return policy.facts_decl


@pytest.mark.parametrize(("policy_path", "case_path"), CASES,
                         ids=[f"{policy_name(p)}/{c.stem}" for p, c in CASES])
def test_every_corpus_profile_as_a_dataset_reads_as_the_scalar_reader_reads_it(
        policy_path: Path, case_path: Path, tmp_path: Path) -> None:
    case = load_case(case_path)
    tables = as_dataset(case.get("facts") or {})
    if tables is None:
        pytest.skip("the profile holds what the tables do not carry")
    accounts, events = tables
    write_rows(tmp_path / "accounts.csv", accounts, ["member_id", *ACCOUNT_KEYS])
    write_rows(tmp_path / "events.csv", events, ["member_id", *EVENT_KEYS, "attachments"])
    same(tmp_path / "accounts.csv", tmp_path / "events.csv", decl=_decl(policy_path))


# -- generated datasets ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The folder of a dataset written by `unclaimed generate --events`, per suffix."""
    folders = {}
    for suffix in (".csv", ".parquet"):
        folder = folders[suffix] = tmp_path_factory.mktemp(f"generated{suffix}")
        proc = subprocess.run(
            [sys.executable, "-m", "evaluator", "generate", "--members", "400", "--seed", "7",
             "--out", str(folder / f"portfolio{suffix}"), "--events", "--kinds"],
            capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
    return folders


def generate(generated: dict[str, Path], folder: Path, suffix: str) -> tuple[Path, Path]:
    """The generated dataset's accounts and events files, copied into ``folder``."""
    for path in generated[suffix].iterdir():
        shutil.copyfile(path, folder / path.name)
    return folder / f"portfolio{suffix}", folder / f"portfolio.events{suffix}"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_generated_datasets_read_as_the_scalar_reader_reads_them(
        suffix: str, generated: dict[str, Path], tmp_path: Path) -> None:
    accounts, events = generate(generated, tmp_path, suffix)
    table = same(accounts, events, tmp_path / "portfolio.fx.csv")
    assert table.events is not None
    assert {"fee", "transfer", "interest", "transaction"} <= set(
        table.events.get_column("type").to_list())
    assert table.events.filter(pl.col("attachments").list.len() > 1).height


def test_a_hive_partitioned_events_folder_reads_as_the_scalar_reader_reads_it(
        generated: dict[str, Path], tmp_path: Path) -> None:
    accounts, events = generate(generated, tmp_path, ".parquet")
    folder = tmp_path / "events_hive.parquet"
    pl.read_parquet(events).write_parquet(folder, partition_by="type")
    assert folder.is_dir()
    table = same(accounts, folder)
    assert table.events is not None and table.events.height


def test_a_valid_events_table_is_read_without_the_scalar_builder(
        generated: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    accounts, events = generate(generated, tmp_path, ".csv")
    calls = []
    original = FactsBuilder.event

    def counted(self: FactsBuilder, *args: Any) -> Any:
        calls.append(args)
        return original(self, *args)

    monkeypatch.setattr(FactsBuilder, "event", counted)
    table, _ = read_dataset_table(accounts, events)
    assert table.events is not None and table.events.height > 400
    assert calls == []
    # a bad row is read by it (and only that row)
    text = events.read_text(encoding="utf-8").splitlines()
    text.insert(5, text[5].replace(",20", ",x20", 1))
    events.write_text("\n".join(text) + "\n", encoding="utf-8")
    table, _ = read_dataset_table(accounts, events)
    assert len(calls) == 1 and "x20" in str(calls[0][0])


# -- rows of every kind ------------------------------------------------------------------------

def test_a_dataset_with_good_and_bad_rows(tmp_path: Path) -> None:
    table = same(*write(tmp_path))
    assert table.events is not None
    assert "M4" not in table.frame.get_column("member_id").to_list()


@pytest.mark.parametrize("row", [
    "M1,M1-A,20140302,transaction,,,",  # bad date
    "M1,M1-A,2014-02-30,transaction,,,",  # no such day
    "M1,M1-A,0000-01-01,transaction,,,",
    "M1,M1-A,2014-03-02,deposit,,,",  # unknown type
    "M1,M2-A,2014-03-02,transaction,,,",  # another member's account
    "M1,M4-A,2014-03-02,transaction,,,",  # an account in errors, of another member
    "M1,,2014-03-02,transaction,,,",  # an account event without its account
    "M1,M1-A,2014-03-02,fee,,,",  # no amount
    "M1,M1-A,2014-03-02,fee,-1.00,,",  # negative
    "M1,M1-A,2014-03-02,fee,1e3,,",  # not a decimal
    "M1,M1-A,2014-03-02,fee,12345678901234567890,,",  # more digits than 64 bits hold
    "M1,,2014-03-02,notice,,3y,",  # bad mark
    "M1,M1-A,2014-03-02,transfer,1.00,,a;;b",  # an empty attachment
    "M1,M1-A,2014-03-02,transaction,,",  # ragged: a cell missing
    "M1,M1-A,2014-03-02,transaction,,,,",  # ragged: a cell too many
    ",M1-A,2014-03-02,transaction,,,",  # no member_id
    "M9,M9-A,2014-03-02,transaction,,,",  # an unknown member
    "M1,ZZ,2014-03-02,transaction,,,",  # an unknown account
    "M5,M5-B,2014-03-02,transaction,,,",  # an account in errors, of a loaded member
    "M4,M4-A,2014-03-02,transaction,,,",  # a member whose accounts are all in errors
    "M6,M1-A,2014-03-02,transaction,,,",  # an id both M1's and (in errors) M6's
    "M1,M1-A,2014-03-02,transaction,,,",
    "M1,M1-A,\x1c2014-03-02\x1d,transaction,,,",  # Python strips these, polars does not
    "M1,M1-A,2014-03-02,\x1c,,,",
    'M1,M1-A,"2014-03-02",transfer,"1,520.00",,"a;\nb"',  # quoted cells, a line break
    "M1,M1-A,2014-03-02,transfer,1.00,,\u00a0a ;\u2003b",  # Unicode white space
    "M1,M1-A,\u0662\u0660\u0661\u0664-03-02,transaction,,,",  # digits of another script
])
def test_each_kind_of_row_reads_as_the_scalar_reader_reads_it(row: str,
                                                              tmp_path: Path) -> None:
    events = EVENTS.replace("M6,M6-A,2013", f"{row}\nM6,M6-A,2013", 1)
    same(*write(tmp_path, events=events))
    # and the same row twice, at the end (the count of bad rows and first-seen orders)
    same(*write(tmp_path, events=f"{events}{row}\n{row}\n"))


@pytest.mark.parametrize("events", [
    "",  # no header
    "member_id,date\nM1,2014-01-01\n",  # a column missing
    "member_id,date,type,date\nM1,2014-01-01,transaction,x\n",  # repeated
    "\ufeffmember_id,account_id,date,type\nM1,M1-A,2014-03-02,transaction\n",  # a BOM
    "member_id,account_id,date,type,,x\nM1,M1-A,2014-03-02,transaction,,\n",  # unnamed
    "member_id,account_id,date,type\r\nM1,M1-A,2014-03-02,transaction\r\n",
    "member_id,account_id,date,type\rM1,M1-A,2014-03-02,transaction\r",  # a lone \r
    'member_id,account_id,date,type\nM1,M1-A,2014-03-02,"transaction\n',  # never closed
    'member_id,account_id,date,type\nM1,M1-A,2014-03-02,trans"action\n',  # a quote inside
    "member_id,account_id,date,type,with\nM1,M1-A,2014-03-02,transfer,x\n",
    "member_id,account_id,date,type,amount,note,other\n"
    "M1,M1-A,2014-03-02,fee,1.00,,y\nM1,M1-A,2014-03-02,fee,1.00,n,\n",  # unknown columns
    "member_id,account_id,date,type\n\n\n  ,  , ,\nM1,M1-A,2014-03-02,transaction\n",
    "member_id,account_id,date,type\n",  # no rows
    "member_id,date,type\nM1,2014-03-02,statement_ack\nM2,2014-03-02,transaction\n",
])
def test_csv_tables_of_every_shape_read_as_the_scalar_reader_reads_them(
        events: str, tmp_path: Path) -> None:
    same(*write(tmp_path, events=events))


def test_parquet_tables_of_every_type_read_as_the_scalar_reader_reads_them(
        tmp_path: Path) -> None:
    accounts, _ = write(tmp_path)
    frame = pl.DataFrame([
        pl.Series("member_id", ["M1", "M1", "M2", None, "M1"]),
        pl.Series("account_id", ["M1-A", "M1-B", "M2-A", None, "M1-A"]),
        pl.Series("date", ["2014-03-02", "2015-01-01", "2016-01-01", None,
                           "2017-01-01"]).str.to_date(),
        pl.Series("type", ["fee", "interest", "transaction", None, "transfer"]).cast(
            pl.Categorical),
        pl.Series("amount", [Decimal("5.00"), Decimal("0.000000100"), None, None,
                             Decimal("1520.00")], pl.Decimal(20, 9)),
        pl.Series("attachments", [None, None, None, None, "b;a"]),
        pl.Series("count", [1, None, 3, None, 5], pl.Int32),
        pl.Series("flag", [True, None, False, None, None])])
    frame.write_parquet(tmp_path / "events.parquet")
    same(accounts, tmp_path / "events.parquet")
    frame.with_columns(pl.col("count").cast(pl.Float64)).write_parquet(
        tmp_path / "floats.parquet")
    same(accounts, tmp_path / "floats.parquet")
    frame.clear().write_parquet(tmp_path / "empty.parquet")
    table = same(accounts, tmp_path / "empty.parquet")
    assert table.events is not None and table.events.height == 4  # the last_* columns'


# -- declared facts ----------------------------------------------------------------------------

DECLARED_ACCOUNTS = ("member_id,account_id,currency,balance,opened,last_transaction,"
                     "maturity,rate,product,region,last_renewal\n"
                     "M1,M1-A,CAD,100.00,2001-01-01,2010-01-01,2020-01-01,2.5%,term,north,"
                     "2019-06-01\n"
                     "M1,M1-B,CAD,5.00,2001-01-01,,,,savings,north,\n"
                     "M2,M2-A,CAD,5.00,2001-01-01,2012-01-01,,0.0125,,south,2012-01-01\n")


@pytest.mark.parametrize("more", [
    "",
    "M1,M1-A,2021-01-01,renewal,,,,2031-01-01,\n",
    "M1,M1-A,2021-01-01,renewal,,,,,\n",  # the field its type carries is missing
    "M1,M1-A,2021-01-01,renewal,,,,2031-02-30,\n",
    "M1,M1-A,2021-01-01,transaction,,,,2031-01-01,\n",  # carried by another type
    "M2,,2021-01-01,renewal,,,,2031-01-01,\n",  # no account
    "M2,M2-A,2021-01-01,rollover,,,,2031-01-01,\n",  # an undeclared type
    "M2,M2-A,2021-01-01,fee,1.5,,,,x\n",  # an unknown column
])
def test_declared_event_fields_and_types_read_as_the_scalar_reader_reads_them(
        more: str, tmp_path: Path) -> None:
    decl = _decl(DECLARED)
    assert decl is not None and decl.extra_fields("event")
    events = ("member_id,account_id,date,type,amount,mark,attachments,new_maturity,other\n"
              "M1,M1-A,2019-06-01,renewal,,,,2029-06-01,\n"
              "M2,M2-A,2015-01-01,transaction,,,,,\n" + more)
    table = same(*write(tmp_path, accounts=DECLARED_ACCOUNTS, events=events), decl=decl)
    assert table.events is not None
    assert table.events.schema[extra_column("event", "new_maturity")] == pl.Date


def test_the_table_with_events_has_every_account_once(tmp_path: Path) -> None:
    table, _ = read_dataset_table(*write(tmp_path))
    assert table.frame.get_column("account_id").is_unique().all()
    assert table.events is not None
    members = set(table.frame.get_column("__member_order").to_list())
    assert set(table.events.get_column("__member_order").to_list()) <= members
    doc = json.dumps([e.to_json() for e in table.errors])
    assert "M4-A" in doc and "M5-B" in doc


def _typed_decl() -> FactsDecl:
    decl, problems = build({"event": {
        "fields": {"rate": {"type": "percent", "optional": True}, "fee": {"type": "money"},
                   "tags": {"type": "list of text", "optional": True},
                   "waived": {"type": "bool", "optional": True},
                   "n": {"type": "integer", "default": 1},
                   "grade": {"type": "text", "values": ["a", "b"], "optional": True}},
        "types": {"adjust": {"account": "required", "fields": ["fee", "rate"]}}}},
        standard(), "typed@1")
    assert problems == []
    return decl


@pytest.mark.parametrize("more", [
    "",
    "M1,M1-A,2021-01-01,adjust,,1.5,2.5%, a ; b ,TRUE,3,a\n",
    "M1,M1-A,2021-01-01,adjust,,0.125,0.0125,,false,,b\n",
    "M1,M1-A,2021-01-01,adjust,,-0,1%,,,,\n",  # valid, though not certainly so natively
    "M1,M1-A,2021-01-01,adjust,,1.123456789,12.5%,,,-4,\n",
    "M1,M1-A,2021-01-01,adjust,,,1%,,,,\n",  # the fee its type carries is missing
    "M1,M1-A,2021-01-01,adjust,,-1,1%,,,,\n",
    "M1,M1-A,2021-01-01,adjust,,1,x%,,,,\n",
    "M1,M1-A,2021-01-01,adjust,,1,1%,a;;b,,,\n",
    "M1,M1-A,2021-01-01,adjust,,1,1%,,maybe,,\n",
    "M1,M1-A,2021-01-01,adjust,,1,1%,,,x,\n",
    "M1,M1-A,2021-01-01,adjust,,1,1%,,,,c\n",
    "M1,M1-A,2021-01-01,transaction,,2.25,,,,,\n",  # a field another type carries
    "M1,M1-A,2021-01-01,fee,3.00,,,,,,\n",
])
def test_declared_event_fields_of_every_type_read_as_the_scalar_reader_reads_them(
        more: str, tmp_path: Path) -> None:
    events = ("member_id,account_id,date,type,amount,fee,rate,tags,waived,n,grade\n"
              "M1,M1-A,2020-01-01,adjust,,10.00,2%,x,true,2,a\n"
              "M2,M2-A,2015-01-01,transaction,,,,,,,\n" + more)
    table = same(*write(tmp_path, events=events), decl=_typed_decl())
    if table.events is not None and table.events.height:
        assert table.events.schema[extra_column("event", "fee")] == pl.Int64
        assert table.events.schema[extra_column("event", "tags")] == pl.List(pl.String)
        assert table.events.schema[extra_column("event", "waived")] == pl.Boolean
