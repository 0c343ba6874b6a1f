"""Turning excess requests away early, so a surge slows nobody down and never ends in 5xx.

Under ASGI every request runs in a thread of its own and needs a database connection from
the process's pool. Past WEB_MAX_IN_FLIGHT requests at once in a process, more would only
queue for connections until they time out; instead they get 429 with Retry-After at once,
from this wrapper, without any database work. bench/surge.py measures the effect.
"""

import json
from typing import Any

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


class ShedLoad:
    """ASGI middleware: at most `limit` HTTP requests in flight in this process; 0 is no limit."""

    def __init__(self, app: Any, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.limit <= 0:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", b"application/json; charset=utf-8"),
                        (b"retry-after", b"1"),
                        (b"content-length", str(len(BUSY_BODY)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": BUSY_BODY})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
