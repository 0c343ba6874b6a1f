"""A request through an ASGI application in this process, as uvicorn would hand it over: for the
lean route's tests (tests/config/test_lean_routes.py), the cache's (tests/config/test_cache.py)
and bench/booking_cpu.py."""

import asyncio
from typing import Any


async def post(
    app: Any,
    path: str,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    method: str = "POST",
    query: str = "",
    client: tuple[str, int] = ("203.0.113.7", 50000),
    server: tuple[str, int] = ("testserver", 80),
) -> tuple[dict[str, Any], bytes]:
    """The answer's start message (status, headers) and its body. The body is given in one
    message; after the answer, the connection reads as closed. A POST unless `method` says
    otherwise."""
    sent: list[dict[str, Any]] = []
    answered = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            answered.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": client,
        "server": server,
    }
    await app(scope, receive, send)
    start = next(message for message in sent if message["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start, content
