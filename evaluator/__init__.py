"""Unclaimed: a declarative policy-as-code evaluator for FSRA Rule 2024-001.

```python
from evaluator import load_policy, load_facts
policy = load_policy("policies/fsra-2024-001")
result = policy.evaluate(load_facts("examples/members.json"), as_of="2026-11-21")
result.accounts[0].status, result.to_json()
```
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evaluator.backends.results import (
        ClaimDetermination,
        Determination,
        EvaluationResult,
    )
    from evaluator.errors import (
        Diagnostic,
        EvaluationError,
        PolicyError,
        PolicyLoadError,
        PolicySyntaxError,
        PolicyTypeError,
    )
    from evaluator.facts import FactsError, load_facts
    from evaluator.policy import Policy, check_policy, load_policy

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


#: where each public name is defined: imported when first used, so that importing a
#: submodule (the command line's, on every start) does not load the whole package
_HOME = {
    "ClaimDetermination": "evaluator.backends.results",
    "Determination": "evaluator.backends.results",
    "EvaluationResult": "evaluator.backends.results",
    "Diagnostic": "evaluator.errors",
    "EvaluationError": "evaluator.errors",
    "PolicyError": "evaluator.errors",
    "PolicyLoadError": "evaluator.errors",
    "PolicySyntaxError": "evaluator.errors",
    "PolicyTypeError": "evaluator.errors",
    "FactsError": "evaluator.facts",
    "load_facts": "evaluator.facts",
    "Policy": "evaluator.policy",
    "check_policy": "evaluator.policy",
    "load_policy": "evaluator.policy",
}


def __getattr__(name: str) -> Any:
    """The public names, each loaded from its module when first used."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
