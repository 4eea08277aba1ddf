"""The `unclaimed` command line. Thin: parse arguments, call the API, render.

Exit status (contract.md): 0 when every record was evaluated, 1 when some records are in
``errors``, 2 when the policy or the input as a whole is invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from evaluator.errors import Diagnostic, PolicyError
from evaluator.facts import FactsError, load_facts
from evaluator.policy import check_policy, load_policy

EXIT_OK, EXIT_RECORD_ERRORS, EXIT_INVALID = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID, f"{self.prog}: error: {message}\n")


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="unclaimed", description="Evaluate FSRA Rule 2024-001 policies "
                "(credit-union unclaimed deposits) over account facts.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ev = sub.add_parser("evaluate", help="determinations for every account and claim",
                        description="Apply a policy to facts and print a determination for "
                        "every account and claim.")
    ev.add_argument("--policy", required=True,
                    help="policy file, policy directory, or ID[@VERSION] under policies/")
    ev.add_argument("--facts", required=True, help="full profile (.json) or snapshot (.csv)")
    ev.add_argument("--fx", help="FX rates table (CSV: currency,date,rate)")
    ev.add_argument("--as-of", required=True, dest="as_of", help="YYYY-MM-DD")
    ev.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="override a policy parameter for this run (repeatable)")
    ev.add_argument("--format", choices=("json", "csv", "table"), default="json")
    ev.add_argument("--explain", action="store_true",
                    help="add a trace to each account: definitions used, values, provisions")
    ev.add_argument("--out", help="write the output to this file instead of standard output")

    ck = sub.add_parser("check", help="static checks with file:line:col diagnostics",
                        description="Parse and check policies; print every diagnostic.")
    ck.add_argument("paths", nargs="+", metavar="PATH",
                    help="policy file, directory or ID[@VERSION]")
    ck.add_argument("--strict", action="store_true", help="treat warnings as errors")
    ck.add_argument("--format", choices=("text", "json"), default="text")

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
    return p


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = _build_parser().parse_args(argv)
    if args.command == "evaluate":
        return _evaluate(args, out, err)
    if args.command == "check":
        return _check(args, out, err)
    if args.command == "test":
        return _test(args, out, err)
    return EXIT_INVALID  # pragma: no cover - argparse enforces the choices


def _params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise PolicyError(Diagnostic(f"--param `{pair}`: expected NAME=VALUE",
                                         code="parameter"))
        params[name.strip()] = value.strip()
    return params


def _evaluate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        policy = load_policy(args.policy)
        facts = load_facts(args.facts, fx=args.fx)
        result = policy.evaluate(facts, as_of=args.as_of, params=_params(args.param),
                                 explain=args.explain)
    except PolicyError as exc:
        print(exc.render(), file=err)
        return EXIT_INVALID
    except FactsError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_INVALID
    if args.format == "json":
        text = result.to_json() + "\n"
    elif args.format == "csv":
        text = result.to_csv()
    else:
        text = result.to_table()
    if args.format != "json" or args.out:
        from evaluator.results import describe_error

        for e in result.errors:
            if args.format != "table":
                print(f"error: {describe_error(e)}", file=err)
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            print(f"error: cannot write {args.out}: {exc.strerror}", file=err)
            return EXIT_INVALID
    else:
        out.write(text)
    return EXIT_RECORD_ERRORS if result.errors else EXIT_OK


def _check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    worst = EXIT_OK
    report: list[dict[str, object]] = []
    for path in args.paths:
        diags = check_policy(path)
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
        print(f"{path}: {status}: {_plural(len(errors), 'error')}, "
              f"{_plural(len(warnings), 'warning')}", file=out)
    if args.format == "json":
        out.write(json.dumps(report, indent=2) + "\n")
    return worst


def _test(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from evaluator.policytest import DiscoveryError, discover_paths, run_tests

    try:
        policy, cases = discover_paths(args.paths, args.policy)
    except PolicyError as exc:
        print(exc.render(), file=err)
        return EXIT_INVALID
    except DiscoveryError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_INVALID
    report = run_tests(policy, cases, require_coverage=args.require_coverage)
    if args.junit:
        try:
            with open(args.junit, "w", encoding="utf-8") as fh:
                fh.write(report.to_junit())
        except OSError as exc:
            print(f"error: cannot write {args.junit}: {exc.strerror}", file=err)
            return EXIT_INVALID
    out.write(report.to_json() + "\n" if args.format == "json" else report.render_text())
    return report.exit_code


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def main_entry() -> None:
    """Console-script entry: never a traceback for broken pipes or Ctrl-C."""
    try:
        code = main()
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = 0
    sys.exit(code)
