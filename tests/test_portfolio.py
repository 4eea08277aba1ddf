"""Portfolio runs: determinations written to CSV or Parquet, in member-consistent chunks."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import polars as pl
import pytest

from evaluator import Policy, load_policy
from evaluator.cli import main
from evaluator.facts import load_facts
from evaluator.generate import generate
from evaluator.portfolio import Progress, evaluate_file
from tests.support import BASELINE, ROOT

AS_OF = dt.date(2026, 11, 21)


@pytest.fixture(scope="module")
def baseline() -> Policy:
    return load_policy(BASELINE)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("portfolio")
    out = folder / "sample.csv"
    generate(out, 1500, seed=11)
    rows = out.read_text(encoding="utf-8").splitlines()
    # a few unreadable rows and a duplicate id in another member, far apart in the file
    rows[40] = rows[40].replace(",CAD,", ",cad,", 1)
    dup = rows[1].split(",")[1]
    cells = rows[1200].split(",")
    cells[1] = dup
    rows[1200] = ",".join(cells)
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out, folder / "sample.fx.csv"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


def test_the_csv_written_is_the_scalar_csv(baseline: Policy, sample: tuple[Path, Path],
                                           tmp_path: Path) -> None:
    facts, fx = sample
    code, scalar_csv, _ = run("evaluate", "--policy", str(BASELINE), "--facts", str(facts),
                              "--fx", str(fx), "--as-of", "2026-11-21", "--format", "csv",
                              "--backend", "scalar")
    assert code == 1  # the damaged rows
    out = tmp_path / "det.csv"
    code, _, err = run("evaluate", "--policy", str(BASELINE), "--facts", str(facts),
                       "--fx", str(fx), "--as-of", "2026-11-21", "--out", str(out))
    assert code == 1
    assert out.read_text(encoding="utf-8") == scalar_csv
    assert "duplicate account id" in err and "currency" in err
    assert "determinations, 2 errors" in err


@pytest.mark.parametrize("chunk_rows", [97, 1000, 100_000])
def test_chunks_never_change_the_result(baseline: Policy, sample: tuple[Path, Path],
                                        tmp_path: Path, chunk_rows: int) -> None:
    facts, fx = sample
    whole = evaluate_file(baseline, facts, fx, AS_OF, baseline.resolve_params(),
                          tmp_path / "whole.parquet")
    chunked = evaluate_file(baseline, facts, fx, AS_OF, baseline.resolve_params(),
                            tmp_path / "chunked.parquet", chunk_rows=chunk_rows)
    assert chunked.chunks == -(-whole.accounts // chunk_rows)
    a = pl.read_parquet(tmp_path / "whole.parquet")
    b = pl.read_parquet(tmp_path / "chunked.parquet")
    assert a.equals(b)
    assert [e.message for e in whole.errors] == [e.message for e in chunked.errors]
    assert whole.determinations + len(whole.errors) == whole.accounts


def test_parquet_keeps_types(baseline: Policy, sample: tuple[Path, Path],
                             tmp_path: Path) -> None:
    facts, fx = sample
    evaluate_file(baseline, facts, fx, AS_OF, baseline.resolve_params(), tmp_path / "d.parquet")
    frame = pl.read_parquet(tmp_path / "d.parquet")
    assert frame.schema["unclaimed_on"] == pl.Date
    assert frame.schema["window_opens"] == pl.Date
    assert isinstance(frame.schema["amount_cad"], pl.Decimal)
    assert set(frame.get_column("status").unique()) == {"active", "inactive", "unclaimed"}


def test_progress_is_silent_when_not_a_terminal() -> None:
    stream = io.StringIO()
    p = Progress(stream, total=3)
    p.update(1, 10)
    p.close()
    assert stream.getvalue() == ""


def test_explain_one_account_of_a_snapshot_table() -> None:
    code, out, _ = run("evaluate", "--policy", "fsra-2024-001", "--facts",
                       str(ROOT / "examples" / "members.csv"), "--fx",
                       str(ROOT / "examples" / "fx.csv"), "--as-of", "2026-11-21",
                       "--explain", "M06-B")
    assert code == 0
    accounts = json.loads(out)["accounts"]
    traced = [a for a in accounts if "trace" in a]
    assert [a["account_id"] for a in traced] == ["M06-B"]
    defs = {t["definition"]: t["value"] for t in traced[0]["trace"] if "definition" in t}
    assert defs["unclaimed_on"] == "2026-05-20"
    code, _, err = run("evaluate", "--policy", "fsra-2024-001", "--facts",
                       str(ROOT / "examples" / "members.csv"), "--as-of", "2026-11-21",
                       "--explain", "NOPE")
    assert code == 2 and "no evaluated account" in err


def test_members_spread_over_the_file_use_hash_chunks_and_the_same_order(
        baseline: Policy, sample: tuple[Path, Path], tmp_path: Path) -> None:
    import random

    facts, fx = sample
    header, *rows = facts.read_text(encoding="utf-8").splitlines()
    random.Random(5).shuffle(rows)
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    whole = evaluate_file(baseline, shuffled, fx, AS_OF, baseline.resolve_params(),
                          tmp_path / "whole.csv")
    chunked = evaluate_file(baseline, shuffled, fx, AS_OF, baseline.resolve_params(),
                            tmp_path / "chunked.csv", chunk_rows=300)
    assert chunked.chunks == -(-whole.accounts // 300)
    assert (tmp_path / "whole.csv").read_text() == (tmp_path / "chunked.csv").read_text()
    _, scalar_csv, _ = run("evaluate", "--policy", str(BASELINE), "--facts", str(shuffled),
                              "--fx", str(fx), "--as-of", "2026-11-21", "--format", "csv",
                              "--backend", "scalar")
    assert (tmp_path / "whole.csv").read_text() == scalar_csv


def test_portfolio_outputs_are_the_same_in_chunks(tmp_path: Path,
                                                  sample: tuple[Path, Path]) -> None:
    """Portfolio outputs of every aggregate kind (count, sum, any, all, latest, earliest,
    largest, smallest): a chunked run combines the chunks' aggregates into what one pass
    over the whole table gives, and the scalar backend agrees; the CLI writes them beside
    the determinations."""
    import shutil

    root = tmp_path / "policies"
    shutil.copytree(BASELINE, root / "fsra-2024-001")
    shutil.copytree(BASELINE.parent / "deposits-base", root / "deposits-base")  # it extends
    shutil.copy(ROOT / "tests" / "portfolio" / "aggregates.yaml", root / "aggregates.yaml")
    policy = load_policy(root / "aggregates.yaml")
    facts, fx = sample
    params = policy.resolve_params()
    whole = evaluate_file(policy, facts, fx, AS_OF, params, tmp_path / "whole.parquet")
    chunked = evaluate_file(policy, facts, fx, AS_OF, params, tmp_path / "chunked.parquet",
                            chunk_rows=97)
    assert chunked.chunks > 10
    assert whole.portfolio is not None and chunked.portfolio == whole.portfolio
    scalar = policy.evaluate(load_facts(facts, fx=fx), as_of=AS_OF, backend="scalar")
    assert scalar.portfolio == whole.portfolio
    # not trivial: every aggregate sees values
    values = whole.portfolio
    assert values["unclaimed_count"] > 10 and values["unclaimed_cad"] > 0
    assert values["any_inactive"] is True and values["all_opened_after_1900"] is True
    assert values["earliest_unclaimed_on"] < values["latest_unclaimed_on"] <= AS_OF
    assert values["smallest_balance"] < values["largest_balance"]

    out = tmp_path / "cli.csv"
    code, _, err = run("evaluate", "--policy", str(root / "aggregates.yaml"), "--facts",
                       str(facts), "--fx", str(fx), "--as-of", "2026-11-21", "--out", str(out),
                       "--chunk-rows", "200")
    assert code == 1  # the sample's damaged rows
    side = json.loads((tmp_path / "cli.portfolio.json").read_text(encoding="utf-8"))
    assert side["portfolio"]["unclaimed_count"] == values["unclaimed_count"]
    assert side["portfolio"]["unclaimed_cad"] == str(values["unclaimed_cad"])
    assert side["policy"]["id"] == "portfolio-aggregates" and side["as_of"] == "2026-11-21"
    assert "cli.portfolio.json: portfolio unclaimed_count" in err


def test_the_help_states_the_default_chunk_size(capsys: pytest.CaptureFixture[str]) -> None:
    from evaluator.portfolio import DEFAULT_CHUNK_ROWS

    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default {DEFAULT_CHUNK_ROWS:,})" in text
