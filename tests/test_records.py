"""Decision records and replay; byte-identical output across runs and backends."""

from __future__ import annotations

import io
import json
from pathlib import Path

from evaluator.cli import main
from tests.support import ROOT

EXAMPLES = ROOT / "examples"


def run(*argv: str, cwd: Path | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


def test_a_record_replays_to_the_same_results(tmp_path: Path) -> None:
    for facts, fx in ((EXAMPLES / "members.json", None),
                      (EXAMPLES / "members.csv", EXAMPLES / "fx.csv")):
        record = tmp_path / f"{facts.stem}-{facts.suffix[1:]}.json"
        argv = ["evaluate", "--policy", "fsra-2024-001", "--facts", str(facts),
                "--as-of", "2026-11-21", "--param", "coming_into_force=2025-03-01",
                "--record", str(record)]
        if fx is not None:
            argv += ["--fx", str(fx)]
        code, _, err = run(*argv)
        assert code == 0, err
        data = json.loads(record.read_text(encoding="utf-8"))
        assert data["format"] == "unclaimed-decision-record/1"
        assert data["policy"]["files"][0]["text"].startswith("# yaml-language-server")
        assert data["parameters"] == {"coming_into_force": "2025-03-01"}
        code, out, err = run("replay", str(record))
        assert code == 0, out + err
        assert "results match the record" in out


def test_a_replay_needs_nothing_but_the_record(tmp_path: Path) -> None:
    record = tmp_path / "r.json"
    run("evaluate", "--policy", "fsra-2024-001", "--facts", str(EXAMPLES / "members.json"),
        "--as-of", "2026-11-21", "--record", str(record))
    data = json.loads(record.read_text(encoding="utf-8"))
    for f in data["policy"]["files"]:  # the paths in the record need not exist
        f["path"] = "/nowhere/" + Path(f["path"]).name
    data["facts"]["source"] = "/nowhere/members.json"
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(data), encoding="utf-8")
    code, out, _ = run("replay", str(moved))
    assert code == 0 and "results match" in out


def test_a_changed_result_or_policy_is_reported(tmp_path: Path) -> None:
    record = tmp_path / "r.json"
    run("evaluate", "--policy", "fsra-2024-001", "--facts", str(EXAMPLES / "members.json"),
        "--as-of", "2026-11-21", "--record", str(record))
    data = json.loads(record.read_text(encoding="utf-8"))
    data["result"]["accounts"][0]["status"] = "unclaimed"
    tampered = tmp_path / "t.json"
    tampered.write_text(json.dumps(data), encoding="utf-8")
    code, out, _ = run("replay", str(tampered))
    assert code == 1
    assert "account M01-A: status" in out
    code, out, _ = run("replay", str(record), "--policy",
                       str(ROOT / "policies" / "interpretations" / "a4-profile-unclaimed.yaml"))
    assert code == 1
    assert "account M06-B" in out
    assert "first diverging definition: unclaimed_on" in out


def test_broken_records_are_clean_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    code, _, err = run("replay", str(bad))
    assert code == 2 and "not a readable decision record" in err
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something else"}), encoding="utf-8")
    code, _, err = run("replay", str(other))
    assert code == 2 and "not a decision record" in err


def test_output_is_byte_identical_across_runs_and_backends() -> None:
    argv = ["evaluate", "--policy", "fsra-2024-001", "--facts", str(EXAMPLES / "members.csv"),
            "--fx", str(EXAMPLES / "fx.csv"), "--as-of", "2026-11-21"]
    outputs = {run(*argv, "--backend", backend)[1] for backend in ("scalar", "columnar")
               for _ in range(2)}
    assert len(outputs) == 1
    doc = json.loads(outputs.pop())
    assert len(doc["policy"]["sha256"]) == 64 and len(doc["facts"]["sha256"]) == 64
    profiles = ["evaluate", "--policy", "fsra-2024-001", "--facts",
                str(EXAMPLES / "members.json"), "--as-of", "2026-11-21", "--explain"]
    assert run(*profiles)[1] == run(*profiles)[1]
