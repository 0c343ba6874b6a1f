"""The staff API's walk-ins: listing a centre's day, adding a person to today's queue, and the
steps, with typed answers, 4xx errors a caller can act on, and audit rows."""

from datetime import date, time

import pytest

from booking.models import WalkIn
from clinics.models import AuditEvent
from tests.factories import PatientFactory, bangkok, walked_in

pytestmark = pytest.mark.django_db

A = "/api/v1"
MONDAY = date(2026, 11, 30)


@pytest.fixture
def desk(client_for, nurse_at_centre_1, clock):
    clock.move_to(bangkok(MONDAY, time(9, 10)))
    return client_for(nurse_at_centre_1)


def post(client, path, body=None):
    return client.post(path, body or {}, content_type="application/json")


def test_adding_a_walk_in_answers_it_with_its_label(desk, patient):
    response = post(
        desk,
        f"{A}/staff/centres/1/walk-ins",
        {"patient_id": patient.pk, "service": "general-checkup"},
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["label"] == "A-001"
    assert body["number"] == 1
    assert body["centre"] == 1
    assert body["day"] == "2026-11-30"
    assert body["status"] == "waiting"
    assert body["service"] == "general-checkup"
    assert body["patient"]["id"] == patient.pk
    assert body["arrived_at"] == "2026-11-30T09:10:00+07:00"
    assert body["started_at"] is None
    assert AuditEvent.objects.filter(action="walk_in.added", target_id=body["id"]).exists()


def test_someone_already_waiting_is_a_409_saying_their_number(desk, patient):
    walked_in(patient)

    response = post(
        desk,
        f"{A}/staff/centres/1/walk-ins",
        {"patient_id": patient.pk, "service": "general-checkup"},
    )

    assert response.status_code == 409
    assert response.json()["code"] == "already_in_queue"
    assert "A-001" in response.json()["message"]
    assert WalkIn.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (lambda p: {"patient_id": 999_999, "service": "general-checkup"}, 404, "patient_id"),
        (lambda p: {"patient_id": "somebody", "service": "general-checkup"}, 422, "patient_id"),
        (lambda p: {"service": "general-checkup"}, 422, "patient_id"),
        (lambda p: {"patient_id": p.pk, "service": "no-such-service"}, 404, "service"),
        (lambda p: {"patient_id": p.pk, "service": "video-general"}, 422, "service"),
    ],
    ids=["unknown person", "not a number", "no person", "unknown service", "video service"],
)
def test_bad_input_is_a_4xx_naming_the_field_and_adds_nobody(desk, patient, body, status, field):
    response = post(desk, f"{A}/staff/centres/1/walk-ins", body(patient))

    assert response.status_code == status, response.content
    assert response.json()["field"] == field
    assert not WalkIn.objects.exists()


def test_the_days_walk_ins_are_listed_by_number_and_the_read_is_audited(
    desk, patient, other_patient, django_assert_max_num_queries, settings
):
    settings.AUDIT_REPEATED_READ_SECONDS = 0
    walked_in(patient)
    walked_in(other_patient)
    walked_in(PatientFactory(), centre=2)

    with django_assert_max_num_queries(8):
        response = desk.get(f"{A}/staff/centres/1/walk-ins")

    assert response.status_code == 200
    assert [row["label"] for row in response.json()] == ["A-001", "A-002"]
    event = AuditEvent.objects.get(action="queue.viewed")
    assert event.patients == sorted([patient.pk, other_patient.pk])
    assert desk.get(f"{A}/staff/centres/1/walk-ins?day=2026-12-01").json() == []


def test_the_steps_move_the_walk_in_and_a_step_out_of_turn_is_a_409(desk, patient):
    walk_in = walked_in(patient)

    started = post(desk, f"{A}/staff/walk-ins/{walk_in.pk}/start")
    undone = post(desk, f"{A}/staff/walk-ins/{walk_in.pk}/undo-start")
    left = post(desk, f"{A}/staff/walk-ins/{walk_in.pk}/left")
    refused = post(desk, f"{A}/staff/walk-ins/{walk_in.pk}/complete")
    back = post(desk, f"{A}/staff/walk-ins/{walk_in.pk}/undo-left")
    done = post(desk, f"{A}/staff/walk-ins/{walk_in.pk}/complete")

    assert [r.json()["status"] for r in (started, undone, left, back, done)] == [
        "in_consultation",
        "waiting",
        "left",
        "waiting",
        "completed",
    ]
    assert refused.status_code == 409
    assert refused.json()["code"] == "invalid_status_change"
    assert AuditEvent.objects.filter(target_type="walkin", target_id=walk_in.pk).count() == 6


def test_staff_of_another_centre_cannot_see_or_step_a_walk_in(
    client_for, staff_at_centre_2, patient, clock
):
    walk_in = walked_in(patient)
    client = client_for(staff_at_centre_2)

    assert client.get(f"{A}/staff/centres/1/walk-ins").status_code == 403
    assert post(client, f"{A}/staff/walk-ins/{walk_in.pk}/left").status_code == 403
    assert post(client, f"{A}/staff/walk-ins/999999/left").status_code == 404
    walk_in.refresh_from_db()
    assert walk_in.status == WalkIn.Status.WAITING


def test_a_scheduler_may_add_but_not_start_a_consultation(
    client_for, scheduler_at_centre_1, patient, clock
):
    client = client_for(scheduler_at_centre_1)
    added = post(
        client, f"{A}/staff/centres/1/walk-ins", {"patient_id": patient.pk, "service": "antenatal"}
    )

    assert added.status_code == 201
    assert post(client, f"{A}/staff/walk-ins/{added.json()['id']}/start").status_code == 403
