"""`unclaimed replay`: its arguments, and evaluating a decision record again (or only
verifying it, with --verify)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from evaluator.apps.cli.common import EXIT_INVALID, EXIT_OK, EXIT_RECORD_ERRORS
from evaluator.text import one_line


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``replay`` to the CLI's subparsers."""
    rp = sub.add_parser("replay", help="re-evaluate a decision record",
                        description="Evaluate a decision record again (with its own policy, "
                        "or with --policy) and report whether the results still match.")
    rp.add_argument("record", metavar="FILE")
    rp.add_argument("--policy", help="evaluate with this policy instead of the recorded one")
    rp.add_argument("--verify", action="store_true",
                    help="only check the record (schema, every hash, its policy rebuilds "
                    "and checks), without evaluating it")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``unclaimed replay``: 0 the results match, 1 a difference, 2 unusable."""
    from evaluator.apps.records import replay, verify_only

    if args.verify:
        if args.policy:
            print("error: replay --verify checks the record alone; --policy is not used "
                  "with it", file=err)
            return EXIT_INVALID
        for note in verify_only(args.record):
            print(f"note: {note}", file=out)
        print(f"{one_line(args.record)}: record verified", file=out)
        return EXIT_OK
    report = replay(args.record, args.policy)
    out.write(report.render())
    return EXIT_OK if report.same else EXIT_RECORD_ERRORS
