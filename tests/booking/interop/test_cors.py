"""Cross-origin reads: the public answers are open to any origin, whichever layer gives them;
nothing behind a session, a key or a secret link is."""

import asyncio
from typing import Any

import pytest
from django.test import Client

from booking.interop.cors import is_public
from booking.interop.partners import issue_partner_key
from booking.models import Partner, PartnerKey
from config.load_shedding import Shedder, ShedLoad

pytestmark = pytest.mark.django_db

PUBLIC = [
    "/fhir/r4/metadata",
    "/fhir/r4/$bulk-publish",
    "/fhir/r4/Location",
    "/fhir/r4/Location/1",
    "/fhir/r4/Schedule",
    "/fhir/r4/Slot",
    "/fhir/r4/HealthcareService",
    "/centres/1/closures.ics",
    "/open-data/",
    "/open-data/daily-figures.csv",
    "/open-data/daily-figures.json",
]


@pytest.mark.parametrize("path", PUBLIC)
def test_public_answers_are_open_to_any_origin(reference_data, client, path):
    response = client.get(path, HTTP_ORIGIN="https://finder.example")

    assert response.status_code == 200, response.content
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in response["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in response


def test_a_published_file_and_a_refusal_on_a_public_path_are_open_too(reference_data, client):
    manifest = client.get("/fhir/r4/$bulk-publish").json()
    a_file = manifest["output"][0]["url"].removeprefix("http://testserver")

    assert client.get(a_file)["Access-Control-Allow-Origin"] == "*"
    missing = client.get("/fhir/r4/Location/999")
    assert missing.status_code == 404
    assert missing["Access-Control-Allow-Origin"] == "*"
    assert client.get("/fhir/r4/Slot", {"start": "soon"})["Access-Control-Allow-Origin"] == "*"


def test_a_preflight_on_a_public_path_is_answered_without_credentials(reference_data, client):
    response = client.options(
        "/fhir/r4/Slot",
        HTTP_ORIGIN="https://finder.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="prefer, if-none-match",
    )

    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "GET" in response["Access-Control-Allow-Methods"]
    allowed = response["Access-Control-Allow-Headers"].lower()
    assert "prefer" in allowed
    assert "if-none-match" in allowed
    assert "authorization" not in allowed
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.parametrize(
    "path",
    [
        "/fhir/r4/Appointment",
        "/fhir/r4/Appointment/1",
        "/fhir/r4/Immunization",
        "/fhir/r4/Immunization/1",
        "/api/v1/partner/slots",
        "/api/v1/slots",
        "/api/v1/me/appointments",
        "/calendars/sometoken.ics",
        "/a/sometoken/calendar.ics",
        "/me/",
    ],
)
def test_answers_that_use_a_session_a_key_or_a_secret_link_are_not(reference_data, client, path):
    answer = client.get(path, HTTP_ORIGIN="https://finder.example")
    preflight = client.options(
        path, HTTP_ORIGIN="https://finder.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )

    assert "Access-Control-Allow-Origin" not in answer
    assert "Access-Control-Allow-Origin" not in preflight
    assert not is_public(path)


def test_a_partner_key_reading_appointments_gets_no_cors_headers(reference_data):
    secret = issue_partner_key(
        partner=Partner.objects.create(name="Super app"),
        scopes=[PartnerKey.Scope.APPOINTMENTS_READ],
        issued_by=None,
    ).secret

    response = Client().get("/fhir/r4/Appointment", HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_the_capability_statement_says_cors(reference_data, client):
    security = client.get("/fhir/r4/metadata").json()["rest"][0]["security"]

    assert security["cors"] is True
    assert "Access-Control-Allow-Origin" in security["description"]


def turned_away(path: str) -> dict[str, str]:
    """The headers of the 429 the load shedding gives a request to `path` when it is full."""
    shedder = Shedder(capacity=1, ceiling=1, target_seconds=0.1)
    shedder.started()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def never(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise AssertionError

    scope = {"type": "http", "method": "GET", "path": path}
    asyncio.run(ShedLoad(never, shedder=shedder)(scope, None, send))
    assert sent[0]["status"] == 429
    return {name.decode(): value.decode() for name, value in sent[0]["headers"]}


def test_the_busy_answer_before_django_is_open_on_public_paths_only():
    assert turned_away("/fhir/r4/$bulk-publish")["access-control-allow-origin"] == "*"
    assert "access-control-allow-origin" not in turned_away("/fhir/r4/Appointment")
