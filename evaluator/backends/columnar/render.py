"""The determinations of a columnar result as polars columns, never one Python object per
account: the cells of the CSV form (``evaluate --format csv`` and ``--out FILE.csv``), the
typed columns of the Parquet form, and the JSON text of each account as
``evaluate --format json`` writes it (the same bytes as the scalar renderings of
:mod:`evaluator.backends.results`)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from evaluator.backends.columnar.outputs import ColumnarResult, Shape
from evaluator.backends.columnar.values import per_day
from evaluator.lang import typesys as T
from evaluator.lang.values import to_json_value

__all__ = ["json_lines", "output_columns", "parquet_dtype", "places", "write_frame"]


# -- the CSV / Parquet form of determinations --------------------------------------------

def _display(shape: Shape) -> pl.Expr:
    """A scalar output column as the scalar renderer's text (empty for null)."""
    kind = shape[0]
    if kind == "const":
        from evaluator.backends.results import flat

        return pl.lit(flat("", shape[1]))
    _, name, t, scale = shape
    col = pl.col(name)
    base = T.strip(t)
    if base == T.DATE:  # once per day of the column's range (see columnar.per_day)
        e = per_day(col, lambda d: d.dt.strftime("%Y-%m-%d"))
    elif base in (T.MONEY, T.NUMBER) and scale:
        sign = pl.when(col < 0).then(pl.lit("-")).otherwise(pl.lit(""))
        a = col.abs()
        e = pl.concat_str([sign, (a // 10 ** scale).cast(pl.String), pl.lit("."),
                           (a % 10 ** scale).cast(pl.String).str.pad_start(scale, "0")])
    elif base == T.BOOL:
        e = pl.when(col).then(pl.lit("true")).otherwise(pl.lit("false"))
    elif base == T.MONTH_DAY:
        months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                  "Nov", "Dec")
        e = pl.concat_str([(col % 100).cast(pl.String), pl.lit(" "),
                           (col // 100).replace_strict(
                               {i + 1: m for i, m in enumerate(months)},
                               return_dtype=pl.String)])
    else:
        e = col.cast(pl.String)
    return e.fill_null("")


def _flat_text(name: str, shape: Shape) -> pl.Expr:
    """The scalar CSV cell of an output (see results.flat), built from flat columns."""
    kind = shape[0]
    if kind in ("const", "col"):
        return _display(shape)
    if kind == "rec":
        _, fields, present = shape
        text = pl.concat_str([pl.concat_str([pl.lit(f"{k}="), _display_or_null(f)])
                              for k, f in fields], separator=", ")
        return text if present is None else pl.when(pl.col(present)).then(text).otherwise(
            pl.lit(""))
    _, items = shape
    parts = []
    for present, item in items:
        if name == "notices" and item[0] == "rec":
            fields = dict(item[1])
            # a regime whose notices say nothing of being required gets no remark
            remark = (pl.when(_truth(fields["required"])).then(pl.lit(""))
                      .otherwise(pl.lit(" (not required)")) if "required" in fields
                      else pl.lit(""))
            cell = pl.concat_str([_display(fields["mark"]), pl.lit(" "),
                                  _display(fields["due"]), remark])
        elif name == "findings" and item[0] == "rec":
            cell = _display(dict(item[1])["code"])
        else:
            cell = _flat_text("", item)
        parts.append(pl.when(pl.col(present)).then(cell))
    if not parts:
        return pl.lit("")
    return pl.concat_str(parts, separator="; ", ignore_nulls=True).fill_null("")


def _display_or_null(shape: Shape) -> pl.Expr:
    if shape[0] == "col":
        return pl.when(pl.col(shape[1]).is_null()).then(pl.lit("null")).otherwise(
            _display(shape))
    return _display(shape)


def _truth(shape: Shape) -> pl.Expr:
    if shape[0] == "const":
        return pl.lit(bool(shape[1]))
    return pl.col(shape[1]).fill_null(False)


def _typed(shape: Shape) -> pl.Expr:
    """A scalar output column for Parquet: dates stay dates, money exact decimals."""
    if shape[0] == "const":
        return pl.lit(shape[1])
    _, name, t, scale = shape
    base = T.strip(t)
    if base in (T.MONEY, T.NUMBER) and scale:
        return _display(shape).replace("", None).str.to_decimal(scale=scale)
    return pl.col(name)


def parquet_dtype(t: T.Type, scale: int | None = None) -> Any:
    """The Parquet column type of a value of checker type ``t`` (None: written as its
    text, as in CSV). Lists and records keep their structure (lists of structs), with
    their fields typed; a column whose values are all null still has this type.
    ``scale``: the decimal places of money or a number (money has at least two)."""
    base = T.strip(t)
    if base == T.DATE:
        return pl.Date
    if base == T.BOOL:
        return pl.Boolean
    if base == T.TEXT:
        return pl.String
    if base == T.INT:
        return pl.Int64
    if base == T.MONTH_DAY:
        return pl.Int32
    if base == T.MONEY:
        return pl.Decimal(38, max(2, scale or 0))
    if base == T.NUMBER:
        return pl.Decimal(38, scale) if scale else pl.Int64
    if isinstance(base, T.ListT):
        elem = parquet_dtype(base.elem)
        return None if elem is None else pl.List(elem)
    if isinstance(base, T.RecordT):
        fields = {k: parquet_dtype(ft) for k, ft in base.fields}
        if any(v is None for v in fields.values()):
            return None
        return pl.Struct(fields)
    return None


def _typed_value(shape: Shape, t: T.Type) -> pl.Expr:
    """An output for Parquet, typed as :func:`parquet_dtype` says, from its flat columns."""
    base = T.strip(t)
    kind = shape[0]
    if kind == "const":
        value = shape[1]
        if isinstance(base, T.ListT):
            return pl.lit([], dtype=parquet_dtype(base))
        if base == T.MONTH_DAY and value is not None:
            value = value.month * 100 + value.day
        if base in (T.MONEY, T.NUMBER) and value is not None:
            return pl.lit(Decimal(value), dtype=parquet_dtype(base, places(value)))
        return pl.lit(value, dtype=parquet_dtype(base))
    if kind == "col":
        _, name, _, scale = shape
        if base in (T.MONEY, T.NUMBER) and scale:
            return _typed(shape)
        return pl.col(name).cast(parquet_dtype(base, scale))
    if kind == "rec":
        assert isinstance(base, T.RecordT)
        _, fields, present = shape
        types = dict(base.fields)
        struct = pl.struct([_typed_value(f, types[k]).alias(k) for k, f in fields])
        return struct if present is None else pl.when(pl.col(present)).then(struct)
    assert isinstance(base, T.ListT)
    _, items = shape
    if not items:
        return pl.lit([], dtype=parquet_dtype(base))
    # each present item wrapped in a struct, so that an item that is itself null stays
    parts = [pl.when(pl.col(present)).then(pl.struct(_typed_value(item, base.elem)
                                                     .alias("v")))
             for present, item in items]
    return pl.concat_list(parts).list.drop_nulls().list.eval(
        pl.element().struct.field("v"))


def _stacked_list(frame: pl.DataFrame, shape: Shape, t: T.Type) -> pl.Series:
    """A list output for Parquet, typed, from its unrolled items: each item's value made
    on the rows where it is present only, the (row, value) pairs of every item stacked in
    item order, sorted by row (stably) and grouped back by row. ``concat_list`` of
    struct columns (and ``list.eval``) costs seconds per 100,000 rows in polars; stacking
    every item of every row cost a second per million rows of a list of ten items, most
    of them absent; this costs what the present items do."""
    base = T.strip(t)
    assert isinstance(base, T.ListT)
    _, items = shape
    dtype = parquet_dtype(base)
    made = [(pl.col(present).fill_null(False), _typed_value(item, base.elem).alias("v"))
            for present, item in items]
    # (from the columns the items read only: a wide frame is not copied per item)
    needed = sorted({r for p, v in made for r in (*p.meta.root_names(),
                                                   *v.meta.root_names())})
    indexed = frame.select(needed).lazy().with_row_index("__r")
    parts = pl.collect_all([indexed.filter(p).select(pl.col("__r"), v) for p, v in made])
    # sorted by row (stably: item order within a row), grouped by slices of the sorted
    # key (a hash group_by of a struct column costs ten times more)
    long = pl.concat(parts, how="vertical").sort("__r", maintain_order=True)
    lists = long.group_by("__r", maintain_order=True).agg(pl.col("v"))
    # each row's list: its group's, put back by position (rows without one: empty)
    where = pl.repeat(None, frame.height, dtype=pl.UInt32, eager=True).scatter(
        lists.get_column("__r"), pl.int_range(lists.height, dtype=pl.UInt32, eager=True))
    return lists.select(pl.col("v").gather(where).fill_null(pl.lit([], dtype=dtype))
                        .cast(dtype)).to_series()


def output_columns(result: ColumnarResult, typed: bool,
                   frame: pl.DataFrame | None = None) -> list[pl.Expr]:
    """member_id, account_id and the outputs, as the scalar CSV lays them out; for
    Parquet (``typed``) each output typed (:func:`parquet_dtype`); ``frame``: the rows they
    are selected from when not all of the result's (a list output is computed from them)."""
    cols: list[pl.Expr] = [pl.col("member_id"), pl.col("account_id")]
    for spec in result.outputs:
        shape = spec.shape
        if spec.name == "payment_window" and shape[0] == "rec":
            fields = dict(shape[1])
            window_t = T.strip(spec.type)
            types = dict(window_t.fields) if isinstance(window_t, T.RecordT) else {}
            for key, label in (("opens", "window_opens"), ("closes", "window_closes"),
                               ("provision", "window_provision")):
                f = fields[key]
                cols.append((_typed_value(f, types[key]) if typed and key in types
                             else _display(f)).alias(label))
            continue
        if typed and parquet_dtype(spec.type) is not None:
            if shape[0] == "list" and shape[1]:
                rows = result.frame if frame is None else frame
                cols.append(pl.lit(_stacked_list(rows, shape, spec.type))
                            .alias(spec.name))
                continue
            cols.append(_typed_value(shape, spec.type).alias(spec.name))
        else:
            cols.append(_flat_text(spec.name, shape).alias(spec.name))
    return cols


def write_frame(result: ColumnarResult, out: Path, with_errors: bool = False,
                frame: pl.DataFrame | None = None) -> pl.DataFrame:
    """The determinations of a result as the frame that is written out (of ``frame``,
    the result's rows already chosen, when given)."""
    if frame is None:
        frame = result.frame
        if not with_errors:
            frame = frame.filter(pl.col("__error").is_null())
    typed = out.suffix.lower() == ".parquet"
    cols = output_columns(result, typed, frame)
    if with_errors:
        cols.append(pl.col("__error").alias("error"))
    written = frame.select(cols)
    if typed:
        return written
    # an empty cell, not a quoted empty text (as Python's csv writes it): a second step
    # over the cells made, which costs less than making each cell twice
    return written.with_columns(pl.when(pl.col(c.meta.output_name()) != "").then(
        pl.col(c.meta.output_name())).name.keep() for c in output_columns(result, False))


def places(value: Any) -> int:
    exp = Decimal(value).as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0



# -- the JSON form of determinations ---------------------------------------------------------

def _compact(value: Any) -> str:
    """As :func:`evaluator.backends.results` writes a value on its line."""
    text: str = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text


def _json_string(e: pl.Expr) -> pl.Expr:
    """Text as a JSON string (null as ``null``), escaped as ``json.dumps`` escapes it
    without ``ensure_ascii``: quotes, backslashes and control characters only."""
    return (pl.struct(e.alias("v")).struct.json_encode()
            .str.strip_prefix('{"v":').str.strip_suffix("}"))


def _json_text(shape: Shape) -> pl.Expr:
    """An output's value as the JSON text of ``to_json_value`` (compact, ``, `` and
    ``: `` separators). Raises :class:`TypeError` for a type it does not write."""
    kind = shape[0]
    if kind == "const":
        return pl.lit(_compact(to_json_value(shape[1])))
    if kind == "col":
        _, name, t, _scale = shape
        col = pl.col(name)
        base = T.strip(t)
        if base == T.TEXT:
            return _json_string(col)
        if base == T.BOOL:
            text = pl.when(col).then(pl.lit("true")).otherwise(pl.lit("false"))
        elif base == T.INT:
            text = col.cast(pl.String)
        elif base in (T.DATE, T.MONEY, T.NUMBER, T.MONTH_DAY):  # as text, no escapes
            text = pl.concat_str([pl.lit('"'), _display(shape), pl.lit('"')])
        else:
            raise TypeError(f"no JSON column form for {t}")
        return pl.when(col.is_null()).then(pl.lit("null")).otherwise(text)
    if kind == "rec":
        _, fields, present = shape
        parts: list[pl.Expr] = [pl.lit("{")]
        for i, (k, f) in enumerate(fields):
            parts += [pl.lit((", " if i else "") + _compact(k) + ": "), _json_text(f)]
        parts.append(pl.lit("}"))
        text = pl.concat_str(parts)
        return text if present is None else pl.when(pl.col(present)).then(text).otherwise(
            pl.lit("null"))
    _, items = shape
    if not items:
        return pl.lit("[]")
    inner = pl.concat_str([pl.when(pl.col(present)).then(_json_text(item))
                           for present, item in items], separator=", ", ignore_nulls=True)
    return pl.concat_str([pl.lit("["), inner.fill_null(""), pl.lit("]")])


def json_lines(result: ColumnarResult) -> pl.Expr:
    """Each account's JSON object on one line, as ``EvaluationResult.to_json`` writes
    it: member_id, account_id, then the outputs in order. Raises :class:`TypeError`
    when an output has a type this form does not write (the caller then writes the
    accounts from their Python values)."""
    parts: list[pl.Expr] = [pl.lit('{"member_id": '), _json_string(pl.col("member_id")),
                            pl.lit(', "account_id": '), _json_string(pl.col("account_id"))]
    for spec in result.outputs:
        parts += [pl.lit(", " + _compact(spec.name) + ": "), _json_text(spec.shape)]
    parts.append(pl.lit("}"))
    return pl.concat_str(parts)
