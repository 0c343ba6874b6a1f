"""What one booking costs the database: the statements of a booking through the API.

A realistic booking: a child on a guardian's account (their texts go to the guardian's phone),
a slot at a centre, and the confirmation and two reminders queued. The counts include the
session and user, the savepoints and the answer."""

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from booking.interop.partners import issue_partner_key
from booking.models import Appointment, Partner, PartnerKeyUse, Patient
from clinics.models import HealthCentre, Service
from notifications.models import Message
from tests.factories import PatientFactory, SlotFactory, booked, person_of

pytestmark = pytest.mark.django_db

# Before issue 17's fast booking path: 29, 40 (42 in a cold process) and 19. Through the ORM
# (BOOKING_ENGINE=orm, and always on SQLite): 23, 27 and 18. Through the booking function
# (BOOKING_ENGINE=sql, PostgreSQL): 9, 5 and 8, where the booking itself is one statement
# (see the last test); the rest is the session, the user, the patient, the waiting room's look
# at the slot, and what this process keeps once read: the slot's facts, its service and
# centre, and a block of 50 appointment ids. The refusal's answer reads the alternatives.
BOOK_STATEMENTS = {"orm": 23, "sql": 9}
# A partner's booking for a person on file, the key's lookup and the record of its use
# included: 31 and 15 before the person was read with their account, without savepoints and
# outside a transaction (the booking is then the only write), the answer made from what the
# engine holds and the key's last use kept to the minute.
PARTNER_STATEMENTS = {"orm": 21, "sql": 5}
NEW_PERSON_STATEMENTS = {"orm": 33, "sql": 17}
ALLOCATE_STATEMENTS = {"orm": 27, "sql": 5}
SLOT_FULL_STATEMENTS = {"orm": 18, "sql": 8}


@pytest.fixture
def child(patient: Patient) -> Patient:
    return PatientFactory(
        account=patient.account, relationship=Patient.Relationship.CHILD, phone=""
    )


def post(client: Client, path: str, body: dict[str, object]):  # type: ignore[no-untyped-def]
    return client.post(
        path, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
    )


def test_booking_a_slot_for_a_dependant_runs_few_statements(
    engine, patient, child, client_for: Callable[..., Client], django_assert_max_num_queries
):
    slot = SlotFactory()
    client = client_for(patient)

    with django_assert_max_num_queries(BOOK_STATEMENTS[engine]):
        response = post(
            client, "/api/v1/me/appointments", {"patient_id": child.pk, "slot_id": slot.pk}
        )

    assert response.status_code == 201
    # The confirmation, to the holder; the reminders follow as a worker takes it.
    assert Message.objects.filter(recipient=patient.phone).count() == 1
    assert Appointment.objects.get().patient == child


def test_allocating_the_best_slot_runs_few_statements(
    engine, patient, child, client_for: Callable[..., Client], django_assert_max_num_queries
):
    """As in a process that has booked before: what it keeps (the ranked centres, the
    service, its doses) is kept."""
    flu = Service.objects.get(code="vaccine-influenza")
    SlotFactory(service=flu, centre=HealthCentre.objects.get(number=9))
    client = client_for(patient)
    warm_up = post(
        client, "/api/v1/me/appointments/allocate", {"patient_id": patient.pk, "service": flu.code}
    )
    assert warm_up.status_code == 201

    with django_assert_max_num_queries(ALLOCATE_STATEMENTS[engine]):
        response = post(
            client,
            "/api/v1/me/appointments/allocate",
            {"patient_id": child.pk, "service": flu.code},
        )

    assert response.status_code == 201
    assert Appointment.objects.filter(slot__service=flu).count() == 2


def test_a_refused_slot_full_booking_runs_few_statements(
    engine,
    patient,
    child,
    other_patient,
    client_for: Callable[..., Client],
    django_assert_max_num_queries,
):
    slot = SlotFactory(capacity=1)
    booked(other_patient, slot)
    client = client_for(patient)

    with django_assert_max_num_queries(SLOT_FULL_STATEMENTS[engine]):
        response = post(
            client, "/api/v1/me/appointments", {"patient_id": child.pk, "slot_id": slot.pk}
        )

    assert response.status_code == 409
    assert response.json()["code"] == "slot_full"


def test_the_next_person_refused_a_full_slot_at_once_gets_its_alternatives_without_a_search(
    engine,
    patient,
    child,
    other_patient,
    client_for: Callable[..., Client],
    django_assert_num_queries,
):
    """Everyone who loses a hot slot is refused: its alternatives are searched for once a
    second per process, not once per person."""
    slot = SlotFactory(capacity=1)
    SlotFactory(start=slot.start + timedelta(hours=1))
    booked(other_patient, slot)
    client = client_for(patient)
    with CaptureQueriesContext(connection) as first_refusal:
        first = post(
            client, "/api/v1/me/appointments", {"patient_id": patient.pk, "slot_id": slot.pk}
        )
    with CaptureQueriesContext(connection) as second_refusal:
        second = post(
            client, "/api/v1/me/appointments", {"patient_id": child.pk, "slot_id": slot.pk}
        )

    assert first.status_code == second.status_code == 409
    assert first.json()["detail"]["alternatives"], "the first refusal found other times"
    assert second.json()["detail"]["alternatives"] == first.json()["detail"]["alternatives"]
    # The search (the slot read again, then the open slots near it) is not run again.
    assert len(second_refusal) <= len(first_refusal) - 2


def test_the_answer_to_a_booking_is_the_appointment_as_read_again(
    engine, patient, child, client_for: Callable[..., Client]
):
    """The answer is built from what the engine holds, not read again: it must say exactly
    what reading the appointment says."""
    slot = SlotFactory()
    client = client_for(patient)

    response = post(client, "/api/v1/me/appointments", {"patient_id": child.pk, "slot_id": slot.pk})

    assert response.status_code == 201
    read = client.get(f"/api/v1/me/appointments/{response.json()['id']}")
    assert response.json() == read.json()
    assert response.json()["centre"]["district"]["code"] == 1001


def test_the_answer_to_allocating_a_vaccine_dose_is_the_appointment_as_read_again(
    engine, patient, client_for: Callable[..., Client]
):
    hepatitis_b = Service.objects.get(code="vaccine-hepatitis-b")
    SlotFactory(service=hepatitis_b, centre=HealthCentre.objects.get(number=9))
    client = client_for(patient)

    response = post(
        client,
        "/api/v1/me/appointments/allocate",
        {"patient_id": patient.pk, "service": hepatitis_b.code},
    )

    assert response.status_code == 201
    assert response.json()["dose_number"] == 1
    assert response.json()["course_id"] is not None
    read = client.get(f"/api/v1/me/appointments/{response.json()['id']}")
    assert response.json() == read.json()


def partner_booking(client: Client, secret: str, patient: Patient, slot_id: int):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/partner/appointments",
        {"slot_id": slot_id, "person": person_of(patient)},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )


@pytest.fixture
def partner_secret(reference_data: None) -> str:
    partner = Partner.objects.create(name="super-app", contact_email="api@example.org")
    return issue_partner_key(
        partner=partner, scopes=["appointments:write", "appointments:read"], issued_by=None
    ).secret


def test_a_partners_booking_for_a_person_on_file_runs_few_statements(
    engine, patient, partner_secret, django_assert_max_num_queries
):
    """As the key's second call within a minute: its last use is not written again."""
    client, first_slot = Client(), SlotFactory()
    later = SlotFactory(start=first_slot.start + timedelta(hours=2))
    first = partner_booking(client, partner_secret, patient, first_slot.pk)
    assert first.status_code == 201, first.content

    with django_assert_max_num_queries(PARTNER_STATEMENTS[engine]):
        response = partner_booking(client, partner_secret, patient, later.pk)

    assert response.status_code == 201
    assert Appointment.objects.filter(patient=patient).count() == 2
    assert PartnerKeyUse.objects.count() == 2


def test_a_partners_booking_for_someone_new_reads_them_once_and_registers_them_with_it(
    engine, partner_secret, django_assert_max_num_queries
):
    """The person and their phone's account read once (not again inside the booking's
    transaction), then registered and booked, all or nothing; as the key's second call."""
    client, first_slot = Client(), SlotFactory()
    later = SlotFactory(start=first_slot.start + timedelta(hours=2))
    someone, someone_else = PatientFactory.build(), PatientFactory.build()
    assert partner_booking(client, partner_secret, someone, first_slot.pk).status_code == 201

    with django_assert_max_num_queries(NEW_PERSON_STATEMENTS[engine]):
        response = partner_booking(client, partner_secret, someone_else, later.pk)

    assert response.status_code == 201
    registered = Patient.objects.get(national_id=someone_else.national_id)
    assert registered.account.get_username() == someone_else.phone
    assert Appointment.objects.get(pk=response.json()["id"]).patient_id == registered.pk


def test_the_answer_to_a_partners_booking_is_the_appointment_as_it_reads_it(
    engine, patient, partner_secret
):
    client = Client()

    response = partner_booking(client, partner_secret, patient, SlotFactory().pk)

    assert response.status_code == 201
    read = client.get(
        f"/api/v1/partner/appointments/{response.json()['id']}",
        HTTP_AUTHORIZATION=f"Bearer {partner_secret}",
    )
    assert read.status_code == 200
    assert response.json() == read.json()
    assert response.json()["patient"]["id"] == patient.pk


@pytest.mark.postgresql
def test_a_booking_through_the_function_is_one_statement(
    settings, patient, child, django_assert_num_queries
):
    """book_slot itself, in a process that has booked the slot before: one call."""
    settings.BOOKING_ENGINE = "sql"
    from booking.services import booking_sql

    slot = SlotFactory()
    booking_sql.forget_appointment_ids()  # the next booking takes a fresh block, leaves 49
    booked(patient, slot)

    with django_assert_num_queries(1):
        booked(child, slot)

    assert Appointment.objects.filter(slot=slot).count() == 2
