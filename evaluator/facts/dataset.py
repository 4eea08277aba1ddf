"""Portfolio datasets: an accounts table plus an events table (one row per event), each a
CSV file, a Parquet file or a (hive-partitioned) Parquet folder ``NAME.parquet/``, read
into full profiles (:class:`~evaluator.facts.model.Facts`) for the scalar backend.

The accounts table has the snapshot's columns; ``last_transaction``, ``last_statement_ack``
and ``last_response`` are optional (when present, their dates are events too, as in a
snapshot). The events table has ``member_id``, ``date`` and ``type``, and optionally
``account_id`` (empty for member-level events), ``amount``, ``mark``, ``attachments``
(``a;b``: what accompanied a transfer) and the event fields a policy declares. Each event
row is read as a profile's event is (the same checks, the same messages); a bad event row
makes its member unusable (one record error per account, naming the events file and row),
every other member is still evaluated. Event rows of a member or account that the
accounts table does not have are counted in a warning, never dropped silently."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from evaluator.declared import FactsDecl
from evaluator.facts.builder import FactsBuilder
from evaluator.facts.csvtext import RaggedRow
from evaluator.facts.fields import SNAPSHOT_COLUMNS, BadField, FactsError
from evaluator.facts.files import check_lines, decode_text, read_bytes
from evaluator.facts.fx import parse_fx_csv
from evaluator.facts.model import WHOLE_RECORD, Event, Facts, Member, RecordError
from evaluator.facts.table import facts_from_frame, raw_frame
from evaluator.gcpause import fewer_collections

#: the snapshot columns an accounts table may leave out when events are given
OPTIONAL_COLUMNS = ("last_transaction", "last_statement_ack", "last_response")
#: the columns every accounts table has
ACCOUNT_COLUMNS = tuple(c for c in SNAPSHOT_COLUMNS if c not in OPTIONAL_COLUMNS)
#: the columns every events table has
EVENT_COLUMNS = ("member_id", "date", "type")
#: the end of a bad event row's record error
UNUSABLE = "a bad event makes the whole member unusable"


@dataclass
class Dataset:
    """A dataset read for the scalar backend: its facts, and the warnings about event rows
    that belong to no member or account of the accounts table."""

    facts: Facts
    warnings: list[str]


def is_dataset_path(path: str | os.PathLike[str]) -> bool:
    """A table the dataset reader takes: ``.csv``, ``.parquet`` (a file or a folder)."""
    return Path(os.fspath(path)).suffix.lower() in (".csv", ".parquet")


def load_dataset(accounts: str | os.PathLike[str], events: str | os.PathLike[str],
                 fx: str | os.PathLike[str] | None = None, *,
                 decl: FactsDecl | None = None) -> Dataset:
    """The dataset of an accounts table and an events table (plus an optional FX CSV file),
    read by the declared facts ``decl`` (None: the standard declaration)."""
    accounts_source = os.fspath(accounts)
    raw, ragged, digest = read_frame(accounts_source, "facts file")
    for column in OPTIONAL_COLUMNS:
        if column not in raw.columns:
            raw = raw.with_columns(pl.lit(None, pl.String).alias(column))
    fx_rates = parse_fx_csv(fx) if fx is not None else {}
    with fewer_collections():
        base: Facts = facts_from_frame(raw, fx_rates, accounts_source, ragged=ragged,
                                       sha256=digest, decl=decl)
        return _with_events(base, os.fspath(events), decl)


def read_frame(source: str, what: str) -> tuple[pl.DataFrame, list[RaggedRow], str | None]:
    """A table's raw rows: a CSV or Parquet file, or a Parquet folder (hive partitions
    read as columns); the rows that could not be matched to columns; the file's sha256."""
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        shown = f"`{suffix}`" if suffix else "no extension"
        raise FactsError(f"{source}: cannot read a table from {shown} (expected .csv, "
                         ".parquet or a folder NAME.parquet/)")
    if suffix == ".parquet" and path.is_dir():
        try:
            frame = pl.read_parquet(path, hive_partitioning=True)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise FactsError(f"{source}: cannot read the Parquet folder: "
                             f"{str(exc).splitlines()[0]}") from None
        return frame, [], None
    if suffix == ".csv":
        check_lines(source, what)
    data = read_bytes(source, what)
    frame, ragged = raw_frame(data, source, suffix, ACCOUNT_COLUMNS)
    return frame, list(ragged), hashlib.sha256(data).hexdigest()


def event_rows(source: str) -> Iterator[tuple[int, dict[str, str | None]]]:
    """The events table's rows as text cells (empty: None), each with its row number: the
    line of a CSV file, the row (the first data row is 2) of a Parquet table."""
    path = Path(source)
    if path.suffix.lower() == ".csv" and not path.is_dir():
        _, reader, header = open_events_csv(source)
        line = reader.line_num + 1
        try:
            for cells in reader:
                start, line = line, reader.line_num + 1
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    yield start, {"": f"{len(cells)} cells where the header has {len(header)}"}
                    continue
                yield start, {h: (c.strip() or None) for h, c in zip(header, cells, strict=True)}
        except csv.Error as exc:
            raise FactsError(f"{source}: line {line}: {exc}") from None
        return
    frame, _, _ = read_frame(source, "events file")
    check_event_header(list(frame.columns), source)
    floats = [c for c, t in frame.schema.items() if t.is_float()]
    if floats:
        raise FactsError(f"{source}: column(s) {', '.join(floats)} hold binary floating-point "
                         "numbers, which cannot say an exact amount: write them as decimals "
                         "or text")
    for n, row in enumerate(frame.iter_rows(named=True), start=2):
        yield n, {k: (None if v is None or str(v).strip() == "" else str(v).strip())
                  for k, v in row.items()}


def open_events_csv(source: str) -> tuple[bytes, Any, list[str]]:
    """A CSV events table's bytes, a csv reader past its header line, and the header
    (stripped, checked: the event columns present, none repeated)."""
    check_lines(source, "events file")
    data = read_bytes(source, "events file")
    reader = csv.reader(io.StringIO(decode_text(data, source), newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise FactsError(f"{source}: the events table is empty (no header line)") from None
    except csv.Error as exc:
        raise FactsError(f"{source}: line 1: {exc}") from None
    check_event_header(header, source)
    return data, reader, header


def check_event_header(header: list[str], source: str) -> None:
    missing = [c for c in EVENT_COLUMNS if c not in header]
    if missing:
        raise FactsError(f"{source}: missing column(s) {', '.join(missing)} in the events "
                         f"table (expected at least {', '.join(EVENT_COLUMNS)})")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise FactsError(f"{source}: the header repeats column(s) {', '.join(repeated)}")


def as_event(cells: dict[str, str | None]) -> dict[str, object]:
    """An event row as a profile's event object (what its cells say, nothing more)."""
    raw: dict[str, object] = {k: v for k, v in cells.items()
                              if k not in ("member_id", "attachments") and v is not None}
    attachments = cells.get("attachments")
    if attachments is not None:
        raw["with"] = [a.strip() for a in attachments.split(";")]
    return raw


def _with_events(base: Facts, source: str, decl: FactsDecl | None) -> Dataset:
    """``base`` (from the accounts table) with the events table's rows added to its members."""
    builder = FactsBuilder(source, decl)
    members = {m.member_id: m for m in base.members}
    accounts_of = {m.member_id: {a.account_id for a in m.accounts} for m in base.members}
    for e in base.errors:  # accounts in errors: their events go with them, not reported
        if e.member_id is not None and e.account_id is not None:
            accounts_of.setdefault(e.member_id, set()).add(e.account_id)
    owner = {a: m for m, ids in accounts_of.items() for a in ids}
    loaded = {a.account_id for m in base.members for a in m.accounts}
    added: dict[str, list[Event]] = {}
    bad: dict[str, list[tuple[str, list[BadField]]]] = {}
    orphans: list[RecordError] = []
    no_member: dict[str, int] = {}
    no_account: dict[str, int] = {}
    name = Path(source).name
    for line, cells in event_rows(source):
        loc = f"{name} row {line}"
        if "" in cells:  # a row whose cells do not match the header
            orphans.append(RecordError(f"{loc}: {cells['']}", field=WHOLE_RECORD, location=loc))
            continue
        member_id = cells.get("member_id")
        if member_id is None:
            orphans.append(RecordError(f"{loc}: an event row without member_id",
                                       field="member_id", location=loc))
            continue
        account_id = cells.get("account_id")
        if member_id not in accounts_of:
            no_member[member_id] = no_member.get(member_id, 0) + 1
            continue
        if account_id is not None and account_id not in owner:
            no_account[account_id] = no_account.get(account_id, 0) + 1
            continue
        if member_id not in members:
            continue  # every account of the member is in errors already
        event, problems = builder.event(as_event(cells), accounts_of[member_id], member_id)
        if event is None:
            bad.setdefault(member_id, []).append((loc, problems))
        elif event.account_id is None or event.account_id in loaded:
            added.setdefault(member_id, []).append(event)
    errors = list(base.errors)
    kept: list[Member] = []
    for member in base.members:
        problems_of = bad.get(member.member_id)
        if problems_of:
            loc, problems = problems_of[0]
            more = (f" (and {len(problems_of) - 1} more bad event rows)"
                    if len(problems_of) > 1 else "")
            text = "; ".join(p.message for p in problems)
            errors.extend(RecordError(f"{loc}: {text}{more}; {UNUSABLE}", member.member_id,
                                      a.account_id, field=problems[0].field, location=loc)
                          for a in member.accounts)
            continue
        events = [*member.events, *added.get(member.member_id, ())]
        events.sort(key=lambda e: e.date)
        kept.append(dataclasses.replace(member, events=tuple(events)))
    errors.extend(orphans)
    warnings = []
    if no_member:
        warnings.append(orphan_warning(source, no_member, "member", "members"))
    if no_account:
        warnings.append(orphan_warning(source, no_account, "account", "accounts"))
    facts = dataclasses.replace(base, members=tuple(kept), errors=tuple(errors),
                                form="dataset",
                                unknown=(*base.unknown, *builder.extra.unknown.report()))
    return Dataset(facts, warnings)


def orphan_warning(source: str, counts: dict[str, int], one: str, many: str) -> str:
    rows = sum(counts.values())
    shown = ", ".join(f"`{k}`" for k in list(counts)[:5])
    more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
    return (f"{source}: {rows:,} event row{'s' if rows != 1 else ''} of {len(counts):,} "
            f"{one if len(counts) == 1 else many} not in the accounts table ({shown}{more}) "
            "were not evaluated")
