"""Shared pytest configuration."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz",
        action="store_true",
        default=False,
        help="long fuzzing run: 20,000 examples per hostile-policy property, 3,000 per "
        "broken-facts and backend-differential property (instead of the suite's bounded "
        "numbers)",
    )
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files under tests/golden/ instead of comparing with them",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """Whether golden files are to be rewritten (``pytest --update-golden``)."""
    return bool(request.config.getoption("--update-golden"))


def pytest_configure(config: pytest.Config) -> None:
    """`pytest --fuzz` raises the example counts that the fuzzing tests read."""
    import os
    import tempfile

    # the policy cache of this run (its commands' too) in a folder of its own, never the
    # user's: tests exercise the cache without reading or filling theirs. An xdist worker
    # inherits the controller's environment: when the controller made the folder, each
    # worker makes its own instead (no two processes of a run share one)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if "UNCLAIMED_CACHE_DIR" not in os.environ:
        os.environ["UNCLAIMED_CACHE_DIR"] = tempfile.mkdtemp(prefix="unclaimed-cache-")
        os.environ["UNCLAIMED_TEST_CACHE"] = worker or "controller"
    elif worker and os.environ.get("UNCLAIMED_TEST_CACHE") == "controller":
        os.environ["UNCLAIMED_CACHE_DIR"] = tempfile.mkdtemp(
            prefix=f"unclaimed-cache-{worker}-")
        os.environ["UNCLAIMED_TEST_CACHE"] = worker
    # the commands the tests run as subprocesses load compiled bytecode: when the
    # environment forbids writing it (PYTHONDONTWRITEBYTECODE), each of them compiled the
    # package from source again; it is kept in a folder of the run's own instead, never
    # beside the sources (the workers, started after this, inherit both settings)
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"):
        cache = getattr(config, "cache", None)
        folder = (cache.mkdir("pycache") if cache is not None
                  else tempfile.mkdtemp(prefix="unclaimed-pycache-"))
        del os.environ["PYTHONDONTWRITEBYTECODE"]
        os.environ["PYTHONPYCACHEPREFIX"] = str(folder)
    # polars sizes its thread pool to the machine: in a worker, to the worker's share of
    # it, so that a worker's columnar tests do not take the core of the other's
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if worker and workers and workers.isdigit():
        share = max(1, (os.cpu_count() or 1) // int(workers))
        os.environ.setdefault("POLARS_MAX_THREADS", str(share))
    if config.getoption("--fuzz", default=False):
        os.environ.setdefault("UNCLAIMED_FUZZ_EXAMPLES", "20000")
        os.environ.setdefault("UNCLAIMED_DIFFERENTIAL_EXAMPLES", "3000")
        os.environ.setdefault("UNCLAIMED_FACTS_FUZZ_EXAMPLES", "3000")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files with tests marked slow run first (their tests keep their order): with the suite
    spread over workers a file at a time, a long file met last would leave the other
    workers idle while it ends."""
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands its tallies to the controller, which prints them."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        from tests.support import CORPUS_SPLIT, TALLY

        workeroutput["unclaimed_tally"] = dict(TALLY)
        workeroutput["unclaimed_corpus_split"] = {k: dict(v) for k, v in CORPUS_SPLIT.items()}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """The controller adds up what each xdist worker counted (see pytest_sessionfinish)."""
    from collections import Counter

    from tests.support import CORPUS_SPLIT, TALLY

    output = getattr(node, "workeroutput", {})
    TALLY.update(output.get("unclaimed_tally", {}))
    for name, split in output.get("unclaimed_corpus_split", {}).items():
        CORPUS_SPLIT.setdefault(name, Counter()).update(split)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many hostile and broken inputs of each kind went through their checks (only
    inputs whose every assertion passed are counted); ``UNCLAIMED_TALLY=FILE`` also writes
    the counts to FILE as JSON."""
    import json
    import os

    from tests.support import CORPUS_SPLIT, TALLY

    if CORPUS_SPLIT:
        terminalreporter.write_sep("-", "policy test cases: through both backends (as a "
                                        "snapshot table) / profile-only")
        width = max(len(name) for name in CORPUS_SPLIT)
        for name, split in sorted(CORPUS_SPLIT.items()):
            terminalreporter.write_line(
                f"{name:<{width}}  {split['both backends']:>4} both backends  "
                f"{split['profile-only']:>4} profile-only"
                + (f"  {split['columnar refuses']:>4} refused by columnar"
                   if split["columnar refuses"] else ""))
    if not TALLY:
        return
    terminalreporter.write_sep("-", "hostile and broken inputs checked (none crashed, "
                                    "hung or lost a record)")
    width = max(len(k) for k in TALLY)
    for kind, n in sorted(TALLY.items()):
        terminalreporter.write_line(f"{kind:<{width}}  {n:>9,}")
    terminalreporter.write_line(f"{'total':<{width}}  {sum(TALLY.values()):>9,}")
    target = os.environ.get("UNCLAIMED_TALLY")
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            json.dump(dict(sorted(TALLY.items())), handle, indent=2)
            handle.write("\n")
