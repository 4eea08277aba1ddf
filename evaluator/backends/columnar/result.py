"""A columnar evaluation's result that stays a frame: the accessors of
:class:`~evaluator.backends.results.EvaluationResult` (iteration, an account by index or
by id, ``to_json``, ``to_csv``, errors, portfolio), with an account's Python
determination made only when it is read, and the JSON and CSV renderings written from
the frame in parts (the same bytes as the scalar renderings), so evaluating a table
through the API costs what the command line costs.

An account read by index or by id (``result.accounts[i]``, ``result.account(id)``) is
kept: a trace attached to it (``unclaimed evaluate --explain ID``) is in ``to_json``.
Accounts read by iterating are made afresh on each pass and not kept.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, overload

import polars as pl

from evaluator.backends.columnar.outputs import ColumnarResult, row_readers
from evaluator.backends.columnar.render import json_lines, write_frame
from evaluator.backends.columnar.values import DAY_MAX, DAY_MIN
from evaluator.backends.results import Determination, EvaluationResult
from evaluator.facts.model import RecordError
from evaluator.lang.values import to_json_value

__all__ = ["BATCH_ROWS", "WRITE_ROWS", "FrameAccounts", "FrameResult", "frame_errors"]

#: rows read into Python at a time
BATCH_ROWS = 65_536
#: rows rendered as text at a time: bounds the text held at once (about 150 MB of
#: JSON), in parts large enough that the fixed cost of each is small
WRITE_ROWS = 262_144


def frame_errors(frame: pl.DataFrame) -> list[RecordError]:
    """The rows of a result frame that could not be evaluated, as record errors."""
    failed = frame.filter(pl.col("__error").is_not_null()).select(
        "member_id", "account_id", "__error", "__late")
    return [RecordError(row[2], row[0], row[1], field="date" if row[3] is not None else None)
            for row in failed.iter_rows()]


class FrameAccounts(Sequence[Determination]):
    """The evaluated accounts of a result frame, in order, each made into a
    :class:`Determination` when read."""

    def __init__(self, result: ColumnarResult) -> None:
        frame = result.frame
        if frame.get_column("__error").null_count() < frame.height:
            frame = frame.filter(pl.col("__error").is_null())
        self.frame = frame
        columns = self.frame.columns
        self._readers = row_readers(result, columns)
        self._member = columns.index("member_id")
        self._account = columns.index("account_id")
        #: accounts read by index or id, kept (with what was attached to them)
        self.kept: dict[int, Determination] = {}

    def _rows(self, start: int, length: int) -> Iterator[tuple[Any, ...]]:
        """The rows from ``start`` as tuples; dates Python cannot hold only sit where a
        value is not used (an item not present): None there, as in
        :func:`~evaluator.backends.columnar.outputs.determinations`."""
        part = self.frame.slice(start, length)
        if any(t == pl.Date for t in part.schema.values()):
            part = part.with_columns(
                pl.when(pl.col(pl.Date).cast(pl.Int64).is_between(DAY_MIN, DAY_MAX))
                .then(pl.col(pl.Date)).name.keep())
        return part.iter_rows()

    def _make(self, row: tuple[Any, ...]) -> Determination:
        return Determination(row[self._member], row[self._account],
                             {name: read(row) for name, read in self._readers})

    def __len__(self) -> int:
        return self.frame.height

    @overload
    def __getitem__(self, index: int) -> Determination: ...

    @overload
    def __getitem__(self, index: slice) -> list[Determination]: ...

    def __getitem__(self, index: int | slice) -> Determination | list[Determination]:
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(len(self)))]
        n = len(self)
        k = index + n if index < 0 else index
        if not 0 <= k < n:
            raise IndexError("account index out of range")
        det = self.kept.get(k)
        if det is None:
            det = self.kept[k] = self._make(next(self._rows(k, 1)))
        return det

    def __iter__(self) -> Iterator[Determination]:
        for start in range(0, len(self), BATCH_ROWS):
            for k, row in enumerate(self._rows(start, BATCH_ROWS), start):
                kept = self.kept.get(k)
                yield kept if kept is not None else self._make(row)

    def index_of(self, account_id: str) -> int | None:
        """The position of an account, by its id."""
        at = self.frame.get_column("account_id").index_of(account_id)
        return None if at is None else int(at)

    def find(self, account_id: str) -> Determination | None:
        """The determination of an account, by its id (kept, as by index)."""
        at = self.index_of(account_id)
        return None if at is None else self[at]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self):,} accounts of a result frame>"

    def changed(self) -> bool:
        """Whether an account read and kept now has other values than the frame's."""
        return any(det.values != self._make(next(self._rows(k, 1))).values
                   for k, det in self.kept.items())


@dataclass(eq=False)
class FrameResult(EvaluationResult):
    """An :class:`EvaluationResult` whose accounts stay in the columnar result frame."""

    source: ColumnarResult | None = None

    @classmethod
    def of(cls, source: ColumnarResult, **fields: Any) -> FrameResult:
        result = cls(source=source, **fields)
        result.accounts = FrameAccounts(source)  # type: ignore[assignment]
        return result

    @property
    def frame_accounts(self) -> FrameAccounts:
        accounts = self.accounts
        assert isinstance(accounts, FrameAccounts)
        return accounts

    @property
    def frame(self) -> pl.DataFrame:
        """The evaluated accounts as a polars frame (the outputs' flat columns)."""
        return self.frame_accounts.frame

    def account(self, account_id: str) -> Determination | None:
        return self.frame_accounts.find(account_id)

    # -- JSON ----------------------------------------------------------------------------

    def to_json(self, indent: int | None = None) -> str:
        if indent is not None:
            return super().to_json(indent)
        buf = io.StringIO()
        self.write_json(buf)
        return buf.getvalue()[:-1]

    def write_json(self, out: TextIO) -> None:
        head: dict[str, Any] = {"policy": self.policy, "as_of": self.as_of,
                                "parameters": self.parameters}
        if self.facts is not None:
            head["facts"] = self.facts
        doc: list[tuple[str, Any]] = [*head.items(), ("accounts", None),
                                      ("claims", [c.to_json() for c in self.claims])]
        if self.portfolio is not None:
            doc.append(("portfolio", {k: to_json_value(v)
                                      for k, v in self.portfolio.items()}))
        doc.append(("errors", [e.to_json() for e in self.errors]))
        out.write("{\n")
        for i, (key, value) in enumerate(doc):
            comma = "," if i < len(doc) - 1 else ""
            head_text = f"  {json.dumps(key)}: "
            if key == "accounts":
                if not len(self.accounts):
                    out.write(f"{head_text}[]{comma}\n")
                    continue
                out.write(head_text + "[\n")
                self._write_account_lines(out)
                out.write(f"  ]{comma}\n")
            elif isinstance(value, list) and value:
                out.write(head_text + "[\n")
                last = len(value) - 1
                out.writelines(f"    {_compact(v)}{',' if j < last else ''}\n"
                               for j, v in enumerate(value))
                out.write(f"  ]{comma}\n")
            else:
                out.write(f"{head_text}{_compact(value)}{comma}\n")
        out.write("}\n")

    def _write_account_lines(self, out: TextIO) -> None:
        accounts = self.frame_accounts
        n = len(accounts)
        assert self.source is not None
        try:
            line = json_lines(self.source)
        except TypeError:  # an output type without a column form: from Python values
            out.writelines(f"    {_compact(a.to_json())}{',' if j < n - 1 else ''}\n"
                           for j, a in enumerate(accounts))
            return
        kept = accounts.kept

        def fix(part: pl.Series, start: int) -> pl.Series:
            mine = {k - start: d for k, d in kept.items() if start <= k < start + part.len()}
            if mine:
                part = part.scatter(list(mine), [_compact(d.to_json()) for d in mine.values()])
            return part

        self._write_parts(out, line, fix, lambda start, rows: pl.concat_str(
            [pl.lit("    "), pl.col("l"),
             pl.when(pl.int_range(rows) + start < n - 1).then(pl.lit(",")).otherwise(
                 pl.lit(""))]))

    def _write_parts(self, out: TextIO, line: pl.Expr,
                     fix: Callable[[pl.Series, int], pl.Series],
                     wrap: Callable[[int, int], pl.Expr]) -> None:
        frame = self.frame
        for start in range(0, frame.height, WRITE_ROWS):
            part = frame.slice(start, WRITE_ROWS).select(line.alias("l")).get_column("l")
            part = fix(part, start)
            text = pl.DataFrame({"l": part}).select(
                wrap(start, part.len()).str.join("\n")).item()
            out.write(text + "\n")

    # -- CSV -----------------------------------------------------------------------------

    def to_csv(self) -> str:
        buf = io.StringIO()
        self.write_csv(buf)
        return buf.getvalue()

    def write_csv(self, out: TextIO) -> None:
        assert self.source is not None
        if self.frame_accounts.changed():  # an account's values set by the caller
            out.write(super().to_csv())
            return
        frame = write_frame(self.source, Path("determinations.csv"), frame=self.frame)
        if frame.height == 0:
            out.write(frame.write_csv())
        for start in range(0, frame.height, WRITE_ROWS):
            out.write(frame.slice(start, WRITE_ROWS).write_csv(include_header=start == 0))


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
