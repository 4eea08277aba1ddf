"""`compare`'s runs from the scalar backend: a policy evaluated over full profiles (a JSON
profile, or a dataset with its events table) made into the :class:`~evaluator.apps.compare.Run`
the columnar backend gives, so every output of ``compare`` is computed the same way.

A run is one row per account that was read (evaluated, or a record error of its own
evaluation), in the facts' order (members as read, their accounts in order); records the
reader refused are not rows (they are the facts' errors, as a table's are). The run's
frame has the typed columns the comparison reads (``__error``, the amount in cents, the
payment window, ``out:unclaimed_on``, the scope, the notices unrolled to their longest
list, ``liability_ends``) with their shapes; its text is the determinations' cells as
``evaluate --format csv`` writes them. An account in error shows no values (the scalar
backend has none for it)."""

from __future__ import annotations

import datetime as _dt
from decimal import ROUND_FLOOR, Decimal
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import polars as pl

from evaluator.apps.compare import Run
from evaluator.apps.portfolio import scalar_frame
from evaluator.backends.columnar import ColumnarResult, OutputSpec, Table
from evaluator.backends.results import Determination
from evaluator.facts.model import Facts
from evaluator.lang import typesys as T

if TYPE_CHECKING:
    from evaluator.policy import Policy


def scalar_run(policy: Policy, facts: Facts, as_of: _dt.date, params: dict[str, str]) -> Run:
    """``policy`` over ``facts`` with the scalar backend, as a comparison's run."""
    result = policy.evaluate(facts, as_of=as_of, params=params, backend="scalar")
    done = {d.account_id: d for d in result.accounts}
    failed = {e.account_id: e.message for e in result.errors[len(facts.errors):]
              if e.account_id is not None}
    rows: list[Determination] = []
    messages: list[str | None] = []
    for member in facts.members:
        for account in member.accounts:
            det = done.get(account.account_id)
            if det is not None:
                rows.append(det)
                messages.append(None)
            elif account.account_id in failed:
                rows.append(Determination(member.member_id, account.account_id, {}, None))
                messages.append(failed[account.account_id])
    text = scalar_frame(policy, SimpleNamespace(accounts=rows), typed=False)  # type: ignore[arg-type]
    text = text.with_columns(pl.col(c).fill_null("") for c in text.columns[2:])
    columns: list[pl.Series] = [pl.Series("member_id", [r.member_id for r in rows], pl.String),
                                pl.Series("account_id", [r.account_id for r in rows],
                                          pl.String),
                                pl.Series("__error", messages, pl.String)]
    specs: list[OutputSpec] = []
    notice_due: list[tuple[str, str, str | None, Any]] = []
    cents: list[int | None] = [None] * len(rows)
    outputs = dict(policy.outputs("account"))
    types = {shown: T.strip(policy.checked.defs[d].type) for shown, d in outputs.items()}

    def values(name: str) -> list[Any]:
        return [r.values.get(name) for r in rows]

    def col(name: str, data: list[Any], dtype: Any, t: T.Type, scale: int | None = None
            ) -> tuple[Any, ...]:
        columns.append(pl.Series(name, data, dtype))
        return ("col", name, t, scale)

    if "unclaimed_on" in outputs:
        specs.append(OutputSpec("unclaimed_on", outputs["unclaimed_on"],
                                types["unclaimed_on"],
                                col("out:unclaimed_on", values("unclaimed_on"), pl.Date,
                                    T.DATE)))
    else:
        columns.append(pl.Series("out:unclaimed_on", [None] * len(rows), pl.Date))
    if "amount_cad" in outputs:
        cents = [None if v is None else int((Decimal(v) * 100).to_integral_value(ROUND_FLOOR))
                 for v in values("amount_cad")]
        specs.append(OutputSpec("amount_cad", outputs["amount_cad"], types["amount_cad"],
                                col("out:amount_cad", cents, pl.Int64, T.MONEY, 2)))
    for name in ("in_scope", "liability_ends"):
        if name in outputs and types[name] in (T.BOOL, T.DATE):
            kind: Any = pl.Boolean if types[name] == T.BOOL else pl.Date
            specs.append(OutputSpec(name, outputs[name], types[name],
                                    col(f"out:{name}", values(name), kind, types[name])))
    window_t = types.get("payment_window")
    if isinstance(window_t, T.RecordT):
        windows = [v or {} for v in values("payment_window")]
        fields = []
        for key, ft in window_t.fields:
            is_date = T.strip(ft) == T.DATE
            data = [w.get(key) if is_date else
                    (None if w.get(key) is None else str(w.get(key))) for w in windows]
            fields.append((key, col(f"out:payment_window.{key}", data,
                                    pl.Date if is_date else pl.String, ft)))
        specs.append(OutputSpec("payment_window", outputs["payment_window"], window_t,
                                ("rec", fields, None)))
    notices_t = types.get("notices")
    notice_t = T.strip(notices_t.elem) if isinstance(notices_t, T.ListT) else None
    if notices_t is not None and isinstance(notice_t, T.RecordT):
        lists = [v or () for v in values("notices")]
        names = dict(notice_t.fields)
        items: list[tuple[str, tuple[Any, ...]]] = []
        for i in range(max((len(n) for n in lists), default=0)):
            at = [n[i] if i < len(n) else None for n in lists]
            present = f"out:notices[{i}]?"
            columns.append(pl.Series(present, [n is not None for n in at], pl.Boolean))
            due = f"out:notices[{i}].due"
            columns.append(pl.Series(due, [None if n is None else n.get("due") for n in at],
                                     pl.Date))
            required = None
            if "required" in names:
                required = f"out:notices[{i}].required"
                columns.append(pl.Series(required, [None if n is None else n.get("required")
                                                    for n in at], pl.Boolean))
            mark = f"out:notices[{i}].mark"
            columns.append(pl.Series(mark, [None if n is None or n.get("mark") is None
                                            else str(n.get("mark")) for n in at], pl.String))
            notice_due.append((present, due, required, pl.col(mark)))
            items.append((present, ("rec", [], None)))
        specs.append(OutputSpec("notices", outputs["notices"], notices_t, ("list", items)))
    table = Table(pl.DataFrame(), facts.fx_rates, list(facts.errors), source=facts.source,
                  sha256=facts.sha256, decl=facts.decl)
    frame = pl.DataFrame(columns)
    return Run(policy, ColumnarResult(frame, specs, table), text,
               pl.Series("__cents", cents, pl.Int64), notice_due)


__all__ = ["scalar_run"]
