"""The on-disk cache of checked policies, so that a command starts without parsing and
checking a policy it has already checked.

Where: ``$UNCLAIMED_CACHE_DIR``, else ``$XDG_CACHE_HOME/unclaimed``, else
``~/.cache/unclaimed``; ``UNCLAIMED_NO_CACHE=1`` (or ``--no-cache``) turns it off.

Three kinds of file, each written atomically (a temporary file in the same folder, then
``os.replace``: concurrent writers each replace the file whole, and a reader sees one of
them, never a mixture):

- a *manifest* per way of naming a policy (the reference as given, the policies root,
  the working folder, which diagnostics' paths are relative to): which files composed it,
  and the folder whose ``*.yaml`` files were scanned when it was named by ``ID@VERSION``
  or extends another (adding, removing or editing any of those changes the key);
- an *entry* named by its key: the sha256 of the evaluator's version and code, the
  Python version, that naming, and the sha256 of the content of every file of the
  manifest. A policy edited is a new key, so a cached check is never stale;
- beside an entry, its *diagnostics* (the check's warnings), all that `unclaimed check`
  reads on a warm start.

At most :data:`MAX_ENTRIES` entries are kept (the oldest written go first). An entry is
a magic line, then a pickle of the checked policy and its warnings (data
classes only: no closure or lambda is stored). A missing, truncated, corrupt or foreign
file is ignored and rebuilt, never an error. Unpickling runs code named in the file, so
entries are read only from a folder the user owns that no one else may write to (the
folder is created private, 0700); a cache folder that others can write is not used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import stat
import sys
from pathlib import Path
from typing import Any

__all__ = ["MAGIC", "MAX_ENTRIES", "PolicyCache", "cache_dir", "code_fingerprint"]

#: the first line of every entry; a file without it is not read as an entry
MAGIC = b"unclaimed-policy-cache 1\n"
#: entries kept; beyond, the least recently written are removed (policies loaded from
#: temporary folders, edits: each is an entry of its own)
MAX_ENTRIES = 200

_PACKAGE = Path(__file__).resolve().parent.parent
_FINGERPRINT: str | None = None
#: what the policy index reads of a file to find a policy by id (its ``HEADER_BYTES``;
#: not imported: the document package uses this layer's parser, which uses this module)
HEADER_BYTES = 4 * 4000


def cache_dir(environ: os._Environ[str] | dict[str, str] | None = None) -> Path | None:
    """The cache folder, or None when caching is turned off."""
    env = os.environ if environ is None else environ
    if env.get("UNCLAIMED_NO_CACHE", "").strip() not in ("", "0"):
        return None
    explicit = env.get("UNCLAIMED_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "unclaimed"


def code_fingerprint() -> str:
    """The evaluator's version and the size and modification time of each of its files
    (an edited checkout is another evaluator), and the Python version."""
    global _FINGERPRINT
    if _FINGERPRINT is None:
        from evaluator.resources import grammar_file

        h = hashlib.sha256()
        h.update(f"{sys.version}|{sys.implementation.cache_tag}".encode())
        h.update(MAGIC)
        folders = [str(_PACKAGE)]
        with contextlib.suppress(FileNotFoundError):
            folders.append(str(grammar_file().parent))
        for folder in folders:
            for dirpath, dirnames, filenames in os.walk(folder):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
                for name in sorted(filenames):
                    if name.endswith((".py", ".json", ".lark")):
                        path = os.path.join(dirpath, name)
                        with contextlib.suppress(OSError):
                            st = os.stat(path)
                            h.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        _FINGERPRINT = h.hexdigest()
    return _FINGERPRINT


def _file_sha256(path: str, limit: int | None = None) -> str | None:
    """The sha256 of a regular file (of its first ``limit`` bytes, and its size); a FIFO,
    a device or a folder is never opened (it could block or never end): its kind is
    its digest. None when it cannot be read."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return f"not a file: {stat.S_IFMT(st.st_mode)}"
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped meanwhile
                return None
            if limit is None:
                return hashlib.file_digest(handle, "sha256").hexdigest()
            head = handle.read(limit)
            return hashlib.sha256(head).hexdigest() + f":{st.st_size}"
    except OSError:
        return None


def _scanned(folder: str) -> list[str]:
    """The ``*.yaml`` files under a policies root, as the policy index scans them."""
    return sorted(str(p) for p in Path(folder).rglob("*.yaml"))


class PolicyCache:
    """Checked policies by the sha256 of what composed them (see the module's text)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def for_user(cls) -> PolicyCache | None:
        """The user's cache, or None when turned off."""
        folder = cache_dir()
        return cls(folder) if folder is not None else None

    # -- keys --------------------------------------------------------------------------

    @staticmethod
    def naming(ref: str | os.PathLike[str], root: str | os.PathLike[str] | None) -> str:
        """What, besides the files, decides the checked policy: the reference, the
        policies root and the working folder (diagnostics name files relative to it)."""
        return json.dumps([os.fspath(ref), os.fspath(root) if root is not None else None,
                           os.getcwd()])

    def _manifest_path(self, naming: str) -> Path:
        digest = hashlib.sha256((code_fingerprint() + naming).encode()).hexdigest()
        return self.folder / f"{digest}.manifest"

    @staticmethod
    def key(naming: str, files: list[str], scan: str | None) -> str | None:
        """The key of an entry: None when a file cannot be read (nothing is cached)."""
        listing = _scanned(scan) if scan is not None else []
        composing = set(files)
        h = hashlib.sha256()
        h.update(code_fingerprint().encode())
        h.update(naming.encode())
        for path in sorted({*files, *listing}):
            # a file scanned to find a policy by id counts by the header the index
            # reads; a file that composed the policy, by all of it
            digest = _file_sha256(path, None if path in composing else HEADER_BYTES)
            if digest is None:
                return None
            h.update(f"\n{path}\0{digest}".encode())
        h.update(f"\nscan:{scan}:{len(listing)}".encode())
        return h.hexdigest()

    # -- reading -----------------------------------------------------------------------

    def _trusted(self) -> bool:
        """Whether the folder is the user's own and no one else may write to it."""
        try:
            st = os.stat(self.folder)
        except OSError:
            return False
        if not stat.S_ISDIR(st.st_mode) or st.st_mode & 0o022:
            return False
        return not hasattr(os, "getuid") or st.st_uid == os.getuid()

    def _current_key(self, naming: str) -> str | None:
        """The key of this naming's manifest, from its files as they are now; None when
        the folder is not trusted or the manifest is missing or unreadable."""
        if not self._trusted():
            return None
        try:
            manifest = json.loads(self._manifest_path(naming).read_text(encoding="utf-8"))
            files = [str(f) for f in manifest["files"]]
            scan = manifest["scan"]
            if scan is not None and not isinstance(scan, str):
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return self.key(naming, files, scan)

    def get(self, naming: str) -> Any | None:
        """The cached value for this naming, when every file is as it was; else None."""
        key = self._current_key(naming)
        if key is None:
            return None
        try:
            with open(self.folder / f"{key}.pickle", "rb") as handle:
                if handle.read(len(MAGIC)) != MAGIC:
                    return None
                stored = pickle.load(handle)
        except Exception:  # corrupt, truncated or foreign: rebuilt by the caller
            return None
        if not isinstance(stored, dict) or stored.get("key") != key:
            return None
        from evaluator.declared import adopt_standard

        adopt_standard(stored.get("standard"))
        return stored.get("value")

    def get_diagnostics(self, naming: str) -> list[Any] | None:
        """The diagnostics (warnings) of the check cached for this naming, when every file
        is as it was; else None. Reads the small record beside the entry, not the checked
        policy: `unclaimed check` loads neither the policy nor its parser."""
        key = self._current_key(naming)
        if key is None:
            return None
        try:
            with open(self.folder / f"{key}.diagnostics", "rb") as handle:
                if handle.read(len(MAGIC)) != MAGIC:
                    return None
                stored = pickle.load(handle)
        except Exception:  # corrupt, truncated or foreign: the caller checks the policy
            return None
        if not isinstance(stored, dict) or stored.get("key") != key:
            return None
        found = stored.get("diagnostics")
        return list(found) if isinstance(found, list) else None

    # -- writing -----------------------------------------------------------------------

    def put(self, naming: str, files: list[str], scan: str | None, value: Any,
            diagnostics: list[Any] | None = None) -> None:
        """Store ``value`` (and, when given, its ``diagnostics`` in a small record of their
        own, see :meth:`get_diagnostics`); any failure (a read-only disk, a full one)
        leaves no file."""
        try:
            key = self.key(naming, files, scan)
            if key is None:
                return
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self._trusted():
                return
            from evaluator.declared import standard

            body = MAGIC + pickle.dumps({"key": key, "value": value, "standard": standard()},
                                        protocol=pickle.HIGHEST_PROTOCOL)
            self._write(self.folder / f"{key}.pickle", body)
            if diagnostics is not None:
                self._write(self.folder / f"{key}.diagnostics", MAGIC + pickle.dumps(
                    {"key": key, "diagnostics": list(diagnostics)},
                    protocol=pickle.HIGHEST_PROTOCOL))
            manifest = {"files": sorted(files), "scan": scan}
            self._write(self._manifest_path(naming), json.dumps(manifest).encode())
            self._prune()
        except (OSError, pickle.PicklingError, TypeError, AttributeError, RecursionError):
            return

    def _prune(self) -> None:
        """At most :data:`MAX_ENTRIES` entries and as many manifests: the oldest go."""
        for suffix in (".pickle", ".diagnostics", ".manifest"):
            found: list[tuple[int, str]] = []
            with os.scandir(self.folder) as it:
                for e in it:
                    if e.name.endswith(suffix) and not e.name.startswith(".tmp-"):
                        with contextlib.suppress(OSError):
                            found.append((e.stat().st_mtime_ns, e.path))
            if len(found) > MAX_ENTRIES:
                for _, path in sorted(found)[: len(found) - MAX_ENTRIES]:
                    with contextlib.suppress(OSError):
                        os.unlink(path)

    def _write(self, path: Path, body: bytes) -> None:
        import tempfile  # only a cold start writes

        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
