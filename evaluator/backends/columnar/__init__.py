"""Columnar backend: a checked policy compiled to polars expressions over a snapshot table.

The whole portfolio is one frame, one row per account. Compilation maps every formula
node to a *compiled value*:

- :class:`Const`: known before looking at the data (literals, parameters, the as-of day,
  global definitions, and anything computed only from those). Constants are folded with
  the scalar backend's own operations, so both backends agree by construction.
- :class:`Col`: one value per account row, a polars expression with an optional error
  expression (non-null where that row cannot be evaluated: ``fail(...)``, a missing
  value). Money and numbers are exact scaled integers (``scale`` decimal places).
- :class:`Rec`: a record whose fields are compiled values, with a presence flag when it
  may be null (``if c then {...} else null``).
- :class:`UList`: a list of known length, unrolled: each item with a presence flag
  (comprehensions over parameter tables and over the few events a snapshot row holds).

Member-level definitions are columns constant within a member, computed with window
functions over ``member_id``; aggregations over a member's accounts or events are window
aggregations. Snapshot facts hold, per row, at most one transaction (on that account)
and the member's latest statement acknowledgement and response: these are the *event
slots* of a row, so comprehensions over events unroll into column expressions and
filters on the event type fold away. A dataset's table instead carries its events as a
frame of their own (``Table.events``): a comprehension over an account's or a member's
events is then a stage that joins the events with the frame columns it reads, groups them
by account or member and joins the result back, a list kept as list columns unrolled into
as many items as the table's longest (:mod:`.events`).

What the compiler cannot express raises :class:`Unsupported`; ``backend="auto"`` then
uses the scalar backend for the whole portfolio (for a table with events it refuses
instead, naming the reason: the table's scalar form has no events). So do balances the exact 64-bit integers
cannot hold. Date arithmetic that leaves the years 1-9999 (which polars dates survive but
Python's, and so the scalar backend's, do not) is an error for the rows concerned, with
the scalar backend's message, as is constant folding that fails.

Modules, each importing only those after it: :mod:`.outputs` (evaluating a table,
materialising outputs, determinations), :mod:`.compiler` (the :class:`Compiler`),
:mod:`.aggregates`, :mod:`.events` and :mod:`.functions` (aggregations over rows and over
an events table, the builtins on columns),
:mod:`.values` (compiled values); snapshot tables are read and validated in
:mod:`evaluator.facts.table` and :mod:`evaluator.facts.csvscan`. This package re-exports
the names callers use.
"""

from evaluator.backends.columnar.aggregates import combine_aggregates
from evaluator.backends.columnar.compiler import Compiler
from evaluator.backends.columnar.outputs import (
    ColumnarResult,
    OutputSpec,
    Shape,
    compile_outputs,
    determinations,
    evaluate_frame,
)
from evaluator.backends.columnar.values import OVERFLOW_MARK, per_day
from evaluator.errors import Unsupported
from evaluator.facts.csvscan import CsvLayout, csv_layout
from evaluator.facts.table import (
    Table,
    binary_as_text,
    check_columns,
    facts_from_frame,
    parquet_facts,
    read_table,
    table_from_frame,
)

__all__ = [
    "OVERFLOW_MARK",
    "ColumnarResult",
    "Compiler",
    "CsvLayout",
    "OutputSpec",
    "Shape",
    "Table",
    "Unsupported",
    "binary_as_text",
    "check_columns",
    "combine_aggregates",
    "compile_outputs",
    "csv_layout",
    "determinations",
    "evaluate_frame",
    "facts_from_frame",
    "parquet_facts",
    "per_day",
    "read_table",
    "table_from_frame",
]
