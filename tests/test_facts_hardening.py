"""Reading hardened: malformed records, ragged CSV rows, quotes, dates past 9999, balances
the columnar backend cannot hold.

Every check runs the scalar backend (``load_facts`` + ``backend="scalar"``), the columnar
backend (``read_table``) and, where it matters, the portfolio path (``evaluate_file``), and
requires the same determinations and the same errors from all of them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from evaluator import Policy, PolicyError, load_policy
from evaluator.columnar import Unsupported, csv_layout, read_table
from evaluator.facts import SNAPSHOT_COLUMNS, FactsError, csv_rows, facts_from_json, load_facts
from evaluator.model import RecordError
from evaluator.portfolio import evaluate_file
from tests.support import BASELINE, ROOT

AS_OF = "2026-11-21"
AS_OF_DAY = dt.date(2026, 11, 21)
HEADER = ",".join(SNAPSHOT_COLUMNS)
HOSTILE = ROOT / "tests" / "hostile"
FX = ROOT / "examples" / "fx.csv"


@pytest.fixture(scope="module")
def baseline() -> Policy:
    return load_policy(BASELINE)


def write(tmp: Path, name: str, text: str | bytes) -> Path:
    path = tmp / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def both(policy: Policy, path: Path, fx: Path | None = None,
         params: dict[str, str] | None = None) -> dict[str, Any]:
    """The scalar and the columnar result documents, which must be equal."""
    scalar = policy.evaluate(load_facts(path, fx), as_of=AS_OF, params=params,
                             backend="scalar").to_dict()
    columnar = policy.evaluate(read_table(path, fx), as_of=AS_OF, params=params,
                               backend="columnar").to_dict()
    for key in ("accounts", "errors", "portfolio"):
        assert columnar.get(key) == scalar.get(key), key
    return scalar


def through_file(policy: Policy, path: Path, tmp: Path, doc: dict[str, Any],
                 fx: Path | None = None, chunk_rows: int | None = None) -> None:
    """``evaluate_file`` gives the same accounts and errors as ``doc``."""
    specs, _ = policy.run_params({})
    out = tmp / "out.parquet"
    summary = evaluate_file(policy, path, fx, AS_OF_DAY, specs, out, chunk_rows=chunk_rows)
    assert pl.read_parquet(out).get_column("account_id").to_list() == \
        [a["account_id"] for a in doc["accounts"]]
    got = [e.to_json() for e in summary.errors]

    def key(e: dict[str, Any]) -> str:
        return json.dumps({k: v for k, v in e.items() if k != "location"}, sort_keys=True)

    # evaluation errors carry the row only in the file's run
    assert sorted(map(key, got)) == sorted(map(key, doc["errors"]))
    assert {e["location"] for e in doc["errors"] if "location" in e} <= \
        {e.get("location") for e in got}


def row_errors(doc: dict[str, Any]) -> list[tuple[Any, Any, Any, Any]]:
    return [(e.get("member_id"), e.get("account_id"), e.get("field"), e.get("location"))
            for e in doc["errors"]]


# --------------------------------------------------------------------------- the model


def test_an_error_without_a_field_is_about_the_whole_record() -> None:
    e = RecordError("boom", "M1", "A")
    assert e.field == "*"
    assert e.to_json() == {"member_id": "M1", "account_id": "A", "field": "*",
                           "message": "boom"}


def test_claim_errors_render_a_claim_id_even_without_one() -> None:
    e = RecordError("claim must be an object", field="*", location="claims[0]", claim=True)
    assert e.to_json() == {"claim_id": None, "field": "*", "location": "claims[0]",
                           "message": "claim must be an object"}
    assert RecordError("x", claim_id="C1").claim


# --------------------------------------------------------------------------- JSON


def test_records_that_are_not_objects_name_the_whole_record() -> None:
    facts = facts_from_json({
        "members": ["M1", {"member_id": "M2", "accounts": [
            7, {"account_id": "M2-B", "currency": "CAD", "balance": "1", "opened": "2001-01-01"}]}],
        "claims": [None, {"account_id": "M2-B", "received": "2026-01-01"}],
    })
    got = [e.to_json() for e in facts.errors]
    assert [(e.get("location"), e["field"]) for e in got] == [
        ("members[0]", "*"), ("members[1].accounts[0]", "*"), ("claims[0]", "*"),
        ("claims[1]", "claim_id")]
    assert got[1]["member_id"] == "M2"
    # claim errors are claim-shaped, with or without an id
    assert "member_id" not in got[2] and got[2]["claim_id"] is None
    assert "member_id" not in got[3] and got[3]["claim_id"] is None


# --------------------------------------------------------------------------- ragged rows


RAGGED = (
    HEADER + "\n"
    "M1,M1-A,CAD,10.00,2001-04-01,2014-03-02,,\n"
    "M2,M2-A,CAD,20.00,2001-04-01,2014-03-02,\n"            # 3: a cell short
    "M3,M3-A,CAD,1,234.56,2001-04-01,2014-03-02,,\n"        # 4: unquoted comma
    'M4,M4-A,CAD,"1,234.56",2001-04-01,2014-03-02,,\n'      # 5: quoted comma: a cell
    'M5,"M5\nA",CAD,5.00,2001-04-01,2014-03-02,,\n'         # 6-7: quoted line break
    "M6,M6-A,CAD,5.00,2001-04-01,2014-03-02,,,\n"           # 8: an extra empty cell
    ",,,,,,,,,,\n"                                          # 9: blank, too many cells
    ",,,\n"                                                 # 10: blank, too few
    "\n"                                                    # 11
    "M7,M7-A,CAD,5.00\n"                                    # 12: short
    "M8,M8-A,CAD,5.00,2001-04-01,2014-03-02,,\n"            # 13
)


def test_ragged_rows_are_record_errors_in_every_backend(baseline: Policy,
                                                        tmp_path: Path) -> None:
    path = write(tmp_path, "ragged.csv", RAGGED)
    doc = both(baseline, path)
    assert [a["account_id"] for a in doc["accounts"]] == ["M1-A", "M5\nA", "M8-A"]
    assert row_errors(doc) == [
        ("M2", "M2-A", "*", "row 3"),
        ("M3", "M3-A", "*", "row 4"),
        ("M4", "M4-A", "balance", "row 5"),
        ("M6", "M6-A", "*", "row 8"),
        ("M7", "M7-A", "*", "row 12"),
    ]
    assert "7 cells but the header has 8" in doc["errors"][0]["message"]
    assert "unquoted comma" in doc["errors"][1]["message"]
    through_file(baseline, path, tmp_path, doc)


def test_a_ragged_row_is_no_first_occurrence_of_its_account_id(baseline: Policy,
                                                                tmp_path: Path) -> None:
    path = write(tmp_path, "dup.csv", HEADER + "\n"
                 "M1,A,CAD,1.00,2001-01-01,,\n"
                 "M2,A,CAD,1.00,2001-01-01,,,\n")
    doc = both(baseline, path)
    assert [a["account_id"] for a in doc["accounts"]] == ["A"]
    assert row_errors(doc) == [("M1", "A", "*", "row 2")]


def test_a_row_blank_in_the_snapshot_columns_but_not_elsewhere_is_a_record(
        baseline: Policy, tmp_path: Path) -> None:
    path = write(tmp_path, "notes.csv", HEADER + ",notes\n"
                 "M1,A,CAD,1.00,2001-01-01,,,,\n"
                 ",,,,,,,,a note\n"
                 " , ,\t, , , , , , \n")
    doc = both(baseline, path)
    assert row_errors(doc) == [(None, None, "member_id", "row 3")]
    through_file(baseline, path, tmp_path, doc)


def test_chunked_runs_report_ragged_rows_once(baseline: Policy, tmp_path: Path) -> None:
    lines = [HEADER]
    for i in range(300):
        m = f"M{i:04d}"
        lines.append(f"{m},{m}-A,CAD,{i}.00,2001-04-01,2014-03-02,,")
        if i % 37 == 5:
            lines.append(f"{m},{m}-B,CAD,{i}.00,2001-04-01,2014-03-02")     # short
        if i % 41 == 7:
            lines.append(f"{m},{m}-C,CAD,1,000.00,2001-04-01,2014-03-02,,")  # long
        if i % 53 == 11:
            lines.append(",,,,,,,,,,,")                                       # blank
    path = write(tmp_path, "many.csv", "\n".join(lines) + "\n")
    doc = both(baseline, path)
    assert len(doc["errors"]) == 8 + 8
    for chunk_rows in (None, 50):
        through_file(baseline, path, tmp_path, doc, chunk_rows=chunk_rows)


# --------------------------------------------------------------------------- quotes


def test_an_unterminated_quote_is_a_whole_input_error_naming_its_row(tmp_path: Path) -> None:
    text = (HEADER + "\n"
            "M1,M1-A,CAD,10.00,2001-04-01,2014-03-02,,\n"
            'M2,"M2\nA",CAD,20.00,2001-04-01,"2014-03-02,,\n'   # opened on line 4
            "M3,M3-A,CAD,30.00,2001-04-01,2014-03-02,,\n")
    path = write(tmp_path, "quote.csv", text)
    messages = []
    for read in (load_facts, read_table):
        with pytest.raises(FactsError) as info:
            read(path)
        messages.append(str(info.value))
    baseline = load_policy(BASELINE)
    specs, _ = baseline.run_params({})
    with pytest.raises(FactsError) as info:
        evaluate_file(baseline, path, None, AS_OF_DAY, specs, tmp_path / "o.parquet")
    messages.append(str(info.value))
    assert len(set(messages)) == 1, messages
    assert "row 4: unterminated quote" in messages[0]
    assert "\n" not in messages[0]


def test_an_unterminated_quote_in_a_large_file(tmp_path: Path) -> None:
    rows = [f"M{i},M{i}-A,CAD,1.00,2001-04-01,2014-03-02,," for i in range(20_000)]
    rows[3] = 'M3,"M3-A,CAD,1.00,2001-04-01,2014-03-02,,'
    path = write(tmp_path, "big.csv", HEADER + "\n" + "\n".join(rows) + "\n")
    for read in (load_facts, read_table):
        with pytest.raises(FactsError, match="row 5: unterminated quote"):
            read(path)


@pytest.mark.parametrize("text", [
    # quotes inside unquoted cells, a quote after a closing quote: read as the csv module
    # reads them, by both backends
    HEADER + '\nM1,A 5" disk,CAD,1.00,2001-01-01,,,\nM2,"B"x,CAD,1.00,2001-01-01,,,\n',
    # lone carriage returns end lines for the csv module
    HEADER + "\rM1,A,CAD,1.00,2001-01-01,,,\rM2,B,CAD,x,2001-01-01,,,\r",
    # everything quoted, CRLF, a BOM, blank lines before the header
    "\ufeff\r\n\r\n" + ",".join(f'"{c}"' for c in SNAPSHOT_COLUMNS) + "\r\n"
    '"M1","A","CAD","1.00","2001-01-01","","",""\r\n'
    '"M2","B","CAD","1,00","2001-01-01","","",""\r\n'
    '"M3","C ""x""","CAD","2.00","2001-01-01","",""\r\n',
])
def test_awkward_csv_reads_alike(baseline: Policy, tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "awkward.csv", text)
    doc = both(baseline, path)
    assert doc["accounts"]
    through_file(baseline, path, tmp_path, doc)


def _random_csv(rng: random.Random) -> str:
    pieces = ["a", "b c", "", " ", ",", '"', "\n", "\r\n", "x,y", "é", "1.00"]
    lines = [HEADER]
    for _ in range(rng.randrange(0, 30)):
        width = rng.choice([8, 8, 8, 8, 7, 9, 1, 0, 11])
        cells = []
        for _ in range(width):
            cell = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 3)))
            if any(ch in cell for ch in ',"\n\r') or rng.random() < 0.2:
                cell = '"' + cell.replace('"', '""') + '"'
            cells.append(cell)
        lines.append(",".join(cells))
    eol = rng.choice(["\n", "\r\n"])
    return eol.join(lines) + rng.choice([eol, ""])


@pytest.mark.parametrize("seed", range(40))
def test_the_vectorised_layout_agrees_with_the_csv_module(seed: int) -> None:
    rng = random.Random(seed)
    text = _random_csv(rng)
    data = text.encode()
    records = list(csv_rows(text, "t.csv"))
    layout = csv_layout(data, "t.csv")
    exact = csv_layout(data, "t.csv", exact=True)
    body = records[1:]
    width = len(SNAPSHOT_COLUMNS)
    assert layout.frame is None  # RFC 4180 text: the fast path
    assert layout.lines.tolist() == [line for line, _ in body]
    assert layout.ragged.tolist() == [len(cells) != width for _, cells in body]
    assert [r.line for r in layout.ragged_rows] == [r.line for r in exact.ragged_rows]
    assert layout.ragged_rows == exact.ragged_rows


# --------------------------------------------------------------------------- dates past 9999


def test_a_date_past_9999_is_the_same_error_in_every_backend(baseline: Policy,
                                                             tmp_path: Path) -> None:
    path = write(tmp_path, "far.csv", HEADER + "\n"
                 "M1,M1-A,CAD,10.00,2001-04-01,2014-03-02,,\n"
                 "M2,M2-A,CAD,20.00,9999-12-31,,,\n"
                 "M3,M3-A,CAD,20.00,9990-01-01,,,\n"
                 "M4,M4-A,CAD,20.00,0001-01-01,,,\n")
    doc = both(baseline, path)
    assert [a["account_id"] for a in doc["accounts"]] == ["M1-A", "M4-A"]
    assert [e["account_id"] for e in doc["errors"]] == ["M2-A", "M3-A"]
    assert all("out of range" in e["message"] and e["field"] == "*" for e in doc["errors"])
    through_file(baseline, path, tmp_path, doc)


@pytest.mark.parametrize("period", [None, "9000 years", "100000 years", "-3000 years"])
def test_overflowing_policy_gives_the_same_errors_in_both_backends(tmp_path: Path,
                                                                   period: str | None) -> None:
    policy = load_policy(HOSTILE / "evaluate-overflow.yaml", root=HOSTILE)
    path = write(tmp_path, "t.csv", "member_id,account_id,currency,balance,opened,"
                 "last_transaction,last_statement_ack,last_response,kind\n"
                 "M1,A1,CAD,1.00,2016-02-29,,,,\nM1,A2,CAD,1.00,0999-01-01,,,,\n"
                 "M2,A3,CAD,500.00,2000-01-01,,,,\n")
    params = {"unclaimed_period": period} if period else None
    doc = both(policy, path, params=params)
    assert doc["errors"]
    assert all("out of range" in e["message"] for e in doc["errors"])


def test_an_override_past_9999_errs_every_account_in_both_backends(baseline: Policy) -> None:
    path = ROOT / "examples" / "members.csv"
    doc = both(baseline, path, FX, params={"unclaimed_period": "9000 years"})
    assert doc["accounts"] == []
    assert doc["errors"]


# --------------------------------------------------------------------------- balances


@pytest.mark.parametrize(("balance", "fx"), [
    ("99999999999999999999.99", False),   # cents beyond 64 bits
    ("0.000000000001", False),            # more places than the columnar backend keeps
    ("123456789012345.123456789", False),  # units beyond 64 bits
    ("999999999999999.99", True),         # balance x rate beyond 64 bits
])
def test_balances_the_columnar_backend_cannot_hold_fall_back(
        baseline: Policy, tmp_path: Path, balance: str, fx: bool) -> None:
    currency = "USD" if fx else "CAD"
    path = write(tmp_path, "b.csv", HEADER + "\n"
                 f"M1,M1-A,{currency},10.00,2001-04-01,2014-03-02,,\n"
                 f"M2,M2-A,{currency},{balance},2001-04-01,2014-03-02,,\n")
    rates = FX if fx else None
    scalar = baseline.evaluate(load_facts(path, rates), as_of=AS_OF,
                               backend="scalar").to_dict()
    try:
        table = read_table(path, rates)
    except Unsupported:
        pass
    else:  # "auto": the columnar backend, or the scalar one when it cannot
        assert baseline.evaluate(table, as_of=AS_OF).to_dict()["accounts"] == \
            scalar["accounts"]
        with pytest.raises(Exception, match="columnar backend cannot"):
            baseline.evaluate(table, as_of=AS_OF, backend="columnar")
    specs, _ = baseline.run_params({})
    for suffix in (".parquet", ".csv"):
        out = tmp_path / f"out{suffix}"
        summary = evaluate_file(baseline, path, rates, AS_OF_DAY, specs, out)
        assert summary.determinations == 2 and summary.errors == []
        written = pl.read_parquet(out) if suffix == ".parquet" else pl.read_csv(
            out, infer_schema=False)
        assert written.get_column("account_id").to_list() == ["M1-A", "M2-A"]
        assert [None if v is None else str(v) for v in written.get_column("amount_cad")] \
            == [a["amount_cad"] for a in scalar["accounts"]]
    with pytest.raises(Unsupported):
        evaluate_file(baseline, path, rates, AS_OF_DAY, specs, tmp_path / "x.parquet",
                      fallback=False)


def test_the_scalar_fallback_writes_what_the_columnar_path_writes(baseline: Policy,
                                                                  tmp_path: Path) -> None:
    from evaluator.facts import parse_fx_csv
    from evaluator.portfolio import _evaluate_scalar, _open

    path = ROOT / "examples" / "members.csv"
    specs, _ = baseline.run_params({})
    for suffix in (".csv", ".parquet"):
        a, b = tmp_path / f"columnar{suffix}", tmp_path / f"scalar{suffix}"
        columnar = evaluate_file(baseline, path, FX, AS_OF_DAY, specs, a)
        scalar = _evaluate_scalar(baseline, path, _open(path), parse_fx_csv(FX), AS_OF_DAY,
                                  specs, b)
        assert columnar.determinations == scalar.determinations
        if suffix == ".csv":
            assert a.read_text() == b.read_text()
        else:
            fa, fb = pl.read_parquet(a), pl.read_parquet(b)
            assert fa.columns == fb.columns
            for name in fa.columns:
                assert fa.get_column(name).to_list() == fb.get_column(name).to_list(), name


def test_a_huge_typed_parquet_balance_falls_back(baseline: Policy, tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "member_id": ["M1", "M2"], "account_id": ["M1-A", "M2-A"], "currency": ["CAD", "CAD"],
        "balance": pl.Series([Decimal("10.00"), Decimal("99999999999999999999.99")],
                             dtype=pl.Decimal(38, 2)),
        "opened": [dt.date(2001, 4, 1)] * 2, "last_transaction": [dt.date(2014, 3, 2)] * 2,
        "last_statement_ack": pl.Series([None, None], dtype=pl.Date),
        "last_response": pl.Series([None, None], dtype=pl.Date)})
    path = tmp_path / "huge.parquet"
    frame.write_parquet(path)
    specs, _ = baseline.run_params({})
    summary = evaluate_file(baseline, path, None, AS_OF_DAY, specs, tmp_path / "o.parquet")
    assert summary.determinations == 2 and summary.errors == []


# --------------------------------------------------------------------------- to_facts


def test_a_table_falls_back_to_scalar_with_its_row_numbers(baseline: Policy,
                                                           tmp_path: Path) -> None:
    path = write(tmp_path, "ragged.csv", RAGGED.replace("M8-A,CAD,5.00", "M8-A,CAD,x"))
    table = read_table(path)
    via_scalar = baseline.evaluate(table, as_of=AS_OF, backend="scalar").to_dict()
    columnar = baseline.evaluate(table, as_of=AS_OF, backend="columnar").to_dict()
    assert via_scalar["errors"] == columnar["errors"]
    assert via_scalar["accounts"] == columnar["accounts"]
    assert ("M8", "M8-A", "balance", "row 13") in row_errors(columnar)


def test_record_lines_start_where_the_record_starts() -> None:
    text = HEADER + '\n"a\nb",x\n\n"c\r\nd",y\r\nlast'
    assert [line for line, _ in csv_rows(text, "t")] == [1, 2, 4, 5, 7]
    layout = csv_layout(text.encode(), "t")
    assert layout.lines.tolist() == [2, 4, 5, 7]
    assert np.array_equal(layout.ragged, [True, True, True, True])


def test_csv_module_round_trip_of_generated_cells(baseline: Policy, tmp_path: Path) -> None:
    """Cells written by the csv module (quoting what needs it) read back the same."""
    rng = random.Random(3)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(SNAPSHOT_COLUMNS)
    for i in range(200):
        w.writerow([f"M{i // 2}", f"A{i},\n\"{rng.random():.3f}\"", "CAD",
                    f"{rng.randrange(0, 10**6)}.{rng.randrange(0, 100):02d}", "2001-04-01",
                    rng.choice(["", "2014-03-02", " 2015-01-01 "]), "", ""])
    path = write(tmp_path, "quoted.csv", buf.getvalue())
    doc = both(baseline, path)
    assert len(doc["accounts"]) == 200 and doc["errors"] == []
    through_file(baseline, path, tmp_path, doc, chunk_rows=60)


def _random_snapshot(rng: random.Random) -> str:
    """Snapshot text with valid rows and every kind of damage, RFC 4180 or not."""
    good = ["M1", "M2", "A-1", "CAD", "USD", "1.00", "0", "2001-04-01", "2014-03-02", ""]
    bad = ['"', 'x"y', "\r", "\n", ",", " ", "1,000.00", "0000-01-01", "9999-12-31", "é"]
    lines = [rng.choice([HEADER, HEADER, '"member_id",' + HEADER[10:], "\n" + HEADER])]
    for i in range(rng.randrange(0, 25)):
        cells = [f"M{i % 4}", f"A{i}", "CAD", f"{i}.00", "2001-04-01", "2014-03-02", "", ""]
        for _ in range(rng.randrange(0, 3)):
            j = rng.randrange(len(cells))
            cells[j] = rng.choice(good + bad)
            if rng.random() < 0.3:
                cells[j] = '"' + cells[j].replace('"', '""') + '"'
        if rng.random() < 0.15:
            del cells[rng.randrange(len(cells))]
        if rng.random() < 0.15:
            cells.insert(rng.randrange(len(cells) + 1), rng.choice(good))
        lines.append(",".join(cells))
    return rng.choice(["\n", "\r\n", "\r"]).join(lines) + rng.choice(["\n", ""])


@pytest.mark.parametrize("seed", range(60))
def test_random_damage_reads_alike_in_both_backends(baseline: Policy, tmp_path: Path,
                                                    seed: int) -> None:
    path = write(tmp_path, "r.csv", _random_snapshot(random.Random(seed)))
    outcomes = []
    for read in (load_facts, read_table):
        try:
            facts = read(path)
        except FactsError as exc:
            outcomes.append(("error", str(exc)))
            continue
        doc = baseline.evaluate(facts, as_of=AS_OF, backend="scalar"
                                if read is load_facts else "columnar").to_dict()
        outcomes.append(("ok", json.dumps([doc["accounts"], doc["errors"]])))
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("period", ["10 years", "-3000 years", "1 day", "-1 day", "1 month"])
def test_date_arithmetic_at_the_edges_of_the_calendar(tmp_path: Path, period: str) -> None:
    policy = load_policy(HOSTILE / "evaluate-overflow.yaml", root=HOSTILE)
    days = ["0001-01-01", "0001-01-31", "0001-02-01", "3000-01-01", "3000-12-31",
            "3001-01-01", "9989-12-31", "9990-01-01", "9999-11-30", "9999-12-01",
            "9999-12-31"]
    rows = [f"M{i},A{i},CAD,1.00,{d},,,," for i, d in enumerate(days)]
    path = write(tmp_path, "edges.csv", "member_id,account_id,currency,balance,opened,"
                 "last_transaction,last_statement_ack,last_response,kind\n"
                 + "\n".join(rows) + "\n")
    doc = both(policy, path, params={"unclaimed_period": period})
    assert doc["accounts"] and doc["errors"]


@pytest.mark.parametrize("length", [1_000, 1_001])
def test_ids_of_a_json_profile_are_at_most_1000_characters(length: int) -> None:
    long = "M" * length
    doc = {"members": [
        {"member_id": long, "accounts": [
            {"account_id": "A1", "currency": "CAD", "balance": "1.00", "opened": "2016-01-04"}]},
        {"member_id": "M2", "accounts": [
            {"account_id": "B" * length, "currency": "CAD", "balance": "1.00",
             "opened": "2016-01-04"},
            {"account_id": "B2", "currency": "CAD", "balance": "1.00", "opened": "2016-01-04"}]},
    ], "claims": [{"claim_id": "C" * length, "account_id": "B2", "amount": "1.00",
                   "received": "2026-01-05"}]}
    facts = facts_from_json(doc)
    fields = sorted(e.field or "" for e in facts.errors)
    if length <= 1_000:
        assert fields == []
        assert [m.member_id for m in facts.members] == [long, "M2"]
    else:
        assert fields == ["account_id", "claim_id", "member_id"]
        assert all("the limit is 1,000" in e.message for e in facts.errors)
        assert [a.account_id for m in facts.members for a in m.accounts] == ["B2"]
    assert facts.record_count == 4


_SCALING_POLICY = """\
policy: overflow-scaling
version: 1.0.0
status: proposed
title: money scaled past 64-bit cents
provisions:
  "Act 147(1)": {text: unclaimed deposit}
parameters:
  factor: {type: integer, value: FACTOR, provision: "Act 147(1)"}
definitions:
  scaled:
    entity: account
    provision: "Act 147(1)"
    formula: balance * factor
  doubled:
    entity: account
    provision: "Act 147(1)"
    formula: scaled + scaled - balance * 0.001
outputs:
  account: [scaled, doubled]
"""


@pytest.mark.parametrize(("factor", "balance", "columnar"), [
    (100_000_000_000, "999999999.99", False),  # 10^20 cents: wraps around in int64
    (100_000_000_000, "1.00", True),           # 10^13 cents: fits
    (1, "80000000000000.00", False),           # fits in cents, not in 1/100,000ths
    (1, "4000000000000.00", True),             # in 1/100,000ths (the 0.001), still fits
])
def test_arithmetic_that_would_overflow_64_bit_money_falls_back_to_scalar(
        factor: int, balance: str, columnar: bool, tmp_path: Path) -> None:
    """The columnar backend's integers would wrap around silently: a row that would
    overflow makes the table go to the scalar backend (auto), or is refused (columnar),
    never a wrong amount."""
    (tmp_path / "policy.yaml").write_text(_SCALING_POLICY.replace("FACTOR", str(factor)),
                                          encoding="utf-8")
    (tmp_path / "t.csv").write_text(HEADER + f"\nM1,A1,CAD,{balance},2016-01-04,,,\n"
                                    "M2,A2,CAD,1.00,2016-01-04,,,\n", encoding="utf-8")
    policy = load_policy(tmp_path / "policy.yaml", root=tmp_path)
    scalar = policy.evaluate(load_facts(tmp_path / "t.csv"), as_of=AS_OF,
                             backend="scalar").to_dict()
    auto = policy.evaluate(read_table(tmp_path / "t.csv", None), as_of=AS_OF).to_dict()
    assert auto["accounts"] == scalar["accounts"] and auto["errors"] == scalar["errors"] == []
    assert Decimal(scalar["accounts"][0]["scaled"]) == Decimal(balance) * factor
    if columnar:
        required = policy.evaluate(read_table(tmp_path / "t.csv", None), as_of=AS_OF,
                                   backend="columnar").to_dict()
        assert required["accounts"] == scalar["accounts"]
    else:
        with pytest.raises(PolicyError, match="beyond exact 64-bit arithmetic"):
            policy.evaluate(read_table(tmp_path / "t.csv", None), as_of=AS_OF,
                            backend="columnar")
    out = tmp_path / "out.csv"
    evaluate_file(policy, tmp_path / "t.csv", None, AS_OF_DAY, policy.run_params({})[0], out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and f",{scalar['accounts'][0]['scaled']}," in lines[1] + ","
