"""Writes the builtin reference from the one builtin table (evaluator.lang.builtins.BUILTINS):
docs/builtins.md whole, and the builtin section of docs/writing-policies.md between its two
marker comments; with --check, writes nothing and exits 1 when either differs."""

from __future__ import annotations

import sys
from pathlib import Path

from evaluator.lang.builtins import BUILTINS, reference_markdown

DOCS = Path(__file__).resolve().parent.parent / "docs"
TARGET = DOCS / "builtins.md"
GUIDE = DOCS / "writing-policies.md"
BEGIN = ("<!-- builtins: begin (generated from evaluator/lang/builtins.py by "
         "scripts/builtins_reference.py: do not edit by hand) -->")
END = "<!-- builtins: end -->"


def guide_section() -> str:
    """The guide's builtin table: each builtin with its signature and what it gives, linked
    to its entry (parameters, example) in docs/builtins.md."""
    lines = [BEGIN, "", "| function | signature | what it gives |", "|---|---|---|"]
    for b in BUILTINS.values():
        sig = b.signature.replace("|", "&#124;")
        doc = b.doc.replace("|", "&#124;")
        lines.append(f"| [`{b.name}`](builtins.md#{b.name}) | `{sig}` | {doc} |")
    lines += ["", END]
    return "\n".join(lines)


def refreshed_guide(text: str) -> str | None:
    """The guide's text with its builtin section regenerated; None when the markers are
    missing (or out of order)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    return text[:start] + guide_section() + text[end + len(END):]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    reference = reference_markdown()
    guide = GUIDE.read_text(encoding="utf-8") if GUIDE.exists() else ""
    new_guide = refreshed_guide(guide)
    if new_guide is None:
        print(f"{GUIDE} lacks the builtin section's markers ({BEGIN} ... {END})",
              file=sys.stderr)
        return 1
    if check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        status = 0
        if current != reference:
            print(f"{TARGET} differs from the builtin table: run "
                  "python scripts/builtins_reference.py", file=sys.stderr)
            status = 1
        if new_guide != guide:
            print(f"{GUIDE}'s builtin section differs from the builtin table: run "
                  "python scripts/builtins_reference.py", file=sys.stderr)
            status = 1
        return status
    TARGET.write_text(reference, encoding="utf-8")
    print(f"wrote {TARGET}")
    if new_guide != guide:
        GUIDE.write_text(new_guide, encoding="utf-8")
        print(f"wrote the builtin section of {GUIDE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
