"""Tests for evaluator.facts: JSON profiles, CSV snapshots, FX tables, record errors."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from evaluator.facts import (
    SNAPSHOT_COLUMNS,
    FactsError,
    facts_from_json,
    facts_from_snapshot,
    load_facts,
    parse_fx_csv,
)
from evaluator.model import Account, Claim, Event, Facts, Member, RecordError

CONTRACT_EXAMPLE = """{
  "fx_rates": [{"currency": "USD", "date": "2026-09-30", "rate": "1.3850"}],
  "members": [{
    "member_id": "M1",
    "accounts": [{"account_id": "M1-A", "currency": "CAD",
                  "balance": "1520.00", "opened": "2001-04-01"}],
    "events": [
      {"date": "2014-03-02", "type": "transaction", "account_id": "M1-A"},
      {"date": "2014-06-30", "type": "statement_ack"},
      {"date": "2016-03-10", "type": "notice", "mark": "2y"},
      {"date": "2016-04-01", "type": "response"},
      {"date": "2026-05-05", "type": "fee", "account_id": "M1-A", "amount": "5.00"},
      {"date": "2026-11-01", "type": "transfer", "account_id": "M1-A", "amount": "1520.00"}
    ]}],
  "claims": [{"claim_id": "C1", "account_id": "M1-A", "received": "2026-11-03",
              "complete": "2026-11-05", "decision": null, "decided": null,
              "reconsideration_complete": null}]
}
"""

HEADER = ",".join(SNAPSHOT_COLUMNS)


# --------------------------------------------------------------------------- helpers


def account(account_id: str, /, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "account_id": account_id,
        "currency": "CAD",
        "balance": "100.00",
        "opened": "2001-04-01",
    }
    out.update(fields)
    return {k: v for k, v in out.items() if v is not _DROP}


_DROP = object()


def member(member_id: Any, accounts: list[Any], events: list[Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"member_id": member_id, "accounts": accounts}
    if events is not None:
        out["events"] = events
    return out


def from_members(*members: Any, **top: Any) -> Facts:
    return facts_from_json({"members": list(members), **top})


def accounts_in(obj: dict[str, Any]) -> int:
    return sum(max(1, len(m.get("accounts") or [])) for m in obj["members"])


def assert_counts_add_up(obj: dict[str, Any], facts: Facts) -> None:
    """Every account (or account-less member) is either loaded or an error."""
    loaded = sum(len(m.accounts) for m in facts.members)
    account_errors = [
        e for e in facts.errors if e.claim_id is None and "claims[" not in (e.location or "")
    ]
    assert loaded + len(account_errors) == accounts_in(obj)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(text: str) -> Facts:
    return facts_from_snapshot(csv.DictReader(io.StringIO(text)))


def event_key(event: Event) -> tuple[Any, ...]:
    return (event.date, event.type, event.account_id or "", event.mark or "", event.amount or 0)


def normalised(m: Member) -> tuple[Any, ...]:
    return (
        m.member_id,
        tuple(sorted(m.accounts, key=lambda a: a.account_id)),
        tuple(sorted(m.events, key=event_key)),
    )


# --------------------------------------------------------------------------- contract example


def test_contract_example_loads_exactly(tmp_path: Path) -> None:
    path = write(tmp_path, "facts.json", CONTRACT_EXAMPLE)
    facts = load_facts(path)

    assert facts.errors == ()
    assert facts.source == str(path)
    assert facts.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert facts.fx_rates == {("USD", date(2026, 9, 30)): Decimal("1.3850")}
    assert facts.members == (
        Member(
            member_id="M1",
            accounts=(
                Account(
                    account_id="M1-A",
                    member_id="M1",
                    currency="CAD",
                    balance=Decimal("1520.00"),
                    opened=date(2001, 4, 1),
                    kind="deposit",
                ),
            ),
            events=(
                Event(date(2014, 3, 2), "transaction", account_id="M1-A"),
                Event(date(2014, 6, 30), "statement_ack"),
                Event(date(2016, 3, 10), "notice", mark="2y"),
                Event(date(2016, 4, 1), "response"),
                Event(date(2026, 5, 5), "fee", account_id="M1-A", amount=Decimal("5.00")),
                Event(date(2026, 11, 1), "transfer", account_id="M1-A", amount=Decimal("1520.00")),
            ),
        ),
    )
    assert facts.claims == (
        Claim(
            claim_id="C1",
            account_id="M1-A",
            received=date(2026, 11, 3),
            complete=date(2026, 11, 5),
        ),
    )
    assert str(facts.members[0].accounts[0].balance) == "1520.00"  # scale kept
    assert facts.record_count == 2


def test_source_is_path_as_given_and_defaults_in_memory(tmp_path: Path) -> None:
    path = write(tmp_path, "facts.json", CONTRACT_EXAMPLE)
    assert load_facts(str(path)).source == str(path)
    facts = facts_from_json(json.loads(CONTRACT_EXAMPLE))
    assert facts.source == "<memory>"
    assert facts.sha256 is None


def test_optional_sections_may_be_absent_or_empty() -> None:
    facts = facts_from_json({"members": [member("M1", [account("A")])]})
    assert facts.claims == ()
    assert facts.fx_rates == {}
    assert facts.members[0].events == ()
    facts = facts_from_json(
        {"members": [member("M1", [account("A")], [])], "claims": [], "fx_rates": []}
    )
    assert len(facts.members) == 1
    assert facts.errors == ()


def test_events_sorted_by_date_stably() -> None:
    events = [
        {"date": "2020-05-01", "type": "response"},
        {"date": "2019-01-01", "type": "transaction", "account_id": "A"},
        {"date": "2020-05-01", "type": "statement_ack"},
        {"date": "2020-05-01", "type": "notice", "mark": "5y"},
        {"date": "2018-01-01", "type": "interest", "account_id": "A", "amount": "0.10"},
    ]
    facts = from_members(member("M1", [account("A")], events))
    got = [(e.date.isoformat(), e.type) for e in facts.members[0].events]
    assert got == [
        ("2018-01-01", "interest"),
        ("2019-01-01", "transaction"),
        ("2020-05-01", "response"),
        ("2020-05-01", "statement_ack"),
        ("2020-05-01", "notice"),
    ]


def test_account_kind_defaults_to_deposit_and_can_be_set() -> None:
    facts = from_members(
        member("M1", [account("A"), account("B", kind="term"), account("C", kind=None)])
    )
    assert [a.kind for a in facts.members[0].accounts] == ["deposit", "term", "deposit"]


def test_transfer_attachments_from_true_keys_and_with_list() -> None:
    events = [
        {
            "date": "2026-11-01",
            "type": "transfer",
            "account_id": "A",
            "amount": "10.00",
            "material_information": True,
            "statement": True,
            "note": "not a flag",
            "cancelled": False,
            "with": ["records", "statement"],
        },
        {"date": "2026-11-02", "type": "transfer", "account_id": "A", "amount": "0"},
    ]
    facts = from_members(member("M1", [account("A")], events))
    transfer, bare = facts.members[0].events
    assert transfer.attachments == ("material_information", "records", "statement")
    assert bare.attachments == ()
    assert bare.amount == Decimal("0")


def test_unknown_keys_are_ignored() -> None:
    obj = {
        "comment": "top-level extras are fine",
        "members": [
            {
                "member_id": "M1",
                "name": "ignored",
                "accounts": [account("A", branch="12")],
                "events": [{"date": "2020-01-01", "type": "response", "channel": "phone"}],
            }
        ],
        "claims": [{"claim_id": "C1", "account_id": "A", "received": "2026-01-02", "agent": "x"}],
    }
    facts = facts_from_json(obj)
    assert facts.errors == ()
    assert facts.members[0].events == (Event(date(2020, 1, 1), "response"),)
    assert len(facts.claims) == 1


# --------------------------------------------------------------------------- numbers and dates


def test_json_numbers_and_strings_give_the_same_decimal(tmp_path: Path) -> None:
    as_strings = write(
        tmp_path,
        "strings.json",
        json.dumps(
            {
                "fx_rates": [{"currency": "USD", "date": "2026-09-30", "rate": "1.3850"}],
                "members": [
                    member(
                        "M1",
                        [account("A", balance="1520.10")],
                        [{"date": "2026-01-01", "type": "fee", "account_id": "A", "amount": "5"}],
                    )
                ],
            }
        ),
    )
    as_numbers = write(
        tmp_path,
        "numbers.json",
        '{"fx_rates": [{"currency": "USD", "date": "2026-09-30", "rate": 1.3850}],'
        ' "members": [{"member_id": "M1", "accounts": [{"account_id": "A", "currency": "CAD",'
        ' "balance": 1520.10, "opened": "2001-04-01"}], "events": [{"date": "2026-01-01",'
        ' "type": "fee", "account_id": "A", "amount": 5}]}]}',
    )
    a, b = load_facts(as_strings), load_facts(as_numbers)
    assert a.members == b.members
    assert a.fx_rates == b.fx_rates
    # exact text, not a binary float (1520.10 would be 1520.0999999999999 as a float)
    assert str(b.members[0].accounts[0].balance) == "1520.10"
    assert str(b.fx_rates[("USD", date(2026, 9, 30))]) == "1.3850"


def test_python_floats_go_through_repr() -> None:
    facts = from_members(member("M1", [account("A", balance=0.1)]))
    assert facts.members[0].accounts[0].balance == Decimal("0.1")
    assert isinstance(facts.members[0].accounts[0].balance, Decimal)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_rejected(tmp_path: Path, constant: str) -> None:
    text = (
        '{"members": [{"member_id": "M1", "accounts": ['
        f'{{"account_id": "A", "currency": "CAD", "balance": {constant}, "opened": "2001-04-01"}},'
        '{"account_id": "B", "currency": "CAD", "balance": "1", "opened": "2001-04-01"}]}]}'
    )
    facts = load_facts(write(tmp_path, "f.json", text))
    assert [a.account_id for a in facts.members[0].accounts] == ["B"]
    (error,) = facts.errors
    assert error.field == "balance"
    assert "not a finite number" in error.message


def test_nan_in_embedded_fx_rates_is_fatal(tmp_path: Path) -> None:
    text = '{"fx_rates": [{"currency": "USD", "date": "2026-09-30", "rate": NaN}], "members": []}'
    with pytest.raises(FactsError, match=r"fx_rates\[0\]: rate `NaN` is not a finite number"):
        load_facts(write(tmp_path, "f.json", text))


def test_leap_day_2024_accepted_2023_rejected() -> None:
    facts = from_members(
        member("M1", [account("A", opened="2024-02-29")]),
        member("M2", [account("B", opened="2023-02-29")]),
    )
    assert facts.members[0].accounts[0].opened == date(2024, 2, 29)
    assert [m.member_id for m in facts.members] == ["M1"]
    (error,) = facts.errors
    assert error.message == "opened `2023-02-29` is not a valid date (YYYY-MM-DD)"


@pytest.mark.parametrize(
    "text",
    ["2026-02-30", "2026-2-3", "2026-02-03T00:00:00", "2026-02-03 ", "20260203", "03/02/2026", ""],
)
def test_strict_iso_dates(text: str) -> None:
    facts = from_members(member("M1", [account("A", opened=text)]))
    assert facts.members == ()
    assert facts.errors[0].field == "opened"


# --------------------------------------------------------------------------- account errors


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"balance": "-3.00"}, "balance", "balance `-3.00` must not be negative"),
        ({"balance": -3}, "balance", "balance `-3` must not be negative"),
        ({"balance": "1,520.00"}, "balance", "balance `1,520.00` is not a decimal number"),
        ({"balance": "1e3"}, "balance", "balance `1e3` is not a decimal number"),
        ({"balance": True}, "balance", "balance must be a decimal number, not true"),
        ({"balance": _DROP}, "balance", "balance is missing"),
        (
            {"currency": "usd"},
            "currency",
            "currency `usd` is not a three-letter upper-case currency code",
        ),
        (
            {"currency": "CADX"},
            "currency",
            "currency `CADX` is not a three-letter upper-case currency code",
        ),
        (
            {"opened": "2026-02-30"},
            "opened",
            "opened `2026-02-30` is not a valid date (YYYY-MM-DD)",
        ),
        (
            {"opened": 20260203},
            "opened",
            "opened must be a date string (YYYY-MM-DD), not the number 20260203",
        ),
        ({"kind": ""}, "kind", "kind is empty"),
        ({"account_id": 7}, "account_id", "account_id must be a string, not the number 7"),
        ({"account_id": ""}, "account_id", "account_id is empty"),
        ({"account_id": _DROP}, "account_id", "account_id is missing"),
    ],
)
def test_bad_account_field_drops_only_that_account(
    fields: dict[str, Any], field: str, message: str
) -> None:
    obj = {
        "members": [member("M1", [account("GOOD-1"), account("BAD", **fields), account("GOOD-2")])]
    }
    facts = facts_from_json(obj)
    assert [a.account_id for a in facts.members[0].accounts] == ["GOOD-1", "GOOD-2"]
    (error,) = facts.errors
    assert error.message == message
    assert error.field == field
    assert error.member_id == "M1"
    assert error.location == "members[0].accounts[1]"
    assert error.account_id == (fields.get("account_id", "BAD") if field != "account_id" else None)
    assert_counts_add_up(obj, facts)


def test_account_with_several_bad_fields_is_one_error_naming_all() -> None:
    facts = from_members(member("M1", [account("A", currency="cad", balance="x")]))
    (error,) = facts.errors
    assert error.field == "currency"
    assert "currency `cad`" in error.message
    assert "balance `x`" in error.message


def test_events_of_a_rejected_account_are_dropped_with_it() -> None:
    events = [
        {"date": "2020-01-01", "type": "transaction", "account_id": "BAD"},
        {"date": "2020-01-02", "type": "transaction", "account_id": "A"},
        {"date": "2020-01-03", "type": "response"},
    ]
    facts = from_members(member("M1", [account("A"), account("BAD", balance="-1")], events))
    assert [(e.type, e.account_id) for e in facts.members[0].events] == [
        ("transaction", "A"),
        ("response", None),
    ]
    assert [e.account_id for e in facts.errors] == ["BAD"]


def test_member_with_all_accounts_bad_is_dropped_without_extra_error() -> None:
    obj = {"members": [member("M1", [account("A", balance="-1"), account("B", currency="x")])]}
    facts = facts_from_json(obj)
    assert facts.members == ()
    assert [e.account_id for e in facts.errors] == ["A", "B"]
    assert_counts_add_up(obj, facts)


def test_account_not_an_object() -> None:
    facts = from_members(member("M1", [account("A"), "B"]))
    (error,) = facts.errors
    assert error.location == "members[0].accounts[1]"
    assert error.message == "account must be an object, not `B`"


# --------------------------------------------------------------------------- event errors


@pytest.mark.parametrize(
    ("event", "field", "fragment"),
    [
        (
            {"date": "2026-02-30", "type": "response"},
            "date",
            "date `2026-02-30` is not a valid date",
        ),
        ({"type": "response"}, "date", "date is missing"),
        ({"date": "2020-01-01", "type": "phone_call"}, "type", "type `phone_call` is not one of"),
        (
            {"date": "2020-01-01", "type": "transaction", "account_id": "ZZ"},
            "account_id",
            "account_id `ZZ` is not an account of member `M1`",
        ),
        ({"date": "2020-01-01", "type": "transaction"}, "account_id", "account_id is missing"),
        ({"date": "2020-01-01", "type": "fee", "account_id": "A"}, "amount", "amount is missing"),
        (
            {"date": "2020-01-01", "type": "interest", "account_id": "A", "amount": "-0.01"},
            "amount",
            "amount `-0.01` must not be negative",
        ),
        ({"date": "2020-01-01", "type": "notice"}, "mark", "mark is missing"),
        ({"date": "2020-01-01", "type": "notice", "mark": "3y"}, "mark", "mark `3y` is not one of"),
        (
            {
                "date": "2020-01-01",
                "type": "transfer",
                "account_id": "A",
                "amount": "1",
                "with": "x",
            },
            "with",
            "with must be a list of strings",
        ),
        (
            {"date": "2020-01-01", "type": "statement_ack", "account_id": "ZZ"},
            "account_id",
            "account_id `ZZ` is not an account of member `M1`",
        ),
    ],
)
def test_bad_event_drops_whole_member_with_one_error_per_account(
    event: dict[str, Any], field: str, fragment: str
) -> None:
    good_events = [{"date": "2019-01-01", "type": "response"}]
    obj = {
        "members": [
            member("M0", [account("M0-A")], [{"date": "2019-01-01", "type": "response"}]),
            member("M1", [account("A"), account("B")], [*good_events, event]),
        ]
    }
    facts = facts_from_json(obj)
    assert [m.member_id for m in facts.members] == ["M0"]
    assert [(e.member_id, e.account_id) for e in facts.errors] == [("M1", "A"), ("M1", "B")]
    for error in facts.errors:
        assert error.location == "members[1].events[1]"
        assert error.field == field
        assert error.message.startswith("events[1]: ")
        assert fragment in error.message
        assert error.message.endswith("a bad event makes the whole member unusable")
    assert_counts_add_up(obj, facts)


def test_bad_event_and_bad_account_in_one_member() -> None:
    obj = {
        "members": [
            member(
                "M1",
                [account("A"), account("B", balance="-5")],
                [
                    {"date": "2020-01-01", "type": "nope"},
                    {"date": "2020-01-01", "type": "fee", "account_id": "A"},
                ],
            )
        ]
    }
    facts = facts_from_json(obj)
    assert facts.members == ()
    first, second = facts.errors
    assert (first.account_id, first.location) == ("A", "members[0].events[0]")
    assert "(and 1 more bad events)" in first.message
    assert (second.account_id, second.field) == ("B", "balance")
    assert_counts_add_up(obj, facts)


def test_event_naming_an_int_account_id_is_an_error() -> None:
    facts = from_members(
        member(
            "M1", [account("1")], [{"date": "2020-01-01", "type": "transaction", "account_id": 1}]
        )
    )
    assert facts.members == ()
    assert "account_id must be a string, not the number 1" in facts.errors[0].message


def test_events_not_a_list_makes_member_unusable() -> None:
    facts = from_members(member("M1", [account("A")], {"date": "2020-01-01"}))  # type: ignore[arg-type]
    (error,) = facts.errors
    assert (error.account_id, error.field, error.location) == ("A", "events", "members[0]")


# --------------------------------------------------------------------------- member errors


def test_member_without_accounts() -> None:
    obj = {
        "members": [
            member("M1", []),
            {"member_id": "M2"},
            member("M3", [account("A")]),
        ]
    }
    facts = facts_from_json(obj)
    assert [m.member_id for m in facts.members] == ["M3"]
    assert [(e.member_id, e.account_id, e.message) for e in facts.errors] == [
        ("M1", None, "member has no accounts"),
        ("M2", None, "member has no accounts"),
    ]
    assert facts.errors[0].location == "members[0]"
    assert_counts_add_up(obj, facts)
    assert facts.record_count == 3


@pytest.mark.parametrize(
    ("member_id", "message"),
    [
        (_DROP, "member_id is missing"),
        (None, "member_id is missing"),
        ("", "member_id is empty"),
        (12, "member_id must be a string, not the number 12"),
    ],
)
def test_member_without_usable_id(member_id: Any, message: str) -> None:
    bad = member(member_id, [account("X1"), account("X2", balance="-1")])
    if member_id is _DROP:
        del bad["member_id"]
    obj = {"members": [member("M1", [account("A")]), bad]}
    facts = facts_from_json(obj)
    assert [m.member_id for m in facts.members] == ["M1"]
    first, second = facts.errors
    assert (first.member_id, first.account_id, first.location) == (None, "X1", "members[1]")
    assert first.message == message
    assert first.field == "member_id"
    assert (second.member_id, second.account_id, second.field) == (None, "X2", "balance")
    assert_counts_add_up(obj, facts)


def test_member_not_an_object() -> None:
    facts = from_members(["M1"], member("M2", [account("A")]))
    (error,) = facts.errors
    assert (error.member_id, error.location) == (None, "members[0]")
    assert [m.member_id for m in facts.members] == ["M2"]


def test_duplicate_member_id_is_an_error_for_the_second() -> None:
    obj = {"members": [member("M1", [account("A")]), member("M1", [account("B")])]}
    facts = facts_from_json(obj)
    assert [a.account_id for m in facts.members for a in m.accounts] == ["A"]
    (error,) = facts.errors
    assert error.account_id == "B"
    assert error.message == "duplicate member id `M1`, first seen at members[0]"
    assert_counts_add_up(obj, facts)


def test_duplicate_account_id_across_input() -> None:
    obj = {
        "members": [
            member("M0", [account("X"), account("A")]),
            member("M1", [account("A"), account("Y")]),
            member("M2", [account("A")]),
        ]
    }
    facts = facts_from_json(obj)
    assert [[a.account_id for a in m.accounts] for m in facts.members] == [["X", "A"], ["Y"]]
    assert [(e.member_id, e.account_id, e.location) for e in facts.errors] == [
        ("M1", "A", "members[1].accounts[0]"),
        ("M2", "A", "members[2].accounts[0]"),
    ]
    for error in facts.errors:
        assert error.message == "duplicate account id `A`, first seen at members[0].accounts[1]"
        assert error.field == "account_id"
    assert_counts_add_up(obj, facts)


# --------------------------------------------------------------------------- claims


def claim(claim_id: Any = "C1", **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"claim_id": claim_id, "account_id": "A", "received": "2026-11-03"}
    out.update(fields)
    return out


def test_full_claim_loads() -> None:
    facts = from_members(
        member("M1", [account("A")]),
        claims=[
            claim(
                complete="2026-11-05",
                decision="denied",
                decided="2026-12-01",
                reconsideration_received="2026-12-10",
                reconsideration_complete="2026-12-11",
                reconsideration_decision="reversed",
                reconsideration_decided="2027-01-15",
            )
        ],
    )
    assert facts.claims == (
        Claim(
            claim_id="C1",
            account_id="A",
            received=date(2026, 11, 3),
            complete=date(2026, 11, 5),
            decision="denied",
            decided=date(2026, 12, 1),
            reconsideration_received=date(2026, 12, 10),
            reconsideration_complete=date(2026, 12, 11),
            reconsideration_decision="reversed",
            reconsideration_decided=date(2027, 1, 15),
        ),
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"decision": "maybe"}, "decision", "decision `maybe` is not one of"),
        ({"decision": "reversed"}, "decision", "decision `reversed` is not one of"),
        ({"reconsideration_decision": "approved"}, "reconsideration_decision", "is not one of"),
        ({"received": None}, "received", "received is missing"),
        ({"received": "2026-13-01"}, "received", "received `2026-13-01` is not a valid date"),
        ({"complete": "soon"}, "complete", "complete `soon` is not a valid date"),
        ({"account_id": 5}, "account_id", "account_id must be a string"),
    ],
)
def test_bad_claim_is_a_record_error(fields: dict[str, Any], field: str, message: str) -> None:
    facts = from_members(
        member("M1", [account("A")]), claims=[claim("C0"), claim("C1", **fields), claim("C2")]
    )
    assert [c.claim_id for c in facts.claims] == ["C0", "C2"]
    (error,) = facts.errors
    assert error.claim_id == "C1"
    assert error.field == field
    assert error.location == "claims[1]"
    assert message in error.message
    assert error.to_json()["claim_id"] == "C1"
    assert len(facts.members) == 1
    assert facts.record_count == 4


def test_claim_ids_must_be_strings_and_unique() -> None:
    facts = from_members(
        member("M1", [account("A")]), claims=[claim("C1"), claim(1), claim("C1"), "C9"]
    )
    assert [c.claim_id for c in facts.claims] == ["C1"]
    int_id, duplicate, not_object = facts.errors
    assert (int_id.claim_id, int_id.location) == (None, "claims[1]")
    assert int_id.message == "claim_id must be a string, not the number 1"
    assert duplicate.message == "duplicate claim id `C1`, first seen at claims[0]"
    assert not_object.location == "claims[3]"


# --------------------------------------------------------------------------- whole-input errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(FactsError) as info:
        load_facts(path)
    assert str(info.value) == f"{path}: cannot read facts file: No such file or directory"


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "f.json", '{\n  "members": [\n    {"member_id": "M1",,}\n  ]\n}\n')
    with pytest.raises(FactsError) as info:
        load_facts(path)
    assert str(info.value) == (
        f"{path}: malformed JSON at line 3, column 24: Expecting property name enclosed in double quotes"
    )
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "<memory>: the top level must be an object, not a list"),
        ({}, "<memory>: the top-level `members` list is missing"),
        ({"members": {"M1": {}}}, "<memory>: `members` must be a list, not an object"),
        ({"members": [], "claims": "C1"}, "<memory>: `claims` must be a list, not `C1`"),
        ({"members": [], "fx_rates": {}}, "<memory>: `fx_rates` must be a list, not an object"),
        (
            {"members": [], "fx_rates": ["USD"]},
            "<memory>: fx_rates[0] must be an object, not `USD`",
        ),
        (
            {"members": [], "fx_rates": [{"currency": "usd", "date": "2026-09-30", "rate": "0"}]},
            "<memory>: fx_rates[0]: currency `usd` is not a three-letter upper-case currency code;"
            " rate `0` must be positive",
        ),
        (
            {
                "members": [],
                "fx_rates": [
                    {"currency": "USD", "date": "2026-09-30", "rate": "1.3850"},
                    {"currency": "USD", "date": "2026-09-30", "rate": "1.39"},
                ],
            },
            "<memory>: fx_rates[1]: conflicting FX rate for USD on 2026-09-30: 1.39 here,"
            " 1.3850 at <memory>: fx_rates[0]",
        ),
    ],
)
def test_whole_input_errors(obj: object, message: str) -> None:
    with pytest.raises(FactsError) as info:
        facts_from_json(obj)
    assert str(info.value) == message


def test_same_fx_rate_twice_is_fine() -> None:
    facts = facts_from_json(
        {
            "members": [],
            "fx_rates": [
                {"currency": "USD", "date": "2026-09-30", "rate": "1.385"},
                {"currency": "USD", "date": "2026-09-30", "rate": 1.3850},
            ],
        }
    )
    assert facts.fx_rates == {("USD", date(2026, 9, 30)): Decimal("1.385")}


def test_unsupported_extensions(tmp_path: Path) -> None:
    # a Parquet snapshot is read (tests/faults/test_reads.py); a missing one is named
    with pytest.raises(FactsError, match=r"portfolio\.parquet: cannot read facts file"):
        load_facts(tmp_path / "portfolio.parquet")
    with pytest.raises(FactsError, match=r"expected \.json, \.csv or \.parquet"):
        load_facts(write(tmp_path, "facts.txt", "{}"))


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(b'{"members": ["\xff"]}')
    with pytest.raises(FactsError, match="not UTF-8 text"):
        load_facts(path)


# --------------------------------------------------------------------------- FX files


def test_parse_fx_csv(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "fx.csv",
        "currency,date,rate,comment\nUSD,2026-09-30,1.3850,x\n EUR , 2026-09-30 , 1.5 ,\n\n",
    )
    assert parse_fx_csv(path) == {
        ("USD", date(2026, 9, 30)): Decimal("1.3850"),
        ("EUR", date(2026, 9, 30)): Decimal("1.5"),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("currency,rate\nUSD,1.3\n", "line 1: header lacks required column(s) date"),
        ("", "empty file; expected a header line with currency, date, rate"),
        (
            "currency,date,rate\nUSD,2026-09-31,1.3\n",
            "line 2: date `2026-09-31` is not a valid date",
        ),
        ("currency,date,rate\nUSD,2026-09-30,-1\n", "line 2: rate `-1` must be positive"),
        ("currency,date,rate\nUSD,2026-09-30,\n", "line 2: rate is missing"),
        (
            "currency,date,rate\nUSD,2026-09-30,1.3\nCAD,2026-09-30,1\nUSD,2026-09-30,1.4\n",
            "line 4: conflicting FX rate for USD on 2026-09-30: 1.4 here, 1.3 at",
        ),
    ],
)
def test_bad_fx_csv(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "fx.csv", text)
    with pytest.raises(FactsError) as info:
        parse_fx_csv(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_fx_file_unreadable(tmp_path: Path) -> None:
    facts = write(tmp_path, "facts.json", CONTRACT_EXAMPLE)
    with pytest.raises(FactsError, match="cannot read FX file"):
        load_facts(facts, fx=tmp_path / "missing.csv")


def test_fx_file_merges_with_embedded_rates(tmp_path: Path) -> None:
    facts_path = write(tmp_path, "facts.json", CONTRACT_EXAMPLE)
    fx = write(tmp_path, "fx.csv", "currency,date,rate\nUSD,2026-09-30,1.385\nEUR,2026-09-30,1.6\n")
    facts = load_facts(facts_path, fx=fx)
    assert facts.fx_rates == {
        ("USD", date(2026, 9, 30)): Decimal("1.3850"),
        ("EUR", date(2026, 9, 30)): Decimal("1.6"),
    }
    assert facts.sha256 == hashlib.sha256(facts_path.read_bytes()).hexdigest()


def test_fx_file_conflicting_with_embedded_rate(tmp_path: Path) -> None:
    facts_path = write(tmp_path, "facts.json", CONTRACT_EXAMPLE)
    fx = write(tmp_path, "fx.csv", "currency,date,rate\nUSD,2026-09-30,1.39\n")
    with pytest.raises(FactsError) as info:
        load_facts(facts_path, fx=fx)
    assert str(info.value) == (
        f"{fx}: line 2: conflicting FX rate for USD on 2026-09-30: 1.39 here,"
        f" 1.3850 at {facts_path}: fx_rates[0]"
    )


def test_snapshot_with_fx_rows_in_memory() -> None:
    facts = facts_from_snapshot(
        [], fx_rows=[{"currency": "USD", "date": "2026-09-30", "rate": "1.3"}]
    )
    assert facts.fx_rates == {("USD", date(2026, 9, 30)): Decimal("1.3")}
    with pytest.raises(FactsError, match=r"<memory>: fx row 2: rate `x` is not a decimal number"):
        facts_from_snapshot([], fx_rows=[{"currency": "USD", "date": "2026-09-30", "rate": "x"}])


# --------------------------------------------------------------------------- CSV snapshots


def test_snapshot_csv_file_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "portfolio.csv",
        HEADER + ",branch\n"
        "M1,M1-A,CAD,1520.00,2001-04-01,2014-03-02,2014-06-30,2016-04-01,north\n"
        "M2,M2-A,USD,10,2010-01-01,,,,south\n",
    )
    facts = load_facts(path)
    assert facts.errors == ()
    assert facts.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    m1, m2 = facts.members
    assert m1 == Member(
        "M1",
        (Account("M1-A", "M1", "CAD", Decimal("1520.00"), date(2001, 4, 1)),),
        (
            Event(date(2014, 3, 2), "transaction", "M1-A"),
            Event(date(2014, 6, 30), "statement_ack"),
            Event(date(2016, 4, 1), "response"),
        ),
    )
    assert m2.accounts == (Account("M2-A", "M2", "USD", Decimal("10"), date(2010, 1, 1)),)
    assert m2.events == ()


def test_snapshot_groups_non_adjacent_rows_in_first_appearance_order() -> None:
    facts = snapshot(
        HEADER + "\n"
        "M2,B1,CAD,1,2001-01-01,2010-01-01,,\n"
        "M1,A1,CAD,1,2001-01-01,2011-01-01,,\n"
        "M2,B2,CAD,2,2001-01-01,2009-01-01,,\n"
    )
    assert [(m.member_id, [a.account_id for a in m.accounts]) for m in facts.members] == [
        ("M2", ["B1", "B2"]),
        ("M1", ["A1"]),
    ]
    # sorted by date, not by row
    assert [(e.date.year, e.account_id) for e in facts.members[0].events] == [
        (2009, "B2"),
        (2010, "B1"),
    ]


def test_snapshot_member_level_columns_repeated_and_differing() -> None:
    facts = snapshot(
        HEADER + "\n"
        "M1,A,CAD,1,2001-01-01,2010-01-01,2015-06-30,2016-04-01\n"
        "M1,B,CAD,1,2001-01-01,2012-01-01,2015-06-30,2018-02-01\n"
        "M1,C,CAD,1,2001-01-01,,,2016-04-01\n"
    )
    (m1,) = facts.members
    assert m1.events == (
        Event(date(2010, 1, 1), "transaction", "A"),
        Event(date(2012, 1, 1), "transaction", "B"),
        Event(date(2015, 6, 30), "statement_ack"),
        Event(date(2016, 4, 1), "response"),
        Event(date(2018, 2, 1), "response"),
    )


def test_snapshot_empty_optional_columns_and_blank_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.csv",
        HEADER + "\n\nM1,A,CAD, 5.00 ,2001-01-01, , ,\n,,,,,,,\nM1,B,CAD,6,2001-01-01,,,\n"
        "M1,C,CAD,7,2001-01-01\n",
    )
    facts = load_facts(path)
    (m1,) = facts.members
    assert [a.balance for a in m1.accounts] == [Decimal("5.00"), Decimal("6")]
    assert m1.events == ()
    # a row with fewer cells than the header is a broken record, not padded
    assert [(e.member_id, e.account_id, e.field, e.location) for e in facts.errors] == [
        ("M1", "C", "*", "row 6")]


def test_snapshot_bad_rows_are_record_errors_others_load(tmp_path: Path) -> None:
    rows = [
        "M1,A,CAD,1.00,2001-01-01,2010-01-01,,",  # line 2
        "M1,B,CAD,-1.00,2001-01-01,2010-01-01,,",  # line 3: negative balance
        "M2,C,cad,1.00,2001-01-01,,,",  # line 4: bad currency
        ",D,CAD,1.00,2001-01-01,,,",  # line 5: no member id
        "M3,E,CAD,1.00,2001-01-01,,2023-02-29,",  # line 6: bad member-level date
        "M1,A,CAD,1.00,2001-01-01,,,",  # line 7: duplicate account
        "M4,F,CAD,1.00,2001-01-01,,,2024-02-29",  # line 8: fine (leap day)
        'M4,"",CAD,1.00,2001-01-01,,,',  # line 9: empty account id
    ]
    path = write(tmp_path, "p.csv", HEADER + "\n" + "\n".join(rows) + "\n")
    facts = load_facts(path)
    assert [(m.member_id, [a.account_id for a in m.accounts]) for m in facts.members] == [
        ("M1", ["A"]),
        ("M4", ["F"]),
    ]
    got = [(e.member_id, e.account_id, e.field, e.location) for e in facts.errors]
    assert got == [
        ("M1", "B", "balance", "row 3"),
        ("M2", "C", "currency", "row 4"),
        (None, "D", "member_id", "row 5"),
        ("M3", "E", "last_statement_ack", "row 6"),
        ("M1", "A", "account_id", "row 7"),
        ("M4", None, "account_id", "row 9"),
    ]
    messages = [e.message for e in facts.errors]
    assert messages[0] == "balance `-1.00` must not be negative"
    assert messages[3] == "last_statement_ack `2023-02-29` is not a valid date (YYYY-MM-DD)"
    assert messages[4] == "duplicate account id `A`, first seen at row 2"
    assert len(rows) == sum(len(m.accounts) for m in facts.members) + len(facts.errors)
    assert facts.members[1].events == (Event(date(2024, 2, 29), "response"),)


def test_snapshot_row_numbers_follow_first_row() -> None:
    rows = [
        {c: "" for c in SNAPSHOT_COLUMNS} | {"member_id": "M1", "account_id": "A"},
    ]
    facts = facts_from_snapshot(rows, first_row=10)
    assert facts.errors[0].location == "row 10"
    assert facts.errors[0].message == "currency is missing; balance is missing; opened is missing"


def test_snapshot_missing_header_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "member_id,account_id,currency,balance\nM1,A,CAD,1\n")
    with pytest.raises(FactsError) as info:
        load_facts(path)
    assert str(info.value) == (
        f"{path}: line 1: header lacks required column(s) opened, last_transaction,"
        " last_statement_ack, last_response"
    )
    with pytest.raises(FactsError, match=r"missing column.*opened"):
        snapshot("member_id,account_id,currency,balance\nM1,A,CAD,1\n")


def test_snapshot_empty_file_and_header_only(tmp_path: Path) -> None:
    with pytest.raises(FactsError, match="empty file"):
        load_facts(write(tmp_path, "empty.csv", ""))
    facts = load_facts(write(tmp_path, "header.csv", HEADER + "\n"))
    assert facts.members == ()
    assert facts.errors == ()


def test_snapshot_kind_column_is_optional() -> None:
    facts = snapshot(HEADER + ",kind\nM1,A,CAD,1,2001-01-01,,,,term\nM1,B,CAD,1,2001-01-01,,,,\n")
    assert [a.kind for a in facts.members[0].accounts] == ["term", "deposit"]


def test_snapshot_file_and_rows_agree(tmp_path: Path) -> None:
    text = (
        HEADER + "\n"
        "M1,A,CAD,1.50,2001-01-01,2010-01-01,2011-01-01,\n"
        "M1,B,CAD,x,2001-01-01,,,\n"
        "M2,C,EUR,0,2001-01-01,,,2012-01-01\n"
    )
    from_file = load_facts(write(tmp_path, "p.csv", text))
    from_rows = snapshot(text)
    assert from_file.members == from_rows.members
    assert from_file.errors == from_rows.errors


# --------------------------------------------------------------------------- JSON vs CSV


def test_profile_and_equivalent_snapshot_give_equal_members(tmp_path: Path) -> None:
    profile = {
        "members": [
            member(
                "M1",
                [account("M1-A", balance="1520.00"), account("M1-B", currency="USD", balance="3")],
                [
                    {"date": "2016-04-01", "type": "response"},
                    {"date": "2014-03-02", "type": "transaction", "account_id": "M1-A"},
                    {"date": "2014-06-30", "type": "statement_ack"},
                    {"date": "2015-01-01", "type": "transaction", "account_id": "M1-B"},
                ],
            ),
            member("M2", [account("M2-A", opened="2024-02-29")]),
            member(
                "M3",
                [account("M3-A"), account("M3-B")],
                [
                    {"date": "2020-01-01", "type": "transaction", "account_id": "M3-B"},
                    {"date": "2020-01-01", "type": "response"},
                ],
            ),
        ]
    }
    table = (
        HEADER + "\n"
        "M1,M1-A,CAD,1520.00,2001-04-01,2014-03-02,2014-06-30,2016-04-01\n"
        "M3,M3-A,CAD,100.00,2001-04-01,,,2020-01-01\n"
        "M2,M2-A,CAD,100.00,2024-02-29,,,\n"
        "M1,M1-B,USD,3,2001-04-01,2015-01-01,2014-06-30,2016-04-01\n"
        "M3,M3-B,CAD,100.00,2001-04-01,2020-01-01,,2020-01-01\n"
    )
    from_json = load_facts(write(tmp_path, "p.json", json.dumps(profile)))
    from_csv = load_facts(write(tmp_path, "p.csv", table))
    assert from_json.errors == from_csv.errors == ()
    by_id_json = {m.member_id: normalised(m) for m in from_json.members}
    by_id_csv = {m.member_id: normalised(m) for m in from_csv.members}
    assert by_id_json == by_id_csv
    for a, b in zip(
        sorted(from_json.members, key=lambda m: m.member_id),
        sorted(from_csv.members, key=lambda m: m.member_id),
        strict=True,
    ):
        assert Counter(a.events) == Counter(b.events)
        # both forms sort events by date
        assert [e.date for e in a.events] == sorted(e.date for e in a.events)
        assert [e.date for e in b.events] == sorted(e.date for e in b.events)


# --------------------------------------------------------------------------- record errors


def test_record_error_json_shape() -> None:
    facts = from_members(member("M1", [account("A", balance="-3.00")]))
    assert facts.errors == (
        RecordError(
            message="balance `-3.00` must not be negative",
            member_id="M1",
            account_id="A",
            field="balance",
            location="members[0].accounts[0]",
        ),
    )
    assert facts.errors[0].to_json() == {
        "member_id": "M1",
        "account_id": "A",
        "field": "balance",
        "location": "members[0].accounts[0]",
        "message": "balance `-3.00` must not be negative",
    }


def test_large_snapshot_loads(tmp_path: Path) -> None:
    """Functional check at volume (timing lives in benchmarks, not in tests)."""
    lines = [HEADER]
    for i in range(20_000):
        lines.append(f"M{i // 3},A{i},CAD,{i}.25,2001-01-01,2010-01-{1 + i % 28:02d},2012-05-05,")
    facts = load_facts(write(tmp_path, "big.csv", "\n".join(lines) + "\n"))
    assert facts.errors == ()
    assert sum(len(m.accounts) for m in facts.members) == 20_000
    assert len(facts.members) == 6_667
    assert facts.members[0].events[-1] == Event(date(2012, 5, 5), "statement_ack")


def test_snapshot_short_rows_and_negative_zero_load_like_full_rows() -> None:
    full = snapshot(HEADER + "\nM1,A,CAD,-0.00,2001-01-01,,,\nM1,B,CAD,6,2001-01-01,,,\n")
    short = snapshot(HEADER + "\nM1,A,CAD,-0.00,2001-01-01\nM1,B,CAD,6,2001-01-01\n")
    assert full.errors == short.errors == ()
    assert full.members == short.members
    assert str(full.members[0].accounts[0].balance) == "0.00"
