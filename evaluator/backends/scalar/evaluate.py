"""The scalar backend's evaluation loop: every member, account, claim and the portfolio of
a set of facts, record by record, into one :class:`EvaluationResult`.

A record that cannot be evaluated goes to the errors; every other record still is.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Protocol

from evaluator.backends.results import (
    ClaimDetermination,
    Determination,
    EvaluationResult,
    param_json,
)
from evaluator.backends.scalar.codegen import Program
from evaluator.backends.scalar.coverage import Coverage
from evaluator.backends.scalar.runtime import (
    Fn,
    Inst,
    Portfolio,
    Run,
    visible,
    visible_claim,
)
from evaluator.errors import Diagnostic, EvaluationError
from evaluator.facts.model import Facts, Member, RecordError
from evaluator.lang.document.specs import ParamSpec, PolicyDocument

__all__ = ["ScalarBackend", "ScalarPolicy", "instance_for"]


class ScalarPolicy(Protocol):
    """What the loop needs of a loaded policy (:class:`evaluator.policy.Policy`)."""

    document: PolicyDocument

    @property
    def program(self) -> Program:
        """The policy compiled for this backend."""
        ...

    @property
    def coverage_program(self) -> Program:
        """The policy compiled to record coverage."""
        ...

    def info(self) -> dict[str, str]:
        """The policy's id, version and sha256."""
        ...

    def outputs(self, entity: str) -> tuple[tuple[str, str], ...]:
        """(reported name, definition) for each output of an entity, in order."""
        ...


class ScalarBackend:
    """Evaluates full profiles (or a snapshot table turned into facts) one record at a
    time; it evaluates everything, so it never declines (never returns None)."""

    name = "scalar"

    def evaluate(self, policy: ScalarPolicy, facts: Facts, day: _dt.date,
                 specs: dict[str, ParamSpec], warnings: list[Diagnostic], *,
                 explain: bool, coverage: Coverage | None) -> EvaluationResult:
        """Determinations for every account and claim of ``facts`` on ``day``, with the
        parameters ``specs``; ``warnings`` are the run's (broken invariants)."""
        values = {n: s.value for n, s in specs.items()}
        program = policy.program if coverage is None else policy.coverage_program
        # the generated functions giving an instance's outputs, in order, and with the
        # trace (outputs, trace): the fast ones, or for coverage the lazy ones (coverage
        # records what they evaluate)
        values_of = program.fast if coverage is None else program.outputs
        traced = program.fast_traces if coverage is None else _lazy(program)
        account_values, claim_values = values_of["account"], values_of["claim"]
        account_traced, claim_traced = traced["account"], traced["claim"]
        static = program.trace_static
        run = Run(program, day, values, facts.fx_rates, coverage)
        account_outputs = policy.outputs("account")
        portfolio_outputs = policy.outputs("portfolio")
        member_insts: list[Inst] = []
        ok_accounts: list[Inst] = []
        ok_claims: list[Inst] = []
        param_entries = {n: {"parameter": n, "value": param_json(s),
                             "provision": s.provision, "set_by": s.set_by}
                         for n, s in specs.items()} if explain else {}
        result = EvaluationResult(
            policy=policy.info(), as_of=day.isoformat(),
            parameters={n: param_json(s) for n, s in sorted(specs.items())},
            facts=({"source": facts.source, "sha256": facts.sha256}
                   if facts.sha256 is not None else None),
            account_outputs=[shown for shown, _ in account_outputs])
        errors: list[RecordError] = list(facts.errors)
        for member in facts.members:
            late = _snapshot_after_as_of(member, day) if facts.form == "snapshot" else None
            if late is not None:
                errors.extend(RecordError(late, a.member_id, a.account_id, field="date")
                              for a in member.accounts)
                continue
            minst = Inst("member", visible(member, day), run, None)
            member_insts.append(minst)
            for ainst in minst.accounts():
                acc = ainst.obj
                run.accounts_by_id[acc.account_id] = ainst
                try:
                    if explain:
                        out, trace = account_traced(ainst, param_entries, static)
                    else:
                        out, trace = account_values(ainst), None
                except EvaluationError as exc:
                    errors.append(RecordError(_error_text(exc), acc.member_id,
                                              acc.account_id))
                    continue
                ok_accounts.append(ainst)
                result.accounts.append(Determination(acc.member_id, acc.account_id, out,
                                                     trace))
            if not member.accounts:
                errors.append(RecordError("member has no accounts", member.member_id))
        for claim in facts.claims:
            cinst = Inst("claim", visible_claim(claim, day), run, None)
            try:
                if explain:
                    cout, ctrace = claim_traced(cinst, param_entries, static)
                else:
                    cout, ctrace = claim_values(cinst), None
            except EvaluationError as exc:
                errors.append(RecordError(_error_text(exc), claim_id=claim.claim_id))
                continue
            ok_claims.append(cinst)
            result.claims.append(ClaimDetermination(claim.claim_id, claim.account_id, cout,
                                                    ctrace))
        if portfolio_outputs:
            pinst = Inst("portfolio", Portfolio(tuple(member_insts), tuple(ok_accounts),
                                                tuple(ok_claims)), run, None)
            try:
                result.portfolio = program.outputs["portfolio"](pinst)
            except EvaluationError as exc:
                errors.append(RecordError(f"portfolio: {_error_text(exc)}"))
        result.errors = errors
        result.warnings = warnings
        return result


def _snapshot_after_as_of(member: Member, day: _dt.date) -> str | None:
    """A snapshot holds only the latest date of each kind: one after the as-of date hides
    whatever came before it, so the member cannot be evaluated as of that day."""
    late = [e for e in member.events if e.date > day]
    if not late:
        return None
    e = late[0]
    column = {"transaction": "last_transaction", "statement_ack": "last_statement_ack",
              "response": "last_response"}.get(e.type, e.type)
    return (f"{column} {e.date} is after the as-of date {day}; a snapshot keeps only the "
            "latest date, so the activity before the as-of date is unknown (use a full "
            "profile, or a snapshot taken on or before the as-of date)")


def _lazy(program: Program) -> dict[str, Fn]:
    """Per entity, ``(outputs, trace)`` of a record by the lazy functions (the coverage
    variant records what they evaluate)."""
    def traced(outputs: Fn, trace: Fn) -> Fn:
        def both(inst: Inst, params: Any, static: Any) -> tuple[Any, Any]:
            return outputs(inst), trace(inst, params, static)
        return both
    return {e: traced(program.outputs[e], program.traces[e]) for e in ("account", "claim")}


def instance_for(inst: Inst, entity: str) -> Inst | None:
    """The instance whose definitions of ``entity`` ``inst`` sees (None: it sees none)."""
    if entity == inst.kind:
        return inst
    if entity == "global":
        return inst.run.global_inst
    if entity == "member":
        return inst.member if inst.kind == "account" else None
    return None


def _error_text(exc: EvaluationError) -> str:
    where = []
    if exc.definition:
        where.append(f"in `{exc.definition}`")
    if exc.provision:
        where.append(exc.provision)
    return f"{exc.message} ({', '.join(where)})" if where else exc.message
