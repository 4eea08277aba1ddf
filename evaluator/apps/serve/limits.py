"""What one request may cost the service: body size, JSON nesting, facts records, time.

:class:`BodyLimits` is a plain ASGI middleware (no per-request task or copy beyond the
body itself) that answers 413 for a body larger than the limit, whether it says so in
``Content-Length`` or only streams it, and 400 for JSON nested deeper than the limit,
before FastAPI parses anything: a deep document can never reach a recursive parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    #: the largest request body, in bytes
    body_bytes: int = 10 * 1024 * 1024
    #: JSON arrays and objects nest at most this deep in a request body
    depth: int = 64
    #: members plus claims in one request's facts
    records: int = 50_000
    #: accounts in one /v1/compare request's facts
    compare_accounts: int = 2_000
    #: seconds one evaluation may take before the answer is a 503
    seconds: float = 30.0


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in ``body`` (strings skipped); linear, and
    meaningful for malformed JSON too (the parser reports those)."""
    if b"[" not in body and b"{" not in body:
        return 0
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub(b"", body)):
        if m.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def problem_bytes(status: int, title: str, detail: str, instance: str) -> bytes:
    return json.dumps({"type": "about:blank", "title": title, "status": status,
                       "detail": detail, "instance": instance},
                      ensure_ascii=False).encode("utf-8")


class BodyLimits:
    """Reads the whole body of a request with one (bounded), checks its nesting, and
    hands it on to the application."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limits.body_bytes
        path = scope.get("path", "")
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await _drain(receive, True)
                    await _refuse(send, 413, "Request body too large",
                                  f"the body is {declared:,} bytes; the service takes at "
                                  f"most {limit:,}", path)
                    return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _drain(receive, message.get("more_body", False))
                await _refuse(send, 413, "Request body too large",
                              f"the body is larger than {limit:,} bytes, the most the "
                              "service takes", path)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        deepest = json_depth(body)
        if deepest > self.limits.depth:
            await _refuse(send, 400, "JSON nested too deep",
                          f"the body nests arrays and objects {deepest} deep; the service "
                          f"takes at most {self.limits.depth}", path)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


#: a refused body is read (and dropped) up to this many bytes before the answer: closing
#: a connection with unread data resets it, and the client could lose the answer
DRAIN_BYTES = 64 * 1024 * 1024


async def _drain(receive: Receive, more: bool) -> None:
    drained = 0
    while more and drained < DRAIN_BYTES:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        drained += len(message.get("body", b""))
        more = message.get("more_body", False)


async def _refuse(send: Send, status: int, title: str, detail: str, path: str) -> None:
    data = problem_bytes(status, title, detail, path)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(data)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": data})
