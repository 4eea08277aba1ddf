"""The `unclaimed` command line. Thin: parse arguments, call the API, render.

Exit status (contract.md): 0 when every record was evaluated, 1 when some records are in
``errors``, 2 when the policy or the input as a whole is invalid.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO, cast

from evaluator.errors import Diagnostic, PolicyError, one_line
from evaluator.facts import FactsError, load_facts
from evaluator.policy import check_policy, load_policy

EXIT_OK, EXIT_RECORD_ERRORS, EXIT_INVALID = 0, 1, 2
#: record errors shown in full on stderr before they are counted by message
FIRST_ERRORS = 20


#: per command, what each exit status means (shown in its --help and in README.md)
EXIT_CODES: dict[str, tuple[str, str, str]] = {
    "evaluate": ("every record was evaluated",
                 "some records are in errors (every other record is still evaluated)",
                 "invalid policy, parameter or input as a whole, bad usage, or an "
                 "output that cannot be written"),
    "check": ("no errors (warnings allowed, unless --strict)", "not used",
              "a policy has errors (or warnings, with --strict), or bad usage"),
    "test": ("every case passed (and, with --require-coverage, coverage is complete)",
             "a case failed or could not run, or coverage is incomplete under "
             "--require-coverage",
             "invalid policy, no cases found, bad usage, or JUnit file not writable"),
    "compare": ("the outputs were written (record errors are counted in them)", "not used",
                "invalid policy, parameter, assumptions or table, or bad usage"),
    "diff": ("the two policies are identical in substance", "a difference was found",
             "either policy is invalid, or bad usage"),
    "replay": ("the results match the record", "a difference was found",
               "the record or the policy is unusable, or bad usage"),
    "generate": ("the portfolio and its FX table were written", "not used",
                 "bad argument or assumptions, or an unwritable path"),
    "serve": ("the service was stopped", "not used",
              "bad usage, or the address cannot be listened on"),
}


def exit_epilog(command: str) -> str:
    """The `exit status:` section of a command's --help."""
    lines = ["exit status:"]
    lines += [f"  {code}  {text}" for code, text in enumerate(EXIT_CODES[command])]
    return "\n".join(lines)


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions as usual; texts of several lines (the exit-status epilog) are
    kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


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
    ev.add_argument("--facts", required=True,
                    help="full profile (.json) or snapshot table (.csv or .parquet)")
    ev.add_argument("--fx", help="FX rates table (CSV: currency,date,rate)")
    ev.add_argument("--as-of", required=True, dest="as_of", help="YYYY-MM-DD")
    ev.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="override a policy parameter for this run (repeatable)")
    ev.add_argument("--format", choices=("json", "csv", "table"), default="json")
    ev.add_argument("--explain", nargs="?", const="*", default=None, metavar="ACCOUNT_ID",
                    help="add a trace (definitions used, values, provisions) to each account, "
                    "or only to ACCOUNT_ID, whose member is re-run through the scalar path")
    ev.add_argument("--out", help="write the output to this file instead of standard output; "
                    "for a snapshot table, a .csv or .parquet FILE receives the "
                    "determinations directly, evaluated in member-consistent chunks")
    ev.add_argument("--backend", choices=("auto", "scalar", "columnar"), default="auto",
                    help="auto: columnar for snapshot tables, scalar for full profiles")
    ev.add_argument("--record", metavar="FILE",
                    help="also write a self-contained decision record (policy files, "
                    "parameters, as-of date, facts, results) that `unclaimed replay` "
                    "re-evaluates")
    ev.add_argument("--chunk-rows", type=int, default=None, dest="chunk_rows",
                    help="rows per chunk when writing a large table's determinations "
                    "(default 1,000,000); at least 10,000 are taken: smaller chunks cost "
                    "more in fixed work per chunk than they save in memory")
    ev.add_argument("--wide", action="store_true",
                    help="--format table: cells in full (no cut with `…`), trace lines too")
    ev.add_argument("--errors", metavar="FILE", dest="errors_file",
                    help="write every record error to FILE as JSON lines (stderr shows the "
                    f"first {FIRST_ERRORS} and a count per message)")

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

    rp = sub.add_parser("replay", help="re-evaluate a decision record",
                        description="Evaluate a decision record again (with its own policy, "
                        "or with --policy) and report whether the results still match.")
    rp.add_argument("record", metavar="FILE")
    rp.add_argument("--policy", help="evaluate with this policy instead of the recorded one")
    rp.add_argument("--verify", action="store_true",
                    help="only check the record (schema, every hash, its policy rebuilds "
                    "and checks), without evaluating it")

    cp = sub.add_parser("compare", help="several policies over one portfolio: differences, "
                        "yearly projections, a report",
                        description="Run every policy over the same snapshot table and write "
                        "accounts.csv, yearly.csv, report.html and summary.md to DIR.")
    cp.add_argument("--policy", action="append", required=True, dest="policies",
                    help="policy file, directory or ID[@VERSION]; the first is the reference "
                    "(repeat for each policy)")
    cp.add_argument("--facts", required=True, help="snapshot table (.csv or .parquet)")
    cp.add_argument("--fx", help="FX rates table (CSV: currency,date,rate)")
    cp.add_argument("--as-of", required=True, dest="as_of", help="YYYY-MM-DD")
    cp.add_argument("--horizon", type=int, default=None,
                    help="last year projected (default: the as-of year + 15)")
    cp.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    cp.add_argument("--assumptions", help="YAML file of assumed figures (see the written "
                    "assumptions.yaml for the names and defaults)")
    cp.add_argument("--trace-limit", type=int, default=200, dest="trace_limit",
                    help="accounts per policy traced to their first diverging definition")
    cp.add_argument("--out", required=True, help="folder for the outputs")

    from evaluator.apps import diff, generate

    diff.add_parser(sub)
    generate.add_parser(sub)
    from evaluator.apps.serve import command as serve  # FastAPI loads only in serve.run

    serve.add_parser(sub)
    for name, sp in sub.choices.items():
        sp.epilog = exit_epilog(name)
        sp.formatter_class = _HelpFormatter
    return p


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = _build_parser().parse_args(argv)
    from evaluator.apps import diff, generate

    commands = {"evaluate": _evaluate, "check": _check, "test": _test, "diff": diff.run,
                "compare": _compare, "replay": _replay, "generate": generate.run}
    from evaluator.apps.serve import command as serve

    commands["serve"] = serve.run
    run = commands.get(args.command)
    if run is None:  # pragma: no cover - argparse enforces the choices
        return EXIT_INVALID
    try:
        code: int = run(args, cast(TextIO, _Guarded(out)), err)
    except PolicyError as exc:  # a broken policy or parameter: every diagnostic
        print(exc.render(), file=err)
        return EXIT_INVALID
    except FactsError as exc:  # input unusable as a whole: one line
        print(f"error: {one_line(str(exc))}", file=err)
        return EXIT_INVALID
    except BrokenPipeError:  # the reader of standard output went away: main_entry
        raise
    except OSError as exc:  # the environment (disk full, read-only, a folder in the way)
        print(f"error: {one_line(_os_error(exc))}", file=err)
        return EXIT_INVALID
    return code


def _os_error(exc: OSError) -> str:
    """One line naming what was being written or read and why."""
    from evaluator.atomic import WriteError

    if isinstance(exc, WriteError):
        return str(exc)
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{exc.filename}: {reason}" if exc.filename else reason


class _Guarded:
    """Standard output whose failures (full, closed) name it; a broken pipe stays a
    BrokenPipeError (the reader went away: not an error, see main_entry)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            from evaluator.atomic import WriteError

            raise WriteError("standard output", exc, "cannot write to") from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            from evaluator.atomic import WriteError

            raise WriteError("standard output", exc, "cannot write to") from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise PolicyError(Diagnostic(f"--param `{pair}`: expected NAME=VALUE",
                                         code="parameter"))
        params[name.strip()] = value.strip()
    return params


_TABLE_SUFFIXES = (".csv", ".parquet")


def _evaluate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from evaluator.apps.portfolio import MIN_CHUNK_ROWS, check_chunk_rows

    if args.explain is not None and args.format == "csv":
        print("error: --explain cannot be shown in --format csv (one row per account); "
              "use --format json or --format table", file=err)
        return EXIT_INVALID
    if args.explain is not None and args.out \
            and str(args.out).lower().endswith(_TABLE_SUFFIXES):
        print(f"error: --explain cannot be written to {args.out} (determinations only); "
              "use --out FILE.json, or --format table", file=err)
        return EXIT_INVALID
    is_table = str(args.facts).lower().endswith(_TABLE_SUFFIXES)
    try:
        check_chunk_rows(args.chunk_rows)
    except ValueError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_INVALID
    if args.chunk_rows is not None and args.chunk_rows < MIN_CHUNK_ROWS:
        print(f"note: --chunk-rows {args.chunk_rows:,} raised to {MIN_CHUNK_ROWS:,}: each "
              "chunk has a fixed cost, and smaller chunks would cost more time than they "
              "save memory", file=err)
        args.chunk_rows = MIN_CHUNK_ROWS
    policy = load_policy(args.policy)
    params = _params(args.param)
    if is_table and args.out and str(args.out).lower().endswith(_TABLE_SUFFIXES) \
            and not args.explain:
        from evaluator.errors import Unsupported

        try:
            return _evaluate_to_file(policy, args, params, err)
        except Unsupported as exc:
            print(f"error: the columnar backend cannot read this table ({exc}); "
                  "use --backend scalar", file=err)
            return EXIT_INVALID
    facts: object = None
    if is_table and args.backend != "scalar" and args.explain != "*":
        from evaluator.backends.columnar import read_table
        from evaluator.errors import Unsupported

        try:
            facts = read_table(args.facts, fx=args.fx)
        except Unsupported as exc:
            if args.backend == "columnar":
                raise FactsError(f"{args.facts}: the columnar backend cannot read this "
                                 f"table ({exc}); use --backend scalar") from None
            facts = None  # beyond what the columnar backend takes: read it row by row
    if facts is None:
        facts = load_facts(args.facts, fx=args.fx)
    explain_all = args.explain == "*"
    result = policy.evaluate(facts, as_of=args.as_of, params=params,
                             explain=explain_all, backend=args.backend
                             if not (explain_all and args.backend == "columnar")
                             else "scalar")
    if args.explain not in (None, "*"):
        _explain_one(policy, facts, args, params, result)
    for w in result.warnings:
        print(w.render(), file=err)
    where = _errors_where(args)
    if args.format == "json":
        text = result.to_json() + "\n"
    elif args.format == "csv":
        text = result.to_csv()
    else:
        from evaluator.backends.results import trace_uses

        uses = trace_uses(policy.checked.defs) if args.explain is not None else None
        text = result.to_table(wide=args.wide, uses=uses, first_errors=FIRST_ERRORS,
                               errors_where=where)
    if (args.format != "json" or args.out) and args.format != "table":
        _print_errors(result.errors, where, err)
    if not _write_errors(args, result.errors, err):
        return EXIT_INVALID
    if args.record:
        from evaluator.apps.records import write_record

        try:
            write_record(args.record, policy, args.facts, args.fx, args.as_of, params,
                         result, args.backend)
        except (OSError, UnicodeError) as exc:
            return _record_failed(args.record, exc, err)
    if args.out:
        from evaluator.atomic import Outputs, WriteError

        with Outputs() as outs:  # complete or not at all; no stale portfolio file beside
            tmp = outs.add(args.out)
            try:
                tmp.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise WriteError(args.out, exc) from None
            if str(args.out).lower().endswith(_TABLE_SUFFIXES):
                outs.drop(portfolio_path(Path(args.out)))
            outs.commit()
    else:
        out.write(text)
    return EXIT_RECORD_ERRORS if result.errors else EXIT_OK


def _explain_one(policy: Any, facts: Any, args: argparse.Namespace, params: dict[str, str],
                 result: Any) -> None:
    """Re-run the member of one account through the scalar path and attach its trace."""
    from evaluator.facts import facts_from_json

    target = args.explain
    det = next((a for a in result.accounts if a.account_id == target), None)
    if det is None:
        raise FactsError(f"--explain {target}: no evaluated account with that id")
    member_facts = _member_facts(facts, det.member_id)
    if member_facts is None:
        member_facts = facts_from_json({"members": []})
    traced = policy.evaluate(member_facts, as_of=args.as_of, params=params, explain=True,
                             backend="scalar")
    again = next(a for a in traced.accounts if a.account_id == target)
    if again.values != det.values:  # pragma: no cover - the differential tests guard this
        raise FactsError(f"--explain {target}: the scalar path disagrees with the result")
    det.trace = again.trace


def _member_facts(facts: Any, member_id: str) -> Any:
    import dataclasses

    from evaluator.facts.model import Facts

    if isinstance(facts, Facts):
        members = tuple(m for m in facts.members if m.member_id == member_id)
        return dataclasses.replace(facts, members=members, claims=(), errors=())
    from evaluator.backends.columnar import Table

    if isinstance(facts, Table) and facts.raw is not None:  # a table read by polars
        import polars as pl

        from evaluator.backends.columnar import table_from_frame

        rows = facts.raw.filter(pl.col("member_id").str.strip_chars() == member_id)
        return table_from_frame(rows, facts.fx_rates, facts.source).to_facts()
    return None


def _evaluate_to_file(policy: Any, args: argparse.Namespace, params: dict[str, str],
                      err: TextIO) -> int:
    from evaluator.apps.portfolio import Progress, evaluate_file
    from evaluator.apps.records import file_sha256
    from evaluator.atomic import Outputs, WriteError
    from evaluator.lang.values import to_json_value
    from evaluator.policy import as_date, param_json

    day = as_date(args.as_of)
    specs, warnings = policy.run_params(params)
    for w in warnings:
        print(w.render(), file=err)
    target = Path(args.out)
    side = portfolio_path(target)
    with Outputs() as outs:
        # both temporaries made first: an unwritable target fails before the evaluation
        outs.add(target)
        side_tmp = outs.add(side)
        summary = evaluate_file(policy, args.facts, args.fx, day, specs, target,
                                chunk_rows=args.chunk_rows, progress=Progress(err),
                                fallback=args.backend != "columnar",
                                scalar=args.backend == "scalar", outputs=outs)
        values = None
        if summary.portfolio is None:
            outs.drop(side)  # a previous run's file would describe other determinations
        else:
            # the portfolio-level outputs (5(2)) are not rows: beside the file, as JSON,
            # with what ties them to these determinations
            values = {k: to_json_value(v) for k, v in summary.portfolio.items()}
            doc = {"policy": policy.info(), "as_of": day.isoformat(),
                   "parameters": {n: param_json(s) for n, s in sorted(specs.items())},
                   "portfolio": values,
                   "determinations": {"file": target.name,
                                      "sha256": file_sha256(outs.temporary(target)),
                                      "rows": summary.determinations}}
            try:
                side_tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
                                    encoding="utf-8")
            except OSError as exc:
                raise WriteError(side, exc) from None
        outs.commit()
    _print_errors(summary.errors, _errors_where(args), err)
    if not _write_errors(args, summary.errors, err):
        return EXIT_INVALID
    print(f"{args.out}: {summary.determinations:,} determinations, "
          f"{len(summary.errors):,} errors, {summary.accounts:,} rows in "
          f"{summary.chunks} chunk{'s' if summary.chunks != 1 else ''}, "
          f"{summary.seconds:.1f} s", file=err)
    if values is not None:
        shown = ", ".join(f"{k} {json.dumps(v, ensure_ascii=False)}" for k, v in values.items())
        print(f"{side}: portfolio {shown}", file=err)
    if args.record:
        from evaluator.apps.portfolio import DEFAULT_CHUNK_ROWS
        from evaluator.apps.records import table_result, write_record

        try:  # the determinations file is referenced by its sha256, not inlined
            doc = table_result(policy, day.isoformat(), specs,
                               {"source": args.facts, "sha256": file_sha256(args.facts)},
                               summary, Path(args.out), Path(args.out).name)
            write_record(args.record, policy, args.facts, args.fx, args.as_of, params, doc,
                         args.backend, determinations=doc["determinations"],
                         chunk_rows=args.chunk_rows or DEFAULT_CHUNK_ROWS)
        except (OSError, UnicodeError) as exc:
            return _record_failed(args.record, exc, err)
    return EXIT_RECORD_ERRORS if summary.errors else EXIT_OK


def _record_failed(path: str, exc: Exception, err: TextIO) -> int:
    """A decision record that could not be written: one line with the reason, exit 2."""
    from evaluator.atomic import WriteError

    reason = exc.reason if isinstance(exc, WriteError) else (
        getattr(exc, "strerror", None) or exc)
    print(f"error: cannot write the record {one_line(path)}: {one_line(str(reason))}",
          file=err)
    return EXIT_INVALID


def _errors_where(args: argparse.Namespace) -> str:
    """Where the full list of record errors is, for the line after their summary."""
    if args.errors_file:
        return f"{args.errors_file} (JSON lines)"
    if args.format == "json":
        return "the `errors` of the JSON output" + (f" ({args.out})" if args.out else "")
    return "use --errors FILE (JSON lines) or --format json"


def _print_errors(errors: Sequence[Any], where: str, err: TextIO) -> None:
    """The first record errors in full on stderr, then a count per message."""
    from evaluator.backends.results import summarize_errors

    for line in summarize_errors(errors, FIRST_ERRORS).lines(where):
        print(line, file=err)


def _write_errors(args: argparse.Namespace, errors: Sequence[Any], err: TextIO) -> bool:
    """--errors FILE: every record error as JSON lines, written atomically."""
    if not args.errors_file:
        return True
    from evaluator.atomic import write_text
    from evaluator.backends.results import errors_jsonl

    try:
        write_text(args.errors_file, errors_jsonl(errors))
    except OSError as exc:
        print(f"error: cannot write {args.errors_file}: {exc.strerror or exc}", file=err)
        return False
    return True


def portfolio_path(out: Path) -> Path:
    """Where `evaluate --out FILE` writes the portfolio outputs: FILE.portfolio.json
    without FILE's own suffix."""
    return out.with_name(out.stem + ".portfolio.json")


def _replay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
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


def _compare(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from evaluator.apps.compare import compare, read_assumptions, write
    from evaluator.backends.columnar import read_table
    from evaluator.errors import Unsupported
    from evaluator.policy import as_date

    try:
        policies = [load_policy(p) for p in args.policies]
        table = read_table(args.facts, fx=args.fx)
        day = as_date(args.as_of)
        horizon = args.horizon if args.horizon is not None else day.year + 15
        result = compare(policies, table, day, horizon, _params(args.param),
                         read_assumptions(args.assumptions), trace_limit=args.trace_limit)
        errors = len(table.errors) + int(result.runs[0].result.frame
                                         .get_column("__error").is_not_null().sum())
        written = write(result, args.out, table.source, table.sha256, errors)
    except ValueError as exc:
        print(f"error: {one_line(str(exc))}", file=err)
        return EXIT_INVALID
    except Unsupported as exc:
        print(f"error: {args.facts}: `compare` runs on the columnar backend, which cannot "
              f"read this table ({exc})", file=err)
        return EXIT_INVALID
    for path in written:
        print(path, file=out)
    return EXIT_OK


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


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def main_entry() -> None:
    """Console-script entry: never a traceback for broken pipes, a full or closed standard
    output, Ctrl-C or SIGTERM (which end the run through every clean-up path: previous
    outputs stay as they were and temporary files are removed; exit 128 + the signal)."""
    import os

    from evaluator import atomic

    atomic.install_signal_handlers()
    closed = sys.stdout is None
    for fd, name in ((1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is None:  # a closed descriptor: no file may take its number
            null = os.open(os.devnull, os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, open(fd, "w", encoding="utf-8", closefd=False))  # noqa: SIM115
    try:
        code = main(stdout=cast(TextIO, _Closed()) if closed else None)
        sys.stdout.flush()
    except atomic.Interrupted as exc:
        code = exc.exit_code
        _interrupted(exc.name)
    except KeyboardInterrupt:
        code = 130
        _interrupted("SIGINT")
    except BrokenPipeError:
        code = 0
    except OSError as exc:  # standard output full (/dev/full) when flushed at the end
        reason = exc.strerror or str(exc)
        print(f"error: cannot write to standard output: {reason}", file=sys.stderr)
        code = EXIT_INVALID
    # what could not be written stays unwritten: the interpreter's own last flush would
    # print a traceback
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    sys.exit(code)


def _interrupted(name: str) -> None:
    from evaluator import atomic

    done = ", ".join(str(p) for p in atomic.COMMITTED)
    what = (f"after writing {done}" if done
            else "no output was replaced")
    with contextlib.suppress(OSError, ValueError):
        print(f"interrupted ({name}): {what}; temporary files removed", file=sys.stderr)


class _Closed:
    """Standard output when it was closed (``>&-``): writing to it is an error."""

    def write(self, text: str) -> int:
        raise OSError(9, "it is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False
