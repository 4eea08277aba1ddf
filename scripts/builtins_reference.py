"""Writes docs/builtins.md, the builtin reference, from the one builtin table
(evaluator.lang.builtins.BUILTINS); with --check, exits 1 when the file differs."""

from __future__ import annotations

import sys
from pathlib import Path

from evaluator.lang.builtins import reference_markdown

TARGET = Path(__file__).resolve().parent.parent / "docs" / "builtins.md"


def main(argv: list[str]) -> int:
    text = reference_markdown()
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} differs from the builtin table: run "
                  "python scripts/builtins_reference.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
