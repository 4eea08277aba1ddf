"""Fuzzing broken facts (hypothesis): mutated snapshot tables and JSON profiles.

Whatever the damage, ``unclaimed evaluate`` gives no traceback, and either stops with exit
status 2 and a one-line message (only where the input as a whole is unusable: not UTF-8,
a broken header, an unterminated quote, a broken top level), or accounts for every record:
records in = determinations + errors, where the records are counted here independently
of the evaluator (data rows that are not entirely blank, as Python's ``csv`` module reads
them; a member's accounts, or the member itself when it has none or they are unreadable,
plus the claims). A snapshot table gives the same determinations and errors from the
default (columnar) backend and from ``--backend scalar``.

Each property runs ``UNCLAIMED_FACTS_FUZZ_EXAMPLES`` examples (60 by default; ``pytest
--fuzz`` makes it 3,000).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluator.facts import SNAPSHOT_COLUMNS
from tests.support import ROOT, tally
from tests.test_broken_facts import evaluate

EXAMPLES = int(os.environ.get("UNCLAIMED_FACTS_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

CSV_TEXT = (ROOT / "examples" / "members.csv").read_text(encoding="utf-8")
CLEAN_ROWS = list(csv.reader(io.StringIO(CSV_TEXT, newline="")))
JSON_DOC: dict[str, Any] = json.loads((ROOT / "examples" / "members.json")
                                      .read_text(encoding="utf-8"))

#: values a damaged cell may take
BAD_CELLS = ("", " ", "2026-02-30", "0000-01-01", "9999-12-31", "31/12/2020", "2020-1-5",
             "-1.00", "-0.00", "1e3", "NaN", "Infinity", "１２.００", "12.5.1", "1,234.56",
             "0.000000000001", "99999999999999999999.99", "usd", "EURO", "XXX", "abc",
             '"', 'a"b', "a\nb", "a\rb", "\x00", "\ufeff", "é日", "M01", "M01-A", "M" * 2000)
#: raw bytes that may be spliced into the file
BAD_BYTES = (b'"', b",", b"\n", b"\r", b"\r\n", b"\x00", b"\xff", b"\xe9", b"\xef\xbb\xbf",
             b",,,,,,,,", b'"unterminated')


def _line(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


cell_damage = st.tuples(st.sampled_from(["set", "drop", "add", "duplicate-row", "drop-row",
                                         "blank-row", "swap-rows"]),
                        st.integers(1, len(CLEAN_ROWS) - 1), st.integers(0, 8),
                        st.sampled_from(BAD_CELLS))
byte_damage = st.tuples(st.floats(0, 1, exclude_max=True), st.sampled_from(BAD_BYTES))


def damaged_csv(steps: list[tuple[str, int, int, str]],
                splices: list[tuple[float, bytes]]) -> bytes:
    rows = [list(r) for r in CLEAN_ROWS]
    for kind, i, j, value in steps:
        i = min(i, len(rows) - 1)
        if i < 1:
            continue
        row = rows[i]
        j = min(j, max(len(row) - 1, 0))
        if kind == "set" and row:
            row[j] = value
        elif kind == "drop" and row:
            del row[j]
        elif kind == "add":
            row.insert(j, value)
        elif kind == "duplicate-row":
            rows.insert(i, list(row))
        elif kind == "drop-row" and len(rows) > 2:
            del rows[i]
        elif kind == "blank-row":
            rows.insert(i, [" "] * j)
        elif kind == "swap-rows" and i + 1 < len(rows):
            rows[i], rows[i + 1] = rows[i + 1], rows[i]
    data = "".join(_line(r) for r in rows).encode("utf-8")
    for where, chunk in splices:
        k = len(CSV_TEXT.splitlines()[0]) + 1 + int(where * (len(data) - 40))  # not the header
        data = data[:k] + chunk + data[k:]
    return data


def csv_expectation(data: bytes) -> tuple[bool, int | None]:
    """(whether exit status 2 is acceptable, the records in the file or None when it
    cannot be read at all)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return True, None
    text = text.removeprefix("\ufeff")
    try:
        list(csv.reader(io.StringIO(text, newline=""), strict=True))
        strict_ok = True
    except csv.Error:
        strict_ok = False
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or [c.strip() for c in rows[0]] != list(SNAPSHOT_COLUMNS):
        return True, None
    records = sum(1 for r in rows[1:] if any(c.strip() for c in r))
    return not strict_ok, records


_SCRATCH: list[Path] = []


def _scratch(factory: Any) -> Path:
    """One directory for all the examples of the run (each overwrites its file)."""
    if not _SCRATCH:
        _SCRATCH.append(Path(factory.mktemp("facts-fuzz")))
    return _SCRATCH[0]


def _json(code: int, out: str, err: str, what: str) -> dict[str, Any] | None:
    if code == 2:
        lines = err.strip().splitlines()
        assert out == "" and len(lines) == 1 and lines[0].startswith("error: "), (what, err)
        return None
    assert code in (0, 1), (what, code, err)
    doc: dict[str, Any] = json.loads(out)
    return doc


@FUZZ
@given(steps=st.lists(cell_damage, min_size=1, max_size=6),
       splices=st.lists(byte_damage, max_size=2))
def test_fuzz_damaged_snapshot_tables(tmp_path_factory: Any,
                                      steps: list[tuple[str, int, int, str]],
                                      splices: list[tuple[float, bytes]]) -> None:
    data = damaged_csv(steps, splices)
    path = _scratch(tmp_path_factory) / "facts.csv"
    path.write_bytes(data)
    may_stop, records = csv_expectation(data)
    docs = {mode: _json(*evaluate(path, *extra), mode)
            for mode, extra in (("auto", []), ("scalar", ["--backend", "scalar"]))}
    if docs["auto"] is None or docs["scalar"] is None:
        assert docs["auto"] is None and docs["scalar"] is None, "only one backend stopped"
        assert may_stop, f"exit 2 for a readable table:\n{data!r}"
    else:
        auto, scalar = docs["auto"], docs["scalar"]
        assert auto["accounts"] == scalar["accounts"]
        assert auto["errors"] == scalar["errors"]
        assert records is not None
        assert len(auto["accounts"]) + len(auto["errors"]) == records, data
        for e in auto["errors"]:
            assert e.get("field") and (e.get("account_id") or e.get("member_id")
                                       or e.get("location")), e
    tally("facts fuzz: damaged snapshot tables (both backends)")


# -- JSON profiles

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.sampled_from(BAD_CELLS)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["member_id", "account_id", "balance", "opened",
                                       "date", "type", "x"]), inner, max_size=3),
    max_leaves=8)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


PATHS = [p for p in _paths(JSON_DOC) if p]


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


_DELETE = object()


def json_records(doc: dict[str, Any]) -> int:
    n = 0
    for m in doc["members"]:
        accounts = m.get("accounts") if isinstance(m, dict) else None
        n += len(accounts) if isinstance(accounts, list) and accounts else 1
    return n + len(doc.get("claims") or [])


@FUZZ
@given(edits=st.lists(st.tuples(st.sampled_from(PATHS), json_values | st.just(_DELETE)),
                      min_size=1, max_size=4))
def test_fuzz_damaged_json_profiles(tmp_path_factory: Any,
                                    edits: list[tuple[tuple[Any, ...], Any]]) -> None:
    doc = copy.deepcopy(JSON_DOC)
    top_level = False
    for path, value in edits:
        try:
            _replace(doc, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced what the path went through
        top_level |= len(path) <= 1 or path[0] == "fx_rates"
    path = _scratch(tmp_path_factory) / "facts.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = _json(*evaluate(path), "json")
    if result is None:
        assert top_level, f"exit 2 for a profile whose top level is intact: {edits}"
    else:
        assert len(result["accounts"]) + len(result["claims"]) + len(result["errors"]) \
            == json_records(doc), edits
        for e in result["errors"]:
            assert e.get("field"), e
    tally("facts fuzz: damaged JSON profiles")
