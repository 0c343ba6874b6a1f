"""Races with real parallel connections, one per thread, against the configured database."""

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import connection, connections

from clinics.exceptions import DomainError

THREADS = 32


def race(attempts: list[Callable[[], object]]) -> Counter[str]:
    """Start every attempt at once, THREADS at a time, each thread on its own connection;
    count the outcomes by result or domain error code. Any other error fails the test."""
    start = threading.Event()

    def run(attempt: Callable[[], object]) -> str:
        start.wait(timeout=30)
        try:
            attempt()
            return "ok"
        except DomainError as error:
            return error.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [pool.submit(run, attempt) for attempt in attempts]
        start.set()
        return Counter(future.result() for future in futures)


def until_a_lock_is_awaited(thread: threading.Thread, *, table: str = "") -> bool:
    """Poll PostgreSQL's locks (no sleep; a few thousand looks at most) until a transaction
    waits for one (on `table`, when named), or `thread` has ended: whether one waits."""
    sql = "SELECT count(*) FROM pg_locks WHERE NOT granted"
    params: list[str] = []
    if table:
        sql += " AND relation = %s::regclass"
        params.append(table)
    with connection.cursor() as cursor:
        for _ in range(3000):
            cursor.execute(sql, params)
            if cursor.fetchone()[0]:
                return True
            if not thread.is_alive():
                return False
    return False
