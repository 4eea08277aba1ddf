"""The request and response types of the HTTP service: they validate each request and
FastAPI generates ``/openapi.json`` from them, so the document cannot drift from what
the service accepts."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: a policy id, optionally ``@VERSION`` (the loader's own rule for ids)
POLICY_REF = r"^[a-z0-9][a-z0-9.-]{0,127}(@[0-9A-Za-z.+-]{1,64})?$"
#: a file name shown in the output: relative, each segment starting with no dot
FACTS_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.\- ]{0,99}(/[A-Za-z0-9_][A-Za-z0-9_.\- ]{0,99}){0,8}$"
TEXT_MAX = 1_000_000

_STRICT = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """An error, as RFC 9457 ``application/problem+json``."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    diagnostics: list[DiagnosticOut] | None = None


class Health(BaseModel):
    status: str
    version: str


class PolicySummary(BaseModel):
    id: str
    version: str
    sha256: str | None = Field(description="the checked policy's canonical hash; null "
                               "when the policy does not check")
    status: str | None
    title: str | None
    path: str
    extends: str | None
    ok: bool = Field(description="the policy checks without errors")


class PolicyList(BaseModel):
    policies: list[PolicySummary]


class ParameterOut(BaseModel):
    name: str
    type: str
    value: Any = None
    provision: str | None
    description: str | None


class DefinitionOut(BaseModel):
    name: str
    entity: str
    provision: str | None
    description: str | None
    formula: str


class ProvisionOut(BaseModel):
    label: str
    text: str | None
    computable: bool


class PolicyDetail(BaseModel):
    id: str
    version: str
    sha256: str
    status: str
    title: str
    path: str
    extends: str | None
    text: str = Field(description="the policy file's YAML source")
    parameters: list[ParameterOut]
    definitions: list[DefinitionOut]
    outputs: dict[str, list[str]]
    provisions: list[ProvisionOut]


class DiagnosticOut(BaseModel):
    code: str
    severity: str
    file: str | None = None
    line: int | None = Field(None, description="1-based, as the CLI prints")
    column: int | None = Field(None, description="1-based, as the CLI prints")
    end_line: int | None = None
    end_column: int | None = None
    where: str | None = None
    provision: str | None = None
    message: str
    help: str | None = None


class CheckRequest(BaseModel):
    model_config = _STRICT
    text: str = Field(max_length=TEXT_MAX, description="policy YAML, checked as if it were "
                      "a file in the policies folder (so `extends` resolves)")
    name: str = Field("policy.yaml", pattern=FACTS_NAME, description="file name shown in "
                      "diagnostics")


class CheckResponse(BaseModel):
    ok: bool
    diagnostics: list[DiagnosticOut]


class EvaluateRequest(BaseModel):
    model_config = _STRICT
    policy: str | None = Field(None, pattern=POLICY_REF,
                               description="ID[@VERSION] under the service's --policies")
    policy_text: str | None = Field(None, max_length=TEXT_MAX,
                                    description="policy YAML instead of `policy`")
    facts: dict[str, Any] | None = Field(
        None, description="a full profile (the contract's JSON form). Its facts sha256 is "
        "that of the value re-serialised as compact JSON (json.dumps(facts, "
        "ensure_ascii=False, separators=(',', ':')), UTF-8, no newline): the CLI on a file "
        "of those bytes answers the same bytes. Money as decimal strings: JSON numbers are "
        "read as binary floats by the service")
    facts_text: str | None = Field(None, description="the text of a facts .json file, used "
                                   "as it is (its sha256 is the file's) instead of `facts`")
    facts_name: str = Field("facts.json", pattern=FACTS_NAME,
                            description="the facts source shown in the output (the CLI "
                            "shows the --facts path)")
    as_of: str = Field(max_length=64, description="YYYY-MM-DD")
    parameters: dict[str, str] = Field(default_factory=dict,
                                       description="NAME: VALUE, as --param NAME=VALUE")
    explain: bool = False


class PolicyText(BaseModel):
    model_config = _STRICT
    text: str = Field(max_length=TEXT_MAX)
    name: str = Field("policy.yaml", pattern=FACTS_NAME)


class CompareRequest(BaseModel):
    model_config = _STRICT
    policies: list[str | PolicyText] = Field(
        min_length=2, max_length=6, description="ID[@VERSION] or {text}; the first is the "
        "reference")
    facts: dict[str, Any] | None = None
    facts_text: str | None = None
    facts_name: str = Field("facts.json", pattern=FACTS_NAME)
    as_of: str = Field(max_length=64)
    parameters: dict[str, str] = Field(default_factory=dict)


class Divergence(BaseModel):
    definition: str | None
    parameter: list[str] | None = None


class Difference(BaseModel):
    policy: str = Field(description="ID@VERSION of the policy compared to the reference")
    kind: str = Field(description="account or claim")
    account_id: str | None
    member_id: str | None
    claim_id: str | None = None
    fields: list[str]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    first_divergence: Divergence | None
    explanation: str


class PolicyRun(BaseModel):
    policy: dict[str, str]
    accounts: int
    claims: int
    errors: int
    statuses: dict[str, int]


class CompareResponse(BaseModel):
    as_of: str
    reference: dict[str, str]
    runs: list[PolicyRun]
    differences: list[Difference]
    limit: int = Field(description="the most accounts a comparison takes")


class SaveRequest(BaseModel):
    model_config = _STRICT
    text: str = Field(max_length=TEXT_MAX)


class SaveResponse(BaseModel):
    saved: str
    sha256: str
    ok: bool = True
    diagnostics: list[DiagnosticOut] = Field(default_factory=list,
                                             description="warnings, if any")


Problem.model_rebuild()
