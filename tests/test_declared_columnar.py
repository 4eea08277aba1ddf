"""Declared columns in the columnar backend (issue 12 follow-up): a snapshot table's
declared columns are read natively by polars, only the rows of members with a doubtful row
going to the scalar loader (counted by ``declcols.scalar_rows_read``); a declared percent
in money arithmetic and a ``list of text`` field run columnar, on CSV and Parquet, whole
and chunked through ``evaluate --out``, byte-identical to the scalar backend with the same
record errors; a decimal or percent field is declined only where an output would show its
decimal places (which each of the scalar backend's Decimals keeps)."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from evaluator import load_facts, load_policy
from evaluator.apps.cli import main
from evaluator.apps.portfolio import evaluate_file
from evaluator.columnar import read_table
from evaluator.errors import Unsupported
from evaluator.facts.declcols import scalar_rows_read
from tests.test_declared_facts import AS_OF, BAD_ROWS, DECLARED, POLICY

AS_OF_DAY = dt.date.fromisoformat(AS_OF)

#: the test policy with a list field and a percent in money arithmetic and comparisons
ADDITIONS = {
    "      bore_interest: {type: bool, optional: true}\n":
        "      bore_interest: {type: bool, optional: true}\n"
        "      tags: {type: list of text, optional: true, description: \"labels\"}\n",
    "      region: member.region\n": "      region: member.region\n      tags: account.tags\n",
    "outputs:\n  account: [status":
        "  interest:\n    entity: account\n    provision: \"1(3)\"\n"
        "    formula: interest_simple(balance, rate ?? 0%, opened, as_of)\n"
        "  high_rate:\n    entity: account\n    provision: \"1(3)\"\n"
        "    formula: (rate ?? 0%) > 1%\n"
        "  vip:\n    entity: account\n    provision: \"1(5)\"\n"
        "    formula: \"\\\"vip\\\" in tags\"\n"
        "  labels:\n    entity: account\n    provision: \"1(5)\"\n"
        "    formula: count(tags)\n"
        "  first_label:\n    entity: account\n    provision: \"1(5)\"\n"
        "    formula: first(tags) ?? \"none\"\n"
        "outputs:\n  account: [interest, high_rate, vip, labels, first_label, status",
}
#: an output that shows a rate's decimal places
SHOWING = [("  interest:\n", "  raw_interest:\n    entity: account\n    provision: \"1(3)\"\n"
            "    formula: balance * (rate ?? 0%)\n  interest:\n"),
           ("account: [interest,", "account: [raw_interest, interest,")]
TAGS = ["vip;gold", "", " plain ", "vip", "gold; vip", "", "x;;y", "vip"]


def _policy(tmp_path: Path, showing: bool = False) -> Path:
    text = POLICY.read_text(encoding="utf-8")
    for old, new in [*ADDITIONS.items(), *(SHOWING if showing else [])]:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / ("showing.yaml" if showing else "policy.yaml")
    path.write_text(text, encoding="utf-8")
    return path


def _tables(tmp_path: Path, rates: tuple[str, str] | None = None) -> list[Path]:
    """The test table with a tags column, clean, with the bad rows (and a bad list),
    and clean as Parquet; ``rates`` replaces the two rates of the clean rows."""
    lines = (DECLARED / "table.csv").read_text(encoding="utf-8").splitlines()
    if rates is not None:
        lines[1] = lines[1].replace(",2.5%,", f",{rates[0]},")
        lines[3] = lines[3].replace(",0.01,", f",{rates[1]},")
    body = [f"{line},{TAGS[i % len(TAGS)]}" for i, line in enumerate(lines[1:] + BAD_ROWS)]
    head = lines[0] + ",tags"
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("\n".join([head, *body[:len(lines) - 1]]) + "\n", encoding="utf-8")
    bad.write_text("\n".join([head, *body]) + "\n", encoding="utf-8")
    parquet = tmp_path / "good.parquet"
    pl.read_csv(good, infer_schema=False).write_parquet(parquet)
    return [good, bad, parquet]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_a_percent_in_money_arithmetic_and_a_list_run_columnar_as_scalar(
        tmp_path: Path) -> None:
    path = _policy(tmp_path)
    policy = load_policy(path)
    for table in _tables(tmp_path):
        scalar = policy.evaluate(load_facts(table, policy=policy), as_of=AS_OF,
                                 backend="scalar")
        columnar = policy.evaluate(read_table(table, decl=policy.facts_decl), as_of=AS_OF,
                                   backend="columnar")
        assert columnar.to_json() == scalar.to_json(), table.name
        got = {a.account_id: a.values for a in columnar.accounts}
        # the list field read from `a;b` (blank items are a record error)
        assert got["M1-A"]["vip"] is True and got["M1-A"]["labels"] == 2
        assert got["M2-B"]["first_label"] == "plain" and got["M2-A"]["labels"] == 0
        assert got["M1-A"]["high_rate"] is True and got["M2-B"]["high_rate"] is False
        assert got["M1-A"]["interest"] > Decimal(0)
        code, out, err = run("evaluate", "--policy", str(path), "--facts", str(table),
                             "--as-of", AS_OF, "--backend", "columnar")
        assert code == (1 if table.name == "bad.csv" else 0), err
        assert out == scalar.to_json() + "\n"
        if table.name == "bad.csv":
            fields = {e.account_id: e.field for e in scalar.errors}
            assert fields["M1-B"] == "region" and fields["M4-B"] == "bore_interest"
            assert len(scalar.accounts) + len(scalar.errors) == 12


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_evaluate_out_reads_declared_columns_in_chunks_as_scalar(tmp_path: Path,
                                                                 suffix: str) -> None:
    policy = load_policy(_policy(tmp_path))
    params = policy.resolve_params()
    for table in _tables(tmp_path):
        got = {}
        for mode, kwargs in (("scalar", {"scalar": True}),
                             ("whole", {"fallback": False}),
                             ("chunked", {"fallback": False, "chunk_rows": 2})):
            out = tmp_path / f"{table.stem}-{mode}{suffix}"
            before = scalar_rows_read[0]
            summary = evaluate_file(policy, table, None, AS_OF_DAY, params, out, **kwargs)
            got[mode] = (out.read_bytes(),
                         [(e.location, e.field, e.message) for e in summary.errors])
            if mode != "scalar" and table.name != "bad.csv":
                assert scalar_rows_read[0] == before, (table.name, mode)
        assert got["whole"] == got["scalar"], table.name
        assert got["chunked"] == got["scalar"], table.name
        assert bool(got["scalar"][1]) == (table.name == "bad.csv")


def test_an_output_showing_a_rates_places_goes_to_the_scalar_backend(
        tmp_path: Path) -> None:
    path = _policy(tmp_path, showing=True)
    policy = load_policy(path)
    good = _tables(tmp_path)[0]  # 2.5% (0.025) and 0.01: different places
    code, out, err = run("evaluate", "--policy", str(path), "--facts", str(good),
                         "--as-of", AS_OF, "--backend", "columnar")
    assert code == 2
    assert "declared percent field `account.rate`" in err and "raw_interest" in err
    code, out, _ = run("evaluate", "--policy", str(path), "--facts", str(good),
                       "--as-of", AS_OF)
    scalar = policy.evaluate(load_facts(good, policy=policy), as_of=AS_OF, backend="scalar")
    assert code == 0 and out == scalar.to_json() + "\n"
    shown = {a["account_id"]: a["raw_interest"] for a in json.loads(out)["accounts"]}
    assert shown["M1-A"] == "37.50000" and shown["M2-B"] == "0.3000"
    # the same places everywhere still mixes them with `?? 0%`: declined as well
    (tmp_path / "even").mkdir()
    even = _tables(tmp_path / "even", rates=("2.5%", "0.015"))[0]
    code, out, err = run("evaluate", "--policy", str(path), "--facts", str(even),
                         "--as-of", AS_OF)
    scalar = policy.evaluate(load_facts(even, policy=policy), as_of=AS_OF, backend="scalar")
    assert code == 0 and out == scalar.to_json() + "\n"
    assert {a["account_id"]: a["raw_interest"] for a in json.loads(out)["accounts"]} == \
        {"M1-A": "37.50000", "M2-A": "0.00", "M2-B": "0.45000"}


@pytest.mark.parametrize("written", ["2.50%", "100%", "150%", "0.10%", "0%", "0.00%",
                                     "2%", "-1.5", "0.025", "3", " 7.125 % "])
def test_a_percents_value_and_places_are_the_scalar_loaders(tmp_path: Path,
                                                           written: str) -> None:
    policy = load_policy(_policy(tmp_path))
    field = policy.facts_decl.field("account", "rate")
    from evaluator.declared import parse_value

    value = parse_value(field, written.strip())
    plain = format(value, "f")  # the same number and places, written as a decimal
    lines = (DECLARED / "table.csv").read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace(",2.5%,", f",{written},")
    lines[3] = lines[3].replace(",0.01,", f",{plain},")
    table = tmp_path / "t.csv"
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    read = read_table(table, decl=policy.facts_decl)
    column = "x:account:rate"
    scale = read.extra_scales[column]
    rates = dict(zip(read.frame.get_column("account_id").to_list(),
                     read.frame.get_column(column).to_list(), strict=True))
    assert Decimal(rates["M1-A"]).scaleb(-scale) == value
    assert rates["M1-A"] == rates["M2-B"]
    assert scale == max(0, -int(value.as_tuple().exponent))


def _big_table(path: Path, rows: int, bad_at: int | None = None) -> None:
    i = pl.int_range(0, rows, eager=True)
    frame = pl.DataFrame({
        "member_id": "M" + (i // 2).cast(pl.String),
        "account_id": "A" + i.cast(pl.String),
        "currency": pl.Series(["CAD", "USD"]).gather(i % 2),
        "balance": ((i * 37) % 100000).cast(pl.String) + "." + ((i % 90) + 10).cast(pl.String),
        "opened": pl.Series(["2001-02-03", "2005-06-07"]).gather(i % 2),
        "last_transaction": pl.Series(["2010-03-02", ""]).gather(i % 2),
        "last_statement_ack": "", "last_response": "",
        "maturity": pl.Series(["", "2012-04-01", ""]).gather(i % 3),
        "rate": pl.Series(["2.5%", "", "1.25%", "0.005"]).gather(i % 4),
        "product": pl.Series(["term", "savings", ""]).gather(i % 3),
        "bore_interest": pl.Series(["true", "FALSE", ""]).gather(i % 3),
        "region": pl.Series(["north", "south", ""]).gather((i // 2) % 3),
        "last_renewal": pl.Series(["", "2014-04-01"]).gather(i % 2),
        "tags": pl.Series(["vip;gold", "", "plain"]).gather(i % 3),
    })
    if bad_at is not None:
        frame = frame.with_columns(pl.when(i == bad_at).then(pl.lit("maybe"))
                                   .otherwise(pl.col("bore_interest")).alias("bore_interest"))
    frame.write_csv(path)


def test_a_large_table_with_declared_columns_is_read_without_the_scalar_loader(
        tmp_path: Path) -> None:
    policy = load_policy(_policy(tmp_path))
    rows = 100_000
    clean, bad = tmp_path / "clean.csv", tmp_path / "bad.csv"
    _big_table(clean, rows)
    _big_table(bad, rows, bad_at=54_321)
    before = scalar_rows_read[0]
    table = read_table(clean, decl=policy.facts_decl)
    assert scalar_rows_read[0] == before  # no row given to the scalar loader
    assert table.frame.height == rows and not table.errors
    # `vip;gold` (every third row from 0) has two items, `plain` (from 2) one
    assert table.frame.get_column("x:account:tags").list.len().sum() == \
        2 * len(range(0, rows, 3)) + len(range(2, rows, 3))
    table = read_table(bad, decl=policy.facts_decl)
    # only the two rows of the member with the bad cell were read by the scalar loader
    assert scalar_rows_read[0] == before + 2
    assert [(e.location, e.field, e.message) for e in table.errors] == [
        ("row 54323", "bore_interest", "bore_interest must be true or false, not `maybe`")]
    assert table.frame.height == rows - 1
    # the evaluation of the read table is the scalar backend's, on a slice of it
    result = policy.evaluate(table, as_of=AS_OF, backend="columnar")
    assert len(result.accounts) + len(result.errors) == rows


def test_values_too_large_for_exact_integers_are_declined(tmp_path: Path) -> None:
    policy = load_policy(_policy(tmp_path))
    lines = (DECLARED / "table.csv").read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace(",2.5%,", ",123456789012345.12345%,")
    table = tmp_path / "t.csv"
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(Unsupported, match="rate"):
        read_table(table, decl=policy.facts_decl)


def test_cells_python_strips_but_polars_does_not_are_read_as_the_scalar_loader_does(
        tmp_path: Path) -> None:
    policy = load_policy(_policy(tmp_path))
    lines = (DECLARED / "table.csv").read_text(encoding="utf-8").splitlines()
    rows = [lines[0] + ",tags",
            lines[1] + ",vip;\x1c;gold",            # an item Python strips to nothing
            "M2,M2-A,CAD,20.00,2005-01-10,,,,,,,,north\x1f,,,",  # a region it strips
            "M2,M2-B,CAD,30.00,2006-01-10,2009-05-05,,,,0.01,,,north,,B7,a ; b"]
    table = tmp_path / "t.csv"
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    scalar = policy.evaluate(load_facts(table, policy=policy), as_of=AS_OF, backend="scalar")
    columnar = policy.evaluate(read_table(table, decl=policy.facts_decl), as_of=AS_OF,
                               backend="columnar")
    assert columnar.to_json() == scalar.to_json()
    assert [(e.account_id, e.field) for e in scalar.errors] == [("M1-A", "tags")]
    got = {a.account_id: a.values for a in scalar.accounts}
    assert got["M2-A"]["northern"] is True and got["M2-B"]["labels"] == 2
