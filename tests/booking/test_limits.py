"""Abuse limits: how many upcoming appointments one person may hold, and rate limits on
password sign-in, slot search and booking per user name, account, national ID and address."""

from datetime import date, time, timedelta

import pytest
from django.test import Client

from booking.exceptions import TooManyActiveBookings
from booking.models import Appointment
from tests.factories import SlotFactory, bangkok, book_through_api, booked

pytestmark = pytest.mark.django_db

TUESDAY = date(2026, 12, 1)


def test_a_person_holds_at_most_the_cap_of_upcoming_appointments(
    client_for, patient, settings, clock
):
    settings.MAX_ACTIVE_BOOKINGS_PER_PATIENT = 3
    client = client_for(patient)
    slots = [SlotFactory(start=bangkok(TUESDAY + timedelta(days=n), time(9))) for n in range(4)]

    answers = [
        book_through_api(client, patient.pk, slot.pk, f"cap-test-key-{n}").status_code
        for n, slot in enumerate(slots)
    ]
    refused = book_through_api(client, patient.pk, slots[3].pk, "cap-test-key-again")

    assert answers == [201, 201, 201, 409]
    assert refused.json()["code"] == "too_many_active_bookings"
    assert Appointment.objects.filter(patient=patient).count() == 3


def test_a_cancelled_or_past_appointment_frees_a_place_under_the_cap(patient, settings, clock):
    from booking.services.appointments import cancel_appointment

    settings.MAX_ACTIVE_BOOKINGS_PER_PATIENT = 1
    first = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(9))))
    with pytest.raises(TooManyActiveBookings):
        booked(patient, SlotFactory(start=bangkok(TUESDAY, time(11))))

    cancel_appointment(appointment=first)
    booked(patient, SlotFactory(start=bangkok(TUESDAY, time(11))))


def test_password_sign_in_is_limited_per_user_name(patient, settings):
    settings.SIGN_INS_PER_USER_PER_10_MINUTES = 3
    client = Client()
    body = {"username": patient.phone, "password": "wrong"}

    answers = [
        client.post("/api/v1/auth/sign-in", body, content_type="application/json").status_code
        for _ in range(4)
    ]

    assert answers == [401, 401, 401, 429]


def test_the_staff_sign_in_page_is_limited_too(nurse_at_centre_1, settings):
    settings.SIGN_INS_PER_USER_PER_10_MINUTES = 2
    client = Client()
    body = {"username": "nurse1", "password": "wrong"}

    answers = [client.post("/staff/sign-in?lang=en", body).status_code for _ in range(3)]

    assert answers == [400, 400, 429]


def test_searches_are_limited_per_address(reference_data, settings):
    settings.SEARCHES_PER_ADDRESS_PER_MINUTE = 2
    client = Client(REMOTE_ADDR="203.0.113.9")
    other = Client(REMOTE_ADDR="203.0.113.10")

    answers = [client.get("/api/v1/slots?service=general-checkup").status_code for _ in range(3)]

    assert answers == [200, 200, 429]
    assert other.get("/api/v1/slots?service=general-checkup").status_code == 200
    assert client.get("/?service=general-checkup").status_code == 429


def test_bookings_are_limited_per_national_id_each_day(client_for, patient, settings, clock):
    settings.BOOKINGS_PER_NATIONAL_ID_PER_DAY = 1
    client = client_for(patient)
    first = book_through_api(
        client, patient.pk, SlotFactory(start=bangkok(TUESDAY, time(9))).pk, "nid-key-01"
    )

    second = book_through_api(
        client, patient.pk, SlotFactory(start=bangkok(TUESDAY, time(11))).pk, "nid-key-02"
    )

    assert first.status_code == 201
    assert second.status_code == 429
    assert second.headers["Retry-After"]


def test_bookings_are_limited_per_account_each_hour(client_for, patient, settings, clock):
    settings.BOOKINGS_PER_ACCOUNT_PER_HOUR = 2
    client = client_for(patient)
    answers = [
        book_through_api(
            client, patient.pk, SlotFactory(start=bangkok(TUESDAY, time(8 + n))).pk, f"acct-key-{n}"
        ).status_code
        for n in range(3)
    ]

    assert answers == [201, 201, 429]
