"""The cache of checked policies and the instant start (issue 15, item 3): `check` and a
one-member `evaluate` load no dataframe library; a warm cache loads no parser either;
an edited policy (or what it extends) is checked again; a corrupt, truncated or foreign
entry is ignored and rebuilt; concurrent writers leave a usable cache; warnings are the
same cold and warm. Every command runs in a real subprocess, as a user runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "fsra-2024-001"
MEMBERS = ROOT / "examples" / "members.json"


def run(args: list[str], cache: Path | None, *, cwd: Path = ROOT, importtime: bool = False,
        extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("UNCLAIMED_CACHE_DIR", "UNCLAIMED_NO_CACHE")}
    env["PYTHONPATH"] = str(ROOT)
    if cache is not None:
        env["UNCLAIMED_CACHE_DIR"] = str(cache)
    env.update(extra_env or {})
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run([sys.executable, *flags, "-m", "evaluator", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def imported(proc: subprocess.CompletedProcess[str]) -> set[str]:
    """The top-level packages a run imported (from its ``-X importtime`` lines)."""
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def modules(proc: subprocess.CompletedProcess[str]) -> set[str]:
    """Every module a run imported (from its ``-X importtime`` lines)."""
    return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


def entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.pickle"))


HEAVY = {"polars", "numpy", "pyarrow"}
PARSERS = {"lark", "yaml", "jsonschema"}


def test_check_cold_and_warm_loads_no_dataframe_library_and_warm_no_parser(tmp_path: Path
                                                                           ) -> None:
    cache = tmp_path / "cache"
    cold = run(["check", str(POLICY)], cache, importtime=True)
    assert cold.returncode == 0, cold.stderr[-2000:]
    assert not imported(cold) & HEAVY
    assert imported(cold) >= PARSERS  # the cold run parsed and checked it
    assert len(entries(cache)) == 1
    warm = run(["check", str(POLICY)], cache, importtime=True)
    assert warm.returncode == 0
    assert warm.stdout == cold.stdout
    assert not imported(warm) & (HEAVY | PARSERS), imported(warm) & (HEAVY | PARSERS)
    # a warm check reads the record of the check's diagnostics, not the checked policy
    assert "evaluator.policy" in modules(cold)
    assert not {m for m in modules(warm) if m == "evaluator.policy"
                or m.startswith(("evaluator.lang.check", "evaluator.lang.document"))}


def test_one_member_evaluate_loads_no_dataframe_library(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    args = ["evaluate", "--policy", str(POLICY), "--facts", str(MEMBERS),
            "--as-of", "2026-11-21"]
    fresh = run([*args, "--no-cache"], cache)
    assert fresh.returncode == 0, fresh.stderr
    # --no-cache neither reads nor fills it (the grammar's own cache may be there)
    assert not entries(cache) and not list(cache.glob("*.manifest"))
    cold = run(args, cache, importtime=True)
    warm = run(args, cache, importtime=True)
    for proc in (cold, warm):
        assert proc.returncode == 0
        assert proc.stdout == fresh.stdout
        assert not imported(proc) & HEAVY, imported(proc) & HEAVY
    assert not imported(warm) & PARSERS


def copy_policy(tmp_path: Path) -> Path:
    folder = tmp_path / "policies" / "mine"
    shutil.copytree(POLICY, folder, ignore=shutil.ignore_patterns("tests", "history"))
    # the baseline extends the regime-neutral base, found beside it
    shutil.copytree(ROOT / "policies" / "deposits-base", tmp_path / "policies" / "deposits-base",
                    ignore=shutil.ignore_patterns("tests"))
    return folder


def test_an_edited_policy_is_checked_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    folder = copy_policy(tmp_path)
    assert run(["check", str(folder)], cache).returncode == 0
    assert run(["check", str(folder)], cache).returncode == 0  # warm
    text = (folder / "policy.yaml").read_text(encoding="utf-8")
    broken = text.replace("formula: |", "formula: nosuchname + |", 1)
    assert broken != text
    (folder / "policy.yaml").write_text(broken, encoding="utf-8")
    edited = run(["check", str(folder)], cache)
    assert edited.returncode == 2, edited.stdout
    assert "invalid" in edited.stdout
    (folder / "policy.yaml").write_text(text, encoding="utf-8")
    back = run(["check", str(folder)], cache)
    assert back.returncode == 0 and ": ok:" in back.stdout


def test_editing_what_a_policy_extends_is_seen(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    policies = tmp_path / "policies"
    policies.mkdir()
    for name in ("extends-base.yaml", "extends-ok-override.yaml"):
        shutil.copy(ROOT / "tests" / "policies" / name, policies / name)
    child = policies / "extends-ok-override.yaml"
    first = run(["check", str(child)], cache)
    assert first.returncode == 0, first.stdout + first.stderr
    assert run(["check", str(child)], cache).stdout == first.stdout
    base = policies / "extends-base.yaml"
    text = base.read_text(encoding="utf-8")
    base.write_text(text.replace("formula: ", "formula: nosuchname + ", 1), encoding="utf-8")
    after = run(["check", str(child)], cache)
    assert after.returncode == 2, after.stdout
    assert "nosuchname" in after.stdout


def test_warnings_are_shown_the_same_cold_and_warm(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    policy = ROOT / "tests" / "policies" / "unused.yaml"
    fresh = run(["check", str(policy), "--no-cache"], cache)
    cold = run(["check", str(policy)], cache)
    warm = run(["check", str(policy)], cache)
    assert "2 warnings" in fresh.stdout
    assert cold.stdout == warm.stdout == fresh.stdout
    assert entries(cache)
    as_json = run(["check", str(policy), "--format", "json"], cache)
    assert as_json.stdout == run(["check", str(policy), "--format", "json", "--no-cache"],
                                 cache).stdout


@pytest.mark.parametrize("damage", ["truncated", "garbage", "foreign", "empty",
                                    "bad-manifest"])
def test_a_damaged_entry_is_ignored_and_rebuilt(tmp_path: Path, damage: str) -> None:
    cache = tmp_path / "cache"
    good = run(["check", str(POLICY)], cache)
    if damage == "foreign":  # a valid entry of another policy under this key
        other = tmp_path / "other"
        run(["check", str(ROOT / "tests" / "policies" / "unused.yaml")], other)
    # the checked policy and the record of its diagnostics (what a warm check reads)
    for suffix in (".pickle", ".diagnostics"):
        [entry] = cache.glob(f"*{suffix}")
        body = entry.read_bytes()
        if damage == "truncated":
            entry.write_bytes(body[: len(body) // 2])
        elif damage == "garbage":
            entry.write_bytes(body[:30] + b"\x00garbage" * 50)
        elif damage == "foreign":
            [theirs] = other.glob(f"*{suffix}")
            entry.write_bytes(theirs.read_bytes())
        elif damage == "empty":
            entry.write_bytes(b"")
    if damage == "bad-manifest":
        for manifest in cache.glob("*.manifest"):
            manifest.write_text("{not json", encoding="utf-8")
    again = run(["check", str(POLICY)], cache)
    assert again.returncode == 0
    assert again.stdout == good.stdout
    assert "Traceback" not in again.stderr
    warm = run(["check", str(POLICY)], cache, importtime=True)  # rebuilt: used again
    assert warm.stdout == good.stdout
    assert not imported(warm) & PARSERS


def test_concurrent_writers_leave_a_usable_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with ThreadPoolExecutor(4) as pool:
        procs = list(pool.map(lambda _: run(["check", str(POLICY)], cache), range(6)))
    assert {p.returncode for p in procs} == {0}
    assert len({p.stdout for p in procs}) == 1
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp-")]
    warm = run(["check", str(POLICY)], cache, importtime=True)
    assert warm.stdout == procs[0].stdout
    assert not imported(warm) & PARSERS


def test_no_cache_environment_and_an_open_folder_write_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    off = run(["check", str(POLICY)], cache, extra_env={"UNCLAIMED_NO_CACHE": "1"})
    assert off.returncode == 0
    assert not cache.exists()
    if not hasattr(os, "getuid"):  # pragma: no cover - POSIX permissions
        return
    cache.mkdir()
    cache.chmod(0o777)  # others could write entries: never read, never written
    opened = run(["check", str(POLICY)], cache)
    assert opened.returncode == 0 and opened.stdout == off.stdout
    assert not entries(cache)


def test_an_unwritable_cache_folder_is_no_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    proc = run(["check", str(POLICY)], blocker / "cache")
    assert proc.returncode == 0
    assert proc.stderr == ""


def test_the_api_reads_the_same_policy_from_the_cache(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from evaluator import load_facts, load_policy

    monkeypatch.setenv("UNCLAIMED_CACHE_DIR", str(tmp_path / "cache"))
    facts = load_facts(MEMBERS)
    cold = load_policy(POLICY)
    warm = load_policy(POLICY)
    assert warm.checked is not cold.checked
    assert entries(tmp_path / "cache")
    for policy in (cold, warm):
        assert policy.sha256 == cold.sha256
    a = cold.evaluate(facts, as_of="2026-11-21", explain=True).to_json()
    b = warm.evaluate(facts, as_of="2026-11-21", explain=True).to_json()
    assert a == b
    c = warm.evaluate(facts, as_of="2026-11-21",
                      params={"coming_into_force": "2026-07-01"}).to_json()
    d = load_policy(POLICY, cache=False).evaluate(
        facts, as_of="2026-11-21", params={"coming_into_force": "2026-07-01"}).to_json()
    assert c == d


def test_every_name_of_the_lazy_packages_resolves() -> None:
    import evaluator
    from evaluator import facts

    for name in facts.__all__:
        assert getattr(facts, name) is not None, name
    assert set(facts.__all__) <= set(dir(facts))
    for name in evaluator.__all__:
        assert getattr(evaluator, name) is not None, name
    with pytest.raises(AttributeError):
        _ = facts.no_such_name  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        _ = evaluator.no_such_name  # type: ignore[attr-defined]


def test_the_cache_keeps_a_bounded_number_of_entries(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from evaluator import load_policy
    from evaluator.lang import cache

    folder = tmp_path / "cache"
    monkeypatch.setenv("UNCLAIMED_CACHE_DIR", str(folder))
    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)
    source = (ROOT / "tests" / "policies" / "unused.yaml").read_text(encoding="utf-8")
    for k in range(6):  # six policies, as a service's temporary files would be
        path = tmp_path / f"p{k}" / "policy.yaml"
        path.parent.mkdir()
        path.write_text(source, encoding="utf-8")
        load_policy(path)
    assert len(entries(folder)) == 3
    assert len(list(folder.glob("*.manifest"))) == 3


def test_the_cache_hashes_what_the_index_reads() -> None:
    from evaluator.lang import cache
    from evaluator.lang.document import index

    assert cache.HEADER_BYTES == index.HEADER_BYTES
