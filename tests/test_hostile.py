"""Hostile and broken policies: clean diagnostics, never a traceback, a hang or a blow-up.

Every call here runs in a worker thread under a time limit (:func:`run_limited`, 5 s; a
call still running then is stopped with an asynchronous exception and the test fails),
and the alias bomb and the large files also under a memory limit (200 MB, measured with
``tracemalloc`` in a second run, since tracing slows PyYAML down several times). Only a
:class:`PolicyError` may escape ``check_policy``/``load_policy``, and every diagnostic
must be well formed: a message, a severity, and ``file:line:col`` whenever it concerns a
position (everything but ``io`` and ``api`` problems).

- The corpus is ``tests/hostile/*.yaml``; :data:`CASES` pairs each file with the
  diagnostics it must give (code, message substring, line). Large inputs (a 5 MB file,
  10,000 nested parentheses, a 100,000-character name, ...) are generated into
  ``tmp_path`` by :data:`GENERATED` rather than committed.
- ``evaluate`` on a policy that type-checks but overflows dates puts the records
  concerned in ``errors``.
- Fuzzing (hypothesis): generated sentences of the formula language in a minimal policy,
  mutations of every formula of ``policies/fsra-2024-001/policy.yaml``, and random bytes
  as a whole policy file. Each property runs ``UNCLAIMED_FUZZ_EXAMPLES`` examples (200 by
  default, so the file stays well under a minute). For a long run::

      UNCLAIMED_FUZZ_EXAMPLES=20000 python -m pytest tests/test_hostile.py
      python -m pytest tests/test_hostile.py --fuzz      # the same, 20,000 per property

  and add ``--hypothesis-show-statistics`` to see how many inputs each property tried.

Tests marked ``xfail(strict=True, reason="BUG: ...")`` are known bugs: each asserts the
behaviour expected once the bug is fixed, so fixing it turns the test into an XPASS
failure until the mark is removed.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evaluator
from evaluator import Diagnostic, Policy, PolicyError, check_policy, load_policy
from evaluator.builtins import BUILTINS
from evaluator.facts import facts_from_json, load_facts
from evaluator.values import MONTHS
from tests.support import BASELINE, ROOT, tally

pytestmark = pytest.mark.slow  # many examples: run first (tests/conftest.py)

HOSTILE = ROOT / "tests" / "hostile"
#: seconds a single check, load or evaluation may take
TIME_LIMIT = 5.0
#: peak traced memory of one check of the alias bomb or a large file
MEMORY_LIMIT = 200 * 1024 * 1024
#: how long a traced (slow) run for the memory measurement may take
TRACED_TIME_LIMIT = 60.0
#: examples per fuzzing property; UNCLAIMED_FUZZ_EXAMPLES=20000 (or --fuzz) for a long run
FUZZ_EXAMPLES = int(os.environ.get("UNCLAIMED_FUZZ_EXAMPLES", "200"))
#: diagnostic codes that concern no position in a file
NON_POSITIONAL = frozenset({"io", "api"})
#: text that belongs in a traceback or a library's internals, not in a diagnostic
INTERNAL_TEXT = ("Traceback", '"<unicode string>"', "set_int_max_str_digits",
                 "object has no attribute", "unhashable type")

FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


@pytest.fixture(scope="module", autouse=True)
def _repo_root_cwd() -> Iterator[None]:
    """Diagnostics name files relative to the working directory: run from the repo root.
    (Module-scoped, so that the hypothesis tests may use it.)"""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        yield


# --------------------------------------------------------------------------- time limit


class _Cancelled(BaseException):
    """Raised inside a call's thread once it is over its time limit, to stop it."""


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None
    seconds: float = 0.0
    timed_out: bool = False
    #: peak traced memory in bytes, when measured
    peak: int | None = None


def _cancel(thread: threading.Thread) -> None:
    """Raise :class:`_Cancelled` in ``thread`` at its next bytecode. A thread blocked in C
    (reading a FIFO, say) only sees it once the call returns; it is a daemon either way."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                                   ctypes.py_object(_Cancelled))


#: a call blocked without using the processor (reading a FIFO, say) is given up after
#: this many times its limit of processor time, or a minute, whichever is longer
WALL_FACTOR = 6


def _join_within(thread: threading.Thread, limit: float) -> None:
    """Wait for ``thread`` while it has used at most ``limit`` seconds of processor time
    (its own clock, so a machine busy with other work does not make a linear check look
    like a hang), and at most ``WALL_FACTOR * limit`` seconds (a minute at least) of wall
    time for a call that blocks without computing."""
    wall = max(limit * WALL_FACTOR, 60.0)
    start = time.perf_counter()
    try:
        clock: int | None = time.pthread_getcpuclockid(thread.ident or 0)
    except (AttributeError, OSError):  # no per-thread clocks here: wall time only
        clock = None
    while thread.is_alive():
        thread.join(0.05)
        try:
            used = (time.clock_gettime(clock) if clock is not None
                    else time.perf_counter() - start)
        except OSError:  # the thread ended between the join and the reading
            return
        if used > limit or time.perf_counter() - start > wall:
            return


def run_limited(fn: Callable[..., Any], /, *args: Any, limit: float = TIME_LIMIT,
                memory: bool = False, on_timeout: Callable[[], None] | None = None,
                **kwargs: Any) -> Outcome:
    """``fn(*args, **kwargs)`` in a worker thread, for at most ``limit`` seconds; with
    ``memory``, the peak of the memory traced meanwhile. ``on_timeout`` can unblock a
    call stuck in C so that it sees the cancellation."""
    out = Outcome()

    def target() -> None:
        start = time.perf_counter()
        try:
            try:
                out.value = fn(*args, **kwargs)
            except BaseException as exc:  # reported by the caller, whatever it is
                out.error = exc
            out.seconds = time.perf_counter() - start
        except _Cancelled:  # the cancellation arrived just as the call ended
            pass

    tracing = memory and not tracemalloc.is_tracing()
    if tracing:
        tracemalloc.start()
    if memory:
        tracemalloc.reset_peak()
    thread = threading.Thread(target=target, name="hostile-call", daemon=True)
    thread.start()
    _join_within(thread, limit)
    if thread.is_alive():
        out.timed_out = True
        _cancel(thread)
        if on_timeout is not None:
            on_timeout()
        thread.join(min(limit, 2.0))
    if memory:
        out.peak = tracemalloc.get_traced_memory()[1]
    if tracing:
        tracemalloc.stop()
    return out


def require_no_crash(out: Outcome, what: str, limit: float = TIME_LIMIT) -> None:
    """Fail unless the call finished in time and raised nothing but a PolicyError."""
    if out.timed_out:
        pytest.fail(f"{what} took more than {limit:g} s")
    err = out.error
    if err is not None and not isinstance(err, PolicyError):
        shown = "".join(traceback.format_exception(err))
        pytest.fail(f"{what} raised {type(err).__name__} instead of a PolicyError:\n{shown}")


# --------------------------------------------------------------------------- what is read


_WATCHED = frozenset({"open", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                      "subprocess.Popen"})
_RECORDERS: list[list[tuple[str, Any]]] = []
_HOOKED: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _RECORDERS and event in _WATCHED:
        _RECORDERS[-1].append((event, args[0] if args else None))


@contextmanager
def watching() -> Iterator[list[tuple[str, Any]]]:
    """Audit events (files opened, processes started) while the block runs, in any thread."""
    if not _HOOKED:
        sys.addaudithook(_audit)  # stays for the session; it records only inside this block
        _HOOKED.append(True)
    events: list[tuple[str, Any]] = []
    _RECORDERS.append(events)
    try:
        yield events
    finally:
        _RECORDERS.remove(events)


def opened_files(events: list[tuple[str, Any]]) -> list[Path]:
    return [Path(os.fsdecode(arg)).resolve() for event, arg in events
            if event == "open" and isinstance(arg, str | bytes)]


def escapes(events: list[tuple[str, Any]], root: Path) -> list[str]:
    """Processes started, and policy-like files opened outside ``root``."""
    root = root.resolve()
    # the evaluator's own standard facts declaration, read once per process (whichever
    # test comes first), is the package's data, not a file the policy reached
    shipped = (Path(evaluator.__file__).resolve().parent / "data")
    bad = [f"{event} {arg!r}" for event, arg in events if event != "open"]
    for path in opened_files(events):
        policy_like = (path.suffix in (".yaml", ".yml") and root not in path.parents
                       and shipped not in path.resolve().parents)
        if policy_like or str(path) in ("/etc/passwd", "/etc/shadow"):
            bad.append(f"read {path}")
    return bad


# --------------------------------------------------------------------------- diagnostics

_BREAKS = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")


def _line_count(file: str) -> int:
    text = Path(file).read_bytes().decode("utf-8", errors="replace")
    return len(_BREAKS.split(text))


def assert_well_formed(diags: list[Diagnostic]) -> None:
    """Every diagnostic has a message and a severity, renders, has no internal text, and
    has a ``file:line:col`` inside its file whenever it concerns a position."""
    assert isinstance(diags, list)
    lines: dict[str, int] = {}
    for d in diags:
        assert isinstance(d, Diagnostic), d
        assert d.severity in ("error", "warning"), d
        assert isinstance(d.message, str) and d.message.strip(), d
        first = d.render().splitlines()[0]
        leaked = [t for t in INTERNAL_TEXT if t in d.message]
        assert not leaked, f"internal text {leaked} in {d.message!r}"
        span = d.span
        if span is None:
            assert d.code in NON_POSITIONAL, \
                f"no file:line:col for a `{d.code}` diagnostic: {first}"
            continue
        assert first.startswith(f"{span.file}:{span.line}:{span.col}: "), first
        if span.file not in lines:
            lines[span.file] = _line_count(span.file)
        assert 1 <= span.line <= lines[span.file], (first, lines[span.file])
        assert span.col >= 1 and span.end_line >= span.line, first
        assert span.end_line > span.line or span.end_col >= span.col, first


@dataclass(frozen=True)
class Expect:
    """A diagnostic that must be among those of a case."""

    code: str
    message: str  # a substring of the message
    line: int | None = None
    col: int | None = None
    #: the file it is in, by stem, when not the case's own (extends)
    file: str | None = None


def assert_expected(diags: list[Diagnostic], path: Path, expects: tuple[Expect, ...]) -> None:
    for e in expects:
        where = (HOSTILE / f"{e.file}.yaml") if e.file else path
        found = [d for d in diags if d.code == e.code and e.message in d.message
                 and (e.line is None or (d.span is not None and d.span.line == e.line
                                         and Path(d.span.file).resolve() == where.resolve()))
                 and (e.col is None or (d.span is not None and d.span.col == e.col))]
        shown = "\n".join(f"  {d.code} {d.span}: {d.message[:200]}" for d in diags)
        assert found, f"expected {e} among:\n{shown}"


def diagnose(path: Path, root: Path | None = None, *, memory: bool = False,
             limit: float = TIME_LIMIT) -> list[Diagnostic]:
    """``check_policy`` and ``load_policy`` under the time limit (and the memory limit):
    only a PolicyError may escape, and both give the same diagnostics."""
    checked = run_limited(check_policy, path, root=root, limit=limit)
    require_no_crash(checked, f"check_policy({path.name})", limit)
    diags: list[Diagnostic] = checked.value
    loaded = run_limited(load_policy, path, root=root, limit=limit)
    require_no_crash(loaded, f"load_policy({path.name})", limit)
    if any(d.is_error for d in diags):
        assert isinstance(loaded.error, PolicyError), "load_policy accepted a broken policy"
        assert loaded.error.diagnostics == diags
    else:
        assert isinstance(loaded.value, Policy)
        assert loaded.value.warnings == diags
    if memory:
        traced = run_limited(check_policy, path, root=root, limit=TRACED_TIME_LIMIT,
                             memory=True)
        require_no_crash(traced, f"check_policy({path.name}) traced", TRACED_TIME_LIMIT)
        assert traced.peak is not None and traced.peak < MEMORY_LIMIT, \
            f"peak memory {traced.peak / 2**20:.0f} MB"
    return diags


# --------------------------------------------------------------------------- known bugs



# --------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Case:
    name: str
    expect: tuple[Expect, ...]
    bug: str | None = None
    #: also measure peak memory
    memory: bool = False


def _section(name: str, section: str, line: int, col: int) -> Case:
    return Case(name, (Expect("schema", f"`{section}` must be a mapping", line, col),))


def _tag(tag: str, line: int) -> Expect:
    return Expect("yaml", f"YAML tag `{tag}` is not allowed in policies", line)


_ALIASES = tuple(Expect("yaml", f"aliases (`*lol{i}`) are not allowed in policies", 21 + i)
                 for i in range(9))
_TRAVERSAL = "is not a valid value for `extends`"

CASES: list[Case] = [
    # malformed YAML
    Case("yaml-unclosed-bracket", (Expect("yaml", "malformed YAML: expected ',' or ']'", 19),)),
    Case("yaml-bad-indentation", (Expect("yaml", "malformed YAML: expected <block end>", 17),)),
    Case("yaml-tab-indentation",
         (Expect("yaml", "found character '\\t' that cannot start any token", 14),)),
    Case("yaml-bom", (Expect("schema", "`Hostile_Bom` is not a valid value for `policy`", 1, 9),)),
    Case("yaml-nul-byte", (Expect("yaml", "unacceptable character #x0000", 5),)),
    Case("yaml-invalid-utf8", (Expect("io", "not UTF-8 text", 5),)),
    Case("yaml-two-documents", (Expect("yaml", "expected a single document", 20),)),
    Case("yaml-version-2", (Expect("yaml", "found incompatible YAML document", 1),)),
    Case("yaml-empty", (Expect("yaml", "policy file is empty", 1),)),
    Case("yaml-only-comments", (Expect("yaml", "policy file is empty", 1),)),
    Case("yaml-scalar", (Expect("yaml", "a policy file must be a mapping of keys", 1),)),
    Case("yaml-list", (Expect("yaml", "a policy file must be a mapping of keys", 1),)),
    # duplicate keys at four levels
    Case("duplicate-keys", (Expect("yaml", "duplicate key `title`", 6, 1),
                            Expect("yaml", "duplicate key `text`", 8, 43),
                            Expect("yaml", "duplicate key `value`", 13, 5),
                            Expect("yaml", "duplicate key `unclaimed_on`", 20, 3))),
    # tags
    Case("tags", (_tag("tag:yaml.org,2002:python/object/apply:os.system", 5),
                  _tag("tag:yaml.org,2002:python/name:os.system", 6),
                  _tag("!custom", 7), _tag("tag:yaml.org,2002:binary", 8))),
    # aliases
    Case("alias-bomb", _ALIASES, memory=True),
    Case("alias-self", (Expect("yaml", "aliases (`*loop`) are not allowed in policies", 6, 26),)),
    Case("alias-undefined", (Expect("yaml", "found undefined alias 'nowhere'", 6),)),
    # unknown keys
    Case("unknown-keys", (Expect("schema", "unknown key `colour` in the document", 6, 1),
                          Expect("schema", "unknown key `txet` in provisions.Act 147(1)", 8),
                          Expect("schema", "unknown key `defualt` in parameters.", 14, 5),
                          Expect("schema", "unknown key `descripton` in definitions.", 20, 5))),
    # wrong types
    Case("wrong-type-version-mapping", (Expect("schema", "`version` must be text", 2, 10),)),
    Case("wrong-type-formula-number",
         (Expect("type", "formula is `Int` but the definition declares `Date`", 18, 14),)),
    Case("wrong-type-formula-list",
         (Expect("schema", "`definitions.unclaimed_on.formula` must be text", 16, 14),)),
    Case("wrong-type-formula-mapping",
         (Expect("schema", "`definitions.unclaimed_on.formula` must be text", 16, 14),)),
    Case("wrong-type-definition-list",
         (Expect("schema", "`definitions.unclaimed_on` must be a mapping", 13, 17),)),
    Case("wrong-type-parameter-value-mapping",
         (Expect("parameter", "parameter `unclaimed_period` is a duration: its value must be "
                 "a single value", 10, 12),)),
    _section("wrong-type-provisions-list", "provisions", 5, 13),
    _section("wrong-type-parameters-list", "parameters", 7, 13),
    _section("wrong-type-definitions-list", "definitions", 12, 14),
    _section("wrong-type-outputs-scalar", "outputs", 17, 10),
    _section("wrong-type-interpretations-list", "interpretations", 5, 18),
    _section("wrong-type-invariants-list", "invariants", 12, 13),
    _section("wrong-type-effective-scalar", "effective", 5, 12),
    Case("wrong-type-entity-list",
         (Expect("schema", "`definitions.unclaimed_on.entity` must be text", 14, 13),)),
    Case("wrong-type-provision-list",
         (Expect("schema", "`definitions.unclaimed_on.provision` must be text", 15, 16),)),
    Case("wrong-type-declared-type-list",
         (Expect("schema", "`definitions.unclaimed_on.type` must be text", 16, 11),)),
    Case("wrong-type-parameter-type-list",
         (Expect("schema", "`parameters.unclaimed_period.type` must be text", 9, 11),)),
    Case("wrong-type-parameter-type-unknown",
         (Expect("schema", "`Duration` is not allowed for `type`", 10, 11),)),
    Case("wrong-type-list-of-list",
         (Expect("schema", "`parameters.marks.of` must be text", 10, 9),)),
    Case("wrong-type-list-of-unknown",
         (Expect("schema", "`datum` is not allowed for `of`", 10, 9),)),
    Case("wrong-type-table-column-type",
         (Expect("schema", "`frobnitz` is not allowed for `opens`", 10, 22),)),
    # impossible dates
    Case("dates-in-parameters", (Expect("parameter", "`2026-02-30` is not a date", 11, 12),
                                 Expect("parameter", "`2026-13-01` is not a date", 15, 12),
                                 Expect("parameter", "`0000-01-01` is not a date", 19, 12))),
    Case("dates-in-formulas",
         (Expect("syntax", "`2026-02-30` is not a calendar date", 21, 26),
          Expect("syntax", "`2026-13-01` is not a calendar date", 25, 26),
          Expect("syntax", "`0000-01-01` is not a calendar date", 29, 26),
          Expect("syntax", "`2026-2-3` is not a date in the form YYYY-MM-DD", 33, 26))),
    # absurd durations
    Case("durations-absurd",
         (Expect("parameter", "duration `99999999999 years` is too long", 11, 12),
          Expect("syntax", "duration `99999999999 years` is too long", 21, 23),
          Expect("syntax", "duration `100001 days` is too long", 25, 23))),
    # extends
    Case("extends-cycle-a", (Expect(
        "extends", "`extends` cycle: tests/hostile/extends-cycle-a.yaml -> "
        "tests/hostile/extends-cycle-b.yaml -> tests/hostile/extends-cycle-a.yaml", 6, 10,
        file="extends-cycle-b"),)),
    Case("extends-cycle-b", (Expect("extends", "`extends` cycle:", 6, 10,
                                    file="extends-cycle-a"),)),
    Case("extends-self", (Expect("extends", "`extends` cycle: tests/hostile/extends-self.yaml "
                                 "-> tests/hostile/extends-self.yaml", 6, 10),)),
    Case("extends-missing", (Expect("extends", "`extends: hostile-extends-nowhere@1.0.0`: no "
                                    "such policy under tests/hostile", 6, 10),)),
    Case("extends-etc-passwd", (Expect("schema", f"`../../etc/passwd` {_TRAVERSAL}", 6, 10),
                                Expect("extends", "no such policy", 6, 10))),
    Case("extends-dotdot-id", (Expect("schema", f"`..@1.0.0` {_TRAVERSAL}", 6, 10),
                               Expect("extends", "no such policy", 6, 10))),
    Case("extends-absolute", (Expect("schema", f"`/etc/passwd` {_TRAVERSAL}", 6, 10),
                              Expect("extends", "no such policy", 6, 10))),
    Case("extends-dotdot-version",
         (Expect("schema", f"`hostile-extends-base@../../../etc/passwd` {_TRAVERSAL}", 6, 10),
          Expect("extends", "no such policy", 6, 10))),
]
#: corpus files that are correct policies (targets of `extends`, evaluation tests)
CLEAN = ["extends-base", "evaluate-overflow"]


def _params(cases: list[Any]) -> list[Any]:
    return [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(strict=True, reason=c.bug)]
                         if c.bug else []) for c in cases]


def test_the_corpus_table_names_every_file() -> None:
    names = sorted(p.stem for p in HOSTILE.glob("*.yaml"))
    assert names == sorted([c.name for c in CASES] + CLEAN)
    assert all(p.stat().st_size < 10_000 for p in HOSTILE.glob("*.yaml")), "keep them small"


@pytest.mark.parametrize("case", _params(CASES))
def test_hostile_policy_gives_clean_diagnostics(case: Case) -> None:
    path = HOSTILE / f"{case.name}.yaml"
    with watching() as events:
        diags = diagnose(path, root=HOSTILE, memory=case.memory)
    assert any(d.is_error for d in diags), "a broken policy gave no error"
    assert_well_formed(diags)
    assert_expected(diags, path, case.expect)
    assert escapes(events, HOSTILE) == []
    tally(policy_kind(case.name))


@pytest.mark.parametrize("ref", ["..@1.0.0", "..", ".@1.0.0", "hostile-extends-base@..",
                                 "hostile-extends-base@../../../etc/passwd",
                                 "../hostile/extends-base", "hostile-extends-base/../.."])
def test_policy_references_that_try_to_leave_the_root(ref: str) -> None:
    """``--policy ID@VERSION`` is looked up by id and version, never as a path."""
    with watching() as events:
        checked = run_limited(check_policy, ref, root=HOSTILE)
        loaded = run_limited(load_policy, ref, root=HOSTILE)
    require_no_crash(checked, f"check_policy({ref!r})")
    require_no_crash(loaded, f"load_policy({ref!r})")
    assert isinstance(loaded.error, PolicyError)
    assert loaded.error.diagnostics == checked.value
    assert [d.code for d in checked.value] == ["io"]
    assert_well_formed(checked.value)
    assert escapes(events, HOSTILE) == []
    tally("policy: extends leaving the root")


@pytest.mark.parametrize("name", CLEAN)
def test_clean_corpus_policies_load(name: str) -> None:
    assert diagnose(HOSTILE / f"{name}.yaml", root=HOSTILE) == []


def test_an_alias_bomb_is_refused_once_per_alias_written() -> None:
    diags = diagnose(HOSTILE / "alias-bomb.yaml", root=HOSTILE)
    aliases = [d for d in diags if d.message.startswith("aliases (")]
    assert len(aliases) == 81  # 9 lines of 9 aliases, never 9**9 expanded nodes
    assert len({(d.span.line, d.span.col) for d in aliases if d.span}) == 81


def test_a_correct_policy_with_a_bom_loads() -> None:
    text = (HOSTILE / "extends-base.yaml").read_text(encoding="utf-8")
    diags = check_policy_text("\ufeff" + text.replace("policy: hostile-extends-base",
                                                     "policy: hostile-bom-ok"))
    assert diags == []


def check_policy_text(text: str) -> list[Diagnostic]:
    """Check a policy written to a private folder (no `extends` targets around it)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policy.yaml"
        path.write_text(text, encoding="utf-8")
        return diagnose(path, root=Path(tmp))


def test_a_refused_tag_is_the_only_error_at_its_node() -> None:
    diags = diagnose(HOSTILE / "tags.yaml", root=HOSTILE)
    tagged = [d.span for d in diags if d.message.startswith("YAML tag")]
    assert len(tagged) == 4
    others = [d for d in diags if d.span in tagged and not d.message.startswith("YAML tag")]
    assert others == [], [d.message for d in others]


def test_tags_are_never_constructed() -> None:
    with watching() as events:
        diagnose(HOSTILE / "tags.yaml", root=HOSTILE)
    assert [e for e, _ in events if e != "open"] == []


@pytest.mark.parametrize("snippet", [
    "source: [1, 2]\n",
    "parameters:\n  p: [1 year]\n",
    'provisions:\n  "Act 147(1)": {text: x}\ndefinitions:\n  d:\n    entity: account\n'
    '    provision: "Act 147(1)"\n    formula:\noutputs:\n  account: [d]\n',
], ids=["any-of", "not-required", "empty-formula"])
def test_schema_messages_are_prose(snippet: str) -> None:
    diags = check_policy_text(HEADER + snippet)
    raw = [d.message for d in diags if d.code == "schema" and (
        "valid under" in d.message or "should be non-empty" in d.message
        or "{'" in d.message or "['" in d.message)]
    assert raw == []


# --------------------------------------------------------------------------- generated

HEADER = "policy: hostile-generated\nversion: 1.0.0\nstatus: proposed\ntitle: generated\n"
#: the kind of hostile input a corpus or generated case is, by its name (for the tally)
_KINDS = (("yaml-nested-", "deep nesting (YAML)"), ("yaml-", "malformed YAML"),
          ("duplicate-", "duplicate keys"), ("tags", "YAML tags"), ("alias-bomb", "alias bombs"),
          ("alias", "aliases"), ("unknown-keys", "unknown keys"), ("wrong-type-", "wrong types"),
          ("dates-", "impossible dates"), ("durations-", "absurd durations and numbers"),
          ("duration-", "absurd durations and numbers"), ("month-day-", "absurd durations and numbers"),
          ("parameter-", "absurd durations and numbers"), ("extends-cycle", "extends cycles"),
          ("extends-self", "extends cycles"), ("extends-", "extends leaving the root"),
          ("file-", "very large files"), ("definitions-", "very large files"),
          ("parentheses-", "deeply nested expressions"), ("ifs-", "deeply nested expressions"),
          ("definition-chain", "deeply nested expressions"), ("name-", "very long names"),
          ("reference-", "very long names"), ("output-name", "very long names"),
          ("surrogate", "malformed YAML"))


def policy_kind(name: str) -> str:
    kind = next((k for prefix, k in _KINDS if name.startswith(prefix)), None)
    assert kind is not None, f"no kind for {name}: add it to _KINDS"
    return f"policy: {kind}"


PROVISIONS = 'provisions:\n  "Act 147(1)": {text: unclaimed deposit}\n'
#: line of the formula in :func:`one_definition`
FORMULA_LINE = 11


def one_definition(formula: str, name: str = "unclaimed_on", *, key: str | None = None,
                   params: str = "") -> str:
    """A minimal policy whose one definition has ``formula`` (on line 11)."""
    key = key or f"{name}:"
    return (HEADER + PROVISIONS + "definitions:\n" + f"  {key}\n    entity: account\n"
            f'    provision: "Act 147(1)"\n    formula: {formula}\n'
            + params + f"outputs:\n  account: [{name}]\n")


def _chain(n: int) -> str:
    defs = "".join(f'  d{i}:\n    entity: account\n    provision: "Act 147(1)"\n'
                   f"    formula: d{i + 1}\n" for i in range(n))
    return (HEADER + PROVISIONS + "definitions:\n" + defs +
            f'  d{n}:\n    entity: account\n    provision: "Act 147(1)"\n    formula: nope\n'
            "outputs:\n  account: [d0]\n")


def _many_definitions(n: int) -> str:
    defs = "".join(f'  d{i}:\n    entity: account\n    provision: "Act 147(1)"\n'
                   f"    formula: opened + {i} days\n" for i in range(n))
    return (HEADER + PROVISIONS + "definitions:\n" + defs +
            f"outputs:\n  account: [{', '.join(f'd{i}' for i in range(n))}, nope]\n")


@dataclass(frozen=True)
class Generated:
    name: str
    build: Callable[[], str]
    expect: tuple[Expect, ...]
    bug: str | None = None
    memory: bool = False
    #: seconds a check may take, when not TIME_LIMIT
    limit: float = TIME_LIMIT


#: the largest policy the limits allow (10,000 definitions in just under 1 MB) is read,
#: parsed and checked in linear time, about 4.5 s on a 2-core machine: most of it PyYAML's
#: pure-Python reader and Lark. A quadratic step would take minutes.
LARGEST_POLICY_LIMIT = 15.0

_LONG_NAME = "a" * 100_000
_DESCRIPTION_LINES = 9_500  # a 0.95 MB block scalar

GENERATED: list[Generated] = [
    Generated("file-5mb", lambda: HEADER + "description: " + "x" * 5_000_000 + "\n",
              (Expect("io", "bytes; the limit is 1000000"),), memory=True),
    Generated("file-just-under-the-limit",
              lambda: HEADER + "description: |\n" + ("  " + "x" * 97 + "\n") * _DESCRIPTION_LINES
              + "bogus: 1\n", (Expect("schema", "unknown key `bogus`", 6 + _DESCRIPTION_LINES),),
              memory=True),
    Generated("parentheses-10000", lambda: one_definition("(" * 10_000 + "opened" + ")" * 10_000),
              (Expect("syntax", "formula is 20006 characters long; the limit is 20000",
                      FORMULA_LINE, 14),)),
    Generated("parentheses-9000", lambda: one_definition("(" * 9_000 + "opened" + ")" * 9_000),
              (Expect("syntax", "brackets nest more than 100 deep", FORMULA_LINE, 114),)),
    Generated("ifs-10000", lambda: one_definition(
        "if true then " * 10_000 + "opened" + " else opened" * 10_000),
        (Expect("syntax", "formula is 250006 characters long", FORMULA_LINE),)),
    Generated("ifs-450", lambda: one_definition(
        "if true then " * 450 + "opened" + " else opened" * 450),
        (Expect("syntax", "formula is nested too deeply", FORMULA_LINE),)),
    Generated("name-100000-plain-key", lambda: one_definition("opened", _LONG_NAME),
              (Expect("yaml", "malformed YAML", 8),)),
    Generated("name-and-formula-100000", lambda: one_definition(
        "b" * 100_000, _LONG_NAME, key=f"? {_LONG_NAME}\n  :"),
        (Expect("syntax", "formula is 100000 characters long; the limit is 20000", 12),)),
    Generated("reference-19990-characters", lambda: one_definition("x" * 19_990),
              (Expect("name", "unknown name `xxxxxxxx", FORMULA_LINE, 14),)),
    Generated("output-name-100000", lambda: HEADER + "outputs:\n  account: [" + _LONG_NAME + "]\n",
              (Expect("name", "is not a definition", 6),)),
    Generated("yaml-nested-flow-1000", lambda: HEADER + "source: " + "[" * 1000 + "]" * 1000 + "\n",
              (Expect("yaml", "nests too deeply", 5),)),
    Generated("yaml-nested-block-1000", lambda: HEADER + "source:\n" + "".join(
        " " * (i + 1) + f"k{i}:\n" for i in range(1000)) + " " * 1001 + "x\n",
        (Expect("yaml", "nests too deeply"),)),
    Generated("definition-chain-400", lambda: _chain(400),
              (Expect("name", "unknown name `nope`"),)),
    Generated("duration-5000-digits", lambda: one_definition("opened + " + "9" * 5000 + " days"),
              (Expect("syntax", "too long", FORMULA_LINE),)),
    Generated("month-day-5000-digits",
              lambda: one_definition("date(2026, " + "9" * 5000 + " Oct)"),
              (Expect("syntax", "", FORMULA_LINE),)),
    Generated("parameter-5000-digits", lambda: one_definition(
        "opened + p", params='parameters:\n  p:\n    type: duration\n    value: '
        + "9" * 5000 + ' years\n    provision: "Act 147(1)"\n'),
        (Expect("parameter", "is not a duration", 15),)),
    Generated("surrogate-escape", lambda: HEADER.replace("title: generated", 'title: "\\ud800"')
              + "bogus: 1\n", (Expect("schema", "unknown key `bogus`", 5),)),
    Generated("aliases-5000-on-one-line", lambda: HEADER + "source: &a x\nextra: ["
              + ", ".join(["*a"] * 5000) + "]\n",
              (Expect("yaml", "aliases (`*a`) are not allowed", 6),)),
    # 40,000 keys of a 0.5 MB file: like the largest policy, linear but seconds of
    # PyYAML's pure reader (4.8-5 s on a loaded 2-core machine); a quadratic step takes minutes
    Generated("unknown-keys-40000", lambda: HEADER + "".join(f"k{i}: v\n" for i in range(40_000)),
              (Expect("schema", "unknown key `k0`", 5),), limit=LARGEST_POLICY_LIMIT),
    Generated("definitions-10000", lambda: _many_definitions(10_000),
              (Expect("name", "output `nope` is not a definition"),),
              limit=LARGEST_POLICY_LIMIT),
]


def test_generated_inputs_have_the_size_they_claim() -> None:
    sizes = {g.name: len(g.build().encode("utf-8")) for g in GENERATED
             if g.name.startswith(("file-", "definitions-"))}
    assert sizes["file-5mb"] > 5_000_000
    assert 900_000 < sizes["file-just-under-the-limit"] < 1_000_000
    assert 900_000 < sizes["definitions-10000"] < 1_000_000


@pytest.mark.parametrize("gen", _params(GENERATED))
def test_generated_hostile_policy_gives_clean_diagnostics(gen: Generated,
                                                          tmp_path: Path) -> None:
    path = tmp_path / f"{gen.name}.yaml"
    path.write_text(gen.build(), encoding="utf-8")
    diags = diagnose(path, root=tmp_path, memory=gen.memory, limit=gen.limit)
    assert any(d.is_error for d in diags), "a broken policy gave no error"
    assert_well_formed(diags)
    assert_expected(diags, path, gen.expect)
    tally(policy_kind(gen.name))


#: formulas nested ``n`` deep, one construct each
NESTING: dict[str, Callable[[int], str]] = {
    "parentheses": lambda n: "(" * n + "opened" + ")" * n,
    "if-then": lambda n: "if balance > 0 then " * n + "opened" + " else opened" * n,
    "if-else": lambda n: "if balance > 0 then opened else " * n + "opened",
    "if-condition": lambda n: "if " * n + "balance > 0" + " then true else false" * n,
    "not": lambda n: "not " * n + "true",
    "minus": lambda n: "-" * n + "1",
    "attribute": lambda n: "member" + ".member" * n,
    "plus": lambda n: "opened" + " + 1 day" * n,
    "coalesce": lambda n: " ?? ".join(["opened"] * (n + 1)),
    "calls": lambda n: "max(" * n + "opened" + ")" * n,
    "lists": lambda n: "[" * n + "1" + "]" * n,
    "records": lambda n: "{a: " * n + "1" + "}" * n,
    "comprehensions": lambda n: "count(" * n + "e for e in events" + ")" * n,
}


def _nesting_params() -> list[Any]:
    out = []
    for name in NESTING:
        for depth in (60, 400, 10_000):  # under the limit of 100 levels, and over it
            out.append(pytest.param(name, depth, id=f"{name}-{depth}"))
    return out


SMALL_FACTS = {"members": [{"member_id": "M1", "events": [
    {"type": "transaction", "date": "2020-05-01", "account_id": "A1"}], "accounts": [
    {"account_id": "A1", "currency": "CAD", "balance": "12.50", "opened": "2016-02-29"}]}]}


@pytest.mark.parametrize(("construct", "depth"), _nesting_params())
def test_deeply_nested_formulas(construct: str, depth: int, tmp_path: Path) -> None:
    """Nested constructs give a diagnostic or nothing; one that checks also evaluates."""
    path = tmp_path / "policy.yaml"
    path.write_text(one_definition(json.dumps(NESTING[construct](depth))), encoding="utf-8")
    diags = diagnose(path, root=tmp_path)
    assert_well_formed(diags)
    if not any(d.is_error for d in diags):
        policy = load_policy(path, root=tmp_path)
        out = run_limited(policy.evaluate, facts_from_json(SMALL_FACTS), as_of="2026-11-21")
        require_no_crash(out, "evaluate")
        assert len(out.value.accounts) + len(out.value.errors) == 1
    tally("policy: deeply nested expressions")


# --------------------------------------------------------------------------- where files are read


def _policy(pid: str, extends: str | None = None) -> str:
    return (f"policy: {pid}\nversion: 1.0.0\nstatus: proposed\ntitle: {pid}\n"
            + (f"extends: {extends}\n" if extends else "")
            + PROVISIONS + 'parameters:\n  unclaimed_period:\n    type: duration\n'
            '    value: 10 years\n    provision: "Act 147(1)"\n'
            + ("" if extends else 'definitions:\n  unclaimed_on:\n    entity: account\n'
               '    provision: "Act 147(1)"\n    formula: opened + unclaimed_period\n'
               "outputs:\n  account: [unclaimed_on]\n"))


@pytest.fixture
def outside_link(tmp_path: Path) -> Path:
    """``policies/link.yaml`` is a symlink to a policy outside ``policies/``."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "outside.yaml").write_text(_policy("outside"), encoding="utf-8")
    root = tmp_path / "policies"
    root.mkdir()
    (root / "link.yaml").symlink_to(Path("..") / "outside" / "outside.yaml")
    (root / "base.yaml").write_text(_policy("base"), encoding="utf-8")
    return root


def test_extends_through_a_symlink_out_of_the_root_is_refused(outside_link: Path) -> None:
    child = outside_link / "child.yaml"
    child.write_text(_policy("child", "outside@1.0.0"), encoding="utf-8")
    diags = diagnose(child)
    assert_well_formed(diags)
    assert_expected(diags, child, (Expect("extends", "`extends: outside@1.0.0` leaves the "
                                          "policies root", 5, 10),))
    tally("policy: extends leaving the root")


def test_no_file_outside_the_root_is_read(outside_link: Path) -> None:
    child = outside_link / "child.yaml"
    child.write_text(_policy("child", "outsid@1.0.0"), encoding="utf-8")
    with watching() as events:
        diags = diagnose(child)
    assert (outside_link.parent / "outside" / "outside.yaml").resolve() \
        not in opened_files(events)
    assert not [d for d in diags if "outside" in (d.help or "")]
    tally("policy: extends leaving the root")


@pytest.mark.parametrize("how", ["root-is-a-symlink", "policy-dir-is-a-symlink"])
def test_a_policy_reached_through_a_symlink_uses_the_root_it_was_named_under(
        how: str, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "base.yaml").write_text(_policy("base"), encoding="utf-8")
    if how == "root-is-a-symlink":
        (real / "child.yaml").write_text(_policy("child", "base@1.0.0"), encoding="utf-8")
        (tmp_path / "project").mkdir()
        (tmp_path / "project" / "policies").symlink_to(real)
        target = tmp_path / "project" / "policies" / "child.yaml"
    else:  # policies/linked -> ../elsewhere/child, a policy directory outside the root
        (tmp_path / "elsewhere" / "child").mkdir(parents=True)
        (tmp_path / "elsewhere" / "child" / "policy.yaml").write_text(
            _policy("child", "base@1.0.0"), encoding="utf-8")
        (tmp_path / "policies").mkdir()
        (tmp_path / "policies" / "base.yaml").write_text(_policy("base"), encoding="utf-8")
        (tmp_path / "policies" / "linked").symlink_to(Path("..") / "elsewhere" / "child")
        target = tmp_path / "policies" / "linked"
    with watching() as events:
        diags = diagnose(target)
    assert escapes(events, tmp_path) == []  # never the package's own policies/
    assert diags == []
    tally("policy: extends leaving the root")


def test_a_huge_file_in_the_policies_root_is_not_read(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    root.mkdir()
    (root / "base.yaml").write_text(_policy("base"), encoding="utf-8")
    (root / "child.yaml").write_text(_policy("child", "base@1.0.0"), encoding="utf-8")
    with open(root / "huge.yaml", "wb") as handle:
        handle.truncate(120 * 2**20)  # sparse: no disk used; read, it is 240 MB of bytes + text
    out = run_limited(check_policy, root / "child.yaml", limit=TRACED_TIME_LIMIT, memory=True)
    require_no_crash(out, "check_policy", TRACED_TIME_LIMIT)
    assert out.value == []
    assert out.peak is not None and out.peak < MEMORY_LIMIT, f"{out.peak / 2**20:.0f} MB"
    tally("policy: very large files")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_in_the_policies_root_does_not_hang(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    root.mkdir()
    (root / "base.yaml").write_text(_policy("base"), encoding="utf-8")
    (root / "child.yaml").write_text(_policy("child", "base@1.0.0"), encoding="utf-8")
    fifo = root / "pipe.yaml"
    os.mkfifo(fifo)

    def release() -> None:
        """A reader blocked on the FIFO gets end-of-file, so that its thread can end."""
        with suppress(OSError):  # nobody is reading it
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    out = run_limited(check_policy, root / "child.yaml", on_timeout=release)
    require_no_crash(out, "check_policy")
    assert out.value == []
    tally("policy: a FIFO in the policies root")


# --------------------------------------------------------------------------- evaluation

OVERFLOW_FACTS = {"members": [
    {"member_id": "M1", "events": [], "accounts": [
        {"account_id": "A1", "currency": "CAD", "balance": "1.00", "opened": "2016-02-29"},
        {"account_id": "A2", "currency": "CAD", "balance": "1.00", "opened": "0999-01-01"}]},
    {"member_id": "M2", "events": [], "accounts": [
        {"account_id": "A3", "currency": "CAD", "balance": "500.00", "opened": "2000-01-01"}]},
]}
OVERFLOW_CSV = ("member_id,account_id,currency,balance,opened,last_transaction,"
                "last_statement_ack,last_response,kind\n"
                "M1,A1,CAD,1.00,2016-02-29,,,,\nM1,A2,CAD,1.00,0999-01-01,,,,\n"
                "M2,A3,CAD,500.00,2000-01-01,,,,\n")


@pytest.mark.parametrize(("period", "failing"), [
    (None, {"A3"}),                      # 9999-12-31 + 1 day for the large balance
    ("9000 years", {"A1", "A3"}),        # 0999 + 9000 = 9999 still fits
    ("100000 years", {"A1", "A2", "A3"}),
    ("-3000 years", {"A1", "A2", "A3"}),
])
def test_evaluation_overflow_sends_records_to_errors(period: str | None,
                                                     failing: set[str]) -> None:
    policy = load_policy(HOSTILE / "evaluate-overflow.yaml", root=HOSTILE)
    params = {"unclaimed_period": period} if period else None
    out = run_limited(policy.evaluate, facts_from_json(OVERFLOW_FACTS), as_of="2026-11-21",
                      params=params)
    require_no_crash(out, "evaluate")
    result = out.value
    assert {e.account_id for e in result.errors} == failing
    assert {a.account_id for a in result.accounts} == {"A1", "A2", "A3"} - failing
    assert all("out of range" in e.message for e in result.errors)
    tally("evaluation: dates past 9999 (records)", 3)


def test_a_baseline_override_that_overflows_sends_every_record_to_errors() -> None:
    policy = load_policy(BASELINE)
    facts = load_facts(ROOT / "examples" / "members.json")
    accounts = sum(len(m.accounts) for m in facts.members)
    out = run_limited(policy.evaluate, facts, as_of="2026-11-21",
                      params={"unclaimed_period": "9000 years"})
    require_no_crash(out, "evaluate")
    result = out.value
    assert result.accounts == []
    assert len([e for e in result.errors if e.account_id]) == accounts
    assert all("out of range" in e.message for e in result.errors if e.account_id)
    tally("evaluation: dates past 9999 (records)", accounts)


def test_an_absurd_override_is_a_policy_error_naming_it() -> None:
    policy = load_policy(HOSTILE / "evaluate-overflow.yaml", root=HOSTILE)
    out = run_limited(policy.evaluate, facts_from_json(OVERFLOW_FACTS), as_of="2026-11-21",
                      params={"unclaimed_period": "99999999999 years"})
    require_no_crash(out, "evaluate")
    assert isinstance(out.error, PolicyError)
    assert "is too long" in out.error.diagnostics[0].message


@pytest.mark.parametrize("which", ["constant-folding", "baseline-9000-years"])
def test_columnar_evaluation_overflow_sends_records_to_errors(which: str,
                                                              tmp_path: Path) -> None:
    from evaluator.columnar import read_table

    if which == "constant-folding":  # last_day + 1 day, folded at compile time
        policy = load_policy(HOSTILE / "evaluate-overflow.yaml", root=HOSTILE)
        (tmp_path / "t.csv").write_text(OVERFLOW_CSV, encoding="utf-8")
        table, params = read_table(tmp_path / "t.csv", None), None
    else:
        policy = load_policy(BASELINE)
        table = read_table(ROOT / "examples" / "members.csv", ROOT / "examples" / "fx.csv")
        params = {"unclaimed_period": "9000 years"}
    out = run_limited(policy.evaluate, table, as_of="2026-11-21", params=params)
    require_no_crash(out, "evaluate")
    assert out.value.errors
    tally("evaluation: dates past 9999 (records)", len(out.value.errors))


# --------------------------------------------------------------------------- fuzzing


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-fuzz")


def check_fuzzed(path: Path) -> list[Diagnostic]:
    """``check_policy`` of a fuzzed file: diagnostics or nothing, in time, no traceback."""
    out = run_limited(check_policy, path, root=path.parent)
    require_no_crash(out, "check_policy")
    diags: list[Diagnostic] = out.value
    assert_well_formed(diags)
    return diags


# -- (1) generated sentences

_NAMES = ("opened", "balance", "currency", "kind", "events", "member", "account", "accounts",
          "as_of", "claims", "e", "x", "date", "type", "amount", "mark", "unclaimed_period",
          "last_day", "windows", "marks", "helper", "fuzzed", "nope", "_", "A1")
_UNITS = ("year", "years", "month", "months", "week", "weeks", "day", "days")
_OPERATORS = ("+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "and",
              "or", "??")
#: text YAML can hold raw (no surrogates, controls or non-characters)
_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc", "Cn"),
                              exclude_characters="\"\\'"),
                max_size=10)

names = st.one_of(st.sampled_from(_NAMES),
                  st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True))
literals = st.one_of(
    st.dates().map(dt.date.isoformat),
    st.builds("{:04d}-{:02d}-{:02d}".format, st.integers(0, 9999), st.integers(0, 99),
              st.integers(0, 99)),                                        # impossible dates
    st.builds("{}-{}-{}".format, st.integers(0, 9999), st.integers(0, 12), st.integers(0, 40)),
    st.builds("{} {}".format, st.one_of(st.integers(0, 200), st.integers(0, 10**12),
                                        st.sampled_from([100_000, 100_001])),
              st.sampled_from(_UNITS)),                                   # durations
    st.builds("{} {}".format, st.integers(0, 40), st.sampled_from(MONTHS)),  # 15 Oct
    st.builds("{}.{}%".format, st.integers(0, 200), st.integers(0, 9999)),
    st.builds("{}%".format, st.integers(0, 200)),
    st.builds("{}.{}".format, st.integers(0, 10**20), st.integers(0, 10**6)),
    st.integers(0, 10**40).map(str),
    _TEXT.map('"{}"'.format), _TEXT.map("'{}'".format),
    st.sampled_from(['"a\\nb"', '"q\\"q"', "'it\\'s'", '"\\\\"', '""']),
    st.sampled_from(["true", "false", "null"]),
)


def _compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    operand = st.one_of(inner, inner.map("({})".format))
    arguments = st.lists(inner, max_size=4).map(", ".join)
    comprehension = st.builds(
        lambda elem, var, items, cond: f"{elem} for {var} in {items}"
        + (f" if {cond}" if cond is not None else ""),
        inner, names, operand, st.none() | inner)
    fields = st.lists(st.tuples(names, inner), max_size=4).map(
        lambda fs: "{" + ", ".join(f"{k}: {v}" for k, v in fs) + "}")
    return st.one_of(
        st.builds("{} {} {}".format, operand, st.sampled_from(_OPERATORS), operand),
        st.builds("{}{}".format, st.sampled_from(["-", "- ", "not "]), operand),
        st.builds("if {} then {} else {}".format, inner, inner, inner),
        st.builds("{}.{}".format, operand, names),
        st.builds("{}({})".format, st.sampled_from(sorted(BUILTINS)) | names,
                  arguments | comprehension),
        arguments.map("[{}]".format), comprehension.map("[{}]".format),
        fields, inner.map("({})".format))


SENTENCES = st.recursive(st.one_of(literals, names), _compound, max_leaves=40)
_ENTITIES = ("account", "member", "claim", "portfolio", "global")
_DECLARED = (None, "Date", "Date?", "Bool", "Int", "Number", "Money", "Text", "Duration",
             "MonthDay", "List[Date]", "Datum")


_FUZZ_PARAMETERS = (
    "parameters:\n"
    '  unclaimed_period: {type: duration, value: 10 years, provision: "Act 147(1)"}\n'
    '  last_day: {type: date, value: 9999-12-31, provision: "Act 147(1)"}\n'
    '  marks: {type: list, of: duration, value: [2 years, 5 years], provision: "Act 147(1)"}\n'
    "  windows:\n    type: table\n    columns: {opens: month_day, closes: month_day}\n"
    '    value: [{opens: 15 Oct, closes: 15 Dec}]\n    provision: "Act 147(1)"\n')


def _definition(name: str, entity: str, formula: str, declared: str | None = None) -> str:
    return (f'  {name}:\n    entity: {entity}\n    provision: "Act 147(1)"\n'
            + (f"    type: {declared}\n" if declared else "")
            + f"    formula: {json.dumps(formula, ensure_ascii=False)}\n")


def fuzz_policy(formula: str, entity: str, declared: str | None) -> str:
    """A minimal valid policy whose definition `fuzzed` (of ``entity``) has ``formula``;
    a member or global definition is written out through an account definition."""
    defs = [_definition("helper", "account", "opened + unclaimed_period"),
            _definition("fuzzed", entity, formula, declared)]
    outputs = {"account": ["helper"]}
    if entity in ("claim", "portfolio", "account"):
        outputs.setdefault(entity, []).append("fuzzed")
    else:
        defs.append(_definition("via", "account", "fuzzed"))
        outputs["account"].append("via")
    return (HEADER + PROVISIONS + _FUZZ_PARAMETERS + "definitions:\n" + "".join(defs)
            + "outputs:\n" + "".join(f"  {e}: [{', '.join(ns)}]\n" for e, ns in outputs.items()))


@FUZZ
@given(formula=SENTENCES, entity=st.sampled_from(_ENTITIES),
       declared=st.sampled_from(_DECLARED))
def test_fuzz_generated_sentences(fuzz_dir: Path, formula: str, entity: str,
                                  declared: str | None) -> None:
    path = fuzz_dir / "sentences" / "policy.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(fuzz_policy(formula, entity, declared), encoding="utf-8")
    diags = check_fuzzed(path)
    if not any(d.is_error for d in diags):  # it type-checks: evaluating it must not crash
        policy = load_policy(path, root=path.parent)
        facts = facts_from_json(SMALL_FACTS)
        out = run_limited(policy.evaluate, facts, as_of="2026-11-21")
        require_no_crash(out, f"evaluate {formula!r}")
        assert len(out.value.accounts) + len([e for e in out.value.errors if e.account_id]) \
            == 1
    tally("fuzz: generated formulas")


# -- (2) mutations of the baseline's formulas

@dataclass(frozen=True)
class FormulaSite:
    start: int  # offset of the scalar in the file
    end: int
    indent: int  # column of the `formula:` key
    value: str


def _formula_sites(text: str) -> list[FormulaSite]:
    sites: list[FormulaSite] = []

    def walk(node: yaml.Node) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if (isinstance(k, yaml.ScalarNode) and k.value == "formula"
                        and isinstance(v, yaml.ScalarNode)):
                    end = v.end_mark.index
                    while end > v.start_mark.index and text[end - 1] in " \t\r\n":
                        end -= 1
                    sites.append(FormulaSite(v.start_mark.index, end, k.start_mark.column,
                                             v.value))
                else:
                    walk(v)
        elif isinstance(node, yaml.SequenceNode):
            for v in node.value:
                walk(v)

    walk(yaml.compose(text, Loader=yaml.SafeLoader))
    return sorted(sites, key=lambda s: s.start)


BASELINE_TEXT = (BASELINE / "policy.yaml").read_text(encoding="utf-8")


def _with_the_base(root: Path) -> None:
    """deposits-base under ``root``, the policies root of a fuzzed copy of the baseline
    (which extends it)."""
    if not (root / "deposits-base").is_dir():
        shutil.copytree(BASELINE.parent / "deposits-base", root / "deposits-base")
SITES = _formula_sites(BASELINE_TEXT)
_TOKEN = re.compile(r"\s+|[A-Za-z_][A-Za-z0-9_]*|\d{4}-\d{2}-\d{2}|\d+(?:\.\d+)?%?"
                    r"|\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|==|!=|<=|>=|\?\?|.", re.S)
_PALETTE = ("()[]{}.,:;\"'+-*/<>=!?%#@$&|\\`~^ \t\n0123456789aeixyzAZ_"
            "é日\u00a0\u200b\u0085\u2028\x00\U0001f600")
_VOCABULARY = ("if", "then", "else", "and", "or", "not", "in", "for", "null", "true", "false",
               "(", ")", "[", "]", "{", "}", ",", ":", ".", "+", "-", "*", "/", "==", "<", ">=",
               "??", "2024-02-29", "2026-02-30", "10 years", "99999999999 years", "15 Oct",
               "31 Feb", "2.5%", "1.3850", "0", '"text"', "opened", "as_of", "events", "e",
               "latest", "count", "window_for", "fx_rate", "format", "fail", "member", "x.y")
_MUTATIONS = ("delete-char", "insert-char", "duplicate", "swap-chars", "delete-token",
              "insert-token", "duplicate-token", "swap-tokens", "replace-token")


def mutate(text: str, kind: str, where: float, what: str) -> str:
    """One mutation of ``text`` at the relative position ``where``."""
    if kind in ("delete-char", "insert-char", "duplicate", "swap-chars"):
        i = int(where * (len(text) + 1))
        if kind == "delete-char":
            return text[:i] + text[i + 1:]
        if kind == "insert-char":
            return text[:i] + what[:1] + text[i:]
        if kind == "duplicate":
            return text[:i] + text[i:i + 1 + len(what)] + text[i:]
        return text[:i] + text[i + 1:i + 2] + text[i:i + 1] + text[i + 2:]
    tokens = _TOKEN.findall(text)
    i = int(where * len(tokens)) if tokens else 0
    if kind == "insert-token" or not tokens:
        tokens.insert(i, f" {what} ")
    elif kind == "delete-token":
        del tokens[i]
    elif kind == "duplicate-token":
        tokens.insert(i, tokens[i])
    elif kind == "swap-tokens" and i + 1 < len(tokens):
        tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
    elif kind == "replace-token":
        tokens[i] = what
    return "".join(tokens)


def as_yaml_scalar(value: str, style: str, indent: int) -> str:
    """``value`` written as a YAML scalar in ``style`` (double-quoted where the style
    cannot hold it)."""
    printable = all(ch.isprintable() or ch in "\n\t" for ch in value) and value.strip()
    if style == "literal" and printable and not value.endswith((" ", "\t", "\n")):
        pad = " " * (indent + 2)
        return "|2-\n" + "\n".join(pad + line if line else "" for line in value.split("\n"))
    if style == "single" and printable and "\n" not in value:
        return "'" + value.replace("'", "''") + "'"
    return json.dumps(value, ensure_ascii=False)


def with_formulas(text: str, replaced: dict[int, str], style: str) -> str:
    """``text`` with the formulas of the given sites (by index) replaced."""
    for i in sorted(replaced, reverse=True):
        site = SITES[i]
        text = text[:site.start] + as_yaml_scalar(replaced[i], style, site.indent) \
            + text[site.end:]
    return text


@pytest.mark.parametrize("style", ["double", "single", "literal"])
def test_the_mutation_harness_keeps_an_unmutated_baseline_clean(style: str,
                                                                tmp_path: Path) -> None:
    # 42 formulas of the baseline's own (the activity clock, marks and conversion are
    # deposits-base's, which it extends)
    assert len(SITES) >= 40
    _with_the_base(tmp_path)
    path = tmp_path / "policy.yaml"
    path.write_text(with_formulas(BASELINE_TEXT, {i: s.value for i, s in enumerate(SITES)},
                                  style), encoding="utf-8")
    assert [d for d in check_fuzzed(path) if d.is_error] == []


mutations = st.lists(st.tuples(st.sampled_from(_MUTATIONS), st.floats(0, 1, exclude_max=True),
                               st.one_of(st.sampled_from(_PALETTE), st.sampled_from(_VOCABULARY))),
                     min_size=1, max_size=4)


@FUZZ
@given(site=st.integers(0, len(SITES) - 1), steps=mutations,
       style=st.sampled_from(["double", "single", "literal"]))
def test_fuzz_mutated_baseline_formulas(fuzz_dir: Path, site: int,
                                        steps: list[tuple[str, float, str]],
                                        style: str) -> None:
    formula = SITES[site].value
    for kind, where, what in steps:
        formula = mutate(formula, kind, where, what)
    path = fuzz_dir / "mutations" / "policy.yaml"
    path.parent.mkdir(exist_ok=True)
    _with_the_base(path.parent)
    path.write_text(with_formulas(BASELINE_TEXT, {site: formula}, style), encoding="utf-8")
    check_fuzzed(path)
    tally("fuzz: mutated baseline formulas")


# -- (3) random bytes

_HEADER_BYTES = HEADER.encode()


@FUZZ
@given(data=st.one_of(st.binary(max_size=4096), st.binary(max_size=2048).map(
    lambda b: _HEADER_BYTES + b)))
def test_fuzz_random_bytes_as_a_policy_file(fuzz_dir: Path, data: bytes) -> None:
    path = fuzz_dir / "bytes" / "policy.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    check_fuzzed(path)
    tally("fuzz: random bytes as a policy file")

