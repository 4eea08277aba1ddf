"""A comparison's yearly projection (``yearly.csv``: notices, transfers, the Authority's
holdings, claims, costs and the program balance per policy and year), made of parts: a
run's share over some accounts (:func:`yearly_part`: counts, sums, the distinct
remittance windows, the liability ends counted per year) and the rows finished from the
parts (:func:`yearly_rows`), so one machine (one part, every account) and the Dask
engine's partitions (one part each, combined on the client) project alike."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from evaluator.apps.compare_liability import (
    LIABILITY_NOT_STATED,
    liability_end,
    liability_text,
)

if TYPE_CHECKING:
    from evaluator.backends.columnar import ColumnarResult
    from evaluator.policy import Policy


class Run(Protocol):
    """A comparison's run of one policy (:class:`evaluator.apps.compare.Run`), as the
    projection reads it."""

    policy: Policy
    result: ColumnarResult
    text: pl.DataFrame
    cents: pl.Series
    notice_due: list[tuple[str, str, str | None, Any]]


def label(p: Policy) -> str:
    """A policy as the comparison's rows name it (``id@version``)."""
    return f"{p.id}@{p.version}"


def number(text: str) -> Decimal:
    """An assumption's value: a number, or a percentage (``3%``)."""
    text = text.strip()
    if text.endswith("%"):
        return Decimal(text[:-1]) / 100
    return Decimal(text)


def cad(cents: int) -> str:
    """Cents as CAD text (``-12.05``)."""
    sign = "-" if cents < 0 else ""
    c = abs(int(cents))
    return f"{sign}{c // 100}.{c % 100:02d}"


@dataclass
class YearlyPart:
    """One run's share of the yearly projection over some accounts: per year, the
    transfers (count, cents, those with no liability limit), the distinct remittance
    windows (opens, closes), the liability ends (the year each ends, counted), the
    accounts becoming unclaimed and the notices due (count, cost); the cents already
    transferred; the months of fees prevented in each year of the projection; and the
    basis of the liability ends."""

    transfers: pl.DataFrame
    batches: pl.DataFrame
    ends: pl.DataFrame
    becoming: pl.DataFrame
    notices: pl.DataFrame
    already: int
    months: list[int]
    basis: str


def _param(p: Any, values: dict[str, str], name: str, default: str) -> Decimal:
    """An assumption the policy may set: the value asked for, else the policy's
    parameter, else ``default``."""
    v = values.get(name, "policy")
    if v != "policy":
        return number(v)
    spec = p.get(name)
    return Decimal(spec.value) if spec is not None and spec.value is not None \
        else number(default)


def yearly_part(run: Run, as_of: _dt.date, horizon: int, values: dict[str, str]
                ) -> YearlyPart:
    """The run's share of the yearly projection over its accounts."""
    years = list(range(as_of.year, horizon + 1))
    cost_notice = int(number(values["cost_per_notice"]) * 100)
    best_efforts = int(number(values["best_efforts_cost_per_notice"]) * 100)
    p = run.policy.document.parameters
    frame = run.result.frame.with_columns(
        run.cents.alias("__cents"),
        run.text.get_column("status").alias("__status"))
    ok = frame.filter(pl.col("__error").is_null())
    shapes = {s.name: s.shape for s in run.result.outputs}
    window = dict(shapes["payment_window"][1]) if "payment_window" in shapes else {}
    opens = pl.col(window["opens"][1]) if "opens" in window else pl.lit(None, pl.Date)
    closes = pl.col(window["closes"][1]) if "closes" in window else pl.lit(None, pl.Date)
    unclaimed = pl.col("out:unclaimed_on")
    scope_shape = shapes.get("in_scope")
    in_scope = (pl.col(scope_shape[1]) if scope_shape and scope_shape[0] == "col"
                else pl.lit(bool(scope_shape[1]) if scope_shape else True))
    # accounts the policy does not treat as deposits are never paid over
    pending = ok.filter((pl.col("__status") != "transferred") & in_scope)
    # a deposit whose window has already closed is paid in the as-of year
    pay_year = pl.when(closes < pl.lit(as_of)).then(pl.lit(as_of.year)).otherwise(
        opens.dt.year())
    ends, basis = liability_end(shapes, p, pl.max_horizontal(closes, pl.lit(as_of)))
    ends_year = (ends if ends is not None else pl.lit(None, pl.Date)).dt.year()
    paid = pending.filter(pl.col("__status").is_in(["unclaimed", "inactive", "active"])
                          ).select(pay_year.alias("year"), pl.col("__cents"),
                                   opens.alias("o"), closes.alias("c"), ends_year.alias("e"))
    transfers = paid.group_by("year").agg(
        pl.len().cast(pl.Int64).alias("n"), pl.col("__cents").fill_null(0).sum().alias("cad"),
        (pl.col("e").is_null() & pl.col("__cents").is_not_null()).sum().cast(pl.Int64)
        .alias("no_limit"))
    batches = paid.select("year", "o", "c").unique()
    ends_counted = paid.filter(pl.col("e").is_not_null()).group_by("year", "e").agg(
        pl.len().cast(pl.Int64).alias("count"))
    becoming = ok.filter(in_scope).group_by(unclaimed.dt.year().alias("year")).agg(
        pl.len().cast(pl.Int64).alias("n"), pl.col("__cents").fill_null(0).sum().alias("cad"))
    effort = p["notice_effort"].value if "notice_effort" in p else "proportionate"
    notices = []
    for present, due, required, mark in run.notice_due:
        req = pl.col(required) if required else pl.lit(True)
        if effort == "best-efforts":
            cost = pl.col(due).is_not_null().cast(pl.Int64) * best_efforts
        else:  # proportionate to the balance at the five- and nine-year marks
            scaled = (pl.col("__cents").fill_null(100_000) * cost_notice // 100_000) \
                .clip(cost_notice // 4, cost_notice * 5)
            cost = pl.when(mark.is_in(["5y", "9y"])).then(scaled).otherwise(
                pl.lit(cost_notice, pl.Int64))
        notices.append(ok.filter(pl.col(present) & req & (pl.col(due) >= pl.lit(as_of)))
                       .group_by(pl.col(due).dt.year().alias("year")).agg(
                           pl.len().cast(pl.Int64).alias("n"),
                           cost.sum().cast(pl.Int64).alias("cost")))
    already = int(ok.filter(pl.col("__status") == "transferred")
                  .select(pl.col("__cents").fill_null(0).sum()).item() or 0)
    months = []
    for y in years:
        start, end = _dt.date(y, 1, 1), _dt.date(y, 12, 31)
        # months an account is unclaimed and not yet paid in year y: fees 2(16) prevents
        months.append(int(pending.filter((unclaimed <= pl.lit(end)) & (closes >= pl.lit(start)))
                          .select(((pl.min_horizontal(closes, pl.lit(end))
                                    - pl.max_horizontal(unclaimed, pl.lit(start)))
                                   .dt.total_days().clip(lower_bound=0) // 30).sum())
                          .item() or 0))
    return YearlyPart(transfers, batches, ends_counted, becoming,
                      pl.concat(notices) if notices else pl.DataFrame(
                          schema={"year": pl.Int32, "n": pl.Int64, "cost": pl.Int64}),
                      already, months, basis)


def yearly_rows(policy: Policy, parts: list[YearlyPart], as_of: _dt.date, horizon: int,
                values: dict[str, str]) -> list[dict[str, Any]]:
    """The policy's rows of ``yearly.csv`` from its runs' parts (every account in one
    part or another)."""
    years = list(range(as_of.year, horizon + 1))
    fee = int(number(values["monthly_fee"]) * 100)
    claim_rate = number(values["claim_rate"])
    years_before_claim = number(values["years_before_claim"])
    avg_claim = int(number(values["average_claim_cad"]) * 100)
    p = policy.document.parameters
    ret = _param(p, values, "investment_return", "3%")
    fixed = int(_param(p, values, "administration_cost_fixed", "0") * 100)
    per_transfer = int(_param(p, values, "cost_per_transfer", "25") * 100)
    per_claim = int(_param(p, values, "cost_per_claim", "150") * 100)
    rate = Decimal(p["interest_rate"].value) if "interest_rate" in p else Decimal(0)
    basis = parts[0].basis
    transfers = pl.concat([q.transfers for q in parts], how="vertical_relaxed").group_by(
        "year").agg(pl.col("n").sum(), pl.col("cad").sum(), pl.col("no_limit").sum())
    batches = pl.concat([q.batches for q in parts], how="vertical_relaxed").unique() \
        .group_by("year").agg(pl.len().alias("batches"))
    # each end as often as counted: the median is the one a single frame gives
    ends = pl.concat([q.ends for q in parts], how="vertical_relaxed").group_by(
        "year", "e").agg(pl.col("count").sum()).with_columns(
        pl.col("e").repeat_by("count")).explode("e").group_by("year").agg(
        pl.col("e").min().alias("ends_first"), pl.col("e").max().alias("ends_last"),
        pl.col("e").quantile(0.5, "lower").alias("ends_median"))
    by_year: dict[Any, dict[str, Any]] = {r["year"]: dict(r) for r in transfers.iter_rows(
        named=True)}
    for frame in (batches, ends):
        for r in frame.iter_rows(named=True):
            by_year.setdefault(r["year"], {}).update(r)
    becoming = pl.concat([q.becoming for q in parts], how="vertical_relaxed").group_by(
        "year").agg(pl.col("n").sum(), pl.col("cad").sum())
    becoming_y = {r["year"]: r for r in becoming.iter_rows(named=True)}
    notices = pl.concat([q.notices for q in parts], how="vertical_relaxed").group_by(
        "year").agg(pl.col("n").sum(), pl.col("cost").fill_null(0).sum())
    notices_y = {r["year"]: r for r in notices.iter_rows(named=True)}
    months = [sum(q.months[i] for q in parts) for i in range(len(years))]
    held = sum(q.already for q in parts)
    rows: list[dict[str, Any]] = []
    for i, y in enumerate(years):
        t = {"n": 0, "cad": 0, "batches": 0, "ends_first": None, "ends_last": None,
             "ends_median": None, "no_limit": 0, **by_year.get(y, {})}
        stated = basis != LIABILITY_NOT_STATED
        no_limit = int(t["no_limit"] or 0) if stated else 0
        median = int(t["ends_median"]) if t["ends_median"] is not None else None
        b = becoming_y.get(y, {"n": 0, "cad": 0})
        n = notices_y.get(y, {"n": 0, "cost": 0})
        claims_paid = int(Decimal(held) * claim_rate)
        interest = int(Decimal(claims_paid) * ((1 + rate) ** years_before_claim - 1))
        held_start = held
        held = held + int(t["cad"]) - claims_paid
        claims_n = claims_paid // avg_claim if avg_claim else 0
        earnings = int((Decimal(held_start + held) / 2) * ret)
        costs = fixed + per_transfer * int(t["n"]) + per_claim * claims_n
        balance = earnings - costs - interest
        rows.append({
            "policy": label(policy), "year": y,
            "notices_due": int(n["n"]),
            "notice_cost_cad": cad(int(n["cost"] or 0)),
            "becoming_unclaimed": int(b["n"]), "becoming_unclaimed_cad": cad(b["cad"]),
            "transfers": int(t["n"]), "transfers_cad": cad(t["cad"]),
            "remittance_batches": int(t["batches"]),
            "liability_ends_first": t["ends_first"], "liability_ends_median": median,
            "liability_ends_last": t["ends_last"], "liability_no_limit": no_limit,
            "liability_basis": basis,
            "liability_ends": liability_text(t["ends_first"], median, t["ends_last"],
                                              no_limit, int(t["n"]), basis),
            "fees_prevented_cad": cad(int(months[i]) * fee),
            "claims_paid_cad": cad(claims_paid), "claims": claims_n,
            "interest_payable_cad": cad(interest),
            "held_by_authority_cad": cad(held),
            "investment_earnings_cad": cad(earnings),
            "administration_costs_cad": cad(costs),
            "program_balance_cad": cad(balance),
            "assessment_effect": "offset" if balance >= 0 else "recovery",
        })
    return rows


def yearly_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """``yearly.csv``'s frame from the policies' rows."""
    return pl.DataFrame(rows, schema_overrides={
        k: pl.Int64 for k in ("liability_ends_first", "liability_ends_median",
                              "liability_ends_last")})


def yearly(runs: Sequence[Run], as_of: _dt.date, horizon: int, values: dict[str, str]
           ) -> pl.DataFrame:
    """The yearly projection of runs over every account (one part each)."""
    return yearly_frame([row for run in runs for row in yearly_rows(
        run.policy, [yearly_part(run, as_of, horizon, values)], as_of, horizon, values)])


__all__ = ["YearlyPart", "cad", "label", "number", "yearly", "yearly_frame", "yearly_part",
           "yearly_rows"]
