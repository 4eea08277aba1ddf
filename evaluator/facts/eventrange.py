"""One part of a portfolio dataset read alone: which members partition ``index`` of
``count`` holds, and the reading of only their accounts rows and events rows, so that a
Dask worker's memory follows its partition, not the dataset.

The plan comes from the accounts table's member and account ids alone (a projection of a
Parquet table; a CSV table's raw rows), each row numbered before anything is filtered, so
record errors and warnings name the file's rows as the whole read does. The members (ids
stripped as the reader strips them) that have a row with an account id are cut, in the
order of their first row, into ``count`` ranges; a cut never falls inside the span of a
member whose rows are not contiguous, so the parts' determinations, put one after the
other, are in the order of the whole table. A part then reads the accounts rows and the
events rows of its members (Parquet: the filter pushed into ``pl.scan_parquet``, and a
part other than the first looks only at the span of rows its members' rows are in, from
the first row of its first to the last of its last: one short span when the tables are in
member order, as extracts usually are, so a part does not scan the whole table) and
reads them as :func:`~evaluator.facts.eventtable.read_dataset_table` reads the whole:
duplicate account ids are judged against the whole table's first rows, and the reader
knows the accounts of other parts that its events name. Partition 0 also reads the rows
that belong to no part (accounts rows without a member, or with no account id; events rows
without a member, of no member of the accounts table, or of no account of it) and reports
the rows that do not match the header, so every record error and warning of the whole
dataset is reported by exactly one part."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from evaluator.declared import FactsDecl
from evaluator.errors import Unsupported
from evaluator.facts.csvtext import RaggedRow
from evaluator.facts.dataset import OPTIONAL_COLUMNS, read_frame
from evaluator.facts.eventtable import read_table_events
from evaluator.facts.fields import FactsError
from evaluator.facts.fx import parse_fx_csv
from evaluator.facts.table import Table, table_from_frame

__all__ = ["PY_SPACE", "PartTable", "Plan", "dataset_plan", "event_runs", "events_scan",
           "read_dataset_part",
           "rescaled", "table_scales"]

#: a bound on the scaled integers values are held in (``table.UNITS_LIMIT``)
_UNITS_LIMIT = 9 * 10**18
#: what Python's str.strip() strips (polars' strip_chars() keeps \x1c-\x1f): an events
#: row's ids as the reader takes them, its odd rows included
PY_SPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
            "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


@dataclass
class Plan:
    """The members of a dataset's accounts table, in the order of their first row, and
    where partitions may be cut."""

    #: the members with a row with an account id, in the order of their first row
    members: pl.Series
    #: ``allowed[i]``: a partition may start at member ``i`` (no member's rows span it)
    allowed: list[int]
    #: every (member_id, account_id) pair of the rows with both ids
    pairs: pl.DataFrame
    #: the accounts held by more than one member
    shared: pl.Series
    #: account ids met more than once: the line of the first row of each
    first_seen: dict[str, int]
    #: per member of ``members`` (same order): the lines of its first and last rows
    lines: pl.DataFrame | None = None

    def range(self, index: int, count: int) -> tuple[int, int]:
        """Members ``[lo, hi)`` of partition ``index`` of ``count``."""
        def cut(k: int) -> int:
            want = (k * len(self.members)) // count
            return next(p for p in self.allowed if p >= want)

        return cut(index), cut(index + 1)


@dataclass
class PartTable:
    """A part of a dataset read: its table (whose ``errors`` are the part's record errors:
    the accounts rows' first, in row order, then the events'), the warnings, and how many
    of the errors are the accounts rows'."""

    table: Table
    warnings: list[str]
    account_errors: int


def _is_parquet(source: str) -> bool:
    return Path(source).suffix.lower() == ".parquet"


def _scan(source: str) -> pl.LazyFrame:
    """A Parquet file or hive folder, its rows numbered as the whole read numbers them."""
    path = Path(source)
    if not path.exists():
        raise FactsError(f"{source}: no such file or folder")
    return pl.scan_parquet(path, hive_partitioning=path.is_dir(),
                           row_index_name="__line", row_index_offset=2)


def _member_key(values: pl.Expr, dtype: pl.DataType, edges: bool = False) -> pl.Expr:
    """An id column as the reader strips it (empty: null)."""
    text = values if dtype == pl.String else values.cast(pl.String)
    stripped = text.str.strip_chars(PY_SPACE) if edges else text.str.strip_chars()
    return pl.when(stripped == "").then(None).otherwise(stripped)


def _ids(source: str) -> pl.DataFrame:
    """The accounts table's ``__line``, member key ``m`` and account key ``a``, per row."""
    if _is_parquet(source):
        try:
            lazy = _scan(source)
            schema = lazy.collect_schema()
            if "member_id" not in schema or "account_id" not in schema:
                raise FactsError(f"{source}: the accounts table has no member_id or "
                                 "account_id column")
            return lazy.select(
                "__line", _member_key(pl.col("member_id"), schema["member_id"]).alias("m"),
                _member_key(pl.col("account_id"), schema["account_id"]).alias("a")).collect()
        except pl.exceptions.PolarsError as exc:
            raise FactsError(f"{source}: cannot read the table: {str(exc).splitlines()[0]}"
                             ) from None
    raw, _, _ = read_frame(source, "facts file")
    if "__line" not in raw.columns:
        raw = raw.with_row_index("__line", offset=2)
    cols = [_member_key(pl.col(c), raw.schema[c]).alias(k) if c in raw.columns else
            pl.lit(None, pl.String).alias(k) for c, k in (("member_id", "m"),
                                                           ("account_id", "a"))]
    return raw.select(pl.col("__line").cast(pl.UInt32), *cols)


_PLANS: dict[tuple[str, int, int], Plan] = {}


def _file_key(source: str) -> tuple[str, int, int] | None:
    """What a kept plan or run list is kept under: the file as it is now (its path, time
    and size; None when it cannot be looked at)."""
    try:
        stat = os.stat(source)
    except OSError:
        return None
    return os.path.abspath(source), stat.st_mtime_ns, stat.st_size


def dataset_plan(accounts: str | os.PathLike[str]) -> Plan:
    """The partition plan of a dataset's accounts table (kept for the table as it is)."""
    source = os.fspath(accounts)
    key = _file_key(source)
    if key is not None and key in _PLANS:
        return _PLANS[key]
    ids = _ids(source)
    pairs = ids.filter(pl.col("m").is_not_null() & pl.col("a").is_not_null()).select(
        pl.col("m").alias("member_id"), pl.col("a").alias("account_id"))
    members, allowed = _members(ids)
    # account ids met more than once (few, if any): their first rows, and those of more
    # than one member
    repeated = ids.filter(pl.col("a").is_not_null() & pl.col("a").is_duplicated())
    first_seen = dict(repeated.group_by("a").agg(pl.col("__line").min()).iter_rows())
    shared = repeated.filter(pl.col("m").is_not_null()).group_by("a").agg(
        pl.col("m").n_unique()).filter(pl.col("m") > 1).get_column("a")
    lines = ids.filter(pl.col("m").is_not_null()).group_by("m").agg(
        pl.col("__line").min().alias("first"), pl.col("__line").max().alias("last"))
    lines = members.to_frame("m").join(lines, on="m", how="left", maintain_order="left")
    plan = Plan(members, allowed, pairs, shared, first_seen, lines.drop("m"))
    if key is not None:
        _PLANS.clear()
        _PLANS[key] = plan
    return plan


def _members(ids: pl.DataFrame) -> tuple[pl.Series, list[int]]:
    """The members with a row with an account id, in the order of their first row, and
    where partitions may start: anywhere when each member's rows are together (a look at
    runs of the same id), else only where no member's rows span the cut."""
    rows = ids.filter(pl.col("m").is_not_null())
    m = rows.get_column("m")
    runs = m.filter((m != m.shift(1)).fill_null(True))
    # members with a row without an account id (few, if any): those with no other row
    lacking = rows.filter(pl.col("a").is_null()).get_column("m").unique()
    if lacking.len():
        lacking = lacking.filter(~lacking.is_in(rows.filter(
            pl.col("a").is_not_null() & pl.col("m").is_in(lacking.implode()))
            .get_column("m").unique().implode()))
    if runs.is_sorted() or runs.n_unique() == runs.len():  # each member's rows together
        members = runs.filter(~runs.is_in(lacking.implode())) if lacking.len() else runs
        return members, list(range(members.len() + 1))
    spans = rows.group_by("m", maintain_order=True).agg(
        pl.col("__line").min().alias("first"), pl.col("__line").max().alias("last"))
    if lacking.len():
        spans = spans.filter(~pl.col("m").is_in(lacking.implode()))
    reach = spans.get_column("last").cum_max().to_list()
    firsts = spans.get_column("first").to_list()
    allowed = [0, *[i for i in range(1, len(firsts)) if reach[i - 1] < firsts[i]],
               len(firsts)] if firsts else [0]
    return spans.get_column("m"), allowed


_RUNS: dict[tuple[str, int, int], pl.DataFrame] = {}


def event_runs(source: str) -> pl.DataFrame:
    """A Parquet events table's runs of rows of the same member key (``m``, the lines of
    the run's ``first`` and ``last`` rows), kept for the table as it is: where a
    partition's members' events can be, so a part reads only that span of the table (one
    span when the table is in member order, as extracts usually are; the whole table at
    worst, never fewer rows than the members have)."""
    key = _file_key(source)
    if key is not None and key in _RUNS:
        return _RUNS[key]
    lazy = _scan(source)
    schema = lazy.collect_schema()
    rows = lazy.select("__line", _member_key(pl.col("member_id"), schema["member_id"],
                                             edges=True).alias("m")).collect()
    m = rows.get_column("m")
    starts = rows.filter((m.ne_missing(m.shift(1))).fill_null(True))
    lines = rows.height + 2
    runs = starts.select("m", pl.col("__line").cast(pl.Int64).alias("first"),
                         (pl.col("__line").cast(pl.Int64).shift(-1).fill_null(lines) - 1)
                         .alias("last"))
    if key is not None:
        _RUNS.clear()
        _RUNS[key] = runs
    return runs


def _span(first: pl.Series, last: pl.Series) -> tuple[int, int] | None:
    """The (offset, length) of the rows from the least first line to the greatest last
    line (lines count from 2: the header is line 1); None when there are none."""
    lo, hi = first.min(), last.max()
    if not isinstance(lo, int) or not isinstance(hi, int):
        return None
    return lo - 2, hi - lo + 1


def read_dataset_part(accounts: str | os.PathLike[str], events: str | os.PathLike[str],
                      fx: str | os.PathLike[str] | None = None, *,
                      decl: FactsDecl | None = None, part: tuple[int, int]) -> PartTable:
    """Partition ``part`` = (index, count) of a dataset, read alone (see the module)."""
    index, count = part
    if not 0 <= index < count:
        raise ValueError(f"partition {index} of {count}")
    accounts_source, events_source = os.fspath(accounts), os.fspath(events)
    plan = dataset_plan(accounts_source)
    lo, hi = plan.range(index, count)
    mine = plan.members.slice(lo, hi - lo)
    mine_set = mine.implode()
    everyone = plan.members.implode()
    first = index == 0

    def accounts_rows(m: pl.Expr) -> pl.Expr:
        keep = m.is_in(mine_set)
        return keep | m.is_null() | ~m.is_in(everyone) if first else keep

    # a part other than the first reads only the span of rows its members' rows are in
    # (partition 0 reads every row: the rows of no member can be anywhere)
    span = None
    if not first and plan.lines is not None:
        own = plan.lines.slice(lo, hi - lo)
        span = _span(own.get_column("first"), own.get_column("last")) or (0, 0)
    raw, ragged = _accounts_rows(accounts_source, accounts_rows, span)
    for column in OPTIONAL_COLUMNS:
        if column not in raw.columns:
            raw = raw.with_columns(pl.lit(None, pl.String).alias(column))
    fx_rates = parse_fx_csv(fx) if fx is not None else {}
    ragged = ragged if first else []
    table = table_from_frame(raw, fx_rates, accounts_source, first_seen=plan.first_seen,
                             ragged=ragged, decl=decl)
    account_errors = len(table.errors)
    all_accounts = plan.pairs.get_column("account_id")

    def known_among(named: pl.Series) -> pl.Series:
        """The accounts of the accounts table among ``named`` (a hash of the accounts a
        part's rows name, not of every account of the table)."""
        named = named.drop_nulls().unique().implode()
        return all_accounts.filter(all_accounts.is_in(named)).implode()

    def event_rows(m: pl.Expr, a: pl.Expr, known_accounts: pl.Series) -> pl.Expr:
        orphan = a.is_not_null() & ~a.is_in(known_accounts)
        keep = m.is_in(mine_set) & ~orphan
        return keep | m.is_null() | ~m.is_in(everyone) | orphan if first else keep

    def scan_rows(m: pl.Expr, a: pl.Expr) -> tuple[pl.Expr, pl.Expr | None]:
        """(the filter pushed into the scan, the one applied to the rows it gives): a part
        other than the first drops its members' rows naming accounts of no member after
        the scan (:func:`mine_only`), against only the accounts its rows name."""
        if first:
            return event_rows(m, a, all_accounts.implode()), None
        return m.is_in(mine_set), None

    def mine_only(rows: pl.DataFrame, m: pl.Expr, a: pl.Expr) -> pl.Series:
        """Which of the rows (their member and account keys ``m``, ``a``) are the part's
        own: its members' rows that name an account of the accounts table, or none."""
        mine_named = rows.filter(m.is_in(mine_set)).select(a).to_series()
        return rows.select(event_rows(m, a, known_among(mine_named))).to_series()

    own_accounts = raw.select(_member_key(pl.col("account_id"), raw.schema["account_id"])
                              ).to_series().drop_nulls().unique().implode()

    def known(members: pl.Series, accounts_named: pl.Series) -> pl.DataFrame:
        m = _member_key(pl.col("m"), members.dtype, edges=True)
        a = _member_key(pl.col("a"), accounts_named.dtype, edges=True)
        named = pl.DataFrame([members.alias("m"), accounts_named.alias("a")]).select(
            m.alias("m"), a.alias("a"))
        others = named.filter(~pl.col("a").is_in(own_accounts)).get_column("a").drop_nulls()
        strangers = named.filter(~pl.col("m").is_in(mine_set)).get_column("m").drop_nulls()
        return plan.pairs.filter(pl.col("account_id").is_in(others.unique().implode())
                                 | pl.col("account_id").is_in(plan.shared.implode())
                                 | pl.col("member_id").is_in(strangers.unique().implode()))

    if _is_parquet(events_source):
        events_span = None
        if not first and "member_id" in _scan(events_source).collect_schema():
            runs = event_runs(events_source).filter(pl.col("m").is_in(mine_set))
            events_span = _span(runs.get_column("first"), runs.get_column("last")) or (0, 0)
        rows = _event_rows(events_source, scan_rows, events_span)
        if not first and "member_id" in rows.columns:
            rows = rows.filter(mine_only(rows, *_keys(rows.schema)))
        table, warnings = read_table_events(table, events_source, decl, rows=rows,
                                            known=known, ragged=first)
    else:
        def keep(members: pl.Series, accounts_named: pl.Series) -> pl.Series:
            frame = pl.DataFrame([members.alias("m"), accounts_named.alias("a")])
            m = _member_key(pl.col("m"), members.dtype, edges=True)
            a = _member_key(pl.col("a"), accounts_named.dtype, edges=True)
            if first:
                return frame.select(event_rows(m, a, all_accounts.implode())).to_series()
            return mine_only(frame, m, a)

        table, warnings = read_table_events(table, events_source, decl, keep=keep,
                                            known=known, ragged=first)
    return PartTable(table, warnings, account_errors)


def _keys(schema: pl.Schema) -> tuple[pl.Expr, pl.Expr]:
    """An events table's member and account keys as the reader strips them."""
    m = _member_key(pl.col("member_id"), schema["member_id"], edges=True)
    a = _member_key(pl.col("account_id"), schema["account_id"], edges=True) \
        if "account_id" in schema else pl.lit(None, pl.String)
    return m, a


def _accounts_rows(source: str, wanted: Callable[[pl.Expr], pl.Expr],
                   span: tuple[int, int] | None = None
                   ) -> tuple[pl.DataFrame, list[RaggedRow]]:
    """The accounts table's rows whose member key ``wanted(m)`` keeps, with ``__line``,
    and the rows whose cells could not be matched to columns; of a Parquet table, only
    among the rows of ``span`` (offset, length), when given."""
    if _is_parquet(source):
        lazy = _scan(source)
        if span is not None:
            lazy = lazy.slice(*span)
        schema = lazy.collect_schema()
        m = _member_key(pl.col("member_id"), schema["member_id"])
        try:
            frame: pl.DataFrame = lazy.filter(wanted(m)).collect()
        except pl.exceptions.PolarsError as exc:
            raise FactsError(f"{source}: cannot read the table: {str(exc).splitlines()[0]}"
                             ) from None
        return frame.with_columns(pl.col("__line").cast(pl.UInt32)), []
    raw, ragged, _ = read_frame(source, "facts file")
    if "__line" not in raw.columns:
        raw = raw.with_row_index("__line", offset=2)
    m = _member_key(pl.col("member_id"), raw.schema["member_id"]) \
        if "member_id" in raw.columns else pl.lit(None, pl.String)
    return raw.filter(wanted(m)), list(ragged)


def _event_rows(source: str, wanted: Callable[[pl.Expr, pl.Expr],
                                               tuple[pl.Expr, pl.Expr | None]],
                span: tuple[int, int] | None = None) -> pl.DataFrame:
    """A Parquet events table's rows that ``wanted(m, a)`` keeps, with ``__line``: its
    first filter pushed into the scan (with the ``span`` of rows to look at, if given),
    its second applied to the rows the scan gives."""
    try:
        lazy, after = events_scan(source, wanted, span)
        frame: pl.DataFrame = lazy.collect()
        if after is not None:  # on the rows read (not pushed into the scan with the first)
            frame = frame.filter(after)
    except pl.exceptions.PolarsError as exc:
        raise FactsError(f"{source}: cannot read the Parquet table: "
                         f"{str(exc).splitlines()[0]}") from None
    return frame.with_columns(pl.col("__line").cast(pl.UInt32))


def events_scan(source: str, wanted: Callable[[pl.Expr, pl.Expr],
                                              tuple[pl.Expr, pl.Expr | None]],
                span: tuple[int, int] | None = None
                ) -> tuple[pl.LazyFrame, pl.Expr | None]:
    """The query reading a Parquet events table's rows that the first filter of
    ``wanted(m, a)`` keeps, and the second filter (see :func:`_event_rows`), ``m`` and
    ``a`` the member and account ids as the reader strips them; all the rows when the
    table has no member_id column (the reader then words what is missing)."""
    lazy = _scan(source)
    schema = lazy.collect_schema()
    if "member_id" not in schema:
        return lazy, None
    if span is not None:  # rows outside it are no partition member's: not read
        lazy = lazy.slice(*span)
    m, a = _keys(schema)
    pushed, after = wanted(m, a)
    return lazy.filter(pushed), after


def table_scales(table: Table) -> dict[str, int]:
    """The decimal places a table's scaled integers are held at: ``balance``, the events'
    ``amount`` and each declared money or number column (they follow from the rows read,
    so two parts of a dataset may hold them at different places)."""
    scales = {"balance": table.balance_scale, **table.extra_scales}
    if table.events is not None:
        scales["amount"] = table.event_amount_scale
    return scales


def rescaled(table: Table, scales: dict[str, int]) -> Table:
    """``table`` with its scaled integers held at the places ``scales`` gives where they
    are more than the table's own (the whole dataset's places: the same values, so the
    same determinations and the same text as the whole read gives)."""
    import dataclasses

    own = table_scales(table)
    up = {k: scales[k] - v for k, v in own.items() if scales.get(k, v) > v}
    if not up:
        return table

    def grow(frame: pl.DataFrame, columns: dict[str, str]) -> pl.DataFrame:
        found = [(k, c) for k, c in columns.items() if k in up and c in frame.columns]
        for k, c in found:
            largest = frame.select(pl.col(c).abs().max()).item()
            if largest is not None and largest * 10 ** up[k] >= _UNITS_LIMIT:
                raise Unsupported(f"values of {k} too large for exact 64-bit integers with "
                                  f"{scales[k]} decimal places")
        return frame.with_columns([(pl.col(c) * 10 ** up[k]).alias(c) for k, c in found]) \
            if found else frame

    frame = grow(table.frame, {"balance": "balance", **{k: k for k in table.extra_scales}})
    events = grow(table.events, {"amount": "amount", **{k: k for k in table.extra_scales}}) \
        if table.events is not None else None
    return dataclasses.replace(
        table, frame=frame, events=events,
        balance_scale=max(table.balance_scale, scales.get("balance", 0)),
        event_amount_scale=max(table.event_amount_scale, scales.get("amount", 0)),
        extra_scales={k: max(v, scales.get(k, 0)) for k, v in table.extra_scales.items()})
