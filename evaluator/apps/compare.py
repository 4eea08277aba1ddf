"""Several policies over one portfolio: per-account differences and yearly projections.

Every policy is evaluated over the same snapshot table with the columnar backend. The
first policy is the reference: for every other one, ``accounts.csv`` says which fields
of each account differ from it and, for the accounts whose determinations differ, the
first definition (in the reference's dependency order) where the two diverge, found by
re-running that member through the scalar path with traces (up to ``trace_limit``
accounts per policy, the largest amounts first). ``yearly.csv`` projects, from the as-of
year to the horizon and as if no member comes back, what each policy implies per year.
Every figure that is assumed rather than read from the facts or the policy is an
*assumption* (``--assumptions FILE`` overrides them; ``default_assumptions()`` lists them).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import yaml

from evaluator.apps.compare_liability import (
    liability_overall,
)
from evaluator.apps.compare_parts import AccountsParts, Profiles, finished
from evaluator.apps.compare_yearly import cad as _cad
from evaluator.apps.compare_yearly import label as _label
from evaluator.apps.compare_yearly import yearly
from evaluator.apps.portfolio import output_columns
from evaluator.backends.columnar import ColumnarResult, Table, evaluate_frame
from evaluator.facts.model import Facts
from evaluator.resources import data_file

if TYPE_CHECKING:
    from evaluator.policy import Policy

#: the assumed figures of a projection: name -> (default, description, source)
ASSUMPTIONS: dict[str, tuple[str, str, str]] = {
    "monthly_fee": ("2.00", "fee a credit union would charge an unclaimed account per month "
                    "(what 2(16) prevents)", "assumption; typical inactive-account fee"),
    "claim_rate": ("1.5%", "share of the amounts held that owners claim back each year",
                   "assumption"),
    "years_before_claim": ("3", "average years an amount is held before it is claimed",
                           "assumption"),
    "cost_per_notice": ("4.00", "credit union's cost of one notice (2(2), 2(3)); at the "
                        "five- and nine-year marks, steps proportionate to the balance cost "
                        "this much per $1,000 of balance, between 0.25 and 5 times it",
                        "assumption"),
    "best_efforts_cost_per_notice": ("25.00", "credit union's cost of one notice when it "
                                     "must make best efforts whatever the balance "
                                     "(policies whose notice_effort is best-efforts)",
                                     "assumption"),
    "investment_return": ("policy", "annual return on amounts held (5(2))",
                          "the policy's `investment_return`, unless set here"),
    "administration_cost_fixed": ("policy", "fixed yearly cost of the program (5(2))",
                                  "the policy's `administration_cost_fixed`, unless set here"),
    "cost_per_transfer": ("policy", "Authority's cost of receiving one transfer",
                          "the policy's `cost_per_transfer`, unless set here"),
    "cost_per_claim": ("policy", "Authority's cost of deciding one claim",
                       "the policy's `cost_per_claim`, unless set here"),
    "average_claim_cad": ("420.00", "average amount of one claim (to count claims from "
                          "amounts)", "assumption; Bank of Canada's average unclaimed balance"),
}

KEY_FIELDS = ("status", "inactive_on", "unclaimed_on", "window_opens", "window_closes",
              "window_provision", "amount_cad", "notices", "findings", "in_scope")


DEFAULTS_FILE = data_file("assumptions.yaml")


def default_assumptions() -> dict[str, str]:
    """The shipped defaults (evaluator/data/assumptions.yaml: one file to copy and edit)."""
    values = {k: v[0] for k, v in ASSUMPTIONS.items()}
    try:
        loaded = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return values
    values.update({k: str(v) for k, v in loaded.items() if k in values})
    return values


def read_assumptions(path: str | os.PathLike[str] | None) -> dict[str, str]:
    values = default_assumptions()
    if path is None:
        return values
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the assumptions: {exc}") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: the assumptions file is a mapping of name: value")
    unknown = sorted(set(loaded) - set(ASSUMPTIONS))
    if unknown:
        raise ValueError(f"{path}: unknown assumption(s) {', '.join(unknown)}; known: "
                         + ", ".join(ASSUMPTIONS))
    for k, v in loaded.items():
        values[k] = str(v)
    return values


@dataclass
class Run:
    policy: Policy
    result: ColumnarResult
    text: pl.DataFrame
    cents: pl.Series
    #: (presence column, due column, required column or None, mark column or constant)
    notice_due: list[tuple[str, str, str | None, Any]]


@dataclass
class Comparison:
    runs: list[Run]
    as_of: _dt.date
    horizon: int
    assumptions: dict[str, str]
    accounts: pl.DataFrame
    yearly: pl.DataFrame
    differences: list[dict[str, Any]] = field(default_factory=list)
    #: made in parts (the Dask engine's partitions): ``accounts.csv`` is written from the
    #: parts' files, the counts are theirs (``accounts`` and the runs' frames are empty)
    parts: AccountsParts | None = None

    def differing(self, label: str) -> int:
        """How many accounts differ from the reference under the policy ``label``."""
        if self.parts is not None:
            return self.parts.differing.get(label, 0)
        return self.accounts.filter((pl.col("policy") == label)
                                    & (pl.col("differs") != "")).height

    def evaluated(self) -> int:
        """How many accounts were evaluated (the reference's rows)."""
        if self.parts is not None:
            return self.parts.accounts
        return self.runs[0].result.frame.height

    def evaluation_errors(self) -> int:
        """The accounts the reference could not evaluate."""
        if self.parts is not None:
            return self.parts.errors
        return int(self.runs[0].result.frame.get_column("__error").is_not_null().sum())

    def close(self) -> None:
        """Remove the parts' files (made in parts; nothing otherwise)."""
        if self.parts is not None:
            self.parts.close()


def _run(policy: Policy, table: Table, as_of: _dt.date, params: dict[str, str]) -> Run:
    specs, _ = policy.run_params(params)
    return run_of(policy, evaluate_frame(policy, table, as_of, specs))


def run_of(policy: Policy, result: ColumnarResult) -> Run:
    """A columnar result as a comparison's run: its outputs as text, its amounts in
    cents, its notices' columns."""
    frame = result.frame
    text = frame.select(output_columns(result, typed=False))
    # an account in error has no determination: no cells (the values the columnar backend
    # computed beside the error are not shown, as the scalar backend has none)
    ok = frame.get_column("__error").is_null()
    text = text.with_columns(pl.when(ok).then(pl.col(c)).otherwise(pl.lit("")).alias(c)
                             for c in text.columns[2:])
    shapes = {s.name: s.shape for s in result.outputs}
    amount = shapes.get("amount_cad")
    if amount is not None and amount[0] == "col":
        scale = amount[3] or 0
        cents = frame.get_column(amount[1]).cast(pl.Int64)
        if scale > 2:
            cents = cents // 10 ** (scale - 2)
        elif scale < 2:
            cents = cents * 10 ** (2 - scale)
    else:
        cents = pl.Series([None] * frame.height, dtype=pl.Int64)
    notice_due: list[tuple[str, str, str | None, Any]] = []
    notices = shapes.get("notices")
    if notices is not None and notices[0] == "list":
        for present, item in notices[1]:
            if item[0] != "rec":
                continue
            fields = dict(item[1])
            due = fields.get("due")
            required = fields.get("required")
            if due is not None and due[0] == "col":
                req = required[1] if required is not None and required[0] == "col" else None
                mark = fields.get("mark")
                mark_ref = (pl.col(mark[1]) if mark is not None and mark[0] == "col"
                            else pl.lit(mark[1] if mark is not None else ""))
                notice_due.append((present, due[1], req, mark_ref))
    return Run(policy, result, text, cents, notice_due)


def compare(policies: list[Policy], table: Table, as_of: _dt.date, horizon: int,
            params: dict[str, str] | None = None, assumptions: dict[str, str] | None = None,
            trace_limit: int = 200) -> Comparison:
    """Evaluate every policy over the same table and compare them."""
    if not policies:
        raise ValueError("compare needs at least one policy")
    if horizon < as_of.year:
        raise ValueError(f"the horizon {horizon} is before the as-of year {as_of.year}")
    runs = [_run(p, table, as_of, params or {}) for p in policies]
    return compare_runs(runs, table, as_of, horizon, params, assumptions, trace_limit)


def compare_runs(runs: list[Run], table: Table | Facts | Profiles, as_of: _dt.date,
                 horizon: int,
                 params: dict[str, str] | None = None,
                 assumptions: dict[str, str] | None = None,
                 trace_limit: int = 200) -> Comparison:
    """Compare runs already evaluated (by :func:`run_policy` here, or partition by
    partition on Dask and put together in the table's order, or by the scalar backend
    over full profiles); ``table`` gives the raw rows of the members traced, its FX rates
    and its name (full profiles: the facts themselves; or where they are read from)."""
    values = assumptions or default_assumptions()
    accounts = account_rows(runs)
    comparison = Comparison(runs, as_of, horizon, values, accounts,
                            yearly(runs, as_of, horizon, values))
    comparison.differences = _divergences(comparison, table, params or {}, trace_limit)
    return comparison


#: one policy evaluated over a table (the Dask engine runs it on each partition)
run_policy = _run




def account_rows(runs: list[Run]) -> pl.DataFrame:
    """The rows of ``accounts.csv`` (run by run, each run's accounts in order): the key
    fields as text, the error, and which of them differ from the reference's (the first
    run); ``first_divergence`` left to fill."""
    ref = runs[0]
    frames = []
    for run in runs:
        t = run.text
        err = run.result.frame.get_column("__error")
        cols = [pl.lit(_label(run.policy)).alias("policy"), pl.col("member_id"),
                pl.col("account_id")]
        cols += [pl.col(k) if k in t.columns else pl.lit("").alias(k) for k in KEY_FIELDS]
        out = t.select(cols).with_columns(err.alias("error"))
        differs = []
        for k in (*KEY_FIELDS, "error"):
            a = out.get_column(k) if k in out.columns else None
            b = (ref.text.get_column(k) if k in ref.text.columns else None) if k != "error" \
                else ref.result.frame.get_column("__error")
            if a is None or b is None:
                continue
            changed = ~(a.eq_missing(b))
            differs.append(pl.when(pl.lit(changed)).then(pl.lit(k)))
        out = out.with_columns(pl.concat_str(differs, separator=";", ignore_nulls=True)
                               .fill_null("").alias("differs"),
                               pl.lit("").alias("first_divergence"))
        frames.append(out)
    return pl.concat(frames, how="vertical")


def pick(runs: list[Run], accounts: pl.DataFrame, limit: int
            ) -> tuple[list[pl.DataFrame], dict[str, pl.DataFrame]]:
    """The rows of each run in ``accounts`` (:func:`account_rows`'s frame), and per policy
    compared with the reference, its first ``limit`` differing rows by amount
    (:func:`top`): the accounts traced. Over a part of the accounts (one Dask partition)
    each policy's picks include every row of that part that the whole's picks hold (a
    row has no more rows before it in its part than in the whole)."""
    slices: list[pl.DataFrame] = []
    start = 0
    for run in runs:
        slices.append(accounts.slice(start, run.text.height))
        start += run.text.height
    picked: dict[str, pl.DataFrame] = {}
    for run, rows_of_run in zip(runs[1:], slices[1:], strict=True):
        rows = top(rows_of_run.filter(pl.col("differs") != ""), limit)
        if rows.height:
            picked[_label(run.policy)] = rows
    return slices, picked


def top(rows: pl.DataFrame, limit: int) -> pl.DataFrame:
    """The first ``limit`` of differing rows, the largest amounts first (ordering only:
    the amounts themselves stay text), then in row order."""
    return rows.sort(pl.col("amount_cad").cast(pl.Float64, strict=False), descending=True,
                     nulls_last=True, maintain_order=True).head(limit)


def traced_members(picked: dict[str, pl.DataFrame]) -> list[str]:
    """The members of the accounts picked to trace (sorted)."""
    return sorted({m for f in picked.values() for m in f.get_column("member_id")})


def _divergences(c: Comparison, table: Table | Facts | Profiles, params: dict[str, str],
                 limit: int
                 ) -> list[dict[str, Any]]:
    """The first definition where each differing account diverges (scalar traces).

    The members to trace are read from the table once and each policy is evaluated once
    over all of them, the reference included."""
    slices, picked = pick(c.runs, c.accounts, limit)
    found: list[dict[str, Any]] = []
    updates: dict[tuple[str, str], str] = {}
    if picked:
        facts = profiles_of(table, traced_members(picked))
        found, updates = traced(c.runs[0].policy, [r.policy for r in c.runs[1:]], picked,
                                facts, c.as_of, params)
    c.accounts = pl.concat([finished(part, updates, _label(run.policy), limit)
                            for run, part in zip(c.runs, slices, strict=True)],
                           how="vertical")
    return found


def profiles_of(table: Table | Facts | Profiles, members: list[str]) -> Facts:
    """The full profiles of ``members`` (without the reader's errors and claims)."""
    from evaluator.facts import facts_from_snapshot

    if isinstance(table, Facts):  # full profiles (a JSON file, a dataset): their own
        wanted = set(members)
        return dataclasses.replace(table, members=tuple(
            m for m in table.members if m.member_id in wanted), claims=(), errors=())
    if not isinstance(table, Table):  # read elsewhere (on the Dask workers)
        return table.member_facts(members)
    if table.events is not None:  # a dataset's table: the members' full profiles
        from evaluator.facts.eventtable import dataset_facts

        return dataclasses.replace(dataset_facts(table, members), claims=(), errors=())
    raw = table.raw if table.raw is not None else pl.DataFrame()
    rows_of = raw.filter(pl.col("member_id").str.strip_chars().is_in(members)) \
        .drop("__line", strict=False)
    fx = [{"currency": cur, "date": d.isoformat(), "rate": str(r)}
          for (cur, d), r in table.fx_rates.items()]
    texts = [{k: ("" if v is None else str(v)) for k, v in r.items()}
             for r in rows_of.iter_rows(named=True)]
    return facts_from_snapshot(texts, fx, source=table.source, decl=table.decl)


def traced(reference: Policy, others: list[Policy], picked: dict[str, pl.DataFrame],
           facts: Facts, as_of: _dt.date, params: dict[str, str]
           ) -> tuple[list[dict[str, Any]], dict[tuple[str, str], str]]:
    """The accounts picked, traced by the reference and by their policy: the differences
    (each with its first diverging definition and the explanation) and, per (policy,
    account), that definition's name."""
    found: list[dict[str, Any]] = []
    updates: dict[tuple[str, str], str] = {}
    traced_ref = _traces(reference, facts, as_of, params)
    for policy in others:
        label = _label(policy)
        if label not in picked:
            continue
        traces = _traces(policy, facts, as_of, params)
        for r in picked[label].iter_rows(named=True):
            aid = r["account_id"]
            da, db = traced_ref.get(aid), traces.get(aid)
            name, _, _ = first_divergence(da, db)
            updates[(label, aid)] = name
            found.append({"member_id": r["member_id"], "account_id": aid,
                          "policy": label, "fields": r["differs"].split(";"),
                          "first_definition": name or None,
                          "explanation": explain(reference, policy, da, db,
                                                 r["differs"].split(";")),
                          "amount_cad": r["amount_cad"] or None})
    return found, updates


def _traces(policy: Policy, facts: Any, as_of: _dt.date, params: dict[str, str]
            ) -> dict[str, Any]:
    result = policy.evaluate(facts, as_of=as_of, params=params, explain=True,
                             backend="scalar")
    return {d.account_id: d for d in result.accounts}


def first_divergence(da: Any, db: Any) -> tuple[str, Any, Any]:
    if da is None or db is None or da.trace is None or db.trace is None:
        return ("", None, None)
    values_b = {t["definition"]: t["value"] for t in db.trace if "definition" in t}
    params_a = {t["parameter"]: t["value"] for t in da.trace if "parameter" in t}
    params_b = {t["parameter"]: t["value"] for t in db.trace if "parameter" in t}
    changed = [n for n in sorted(set(params_a) | set(params_b))
               if params_a.get(n) != params_b.get(n)]
    suffix = f" (parameter {', '.join(changed)} differs)" if changed else ""
    for t in da.trace:
        if "definition" in t and values_b.get(t["definition"], object()) != t["value"]:
            return (t["definition"] + suffix, t["value"], values_b.get(t["definition"]))
    return (suffix.strip(" ()"), None, None)


# -- explanations: a sentence per differing account -----------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def explain(ref: Policy, alt: Policy, da: Any, db: Any, fields: list[str]) -> str:
    """How an account's determination moves from the reference ``ref`` to ``alt``, in a
    sentence: each differing output from its value to the other's, then the first
    definition where they diverge and the parameter (or formula) behind it, e.g.
    "payment window moves from 15 Oct\u201315 Dec 2031 to 1 Jan\u201330 Jun 2032 because
    `payment_windows` differs (used by `window`)". ``da`` and ``db`` are the traced
    determinations (None when an account is in error on one side)."""
    if da is None or db is None:
        one = "the reference" if da is None else _label(alt)
        return (f"{', '.join(fields)} differ: the account is a record error under {one}")
    parts: list[str] = []
    window_said = False
    for f in fields:
        if f.startswith("window_"):
            if not window_said:
                window_said = True
                parts.append(_say_window(da.values.get("payment_window"),
                                         db.values.get("payment_window")))
        elif f != "error":
            parts.append(_say(f, da.values.get(f), db.values.get(f)))
    cause = _cause(ref, alt, da, db)
    text = "; ".join(p for p in parts if p) or f"{', '.join(fields)} differ"
    return f"{text} because {cause}" if cause else text


def _cause(ref: Policy, alt: Policy, da: Any, db: Any) -> str:
    """The first definition where the traces diverge and why: a parameter it uses that
    differs, or its own formula."""
    if da.trace is None or db.trace is None:
        return ""
    params_a = {t["parameter"]: t["value"] for t in da.trace if "parameter" in t}
    params_b = {t["parameter"]: t["value"] for t in db.trace if "parameter" in t}
    changed = [n for n in sorted(set(params_a) | set(params_b))
               if params_a.get(n) != params_b.get(n)]
    values_b = {t["definition"]: t["value"] for t in db.trace if "definition" in t}
    first = next((t["definition"] for t in da.trace if "definition" in t
                  and values_b.get(t["definition"], object()) != t["value"]), None)
    if first is None:
        return (f"{_names(changed)} {'differs' if len(changed) == 1 else 'differ'}"
                if changed else "")
    uses: set[str] = set()
    for p in (ref, alt):
        d = p.checked.defs.get(first)
        if d is not None:
            uses |= d.params
    behind = [n for n in changed if n in uses]
    if behind:
        verb = "differs" if len(behind) == 1 else "differ"
        return f"{_names(behind)} {verb} (used by `{first}`)"
    spec_a, spec_b = ref.document.definitions.get(first), alt.document.definitions.get(first)
    if spec_a is None or spec_b is None or spec_a.formula != spec_b.formula:
        cites = f", citing {spec_b.provision}" if spec_b is not None and spec_b.provision \
            else ""
        return f"`{first}` is defined differently in {_label(alt)}{cites}"
    return f"`{first}` differs"


def _names(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _day(d: _dt.date, year: bool = True) -> str:
    return f"{d.day} {_MONTHS[d.month - 1]}" + (f" {d.year}" if year else "")


def _range(opens: Any, closes: Any) -> str:
    if not isinstance(opens, _dt.date) or not isinstance(closes, _dt.date):
        return f"{_shown(opens)}\u2013{_shown(closes)}"
    return f"{_day(opens, opens.year != closes.year)}\u2013{_day(closes)}"


def _say_window(a: Any, b: Any) -> str:
    if a is None or b is None:
        return _moves("payment window", None if a is None else _range(a["opens"], a["closes"]),
                      None if b is None else _range(b["opens"], b["closes"]))
    ra, rb = _range(a["opens"], a["closes"]), _range(b["opens"], b["closes"])
    if ra != rb:
        return f"payment window moves from {ra} to {rb}"
    return (f"payment window {rb} is under {b.get('provision')} instead of "
            f"{a.get('provision')}")


def _moves(what: str, a: str | None, b: str | None, verb: str = "moves") -> str:
    if a is None:
        return f"{what} becomes {b} (was none)"
    if b is None:
        return f"{what} is none (was {a})"
    return f"{what} {verb} from {a} to {b}"


def _shown(v: Any) -> str:
    from evaluator.apps.report import format_cad

    if v is None:
        return "none"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, _dt.date):
        return _day(v)
    if isinstance(v, Decimal):
        return format_cad(v)
    if isinstance(v, dict):
        if "mark" in v and "due" in v:
            return f"{v['mark']} due {_shown(v['due'])}"
        if "code" in v:
            return str(v["code"])
        return "{" + ", ".join(f"{k}: {_shown(x)}" for k, x in v.items()) + "}"
    return str(v)


def _say(field_: str, a: Any, b: Any) -> str:
    """One differing output, from the reference's value to the other's."""
    what = f"`{field_}`"
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        shown_a, shown_b = [_shown(x) for x in a], [_shown(x) for x in b]
        added = [x for x in shown_b if x not in shown_a]
        dropped = [x for x in shown_a if x not in shown_b]
        said = []
        if added:
            said.append("add " + ", ".join(added))
        if dropped:
            said.append("drop " + ", ".join(dropped))
        if not said:  # the same items, some of them different in a field not shown
            return f"{what} change from [{'; '.join(_flat(a))}] to [{'; '.join(_flat(b))}]"
        return f"{what} " + " and ".join(said)
    unit = " CAD" if field_.endswith("_cad") and b is not None else ""
    verb = "moves" if isinstance(a, _dt.date) or isinstance(b, _dt.date) else "changes"
    return _moves(what, None if a is None else _shown(a),
                  None if b is None else _shown(b) + unit, verb)


def _flat(items: list[Any] | tuple[Any, ...]) -> list[str]:
    return [_shown(x) if not isinstance(x, dict) else
            ", ".join(f"{k}: {_shown(v)}" for k, v in x.items()) for x in items]


# -- yearly projection ------------------------------------------------------------------------

# -- outputs -------------------------------------------------------------------------------

SUMMARY_METRICS = (("notice_cost_cad", "notice cost (CAD)"),
                   ("transfers", "transfers"), ("transfers_cad", "transferred (CAD)"),
                   ("remittance_batches", "remittance batches"),
                   ("fees_prevented_cad", "fees prevented (CAD)"),
                   ("interest_payable_cad", "interest payable (CAD)"),
                   ("program_balance_cad", "program balance (CAD)"))


def summary_table(c: Comparison) -> tuple[list[str], list[list[Any]]]:
    columns = ["policy", "accounts differing", *[label for _, label in SUMMARY_METRICS],
               f"held by the Authority at {c.horizon} (CAD)", "liability ends"]
    rows = []
    for run in c.runs:
        label = _label(run.policy)
        y = c.yearly.filter(pl.col("policy") == label)
        differing = c.differing(label)
        row: list[Any] = [label, differing]
        for key, _ in SUMMARY_METRICS:
            col = y.get_column(key)
            if col.dtype == pl.String:
                row.append(_cad(sum(int(Decimal(v) * 100) for v in col.to_list())))
            else:
                row.append(int(col.sum()))
        row.append(y.get_column("held_by_authority_cad").to_list()[-1] if y.height else "0.00")
        row.append(liability_overall(y))
        rows.append(row)
    return columns, rows


def liability_rows(c: Comparison) -> list[list[str]]:
    """Per regime and year with transfers: transfers, CAD, and when the liability ends."""
    from evaluator.apps.report import format_cad

    out = []
    for r in c.yearly.filter(pl.col("transfers") > 0).iter_rows(named=True):
        out.append([r["policy"], str(r["year"]), f"{r['transfers']:,}",
                    format_cad(r["transfers_cad"]), r["liability_ends"]])
    return out


def report_data(c: Comparison, facts_source: str, sha256: str | None,
                errors: int) -> dict[str, Any]:
    columns, rows = summary_table(c)
    years = list(range(c.as_of.year, c.horizon + 1))
    series: dict[str, Any] = {}
    for key, label, unit in (("transfers_cad", "transfers to the Authority", "CAD"),
                             ("held_by_authority_cad", "amounts held by the Authority", "CAD"),
                             ("program_balance_cad", "program balance (5(2))", "CAD"),
                             ("notices_due", "notices due", "count")):
        values = {}
        for run in c.runs:
            label_p = _label(run.policy)
            col = c.yearly.filter(pl.col("policy") == label_p).get_column(key).to_list()
            values[run.policy.id] = [Decimal(v) if isinstance(v, str) else v for v in col]
        series[key] = {"label": label, "unit": unit, "values": values}
    differences = sorted(c.differences, key=lambda d: -float(d["amount_cad"] or 0))[:25]
    findings = []
    ref = rows[0] if rows else None
    at = {name: i for i, name in enumerate(columns)}
    transferred, balance = at["transferred (CAD)"], at["program balance (CAD)"]
    from evaluator.apps.report import format_cad

    for row in rows[1:]:
        findings.append(f"{row[0]}: {row[1]:,} accounts differ from {ref[0] if ref else ''}; "
                        f"transfers {format_cad(row[transferred])} CAD against "
                        f"{format_cad(ref[transferred]) if ref else ''}; program balance "
                        f"{format_cad(row[balance])} CAD against "
                        f"{format_cad(ref[balance]) if ref else ''} "
                        f"over {c.as_of.year}-{c.horizon}.")
    reference = c.runs[0].policy
    assumptions = []
    for k, v in ASSUMPTIONS.items():
        value = c.assumptions.get(k, v[0])
        source = v[2]
        if value == "policy" and k in reference.document.parameters:
            from evaluator.policy import param_json

            value = str(param_json(reference.document.parameters[k]))
            source = f"parameter `{k}` of {_label(reference)} (each policy uses its own)"
        assumptions.append({"name": k, "value": value, "description": v[1], "source": source})
    return {
        "title": "Unclaimed deposits: alternative regimes compared",
        "as_of": c.as_of.isoformat(), "horizon": c.horizon,
        "facts": {"source": facts_source, "sha256": sha256,
                  "accounts": c.evaluated(), "errors": errors},
        "policies": [{"id": r.policy.id, "version": r.policy.version,
                      "sha256": r.policy.sha256, "status": r.policy.document.status,
                      "title": r.policy.document.title, "models": r.policy.document.models,
                      "provisions": {k: v.text for k, v in r.policy.document.provisions.items()
                                     if v.text},
                      "interpretations": {k: " ".join(str(v).split()) for k, v in
                                          (r.policy.document.interpretations or {}).items()}}
                     for r in c.runs],
        "liability": liability_rows(c),
        "assumptions": assumptions,
        "summary": {"columns": columns, "rows": rows},
        "yearly": {"years": years, "series": series},
        "charts": [{"metric": "transfers_cad", "title": "Transfers to the Authority per year",
                    "kind": "bar"},
                   {"metric": "held_by_authority_cad",
                    "title": "Amounts held by the Authority (end of year)", "kind": "line"},
                   {"metric": "program_balance_cad",
                    "title": "Program balance per year (5(2))", "kind": "bar"}],
        "differences": differences,
        "findings": findings,
    }


def markdown(c: Comparison) -> str:
    columns, rows = summary_table(c)
    lines = [f"# Alternative regimes compared ({c.as_of.isoformat()} to {c.horizon})", "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(f"{v:,}" if isinstance(v, int) else str(v)
                                       for v in row) + " |")
    lines += ["", "Assumptions: " + ", ".join(f"{k} = {v}" for k, v in c.assumptions.items()),
              ""]
    return "\n".join(lines)


#: the files `compare --out DIR` writes
OUTPUT_NAMES = ("accounts.csv", "yearly.csv", "report.html", "summary.md", "assumptions.yaml")


def write(c: Comparison, out: str | os.PathLike[str], facts_source: str,
          sha256: str | None, errors: int) -> list[Path]:
    """Write the comparison's files to the folder ``out``, together: they are written to a
    temporary folder and swapped in when all are complete (see
    :func:`evaluator.atomic.atomic_folder`), so a failed or interrupted run leaves the
    previous ones as they were."""
    from evaluator.atomic import atomic_folder

    final = Path(out)
    names: list[str] = []
    with atomic_folder(final, OUTPUT_NAMES) as folder:
        if c.parts is not None:
            c.parts.write_csv(folder / "accounts.csv")
        else:
            c.accounts.write_csv(folder / "accounts.csv")
        names.append("accounts.csv")
        c.yearly.write_csv(folder / "yearly.csv")
        names.append("yearly.csv")
        data = report_data(c, facts_source, sha256, errors)
        try:
            from evaluator.apps.report import markdown_summary, render_report
        except ImportError:  # pragma: no cover - the report module ships with the package
            (folder / "summary.md").write_text(markdown(c), encoding="utf-8")
        else:
            (folder / "report.html").write_text(render_report(data), encoding="utf-8")
            names.append("report.html")
            (folder / "summary.md").write_text(markdown_summary(data), encoding="utf-8")
        names.append("summary.md")
        (folder / "assumptions.yaml").write_text(
            yaml.safe_dump(dict(c.assumptions), sort_keys=False), encoding="utf-8")
        names.append("assumptions.yaml")
    return [final / n for n in names]
