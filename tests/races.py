"""Races with real parallel connections, one per thread, against the configured database."""

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import connections

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
