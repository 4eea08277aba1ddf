"""Reading facts: JSON profiles and account snapshot tables into :mod:`evaluator.model`.

Two input forms give one fact model (see ``contract.md``, "Facts in"):

* a **full profile** (``.json``): ``members`` with their ``accounts`` and dated
  ``events``, plus optional ``claims`` and ``fx_rates``;
* an **account snapshot table** (``.csv``): one row per account with the dates of
  the latest transaction, statement acknowledgement and response. Each row becomes
  an :class:`~evaluator.model.Account` plus synthetic events (``transaction`` on the
  account, member-level ``statement_ack`` and ``response``), so a profile and its
  snapshot give equal :class:`~evaluator.model.Member` values.

FX rates (``currency,date,rate``) may be embedded in the JSON form and/or given as
a separate CSV file; both are merged, and one (currency, date) with two different
rates is an error.

This package re-exports the names callers use; the code lives in :mod:`.fields` (one
field of a record), :mod:`.files` (bounded file reading), :mod:`.csvtext` (CSV text into
records), :mod:`.fx` (FX rates), :mod:`.builder` (records into :class:`Facts`) and
:mod:`.load` (the public loaders).

Validation policy
-----------------
* The input **as a whole** is unusable -> :class:`FactsError`, a one-line message
  naming the file (and line or row where known): unreadable file, malformed JSON,
  a top level that is not an object, ``members``/``claims``/``fx_rates`` that are
  not lists, a CSV header without the required columns, a quote in a CSV file that is
  never closed (it would swallow the rest of the file; the message names the line
  where it opened), any bad FX rate or FX row (the rate table is one input) and
  conflicting duplicate rates.
* A **record** is unusable -> a :class:`~evaluator.model.RecordError` in
  ``Facts.errors``; every other record is still loaded:

  - a bad account field drops that account (the member's other accounts are kept),
    together with the events that name it;
  - a bad event (or a member without a usable ``member_id``, a duplicate
    ``member_id``, ``accounts``/``events`` that are not lists) drops the whole
    member, since dropping one event would silently change its results; there is
    one error per account of the member (accounts with their own problems report
    those instead);
  - an account id seen before anywhere in the input is an error for the second
    and later occurrences (even when the first occurrence was itself invalid);
  - a member with no accounts at all gets one error with ``account_id=None``;
  - a bad claim, or a duplicate ``claim_id``, is one error for that claim;
  - in a snapshot, a bad row is one error for that row (all its cells, including
    the member-level dates, are ignored); the other rows still load. A row with more
    or fewer cells than the header (a missing cell, an unquoted ``1,234.56``) cannot
    be matched to columns: it is an error with ``field="*"``, naming the ids found in
    the id columns' places;
  - an error about a record as a whole (a member, account or claim that is not an
    object, a ragged row) has ``field="*"``.

  The number of errors is therefore exactly the number of records (accounts, or
  members without accounts, plus claims) that were not loaded.

Leniency, on purpose
--------------------
* What a record holds is declared (:mod:`evaluator.declared`): the standard deposit
  declaration, plus a policy's own ``facts:`` read into each record's ``extra``
  (``load_facts(path, policy=policy)``). Keys of a JSON object and columns of a table
  that the declaration does not name are not used: each is counted in
  ``Facts.unknown`` (``Facts.unknown_warnings()``: one line per key or column, with
  the records carrying it), which the CLI prints as warnings (errors under
  ``--strict``). An optional ``kind`` column sets :attr:`Account.kind`.
* ``amount`` and ``mark`` on event types that do not use them are ignored. A
  member-level event may name one of the member's accounts; it keeps it.
* A ``transfer`` records what accompanied it in ``attachments``: the names of its
  other keys whose value is ``true``, plus the strings listed under ``with``.
* Account events (transaction, fee, interest, transfer) naming an account the member
  declares but which was rejected are dropped with that account (its error is
  reported); member-level events (statement_ack, notice, response) are kept, since
  they count for the whole profile. An event naming an account the member does not
  declare at all makes the member unusable.
* Claims are not cross-checked against accounts (a claim may concern an account
  that is no longer on the books).
* CSV cells are stripped of surrounding blanks; an empty cell is "absent"; rows
  whose cells are all empty or blank (however many there are) are skipped; a UTF-8
  byte order mark is tolerated. A row's location (``row N``) is the line it starts on.
* JSON ``null`` is "absent" for optional fields (``kind``, event ``account_id``,
  the claim fields after ``received``, the top-level lists).

Strictness
----------
Money and rates are decimal strings (``-?digits[.digits]``) or JSON numbers (read
exactly; a Python float is converted through ``repr``), never binary floats;
``NaN``/``Infinity`` are rejected. Balances and fee/interest/transfer amounts must
be >= 0, rates > 0. Dates are ``YYYY-MM-DD`` and must exist (``date`` objects are
accepted from Python callers, datetimes are not). Currencies are three upper-case
letters. Ids are non-blank strings (a JSON number is not an id).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evaluator.facts.builder import FactsBuilder
    from evaluator.facts.csvtext import (
        CsvHeader,
        RaggedRow,
        check_header,
        csv_header,
        csv_records,
        csv_rows,
        csv_table,
        stripped_row,
    )
    from evaluator.facts.fields import (
        CURRENCY_RE,
        DECIMAL_RE,
        MAX_ID_LENGTH,
        SNAPSHOT_CELLS,
        SNAPSHOT_COLUMNS,
        FactsError,
        iso_date,
    )
    from evaluator.facts.files import (
        DEFAULT_MAX_LINE_BYTES,
        MAX_LINE_BYTES_ENV,
        check_lines,
        check_regular,
        decode_text,
        max_line_bytes,
        open_regular,
        read_bytes,
    )
    from evaluator.facts.fx import FX_COLUMNS, FxTable, parse_fx_csv, parse_fx_rows, read_fx_csv
    from evaluator.facts.load import (
        facts_from_bytes,
        facts_from_json,
        facts_from_snapshot,
        load_facts,
    )

#: where each name is defined: a name is imported when first used (PEP 562), so that
#: importing the package (a policy's check, a profile's evaluation) costs only what
#: is used
_WHERE: dict[str, str] = {
    "CURRENCY_RE": "fields",
    "CsvHeader": "csvtext",
    "DECIMAL_RE": "fields",
    "DEFAULT_MAX_LINE_BYTES": "files",
    "FX_COLUMNS": "fx",
    "FactsBuilder": "builder",
    "FactsError": "fields",
    "FxTable": "fx",
    "MAX_ID_LENGTH": "fields",
    "MAX_LINE_BYTES_ENV": "files",
    "RaggedRow": "csvtext",
    "SNAPSHOT_CELLS": "fields",
    "SNAPSHOT_COLUMNS": "fields",
    "check_header": "csvtext",
    "check_lines": "files",
    "check_regular": "files",
    "csv_header": "csvtext",
    "csv_records": "csvtext",
    "csv_rows": "csvtext",
    "csv_table": "csvtext",
    "decode_text": "files",
    "facts_from_bytes": "load",
    "facts_from_json": "load",
    "facts_from_snapshot": "load",
    "iso_date": "fields",
    "load_facts": "load",
    "max_line_bytes": "files",
    "open_regular": "files",
    "parse_fx_csv": "fx",
    "parse_fx_rows": "fx",
    "read_bytes": "files",
    "read_fx_csv": "fx",
    "stripped_row": "csvtext",
}

__all__ = [
    "CURRENCY_RE",
    "DECIMAL_RE",
    "DEFAULT_MAX_LINE_BYTES",
    "FX_COLUMNS",
    "MAX_ID_LENGTH",
    "MAX_LINE_BYTES_ENV",
    "SNAPSHOT_CELLS",
    "SNAPSHOT_COLUMNS",
    "CsvHeader",
    "FactsBuilder",
    "FactsError",
    "FxTable",
    "RaggedRow",
    "check_header",
    "check_lines",
    "check_regular",
    "csv_header",
    "csv_records",
    "csv_rows",
    "csv_table",
    "decode_text",
    "facts_from_bytes",
    "facts_from_json",
    "facts_from_snapshot",
    "iso_date",
    "load_facts",
    "max_line_bytes",
    "open_regular",
    "parse_fx_csv",
    "parse_fx_rows",
    "read_bytes",
    "read_fx_csv",
    "stripped_row",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
