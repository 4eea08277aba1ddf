"""The comparison report: one self-contained HTML document, and a Markdown summary.

``render_report(data)`` turns the plain, JSON-able dict that ``unclaimed compare``
assembles into a single HTML file that consultation teams can circulate: inline CSS,
charts as inline SVG drawn here, no script, no font, no image, no link to anything
outside the document (a Content-Security-Policy of ``default-src 'none'`` makes a
browser refuse to fetch anything even if that ever changed). The same data always
gives byte-identical output: nothing depends on the clock, the locale, dict order
beyond the data's own, or the decimal context.

``markdown_summary(data)`` gives the summary table and the key findings in GitHub
Markdown (for ``summary.md``).

The shape of ``data`` (every key required, no other key allowed)::

    {"title": str, "as_of": "YYYY-MM-DD", "horizon": int,
     "facts": {"source": str, "sha256": str|None, "accounts": int, "errors": int},
     "policies": [{"id", "version", "sha256", "status", "title": str, "models": str|None,
                   "provisions" (optional): {label: text}}],
     "assumptions": [{"name", "value", "description", "source": str}],
     "summary": {"columns": [str], "rows": [[str|number|None]]},
     "yearly": {"years": [int], "series": {metric: {"label": str, "unit": "CAD"|"count",
                                                    "values": {policy_id: [number|None]}}}},
     "charts": [{"metric": str, "title": str, "kind": "bar"|"line"}],
     "differences": [{"member_id", "account_id", "policy": str, "fields": [str],
                      "first_definition": str|None, "explanation": str,
                      "amount_cad": str|None}],
     "findings": [str]}

The first policy is the reference (baseline). Numbers are ``int``, ``float`` or
``Decimal`` (never ``bool``, never NaN or infinite). Bad input raises
:class:`ReportDataError`, a ``ValueError`` naming the offending path, e.g.
``report data: policies[1].sha256: expected a string, got null``.

Modules: :mod:`.fmt` (numbers and text) <- :mod:`.data` (validation) <- :mod:`.charts`
(SVG) <- :mod:`.html` (the document); :mod:`.markdown` (the summary) uses data and fmt.
"""

from evaluator.apps.report.data import ReportDataError, validate_report
from evaluator.apps.report.fmt import format_cad, format_count
from evaluator.apps.report.html import render_report
from evaluator.apps.report.markdown import markdown_summary

__all__ = ["ReportDataError", "format_cad", "format_count", "markdown_summary", "render_report",
           "validate_report"]
