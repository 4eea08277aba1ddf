"""The public face of a checked policy: load it, evaluate it, explain it."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import os
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from evaluator import types as T
from evaluator.checker import CheckedPolicy, check_document
from evaluator.errors import Diagnostic, EvaluationError, PolicyError, PolicyLoadError
from evaluator.interpreter import Inst, Program, Run, visible, visible_claim
from evaluator.loader import ParamSpec, PolicyDocument, convert_scalar, load_document
from evaluator.model import Facts, Member, RecordError
from evaluator.results import ClaimDetermination, Determination, EvaluationResult
from evaluator.values import MonthDay, parse_iso_date, to_json_value

_PY_TYPES: dict[T.Type, tuple[type, ...]] = {
    T.BOOL: (bool,), T.INT: (int,), T.NUMBER: (Decimal, int), T.MONEY: (Decimal, int),
    T.DATE: (_dt.date,), T.TEXT: (str,), T.MONTH_DAY: (MonthDay,),
}


class Policy:
    """A parsed and checked policy, ready to evaluate facts."""

    def __init__(self, checked: CheckedPolicy) -> None:
        self.checked = checked
        self.document: PolicyDocument = checked.document
        self.warnings: list[Diagnostic] = checked.warnings
        self.program = Program(checked)
        #: per definition, the parts of a trace entry that never change
        self._trace_static: dict[str, dict[str, Any]] = {}
        for name, cdef in checked.defs.items():
            entry: dict[str, Any] = {"provision": cdef.spec.provision,
                                     "formula": " ".join(cdef.spec.formula.split())}
            span = cdef.spec.span()
            if span is not None:
                entry["at"] = f"{span.file}:{span.line}"
            self._trace_static[name] = entry
        self._trace_plans: dict[tuple[str, ...], list[str]] = {}

    @property
    def id(self) -> str:
        return self.document.id

    @property
    def version(self) -> str:
        return self.document.version

    @property
    def sha256(self) -> str:
        return self.document.sha256

    def info(self) -> dict[str, str]:
        return {"id": self.id, "version": self.version, "sha256": self.sha256}

    # -- parameters --------------------------------------------------------------------

    def resolve_params(self, overrides: Mapping[str, Any] | None = None
                       ) -> dict[str, ParamSpec]:
        """The parameters with overrides applied; raises PolicyError naming bad ones."""
        params = dict(self.document.parameters)
        problems: list[Diagnostic] = []
        for name, raw in (overrides or {}).items():
            spec = params.get(name)
            if spec is None:
                sugg = difflib.get_close_matches(name, list(params), n=1)
                problems.append(Diagnostic(
                    f"unknown parameter `{name}`", code="parameter",
                    help=(f"did you mean `{sugg[0]}`?" if sugg else
                          "parameters: " + ", ".join(sorted(params)))))
                continue
            try:
                value = _coerce_param(spec, raw)
            except ValueError as exc:
                problems.append(Diagnostic(f"--param {name}: {exc}", code="parameter",
                                           provision=spec.provision,
                                           where=f"parameter `{name}`"))
                continue
            params[name] = dataclasses.replace(spec, value=value, set_by="--param")
        if problems:
            raise PolicyError(problems)
        return params

    # -- evaluation ----------------------------------------------------------------------

    def evaluate(self, facts: Facts, as_of: str | _dt.date,
                 params: Mapping[str, Any] | None = None, *, explain: bool = False,
                 backend: str = "auto") -> EvaluationResult:
        """Determinations for every account and claim of ``facts`` on ``as_of``.

        Records that cannot be evaluated go to ``errors``; every other record is still
        evaluated. Raises :class:`PolicyError` for bad parameters or an unknown backend.
        """
        if backend not in ("auto", "scalar"):
            raise PolicyError(Diagnostic(f"unknown backend `{backend}`", code="api",
                                         help="use `auto` or `scalar`"))
        day = _as_date(as_of)
        specs = self.resolve_params(params)
        values = {n: s.value for n, s in specs.items()}
        run = Run(self.program, day, values, facts.fx_rates)
        doc = self.document
        account_outputs = doc.outputs.get("account", ())
        claim_outputs = doc.outputs.get("claim", ())
        param_entries = {n: {"parameter": n, "value": to_json_value(s.value),
                             "provision": s.provision, "set_by": s.set_by}
                         for n, s in specs.items()} if explain else {}
        result = EvaluationResult(
            policy=self.info(), as_of=day.isoformat(),
            parameters={n: to_json_value(s.value) for n, s in sorted(specs.items())},
            facts=({"source": facts.source, "sha256": facts.sha256}
                   if facts.sha256 is not None else None))
        errors: list[RecordError] = list(facts.errors)
        for member in facts.members:
            late = _snapshot_after_as_of(member, day) if facts.form == "snapshot" else None
            if late is not None:
                errors.extend(RecordError(late, a.member_id, a.account_id, field="date")
                              for a in member.accounts)
                continue
            minst = Inst("member", visible(member, day), run, None)
            for ainst in minst.accounts():
                acc = ainst.obj
                try:
                    out = {n: _get(ainst, n, self.program.entities) for n in account_outputs}
                except EvaluationError as exc:
                    errors.append(RecordError(_error_text(exc), acc.member_id,
                                              acc.account_id))
                    continue
                trace = self.trace(ainst, account_outputs, param_entries) if explain \
                    else None
                result.accounts.append(Determination(acc.member_id, acc.account_id, out,
                                                     trace))
            if not member.accounts:
                errors.append(RecordError("member has no accounts", member.member_id))
        for claim in facts.claims:
            cinst = Inst("claim", visible_claim(claim, day), run, None)
            try:
                cout = {n: _get(cinst, n, self.program.entities) for n in claim_outputs}
            except EvaluationError as exc:
                errors.append(RecordError(_error_text(exc), claim_id=claim.claim_id))
                continue
            ctrace = self.trace(cinst, claim_outputs, param_entries) if explain else None
            result.claims.append(ClaimDetermination(claim.claim_id, claim.account_id, cout,
                                                    ctrace))
        result.errors = errors
        return result

    def trace_plan(self, outputs: tuple[str, ...]) -> list[str]:
        """The definitions outputs depend on, each after those it uses."""
        plan = self._trace_plans.get(outputs)
        if plan is not None:
            return plan
        defs = self.checked.defs
        order: list[str] = []
        seen: set[str] = set()

        def visit(n: str) -> None:
            if n in seen or n not in defs:
                return
            seen.add(n)
            for u in sorted(defs[n].uses):
                visit(u)
            order.append(n)

        for n in outputs:
            visit(n)
        self._trace_plans[outputs] = order
        return order

    def trace(self, inst: Inst, outputs: tuple[str, ...],
              param_entries: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """The definitions an instance's outputs used, with values and provisions, in
        dependency order, then the parameters they read and who set them. Definitions
        not evaluated (an `if` branch not taken) are left out."""
        defs = self.checked.defs
        entries: list[dict[str, Any]] = []
        used_params: set[str] = set()
        for n in self.trace_plan(outputs):
            cdef = defs[n]
            target = _instance_for(inst, cdef.spec.entity)
            if target is None or n not in target.cache:
                continue
            value = target.cache[n]
            if isinstance(value, Inst) or type(value).__name__ == "_Failed":
                continue
            entry = {"definition": n, "entity": cdef.spec.entity,
                     "value": to_json_value(value)}
            entry.update(self._trace_static[n])
            entries.append(entry)
            used_params |= cdef.params
        entries.extend(param_entries[p] for p in sorted(used_params))
        return entries


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


def _instance_for(inst: Inst, entity: str) -> Inst | None:
    if entity == inst.kind:
        return inst
    if entity == "global":
        return inst.run.global_inst
    if entity == "member":
        return inst.member if inst.kind == "account" else None
    return None


def _get(inst: Inst, name: str, entities: Mapping[str, str]) -> Any:
    target = _instance_for(inst, entities.get(name, inst.kind))
    assert target is not None
    return target.get(name)


def _error_text(exc: EvaluationError) -> str:
    where = []
    if exc.definition:
        where.append(f"in `{exc.definition}`")
    if exc.provision:
        where.append(exc.provision)
    return f"{exc.message} ({', '.join(where)})" if where else exc.message


def _as_date(value: str | _dt.date) -> _dt.date:
    if isinstance(value, _dt.date):
        return value
    try:
        return parse_iso_date(str(value))
    except ValueError as exc:
        raise PolicyError(Diagnostic(f"as-of date: {exc}", code="api")) from None


def _coerce_param(spec: ParamSpec, raw: Any) -> Any:
    if isinstance(raw, str):
        if spec.type_name in ("table", "list"):
            raise ValueError(f"`{spec.name}` is a {spec.type_name}; it cannot be set from "
                             "text (write an alternative policy that overrides it)")
        return convert_scalar(raw, spec.type_name)
    want = _PY_TYPES.get(spec.type)
    if want is None or not isinstance(raw, want) or (spec.type != T.BOOL and
                                                      isinstance(raw, bool)):
        raise ValueError(f"`{raw!r}` is not a {spec.type_name}")
    if spec.type in (T.NUMBER, T.MONEY):
        assert isinstance(raw, Decimal | int)
        return Decimal(raw)
    return raw


def load_policy(ref: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None
                ) -> Policy:
    """Parse and check a policy (file, directory or ``ID[@VERSION]``).

    Raises :class:`PolicyError` with every diagnostic when the policy is broken;
    warnings are kept on :attr:`Policy.warnings`.
    """
    doc, diags = load_document(ref, root=root)
    errors = [d for d in diags if d.is_error]
    if doc is None:
        raise PolicyLoadError(errors or diags or [Diagnostic(f"cannot load `{ref}`")])
    try:
        checked = check_document(doc)
    except PolicyError as exc:
        raise type(exc)(_sorted([*diags, *exc.diagnostics])) from None
    if errors:
        raise PolicyLoadError(_sorted([*diags, *checked.warnings]))
    checked.warnings = _sorted([*[d for d in diags if not d.is_error], *checked.warnings])
    return Policy(checked)


def check_policy(ref: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None
                 ) -> list[Diagnostic]:
    """Every diagnostic of a policy, errors and warnings, without raising for them."""
    try:
        return load_policy(ref, root=root).warnings
    except PolicyError as exc:
        return exc.diagnostics


def _sorted(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[str] = set()
    out: list[Diagnostic] = []
    for d in diags:
        key = d.render()
        if key not in seen:
            seen.add(key)
            out.append(d)

    def k(d: Diagnostic) -> tuple[str, int, int]:
        return (d.span.file, d.span.line, d.span.col) if d.span else ("", 0, 0)
    return sorted(out, key=k)
