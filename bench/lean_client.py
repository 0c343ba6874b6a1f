"""A lean HTTP/1.1 client for the benches' load: keep-alive connections to one server, each
an asyncio protocol whose answers are parsed by httptools (the parser uvicorn uses).

The benches' load runs on the same cores as the system it measures, so its own cost is taken
from the system's: aiohttp spent 0.4-0.5 ms of CPU on each request and answer here, a quarter
of the machine in a flash drive. This client speaks plain HTTP/1.1 over the same sockets (the
request line, headers, a body with Content-Length; answers with Content-Length or chunked) and
does nothing else: no cookies jar, redirects, compression or proxies.
"""

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import httptools


@dataclass(slots=True)
class Answer:
    """One answer: its status, its headers (names in lower case) and its body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        return self.body.decode()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer given to `waiter`."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Answer] | None = None
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.usable = True

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's own class under uvloop

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(ConnectionError(f"unreadable answer: {error}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self._fail(ConnectionError("the server closed the connection"))

    # httptools callbacks

    def on_message_begin(self) -> None:
        self.headers = {}
        self.body = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if not self.parser.should_keep_alive():
            self.usable = False
        answer = Answer(self.parser.get_status_code(), self.headers, b"".join(self.body))
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    # for LeanClient

    def send(self, request: bytes) -> "asyncio.Future[Answer]":
        assert self.transport is not None
        assert self.waiter is None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter

    def _fail(self, error: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def close(self) -> None:
        self.usable = False
        if self.transport is not None:
            self.transport.abort()


class LeanClient:
    """Requests to one server over at most `limit` keep-alive connections; a request finding
    them all busy waits for one. Errors are raised as ConnectionError (or TimeoutError after
    `timeout` seconds), as a phone would see them."""

    def __init__(self, host: str, port: int, *, limit: int, timeout: float = 120.0) -> None:
        self.host, self.port, self.limit, self.timeout = host, port, limit, timeout
        self.idle: list[_Connection] = []
        self.waiting: deque[asyncio.Future[_Connection | None]] = deque()
        self.opened = 0

    @classmethod
    def at(cls, base: str, *, limit: int) -> "LeanClient":
        """A client of the server at `base` (http://host:port)."""
        address = urlsplit(base)
        if address.hostname is None or address.port is None:
            raise ValueError(f"not http://host:port: {base}")
        return cls(address.hostname, address.port, limit=limit)

    async def post(self, path: str, *, headers: dict[str, str], body: bytes) -> Answer:
        return await self._send("POST", path, headers=headers, body=body)

    async def get(self, path: str, *, headers: dict[str, str] | None = None) -> Answer:
        """GET `path` (with its query string, already encoded)."""
        return await self._send("GET", path, headers=headers or {}, body=None)

    async def _send(
        self, method: str, path: str, *, headers: dict[str, str], body: bytes | None
    ) -> Answer:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        length = "" if body is None else f"Content-Length: {len(body)}\r\n"
        request = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{length}{head}\r\n"
        ).encode("latin-1") + (body or b"")
        async with asyncio.timeout(self.timeout):
            connection = await self._take()
            try:
                return await connection.send(request)
            except BaseException:
                connection.close()
                raise
            finally:
                self._give_back(connection)

    async def open_all(self) -> None:
        """Open `limit` connections now and keep them idle, so that the first requests do not
        wait for new connections to be accepted."""
        opened = await asyncio.gather(*(self._take() for _ in range(self.limit - self.opened)))
        for connection in opened:
            self._give_back(connection)

    async def _take(self) -> _Connection:
        while self.idle:
            connection = self.idle.pop()
            if connection.usable:
                return connection
            self.opened -= 1
        if self.opened >= self.limit:
            turn: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
            self.waiting.append(turn)
            try:
                handed = await turn
            except asyncio.CancelledError:
                # Timed out just as a connection was handed over: it goes to the next.
                if turn.done() and not turn.cancelled() and turn.result() is not None:
                    self._give_back(turn.result())  # type: ignore[arg-type]
                raise
            if handed is not None:
                return handed
        self.opened += 1
        try:
            _, connection = await asyncio.get_running_loop().create_connection(
                _Connection, self.host, self.port
            )
        except BaseException:
            self.opened -= 1
            self._wake(None)
            raise
        return connection

    def _give_back(self, connection: _Connection) -> None:
        if not connection.usable:
            self.opened -= 1
            connection.close()
            self._wake(None)  # the next in wait opens a connection of its own
            return
        if not self._wake(connection):
            self.idle.append(connection)

    def _wake(self, connection: _Connection | None) -> bool:
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():  # not timed out meanwhile
                turn.set_result(connection)
                return True
        return False

    async def close(self) -> None:
        for connection in self.idle:
            connection.close()
        self.idle.clear()

    async def __aenter__(self) -> "LeanClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
