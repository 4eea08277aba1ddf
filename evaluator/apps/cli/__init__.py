"""The `unclaimed` command line. Thin: parse arguments, call the API, render.

Each command has its module (``<name>_cmd.py``: ``add_parser`` and ``run``; ``diff`` and
``generate`` in their packages); this one assembles their parsers in the order --help
shows them, dispatches, and turns what escapes a command into one line and an exit status
(and, from the console script, broken pipes, closed outputs and signals).

Exit status (contract.md): 0 when every record was evaluated, 1 when some records are in
``errors``, 2 when the policy or the input as a whole is invalid.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Sequence
from typing import Any, TextIO, cast

from evaluator.apps.cli.common import (
    EXIT_CODES,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_RECORD_ERRORS,
    HelpFormatter,
    Parser,
    exit_epilog,
)
from evaluator.errors import PolicyError
from evaluator.text import one_line

__all__ = ["EXIT_CODES", "EXIT_INVALID", "EXIT_OK", "EXIT_RECORD_ERRORS", "FIRST_ERRORS",
           "exit_epilog", "main", "main_entry", "portfolio_path"]


#: the commands whose modules are light to import, built alone when one is named (so
#: `check` and `evaluate` do not import the modules of the others: diff, generate, serve);
#: each module is imported when its command is named
_LIGHT = {"evaluate": "evaluate_cmd", "check": "check_cmd", "test": "test_cmd",
          "replay": "replay_cmd", "compare": "compare_cmd"}


def _command(name: str) -> Any:
    """The module of a light command (``add_parser`` and ``run``)."""
    return importlib.import_module(f"evaluator.apps.cli.{_LIGHT[name]}")


def __getattr__(name: str) -> Any:
    """``FIRST_ERRORS`` and ``portfolio_path``, from the evaluate command's module."""
    if name in ("FIRST_ERRORS", "portfolio_path"):
        return getattr(_command("evaluate"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of the command ``only`` alone (the same parser
    for that command's arguments, its --help and its usage errors)."""
    p = Parser(prog="unclaimed", description="Evaluate FSRA Rule 2024-001 policies "
                "(credit-union unclaimed deposits) over account facts.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    if only is not None:
        _command(only).add_parser(sub)
    else:
        for name in _LIGHT:
            _command(name).add_parser(sub)

        from evaluator.apps import diff, generate

        diff.add_parser(sub)
        generate.add_parser(sub)
        from evaluator.apps.serve import command as serve  # FastAPI loads in serve.run

        serve.add_parser(sub)
    for name, sp in sub.choices.items():
        sp.epilog = exit_epilog(name)
        sp.formatter_class = HelpFormatter
    return p


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    words = list(sys.argv[1:] if argv is None else argv)
    args = _build_parser(words[0] if words and words[0] in _LIGHT else None
                         ).parse_args(words)
    run: Any = None
    if args.command in _LIGHT:
        run = _command(args.command).run
    elif args.command in ("diff", "generate"):
        from evaluator.apps import diff, generate

        run = {"diff": diff.run, "generate": generate.run}[args.command]
    elif args.command == "serve":
        from evaluator.apps.serve import command as serve

        run = serve.run
    if run is None:  # pragma: no cover - argparse enforces the choices
        return EXIT_INVALID
    try:
        code: int = run(args, cast(TextIO, _Guarded(out)), err)
    except PolicyError as exc:  # a broken policy or parameter: every diagnostic
        print(exc.render(), file=err)
        return EXIT_INVALID
    except BrokenPipeError:  # the reader of standard output went away: main_entry
        raise
    except OSError as exc:  # the environment (disk full, read-only, a folder in the way)
        if _facts_error(exc):
            print(f"error: {one_line(str(exc))}", file=err)
            return EXIT_INVALID
        print(f"error: {one_line(_os_error(exc))}", file=err)
        return EXIT_INVALID
    except Exception as exc:
        if not _facts_error(exc):
            raise
        print(f"error: {one_line(str(exc))}", file=err)  # input unusable as a whole
        return EXIT_INVALID
    return code


def _facts_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a FactsError (input unusable as a whole); its module is loaded
    only by the commands that read facts, so a command that did not cannot raise one."""
    fields = sys.modules.get("evaluator.facts.fields")
    return fields is not None and isinstance(exc, fields.FactsError)


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
