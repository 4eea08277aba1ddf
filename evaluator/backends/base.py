"""What a backend needs of a loaded policy (a protocol, so that backends never import the
policy facade that calls them)."""

from __future__ import annotations

from typing import Protocol

from evaluator.backends.scalar.interpreter import Program
from evaluator.lang.check.model import CheckedPolicy

__all__ = ["CompiledPolicy"]


class CompiledPolicy(Protocol):
    """A checked policy with its scalar program: :class:`evaluator.policy.Policy`."""

    checked: CheckedPolicy
    program: Program

    def outputs(self, entity: str) -> tuple[tuple[str, str], ...]:
        """(reported name, definition) for each output of an entity, in order."""
        ...
