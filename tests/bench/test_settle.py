"""The benches' settle (bench/settle.py): only the tables autovacuum would have analyzed by now
are analyzed. A table analyzed while empty would have the web processes' kept plans walk it
whole as a bench fills it."""

from collections.abc import Iterator

import pytest
from django.db import connection

from bench.settle import settle

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

PROBE = "bench_settle_probe"
# As many rows, with a threshold of its own, as booking/0020 gives the tables bookings grow.
WAITING = "bench_settle_waiting"


def _analyzed(table: str) -> bool:
    """Whether the table has statistics: its row count is known (-1 until first analyzed)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples >= 0 FROM pg_class WHERE oid = %s::regclass", [table])
        return bool(cursor.fetchone()[0])


@pytest.fixture
def probe() -> Iterator[None]:
    """Two tables of the server's analysis threshold and one more rows (more than autovacuum
    waits for), one of them told to wait for 1,000, beside the project's tables."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('autovacuum_analyze_threshold')::integer")
        threshold = cursor.fetchone()[0]
        for table in (PROBE, WAITING):
            cursor.execute(f"CREATE TABLE {table} (n integer)")
            cursor.execute(f"INSERT INTO {table} SELECT generate_series(0, %s)", [threshold])
        cursor.execute(f"ALTER TABLE {WAITING} SET (autovacuum_analyze_threshold = 1000)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {PROBE}, {WAITING}")


def test_settle_analyzes_a_table_past_its_threshold_and_leaves_one_short_of_it(probe: None) -> None:
    # The appointments' first analysis waits for 1,000 rows (booking/0020); none are written.
    assert not _analyzed("booking_appointment")
    assert not _analyzed(PROBE)
    assert not _analyzed(WAITING)

    settle()

    assert _analyzed(PROBE)
    assert not _analyzed(WAITING)
    assert not _analyzed("booking_appointment")
