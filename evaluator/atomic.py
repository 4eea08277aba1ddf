"""Atomic outputs: a file appears complete under its name, or not at all.

Every output the evaluator writes (determinations, portfolio outputs, decision records,
reports, JUnit XML) goes through here. The content is written to a temporary file in the
target's own folder (so the final ``rename`` never crosses a file system), flushed and
fsynced, then renamed over the target. A crash, a signal or a full disk before the rename
leaves the previous file untouched; the temporary file is removed on every exit path
Python sees, and one left by a process that was killed outright (SIGKILL, power loss) is
recognised by its name, which carries the writer's process id, and removed by the next run
that writes beside it (:func:`remove_stale`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

#: temporary names: ``.{target name}.unclaimed-tmp-{pid}-{random}``
MARK = ".unclaimed-tmp-"


def temporary_name(target: Path) -> Path:
    """A fresh temporary path beside ``target``, naming this process."""
    return target.with_name(f".{target.name}{MARK}{os.getpid()}-{secrets.token_hex(4)}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except OSError:
        return False
    return True


def remove_stale(folder: Path) -> list[Path]:
    """Remove temporary files and folders left in ``folder`` by writers that no longer
    run (their process id is gone). Returns what was removed; never raises."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        cut = name.find(MARK)
        if not name.startswith(".") or cut < 0:
            continue
        pid_text = name[cut + len(MARK):].split("-", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        path = Path(entry.path)
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                import shutil

                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink()
            removed.append(path)
    return removed


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def commit(temporary: Path, target: Path) -> None:
    """Rename a complete, fsynced temporary file over ``target`` and persist the rename."""
    os.replace(temporary, target)
    _fsync_folder(target.parent)


def fsync_file(path: Path) -> None:
    """Flush a file written by another library (polars, for example) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` for a writer that wants a path; when the
    block ends normally, the file is fsynced and renamed over ``target``; otherwise it is
    removed and ``target`` is left as it was."""
    final = Path(target)
    tmp = temporary_name(final)
    try:
        yield tmp
        fsync_file(tmp)
        commit(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(target: str | os.PathLike[str], mode: str = "w",
                encoding: str | None = "utf-8", newline: str | None = None) -> Iterator[IO[Any]]:
    """``open`` for writing, atomically: the target appears only when the block ends
    normally and everything written was flushed to the disk."""
    binary = "b" in mode
    with atomic_path(target) as tmp:
        # closed below, before the rename
        fh: IO[Any] = (open(tmp, "xb") if binary  # noqa: SIM115
                       else open(tmp, "x", encoding=encoding, newline=newline))  # noqa: SIM115
        try:
            yield fh
            fh.flush()
        finally:
            fh.close()


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_open(target, "wb", encoding=None) as fh:
        fh.write(data)


def write_text(target: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``target`` atomically (no newline translation)."""
    with atomic_open(target, "w", encoding=encoding, newline="") as fh:
        fh.write(text)
