"""Shared helpers for the test modules: the case corpus and profile-to-snapshot conversion."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "policies" / "fsra-2024-001" / "tests"
BASELINE = ROOT / "policies" / "fsra-2024-001"
SNAPSHOT_EVENT_TYPES = {"transaction", "statement_ack", "response"}

#: hostile and broken inputs that passed every check of their test (no crash, no hang, no
#: record lost), by kind; ``pytest`` prints the counts at the end of the run
TALLY: Counter[str] = Counter()


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
