"""Shared helpers for the test modules: the case corpus and profile-to-snapshot conversion."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "policies" / "fsra-2024-001" / "tests"
BASELINE = ROOT / "policies" / "fsra-2024-001"
SNAPSHOT_EVENT_TYPES = {"transaction", "statement_ack", "response"}
#: the required columns of an account snapshot table (contract.md), in order
SNAPSHOT_COLUMNS = ("member_id", "account_id", "currency", "balance", "opened",
                    "last_transaction", "last_statement_ack", "last_response")

#: hostile and broken inputs that passed every check of their test (no crash, no hang, no
#: record lost), by kind; ``pytest`` prints the counts at the end of the run
TALLY: Counter[str] = Counter()
#: per policy, how many of its cases ran through both backends and how many are
#: profile-only (filled by tests/test_cases.py; ``pytest`` prints it at the end of the run)
CORPUS_SPLIT: dict[str, Counter[str]] = {}


def tally(kind: str, n: int = 1) -> None:
    """Count ``n`` hostile or broken inputs of ``kind`` that passed their checks: call it
    after the last assertion, so that an input that fails is never counted."""
    TALLY[kind] += n


def _strings(value: Any) -> Any:
    """YAML may read unquoted dates as dates: turn them back into ISO text."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v) for v in value]
    return value


def load_case(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = _strings(yaml.safe_load(path.read_text(encoding="utf-8")))
    return case


def case_files() -> list[Path]:
    return sorted(CASES.glob("*.yaml"))


def snapshot_rows(facts: dict[str, Any], as_of: str) -> Iterator[dict[str, str]] | None:
    """The snapshot-table form of a full profile, or None if it has what a snapshot taken
    on the as-of date cannot express: notices, fees, interest, transfers, claims, or
    events after the as-of date."""
    if facts.get("claims"):
        return None
    if any(e["date"] > as_of for m in facts.get("members", []) for e in m.get("events") or []):
        return None
    rows: list[dict[str, str]] = []
    for m in facts.get("members", []):
        events = m.get("events") or []
        if any(e["type"] not in SNAPSHOT_EVENT_TYPES for e in events):
            return None

        def latest(kind: str, account: str | None = None,
                   _events: list[dict[str, Any]] = events) -> str:
            dates = [e["date"] for e in _events if e["type"] == kind
                     and (account is None or e.get("account_id") == account)]
            return max(dates) if dates else ""

        for a in m["accounts"]:
            rows.append({
                "member_id": m["member_id"], "account_id": a["account_id"],
                "currency": a["currency"], "balance": str(a["balance"]),
                "opened": a["opened"],
                "last_transaction": latest("transaction", a["account_id"]),
                "last_statement_ack": latest("statement_ack"),
                "last_response": latest("response"),
                "kind": a.get("kind") or "",
            })
    return iter(rows)


def fx_rows(facts: dict[str, Any]) -> list[dict[str, str]]:
    return [{"currency": r["currency"], "date": r["date"], "rate": str(r["rate"])}
            for r in facts.get("fx_rates") or []]


# -- the case corpus through both backends ---------------------------------------------

#: directories of cases under tests/ for a policy under policies/<kind>/<name>.yaml
CASE_DIRS = {"alternatives": ROOT / "tests" / "alternatives",
             "interpretations": ROOT / "tests" / "interpretations"}


def corpus() -> list[tuple[Path, Path]]:
    """Every (policy, case file) pair with cases: the cases beside each policy under
    ``policies/`` (``tests/*.yaml``), the cases under ``tests/<kind>/<name>/`` of
    ``policies/<kind>/<name>.yaml``, and the ``unclaimed test`` fixture policy's."""
    from evaluator.policytest import find_cases

    policies = sorted(ROOT.glob("policies/*/policy.yaml"))
    pairs = [(p, c) for p in policies for c in find_cases(p)]
    for kind, where in CASE_DIRS.items():
        for folder in sorted(where.glob("*/")) if where.is_dir() else []:
            policy = ROOT / "policies" / kind / f"{folder.name}.yaml"
            assert policy.is_file(), f"{folder}: no policy {policy}"
            pairs += [(policy, c) for c in find_cases(folder)]
    fixture = ROOT / "tests" / "policytest" / "basic"
    pairs += [(fixture / "policy.yaml", c) for c in find_cases(fixture)]
    return pairs


def policy_name(policy: Path) -> str:
    """A policy's name in test ids and counts: its id (the `policy:` key), read from the
    file without loading the policy."""
    found = re.search(r"^policy:[ \t]*['\"]?([A-Za-z0-9][\w.-]*)",
                      policy.read_text(encoding="utf-8"), re.MULTILINE)
    assert found, f"{policy}: no `policy:` id"
    return found.group(1)


@dataclass
class Snapshot:
    """The account snapshot table of a full profile as of a day, its FX rows, and what
    of the profile the table leaves out (empty when it carries all of it)."""

    rows: list[dict[str, str]]
    fx: list[dict[str, str]]
    left_out: list[str]


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def snapshot_of(facts: dict[str, Any], as_of: str) -> Snapshot | str:
    """The snapshot a bank would export of ``facts`` on ``as_of``: a row per account with
    the latest transaction on it and the member's latest statement acknowledgement and
    response up to that day. A string (why) when no table can be written at all."""
    members = facts.get("members")
    if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
        return "members that are not a list of objects (a table has a row per account)"
    left: dict[str, None] = {}  # ordered set
    claims = facts.get("claims") or []
    if claims:
        ids = ", ".join(str(c.get("claim_id")) if isinstance(c, dict) else "?"
                        for c in claims)
        left[f"claims ({ids})"] = None
    rows: list[dict[str, str]] = []
    for m in members:
        accounts, events = m.get("accounts") or [], m.get("events") or []
        if not isinstance(accounts, list) or not isinstance(events, list) or not all(
                isinstance(a, dict) for a in accounts):
            return f"member {m.get('member_id')}: accounts or events that are not lists " \
                   "of objects"
        if not all(isinstance(e, dict) and isinstance(e.get("date"), str)
                   and isinstance(e.get("type"), str) for e in events):
            return f"member {m.get('member_id')}: an event without a date and type in " \
                   "text (a table holds only the latest dates)"
        if not accounts:
            left[f"member {m.get('member_id')} without accounts"] = None
        kept = []
        for e in events:
            if e["date"] > as_of:
                left["events after the as-of date"] = None
            elif e["type"] not in SNAPSHOT_EVENT_TYPES:
                left[f"{e['type']} events"] = None
            else:
                kept.append(e)
                if e["type"] != "transaction" and e.get("account_id") is not None:
                    left[f"the account a {e['type']} names (a table's are the "
                         "member's)"] = None
                if e["type"] == "transaction" and e.get("account_id") is None:
                    left["a transaction naming no account"] = None
        latest_only = {(e["type"], e.get("account_id") if e["type"] == "transaction"
                        else None) for e in kept}
        if len(latest_only) < len(kept):
            left["earlier transactions, acknowledgements or responses (a table has the "
                 "latest date of each)"] = None

        def latest(kind: str, account: Any = None, _kept: list[dict[str, Any]] = kept
                   ) -> str:
            dates = [e["date"] for e in _kept if e["type"] == kind
                     and (account is None or e.get("account_id") == account)]
            return max(dates) if dates else ""

        for a in accounts:
            rows.append({
                "member_id": _cell(m.get("member_id")),
                "account_id": _cell(a.get("account_id")),
                "currency": _cell(a.get("currency")), "balance": _cell(a.get("balance")),
                "opened": _cell(a.get("opened")),
                "last_transaction": latest("transaction", a.get("account_id")),
                "last_statement_ack": latest("statement_ack"),
                "last_response": latest("response"),
                "kind": _cell(a.get("kind")),
                # a policy's own account fields (declared facts) as columns of that name
                **{k: _cell(v) for k, v in a.items()
                   if k not in ("account_id", "currency", "balance", "opened", "kind")},
            })
    fx = [{k: _cell(r.get(k)) for k in ("currency", "date", "rate")}
          for r in facts.get("fx_rates") or [] if isinstance(r, dict)]
    return Snapshot(rows, fx, list(left))


def write_snapshot(snapshot: Snapshot, folder: Path) -> tuple[Path, Path]:
    """The snapshot as the two CSV files a user gives: ``accounts.csv`` and ``fx.csv``."""
    import csv

    accounts, fx = folder / "accounts.csv", folder / "fx.csv"
    with accounts.open("w", encoding="utf-8", newline="") as out:
        extra = {k: None for r in snapshot.rows for k in r
                 if k not in SNAPSHOT_COLUMNS and k != "kind"}
        writer = csv.DictWriter(out, fieldnames=[*SNAPSHOT_COLUMNS, "kind", *extra],
                                restval="")
        writer.writeheader()
        writer.writerows(snapshot.rows)
    with fx.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=["currency", "date", "rate"])
        writer.writeheader()
        writer.writerows(snapshot.fx)
    return accounts, fx


def generated_dataset(folder: Path, members: int, seed: int, *more: str) -> Path:
    """``unclaimed generate --events`` run in this process into ``folder``: the accounts
    table (``d.csv``; ``d.events.csv`` and ``d.fx.csv`` beside it)."""
    import io

    from evaluator.apps.cli import main

    err = io.StringIO()
    out = folder / "d.csv"
    assert main(["generate", "--members", str(members), "--seed", str(seed), "--events",
                 *more, "--out", str(out)], stdout=io.StringIO(), stderr=err) == 0, \
        err.getvalue()
    return out
