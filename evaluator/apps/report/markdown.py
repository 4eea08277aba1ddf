"""The report's Markdown summary (``summary.md``): the summary table and the key findings,
escaped for GitHub Markdown."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Final

from evaluator.apps.report.data import validated
from evaluator.apps.report.fmt import fmt_cell, is_numeric_cell
from evaluator.text import squash_spaces

# ---------------------------------------------------------------------------------------
# Markdown.

_MD_INLINE: Final = re.compile(r"([\\`*_\[\]|~])")
_MD_LEADING: Final = re.compile(r"^([#>+=-]|(\d+)([.)]))")


def _md(text: str, *, block: bool = False) -> str:
    """Text shown literally by GitHub Markdown, on one line (safe in a table cell); with
    ``block``, also safe at the start of a list item (no heading, quote or nested list)."""
    escaped = html.escape(squash_spaces(text), quote=False)
    escaped = _MD_INLINE.sub(r"\\\1", escaped)
    if not block:
        return escaped
    # What would start a heading, quote, list or setext underline at the start of a line.
    return _MD_LEADING.sub(
        lambda m: f"{m.group(2)}\\{m.group(3)}" if m.group(2) else f"\\{m.group(1)}", escaped
    )


def markdown_summary(data: Mapping[str, object]) -> str:
    """The summary table and the key findings in GitHub Markdown (for ``summary.md``)."""
    r = validated(data)
    lines = [
        f"## {_md(r.title)}",
        "",
        f"As of {r.as_of}, projected to {r.horizon}; facts `{r.facts.source.replace('`', '')}` "
        f"({r.facts.accounts:,} accounts, {r.facts.errors:,} in error); "
        f"reference `{r.policies[0].ref.replace('`', '')}`.",
        "",
        "### Summary",
        "",
    ]
    if r.rows:
        numeric = [
            all(is_numeric_cell(row[j]) or row[j] is None for row in r.rows)
            and any(row[j] is not None for row in r.rows)
            for j in range(len(r.columns))
        ]
        lines.append("| " + " | ".join(_md(c) or " " for c in r.columns) + " |")
        lines.append("| " + " | ".join("---:" if n else "---" for n in numeric) + " |")
        for row in r.rows:
            lines.append("| " + " | ".join(_md(fmt_cell(v, r.columns[j])) for j, v in enumerate(row)) + " |")
    else:
        lines.append("_No summary rows._")
    lines += ["", "### Key findings", ""]
    if r.findings:
        lines += [f"- {_md(x, block=True)}" for x in r.findings]
    else:
        lines.append("_No findings recorded._")
    return "\n".join(lines) + "\n"
