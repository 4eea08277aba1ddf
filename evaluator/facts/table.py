"""Snapshot tables for the columnar backend: reading a CSV or Parquet table into a polars
frame, checking its columns' types, and validating its rows exactly as the scalar loader
does (the same record errors at the same rows), giving a :class:`Table` in evaluation order.
A Parquet or in-memory table can also be read by the scalar loader (:func:`parquet_facts`,
:func:`facts_from_frame`)."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from evaluator.declared import FactsDecl
from evaluator.errors import Unsupported
from evaluator.facts import (
    CURRENCY_RE,
    SNAPSHOT_CELLS,
    SNAPSHOT_COLUMNS,
    FactsBuilder,
    FactsError,
    RaggedRow,
    check_lines,
    open_regular,
    parse_fx_csv,
)
from evaluator.facts.csvscan import csv_layout, read_csv_rows
from evaluator.facts.declcols import read_declared
from evaluator.facts.model import Facts, RecordError
from evaluator.facts.tablecols import (
    declared_columns,
    extra_names,
    named_columns,
)
from evaluator.gcpause import fewer_collections

#: a bound on the scaled integers money is held in (below 2**63)
UNITS_LIMIT = 9 * 10**18

# ASCII digits only: the regex engine's \d would also match other scripts' digits
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DECIMAL_RE = r"^[0-9]+(\.[0-9]+)?$"
# a cell that stripping changes or that is empty
_TO_CLEAN_RE = r"^\s|\s$|^$"


@dataclass
class Table:
    """A validated snapshot table: one row per evaluable account, in evaluation order."""

    frame: pl.DataFrame
    fx_rates: dict[tuple[str, _dt.date], Decimal]
    errors: list[RecordError] = field(default_factory=list)
    balance_scale: int = 2
    source: str = "<memory>"
    sha256: str | None = None
    #: the raw rows, kept to re-run a member through the scalar backend (--explain)
    raw: pl.DataFrame | None = None
    #: rows whose cells could not be matched to columns (their errors are in ``errors``)
    ragged: list[RaggedRow] = field(default_factory=list)
    #: the declared facts the table is read by (None: the standard ones), and the columns
    #: they do not know, with the rows filling each
    decl: Any = None
    unknown: tuple[tuple[str, str, int], ...] = ()
    #: decimal places of each declared money or number column (scaled integers)
    extra_scales: dict[str, int] = field(default_factory=dict)
    #: a dataset's events, one row per event of an evaluable member (None: a snapshot
    #: table, whose events are the row's last_* columns)
    events: pl.DataFrame | None = None
    #: decimal places of the events' `amount` column (scaled integers)
    event_amount_scale: int = 2

    def unknown_warnings(self) -> list[str]:
        """One line per unknown column, naming it and counting its rows."""
        return Facts(members=(), source=self.source, unknown=self.unknown).unknown_warnings()

    def __len__(self) -> int:
        return self.frame.height + len(self.errors)

    def member_rows(self, member_id: str) -> list[dict[str, str]]:
        """The snapshot rows of one member, as text, for the scalar backend."""
        raw = self.raw if self.raw is not None else pl.DataFrame()
        rows = raw.filter(pl.col("member_id").str.strip_chars() == member_id)
        return [{k: ("" if v is None else str(v)) for k, v in r.items() if k != "__line"}
                for r in rows.iter_rows(named=True)]

    def to_facts(self) -> Any:
        """The same rows as a scalar :class:`~evaluator.model.Facts` (for small tables),
        with the same record errors at the same rows."""
        raw = self.raw if self.raw is not None else pl.DataFrame(
            schema={**{c: pl.String for c in SNAPSHOT_CELLS}, "__line": pl.UInt32})
        import dataclasses

        facts = _facts_from_text(raw, self.fx_rates, self.source, self.ragged, self.sha256,
                                 self.decl)
        return dataclasses.replace(facts, unknown=self.unknown)


def read_table(path: str | os.PathLike[str], fx: str | os.PathLike[str] | None = None, *,
               decl: FactsDecl | None = None) -> Table:
    """A snapshot table from CSV or Parquet, validated exactly as the scalar loader does,
    with the extra columns ``decl`` declares."""
    source = os.fspath(path)
    suffix = Path(source).suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise FactsError(f"{source}: a snapshot table is .csv or .parquet")
    if suffix == ".csv":
        check_lines(source, "facts file")
    data = read_facts_bytes(source)
    digest = hashlib.sha256(data).hexdigest()
    raw, ragged = raw_frame(data, source, suffix)
    fx_rates = parse_fx_csv(fx) if fx is not None else {}
    table = table_from_frame(raw, fx_rates, source, ragged=ragged, decl=decl)
    table.sha256 = digest
    return table


def raw_frame(data: bytes, source: str, suffix: str,
              required: Sequence[str] = SNAPSHOT_COLUMNS
              ) -> tuple[pl.DataFrame, list[RaggedRow]]:
    """The raw rows of a snapshot file's bytes (``suffix`` ``.csv`` or ``.parquet``; a CSV
    header must have the ``required`` columns), each with its ``__line``, and the rows
    whose cells could not be matched to columns."""
    ragged: list[RaggedRow] = []
    try:
        if suffix == ".csv":
            layout = csv_layout(data, source, required=required)
            raw = layout.frame
            if raw is None:
                raw = read_csv_rows(data, layout)
            if raw is None:  # polars reads the rows otherwise than the layout says
                layout = csv_layout(data, source, exact=True, required=required)
                raw = layout.frame
                assert raw is not None
            keep = ~layout.ragged
            raw = raw.with_columns(pl.Series("__line", layout.lines, pl.UInt32))
            if not keep.all():
                raw = raw.filter(pl.Series(keep))
            ragged = layout.ragged_rows
            raw = named_columns(raw, layout.header.names)
        else:
            raw = read_parquet_frame(data, source)
    except pl.exceptions.PolarsError as exc:
        raise FactsError(f"{source}: cannot read the table: {str(exc).splitlines()[0]}"
                         ) from None
    return raw, ragged


def read_facts_bytes(source: str) -> bytes:
    """The bytes of a snapshot file, which must be a regular file."""
    try:
        with open_regular(source, "facts file") as fh:
            return fh.read()
    except OSError as exc:
        raise FactsError(f"{source}: cannot read facts file: {exc.strerror or exc}") from None


def read_parquet_frame(data: bytes, source: str) -> pl.DataFrame:
    """The rows of a Parquet snapshot, its columns' types checked (see
    :func:`check_columns`)."""
    try:
        raw = pl.read_parquet(data)
    except pl.exceptions.PolarsError as exc:
        raise FactsError(f"{source}: cannot read the table: {str(exc).splitlines()[0]}"
                         ) from None
    check_columns(raw.schema, source)
    return raw


def parquet_facts(path: str | os.PathLike[str], fx: str | os.PathLike[str] | None = None, *,
                  decl: FactsDecl | None = None) -> Facts:
    """A Parquet snapshot read by the scalar loader (:func:`facts_from_frame`): the
    scalar backend's :class:`~evaluator.model.Facts`, with the same record errors as
    :func:`read_table` gives."""
    import dataclasses

    source = os.fspath(path)
    data = read_facts_bytes(source)
    raw = read_parquet_frame(data, source)
    fx_rates = parse_fx_csv(fx) if fx is not None else {}
    facts: Facts = facts_from_frame(raw, fx_rates, source,
                                    sha256=hashlib.sha256(data).hexdigest(), decl=decl)
    return dataclasses.replace(facts, source=source)


# -- the types of a table's columns ---------------------------------------------------------
#
# A CSV table is text. A Parquet table has typed columns: each snapshot column is either
# read as the text the scalar loader reads (strings, categories, whole numbers, binary
# that is UTF-8, columns of nulls), kept typed where the type says exactly what the text
# would (dates in a date column, decimals in the balance), or refused with the column
# named: binary floating point for money (0.1 has no exact binary value, so the balance
# the file meant cannot be known), and types that are not one value of text (lists,
# arrays, structs, durations, times, datetimes, booleans).

_DATE_COLUMNS = ("opened", "last_transaction", "last_statement_ack", "last_response")


def _column_problem(name: str, dtype: Any) -> str | None:
    """Why a snapshot column of this type cannot be read (None: it can)."""
    if dtype in (pl.String, pl.Null, pl.Binary) or dtype.is_integer() or isinstance(
            dtype, pl.Categorical | pl.Enum):
        return None
    if name in _DATE_COLUMNS and dtype == pl.Date:
        return None
    if name == "balance" and isinstance(dtype, pl.Decimal):
        return None
    if name == "balance" and dtype.is_float():
        return (f"column balance holds binary floating-point numbers ({dtype}), which "
                "cannot hold money exactly (0.10 is stored as 0.1000000000000000055...): "
                "write balances as decimals or as text")
    wanted = ("dates or text" if name in _DATE_COLUMNS else
              "decimals, whole numbers or text" if name == "balance" else
              "text or whole numbers")
    return f"column {name} holds {dtype} values; it must hold {wanted}"


def check_columns(schema: Mapping[str, Any], source: str) -> None:
    """Refuse, with the column named, a snapshot column whose type cannot be read."""
    for name in SNAPSHOT_CELLS:
        if name in schema:
            problem = _column_problem(name, schema[name])
            if problem is not None:
                raise FactsError(f"{source}: {problem}")


def binary_as_text(values: pl.Series, source: str, lines: pl.Series | None = None
                   ) -> pl.Series:
    """A binary column as text, or a FactsError naming the column and the first row whose
    bytes are not UTF-8."""
    try:
        return values.cast(pl.String)
    except pl.exceptions.PolarsError:
        pass
    for i, value in enumerate(values):
        if value is None:
            continue
        try:
            bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            row = int(lines[i]) if lines is not None else i + 2
            raise FactsError(f"{source}: column {values.name}: row {row}: the bytes are not "
                             "UTF-8 text") from None
    raise FactsError(f"{source}: column {values.name}: not UTF-8 text")  # pragma: no cover


def table_from_frame(raw: pl.DataFrame, fx_rates: dict[tuple[str, _dt.date], Decimal],
                     source: str = "<memory>", *, lines: pl.Series | None = None,
                     first_seen: dict[str, int] | None = None,
                     ragged: Sequence[RaggedRow] = (), decl: FactsDecl | None = None) -> Table:
    """A table from raw snapshot rows. ``lines`` numbers the rows as in the file (a chunk
    of a larger table), unless ``raw`` has a ``__line`` column; ``first_seen`` gives, for
    account ids that occur more than once in the whole file, the line where each first
    occurs; ``ragged`` are rows of the file whose cells could not be matched to columns.
    Rows whose cells are all empty or blank are not records."""
    text, unknown, flags = _text_frame(raw, source, lines, decl)
    table = _validate(text, fx_rates, source, first_seen or {}, flags)
    table.decl = decl if decl is not None and decl.has_extras else None
    table.unknown = unknown
    if table.decl is not None:  # declared fields: typed natively, doubtful members scalar
        decl_ = table.decl
        got = read_declared(text, table.frame, decl_, first_seen or {},
                            lambda rows, seen: _facts_from_text(
                                rows, fx_rates, source, (), None, decl_, seen=seen))
        table.frame, table.extra_scales, table.errors = got.frame, got.scales, got.errors
    if ragged:
        table.ragged = list(ragged)
        table.errors = _by_line([*table.errors, *(r.error() for r in ragged)])
    return table


def facts_from_frame(raw: pl.DataFrame, fx_rates: dict[tuple[str, _dt.date], Decimal],
                     source: str = "<memory>", *, ragged: Sequence[RaggedRow] = (),
                     sha256: str | None = None, decl: FactsDecl | None = None) -> Any:
    """Raw snapshot rows (as :func:`table_from_frame` takes them) read by the scalar
    loader instead: a :class:`~evaluator.model.Facts`, with the same record errors."""
    import dataclasses

    text, unknown, _ = _text_frame(raw, source, None, decl)
    facts = _facts_from_text(text, fx_rates, source, ragged, sha256, decl)
    return dataclasses.replace(facts, unknown=unknown)


def _text_frame(raw: pl.DataFrame, source: str, lines: pl.Series | None,
                decl: FactsDecl | None = None
                ) -> tuple[pl.DataFrame, tuple[tuple[str, str, int], ...], dict[str, bool]]:
    """The snapshot's columns (standard, then declared) of the rows that are records, the
    line of each, the columns the declaration does not know, and, for the snapshot's
    text columns, whether a cell may need stripping (:func:`_to_clean`)."""
    repeated = sorted({c.split("_duplicated_")[0] for c in raw.columns
                       if "_duplicated_" in c and c.split("_duplicated_")[0] in SNAPSHOT_CELLS})
    if repeated:
        raise FactsError(f"{source}: line 1: header repeats column(s) {', '.join(repeated)}")
    missing = [c for c in SNAPSHOT_COLUMNS if c not in raw.columns]
    if missing:
        raise FactsError(f"{source}: row 1: missing column(s) {', '.join(missing)} "
                         f"(expected {', '.join(SNAPSHOT_COLUMNS)})")
    check_columns(raw.schema, source)
    if "__line" not in raw.columns:
        if lines is not None:
            raw = raw.with_columns(lines.cast(pl.UInt32).alias("__line"))
        else:
            raw = raw.with_row_index("__line", offset=2)
    binary = [c for c in SNAPSHOT_CELLS if c in raw.columns and raw.schema[c] == pl.Binary]
    if binary:
        raw = raw.with_columns([binary_as_text(raw.get_column(c), source,
                                               raw.get_column("__line")) for c in binary])
    # drop rows whose cells (all of them, not only the snapshot's) are empty or blank
    cells = [c for c in raw.columns if c not in ("__line", "__row")]

    def empty(c: str) -> pl.Expr:
        if raw.schema[c] == pl.String:
            return pl.col(c).is_null() | pl.col(c).str.contains(r"^\s*$")
        return pl.col(c).is_null()

    flags = _to_clean(raw, [c for c in SNAPSHOT_CELLS
                            if c in raw.columns and raw.schema[c] == pl.String])
    # a row is blank when every cell is: none is when one column has no empty cell (a
    # text cell that is empty or blank is one to clean)
    if raw.height and cells and (
            raw.get_column(cells[0]).null_count() > 0 or flags.get(cells[0], True)) \
            and raw.select(empty(cells[0]).any()).item():
        raw = raw.filter(~pl.all_horizontal([empty(c) for c in cells]))
    cols = [c for c in SNAPSHOT_CELLS if c in raw.columns]
    text = raw.select([_as_text(raw, c) for c in cols] + [pl.col("__line").cast(pl.UInt32)])
    if "kind" not in text.columns:
        text = text.with_columns(pl.lit(None, pl.String).alias("kind"))
    return (*declared_columns(raw, text, decl), flags)


def _to_clean(frame: pl.DataFrame, columns: Sequence[str]) -> dict[str, bool]:
    """For each text column, whether a cell is empty or has whitespace to strip: a scan
    that copies nothing (stripping copies every cell; regex \\s and strip_chars both take
    Unicode's White_Space). Columns of few values (currency, kind) are checked on their
    distinct values, which costs a hash instead of a regex per row."""
    few = [c for c in columns if c in ("currency", "kind")]
    many = [c for c in columns if c not in few]
    flags = dict(zip(many, frame.select([pl.col(c).str.contains(_TO_CLEAN_RE).any()
                                         for c in many]).row(0), strict=True)) \
        if many and frame.height else dict.fromkeys(many, False)
    for c in few:
        flags[c] = bool(frame.get_column(c).unique().str.contains(_TO_CLEAN_RE).any())
    return flags


def _facts_from_text(text: pl.DataFrame, fx_rates: dict[tuple[str, _dt.date], Decimal],
                     source: str, ragged: Sequence[RaggedRow], sha256: str | None,
                     decl: FactsDecl | None = None, *, seen: dict[str, str] | None = None
                     ) -> Any:
    import dataclasses

    cells = (*SNAPSHOT_CELLS, *extra_names(decl))
    rows: list[tuple[int, tuple[str | None, ...] | RaggedRow]] = [
        (int(r["__line"]), tuple(_cell(r.get(c)) for c in cells))
        for r in text.iter_rows(named=True)]
    rows += [(r.line, r) for r in ragged]
    rows.sort(key=lambda item: item[0])
    loader = FactsBuilder(source, decl)
    loader.form = "snapshot"
    loader.account_seen.update(seen or {})
    for (currency, day), rate in fx_rates.items():
        loader.fx.add(currency, day, rate, source)
    with fewer_collections():
        loader.snapshot(rows)
    return dataclasses.replace(loader.facts(), sha256=sha256)


def _by_line(errors: list[RecordError]) -> list[RecordError]:
    """Record errors of a table in file order (stable for errors of one row)."""
    def line(e: RecordError) -> int:
        loc = e.location or ""
        return int(loc[4:]) if loc.startswith("row ") and loc[4:].isdigit() else 0

    return sorted(errors, key=line)


def _as_text(raw: pl.DataFrame, name: str) -> pl.Expr:
    """Text columns as they are; typed dates and exact decimals stay typed (a Parquet
    fast path); anything else :func:`check_columns` lets through (whole numbers,
    categories, nulls) is read as its text."""
    dtype = raw.schema[name]
    col = pl.col(name)
    if dtype == pl.String:
        return col
    if name in _DATE_COLUMNS and dtype == pl.Date:
        return col
    if name == "balance" and isinstance(dtype, pl.Decimal):
        return col
    return col.cast(pl.String).alias(name)


def _cell(value: Any) -> str | None:
    """A typed value as the text the scalar loader reads."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _all_distinct(ids: pl.Series) -> bool:
    """Whether no id occurs twice: a comparison of neighbours when the ids are sorted (as
    exports usually write them), else a count of distinct values."""
    if ids.is_sorted() and ids.null_count() == 0:
        return ids.len() < 2 or not (ids.slice(1) == ids.slice(0, ids.len() - 1)).any()
    return ids.n_unique() == ids.len()


def _valid_codes(currency: pl.Series) -> list[str]:
    """The currency codes of a column that are three capital letters, checked once each."""
    return [c for c in currency.drop_nulls().unique().to_list()
            if CURRENCY_RE.fullmatch(c) is not None]


def _validate(text: pl.DataFrame, fx_rates: dict[tuple[str, _dt.date], Decimal],
              source: str, first_seen: dict[str, int], flags: dict[str, bool]) -> Table:
    """The table of the rows of ``text`` that are valid records; ``flags`` says which
    text columns may need stripping (:func:`_to_clean`), as far as it knows."""

    def clean(c: str) -> pl.Expr:
        x = pl.col(c).str.strip_chars()
        return pl.when(x == "").then(None).otherwise(x).alias(c)

    schema = text.schema
    strings = [c for c in SNAPSHOT_CELLS if schema[c] == pl.String]
    if strings and text.height:
        # strip only the columns with a cell to strip or an empty one
        flags = {**_to_clean(text, [c for c in strings if c not in flags]), **flags}
        strings = [c for c in strings if flags[c]]
    t = text.with_columns([clean(c) for c in strings]) if strings else text
    typed_balance = isinstance(schema["balance"], pl.Decimal)

    def date_ok(c: str) -> pl.Expr:
        if schema[c] == pl.Date:
            return pl.col(c).is_not_null() if c == "opened" else pl.lit(True)
        return ((pl.col(c).is_null() if c != "opened" else pl.lit(False))
                | (pl.col(c).str.contains(_DATE_RE) & ~pl.col(c).str.starts_with("0000")
                   & pl.col(c).str.strptime(pl.Date, "%Y-%m-%d", strict=False).is_not_null()))

    balance_ok = (pl.col("balance") >= 0) if typed_balance else \
        pl.col("balance").str.contains(_DECIMAL_RE)
    if not typed_balance:
        digits = t.select(pl.col("balance").str.extract(r"^([0-9]+)", 1).str.len_chars()
                          .max()).item()
        if int(digits or 0) > 15:  # beyond exact 64-bit cents
            raise Unsupported("balances of more than 15 digits before the decimal point")
    if _all_distinct(t.get_column("account_id")):
        first_line = pl.col("__line")  # every id occurs once: no window needed
    else:
        first_line = pl.col("__line").min().over("account_id")
    if first_seen:
        known = pl.col("account_id").replace_strict(
            {k: v for k, v in first_seen.items()}, default=None, return_dtype=pl.UInt32)
        first_line = pl.min_horizontal(first_line, known)
    ok = (pl.col("member_id").is_not_null() & pl.col("account_id").is_not_null()
          & (pl.col("__line") == first_line)
          & pl.col("currency").is_in(_valid_codes(t.get_column("currency"))).fill_null(False)
          & balance_ok.fill_null(False)
          & pl.all_horizontal([date_ok(c).fill_null(False) for c in _DATE_COLUMNS]))
    t = t.with_columns(ok.alias("__ok"), first_line.alias("__first"))
    bad = t.filter(~pl.col("__ok"))
    errors: list[RecordError] = []
    extra_rows: list[dict[str, Any]] = []
    if bad.height:
        loader = FactsBuilder(source)
        groups: dict[str, Any] = {}
        for row in bad.iter_rows(named=True):
            aid, line, first = row["account_id"], row["__line"], row["__first"]
            loader.account_seen = ({aid: f"row {first}"} if aid is not None and first is not None
                                   and first < line else {})
            before = len(loader.errors)
            cells = tuple(_cell(row.get(c)) for c in SNAPSHOT_CELLS)
            loader.snapshot_row(line, cells, groups)
            if len(loader.errors) == before:  # valid after all (the vector check is stricter)
                balance = Decimal(str(row["balance"]))
                fixed = balance.copy_abs() if balance.is_zero() else balance
                row = {**row, "balance": fixed if typed_balance else format(fixed, "f")}
                extra_rows.append(row)
        errors = list(loader.errors)
    good = t.filter(pl.col("__ok")) if bad.height else t
    if extra_rows:
        good = pl.concat([good, pl.DataFrame(extra_rows, schema=t.schema)]).sort("__line")
    scale = 2
    if typed_balance:
        dtype = schema["balance"]
        assert isinstance(dtype, pl.Decimal)
        scale = max(2, dtype.scale or 0)
        units = (pl.col("balance") * 10 ** scale).cast(pl.Int64)
    else:
        if good.height:
            decimals = good.select(pl.col("balance").str.extract(r"\.([0-9]+)$", 1)
                                   .str.len_chars().max()).item()
            scale = max(2, int(decimals or 0))
        frac = pl.col("balance").str.extract(r"\.([0-9]+)$", 1).fill_null("")
        whole = pl.col("balance").str.extract(r"^([0-9]+)", 1).cast(pl.Int64)
        units = whole * 10 ** scale + pl.when(frac == "").then(pl.lit(0, pl.Int64)).otherwise(
            frac.str.pad_end(scale, "0").cast(pl.Int64))
    if scale > 9:
        raise Unsupported(f"balances with {scale} decimal places")
    if typed_balance:
        largest = good.select(pl.col("balance").abs().max()).item() if good.height else None
        if largest is not None and Decimal(largest).scaleb(scale) >= UNITS_LIMIT:
            raise Unsupported(f"balances as large as {largest} with {scale} decimal places")
    elif int(digits or 0) + scale > 18:  # the units would not fit in 64 bits
        raise Unsupported(f"balances of {digits} digits with {scale} decimal places")
    members = good.get_column("member_id")
    starts = (members != members.shift(1)).fill_null(True)
    # contiguous members: sorted ids are (a quick look), else as many runs as ids
    if good.height and good.get_column("__line").is_sorted() and (
            members.is_sorted() or int(starts.sum()) == members.n_unique()):
        # each member's rows are together and in file order: the scalar order already
        order = pl.when(starts).then(pl.col("__line")).forward_fill()
        presorted = True
    else:
        order = pl.col("__line").min().over("member_id")
        presorted = False
    frame = good.with_columns(
        units.alias("balance"),
        *[(pl.col(c) if schema[c] == pl.Date else
           pl.col(c).str.strptime(pl.Date, "%Y-%m-%d", strict=True)).alias(c)
          for c in _DATE_COLUMNS],
        pl.col("kind").fill_null("deposit"),
        order.alias("__member_order"),
    ).drop("__ok", "__first")
    if not presorted:
        frame = frame.sort(["__member_order", "__line"])
    else:  # lines in file order, members contiguous: the member key never decreases
        frame = frame.with_columns(pl.col("__member_order").set_sorted())
    return Table(frame=frame, fx_rates=fx_rates, errors=errors, balance_scale=scale,
                 source=source, raw=text)
