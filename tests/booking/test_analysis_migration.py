"""The migration that has PostgreSQL first analyze the tables a booking looks rows up in once
1,000 rows have changed (not about 50), so that no plan is made while they are nearly empty
and kept while they grow."""

import importlib

import pytest
from django.apps import apps
from django.db import connection

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db]

migration = importlib.import_module("booking.migrations.0020_analyze_growing_tables_later")


def first_analysis_after() -> dict[str, str | None]:
    """Each of the migration's tables: its own autovacuum_analyze_threshold, if it has one."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, (SELECT split_part(option, '=', 2) FROM unnest(reloptions) option"
            "                 WHERE option LIKE 'autovacuum_analyze_threshold=%%')"
            "  FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r'",
            [list(migration.TABLES)],
        )
        return dict(cursor.fetchall())


def test_the_tables_a_booking_reads_as_they_grow_are_first_analyzed_after_1000_changes():
    assert first_analysis_after() == {
        "booking_appointment": "1000",
        "booking_patient": "1000",
        "booking_vaccinationseries": "1000",
        "auth_user": "1000",
        "notifications_message": "1000",
    }


def test_undone_they_are_analyzed_as_postgresql_would_and_done_again_as_before():
    with connection.schema_editor() as editor:
        migration.analyze_as_before(apps, editor)
    assert set(first_analysis_after().values()) == {None}

    with connection.schema_editor() as editor:
        migration.analyze_later(apps, editor)
    assert set(first_analysis_after().values()) == {"1000"}
