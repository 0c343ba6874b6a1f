"""Every published SMART Scheduling Links file, read over HTTP as an aggregator reads it, passes
the checker written from the specification (smart_checker.py); and the checker does catch what
the specification forbids, so a pass means something."""

import json
from datetime import date, time, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from booking.interop.fhir.publishing import publish_scheduling_links
from booking.models import Slot
from clinics.models import HealthCentre, Service
from tests.booking.interop.smart_checker import (
    BOOKING_PHONE,
    CVX,
    VACCINE_PRODUCT,
    Answer,
    check_publication,
    is_timestamp,
)
from tests.factories import SlotFactory, bangkok, booked, released_drive, vaccine

pytestmark = pytest.mark.django_db

BASE = "http://localhost:8000"
MANIFEST_URL = f"{BASE}/fhir/r4/$bulk-publish"
CENTRE_PHONE = "+6622453260"


def fetch_with(client: Client) -> Any:
    def get(url: str, accept: str | None) -> Answer:
        headers = {} if accept is None else {"HTTP_ACCEPT": accept}
        response = client.get(url.removeprefix(BASE), **headers)  # type: ignore[arg-type]
        return Answer(response.status_code, response.get("Content-Type", ""), response.content)

    return get


def slot_of(service: str, day: date, at: time, centre: int, **fields: Any) -> Slot:
    return SlotFactory(
        centre=HealthCentre.objects.get(number=centre),
        service=Service.objects.get(code=service),
        start=bangkok(day, at),
        **fields,
    )


def read_all(client: Client, kind: str) -> list[dict[str, Any]]:
    manifest = client.get("/fhir/r4/$bulk-publish").json()
    found: list[dict[str, Any]] = []
    for output in manifest["output"]:
        if output["type"] == kind:
            body = client.get(output["url"].removeprefix(BASE)).content.decode()
            found += [json.loads(line) for line in body.splitlines()]
    return found


def extensions(resource: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [ext for ext in resource.get("extension", []) if ext["url"] == url]


@pytest.fixture
def realistic_publication(
    reference_data: None,
    patient: Any,
    other_patient: Any,
    city_admin: Any,
    clock: time_machine.Traveller,
) -> dict[str, Slot]:
    """Several centres, one with a phone and one without, everyday services and vaccines,
    free, full, closed and too-late slots over two weeks, and a released flu drive."""
    HealthCentre.objects.filter(number__in=[1, 3]).update(phone=CENTRE_PHONE)
    HealthCentre.objects.filter(number=2).update(phone="")
    tomorrow = timezone.localdate() + timedelta(days=1)
    next_week = tomorrow + timedelta(days=7)
    slots = {
        "flu_with_phone": slot_of("vaccine-influenza", tomorrow, time(9, 0), 1),
        "flu_without_phone": slot_of("vaccine-influenza", tomorrow, time(9, 0), 2),
        "covid_free": slot_of("vaccine-covid19", tomorrow, time(10, 0), 3, capacity=3),
        "covid_full": slot_of("vaccine-covid19", tomorrow, time(10, 15), 3, capacity=1),
        "mmr": slot_of("vaccine-mmr", next_week, time(13, 0), 3),
        "hepatitis_b": slot_of("vaccine-hepatitis-b", next_week, time(8, 30), 2),
        "checkup": slot_of("general-checkup", tomorrow, time(8, 30), 1),
        "closed": slot_of("general-checkup", tomorrow, time(8, 45), 1, closed=True),
        "too_late": slot_of("general-checkup", timezone.localdate(), time(8, 0), 1),
    }
    booked(patient, slots["covid_full"])
    booked(other_patient, slots["covid_free"])
    drive = released_drive(city_admin)
    clock.move_to(drive.release_at)
    publish_scheduling_links()
    return slots


def test_every_published_file_passes_the_specification_checker(realistic_publication, client):
    assert check_publication(fetch_with(client), MANIFEST_URL) == []


def test_the_realistic_set_has_what_the_checker_should_see(realistic_publication, client):
    """Free and busy slots, a drive's, vaccines and not: the pass above covers them all."""
    slots = {slot["id"]: slot for slot in read_all(client, "Slot")}
    ids = {name: str(slot.pk) for name, slot in realistic_publication.items()}

    assert {slots[ids["covid_full"]]["status"], slots[ids["covid_free"]]["status"]} == {
        "busy",
        "free",
    }
    assert ids["closed"] not in slots
    assert ids["too_late"] not in slots
    assert any(
        slot["schedule"]["reference"].startswith("Schedule/drive") for slot in slots.values()
    )
    assert len(read_all(client, "Location")) == 69


def test_free_slots_carry_the_centres_phone_to_book_where_it_has_one(realistic_publication, client):
    slots = {slot["id"]: slot for slot in read_all(client, "Slot")}
    with_phone = slots[str(realistic_publication["flu_with_phone"].pk)]
    without_phone = slots[str(realistic_publication["flu_without_phone"].pk)]
    busy = slots[str(realistic_publication["covid_full"].pk)]

    assert extensions(with_phone, BOOKING_PHONE) == [
        {"url": BOOKING_PHONE, "valueString": CENTRE_PHONE}
    ]
    assert extensions(without_phone, BOOKING_PHONE) == []
    # A full slot cannot be booked, by phone or link.
    assert extensions(busy, BOOKING_PHONE) == []


def test_vaccine_schedules_and_slots_name_their_product_by_cvx_code(realistic_publication, client):
    schedules = {schedule["id"]: schedule for schedule in read_all(client, "Schedule")}
    slots = {slot["id"]: slot for slot in read_all(client, "Slot")}
    mmr, covid = vaccine("vaccine-mmr"), vaccine("vaccine-covid19")
    checkup = Service.objects.get(code="general-checkup")

    assert extensions(schedules[f"centre3-service{mmr.pk}"], VACCINE_PRODUCT) == [
        {"url": VACCINE_PRODUCT, "valueCoding": {"system": CVX, "code": "03", "display": "MMR"}}
    ]
    [product] = extensions(slots[str(realistic_publication["covid_full"].pk)], VACCINE_PRODUCT)
    assert product["valueCoding"]["code"] == "213"
    assert extensions(schedules[f"centre1-service{checkup.pk}"], VACCINE_PRODUCT) == []
    assert extensions(slots[str(realistic_publication["checkup"].pk)], VACCINE_PRODUCT) == []
    assert {
        schedule["id"]
        for schedule in schedules.values()
        if schedule["id"].startswith("centre") and not extensions(schedule, VACCINE_PRODUCT)
    } == {
        f"centre{centre}-service{service.pk}"
        for centre in range(1, 70)
        for service in Service.objects.exclude(kind=Service.Kind.VACCINATION)
    }
    assert covid.cvx_code == "213"


def test_a_services_new_cvx_code_reaches_the_files_at_the_next_run(reference_data, client):
    """A change to a service's row is noted by the change log's trigger, on SQLite too, where
    adding the column rebuilt the table (booking migration 0018)."""
    slot_of("vaccine-influenza", timezone.localdate() + timedelta(days=1), time(9, 0), 1)
    publish_scheduling_links()
    Service.objects.filter(code="vaccine-influenza").update(cvx_code="150")

    publish_scheduling_links()

    flu = vaccine("vaccine-influenza")
    [schedule] = [s for s in read_all(client, "Schedule") if s["id"] == f"centre1-service{flu.pk}"]
    [product] = extensions(schedule, VACCINE_PRODUCT)
    assert product["valueCoding"] == {"system": CVX, "code": "150"}


# --- The checker catches what the specification forbids ----------------------------------------


LOCATION = {
    "resourceType": "Location",
    "id": "1",
    "identifier": [{"system": "https://example.org/centres", "value": "1"}],
    "name": "Health Centre 1",
    "telecom": [{"system": "url", "value": "https://example.org/1"}],
    "address": {"line": ["1 Road"], "city": "Bangkok", "state": "TH-10", "postalCode": "10200"},
}
SCHEDULE = {
    "resourceType": "Schedule",
    "id": "s1",
    "serviceType": [{"coding": [{"system": "https://example.org/services", "code": "flu"}]}],
    "actor": [{"reference": "Location/1"}],
}
SLOT = {
    "resourceType": "Slot",
    "id": "10",
    "schedule": {"reference": "Schedule/s1"},
    "status": "free",
    "start": "2026-12-07T09:00:00+07:00",
    "end": "2026-12-07T09:15:00+07:00",
}


def publication(
    *, manifest: dict[str, Any] | None = None, **files: list[dict[str, Any]]
) -> dict[str, Answer]:
    """A publication served from memory: one file a kind, `files` replacing the good ones."""
    contents = {"Location": [LOCATION], "Schedule": [SCHEDULE], "Slot": [SLOT], **files}
    answers = {}
    outputs = []
    for kind, resources in contents.items():
        url = f"https://example.org/{kind.lower()}s.ndjson"
        outputs.append({"type": kind, "url": url, "extension": {"state": ["TH-10"]}})
        body = "".join(
            json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n"
            for resource in resources
        )
        answers[url] = Answer(200, "application/fhir+ndjson", body.encode())
    document = manifest or {
        "transactionTime": "2026-12-05T10:00:00+07:00",
        "request": "https://example.org/$bulk-publish",
        "output": outputs,
        "error": [],
    }
    answers["https://example.org/$bulk-publish"] = Answer(
        200, "application/json", json.dumps(document).encode()
    )
    return answers


def problems_of(answers: dict[str, Answer]) -> list[str]:
    return check_publication(lambda url, accept: answers[url], "https://example.org/$bulk-publish")


def test_the_checker_passes_a_minimal_conforming_publication():
    assert problems_of(publication()) == []


@pytest.mark.parametrize(
    ("files", "found"),
    [
        (
            {"Location": [{**LOCATION, "address": {**LOCATION["address"], "text": "1 Road"}}]},
            "address has text",
        ),
        (
            {
                "Location": [
                    {
                        **LOCATION,
                        "address": {"city": "Bangkok", "state": "TH-10", "postalCode": "10200"},
                    }
                ]
            },
            "address.line",
        ),
        ({"Location": [{k: v for k, v in LOCATION.items() if k != "telecom"}]}, "no telecom"),
        (
            {"Location": [{**LOCATION, "telecom": [{"system": "email", "value": "a@b.th"}]}]},
            "not phone or url",
        ),
        (
            {
                "Schedule": [
                    {
                        **SCHEDULE,
                        "actor": [
                            {"reference": "Location/1"},
                            {"reference": "HealthcareService/2"},
                        ],
                    }
                ]
            },
            "2 actors",
        ),
        (
            {"Schedule": [{**SCHEDULE, "actor": [{"reference": "Location/99"}]}]},
            "refers to Location/99",
        ),
        (
            {
                "Schedule": [
                    {
                        **SCHEDULE,
                        "extension": [
                            {
                                "url": VACCINE_PRODUCT,
                                "valueCoding": {"system": "http://snomed.info/sct", "code": "03"},
                            }
                        ],
                    }
                ]
            },
            "is not http://hl7.org/fhir/sid/cvx",
        ),
        ({"Slot": [{**SLOT, "status": "busy-unavailable"}]}, "not free or busy"),
        ({"Slot": [{**SLOT, "start": "2026-12-07T09:00"}]}, "start '2026-12-07T09:00'"),
        ({"Slot": [{**SLOT, "end": "2026-12-07T08:00:00+07:00"}]}, "ends before it starts"),
        (
            {"Slot": [{**SLOT, "schedule": {"reference": "Schedule/nowhere"}}]},
            "refers to Schedule/nowhere",
        ),
        (
            {
                "Slot": [
                    {
                        **SLOT,
                        "extension": [
                            {
                                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-link",
                                "valueUrl": "https://example.org/book/10",
                            }
                        ],
                    }
                ]
            },
            "does not define here",
        ),
        (
            {
                "Slot": [
                    {
                        **SLOT,
                        "extension": [
                            {
                                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/slot-capacity",
                                "valueString": "5",
                            }
                        ],
                    }
                ]
            },
            "slot-capacity has no positive valueInteger",
        ),
        (
            {"Slot": [{**SLOT, "extension": [{"url": BOOKING_PHONE, "valueString": " "}]}]},
            "booking-phone has no valueString",
        ),
        ({"Slot": [SLOT, SLOT]}, "published twice"),
        ({"Slot": [LOCATION]}, "is a 'Location' in a Slot file"),
    ],
)
def test_the_checker_finds_what_the_specification_forbids(files, found):
    problems = problems_of(publication(**files))

    assert any(found in problem for problem in problems), problems


def test_the_checker_finds_a_manifest_without_its_fields_and_an_unreachable_file():
    answers = publication()
    manifest = json.loads(answers["https://example.org/$bulk-publish"].body)
    manifest["transactionTime"] = "2026-12-05"
    manifest["request"] = "https://example.org/other/$bulk-publish"
    del manifest["output"][0]["extension"]
    answers = publication(manifest=manifest)
    answers["https://example.org/slots.ndjson"] = Answer(404, "text/html", b"")

    problems = problems_of(answers)

    assert any("transactionTime" in problem for problem in problems)
    assert any("is not the manifest's URL" in problem for problem in problems)
    assert any("has no extension object" in problem for problem in problems)
    assert any("answers 404" in problem for problem in problems)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2026-12-07T09:00:00+07:00", True),
        ("2026-12-07T02:00:00.250Z", True),
        ("2026-12-07T09:00+07:00", False),  # not to the second
        ("2026-12-07T09:00:00", False),  # no offset
        ("2026-02-30T09:00:00Z", False),  # no such day
        ("2026-12-07 09:00:00Z", False),
    ],
)
def test_timestamps_are_to_the_second_with_an_offset(value, valid):
    assert is_timestamp(value) is valid
