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
import errno
import os
import signal
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any

#: temporary names: ``.{target name}.unclaimed-tmp-{pid}-{random}``
MARK = ".unclaimed-tmp-"


def temporary_name(target: Path) -> Path:
    """A fresh temporary path beside ``target``, naming this process."""
    import secrets  # here, like shutil and tempfile: not on the path of every start

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
    import shutil

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
            if entry.stat(follow_symlinks=False).st_uid != os.geteuid():
                continue  # another user's: not ours to judge
            if entry.is_dir(follow_symlinks=False):
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
    _check_target(final)
    remove_stale_once(final.parent)
    tmp = temporary_name(final)
    try:
        yield tmp
        fsync_file(tmp)
        with critical():
            commit(tmp, final)
            COMMITTED.append(final)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise WriteError(final, exc) from None
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


# -- what went wrong, in one line ---------------------------------------------------------

#: outputs this process has renamed into place (what an interrupt message names)
COMMITTED: list[Path] = []


class WriteError(OSError):
    """An output that could not be written, in one line naming the output (never its
    temporary file) and the reason. An ``OSError``, so callers catching those still do."""

    def __init__(self, target: str | os.PathLike[str], reason: OSError | str,
                 doing: str = "cannot write") -> None:
        text = reason if isinstance(reason, str) else (
            reason.strerror or (str(reason).splitlines() or [type(reason).__name__])[0])
        code = reason.errno if isinstance(reason, OSError) else None
        self.reason = text
        self.message = f"{doing} {target}: {text}"
        super().__init__(code, self.message)
        self.target = Path(target)

    def __str__(self) -> str:
        return self.message


def _check_target(target: Path) -> None:
    """Refuse, before any work, a target that a rename cannot replace: a folder."""
    if target.is_dir() and not target.is_symlink():
        raise WriteError(target, OSError(errno.EISDIR, "it is a folder"))


_SWEPT: set[str] = set()


def remove_stale_once(folder: Path) -> None:
    """:func:`remove_stale` on ``folder``, the first time this process writes there."""
    key = os.path.abspath(folder)
    if key not in _SWEPT:
        _SWEPT.add(key)
        remove_stale(folder)


# -- signals: SIGINT and SIGTERM end the run through the clean-up paths --------------------

class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised where the program is, so every ``finally`` and every
    temporary file's clean-up runs (SIGTERM's default action would skip them)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_depth = 0
_pending: list[int] = []


def _stop(signum: int) -> None:
    # once: a second signal must not cut the removal of the temporaries short
    for s in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):
            signal.signal(s, signal.SIG_IGN)
    raise Interrupted(signum)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _depth:
        _pending.append(signum)  # during the renames: once they are done
        return
    _stop(signum)


def install_signal_handlers() -> None:
    """SIGINT and SIGTERM raise :class:`Interrupted` (the console script calls this)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, _on_signal)


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """A stretch that a signal must not cut (the renames of a group of outputs): a
    SIGINT or SIGTERM that arrives meanwhile is raised when it ends."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if not _depth and _pending:
            signum = _pending[0]
            _pending.clear()
            _stop(signum)


# -- a file and the side files that describe it ----------------------------------------------

class Outputs:
    """A main output and side files describing it, replaced so that the side files never
    sit beside a main file they do not describe.

    POSIX cannot rename two files at once, so :meth:`commit` goes in this order: every
    temporary complete and fsynced; the previous side files removed; the main file
    renamed into place; the side files renamed into place. Stopped anywhere (even by
    SIGKILL), the folder holds the previous main file with or without its side files, or
    the new main file with or without the new side files, never a mixed pair. Side files
    should carry what ties them to the main file (its sha256, its row count).

    Use as a context manager: temporaries not committed are removed when the block ends.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []
        self._stale: list[Path] = []

    def add(self, target: str | os.PathLike[str]) -> Path:
        """Create (empty) and return the temporary file for ``target``; the first added is
        the main file. Fails at once when ``target`` cannot be written."""
        final = Path(target)
        _check_target(final)
        remove_stale_once(final.parent)
        tmp = temporary_name(final)
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as exc:
            raise WriteError(final, exc) from None
        self._staged.append((tmp, final))
        return tmp

    def drop(self, target: str | os.PathLike[str]) -> None:
        """This run has no ``target`` after all: its temporary goes, and a previous run's
        file of that name is removed when the main file is replaced."""
        final = Path(target)
        for pair in [p for p in self._staged if p[1] == final]:
            self._staged.remove(pair)
            with contextlib.suppress(OSError):
                pair[0].unlink()
        self._stale.append(final)

    def temporary(self, target: str | os.PathLike[str]) -> Path:
        final = Path(target)
        return next(tmp for tmp, t in self._staged if t == final)

    def commit(self) -> None:
        for tmp, final in self._staged:
            try:
                fsync_file(tmp)
            except OSError as exc:
                raise WriteError(final, exc) from None
        with critical():
            for old in self._stale + [t for _, t in self._staged[1:]]:
                try:
                    old.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise WriteError(old, exc, "cannot remove") from None
            for tmp, final in self._staged:
                try:
                    commit(tmp, final)
                except OSError as exc:
                    raise WriteError(final, exc) from None
                COMMITTED.append(final)
            self._staged.clear()

    def discard(self) -> None:
        for tmp, _ in self._staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._staged.clear()

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


# -- temporary folders ---------------------------------------------------------------------

@contextlib.contextmanager
def temporary_folder(parent: str | os.PathLike[str] | None = None,
                     label: str = "unclaimed") -> Iterator[Path]:
    """A private folder for intermediate files (in TMPDIR unless ``parent`` is given),
    named with this process's id and removed on every exit path; folders of this kind
    left by processes that were killed outright are removed first."""
    import shutil
    import tempfile

    base = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    remove_stale_once(base)
    try:
        path = Path(tempfile.mkdtemp(prefix=f".{label}{MARK}{os.getpid()}-", dir=base))
    except OSError as exc:
        raise WriteError(base, exc, "cannot create a temporary folder in") from None
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system or the file system does not offer it."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                   ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _owns_folder(target: Path, names: Iterable[str]) -> bool:
    """Whether ``target`` may be replaced as a whole: absent, or a plain folder (not a
    symlink, not a mount point) holding only files of these names."""
    if not target.exists() and not target.is_symlink():
        return True
    if target.is_symlink() or not target.is_dir() or os.path.ismount(target):
        return False
    allowed = set(names)
    try:
        return all(e.name in allowed or MARK in e.name for e in os.scandir(target))
    except OSError:
        return False


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike[str], names: Iterable[str]) -> Iterator[Path]:
    """Yield an empty temporary folder for files named ``names``; when the block ends
    normally they appear in ``target`` together; otherwise ``target`` is left as it was.

    When ``target`` is absent or holds only files of these names, the temporary folder is
    made beside it and swapped in (in one step where the system offers it, else two
    renames). When it holds other files (a user's folder), the temporary folder is made
    inside it and each file is renamed into place once all of them are complete."""
    import shutil
    import tempfile

    final = Path(target)
    if final.exists() and not final.is_dir():
        raise WriteError(final, OSError(errno.ENOTDIR, "it is not a folder"))
    whole = _owns_folder(final, names)
    if whole:
        final.parent.mkdir(parents=True, exist_ok=True)
    parent = final.parent if whole else final
    remove_stale_once(parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}{MARK}{os.getpid()}-",
                                    dir=parent))
    except OSError as exc:
        raise WriteError(final, exc) from None
    try:
        yield tmp
        files = sorted(p for p in tmp.iterdir())
        for f in files:
            fsync_file(f)
        with critical():
            if not whole:
                for f in files:
                    commit(f, final / f.name)
                    COMMITTED.append(final / f.name)
                tmp.rmdir()
            else:
                mode = final.stat().st_mode & 0o7777 if final.exists() else (
                    0o777 & ~_umask())
                os.chmod(tmp, mode)
                if not final.exists():
                    commit(tmp, final)
                elif _exchange(tmp, final):
                    _fsync_folder(final.parent)
                else:
                    old = temporary_name(final)
                    os.replace(final, old)
                    commit(tmp, final)
                    tmp = old
                COMMITTED.append(final)
    except OSError as exc:
        if isinstance(exc, WriteError):
            raise
        raise WriteError(final, exc) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
