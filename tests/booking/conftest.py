"""Fixtures for the booking tests."""

import pytest
from django.db import connection
from pytest_django import Settings

from booking.services import booking_sql

ENGINES = ["orm", "sql"]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, settings: Settings) -> str:
    """Each test once per engine; "sql" only where the database is PostgreSQL."""
    if request.param == "sql" and connection.vendor != "postgresql":
        pytest.skip("The booking function needs PostgreSQL.")
    settings.BOOKING_ENGINE = request.param
    assert booking_sql.use_sql_engine() == (request.param == "sql")
    return str(request.param)
