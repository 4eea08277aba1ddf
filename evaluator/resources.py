"""Where the grammar, the shipped policies and the schemas are.

In a source checkout they are the top-level ``grammar/`` and ``policies/`` folders;
in an installed wheel they are shipped inside the package under ``_data/``.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PKG.parent / name, _PKG / "_data" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the `{name}` folder (looked beside and inside {_PKG})")


def grammar_file() -> Path:
    return _find("grammar") / "policy.lark"


def policies_root() -> Path:
    return _find("policies")


def schema_file(name: str) -> Path:
    return _PKG / "schemas" / name


def data_file(name: str) -> Path:
    """A file of the package's ``data/`` folder (shipped in the wheel as it is)."""
    return _PKG / "data" / name
