"""Fixtures for the booking tests."""

import pytest
from pytest_django import Settings

from booking.services import booking_sql
from tests.conftest import ON_POSTGRESQL

# The booking function exists only on PostgreSQL: there each test runs once per engine, on
# SQLite (the embedded default) once, on the ORM path.
ENGINES = ["orm", "sql"] if ON_POSTGRESQL else ["orm"]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, settings: Settings) -> str:
    """Each test once per engine the database has."""
    settings.BOOKING_ENGINE = request.param
    assert booking_sql.use_sql_engine() == (request.param == "sql")
    return str(request.param)
