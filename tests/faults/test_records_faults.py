"""Decision records as untrusted input: hostile names, tampered content, malformed and
oversized records, concurrent writers, and records of every evaluation mode (issue 10)."""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from evaluator import records
from evaluator.cli import main
from evaluator.portfolio import MIN_CHUNK_ROWS
from tests.support import ROOT

EXAMPLES = ROOT / "examples"
BASE = ["--policy", "fsra-2024-001", "--as-of", "2026-11-21"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


def cli(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it: a process of its own."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "evaluator", *argv], cwd=cwd or ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A record of the CSV example with its FX table and a parameter."""
    folder = tmp_path_factory.mktemp("good")
    path = folder / "record.json"
    code, _, err = run("evaluate", *BASE, "--facts", str(EXAMPLES / "members.csv"),
                       "--fx", str(EXAMPLES / "fx.csv"),
                       "--param", "coming_into_force=2025-03-01", "--record", str(path))
    assert code == 0, err
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def tampered(tmp_path: Path, good: dict[str, Any], change: Callable[[dict[str, Any]], None]
             ) -> Path:
    data = copy.deepcopy(good)
    change(data)
    return write_json(tmp_path / "record.json", data)


def assert_refused(code: int, out: str, err: str, field: str) -> None:
    assert code == 2, out + err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert field in lines[0], err


# -- names in the record never become paths -----------------------------------------------

@pytest.mark.parametrize("where", ["facts", "fx"])
@pytest.mark.parametrize("style", ["absolute", "dotdot", "dotdot-deep"])
def test_a_hostile_facts_name_writes_nothing_outside(tmp_path: Path, good: dict[str, Any],
                                                     where: str, style: str) -> None:
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    victim = tmp_path / f"victim-{where}.json"
    name = {"absolute": str(victim), "dotdot": f"../../victim-{where}.json",
            "dotdot-deep": f"x/../../../victim-{where}.json"}[style]

    def change(d: dict[str, Any]) -> None:
        (d["facts"] if where == "facts" else d["facts"]["fx"])["name"] = name

    record = tampered(tmp_path, good, change)
    done = cli("replay", str(record), cwd=work)
    assert_refused(done.returncode, done.stdout, done.stderr,
                   "$.facts.name" if where == "facts" else "$.facts.fx.name")
    assert not victim.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "record.json"]


def test_facts_names_of_nul_dot_dot_and_overlong_are_refused(tmp_path: Path,
                                                           good: dict[str, Any]) -> None:
    for name in ("..", ".", "a\x00b.json", "x" * 256 + ".json", "a\\..\\b.json", ""):
        record = tampered(tmp_path, good, lambda d, n=name: d["facts"].update(name=n))
        assert_refused(*run("replay", str(record)), "$.facts.name")


def test_policy_file_paths_are_only_shown(tmp_path: Path, good: dict[str, Any],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A policy file's recorded path, absolute or climbing out, names no file: the record
    replays (its hashes hold) and nothing appears at those paths."""
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    absolute = tmp_path / "victim-policy.yaml"

    def change(d: dict[str, Any]) -> None:
        d["policy"]["files"][0]["path"] = str(absolute)
        d["facts"]["source"] = "../../victim-source.csv"

    record = tampered(tmp_path, good, change)
    done = cli("replay", str(record), cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "results match the record" in done.stdout
    monkeypatch.chdir(work)
    for rel in ("../../victim-policy.yaml", "../../../victim-policy.yaml"):
        record = tampered(tmp_path, good,
                          lambda d, r=rel: d["policy"]["files"][0].update(path=r))
        code, out, err = run("replay", str(record))
        assert code == 0, out + err
    assert not absolute.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "record.json"]


def test_a_policy_path_with_a_nul_is_refused(tmp_path: Path, good: dict[str, Any]) -> None:
    record = tampered(tmp_path, good,
                      lambda d: d["policy"]["files"][0].update(path="policy\x00.yaml"))
    assert_refused(*run("replay", str(record)), "$.policy.files[0].path")


# -- tampering: every hash is checked -----------------------------------------------------

def test_facts_and_result_changed_consistently_with_a_stale_hash(
        tmp_path: Path, good: dict[str, Any]) -> None:
    """Facts edited and the result made to match them (by evaluating the edited facts),
    the recorded facts hash left as it was: refused, not a note."""
    text = good["facts"]["text"]
    first = text.splitlines()[1]
    edited = text.replace(first, first.replace(first.split(",")[3], "999999.00"), 1)
    assert edited != text
    facts = tmp_path / "members.csv"
    facts.write_text(edited, encoding="utf-8")
    other = tmp_path / "other.json"
    code, _, err = run("evaluate", *BASE, "--facts", str(facts), "--fx",
                       str(EXAMPLES / "fx.csv"), "--param", "coming_into_force=2025-03-01",
                       "--record", str(other))
    assert code == 0, err
    forged = json.loads(other.read_text(encoding="utf-8"))
    assert forged["result"] != good["result"]

    def change(d: dict[str, Any]) -> None:
        d["facts"]["text"] = edited
        d["result"] = forged["result"]
        d["result_sha256"] = forged["result_sha256"]

    record = tampered(tmp_path, good, change)
    assert_refused(*run("replay", str(record)),
                   "facts.sha256 does not match the facts it holds")
    assert_refused(*run("replay", "--verify", str(record)), "facts.sha256")


@pytest.mark.parametrize("edit", [
    ("title: ", "title: A different title "),
    ("version: 1.1.0", "version: 1.1.1"),
    ("Rule 2024-001", "Rule 2024-002"),
])
def test_a_changed_policy_text_is_refused(tmp_path: Path, good: dict[str, Any],
                                          edit: tuple[str, str]) -> None:
    old, new = edit
    # the policy's files are its chain, root ancestor first (the base it extends, then it)
    at = next(i for i, f in enumerate(good["policy"]["files"]) if old in f["text"])

    def change(d: dict[str, Any]) -> None:
        f = d["policy"]["files"][at]
        f["text"] = f["text"].replace(old, new, 1)

    record = tampered(tmp_path, good, change)
    assert_refused(*run("replay", str(record)), f"policy.files[{at}].sha256 does not match")


def test_a_changed_policy_text_with_its_file_hash_updated_is_refused(
        tmp_path: Path, good: dict[str, Any]) -> None:
    """The file hash made to fit the new text: the canonical hash no longer matches."""
    import hashlib

    def change(d: dict[str, Any]) -> None:
        f = d["policy"]["files"][-1]  # the policy's own file (its title is the policy's)
        f["text"] = f["text"].replace("title: ", "title: Another ", 1)
        f["sha256"] = hashlib.sha256(f["text"].encode("utf-8")).hexdigest()

    record = tampered(tmp_path, good, change)
    assert_refused(*run("replay", str(record)), "policy.sha256 does not match the policy")


@pytest.mark.parametrize(("field", "change"), [
    ("policy.files[0].sha256", lambda d: d["policy"]["files"][0].update(sha256="0" * 64)),
    ("policy.sha256", lambda d: d["policy"].update(sha256="1" * 64)),
    ("result.policy.sha256", lambda d: d["result"]["policy"].update(sha256="2" * 64)),
    ("result.policy.version", lambda d: d["result"]["policy"].update(version="9.9.9")),
    ("result.facts.sha256", lambda d: d["result"]["facts"].update(sha256="3" * 64)),
    ("facts.fx.sha256", lambda d: d["facts"]["fx"].update(
        text=d["facts"]["fx"]["text"].replace("1.3", "2.3"))),
    ("parameters_sha256", lambda d: d["parameters"].update(coming_into_force="2026-07-01")),
    ("parameters_sha256", lambda d: d.update(parameters={})),
])
def test_each_hash_is_checked(tmp_path: Path, good: dict[str, Any], field: str,
                              change: Callable[[dict[str, Any]], None]) -> None:
    record = tampered(tmp_path, good, change)
    assert_refused(*run("replay", str(record)), f"{field} does not match")
    assert_refused(*run("replay", "--verify", str(record)), f"{field} does not match")


def test_changed_results_are_a_difference_and_fail_verification(
        tmp_path: Path, good: dict[str, Any]) -> None:
    """Replay recomputes the results, so an edited result is a difference found (exit 1),
    said to be an edit of the record; --verify, which does not evaluate, refuses it."""
    record = tampered(tmp_path, good,
                      lambda d: d["result"]["accounts"][0].update(status="unclaimed"))
    code, out, _ = run("replay", str(record))
    assert code == 1
    assert "result_sha256 does not match" in out and "status" in out
    assert_refused(*run("replay", "--verify", str(record)), "result_sha256 does not match")
    assert_refused(*run("replay", "--verify", str(record), "--policy", "fsra-2024-001"),
                   "--policy is not used")


def test_a_record_written_before_the_new_hashes_still_replays(
        tmp_path: Path, good: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        for key in ("parameters_sha256", "result_sha256"):
            del d[key]
        del d["facts"]["kind"]

    record = tampered(tmp_path, good, change)
    code, out, err = run("replay", str(record))
    assert code == 0, out + err
    assert "results match the record" in out and "predates parameters_sha256" in out
    # ... and its facts and policy are still checked
    broken = tampered(tmp_path, good, lambda d: (change(d), d["facts"].update(
        text=d["facts"]["text"] + "\n")))
    assert_refused(*run("replay", str(broken)), "facts.sha256")


# -- malformed records: the field named, never a traceback ---------------------------------

MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("facts missing", lambda d: d.pop("facts"), "'facts' is a required property"),
    ("facts.text a number", lambda d: d["facts"].update(text=12), "$.facts"),
    ("policy.files not a list", lambda d: d["policy"].update(files={"a": 1}),
     "$.policy.files"),
    ("policy.files empty", lambda d: d["policy"].update(files=[]), "$.policy.files"),
    ("as_of not a date", lambda d: d.update(as_of="tomorrow"), "$.as_of"),
    ("as_of an impossible date", lambda d: d.update(as_of="2026-13-45"), "as_of"),
    ("parameters a list", lambda d: d.update(parameters=["a=b"]), "$.parameters"),
    ("result missing", lambda d: d.pop("result"), "'result' is a required property"),
    ("result.accounts not a list", lambda d: d["result"].update(accounts=3),
     "$.result"),
    ("an account without its id", lambda d: d["result"]["accounts"][0].pop("account_id"),
     "$.result"),
    ("format wrong", lambda d: d.update(format="unclaimed-decision-record/9"),
     "not a decision record"),
    ("facts.base64 not base64", lambda d: (d["facts"].pop("text"),
                                            d["facts"].update(base64="%%%")), "facts.base64"),
    ("a sha256 not hex", lambda d: d["facts"].update(sha256="xyz"), "$.facts.sha256"),
]


@pytest.mark.parametrize(("label", "change", "field"), MALFORMED,
                         ids=[m[0] for m in MALFORMED])
def test_a_malformed_record_is_refused_naming_the_field(
        tmp_path: Path, good: dict[str, Any], label: str,
        change: Callable[[dict[str, Any]], None], field: str) -> None:
    record = tampered(tmp_path, good, change)
    assert_refused(*run("replay", str(record)), field)
    assert_refused(*run("replay", "--verify", str(record)), field)


def test_a_record_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    for text in ("[]", "null", "3", "[" * 100_000):
        record = tmp_path / "r.json"
        record.write_text(text, encoding="utf-8")
        assert_refused(*run("replay", str(record)), "decision record")


# -- size ----------------------------------------------------------------------------------

def test_an_oversized_record_is_refused_without_reading_it(tmp_path: Path) -> None:
    record = tmp_path / "huge.json"
    with open(record, "wb") as fh:  # sparse: no disk used
        fh.truncate(records.MAX_RECORD_BYTES + 1)
    done = cli("replay", str(record))
    assert_refused(done.returncode, done.stdout, done.stderr, "larger than 256 MiB")


def test_an_endless_record_is_read_with_a_bound(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 1024 * 1024)
    link = tmp_path / "zero.json"
    link.symlink_to("/dev/zero")
    assert_refused(*run("replay", str(link)), "larger than 1 MiB")
    assert_refused(*run("replay", str(tmp_path)), "is a folder")


def test_a_record_beyond_the_limit_is_not_written(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 4096)
    record = tmp_path / "r.json"
    code, _, err = run("evaluate", *BASE, "--facts", str(EXAMPLES / "members.json"),
                       "--record", str(record))
    assert code == 2 and "a record may hold" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


# -- replay --verify -----------------------------------------------------------------------

def test_verify_a_good_and_a_bad_record(tmp_path: Path, good: dict[str, Any]) -> None:
    record = write_json(tmp_path / "good.json", good)
    done = cli("replay", "--verify", str(record))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{record}: record verified"
    bad = tampered(tmp_path, good, lambda d: d["facts"].update(
        text=d["facts"]["text"].replace("M01", "M91")))
    done = cli("replay", "--verify", str(bad))
    assert_refused(done.returncode, done.stdout, done.stderr,
                   "record.json: facts.sha256 does not match the facts it holds")
    broken_policy = tampered(tmp_path, good, lambda d: d["policy"]["files"][0].update(
        text="policy: [", sha256=__import__("hashlib").sha256(b"policy: [").hexdigest()))
    done = cli("replay", "--verify", str(broken_policy))
    assert_refused(done.returncode, done.stdout, done.stderr,
                   "policy.files: the recorded policy does not load")


# -- concurrent writers --------------------------------------------------------------------

def test_concurrent_writers_never_corrupt_the_record(tmp_path: Path) -> None:
    record = tmp_path / "shared.json"
    dates = ["2025-01-01", "2025-03-01", "2025-06-01", "2025-09-01"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _trial in range(3):
        procs = [subprocess.Popen(
            [sys.executable, "-m", "evaluator", "evaluate", *BASE, "--facts",
             str(EXAMPLES / "members.csv"), "--fx", str(EXAMPLES / "fx.csv"),
             "--param", f"coming_into_force={day}", "--record", str(record)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for day in dates]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        data = json.loads(record.read_text(encoding="utf-8"))
        assert data["parameters"]["coming_into_force"] in dates
        code, out, err = run("replay", str(record))
        assert code == 0 and "results match the record" in out, out + err
        assert [p.name for p in tmp_path.iterdir()] == ["shared.json"]


# -- every evaluation mode writes a record -------------------------------------------------

@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_record_of_a_table_out_run_replays(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"determinations{suffix}"
    record = tmp_path / "r.json"
    done = cli("evaluate", *BASE, "--facts", str(EXAMPLES / "members.csv"), "--fx",
               str(EXAMPLES / "fx.csv"), "--out", str(out), "--chunk-rows", "4",
               "--record", str(record))
    assert done.returncode == 0, done.stderr
    data = json.loads(record.read_text(encoding="utf-8"))
    refs = data["result"]["determinations"]
    assert refs["sha256"] == records.file_sha256(out)
    assert refs["rows"] == pl.read_csv(EXAMPLES / "members.csv").height
    # the effective chunk size: 4 is raised to the floor
    assert "accounts" not in data["result"] and data["chunk_rows"] == MIN_CHUNK_ROWS
    done = cli("replay", str(record))
    assert done.returncode == 0 and "results match the record" in done.stdout, done.stderr
    # a recorded determinations hash that is not what the run writes is a difference
    data["result"]["determinations"]["sha256"] = "4" * 64
    data["result_sha256"] = records.canonical_sha256(data["result"])
    changed = write_json(tmp_path / "changed.json", data)
    code, text, err = run("replay", str(changed))
    assert code == 1, text + err
    assert f"determinations {out.name}: sha256, rows" in text


def test_a_record_of_parquet_facts_replays(tmp_path: Path) -> None:
    facts = tmp_path / "members.parquet"
    pl.read_csv(EXAMPLES / "members.csv", infer_schema=False).write_parquet(facts)
    record = tmp_path / "r.json"
    code, _, err = run("evaluate", *BASE, "--facts", str(facts), "--fx",
                       str(EXAMPLES / "fx.csv"), "--record", str(record))
    assert code == 0, err
    data = json.loads(record.read_text(encoding="utf-8"))
    assert data["facts"]["kind"] == "parquet" and "text" not in data["facts"]
    assert base64.b64decode(data["facts"]["base64"]) == facts.read_bytes()
    facts.unlink()  # the record alone
    done = cli("replay", str(record))
    assert done.returncode == 0 and "results match the record" in done.stdout, done.stderr
    bad = tampered(tmp_path, data, lambda d: d["facts"].update(
        base64=base64.b64encode(b"PAR1" + b"\0" * 20).decode("ascii")))
    assert_refused(*run("replay", str(bad)), "facts.sha256")


def test_replay_leaves_no_file_behind(tmp_path: Path, good: dict[str, Any]) -> None:
    record = write_json(tmp_path / "r.json", good)
    work = tmp_path / "cwd"
    work.mkdir()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp)}
    done = subprocess.run([sys.executable, "-m", "evaluator", "replay", str(record)],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert list(work.iterdir()) == [] and list(tmp.iterdir()) == []


def test_a_record_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    for target, why in ((tmp_path / "dir", "it is a folder"),
                        (tmp_path / "missing" / "r.json", "No such file or directory")):
        code, out, err = run("evaluate", *BASE, "--facts", str(EXAMPLES / "members.json"),
                             "--record", str(target))
        assert_refused(code, out, err, f"cannot write the record {target}: {why}")
    assert [p.name for p in tmp_path.iterdir()] == ["dir"]
    assert list((tmp_path / "dir").iterdir()) == []
