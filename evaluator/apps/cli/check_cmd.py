"""`unclaimed check`: its arguments, and checking policies with every diagnostic printed
(text or JSON)."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from evaluator.apps.cli.common import EXIT_INVALID, EXIT_OK, add_no_cache, plural
from evaluator.errors import Diagnostic


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``check`` to the CLI's subparsers."""
    ck = sub.add_parser("check", help="static checks with file:line:col diagnostics",
                        description="Parse and check policies; print every diagnostic.")
    ck.add_argument("paths", nargs="+", metavar="PATH",
                    help="policy file, directory or ID[@VERSION]")
    ck.add_argument("--strict", action="store_true", help="treat warnings as errors")
    ck.add_argument("--format", choices=("text", "json"), default="text")
    ck.add_argument("--facts-schema", action="store_true", dest="facts_schema",
                    help="print the JSON Schema of the facts the policy reads (its declared "
                    "facts and the standard ones) instead of its diagnostics, when it has no "
                    "error")
    add_no_cache(ck)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``unclaimed check``: 0 no errors, 2 a policy has errors (or warnings, with --strict)."""
    if args.facts_schema:
        return _facts_schema(args, out, err)
    worst = EXIT_OK
    report: list[dict[str, object]] = []
    for path in args.paths:
        diags = _diagnostics(path, cache=not args.no_cache)
        errors = [d for d in diags if d.is_error or args.strict]
        warnings = [d for d in diags if not (d.is_error or args.strict)]
        if errors:
            worst = EXIT_INVALID
        if args.format == "json":
            report.append({"path": path, "ok": not errors,
                           "diagnostics": [d.to_json() for d in diags]})
            continue
        for d in diags:
            print(d.render() + "\n", file=out)
        status = "ok" if not errors else "invalid"
        print(f"{path}: {status}: {plural(len(errors), 'error')}, "
              f"{plural(len(warnings), 'warning')}", file=out)
    if args.format == "json":
        out.write(json.dumps(report, indent=2) + "\n")
    return worst


def _diagnostics(path: str, cache: bool) -> list[Diagnostic]:
    """Every diagnostic of a policy: from the cache's record of its check when its files
    are as they were (without loading the policy, its parser or its checker), else by
    checking it."""
    if cache:
        from evaluator.lang.cache import PolicyCache

        store = PolicyCache.for_user()
        if store is not None:
            found = store.get_diagnostics(PolicyCache.naming(path, None))
            if found is not None:
                return found
    from evaluator.policy import check_policy

    return check_policy(path, cache=cache)


def _facts_schema(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``check --facts-schema POLICY``: the schema of its facts, or its errors (exit 2)."""
    from evaluator.errors import PolicyError
    from evaluator.facts.schema import schema_text
    from evaluator.policy import load_policy

    if len(args.paths) != 1:
        print("error: --facts-schema takes one policy", file=err)
        return EXIT_INVALID
    try:
        policy = load_policy(args.paths[0])
    except PolicyError as exc:
        for d in exc.diagnostics:
            print(d.render() + "\n", file=err)
        return EXIT_INVALID
    out.write(schema_text(policy.facts_decl))
    return EXIT_OK
