"""`unclaimed evaluate`: its arguments, and applying a policy to facts (a profile or a
snapshot table) with every output it writes: standard output or --out (atomically), a
large table's determinations in chunks with the portfolio outputs beside them,
--record, --errors, and the record errors summarised on stderr; with --engine dask, the
table's determinations as a partitioned Parquet dataset evaluated on a Dask cluster."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from evaluator.apps.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_RECORD_ERRORS,
    add_engine_arguments,
    add_no_cache,
    engine_of,
    file_unknowns,
    parse_params,
    strict_errors,
    strict_refuses,
)
from evaluator.facts import FactsError
from evaluator.policy import load_policy
from evaluator.text import one_line

#: record errors shown in full on stderr before they are counted by message
FIRST_ERRORS = 20


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``evaluate`` to the CLI's subparsers."""
    ev = sub.add_parser("evaluate", help="determinations for every account and claim",
                        description="Apply a policy to facts and print a determination for "
                        "every account and claim.")
    ev.add_argument("--policy", required=True,
                    help="policy file, policy directory, or ID[@VERSION] under policies/")
    ev.add_argument("--facts", required=True,
                    help="full profile (.json) or snapshot table (.csv or .parquet)")
    ev.add_argument("--events", metavar="FILE",
                    help="events table (.csv, .parquet or a NAME.parquet/ folder), one row "
                    "per event, for the accounts table given as --facts (evaluated by the "
                    "scalar backend)")
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
    ev.add_argument("--strict", action="store_true",
                    help="keys or columns of the facts that the policy does not declare are "
                    "an error (exit 2), not a warning")
    ev.add_argument("--wide", action="store_true",
                    help="--format table: cells in full (no cut with `…`), trace lines too")
    ev.add_argument("--errors", metavar="FILE", dest="errors_file",
                    help="write every record error to FILE as JSON lines (stderr shows the "
                    f"first {FIRST_ERRORS} and a count per message)")
    add_no_cache(ev)
    add_engine_arguments(ev, "--out DIR/ or --out NAME.parquet (a partitioned Parquet "
                         "dataset, one file per partition)")


_TABLE_SUFFIXES = (".csv", ".parquet")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``unclaimed evaluate``: 0 every record evaluated, 1 some in errors, 2 invalid."""
    if args.explain is not None and args.format == "csv":
        print("error: --explain cannot be shown in --format csv (one row per account); "
              "use --format json or --format table", file=err)
        return EXIT_INVALID
    if args.explain is not None and args.out \
            and str(args.out).lower().endswith(_TABLE_SUFFIXES):
        print(f"error: --explain cannot be written to {args.out} (determinations only); "
              "use --out FILE.json, or --format table", file=err)
        return EXIT_INVALID
    if args.events is not None and _events_refused(args, err):
        return EXIT_INVALID
    is_table = str(args.facts).lower().endswith(_TABLE_SUFFIXES) and args.events is None
    if args.chunk_rows is not None and _chunk_rows_invalid(args, err):
        return EXIT_INVALID
    try:
        engine = engine_of(args)
        if engine is not None:
            _check_dask_usage(args, is_table)
    except ValueError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_INVALID
    policy = load_policy(args.policy, cache=not args.no_cache)
    if engine is not None and policy.facts_decl is not None and args.events is None:
        print("error: --engine dask does not yet read the columns a policy declares beyond "
              "the standard ones: use --engine local", file=err)
        return EXIT_INVALID
    params = parse_params(args.param)
    if engine is not None:
        return evaluate_on_dask(policy, args, params, engine, err)
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
    dataset: Any = None
    if args.events is not None:
        from evaluator.apps.datasets import read_dataset

        dataset = read_dataset(args.facts, args.events, fx=args.fx, decl=policy.facts_decl,
                               backend=args.backend)
        for line in dataset.warnings:
            print(f"warning: {line}", file=err)
        facts = dataset
    elif is_table and args.backend != "scalar" and args.explain != "*":
        from evaluator.backends.columnar import read_table
        from evaluator.errors import Unsupported

        try:
            facts = read_table(args.facts, fx=args.fx, decl=policy.facts_decl)
        except Unsupported as exc:
            if args.backend == "columnar":
                raise FactsError(f"{args.facts}: the columnar backend cannot read this "
                                 f"table ({exc}); use --backend scalar") from None
            facts = None  # beyond what the columnar backend takes: read it row by row
    if facts is None:
        from evaluator.facts import load_facts

        facts = load_facts(args.facts, fx=args.fx, policy=policy)
    if args.strict and strict_refuses(facts, err):
        return EXIT_INVALID
    explain_all = args.explain == "*"
    if dataset is not None:  # the one seam that chooses how a dataset is evaluated
        from evaluator.apps.datasets import evaluate_dataset

        done = evaluate_dataset(policy, dataset, args.as_of, params, backend=args.backend,
                                explain=explain_all)
        if done.note:
            print(f"note: {done.note}", file=err)
        result = done.result
        if args.out and str(args.out).lower().endswith(_TABLE_SUFFIXES) and not args.explain:
            return _dataset_to_file(policy, args, params, result, err)
    else:
        result = policy.evaluate(facts, as_of=args.as_of, params=params,
                                 explain=explain_all, backend=args.backend
                                 if not (explain_all and args.backend == "columnar")
                                 else "scalar")
    if args.explain not in (None, "*"):
        _explain_one(policy, facts, args, params, result)
    for w in result.warnings:
        print(w.render(), file=err)
    where = _errors_where(args)
    text: str | None = None
    if args.format not in ("json", "csv"):
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
                with open(tmp, "w", encoding="utf-8", newline="") as handle:
                    _write_result(result, args.format, text, handle)
            except OSError as exc:
                raise WriteError(args.out, exc) from None
            if str(args.out).lower().endswith(_TABLE_SUFFIXES):
                outs.drop(portfolio_path(Path(args.out)))
            outs.commit()
    else:
        _write_result(result, args.format, text, out)
    return EXIT_RECORD_ERRORS if result.errors else EXIT_OK


def _dataset_to_file(policy: Any, args: argparse.Namespace, params: dict[str, str],
                     result: Any, err: TextIO) -> int:
    """A dataset's determinations to ``--out FILE.csv|.parquet`` as a snapshot table's are
    written (the same columns), with its portfolio outputs beside it in
    FILE.portfolio.json; both replaced together."""
    from evaluator.apps.portfolio import scalar_frame
    from evaluator.apps.records import file_sha256
    from evaluator.atomic import Outputs, WriteError
    from evaluator.lang.values import to_json_value
    from evaluator.policy import as_date, param_json

    for w in result.warnings:
        print(w.render(), file=err)
    target = Path(args.out)
    side = portfolio_path(target)
    parquet = target.suffix.lower() == ".parquet"
    from evaluator.backends.columnar.result import FrameResult

    if isinstance(result, FrameResult) and result.source is not None:
        from evaluator.backends.columnar.render import write_frame

        frame = write_frame(result.source, target)
    else:
        frame = scalar_frame(policy, result, typed=parquet)
    values = None
    with Outputs() as outs:
        tmp = outs.add(target)
        side_tmp = outs.add(side)
        try:
            if parquet:
                from evaluator.apps.portfolio import PARQUET_ROW_GROUP

                frame.write_parquet(tmp, row_group_size=PARQUET_ROW_GROUP)
            else:
                frame.write_csv(tmp)
            if result.portfolio is None:
                outs.drop(side)
            else:
                specs, _ = policy.run_params(params)
                values = {k: to_json_value(v) for k, v in result.portfolio.items()}
                doc = {"policy": policy.info(), "as_of": as_date(args.as_of).isoformat(),
                       "parameters": {n: param_json(s) for n, s in sorted(specs.items())},
                       "portfolio": values,
                       "determinations": {"file": target.name, "sha256": file_sha256(tmp),
                                          "rows": frame.height}}
                side_tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
                                    encoding="utf-8")
        except OSError as exc:
            raise WriteError(args.out, exc) from None
        outs.commit()
    _print_errors(result.errors, _errors_where(args), err)
    if not _write_errors(args, result.errors, err):
        return EXIT_INVALID
    print(f"{args.out}: {frame.height:,} determinations, {len(result.errors):,} errors",
          file=err)
    if values is not None:
        shown = ", ".join(f"{k} {json.dumps(v, ensure_ascii=False)}" for k, v in values.items())
        print(f"{side}: portfolio {shown}", file=err)
    return EXIT_RECORD_ERRORS if result.errors else EXIT_OK


def _write_result(result: Any, fmt: str, text: str | None, out: TextIO) -> None:
    """The determinations in ``fmt``: JSON and CSV written by the result itself (a
    table's result from its frame, in parts), a table's text as rendered."""
    if text is not None:
        out.write(text)
    elif fmt == "json":
        result.write_json(out)
    else:
        result.write_csv(out)


def _events_refused(args: argparse.Namespace, err: TextIO) -> bool:
    """What --events cannot be combined with yet (an error naming the option)."""
    from evaluator.facts.dataset import is_dataset_path

    refused = ("--events takes an accounts table as --facts (.csv, .parquet or a "
               "NAME.parquet/ folder)" if not is_dataset_path(args.facts) else None)
    if refused is None and args.record:
        refused = ("--record cannot be used with --events yet (a record replays a snapshot "
                   "table or full profiles)")
    if refused is None and args.backend == "columnar" and args.engine == "dask":
        refused = ("--backend columnar cannot be used with --events on the Dask engine yet "
                   "(a partition it cannot evaluate falls back with the others): use "
                   "--backend auto")
    if refused is not None:
        print(f"error: {refused}", file=err)
    return refused is not None


def _chunk_rows_invalid(args: argparse.Namespace, err: TextIO) -> bool:
    """--chunk-rows out of range (an error), or raised to the smallest size (a note)."""
    from evaluator.apps.portfolio import MIN_CHUNK_ROWS, check_chunk_rows

    try:
        check_chunk_rows(args.chunk_rows)
    except ValueError as exc:
        print(f"error: {exc}", file=err)
        return True
    if args.chunk_rows < MIN_CHUNK_ROWS:
        print(f"note: --chunk-rows {args.chunk_rows:,} raised to {MIN_CHUNK_ROWS:,}: each "
              "chunk has a fixed cost, and smaller chunks would cost more time than they "
              "save memory", file=err)
        args.chunk_rows = MIN_CHUNK_ROWS
    return False


def _check_dask_usage(args: argparse.Namespace, is_table: bool) -> None:
    """--engine dask evaluates a snapshot table into a dataset folder, and nothing else."""
    from evaluator.apps.distributed import dataset_target

    if not args.out:
        raise ValueError("--engine dask writes its determinations to a folder: give --out "
                         "DIR/ or --out NAME.parquet")
    if not is_table and args.events is None:
        raise ValueError("--engine dask evaluates a snapshot table (.csv or .parquet) or a "
                         "dataset (--facts ACCOUNTS --events EVENTS)")
    for flag, given in (("--explain", args.explain is not None), ("--record", args.record),
                        ("--backend scalar", args.backend == "scalar" and args.events is None)):
        if given:
            raise ValueError(f"{flag} is not available with --engine dask")
    try:
        dataset_target(args.out)
    except Exception as exc:
        raise ValueError(str(exc)) from None


def _explain_one(policy: Any, facts: Any, args: argparse.Namespace, params: dict[str, str],
                 result: Any) -> None:
    """Re-run the member of one account through the scalar path and attach its trace."""
    from evaluator.facts import facts_from_json

    target = args.explain
    det = result.account(target)  # kept by the result, with the trace attached below
    if det is None:
        raise FactsError(f"--explain {target}: no evaluated account with that id")
    member_facts = _member_facts(facts, det.member_id)
    if member_facts is None:
        member_facts = facts_from_json({"members": []}, decl=policy.facts_decl)
    traced = policy.evaluate(member_facts, as_of=args.as_of, params=params, explain=True,
                             backend="scalar")
    again = next(a for a in traced.accounts if a.account_id == target)
    if again.values != det.values:  # pragma: no cover - the differential tests guard this
        raise FactsError(f"--explain {target}: the scalar path disagrees with the result")
    det.trace = again.trace


def _member_facts(facts: Any, member_id: str) -> Any:
    import dataclasses

    from evaluator.apps.datasets import DatasetInput
    from evaluator.facts.model import Facts

    if isinstance(facts, DatasetInput):  # a dataset: the member's full profile alone
        return facts.member_facts([member_id])
    if isinstance(facts, Facts):
        members = tuple(m for m in facts.members if m.member_id == member_id)
        return dataclasses.replace(facts, members=members, claims=(), errors=())
    from evaluator.backends.columnar import Table

    if isinstance(facts, Table) and facts.raw is not None:  # a table read by polars
        import polars as pl

        from evaluator.backends.columnar import table_from_frame

        rows = facts.raw.filter(pl.col("member_id").str.strip_chars() == member_id)
        return table_from_frame(rows, facts.fx_rates, facts.source, decl=facts.decl).to_facts()
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
        # the file has been read within its bounds: its unknown columns can be counted
        unknown = file_unknowns(args.facts, policy.facts_decl)
        if args.strict and strict_refuses(unknown, err):
            return EXIT_INVALID  # nothing written: the outputs are not committed
        for line in unknown.unknown_warnings():
            print(f"warning: {line}", file=err)
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


def evaluate_on_dask(policy: Any, args: argparse.Namespace, params: dict[str, str],
                     engine: Any, err: TextIO) -> int:
    """``evaluate --engine dask --out DIR``: 0 every record evaluated, 1 some in errors,
    2 invalid or the run failed (nothing replaced)."""
    from evaluator.apps.distributed import (
        EngineError,
        Progress,
        StrictRefused,
        dataset_sha256,
        dataset_target,
        evaluate_dataset,
    )
    from evaluator.errors import Unsupported
    from evaluator.lang.values import to_json_value
    from evaluator.policy import as_date, param_json

    day = as_date(args.as_of)
    specs, warnings = policy.run_params(params)
    for w in warnings:
        print(w.render(), file=err)
    target = dataset_target(args.out)
    side = portfolio_path(target)

    def side_doc(summary: Any) -> dict[str, Any] | None:
        if summary.portfolio is None:
            return None
        return {"policy": policy.info(), "as_of": day.isoformat(),
                "parameters": {n: param_json(s) for n, s in sorted(specs.items())},
                "portfolio": {k: to_json_value(v) for k, v in summary.portfolio.items()},
                "determinations": {"folder": target.name,
                                   "sha256": dataset_sha256(summary.files),
                                   "files": summary.files,
                                   "rows": summary.determinations}}

    try:
        if args.events is not None:  # a dataset, through the dataset seam on each worker
            from evaluator.apps.distributed_events import evaluate_events

            summary: Any = evaluate_events(policy, args.facts, args.events, args.fx, day,
                                           params, target, engine, partitions=args.partitions,
                                           progress=Progress(err, force=args.progress),
                                           backend=args.backend, side=side,
                                           side_doc=side_doc, strict=args.strict)
            for line in summary.warnings:
                print(f"warning: {line}", file=err)
            if summary.note:
                print(f"note: {summary.note}", file=err)
        else:
            # the table's columns the policy does not declare, counted before the run:
            # --strict refuses them with nothing written, as on one machine
            unknown = file_unknowns(args.facts, policy.facts_decl)
            if args.strict and strict_refuses(unknown, err):
                return EXIT_INVALID
            summary = evaluate_dataset(policy, args.facts, args.fx, day, specs, target,
                                       engine, partitions=args.partitions,
                                       progress=Progress(err, force=args.progress),
                                       fallback=args.backend != "columnar", side=side,
                                       side_doc=side_doc)
            for line in unknown.unknown_warnings():
                print(f"warning: {line}", file=err)
    except StrictRefused as exc:
        strict_errors(exc.unknown, err)
        return EXIT_INVALID
    except EngineError as exc:
        print(f"error: {one_line(str(exc))}", file=err)
        return EXIT_INVALID
    except Unsupported as exc:
        print(f"error: the columnar backend cannot read this table ({exc}); "
              "use --backend auto", file=err)
        return EXIT_INVALID
    _print_errors(summary.errors, _errors_where(args), err)
    if not _write_errors(args, summary.errors, err):
        return EXIT_INVALID
    if summary.fell_back:
        print(f"note: {summary.fell_back}: evaluated with the scalar backend on this "
              "machine", file=err)
    print(f"{target}: {summary.determinations:,} determinations, "
          f"{len(summary.errors):,} errors, {summary.accounts:,} rows in "
          f"{summary.partitions} partition{'s' if summary.partitions != 1 else ''} on "
          f"{engine.describe()}, {summary.seconds:.1f} s", file=err)
    if summary.portfolio is not None:
        import json

        shown = ", ".join(f"{k} {json.dumps(to_json_value(v), ensure_ascii=False)}"
                          for k, v in summary.portfolio.items())
        print(f"{side}: portfolio {shown}", file=err)
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
