"""Broken facts: no record is lost, no traceback, and both backends say the same.

Every input record (an account, a member without accounts, a claim, a snapshot row that is
not entirely blank) ends up either as a determination or as an entry in ``errors`` naming
the record and the field at fault; input that is unusable as a whole exits with status 2
and a one-line message.

* ``tests/broken/``: small broken JSON profiles and CSV snapshots, and in
  ``tests/broken/cases.yaml`` what ``unclaimed evaluate`` must do with each (exit status,
  accounts evaluated, errors with ids and field). Known bugs are marked there and run as
  strict xfails.
* Whole-input failures that cannot live in the repository (a directory, a missing or
  unreadable file, deeply nested JSON, bad FX tables) are built in ``tmp_path``.
* A generated portfolio (~3,000 members, :func:`evaluator.generate.generate`) is corrupted
  row by row with ``random.Random(seed)`` and evaluated with the scalar backend, the
  columnar backend and :func:`evaluator.portfolio.evaluate_file`: records in =
  determinations + errors, every corrupted row is reported with its id and field, the
  backends agree exactly, and every other row is evaluated as if the broken rows were
  simply absent (so members untouched by the corruption get exactly the determinations
  of the clean file).
* The same for a generated-like JSON profile document, with the scalar backend.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import os
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from evaluator import Policy, load_policy
from evaluator.cli import main
from evaluator.columnar import read_table
from evaluator.facts import SNAPSHOT_COLUMNS, facts_from_json, load_facts
from evaluator.generate import generate
from evaluator.portfolio import evaluate_file
from tests.support import BASELINE, tally

BROKEN = Path(__file__).resolve().parent / "broken"
CASES: dict[str, dict[str, Any]] = yaml.safe_load(
    (BROKEN / "cases.yaml").read_text(encoding="utf-8"))
AS_OF = "2026-11-21"
AS_OF_DAY = dt.date(2026, 11, 21)
HEADER = ",".join(SNAPSHOT_COLUMNS)
#: members of the generated portfolio; seeds of the corruption (more under --fuzz)
MEMBERS = 3000
SEEDS = list(range(1, 9)) if os.environ.get("UNCLAIMED_FUZZ_EXAMPLES") else [20261121]


@pytest.fixture(scope="module")
def baseline() -> Policy:
    return load_policy(BASELINE)


# --------------------------------------------------------------------------- running


def run(*argv: str) -> tuple[int, str, str]:
    """`unclaimed ARGV` in-process: (exit status, stdout, stderr); an exception is a bug."""
    out, err = io.StringIO(), io.StringIO()
    try:
        code = main(list(argv), stdout=out, stderr=err)
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else 2
    except Exception as exc:
        pytest.fail(f"unclaimed {' '.join(argv)} raised {type(exc).__name__}: {exc}")
    assert "Traceback" not in err.getvalue(), err.getvalue()
    return code, out.getvalue(), err.getvalue()


def evaluate(facts: Path | str, *extra: str) -> tuple[int, str, str]:
    return run("evaluate", "--policy", "fsra-2024-001", "--facts", str(facts),
               "--as-of", AS_OF, *extra)


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


def matches(actual: dict[str, Any], expected: dict[str, Any]) -> bool:
    for key, want in expected.items():
        got = actual.get(key)
        if want == "*":
            if not got:
                return False
        elif got != want:
            return False
    return True


def assert_errors(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    shown = json.dumps(actual, indent=1)
    assert len(actual) == len(expected), shown
    for got, want in zip(actual, expected, strict=True):
        assert matches(got, want), f"expected {want}\nin\n{shown}"
        assert got.get("message"), shown


def assert_record_errors_are_named(errors: Iterable[dict[str, Any]]) -> None:
    """Every record error names its record (an id or a location) and a field."""
    for e in errors:
        assert e.get("field"), f"no field: {e}"
        assert any(e.get(k) for k in ("account_id", "member_id", "claim_id", "location")), e


# --------------------------------------------------------------------------- the corpus


def _case_params() -> list[Any]:
    params = []
    for name, case in CASES.items():
        marks = [pytest.mark.xfail(strict=True, reason=f"BUG: {case['bug']}")] \
            if case.get("bug") else []
        params.append(pytest.param(name, case, id=name, marks=marks))
    return params


def test_every_file_in_the_corpus_has_an_expectation() -> None:
    files = {p.name for p in BROKEN.iterdir() if p.name != "cases.yaml"}
    assert files == set(CASES)


def _modes(name: str) -> list[tuple[str, list[str]]]:
    if name.endswith(".json"):
        return [("scalar", [])]
    modes: list[tuple[str, list[str]]] = [("columnar", [])]
    if name.endswith(".csv"):
        modes.append(("scalar", ["--backend", "scalar"]))
    modes.append(("file", ["--out", "OUT.parquet"]))
    return modes


@pytest.mark.parametrize(("name", "case"), _case_params())
def test_broken_file(name: str, case: dict[str, Any], tmp_path: Path) -> None:
    path = BROKEN / name
    docs: dict[str, dict[str, Any]] = {}
    for mode, extra in _modes(name):
        out_file = tmp_path / f"{mode}.parquet"
        argv = [str(out_file) if a == "OUT.parquet" else a for a in extra]
        code, out, err = evaluate(path, *argv)
        assert code == case["exit"], f"{mode}: exit {code}\n{err}"
        if code == 2:
            assert out == "", mode
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), f"{mode}: {err}"
            assert name in lines[0], f"{mode}: the message names the file: {err}"
            if "message" in case:
                assert case["message"] in lines[0], f"{mode}: {err}"
            continue
        errors = case["errors"]
        if mode == "file":
            assert len(error_lines(err)) == len(errors), f"{mode}:\n{err}"
            written = pl.read_parquet(out_file)
            assert written.get_column("account_id").to_list() == case["accounts"], mode
            assert f"{len(case['accounts']):,} determinations, {len(errors):,} errors" in err
            continue
        doc = json.loads(out)
        docs[mode] = doc
        assert [a["account_id"] for a in doc["accounts"]] == case["accounts"], mode
        assert [c["claim_id"] for c in doc["claims"]] == case.get("claims", []), mode
        assert_errors(doc["errors"], errors)
        assert_record_errors_are_named(doc["errors"])
        assert len(doc["accounts"]) + len(doc["claims"]) + len(doc["errors"]) \
            == case["records"], mode
    if "columnar" in docs and "scalar" in docs:
        for key in ("accounts", "claims", "errors", "portfolio"):
            assert docs["columnar"].get(key) == docs["scalar"].get(key), key
    tally(f"facts: broken {path.suffix[1:].upper()} files of the corpus")
    tally("facts: records in broken files of the corpus", case.get("records", 0))


# --------------------------------------------------------------------------- whole input


def _directory(tmp: Path, suffix: str) -> Path:
    path = tmp / f"facts{suffix}"
    path.mkdir()
    return path


def _nested_json(tmp: Path) -> Path:
    path = tmp / "nested.json"
    path.write_text('{"members": ' + "[" * 200_000 + "]" * 200_000 + "}", encoding="utf-8")
    return path


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path
    return make


def _parquet(frame: pl.DataFrame) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / "facts.parquet"
        frame.write_parquet(path)
        return path
    return make


GOOD_ROW = b"M1,M1-A,USD,10.00,2001-04-01,2014-03-02,,\n"
GOOD_CSV = HEADER.encode() + b"\n" + GOOD_ROW

WHOLE_INPUT: dict[str, tuple[Callable[[Path], Path], Callable[[Path], Path] | None]] = {
    # name: (facts, fx or None)
    "directory-csv": (lambda t: _directory(t, ".csv"), None),
    "directory-json": (lambda t: _directory(t, ".json"), None),
    "directory-parquet": (lambda t: _directory(t, ".parquet"), None),
    "missing-csv": (lambda t: t / "nowhere.csv", None),
    "missing-json": (lambda t: t / "nowhere.json", None),
    "missing-parquet": (lambda t: t / "nowhere.parquet", None),
    "no-extension": (_write("facts", GOOD_CSV), None),
    "txt-extension": (_write("facts.txt", GOOD_CSV), None),
    "empty-parquet": (_write("facts.parquet", b""), None),
    "truncated-parquet": (_write("facts.parquet", b"PAR1\x00\x00\x00PAR1"), None),
    "random-bytes-csv": (_write("facts.csv", random.Random(7).randbytes(4096)), None),
    "random-bytes-json": (_write("facts.json", random.Random(7).randbytes(4096)), None),
    "utf16-json": (_write("facts.json", '{"members": []}'.encode("utf-16")), None),
    "nested-json": (_nested_json, None),
    "parquet-missing-columns": (_parquet(pl.DataFrame({"member_id": ["M1"],
                                                       "account_id": ["M1-A"]})), None),
    "fx-missing": (_write("facts.csv", GOOD_CSV), lambda t: t / "nowhere.fx.csv"),
    "fx-directory": (_write("facts.csv", GOOD_CSV), lambda t: _directory(t, ".fx.csv")),
    "fx-bad-rate": (_write("facts.csv", GOOD_CSV),
                    _write("fx.csv", b"currency,date,rate\nUSD,2026-09-30,abc\n")),
    "fx-negative-rate": (_write("facts.csv", GOOD_CSV),
                         _write("fx.csv", b"currency,date,rate\nUSD,2026-09-30,-1.2\n")),
    "fx-bad-date": (_write("facts.csv", GOOD_CSV),
                    _write("fx.csv", b"currency,date,rate\nUSD,2026-02-30,1.38\n")),
    "fx-conflict": (_write("facts.csv", GOOD_CSV), _write(
        "fx.csv", b"currency,date,rate\nUSD,2026-09-30,1.38\nUSD,2026-09-30,1.39\n")),
    "fx-no-header": (_write("facts.csv", GOOD_CSV), _write("fx.csv", b"USD,2026-09-30,1.38\n")),
    "fx-empty": (_write("facts.csv", GOOD_CSV), _write("fx.csv", b"")),
    "fx-binary": (_write("facts.csv", GOOD_CSV), _write("fx.csv", b"\xff\xfe\x00\x01")),
    # a value with a line break, quoted in the message: still one line (found by fuzzing)
    "json-fx-rates-multiline": (_write("facts.json",
                                       b'{"members": [], "fx_rates": "a\\nb\\u0000"}'), None),
}


WHOLE_INPUT_BUGS: dict[str, str] = {}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[pytest.mark.xfail(strict=True, reason=f"BUG: {WHOLE_INPUT_BUGS[n]}")]
                 if n in WHOLE_INPUT_BUGS else []) for n in WHOLE_INPUT])
def test_whole_input_failures_exit_2_with_one_line(name: str, tmp_path: Path) -> None:
    make_facts, make_fx = WHOLE_INPUT[name]
    facts = make_facts(tmp_path)
    fx = ["--fx", str(make_fx(tmp_path))] if make_fx is not None else []
    modes: list[list[str]] = [[]]
    if facts.suffix == ".csv":
        modes.append(["--backend", "scalar"])
    if facts.suffix in (".csv", ".parquet"):
        modes.append(["--out", str(tmp_path / "out.parquet")])
    for extra in modes:
        code, out, err = evaluate(facts, *fx, *extra)
        assert code == 2, f"{extra}: exit {code}\n{out[:500]}\n{err}"
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{extra}: {err}"
    tally("facts: unusable inputs (exit 2, one line)")


@pytest.mark.parametrize("name", ["huge-balance.csv", "fine-balance.csv"])
def test_a_table_beyond_the_columnar_backend_when_it_is_required(name: str,
                                                                 tmp_path: Path) -> None:
    """By default such a table is evaluated row by row (tests/broken/cases.yaml); when the
    columnar backend is asked for explicitly, or `compare` needs it, one line, exit 2."""
    path = BROKEN / name
    for argv in (["evaluate", "--policy", "fsra-2024-001", "--facts", str(path), "--as-of",
                  AS_OF, "--backend", "columnar", "--out", str(tmp_path / "out.csv")],
                 ["evaluate", "--policy", "fsra-2024-001", "--facts", str(path), "--as-of",
                  AS_OF, "--backend", "columnar"],
                 ["compare", "--policy", "fsra-2024-001", "--policy", "fsra-2024-001-semi-annual",
                  "--facts", str(path), "--as-of", AS_OF, "--out", str(tmp_path / "cmp")]):
        code, out, err = run(*argv)
        lines = err.strip().splitlines()
        assert code == 2 and out == "", (argv, code, out, err)
        assert len(lines) == 1 and lines[0].startswith("error: ") \
            and "columnar backend" in lines[0], err
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads files whatever their mode")
def test_an_unreadable_file_exits_2(tmp_path: Path) -> None:
    for name in ("facts.csv", "facts.json"):
        path = tmp_path / name
        path.write_bytes(GOOD_CSV if name.endswith(".csv") else b'{"members": []}')
        path.chmod(0)
        try:
            code, out, err = evaluate(path)
        finally:
            path.chmod(0o600)
        assert code == 2 and out == "" and err.startswith("error: "), err


# --------------------------------------------------------------------------- generated CSV


@dataclass
class Expected:
    """What the corrupted file must give."""

    #: file line -> (member_id, account_id, field) of a row that cannot be read;
    #: "*" for "any" (a shifted row), field "*" for "some field"
    row_errors: dict[int, tuple[Any, Any, str]] = field(default_factory=dict)
    #: account ids of members that cannot be evaluated as a whole (a date after as-of)
    late: dict[str, str] = field(default_factory=dict)
    #: the rows that must be evaluated, cleaned of tolerated damage, in file order
    valid_rows: list[list[str]] = field(default_factory=list)
    #: members whose determinations must equal those of the clean file
    untouched: set[str] = field(default_factory=set)
    #: data rows that are not entirely blank
    records: int = 0
    kinds: Counter[str] = field(default_factory=Counter)


#: kinds of damage and how many members get each, per seed
FIELD_DAMAGE = {
    "opened-30-feb": 12, "other-date-30-feb": 12, "opened-dmy": 8, "transaction-dmy": 8,
    "opened-empty": 10, "balance-not-a-number": 16, "balance-negative": 12,
    "currency-lower-case": 10, "currency-unknown": 12, "duplicate-id": 12,
    "duplicate-id-first": 6, "member-blank": 10, "date-after-as-of": 6,
}
TOLERATED = {"spaces-around-values": 12}
BLANK = {"row-of-commas": 4, "empty-line": 3}
#: damage to the shape of a row (a cell missing or too many) and the year 0000
SHAPE_DAMAGE = {"missing-cell": 12, "extra-cell": 12, "row-of-extra-commas": 2,
              "row-of-blanks": 3, "date-year-zero": 4}

BAD_BALANCES = ["abc", "1e3", "12.", ".50", "NaN", "$12.00", "1,234.56", "１２.００",
                "12.5.1", "- 5", "0x10", "∞"]
BAD_CURRENCIES = ["usd", "XX", "EURO", "C4D", "", "U$D", "cAD"]


def _read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(SNAPSHOT_COLUMNS)
    return rows[1:]


def _line(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def corrupt(clean: list[list[str]], rng: random.Random
            ) -> tuple[str, Expected]:
    """The text of a corrupted copy of ``clean`` (data rows) and what it must give."""
    exp = Expected()
    by_member: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(clean):
        by_member[row[0]].append(i)
    members = list(by_member)
    plan = {**FIELD_DAMAGE, **TOLERATED, **BLANK, **SHAPE_DAMAGE}
    # a date after the as-of date spoils the whole member: take members with several rows
    several = [m for m in members if len(by_member[m]) > 1]
    damage = dict.fromkeys(rng.sample(several, plan.pop("date-after-as-of")),
                           "date-after-as-of")
    chosen = rng.sample([m for m in members if m not in damage], sum(plan.values()))
    k = 0
    for kind, n in plan.items():
        for member in chosen[k:k + n]:
            damage[member] = kind
        k += n
    chosen = list(damage)
    touched = set(chosen) - {m for m, kind in damage.items() if kind in TOLERATED}
    spare = [m for m in members if m not in damage]  # sources of duplicated ids
    rng.shuffle(spare)

    # the cells written for each row; blank lines go after the row they were drawn for
    out_rows: dict[int, list[str]] = {i: list(r) for i, r in enumerate(clean)}
    row_error: dict[int, tuple[Any, Any, str]] = {}
    after: dict[int, str] = {}
    dropped: set[int] = set()  # valid in the clean file, an error in the corrupted one
    renamed: dict[int, list[str]] = {}  # valid rows that changed in a tolerated way
    late_members: set[str] = set()
    for member, kind in damage.items():
        rows = by_member[member]
        i = rng.choice(rows)
        cells = list(clean[i])
        mid, aid = cells[0], cells[1]
        if kind == "opened-30-feb":
            cells[4] = "2026-02-30"
            row_error[i] = (mid, aid, "opened")
        elif kind == "other-date-30-feb":
            c = rng.choice([5, 6, 7])
            cells[c] = rng.choice(["2026-02-30", "2019-02-29", "2021-04-31"])
            row_error[i] = (mid, aid, SNAPSHOT_COLUMNS[c])
        elif kind == "opened-dmy":
            cells[4] = "31/12/2020"
            row_error[i] = (mid, aid, "opened")
        elif kind == "transaction-dmy":
            cells[5] = rng.choice(["31/12/2020", "2020-1-5", "20200105", "2020-12-31T00:00"])
            row_error[i] = (mid, aid, "last_transaction")
        elif kind == "opened-empty":
            cells[4] = rng.choice(["", "  "])
            row_error[i] = (mid, aid, "opened")
        elif kind == "balance-not-a-number":
            cells[3] = rng.choice(BAD_BALANCES)
            row_error[i] = (mid, aid, "balance")
        elif kind == "balance-negative":
            own = "-" + cells[3] if Decimal(cells[3]) > 0 else "-0.01"  # -0.00 is zero
            cells[3] = rng.choice([own, "-0.01", "-1520.00"])
            row_error[i] = (mid, aid, "balance")
        elif kind == "currency-lower-case":
            cells[2] = cells[2].lower()
            row_error[i] = (mid, aid, "currency")
        elif kind == "currency-unknown":
            cells[2] = rng.choice(BAD_CURRENCIES)
            row_error[i] = (mid, aid, "currency")
        elif kind in ("duplicate-id", "duplicate-id-first"):
            # the id of a row of another member: the later occurrence is the error
            source_member = spare.pop()
            j = rng.choice(by_member[source_member])
            cells[1] = clean[j][1]
            if kind == "duplicate-id" and j > i:
                kind = "duplicate-id-first"
            elif kind == "duplicate-id-first" and j < i:
                kind = "duplicate-id"
            if kind == "duplicate-id":  # the copy comes after the original
                row_error[i] = (mid, cells[1], "account_id")
            else:  # the copy comes first: it is evaluated, the original is the error
                row_error[j] = (source_member, cells[1], "account_id")
                dropped.add(j)
                renamed[i] = cells
                touched.add(source_member)
        elif kind == "member-blank":
            cells[0] = rng.choice(["", " ", "\t"])
            row_error[i] = (None, aid, "member_id")
        elif kind == "date-after-as-of":
            cells[5] = rng.choice(["2026-11-22", "2027-01-15", "2031-06-30"])
            late_members.add(member)
        elif kind == "spaces-around-values":
            cells = [f" {c}  " if c else rng.choice(["", " "]) for c in cells]
        elif kind == "row-of-commas":
            after[i] = "," * (len(SNAPSHOT_COLUMNS) - 1) + "\n"
        elif kind == "row-of-blanks":
            after[i] = ", ,\t,  , , , , \n"
        elif kind == "empty-line":
            after[i] = "\n"
        elif kind == "row-of-extra-commas":
            after[i] = "," * (len(SNAPSHOT_COLUMNS) + 2) + "\n"
        elif kind == "date-year-zero":
            c = rng.choice([4, 5])
            cells[c] = "0000-01-01"
            row_error[i] = (mid, aid, SNAPSHOT_COLUMNS[c])
        elif kind == "missing-cell":
            p = rng.randrange(len(cells))
            del cells[p]
            row_error[i] = (mid if p > 0 else "*", aid if p > 1 else "*", "*")
        elif kind == "extra-cell":
            p = rng.randrange(2, len(cells) + 1)
            cells.insert(p, rng.choice(["", "x", "0", "2020-01-01"]))
            row_error[i] = (mid, aid, "*")
        else:  # pragma: no cover
            raise AssertionError(kind)
        out_rows[i] = cells
        exp.kinds[kind] += 1

    lines = [HEADER + "\n"]
    line_of: dict[int, int] = {}
    for i in range(len(clean)):
        line_of[i] = len(lines) + 1
        lines.append(_line(out_rows[i]))
        if i in after:
            lines.append(after[i])
    exp.records = len(clean)
    exp.row_errors = {line_of[i]: e for i, e in row_error.items()}
    for i, row in enumerate(clean):
        if i in row_error or i in dropped:
            continue
        if row[0] in late_members:
            exp.late[row[1]] = row[0]
            continue
        exp.valid_rows.append(renamed.get(i, row))
    exp.untouched = set(members) - touched
    return "".join(lines), exp


def _no_location(e: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in e.items() if k != "location"}


def check_result(doc: dict[str, Any], exp: Expected, reference: dict[str, Any],
                 clean: dict[str, dict[str, Any]], label: str) -> None:
    accounts, errors = doc["accounts"], doc["errors"]
    # records in = determinations + errors
    assert len(accounts) + len(errors) == exp.records, \
        f"{label}: {exp.records} records in, {len(accounts)} determinations + " \
        f"{len(errors)} errors"
    assert_record_errors_are_named(errors)
    # every damaged row is reported, at its line, with its ids and field
    at_line = {int(e["location"][4:]): e for e in errors if e.get("location")}
    assert len(at_line) == sum(1 for e in errors if e.get("location")), label
    missing = sorted(set(exp.row_errors) - set(at_line))
    assert not missing, f"{label}: rows not reported: {missing[:10]}"
    unexpected = sorted(set(at_line) - set(exp.row_errors))
    assert not unexpected, f"{label}: unexpected errors: {[at_line[n] for n in unexpected]}"
    for line, (member_id, account_id, name) in exp.row_errors.items():
        e = at_line[line]
        want = {"member_id": member_id, "account_id": account_id, "field": name}
        want = {k: v for k, v in want.items() if v != "*"}
        if name == "*":
            want["field"] = "*"
        assert matches(e, want), f"{label}: row {line}: expected {want}, got {e}"
    late = {e["account_id"]: e for e in errors if not e.get("location")}
    assert set(late) == set(exp.late), label
    for aid, e in late.items():
        assert e["member_id"] == exp.late[aid] and e["field"] == "date", e
    # every other row is evaluated, as if the broken rows were absent
    assert accounts == reference["accounts"], label
    assert doc.get("portfolio") == reference.get("portfolio"), label
    same = 0
    for a in accounts:
        if a["member_id"] in exp.untouched:
            assert a == clean[a["account_id"]], f"{label}: {a['account_id']}"
            same += 1
    assert same > len(accounts) // 2


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("portfolio")
    path = tmp / "clean.csv"
    generate(path, MEMBERS, seed=5)
    return path, tmp / "clean.fx.csv"


@pytest.fixture(scope="module")
def clean_result(baseline: Policy, portfolio: tuple[Path, Path]) -> dict[str, Any]:
    path, fx = portfolio
    doc = baseline.evaluate(load_facts(path, fx), as_of=AS_OF, backend="scalar").to_dict()
    assert doc["errors"] == [] and len(doc["accounts"]) > MEMBERS
    return doc


def _corrupted_portfolio(baseline: Policy, portfolio: tuple[Path, Path],
                         clean_result: dict[str, Any], tmp_path: Path, seed: int) -> None:
    clean_path, fx = portfolio
    rows = _read_rows(clean_path)
    text, exp = corrupt(rows, random.Random(seed))
    broken = tmp_path / "broken.csv"
    broken.write_text(text, encoding="utf-8")
    reference_path = tmp_path / "reference.csv"
    reference_path.write_text(HEADER + "\n" + "".join(_line(r) for r in exp.valid_rows),
                              encoding="utf-8")
    reference = baseline.evaluate(load_facts(reference_path, fx), as_of=AS_OF,
                                  backend="scalar").to_dict()
    assert reference["errors"] == []
    clean = {a["account_id"]: a for a in clean_result["accounts"]}

    scalar = baseline.evaluate(load_facts(broken, fx), as_of=AS_OF,
                               backend="scalar").to_dict()
    check_result(scalar, exp, reference, clean, "scalar")
    columnar = baseline.evaluate(read_table(broken, fx), as_of=AS_OF,
                                 backend="columnar").to_dict()
    check_result(columnar, exp, reference, clean, "columnar")
    assert columnar["accounts"] == scalar["accounts"]
    assert columnar["errors"] == scalar["errors"]

    # the portfolio path: whole, and in member-consistent chunks
    specs, _ = baseline.run_params({})
    outputs = []
    for chunk_rows in (None, 700):
        out = tmp_path / f"out-{chunk_rows}.parquet"
        summary = evaluate_file(baseline, broken, fx, AS_OF_DAY, specs, out,
                                chunk_rows=chunk_rows)
        assert summary.determinations + len(summary.errors) == exp.records
        assert (summary.chunks > 1) == (chunk_rows is not None)
        got = sorted(json.dumps(_no_location(e.to_json()), sort_keys=True)
                      for e in summary.errors)
        want = sorted(json.dumps(_no_location(e), sort_keys=True) for e in columnar["errors"])
        assert got == want, f"chunk_rows={chunk_rows}"
        written = pl.read_parquet(out)
        outputs.append(written)
        assert written.get_column("account_id").to_list() == \
            [a["account_id"] for a in columnar["accounts"]]
        for name in ("member_id", "status"):
            assert written.get_column(name).to_list() == [a[name] for a in columnar["accounts"]]
        for name in ("last_activity", "inactive_on", "unclaimed_on"):
            assert [None if d is None else d.isoformat() for d in written.get_column(name)] \
                == [a[name] for a in columnar["accounts"]], name
        assert [None if d is None else format(d, "f") for d in written.get_column("amount_cad")] \
            == [a["amount_cad"] for a in columnar["accounts"]]
    assert outputs[0].equals(outputs[1])

    kinds = {**FIELD_DAMAGE, **TOLERATED, **BLANK, **SHAPE_DAMAGE}
    assert set(exp.kinds) == set(kinds)
    tally("facts: damaged rows of generated portfolios", sum(exp.kinds.values()))
    tally("facts: records of corrupted generated portfolios", exp.records)


@pytest.mark.parametrize("seed", SEEDS)
def test_corrupted_generated_portfolio_both_backends(
        baseline: Policy, portfolio: tuple[Path, Path], clean_result: dict[str, Any],
        tmp_path: Path, seed: int) -> None:
    _corrupted_portfolio(baseline, portfolio, clean_result, tmp_path, seed)


# --------------------------------------------------------------------------- generated JSON


def profile_document(rows: list[list[str]], fx: Path, rng: random.Random) -> dict[str, Any]:
    """The full-profile form of snapshot rows, with claims on some accounts."""
    members: dict[str, dict[str, Any]] = {}
    for mid, aid, currency, balance, opened, tx, ack, resp in rows:
        m = members.setdefault(mid, {"member_id": mid, "accounts": [], "events": []})
        m["accounts"].append({"account_id": aid, "currency": currency, "balance": balance,
                              "opened": opened})
        if tx:
            m["events"].append({"date": tx, "type": "transaction", "account_id": aid})
        for kind, day in (("statement_ack", ack), ("response", resp)):
            event = {"date": day, "type": kind}
            if day and event not in m["events"]:
                m["events"].append(event)
    claims = []
    for n, row in enumerate(rng.sample(rows, 150)):
        received = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(320))
        claim: dict[str, Any] = {"claim_id": f"C{n:04d}", "account_id": row[1],
                                 "received": received.isoformat()}
        if rng.random() < 0.5:
            claim["complete"] = (received + dt.timedelta(days=rng.randrange(30))).isoformat()
        claims.append(claim)
    with fx.open(newline="", encoding="utf-8") as fh:
        rates = list(csv.DictReader(fh))
    return {"fx_rates": rates, "members": list(members.values()), "claims": claims}


JSON_DAMAGE = {
    "event-unknown-account": 15, "event-bad-type": 15, "fee-negative": 15,
    "no-accounts": 10, "member-id-reused": 15, "account-bad-balance": 10,
    "notice-bad-mark": 5, "event-bad-date": 10,
}
CLAIM_DAMAGE = {"claim-bad-date": 15, "claim-id-reused": 5, "claim-bad-decision": 5}


def corrupt_document(doc: dict[str, Any], rng: random.Random
                     ) -> tuple[dict[str, Any], dict[str, tuple[int, str]], Counter[str]]:
    """A corrupted copy; member id -> (errors expected, field) for each damaged member,
    plus claim ids damaged ("claim:ID" keys) and the count of each kind."""
    doc = copy.deepcopy(doc)
    members = doc["members"]
    kinds: Counter[str] = Counter()
    expected: dict[str, tuple[int, str]] = {}
    picks = rng.sample(range(1, len(members)), sum(JSON_DAMAGE.values()))
    intact = sorted(set(range(len(members))) - set(picks))  # sources of reused ids
    k = 0
    for kind, n in JSON_DAMAGE.items():
        for i in picks[k:k + n]:
            m = members[i]
            accounts = m["accounts"]
            account = rng.choice(accounts)["account_id"]
            kinds[kind] += 1
            key = f"members[{i}]"
            if kind == "event-unknown-account":
                m["events"].append({"date": "2015-05-05", "type": "transaction",
                                    "account_id": account + "-X"})
                expected[key] = (len(accounts), "account_id")
            elif kind == "event-bad-type":
                m["events"].insert(0, {"date": "2015-05-05", "account_id": account,
                                       "type": rng.choice(["deposit", "Transaction", "",
                                                           None, 7])})
                expected[key] = (len(accounts), "type")
            elif kind == "fee-negative":
                m["events"].append({"date": "2025-05-05", "type": "fee",
                                    "account_id": account,
                                    "amount": rng.choice(["-5.00", "-0.01", -3])})
                expected[key] = (len(accounts), "amount")
            elif kind == "no-accounts":
                if rng.random() < 0.5:
                    m["accounts"] = []
                else:
                    del m["accounts"]
                m["events"] = [e for e in m["events"] if "account_id" not in e]
                expected[key] = (1, "accounts")
            elif kind == "member-id-reused":
                m["member_id"] = members[rng.choice([j for j in intact if j < i])]["member_id"]
                expected[key] = (len(accounts), "member_id")
            elif kind == "account-bad-balance":
                target = rng.choice(accounts)
                target["balance"] = rng.choice(["-1.00", "abc", None, True])
                expected[key] = (1, "balance")  # only that account
            elif kind == "notice-bad-mark":
                m["events"].append({"date": "2016-03-10", "type": "notice",
                                    "mark": rng.choice(["3y", "", None])})
                expected[key] = (len(accounts), "mark")
            elif kind == "event-bad-date":
                m["events"].append({"date": rng.choice(["2026-02-30", "31/12/2020", None,
                                                        "2020-12-31T00:00:00"]),
                                    "type": "statement_ack"})
                expected[key] = (len(accounts), "date")
        k += n
    claims = doc["claims"]
    picks = rng.sample(range(1, len(claims)), sum(CLAIM_DAMAGE.values()))
    intact = sorted(set(range(len(claims))) - set(picks))
    k = 0
    for kind, n in CLAIM_DAMAGE.items():
        for i in picks[k:k + n]:
            c = claims[i]
            kinds[kind] += 1
            if kind == "claim-bad-date":
                name = rng.choice(["received", "complete", "decided"])
                c[name] = rng.choice(["2026-02-30", "31/12/2026", "", "tomorrow"])
                expected[f"claims[{i}]"] = (1, name)
            elif kind == "claim-id-reused":
                c["claim_id"] = claims[rng.choice([j for j in intact if j < i])]["claim_id"]
                expected[f"claims[{i}]"] = (1, "claim_id")
            else:
                c["decision"] = rng.choice(["maybe", "APPROVED", 1])
                expected[f"claims[{i}]"] = (1, "decision")
        k += n
    return doc, expected, kinds


def test_corrupted_generated_profiles(baseline: Policy, portfolio: tuple[Path, Path],
                                      clean_result: dict[str, Any]) -> None:
    rng = random.Random(SEEDS[0])
    clean_path, fx = portfolio
    clean_doc = profile_document(_read_rows(clean_path), fx, rng)
    clean = baseline.evaluate(facts_from_json(json.loads(json.dumps(clean_doc))),
                              as_of=AS_OF, backend="scalar").to_dict()
    assert clean["errors"] == []
    # a profile and its snapshot give identical determinations
    assert clean["accounts"] == clean_result["accounts"]

    doc, expected, kinds = corrupt_document(clean_doc, rng)
    records = sum(max(1, len(m.get("accounts") or [])) for m in doc["members"]) \
        + len(doc["claims"])
    result = baseline.evaluate(facts_from_json(doc), as_of=AS_OF, backend="scalar").to_dict()
    assert len(result["accounts"]) + len(result["claims"]) + len(result["errors"]) == records
    assert_record_errors_are_named(result["errors"])

    # every damaged member or claim: one error per record, with the field at fault
    by_record: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in result["errors"]:
        loc = e["location"]
        top = loc.split(".")[0]
        by_record[top].append(e)
    assert set(by_record) == set(expected)
    for key, (count, name) in expected.items():
        errs = by_record[key]
        assert len(errs) == count, (key, errs)
        assert all(e["field"] == name for e in errs), (key, errs)
        if key.startswith("members["):
            member_id = doc["members"][int(key[8:-1])]["member_id"]
            assert all(e["member_id"] == member_id for e in errs), errs

    # every other record is evaluated exactly as in the clean document
    damaged = {int(k[8:-1]) for k in expected if k.startswith("members[")}
    owner = {a["account_id"]: i for i, m in enumerate(clean_doc["members"])
             for a in m["accounts"]}
    clean_accounts = {a["account_id"]: a for a in clean["accounts"]}
    evaluated = 0
    for a in result["accounts"]:
        if owner[a["account_id"]] not in damaged:
            assert a == clean_accounts[a["account_id"]]
            evaluated += 1
    assert evaluated == sum(len(m["accounts"]) for i, m in enumerate(clean_doc["members"])
                            if i not in damaged)
    bad_claims = {doc["claims"][int(k[7:-1])]["claim_id"]
                  for k in expected if k.startswith("claims[")}
    clean_claims = {c["claim_id"]: c for c in clean["claims"]}
    for c in result["claims"]:
        assert c == clean_claims[c["claim_id"]]
    assert len(result["claims"]) == len(doc["claims"]) - sum(
        1 for k in expected if k.startswith("claims["))
    assert bad_claims
    assert set(kinds) == set(JSON_DAMAGE) | set(CLAIM_DAMAGE)
    tally("facts: damaged members and claims of a generated JSON profile",
          sum(kinds.values()))
    tally("facts: records of a corrupted JSON profile", records)


def test_record_errors_on_stderr_are_one_line_each(tmp_path: Path) -> None:
    """Ids and values with line breaks are escaped in the `error:` lines."""
    path = tmp_path / "facts.json"
    path.write_text(json.dumps({"members": [
        {"member_id": "M\n1", "accounts": [
            {"account_id": "A\r1", "currency": "C\nAD", "balance": "1.00",
             "opened": "2016-01-04"}]},
        {"member_id": "M2", "accounts": [
            {"account_id": "A2", "currency": "CAD", "balance": "x\u2028y",
             "opened": "2016-01-04"}]}]}), encoding="utf-8")
    code, _out, err = evaluate(path, "--format", "csv")
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines), err
    assert "member M\\n1, account A\\r1" in lines[0] and "`C\\nAD`" in lines[0], err
    assert "`x\\u2028y`" in lines[1], err
