"""Unclaimed: a declarative policy-as-code evaluator for FSRA Rule 2024-001.

```python
from evaluator import load_policy, load_facts
policy = load_policy("policies/fsra-2024-001")
result = policy.evaluate(load_facts("examples/members.json"), as_of="2026-11-21")
result.accounts[0].status, result.to_json()
```
"""

from typing import TYPE_CHECKING, Any

from evaluator.backends.results import ClaimDetermination, Determination, EvaluationResult
from evaluator.errors import (
    Diagnostic,
    EvaluationError,
    PolicyError,
    PolicyLoadError,
    PolicySyntaxError,
    PolicyTypeError,
)
from evaluator.policy import Policy, check_policy, load_policy

if TYPE_CHECKING:
    from evaluator.facts import FactsError, load_facts

__all__ = [
    "ClaimDetermination",
    "Determination",
    "Diagnostic",
    "EvaluationError",
    "EvaluationResult",
    "FactsError",
    "Policy",
    "PolicyError",
    "PolicyLoadError",
    "PolicySyntaxError",
    "PolicyTypeError",
    "check_policy",
    "load_facts",
    "load_policy",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``FactsError`` and ``load_facts`` load the facts readers when first used."""
    if name in ("FactsError", "load_facts"):
        from evaluator import facts

        return getattr(facts, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
