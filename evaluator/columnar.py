"""Old path of :mod:`evaluator.backends.columnar` (issue 11): the names it had, from their
new modules.

``COLUMNAR`` (builtin name -> columnar implementation) is kept here for old callers only;
the builtin table (:data:`evaluator.lang.builtins.BUILTINS`) names each implementation."""

from evaluator.backends.columnar import (
    OVERFLOW_MARK,
    ColumnarResult,
    Compiler,
    CsvLayout,
    OutputSpec,
    Shape,
    Table,
    binary_as_text,
    check_columns,
    combine_aggregates,
    compile_outputs,
    csv_layout,
    determinations,
    evaluate_frame,
    facts_from_frame,
    parquet_facts,
    per_day,
    read_table,
    table_from_frame,
)
from evaluator.backends.columnar.functions import Impl, columnar_impl
from evaluator.errors import Unsupported
from evaluator.lang.builtins import BUILTINS

COLUMNAR: dict[str, Impl] = {n: columnar_impl(n) for n, b in BUILTINS.items()
                             if b.columnar is not None}

__all__ = [
    "COLUMNAR",
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
