"""Old path of :mod:`evaluator.lang.document.loader` (issue 11): the names it had, from their new modules."""

from evaluator.lang.document.loader import (
    MAX_EXTENDS_DEPTH,
    MAX_NESTING,
    MAX_NODES,
    MAX_POLICY_BYTES,
    POLICY_FILE,
    DefSpec,
    InvariantSpec,
    ParamSpec,
    PolicyDocument,
    ProvisionSpec,
    convert_scalar,
    literal_type,
    literal_value,
    load_document,
    resolve_policy_path,
)

__all__ = [
    "MAX_EXTENDS_DEPTH",
    "MAX_NESTING",
    "MAX_NODES",
    "MAX_POLICY_BYTES",
    "POLICY_FILE",
    "DefSpec",
    "InvariantSpec",
    "ParamSpec",
    "PolicyDocument",
    "ProvisionSpec",
    "convert_scalar",
    "literal_type",
    "literal_value",
    "load_document",
    "resolve_policy_path",
]
