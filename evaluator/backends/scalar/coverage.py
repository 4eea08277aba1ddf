"""Provision coverage: which definitions an evaluation used and which way each decision went.

A *decision* is a point where a formula chooses: the condition of an `if`, the filter of
a comprehension, each side of `and` / `or`. Evaluating with a :class:`Coverage` records,
per decision, the outcomes seen (true, false). A provision is exercised by a case when a
definition citing it was evaluated; it *decided the outcome* when one of its decisions
came out true (its condition held) or, for a definition without decisions, whenever it
was evaluated; it is fully covered when every one of its decisions was seen both ways.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from evaluator.span import Span

_PARAGRAPH = re.compile(r"(\([a-z]+\))+$")


@dataclass(frozen=True)
class DecisionSite:
    id: int
    definition: str
    kind: str  # if | filter | and | or
    span: Span | None
    text: str


@dataclass
class Coverage:
    """What evaluations touched. One object may accumulate several evaluations."""

    evaluated: set[str] = field(default_factory=set)
    decisions: dict[int, set[bool]] = field(default_factory=dict)

    def merge(self, other: Coverage) -> None:
        self.evaluated |= other.evaluated
        for k, v in other.decisions.items():
            self.decisions.setdefault(k, set()).update(v)


def subsection(citation: str) -> str:
    """`2(5)(i)` -> `2(5)`; `Act 147(1)` stays; interpretation ids (`A4`) stay."""
    return _PARAGRAPH.sub("", citation.strip()) if "(" in citation else citation.strip()


def cited(provision: str | None) -> list[str]:
    """The subsections a `provision:` string cites, in order, without repeats."""
    out: list[str] = []
    for part in (provision or "").split(";"):
        p = part.strip()
        if p:
            s = subsection(p)
            if s not in out:
                out.append(s)
    return out
