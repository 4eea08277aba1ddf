"""Portfolio datasets read natively for the columnar backend: the accounts table as a
snapshot :class:`~evaluator.facts.table.Table` (its ``last_*`` columns optional) and the
events table (CSV, Parquet file or hive-partitioned ``NAME.parquet/`` folder) read and
checked with polars into ``Table.events``, one row per event of an evaluable member in the
scalar backend's order. Only the rows the vector checks cannot vouch for are read by the
scalar builder, which alone words record errors, so events, record errors and warnings are
exactly :func:`~evaluator.facts.dataset.load_dataset`'s. :func:`dataset_facts` turns such
a Table (or some of its members) back into the scalar backend's facts."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from evaluator.declared import FactsDecl, FieldDecl
from evaluator.errors import Unsupported
from evaluator.facts.builder import FactsBuilder
from evaluator.facts.dataset import (
    OPTIONAL_COLUMNS,
    UNUSABLE,
    as_event,
    orphan_warning,
    read_frame,
)
from evaluator.facts.declcols import parse_cell
from evaluator.facts.eventtext import EventText, cell, event_text
from evaluator.facts.fields import MAX_ID_LENGTH, BadField
from evaluator.facts.fx import parse_fx_csv
from evaluator.facts.model import (
    AMOUNT_EVENT_TYPES,
    EVENT_TYPES,
    NOTICE_MARKS,
    WHOLE_RECORD,
    Event,
    Facts,
    RecordError,
)
from evaluator.facts.table import Table, table_from_frame
from evaluator.facts.tablecols import extra_column

__all__ = ["dataset_facts", "read_dataset_table", "read_table_events"]

#: a bound on the scaled integers amounts are held in (``table.UNITS_LIMIT``)
_UNITS_LIMIT = 9 * 10**18
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_AMOUNT_RE = r"^-?[0-9]+(\.[0-9]+)?$"
# Python's str.strip() also strips these; polars' strip_chars() does not: such a row is
# read by the scalar builder from its cells as the file has them
_ODD_RE = r"[\x1c-\x1f]"
_EMPTY_ITEM_RE = r"(^|;)\s*(;|$)"
# a cell that stripping changes or that is empty
_TO_CLEAN_RE = r"^\s|\s$|^$"
# what became of an event row (the scalar reader's steps, in its order)
_NO_ID, _NO_MEMBER, _NO_ACCOUNT, _SKIP, _CHECK = range(5)


def read_dataset_table(accounts: str | os.PathLike[str], events: str | os.PathLike[str],
                       fx: str | os.PathLike[str] | None = None, *,
                       decl: FactsDecl | None = None) -> tuple[Table, list[str]]:
    """The dataset of an accounts table and an events table (plus an optional FX CSV file)
    as a :class:`Table` with ``events``, read by the declared facts ``decl`` (None: the
    standard declaration), and the warnings about event rows of no member or account."""
    accounts_source = os.fspath(accounts)
    raw, ragged, digest = read_frame(accounts_source, "facts file")
    for column in OPTIONAL_COLUMNS:
        if column not in raw.columns:
            raw = raw.with_columns(pl.lit(None, pl.String).alias(column))
    fx_rates = parse_fx_csv(fx) if fx is not None else {}
    table = table_from_frame(raw, fx_rates, accounts_source, ragged=ragged, decl=decl)
    table.sha256 = digest
    return read_table_events(table, os.fspath(events), decl)


def read_table_events(table: Table, source: str, decl: FactsDecl | None, *,
                      rows: pl.DataFrame | None = None,
                      keep: Callable[[pl.Series, pl.Series], pl.Series] | None = None,
                      known: Callable[[pl.Series, pl.Series], pl.DataFrame] | None = None,
                      ragged: bool = True) -> tuple[Table, list[str]]:
    """The events of the accounts ``table`` read from the events table ``source`` (see
    :func:`read_dataset_table`). For a part of a dataset (:mod:`evaluator.facts.eventrange`):
    ``rows``, a Parquet table's rows already read (its columns and ``__line``); ``keep``,
    given the member and account cells of the rows as written, says which rows are the
    part's; ``known``, given those of the rows kept, the (member_id, account_id) pairs of
    the accounts table's other rows that they name (known as rows in errors are);
    ``ragged``: whether the rows that do not match the header are the part's to report."""
    text = event_text(source, rows)
    if keep is not None or known is not None:
        cells = [text.frame.get_column(cell(n)) if cell(n) in text.frame.columns else
                 pl.Series(cell(n), [None] * text.frame.height, pl.String)
                 for n in ("member_id", "account_id")]
        if keep is not None:
            mask = keep(*cells)
            text.frame = text.frame.filter(mask)
            cells = [c.filter(mask) for c in cells]
    if not ragged:
        text.ragged = []
    reader = _EventReader(table, source, decl)
    if known is not None:
        pairs = known(*cells)
        if pairs.height:
            reader.errs = pl.concat([reader.errs, pairs.select(reader.errs.columns)]).unique()
    return reader.read(text)


# -- reading the rows -------------------------------------------------------------------------

@dataclass
class _Outcomes:
    """What the scalar builder made of the rows given to it."""

    orphans: list[tuple[int, str, str]] = field(default_factory=list)
    no_member: list[tuple[int, str]] = field(default_factory=list)
    no_account: list[tuple[int, str]] = field(default_factory=list)
    unknown: list[tuple[int, str]] = field(default_factory=list)
    bad: dict[str, list[tuple[str, list[BadField]]]] = field(default_factory=dict)
    good: list[tuple[int, str, Event]] = field(default_factory=list)


class _EventReader:
    """The events of one accounts :class:`Table` read from one events table."""

    def __init__(self, table: Table, source: str, decl: FactsDecl | None) -> None:
        self.table = table
        self.source = source
        self.name = Path(source).name
        self.builder = FactsBuilder(source, decl)
        extra = self.builder.extra
        self.decl = extra.decl
        self.types = tuple(self.decl.event_types) if extra.active else EVENT_TYPES
        self.fields: tuple[FieldDecl, ...] = extra.extras["event"]
        self.known_keys = extra.keys["event"]
        ids = table.frame.select("member_id", "account_id", "__member_order")
        pairs = [(e.member_id, e.account_id) for e in table.errors
                 if e.member_id is not None and e.account_id is not None]
        #: the (member, account) pairs of the accounts table's rows in errors
        self.errs = pl.DataFrame(pairs, schema={"member_id": pl.String,
                                                "account_id": pl.String}, orient="row").unique()
        self.ids = ids

    def read(self, text: EventText) -> tuple[Table, list[str]]:
        header = text.header
        frame = self._classify(self._cleaned(text)).with_columns(
            pl.col("c:date").str.strptime(pl.Date, "%Y-%m-%d", strict=False).alias("__date"))
        odd = frame.filter(pl.col("__odd"))
        if odd.height:
            frame = frame.filter(~pl.col("__odd"))
        frame = frame.hstack(_amounts(frame))
        ok = self._valid(header)
        frame = frame.with_columns(((pl.col("__status") == _CHECK) & ok.fill_null(False))
                                   .alias("__ok"))
        doubted = frame.filter((pl.col("__status") == _CHECK) & ~pl.col("__ok"))
        outcomes = self._scalar(header, text, odd, doubted)
        warnings = self._warnings(frame, outcomes)
        unknown = self._unknown(header, frame, outcomes)
        good = frame.lazy().filter(pl.col("__ok") & (pl.col("c:account_id").is_null()
                                                     | pl.col("__loaded_a")))
        table = self.table
        bad = set(outcomes.bad)
        if bad:
            good = good.filter(~pl.col("c:member_id").is_in(list(bad)))
        errors = list(table.errors) + self._member_errors(outcomes.bad)
        errors += [RecordError(f"{self.name} row {line}: {message}", field=name,
                               location=f"{self.name} row {line}")
                   for line, message, name in self._orphans(frame, text, outcomes)]
        if bad:
            table.frame = table.frame.filter(~pl.col("member_id").is_in(list(bad)))
        table.errors = errors
        table.unknown = (*table.unknown, *unknown)
        # the good rows' cells and what the events frame reads of them, then the text
        # let go (the wide frames are a third of a GB per million events) before the
        # events frame is made
        rows = self._event_rows(good)
        del frame, odd, doubted, good
        text.frame = text.frame.clear()
        table.events, table.event_amount_scale, scales = self._events(rows, outcomes, bad)
        table.extra_scales = {**table.extra_scales, **scales}
        return table, warnings

    # -- cells and what became of each row

    def _cleaned(self, text: EventText) -> pl.DataFrame:
        """The rows with their cells stripped (empty: null), ``__odd`` (a row the scalar
        builder reads from its cells as written), blank CSV rows dropped."""
        cols = [cell(h) for h in text.header]
        raw = text.frame
        # a scan per column that copies nothing (one for both questions, and a second
        # only for a column that it flags); strip only where needed
        # (over the present cells only: a Parquet column's null cells may still hold the
        # text of another row, which a regex would scan for nothing)
        attention = (raw.select([pl.col(c).drop_nulls().str.contains(
            f"{_ODD_RE}|{_TO_CLEAN_RE}").any().alias(c) for c in cols]).row(0) if raw.height
                     else (False,) * len(cols))
        flagged = [c for c, flag in zip(cols, attention, strict=True) if flag]
        flags: tuple[Any, ...] = (raw.select(
            *[pl.col(c).drop_nulls().str.contains(_ODD_RE).any().alias(f"o:{c}")
              for c in flagged],
            *[pl.col(c).drop_nulls().str.contains(_TO_CLEAN_RE).any().alias(f"s:{c}")
              for c in flagged]
        ).row(0) if flagged else ())
        odd_cols = [c for c, flag in zip(flagged, flags[:len(flagged)], strict=True) if flag]
        to_clean = [c for c, flag in zip(flagged, flags[len(flagged):], strict=True) if flag]
        odd = (pl.any_horizontal([pl.col(c).str.contains(_ODD_RE).fill_null(False)
                                  for c in odd_cols]) if odd_cols else pl.lit(False))
        kept = pl.when(odd).then(pl.struct(cols)) if odd_cols else pl.lit(None, pl.String)
        stripped = [pl.col(c).str.strip_chars() for c in to_clean]
        frame = raw.with_columns(odd.alias("__odd"), kept.alias("__raw"), *[
            pl.when(s == "").then(None).otherwise(s).alias(c) for s, c in zip(
                stripped, to_clean, strict=True)])
        if text.csv and frame.height:
            blank = pl.all_horizontal([pl.col(c).is_null() for c in cols])
            if frame.select(blank.any()).item():
                frame = frame.filter(pl.col("__odd") | ~blank)
        for name in ("account_id", "amount", "mark", "attachments", "with"):
            if cell(name) not in frame.columns:
                frame = frame.with_columns(pl.lit(None, pl.String).alias(cell(name)))
        return frame

    def _classify(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with ``__status`` (the scalar reader's step that decides the row), the
        member's ``__member_order``, whether the account is known to the member
        (``__pair``) and loaded (``__loaded_a``)."""
        ids, errs = self.ids, self.errs
        # the loaded members (each account loaded once, a member's rows together), then
        # the members whose every account is in errors
        start = (pl.col("__member_order") != pl.col("__member_order").shift(1)).fill_null(True)
        loaded = ids.filter(start).select("member_id", "__member_order")
        members = pl.concat([loaded, errs.select("member_id").unique().join(
            loaded, on="member_id", how="anti").with_columns(
            pl.lit(None, ids.schema["__member_order"]).alias("__member_order"))]
        ).with_columns(pl.lit(True).alias("__known_m"))
        # each account's member and whether it has more than one (an id that repeats
        # across members: the builder checks the pair)
        accounts = ids.select("account_id", pl.col("member_id").alias("__owner"),
                              pl.lit(False).alias("__shared"), pl.lit(True).alias("__loaded_a"))
        if errs.height:
            touched = errs.get_column("account_id").unique().implode()
            both = pl.concat([
                accounts.filter(pl.col("account_id").is_in(touched)).drop("__shared"),
                errs.select("account_id", pl.col("member_id").alias("__owner"),
                            pl.lit(False).alias("__loaded_a"))])
            fixed = both.group_by("account_id", maintain_order=True).agg(
                pl.col("__owner").first(), (pl.col("__owner").n_unique() > 1).alias("__shared"),
                pl.col("__loaded_a").any())
            accounts = pl.concat([accounts.filter(~pl.col("account_id").is_in(touched)),
                                  fixed.select(accounts.columns)])
        accounts = accounts.with_columns(pl.lit(True).alias("__known_a"))
        m, a = pl.col("c:member_id"), pl.col("c:account_id")
        # joined on the two id columns alone (the same rows in the same order), so the
        # wide frame is not copied by each join
        keys = frame.lazy().select(m, a).join(
            members.lazy(), left_on="c:member_id", right_on="member_id", how="left",
            maintain_order="left").join(
            accounts.lazy(), left_on="c:account_id", right_on="account_id", how="left",
            maintain_order="left")
        pair = (pl.col("__owner") == m) & ~pl.col("__shared")
        status = (pl.when(m.is_null()).then(_NO_ID)
                  .when(pl.col("__known_m").is_null()).then(_NO_MEMBER)
                  .when(a.is_not_null() & pl.col("__known_a").is_null()).then(_NO_ACCOUNT)
                  .when(pl.col("__member_order").is_null()).then(_SKIP)
                  .otherwise(_CHECK))
        found = keys.select(status.cast(pl.UInt8).alias("__status"), pl.col("__member_order"),
                            pair.fill_null(False).alias("__pair"),
                            pl.col("__loaded_a").fill_null(False)).collect()
        assert found.height == frame.height
        return frame.hstack(found.get_columns())

    def _valid(self, header: list[str]) -> pl.Expr:
        """Whether a row the builder would read is certainly a valid event (a row that is
        not goes to the builder, which words its problems or finds it valid after all)."""
        t, a = pl.col("c:type"), pl.col("c:account_id")
        date = pl.col("c:date")
        ok = (date.str.contains(_DATE_RE) & ~date.str.starts_with("0000")
              & pl.col("__date").is_not_null())
        ok = ok & t.is_in(list(self.types))
        needs = t.is_in(list(self.builder.account_types)) | a.is_not_null()
        ok = ok & (~needs | (a.is_not_null() & (a.str.len_chars() <= MAX_ID_LENGTH)
                             & pl.col("__pair")))
        amount_ok = pl.col("__amount_ok")
        ok = ok & (~t.is_in(list(AMOUNT_EVENT_TYPES)) | amount_ok)
        ok = ok & ((t != "notice") | pl.col("c:mark").is_in(list(NOTICE_MARKS)))
        att = pl.col("c:attachments")
        # (a null cell filled: its slot may still hold another row's text to scan)
        ok = ok & ((t != "transfer") | att.is_null()
                   | ~att.fill_null("").str.contains(_EMPTY_ITEM_RE))
        ok = ok & pl.col("c:with").is_null()  # a `with` column: the builder reads it
        for f in self.fields:
            ok = ok & self._field(f, header)[0]
        return ok

    def _field(self, f: FieldDecl, header: list[str]
               ) -> tuple[pl.Expr, pl.Expr, pl.Expr | None]:
        """(certainly valid, typed value, decimal places or None) of a declared event
        field, as the builder reads it for the row's type."""
        text = pl.col(cell(f.name)) if f.name in header else pl.lit(None, pl.String)
        absent = text.is_null()
        carriers = [t.name for t in self.decl.event_types.values() if f.name in t.fields]
        required = (pl.col("c:type").is_in(carriers)
                    | pl.lit(not self.decl.event_field_optional(f.name)))
        ok, value, sizes = parse_cell(f, text)
        fill, fill_places = _default(f)
        missing_bad = f.default is None and f.type != "list of text" and not f.optional
        valid = (absent | ok.fill_null(False))
        if missing_bad:
            valid = valid & ~(absent & required)
        typed = pl.when(absent).then(fill).otherwise(value)
        places = None
        if sizes is not None:
            places = pl.when(absent).then(pl.lit(fill_places, pl.Int64)).otherwise(sizes[0])
        return valid, typed, places

    # -- the rows the builder reads

    def _scalar(self, header: list[str], text: EventText, odd: pl.DataFrame,
                doubted: pl.DataFrame) -> _Outcomes:
        """Rows read by the scalar builder: odd ones from their cells as written, doubted
        ones (already stripped the same way) from their cells."""
        out = _Outcomes()
        if odd.height == 0 and doubted.height == 0:
            return out
        rows: list[tuple[int, dict[str, str | None], bool]] = []
        for line, raw in odd.select("__line", "__raw").iter_rows():
            cells = {h: (None if v is None or not v.strip() else v.strip())
                     for h, v in zip(header, raw.values(), strict=True)}
            rows.append((line, cells, True))
        for row in doubted.select("__line", *map(cell, header)).iter_rows():
            rows.append((row[0], dict(zip(header, row[1:], strict=True)), False))
        rows.sort(key=lambda r: r[0])
        lookup = _Lookup(self.errs, self.ids, {r[1].get("member_id") for r in rows},
                         {r[1].get("account_id") for r in rows})
        for line, cells, classify in rows:
            self._scalar_row(line, cells, classify, lookup, out, text.csv)
        return out

    def _scalar_row(self, line: int, cells: dict[str, str | None], classify: bool,
                    lookup: _Lookup, out: _Outcomes, skip_blank: bool) -> None:
        """One row as the scalar reader takes it (``classify``: from its first step)."""
        member_id, account_id = cells.get("member_id"), cells.get("account_id")
        if classify:
            if skip_blank and all(v is None for v in cells.values()):
                return
            if member_id is None:
                out.orphans.append((line, "an event row without member_id", "member_id"))
                return
            if member_id not in lookup.accounts_of:
                out.no_member.append((line, member_id))
                return
            if account_id is not None and account_id not in lookup.owned:
                out.no_account.append((line, account_id))
                return
            if member_id not in lookup.members:
                return
        assert member_id is not None
        raw = as_event(cells)
        if classify:  # (a doubted row's keys are counted with the rows read natively)
            out.unknown += [(line, key) for key in raw if key not in self.known_keys]
        event, problems = self.builder.event(raw, lookup.accounts_of[member_id], member_id)
        if event is None:
            out.bad.setdefault(member_id, []).append((f"{self.name} row {line}", problems))
        elif event.account_id is None or event.account_id in lookup.loaded:
            out.good.append((line, member_id, event))

    # -- errors, warnings, unknown columns

    def _member_errors(self, bad: dict[str, list[tuple[str, list[BadField]]]]
                       ) -> list[RecordError]:
        """One record error per account of each member with a bad event row."""
        if not bad:
            return []
        errors: list[RecordError] = []
        rows = self.table.frame.filter(pl.col("member_id").is_in(list(bad))).select(
            "member_id", "account_id")
        for member_id, account_id in rows.iter_rows():
            problems_of = bad[member_id]
            loc, problems = problems_of[0]
            more = (f" (and {len(problems_of) - 1} more bad event rows)"
                    if len(problems_of) > 1 else "")
            message = "; ".join(p.message for p in problems)
            errors.append(RecordError(f"{loc}: {message}{more}; {UNUSABLE}", member_id,
                                      account_id, field=problems[0].field, location=loc))
        return errors

    @staticmethod
    def _orphans(frame: pl.DataFrame, text: EventText, out: _Outcomes
                 ) -> list[tuple[int, str, str]]:
        """(line, message, field) of each row that is no member's, in file order."""
        missing = frame.filter(pl.col("__status") == _NO_ID).get_column("__line").to_list()
        rows = [(line, "an event row without member_id", "member_id") for line in missing]
        rows += [(line, message, WHOLE_RECORD) for line, message in text.ragged]
        rows += out.orphans
        return sorted(rows, key=lambda r: r[0])

    def _warnings(self, frame: pl.DataFrame, out: _Outcomes) -> list[str]:
        warnings = []
        for status, column, extra, one, many in (
                (_NO_MEMBER, "c:member_id", out.no_member, "member", "members"),
                (_NO_ACCOUNT, "c:account_id", out.no_account, "account", "accounts")):
            counts = _first_seen(frame.filter(pl.col("__status") == status), column, extra)
            if counts:
                warnings.append(orphan_warning(self.source, counts, one, many))
        return warnings

    def _unknown(self, header: list[str], frame: pl.DataFrame, out: _Outcomes
                 ) -> list[tuple[str, str, int]]:
        """The event keys the declaration does not know, as the builder counts them: the
        rows it reads with a cell in the column, in the order it first meets each."""
        names = [h for h in header if h not in ("member_id", "attachments")
                 and h not in self.known_keys]
        if not names:
            return []
        checked = frame.filter(pl.col("__status") == _CHECK)
        found: dict[str, tuple[int, int]] = {}  # name: (rows, first line)
        if checked.height:
            stats = checked.select(*[
                e for n in names for e in (pl.col(cell(n)).is_not_null().sum().alias(f"n:{n}"),
                                           pl.col("__line").filter(pl.col(cell(n)).is_not_null())
                                           .min().alias(f"l:{n}"))]).row(0, named=True)
            for n in names:
                if stats[f"n:{n}"]:
                    found[n] = (int(stats[f"n:{n}"]), int(stats[f"l:{n}"]))
        for line, key in out.unknown:
            count, first = found.get(key, (0, line))
            found[key] = (count + 1, min(first, line))
        # the builder meets a row's keys in the order of its columns
        order = sorted(found, key=lambda n: (found[n][1], header.index(n)))
        return [("event key", n, found[n][0]) for n in order]

    # -- the events frame

    def _event_rows(self, good: pl.LazyFrame) -> pl.DataFrame:
        """The events of the rows read natively, in the events' columns (amounts and
        declared numbers not yet at their column's scale) with their origin (``__src``,
        ``__k1``, ``__k2``), from the cells only these read."""
        header_fields = self.fields
        t = pl.col("c:type")
        amount_units, amount_places = pl.col("__amount_units"), pl.col("__amount_places")
        is_amount = t.is_in(list(AMOUNT_EVENT_TYPES))
        att = pl.col("c:attachments")
        listed = (t == "transfer") & att.is_not_null()
        header = [c[2:] for c in good.collect_schema().names() if c.startswith("c:")]
        cols: list[pl.Expr] = [
            pl.col("__member_order"), pl.lit(1, pl.UInt8).alias("__src"),
            pl.col("__line").cast(pl.Int64).alias("__k1"), pl.lit(0, pl.Int64).alias("__k2"),
            pl.col("c:account_id").alias("account_id"),
            pl.col("__date").alias("date"),
            t.alias("type"),
            pl.when(t == "notice").then(pl.col("c:mark")).alias("mark"),
            pl.when(is_amount).then(amount_units).alias("amount"),
            pl.when(is_amount).then(amount_places).alias("__p:amount"),
            pl.lit([], pl.List(pl.String)).alias("attachments")]
        for f in header_fields:
            _, typed, places = self._field(f, header)
            name = extra_column("event", f.name)
            cols.append(typed.cast(_dtype(f.type)).alias(name))
            if places is not None:
                cols.append(places.cast(pl.Int64).alias(f"__p:{name}"))
        # the transfers' attachments split on their own rows only (a list per row of the
        # whole column costs seconds per million rows; the rest hold the empty list)
        cells = good.select(*[cell(h) for h in header], "__member_order", "__line", "__date",
                            "__amount_units", "__amount_places", listed.alias("__listed")
                            ).collect()
        if not cells.get_column("__listed").any():
            return cells.select(cols)
        # (unique and sorted inside list.eval: list.sort costs 10 µs a row in polars 2.1)
        items = att.str.split(";").list.eval(pl.element().str.strip_chars().unique().sort())
        lists = [items.alias("attachments") if c.meta.output_name() == "attachments" else c
                 for c in cols]
        return pl.concat(pl.collect_all([cells.lazy().filter(~pl.col("__listed")).select(cols),
                                         cells.lazy().filter(pl.col("__listed")).select(lists)]))

    def _events(self, rows: pl.DataFrame, out: _Outcomes, bad: set[str]
                ) -> tuple[pl.DataFrame, int, dict[str, int]]:
        """``Table.events`` (see evshape) from the events of the rows read natively (see
        :meth:`_event_rows`), the amount's scale and the declared scaled fields'
        scales."""
        header_fields = self.fields
        schema = rows.schema
        parts = [rows, self._python_rows(out, bad, schema), self._table_rows(schema)]
        events = pl.concat([p for p in parts if p.height] or [rows], how="vertical")
        scaled = {"amount": 2}
        for f in header_fields:
            if f.type in ("money", "decimal", "percent"):
                scaled[extra_column("event", f.name)] = 2 if f.type == "money" else 0
        scales: dict[str, int] = {}
        fixes: list[pl.Expr] = []
        for name, least in scaled.items():
            places = pl.col(f"__p:{name}")
            most = events.select(places.max()).item()
            scale = max(least, int(most or 0))
            factor = pl.lit(10, pl.Int64).pow(pl.lit(scale, pl.Int64) - places)
            biggest = events.select((pl.col(name).abs().cast(pl.Float64)
                                     * factor.cast(pl.Float64)).max()).item()
            if biggest is not None and biggest >= _UNITS_LIMIT:
                what = "amounts" if name == "amount" else f"values of {name}"
                raise Unsupported(f"event {what} too large for exact 64-bit integers with "
                                  f"{scale} decimal places")
            fixes.append((pl.col(name) * factor).alias(name))
            scales[name] = scale
        # the scalar order: by date, then the accounts table's events (by row and slot),
        # then the events table's (by row); the sort carries only the columns kept
        origin = (pl.col("__src").cast(pl.Int64) * (1 << 48) + pl.col("__k1") * 256
                  + pl.col("__k2"))
        nulls = events.select(pl.col("__member_order").null_count() + pl.col("date")
                              .null_count()).item() if events.height else 1
        order: list[pl.Expr | str] = ["__member_order", "date", "__origin"]
        if not nulls:  # member and day as one integer key (a third less time than three)
            day = pl.col("date").cast(pl.Int64)
            low = events.select(day.min()).item()
            order = [pl.col("__member_order").cast(pl.UInt64) * pl.lit(1 << 32, pl.UInt64)
                     + (day - pl.lit(low, pl.Int64)).cast(pl.UInt64), "__origin"]
        at = pl.int_range(pl.len(), dtype=pl.UInt32)
        start = (pl.col("__member_order") != pl.col("__member_order").shift(1)).fill_null(True)
        first = pl.when(start).then(at).forward_fill()
        keep = ["__member_order", "account_id", "__seq", "date", "type", "mark", "amount",
                "attachments", *[extra_column("event", f.name) for f in header_fields]]
        amount_scale = scales.pop("amount")
        events = events.with_columns(*fixes, origin.alias("__origin")).select(
            *keep[:2], *keep[3:], "__origin").sort(order)
        return events.with_columns((at - first).alias("__seq")).select(keep), amount_scale, \
            scales

    def _python_rows(self, out: _Outcomes, bad: set[str], schema: pl.Schema) -> pl.DataFrame:
        """The rows the builder found valid after all, in the events' columns."""
        if not out.good:
            return pl.DataFrame(schema=schema)
        order = dict(self.ids.group_by("member_id").agg(pl.col("__member_order").first())
                     .filter(pl.col("member_id").is_in(list({m for _, m, _ in out.good})))
                     .iter_rows())
        records: list[dict[str, Any]] = []
        for line, member_id, e in out.good:
            if member_id in bad:
                continue
            units, places = _units(e.amount)
            record: dict[str, Any] = {
                "__member_order": order[member_id], "__src": 1, "__k1": line, "__k2": 0,
                "account_id": e.account_id, "date": e.date, "type": e.type, "mark": e.mark,
                "amount": units, "__p:amount": places, "attachments": list(e.attachments)}
            for f_name, value in e.extra:
                name = extra_column("event", f_name)
                if f"__p:{name}" in schema:
                    record[name], record[f"__p:{name}"] = _units(value)
                else:
                    record[name] = list(value) if isinstance(value, tuple) else value
            records.append(record)
        return pl.DataFrame(records, schema=schema, orient="row")

    def _table_rows(self, schema: pl.Schema) -> pl.DataFrame:
        """The events the accounts table's latest dates make (as a snapshot's), in the
        snapshot loader's order: per row, the account's, then the member's once per day."""
        frame = self.table.frame
        slots = [("last_transaction", "transaction", "account"),
                 ("last_statement_ack", "statement_ack", "member"),
                 ("last_response", "response", "member")]
        slots += [(extra_column("latest", c.name), c.latest, c.on)
                  for c in self.decl.extra_columns() if c.latest is not None]
        parts: dict[str, list[pl.DataFrame]] = {"account": [], "member": []}
        for k, (column, kind, on) in enumerate(slots):
            if column not in frame.columns:
                continue
            parts[on].append(frame.filter(pl.col(column).is_not_null()).select(
                pl.col("__member_order"), pl.col("__line").cast(pl.Int64).alias("__k1"),
                pl.lit(k, pl.Int64).alias("__k2"),
                (pl.col("account_id") if on == "account" else pl.lit(None, pl.String))
                .alias("account_id"), pl.col(column).alias("date"),
                pl.lit(kind, pl.String).alias("type")))
        found = parts["account"]
        if parts["member"]:
            member = pl.concat(parts["member"]).sort(["__member_order", "__k1", "__k2"])
            found.append(member.unique(["__member_order", "type", "date"], keep="first",
                                       maintain_order=True))
        if not found:
            return pl.DataFrame(schema=schema)
        rows = pl.concat(found)
        fill: list[pl.Expr] = [pl.lit(0, pl.UInt8).alias("__src"),
                               pl.lit(None, pl.String).alias("mark"),
                               pl.lit(None, pl.Int64).alias("amount"),
                               pl.lit(None, pl.Int64).alias("__p:amount"),
                               pl.lit([], pl.List(pl.String)).alias("attachments")]
        for f in self.fields:
            name = extra_column("event", f.name)
            value, places = _default(f)
            fill.append(value.cast(_dtype(f.type)).alias(name))
            if f"__p:{name}" in schema:
                fill.append(pl.lit(places, pl.Int64).alias(f"__p:{name}"))
        return rows.with_columns(fill).select(
            [pl.col(n).cast(d) for n, d in schema.items()])


class _Lookup:
    """The accounts table's ids that the rows read by the builder name, as the scalar
    reader keeps them: each member's accounts (loaded or in errors), every such account,
    the loaded members and the loaded accounts."""

    def __init__(self, errs: pl.DataFrame, ids: pl.DataFrame, members: set[str | None],
                 accounts: set[str | None]) -> None:
        wanted_m = pl.Series([m for m in members if m is not None], dtype=pl.String)
        wanted_a = pl.Series([a for a in accounts if a is not None], dtype=pl.String)
        pairs = pl.concat([ids.select("member_id", "account_id"), errs])
        self.accounts_of: dict[str, set[str]] = {}
        for m, a in pairs.filter(pl.col("member_id").is_in(wanted_m.implode())).iter_rows():
            self.accounts_of.setdefault(m, set()).add(a)
        self.owned = set(pairs.filter(pl.col("account_id").is_in(wanted_a.implode()))
                         .get_column("account_id").to_list())
        self.members = set(ids.filter(pl.col("member_id").is_in(wanted_m.implode()))
                           .get_column("member_id").to_list())
        self.loaded = set(ids.filter(pl.col("account_id").is_in(wanted_a.implode()))
                          .get_column("account_id").to_list())


def _first_seen(rows: pl.DataFrame, column: str, extra: list[tuple[int, str]]
                ) -> dict[str, int]:
    """Rows per id of ``column``, in the order the ids are first met (with the builder's
    ``extra`` (line, id) rows)."""
    stats: dict[str, tuple[int, int]] = {}
    if rows.height:
        for key, n, first in rows.group_by(column).agg(
                pl.len(), pl.col("__line").min()).iter_rows():
            stats[key] = (int(n), int(first))
    for line, key in extra:
        n, first = stats.get(key, (0, line))
        stats[key] = (n + 1, min(first, line))
    return {k: stats[k][0] for k in sorted(stats, key=lambda k: stats[k][1])}


def _amounts(frame: pl.DataFrame) -> list[pl.Series]:
    """``__amount_ok``, ``__amount_units`` and ``__amount_places`` of every row (what
    :func:`_amount_parts` makes of its ``amount`` cell; no cell: null, null, 0), made from
    the rows with an amount only: most events have none (and a Parquet column's null
    slots may hold other rows' text, which the patterns would scan)."""
    at = frame.select(pl.arg_where(pl.col("c:amount").is_not_null())).to_series()
    ok, units, places = _amount_parts(pl.col("c:amount"))
    found = frame.select(pl.col("c:amount").gather(at)).select(
        ok.alias("ok"), units.alias("units"), places.alias("places"))
    height = frame.height
    return [pl.repeat(None, height, dtype=pl.Boolean, eager=True).scatter(
                at, found.get_column("ok")).alias("__amount_ok"),
            pl.repeat(None, height, dtype=pl.Int64, eager=True).scatter(
                at, found.get_column("units")).alias("__amount_units"),
            pl.repeat(0, height, dtype=pl.Int64, eager=True).scatter(
                at, found.get_column("places")).alias("__amount_places")]


def _amount_parts(text: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Whether a cell is an amount the builder takes (a decimal, not negative, at most 18
    digits), its digits as an integer and its decimal places."""
    body = text.str.strip_prefix("-")
    digits = body.str.replace(".", "", literal=True)
    ok = (text.str.contains(_AMOUNT_RE) & (digits.str.len_chars() <= 18)
          & (~text.str.starts_with("-") | digits.str.contains("^0+$")))
    places = body.str.extract(r"\.([0-9]+)$", 1).fill_null("").str.len_chars().cast(pl.Int64)
    return ok, digits.cast(pl.Int64, strict=False), places


def _units(value: Any) -> tuple[int | None, int | None]:
    """A Decimal as (integer, decimal places); (None, None) for None."""
    if value is None:
        return None, None
    number = Decimal(value)
    places = max(0, -int(number.as_tuple().exponent))
    units = int(number.scaleb(places))
    if abs(units) >= _UNITS_LIMIT:
        raise Unsupported(f"event values as large as {number} (beyond exact 64-bit integers)")
    return units, places


def _default(f: FieldDecl) -> tuple[pl.Expr, int | None]:
    """The value of a declared event field an event does not carry, and its places."""
    if f.default is None:
        if f.type == "list of text":
            return pl.lit([], pl.List(pl.String)), None
        return pl.lit(None, _dtype(f.type)), None
    if f.type in ("money", "decimal", "percent"):
        units, places = _units(f.default)
        return pl.lit(units, pl.Int64), places
    if f.type == "list of text":
        return pl.lit(list(f.default), pl.List(pl.String)), None
    return pl.lit(f.default, _dtype(f.type)), None


def _dtype(kind: str) -> pl.DataType:
    return {"date": pl.Date(), "bool": pl.Boolean(), "integer": pl.Int64(),
            "list of text": pl.List(pl.String()), "money": pl.Int64(),
            "decimal": pl.Int64(), "percent": pl.Int64()}.get(kind, pl.String())


def dataset_facts(table: Table, member_ids: Collection[str] | None = None) -> Facts:
    """A Table with events as the scalar backend's :class:`Facts` (of the members
    ``member_ids``, or of all, for small tables): each evaluable member's accounts read
    from the raw rows by the scalar loader, its events from ``Table.events`` (amounts and
    declared numbers at their column's decimal places), and the Table's record errors."""
    import dataclasses

    assert table.events is not None
    frame, raw, errors = table.frame, table.raw, list(table.errors)
    if member_ids is not None:
        wanted = pl.Series(list(member_ids), dtype=pl.String).implode()
        frame = frame.filter(pl.col("member_id").is_in(wanted))
        if raw is not None:
            raw = raw.filter(pl.col("member_id").str.strip_chars().is_in(wanted))
        errors = [e for e in errors if e.member_id in set(member_ids)]
    base = dataclasses.replace(table, raw=raw, ragged=[]).to_facts()
    order = dict(frame.select("member_id", "__member_order").unique().iter_rows())
    loaded = set(frame.get_column("account_id").to_list())
    fields = [f.name for f in table.decl.extra_fields("event")] if table.decl else []
    scales = {n: table.extra_scales.get(extra_column("event", n)) for n in fields}
    events: dict[Any, list[Event]] = {}
    rows = table.events.filter(pl.col("__member_order").is_in(list(order.values()))).sort(
        "__member_order", "__seq")
    for row in rows.iter_rows(named=True):
        extra = []
        for name in fields:
            value, scale = row[extra_column("event", name)], scales[name]
            if isinstance(value, list):
                value = tuple(value)
            elif value is not None and scale is not None:
                value = Decimal(value).scaleb(-scale)
            extra.append((name, value))
        amount = row["amount"]
        events.setdefault(row["__member_order"], []).append(Event(
            row["date"], row["type"], row["account_id"], row["mark"],
            None if amount is None else Decimal(amount).scaleb(-table.event_amount_scale),
            tuple(row["attachments"]), tuple(extra)))
    members = [dataclasses.replace(m, accounts=tuple(a for a in m.accounts
                                                     if a.account_id in loaded),
                                   events=tuple(events.get(order[m.member_id], ())))
               for m in base.members if m.member_id in order]
    facts: Facts = dataclasses.replace(base, members=tuple(members), errors=tuple(errors),
                                       form="dataset")
    return facts
