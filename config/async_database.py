"""PostgreSQL connections for code that runs on the event loop (the lean route's booking call),
apart from Django's pool, which serves threads.

Kept per process and per event loop, at most `size` at once; a caller waits on the loop for
one. Each connects as Django's default database does (its name, user, host, port and
options), in autocommit with the session time zone UTC, so a single statement commits by
itself as Django's connections do outside a transaction, and, unlike Django's, prepares the
statements it repeats (LEAN_PREPARED_STATEMENTS). A connection left in a transaction or broken
by an error is closed rather than handed out again.

With SQL_COUNT_DIR set (bench/booking.py) their statements are counted with Django's.
"""

import asyncio
import os
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection
from psycopg.pq import TransactionStatus

from config import sql_count

_holders: "weakref.WeakSet[AsyncConnections]" = weakref.WeakSet()
# psycopg's own default: a statement run this many times on a connection is prepared for its
# next runs (a one-off never is). The search for a drive's candidates took 0.67 ms a round
# trip unprepared and 0.20 ms prepared (PostgreSQL keeps a generic plan for it).
PREPARE_THRESHOLD = 5


class _CountedCursor(psycopg.AsyncCursor[Any]):
    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        sql_count.note_statement()
        return await super().execute(*args, **kwargs)


class AsyncConnections:
    """Up to `size` async connections to the default database, reused on one event loop."""

    def __init__(self, size: int) -> None:
        self.size = max(size, 1)
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._free: asyncio.Semaphore | None = None
        self.waiting = 0  # callers waiting for a connection
        _holders.add(self)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new loop (tests run one per request): start afresh
            self.close()
            self._loop, self._free = loop, asyncio.Semaphore(self.size)
        free = self._free
        assert free is not None
        self.waiting += 1
        try:
            await free.acquire()
        finally:
            self.waiting -= 1
        try:
            conn = await self._take()
            try:
                yield conn
            finally:
                self._give_back(conn)
        finally:
            free.release()

    async def _take(self) -> psycopg.AsyncConnection[Any]:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        conn = await psycopg.AsyncConnection.connect(**_parameters())
        return conn

    def _give_back(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
            _finish(conn)
            return
        self._idle.append(conn)

    def close(self) -> None:
        """Close the idle connections (from any thread or loop: closing sends no query)."""
        while self._idle:
            _finish(self._idle.pop())


def _parameters() -> dict[str, Any]:
    params = connection.get_connection_params()
    for sync_only in ("cursor_factory", "context", "pool"):
        params.pop(sync_only, None)
    # Options given in the settings, else libpq's PGOPTIONS, which any options passed here
    # would otherwise override unseen (Django's own connections pass none and so honour it:
    # auto_explain for a bench, say).
    options = str(params.pop("options", "") or os.environ.get("PGOPTIONS", ""))
    params["options"] = f"{options} -c TimeZone=UTC".strip()
    params["autocommit"] = True
    # Django's connections never prepare (prepare_threshold None). These run a handful of
    # statements over and over (the patient, the candidates, the booking function): each is
    # prepared once it has run PREPARE_THRESHOLD times on a connection, then only bound and run.
    params["prepare_threshold"] = PREPARE_THRESHOLD if settings.LEAN_PREPARED_STATEMENTS else None
    if sql_count.counting():
        params["cursor_factory"] = _CountedCursor
    return params


def _finish(conn: psycopg.AsyncConnection[Any]) -> None:
    if not conn.closed:
        conn.pgconn.finish()


def close_all() -> None:
    """Close every holder's idle connections (tests, before the database is flushed)."""
    for holder in list(_holders):
        holder.close()
