"""The Dask tests' spy on the passes of a run made in this process: each pass of tasks
the engine sends the cluster (the task's name, what the partitions returned to the
client, in partition order)."""

from __future__ import annotations

from typing import Any

import pytest


def spied_passes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Any]]]:
    """The list the passes of the runs made from now on (in this test) are added to."""
    import evaluator.apps.distributed_events as engine_events

    passes: list[tuple[str, list[Any]]] = []
    real = engine_events.run_partitions

    def spy(parts: list[Any], task: Any, *rest: Any) -> list[Any]:
        results = real(parts, task, *rest)
        passes.append((task.__name__, list(results)))
        return results

    monkeypatch.setattr(engine_events, "run_partitions", spy)
    return passes
