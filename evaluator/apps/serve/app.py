"""The ASGI application of `unclaimed serve`: routes, problem documents, limits, the log.

FastAPI validates each request with the pydantic types of :mod:`models` and generates
``/openapi.json`` from the same types. Every error is an RFC 9457 problem document
(``application/problem+json``); a record that cannot be evaluated is a record error in
the answer (HTTP 200), never an HTTP error. Evaluations run in worker threads with a
deadline: past it the answer is a 503 and the service keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from evaluator import __version__
from evaluator.apps.serve import models as M
from evaluator.apps.serve.decisionlog import DecisionLog
from evaluator.apps.serve.limits import BodyLimits, Limits
from evaluator.apps.serve.service import (
    PolicyStore,
    ServiceError,
    facts_bytes,
    policy_problem,
    read_facts,
)
from evaluator.errors import PolicyError
from evaluator.resources import policies_root

STATIC = Path(__file__).resolve().parent / "static"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
PROBLEM = "application/problem+json"
CONFIG_ENV = "UNCLAIMED_SERVE_CONFIG"

_T = TypeVar("_T")


@dataclass(frozen=True)
class Config:
    policies: str | None = None
    decision_log: str | None = None
    read_only: bool = False
    limits: Limits = field(default_factory=Limits)

    def to_env(self) -> str:
        return json.dumps({"policies": self.policies, "decision_log": self.decision_log,
                           "read_only": self.read_only,
                           "limits": self.limits.__dict__})

    @classmethod
    def from_env(cls, text: str) -> Config:
        raw = json.loads(text)
        return cls(raw["policies"], raw["decision_log"], raw["read_only"],
                   Limits(**raw["limits"]))


def problem(status: int, title: str, detail: str, instance: str,
            diagnostics: list[dict[str, Any]] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status,
                            "detail": detail, "instance": instance}
    if diagnostics is not None:
        body["diagnostics"] = diagnostics
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": M.Problem, "content": {PROBLEM: {}}} for c in codes}


_COMMON = (400, 413, 422)


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p != "body"] or ["body"]
    return ".".join(parts)


def app_from_environment() -> FastAPI:
    """The application configured by ``UNCLAIMED_SERVE_CONFIG`` (for ``--workers``)."""
    return create_app(Config.from_env(os.environ[CONFIG_ENV]))


def create_app(config: Config) -> FastAPI:
    limits = config.limits
    store = PolicyStore(Path(config.policies) if config.policies else policies_root(),
                        read_only=config.read_only)
    log = DecisionLog(config.decision_log) if config.decision_log else None
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="unclaimed-serve")

    app = FastAPI(
        title="Unclaimed decision service",
        version=__version__,
        description="Policies as code for FSRA Rule 2024-001 over HTTP: evaluate, check, "
        "compare and list policies. Errors are RFC 9457 problem documents. The contract's "
        "JSON Schemas are served at /schemas/policy.schema.json (policy files) and "
        "/schemas/record.schema.json (decision records, the decision log's lines).",
    )
    docs = {"/v1/check": ("post", "/schemas/policy.schema.json", "a policy file"),
            "/v1/policies/{ref}": ("put", "/schemas/policy.schema.json", "a policy file"),
            "/v1/evaluate": ("post", "/schemas/record.schema.json", "a decision-log line")}

    def openapi() -> dict[str, Any]:
        """The generated document, with the contract's JSON Schemas linked (relative URLs,
        which FastAPI's own externalDocs field refuses)."""
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            spec = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes)
            spec["externalDocs"] = {"description": "the policy file's JSON Schema",
                                    "url": "/schemas/policy.schema.json"}
            for path, (method, url, what) in docs.items():
                spec["paths"][path][method]["externalDocs"] = {"url": url,
                                                               "description": what}
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    async def in_thread(fn: Callable[[], _T], deadline: float | None = None) -> _T:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(pool, fn)
        if deadline is None:
            return await future
        try:
            return await asyncio.wait_for(future, deadline)
        except TimeoutError:
            raise ServiceError(503, "Evaluation timed out",
                               f"the evaluation took longer than {deadline:g} s, the most "
                               "one request may take") from None

    # -- errors -------------------------------------------------------------------------

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail, request.url.path, exc.diagnostics)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        path = request.url.path
        bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if bad_json is not None:
            body = request.scope.get("state", {}).get("body", b"")
            detail = "request body: malformed JSON"
            try:
                json.loads(body)
            except json.JSONDecodeError as e:
                detail = (f"request body: malformed JSON at line {e.lineno}, column "
                          f"{e.colno}: {e.msg}")
            except (ValueError, RecursionError) as e:
                detail = f"request body: malformed JSON: {e}"
            return problem(400, "Malformed JSON", detail, path)
        shown = [f"{_where(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors]
        return problem(422, "Invalid request", "; ".join(shown[:5]) + (
            f" (and {len(shown) - 5} more)" if len(shown) > 5 else ""), path,
            errors=[{"field": _where(e.get("loc", ())), "message": str(e.get("msg", ""))}
                    for e in errors])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed"}
        return problem(exc.status_code, titles.get(exc.status_code, "Error"),
                       str(exc.detail), request.url.path)

    # -- routes ---------------------------------------------------------------------------

    @app.get("/healthz", response_model=M.Health)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/v1/policies", response_model=M.PolicyList)
    async def policies() -> dict[str, Any]:
        return {"policies": await in_thread(store.listing)}

    @app.get("/v1/policies/{ref}", response_model=M.PolicyDetail,
             responses=_problems(404, 422))
    async def policy_detail(ref: str) -> dict[str, Any]:
        return await in_thread(lambda: store.detail(ref))

    @app.put("/v1/policies/{ref}", response_model=M.SaveResponse,
             responses=_problems(*_COMMON, 403, 404, 503))
    async def policy_save(ref: str, body: M.SaveRequest) -> dict[str, Any]:
        return await in_thread(lambda: store.save(ref, body.text))

    @app.post("/v1/check", response_model=M.CheckResponse, responses=_problems(*_COMMON))
    async def check(body: M.CheckRequest) -> dict[str, Any]:
        ok, diags = await in_thread(lambda: store.check_text(body.text, body.name),
                                    limits.seconds)
        return {"ok": ok, "diagnostics": diags}

    @app.post("/v1/evaluate", responses={
        200: {"description": "exactly what `unclaimed evaluate --format json` prints",
              "content": {"application/json": {"schema": {
                  "type": "object",
                  "required": ["policy", "as_of", "parameters", "accounts", "claims",
                               "errors"]}}}},
        **_problems(*_COMMON, 404, 503)})
    async def evaluate(body: M.EvaluateRequest) -> Response:
        data = await in_thread(lambda: _evaluate(store, body, limits, log), limits.seconds)
        return Response(data, media_type="application/json")

    @app.post("/v1/compare", response_model=M.CompareResponse,
              responses=_problems(*_COMMON, 404, 503))
    async def compare(body: M.CompareRequest) -> dict[str, Any]:
        return await in_thread(lambda: _compare(store, body, limits), limits.seconds)

    @app.get("/schemas/{name}", responses=_problems(404))
    async def schema(name: str) -> Response:
        allowed = {p.name: p for p in SCHEMAS.glob("*.schema.json")}
        if name not in allowed:
            raise ServiceError(404, "Not found", f"no schema `{name}` (schemas: "
                               f"{', '.join(sorted(allowed))})")
        return Response(allowed[name].read_bytes(), media_type="application/schema+json")

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        page = STATIC / "index.html"
        if page.is_file():
            return FileResponse(page)
        return HTMLResponse("<!doctype html><title>unclaimed serve</title><p>The workbench "
                            "is not installed (no evaluator/apps/serve/static/index.html). "
                            "The API is at <a href=\"/docs\">/docs</a>.</p>")

    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    return BodyLimits(app, limits)  # type: ignore[return-value]


def _evaluate(store: PolicyStore, body: M.EvaluateRequest, limits: Limits,
              log: DecisionLog | None) -> bytes:
    from evaluator.apps.records import facts_entry, record_document

    if (body.policy is None) == (body.policy_text is None):
        raise ServiceError(422, "Invalid request",
                           "give exactly one of `policy` and `policy_text`")
    loaded = (store.load(body.policy) if body.policy is not None
              else store.load_text(body.policy_text or "", "policy.yaml"))
    data = facts_bytes(body.facts, body.facts_text)
    facts = read_facts(data, body.facts_name, limits.records, decl=loaded.policy.facts_decl)
    try:
        result = loaded.policy.evaluate(facts, as_of=body.as_of, params=body.parameters,
                                        explain=body.explain)
    except PolicyError as exc:
        raise policy_problem(exc) from None
    text = result.to_json() + "\n"
    if log is not None:
        doc = result.to_dict()
        if body.explain:  # replay evaluates without traces
            doc = {k: v for k, v in doc.items() if k != "trace"}
            for section in ("accounts", "claims"):
                doc[section] = [{k: v for k, v in a.items() if k != "trace"}
                                for a in doc[section]]
        log.write(record_document(loaded.policy, loaded.files,
                                  facts_entry(body.facts_name, data), body.as_of,
                                  dict(body.parameters), doc, "auto"))
    return text.encode("utf-8")


def _compare(store: PolicyStore, body: M.CompareRequest, limits: Limits) -> dict[str, Any]:
    from evaluator.apps.compare import explain, first_divergence
    from evaluator.apps.records import changed_determinations

    loaded = [store.load(p) if isinstance(p, str) else store.load_text(p.text, p.name)
              for p in body.policies]
    data = facts_bytes(body.facts, body.facts_text)
    facts = read_facts(data, body.facts_name, limits.records, limits.compare_accounts)
    runs: list[dict[str, Any]] = []
    results = []
    for entry in loaded:
        try:
            result = entry.policy.evaluate(facts, as_of=body.as_of, params=body.parameters,
                                           explain=True, backend="scalar")
        except PolicyError as exc:
            raise policy_problem(exc) from None
        results.append(result)
        statuses: dict[str, int] = {}
        for a in result.accounts:
            status = str(a.values.get("status"))
            statuses[status] = statuses.get(status, 0) + 1
        runs.append({"policy": entry.policy.info(), "accounts": len(result.accounts),
                     "claims": len(result.claims), "errors": len(result.errors),
                     "statuses": statuses})

    def plain(result: Any) -> dict[str, Any]:
        return {"accounts": [{k: v for k, v in a.to_json().items() if k != "trace"}
                             for a in result.accounts],
                "claims": [c.to_json() for c in result.claims]}

    ref, ref_result = loaded[0].policy, results[0]
    before = plain(ref_result)
    by_id = {d.account_id: d for d in ref_result.accounts}
    differences: list[dict[str, Any]] = []
    for entry, result in zip(loaded[1:], results[1:], strict=True):
        alt = entry.policy
        other = {d.account_id: d for d in result.accounts}
        label = f"{alt.id}@{alt.version}"
        for change in changed_determinations(before, plain(result)):
            if change.kind not in ("account", "claim"):
                continue
            one = change.before or change.after or {}
            item: dict[str, Any] = {
                "policy": label, "kind": change.kind, "fields": change.fields,
                "before": change.before, "after": change.after,
                "account_id": one.get("account_id"), "member_id": one.get("member_id"),
                "first_divergence": None, "explanation": f"{', '.join(change.fields)} differ"}
            if change.kind == "claim":
                item["claim_id"] = change.key
            else:
                da, db = by_id.get(change.key), other.get(change.key)
                name, _, _ = first_divergence(da, db)
                definition, _, params = name.partition(" (parameter ")
                item["first_divergence"] = {
                    "definition": definition or None,
                    "parameter": params.removesuffix(" differs)").split(", ")
                    if params else None}
                item["explanation"] = explain(ref, alt, da, db, change.fields)
            differences.append(item)
    return {"as_of": body.as_of, "reference": ref.info(), "runs": runs,
            "differences": differences, "limit": limits.compare_accounts}
