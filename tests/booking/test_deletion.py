"""Asking for one's data to be erased: the page, what is cancelled at once, when the erasure
comes (a grace period; the medical record's retention for someone who was seen), withdrawing,
and the nightly erasure itself."""

import uuid
from datetime import date, time, timedelta

import pytest
from django.contrib.auth import get_user_model

from booking.models import Appointment, DeletionRequest, Patient
from booking.services.appointments import check_in, complete_appointment
from booking.services.deletion import erase_due, request_deletion
from booking.services.walk_ins import complete_walk_in
from booking.tasks import erase_due_personal_data
from clinics.models import AuditEvent
from notifications.models import Message
from tests.factories import PatientFactory, SlotFactory, bangkok, booked, walked_in

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 30)  # the clock fixture's day
WEDNESDAY_9 = bangkok(date(2026, 12, 2), time(9))


@pytest.fixture
def child(patient):
    return PatientFactory(
        account=patient.account, relationship=Patient.Relationship.CHILD, phone=""
    )


@pytest.fixture
def coming(patient, child, clock):
    slot = SlotFactory(capacity=4)
    return [booked(patient, slot), booked(child, slot)]


def statuses(appointments: list[Appointment]) -> list[str]:
    return [Appointment.objects.get(pk=each.pk).status for each in appointments]


def test_the_page_says_what_happens_and_asks_to_confirm(client_for, patient, coming):
    client = client_for(patient)

    page = client.get("/me/delete?lang=en")
    unconfirmed = client.post("/me/delete?lang=en", {"patient": patient.pk})

    assert "medical record" in page.content.decode()
    assert "2026" in page.content.decode()  # when it would be erased
    assert unconfirmed.status_code == 400
    assert "Tick the box" in unconfirmed.content.decode()
    assert not DeletionRequest.objects.exists()
    assert statuses(coming) == ["booked", "booked"]


def test_the_account_holder_asks_for_the_household(client_for, patient, child, coming):
    response = client_for(patient).post(
        "/me/delete?lang=en", {"patient": patient.pk, "confirm": "yes"}, follow=True
    )

    assert "2 coming appointments were cancelled" in response.content.decode()
    requests = DeletionRequest.objects.order_by("patient_id")
    assert [(each.patient_id, each.erase_on) for each in requests] == [
        (patient.pk, MONDAY + timedelta(days=30)),
        (child.pk, MONDAY + timedelta(days=30)),
    ]
    assert statuses(coming) == ["cancelled", "cancelled"]
    assert AuditEvent.objects.filter(action="patient.deletion_requested").count() == 2


def test_the_data_download_shows_the_request(client_for, patient, child, coming):
    client = client_for(patient)
    client.post("/me/delete", {"patient": child.pk, "confirm": "yes"})

    data = client.get("/me/data.json").json()

    assert data["deletion_requests"] == [
        {
            "person_id": child.pk,
            "status": "pending",
            "asked_at": "2026-11-30T07:00:00+07:00",
            "erase_on": "2026-12-30",
        }
    ]


def test_a_dependants_request_is_theirs_alone(client_for, patient, child, coming):
    client_for(patient).post("/me/delete", {"patient": child.pk, "confirm": "yes"})

    assert list(DeletionRequest.objects.values_list("patient_id", flat=True)) == [child.pk]
    assert statuses(coming) == ["booked", "cancelled"]


def test_someone_who_was_seen_is_erased_when_their_record_is_no_longer_kept(patient, clock):
    visit = booked(patient, SlotFactory(start=bangkok(MONDAY, time(8))))
    clock.move_to(bangkok(MONDAY, time(8, 5)))
    check_in(appointment=visit)
    complete_appointment(appointment=visit)

    [asked] = request_deletion(patient=patient, by=patient.account).requests

    assert asked.erase_on == date(2031, 11, 30)


def test_someone_seen_as_a_walk_in_is_kept_as_long_as_after_a_visit(patient, clock):
    clock.move_to(bangkok(MONDAY, time(8, 5)))
    complete_walk_in(walk_in=walked_in(patient))

    [asked] = request_deletion(patient=patient, by=patient.account).requests

    assert asked.erase_on == date(2031, 11, 30)


def test_no_booking_while_erasure_is_asked_for_and_again_once_withdrawn(
    client_for, patient, coming
):
    client = client_for(patient)
    client.post("/me/delete", {"patient": patient.pk, "confirm": "yes"})

    def book() -> int:
        return client.post(
            "/api/v1/me/appointments",
            {
                "patient_id": patient.pk,
                "slot_id": SlotFactory(start=bangkok(date(2026, 12, 3), time(9))).pk,
            },
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )

    refused = book()
    withdrawn = client.post("/me/delete/withdraw?lang=en", {"patient": patient.pk}, follow=True)
    allowed = book()

    assert refused.status_code == 409
    assert refused.json()["code"] == "deletion_pending"
    assert "withdrawn" in withdrawn.content.decode()
    assert allowed.status_code == 201
    assert not DeletionRequest.objects.filter(status="pending").exists()
    assert statuses(coming) == ["cancelled", "cancelled"]  # what was cancelled stays so


def test_the_nightly_erasure_erases_only_what_is_due(client_for, patient, child, coming, clock):
    Patient.objects.filter(pk=patient.pk).update(phone_verified_at=bangkok(MONDAY, time(9)))
    client_for(patient).post("/me/delete", {"patient": patient.pk, "confirm": "yes"})
    phone, account_id, name = patient.phone, patient.account_id, patient.first_name

    assert erase_due() == 0  # not before the day
    clock.move_to(bangkok(MONDAY + timedelta(days=30), time(2, 10)))
    assert erase_due_personal_data() == {"erased": 2}
    assert erase_due() == 0  # nothing twice

    patient.refresh_from_db()
    assert name not in (patient.first_name, patient.last_name)
    assert (patient.last_name, patient.phone, patient.national_id) == ("", "", "")
    assert patient.phone_verified_at is None
    assert patient.passport_number == f"ERASED-{patient.pk}"
    assert patient.date_of_birth == date(1985, 1, 1)
    account = get_user_model().objects.get(pk=account_id)
    assert account.username == f"erased-{account_id}"
    assert not account.is_active
    assert not account.has_usable_password()
    assert not Message.objects.filter(recipient=phone).exists()
    assert set(Message.objects.filter(appointment__in=coming).values_list("body", flat=True)) == {
        ""
    }
    assert Appointment.objects.filter(patient=patient).count() == 1  # kept, for the counts
    assert AuditEvent.objects.filter(action="patient.erased").count() == 2
    assert set(DeletionRequest.objects.values_list("status", flat=True)) == {"erased"}
    assert client_for(None).post(
        "/api/v1/auth/sign-in",
        {"username": phone, "password": "correct horse battery"},
        content_type="application/json",
    ).status_code in (400, 401)
