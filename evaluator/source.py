"""Old path of :mod:`evaluator.span` and :mod:`evaluator.lang.document.positions` (issue 11): the names it had, from their new modules."""

from evaluator.lang.document.positions import ScalarPositions, node_span
from evaluator.span import (
    ELLIPSIS,
    SNIPPET_CONTEXT,
    SNIPPET_WIDTH,
    TAB_WIDTH,
    Source,
    Span,
    render_snippet,
)

__all__ = [
    "ELLIPSIS",
    "SNIPPET_CONTEXT",
    "SNIPPET_WIDTH",
    "TAB_WIDTH",
    "ScalarPositions",
    "Source",
    "Span",
    "node_span",
    "render_snippet",
]
