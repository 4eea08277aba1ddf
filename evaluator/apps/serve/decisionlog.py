"""The decision log: one JSON line per evaluation the service answered.

Each line is a complete decision record (``unclaimed-decision-record/1``, the format
``evaluate --record`` writes: the policy's files, the facts as the CLI would read them,
the as-of date, the parameters and the results, with their hashes) plus ``logged_at``,
so ``sed -n 5p decisions.jsonl > d.json && unclaimed replay d.json`` re-evaluates the
fifth decision. A line is written with one ``write`` on a file opened ``O_APPEND``, under
a lock: lines of concurrent requests, and of several ``--workers`` processes, never mix.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
from typing import Any


class DecisionLog:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        # opened once; O_APPEND makes every write land at the end, whichever process
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, record: dict[str, Any]) -> None:
        line = {"logged_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"),
                **record}
        data = (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"
                ).encode("utf-8")
        with self._lock:
            view = memoryview(data)
            while view:  # a regular file takes it whole; a short write is finished
                written = os.write(self._fd, view)
                view = view[written:]

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
