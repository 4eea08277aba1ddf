"""Building the portfolio: deterministic random streams, member and account rows in
member-ordered chunks as polars frames, the FX table, and the summary of what was built."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from evaluator.apps.generate.assumptions import (
    DEFAULT_CHUNK_MEMBERS,
    Assumptions,
    BalanceModel,
    check_counts,
    minus_years,
)
from evaluator.apps.generate.distributions import (
    calendar_edges,
    day_ordinal,
    exponential,
    lognormal_below,
    norm_cdf,
    norm_ppf,
    to_cents,
    truncated_exponential,
)
from evaluator.facts import SNAPSHOT_COLUMNS

if TYPE_CHECKING:  # numpy and polars load on first use: `unclaimed --help` stays fast
    import numpy as np
    import numpy.typing as npt
    import polars as pl

    _Floats = npt.NDArray[np.float64]
    _Ints = npt.NDArray[np.int64]
    _Bools = npt.NDArray[np.bool_]


# --------------------------------------------------------------------------- generation

_DAYS_PER_YEAR = 365.2425
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BOUNDARY_KINDS = 9  # 29 Feb, 30 Sep, 1 Oct, 31 Dec, 1 Jan, and four as-of edges

# uniforms consumed per member / per deposit account / per member for extra kinds rows;
# changing a layout changes every portfolio, so the columns are named here.
_M_DORMANT, _M_GAP, _M_EDGE, _M_ANCHOR = 0, 1, 2, 3
_M_ACK, _M_ACK_GAP, _M_ACK_EDGE = 4, 5, 6
_M_RESP, _M_RESP_GAP, _M_RESP_EDGE = 7, 8, 9
_M_COUNT = 10
_MEMBER_DRAWS = 11
_A_CURRENCY, _A_COMPONENT, _A_BALANCE = 0, 1, 2
_A_TX_KIND, _A_TX_GAP, _A_TX_EDGE, _A_OPENED, _A_OPENED_EDGE = 3, 4, 5, 6, 7
_ACCOUNT_DRAWS = 8
_K_KIND, _K_BALANCE, _K_TX_KIND, _K_TX_GAP, _K_OPENED = 0, 1, 2, 3, 4
_KIND_DRAWS = 5
_KIND_NO_TX = 0.2  # share of gift-card/prepaid rows never used after purchase


def _streams(seed: int) -> list[np.random.Generator]:
    import numpy as np

    children = np.random.SeedSequence(seed).spawn(4)
    return [np.random.Generator(np.random.PCG64(child)) for child in children]


def _choose(u: _Floats, weights: Sequence[float]) -> _Ints:
    import numpy as np

    cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
    cumulative /= cumulative[-1]
    chosen: _Ints = np.searchsorted(cumulative[:-1], u, side="right").astype(np.int64)
    return chosen


def _snap(
    days: _Ints, u: _Floats, share: float, low: _Ints | int, high: _Ints | int, eligible: _Bools
) -> _Ints:
    """Move a share of ``days`` onto a calendar edge of their year, when it stays in range."""
    import numpy as np

    if share <= 0:
        return days
    pick = eligible & (u < share)
    if not pick.any():
        return days
    idx = np.flatnonzero(pick)
    kind = np.minimum((u[idx] / share * 5).astype(np.int64), 4)
    candidate = calendar_edges(days[idx], kind)
    lo = low[idx] if isinstance(low, np.ndarray) else low
    hi = high[idx] if isinstance(high, np.ndarray) else high
    ok = (candidate >= lo) & (candidate <= hi)
    out = days.copy()
    out[idx[ok]] = candidate[ok]
    return out


@dataclass
class _Chunk:
    """The arrays of one chunk, before they become a DataFrame."""

    first_member: int  # 0-based index of the chunk's first member
    member: _Ints  # per row: index of the member in the chunk
    ordinal: _Ints  # per row: 0 for A, 1 for B, ...
    currency: _Ints  # index into the currency codes
    cents: _Ints
    opened: _Ints
    last_tx: _Ints
    no_tx: _Bools
    ack: _Ints  # per member
    no_ack: _Bools
    resp: _Ints
    no_resp: _Bools
    dormant: _Bools  # per member
    kind: _Ints | None  # 0 = deposit, 1.. = Assumptions.kinds


class _Builder:
    """Builds chunks of consecutive members from the four streams."""

    def __init__(self, a: Assumptions, seed: int, kinds: bool) -> None:
        a.validate()
        self.a = a
        self.kinds = kinds
        self.balances = BalanceModel.from_assumptions(a)
        self.member_rng, self.account_rng, self.kind_rng, _ = _streams(seed)
        self.codes = [c for c, _ in a.currencies]
        self.currency_weights = [s for _, s in a.currencies]
        if "CAD" not in self.codes:  # gift-card/prepaid rows are in CAD
            self.codes.append("CAD")
            self.currency_weights.append(0.0)
        self.as_of = day_ordinal(a.as_of)
        self.start = day_ordinal(a.activity_start)
        # a profile whose last activity is on this day is inactive on as_of
        self.inactive_edge = day_ordinal(minus_years(a.as_of, 2))
        self.unclaimed_edge = day_ordinal(minus_years(a.as_of, 10))
        self.active_mu = math.log(a.active_median_balance)

    def chunk(self, first_member: int, n: int) -> _Chunk:
        import numpy as np

        a = self.a
        um = self.member_rng.random(n * _MEMBER_DRAWS).reshape(n, _MEMBER_DRAWS)
        dormant = um[:, _M_DORMANT] < a.dormant_share
        counts = 1 + _choose(um[:, _M_COUNT], a.accounts_per_member)

        # the profile's last activity (L): recent for active members, years ago for dormant ones
        active_limit = self.as_of - self.inactive_edge  # days; L must stay above the edge
        recent = np.minimum(
            np.floor(truncated_exponential(um[:, _M_GAP], a.active_recent_days, active_limit)),
            active_limit - 1,
        )
        lo, hi = a.dormant_years
        quiet = np.floor((lo + (hi - lo) * um[:, _M_GAP]) * _DAYS_PER_YEAR)
        last = np.maximum(self.as_of - np.where(dormant, quiet, recent), self.start)
        last = last.astype(np.int64)
        last = self._snap_profile(last, um[:, _M_EDGE], dormant)

        # what the last activity was: a statement acknowledgement, a response, or a transaction
        ua = um[:, _M_ANCHOR]
        by_ack = ua < a.anchor_ack_share
        by_resp = ~by_ack & (ua < a.anchor_ack_share + a.anchor_response_share)
        by_tx_share = 1.0 - a.anchor_ack_share - a.anchor_response_share
        position = (ua - a.anchor_ack_share - a.anchor_response_share) / max(by_tx_share, 1e-300)
        anchor = np.where(
            by_ack | by_resp, -1, np.minimum((position * counts).astype(np.int64), counts - 1)
        )

        ack, no_ack = self._member_date(
            last, by_ack, um[:, _M_ACK], um[:, _M_ACK_GAP], um[:, _M_ACK_EDGE],
            a.statement_ack_share, a.statement_ack_gap_days,
        )  # fmt: skip
        resp, no_resp = self._member_date(
            last, by_resp, um[:, _M_RESP], um[:, _M_RESP_GAP], um[:, _M_RESP_EDGE],
            a.response_share, a.response_gap_days,
        )  # fmt: skip

        # deposit accounts
        m = int(counts.sum())
        uacc = self.account_rng.random(m * _ACCOUNT_DRAWS).reshape(m, _ACCOUNT_DRAWS)
        member = np.repeat(np.arange(n, dtype=np.int64), counts)
        starts = np.cumsum(counts) - counts
        ordinal = np.arange(m, dtype=np.int64) - np.repeat(starts, counts)
        currency = _choose(uacc[:, _A_CURRENCY], self.currency_weights)
        row_dormant = dormant[member]
        values = np.empty(m, dtype=np.float64)
        values[row_dormant] = self.balances.sample(
            uacc[row_dormant, _A_COMPONENT], uacc[row_dormant, _A_BALANCE]
        )
        live = ~row_dormant
        values[live] = lognormal_below(
            uacc[live, _A_BALANCE], self.active_mu, a.active_sigma, a.balance_cap
        )
        cents = to_cents(values)

        row_last = last[member]
        is_anchor = ordinal == anchor[member]
        u_kind = uacc[:, _A_TX_KIND]
        no_tx = ~is_anchor & (u_kind < a.no_transaction_share)
        stale_below = a.no_transaction_share + a.stale_account_share
        stale = ~is_anchor & ~no_tx & live & (u_kind < stale_below)
        s_lo, s_hi = a.stale_years
        gap = np.where(
            stale,
            (s_lo + (s_hi - s_lo) * uacc[:, _A_TX_GAP]) * _DAYS_PER_YEAR,
            exponential(uacc[:, _A_TX_GAP], a.account_gap_days),
        )
        tx = np.where(is_anchor, row_last, np.maximum(row_last - np.floor(gap), self.start))
        tx = tx.astype(np.int64)
        tx = _snap(
            tx, uacc[:, _A_TX_EDGE], a.boundary_share, self.start, row_last, ~is_anchor & ~no_tx
        )
        opened = self._opened(
            np.where(no_tx, row_last, tx), uacc[:, _A_OPENED], uacc[:, _A_OPENED_EDGE]
        )

        chunk = _Chunk(
            first_member=first_member, member=member, ordinal=ordinal, currency=currency,
            cents=cents, opened=opened, last_tx=tx, no_tx=no_tx, ack=ack, no_ack=no_ack,
            resp=resp, no_resp=no_resp, dormant=dormant, kind=None,
        )  # fmt: skip
        if self.kinds:
            chunk = self._add_kinds(chunk, counts, last)
        return chunk

    def _snap_profile(self, last: _Ints, u: _Floats, dormant: _Bools) -> _Ints:
        """Move a share of profiles' last activity onto an edge, keeping dormancy."""
        import numpy as np

        share = self.a.boundary_share
        pick = u < share
        if share <= 0 or not pick.any():
            return last
        idx = np.flatnonzero(pick)
        kind = np.minimum((u[idx] / share * _BOUNDARY_KINDS).astype(np.int64), _BOUNDARY_KINDS - 1)
        candidate = calendar_edges(last[idx], np.minimum(kind, 4))
        edges = np.array(
            [
                self.inactive_edge,  # inactive from as_of exactly
                self.inactive_edge + 1,  # still active on as_of, inactive the day after
                self.unclaimed_edge,  # unclaimed from as_of exactly (without clamping)
                self.unclaimed_edge + 1,  # unclaimed the day after as_of
            ],
            dtype=np.int64,
        )
        candidate = np.where(kind >= 5, edges[np.maximum(kind - 5, 0)], candidate)
        quiet = dormant[idx]
        keeps_class = np.where(
            quiet, candidate <= self.inactive_edge, candidate > self.inactive_edge
        )
        ok = keeps_class & (candidate >= self.start) & (candidate <= self.as_of)
        out = last.copy()
        out[idx[ok]] = candidate[ok]
        return out

    def _member_date(
        self,
        last: _Ints,
        is_anchor: _Bools,
        u_present: _Floats,
        u_gap: _Floats,
        u_edge: _Floats,
        share: float,
        mean_gap: float,
    ) -> tuple[_Ints, _Bools]:
        """A member-level date: the last activity itself, an earlier one, or none."""
        import numpy as np

        earlier = np.maximum(last - np.floor(exponential(u_gap, mean_gap)), self.start)
        days = np.where(is_anchor, last, earlier).astype(np.int64)
        absent = ~is_anchor & (u_present >= share)
        days = _snap(days, u_edge, self.a.boundary_share, self.start, last, ~is_anchor & ~absent)
        return days, absent

    def _opened(self, latest: _Ints, u: _Floats, u_edge: _Floats) -> _Ints:
        """Opening days uniform between ``activity_start`` and ``latest``."""
        import numpy as np

        span = latest - self.start + 1
        opened = (latest - np.floor(u * span)).astype(np.int64)
        opened = np.clip(opened, self.start, latest)
        everywhere = np.ones_like(u, dtype=bool)
        return _snap(opened, u_edge, self.a.boundary_share, self.start, latest, everywhere)

    def _add_kinds(self, chunk: _Chunk, counts: _Ints, last: _Ints) -> _Chunk:
        """One extra gift-card/prepaid row after the deposit rows of a share of members."""
        import numpy as np

        a = self.a
        n = len(counts)
        uk = self.kind_rng.random(n * _KIND_DRAWS).reshape(n, _KIND_DRAWS)
        has = uk[:, _K_KIND] < a.kinds_share
        extra = np.flatnonzero(has)
        k = len(extra)
        kind = 1 + _choose(uk[extra, _K_KIND] / a.kinds_share, [s for _, s, _ in a.kinds])
        medians = np.log(np.array([md for _, _, md in a.kinds]))[kind - 1]
        ceiling = np.array(
            [norm_cdf((math.log(a.small_balance) - math.log(md)) / a.kinds_sigma)
             for _, _, md in a.kinds]
        )[kind - 1]  # fmt: skip
        z = norm_ppf(uk[extra, _K_BALANCE] * ceiling)
        cents = to_cents(np.exp(medians + a.kinds_sigma * z))
        row_last = last[extra]
        no_tx = uk[extra, _K_TX_KIND] < _KIND_NO_TX
        gap = np.floor(exponential(uk[extra, _K_TX_GAP], a.account_gap_days))
        tx = np.maximum(row_last - gap, self.start).astype(np.int64)
        latest = np.where(no_tx, row_last, tx)
        span = latest - self.start + 1
        opened = np.clip((latest - np.floor(uk[extra, _K_OPENED] * span)).astype(np.int64),
                         self.start, latest)  # fmt: skip

        # interleave: each member's extra row goes right after its deposit rows
        total = counts + has
        new_starts = np.cumsum(total) - total
        m = len(chunk.member)
        deposit_pos = np.repeat(new_starts, counts) + chunk.ordinal
        extra_pos = new_starts[extra] + counts[extra]
        size = m + k

        def merge(deposit: npt.NDArray[Any], added: npt.NDArray[Any]) -> npt.NDArray[Any]:
            out = np.empty(size, dtype=deposit.dtype)
            out[deposit_pos] = deposit
            out[extra_pos] = added
            return out

        cad = self.codes.index("CAD")
        return _Chunk(
            first_member=chunk.first_member,
            member=merge(chunk.member, extra),
            ordinal=merge(chunk.ordinal, counts[extra]),
            currency=merge(chunk.currency, np.full(k, cad, dtype=np.int64)),
            cents=merge(chunk.cents, cents),
            opened=merge(chunk.opened, opened),
            last_tx=merge(chunk.last_tx, tx),
            no_tx=merge(chunk.no_tx, no_tx),
            ack=chunk.ack,
            no_ack=chunk.no_ack,
            resp=chunk.resp,
            no_resp=chunk.no_resp,
            dormant=chunk.dormant,
            kind=merge(np.zeros(m, dtype=np.int64), kind),
        )


def _id_width(members: int) -> int:
    return max(7, len(str(members)))


def _frame(chunk: _Chunk, codes: Sequence[str], kinds: Sequence[str], width: int) -> pl.DataFrame:
    """The snapshot rows of one chunk (Parquet types: Date, Decimal(18, 2))."""
    import numpy as np
    import polars as pl

    letters = {i: _LETTERS[i] for i in range(len(_LETTERS))}
    member = chunk.member
    raw = pl.DataFrame(
        {
            "m": chunk.first_member + 1 + member,
            "o": chunk.ordinal,
            "c": chunk.currency,
            "b": chunk.cents,
            "opened": chunk.opened.astype(np.int32),
            "tx": chunk.last_tx.astype(np.int32),
            "no_tx": chunk.no_tx,
            "ack": chunk.ack[member].astype(np.int32),
            "no_ack": chunk.no_ack[member],
            "resp": chunk.resp[member].astype(np.int32),
            "no_resp": chunk.no_resp[member],
        }
    )
    if chunk.kind is not None:
        raw = raw.with_columns(k=pl.Series(chunk.kind))

    def day(col: str, absent: str) -> pl.Expr:
        return pl.when(pl.col(absent)).then(None).otherwise(pl.col(col).cast(pl.Date)).alias(col)

    member_id = pl.lit("M") + pl.col("m").cast(pl.String).str.zfill(width)
    columns: list[pl.Expr] = [
        member_id.alias("member_id"),
        pl.concat_str(
            [member_id, pl.lit("-"), pl.col("o").replace_strict(letters, return_dtype=pl.String)]
        ).alias("account_id"),
        pl.col("c")
        .replace_strict(dict(enumerate(codes)), return_dtype=pl.String)
        .alias("currency"),
        (pl.col("b").cast(pl.Decimal(18, 0)).cast(pl.Decimal(18, 2)) / 100)
        .cast(pl.Decimal(18, 2))
        .alias("balance"),
        pl.col("opened").cast(pl.Date).alias("opened"),
        day("tx", "no_tx").alias("last_transaction"),
        day("ack", "no_ack").alias("last_statement_ack"),
        day("resp", "no_resp").alias("last_response"),
    ]
    if chunk.kind is not None:
        names = {0: "deposit", **{i + 1: k for i, k in enumerate(kinds)}}
        columns.append(pl.col("k").replace_strict(names, return_dtype=pl.String).alias("kind"))
    return raw.select(columns)


def parquet_schema(kinds: bool) -> dict[str, pl.DataType]:
    import polars as pl

    schema: dict[str, pl.DataType] = {
        "member_id": pl.String(),
        "account_id": pl.String(),
        "currency": pl.String(),
        "balance": pl.Decimal(18, 2),
        "opened": pl.Date(),
        "last_transaction": pl.Date(),
        "last_statement_ack": pl.Date(),
        "last_response": pl.Date(),
    }
    if kinds:
        schema["kind"] = pl.String()
    assert tuple(schema)[:8] == SNAPSHOT_COLUMNS
    return schema


# --------------------------------------------------------------------------- summary


@dataclass
class Summary:
    """What was generated: counts, shares and balance figures, for the report."""

    out: str = ""
    fx_out: str = ""
    members: int = 0
    rows: int = 0
    deposit_rows: int = 0
    foreign_rows: int = 0
    dormant_members: int = 0
    dormant_rows: int = 0
    dormant_under_small: int = 0
    dormant_cents: int = 0
    dormant_cents_under_small: int = 0
    fx_rows: int = 0
    fx_missing: int = 0
    small_balance: float = 1000.0
    #: balance quantiles p10, p50, p90, p99 and the max, in the accounts' own currencies
    quantiles: dict[str, float] = field(default_factory=dict)
    #: quantiles use the rows of every ``stride``-th member (1: all rows, exact)
    stride: int = 1
    _cents: list[_Ints] = field(default_factory=list, repr=False)
    _max_cents: int = 0

    def add(self, chunk: _Chunk, codes: Sequence[str]) -> None:
        import numpy as np

        n = len(chunk.dormant)
        self.members += n
        self.rows += len(chunk.member)
        deposit = chunk.kind == 0 if chunk.kind is not None else np.ones(len(chunk.member), bool)
        self.deposit_rows += int(deposit.sum())
        cad = codes.index("CAD") if "CAD" in codes else -1
        self.foreign_rows += int((chunk.currency != cad).sum())
        self.dormant_members += int(chunk.dormant.sum())
        quiet = chunk.dormant[chunk.member] & deposit
        cents = chunk.cents[quiet]
        small = cents < round(self.small_balance * 100)
        self.dormant_rows += len(cents)
        self.dormant_under_small += int(small.sum())
        self.dormant_cents += int(cents.sum())
        self.dormant_cents_under_small += int(cents[small].sum())
        if len(chunk.cents):
            self._max_cents = max(self._max_cents, int(chunk.cents.max()))
        if self.stride == 1:
            self._cents.append(chunk.cents)
        else:
            sampled = (chunk.first_member + chunk.member) % self.stride == 0
            self._cents.append(chunk.cents[sampled])

    def finish(self) -> None:
        import numpy as np

        cents = np.concatenate(self._cents) if self._cents else np.zeros(0, np.int64)
        self._cents = []
        if len(cents):
            qs = (0.1, 0.5, 0.9, 0.99)
            values = np.quantile(cents, qs, method="inverted_cdf")
            self.quantiles = {
                f"p{round(q * 100)}": float(v) / 100 for q, v in zip(qs, values, strict=True)
            }
            self.quantiles["max"] = self._max_cents / 100

    @property
    def dormant_share_under_small(self) -> float:
        return self.dormant_under_small / self.dormant_rows if self.dormant_rows else 0.0

    @property
    def dormant_value_share_under_small(self) -> float:
        return self.dormant_cents_under_small / self.dormant_cents if self.dormant_cents else 0.0

    @property
    def dormant_mean(self) -> float:
        return self.dormant_cents / 100 / self.dormant_rows if self.dormant_rows else 0.0

    def render(self) -> str:
        rows = max(self.rows, 1)
        members = max(self.members, 1)
        q = self.quantiles
        quantiles = ", ".join(f"{k} {v:,.2f}" for k, v in q.items())
        extra = self.rows - self.deposit_rows
        kinds = f" (of which {extra:,} gift-card/prepaid)" if extra else ""
        missing = f", {self.fx_missing:,} left out on purpose" if self.fx_missing else ""
        return (
            f"Generated {self.rows:,} accounts{kinds} for {self.members:,} members "
            f"({self.rows / members:.2f} per member); {self.foreign_rows / rows:.1%} "
            f"in a foreign currency; {self.dormant_members / members:.1%} of members "
            f"({self.dormant_rows / rows:.1%} of accounts) dormant. Balances (own "
            f"currency): {quantiles}. Dormant balances: "
            f"{self.dormant_share_under_small:.1%} under {self.small_balance:,.2f}, "
            f"holding {self.dormant_value_share_under_small:.1%} of their value, mean "
            f"{self.dormant_mean:,.2f}. FX table: {self.fx_rows:,} rates{missing}. "
            f"Wrote {self.out} and {self.fx_out}."
        )


# --------------------------------------------------------------------------- public API


def iter_chunks(
    members: int,
    seed: int = 0,
    assumptions: Assumptions | None = None,
    *,
    kinds: bool = False,
    chunk_members: int = DEFAULT_CHUNK_MEMBERS,
    summary: Summary | None = None,
) -> Iterator[pl.DataFrame]:
    """The portfolio as DataFrames of whole members, in order (Parquet column types).

    The concatenation is the same whatever ``chunk_members`` is. ``summary``, if given,
    accumulates the figures of :class:`Summary` as chunks are produced.
    """
    a = assumptions or Assumptions()
    check_counts(members, seed, chunk_members)
    builder = _Builder(a, seed, kinds)
    width = _id_width(members)
    kind_names = [k for k, _, _ in a.kinds]
    for first in range(0, members, chunk_members):
        n = min(chunk_members, members - first)
        chunk = builder.chunk(first, n)
        if summary is not None:
            summary.add(chunk, builder.codes)
        yield _frame(chunk, builder.codes, kind_names, width)


def fx_table(seed: int = 0, assumptions: Assumptions | None = None) -> list[tuple[str, date, str]]:
    """(currency, 30 September, rate with 4 decimals) rows, by currency then date."""
    a = assumptions or Assumptions()
    a.validate()
    rng = _streams(seed)[3]
    first, last = a.fx_years()
    years = last - first + 1
    ranges = {c: (lo, hi) for c, lo, hi in a.fx_ranges}
    foreign = sorted({c for c, s in a.currencies if c != "CAD" and s > 0})
    rows: list[tuple[str, date, str]] = []
    for code in foreign:
        lo, hi = ranges[code]
        u = rng.random(2 * years + 1)
        rate = lo + (hi - lo) * u[0]
        step = a.fx_volatility * (hi - lo)
        for i in range(years):
            if i:
                rate += step * (2 * u[2 * i - 1] - 1)
                if rate > hi:  # reflect into the band
                    rate = 2 * hi - rate
                if rate < lo:
                    rate = 2 * lo - rate
                rate = min(max(rate, lo), hi)
            if u[2 * i + 2] >= a.missing_rates:
                rows.append((code, date(first + i, 9, 30), f"{rate:.4f}"))
    return rows
