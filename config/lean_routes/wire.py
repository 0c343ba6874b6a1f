"""The lean route's side of the ASGI connection: the body read (and replayed to Django), an
answer sent as ASGIHandler sends one, and the 429 `busy` answer."""

from typing import Any

from django.http import HttpResponse

from config.load_shedding import BUSY_BODY, BUSY_HEADERS

# A booking's body is a few dozen bytes; anything much larger is for Django to judge.
MAX_BODY_BYTES = 16 * 1024


def _busy() -> HttpResponse:
    response = HttpResponse(BUSY_BODY, status=429)
    for name, value in BUSY_HEADERS:
        response[name.decode()] = value.decode()
    return response


async def _read_body(receive: Any) -> tuple[bytes, bool, bool]:
    """The body (up to MAX_BODY_BYTES), whether that is all of it, and whether the client
    went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), False, True
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True, False
        if size > MAX_BODY_BYTES:
            return b"".join(chunks), False, False


def _replaying(body: bytes, complete: bool, disconnected: bool, receive: Any) -> Any:
    """`receive` for Django: the part of the body already read, then the rest as it comes."""
    replayed = False

    async def replay() -> dict[str, Any]:
        nonlocal replayed
        if not replayed:
            replayed = True
            if disconnected and not body:
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": body, "more_body": not complete}
        if disconnected:
            return {"type": "http.disconnect"}
        return dict(await receive())

    return replay


async def _send_response(response: HttpResponse, send: Any) -> None:
    """The response as ASGIHandler sends a plain one."""
    headers = [(name.encode("latin1"), value.encode("latin1")) for name, value in response.items()]
    for cookie in response.cookies.values():
        headers.append((b"Set-Cookie", cookie.output(header="").encode("ascii").strip()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})
