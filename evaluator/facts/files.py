"""Opening facts and FX files with bounds: only regular files (never a folder, FIFO,
device or socket), no CSV line longer than a limit (checked by a streaming scan before the
file is read), and the bytes decoded as UTF-8 text; each refusal is a :class:`FactsError`
naming the file."""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from evaluator.facts.fields import FactsError
from evaluator.text import one_line


def read_bytes(path: str | os.PathLike[str], what: str) -> bytes:
    """The bytes of a facts or FX file, which must be a regular file (see
    :func:`check_regular`)."""
    try:
        with open_regular(path, what) as fh:
            return fh.read()
    except OSError as e:
        raise FactsError(f"{os.fspath(path)}: cannot read {what}: {e.strerror or e}") from None


def decode_text(data: bytes, source: str) -> str:
    """The text of a file's bytes: UTF-8, a byte order mark tolerated."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FactsError(f"{source}: not UTF-8 text (invalid byte at offset {e.start})") from None


def _kind_of(mode: int) -> str | None:
    """What a file that is not a regular file is, for messages (None: a regular file)."""
    if stat.S_ISREG(mode):
        return None
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _not_regular(path: str | os.PathLike[str], what: str, kind: str) -> FactsError:
    return FactsError(f"{os.fspath(path)}: cannot read {what}: it is {kind}, not a regular "
                      "file")


def check_regular(path: str | os.PathLike[str], what: str) -> None:
    """Refuse, with a :class:`FactsError`, a path that is not a regular file once symbolic
    links are followed: a folder, a FIFO (opening it would wait for a writer; read, it
    has no end), a device such as ``/dev/zero`` (an endless read) or a socket. Nothing is
    opened."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise FactsError(f"{os.fspath(path)}: cannot read {what}: {e.strerror or e}") from None
    kind = _kind_of(mode)
    if kind is not None:
        raise _not_regular(path, what, kind)


def open_regular(path: str | os.PathLike[str], what: str) -> BinaryIO:
    """A regular file opened for reading; a FactsError for anything else. The file is
    checked before it is opened (a device is never opened) and again once opened without
    blocking (it may have been replaced in between)."""
    check_regular(path, what)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        kind = _kind_of(os.fstat(fd).st_mode)
        if kind is not None:
            raise _not_regular(path, what, kind)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


#: the longest line a CSV file (a snapshot table or an FX table) may have, in bytes; a
#: longer one makes the whole file unusable. Lines are measured by a streaming scan
#: before the file is read, so a huge line costs no more memory than a short one.
DEFAULT_MAX_LINE_BYTES = 1 << 20
#: the environment variable that sets another limit (a whole number of bytes)
MAX_LINE_BYTES_ENV = "UNCLAIMED_MAX_LINE_BYTES"
_SCAN_BLOCK = 1 << 20


def max_line_bytes() -> int:
    """The line limit: ``UNCLAIMED_MAX_LINE_BYTES`` when set, else 1 MiB."""
    raw = os.environ.get(MAX_LINE_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_LINE_BYTES
    if not raw.isdigit() or int(raw) < 1:
        raise FactsError(f"{MAX_LINE_BYTES_ENV}={one_line(raw)[:40]}: expected a positive "
                         "whole number of bytes")
    return int(raw)


def check_lines(path: str | os.PathLike[str], what: str, limit: int | None = None) -> None:
    """Refuse a CSV file with a line longer than ``limit`` bytes (default
    :func:`max_line_bytes`), naming the line, after reading at most one block of it at a
    time. A line ends at ``\\n``, ``\\r\\n`` or ``\\r``, as :mod:`csv` reads lines."""
    import numpy as np  # only here: the loader itself does not need NumPy

    limit = max_line_bytes() if limit is None else limit
    breaks = 0  # line breaks before this block
    run = 0  # bytes of the current line before this block
    after_cr = False  # the previous block ended with \r
    with open_regular(path, what) as fh:
        while block := fh.read(_SCAN_BLOCK):
            a = np.frombuffer(block, dtype=np.uint8)
            marks = np.flatnonzero((a == 10) | (a == 13))
            if marks.size:
                lengths = np.diff(marks, prepend=-1) - 1
                lengths[0] += run
                prev = np.where(marks > 0, a[np.maximum(marks - 1, 0)], 13 if after_cr else 0)
                is_break = ~((a[marks] == 10) & (prev == 13))  # \r\n is one break
                over = np.flatnonzero(lengths > limit)
                if over.size:
                    line = breaks + int(np.count_nonzero(is_break[:int(over[0])])) + 1
                    raise _long_line(path, what, line, limit)
                breaks += int(np.count_nonzero(is_break))
                run = a.size - int(marks[-1]) - 1
            else:
                run += a.size
            after_cr = a[-1] == 13
            if run > limit:
                raise _long_line(path, what, breaks + 1, limit)


def _long_line(path: str | os.PathLike[str], what: str, line: int, limit: int) -> FactsError:
    return FactsError(f"{os.fspath(path)}: line {line}: longer than {limit:,} bytes, the "
                      f"limit for a line of a CSV file ({MAX_LINE_BYTES_ENV}): the {what} "
                      "is not read")
