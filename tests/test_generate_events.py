"""`unclaimed generate --events`: a dataset (accounts without last_* columns, events beside)
that gives the same determinations as the snapshot generated from the same seed, except
the calibrated history it adds: fees after the unclaimed date for a few percent of
accounts, and transfers with and without what must accompany them."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import polars as pl

from evaluator.cli import main
from tests.support import BASELINE

MEMBERS = "3000"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def determinations(facts: Path, *more: str) -> dict[str, dict[str, str]]:
    fx = facts.with_name(facts.stem + ".fx.csv")
    code, out, err = run("evaluate", "--policy", str(BASELINE), "--facts", str(facts),
                         "--fx", str(fx), "--as-of", "2026-11-21", "--format", "csv", *more)
    assert code == 0, err
    return {r["account_id"]: r for r in csv.DictReader(io.StringIO(out))}


def test_a_generated_dataset_is_its_snapshot_plus_a_calibrated_history(tmp_path: Path) -> None:
    snapshot, dataset = tmp_path / "s.csv", tmp_path / "d.csv"
    assert run("generate", "--members", MEMBERS, "--seed", "5", "--out", str(snapshot))[0] == 0
    code, _, err = run("generate", "--members", MEMBERS, "--seed", "5", "--out", str(dataset),
                       "--events")
    assert code == 0, err
    events = tmp_path / "d.events.csv"
    assert "d.events.csv:" in err and "fees after the unclaimed date" in err
    header = dataset.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert not [c for c in header if c.startswith("last_")]
    want = determinations(snapshot)
    got = determinations(dataset, "--events", str(events))
    assert set(got) == set(want)
    changed = Counter((want[k]["status"], got[k]["status"]) for k in want
                      if want[k]["status"] != got[k]["status"])
    assert set(changed) == {("unclaimed", "transferred")}
    assert all(want[k]["last_activity"] == got[k]["last_activity"] for k in want)
    findings = Counter(f.split(" ")[0] for r in got.values()
                       for f in r["findings"].split(";") if f)
    fees = findings["fee-after-unclaimed"]
    assert 0.01 * len(got) <= fees <= 0.06 * len(got)
    transferred = changed[("unclaimed", "transferred")]
    assert 0 < findings["transfer-incomplete"] < transferred
    rows = pl.read_csv(events, infer_schema=False)
    assert set(rows["type"].unique()) >= {"transaction", "statement_ack", "response", "fee",
                                          "interest", "transfer"}
    foreign = pl.read_csv(dataset, infer_schema=False).filter(pl.col("currency") != "CAD")
    assert foreign.height > 0
    assert rows.filter(pl.col("attachments").str.contains("fx_conversion_record")).height > 0


def test_the_same_seed_gives_the_same_dataset_in_csv_and_parquet(tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv", "c.parquet"):
        code, _, err = run("generate", "--members", "800", "--seed", "9", "--out",
                           str(tmp_path / name), "--events")
        assert code == 0, err
    assert (tmp_path / "a.events.csv").read_bytes() == (tmp_path / "b.events.csv").read_bytes()
    from_csv = pl.read_csv(tmp_path / "a.events.csv", infer_schema=False)
    assert pl.read_parquet(tmp_path / "c.events.parquet").equals(from_csv)
    want = determinations(tmp_path / "a.csv", "--events", str(tmp_path / "a.events.csv"))
    got = determinations(tmp_path / "c.parquet", "--events",
                         str(tmp_path / "c.events.parquet"))
    assert got == want
