"""The public face of a checked policy: load it, evaluate it, explain it."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path as _Path
from typing import TYPE_CHECKING, Any

from evaluator.backends.results import EvaluationResult, param_json
from evaluator.errors import (
    Code,
    Diagnostic,
    EvaluationError,
    PolicyError,
    PolicyLoadError,
    PolicyTypeError,
    sort_diagnostics,
)
from evaluator.facts.model import Facts
from evaluator.gcpause import fewer_collections
from evaluator.lang import typesys as T
from evaluator.lang.check.model import CheckedPolicy
from evaluator.lang.document.specs import ParamSpec, PolicyDocument
from evaluator.lang.values import MonthDay, parse_iso_date

if TYPE_CHECKING:  # the backends load when a policy is evaluated, not when it is checked
    from evaluator.backends.base import Backend
    from evaluator.backends.scalar.codegen import Program
    from evaluator.backends.scalar.coverage import Coverage
    from evaluator.declared import FactsDecl

__all__ = ["Policy", "as_date", "check_policy", "load_policy", "param_json"]

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
        self._program: Program | None = None
        self._coverage_program: Program | None = None

    @property
    def program(self) -> Program:
        """The policy compiled for the scalar backend (built on first use: `check` and
        a policy read from the cache need none)."""
        if self._program is None:
            from evaluator.backends.scalar.codegen import Program

            self._program = Program(self.checked)
        return self._program

    @program.setter
    def program(self, program: Program) -> None:
        """Use ``program`` (one made from a cached source) for the scalar backend."""
        self._program = program

    @property
    def coverage_program(self) -> Program:
        """The policy compiled to record coverage (built on first use)."""
        if self._coverage_program is None:
            from evaluator.backends.scalar.codegen import Program

            self._coverage_program = Program(self.checked, coverage=True)
        return self._coverage_program

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

    @property
    def facts_decl(self) -> FactsDecl | None:
        """The facts the policy declares beyond the standard ones (None: none), to read
        its facts by: ``load_facts(path, policy=policy)``."""
        return self.document.facts_decl

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
                    f"unknown parameter `{name}`", code=Code.PARAMETER,
                    help=(f"did you mean `{sugg[0]}`?" if sugg else
                          "parameters: " + ", ".join(sorted(params)))))
                continue
            try:
                value = _coerce_param(spec, raw)
            except ValueError as exc:
                problems.append(Diagnostic(f"--param {name}: {exc}", code=Code.PARAMETER,
                                           provision=spec.provision,
                                           where=f"parameter `{name}`"))
                continue
            params[name] = dataclasses.replace(spec, value=value, set_by="--param",
                                               derived=None)
        if problems:
            raise PolicyError(problems)
        return self._derive(params)

    def _derive(self, params: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        """Compute derived parameters (unless overridden), each after those it uses."""
        from evaluator.backends.scalar.runtime import Inst, Run

        values = {n: s.value for n, s in params.items()}
        run = Run(self.program, _dt.date.min, values, {})
        for name in self.checked.derived:
            spec = params[name]
            if spec.derived is None:
                continue  # overridden with --param
            fn = self.program.derived.get(name)
            if fn is None:
                continue
            try:
                value = fn(Inst("global", None, run, None), {})
            except (EvaluationError, ArithmeticError, ValueError, OverflowError) as exc:
                raise PolicyError(Diagnostic(
                    f"derived parameter `{name}` cannot be computed: {exc}",
                    spec.derived.span(), where=f"parameter `{name}`",
                    provision=spec.provision, source=spec.derived.source,
                    code=Code.PARAMETER)) from None
            values[name] = value
            params[name] = dataclasses.replace(spec, value=value)
        return params

    def run_params(self, params: Mapping[str, Any] | None
                   ) -> tuple[dict[str, ParamSpec], list[Diagnostic]]:
        """The parameters of one run, and the invariants they break as warnings; raises
        PolicyError for bad values or an invariant of severity error."""
        specs = self.resolve_params(params)
        if not params:
            return specs, []
        problems = self.invariant_problems(specs)
        if any(d.is_error for d in problems):
            raise PolicyError(problems)
        return specs, problems

    def invariant_problems(self, params: Mapping[str, ParamSpec]) -> list[Diagnostic]:
        """Invariants that do not hold for these parameter values, as diagnostics."""
        from evaluator.backends.scalar.runtime import Inst, Run

        values = {n: s.value for n, s in params.items()}
        run = Run(self.program, _dt.date.min, values, {})
        out: list[Diagnostic] = []
        for name, inv in self.document.invariants.items():
            fn = self.program.invariants.get(name)
            if fn is None:
                continue
            try:
                got = fn(Inst("global", None, run, None), {})
            except (EvaluationError, ArithmeticError, ValueError, OverflowError) as exc:
                got = [f"cannot be checked: {exc}"]
            if got is True or got == ():
                continue
            texts = [inv.message or f"invariant `{name}` does not hold"] if got is False \
                else [str(t) for t in got]
            overridden = sorted(n for n in self.checked.invariants[name].params
                                if params[n].set_by == "--param")
            for text in texts:
                out.append(Diagnostic(
                    text, inv.check.span(), severity=inv.severity,
                    where=f"invariant `{name}`", provision=inv.check.provision,
                    source=inv.check.source, code=Code.CONFLICT,
                    help=("with --param " + ", ".join(overridden)) if overridden else
                    inv.check.description))
        return out

    def outputs(self, entity: str) -> tuple[tuple[str, str], ...]:
        """(reported name, definition) for each output of an entity, in order."""
        names = self.document.output_names
        return tuple((names.get((entity, n), n), n)
                     for n in self.document.outputs.get(entity, ()))

    # -- evaluation ----------------------------------------------------------------------

    def evaluate(self, facts: Facts | Any, as_of: str | _dt.date,
                 params: Mapping[str, Any] | None = None, *, explain: bool = False,
                 backend: str = "auto", coverage: Coverage | None = None) -> EvaluationResult:
        """Determinations for every account and claim of ``facts`` on ``as_of``.

        Records that cannot be evaluated go to ``errors``; every other record is still
        evaluated. Raises :class:`PolicyError` for bad parameters or an unknown backend.
        """
        from evaluator.backends.base import BACKEND_NAMES

        if backend not in BACKEND_NAMES:
            raise PolicyError(Diagnostic(f"unknown backend `{backend}`", code=Code.API,
                                         help="use `auto`, `scalar` or `columnar`"))
        self._check_declaration(facts)
        with fewer_collections():
            result = self._evaluate(facts, as_of, params, explain=explain, backend=backend,
                                    coverage=coverage)
        unknown = facts.unknown_warnings() if hasattr(facts, "unknown_warnings") else []
        if unknown:
            result.warnings = [*result.warnings, *(
                Diagnostic(w, severity="warning", code=Code.FACTS) for w in unknown)]
        return result

    def _check_declaration(self, facts: Any) -> None:
        """Facts read by a declaration without the policy's would miss its fields (one
        that declares more, as for several policies compared, is fine)."""
        from evaluator.declared import covers

        mine = self.facts_decl
        theirs = getattr(facts, "decl", None)
        if not covers(theirs, mine):
            raise PolicyError(Diagnostic(
                f"the facts were read by {_declared(theirs)}, but policy `{self.id}` "
                f"reads {_declared(mine)}", code=Code.FACTS,
                help="read them by the policy's declaration: "
                     "load_facts(path, policy=policy)"))

    def _evaluate(self, facts: Facts | Any, as_of: str | _dt.date,
                  params: Mapping[str, Any] | None, *, explain: bool, backend: str,
                  coverage: Coverage | None) -> EvaluationResult:
        """The `auto` choice of :func:`uses_columnar`, falling back to the scalar
        backend when the columnar one declines the policy."""
        from evaluator.backends.base import is_table, uses_columnar
        from evaluator.backends.scalar.evaluate import ScalarBackend

        if uses_columnar(backend, facts, explain=explain, coverage=coverage):
            from evaluator.backends.columnar.evaluate import ColumnarBackend

            day = as_date(as_of)
            specs, warnings = self.run_params(params)
            chosen: Backend = ColumnarBackend(required=backend == "columnar")
            columnar = chosen.evaluate(self, facts, day, specs, warnings, explain=explain,
                                       coverage=coverage)
            if columnar is not None:
                return columnar
        if is_table(facts) and getattr(facts, "events", None) is not None:  # a dataset's
            from evaluator.facts.eventtable import dataset_facts  # table: its profiles

            facts = dataset_facts(facts)  # type: ignore[arg-type]
        elif is_table(facts):
            facts = facts.to_facts()
        elif backend == "columnar":
            raise PolicyError(Diagnostic(
                "the columnar backend evaluates snapshot tables", code=Code.API,
                help="read the facts with evaluator.columnar.read_table, or use "
                     "backend=\"scalar\" for full profiles"))
        day = as_date(as_of)
        specs, warnings = self.run_params(params)
        return ScalarBackend().evaluate(self, facts, day, specs, warnings, explain=explain,
                                        coverage=coverage)


def _declared(decl: FactsDecl | None) -> str:
    if decl is None:
        return "the standard deposit declaration"
    return "a declaration with fields beyond it (" + ", ".join(
        f"{e}.{f.name}" for e in ("member", "account", "event", "claim")
        for f in decl.extra_fields(e)) + ")"


def as_date(value: str | _dt.date) -> _dt.date:
    if isinstance(value, _dt.date):
        return value
    try:
        return parse_iso_date(str(value))
    except ValueError as exc:
        raise PolicyError(Diagnostic(f"as-of date: {exc}", code=Code.API)) from None


def _coerce_param(spec: ParamSpec, raw: Any) -> Any:
    if isinstance(raw, str):
        if spec.type_name == "table":
            raise ValueError(f"`{spec.name}` is a table; it cannot be set from text "
                             "(write an alternative policy that overrides it)")
        if spec.type_name == "list":
            return _list_param(spec, raw)
        from evaluator.lang.document.build import convert_scalar

        return convert_scalar(raw, spec.type_name)
    want = _PY_TYPES.get(spec.type)
    if want is None or not isinstance(raw, want) or (spec.type != T.BOOL and
                                                      isinstance(raw, bool)):
        raise ValueError(f"`{raw!r}` is not a {spec.type_name}")
    if spec.type in (T.NUMBER, T.MONEY):
        assert isinstance(raw, Decimal | int)
        return Decimal(raw)
    return raw


def _list_param(spec: ParamSpec, raw: str) -> tuple[Any, ...]:
    """A list parameter from text: `[a, b]` or `a, b` (items read as the list's type)."""
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    from evaluator.lang.document.build import convert_scalar

    elem = spec.columns[0][1] if spec.columns else "text"
    items = [i.strip().strip('"').strip("'") for i in text.split(",") if i.strip()]
    return tuple(convert_scalar(i, elem) for i in items)


def load_policy(ref: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None,
                cache: bool = True) -> Policy:
    """Parse and check a policy (file, directory or ``ID[@VERSION]``).

    Raises :class:`PolicyError` with every diagnostic when the policy is broken;
    warnings are kept on :attr:`Policy.warnings`. A policy checked before, whose files
    are unchanged, is read from the user's cache (:mod:`evaluator.lang.cache`) unless
    ``cache`` is false or ``UNCLAIMED_NO_CACHE`` is set.
    """
    from evaluator.lang.cache import PolicyCache

    store = PolicyCache.for_user() if cache else None
    naming = PolicyCache.naming(ref, root)
    if store is not None:
        hit = store.get(naming)
        if isinstance(hit, tuple) and len(hit) == 2 and isinstance(hit[0], CheckedPolicy):
            policy = Policy(hit[0])
            policy.warnings = list(hit[1])
            return policy
    policy = _load_policy(ref, root=root)
    if store is not None:
        files, scan = _composed_of(ref, root, policy.document)
        store.put(naming, files, scan, (policy.checked, policy.warnings), policy.warnings)
    return policy


def _composed_of(ref: str | os.PathLike[str], root: str | os.PathLike[str] | None,
                 doc: PolicyDocument) -> tuple[list[str], str | None]:
    """The files a policy was read from, and the policies root scanned to find it (named
    by ``ID@VERSION``) or what it extends, whose every policy file then counts too."""
    from evaluator.lang.document.loader import policies_root_for
    from evaluator.resources import policies_root

    files = [os.path.abspath(f) for f in doc.files]
    by_id = not (os.path.isfile(ref) or os.path.isdir(ref))
    if not by_id and not doc.extends:
        return files, None
    if root is not None:
        base = os.path.abspath(root)
    elif by_id:
        base = str(policies_root())
    else:
        base = str(policies_root_for(_Path(files[-1])))
    return files, base


def _load_policy(ref: str | os.PathLike[str], *, root: str | os.PathLike[str] | None
                 ) -> Policy:
    """:func:`load_policy` without the cache."""
    from evaluator.lang.check.pipeline import check_document
    from evaluator.lang.document.loader import load_document

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
    policy = Policy(checked)
    try:
        problems = policy.invariant_problems(policy.resolve_params())
    except PolicyError as exc:
        problems = exc.diagnostics
    if any(d.is_error for d in problems):
        raise PolicyTypeError(_sorted([*checked.warnings, *problems]))
    policy.warnings = _sorted([*policy.warnings, *problems])
    return policy


def check_policy(ref: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None,
                 cache: bool = True) -> list[Diagnostic]:
    """Every diagnostic of a policy, errors and warnings, without raising for them."""
    try:
        return load_policy(ref, root=root, cache=cache).warnings
    except PolicyError as exc:
        return exc.diagnostics


def _sorted(diags: list[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics once each, in file order."""
    return sort_diagnostics(diags)
