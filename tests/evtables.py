"""A test helper: a dataset (accounts table plus events table) as the columnar backend's
:class:`~evaluator.facts.table.Table` with an events frame (the shape agreed in the
`evshape` interface), made from the scalar dataset reader's members, so the compiler over
events can be tested before the columnar events reader is merged."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import polars as pl

from evaluator.declared import FactsDecl
from evaluator.facts.dataset import OPTIONAL_COLUMNS, load_dataset
from evaluator.facts.model import Facts
from evaluator.facts.table import Table, read_table
from evaluator.facts.tablecols import extra_column

EVENT_SCHEMA = {"account_id": pl.String, "__seq": pl.UInt32, "date": pl.Date,
                "type": pl.String, "mark": pl.String, "amount": pl.Int64,
                "attachments": pl.List(pl.String)}

#: the declared event field types the helper makes columns of
EXTRA_TYPES = {"date": pl.Date, "text": pl.String, "bool": pl.Boolean, "int": pl.Int64}


def snapshot_accounts(accounts: Path, folder: Path) -> Path:
    """The accounts table with the snapshot's ``last_*`` columns, empty where it has none
    (what the snapshot reader requires)."""
    frame = pl.read_csv(accounts, infer_schema=False)
    for column in OPTIONAL_COLUMNS:
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(column))
    out = folder / "accounts.snapshot.csv"
    frame.write_csv(out)
    return out


def events_table(accounts: str | os.PathLike[str], events: str | os.PathLike[str],
                 fx: str | os.PathLike[str] | None = None, *,
                 decl: FactsDecl | None = None) -> tuple[Table, Facts]:
    """The dataset as a Table whose ``events`` frame holds every event of its evaluable
    members (in the scalar reader's order), and the scalar reader's facts of it. The
    accounts table must carry the ``last_*`` columns (:func:`snapshot_accounts`)."""
    facts = load_dataset(accounts, events, fx, decl=decl).facts
    table = read_table(accounts, fx, decl=decl)
    kept = [m.member_id for m in facts.members]
    frame = table.frame.filter(pl.col("member_id").is_in(kept))
    order = dict(frame.select("member_id", "__member_order").unique().iter_rows())
    places = [max(0, -int(e.amount.as_tuple().exponent))  # type: ignore[arg-type]
              for m in facts.members for e in m.events if e.amount is not None]
    scale = max([2, *places])
    declared = {f.name: f for f in (decl.extra_fields("event") if decl is not None else ())}
    if any(f.type not in EXTRA_TYPES for f in declared.values()):
        raise NotImplementedError("declared event fields of types "
                                  f"{sorted({f.type for f in declared.values()})}")
    rows = []
    for m in facts.members:
        for seq, e in enumerate(m.events):
            extra = dict(e.extra)
            rows.append({
                "__member_order": order[m.member_id], "account_id": e.account_id,
                "__seq": seq, "date": e.date, "type": e.type, "mark": e.mark,
                "amount": None if e.amount is None else int(e.amount.scaleb(scale)),
                "attachments": list(e.attachments),
                **{extra_column("event", n): extra.get(n, f.default)
                   for n, f in declared.items()}})
    schema = {"__member_order": frame.schema["__member_order"], **EVENT_SCHEMA,
              **{extra_column("event", n): EXTRA_TYPES[f.type] for n, f in declared.items()}}
    # in reverse: the frame's row order is not the events' order (``__seq`` is)
    ev = pl.DataFrame(rows[::-1], schema=schema, orient="row") if rows else pl.DataFrame(
        schema=schema)
    table = dataclasses.replace(table, frame=frame, errors=list(facts.errors), events=ev,
                                event_amount_scale=scale)
    return table, facts
