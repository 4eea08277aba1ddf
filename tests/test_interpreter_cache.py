"""A definition that failed fails again, with the same error, wherever it is used."""

from __future__ import annotations

import datetime as dt
import traceback

import pytest

from evaluator import load_policy
from evaluator.errors import EvaluationError
from evaluator.interpreter import Inst, Run
from evaluator.model import Member
from tests.support import BASELINE


def test_a_failure_is_cached_and_raised_again_without_growing() -> None:
    policy = load_policy(BASELINE)
    values = {n: s.value for n, s in policy.resolve_params().items()}
    run = Run(policy.program, dt.date(2026, 11, 21), values, {})
    member = Inst("member", Member("M1", (), ()), run, None)
    depths = []
    errors = []
    for _ in range(5):
        with pytest.raises(EvaluationError) as info:
            member.get("inactive_on")  # uses profile_last_activity, which fails
        errors.append(info.value)
        depths.append(len(traceback.extract_tb(info.value.__traceback__)))
    assert "no accounts" in errors[0].message
    assert errors[0].definition == "profile_last_activity"
    # evaluated once: the same error object every time, its traceback not piling up
    assert all(e is errors[0] for e in errors[1:])
    assert depths[1:] == [depths[1]] * 4
    assert "profile_last_activity" not in member.cache
    assert "profile_last_activity" in member.failed
