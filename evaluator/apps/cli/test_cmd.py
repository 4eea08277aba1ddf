"""`unclaimed test`: its arguments, and running a policy's test cases with the coverage
report (text, JSON, JUnit)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from evaluator.apps.cli.common import EXIT_INVALID
from evaluator.text import one_line


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``test`` to the CLI's subparsers."""
    ts = sub.add_parser("test", help="policy test cases + per-provision coverage",
                        description="Run a policy's test cases (YAML: facts, as-of date, "
                        "expected determinations) and report, per provision, which cases "
                        "exercised it and whether its decisions were seen both ways.")
    ts.add_argument("paths", nargs="+", metavar="PATH",
                    help="policy directory or file (cases: tests/*.yaml beside it), or with "
                    "--policy, case files and directories of case files")
    ts.add_argument("--policy", help="policy file, policy directory, or ID[@VERSION] under "
                    "policies/ to run the cases against")
    ts.add_argument("--format", choices=("text", "json"), default="text")
    ts.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    ts.add_argument("--require-coverage", action="store_true", dest="require_coverage",
                    help="fail when a computable provision is uncovered or partial")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``unclaimed test``: the exit status of the report, or 2 when no cases are found."""
    from evaluator.apps.policytest import DiscoveryError, discover_paths, run_tests

    try:
        policy, cases = discover_paths(args.paths, args.policy)
    except DiscoveryError as exc:
        print(f"error: {one_line(str(exc))}", file=err)
        return EXIT_INVALID
    report = run_tests(policy, cases, require_coverage=args.require_coverage)
    if args.junit:
        from evaluator.atomic import write_text

        write_text(args.junit, report.to_junit())  # an OSError: one line from main
    out.write(report.to_json() + "\n" if args.format == "json" else report.render_text())
    return report.exit_code
