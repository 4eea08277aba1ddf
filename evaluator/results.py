"""Determinations, findings and traces, and their JSON / CSV / table renderings.

Output is deterministic: accounts and claims in input order, errors in input order,
keys in a fixed order, decimals as fixed-point text, dates as ISO text.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from evaluator.model import RecordError
from evaluator.values import display, to_json_value


@dataclass
class Determination:
    """What the policy says about one account."""

    member_id: str
    account_id: str
    values: dict[str, Any]
    trace: list[dict[str, Any]] | None = None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    @property
    def status(self) -> str | None:
        v = self.values.get("status")
        return str(v) if v is not None else None

    @property
    def last_activity(self) -> Any:
        return self.values.get("last_activity")

    @property
    def inactive_on(self) -> Any:
        return self.values.get("inactive_on")

    @property
    def unclaimed_on(self) -> Any:
        return self.values.get("unclaimed_on")

    @property
    def notices(self) -> Any:
        return self.values.get("notices")

    @property
    def payment_window(self) -> Any:
        return self.values.get("payment_window")

    @property
    def amount_cad(self) -> Any:
        return self.values.get("amount_cad")

    @property
    def findings(self) -> Any:
        return self.values.get("findings")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"member_id": self.member_id, "account_id": self.account_id}
        for k, v in self.values.items():
            out[k] = to_json_value(v)
        if self.trace is not None:
            out["trace"] = self.trace
        return out


@dataclass
class ClaimDetermination:
    claim_id: str
    account_id: str
    values: dict[str, Any]
    trace: list[dict[str, Any]] | None = None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def response_due(self) -> Any:
        return self.values.get("response_due")

    @property
    def reconsideration_due(self) -> Any:
        return self.values.get("reconsideration_due")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"claim_id": self.claim_id, "account_id": self.account_id}
        for k, v in self.values.items():
            out[k] = to_json_value(v)
        if self.trace is not None:
            out["trace"] = self.trace
        return out


@dataclass
class EvaluationResult:
    policy: dict[str, str]
    as_of: str
    parameters: dict[str, Any]
    accounts: list[Determination] = field(default_factory=list)
    claims: list[ClaimDetermination] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    facts: dict[str, Any] | None = None
    #: portfolio-level outputs (for example the program balance of 5(2)), when defined
    portfolio: dict[str, Any] | None = None
    #: invariant conflicts under the parameters of this run (not part of the JSON)
    warnings: list[Any] = field(default_factory=list)
    #: the policy's account outputs, in order: the columns of the flat renderings even
    #: when no account was evaluated (not part of the JSON)
    account_outputs: list[str] | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"policy": self.policy, "as_of": self.as_of,
                               "parameters": self.parameters}
        if self.facts is not None:
            out["facts"] = self.facts
        out["accounts"] = [a.to_json() for a in self.accounts]
        out["claims"] = [c.to_json() for c in self.claims]
        if self.portfolio is not None:
            out["portfolio"] = {k: to_json_value(v) for k, v in self.portfolio.items()}
        out["errors"] = [e.to_json() for e in self.errors]
        return out

    def to_json(self, indent: int | None = None) -> str:
        """The contract's JSON document. By default one account, claim or error per line
        (readable, diff-friendly, and fast to write); ``indent`` pretty-prints it all."""
        doc = self.to_dict()
        if indent is not None:
            return json.dumps(doc, indent=indent, ensure_ascii=False)
        lines = ["{"]
        keys = list(doc)
        for i, key in enumerate(keys):
            value = doc[key]
            comma = "," if i < len(keys) - 1 else ""
            head = f"  {json.dumps(key)}: "
            if isinstance(value, list) and value:
                lines.append(head + "[")
                last = len(value) - 1
                lines.extend(f"    {_compact(v)}{',' if j < last else ''}"
                             for j, v in enumerate(value))
                lines.append(f"  ]{comma}")
            else:
                lines.append(f"{head}{_compact(value)}{comma}")
        lines.append("}")
        return "\n".join(lines)

    # -- flat renderings -------------------------------------------------------------

    def rows(self) -> tuple[list[str], list[list[str]]]:
        """One row per account, nested values flattened to readable text."""
        names: list[str] = list(self.account_outputs or ())
        for a in self.accounts:
            for k in a.values:
                if k not in names:
                    names.append(k)
        header = ["member_id", "account_id"]
        for k in names:
            if k == "payment_window":
                header += ["window_opens", "window_closes", "window_provision"]
            else:
                header.append(k)
        rows = []
        for a in self.accounts:
            row = [a.member_id, a.account_id]
            for k in names:
                v = a.values.get(k)
                if k == "payment_window":
                    w = v or {}
                    row += [display(w.get("opens")) if w else "",
                            display(w.get("closes")) if w else "",
                            str(w.get("provision", "")) if w else ""]
                else:
                    row.append(flat(k, v))
            rows.append(row)
        return header, rows

    def to_csv(self) -> str:
        header, rows = self.rows()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
        return buf.getvalue()

    def to_table(self) -> str:
        header, rows = self.rows()
        keep = [i for i, h in enumerate(header) if h not in ("window_provision",)]
        header = [header[i] for i in keep]
        rows = [[r[i] for i in keep] for r in rows]
        widths = [min(48, max([len(h)] + [len(r[i]) for r in rows]))
                  for i, h in enumerate(header)]

        def line(cells: list[str]) -> str:
            return "  ".join(_clip(c, w).ljust(w) for c, w in zip(cells, widths, strict=True)
                             ).rstrip()

        out = [line(header), line(["-" * w for w in widths])]
        out += [line(r) for r in rows]
        if self.claims:
            out.append("")
            cnames: list[str] = []
            for c in self.claims:
                cnames += [k for k in c.values if k not in cnames]
            out.append("claims: " + ", ".join(
                f"{c.claim_id} ({c.account_id}) " + " ".join(
                    f"{k}={flat(k, c.values.get(k)) or '-'}" for k in cnames)
                for c in self.claims))
        if self.errors:
            out.append("")
            out += ["error: " + describe_error(e) for e in self.errors]
        return "\n".join(out) + "\n"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def flat(name: str, v: Any) -> str:
    """A nested value as one readable cell."""
    if v is None:
        return ""
    if name == "notices" and isinstance(v, list | tuple):
        return "; ".join(f"{n.get('mark')} {display(n.get('due'))}"
                         + ("" if n.get("required") else " (not required)") for n in v)
    if name == "findings" and isinstance(v, list | tuple):
        return "; ".join(str(f.get("code")) for f in v)
    if isinstance(v, list | tuple):
        return "; ".join(flat("", x) for x in v)
    if isinstance(v, dict):
        return ", ".join(f"{k}={display(x)}" for k, x in v.items())
    return display(v)


def describe_error(e: RecordError) -> str:
    ids = []
    if e.claim:
        if e.claim_id is not None:
            ids.append(f"claim {e.claim_id}")
    else:
        if e.member_id is not None:
            ids.append(f"member {e.member_id}")
        if e.account_id is not None:
            ids.append(f"account {e.account_id}")
    if e.location:
        ids.append(f"at {e.location}")
    where = ", ".join(ids) or "record"
    return f"{where}: {e.message}"
