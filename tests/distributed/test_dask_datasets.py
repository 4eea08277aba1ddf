"""`--engine dask` over a dataset (an accounts table and its events table): `evaluate
--events --out DIR/` and `compare --events` give what the single-machine run gives (rows,
order, portfolio outputs, record errors, the orphan-events warning once, exit status), and
a worker killed mid-run is retried or fails the run in one line with the previous output
left as it was. One LocalCluster of 2 worker processes serves the module; the command
line runs as a real subprocess connected to it with --scheduler."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from evaluator.apps.cli import main
from tests.distributed.killing import (
    assert_killed_run,
    run_killing_a_worker,
    wait_for_the_new_worker,
)
from tests.distributed.passes import spied_passes
from tests.support import BASELINE, ROOT

distributed = pytest.importorskip("distributed")

AS_OF = "2026-11-21"
ALTERNATIVES = ROOT / "policies" / "alternatives"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0",  # a free port: never 8787 taken
                                  silence_logs=logging.CRITICAL) as c, \
            distributed.Client(c, set_as_default=False) as client:
        client.run(__import__, "evaluator.apps.distributed_events")
        yield client


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A generated dataset with rates left out (evaluation errors), a bad event row (its
    member unusable) and event rows of a member the accounts table does not have; the
    policy with a portfolio output of every aggregate kind."""
    folder = tmp_path_factory.mktemp("dask-events")
    accounts = folder / "d.csv"
    out, err = io.StringIO(), io.StringIO()
    assert main(["generate", "--members", "300", "--seed", "6", "--events",
                 "--missing-rates", "0.6", "--out", str(accounts)],
                stdout=out, stderr=err) == 0, err.getvalue()
    events = folder / "d.events.csv"
    lines = events.read_text(encoding="utf-8").splitlines()
    cells = lines[40].split(",")
    cells[2] = "2020-13-45"  # not a date: the member's accounts are record errors
    lines[40] = ",".join(cells)
    lines += ["M9999999,,2015-01-01,response,,,", "M9999999,,2016-01-01,response,,,"]
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    root = folder / "policies"
    shutil.copytree(BASELINE, root / "fsra-2024-001")
    shutil.copytree(BASELINE.parent / "deposits-base", root / "deposits-base")
    shutil.copy(ROOT / "tests" / "portfolio" / "aggregates.yaml", root / "aggregates.yaml")
    return {"accounts": accounts, "events": events, "fx": folder / "d.fx.csv",
            "policy": root / "aggregates.yaml"}


def evaluate_args(sample: dict[str, Path], out: str) -> list[str]:
    return ["evaluate", "--policy", str(sample["policy"]), "--facts", str(sample["accounts"]),
            "--events", str(sample["events"]), "--fx", str(sample["fx"]), "--as-of", AS_OF,
            "--out", out]


@pytest.fixture(scope="module")
def reference(sample: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, int, str]:
    """The single-machine run (in this process): its folder, exit status, stderr."""
    folder = tmp_path_factory.mktemp("local")
    err = io.StringIO()
    code = main([*evaluate_args(sample, str(folder / "local.parquet")), "--errors",
                 str(folder / "local.errors.jsonl")], stdout=io.StringIO(), stderr=err)
    return folder, code, err.getvalue()


def cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evaluator", *argv], capture_output=True,
                          text=True, timeout=300, cwd=ROOT, env={**os.environ, **(env or {})})


def side(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def test_a_dataset_on_dask_is_the_single_machine_run(
        cluster: Any, sample: dict[str, Path], reference: tuple[Path, int, str],
        tmp_path: Path) -> None:
    folder, code, local_err = reference
    dask = cli(*evaluate_args(sample, f"{tmp_path / 'dask'}/"), "--errors",
               str(tmp_path / "dask.errors.jsonl"), "--engine", "dask", "--scheduler",
               cluster.scheduler.address, "--partitions", "3", "--progress")
    assert code == 1  # the bad event row, the missing rates
    assert dask.returncode == code, dask.stderr
    parts = sorted(p.name for p in (tmp_path / "dask").iterdir())
    assert parts == [f"part-{k:05d}.parquet" for k in range(3)]
    assert all(pl.read_parquet(tmp_path / "dask" / p).height > 50 for p in parts)
    whole = pl.read_parquet(folder / "local.parquet")
    assert whole.height > 300
    assert pl.read_parquet(tmp_path / "dask").equals(whole)  # same rows, order, values
    a, b = side(folder / "local.portfolio.json"), side(tmp_path / "dask.portfolio.json")
    assert a["portfolio"]["unclaimed_count"] > 10
    for key in ("policy", "as_of", "parameters", "portfolio"):
        assert a[key] == b[key]
    errors = (folder / "local.errors.jsonl").read_text(encoding="utf-8")
    assert "row 41" in errors and "exchange rate dated" in errors
    assert (tmp_path / "dask.errors.jsonl").read_text(encoding="utf-8") == errors
    orphans = "2 event rows of 1 member not in the accounts table (`M9999999`)"
    assert local_err.count(orphans) == 1
    assert dask.stderr.count(orphans) == 1  # taken once, not once per partition
    assert "partitions done 3/3" in dask.stderr


def test_compare_events_on_dask_writes_the_same_five_files(
        cluster: Any, sample: dict[str, Path], tmp_path: Path) -> None:
    argv = ["compare", "--policy", str(BASELINE), "--policy",
            str(ALTERNATIVES / "quarterly-windows.yaml"), "--policy",
            str(ALTERNATIVES / "interest.yaml"), "--facts", str(sample["accounts"]),
            "--events", str(sample["events"]), "--fx", str(sample["fx"]), "--as-of", AS_OF]
    err = io.StringIO()
    assert main([*argv, "--out", str(tmp_path / "local")], stdout=io.StringIO(),
                stderr=err) == 0, err.getvalue()
    dask = cli(*argv, "--out", str(tmp_path / "dask"), "--engine", "dask", "--scheduler",
               cluster.scheduler.address, "--partitions", "3")
    assert dask.returncode == 0, dask.stderr
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert len(names) == 5
    assert sorted(p.name for p in (tmp_path / "dask").iterdir()) == names
    for name in names:
        assert (tmp_path / "dask" / name).read_bytes() == \
            (tmp_path / "local" / name).read_bytes(), name
    accounts = pl.read_csv(tmp_path / "local" / "accounts.csv", infer_schema=False)
    assert accounts.filter(pl.col("differs") != "").height > 10
    assert accounts.filter(pl.col("error").is_not_null()).height > 0


@pytest.mark.parametrize("allowed_failures", [3, 0])
def test_a_worker_killed_mid_run(cluster: Any, sample: dict[str, Path],
                                 reference: tuple[Path, int, str], tmp_path: Path,
                                 allowed_failures: int) -> None:
    """Retried (the output complete and identical), or one line, exit 2, and the previous
    output as it was, with no temporary files."""
    folder, _, _ = reference
    target = tmp_path / "dask.parquet"
    target.mkdir()
    (target / "part-00000.parquet").write_bytes(b"previous run")
    code, err, _ = run_killing_a_worker(
        cluster, [*evaluate_args(sample, str(target)), "--partitions", "4"], allowed_failures)
    wait_for_the_new_worker(cluster)
    assert_killed_run(code, err, bool(allowed_failures), target, folder / "local.parquet",
                      tmp_path)


@pytest.mark.parametrize("allowed_failures", [3, 0])
def test_a_worker_killed_mid_compare(cluster: Any, sample: dict[str, Path], tmp_path: Path,
                                     allowed_failures: int) -> None:
    """`compare --events` on Dask with a worker killed while it compares a partition:
    retried, the single-machine comparison's five files; not, one line, exit 2, and the
    previous comparison as it was, with no temporary files."""
    argv = ["compare", "--policy", str(BASELINE), "--policy",
            str(ALTERNATIVES / "quarterly-windows.yaml"), "--facts", str(sample["accounts"]),
            "--events", str(sample["events"]), "--fx", str(sample["fx"]), "--as-of", AS_OF]
    err = io.StringIO()
    assert main([*argv, "--out", str(tmp_path / "local")], stdout=io.StringIO(),
                stderr=err) == 0, err.getvalue()
    target = tmp_path / "dask"
    target.mkdir()
    (target / "accounts.csv").write_text("previous run", encoding="utf-8")
    code, err_text, _ = run_killing_a_worker(
        cluster, [*argv, "--out", str(target), "--partitions", "4"], allowed_failures)
    wait_for_the_new_worker(cluster)
    if allowed_failures:
        assert code == 0, err_text
        names = sorted(p.name for p in (tmp_path / "local").iterdir())
        assert sorted(p.name for p in target.iterdir()) == names
        for name in names:
            assert (target / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    else:
        assert code == 2, err_text
        lines = err_text.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: the Dask run failed: a "
                                                       "worker died"), err_text
        assert [p.name for p in target.iterdir()] == ["accounts.csv"]
        assert (target / "accounts.csv").read_text(encoding="utf-8") == "previous run"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(("extra", "message"), [
    (["--backend", "columnar", "--engine", "dask", "--out", "x/"],
     "--backend columnar cannot be used with --events"),
    (["--engine", "dask", "--out", "x.csv"], "--out names a folder"),
    (["--engine", "dask", "--record", "r.json", "--out", "x/"], "--record"),
])
def test_usage_errors(sample: dict[str, Path], tmp_path: Path, extra: list[str],
                      message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    err = io.StringIO()
    code = main(["evaluate", "--policy", str(sample["policy"]), "--facts",
                 str(sample["accounts"]), "--events", str(sample["events"]), "--as-of", AS_OF,
                 *extra], stdout=io.StringIO(), stderr=err)
    assert code == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err.getvalue()
    assert list(tmp_path.iterdir()) == []


def test_compare_refuses_full_profiles_on_dask(tmp_path: Path) -> None:
    err = io.StringIO()
    code = main(["compare", "--policy", str(BASELINE), "--facts",
                 str(ROOT / "examples" / "members.json"), "--as-of", AS_OF, "--engine", "dask",
                 "--out", str(tmp_path / "out")], stdout=io.StringIO(), stderr=err)
    assert code == 2
    assert "--engine dask compares a snapshot table or a dataset" in err.getvalue()
    assert not (tmp_path / "out").exists()


def test_parts_whose_lists_differ_in_length_read_back_as_the_single_machine_run(
        tmp_path: Path) -> None:
    """The worker's task run directly (no cluster): a partition whose member has two
    findings and one whose members have none (the columnar backend unrolls each part's
    lists to its own longest) read back, as one Parquet dataset, as one machine's file."""
    from evaluator.apps.distributed import policy_texts
    from evaluator.apps.distributed_events import EventsJob, Slice, evaluate_events_partition
    from evaluator.policy import load_policy
    from tests.test_dataset_events import write

    accounts, events = write(tmp_path)
    fx = tmp_path / "fx.csv"
    code = main(["evaluate", "--policy", str(BASELINE), "--facts", str(accounts), "--events",
                 str(events), "--fx", str(fx), "--as-of", AS_OF, "--out",
                 str(tmp_path / "local.parquet")], stdout=io.StringIO(), stderr=io.StringIO())
    assert code == 0
    policy = load_policy(BASELINE)
    folder = tmp_path / "parts"
    folder.mkdir()
    job = EventsJob(policy_texts(policy), policy.sha256, str(accounts), str(events), str(fx),
                    __import__("datetime").date(2026, 11, 21), {}, "auto", 2, str(folder),
                    "differ")
    parts = [evaluate_events_partition(Slice(k), job) for k in range(2)]
    assert all(p.columnar and p.fallback is None for p in parts)
    first, second = (pl.read_parquet(folder / p.file) for p in parts)
    assert first.get_column("findings").list.len().to_list() == [2]
    assert second.get_column("findings").list.len().to_list() == [0, 0]
    assert pl.read_parquet(folder).equals(pl.read_parquet(tmp_path / "local.parquet"))


def test_a_partition_the_columnar_backend_cannot_evaluate_falls_back_with_its_reason(
        cluster: Any, tmp_path: Path) -> None:
    """One partition's list over events is longer than the columnar backend unrolls: that
    partition is evaluated by the scalar backend, the note gives the reason as one
    machine's does, and the output is the single-machine run's."""
    from evaluator.backends.columnar.events import MAX_ITEMS
    from tests.test_columnar_events import PROBE, PROBE_ACCOUNTS, PROBE_EVENTS

    (tmp_path / "a.csv").write_text(PROBE_ACCOUNTS, encoding="utf-8")
    (tmp_path / "e.csv").write_text(PROBE_EVENTS + "".join(
        f"M2,M2-A,2020-01-{1 + i % 28:02d},fee,1.00,,\n" for i in range(MAX_ITEMS + 1)),
        encoding="utf-8")
    args = ["evaluate", "--policy", str(PROBE), "--facts", str(tmp_path / "a.csv"),
            "--events", str(tmp_path / "e.csv"), "--as-of", AS_OF]
    err = io.StringIO()
    code = main([*args, "--out", str(tmp_path / "local.parquet")], stdout=io.StringIO(),
                stderr=err)
    assert "note: evaluated by the scalar backend" in err.getvalue()
    dask = cli(*args, "--out", f"{tmp_path / 'dask'}/", "--engine", "dask", "--scheduler",
               cluster.scheduler.address, "--partitions", "2")
    assert dask.returncode == code, dask.stderr
    assert "note: evaluated by the scalar backend" in dask.stderr
    assert f"up to {MAX_ITEMS + 1} items" in dask.stderr
    parts = sorted((tmp_path / "dask").iterdir())
    assert len(parts) == 2 and all(pl.read_parquet(p).height for p in parts)
    assert pl.read_parquet(tmp_path / "dask").equals(pl.read_parquet(tmp_path / "local.parquet"))


def spied_evaluate(cluster: Any, monkeypatch: pytest.MonkeyPatch, policy: Path,
                   accounts: Path, events: Path, fx: Path, out: Path
                   ) -> tuple[Any, list[tuple[str, list[Any]]]]:
    """`evaluate_events` run in this process on the cluster: its summary, and each pass
    of tasks (the task's name, what the partitions returned to the client)."""
    import datetime as _dt

    import evaluator.apps.distributed_events as engine_events
    from evaluator.apps.distributed import Engine
    from evaluator.policy import load_policy

    passes = spied_passes(monkeypatch)
    summary = engine_events.evaluate_events(
        load_policy(policy), accounts, events, fx, _dt.date.fromisoformat(AS_OF), {}, out,
        Engine(scheduler=cluster.scheduler.address), partitions=3)
    return summary, passes


def portfolio_json(summary: Any) -> dict[str, Any]:
    from evaluator.lang.values import to_json_value

    return {k: to_json_value(v) for k, v in summary.portfolio.items()}


def test_the_portfolio_outputs_are_combined_from_the_columnar_partials(
        cluster: Any, sample: dict[str, Path], reference: tuple[Path, int, str],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every partition evaluated by the columnar backend returns its partial aggregates
    (no account's values from the scalar runtime, no second pass), and the outputs the
    client computes from them are the single-machine run's."""
    folder, _, _ = reference
    summary, passes = spied_evaluate(cluster, monkeypatch, sample["policy"],
                                     sample["accounts"], sample["events"], sample["fx"],
                                     tmp_path / "out")
    assert [name for name, _ in passes] == ["evaluate_events_partition"]
    parts = passes[0][1]
    assert len(parts) == 3
    assert all(p.columnar and p.partials is not None and p.portfolio is None for p in parts)
    assert len({len(p.partials[0]) for p in parts}) == 1  # the same requests everywhere
    assert summary.note is None
    assert portfolio_json(summary) == side(folder / "local.portfolio.json")["portfolio"]
    assert pl.read_parquet(tmp_path / "out").equals(pl.read_parquet(folder / "local.parquet"))


@pytest.fixture(scope="module")
def mixed(sample: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
          ) -> dict[str, Path]:
    """The sample with a last member whose account has more transfers than the columnar
    backend unrolls: the last partition is evaluated by the scalar backend."""
    from evaluator.backends.columnar.events import MAX_ITEMS

    folder = tmp_path_factory.mktemp("mixed")
    accounts, events = folder / "m.csv", folder / "m.events.csv"
    accounts.write_text(sample["accounts"].read_text(encoding="utf-8")
                        + "M9000000,M9000000-A,CAD,100.00,2001-01-01\n", encoding="utf-8")
    events.write_text(sample["events"].read_text(encoding="utf-8") + "".join(
        f"M9000000,M9000000-A,2020-01-{1 + i % 28:02d},transfer,1.00,,\n"
        for i in range(MAX_ITEMS + 2)), encoding="utf-8")
    return {**sample, "accounts": accounts, "events": events}


def test_mixed_partitions_give_the_single_machine_portfolio_outputs(
        cluster: Any, mixed: dict[str, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One partition evaluated by the scalar backend, the others by the columnar one: a
    second pass asks the columnar ones for their accounts' values, and the portfolio
    outputs (and rows) are the single-machine run's (all scalar there, with the note)."""
    err = io.StringIO()
    main([*evaluate_args(mixed, str(tmp_path / "local.parquet"))], stdout=io.StringIO(),
         stderr=err)
    assert "note: evaluated by the scalar backend" in err.getvalue()
    summary, passes = spied_evaluate(cluster, monkeypatch, mixed["policy"],
                                     mixed["accounts"], mixed["events"], mixed["fx"],
                                     tmp_path / "out")
    assert [name for name, _ in passes] == ["evaluate_events_partition",
                                            "portfolio_share_partition"]
    parts = passes[0][1]
    assert [p.columnar for p in parts] == [True, True, False]
    assert [s.index for s in passes[1][1]] == [0, 1]
    assert summary.note is not None and "unrolled up to" in summary.note
    local = side(tmp_path / "local.portfolio.json")["portfolio"]
    assert local["unclaimed_count"] > 10
    assert portfolio_json(summary) == local
    assert pl.read_parquet(tmp_path / "out").equals(pl.read_parquet(tmp_path /
                                                                    "local.parquet"))


@pytest.mark.parametrize("which", ["sample", "mixed"])
def test_compare_events_on_dask_runs_columnar_on_the_workers(
        cluster: Any, sample: dict[str, Path], mixed: dict[str, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, which: str) -> None:
    """The workers compare their partition by the columnar backend (the frames carry its
    columns, no note); a partition it cannot evaluate is compared by the scalar backend
    with the single-machine note. The five files are the local compare's either way."""
    import datetime as _dt

    import evaluator.apps.distributed_events as engine_events
    from evaluator.apps.distributed import Engine
    from evaluator.policy import load_policy

    data = sample if which == "sample" else mixed
    policies = [BASELINE, ALTERNATIVES / "quarterly-windows.yaml", sample["policy"]]
    argv = ["compare", *[a for p in policies for a in ("--policy", str(p))], "--facts",
            str(data["accounts"]), "--events", str(data["events"]), "--fx", str(data["fx"]),
            "--as-of", AS_OF]
    err = io.StringIO()
    code = main([*argv, "--out", str(tmp_path / "local")], stdout=io.StringIO(), stderr=err)
    dask = cli(*argv, "--out", str(tmp_path / "dask"), "--engine", "dask", "--scheduler",
               cluster.scheduler.address, "--partitions", "3")
    assert dask.returncode == code == 0, dask.stderr
    notes = [line for line in dask.stderr.splitlines() if line.startswith("note:")]
    if which == "sample":
        assert "note:" not in err.getvalue() and notes == []
    else:
        assert "note: compared with the scalar backend" in err.getvalue()
        assert len(notes) == 1 and "compared with the scalar backend" in notes[0]
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert len(names) == 5
    for name in names:
        assert (tmp_path / "dask" / name).read_bytes() == \
            (tmp_path / "local" / name).read_bytes(), name
    passes = spied_passes(monkeypatch)
    comparison, _, _ = engine_events.compare_events(
        [load_policy(p) for p in policies], data["accounts"], data["events"], data["fx"],
        _dt.date.fromisoformat(AS_OF), 2040, {}, {}, 10,
        Engine(scheduler=cluster.scheduler.address), partitions=3,
        out=tmp_path / "direct")
    # the partitions' accounts rows wait in a folder beside the output until written
    staged = [p for p in tmp_path.iterdir() if p.name.startswith(".direct.unclaimed-parts-")]
    assert len(staged) == 1 and len(list(staged[0].iterdir())) == 3 * len(policies)
    comparison.close()
    assert not staged[0].exists()
    # one pass: the partitions compared (read alone; none again: the same decimal
    # places in all), each sending the profiles of the members it may have traced
    (task, runs), = passes
    assert task == "compare_events_partition"
    sent = [m.member_id for r in runs if r.share and r.share.traced
            for m in r.share.traced.members]
    assert 0 < len(sent) <= 3 * 10 * (len(policies) - 1)
    columnar = [r.note is None for r in runs]  # no note: the columnar backend ran
    assert columnar == ([True, True, True] if which == "sample" else [True, True, False])


def test_portfolio_outputs_over_members_are_refused_before_the_run(
        cluster: Any, sample: dict[str, Path], tmp_path: Path) -> None:
    """Portfolio outputs that read members' definitions (which no partition's partial
    aggregates or accounts carry, and which the columnar backend cannot compile): one
    line, exit 2, nothing written."""
    policy = sample["policy"].parent / "members.yaml"
    policy.write_text(
        "policy: over-members\nversion: 1.0.0\nstatus: alternative\ntitle: members\n"
        "extends: fsra-2024-001@1.1.0\ndefinitions:\n"
        "  account_count:\n    entity: member\n    provision: \"2(1)\"\n"
        "    formula: count(a for a in accounts)\n"
        "  shared:\n    entity: portfolio\n    provision: \"2(14)\"\n"
        "    formula: count(m for m in members if m.account_count > 1)\n"
        "outputs:\n  portfolio: [shared]\n", encoding="utf-8")
    err = io.StringIO()
    args = evaluate_args({**sample, "policy": policy}, f"{tmp_path / 'dask'}/")
    code = main([*args, "--engine", "dask", "--scheduler", cluster.scheduler.address],
                stdout=io.StringIO(), stderr=err)
    assert code == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and "read members' definitions" in lines[-1], err.getvalue()
    assert not (tmp_path / "dask").exists()


@pytest.fixture(scope="module")
def unknown(sample: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
            ) -> dict[str, Path]:
    """The sample dataset with an accounts column and an event key no policy declares
    (filled in some rows only), and a snapshot table with such a column."""
    folder = tmp_path_factory.mktemp("unknown")
    accounts = pl.read_csv(sample["accounts"], infer_schema=False)
    accounts.with_columns(pl.when(pl.int_range(pl.len()) % 3 == 0).then(pl.lit("x"))
                          .alias("nickname")).write_csv(folder / "d.csv")
    events = pl.read_csv(sample["events"], infer_schema=False, truncate_ragged_lines=True)
    events.with_columns(pl.when(pl.int_range(pl.len()) % 5 == 0).then(pl.lit("branch"))
                        .alias("channel")).write_csv(folder / "d.events.csv")
    err = io.StringIO()
    assert main(["generate", "--members", "80", "--seed", "3", "--out",
                 str(folder / "s.csv")], stdout=io.StringIO(), stderr=err) == 0, \
        err.getvalue()
    snapshot = pl.read_csv(folder / "s.csv", infer_schema=False)
    snapshot.with_columns(pl.lit("y").alias("nickname")).write_csv(folder / "s.csv")
    return {"accounts": folder / "d.csv", "events": folder / "d.events.csv",
            "fx": sample["fx"], "snapshot": folder / "s.csv",
            "snapshot_fx": folder / "s.fx.csv"}


@pytest.mark.parametrize("command", ["evaluate", "compare"])
@pytest.mark.parametrize("form", ["dataset", "snapshot"])
def test_strict_refuses_undeclared_columns_on_dask_as_on_one_machine(
        cluster: Any, unknown: dict[str, Path], tmp_path: Path, command: str,
        form: str) -> None:
    """--strict on Dask: the lines one machine refuses with (the accounts column and,
    for a dataset, the event key, with the rows filling each), exit 2, and the previous
    output left as it was; without it, the same lines as warnings and the output
    written."""
    facts = ["--facts", str(unknown["accounts"]), "--events", str(unknown["events"]),
             "--fx", str(unknown["fx"])] if form == "dataset" else \
        ["--facts", str(unknown["snapshot"]), "--fx", str(unknown["snapshot_fx"])]
    policies = ["--policy", str(BASELINE)] + (
        ["--policy", str(ALTERNATIVES / "quarterly-windows.yaml")] if command == "compare"
        else [])
    argv = [command, *policies, *facts, "--as-of", AS_OF]

    def out(name: str) -> str:
        return str(tmp_path / name) + ("" if command == "compare" else "/")

    local = io.StringIO()
    assert main([*argv, "--strict", "--out", str(tmp_path / "local.parquet")
                 if command == "evaluate" else out("local")], stdout=io.StringIO(),
                stderr=local) == 2
    refused = [line for line in local.getvalue().splitlines() if line.startswith("error:")]
    assert len(refused) == (2 if form == "dataset" else 1), local.getvalue()
    assert all(line.endswith("(--strict)") and "not declared" in line for line in refused)
    assert "`nickname` in" in refused[0]
    target = tmp_path / "dask"
    target.mkdir()
    (target / "kept").write_text("previous run", encoding="utf-8")
    dask = io.StringIO()
    engine = ["--engine", "dask", "--scheduler", cluster.scheduler.address]
    assert main([*argv, "--strict", "--out", out("dask"), *engine], stdout=io.StringIO(),
                stderr=dask) == 2
    assert [line for line in dask.getvalue().splitlines() if line.startswith("error:")] \
        == refused
    assert [p.name for p in target.iterdir()] == ["kept"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # without --strict: written, with the same lines as warnings
    warned = io.StringIO()
    assert main([*argv, "--out", out("dask"), *engine], stdout=io.StringIO(),
                stderr=warned) in (0, 1)
    warnings = [line for line in warned.getvalue().splitlines()
                if "not declared" in line]
    assert warnings == [line.replace("error: ", "warning: ", 1).removesuffix(" (--strict)")
                        for line in refused]
    assert len(list(target.iterdir())) > 2  # the parts, or the comparison's five files
