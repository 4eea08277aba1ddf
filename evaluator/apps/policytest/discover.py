"""Finding what ``unclaimed test`` runs: the policy and its case files, from the paths
given (a policy directory or file, or case files with ``--policy``)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from evaluator.apps.policytest.cases import diag_text
from evaluator.errors import DataProblem, PolicyLoadError
from evaluator.lang.document.loader import POLICY_FILE, resolve_policy_path
from evaluator.policy import Policy, load_policy

_CASE_SUFFIXES = (".yaml", ".yml")
_POLICY_HEADER = re.compile(r"^policy:[ \t]*['\"]?[A-Za-z0-9]", re.MULTILINE)


class DiscoveryError(DataProblem):
    """The paths given to ``unclaimed test`` name no policy or no cases."""


# -- discovery -----------------------------------------------------------------------


def _looks_like_policy(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as fh:
            head = fh.read(4000)
    except (OSError, UnicodeDecodeError):
        return False
    return bool(_POLICY_HEADER.search(head))


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and p.suffix.lower() in _CASE_SUFFIXES)


def _beside(policy_file: Path) -> list[Path]:
    """The cases of a policy: ``tests/*.yaml`` beside its file."""
    tests = policy_file.parent / "tests"
    return _yaml_files(tests) if tests.is_dir() else []


def _owner(directory: Path, shown: Path) -> Path:
    """The policy a directory of cases belongs to: its parent's ``policy.yaml``, or the
    parent's only policy file."""
    parent = directory.resolve().parent
    if (parent / POLICY_FILE).is_file():
        return parent / POLICY_FILE
    found = [p for p in _yaml_files(parent) if _looks_like_policy(p)] if parent.is_dir() \
        else []
    if len(found) == 1:
        return found[0]
    raise DiscoveryError(f"{shown}: cannot tell which policy these cases test; "
                         "give --policy FILE, DIRECTORY or ID[@VERSION]")


def find_cases(path: str | os.PathLike[str]) -> list[Path]:
    """The case files a path names when the policy is given separately: a case file, a
    directory of case files, or a policy directory / file (its ``tests/*.yaml``)."""
    p = Path(path)
    if p.is_dir():
        if (p / POLICY_FILE).is_file():
            return _beside(p / POLICY_FILE)
        return _yaml_files(p)
    if p.is_file():
        return _beside(p) if _looks_like_policy(p) else [p]
    raise DiscoveryError(f"{p}: no such file or directory")


def _policy_and_cases(path: str | os.PathLike[str]) -> tuple[Path, list[Path]]:
    """Without --policy: the policy file a path belongs to, and its cases."""
    p = Path(path)
    if p.is_dir():
        if (p / POLICY_FILE).is_file():
            return p / POLICY_FILE, _beside(p / POLICY_FILE)
        return _owner(p, p), _yaml_files(p)
    if p.is_file():
        if _looks_like_policy(p):
            return p, _beside(p)
        return _owner(p.parent, p), [p]
    text = os.fspath(p)
    if "/" in text or os.sep in text or p.suffix.lower() in _CASE_SUFFIXES:
        raise DiscoveryError(f"{p}: no such file or directory")
    try:
        policy_file = resolve_policy_path(text)  # ID[@VERSION]
    except PolicyLoadError as exc:
        raise DiscoveryError(diag_text(exc.diagnostics[0])) from None
    return policy_file, _beside(policy_file)


def discover_paths(paths: Sequence[str | os.PathLike[str]],
                   policy_ref: str | os.PathLike[str] | None = None
                   ) -> tuple[Policy, list[Path]]:
    """The policy and the case files of several paths (see :func:`discover`)."""
    if not paths:
        raise DiscoveryError("no PATH given")
    cases: list[Path] = []
    if policy_ref is not None:
        for p in paths:
            cases += find_cases(p)
        ref: str | os.PathLike[str] = policy_ref
    else:
        found = [_policy_and_cases(p) for p in paths]
        owners = {f.resolve() for f, _ in found}
        if len(owners) > 1:
            raise DiscoveryError("the PATHs belong to different policies ("
                                 + ", ".join(sorted({str(f) for f, _ in found}))
                                 + "); test them one at a time, or give --policy")
        ref = found[0][0]
        for _, some in found:
            cases += some
    seen: set[Path] = set()
    unique: list[Path] = []
    for case in cases:
        key = case.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(case)
    if not unique:
        where = ", ".join(os.fspath(p) for p in paths)
        raise DiscoveryError(f"no test cases in {where} (a policy's cases are "
                             "tests/*.yaml beside its policy file)")
    return load_policy(ref), unique


def discover(path: str | os.PathLike[str],
             policy_ref: str | os.PathLike[str] | None = None) -> tuple[Policy, list[Path]]:
    """The policy and the case files named by ``path``.

    ``path`` is a policy directory (cases: ``<dir>/tests/*.yaml``, sorted), a policy file
    (cases: ``tests/*.yaml`` beside it), or, with ``policy_ref`` (policy file, directory
    or ``ID[@VERSION]``), a case file or a directory of case files. Raises
    :class:`DiscoveryError` when there is nothing to test and :class:`PolicyError` when
    the policy is invalid.
    """
    return discover_paths([path], policy_ref)
