"""Shared pytest configuration."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz",
        action="store_true",
        default=False,
        help="long fuzzing run: 20,000 examples per hostile-input property and 3,000 per "
        "backend-differential property (instead of the suite's bounded numbers)",
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

    if config.getoption("--fuzz", default=False):
        os.environ.setdefault("UNCLAIMED_FUZZ_EXAMPLES", "20000")
        os.environ.setdefault("UNCLAIMED_DIFFERENTIAL_EXAMPLES", "3000")
