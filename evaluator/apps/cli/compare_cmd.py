"""`unclaimed compare`: its arguments, and running several policies over one portfolio (a
snapshot table; a dataset, --events; full profiles JSON) with the outputs written to a
folder (--engine dask: the policies evaluated partition by partition on a Dask cluster,
the same files written)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from evaluator.apps.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    add_engine_arguments,
    engine_of,
    file_unknowns,
    parse_params,
    strict_errors,
    strict_refuses,
)
from evaluator.policy import load_policy
from evaluator.text import one_line


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``compare`` to the CLI's subparsers."""
    cp = sub.add_parser("compare", help="several policies over one portfolio: differences, "
                        "yearly projections, a report",
                        description="Run every policy over the same snapshot table and write "
                        "accounts.csv, yearly.csv, report.html and summary.md to DIR.")
    cp.add_argument("--policy", action="append", required=True, dest="policies",
                    help="policy file, directory or ID[@VERSION]; the first is the reference "
                    "(repeat for each policy)")
    cp.add_argument("--facts", required=True, help="snapshot table (.csv or .parquet), "
                    "accounts table of a dataset (with --events), or full profiles (.json)")
    cp.add_argument("--events", metavar="FILE",
                    help="events table (.csv, .parquet or a NAME.parquet/ folder), one row "
                    "per event, for the accounts table given as --facts (read once for "
                    "every policy)")
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
    cp.add_argument("--strict", action="store_true",
                    help="columns of the table that no policy declares are an error (exit 2), "
                    "not a warning")
    add_engine_arguments(cp, "the same five files written on this machine")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``unclaimed compare``: 0 the outputs were written, 2 invalid."""
    from evaluator.apps.compare import compare, read_assumptions, write
    from evaluator.apps.distributed import EngineError
    from evaluator.backends.columnar import read_table
    from evaluator.errors import Unsupported
    from evaluator.facts import FactsError
    from evaluator.policy import as_date

    try:
        engine = engine_of(args)
        policies = [load_policy(p) for p in args.policies]
        if engine is not None and args.events is None \
                and str(args.facts).lower().endswith(".json"):
            raise ValueError("--engine dask compares a snapshot table or a dataset "
                             "(--facts ACCOUNTS --events EVENTS), not full profiles JSON")
        if engine is not None and args.events is None \
                and any(p.facts_decl is not None for p in policies):
            raise ValueError("--engine dask does not yet read the columns a policy declares "
                             "beyond the standard ones: use --engine local")
        day = as_date(args.as_of)
        horizon = args.horizon if args.horizon is not None else day.year + 15
        if engine is None and _profiles(args):
            result, table = _compare_profiles(args, policies, day, horizon, err)
            if result is None:
                return EXIT_INVALID
        elif engine is not None and args.events is not None:
            from evaluator.apps.distributed import Progress, StrictRefused
            from evaluator.apps.distributed_events import compare_events

            try:
                result, data, note = compare_events(
                    policies, args.facts, args.events, args.fx, day, horizon,
                    parse_params(args.param), read_assumptions(args.assumptions),
                    args.trace_limit, engine, partitions=args.partitions,
                    progress=Progress(err, force=args.progress), strict=args.strict,
                    out=args.out)
            except StrictRefused as exc:
                strict_errors(exc.unknown, err)
                return EXIT_INVALID
            table = data  # its errors, name and sha256 (no full profiles built)
            for line in [*data.warnings, *table.unknown_warnings()]:
                print(f"warning: {line}", file=err)
            if note is not None:
                print(f"note: {note}", file=err)
        elif engine is not None:
            from evaluator.apps.distributed import Progress, compare_dataset

            # the table's columns no policy declares, counted before the run (--strict
            # refuses them, as on one machine)
            unknown = file_unknowns(args.facts, shared_declaration(policies))
            if args.strict and strict_refuses(unknown, err):
                return EXIT_INVALID
            for line in unknown.unknown_warnings():
                print(f"warning: {line}", file=err)
            result, table = compare_dataset(
                policies, args.facts, args.fx, day, horizon, parse_params(args.param),
                read_assumptions(args.assumptions), args.trace_limit, engine,
                out=args.out, partitions=args.partitions,
                progress=Progress(err, force=args.progress))
        else:
            table = read_table(args.facts, fx=args.fx, decl=shared_declaration(policies))
            if args.strict and strict_refuses(table, err):
                return EXIT_INVALID
            for line in table.unknown_warnings():
                print(f"warning: {line}", file=err)
            result = compare(policies, table, day, horizon, parse_params(args.param),
                             read_assumptions(args.assumptions),
                             trace_limit=args.trace_limit)
        errors = len(table.errors) + result.evaluation_errors()
        try:
            written = write(result, args.out, table.source, table.sha256, errors)
        finally:
            result.close()
    except (ValueError, EngineError, FactsError) as exc:
        print(f"error: {one_line(str(exc))}", file=err)
        return EXIT_INVALID
    except Unsupported as exc:
        print(f"error: {args.facts}: `compare` runs on the columnar backend, which cannot "
              f"read this table ({exc})", file=err)
        return EXIT_INVALID
    for path in written:
        print(path, file=out)
    return EXIT_OK


def shared_declaration(policies: list[Any]) -> Any:
    """What the policies compared declare, together: the table is read once for all of
    them, so a row lacking what any of them declares is in error for all."""
    from evaluator.declared import union

    return union([p.facts_decl for p in policies])


def _profiles(args: argparse.Namespace) -> bool:
    """Full profiles: a dataset (--events) or a JSON file, evaluated member by member."""
    return args.events is not None or str(args.facts).lower().endswith(".json")


def _compare_profiles(args: argparse.Namespace, policies: list[Any], day: Any,
                      horizon: int, err: TextIO) -> tuple[Any, Any]:
    """Every policy over a dataset (read once) or a JSON profile, through the dataset
    seam; (None, None) when --strict refuses the facts."""
    from evaluator.apps.compare import compare_runs, read_assumptions
    from evaluator.apps.datasets import dataset_runs, read_dataset
    from evaluator.facts import load_facts

    decl = shared_declaration(policies)
    data: Any
    facts: Any
    if args.events is not None:
        data = facts = read_dataset(args.facts, args.events, args.fx, decl=decl)
        warnings = data.warnings
    else:
        data = facts = load_facts(args.facts, fx=args.fx, decl=decl)
        warnings = []
    if args.strict and strict_refuses(facts, err):
        return None, None
    for line in [*warnings, *facts.unknown_warnings()]:
        print(f"warning: {line}", file=err)
    runs, traced, note = dataset_runs(policies, data, day, parse_params(args.param))
    if note is not None:
        print(f"note: {note}", file=err)
    return compare_runs(runs, traced, day, horizon, parse_params(args.param),
                        read_assumptions(args.assumptions), args.trace_limit), facts
