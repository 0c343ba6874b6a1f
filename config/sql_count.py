"""Counting SQL for the benchmarks, off unless SQL_COUNT_DIR is set (only bench/booking.py sets it).

When on, every database connection of the process counts its statements (savepoints
included) and its transactions; on SIGUSR1 the process writes the totals to
SQL_COUNT_DIR/<pid>.json. A transaction is two more round trips (BEGIN, COMMIT) than its
statements."""

import json
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

# Re-entrant: SIGUSR1's handler runs on the main thread between two bytecodes, perhaps while
# that thread holds the lock in _add; a plain Lock would then wait for itself forever (the
# bench saw a worker never report).
_lock = threading.RLock()
_totals = {"statements": 0, "transactions": 0}


def _add(kind: str, amount: int = 1) -> None:
    with _lock:
        _totals[kind] += amount


def counting() -> bool:
    """Whether this process counts its SQL (connections made outside Django count by hand)."""
    return bool(os.environ.get("SQL_COUNT_DIR"))


def note_statement() -> None:
    """One statement sent on a connection Django does not know (config.async_database)."""
    _add("statements")


def _count_statement(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    _add("statements")
    return execute(sql, params, many, context)


def _count_connection(sender: object, connection: BaseDatabaseWrapper, **_: object) -> None:
    if _count_statement in connection.execute_wrappers:
        return  # the same wrapper connecting again (from the pool): already counted
    connection.execute_wrappers.append(_count_statement)
    commit, rollback = connection._commit, connection._rollback  # type: ignore[attr-defined]

    def counted_commit() -> None:
        _add("transactions")
        commit()

    def counted_rollback() -> None:
        _add("transactions")
        rollback()

    connection._commit = counted_commit  # type: ignore[attr-defined]
    connection._rollback = counted_rollback  # type: ignore[attr-defined]


def _write_totals(signum: int, frame: FrameType | None) -> None:
    with _lock:
        totals = dict(_totals)
    target = Path(os.environ["SQL_COUNT_DIR"]) / f"{os.getpid()}.json"
    target.with_suffix(".tmp").write_text(json.dumps(totals))
    target.with_suffix(".tmp").replace(target)


def install_if_asked() -> None:
    """Count this process's SQL when SQL_COUNT_DIR says where to report it."""
    if not counting():
        return
    connection_created.connect(_count_connection, weak=False)
    signal.signal(signal.SIGUSR1, _write_totals)
    # Until now SIGUSR1 would have ended the process: the bench signals only those ready.
    (Path(os.environ["SQL_COUNT_DIR"]) / f"{os.getpid()}.ready").touch()
