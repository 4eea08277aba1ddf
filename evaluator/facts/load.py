"""The public loaders of facts: from a file (``.json``, ``.csv`` or ``.parquet``, plus an
optional FX CSV file), from a parsed JSON profile, and from snapshot rows in memory."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from evaluator.declared import FactsDecl
from evaluator.facts.builder import FactsBuilder
from evaluator.facts.csvtext import stripped_row
from evaluator.facts.extra import snapshot_cells
from evaluator.facts.fields import SNAPSHOT_CELLS, SNAPSHOT_COLUMNS, FactsError
from evaluator.facts.files import check_lines, decode_text, read_bytes
from evaluator.facts.fx import read_fx_csv
from evaluator.facts.model import Facts
from evaluator.gcpause import fewer_collections


def facts_from_json(obj: object, source: str = "<memory>", *,
                    decl: FactsDecl | None = None) -> Facts:
    """Facts from an already-parsed full profile (see :mod:`evaluator.facts`), read by the
    declared facts ``decl`` (None: the standard declaration).

    Parse JSON text with ``json.loads(text, parse_float=Decimal)`` so numbers are exact.
    Raises :class:`FactsError` when the document as a whole is unusable.
    """
    loader = FactsBuilder(source, decl)
    with fewer_collections():
        loader.json_document(obj)
    return loader.facts()


def facts_from_snapshot(
    rows: Iterable[Mapping[str, str]],
    fx_rows: Iterable[Mapping[str, str]] = (),
    source: str = "<memory>",
    first_row: int = 2,
    *,
    decl: FactsDecl | None = None,
) -> Facts:
    """Facts from snapshot rows (for example a :class:`csv.DictReader`).

    Rows are numbered from ``first_row`` for error locations ("row 2" is the first
    data row of a file with a header line). The first row's keys are taken as the
    header. Raises :class:`FactsError` when they lack a required column or an FX row
    is bad.
    """
    loader = FactsBuilder(source, decl)
    for n, fx_row in enumerate(fx_rows, start=2):
        loader.fx.add_row(stripped_row(fx_row), f"{source}: fx row {n}")
    loader.form = "snapshot"
    cells = (*SNAPSHOT_CELLS, *(c.name for c in loader.extra.columns()))
    with fewer_collections():
        loader.snapshot(_mapping_cells(rows, source, first_row, cells))
    return loader.facts()


def _mapping_cells(
    rows: Iterable[Mapping[str, str | None]], source: str, first_row: int,
    cells: tuple[str, ...] = SNAPSHOT_CELLS,
) -> Iterator[tuple[int, tuple[str | None, ...]]]:
    for line, row in enumerate(rows, start=first_row):
        if line == first_row:
            missing = [c for c in SNAPSHOT_COLUMNS if c not in row]
            if missing:
                raise FactsError(
                    f"{source}: row {line}: missing column(s) {', '.join(missing)} "
                    f"(expected {', '.join(SNAPSHOT_COLUMNS)})"
                )
        yield line, tuple(row.get(c) for c in cells)


def declaration_of(policy: Any = None, decl: FactsDecl | None = None) -> FactsDecl | None:
    """The declared facts to read by: ``decl``, else the policy's (anything with a
    ``facts_decl``), else None (the standard declaration)."""
    if decl is None and policy is not None:
        decl = policy.facts_decl
    return decl


def load_facts(path: str | os.PathLike[str], fx: str | os.PathLike[str] | None = None, *,
               policy: Any = None, decl: FactsDecl | None = None) -> Facts:
    """Facts from a ``.json`` profile or a ``.csv`` or ``.parquet`` snapshot, plus an
    optional FX CSV file, read by the facts ``policy`` declares (or ``decl``; neither:
    the standard declaration)."""
    decl = declaration_of(policy, decl)
    source = os.fspath(path)
    suffix = Path(source).suffix.lower()
    if suffix == ".parquet":  # the columnar reader's frame, read by this loader's rules
        from evaluator.facts.table import parquet_facts

        return parquet_facts(path, fx, decl=decl)
    if suffix not in (".json", ".csv"):
        shown = f"`{suffix}`" if suffix else "no extension"
        raise FactsError(
            f"{source}: cannot read facts from a file with {shown} (expected .json, .csv or "
            ".parquet)"
        )
    if suffix == ".csv":
        check_lines(path, "facts file")
    data = read_bytes(path, "facts file")
    text = decode_text(data, source)
    loader = FactsBuilder(source, decl)
    with fewer_collections():
        if suffix == ".json":
            loader.json_document(_parse_json(text, source))
        else:
            loader.form = "snapshot"
            loader.snapshot(snapshot_cells(text, source, loader.extra))
    if fx is not None:
        loader.fx.merge(read_fx_csv(fx))
    facts = loader.facts()
    return dataclasses.replace(facts, source=source, sha256=hashlib.sha256(data).hexdigest())


def _parse_json(text: str, source: str) -> object:
    try:
        # NaN/Infinity become Decimal and are then rejected per field as "not a finite number"
        return json.loads(text, parse_float=Decimal, parse_constant=Decimal)
    except json.JSONDecodeError as e:
        raise FactsError(
            f"{source}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}"
        ) from None
    except (ValueError, RecursionError) as e:
        raise FactsError(f"{source}: malformed JSON: {e}") from None


def facts_from_bytes(data: bytes, source: str, *, decl: FactsDecl | None = None) -> Facts:
    """Facts from the bytes of a ``.json`` profile, read exactly as :func:`load_facts` reads
    a file holding them (same messages, same ``sha256``), shown as ``source``."""
    text = decode_text(data, source)
    loader = FactsBuilder(source, decl)
    with fewer_collections():
        loader.json_document(_parse_json(text, source))
    facts = loader.facts()
    return dataclasses.replace(facts, source=source, sha256=hashlib.sha256(data).hexdigest())
