"""Decision records: everything needed to reproduce an evaluation years later.

A record is one JSON file holding the policy's own files (the policy and every policy
it extends, as text), the parameters given for the run, the as-of date, the facts as
they were read (file text, base64 for binary tables such as Parquet, and the FX table
when there was one), their hashes, and the results. ``replay`` rebuilds the policy and
the facts from the record alone, evaluates again and says whether the results still
match; with another policy it says which determinations change and, for each, the first
definition where they diverge.

A record is untrusted input: it may come from anywhere. Before any of it is used it is
read with a size bound (:data:`MAX_RECORD_BYTES`), checked against
``schemas/record.schema.json``, and every hash it carries is checked against the content
it holds (:func:`verify`). Nothing in it names a file on disk: replay writes the policy
files and the facts under names it chooses, in its own temporary folder, and only shows
the recorded names.

When the determinations went to a table file (``evaluate --out FILE.csv|.parquet``), the
record holds that file's sha256 and row count instead of the rows (a million rows inlined
as JSON would be several hundred MB); replay writes the determinations again, in its
temporary folder with the recorded chunk size, and compares the hashes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import functools
import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluator import __version__
from evaluator.errors import PolicyError
from evaluator.facts import FactsError
from evaluator.text import one_line

FORMAT = "unclaimed-decision-record/1"

#: the largest record ``replay`` reads (and ``evaluate --record`` writes): 256 MiB
MAX_RECORD_BYTES = 256 * 1024 * 1024

#: what each pattern of the record schema stands for, in messages
_PATTERNS: dict[str, str] = {}

_KINDS = {".json": "json", ".csv": "csv", ".parquet": "parquet"}


class RecordInvalid(FactsError):
    """A decision record that cannot be used: unreadable, too large, not of the record
    schema, or holding content that does not match its hashes. One line, naming the
    record and the field."""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_sha256(value: Any) -> str:
    """The sha256 of ``value`` as canonical JSON (sorted keys, no spaces, ASCII escapes:
    never fails on text that UTF-8 cannot encode)."""
    return _sha(json.dumps(value, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=True).encode("ascii"))


def _read_bounded(path: Path, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes of ``path``; a larger file (or an endless one: a FIFO, a
    device) is refused after reading ``limit + 1`` bytes at most."""
    try:
        with open(path, "rb") as fh:
            info = os.fstat(fh.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise RecordInvalid(f"{_shown(path)}: {what} is a folder")
            if stat.S_ISREG(info.st_mode) and info.st_size > limit:
                data = b""
            else:
                data = fh.read(limit + 1)
                if len(data) <= limit:
                    return data
    except IsADirectoryError:
        raise RecordInvalid(f"{_shown(path)}: {what} is a folder") from None
    except OSError as exc:
        raise RecordInvalid(f"{_shown(path)}: cannot read {what}: {exc.strerror or exc}") from None
    raise RecordInvalid(f"{_shown(path)}: {what} is larger than {_size(limit)}"
                        + (", the most a record may hold" if "record" not in what else ""))


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n:,} bytes"


def _content(data: bytes, kind: str) -> dict[str, str]:
    """``{"text": ...}`` for UTF-8 text, ``{"base64": ...}`` for anything else (Parquet)."""
    if kind != "parquet":
        try:
            return {"text": data.decode("utf-8")}
        except UnicodeDecodeError:
            pass
    return {"base64": base64.b64encode(data).decode("ascii")}


def _kind_of(name: str) -> str:
    return _KINDS.get(Path(name).suffix.lower(), "json")


def write_record(path: str | os.PathLike[str], policy: Any, facts_path: str,
                 fx_path: str | None, as_of: str, params: dict[str, str],
                 result: Any, backend: str, *, determinations: dict[str, Any] | None = None,
                 chunk_rows: int | None = None) -> None:
    """Write the record of one evaluation, atomically (a concurrent writer of the same
    record never leaves it corrupt: the last complete one wins).

    ``result`` is an evaluation result (its ``to_dict()`` is inlined) or, for a run that
    wrote its determinations to a table file, the result document to record as it is, with
    ``determinations`` (``name``, ``kind``, ``sha256``, ``rows``) in place of the rows."""
    from evaluator import atomic

    files = []
    for shown in policy.document.files:
        text = Path(shown).read_text(encoding="utf-8")
        files.append({"path": str(shown), "text": text, "sha256": _sha(text.encode("utf-8"))})
    kind = _kind_of(facts_path)
    facts_bytes = _read_bounded(Path(facts_path), MAX_RECORD_BYTES, "the facts file")
    facts_entry: dict[str, Any] = {
        "source": facts_path, "name": Path(facts_path).name, "kind": kind,
        "sha256": _sha(facts_bytes), **_content(facts_bytes, kind)}
    if fx_path is not None:
        fx_bytes = _read_bounded(Path(fx_path), MAX_RECORD_BYTES, "the FX table")
        facts_entry["fx"] = {"source": fx_path, "name": Path(fx_path).name,
                             "sha256": _sha(fx_bytes), **_content(fx_bytes, "csv")}
    doc = result if isinstance(result, dict) else result.to_dict()
    if determinations is not None:
        doc = {k: v for k, v in doc.items() if k not in ("accounts", "claims")}
        doc["determinations"] = determinations
    record = record_document(policy, files, facts_entry, as_of, params, doc, backend,
                             chunk_rows if determinations is not None else None)
    data = (json.dumps(record, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    if len(data) > MAX_RECORD_BYTES:
        raise RecordInvalid(f"{path}: the record would be {len(data):,} bytes, beyond the "
                            f"{_size(MAX_RECORD_BYTES)} a record may hold")
    atomic.write_bytes(path, data)


def record_document(policy: Any, files: list[dict[str, str]], facts_entry: dict[str, Any],
                    as_of: str, params: dict[str, str], doc: dict[str, Any], backend: str,
                    chunk_rows: int | None = None) -> dict[str, Any]:
    """The record of one evaluation as a JSON value: ``files`` are the policy's files
    (``path``, ``text``, ``sha256``), ``facts_entry`` the facts as read (see
    :func:`facts_entry`), ``doc`` the result document."""
    record: dict[str, Any] = {
        "format": FORMAT,
        "written_by": f"unclaimed {__version__}",
        "policy": {"id": policy.id, "version": policy.version, "sha256": policy.sha256,
                   "files": files},
        "as_of": as_of,
        "parameters": params,
        "parameters_sha256": canonical_sha256(params),
        "backend": backend,
    }
    if chunk_rows is not None:
        record["chunk_rows"] = chunk_rows
    record["facts"] = facts_entry
    record["result"] = doc
    record["result_sha256"] = canonical_sha256(doc)
    return record


def facts_entry(source: str, data: bytes) -> dict[str, Any]:
    """The ``facts`` of a record for a JSON profile read from ``data``."""
    return {"source": source, "name": Path(source).name or "facts.json", "kind": "json",
            "sha256": _sha(data), **_content(data, "json")}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file, read in blocks."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@dataclass
class Change:
    kind: str  # account | claim | errors | portfolio | determinations
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


def _pattern_names() -> dict[str, str]:
    defs = json.loads(_schema_text())["$defs"]
    return {defs["bare_name"]["pattern"]: "a bare file name (no folder, `..` or NUL)",
            defs["sha256"]["pattern"]: "a sha256 (64 lowercase hexadecimal digits)",
            defs["date"]["pattern"]: "a date (YYYY-MM-DD)",
            defs["shown_path"]["pattern"]: "a path without NUL"}


def _schema_text() -> str:
    from evaluator.resources import schema_file

    return schema_file("record.schema.json").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    _PATTERNS.update(_pattern_names())
    return jsonschema.Draft202012Validator(json.loads(_schema_text()))


def _shown(path: str | os.PathLike[str]) -> str:
    return one_line(os.fspath(path))


def read_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The record at ``path``, read with a size bound and checked against the record
    schema; nothing else is checked yet (see :func:`verify`)."""
    shown = _shown(path)
    data = _read_bounded(Path(path), MAX_RECORD_BYTES, "a decision record")
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RecordInvalid(f"{shown}: not a readable decision record ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise RecordInvalid(f"{shown}: not a decision record (format {FORMAT})")
    import jsonschema.exceptions

    error = jsonschema.exceptions.best_match(_validator().iter_errors(record))
    if error is not None:
        message = error.message
        if error.validator == "pattern" and isinstance(error.instance, str):
            shown_value = repr(error.instance[:100])
            message = f"{shown_value} is not {_PATTERNS.get(str(error.validator_value), 'valid')}"
        message = message if len(message) <= 200 else message[:200] + "..."
        raise RecordInvalid(f"{shown}: {error.json_path}: {message} "
                            "(see evaluator/schemas/record.schema.json)")
    try:
        _dt.date.fromisoformat(record["as_of"])
    except ValueError:
        raise RecordInvalid(f"{shown}: as_of: {record['as_of']!r} is not a date") from None
    return record


@dataclass
class Rebuilt:
    """What :func:`verify` rebuilt from a record, in its temporary folder."""

    record: dict[str, Any]
    policy: Any
    facts_path: Path
    fx_path: Path | None
    kind: str
    notes: list[str]


def _decode(entry: dict[str, Any], shown: str, field_name: str) -> bytes:
    if "text" in entry:
        try:
            return str(entry["text"]).encode("utf-8")
        except UnicodeEncodeError:
            raise RecordInvalid(f"{shown}: {field_name}.text is not encodable text") from None
    try:
        return base64.b64decode(entry["base64"], validate=True)
    except (binascii.Error, ValueError):
        raise RecordInvalid(f"{shown}: {field_name}.base64 is not base64") from None


def verify(path: str | os.PathLike[str], folder: Path) -> Rebuilt:
    """Read the record at ``path``, check it against the schema and every hash it carries,
    and rebuild its policy (loaded and checked) and its facts files in ``folder``, under
    names chosen here. Raises :class:`RecordInvalid` naming the first field at fault."""
    from evaluator.policy import load_policy

    shown = _shown(path)
    record = read_record(path)

    def refuse(field_name: str, what: str) -> RecordInvalid:
        return RecordInvalid(f"{shown}: {field_name} does not match {what}")

    notes: list[str] = []
    # -- the policy: each file's hash, then the canonical hash of the policy they make
    root = folder / "policies"
    root.mkdir()
    files = record["policy"]["files"]
    last = root
    for i, f in enumerate(files):
        try:
            data = f["text"].encode("utf-8")
        except UnicodeEncodeError:
            raise RecordInvalid(f"{shown}: policy.files[{i}].text is not encodable text"
                                ) from None
        if _sha(data) != f["sha256"]:
            raise refuse(f"policy.files[{i}].sha256", "the text of that file")
        last = root / f"{i:02d}.yaml"
        last.write_bytes(data)
    try:
        policy = load_policy(last, root=root, cache=False)  # a temporary folder
    except PolicyError as exc:
        first = exc.diagnostics[0].message if exc.diagnostics else str(exc)
        raise RecordInvalid(f"{shown}: policy.files: the recorded policy does not load "
                            f"({one_line(first)})") from None
    for field_name, recorded in (("policy", record["policy"]),
                                 ("result.policy", record["result"]["policy"])):
        if recorded["sha256"] != policy.sha256:
            raise refuse(f"{field_name}.sha256", "the policy rebuilt from policy.files")
        for key in ("id", "version"):
            if recorded[key] != getattr(policy, key):
                raise refuse(f"{field_name}.{key}", "the policy rebuilt from policy.files")
    # -- the facts and the FX table
    entry = record["facts"]
    kind = entry.get("kind") or _KINDS.get(Path(entry["name"]).suffix.lower())
    if kind is None:
        raise RecordInvalid(f"{shown}: facts.name: the facts are not .json, .csv or "
                            ".parquet, and facts.kind does not say which")
    facts_bytes = _decode(entry, shown, "facts")
    if _sha(facts_bytes) != entry["sha256"]:
        raise refuse("facts.sha256", "the facts it holds")
    if record["result"]["facts"]["sha256"] != entry["sha256"]:
        raise refuse("result.facts.sha256", "the facts it holds")
    facts_path = folder / f"facts.{kind}"
    facts_path.write_bytes(facts_bytes)
    fx_path = None
    if "fx" in entry:
        fx_bytes = _decode(entry["fx"], shown, "facts.fx")
        if _sha(fx_bytes) != entry["fx"]["sha256"]:
            raise refuse("facts.fx.sha256", "the FX table it holds")
        fx_path = folder / "fx.csv"
        fx_path.write_bytes(fx_bytes)
    # -- the parameters and the results
    if "parameters_sha256" in record:
        if canonical_sha256(record["parameters"]) != record["parameters_sha256"]:
            raise refuse("parameters_sha256", "the parameters it holds")
    else:
        notes.append("the record predates parameters_sha256 and result_sha256: its "
                     "parameters and results are not protected by a hash")
    if record["result"]["as_of"] != record["as_of"]:
        raise refuse("result.as_of", "as_of")
    return Rebuilt(record, policy, facts_path, fx_path, kind, notes)


def results_altered(record: dict[str, Any]) -> bool:
    """Whether the recorded results differ from what was written (their hash)."""
    return ("result_sha256" in record
            and canonical_sha256(record["result"]) != record["result_sha256"])


def verify_only(path: str | os.PathLike[str]) -> list[str]:
    """Check a record on its own without evaluating it: schema, every hash, its policy
    rebuilds and checks. Returns notes; raises :class:`RecordInvalid`."""
    with tempfile.TemporaryDirectory(prefix="unclaimed-replay-") as tmp:
        rebuilt = verify(path, Path(tmp))
    if results_altered(rebuilt.record):
        raise RecordInvalid(f"{_shown(path)}: result_sha256 does not match the results "
                            "it holds")
    return rebuilt.notes


def replay(path: str | os.PathLike[str], new_policy: str | None = None) -> Replay:
    """Evaluate a record again, with its own policy or with ``new_policy``."""
    from evaluator.policy import load_policy

    with tempfile.TemporaryDirectory(prefix="unclaimed-replay-") as tmp:
        rebuilt = verify(path, Path(tmp))
        record, recorded = rebuilt.record, rebuilt.policy
        notes = list(rebuilt.notes)
        if results_altered(record):
            notes.append("the recorded results were changed after the record was written "
                         "(result_sha256 does not match them)")
        policy = load_policy(new_policy) if new_policy else recorded
        before = record["result"]
        if "determinations" in before:
            after = _evaluate_table(rebuilt, policy, Path(tmp))
            changes = _table_changes(before, after)
        else:
            facts = _load_facts(rebuilt, policy.facts_decl)
            result = policy.evaluate(facts, as_of=record["as_of"],
                                     params=record["parameters"],
                                     backend=record.get("backend", "auto"))
            after = json.loads(result.to_json())
            changes = changed_determinations(before, after)
            if changes and new_policy:
                _explain(changes, recorded, policy, facts, record)
    label = f"{policy.id}@{policy.version}"
    comparable = {k: v for k, v in after.items() if k not in ("policy", "facts")}
    original = {k: v for k, v in before.items() if k not in ("policy", "facts")}
    same = comparable == original and not changes and not results_altered(record)
    return Replay(label, same, changes, notes)


def _load_facts(rebuilt: Rebuilt, decl: Any = None) -> Any:
    from evaluator.backends.columnar import read_table
    from evaluator.errors import Unsupported
    from evaluator.facts import load_facts

    backend = rebuilt.record.get("backend", "auto")
    if rebuilt.kind in ("csv", "parquet") and backend != "scalar":
        try:
            return read_table(rebuilt.facts_path, rebuilt.fx_path, decl=decl)
        except Unsupported:
            if backend == "columnar":
                raise
    return load_facts(rebuilt.facts_path, fx=rebuilt.fx_path, decl=decl)


def _evaluate_table(rebuilt: Rebuilt, policy: Any, folder: Path) -> dict[str, Any]:
    """The determinations of a table run written again, in ``folder``: the same result
    document as :func:`table_result` gives."""
    from evaluator.apps.portfolio import evaluate_file
    from evaluator.policy import as_date

    record = rebuilt.record
    kind = record["result"]["determinations"]["kind"]
    out = folder / f"determinations.{kind}"
    specs, _ = policy.run_params(record["parameters"])
    summary = evaluate_file(policy, rebuilt.facts_path, rebuilt.fx_path,
                            as_date(record["as_of"]), specs, out,
                            chunk_rows=record.get("chunk_rows"),
                            fallback=record.get("backend", "auto") != "columnar")
    return table_result(policy, record["as_of"], specs, {"source": record["facts"]["name"],
                        "sha256": record["facts"]["sha256"]}, summary, out,
                        record["result"]["determinations"]["name"])


def table_result(policy: Any, as_of: str, specs: dict[str, Any], facts: dict[str, Any],
                 summary: Any, out: Path, name: str) -> dict[str, Any]:
    """The result document of a run that wrote its determinations to a table file: the
    file's sha256 and row count, the record errors and the portfolio outputs."""
    from evaluator.lang.values import to_json_value
    from evaluator.policy import param_json

    doc: dict[str, Any] = {
        "policy": policy.info(), "as_of": as_of,
        "parameters": {n: param_json(s) for n, s in sorted(specs.items())},
        "facts": facts,
        "determinations": {"name": name, "kind": _kind_of(name),
                           "sha256": file_sha256(out), "rows": summary.determinations},
    }
    if summary.portfolio is not None:
        doc["portfolio"] = {k: to_json_value(v) for k, v in summary.portfolio.items()}
    doc["errors"] = [e.to_json() for e in summary.errors]
    return doc


def _table_changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    changes: list[Change] = []
    a, b = before["determinations"], after["determinations"]
    if (a["sha256"], a["rows"]) != (b["sha256"], b["rows"]):
        changes.append(Change("determinations", a["name"], ["sha256", "rows"],
                              {"sha256": a["sha256"], "rows": a["rows"]},
                              {"sha256": b["sha256"], "rows": b["rows"]}))
    for key in ("errors", "portfolio"):
        if before.get(key) != after.get(key):
            changes.append(Change(key, key, [], before.get(key), after.get(key)))
    # the file's name is the one recorded (replay writes under a name of its own)
    after["determinations"] = {**b, "name": a["name"]}
    return changes


def changed_determinations(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    changes: list[Change] = []
    for kind, key_name in (("account", "account_id"), ("claim", "claim_id")):
        section = kind + "s"
        a = {x[key_name]: x for x in before.get(section, [])}
        b = {x[key_name]: x for x in after.get(section, [])}
        for key in sorted(set(a) | set(b), key=str):
            x, y = a.get(key), b.get(key)
            if x == y:
                continue
            fields = sorted(k for k in set(x or {}) | set(y or {})
                            if (x or {}).get(k) != (y or {}).get(k))
            changes.append(Change(kind, str(key), fields, x, y))
    if before.get("errors") != after.get("errors"):
        changes.append(Change("errors", "errors", [], before.get("errors"), after.get("errors")))
    if before.get("portfolio") != after.get("portfolio"):
        changes.append(Change("portfolio", "portfolio", [], before.get("portfolio"),
                              after.get("portfolio")))
    return changes


def _explain(changes: list[Change], old: Any, new: Any, facts: Any,
             record: dict[str, Any]) -> None:
    """The first diverging definition of each changed account (scalar traces)."""
    from evaluator.apps.compare import first_divergence
    from evaluator.facts.model import Facts

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
            name, _, _ = first_divergence(da.get(c.key), db.get(c.key))
            c.why = name or None
