"""Which file under a policies root holds which ``ID@VERSION``.

Only the header of a file is read (its ``policy:`` and ``version:`` lines near the
start), and only from a regular file whose real path is inside the root: a FIFO or a
device is never opened, a huge file costs one bounded read, and a symlink that leads out
of the root is never followed. Such a link is remembered by name only (its own and its
target's), so that an ``extends`` naming it can be told that it leaves the root.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

#: the header is looked for in this many characters at the start of a file
HEADER_CHARS = 4000
#: bytes read for it (a UTF-8 character is at most 4 bytes)
HEADER_BYTES = 4 * HEADER_CHARS

_HEADER = re.compile(r"^(policy|version):\s*['\"]?([^'\"\s#]+)", re.MULTILINE)
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$")


def semver_key(version: str) -> tuple[int, int, int, int, str]:
    """Sort key of a semantic version; a release sorts after its pre-releases, and text
    that is not a version before every version."""
    m = _SEMVER.match(version)
    if not m:
        return (-1, -1, -1, 0, version)
    pre = m.group(4)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if pre else 1, pre or "")


def _header(path: Path) -> tuple[str, str] | None:
    """(id, version) from the start of a regular file, or None."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None  # a FIFO or a device: opening it could block
        # opened without blocking and checked again, in case it was swapped meanwhile
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            head = handle.read(HEADER_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    found = {m.group(1): m.group(2) for m in _HEADER.finditer(head[:HEADER_CHARS])}
    if "policy" in found and "version" in found:
        return found["policy"], found["version"]
    return None


class PolicyIndex:
    def __init__(self) -> None:
        #: (id, version) -> the file, as found under the root
        self.files: dict[tuple[str, str], Path] = {}
        #: symlinks that lead out of the root (never read), by their name and their target's
        self.outside: dict[str, Path] = {}

    @classmethod
    def scan(cls, root: Path) -> PolicyIndex:
        """The policy files under ``root``."""
        index = cls()
        if not root.is_dir():
            return index
        real_root = root.resolve()
        for path in sorted(root.rglob("*.yaml")):
            try:
                real = path.resolve()
            except (OSError, RuntimeError):  # a symlink loop
                continue
            if real_root not in real.parents:
                for name in (path.stem, real.stem):
                    index.outside.setdefault(name, path)
                continue
            found = _header(real)
            if found is not None:
                index.files.setdefault(found, path)
        return index

    def versions(self, pid: str) -> list[str]:
        """The versions of ``pid``, oldest first."""
        return sorted((v for (i, v) in self.files if i == pid), key=semver_key)

    def find(self, pid: str, version: str = "") -> Path | None:
        """The file of ``pid@version``; of the latest version when ``version`` is empty."""
        if not version:
            versions = self.versions(pid)
            version = versions[-1] if versions else ""
        return self.files.get((pid, version))

    def refs(self) -> list[str]:
        return sorted({f"{i}@{v}" for (i, v) in self.files})

    def ids(self) -> list[str]:
        return sorted({i for (i, _) in self.files})
