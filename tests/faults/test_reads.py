"""Faults on the reading side (issue 10, Build items 4 and 5): hostile facts files are
refused or read with a bound, every Parquet column type is converted or refused with the
column named, unencodable ids are record errors, and one input gives one answer whichever
path the command line takes (stdout or --out, CSV or JSON or Parquet, either backend).

Each test runs the real command: in a subprocess with a timeout where a regression could
hang or exhaust memory (FIFOs, devices, huge lines), in-process (``main(argv)``) elsewhere.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from evaluator.cli import main
from evaluator.facts import DEFAULT_MAX_LINE_BYTES, MAX_LINE_BYTES_ENV, SNAPSHOT_COLUMNS
from tests.support import ROOT

AS_OF = "2026-11-21"
POLICY = str(ROOT / "policies" / "fsra-2024-001")
MEMBERS = ROOT / "examples" / "members.csv"
FX = ROOT / "examples" / "fx.csv"
HEADER = ",".join(SNAPSHOT_COLUMNS)


# --------------------------------------------------------------------------- running


def run(*argv: str) -> tuple[int, str, str]:
    """`unclaimed ARGV` in-process: (exit status, stdout, stderr); an exception is a bug."""
    out, err = io.StringIO(), io.StringIO()
    try:
        code = main(list(argv), stdout=out, stderr=err)
    except Exception as exc:
        pytest.fail(f"unclaimed {' '.join(argv)} raised {type(exc).__name__}: {exc}")
    return code, out.getvalue(), err.getvalue()


def evaluate(facts: Path, *extra: str) -> tuple[int, str, str]:
    return run("evaluate", "--policy", POLICY, "--facts", str(facts), "--as-of", AS_OF, *extra)


def run_process(*argv: str, env: dict[str, str] | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m evaluator ARGV` in a subprocess that cannot outlive ``timeout``."""
    return subprocess.run([sys.executable, "-m", "evaluator", *argv], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})})


_MANY = """
import io, json, sys
from evaluator.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    results.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


def run_many(argvs: list[list[str]], timeout: float) -> list[tuple[int, str, str]]:
    """Several `unclaimed` commands in one subprocess (one start-up) with a timeout: an
    exception in any of them fails the test with its traceback."""
    done = subprocess.run([sys.executable, "-c", _MANY, json.dumps(argvs)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [(c, o, e) for c, o, e in json.loads(done.stdout)]


def one_error_line(err: str, *names: str) -> str:
    """The single line of stderr: an `error:` line naming each of ``names``."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def table(rows: list[dict[str, str]]) -> pl.DataFrame:
    return pl.DataFrame({c: pl.Series(c, [r[c] for r in rows], pl.String)
                         for c in SNAPSHOT_COLUMNS})


def accounts_and_errors(doc: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    return doc["accounts"], doc["errors"]


# --------------------------------------------------------------------------- special files


def _fifo(tmp: Path, name: str) -> Path:
    path = tmp / name
    os.mkfifo(path)  # no writer: opening it for reading would wait for ever
    return path


def _dev_zero(tmp: Path, name: str) -> Path:
    path = tmp / name
    path.symlink_to("/dev/zero")  # endless: a read without a bound never returns
    return path


def _folder(tmp: Path, name: str) -> Path:
    path = tmp / name
    path.mkdir()
    return path


SPECIAL = {"fifo": (_fifo, "FIFO"), "dev-zero": (_dev_zero, "character device"),
           "folder": (_folder, "folder")}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and /dev/zero")
@pytest.mark.parametrize("kind", list(SPECIAL))
def test_facts_and_fx_that_are_not_regular_files_are_refused(kind: str, tmp_path: Path
                                                             ) -> None:
    """Facts (.csv, .json, .parquet) and --fx files: a FIFO with no writer, a symlink to
    /dev/zero, a folder: exit 2, one line naming the file and what it is, through every
    path (stdout, --out, either backend); never a hang, MemoryError or "empty"."""
    make, what = SPECIAL[kind]
    base = ["--policy", POLICY, "--as-of", AS_OF]
    runs: list[tuple[Path, list[str]]] = []
    for suffix in (".csv", ".json", ".parquet"):
        facts = make(tmp_path, f"facts{suffix}")
        runs.append((facts, ["--facts", str(facts)]))
        if suffix == ".csv":
            runs.append((facts, ["--facts", str(facts), "--out", str(tmp_path / "o.csv")]))
        if suffix == ".parquet":
            runs.append((facts, ["--facts", str(facts), "--backend", "scalar"]))
    fx = make(tmp_path, "fx.csv")
    runs.append((fx, ["--facts", str(MEMBERS), "--fx", str(fx), "--out",
                      str(tmp_path / "o.parquet")]))
    if kind == "folder":  # cannot hang: in-process
        results = [run("evaluate", *base, *argv) for _, argv in runs]
    else:  # every run in one subprocess that cannot outlive its timeout
        results = run_many([["evaluate", *base, *argv] for _, argv in runs], timeout=60)
    for (path, argv), (code, out, err) in zip(runs, results, strict=True):
        assert code == 2, (argv, code, err)
        assert out == ""
        one_error_line(err, str(path), what, "not a regular file")
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "o.parquet").exists()


# --------------------------------------------------------------------------- long lines


def _long_cell_csv(tmp: Path, cell_bytes: int) -> Path:
    """examples/members.csv with a balance of ``cell_bytes`` digits on line 3."""
    lines = MEMBERS.read_text(encoding="utf-8").splitlines()
    path = tmp / "long.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(lines[0] + "\n" + lines[1] + "\n")
        fh.write("M99,M99-A,CAD,")
        for _ in range(cell_bytes // 65536):
            fh.write("1" * 65536)
        fh.write("1" * (cell_bytes % 65536) + ",2001-01-01,,,\n")
        fh.write("\n".join(lines[2:]) + "\n")
    return path


PATHS = {"stdout": [], "scalar": ["--backend", "scalar"], "columnar": ["--backend", "columnar"],
         "out-csv": ["--out", "{tmp}/o.csv"], "out-parquet": ["--out", "{tmp}/o.parquet"],
         "scalar-out": ["--backend", "scalar", "--out", "{tmp}/o.parquet"]}


def _paths(tmp: Path) -> dict[str, list[str]]:
    return {name: [a.format(tmp=tmp) for a in argv] for name, argv in PATHS.items()}


def test_a_line_over_the_limit_refuses_the_file_on_every_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cell beyond the line limit (set small by the environment variable): exit 2, one
    line naming the file and the line, whichever path; the same for an --fx file."""
    facts = _long_cell_csv(tmp_path, 300)
    monkeypatch.setenv(MAX_LINE_BYTES_ENV, "200")
    for name, extra in _paths(tmp_path).items():
        code, out, err = evaluate(facts, "--fx", str(FX), *extra)
        assert code == 2 and out == "", (name, err)
        one_error_line(err, str(facts), "line 3", "200 bytes", MAX_LINE_BYTES_ENV)
    fx = tmp_path / "fx.csv"
    fx.write_text("currency,date,rate\nUSD,2026-09-30," + "1" * 300 + "\n", encoding="utf-8")
    code, out, err = evaluate(MEMBERS, "--fx", str(fx))
    assert code == 2
    one_error_line(err, str(fx), "line 2", "FX file")
    # under the limit, the same file is read: a 300-digit balance, beyond what the
    # columnar backend holds, evaluated exactly by the scalar backend
    monkeypatch.setenv(MAX_LINE_BYTES_ENV, "100000")
    code, out, err = evaluate(facts, "--fx", str(FX), "--format", "csv")
    assert code == 1 and len(err.splitlines()) == 1 and "account M99-A" in err, err


def test_a_huge_line_at_the_default_limit_is_refused_without_reading_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A header then a 64 GiB line (a sparse file: nothing is written) at the default
    limit: refused naming line 2, in a subprocess that would otherwise run out of memory
    or time."""
    path = tmp_path / "huge.csv"
    with path.open("wb") as fh:
        fh.write(HEADER.encode() + b"\nM1,M1-A,CAD,")
        fh.truncate(64 << 30)
    monkeypatch.delenv(MAX_LINE_BYTES_ENV, raising=False)
    argvs = [["evaluate", "--policy", POLICY, "--facts", str(path), "--as-of", AS_OF, *extra]
             for extra in ([], ["--out", str(tmp_path / "o.csv")], ["--backend", "scalar"])]
    for code, out, err in run_many(argvs, timeout=60):
        assert code == 2 and out == "", err
        one_error_line(err, str(path), "line 2", f"{DEFAULT_MAX_LINE_BYTES:,} bytes")


def test_a_quoted_cell_over_many_lines_beyond_the_cell_limit(tmp_path: Path) -> None:
    """A quoted cell of short lines, longer than a cell may be: exit 2, one line naming
    the row where the record starts, on every path."""
    lines = MEMBERS.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "cell.csv"
    path.write_text("\n".join([lines[0], lines[1], 'M99,M99-A,CAD,"' + ("1" * 99 + "\n") * 2000
                               + '",2001-01-01,,,', *lines[2:]]) + "\n", encoding="utf-8")
    for name, extra in _paths(tmp_path).items():
        code, out, err = evaluate(path, "--fx", str(FX), *extra)
        assert code == 2 and out == "", (name, err)
        one_error_line(err, str(path), "row 3", "longer than")


# --------------------------------------------------------------------------- Parquet types


def _typed(tmp: Path, name: str, column: str, values: pl.Series) -> Path:
    rows = rows_of(MEMBERS)
    frame = table(rows).with_columns(values.alias(column))
    path = tmp / f"{name}.parquet"
    frame.write_parquet(path)
    return path


def _n() -> int:
    return len(rows_of(MEMBERS))


REFUSED: dict[str, tuple[str, Any]] = {
    "list": ("member_id", lambda n: pl.Series([["M1"]] * n)),
    "array": ("account_id", lambda n: pl.Series([[1, 2]] * n, dtype=pl.Array(pl.Int64, 2))),
    "duration": ("opened", lambda n: pl.Series([dt.timedelta(days=1)] * n)),
    "struct": ("currency", lambda n: pl.Series([{"code": "CAD"}] * n)),
    "datetime": ("last_transaction", lambda n: pl.Series([dt.datetime(2020, 1, 1)] * n)),
    "boolean": ("kind", lambda n: pl.Series([True] * n)),
    "float64": ("balance", lambda n: pl.Series([1520.1] * n, dtype=pl.Float64)),
    "float32": ("balance", lambda n: pl.Series([2.5] * n, dtype=pl.Float32)),
    "binary-not-utf8": ("account_id", lambda n: pl.Series(
        [f"A{i}".encode() for i in range(n - 1)] + [b"\xff\xfe"])),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_parquet_column_types_that_cannot_be_read_are_refused_naming_the_column(
        name: str, tmp_path: Path) -> None:
    column, make = REFUSED[name]
    path = _typed(tmp_path, name, column, make(_n()))
    for how, extra in _paths(tmp_path).items():
        code, out, err = evaluate(path, "--fx", str(FX), *extra)
        assert code == 2 and out == "", (how, code, err)
        line = one_error_line(err, str(path), f"column {column}")
        if name.startswith("float"):
            assert "exactly" in line
        if name == "binary-not-utf8":
            assert f"row {_n() + 1}" in line and "UTF-8" in line


CONVERTED: dict[str, tuple[str, Any]] = {
    "binary-utf8": ("account_id", lambda rows: pl.Series([r["account_id"].encode()
                                                         for r in rows], dtype=pl.Binary)),
    "categorical": ("currency", lambda rows: pl.Series([r["currency"] for r in rows],
                                                      dtype=pl.Categorical)),
    "date": ("opened", lambda rows: pl.Series([dt.date.fromisoformat(r["opened"])
                                               for r in rows])),
    "decimal": ("balance", lambda rows: pl.Series([Decimal(r["balance"]) for r in rows],
                                                  dtype=pl.Decimal(20, 2))),
    "nulls": ("last_response", lambda rows: pl.Series([None] * len(rows), dtype=pl.Null)),
}


@pytest.mark.parametrize("name", list(CONVERTED))
def test_parquet_column_types_that_are_read_give_the_csv_answer(name: str,
                                                               tmp_path: Path) -> None:
    """Binary that is UTF-8, categories, dates, decimals, a column of nulls: the same
    determinations as the same rows as text, in both backends."""
    column, make = CONVERTED[name]
    rows = rows_of(MEMBERS)
    if name == "nulls":
        rows = [{**r, "last_response": ""} for r in rows]
    text = tmp_path / "text.csv"
    with text.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, SNAPSHOT_COLUMNS)
        w.writeheader()
        w.writerows({c: r[c] for c in SNAPSHOT_COLUMNS} for r in rows)
    path = tmp_path / f"{name}.parquet"
    table(rows).with_columns(make(rows).alias(column)).write_parquet(path)
    code, out, _ = evaluate(text, "--fx", str(FX))
    expected = accounts_and_errors(json.loads(out))
    for backend in ("scalar", "columnar"):
        got_code, got, err = evaluate(path, "--fx", str(FX), "--backend", backend)
        assert got_code == code, (backend, err)
        assert accounts_and_errors(json.loads(got)) == expected, backend


# --------------------------------------------------------------------------- unencodable ids


def test_a_lone_surrogate_in_a_json_id_is_a_record_error(tmp_path: Path) -> None:
    """Ids holding a lone surrogate (which no encoding can write) are record errors naming
    the record, the message escaped; the other members are evaluated; the output is ASCII
    safe even on an ASCII-only stdout."""
    def member(mid: str, aid: str) -> dict[str, Any]:
        return {"member_id": mid, "accounts": [{"account_id": aid, "currency": "CAD",
                                                "balance": "10.00", "opened": "2001-01-01"}]}

    doc = {"members": [member("M1", "A\udfff"), member("M2\ud800", "B"), member("M3", "C")],
           "claims": [{"claim_id": "K\udfff", "account_id": "C", "received": "2026-11-01"}]}
    path = tmp_path / "surrogates.json"
    path.write_text(json.dumps(doc), encoding="ascii")  # \u escapes: valid JSON text
    records = 4  # three accounts and a claim
    for fmt in ("json", "csv"):
        done = run_process("evaluate", "--policy", POLICY, "--facts", str(path), "--as-of",
                           AS_OF, "--format", fmt, env={"PYTHONIOENCODING": "ascii"})
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        if fmt == "json":
            result = json.loads(done.stdout)
            assert [a["account_id"] for a in result["accounts"]] == ["C"]
            errors = result["errors"]
            assert len(result["accounts"]) + len(result["claims"]) + len(errors) == records
            assert {e.get("location") for e in errors} == {
                "members[0].accounts[0]", "members[1]", "claims[0]"}
            assert all("\\udfff" in e["message"] or "\\ud800" in e["message"] for e in errors)
        else:
            lines = [x for x in done.stderr.splitlines() if x.startswith("error: ")]
            assert len(lines) == 3 and all("not valid Unicode" in x for x in lines), \
                done.stderr
            assert len(list(csv.reader(io.StringIO(done.stdout)))) == 1 + 1  # header + C


# --------------------------------------------------------------------------- one behaviour


def _all_outputs(tmp: Path, facts: Path, *extra: str) -> dict[str, tuple[int, str]]:
    """The determinations CSV of every path: stdout (each backend) and --out (each
    backend), with the exit status."""
    got: dict[str, tuple[int, str]] = {}
    for backend in ("auto", "scalar", "columnar"):
        code, out, err = evaluate(facts, *extra, "--format", "csv", "--backend", backend)
        got[f"stdout-{backend}"] = (code, out)
        target = tmp / f"out-{backend}.csv"
        code, out, err = evaluate(facts, *extra, "--out", str(target), "--backend", backend)
        assert out == "", err
        got[f"out-{backend}"] = (code, target.read_text(encoding="utf-8")
                                 if target.exists() else "")
        target.unlink(missing_ok=True)
    return got


def test_a_header_only_csv_gives_the_full_header_on_every_path(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text(HEADER + "\n", encoding="utf-8")
    got = _all_outputs(tmp_path, path)
    _, full = _all_outputs(tmp_path, MEMBERS, "--fx", str(FX))["out-auto"]
    header = full.splitlines()[0]
    assert len(header.split(",")) > 2
    assert got == {k: (0, header + "\n") for k in got}
    parquet = tmp_path / "header.parquet"
    table([]).write_parquet(parquet)
    assert _all_outputs(tmp_path, parquet) == got


def _huge_balances(tmp: Path) -> tuple[Path, Path, int]:
    rows = rows_of(MEMBERS)
    rows[1]["balance"] = "123456789012345678901.00"  # beyond 64-bit cents
    rows[4]["balance"] = "-1.00"  # a record error
    csv_path = tmp / "huge.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, SNAPSHOT_COLUMNS)
        w.writeheader()
        w.writerows({c: r[c] for c in SNAPSHOT_COLUMNS} for r in rows)
    parquet = tmp / "huge.parquet"
    table(rows).with_columns(pl.Series([Decimal(r["balance"]) for r in rows],
                                       dtype=pl.Decimal(38, 2)).alias("balance")
                             ).write_parquet(parquet)
    return csv_path, parquet, len(rows)


def test_a_balance_of_twenty_digits_gets_one_answer_everywhere(tmp_path: Path) -> None:
    """Beyond the columnar backend's integers: evaluated exactly by the scalar backend on
    every path but an explicit --backend columnar (refused there, as documented), from CSV
    as from Parquet; records in = determinations + errors."""
    csv_path, parquet, records = _huge_balances(tmp_path)
    reference = None
    for facts in (csv_path, parquet):
        got = _all_outputs(tmp_path, facts, "--fx", str(FX))
        for how in ("stdout-columnar", "out-columnar"):
            code, _ = got.pop(how)
            assert code == 2, how
        if reference is None:
            reference = got["stdout-auto"]
        assert got == {k: reference for k in got}, facts
        code, text = reference
        assert code == 1
        assert "123456789012345678901.00" in text
        code, out, _ = evaluate(facts, "--fx", str(FX))
        doc = json.loads(out)
        assert len(doc["accounts"]) + len(doc["errors"]) == records
        assert [e["location"] for e in doc["errors"]] == ["row 6"]


def test_the_scalar_backend_reads_parquet_as_the_columnar_one_does(tmp_path: Path) -> None:
    """--backend scalar on a Parquet snapshot: the columnar backend's determinations and
    record errors (JSON), and the same Parquet file of determinations with --out."""
    rows = rows_of(MEMBERS)
    rows[2]["opened"] = "2001-02-30"
    rows[7]["currency"] = "cad"
    path = tmp_path / "facts.parquet"
    table(rows).write_parquet(path)
    docs = {}
    for backend in ("scalar", "columnar"):
        code, out, err = evaluate(path, "--fx", str(FX), "--backend", backend)
        assert code == 1, err
        docs[backend] = json.loads(out)
        assert len(docs[backend]["accounts"]) + len(docs[backend]["errors"]) == len(rows)
    assert accounts_and_errors(docs["scalar"]) == accounts_and_errors(docs["columnar"])
    assert docs["scalar"]["facts"] == docs["columnar"]["facts"]
    frames = []
    for backend in ("scalar", "columnar"):
        target = tmp_path / f"{backend}.parquet"
        code, _, err = evaluate(path, "--fx", str(FX), "--backend", backend, "--out",
                                str(target))
        assert code == 1, err
        frames.append(pl.read_parquet(target))
    assert frames[0].equals(frames[1])
    assert frames[0].height == len(docs["scalar"]["accounts"])
