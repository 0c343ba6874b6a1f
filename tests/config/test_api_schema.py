"""Answers match the OpenAPI schema that documents them, checked the way schemathesis checks
them (formats included) on answers that carry data the fuzzer seldom reaches: a drive's
sessions, a schedule's hours, a patient's vaccination course. And no two different shapes
share one component name in the schema, where the last one written would win."""

import json
from datetime import date, time
from typing import Any

import pytest
import requests
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse
from ninja import Schema
from schemathesis.core.transport import Response

from config.api import api
from tests.factories import SlotFactory, bangkok, booked, vaccine

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())

DRIVE = {
    "name_th": "ฉีดวัคซีนไข้หวัดใหญ่",
    "service": "vaccine-influenza",
    "centres": [1],
    "first_day": "2026-12-01",
    "last_day": "2026-12-04",
    "sessions": [{"start_time": "09:00", "end_time": "10:30"}],
    "capacity_per_slot": 2,
    "release_at": "2026-11-30T10:00:00+07:00",
}


def assert_documented(response: HttpResponse, method: str, path: str) -> None:
    """Fail unless the answer is one the schema documents for `method path`, body and all."""
    request = requests.Request(method, f"http://testserver/api/v1{path}").prepare()
    answer = Response(
        status_code=response.status_code,
        headers={name.lower(): [value] for name, value in response.headers.items()},
        content=response.content,
        request=request,
        elapsed=0.0,
        verify=False,
    )
    schema[f"/api/v1{path}"][method].validate_response(answer)


def test_a_drive_s_session_times_match_their_documented_format(city_admin, client_for):
    client = client_for(city_admin)

    created = client.post("/api/v1/staff/drives", DRIVE, content_type="application/json")
    shown = client.get(f"/api/v1/staff/drives/{created.json()['id']}")

    assert created.status_code == 201, created.json()
    assert created.json()["sessions"] == [{"start_time": "09:00", "end_time": "10:30"}]
    assert_documented(created, "POST", "/staff/drives")
    assert_documented(shown, "GET", "/staff/drives/{drive_id}")


def test_a_drive_session_with_a_utc_offset_is_refused_naming_the_field(city_admin, client_for):
    sessions = [{"start_time": "09:00+07:00", "end_time": "10:00"}]

    response = client_for(city_admin).post(
        "/api/v1/staff/drives", {**DRIVE, "sessions": sessions}, content_type="application/json"
    )

    assert response.status_code == 422
    assert response.json()["field"] == "sessions.0.start_time"


def test_a_schedule_s_hours_match_their_documented_format(scheduler_at_centre_1, client_for):
    client = client_for(scheduler_at_centre_1)
    client.post(
        "/api/v1/staff/centres/1/schedules",
        {
            "service": "general-checkup",
            "weekdays": [1],
            "start_time": "08:30",
            "end_time": "12:00",
            "slot_minutes": 15,
            "capacity": 2,
            "valid_from": "2026-11-30",
        },
        content_type="application/json",
    )

    listed = client.get("/api/v1/staff/centres/1/schedules")

    assert [(s["start_time"], s["end_time"]) for s in listed.json()] == [("08:30", "12:00")]
    assert_documented(listed, "GET", "/staff/centres/{number}/schedules")


def test_a_course_under_way_matches_its_documented_status(patient, client_for):
    booked(patient, SlotFactory(service=vaccine(), start=bangkok(date(2026, 12, 1), time(10))))

    record = client_for(patient).get("/api/v1/me/vaccinations")

    assert record.json()[0]["status"] == "active"
    assert_documented(record, "GET", "/me/vaccinations")


def _schema_classes() -> set[type[Schema]]:
    found: set[type[Schema]] = set()
    waiting: list[type[Schema]] = [Schema]
    while waiting:
        for subclass in waiting.pop().__subclasses__():
            if subclass not in found:
                found.add(subclass)
                waiting.append(subclass)
    ours = ("booking", "clinics", "config", "notifications", "video")
    return {cls for cls in found if cls.__module__.split(".")[0] in ours}


def test_no_two_different_shapes_share_a_component_name():
    """The schema's components are one namespace: Django's nested `Status` choices of
    appointments, drives, courses, offers and messages all want to be `Status`."""
    api.get_openapi_schema()  # every operation's schemas made, as the docs make them
    shapes: dict[str, dict[str, set[str]]] = {}
    for cls in _schema_classes():
        generated: dict[str, Any] = cls.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        definitions = {**generated.pop("$defs", {}), cls.__name__: generated}
        for name, definition in definitions.items():
            users = shapes.setdefault(name, {}).setdefault(
                json.dumps(definition, sort_keys=True), set()
            )
            users.add(f"{cls.__module__}.{cls.__qualname__}")

    shared = {
        name: list(variants.values()) for name, variants in shapes.items() if len(variants) > 1
    }
    assert not shared, shared
