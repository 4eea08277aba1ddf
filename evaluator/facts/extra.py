"""The declared fields beyond the standard ones, read from a JSON object or a snapshot
row by their declared types (:class:`ExtraFields`), and the keys and columns the
declaration does not know, counted per name (:class:`UnknownNames`) so that each is
reported, never silently dropped."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any

from evaluator.declared import ColumnDecl, FactsDecl, FieldDecl, parse_value, standard
from evaluator.facts.csvtext import RaggedRow, csv_table
from evaluator.facts.fields import SNAPSHOT_COLUMNS, BadField, FieldChecker
from evaluator.facts.model import Extra

__all__ = ["ExtraFields", "UnknownNames", "snapshot_cells"]


class UnknownNames:
    """Keys of JSON objects, or columns of a table, that the declaration does not know."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def add(self, what: str, name: str, count: int = 1) -> None:
        key = (what, name)
        self.counts[key] = self.counts.get(key, 0) + count

    def report(self) -> tuple[tuple[str, str, int], ...]:
        return tuple((what, name, n) for (what, name), n in self.counts.items())


def _read(f: FieldDecl, value: object, check: FieldChecker, name: str) -> Any:
    if value is None or (isinstance(value, str) and not value.strip() and f.type != "text"):
        if f.default is not None:
            return f.default
        if f.type == "list of text":
            return ()
        if not f.optional:
            check.add(name, f"{name} is missing")
        return None
    try:
        return parse_value(f, value, name)
    except ValueError as exc:
        check.problems.append(BadField(name, str(exc)))
        return None


class ExtraFields:
    """How one declaration's extra fields are read, per entity."""

    def __init__(self, decl: FactsDecl | None) -> None:
        self.decl = decl if decl is not None else standard()
        self.extras = {e: self.decl.extra_fields(e) for e in ("member", "account", "claim",
                                                                "event")}
        self.keys = {e: self.decl.keys(e) for e in ("member", "account", "claim", "event")}
        # a member lists its accounts and events; a transfer may say what came `with` it
        self.keys["member"] |= {"accounts", "events"}
        self.keys["event"] |= {"with"}
        self.unknown = UnknownNames()
        self.active = self.decl.has_extras

    def read(self, entity: str, raw: Mapping[str, object], check: FieldChecker) -> Extra:
        """The extra fields of ``entity`` in ``raw`` (a JSON object), problems in ``check``;
        keys neither standard nor declared are counted as unknown."""
        self.count_unknown(entity, raw)
        fields = self.extras[entity]
        if not fields:
            return ()
        return tuple((f.name, _read(f, raw.get(f.name), check, f.name)) for f in fields)

    def count_unknown(self, entity: str, raw: Mapping[str, object]) -> None:
        """Count the keys of ``raw`` that are neither standard nor declared (a key set to
        true on an event is what accompanied a transfer)."""
        keys = self.keys[entity]
        if not keys.issuperset(raw):
            for key in raw:
                if key not in keys and not (entity == "event" and raw[key] is True):
                    self.unknown.add(f"{entity} key", str(key))

    def absent_event_fields(self) -> Extra:
        """The declared event fields of an event that carries none of them."""
        return tuple((f.name, () if f.type == "list of text" else f.default)
                     for f in self.extras["event"])

    def event(self, kind: str, raw: Mapping[str, object], check: FieldChecker) -> Extra:
        """The extra fields of an event of type ``kind``: those its type carries are
        required; any other declared one is read when present."""
        fields = self.extras["event"]
        if not fields:
            return ()
        decl = self.decl.event_types.get(kind)
        carried = decl.fields if decl is not None else ()
        out = []
        for f in fields:
            value = raw.get(f.name)
            required = f.name in carried or not self.decl.event_field_optional(f.name)
            if value is None and not required:
                out.append((f.name, () if f.type == "list of text" else f.default))
                continue
            out.append((f.name, _read(f, value, check, f.name)))
        return tuple(out)

    # -- snapshot tables ---------------------------------------------------------------

    def columns(self) -> tuple[ColumnDecl, ...]:
        """The declared columns beyond the standard ones, in declared order."""
        return self.decl.extra_columns()

    def header(self, names: Sequence[str]) -> list[str]:
        """The columns of a header the declaration does not know."""
        return [n for n in names if n and n not in self.decl.columns and not
                n.startswith("__")]

    def row(self, cells: Sequence[str | None], check: FieldChecker
            ) -> tuple[Extra, Extra, list[tuple[str, str, Any]]]:
        """A row's extra cells (in :meth:`columns` order) read: the account's fields, the
        member's fields and the latest events as (type, on, date)."""
        account: list[tuple[str, Any]] = []
        member: list[tuple[str, Any]] = []
        events: list[tuple[str, str, Any]] = []
        for col, cell in zip(self.columns(), cells, strict=True):
            text = cell.strip() if isinstance(cell, str) else cell
            if text == "":
                text = None
            if col.latest is not None:
                if text is not None:
                    try:
                        day = parse_value(FieldDecl("event", col.name, "date"), text, col.name)
                    except ValueError as exc:
                        check.problems.append(BadField(col.name, str(exc)))
                    else:
                        events.append((col.latest, col.on, day))
                continue
            assert col.entity is not None and col.field is not None
            f = self.decl.field(col.entity, col.field)
            assert f is not None
            value = _read(f, text, check, col.name)
            (member if col.entity == "member" else account).append((col.field, value))
        # fields declared but not mapped from a column: their default, or missing
        for entity, got in (("account", account), ("member", member)):
            have = {n for n, _ in got}
            for f in self.extras[entity]:
                if f.name not in have:
                    got.append((f.name, _read(f, None, check, f.name)))
            order = [f.name for f in self.extras[entity]]
            got.sort(key=lambda item: order.index(item[0]))
        return tuple(account), tuple(member), events


def snapshot_cells(text: str, source: str, extra: ExtraFields
                   ) -> Iterator[tuple[int, tuple[str | None, ...] | RaggedRow]]:
    """(line, cells) of each row of a CSV snapshot: the standard cells, then the declared
    extra ones (None when the header lacks the column); the non-empty cells of columns the
    declaration does not know are counted in ``extra.unknown``."""
    wanted = ("kind", *(c.name for c in extra.columns()))
    header, rows = csv_table(text, source, SNAPSHOT_COLUMNS, wanted)
    unknown = [(i, n) for i, n in enumerate(header.names) if n in extra.header(header.names)]
    pick = itemgetter(*header.positions)
    for line, cells in rows:
        if isinstance(cells, RaggedRow):
            yield line, cells
            continue
        for i, name in unknown:
            if cells[i].strip():
                extra.unknown.add("column", name)
        cells.append(None)  # type: ignore[arg-type]  # an absent optional column: -1
        yield line, pick(cells)
