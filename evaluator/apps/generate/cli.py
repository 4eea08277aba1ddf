"""``unclaimed generate``: its arguments, the assumptions they give, and running it."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import Any, TextIO

from evaluator.apps.generate.assumptions import (
    DEFAULT_CHUNK_MEMBERS,
    Assumptions,
    AssumptionsError,
    GenerateError,
    load_assumptions,
    read_date,
)
from evaluator.apps.generate.write import generate

EXIT_OK, EXIT_INVALID = 0, 2


# --------------------------------------------------------------------------- command line


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``generate`` to the CLI's subparsers (``parser.add_subparsers(...)``)."""
    p = subparsers.add_parser(
        "generate",
        help="write a synthetic snapshot portfolio and its FX table",
        description="Write a synthetic account snapshot table (CSV or Parquet, by the "
        "extension of --out) and its FX table <stem>.fx.csv, from documented assumptions "
        "calibrated to public figures (docs/synthetic-portfolios.md). The same members, "
        "seed and options always give the same files.",
    )
    p.add_argument("--members", type=int, required=True, metavar="N", help="number of members")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--out", required=True, metavar="FILE", help="portfolio file: .csv or .parquet")
    p.add_argument("--assumptions", metavar="FILE",
                   help="YAML or JSON file overriding any subset of the assumptions")  # fmt: skip
    p.add_argument("--as-of", dest="as_of", metavar="DATE",
                   help="reference day, YYYY-MM-DD (default 2026-11-21)")  # fmt: skip
    p.add_argument("--foreign-share", dest="foreign_share", type=float, metavar="X",
                   help="share of non-CAD accounts, 0-1 (default 0.105); the mix of "
                   "foreign currencies keeps its proportions")  # fmt: skip
    p.add_argument("--dormant-share", dest="dormant_share", type=float, metavar="X",
                   help="share of members with a dormant profile, 0-1 (default 0.25)")  # fmt: skip
    p.add_argument("--accounts-per-member", dest="accounts_per_member", metavar="W1,W2,...",
                   help="relative weights of 1, 2, ... accounts per member "
                   "(default 0.55,0.27,0.11,0.05,0.02)")  # fmt: skip
    p.add_argument("--missing-rates", dest="missing_rates", type=float, metavar="FRACTION",
                   help="share of FX rates to leave out on purpose (default 0)")  # fmt: skip
    p.add_argument("--policy", metavar="PATH",
                   help="also write the columns this policy declares (policy file, directory "
                   "or ID[@VERSION]), each generated from its type")  # fmt: skip
    p.add_argument("--kinds", action="store_true",
                   help="add a `kind` column and gift-card/prepaid rows")  # fmt: skip
    p.add_argument("--events", action="store_true",
                   help="write a dataset: the accounts table without its last_* columns and "
                   "an events table <stem>.events.csv (or .parquet) beside it, with a "
                   "calibrated history (fees after the unclaimed date, transfers with and "
                   "without what must accompany them)")
    p.add_argument("--chunk-members", dest="chunk_members", type=int,
                   default=DEFAULT_CHUNK_MEMBERS, metavar="N",
                   help="members generated at a time; bounds memory, never changes the output "
                   f"(default {DEFAULT_CHUNK_MEMBERS:,})")  # fmt: skip


def assumptions_from_args(args: argparse.Namespace) -> Assumptions:
    """Defaults, then ``--assumptions FILE``, then the direct flags."""
    a = Assumptions()
    if getattr(args, "assumptions", None):
        a = load_assumptions(args.assumptions, a)
    changes: dict[str, Any] = {}
    if getattr(args, "as_of", None):
        changes["as_of"] = read_date(args.as_of, "--as-of")
    if getattr(args, "dormant_share", None) is not None:
        changes["dormant_share"] = args.dormant_share
    if getattr(args, "missing_rates", None) is not None:
        changes["missing_rates"] = args.missing_rates
    if getattr(args, "accounts_per_member", None):
        try:
            weights = tuple(float(w) for w in args.accounts_per_member.split(","))
        except ValueError:
            raise AssumptionsError(
                f"--accounts-per-member `{args.accounts_per_member}`: expected weights "
                "like 0.55,0.27,0.11,0.05,0.02"
            ) from None
        changes["accounts_per_member"] = weights
    a = dataclasses.replace(a, **changes)
    if getattr(args, "foreign_share", None) is not None:
        a = a.with_foreign_share(args.foreign_share)
    return a


def run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """``unclaimed generate``: 0 when both files were written, 2 for any bad input."""
    try:
        a = assumptions_from_args(args)
        a.validate()
        decl = None
        if getattr(args, "policy", None):
            from evaluator.policy import load_policy

            decl = load_policy(args.policy).facts_decl
        summary = generate(
            args.out,
            args.members,
            args.seed,
            a,
            kinds=bool(getattr(args, "kinds", False)),
            chunk_members=getattr(args, "chunk_members", DEFAULT_CHUNK_MEMBERS),
            decl=decl,
        )
        events = None
        if getattr(args, "events", False):
            from evaluator.apps.generate.events import write_dataset

            events = write_dataset(args.out, args.seed, a.as_of)
    except GenerateError as e:
        print(f"error: {e}", file=stderr)
        return EXIT_INVALID
    print(summary.render(), file=stderr)
    if events is not None:
        print(events.render(), file=stderr)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - manual use
    """``python -m evaluator.generate ...`` until the CLI wires ``generate`` in."""
    import sys

    parser = argparse.ArgumentParser(prog="unclaimed")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["generate", *(sys.argv[1:] if argv is None else argv)])
    return run(args, sys.stdout, sys.stderr)
