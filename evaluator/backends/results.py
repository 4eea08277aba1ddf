"""Determinations, findings and traces, and their JSON / CSV / table renderings.

Output is deterministic: accounts and claims in input order, errors in input order,
keys in a fixed order, decimals as fixed-point text, dates as ISO text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TextIO

from evaluator.facts.model import RecordError
from evaluator.lang.document.specs import ParamSpec
from evaluator.lang.values import display, format_decimal, to_json_value
from evaluator.text import one_line


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

    def account(self, account_id: str) -> Determination | None:
        """The determination of an account, by its id (None when it has none)."""
        return next((a for a in self.accounts if a.account_id == account_id), None)

    def write_json(self, out: TextIO) -> None:
        """:meth:`to_json` and a line break, written to ``out`` (a columnar result
        writes its accounts from the frame, in parts)."""
        out.write(self.to_json() + "\n")

    def write_csv(self, out: TextIO) -> None:
        """:meth:`to_csv`, written to ``out`` (as :meth:`write_json`)."""
        out.write(self.to_csv())

    def error_summary(self, first: int = 20) -> ErrorSummary:
        """The errors as a person reads many of them: the first ``first`` in full, then a
        count per distinct message (ids and quoted values left out)."""
        return summarize_errors(self.errors, first)

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

    def to_table(self, wide: bool = False,
                 uses: Mapping[str, Sequence[str]] | None = None,
                 first_errors: int = 20, errors_where: str | None = None) -> str:
        """A table a person reads: one line per account (cells cut at 48 characters with
        `…` unless ``wide``), the account's trace indented under it when it was explained
        (nested by ``uses``, each definition's dependencies, when given), the claims, the
        portfolio outputs, and the errors (the first ``first_errors`` in full, then a
        count per distinct message)."""
        header, rows = self.rows()
        keep = [i for i, h in enumerate(header) if h not in ("window_provision",)]
        header = [header[i] for i in keep]
        rows = [[r[i] for i in keep] for r in rows]
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
        if not wide:
            widths = [min(48, w) for w in widths]

        def line(cells: list[str]) -> str:
            return "  ".join((c if wide else _clip(c, w)).ljust(w)
                             for c, w in zip(cells, widths, strict=True)).rstrip()

        out = [line(header), line(["-" * w for w in widths])]
        for a, r in zip(self.accounts, rows, strict=True):
            out.append(line(r))
            if a.trace is not None:
                out += render_trace(a.trace, uses, indent=4, width=None if wide else 100,
                                    roots=list(a.values))
                out.append("")
        if self.claims:
            out.append("")
            cnames: list[str] = []
            for c in self.claims:
                cnames += [k for k in c.values if k not in cnames]
            out.append("claims: " + ", ".join(
                f"{c.claim_id} ({c.account_id}) " + " ".join(
                    f"{k}={flat(k, c.values.get(k)) or '-'}" for k in cnames)
                for c in self.claims))
        if self.portfolio:
            out.append("")
            out.append("portfolio:")
            pw = max(len(k) for k in self.portfolio)
            out += [f"  {k.ljust(pw)}  {flat(k, v)}" for k, v in self.portfolio.items()]
        if self.errors:
            out.append("")
            out += self.error_summary(first_errors).lines(errors_where)
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
                         + ("" if n.get("required", True) else " (not required)")
                         for n in v)
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


# -- many errors -------------------------------------------------------------------------

_QUOTED = re.compile(r"`[^`]*`")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_ROW = re.compile(r"\b(row|line) \d+")


def error_kind(e: RecordError) -> str:
    """The message of an error without what names its record: the ids, the row, and the
    values quoted in it (`...`) or dates, so that errors of one cause count together."""
    text = e.message
    for rid in (e.member_id, e.account_id, e.claim_id):
        if rid:
            text = text.replace(rid, "…")
    text = _QUOTED.sub("`…`", text)
    text = _DATE.sub("…", text)
    return _ROW.sub(r"\1 …", text)


@dataclass
class ErrorSummary:
    """Many record errors, summarised: the first few in full and a count per kind."""

    total: int
    #: the first errors, each as one line (``describe_error``)
    first: list[str]
    #: (message without ids, count), most frequent first; empty when all are in ``first``
    counts: list[tuple[str, int]]

    def lines(self, where: str | None = None) -> list[str]:
        """``error: ...`` lines: the first errors, then, when some are not shown, one line
        per kind with its count and ``where`` the full list is."""
        out = [f"error: {one}" for one in self.first]
        if self.total > len(self.first):
            out.append(f"... {self.total - len(self.first):,} more; "
                       f"{self.total:,} errors by message:")
            width = len(f"{self.counts[0][1]:,}") if self.counts else 1
            out += [f"  {n:>{width},}  {kind}" for kind, n in self.counts]
        if where and self.total > len(self.first):
            out.append(f"all {self.total:,} errors: {where}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "first": list(self.first),
                "counts": [{"message": k, "count": n} for k, n in self.counts]}


def summarize_errors(errors: Sequence[RecordError], first: int = 20) -> ErrorSummary:
    """The first ``first`` errors in full, then every error counted by its kind
    (:func:`error_kind`), most frequent first, ties in order of first appearance."""
    shown = [one_line(describe_error(e)) for e in errors[:max(first, 0)]]
    counts: list[tuple[str, int]] = []
    if len(errors) > len(shown):
        tally = Counter(one_line(error_kind(e)) for e in errors)
        counts = sorted(tally.items(), key=lambda kv: -kv[1])
    return ErrorSummary(len(errors), shown, counts)


def errors_jsonl(errors: Iterable[RecordError]) -> str:
    """Every error as JSON lines: its ids, field, location and message."""
    return "".join(json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in errors)


# -- traces ------------------------------------------------------------------------------


def _trace_value(v: Any) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))


def render_trace(trace: Sequence[Mapping[str, Any]],
                 uses: Mapping[str, Sequence[str]] | None = None, *, indent: int = 2,
                 width: int | None = 100, roots: Sequence[str] = (),
                 depth: int | None = None, parameters: bool = True,
                 rest: bool = True) -> list[str]:
    """A trace as indented lines, ``name = value  [provision]``: with ``uses`` (each
    definition's dependencies), each definition under the one that uses it, expanded
    once (later mentions say `(above)`), from ``roots`` (the outputs, in their order) and
    then, when ``rest``, from those nothing uses, down to ``depth`` levels; without it, in the trace's
    order. Then, when ``parameters``, the parameters read, with who set them. Lines are
    cut at ``width`` characters with `…` (None: never)."""
    defs = {str(t["definition"]): t for t in trace if "definition" in t}
    params = [t for t in trace if "parameter" in t]
    pad = " " * indent
    out: list[str] = []

    def emit(level: int, text: str) -> None:
        text = pad + "  " * level + text
        if width is not None and len(text) > width:
            text = text[: width - 1] + "…"
        out.append(text)

    def head(t: Mapping[str, Any]) -> str:
        prov = t.get("provision")
        return (f"{t['definition']} = {_trace_value(t.get('value'))}"
                + (f"  [{prov}]" if prov else ""))

    if uses is None:
        for t in defs.values():
            emit(0, head(t))
    else:
        used = {u for n in defs for u in uses.get(n, ()) if u in defs}
        starts = [r for r in roots if r in defs]
        if rest:
            starts += [n for n in defs if n not in used]
        seen: set[str] = set()

        def walk(name: str, level: int) -> None:
            t = defs.get(name)
            if t is None:
                return
            if name in seen:
                emit(level, f"{name} = {_trace_value(t.get('value'))}  (above)")
                return
            seen.add(name)
            emit(level, head(t))
            if depth is not None and level + 1 >= depth:
                more = [u for u in uses.get(name, ()) if u in defs and u not in seen]
                if more:
                    emit(level + 1, "uses " + ", ".join(more))
                return
            for u in uses.get(name, ()):
                walk(u, level + 1)

        for r in starts:
            if r not in seen:
                walk(r, 0)
    if parameters and params:
        emit(0, "parameters:")
        for t in params:
            emit(1, f"{t['parameter']} = {_trace_value(t.get('value'))}"
                 f"  [{t.get('provision') or ''}] set by {t.get('set_by')}")
    return out


def trace_uses(defs: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Each definition's dependencies among definitions, from a checked policy's
    ``defs`` (``policy.checked.defs``), for :func:`render_trace`."""
    return {n: tuple(sorted(u for u in d.uses if u in defs)) for n, d in defs.items()}


def param_json(spec: ParamSpec) -> Any:
    """A parameter's value as written in policies: percentages keep their `%`."""
    if spec.type_name == "percent" and isinstance(spec.value, Decimal):
        return f"{format_decimal((spec.value * 100).normalize())}%"
    return to_json_value(spec.value)
