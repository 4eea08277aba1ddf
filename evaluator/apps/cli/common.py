"""What every command of the `unclaimed` command line shares: exit statuses (the codes
and, per command, what each means, shown in its --help), the argument parser class that
exits 2 on bad usage, small helpers for arguments and messages, and the --engine options
that `evaluate` and `compare` share."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from evaluator.errors import Code, Diagnostic, PolicyError

EXIT_OK, EXIT_RECORD_ERRORS, EXIT_INVALID = 0, 1, 2


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


class HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions as usual; texts of several lines (the exit-status epilog) are
    kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors print the usage and exit 2 (EXIT_INVALID)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID, f"{self.prog}: error: {message}\n")


def parse_params(pairs: list[str]) -> dict[str, str]:
    """``--param NAME=VALUE`` options as a mapping; a malformed one is a parameter error."""
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise PolicyError(Diagnostic(f"--param `{pair}`: expected NAME=VALUE",
                                         code=Code.PARAMETER))
        params[name.strip()] = value.strip()
    return params


def plural(n: int, word: str) -> str:
    """``1 error``, ``2 errors``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def strict_refuses(facts: Any, err: TextIO) -> bool:
    """Under ``--strict``: print each key or column of the facts the policy does not
    declare as an error, and say whether there was one."""
    unknown: list[str] = facts.unknown_warnings()
    strict_errors(unknown, err)
    return bool(unknown)


def file_unknowns(facts: Any, decl: Any) -> Any:
    """The columns of a snapshot table (a file or a Parquet folder) that ``decl`` does
    not declare, counted over the file as :class:`~evaluator.facts.model.Facts` (whose
    ``unknown_warnings()`` words them), for the readers that keep only what they know."""
    from evaluator.facts.model import Facts
    from evaluator.facts.tablecols import unknown_in_file

    return Facts(members=(), source=str(facts), unknown=unknown_in_file(str(facts), decl))


def strict_errors(unknown: list[str], err: TextIO) -> None:
    """The lines ``--strict`` refuses with: one per unknown key or column."""
    for line in unknown:
        print(f"error: {line} (--strict)", file=err)


def add_no_cache(parser: argparse.ArgumentParser) -> None:
    """``--no-cache``: check the policy afresh, neither reading nor filling the cache of
    checked policies (as ``UNCLAIMED_NO_CACHE=1`` does)."""
    parser.add_argument("--no-cache", action="store_true", dest="no_cache",
                        help="check the policy afresh, without the cache of checked "
                        "policies (also UNCLAIMED_NO_CACHE=1; the cache is in "
                        "$UNCLAIMED_CACHE_DIR, else $XDG_CACHE_HOME/unclaimed or "
                        "~/.cache/unclaimed)")


def add_engine_arguments(parser: argparse.ArgumentParser, where: str) -> None:
    """--engine, --scheduler, --local-workers, --partitions, --progress (evaluate, compare)."""
    parser.add_argument("--engine", choices=("local", "dask"), default="local",
                        help="local: this process (default); dask: member-consistent "
                        f"partitions evaluated on a Dask cluster, with {where}")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="--engine dask: a running Dask scheduler (tcp://HOST:PORT)")
    parser.add_argument("--local-workers", type=int, default=None, dest="local_workers",
                        metavar="N", help="--engine dask: start a local cluster of N worker "
                        "processes (one thread each) for this run (default 2)")
    parser.add_argument("--connect-timeout", type=float, default=10.0, dest="connect_timeout",
                        metavar="SECONDS", help="--engine dask --scheduler: how long to try "
                        "to reach the scheduler (default 10)")
    parser.add_argument("--partitions", type=int, default=None, metavar="N",
                        help="--engine dask: number of partitions (default: one per "
                        "250,000 rows, at least 2)")
    parser.add_argument("--progress", action="store_true",
                        help="show progress on stderr even when it is not a terminal")


def engine_of(args: argparse.Namespace) -> Any:
    """The Dask engine the arguments ask for; ValueError for a usage error."""
    if args.engine != "dask":
        if args.scheduler or args.local_workers is not None or args.partitions is not None:
            raise ValueError("--scheduler, --local-workers and --partitions need "
                             "--engine dask")
        return None
    if args.scheduler and args.local_workers is not None:
        raise ValueError("--scheduler and --local-workers exclude each other")
    if args.local_workers is not None and not 1 <= args.local_workers <= 256:
        raise ValueError(f"--local-workers must be from 1 to 256, not {args.local_workers}")
    if args.partitions is not None and not 1 <= args.partitions <= 100_000:
        raise ValueError(f"--partitions must be from 1 to 100,000, not {args.partitions}")
    if not 0 < args.connect_timeout <= 3600:
        raise ValueError(f"--connect-timeout must be from 0 to 3600 seconds, not "
                         f"{args.connect_timeout:g}")
    from evaluator.apps.distributed import Engine  # Dask and polars only for this engine

    return Engine(scheduler=args.scheduler, local_workers=args.local_workers or 2,
                  timeout=args.connect_timeout)
