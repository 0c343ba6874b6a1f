"""The benches' lean HTTP client, against a small HTTP/1.1 server of the test's own on
loopback: the answers as sent, keep-alive, its limit on connections, and what a phone would
see when the server drops a connection or never answers."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bench.lean_client import LeanClient

Handler = Callable[[str, bytes, asyncio.StreamWriter], Awaitable[bool]]


class Server:
    """Reads each request (its head and a Content-Length body) and lets `handler` answer;
    the handler says whether to keep the connection open. Counts connections, and the most
    open at once."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests: list[tuple[str, bytes]] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                lines = head.decode("latin-1").split("\r\n")
                headers = dict(line.split(": ", 1) for line in lines[1:] if line)
                body = await reader.readexactly(int(headers.get("Content-Length", "0")))
                self.requests.append((lines[0], body))
                if not await self.handler(lines[0], body, writer):
                    return
        finally:
            self.open -= 1
            writer.close()


def run(
    handler: Handler, client_work: Callable[[LeanClient, Server], Awaitable[Any]], **options: Any
) -> Any:
    async def main() -> Any:
        server = Server(handler)
        listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
        port = listening.sockets[0].getsockname()[1]
        try:
            async with LeanClient("127.0.0.1", port, **{"limit": 10, **options}) as client:
                return await client_work(client, server)
        finally:
            listening.close()
            await listening.wait_closed()

    return asyncio.run(main())


def answer(status: str, body: bytes, *, extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def echo(request_line: str, body: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(answer("201 Created", b'{"got": ' + body + b"}", extra="Retry-After: 7\r\n"))
    await writer.drain()
    return True


def test_an_answer_comes_back_as_sent_and_the_connection_is_kept_for_the_next() -> None:
    async def work(client: LeanClient, server: Server) -> list[Any]:
        answers = []
        for n in range(3):
            sent = await client.post("/api/v1/x", headers={"X-N": str(n)}, body=b'{"n": %d}' % n)
            answers.append((sent.status, sent.headers["retry-after"], sent.text()))
        return [answers, server.connections, server.requests]

    answers, connections, requests = run(echo, work)

    assert answers == [(201, "7", f'{{"got": {{"n": {n}}}}}') for n in range(3)]
    assert connections == 1
    assert [line for line, _ in requests] == ["POST /api/v1/x HTTP/1.1"] * 3


def test_a_get_sends_no_body_and_shares_the_connection_with_posts() -> None:
    async def work(client: LeanClient, server: Server) -> list[Any]:
        got = await client.get("/api/v1/slots?district=1001", headers={"Accept-Language": "th"})
        posted = await client.post("/api/v1/x", headers={}, body=b"2")
        return [got.status, got.text(), posted.text(), server.connections, server.requests]

    status, text, posted, connections, requests = run(echo, work)

    assert (status, text, posted, connections) == (201, '{"got": }', '{"got": 2}', 1)
    assert requests == [
        ("GET /api/v1/slots?district=1001 HTTP/1.1", b""),
        ("POST /api/v1/x HTTP/1.1", b"2"),
    ]


def test_a_chunked_answer_is_read_whole() -> None:
    async def chunked(request_line: str, body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n'
        )
        await writer.drain()
        return True

    async def work(client: LeanClient, server: Server) -> list[Any]:
        first = await client.post("/", headers={}, body=b"")
        second = await client.post("/", headers={}, body=b"")
        return [first.status, first.text(), second.text(), server.connections]

    assert run(chunked, work) == [409, '{"a": 1}', '{"a": 1}', 1]


def test_no_more_connections_are_opened_than_the_limit_and_every_request_is_answered() -> None:
    async def slow_echo(request_line: str, body: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.01)
        return await echo(request_line, body, writer)

    async def work(client: LeanClient, server: Server) -> list[Any]:
        answers = await asyncio.gather(
            *(client.post("/", headers={}, body=b"%d" % n) for n in range(40))
        )
        return [sorted(a.text() for a in answers), server.most_open, server.connections]

    texts, most_open, connections = run(slow_echo, work, limit=3)

    assert texts == sorted(f'{{"got": {n}}}' for n in range(40))
    assert most_open <= 3
    assert connections == 3


def test_connections_opened_first_are_kept_for_the_requests() -> None:
    """bench/surge.py --open-connections: the limit's connections opened before anything is
    sent (as a reverse proxy keeps them), and a request then takes one of them."""

    async def work(client: LeanClient, server: Server) -> list[Any]:
        await client.open_all()
        idle = len(client.idle)
        sent = await client.post("/", headers={}, body=b"1")
        return [idle, sent.status, server.connections, len(client.idle)]

    assert run(echo, work, limit=4) == [4, 201, 4, 4]


def test_a_connection_the_server_closes_after_answering_is_not_used_again() -> None:
    async def close_after(request_line: str, body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(answer("200 OK", b"done", extra="Connection: close\r\n"))
        await writer.drain()
        return False

    async def work(client: LeanClient, server: Server) -> list[Any]:
        answers = [(await client.post("/", headers={}, body=b"")).text() for _ in range(3)]
        return [answers, server.connections]

    assert run(close_after, work, limit=1) == [["done"] * 3, 3]


def test_a_dropped_connection_is_a_connection_error_and_the_next_request_goes_through() -> None:
    async def drop_first(request_line: str, body: bytes, writer: asyncio.StreamWriter) -> bool:
        if body == b"drop":
            return False  # closed with no answer
        return await echo(request_line, body, writer)

    async def work(client: LeanClient, server: Server) -> list[Any]:
        with pytest.raises(ConnectionError):
            await client.post("/", headers={}, body=b"drop")
        after = await client.post("/", headers={}, body=b"1")
        return [after.text(), server.connections]

    assert run(drop_first, work, limit=1, timeout=5) == ['{"got": 1}', 2]


def test_a_server_that_never_answers_is_a_timeout_and_frees_the_connection() -> None:
    async def silent(request_line: str, body: bytes, writer: asyncio.StreamWriter) -> bool:
        if body == b"wait":
            await asyncio.sleep(30)
        return await echo(request_line, body, writer)

    async def work(client: LeanClient, server: Server) -> list[Any]:
        with pytest.raises(TimeoutError):
            await client.post("/", headers={}, body=b"wait")
        after = await client.post("/", headers={}, body=b"2")
        return [after.text(), server.connections]

    assert run(silent, work, limit=1, timeout=0.5) == ['{"got": 2}', 2]


def test_a_client_is_made_for_a_servers_address() -> None:
    client = LeanClient.at("http://127.0.0.1:8123", limit=3)

    assert (client.host, client.port, client.limit) == ("127.0.0.1", 8123, 3)
    with pytest.raises(ValueError, match="not http://host:port"):
        LeanClient.at("http://127.0.0.1", limit=3)
