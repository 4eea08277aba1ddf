"""Validating report data: the untyped, JSON-able dict of ``unclaimed compare`` becomes a
typed, immutable :class:`ReportData`, or :class:`ReportDataError` names the bad path."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from typing import Final, NoReturn

from evaluator.apps.report.fmt import Kind, Number, Unit, to_decimal
from evaluator.errors import DataProblem


class ReportDataError(DataProblem, ValueError):
    """The report data does not have the documented shape."""


# ---------------------------------------------------------------------------------------
# Validation: the untyped dict becomes a typed, immutable report.


@dataclass(frozen=True)
class _Facts:
    source: str
    sha256: str | None
    accounts: int
    errors: int


@dataclass(frozen=True)
class _Policy:
    id: str
    version: str
    sha256: str
    status: str
    title: str
    models: str | None
    #: label -> the rule's text, for the provisions the policy declares with a text
    provisions: tuple[tuple[str, str], ...] = ()
    #: label -> the policy's reading of its rule (its interpretations: its assumptions)
    interpretations: tuple[tuple[str, str], ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"


@dataclass(frozen=True)
class _Assumption:
    name: str
    value: str
    description: str
    source: str


@dataclass(frozen=True)
class _Series:
    label: str
    unit: Unit
    values: dict[str, tuple[Number | None, ...]]


@dataclass(frozen=True)
class Chart:
    metric: str
    title: str
    kind: Kind


@dataclass(frozen=True)
class _Difference:
    member_id: str
    account_id: str
    policy: str
    fields: tuple[str, ...]
    first_definition: str | None
    explanation: str
    amount_cad: str | None


@dataclass(frozen=True)
class ReportData:
    title: str
    as_of: str
    horizon: int
    facts: _Facts
    policies: tuple[_Policy, ...]
    assumptions: tuple[_Assumption, ...]
    columns: tuple[str, ...]
    rows: tuple[tuple[str | Number | None, ...], ...]
    years: tuple[int, ...]
    series: dict[str, _Series]
    charts: tuple[Chart, ...]
    differences: tuple[_Difference, ...]
    findings: tuple[str, ...]
    #: per regime and year of transfer: how long the holder stays liable (optional)
    liability: tuple[tuple[str, ...], ...] = ()


#: the columns of the optional ``liability`` rows
LIABILITY_COLUMNS: Final = ("policy", "year", "transfers", "transferred (CAD)",
                            "liability ends")
_TOP_KEYS: Final = (
    "title", "as_of", "horizon", "facts", "policies", "assumptions", "summary",
    "yearly", "charts", "differences", "findings",
)
_LIMIT: Final = Decimal(10) ** 18  # far beyond any portfolio; keeps decimal arithmetic exact
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


def _fail(path: str, message: str) -> NoReturn:
    raise ReportDataError(f"report data: {path}: {message}" if path else f"report data: {message}")


def _kind_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _object(value: object, path: str, keys: Sequence[str],
            optional: Sequence[str] = ()) -> dict[str, object]:
    if not isinstance(value, Mapping):
        _fail(path, f"expected an object, got {_kind_of(value)}")
    for k in value:
        if not isinstance(k, str):
            _fail(path, f"keys must be strings, got {_kind_of(k)}")
    extra = sorted(k for k in value if k not in keys and k not in optional)
    if extra:
        _fail(path, f"unknown key(s) {', '.join(map(repr, extra))} "
              f"(expected {', '.join([*keys, *optional])})")
    missing = [k for k in keys if k not in value]
    if missing:
        _fail(path, f"missing key(s) {', '.join(map(repr, missing))}")
    return {k: value[k] for k in [*keys, *optional] if k in value}


def _str(value: object, path: str, *, nonempty: bool = False) -> str:
    if not isinstance(value, str):
        _fail(path, f"expected a string, got {_kind_of(value)}")
    if nonempty and not value.strip():
        _fail(path, "must not be empty")
    return value


def _opt_str(value: object, path: str) -> str | None:
    return None if value is None else _str(value, path)


def _int(value: object, path: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(path, f"expected an integer, got {_kind_of(value)}")
    if value < minimum:
        _fail(path, f"must be at least {minimum}, got {value}")
    return value


def _num(value: object, path: str) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        _fail(path, f"expected a number, got {_kind_of(value)}")
    d = to_decimal(value)  # NaN and infinities become Decimal ones
    if not d.is_finite():
        _fail(path, f"expected a finite number, got {value!r}")
    if abs(d) >= _LIMIT:
        _fail(path, f"number out of range: {value!r}")
    return value


def _list(value: object, path: str) -> list[object]:
    if not isinstance(value, list | tuple):
        _fail(path, f"expected a list, got {_kind_of(value)}")
    return list(value)


def validated(data: object) -> ReportData:
    top = _object(data, "", _TOP_KEYS, ("liability",))
    title = _str(top["title"], "title", nonempty=True)
    as_of = _str(top["as_of"], "as_of")
    try:
        if not _DATE.fullmatch(as_of):
            raise ValueError(as_of)
        dt.date.fromisoformat(as_of)
    except ValueError:
        _fail("as_of", f"expected a date as YYYY-MM-DD, got {as_of!r}")
    horizon = _int(top["horizon"], "horizon")

    f = _object(top["facts"], "facts", ("source", "sha256", "accounts", "errors"))
    facts = _Facts(
        source=_str(f["source"], "facts.source"),
        sha256=_opt_str(f["sha256"], "facts.sha256"),
        accounts=_int(f["accounts"], "facts.accounts"),
        errors=_int(f["errors"], "facts.errors"),
    )

    policies: list[_Policy] = []
    for i, raw in enumerate(_list(top["policies"], "policies")):
        p = f"policies[{i}]"
        o = _object(raw, p, ("id", "version", "sha256", "status", "title", "models"),
                    ("provisions", "interpretations"))
        quoted = o.get("provisions", {})
        read = o.get("interpretations", {})
        for key, value in (("provisions", quoted), ("interpretations", read)):
            if not isinstance(value, Mapping) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                _fail(f"{p}.{key}", "expected an object of label: text")
        assert isinstance(quoted, Mapping) and isinstance(read, Mapping)
        policy = _Policy(
            id=_str(o["id"], f"{p}.id", nonempty=True),
            version=_str(o["version"], f"{p}.version", nonempty=True),
            sha256=_str(o["sha256"], f"{p}.sha256", nonempty=True),
            status=_str(o["status"], f"{p}.status"),
            title=_str(o["title"], f"{p}.title"),
            models=_opt_str(o["models"], f"{p}.models"),
            provisions=tuple((str(k), str(v)) for k, v in quoted.items()),
            interpretations=tuple((str(k), str(v)) for k, v in read.items()),
        )
        if any(q.id == policy.id for q in policies):
            _fail(f"{p}.id", f"duplicate policy id {policy.id!r}")
        policies.append(policy)
    if not policies:
        _fail("policies", "at least one policy (the reference) is required")
    ids = [p.id for p in policies]

    assumptions = []
    for i, raw in enumerate(_list(top["assumptions"], "assumptions")):
        p = f"assumptions[{i}]"
        o = _object(raw, p, ("name", "value", "description", "source"))
        assumptions.append(_Assumption(
            name=_str(o["name"], f"{p}.name", nonempty=True),
            value=_str(o["value"], f"{p}.value"),
            description=_str(o["description"], f"{p}.description"),
            source=_str(o["source"], f"{p}.source"),
        ))

    s = _object(top["summary"], "summary", ("columns", "rows"))
    columns = tuple(
        _str(c, f"summary.columns[{i}]") for i, c in enumerate(_list(s["columns"], "summary.columns"))
    )
    if not columns:
        _fail("summary.columns", "at least one column is required")
    rows = []
    for i, raw in enumerate(_list(s["rows"], "summary.rows")):
        cells = _list(raw, f"summary.rows[{i}]")
        if len(cells) != len(columns):
            _fail(f"summary.rows[{i}]", f"has {len(cells)} cells, expected {len(columns)} (one per column)")
        row: list[str | Number | None] = []
        for j, c in enumerate(cells):
            row.append(c if c is None or isinstance(c, str) else _num(c, f"summary.rows[{i}][{j}]"))
        rows.append(tuple(row))

    y = _object(top["yearly"], "yearly", ("years", "series"))
    years = tuple(_int(v, f"yearly.years[{i}]") for i, v in enumerate(_list(y["years"], "yearly.years")))
    if any(b <= a for a, b in pairwise(years)):
        _fail("yearly.years", "years must be strictly increasing")
    raw_series = y["series"]
    if not isinstance(raw_series, Mapping):
        _fail("yearly.series", f"expected an object, got {_kind_of(raw_series)}")
    series: dict[str, _Series] = {}
    for key, raw in raw_series.items():
        if not isinstance(key, str):
            _fail("yearly.series", f"keys must be strings, got {_kind_of(key)}")
        p = f"yearly.series.{key}"
        o = _object(raw, p, ("label", "unit", "values"))
        unit = o["unit"]
        if unit != "CAD" and unit != "count":
            _fail(f"{p}.unit", f"expected 'CAD' or 'count', got {unit!r}")
        vals = o["values"]
        if not isinstance(vals, Mapping):
            _fail(f"{p}.values", f"expected an object, got {_kind_of(vals)}")
        values: dict[str, tuple[Number | None, ...]] = {}
        for pid, seq in vals.items():
            if pid not in ids:
                _fail(f"{p}.values", f"unknown policy id {pid!r} (known: {', '.join(ids)})")
            items = _list(seq, f"{p}.values.{pid}")
            if len(items) != len(years):
                _fail(f"{p}.values.{pid}", f"has {len(items)} values, expected {len(years)} (one per year)")
            values[pid] = tuple(
                None if v is None else _num(v, f"{p}.values.{pid}[{i}]") for i, v in enumerate(items)
            )
        series[key] = _Series(label=_str(o["label"], f"{p}.label"), unit=unit, values=values)

    charts = []
    for i, raw in enumerate(_list(top["charts"], "charts")):
        p = f"charts[{i}]"
        o = _object(raw, p, ("metric", "title", "kind"))
        metric = _str(o["metric"], f"{p}.metric")
        if metric not in series:
            _fail(f"{p}.metric", f"no series {metric!r} in yearly.series (known: {', '.join(series) or 'none'})")
        kind = o["kind"]
        if kind != "bar" and kind != "line":
            _fail(f"{p}.kind", f"expected 'bar' or 'line', got {kind!r}")
        if not years:
            _fail("yearly.years", "charts need at least one year")
        charts.append(Chart(metric=metric, title=_str(o["title"], f"{p}.title"), kind=kind))

    differences = []
    for i, raw in enumerate(_list(top["differences"], "differences")):
        p = f"differences[{i}]"
        o = _object(raw, p, ("member_id", "account_id", "policy", "fields", "first_definition",
                             "explanation", "amount_cad"))
        differences.append(_Difference(
            member_id=_str(o["member_id"], f"{p}.member_id"),
            account_id=_str(o["account_id"], f"{p}.account_id"),
            policy=_str(o["policy"], f"{p}.policy"),
            fields=tuple(_str(v, f"{p}.fields[{j}]") for j, v in enumerate(_list(o["fields"], f"{p}.fields"))),
            first_definition=_opt_str(o["first_definition"], f"{p}.first_definition"),
            explanation=_str(o["explanation"], f"{p}.explanation"),
            amount_cad=_opt_str(o["amount_cad"], f"{p}.amount_cad"),
        ))

    findings = tuple(
        _str(v, f"findings[{i}]") for i, v in enumerate(_list(top["findings"], "findings"))
    )
    liability = []
    for i, raw in enumerate(_list(top.get("liability", []), "liability")):
        cells = _list(raw, f"liability[{i}]")
        if len(cells) != len(LIABILITY_COLUMNS):
            _fail(f"liability[{i}]", f"has {len(cells)} cells, expected "
                  f"{len(LIABILITY_COLUMNS)} ({', '.join(LIABILITY_COLUMNS)})")
        liability.append(tuple(_str(c, f"liability[{i}][{j}]") for j, c in enumerate(cells)))
    return ReportData(
        liability=tuple(liability),
        title=title, as_of=as_of, horizon=horizon, facts=facts, policies=tuple(policies),
        assumptions=tuple(assumptions), columns=columns, rows=tuple(rows), years=years,
        series=series, charts=tuple(charts), differences=tuple(differences), findings=findings,
    )


def validate_report(data: object) -> None:
    """Raise :class:`ReportDataError` (a ``ValueError``) unless ``data`` is valid report data."""
    validated(data)
