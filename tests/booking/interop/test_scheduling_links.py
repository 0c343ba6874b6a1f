"""SMART Scheduling Links: the manifest and NDJSON files, written in the background, served
from one row, checked against the FHIR R4B models."""

import gzip
import json
import threading
from collections.abc import Callable
from datetime import date, time, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.fhirtypes import InstantType, UrlType
from pydantic import TypeAdapter

from booking.interop.fhir.publishing import MANIFEST, PublishRun, publish_scheduling_links
from booking.interop.fhir.views import accepts_gzip
from booking.models import PublishedFile, Slot
from booking.tasks import publish_scheduling_links as publish_task
from clinics.models import HealthCentre
from config.celery import app
from tests.factories import (
    SlotFactory,
    bangkok,
    booked,
    released_drive,
    vaccine,
)

pytestmark = pytest.mark.django_db

EXTENSION = "http://fhir-registry.smarthealthit.org/StructureDefinition/"
MANIFEST_PATH = "/fhir/r4/$bulk-publish"


def local(url: str) -> str:
    return url.removeprefix("http://localhost:8000")


def manifest(client: Client) -> dict[str, Any]:
    response = client.get(MANIFEST_PATH)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    TypeAdapter(InstantType).validate_python(body["transactionTime"])
    TypeAdapter(UrlType).validate_python(body["request"])
    assert body["request"] == "http://localhost:8000/fhir/r4/$bulk-publish"
    assert body["error"] == []
    for output in body["output"]:
        assert output["type"] in {"Location", "Schedule", "Slot"}
        TypeAdapter(UrlType).validate_python(output["url"])
    return body


def ndjson(client: Client, url: str) -> list[dict[str, Any]]:
    """Every line of a file, each checked against its R4B model."""
    response = client.get(local(url))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+ndjson")
    lines = response.content.decode().splitlines()
    resources = [json.loads(line) for line in lines]
    for resource in resources:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resources


def published(client: Client, kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for output in manifest(client)["output"]:
        if output["type"] == kind:
            found += ndjson(client, output["url"])
    return found


def extension(resource: dict[str, Any], name: str) -> list[Any]:
    return [ext for ext in resource.get("extension", []) if ext["url"] == EXTENSION + name]


def flu_slot(day: date, at: time = time(10, 0), centre: int = 1, **fields: Any) -> Slot:
    return SlotFactory(
        centre=HealthCentre.objects.get(number=centre),
        service=vaccine("vaccine-influenza"),
        start=bangkok(day, at),
        **fields,
    )


def tomorrow() -> date:
    return timezone.localdate() + timedelta(days=1)


def test_the_manifest_is_written_on_first_request_and_every_line_is_valid_fhir(
    reference_data, client
):
    flu_slot(tomorrow())
    assert not PublishedFile.objects.exists()

    body = manifest(client)

    assert [output["type"] for output in body["output"]] == ["Location", "Schedule", "Slot"]
    assert body["output"][2]["url"].endswith("/fhir/r4/bulk/slots-2026-W49.ndjson")
    locations = published(client, "Location")
    assert len(locations) == 69
    assert locations[0]["name"] == "ศูนย์บริการสาธารณสุข 1 สะพานมอญ"
    assert locations[0]["telecom"][0]["system"] == "url"
    schedules = published(client, "Schedule")
    assert len({schedule["id"] for schedule in schedules}) == len(schedules)
    [slot] = published(client, "Slot")
    assert {r["reference"].removeprefix("Schedule/") for r in [slot["schedule"]]} <= {
        schedule["id"] for schedule in schedules
    }


def test_slots_carry_capacity_and_the_booking_link_and_vaccines_their_doses(
    reference_data, client, patient
):
    slot = flu_slot(tomorrow(), capacity=3)
    booked(patient, slot)

    [resource] = published(client, "Slot")
    hepatitis_b = vaccine("vaccine-hepatitis-b")
    schedules = {schedule["id"]: schedule for schedule in published(client, "Schedule")}

    assert resource["status"] == "free"
    assert extension(resource, "slot-capacity") == [
        {"url": EXTENSION + "slot-capacity", "valueInteger": 2}
    ]
    assert extension(resource, "booking-deep-link")[0]["valueUrl"] == (
        f"http://localhost:8000/book/slots/{slot.pk}"
    )
    doses = extension(schedules[f"centre1-service{hepatitis_b.pk}"], "vaccine-dose")
    assert [ext["valueInteger"] for ext in doses] == [1, 2, 3]
    [product] = extension(schedules[f"centre1-service{hepatitis_b.pk}"], "vaccine-product")
    assert product["valueCoding"]["code"] == "45"


def test_only_released_open_bookable_slots_in_the_next_four_weeks_are_published(
    reference_data, client, patient, city_admin, clock: time_machine.Traveller
):
    drive = released_drive(city_admin)  # opens for booking at 10:00 today
    free = flu_slot(tomorrow(), at=time(9, 0))
    full = flu_slot(tomorrow(), at=time(10, 0), capacity=1)
    booked(patient, full)
    flu_slot(tomorrow(), at=time(11, 0), closed=True)
    flu_slot(timezone.localdate(), at=time(8, 0))  # bookings closed two hours before
    flu_slot(timezone.localdate() + timedelta(days=29))  # beyond the horizon

    before_release = {slot["id"] for slot in published(client, "Slot")}
    assert before_release == {str(free.pk), str(full.pk)}
    assert {slot["status"] for slot in published(client, "Slot")} == {"free", "busy"}

    clock.move_to(drive.release_at)
    publish_scheduling_links()

    slots = published(client, "Slot")
    drive_slots = [s for s in slots if s["schedule"]["reference"].startswith("Schedule/drive")]
    assert len(drive_slots) == Slot.objects.filter(drive=drive).count()
    schedules = {schedule["id"] for schedule in published(client, "Schedule")}
    assert f"drive{drive.pk}-centre1" in schedules


def test_files_answer_304_to_their_etag_or_date_and_say_how_long_to_wait(reference_data, client):
    flu_slot(tomorrow())
    url = local(manifest(client)["output"][2]["url"])
    first = client.get(url)

    assert first["Cache-Control"] == "public, max-age=60"
    again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again["ETag"] == first["ETag"]
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304
    assert client.get(url, HTTP_IF_NONE_MATCH='"stale"').status_code == 200
    manifest_etag = client.get(MANIFEST_PATH)["ETag"]
    assert client.get(MANIFEST_PATH, HTTP_IF_NONE_MATCH=manifest_etag).status_code == 304


def test_a_file_request_reads_one_row_and_never_scans_the_slots(
    reference_data, client, django_assert_max_num_queries
):
    for minutes in range(0, 180, 15):
        flu_slot(tomorrow(), at=time(8 + minutes // 60, minutes % 60))
    publish_scheduling_links()
    url = local(manifest(client)["output"][2]["url"])

    with django_assert_max_num_queries(2):
        response = client.get(url)
    with django_assert_max_num_queries(1):
        client.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    with django_assert_max_num_queries(3):
        client.get(MANIFEST_PATH)


def test_a_booking_that_fills_a_slot_shows_busy_after_the_next_refresh(
    reference_data, client, patient, clock: time_machine.Traveller
):
    slot = flu_slot(tomorrow(), capacity=1)
    publish_scheduling_links()
    before = client.get(MANIFEST_PATH).json()
    url = before["output"][2]["url"]
    etag = client.get(local(url))["ETag"]

    booked(patient, slot)
    assert published(client, "Slot")[0]["status"] == "free"  # served as stored until a refresh
    clock.shift(timedelta(minutes=1))
    run = publish_scheduling_links()

    assert run.written == ["scheduling-links/slots-2026-W49.ndjson", MANIFEST]
    [resource] = published(client, "Slot")
    assert resource["status"] == "busy"
    # Its whole capacity: busy slots let aggregators follow what a centre offers.
    assert extension(resource, "slot-capacity")[0]["valueInteger"] == 1
    assert extension(resource, "booking-deep-link") == []
    assert client.get(local(url))["ETag"] != etag
    assert manifest(client)["transactionTime"] > before["transactionTime"]


def test_an_unchanged_run_keeps_every_file_as_it_was(reference_data, clock: time_machine.Traveller):
    flu_slot(tomorrow())
    publish_scheduling_links()
    stored = {f.name: (f.etag, f.modified_at) for f in PublishedFile.objects.all()}

    clock.shift(timedelta(minutes=1))
    run = publish_scheduling_links()

    assert run.written == []
    assert run.unchanged == len(stored)
    assert {f.name: (f.etag, f.modified_at) for f in PublishedFile.objects.all()} == stored
    assert {f.generated_at for f in PublishedFile.objects.all()} == {timezone.now()}


def test_a_week_that_has_passed_loses_its_file(reference_data, clock: time_machine.Traveller):
    flu_slot(tomorrow())
    flu_slot(tomorrow() + timedelta(days=7))
    publish_scheduling_links()
    names = set(PublishedFile.objects.values_list("name", flat=True))
    assert "scheduling-links/slots-2026-W49.ndjson" in names

    clock.move_to(bangkok(date(2026, 12, 7), time(7)))
    run = publish_scheduling_links()

    assert run.removed == 1
    assert not PublishedFile.objects.filter(name__endswith="W49.ndjson").exists()


def test_an_unknown_file_is_a_404_outcome(reference_data, client):
    response = client.get("/fhir/r4/bulk/slots-1999-W01.ndjson")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/fhir+json")
    get_fhir_model_class("OperationOutcome").model_validate(response.json())


def test_beat_refreshes_the_files_every_minute_through_the_task(reference_data):
    entry = app.conf.beat_schedule["publish-scheduling-links"]
    assert entry["task"] == "booking.tasks.publish_scheduling_links"
    assert entry["schedule"] == 60.0

    result = publish_task.run()

    assert result["written"] == 3  # locations, schedules and the manifest: no slots yet
    assert PublishedFile.objects.filter(name=MANIFEST).exists()


WEEK_49 = "scheduling-links/slots-2026-W49.ndjson"


def test_an_idle_run_reads_no_slot_and_rewrites_no_file(
    reference_data, clock: time_machine.Traveller
):
    flu_slot(tomorrow())
    flu_slot(tomorrow() + timedelta(days=7))
    publish_scheduling_links()
    stored = {f.name: (f.etag, f.modified_at, f.body) for f in PublishedFile.objects.all()}

    clock.shift(timedelta(minutes=1))
    with CaptureQueriesContext(connection) as queries:
        run = publish_scheduling_links()

    assert run.written == []
    assert run.slots == 0
    assert [q["sql"] for q in queries if "booking_slot" in q["sql"]] == []
    assert len(queries) <= 3
    writes = [q["sql"] for q in queries if not q["sql"].startswith("SELECT")]
    assert len(writes) == 1
    assert "generated_at" in writes[0]  # files checked at: nothing else is written
    assert {f.name: (f.etag, f.modified_at, f.body) for f in PublishedFile.objects.all()} == stored


def test_a_booking_rebuilds_only_the_file_of_its_slots_week(
    reference_data, patient, clock: time_machine.Traveller
):
    slot = flu_slot(tomorrow(), capacity=1)
    flu_slot(tomorrow() + timedelta(days=7))
    publish_scheduling_links()
    next_week = PublishedFile.objects.get(name__endswith="W50.ndjson")

    booked(patient, slot)
    clock.shift(timedelta(minutes=1))
    run = publish_scheduling_links()

    assert run.written == [WEEK_49, MANIFEST]
    assert run.slots == 1  # the other week's slot was not read again
    assert PublishedFile.objects.get(name__endswith="W50.ndjson").body == next_week.body


def test_a_slot_changed_by_any_code_reaches_its_file(
    reference_data, client, clock: time_machine.Traveller
):
    slot = flu_slot(tomorrow())
    publish_scheduling_links()

    Slot.objects.filter(pk=slot.pk).update(closed=True)  # no service: as a bulk fix would
    clock.shift(timedelta(minutes=1))
    publish_scheduling_links()

    assert published(client, "Slot") == []


def test_a_slot_leaves_its_weeks_file_at_its_booking_cutoff(
    reference_data, client, clock: time_machine.Traveller
):
    today = timezone.localdate()
    soon = flu_slot(today, at=time(9, 30))
    later = flu_slot(today, at=time(13, 0))
    publish_scheduling_links()
    assert {s["id"] for s in published(client, "Slot")} == {str(soon.pk), str(later.pk)}

    cutoff = timedelta(minutes=vaccine("vaccine-influenza").booking_cutoff_minutes)
    clock.move_to(soon.start - cutoff + timedelta(minutes=1))
    run = publish_scheduling_links()

    assert run.written == [WEEK_49, MANIFEST]
    assert [s["id"] for s in published(client, "Slot")] == [str(later.pk)]


def test_a_slot_joins_the_files_as_it_comes_within_four_weeks(
    reference_data, client, clock: time_machine.Traveller
):
    far = flu_slot(timezone.localdate() + timedelta(days=28), at=time(9, 0))
    publish_scheduling_links()
    assert "Slot" not in {output["type"] for output in manifest(client)["output"]}

    clock.shift(timedelta(hours=2, minutes=1))
    publish_scheduling_links()

    assert [s["id"] for s in published(client, "Slot")] == [str(far.pk)]


def test_a_change_to_a_centre_reaches_the_locations_file(
    reference_data, client, clock: time_machine.Traveller
):
    publish_scheduling_links()

    HealthCentre.objects.filter(number=1).update(line_oa="https://line.me/R/ti/p/@bma-hc1")
    clock.shift(timedelta(minutes=1))
    run = publish_scheduling_links()

    assert "scheduling-links/locations.ndjson" in run.written
    telecom = published(client, "Location")[0]["telecom"]
    assert telecom == [{"system": "url", "value": "https://line.me/R/ti/p/@bma-hc1"}]


@pytest.mark.django_db(transaction=True)
def test_a_run_that_read_before_another_wrote_leaves_the_newer_files(
    reference_data, client, clock: time_machine.Traveller
):
    """Run A reads, then waits to write while run B, which read later, writes: A must not
    put back what it read, as B took the changes both saw off the list."""
    first = flu_slot(tomorrow(), at=time(9, 0), capacity=1)
    second = flu_slot(tomorrow(), at=time(10, 0), capacity=1)
    publish_scheduling_links()
    Slot.objects.filter(pk=first.pk).update(booked=1)  # seen by both runs
    clock.shift(timedelta(minutes=1))
    writing = threading.Event()
    result: list[PublishRun] = []

    def note_the_write(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if sql.startswith("BEGIN") or "pg_advisory_xact_lock" in sql:
            writing.set()
        return execute(sql, params, many, context)

    def run_a() -> None:
        try:
            with connection.execute_wrapper(note_the_write):
                result.append(publish_scheduling_links())
        finally:
            connections.close_all()

    with transaction.atomic():  # holds the write lock until run B is done
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [0x5C4ED01E])
        Slot.objects.filter(pk=second.pk).update(booked=1)  # seen by run B only
        run = threading.Thread(target=run_a)
        run.start()
        assert writing.wait(timeout=30)
        clock.shift(timedelta(minutes=1))
        publish_scheduling_links()  # run B
    run.join(timeout=60)

    statuses = {s["id"]: s["status"] for s in published(client, "Slot")}
    assert statuses == {str(first.pk): "busy", str(second.pk): "busy"}
    assert result[0].written == []


def test_files_built_for_another_address_are_all_rebuilt(
    reference_data, client, settings, clock: time_machine.Traveller
):
    flu_slot(tomorrow())
    publish_scheduling_links()

    settings.PUBLIC_BASE_URL = "https://booking.bangkok.go.th"
    clock.shift(timedelta(minutes=1))
    run = publish_scheduling_links()

    assert run.written == [
        "scheduling-links/locations.ndjson",
        "scheduling-links/schedules.ndjson",
        WEEK_49,
        MANIFEST,
    ]
    body = client.get(MANIFEST_PATH).json()
    assert body["output"][2]["url"].startswith("https://booking.bangkok.go.th/fhir/r4/bulk/")


@pytest.mark.parametrize("path", ["manifest", "file"])
def test_files_come_gzip_compressed_when_asked_with_their_own_etag(reference_data, client, path):
    url = MANIFEST_PATH
    if path == "file":
        url = client.get(MANIFEST_PATH).json()["output"][0]["url"].removeprefix("http://testserver")
    plain = client.get(url)

    packed = client.get(url, HTTP_ACCEPT_ENCODING="br;q=1.0, gzip;q=0.8, *;q=0.1")

    assert packed.status_code == 200
    assert packed["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.content) == plain.content
    assert "Accept-Encoding" in packed["Vary"]
    assert "Accept-Encoding" in plain["Vary"]
    assert "Content-Encoding" not in plain
    assert packed["ETag"] != plain["ETag"]
    again = client.get(url, HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=packed["ETag"])
    assert again.status_code == 304
    assert again["ETag"] == packed["ETag"]
    assert "Accept-Encoding" in again["Vary"]
    # The plain copy's ETag does not validate the compressed one, nor the other way round.
    assert (
        client.get(url, HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=plain["ETag"]).status_code
        == 200
    )
    assert client.get(url, HTTP_IF_NONE_MATCH=packed["ETag"]).status_code == 200


@pytest.mark.parametrize(
    ("header", "takes_gzip"),
    [
        ("gzip", True),
        ("deflate, gzip;q=0.5", True),
        ("GZIP", True),
        ("x-gzip", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("br, *;q=0", False),
        ("identity", False),
        ("", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accept_encoding_is_read_with_its_qualities(header, takes_gzip):
    assert accepts_gzip(header) is takes_gzip
