"""The collector's thresholds are raised only while evaluating, and always restored."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from evaluator import load_policy
from evaluator.facts import load_facts
from evaluator.gcpause import THRESHOLDS, fewer_collections

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _restore_thresholds():
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_raised_inside_restored_after():
    gc.set_threshold(700, 10, 10)
    with fewer_collections():
        assert gc.get_threshold() == THRESHOLDS
    assert gc.get_threshold() == (700, 10, 10)


def test_nested_blocks_restore_once_at_the_outermost():
    gc.set_threshold(500, 5, 5)
    with fewer_collections():
        with fewer_collections():
            assert gc.get_threshold() == THRESHOLDS
        assert gc.get_threshold() == THRESHOLDS
    assert gc.get_threshold() == (500, 5, 5)


def test_restored_after_an_exception():
    gc.set_threshold(700, 10, 10)
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_caller_s_higher_thresholds_and_disabled_levels_are_kept():
    gc.set_threshold(500_000, 0, 20)
    with fewer_collections():
        assert gc.get_threshold() == (500_000, 0, THRESHOLDS[2])
    assert gc.get_threshold() == (500_000, 0, 20)


def test_concurrent_users_restore_when_the_last_leaves():
    gc.set_threshold(700, 10, 10)
    inside = threading.Event()
    leave = threading.Event()

    def other() -> None:
        with fewer_collections():
            inside.set()
            leave.wait(5)

    t = threading.Thread(target=other)
    t.start()
    assert inside.wait(5)
    with fewer_collections():
        pass
    assert gc.get_threshold() == THRESHOLDS  # the other thread is still inside
    leave.set()
    t.join(5)
    assert gc.get_threshold() == (700, 10, 10)


def test_evaluate_and_loading_restore_the_thresholds():
    gc.set_threshold(700, 10, 10)
    facts = load_facts(ROOT / "examples" / "members.json")
    policy = load_policy(ROOT / "policies" / "fsra-2024-001")
    assert gc.get_threshold() == (700, 10, 10)
    result = policy.evaluate(facts, as_of="2026-11-21")
    assert result.accounts
    assert gc.get_threshold() == (700, 10, 10)
