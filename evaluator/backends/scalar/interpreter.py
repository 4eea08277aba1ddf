"""The scalar backend's names where callers found them when it was a tree of closures:
the compiled :class:`Program` (now generated code, :mod:`codegen`) and the run time
(:mod:`runtime`), re-exported unchanged."""

from evaluator.backends.scalar.codegen import Program
from evaluator.backends.scalar.runtime import (
    STACK_BUDGET,
    Inst,
    Portfolio,
    Run,
    account_instances,
    account_of,
    always_used,
    arith_message,
    visible,
    visible_claim,
)

__all__ = ["STACK_BUDGET", "Inst", "Portfolio", "Program", "Run", "account_instances",
           "account_of", "always_used", "arith_message", "visible", "visible_claim"]
