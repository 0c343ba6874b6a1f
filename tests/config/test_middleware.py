"""What every address answers alike: a NUL character in the request is refused before any view
(422 in the API, 400 elsewhere, each in its own form), and a database that cannot do the work
is 503 with Retry-After, whether the view or a middleware met it."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse
from django.test import Client

pytestmark = pytest.mark.django_db

# The addresses where a NUL answered 500 (issue 16), and a few more of each kind.
NUL_ADDRESSES = [
    "/fhir/r4/Location?name=a%00b",
    "/fhir/r4/Slot?service-type=a%00b",
    "/fhir/r4/HealthcareService?name=a%00",
    "/fhir/r4/Schedule?actor=a%00",
    "/fhir/r4/bulk/a%00b",
    "/fhir/r4/Location/a%00b",
    "/open-data/daily-figures.json?service=a%00",
    "/open-data/daily-figures.csv?centre=1%00",
    "/?service=a%00b",
    "/admin/booking/appointment/?status=a%00",
    "/admin/booking/patient/?q=a%00",
    "/staff/audit?action=a%00",
    "/video/rooms/a%00b",
    "/centres/1/closures.ics?lang=a%00",
    "/calendars/a%00b.ics",
]


def answer_form(response: HttpResponse) -> str:
    content_type = response["Content-Type"]
    if content_type.startswith("application/fhir+json"):
        assert response.json()["resourceType"] == "OperationOutcome"
        return "fhir"
    if content_type.startswith("application/json"):
        assert response.json()["code"] in {"invalid_input", "busy"}
        return "json"
    if content_type.startswith("text/plain"):
        return "text"
    assert content_type.startswith("text/html")
    return "page"


def expected_form(path: str) -> str:
    if path.startswith("/fhir/"):
        return "fhir"
    if path.startswith(("/open-data/", "/api/")):
        return "json"
    if ".ics" in path:
        return "text"
    return "page"


@pytest.mark.parametrize("path", NUL_ADDRESSES)
def test_a_nul_character_outside_the_api_is_a_400_in_the_address_s_own_form(
    city_admin, client_for, path
):
    client = client_for(city_admin)
    client.raise_request_exception = False

    response = client.get(path)

    assert response.status_code == 400
    assert answer_form(response) == expected_form(path)
    assert "NUL" in response.content.decode()


def test_a_nul_character_in_a_posted_form_is_a_400(reference_data):
    client = Client(enforce_csrf_checks=False)
    client.raise_request_exception = False

    response = client.post("/staff/sign-in", {"username": "nurse\x00", "password": "x"})

    assert response.status_code == 400
    assert answer_form(response) == "page"
    assert response["Content-Security-Policy"].startswith("default-src 'self'")


def test_a_nul_character_in_the_api_stays_a_422(reference_data):
    response = Client().get("/api/v1/slots?service=general%00checkup")

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"


@contextmanager
def database_gone(error: type[Exception] = OperationalError) -> Iterator[None]:
    """Every query fails as it does while PostgreSQL restarts."""

    def fail(*args: Any) -> None:
        raise error("server closed the connection unexpectedly")

    with connection.execute_wrapper(fail):
        yield


# One address of each kind: a page, FHIR, a calendar file, open data, the admin, the API.
DATABASE_ADDRESSES = [
    "/",
    "/fhir/r4/Location",
    "/fhir/r4/Slot?service-type=general-checkup",
    "/centres/1/closures.ics",
    "/open-data/daily-figures.csv",
    "/open-data/daily-figures.json",
    "/admin/booking/appointment/",
    "/staff/audit",
    "/api/v1/centres",
]


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
@pytest.mark.parametrize("path", DATABASE_ADDRESSES)
def test_a_database_that_went_away_is_a_503_with_retry_after_on_every_kind_of_address(
    city_admin, client_for, path, error
):
    client = client_for(city_admin)
    client.raise_request_exception = False

    with database_gone(error):
        response = client.get(path)

    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert answer_form(response) == expected_form(path)


def queries_before_the_view(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """A middleware that reads the database before any view runs, as loading a session does."""

    def middleware(request: HttpRequest) -> HttpResponse:
        User.objects.exists()
        return get_response(request)

    return middleware


def test_a_database_that_went_away_in_a_middleware_is_a_503_too(reference_data, settings):
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "tests.config.test_middleware.queries_before_the_view",
    ]
    client = Client(raise_request_exception=False)

    with database_gone():
        page = client.get("/staff/sign-in")
        figures = client.get("/open-data/daily-figures.json")

    assert (page.status_code, page["Retry-After"], answer_form(page)) == (503, "2", "page")
    assert (figures.status_code, answer_form(figures)) == (503, "json")


def test_another_server_error_is_still_a_500(reference_data, settings):
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "tests.config.test_middleware.fails_before_the_view",
    ]
    client = Client(raise_request_exception=False)

    response = client.get("/staff/sign-in")

    assert response.status_code == 500
    assert "Retry-After" not in response


def fails_before_the_view(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("a bug")

    return middleware
