"""Turning excess requests away early, so a surge slows nobody down and never ends in 5xx.

Under ASGI every request runs in a thread of its own and needs a database connection from the
process's pool, so a process really works on as many requests at once as it has pooled
connections (WEB_CAPACITY). Up to that many in flight, every request is taken. Beyond it, a
request would wait for a connection; it is taken only while the requests are measured to be
quick (a smoothed average of how long recent ones took to answer, against
WEB_TARGET_LATENCY_MS), and never past WEB_MAX_IN_FLIGHT. The rest get 429 `busy` at once,
without any database work.

A fixed count alone refused everyone once load moved onto fewer processes (after a worker
died, its clients reconnected to the survivor, which then held twice its usual in flight
though it answered as fast as ever). Now the survivor takes them while it keeps up. Every 429
says `Connection: close`, so that a client with a kept-alive connection reconnects, and is
spread again across the processes that are up. bench/surge.py measures the effect.
"""

import json
import math
import os
import time
from collections.abc import Callable
from typing import Any

from booking.interop.cors import is_public, public_headers

BUSY_BODY = json.dumps(
    {
        "code": "busy",
        "message": "ขณะนี้มีผู้ใช้งานจำนวนมาก กรุณาลองใหม่ในอีกสักครู่ "
        "/ We are very busy right now. Please try again in a moment.",
        "field": None,
        "errors": [],
        "detail": {"retry_after": 1},
    },
    ensure_ascii=False,
).encode()

BUSY_HEADERS = [
    (b"content-type", b"application/json; charset=utf-8"),
    (b"retry-after", b"1"),
    (b"connection", b"close"),
    (b"content-length", str(len(BUSY_BODY)).encode()),
]


def thread_capacity() -> int:
    """Threads asgiref runs sync code in when nothing else bounds it (its default executor)."""
    configured = os.environ.get("ASGI_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return min(32, (os.cpu_count() or 1) + 4)


class Shedder:
    """Whether to take one more request, from what is in flight and how long answers take.

    The measured latency is an exponentially weighted average of the time to answer (to the
    response's first byte, so a long download does not count), each new measurement weighing
    `smoothing`; an old average also fades by half every `half_life_seconds` without news, so
    that one slow spell does not keep refusing people once it is over."""

    def __init__(
        self,
        *,
        capacity: int,
        ceiling: int,
        target_seconds: float,
        smoothing: float = 0.2,
        half_life_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.ceiling = ceiling
        self.target_seconds = target_seconds
        self.smoothing = smoothing
        self.half_life_seconds = half_life_seconds
        self.clock = clock
        self.in_flight = 0
        self._average = 0.0
        self._measured_at = clock()

    @property
    def latency(self) -> float:
        """The smoothed time to answer now, in seconds."""
        idle = max(0.0, self.clock() - self._measured_at)
        return self._average * math.pow(0.5, idle / self.half_life_seconds)

    def admits(self) -> bool:
        """Whether one more request may start now."""
        if self.capacity <= 0 or self.in_flight < self.capacity:
            return True  # a pooled connection is free: no wait
        if 0 < self.ceiling <= self.in_flight:
            return False
        return self.latency <= self.target_seconds

    def started(self) -> None:
        self.in_flight += 1

    def answered(self, seconds: float) -> None:
        """A request took this long to answer."""
        self._average = self.latency + self.smoothing * (seconds - self.latency)
        self._measured_at = self.clock()

    def finished(self) -> None:
        self.in_flight -= 1


class ShedLoad:
    """ASGI middleware: HTTP requests the shedder does not admit get 429 `busy` at once."""

    def __init__(self, app: Any, *, shedder: Shedder) -> None:
        self.app = app
        self.shedder = shedder

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        shedder = self.shedder
        if not shedder.admits():
            headers = BUSY_HEADERS
            if is_public(scope.get("path", "")):  # a browser on another site may read it too
                opened = [(n.lower().encode(), v.encode()) for n, v in public_headers()]
                headers = [*BUSY_HEADERS, *opened]
            await send({"type": "http.response.start", "status": 429, "headers": headers})
            await send({"type": "http.response.body", "body": BUSY_BODY})
            return
        began = shedder.clock()

        async def timed_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                shedder.answered(shedder.clock() - began)
            await send(message)

        shedder.started()
        try:
            await self.app(scope, receive, timed_send)
        finally:
            shedder.finished()
