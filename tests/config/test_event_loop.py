"""The web processes' event loop (config/event_loop.py): uvloop's, accepting the connections
waiting on a listening socket in batches rather than one a turn of the loop."""

import asyncio
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from uvicorn.importer import import_from_string

from config.event_loop import ACCEPT_BATCH, UVICORN_LOOP, BatchAcceptingServer, new_event_loop

WAITING = 3 * ACCEPT_BATCH  # connections made before the loop looks at the socket


class Counting(asyncio.Protocol):
    """Counts its connections, and echoes what it is sent."""

    made = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        Counting.made += 1
        self.transport: Any = transport  # uvloop's, not an asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    Counting.made = 0
    loop = new_event_loop()
    yield loop
    loop.close()


def _listening_socket() -> socket.socket:
    """Bound but not listening, as uvicorn's parent process hands it to its workers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def _connect(port: int, count: int) -> list[socket.socket]:
    """`count` connections, each complete (in the kernel's queue) once this returns."""
    return [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(count)]


def _assert_waiting_ones_accepted(
    loop: asyncio.AbstractEventLoop, server: asyncio.AbstractServer, port: int
) -> None:
    """WAITING connections made before the loop looks are all served within a few turns of
    it (counted, not timed); then the server is closed."""
    clients = _connect(port, WAITING)
    try:
        for _ in range(8):
            loop.run_until_complete(asyncio.sleep(0))
        assert Counting.made == WAITING
    finally:
        for client in clients:
            client.close()
        server.close()
        loop.run_until_complete(server.wait_closed())


def test_connections_waiting_are_accepted_in_a_few_turns_of_the_loop(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # uvloop's own server accepts one connection a turn: a loop busy with requests turns about
    # 50 times a second, and new connections waited seconds in the kernel's queue.
    sock = _listening_socket()
    server = loop.run_until_complete(loop.create_server(Counting, sock=sock, backlog=WAITING))
    _assert_waiting_ones_accepted(loop, server, sock.getsockname()[1])


def test_a_connection_accepted_is_served_by_the_protocol(loop: asyncio.AbstractEventLoop) -> None:
    sock = _listening_socket()
    server = loop.run_until_complete(loop.create_server(Counting, sock=sock))
    assert isinstance(server, BatchAcceptingServer)
    assert server.sockets == (sock,)
    assert server.is_serving()

    async def echo() -> bytes:
        reader, writer = await asyncio.open_connection(*sock.getsockname())
        writer.write(b"sawasdee")
        answer = await reader.readexactly(8)
        writer.close()
        return answer

    try:
        assert loop.run_until_complete(echo()) == b"sawasdee"
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())


def test_a_host_and_port_are_served_the_same_way(loop: asyncio.AbstractEventLoop) -> None:
    # The Procfile's single web process: uvicorn asks for a host and a port.
    server = loop.run_until_complete(loop.create_server(Counting, host="127.0.0.1", port=0))
    assert isinstance(server, BatchAcceptingServer)
    _assert_waiting_ones_accepted(loop, server, server.sockets[0].getsockname()[1])


def test_a_host_name_is_left_to_uvloops_own_server(loop: asyncio.AbstractEventLoop) -> None:
    # A name may stand for several addresses (localhost: 127.0.0.1 and ::1), which uvloop binds.
    server = loop.run_until_complete(loop.create_server(Counting, host="localhost", port=0))
    try:
        assert not isinstance(server, BatchAcceptingServer)
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())


def test_a_closed_server_accepts_nothing_more(loop: asyncio.AbstractEventLoop) -> None:
    sock = _listening_socket()
    server = loop.run_until_complete(loop.create_server(Counting, sock=sock))
    port = sock.getsockname()[1]
    server.close()
    loop.run_until_complete(asyncio.wait_for(server.wait_closed(), timeout=30))
    assert not server.is_serving()
    assert server.sockets == ()
    with pytest.raises(ConnectionRefusedError):
        _connect(port, 1)


def test_tls_is_left_to_uvloops_own_server(loop: asyncio.AbstractEventLoop) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server = loop.run_until_complete(
        loop.create_server(Counting, host="127.0.0.1", port=0, ssl=context)
    )
    try:
        assert not isinstance(server, BatchAcceptingServer)
        assert server.sockets
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())


def test_a_connection_its_protocol_cannot_serve_is_closed_and_the_next_served(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    def first_fails() -> asyncio.Protocol:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("no protocol for this one")
        return Counting()

    sock = _listening_socket()
    server = loop.run_until_complete(loop.create_server(first_fails, sock=sock))
    first, second = _connect(sock.getsockname()[1], 2)
    try:
        for _ in range(8):
            loop.run_until_complete(asyncio.sleep(0))
        assert Counting.made == 1
        first.settimeout(30)
        assert first.recv(1) == b""  # closed by the server
        assert "could not be served" in caplog.text
    finally:
        first.close()
        second.close()
        server.close()
        loop.run_until_complete(server.wait_closed())


def test_uvicorn_finds_the_loop_by_the_name_the_procfile_gives():
    assert import_from_string(UVICORN_LOOP) is new_event_loop
