"""The web processes' event loop: uvloop's, accepting new connections in batches.

uvloop (through libuv 1.45 and later) accepts one connection each time the listening socket is
found readable, that is once per turn of the event loop. A busy web process turns its loop some
50 times a second (every ready callback runs between two polls), so it accepted about 50 new
connections a second however many were waiting: in a flash drive answered over new
connections (`bench/surge.py` without `--open-connections`), 1,700 of the first 2,000 arrivals
waited in the kernel's accept queue for up to 16 s, while later requests on connections already
open were answered first, took the places, and the first arrivals were told `drive_full`.

`new_event_loop` gives uvicorn (`--loop config.event_loop:new_event_loop`) uvloop's loop with
one change: a listening socket is read by a reader of its own, which accepts up to
ACCEPT_BATCH waiting connections each time and hands each to uvloop as an accepted socket
(`connect_accepted_socket`), as asyncio's own loop does. Everything else is uvloop's. A batch is
kept small so that web processes sharing one listening socket still share its connections. TLS
is left to uvloop's server (uvicorn sits behind a proxy that ends TLS here)."""

import asyncio
import errno
import ipaddress
import logging
import socket
from collections.abc import Callable
from typing import Any, TypeGuard

import uvloop

logger = logging.getLogger(__name__)

# Connections accepted each time the listening socket is found readable.
ACCEPT_BATCH = 32
# How long accepting pauses when the process is out of file descriptors or memory, as asyncio's
# loop pauses (new connections wait in the kernel's queue meanwhile).
ACCEPT_RETRY_SECONDS = 1.0
# accept() errors that say the process cannot take a connection now, rather than that one
# connection went away before it was accepted.
OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
# What uvicorn's `--loop` is given for it (the Procfile, the benches, the production command).
UVICORN_LOOP = "config.event_loop:new_event_loop"


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop, accepting new connections in batches (uvicorn's `--loop`)."""
    return BatchAcceptingLoop()


class BatchAcceptingLoop(uvloop.Loop):
    """uvloop's loop whose servers accept up to ACCEPT_BATCH connections a turn."""

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: str | None = None,
        port: int | None = None,
        *,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        **options: Any,
    ) -> asyncio.AbstractServer:
        """A server accepting in batches for a listening socket given (uvicorn's workers share
        one) or for one numeric address and port; uvloop's own for anything else (TLS, a host
        name, which may stand for several addresses, options uvicorn does not pass)."""
        plain = ssl is None and not options
        if plain and sock is not None and sock.type == socket.SOCK_STREAM:
            sock.listen(backlog)  # as uvloop's server does (uvicorn's parent only binds)
            return BatchAcceptingServer(self, protocol_factory, sock)
        if plain and sock is None and _is_address(host) and port is not None:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            listening = socket.create_server((host, port), family=family, backlog=backlog)
            return BatchAcceptingServer(self, protocol_factory, listening)
        # uvloop's stubs type each way of calling it apart; this passes on what it was given.
        create: Any = super().create_server
        server: asyncio.AbstractServer = await create(
            protocol_factory, host, port, sock=sock, backlog=backlog, ssl=ssl, **options
        )
        return server


def _is_address(host: object) -> TypeGuard[str]:
    """Whether `host` is one numeric IPv4 or IPv6 address."""
    if not isinstance(host, str):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class BatchAcceptingServer(asyncio.AbstractServer):
    """Accepts the connections waiting on a listening socket, ACCEPT_BATCH at most each time
    it is readable, each served by `protocol_factory`'s protocol on a uvloop transport."""

    def __init__(
        self,
        loop: uvloop.Loop,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        sock: socket.socket,
    ) -> None:
        self._loop = loop
        self._protocol_factory = protocol_factory
        self._socket = sock
        self._closed = asyncio.Event()
        self._connecting: set[asyncio.Task[None]] = set()
        sock.setblocking(False)
        self._serving = False
        self._start_accepting()

    def _start_accepting(self) -> None:
        if not self._serving and not self._closed.is_set():
            self._loop.add_reader(self._socket.fileno(), self._accept)
            self._serving = True

    def _stop_accepting(self) -> None:
        if self._serving:
            self._loop.remove_reader(self._socket.fileno())
            self._serving = False

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                connection, _ = self._socket.accept()
            except (BlockingIOError, InterruptedError):
                return  # none left: the next readiness brings more
            except ConnectionAbortedError:
                continue  # the client gave up before it was accepted
            except OSError as exc:
                if exc.errno not in OUT_OF_RESOURCES:
                    # An error one connection left (EPROTO, a firewall's EPERM...): the
                    # others are still to be accepted, as libuv and asyncio go on.
                    logger.warning("A connection could not be accepted: %s", exc)
                    return
                # Out of descriptors or memory: pause, rather than be woken again at once for
                # the same error, as asyncio's loop does.
                logger.warning("Not accepting connections for %s s: %s", ACCEPT_RETRY_SECONDS, exc)
                self._stop_accepting()
                self._loop.call_later(ACCEPT_RETRY_SECONDS, self._start_accepting)
                return
            self._serve(connection)

    def _serve(self, connection: socket.socket) -> None:
        connection.setblocking(False)  # uvloop's transport sets TCP_NODELAY itself
        task = self._loop.create_task(self._connect(connection))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def _connect(self, connection: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._protocol_factory, connection)
        except Exception:
            # A transport uvloop closed has let go of the socket: closing it again is nothing.
            logger.exception("A connection accepted could not be served")
            connection.close()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return () if self._closed.is_set() else (self._socket,)

    def close(self) -> None:
        """Stop accepting and close the listening socket; connections accepted go on."""
        if self._closed.is_set():
            return
        self._stop_accepting()
        self._socket.close()
        self._closed.set()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        self._start_accepting()

    async def serve_forever(self) -> None:
        self._start_accepting()
        await self._closed.wait()

    async def wait_closed(self) -> None:
        await self._closed.wait()
        await asyncio.gather(*self._connecting, return_exceptions=True)
