"""Property-based tests of the baseline policy (hypothesis).

The generated facts are full JSON profiles in the contract's shape, with their dates
clustered around the rule's boundaries: leap days, 30 Sep / 1 Oct (P1), 15 Oct and
15 Dec (the payment window), the turn of the year, the coming-into-force date (CIF),
the end of the transition period (CIF + 12 months) and the same anchors 2, 5, 9, 10
and 12 years earlier (so that inactivity, notice and unclaimed dates land on them),
plus dates spread evenly over 1990-2035. A few records are deliberately invalid.

Properties:
  (a) evaluation never raises, and every input record comes out exactly once, either
      as a determination or as an error;
  (b) more activity never brings an account's unclaimed date or its profile's
      inactive date forward;
  (c) every payment window is the P1/P2 window: 15 Oct..15 Dec of one year, opened
      late only by the end of the transition, closing on or after it, not before the
      P1 year, and the first such window;
  (d) CAD amounts are exact: balance x the 30 Sep rate of the payment year, rounded to
      the cent half up, computed here independently;
  (e) evaluation is deterministic, byte for byte;
  (f) a profile and its snapshot table give identical determinations.
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
import re
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from evaluator import Policy, load_policy
from evaluator.facts import facts_from_json, facts_from_snapshot
from tests.support import BASELINE, fx_rows, snapshot_rows

pytestmark = pytest.mark.slow  # many examples: run first (tests/conftest.py)

SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large],
)

# ----------------------------------------------------------------------------- dates

D = dt.date
DEFAULT_CIF = D(2025, 1, 1)
#: CIF parameter values tried (None: the policy's default, 2025-01-01)
CIFS = (None, "2025-01-01", "2024-02-29", "2025-11-01", "2024-12-31", "2025-10-15",
        "2025-12-16")
#: days of the year at which the rule changes behaviour
MONTH_DAYS = ((1, 1), (2, 28), (2, 29), (3, 1), (9, 30), (10, 1), (10, 14), (10, 15),
              (10, 16), (12, 14), (12, 15), (12, 16), (12, 31))
#: years before an anchor at which an activity date makes a derived date hit the anchor
ANCHOR_SHIFTS = (0, -1, -2, -5, -7, -9, -10, -11, -12)
ACCOUNT_EVENTS = ("transaction", "fee", "interest", "transfer")
MEMBER_EVENTS = ("statement_ack", "notice", "response")
ALL_EVENTS = (*ACCOUNT_EVENTS, *MEMBER_EVENTS)
MARKS = ("2y", "5y", "9y", "catch-up", "transition")
FOREIGN = ("USD", "EUR")
FX_YEARS = range(1995, 2050)
AMOUNT_RE = re.compile(r"\d+\.\d{2}", re.ASCII)
CENT = Decimal("0.01")


def md_in_year(year: int, month: int, day: int) -> dt.date:
    """The day in ``year``, 29 Feb clamped to 28 Feb in a non-leap year (D1)."""
    return D(year, month, min(day, calendar.monthrange(year, month)[1]))


def add_years(d: dt.date, n: int) -> dt.date:
    return md_in_year(d.year + n, d.month, d.day)


def add_months(d: dt.date, n: int) -> dt.date:
    k = d.month - 1 + n
    return md_in_year(d.year + k // 12, k % 12 + 1, d.day)


def iso(d: dt.date) -> str:
    return d.isoformat()


def day(text: str) -> dt.date:
    return D.fromisoformat(text)


def cif_of(params: dict[str, str]) -> dt.date:
    return day(params["coming_into_force"]) if "coming_into_force" in params else DEFAULT_CIF


def transition_end(params: dict[str, str]) -> dt.date:
    return add_months(cif_of(params), 12)


_CIF_DATES = [day(c) for c in CIFS if c is not None]
ANCHORS = tuple(sorted({*_CIF_DATES, *(add_months(c, 12) for c in _CIF_DATES)}))


def dates_between(lo: dt.date, hi: dt.date) -> st.SearchStrategy[dt.date]:
    """Dates in lo..hi, most of them on or next to a boundary of the rule."""

    def near_month_day(t: tuple[int, tuple[int, int], int]) -> dt.date:
        year, (month, dd), delta = t
        return md_in_year(year, month, dd) + dt.timedelta(delta)

    def near_anchor(t: tuple[dt.date, int, int]) -> dt.date:
        anchor, years, delta = t
        return add_years(anchor, years) + dt.timedelta(delta)

    calendar_edge = st.tuples(st.integers(lo.year, hi.year), st.sampled_from(MONTH_DAYS),
                              st.sampled_from((0, -1, 1))).map(near_month_day)
    anchored = st.tuples(st.sampled_from(ANCHORS), st.sampled_from(ANCHOR_SHIFTS),
                         st.sampled_from((0, -1, 1))).map(near_anchor)
    return st.one_of(calendar_edge, anchored, st.dates(lo, hi)).map(
        lambda d: min(max(d, lo), hi))


def iso_dates(lo: dt.date, hi: dt.date) -> st.SearchStrategy[str]:
    return dates_between(lo, hi).map(iso)


ACTIVITY_DATES = iso_dates(D(1990, 1, 1), D(2036, 12, 31))
OPENED_DATES = iso_dates(D(1990, 1, 1), D(2030, 12, 31))
AS_OF_DATES = dates_between(D(2010, 1, 1), D(2036, 12, 31))
BAD_DATES = st.sampled_from(("2026-02-30", "2025-02-29", "2025-13-01", "2025-1-5", "",
                             "01/02/2025", "2025-00-10"))

# ----------------------------------------------------------------------------- money


def _fixed(t: tuple[int, int]) -> str:
    return f"{Decimal(t[0]).scaleb(-t[1]):f}"


BALANCES: st.SearchStrategy[Any] = st.one_of(
    st.tuples(st.integers(0, 10**9), st.just(2)).map(_fixed),           # cents
    st.tuples(st.integers(0, 10**8), st.integers(0, 5)).map(_fixed),    # any scale
    st.integers(0, 10**7),                                              # a JSON number
    st.sampled_from(("0", "0.00", "-0.00", "0.005", "0.004999", "1.485", "1.475",
                     "2.675", "99.5", "1520.00", "999999999.995")),
)
AMOUNTS = st.tuples(st.integers(0, 10**6), st.integers(0, 2)).map(_fixed)
RATES = st.tuples(st.integers(1, 999_999), st.integers(2, 6)).map(_fixed)


def to_decimal(value: Any) -> Decimal:
    return Decimal(value) if isinstance(value, str | int) else Decimal(repr(value))


# ----------------------------------------------------------------------------- facts


@st.composite
def fx_tables(draw: st.DrawFn) -> list[dict[str, str]]:
    """30 Sep rates for all, some or none of the years, plus distractor rates dated
    29 Sep and 1 Oct (never to be used), and now and then a CAD rate (never used)."""
    rows: list[dict[str, str]] = []
    for currency in FOREIGN:
        mode = draw(st.sampled_from(("all", "some", "none")))
        if mode == "none":
            continue
        years = (list(FX_YEARS) if mode == "all"
                 else sorted(draw(st.sets(st.sampled_from(list(FX_YEARS)), max_size=12))))
        pool = draw(st.lists(RATES, min_size=1, max_size=6))
        for y in years:
            rows.append({"currency": currency, "date": f"{y}-09-30",
                         "rate": pool[y % len(pool)]})
        for y in draw(st.sets(st.sampled_from(list(FX_YEARS)), max_size=6)):
            rows.append({"currency": currency, "date": f"{y}-09-29", "rate": "7.7777"})
            rows.append({"currency": currency, "date": f"{y}-10-01", "rate": "8.8888"})
    if draw(st.integers(0, 9)) == 9:
        rows += [{"currency": "CAD", "date": f"{y}-09-30", "rate": "1.5"} for y in FX_YEARS]
    return rows


def _rare(draw: st.DrawFn, allowed: bool, one_in: int = 25) -> bool:
    """True about once in ``one_in`` draws (shrinks to False)."""
    return allowed and draw(st.integers(0, one_in - 1)) == one_in - 1


@st.composite
def accounts(draw: st.DrawFn, account_id: str, invalid: bool) -> dict[str, Any]:
    account: dict[str, Any] = {
        "account_id": account_id,
        "currency": draw(st.sampled_from(("CAD", "CAD", "USD", "EUR"))),
        "balance": draw(BALANCES),
        "opened": draw(OPENED_DATES),
    }
    if _rare(draw, invalid):
        bad = draw(st.sampled_from(("opened", "balance", "currency")))
        account[bad] = {"opened": draw(BAD_DATES), "balance": "-5.00",
                        "currency": "usd"}[bad]
    return account


@st.composite
def events(draw: st.DrawFn, account_ids: list[str], kinds: tuple[str, ...],
           dates: st.SearchStrategy[str], invalid: bool) -> dict[str, Any]:
    """One event; now and then a member-level event names one of the accounts."""
    if not account_ids:
        kinds = tuple(k for k in kinds if k not in ACCOUNT_EVENTS)
    kind = draw(st.sampled_from(kinds))
    event: dict[str, Any] = {"date": draw(dates), "type": kind}
    if kind in ACCOUNT_EVENTS or (account_ids and _rare(draw, True, 10)):
        event["account_id"] = draw(st.sampled_from(account_ids))
    if kind == "notice":
        event["mark"] = draw(st.sampled_from(MARKS))
    if kind in ("fee", "interest", "transfer"):
        event["amount"] = draw(AMOUNTS)
    if kind == "transfer" and draw(st.booleans()):
        event["attestation"] = True
        event["with"] = ["material_information", "notice_evidence"]
    if _rare(draw, invalid, 30):
        bad = draw(st.sampled_from(("date", "type", "account", "amount", "mark")))
        if bad == "date":
            event["date"] = draw(BAD_DATES)
        elif bad == "type":
            event["type"] = "deposit"
        elif bad == "account":
            event["type"], event["account_id"] = "transaction", "NO-SUCH-ACCOUNT"
        elif bad == "amount":
            event["type"], event["amount"] = "fee", "-1.00"
            event.setdefault("account_id", account_ids[0] if account_ids else "NONE")
        else:
            event["type"], event["mark"] = "notice", "3y"
    return event


@st.composite
def claims(draw: st.DrawFn, claim_id: str, account_ids: list[str],
           invalid: bool) -> dict[str, Any]:
    received = draw(dates_between(D(2024, 1, 1), D(2036, 12, 31)))

    def later(lo: dt.date) -> str | None:
        return draw(st.one_of(st.none(), st.integers(0, 400).map(
            lambda n: iso(lo + dt.timedelta(n)))))

    complete = later(received)
    decision = draw(st.sampled_from((None, "approved", "denied", "more-information")))
    decided = later(received) if decision else None
    claim: dict[str, Any] = {
        "claim_id": claim_id,
        "account_id": draw(st.sampled_from(account_ids or ["GONE-1"])),
        "received": iso(received), "complete": complete, "decision": decision,
        "decided": decided,
        "reconsideration_complete": later(received) if decision == "denied" else None,
    }
    if _rare(draw, invalid, 15):
        claim["received"] = draw(BAD_DATES)
    return claim


@st.composite
def scenarios(draw: st.DrawFn, snapshot_safe: bool = False) -> dict[str, Any]:
    """{"facts": a full profile, "as_of": ISO date, "params": {...}}.

    ``snapshot_safe`` restricts the facts to what an account snapshot taken on the
    as-of date expresses: transaction, statement_ack and response events on or before
    the as-of date, no claims, no invalid events.
    """
    as_of = draw(AS_OF_DATES)
    cif = draw(st.sampled_from(CIFS))
    params = {} if cif is None else {"coming_into_force": cif}
    if snapshot_safe:
        kinds: tuple[str, ...] = ("transaction", "statement_ack", "response")
        dates = iso_dates(D(1990, 1, 1), as_of)
    else:
        kinds, dates = ALL_EVENTS, ACTIVITY_DATES
    members = []
    for i in range(draw(st.integers(1, 3))):
        member_id = f"M{i + 1}"
        n_accounts = 0 if _rare(draw, True, 20) else draw(st.integers(1, 4))
        member_accounts = [draw(accounts(f"{member_id}-{'ABCD'[j]}", invalid=True))
                           for j in range(n_accounts)]
        ids = [a["account_id"] for a in member_accounts]
        member_events = draw(st.lists(events(ids, kinds, dates, invalid=not snapshot_safe),
                                      max_size=8))
        members.append({"member_id": member_id, "accounts": member_accounts,
                        "events": member_events})
    all_ids = [a["account_id"] for m in members for a in m["accounts"]]
    facts: dict[str, Any] = {"fx_rates": draw(fx_tables()), "members": members}
    if not snapshot_safe:
        facts["claims"] = [draw(claims(f"C{k + 1}", all_ids, invalid=True))
                           for k in range(draw(st.integers(0, 2)))]
    return {"facts": facts, "as_of": iso(as_of), "params": params}


# ----------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def baseline() -> Policy:
    return load_policy(BASELINE)


def evaluate(policy: Policy, sc: dict[str, Any], facts: dict[str, Any] | None = None,
             explain: bool = False) -> dict[str, Any]:
    loaded = facts_from_json(copy.deepcopy(facts if facts is not None else sc["facts"]))
    out: dict[str, Any] = policy.evaluate(loaded, as_of=sc["as_of"], params=sc["params"],
                                          explain=explain).to_dict()
    return out


def p1_year(unclaimed_on: dt.date) -> int:
    """P1: unclaimed 1 Jan-30 Sep of Y -> Y, 1 Oct-31 Dec -> Y + 1."""
    return unclaimed_on.year + (1 if unclaimed_on >= D(unclaimed_on.year, 10, 1) else 0)


def rate_table(facts: dict[str, Any]) -> dict[tuple[str, str], Decimal]:
    return {(r["currency"], r["date"]): Decimal(r["rate"]) for r in facts["fx_rates"]}


def account_index(facts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["account_id"]: a for m in facts["members"] for a in m["accounts"]}


# ----------------------------------------------------------------------------- (a)


@SETTINGS
@given(sc=scenarios())
def test_every_record_is_determined_or_an_error_exactly_once(baseline: Policy,
                                                             sc: dict[str, Any]) -> None:
    facts = facts_from_json(copy.deepcopy(sc["facts"]))
    result = baseline.evaluate(facts, as_of=sc["as_of"], params=sc["params"])
    out = result.to_dict()
    members = sc["facts"]["members"]
    account_errors = [e for e in out["errors"] if "claim_id" not in e]
    claim_errors = [e for e in out["errors"] if "claim_id" in e]

    # every account id exactly once, in accounts or in errors
    seen = Counter(a["account_id"] for a in out["accounts"])
    seen.update(e["account_id"] for e in account_errors if e["account_id"] is not None)
    assert seen == Counter(a["account_id"] for m in members for a in m["accounts"])
    # a member without accounts is one error with a null account id
    assert sorted(e["member_id"] for e in account_errors if e["account_id"] is None) == \
        sorted(m["member_id"] for m in members if not m["accounts"])
    # every claim exactly once
    claims_seen = Counter(c["claim_id"] for c in out["claims"])
    claims_seen.update(e["claim_id"] for e in claim_errors)
    assert claims_seen == Counter(c["claim_id"] for c in sc["facts"].get("claims", []))
    assert facts.record_count == len(out["accounts"]) + len(out["claims"]) + len(out["errors"])

    owner = {a["account_id"]: m["member_id"] for m in members for a in m["accounts"]}
    for a in out["accounts"]:
        assert a["member_id"] == owner[a["account_id"]]
        assert a["status"] in ("active", "inactive", "unclaimed", "transferred")
        assert a["last_activity"] <= a["unclaimed_on"]
        assert {n["mark"] for n in a["notices"]} <= set(MARKS)
    for e in out["errors"]:
        assert isinstance(e["message"], str) and e["message"].strip()


# ----------------------------------------------------------------------------- (b)


@SETTINGS
@given(sc=scenarios(), data=st.data())
def test_more_activity_never_brings_dates_forward(baseline: Policy, sc: dict[str, Any],
                                                  data: st.DataObject) -> None:
    before = evaluate(baseline, sc)
    assume(before["accounts"])
    target = data.draw(st.sampled_from(before["accounts"]), label="account")
    as_of = day(sc["as_of"])
    last = day(target["last_activity"])
    assume(last < as_of)
    when = data.draw(dates_between(last + dt.timedelta(1), as_of), label="new activity")
    kind = data.draw(st.sampled_from(("transaction", "transaction", "statement_ack",
                                      "response")), label="kind")
    facts = copy.deepcopy(sc["facts"])
    member = next(m for m in facts["members"] if m["member_id"] == target["member_id"])
    event: dict[str, Any] = {"date": iso(when), "type": kind}
    if kind == "transaction":
        event["account_id"] = target["account_id"]
    member["events"].append(event)
    after = evaluate(baseline, sc, facts)

    old = {a["account_id"]: a for a in before["accounts"]}
    new = {a["account_id"]: a for a in after["accounts"]}
    # the account can only leave `accounts` for a missing rate of a later payment year
    if target["account_id"] not in new:
        error = next(e for e in after["errors"] if e.get("account_id") == target["account_id"])
        assert "exchange rate" in error["message"], error
        return
    now = new[target["account_id"]]
    assert now["last_activity"] == iso(when) or kind != "transaction"
    assert now["last_activity"] >= target["last_activity"]
    assert now["unclaimed_on"] >= target["unclaimed_on"]
    for account_id, was in old.items():
        if was["member_id"] == target["member_id"] and account_id in new:
            assert new[account_id]["inactive_on"] >= was["inactive_on"]
            assert new[account_id]["unclaimed_on"] >= was["unclaimed_on"]


# ----------------------------------------------------------------------------- (c)


@SETTINGS
@given(sc=scenarios())
def test_payment_windows_follow_p1_and_p2(baseline: Policy, sc: dict[str, Any]) -> None:
    out = evaluate(baseline, sc)
    end = transition_end(sc["params"])
    for a in out["accounts"]:
        window = a["payment_window"]
        opens, closes = day(window["opens"]), day(window["closes"])
        year = opens.year
        unclaimed = day(a["unclaimed_on"])
        assert D(year, 10, 15) <= opens <= closes == D(year, 12, 15), a
        assert opens == D(year, 10, 15) or opens == end, (a, end)
        assert closes >= end, (a, end)
        assert year >= p1_year(unclaimed), a
        # and it is the first such window (P2)
        assert year == p1_year(unclaimed) or D(year - 1, 12, 15) < end, (a, end)
        assert opens == max(D(year, 10, 15), end)
        row = "2(5)(i)" if unclaimed.month <= 9 else "2(5)(ii)"
        assert window["provision"].split(";")[0] == row, a


# ----------------------------------------------------------------------------- (d)


@SETTINGS
@given(sc=scenarios())
def test_cad_amounts_are_exact_to_the_cent(baseline: Policy, sc: dict[str, Any]) -> None:
    out = evaluate(baseline, sc)
    rates = rate_table(sc["facts"])
    inputs = account_index(sc["facts"])
    for a in out["accounts"]:
        account = inputs[a["account_id"]]
        currency = account["currency"]
        fx_date = f"{day(a['payment_window']['opens']).year}-09-30"
        rate = Decimal(1) if currency == "CAD" else rates.get((currency, fx_date))
        if a["amount_cad"] is None:
            # unknown only without the rate, and only before payment is due
            assert rate is None and a["status"] in ("active", "inactive"), a
            continue
        assert rate is not None, (a, "an amount without the 30 Sep rate of its year")
        assert AMOUNT_RE.fullmatch(a["amount_cad"]), a["amount_cad"]
        want = (to_decimal(account["balance"]) * rate).quantize(CENT, rounding=ROUND_HALF_UP)
        assert a["amount_cad"] == f"{abs(want) if want.is_zero() else want:f}", (a, rate)
    for e in out["errors"]:
        if "exchange rate" in e["message"] and "claim_id" not in e:
            account = inputs[e["account_id"]]
            assert account["currency"] != "CAD", e


# ----------------------------------------------------------------------------- (e)


@settings(SETTINGS, max_examples=120)
@given(sc=scenarios(), explain=st.booleans())
def test_evaluation_is_deterministic(baseline: Policy, sc: dict[str, Any],
                                     explain: bool) -> None:
    facts = facts_from_json(copy.deepcopy(sc["facts"]))
    first = baseline.evaluate(facts, as_of=sc["as_of"], params=sc["params"], explain=explain)
    again = baseline.evaluate(facts, as_of=sc["as_of"], params=sc["params"], explain=explain)
    reloaded = baseline.evaluate(facts_from_json(copy.deepcopy(sc["facts"])),
                                 as_of=sc["as_of"], params=sc["params"], explain=explain)
    assert first.to_json() == again.to_json() == reloaded.to_json()


# ----------------------------------------------------------------------------- (f)


@SETTINGS
@given(sc=scenarios(snapshot_safe=True))
def test_profile_and_snapshot_give_identical_accounts(baseline: Policy,
                                                      sc: dict[str, Any]) -> None:
    rows = snapshot_rows(sc["facts"], sc["as_of"])
    assert rows is not None
    from_json = evaluate(baseline, sc)
    snapshot = facts_from_snapshot(rows, fx_rows(sc["facts"]), source="generated")
    from_csv = baseline.evaluate(snapshot, as_of=sc["as_of"], params=sc["params"]).to_dict()
    assert from_csv["accounts"] == from_json["accounts"]
    assert sorted(e["account_id"] for e in from_csv["errors"]) == \
        sorted(e["account_id"] for e in from_json["errors"] if e["account_id"] is not None)


def test_member_event_naming_a_rejected_account_is_kept(baseline: Policy) -> None:
    """Regression (found by (f)): a member-level event naming an account rejected for a
    bad field was dropped with it, moving the clock of the member's other accounts and
    making the profile and its snapshot disagree."""
    profile = {"members": [{
        "member_id": "M1",
        "accounts": [
            {"account_id": "M1-A", "currency": "CAD", "balance": "1.00",
             "opened": "2026-02-30"},                                    # rejected
            {"account_id": "M1-B", "currency": "CAD", "balance": "1.00",
             "opened": "2000-01-01"}],
        "events": [{"date": "2005-06-30", "type": "statement_ack", "account_id": "M1-A"}]}]}
    sc = {"facts": profile, "as_of": "2026-11-21", "params": {}}
    from_json = evaluate(baseline, sc)
    rows = snapshot_rows(profile, sc["as_of"])
    assert rows is not None
    from_csv = baseline.evaluate(facts_from_snapshot(rows), as_of=sc["as_of"]).to_dict()
    # the member acknowledged a statement on 2005-06-30: A1 makes it profile-wide
    assert from_csv["accounts"][0]["last_activity"] == "2005-06-30"
    assert from_json["accounts"][0]["last_activity"] == "2005-06-30"  # was 2000-01-01
