"""What each endpoint computes, without HTTP: policies loaded once and shared, facts read
as the CLI reads them, evaluations, comparisons, checks and saves.

A :class:`Policy` is shared across concurrent requests: evaluation keeps its state in a
per-call ``Run``; the policy's own caches (trace plans) are filled idempotently, and
:func:`evaluator.gcpause.fewer_collections` counts its concurrent users under a lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluator.errors import Diagnostic, PolicyError, PolicyLoadError
from evaluator.facts import FactsError, facts_from_bytes
from evaluator.facts.model import Facts
from evaluator.lang.document.index import PolicyIndex
from evaluator.policy import Policy, load_policy


class ServiceError(Exception):
    """An answer other than 200: the status, a title, a one-line detail, diagnostics."""

    def __init__(self, status: int, title: str, detail: str,
                 diagnostics: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.diagnostics = diagnostics


_ID = re.compile(r"[a-z0-9][a-z0-9.-]{0,127}")
_VERSION = re.compile(r"[0-9A-Za-z.+-]{1,64}")


def diagnostic_json(d: Diagnostic, rename: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"code": d.code, "severity": d.severity}
    if d.span is not None:
        file = d.span.file
        out.update(file=(rename or {}).get(file, file), line=d.span.line, column=d.span.col,
                   end_line=d.span.end_line, end_column=d.span.end_col)
    for key in ("where", "provision"):
        value = getattr(d, key)
        if value is not None:
            out[key] = value
    out["message"] = d.message
    if d.help is not None:
        out["help"] = d.help
    return out


@dataclass
class Loaded:
    policy: Policy
    #: the policy's files as a decision record holds them (path, text, sha256)
    files: list[dict[str, str]]
    #: (path, mtime_ns, size, inode) of each file, to tell when it changed
    stamp: tuple[tuple[str, int, int, int], ...]


def _stamp(paths: list[str]) -> tuple[tuple[str, int, int, int], ...] | None:
    out = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            return None
        out.append((p, st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class PolicyStore:
    """The policies under one folder, each loaded and checked once (again when one of its
    files changes: by path, mtime, size and inode), and policy texts sent in requests,
    by their sha256 (the last 32)."""

    def __init__(self, root: Path, read_only: bool = False) -> None:
        self.root = root
        self.real_root = root.resolve()
        self.read_only = read_only
        self._lock = threading.Lock()
        self._index: tuple[tuple[tuple[str, int], ...], PolicyIndex] | None = None
        self._loaded: dict[str, Loaded] = {}
        self._texts: OrderedDict[str, Loaded] = OrderedDict()

    # -- finding ------------------------------------------------------------------------

    def _dirs_stamp(self) -> tuple[tuple[str, int], ...]:
        out = []
        for folder, dirs, _ in os.walk(self.root):
            dirs.sort()
            try:
                out.append((folder, os.stat(folder).st_mtime_ns))
            except OSError:
                continue
        return tuple(out)

    def index(self) -> PolicyIndex:
        """The index of the folder, scanned again when a folder in it changed (a file
        added, removed or replaced)."""
        stamp = self._dirs_stamp()
        cached = self._index
        if cached is not None and cached[0] == stamp:
            return cached[1]
        index = PolicyIndex.scan(self.root)
        self._index = (stamp, index)
        return index

    def find(self, ref: str) -> Path:
        pid, _, version = ref.partition("@")
        if not _ID.fullmatch(pid) or (version and not _VERSION.fullmatch(version)):
            raise ServiceError(404, "Unknown policy", f"no policy `{ref}`: not a policy id")
        index = self.index()
        path = index.find(pid, version)
        if path is None:
            versions = index.versions(pid)
            detail = (f"policy `{pid}` has no version `{version}` (known versions: "
                      f"{', '.join(versions)})" if versions else
                      f"no policy file, directory or id `{ref}`")
            raise ServiceError(404, "Unknown policy", detail)
        return path

    # -- loading ------------------------------------------------------------------------

    def load(self, ref: str) -> Loaded:
        path = str(self.find(ref))
        cached = self._loaded.get(path)
        if cached is not None and _stamp([f for f, *_ in cached.stamp]) == cached.stamp:
            return cached
        loaded = self._load_file(Path(path), {})
        self._loaded[path] = loaded
        return loaded

    def _load_file(self, path: Path, rename: dict[str, str]) -> Loaded:
        try:
            # not the user's cache: texts come from temporary files (the service keeps
            # its own checked policies, in memory)
            policy = load_policy(path, root=self.root, cache=False)
        except PolicyError as exc:
            diags = [diagnostic_json(d, rename) for d in exc.diagnostics]
            raise ServiceError(422, "Policy does not check",
                               _first_error(exc.diagnostics, rename), diags) from None
        files = []
        shown = list(policy.document.files)
        for f in shown:
            data = Path(f).read_bytes()
            files.append({"path": rename.get(f, f), "text": data.decode("utf-8"),
                          "sha256": hashlib.sha256(data).hexdigest()})
        return Loaded(policy, files, _stamp(shown) or ())

    def load_text(self, text: str, name: str) -> Loaded:
        """A policy sent as text, checked as a file of the policies folder would be."""
        key = hashlib.sha256(f"{name}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()
        with self._lock:
            cached = self._texts.get(key)
            if cached is not None:
                self._texts.move_to_end(key)
                return cached
        loaded: Loaded = self.with_text(text, name, self._load_file)
        with self._lock:
            self._texts[key] = loaded
            while len(self._texts) > 32:
                self._texts.popitem(last=False)
        return loaded

    def with_text(self, text: str, name: str,
                  use: Callable[[Path, dict[str, str]], Any]) -> Any:
        """``use(path, rename)`` on ``text`` written to a temporary file; ``rename`` maps
        the names diagnostics give that file to ``name``."""
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            raise ServiceError(400, "Invalid request",
                               "the policy text is not valid Unicode") from None
        with tempfile.TemporaryDirectory(prefix="unclaimed-serve-") as tmp:
            path = Path(tmp) / (Path(name).name or "policy.yaml")
            path.write_bytes(data)
            rename = {str(path): name, os.path.relpath(path): name,
                      str(path.resolve()): name}
            return use(path, rename)

    def check_text(self, text: str, name: str) -> tuple[bool, list[dict[str, Any]]]:
        def check(path: Path, rename: dict[str, str]) -> tuple[bool, list[dict[str, Any]]]:
            try:
                policy = load_policy(path, root=self.root, cache=False)
            except PolicyError as exc:
                return False, [diagnostic_json(d, rename) for d in exc.diagnostics]
            return True, [diagnostic_json(d, rename) for d in policy.warnings]
        result: tuple[bool, list[dict[str, Any]]] = self.with_text(text, name, check)
        return result

    # -- listing ------------------------------------------------------------------------

    def listing(self) -> list[dict[str, Any]]:
        out = []
        index = self.index()
        for (pid, version), path in sorted(index.files.items()):
            entry: dict[str, Any] = {"id": pid, "version": version, "path": self._shown(path)}
            try:
                doc = self.load(f"{pid}@{version}").policy.document
                entry.update(sha256=doc.sha256, status=doc.status, title=doc.title,
                             extends=doc.extends, ok=True)
            except ServiceError:
                entry.update(sha256=None, status=None, title=None, extends=None, ok=False)
            out.append(entry)
        return out

    def _shown(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def detail(self, ref: str) -> dict[str, Any]:
        path = self.find(ref)
        loaded = self.load(ref)
        doc = loaded.policy.document
        from evaluator.policy import param_json

        return {
            "id": doc.id, "version": doc.version, "sha256": doc.sha256, "status": doc.status,
            "title": doc.title, "path": self._shown(path), "extends": doc.extends,
            "text": path.read_text(encoding="utf-8"),
            "parameters": [{"name": p.name, "type": p.type_name, "value": param_json(p),
                            "provision": p.provision, "description": p.description}
                           for p in doc.parameters.values()],
            "definitions": [{"name": d.name, "entity": d.entity, "provision": d.provision,
                             "description": d.description, "formula": d.formula}
                            for d in doc.definitions.values()],
            "outputs": {k: list(v) for k, v in doc.outputs.items()},
            "provisions": [{"label": p.id, "text": p.text, "computable": p.computable}
                           for p in doc.provisions.values()],
        }

    # -- saving -------------------------------------------------------------------------

    def save(self, ref: str, text: str) -> dict[str, Any]:
        """Check ``text`` and, only when it has no error, write it atomically to the file
        of ``ref`` under the folder (a new ``ID.yaml`` or ``ID-VERSION.yaml`` for a new
        policy or version)."""
        if self.read_only:
            raise ServiceError(403, "Read-only", "the service was started with --read-only: "
                               "policies cannot be saved")
        pid, _, version = ref.partition("@")
        if not _ID.fullmatch(pid) or (version and not _VERSION.fullmatch(version)):
            raise ServiceError(404, "Unknown policy", f"`{ref}` is not a policy id")
        name = f"{pid}.yaml"

        def check(path: Path, rename: dict[str, str]) -> Policy:
            return self._load_file(path, rename).policy

        policy: Policy = self.with_text(text, name, check)
        if policy.id != pid or (version and policy.version != version):
            raise ServiceError(422, "Policy id mismatch",
                               f"the text is policy `{policy.id}@{policy.version}`, not "
                               f"`{ref}`: save it under its own id")
        index = self.index()
        target = index.find(pid, policy.version)
        if target is None:
            target = self.root / (name if not index.versions(pid)
                                  else f"{pid}-{policy.version}.yaml")
        real = target.resolve()
        if self.real_root not in real.parents or target.is_symlink():
            raise ServiceError(403, "Outside the policies folder",
                               f"`{ref}` would be written outside {self.root}")
        from evaluator import atomic

        try:
            atomic.write_bytes(real, text.encode("utf-8"))
        except OSError as exc:
            raise ServiceError(503, "Cannot save",
                               f"cannot write {self._shown(target)}: "
                               f"{exc.strerror or exc}") from None
        return {"saved": self._shown(target), "sha256": policy.sha256, "ok": True,
                "diagnostics": [diagnostic_json(d) for d in policy.warnings]}


def _first_error(diags: list[Diagnostic], rename: dict[str, str]) -> str:
    errors = [d for d in diags if d.is_error] or diags
    if not errors:
        return "the policy does not check"
    d = errors[0]
    where = ""
    if d.span is not None:
        where = f"{rename.get(d.span.file, d.span.file)}:{d.span.line}:{d.span.col}: "
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}{d.message}{more}"


# -- facts ----------------------------------------------------------------------------------


def facts_bytes(facts: dict[str, Any] | None, facts_text: str | None) -> bytes:
    """The bytes a facts file would hold for this request (see the models)."""
    if (facts is None) == (facts_text is None):
        raise ServiceError(422, "Invalid request", "give exactly one of `facts` and "
                           "`facts_text`")
    if facts_text is not None:
        try:
            return facts_text.encode("utf-8")
        except UnicodeEncodeError:
            raise ServiceError(422, "Invalid request",
                               "facts_text is not valid Unicode") from None
    try:
        return json.dumps(facts, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError) as exc:
        raise ServiceError(422, "Invalid request", f"facts: {exc}") from None


def read_facts(data: bytes, source: str, max_records: int, max_accounts: int | None = None,
               decl: Any = None) -> Facts:
    try:
        facts = facts_from_bytes(data, source, decl=decl)
    except FactsError as exc:
        from evaluator.errors import one_line

        raise ServiceError(422, "Unusable facts", one_line(str(exc))) from None
    records = len(facts.members) + len(facts.claims) + len(facts.errors)
    if records > max_records:
        raise ServiceError(413, "Too many facts records",
                           f"{source}: {records:,} members and claims; the service takes at "
                           f"most {max_records:,} in one request")
    if max_accounts is not None:
        accounts = sum(len(m.accounts) for m in facts.members)
        if accounts > max_accounts:
            raise ServiceError(413, "Too many accounts to compare",
                               f"{source}: {accounts:,} accounts; a comparison takes at most "
                               f"{max_accounts:,} (use `unclaimed compare` for portfolios)")
    return facts


def policy_problem(exc: PolicyError, title: str = "Invalid parameters or as-of date"
                   ) -> ServiceError:
    diags = [diagnostic_json(d) for d in exc.diagnostics]
    status = 404 if isinstance(exc, PolicyLoadError) and any(
        d.code == "io" for d in exc.diagnostics) else 422
    return ServiceError(status, title, _first_error(exc.diagnostics, {}), diags)
