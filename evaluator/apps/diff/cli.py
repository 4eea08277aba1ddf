"""The ``unclaimed diff A B`` subcommand: its argument parser and run function."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from evaluator.apps.diff.compute import diff_policies
from evaluator.apps.diff.model import EXIT_INVALID, count_changes
from evaluator.errors import Code, Diagnostic, PolicyError
from evaluator.policy import Policy, load_policy

# --------------------------------------------------------------------------- command line


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``diff`` to the CLI's subparsers (``parser.add_subparsers(...)``)."""
    p = subparsers.add_parser(
        "diff",
        help="the parameters, definitions and provisions that differ between two policies",
        description="Compare two policies, or two versions of one, resolved through "
        "`extends`: parameters, definitions, provisions, interpretations, outputs and "
        "invariants added, removed or changed, each with the file and line of each side "
        "and the policy that set it. Formulas that differ only in layout are reported as "
        "reformatted, not changed. Exit status: 0 identical in substance, 1 different, "
        "2 when either policy is invalid.",
    )
    p.add_argument("before", metavar="A",
                   help="policy file, policy directory, or ID[@VERSION] under policies/")
    p.add_argument("after", metavar="B",
                   help="policy file, policy directory, or ID[@VERSION] under policies/")
    p.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """``unclaimed diff A B``: 0 identical in substance, 1 different, 2 invalid."""
    policies: list[Policy] = []
    invalid: list[tuple[str, list[Diagnostic]]] = []
    for ref in (args.before, args.after):
        try:
            policies.append(load_policy(ref))
        except PolicyError as exc:
            invalid.append((ref, exc.diagnostics))
        except (OSError, UnicodeError, RecursionError) as exc:
            invalid.append((ref, [Diagnostic(f"cannot load `{ref}`: {exc}", code=Code.IO)]))
    if invalid:
        for ref, diags in invalid:
            errors = [d for d in diags if d.is_error] or diags
            print(f"{ref}: invalid policy ({count_changes(len(errors), 'error')})", file=stderr)
            for d in diags:
                print(d.render() + "\n", file=stderr)
        if args.format == "json":
            stdout.write(json.dumps({"same": None, "invalid": [
                {"policy": ref, "diagnostics": [d.to_json() for d in diags]}
                for ref, diags in invalid]}, indent=2, ensure_ascii=False) + "\n")
        return EXIT_INVALID
    result = diff_policies(policies[0], policies[1])
    stdout.write(result.to_json() + "\n" if args.format == "json" else result.render_text())
    return result.exit_code
