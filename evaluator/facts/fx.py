"""FX rates (``currency,date,rate``, CAD per unit): the table that merges rates from
several inputs and refuses conflicting ones, and the readers of FX rows and FX CSV files.
Any bad FX row makes the rate table unusable (:class:`FactsError`)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal

from evaluator.facts.csvtext import RaggedRow, csv_records, stripped_row
from evaluator.facts.fields import (
    FactsError,
    FieldChecker,
    parse_currency,
    parse_date,
    parse_rate,
)
from evaluator.facts.files import check_lines, decode_text, read_bytes

#: required columns of an FX rate table
FX_COLUMNS = ("currency", "date", "rate")


class FxTable:
    """FX rates with where each was first given, to explain conflicts."""

    def __init__(self) -> None:
        self.rates: dict[tuple[str, date], Decimal] = {}
        self.where: dict[tuple[str, date], str] = {}

    def add_row(self, row: Mapping[str, object], where: str) -> None:
        check = FieldChecker()
        currency = check(parse_currency, row.get("currency"), "currency")
        when = check(parse_date, row.get("date"), "date")
        rate = check(parse_rate, row.get("rate"), "rate")
        if check.problems:
            raise FactsError(f"{where}: {check.message}")
        assert currency is not None and when is not None and rate is not None
        self.add(currency, when, rate, where)

    def add(self, currency: str, when: date, rate: Decimal, where: str) -> None:
        key = (currency, when)
        known = self.rates.get(key)
        if known is None:
            self.rates[key] = rate
            self.where[key] = where
        elif known != rate:
            raise FactsError(
                f"{where}: conflicting FX rate for {currency} on {when.isoformat()}: "
                f"{rate} here, {known} at {self.where[key]}"
            )

    def merge(self, other: FxTable) -> None:
        for key, rate in other.rates.items():
            self.add(key[0], key[1], rate, other.where[key])


def parse_fx_csv(path: str | os.PathLike[str]) -> dict[tuple[str, date], Decimal]:
    """FX rates from a CSV file with header ``currency,date,rate`` (CAD per unit)."""
    return read_fx_csv(path).rates


def parse_fx_rows(
    rows: Iterable[Mapping[str, str | None]], source: str = "<memory>"
) -> dict[tuple[str, date], Decimal]:
    """FX rates from rows with keys currency, date, rate; raises FactsError when bad."""
    table = FxTable()
    for n, row in enumerate(rows, start=2):
        table.add_row(stripped_row(row), f"{source}: fx row {n}")
    return table.rates


def read_fx_csv(path: str | os.PathLike[str]) -> FxTable:
    """The FX table of a CSV file, each rate with the line that gave it."""
    source = os.fspath(path)
    check_lines(path, "FX file")
    text = decode_text(read_bytes(path, "FX file"), source)
    table = FxTable()
    for line, cells in csv_records(text, source, FX_COLUMNS):
        if isinstance(cells, RaggedRow):
            raise FactsError(f"{source}: line {line}: {cells.message}")
        table.add_row(
            stripped_row(dict(zip(FX_COLUMNS, cells, strict=True))), f"{source}: line {line}"
        )
    return table
