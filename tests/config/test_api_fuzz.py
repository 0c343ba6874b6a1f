"""Schemathesis against the API's own OpenAPI schema: for every operation, generated requests
(valid and not) must never get a 5xx, and every answer must match the schema (status code,
content type, body): anonymous, and signed in as a city admin, who may call every staff
operation. Schemathesis's check that schema-valid requests are accepted is left out: the
schema gives each field's shape, and a request of the right shape can still break a rule
(a date range the wrong way round, a slot already full), which is a documented 4xx."""

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

# Fetching the schema touches no table: it is built from the code.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())

pytestmark = pytest.mark.django_db


@contextmanager
def test_connection_kept_open() -> Iterator[None]:
    """Django closes the database connection at the end of each request, which would close
    the test's own; its test client avoids that the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def admin_headers(reference_data) -> dict[str, str]:
    admin = User.objects.create_superuser("fuzz-admin", "fuzz@example.org", "x")
    client = Client()
    client.force_login(admin)
    token = client.get("/api/v1/auth/csrf").json()["csrf_token"]
    session = client.cookies["sessionid"].value
    return {"Cookie": f"sessionid={session}; csrftoken={token}", "X-CSRFToken": token}


@schema.parametrize()
@settings(
    max_examples=12,
    derandomize=True,  # the same requests on every run: CI gates on it
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_an_anonymous_caller_gets_no_server_error_and_answers_match_the_schema(
    case, reference_data
):
    with test_connection_kept_open():
        case.call_and_validate(excluded_checks=[positive_data_acceptance])


@schema.parametrize()
@settings(
    max_examples=12,
    derandomize=True,  # the same requests on every run: CI gates on it
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_a_city_admin_gets_no_server_error_and_answers_match_the_schema(case, admin_headers):
    with test_connection_kept_open():
        case.call_and_validate(headers=admin_headers, excluded_checks=[positive_data_acceptance])


def test_the_schema_gives_each_status_once(client):
    """JSON objects with a key twice break Swagger UI's parser (int and str keys collide)."""
    raw = client.get("/api/v1/openapi.json").content.decode()

    def no_repeats(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), keys
        return dict(pairs)

    json.loads(raw, object_pairs_hook=no_repeats)
