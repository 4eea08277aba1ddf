"""Decision records: everything needed to reproduce an evaluation years later.

A record is one JSON file holding the policy's own files (the policy and every policy
it extends, as text), the parameters given for the run, the as-of date, the facts as
they were read (file text, and the FX table's text when there was one), their hashes,
and the results. ``replay`` rebuilds the policy and the facts from the record alone,
evaluates again and says whether the results still match; with another policy it says
which determinations change and, for each, the first definition where they diverge.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluator import __version__
from evaluator.errors import Diagnostic, PolicyError

FORMAT = "unclaimed-decision-record/1"


def write_record(path: str | os.PathLike[str], policy: Any, facts_path: str,
                 fx_path: str | None, as_of: str, params: dict[str, str],
                 result: Any, backend: str) -> None:
    """Write the record of one evaluation."""
    files = []
    for shown in policy.document.files:
        text = Path(shown).read_text(encoding="utf-8")
        files.append({"path": shown, "text": text,
                      "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()})
    facts_bytes = Path(facts_path).read_bytes()
    facts_entry: dict[str, Any] = {
        "source": facts_path, "name": Path(facts_path).name,
        "sha256": hashlib.sha256(facts_bytes).hexdigest(),
        "text": facts_bytes.decode("utf-8"),
    }
    if fx_path is not None:
        fx_bytes = Path(fx_path).read_bytes()
        facts_entry["fx"] = {"source": fx_path, "name": Path(fx_path).name,
                             "sha256": hashlib.sha256(fx_bytes).hexdigest(),
                             "text": fx_bytes.decode("utf-8")}
    record = {
        "format": FORMAT,
        "written_by": f"unclaimed {__version__}",
        "policy": {"id": policy.id, "version": policy.version, "sha256": policy.sha256,
                   "files": files},
        "as_of": as_of,
        "parameters": params,
        "backend": backend,
        "facts": facts_entry,
        "result": result.to_dict(),
    }
    Path(path).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")


@dataclass
class Change:
    kind: str  # account | claim | error | portfolio | parameters
    key: str
    fields: list[str] = field(default_factory=list)
    before: Any = None
    after: Any = None
    why: str | None = None


@dataclass
class Replay:
    policy: str
    same: bool
    changes: list[Change]
    notes: list[str]

    def render(self) -> str:
        lines = [f"replayed with {self.policy}"]
        lines += [f"note: {n}" for n in self.notes]
        if self.same:
            lines.append("results match the record")
            return "\n".join(lines) + "\n"
        lines.append(f"{len(self.changes)} determination(s) differ from the record:")
        for c in self.changes:
            head = f"  {c.kind} {c.key}"
            if c.fields:
                head += ": " + ", ".join(c.fields)
            lines.append(head)
            if c.why:
                lines.append(f"    first diverging definition: {c.why}")
            for f in c.fields[:6]:
                if isinstance(c.before, dict) and isinstance(c.after, dict):
                    lines.append(f"    {f}: {json.dumps(c.before.get(f), ensure_ascii=False)}"
                                 f" -> {json.dumps(c.after.get(f), ensure_ascii=False)}")
        return "\n".join(lines) + "\n"


def read_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PolicyError(Diagnostic(f"{path}: not a readable decision record ({exc})",
                                     code="record")) from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise PolicyError(Diagnostic(f"{path}: not a decision record (format {FORMAT})",
                                     code="record"))
    return record


def replay(path: str | os.PathLike[str], new_policy: str | None = None) -> Replay:
    """Evaluate a record again, with its own policy or with ``new_policy``."""
    from evaluator.policy import load_policy

    record = read_record(path)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="unclaimed-replay-") as tmp:
        root = Path(tmp) / "policies"
        root.mkdir()
        recorded = _restore_policy(record, root)
        policy = load_policy(new_policy) if new_policy else recorded
        if policy.sha256 != record["policy"]["sha256"] and not new_policy:
            notes.append("the policy rebuilt from the record hashes differently "
                         f"({policy.sha256[:12]} against {record['policy']['sha256'][:12]})")
        facts, sha = _restore_facts(record, Path(tmp))
        if sha != record["facts"]["sha256"]:
            notes.append("the facts in the record do not match their recorded hash")
        result = policy.evaluate(facts, as_of=record["as_of"],
                                 params=record.get("parameters") or {},
                                 backend=record.get("backend", "auto"))
        after = json.loads(result.to_json())
        before = record["result"]
        changes = _changes(before, after)
        if changes and new_policy:
            _explain(changes, recorded, policy, facts, record)
    label = f"{policy.id}@{policy.version}"
    comparable = {k: v for k, v in after.items() if k not in ("policy", "facts")}
    original = {k: v for k, v in before.items() if k not in ("policy", "facts")}
    return Replay(label, comparable == original and not changes, changes, notes)


def _restore_policy(record: dict[str, Any], root: Path) -> Any:
    from evaluator.policy import load_policy

    files = record["policy"]["files"]
    last = None
    for i, f in enumerate(files):
        target = root / f"{i:02d}-{Path(f['path']).name}"
        target.write_text(f["text"], encoding="utf-8")
        last = target
    if last is None:
        raise PolicyError(Diagnostic("the record holds no policy file", code="record"))
    return load_policy(last, root=root)


def _restore_facts(record: dict[str, Any], tmp: Path) -> tuple[Any, str]:
    from evaluator.columnar import read_table
    from evaluator.facts import load_facts

    entry = record["facts"]
    path = tmp / entry["name"]
    data = entry["text"].encode("utf-8")
    path.write_bytes(data)
    fx = None
    if "fx" in entry:
        fx = tmp / ("fx-" + entry["fx"]["name"])
        fx.write_bytes(entry["fx"]["text"].encode("utf-8"))
    sha = hashlib.sha256(data).hexdigest()
    if path.suffix.lower() == ".csv" and record.get("backend") != "scalar":
        return read_table(path, fx), sha
    return load_facts(path, fx=fx), sha


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    changes: list[Change] = []
    for kind, key_name in (("account", "account_id"), ("claim", "claim_id")):
        section = kind + "s"
        a = {x[key_name]: x for x in before.get(section, [])}
        b = {x[key_name]: x for x in after.get(section, [])}
        for key in sorted(set(a) | set(b)):
            x, y = a.get(key), b.get(key)
            if x == y:
                continue
            fields = sorted(k for k in set(x or {}) | set(y or {})
                            if (x or {}).get(k) != (y or {}).get(k))
            changes.append(Change(kind, key, fields, x, y))
    if before.get("errors") != after.get("errors"):
        changes.append(Change("errors", "errors", [], before.get("errors"), after.get("errors")))
    if before.get("portfolio") != after.get("portfolio"):
        changes.append(Change("portfolio", "portfolio", [], before.get("portfolio"),
                              after.get("portfolio")))
    return changes


def _explain(changes: list[Change], old: Any, new: Any, facts: Any,
             record: dict[str, Any]) -> None:
    """The first diverging definition of each changed account (scalar traces)."""
    from evaluator.compare import _first
    from evaluator.model import Facts

    if not isinstance(facts, Facts):
        facts = facts.to_facts()
    params = record.get("parameters") or {}
    a = old.evaluate(facts, as_of=record["as_of"], params=params, explain=True,
                     backend="scalar")
    b = new.evaluate(facts, as_of=record["as_of"], params=params, explain=True,
                     backend="scalar")
    da = {d.account_id: d for d in a.accounts}
    db = {d.account_id: d for d in b.accounts}
    for c in changes:
        if c.kind == "account":
            name, _, _ = _first(da.get(c.key), db.get(c.key))
            c.why = name or None
