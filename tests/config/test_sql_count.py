import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections
from django.db.backends.signals import connection_created

from config import sql_count

pytestmark = pytest.mark.django_db


@pytest.fixture
def counting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SQL_COUNT_DIR", str(tmp_path))
    monkeypatch.setattr(sql_count, "_totals", {"statements": 0, "transactions": 0})
    before = signal.getsignal(signal.SIGUSR1)
    sql_count.install_if_asked()
    yield tmp_path
    connection_created.disconnect(sql_count._count_connection)
    signal.signal(signal.SIGUSR1, before)


def test_sql_is_not_counted_unless_the_bench_asks(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SQL_COUNT_DIR", raising=False)
    before = signal.getsignal(signal.SIGUSR1)

    sql_count.install_if_asked()

    database = connections.create_connection("default")
    try:
        database.connect()
        assert database.execute_wrappers == []
    finally:
        database.close()
    assert signal.getsignal(signal.SIGUSR1) is before


def test_counted_statements_and_transactions_are_written_on_sigusr1(counting: Path):
    database = connections.create_connection("default")
    try:
        database.connect()
        with database.cursor() as cursor:
            cursor.execute("SELECT 1")
        database.set_autocommit(False)
        with database.cursor() as cursor:
            cursor.execute("SELECT 2")
            cursor.execute("SELECT 3")
        database.commit()
        database.set_autocommit(True)
        database.close()
        database.connect()  # from the pool again: still counted once
        with database.cursor() as cursor:
            cursor.execute("SELECT 4")
    finally:
        database.close()

    signal.raise_signal(signal.SIGUSR1)

    written = json.loads(next(counting.glob("*.json")).read_text())
    assert written == {"statements": 4, "transactions": 1}
