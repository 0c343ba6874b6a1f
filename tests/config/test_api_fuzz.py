"""Schemathesis against the API's own OpenAPI schema: for every operation, generated requests
(valid and not) must never get a 5xx, and every answer must match the schema (status code,
content type, body): anonymous, signed in as a city admin, who may call every staff
operation, and signed in as a patient with a booking, whose own operations then run past the
sign-in check. Schemathesis's check that schema-valid requests are accepted is left out: the
schema gives each field's shape, and a request of the right shape can still break a rule
(a date range the wrong way round, a slot already full), which is a documented 4xx."""

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis import AuthContext, Case
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.factories import SlotFactory, booked

# Fetching the schema touches no table: it is built from the code.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())

pytestmark = pytest.mark.django_db


@contextmanager
def connection_kept_open() -> Iterator[None]:
    """Django closes the database connection at the end of each request, which would close
    the test's own; its test client avoids that the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


# The session and CSRF token every signed-in run sends. Fixed, because schemathesis makes some
# of its requests when the tests are collected, before any fixture has signed anyone in; each
# test's fixture then gives this session to the person it signs in.
SESSION_KEY = "schemathesis0signed0in0session"
CSRF_TOKEN = "SchemathesisCsrfTokenOf32Letters"


class TheFixturesSession:
    """Schemathesis auth: the session cookie, the CSRF cookie and the X-CSRFToken header a
    browser sends once signed in. As auth (rather than a fixed Cookie header, which the WSGI
    transport's cookie jar drops anyway) it is left out of the requests that test a missing or
    wrong session, and those must then be refused."""

    def get(self, case: Case, context: AuthContext) -> dict[str, str]:
        return {"sessionid": SESSION_KEY, "csrftoken": CSRF_TOKEN}

    def set(self, case: Case, data: dict[str, str], context: AuthContext) -> None:
        case.cookies = {**(case.cookies or {}), **data}
        case.headers = {**(case.headers or {}), "X-CSRFToken": data["csrftoken"]}


def sign_in_as(user: User) -> None:
    client = Client()
    client.force_login(user)
    Session.objects.filter(pk=client.session.session_key).update(session_key=SESSION_KEY)


@pytest.fixture
def city_admin_session(reference_data) -> None:
    sign_in_as(User.objects.create_superuser("fuzz-admin", "fuzz@example.org", "x"))


@pytest.fixture
def patient_session(patient) -> None:
    booked(patient, SlotFactory())
    sign_in_as(patient.account)


@schema.auth.apply(TheFixturesSession, refresh_interval=None)
@schema.parametrize()
@settings(
    max_examples=12,
    derandomize=True,  # the same requests on every run: CI gates on it
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_a_city_admin_gets_no_server_error_and_answers_match_the_schema(case, city_admin_session):
    with connection_kept_open():
        case.call_and_validate(excluded_checks=[positive_data_acceptance])


@schema.auth.apply(TheFixturesSession, refresh_interval=None)
@schema.parametrize()
@settings(
    max_examples=12,
    derandomize=True,  # the same requests on every run: CI gates on it
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_a_signed_in_patient_gets_no_server_error_and_answers_match_the_schema(
    case, patient_session
):
    with connection_kept_open():
        case.call_and_validate(excluded_checks=[positive_data_acceptance])


def test_the_schema_gives_each_status_once(client):
    """JSON objects with a key twice break Swagger UI's parser (int and str keys collide)."""
    raw = client.get("/api/v1/openapi.json").content.decode()

    def no_repeats(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), keys
        return dict(pairs)

    json.loads(raw, object_pairs_hook=no_repeats)


@pytest.mark.parametrize(
    ("who", "username"), [("patient_session", "+66810000001"), ("city_admin_session", "fuzz-admin")]
)
def test_the_signed_in_runs_send_a_live_session_and_csrf_token(request, who, username):
    request.getfixturevalue(who)
    me = schema["/api/v1/auth/me"]["GET"].Case()
    sign_out = schema["/api/v1/auth/sign-out"]["POST"].Case()
    for case in (me, sign_out):
        TheFixturesSession().set(case, TheFixturesSession().get(case, None), None)

    with connection_kept_open():
        answers = [me.call(), sign_out.call()]

    assert [answer.status_code for answer in answers] == [200, 204]
    assert answers[0].json()["username"] == username
