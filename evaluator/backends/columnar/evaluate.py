"""The columnar backend behind the policy facade: a snapshot table evaluated as one frame,
kept as a :class:`~evaluator.backends.columnar.result.FrameResult` (or None when the
policy needs the scalar backend and the caller did not insist on this one)."""

from __future__ import annotations

import datetime as _dt

from evaluator.backends.base import EvaluablePolicy
from evaluator.backends.columnar import Table, evaluate_frame
from evaluator.backends.columnar.result import FrameResult, frame_errors
from evaluator.backends.results import EvaluationResult, param_json
from evaluator.backends.scalar.coverage import Coverage
from evaluator.errors import Code, Diagnostic, PolicyError, Unsupported
from evaluator.lang.document.loader import ParamSpec

__all__ = ["ColumnarBackend"]


class ColumnarBackend:
    """Evaluates a snapshot table with polars. ``required``: the caller asked for this
    backend by name, so a policy it cannot compile is a :class:`PolicyError`; otherwise
    :meth:`evaluate` returns None and the caller falls back to the scalar backend."""

    name = "columnar"

    def __init__(self, *, required: bool) -> None:
        self.required = required

    def evaluate(self, policy: EvaluablePolicy, facts: Table, day: _dt.date,
                 specs: dict[str, ParamSpec], warnings: list[Diagnostic], *,
                 explain: bool, coverage: Coverage | None) -> EvaluationResult | None:
        """Determinations for every row of the table ``facts`` on ``day``. Neither
        ``explain`` nor ``coverage`` is supported: for them,
        :func:`~evaluator.backends.base.uses_columnar` picks the scalar backend."""
        try:
            frame = evaluate_frame(policy, facts, day, specs)
        except Unsupported as exc:
            # (a Table with events falls back through its full profiles: the facade turns
            # it into them with dataset_facts, not Table.to_facts, which has no events)
            if self.required:
                raise PolicyError(Diagnostic(f"the columnar backend cannot evaluate this "
                                             f"policy: {exc}", code=Code.API,
                                             help="use backend=\"scalar\"")) from exc
            return None
        result = FrameResult.of(
            frame, policy=policy.info(), as_of=day.isoformat(),
            parameters={n: param_json(s) for n, s in sorted(specs.items())},
            facts=({"source": facts.source, "sha256": facts.sha256}
                   if facts.sha256 is not None else None),
            account_outputs=[shown for shown, _ in policy.outputs("account")])
        result.errors = [*facts.errors, *frame_errors(frame.frame)]
        result.warnings = warnings
        result.portfolio = frame.portfolio
        return result
