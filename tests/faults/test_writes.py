"""The writing side under faults (issue 10): every output appears complete or not at all.

Each case is reproduced for real: the CLI in a subprocess, killed with SIGINT, SIGTERM or
SIGKILL while its chunks' spill folder exists; a tiny tmpfs that fills up or is remounted
read-only (we mount it; the case is skipped, saying so, where mounting is not permitted);
a folder where a file is written; standard output closed or ``/dev/full``. After each:
the previous outputs are byte-identical, no temporary file is left beside them nor a spill
folder in TMPDIR, and the exit status and the one line on stderr say what happened.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluator.atomic import MARK

ROOT = Path(__file__).resolve().parents[2]
AS_OF = "2026-11-21"
PREVIOUS = {"x.csv": b"previous determinations\n",
            "x.portfolio.json": b'{"previous": "run of another as-of date"}\n'}


def cli(*argv: str, tmpdir: Path, stdin: int | None = subprocess.DEVNULL,
        **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    return subprocess.run([sys.executable, "-m", "evaluator", *argv], cwd=ROOT, env=env,
                          text=True, capture_output=True, timeout=120, stdin=stdin,
                          **kw)  # type: ignore[call-overload]


def run(*argv: str) -> tuple[int, str]:
    """The CLI in this process (its failures are handled in ``main``): exit code, stderr."""
    from evaluator.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, err.getvalue()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A generated portfolio of 3,000 members (5,155 accounts)."""
    folder = tmp_path_factory.mktemp("small")
    done = cli("generate", "--members", "3000", "--seed", "1", "--out",
               str(folder / "p.parquet"), tmpdir=folder)
    assert done.returncode == 0, done.stderr
    return folder / "p.parquet", folder / "p.fx.csv"


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A generated portfolio big enough to take a moment in 10,000-row chunks."""
    folder = tmp_path_factory.mktemp("big")
    done = cli("generate", "--members", "60000", "--seed", "1", "--out",
               str(folder / "b.parquet"), tmpdir=folder)
    assert done.returncode == 0, done.stderr
    return folder / "b.parquet", folder / "b.fx.csv"


def evaluate_args(facts: tuple[Path, Path], out: Path, *more: str) -> list[str]:
    return ["evaluate", "--policy", "fsra-2024-001", "--facts", str(facts[0]), "--fx",
            str(facts[1]), "--as-of", AS_OF, "--out", str(out), *more]


def put_previous(folder: Path) -> None:
    for name, data in PREVIOUS.items():
        (folder / name).write_bytes(data)


def assert_previous(folder: Path) -> None:
    for name, data in PREVIOUS.items():
        assert (folder / name).read_bytes() == data, f"{name} was changed"


def temporaries(folder: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if MARK in e.name)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root and mount permission needed): "
                    f"{done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- signals --------------------------------------------------------------------------------

def _start_and_wait_for_spill(big: tuple[Path, Path], out: Path, tmpdir: Path
                              ) -> subprocess.Popen[str]:
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    proc = subprocess.Popen([sys.executable, "-m", "evaluator",
                             *evaluate_args(big, out, "--chunk-rows", "10000")],
                            cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    spill = f".unclaimed-chunks{MARK}{proc.pid}-"
    while time.monotonic() < deadline:
        if any(e.name.startswith(spill) and any(os.scandir(e.path))
               for e in os.scandir(tmpdir)):
            return proc  # at least one chunk spilled: mid-run
        if proc.poll() is not None:
            break
        time.sleep(0.005)
    proc.kill()
    _, err = proc.communicate()
    pytest.fail(f"the run ended before its spill folder appeared: {err}")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_run_leaves_the_previous_outputs_and_no_temporary(
        big: tuple[Path, Path], tmp_path: Path, signum: signal.Signals) -> None:
    out_dir, tmpdir = tmp_path / "out", tmp_path / "tmp"
    out_dir.mkdir()
    tmpdir.mkdir()
    put_previous(out_dir)
    proc = _start_and_wait_for_spill(big, out_dir / "x.csv", tmpdir)
    assert temporaries(out_dir), "the determinations' temporary file is made at the start"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum
    assert one_line(err) == (f"interrupted ({signum.name}): no output was replaced; "
                             "temporary files removed")
    assert_previous(out_dir)
    assert temporaries(out_dir) == []
    assert os.listdir(tmpdir) == []


def test_sigkill_leftovers_are_removed_by_the_next_run(
        big: tuple[Path, Path], small: tuple[Path, Path], tmp_path: Path) -> None:
    out_dir, tmpdir = tmp_path / "out", tmp_path / "tmp"
    out_dir.mkdir()
    tmpdir.mkdir()
    put_previous(out_dir)
    proc = _start_and_wait_for_spill(big, out_dir / "x.csv", tmpdir)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert_previous(out_dir)
    # SIGKILL cannot be caught: what it leaves is recognisable by the dead writer's pid
    left = temporaries(out_dir)
    assert {n.split(MARK)[0] for n in left} == {".x.csv", ".x.portfolio.json"}
    assert all(n.split(MARK)[1].startswith(f"{proc.pid}-") for n in left)
    spill = os.listdir(tmpdir)
    assert len(spill) == 1 and spill[0].startswith(f".unclaimed-chunks{MARK}{proc.pid}-")
    # a live writer's temporaries beside the target are not touched
    alive = out_dir / f".y.csv{MARK}{os.getpid()}-0000"
    alive.write_bytes(b"")
    done = cli(*evaluate_args(small, out_dir / "x.csv"), tmpdir=tmpdir)
    assert done.returncode == 0, done.stderr
    assert temporaries(out_dir) == [alive.name]
    assert os.listdir(tmpdir) == []
    side = json.loads((out_dir / "x.portfolio.json").read_text(encoding="utf-8"))
    assert side["determinations"]["sha256"] == sha256(out_dir / "x.csv")


# -- the pair determinations + FILE.portfolio.json ------------------------------------------

def test_the_side_file_names_its_determinations(small: tuple[Path, Path],
                                                tmp_path: Path) -> None:
    for name in ("x.csv", "x.parquet"):
        code, err = run(*evaluate_args(small, tmp_path / name))
        assert code == 0, err
        side = json.loads((tmp_path / "x.portfolio.json").read_text(encoding="utf-8"))
        tie = side["determinations"]
        assert tie["file"] == name and tie["sha256"] == sha256(tmp_path / name)
        if name == "x.csv":
            lines = (tmp_path / name).read_text(encoding="utf-8").splitlines()
            assert tie["rows"] == len(lines) - 1 == 5155
    assert temporaries(tmp_path) == []


def test_a_run_without_portfolio_outputs_removes_a_stale_side_file(
        small: tuple[Path, Path], tmp_path: Path) -> None:
    policy = tmp_path / "no-portfolio"
    shutil.copytree(ROOT / "policies" / "fsra-2024-001", policy,
                    ignore=shutil.ignore_patterns("tests"))
    text = (policy / "policy.yaml").read_text(encoding="utf-8")
    cut = re.sub(r"  portfolio: \[program_year.*?\]\n", "", text, flags=re.S)
    assert cut != text
    (policy / "policy.yaml").write_text(cut, encoding="utf-8")
    put_previous(tmp_path)
    args = evaluate_args(small, tmp_path / "x.csv")
    args[args.index("fsra-2024-001")] = str(policy)
    code, err = run(*args)
    assert code == 0, err
    assert not (tmp_path / "x.portfolio.json").exists()
    assert (tmp_path / "x.csv").read_bytes() != PREVIOUS["x.csv"]
    # the text path (--backend scalar) too
    put_previous(tmp_path)
    args[args.index(str(small[0]))] = str(ROOT / "examples" / "members.csv")
    args[args.index(str(small[1]))] = str(ROOT / "examples" / "fx.csv")
    code, err = run(*args, "--backend", "scalar", "--format", "csv")
    assert code == 0, err
    assert not (tmp_path / "x.portfolio.json").exists()


# -- a folder in the way --------------------------------------------------------------------

def test_a_folder_in_the_way(small: tuple[Path, Path], tmp_path: Path) -> None:
    put_previous(tmp_path)
    (tmp_path / "x.portfolio.json").unlink()
    (tmp_path / "x.portfolio.json").mkdir()
    code, err = run(*evaluate_args(small, tmp_path / "x.csv"))
    assert code == 2
    assert one_line(err) == (f"error: cannot write {tmp_path / 'x.portfolio.json'}: "
                             "it is a folder")
    assert (tmp_path / "x.csv").read_bytes() == PREVIOUS["x.csv"]
    assert temporaries(tmp_path) == []
    (tmp_path / "y.json").mkdir()
    for argv in (evaluate_args(small, tmp_path / "y.json"),
                 ["test", "tests/policytest/basic", "--junit",
                  str(tmp_path / "y.json")]):
        code, err = run(*argv)
        assert code == 2
        assert one_line(err) == f"error: cannot write {tmp_path / 'y.json'}: it is a folder"
    assert temporaries(tmp_path) == []


# -- full disks -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["x.csv", "x.parquet", "x.json"])
def test_a_full_disk_while_writing_determinations(small: tuple[Path, Path], big: tuple[Path, Path],
                                                  tmp_path: Path, name: str) -> None:
    facts = small if name == "x.json" else big  # JSON: 2.7 MB; tables: 6-18 MB
    with tmpfs(tmp_path / "disk", "1m") as disk:
        put_previous(disk)
        code, err = run(*evaluate_args(facts, disk / name))
        assert code == 2
        line = one_line(err)
        assert line.startswith(f"error: cannot write {disk / name}: "), line
        assert "No space left on device" in line
        assert_previous(disk)
        assert temporaries(disk) == []
        assert not (disk / name).exists() or name.startswith("x.csv")


def test_a_full_disk_while_writing_the_side_file(small: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    code, err = run(*evaluate_args(small, tmp_path / "x.csv"))
    assert code == 0
    size = (tmp_path / "x.csv").stat().st_size
    with tmpfs(tmp_path / "disk", "2m") as disk:
        put_previous(disk)
        # leave room for the determinations and not a page more
        st = os.statvfs(disk)
        free = st.f_bavail * st.f_frsize
        room = -(-size // st.f_frsize) * st.f_frsize
        (disk / "filler").write_bytes(b"\0" * (free - room))
        code, err = run(*evaluate_args(small, disk / "x.csv"))
        assert code == 2
        assert one_line(err) == (f"error: cannot write {disk / 'x.portfolio.json'}: "
                                         "No space left on device")
        assert_previous(disk)
        assert temporaries(disk) == []


def test_a_full_tmpdir_during_a_chunked_run(big: tuple[Path, Path], tmp_path: Path) -> None:
    put_previous(tmp_path)
    with tmpfs(tmp_path / "tmp", "256k") as tmpdir:
        done = cli(*evaluate_args(big, tmp_path / "x.csv", "--chunk-rows", "20000"),
                   tmpdir=tmpdir)
        assert done.returncode == 2
        line = one_line(done.stderr)
        assert line.startswith(f"error: cannot write the chunks' temporary files in "
                               f"{tmpdir}/.unclaimed-chunks{MARK}"), line
        assert "No space left on device" in line
        assert os.listdir(tmpdir) == []
    assert_previous(tmp_path)
    assert temporaries(tmp_path) == []


def test_compare_to_a_full_disk(small: tuple[Path, Path], tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "512k") as disk:
        out = disk / "cmp"
        out.mkdir()
        (out / "report.html").write_bytes(b"previous report")
        code, err = run("compare", "--policy", "fsra-2024-001", "--policy",
                        "policies/alternatives/interest.yaml", "--facts", str(small[0]),
                        "--fx", str(small[1]), "--as-of", AS_OF, "--out", str(out))
        assert code == 2
        line = one_line(err)
        assert line == f"error: cannot write {out}: No space left on device (os error 28)" \
            or line == f"error: cannot write {out}: No space left on device", line
        assert os.listdir(out) == ["report.html"]
        assert (out / "report.html").read_bytes() == b"previous report"
        assert temporaries(disk) == []


# -- read-only folders ----------------------------------------------------------------------

def test_read_only_folders(small: tuple[Path, Path], tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "1m") as ro:
        put_previous(ro)
        (ro / "cmp").mkdir()
        (ro / "cmp" / "summary.md").write_bytes(b"previous summary")
        read_only(ro)
        code, err = run(*evaluate_args(small, ro / "x.csv"))
        assert code == 2
        assert one_line(err) == f"error: cannot write {ro / 'x.csv'}: Read-only file system"
        code, err = run("compare", "--policy", "fsra-2024-001", "--policy",
                        "policies/alternatives/interest.yaml", "--facts", str(small[0]),
                        "--fx", str(small[1]), "--as-of", AS_OF, "--out", str(ro / "cmp"))
        assert code == 2
        assert one_line(err) == f"error: cannot write {ro / 'cmp'}: Read-only file system"
        assert_previous(ro)
        assert os.listdir(ro / "cmp") == ["summary.md"]
        assert (ro / "cmp" / "summary.md").read_bytes() == b"previous summary"


# -- compare --out DIR: the files of one run together ---------------------------------------

def test_compare_replaces_its_folder_whole_and_keeps_a_users_other_files(
        small: tuple[Path, Path], tmp_path: Path) -> None:
    args = ["compare", "--policy", "fsra-2024-001", "--policy",
            "policies/alternatives/interest.yaml", "--facts", str(small[0]), "--fx",
            str(small[1]), "--as-of", AS_OF]
    out = tmp_path / "cmp"
    out.mkdir()
    for n in ("accounts.csv", "report.html"):
        (out / n).write_bytes(b"previous")
    code, err = run(*args, "--out", str(out))
    assert code == 0, err
    names = ["accounts.csv", "assumptions.yaml", "report.html", "summary.md", "yearly.csv"]
    assert sorted(os.listdir(out)) == names
    assert (out / "report.html").read_bytes().startswith(b"<!")
    assert temporaries(tmp_path) == []
    first = {n: (out / n).read_bytes() for n in names}
    # a folder holding a user's other files is not swapped: the files go in beside them
    (out / "mine.txt").write_bytes(b"keep me")
    (out / "report.html").write_bytes(b"previous")
    code, err = run(*args, "--out", str(out))
    assert code == 0, err
    assert sorted(os.listdir(out)) == sorted([*names, "mine.txt"])
    assert (out / "mine.txt").read_bytes() == b"keep me"
    assert {n: (out / n).read_bytes() for n in names} == first


# -- standard output ------------------------------------------------------------------------

def test_standard_output_full_or_closed(small: tuple[Path, Path], tmp_path: Path) -> None:
    args = [sys.executable, "-m", "evaluator", "evaluate", "--policy", "fsra-2024-001",
            "--facts", str(small[0]), "--fx", str(small[1]), "--as-of", AS_OF,
            "--format", "csv"]
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    with open("/dev/full", "w") as full:
        done = subprocess.run(args, cwd=ROOT, env=env, stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    assert done.returncode == 2
    assert one_line(done.stderr) == "error: cannot write to standard output: " \
                                    "No space left on device"
    # closed (`>&-`): writing to it is the error; with --out it is not needed
    shell = " ".join(f"'{a}'" for a in args)
    done = subprocess.run(["sh", "-c", f"{shell} >&-"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert one_line(done.stderr) == "error: cannot write to standard output: it is closed"
    out = tmp_path / "x.csv"
    done = subprocess.run(["sh", "-c", f"{shell} --out '{out}' >&-"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8").startswith("member_id,account_id,")


# -- chunk sizes ----------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0", "-5", "1000000001", "99999999999999999999"])
def test_chunk_sizes_out_of_range_are_refused(small: tuple[Path, Path], tmp_path: Path,
                                              value: str) -> None:
    put_previous(tmp_path)
    code, err = run(*evaluate_args(small, tmp_path / "x.csv", "--chunk-rows", value))
    assert code == 2
    assert one_line(err) == ("error: --chunk-rows must be a whole number of rows "
                                     f"from 1 to 1,000,000,000, not {value}")
    assert_previous(tmp_path)


def test_tiny_chunks_are_raised_to_the_floor(small: tuple[Path, Path], tmp_path: Path) -> None:
    code, err = run(*evaluate_args(small, tmp_path / "a.csv", "--chunk-rows", "1"))
    assert code == 0, err
    assert err.startswith("note: --chunk-rows 1 raised to 10,000: ")
    code, err = run(*evaluate_args(small, tmp_path / "b.csv"))
    assert code == 0, err
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_parquet_bytes_do_not_depend_on_the_chunk_size(big: tuple[Path, Path], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    from evaluator import portfolio
    from evaluator.policy import load_policy

    # row groups smaller than the file, so that chunks and row groups cross each other
    monkeypatch.setattr(portfolio, "PARQUET_ROW_GROUP", 30_000)
    policy = load_policy("fsra-2024-001")
    params = policy.resolve_params()
    digests = set()
    for chunk_rows in (None, 5000, 40_000):
        out = tmp_path / f"d{chunk_rows}.parquet"
        summary = portfolio.evaluate_file(policy, big[0], big[1], dt.date(2026, 11, 21),
                                          params, out, chunk_rows=chunk_rows)
        assert (summary.chunks > 1) == (chunk_rows is not None)
        digests.add(sha256(out))
    assert len(digests) == 1
    assert temporaries(tmp_path) == []
