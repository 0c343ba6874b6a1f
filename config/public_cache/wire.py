"""The ASGI side of the answer cache: the types of a connection's messages, and the `receive`
and `send` of a request made here (a background refresh) or answered without its body (HEAD)."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _request_without_body() -> Receive:
    """`receive` for a request made here: its empty body, then nothing until it is over."""
    read = False

    async def receive() -> Message:
        nonlocal read
        if not read:
            read = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the app stops listening once it has answered
        return {"type": "http.disconnect"}

    return receive


async def _nowhere(message: Message) -> None:
    """`send` for a request made here: the answer is only kept."""


def _as_get(scope: Scope) -> Scope:
    """Django answers only GET on these paths: a HEAD is asked of it as a GET."""
    return {**scope, "method": "GET"} if scope["method"] == "HEAD" else scope


def _to_asker(scope: Scope, send: Send) -> Send:
    """The asker's `send`; for a HEAD, one that sends the answer without its body."""
    if scope["method"] != "HEAD":
        return send

    async def without_body(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b""}
        await send(message)

    return without_body
