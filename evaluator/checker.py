"""Old path of :mod:`evaluator.lang.check` (issue 11): the names it had, from their new modules."""

from evaluator.lang.check.graph import dependency_order
from evaluator.lang.check.infer import TypeChecker, parse_type
from evaluator.lang.check.model import (
    GLOBAL_NAMES,
    OUTPUT_ENTITIES,
    VISIBLE_FROM,
    CheckedDef,
    CheckedPolicy,
    Resolved,
)
from evaluator.lang.check.pipeline import check_document
from evaluator.lang.typesys import arith_type

#: the old name of the type checker
Checker = TypeChecker

__all__ = [
    "GLOBAL_NAMES",
    "OUTPUT_ENTITIES",
    "VISIBLE_FROM",
    "CheckedDef",
    "CheckedPolicy",
    "Checker",
    "Resolved",
    "arith_type",
    "check_document",
    "dependency_order",
    "parse_type",
]
