"""The desk in the staff API: finding people, registering one, booking for them."""

from datetime import date, time

import pytest

from booking.models import Appointment, Patient
from clinics.models import AuditEvent, HealthCentre
from tests.factories import SlotFactory, bangkok, national_id

pytestmark = pytest.mark.django_db

A = "/api/v1/staff/centres/1"


@pytest.fixture
def slot(daytime):
    return SlotFactory(start=bangkok(date(2026, 12, 1), time(9)))


def _book(client, body, key="desk-key-1"):
    return client.post(
        f"{A}/appointments", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )


def test_finding_by_phone_lists_the_household_masked(client_for, nurse_at_centre_1, patient):
    response = client_for(nurse_at_centre_1).get(f"{A}/people", {"phone": "0810000001"})

    assert response.status_code == 200
    [found] = response.json()
    assert found["id"] == patient.pk
    assert found["national_id_masked"] == patient.masked_national_id
    assert "national_id" not in found
    assert found["can_sign_in"] is True
    assert AuditEvent.objects.filter(action="desk.people_searched").count() == 1


def test_a_bad_search_is_a_422_naming_the_field(client_for, nurse_at_centre_1, reference_data):
    response = client_for(nurse_at_centre_1).get(f"{A}/people", {"national_id": "12345"})

    assert response.status_code == 422
    assert response.json()["field"] == "national_id"


def test_registering_without_a_phone_and_then_again(client_for, nurse_at_centre_1, daytime):
    client = client_for(nurse_at_centre_1)
    body = {
        "first_name": "บุญมี",
        "last_name": "มีสุข",
        "date_of_birth": "1948-03-09",
        "sex": "female",
        "national_id": national_id(),
    }

    created = client.post(f"{A}/people", body, content_type="application/json")
    again = client.post(f"{A}/people", body, content_type="application/json")

    assert created.status_code == 201
    assert created.json()["can_sign_in"] is False
    assert created.json()["identity_verified_by"] == "desk"
    assert again.status_code == 409
    assert again.json()["code"] == "person_on_file"
    assert again.json()["detail"]["patient_id"] == created.json()["id"]


def test_a_phone_with_an_account_needs_the_household(client_for, nurse_at_centre_1, patient):
    client = client_for(nurse_at_centre_1)
    body = {
        "first_name": "บุญมี",
        "last_name": "มีสุข",
        "date_of_birth": "1948-03-09",
        "sex": "female",
        "national_id": national_id(),
        "phone": "081 000 0001",
    }

    refused = client.post(f"{A}/people", body, content_type="application/json")
    added = client.post(
        f"{A}/people", {**body, "household": "parent"}, content_type="application/json"
    )

    assert refused.status_code == 409
    assert refused.json()["code"] == "phone_has_account"
    assert added.status_code == 201
    assert Patient.objects.get(pk=added.json()["id"]).account == patient.account


def test_booking_a_slot_here_twice_with_one_key_books_once(
    client_for, nurse_at_centre_1, patient, slot
):
    client = client_for(nurse_at_centre_1)

    first = _book(client, {"patient_id": patient.pk, "slot_id": slot.pk})
    second = _book(client, {"patient_id": patient.pk, "slot_id": slot.pk})

    assert first.status_code == 201
    assert first.json()["channel"] == "staff"
    assert second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    assert Appointment.objects.count() == 1


def test_booking_the_best_time_across_centres(client_for, nurse_at_centre_1, patient, daytime):
    elsewhere = SlotFactory(centre=HealthCentre.objects.get(number=2))

    response = _book(
        client_for(nurse_at_centre_1),
        {"patient_id": patient.pk, "service": "general-checkup", "district_code": 1001},
    )

    assert response.status_code == 201
    assert response.json()["slot_id"] == elsewhere.pk
    assert response.json()["centre"]["number"] == 2


def test_a_slot_and_a_service_together_are_refused(client_for, nurse_at_centre_1, patient, slot):
    response = _book(
        client_for(nurse_at_centre_1),
        {"patient_id": patient.pk, "slot_id": slot.pk, "service": "general-checkup"},
    )

    assert response.status_code == 422
    assert response.json()["field"] == "slot_id"


def test_another_centres_staff_and_patients_may_not_use_the_desk(
    client_for, staff_at_centre_2, clinician_at_centre_1, patient, slot
):
    for who in (staff_at_centre_2, clinician_at_centre_1, patient):
        client = client_for(who)
        assert client.get(f"{A}/people", {"national_id": patient.national_id}).status_code == 403
        assert _book(client, {"patient_id": patient.pk, "slot_id": slot.pk}).status_code == 403
    assert not Appointment.objects.exists()
    assert not AuditEvent.objects.filter(action="desk.people_searched").exists()
