"""One phone booking for many people: staff of the centre see it, stop the phone booking
online (it can still be booked for at the desk), let it book again, and cancel what it holds
here. Every step is in the audit trail."""

import uuid
from datetime import date, time

import pytest

from booking.models import Appointment, BookingBlock, Patient, Slot
from booking.services.appointments import book_slot
from clinics.models import AuditEvent, HealthCentre
from tests.factories import PatientFactory, SlotFactory, bangkok, booked

pytestmark = pytest.mark.django_db


@pytest.fixture
def household(patient, clock, settings):
    """The patient's phone holds coming appointments at centre 1 for five people."""
    settings.SHARED_PHONE_MIN_PEOPLE = 5
    people = [patient] + [
        PatientFactory(account=patient.account, relationship=Patient.Relationship.OTHER)
        for _ in range(4)
    ]
    slot = SlotFactory(capacity=10)
    return [booked(person, slot) for person in people]


def later_slot(hour: int, centre: int = 1) -> Slot:
    """A time on Wednesday, away from the household's Tuesday ones."""
    return SlotFactory(
        start=bangkok(date(2026, 12, 2), time(hour)),
        centre=HealthCentre.objects.get(number=centre),
    )


def test_staff_see_a_phone_booking_for_many_people(client_for, nurse_at_centre_1, household):
    page = client_for(nurse_at_centre_1).get("/staff/centres/1/shared-phones?lang=en")

    text = page.content.decode()
    assert page.status_code == 200
    assert household[0].patient.account.username in text
    assert "5 coming appointments for 5 people" in text
    for appointment in household:
        assert f'value="{appointment.pk}"' in text
    [read] = AuditEvent.objects.filter(action="shared_phones.viewed")
    assert sorted(read.patients) == sorted(each.patient_id for each in household)


def test_a_family_below_the_threshold_is_not_listed(
    client_for, nurse_at_centre_1, household, settings
):
    settings.SHARED_PHONE_MIN_PEOPLE = 6

    text = (
        client_for(nurse_at_centre_1).get("/staff/centres/1/shared-phones?lang=en").content.decode()
    )

    assert "No phone books for that many people here." in text


def test_stopping_a_phone_refuses_its_online_bookings_but_not_the_desks(
    client_for, nurse_at_centre_1, household
):
    account = household[0].patient.account
    client = client_for(nurse_at_centre_1)

    client.post(
        f"/staff/centres/1/shared-phones/{account.pk}/block", {"reason": "Reselling places"}
    )

    block = BookingBlock.objects.get(account=account)
    assert block.blocked_by == nurse_at_centre_1
    someone = household[0].patient
    refused = client_for(someone).post(
        "/api/v1/me/appointments",
        {"patient_id": someone.pk, "slot_id": later_slot(9).pk},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "booking_blocked"
    at_the_desk = book_slot(
        patient=someone,
        slot_id=later_slot(11).pk,
        booked_by=nurse_at_centre_1,
        channel=Appointment.Channel.STAFF,
        idempotency_key="",
    )
    assert at_the_desk.created
    [event] = AuditEvent.objects.filter(action="account.booking_blocked")
    assert event.details == {"reason": "Reselling places"}
    assert event.actor == nurse_at_centre_1


def test_a_stopped_phone_can_book_again_once_allowed(client_for, nurse_at_centre_1, household):
    account = household[0].patient.account
    client = client_for(nurse_at_centre_1)
    client.post(f"/staff/centres/1/shared-phones/{account.pk}/block", {"reason": "Checking"})

    page = client.get("/staff/centres/1/shared-phones?lang=en").content.decode()
    client.post(f"/staff/centres/1/shared-phones/{account.pk}/allow")

    assert "Stopped from booking online" in page
    assert not BookingBlock.objects.filter(account=account, lifted_at__isnull=True).exists()
    assert book_slot(
        patient=household[0].patient,
        slot_id=later_slot(11).pk,
        booked_by=account,
        channel=Appointment.Channel.WEB,
        idempotency_key="",
    ).created
    assert AuditEvent.objects.filter(action="account.booking_unblocked").count() == 1


def test_a_reason_is_needed_to_stop_a_phone(client_for, nurse_at_centre_1, household):
    account = household[0].patient.account

    response = client_for(nurse_at_centre_1).post(
        f"/staff/centres/1/shared-phones/{account.pk}/block?lang=en", {"reason": " "}, follow=True
    )

    assert "Say why this phone is stopped from booking." in response.content.decode()
    assert not BookingBlock.objects.exists()


def test_cancelling_the_ticked_appointments(client_for, nurse_at_centre_1, household):
    account = household[0].patient.account
    ticked = household[1:3]

    client_for(nurse_at_centre_1).post(
        f"/staff/centres/1/shared-phones/{account.pk}/cancel",
        {"appointment": [each.pk for each in ticked]},
    )

    statuses = dict(Appointment.objects.values_list("pk", "status"))
    assert [statuses[each.pk] for each in household] == [
        "booked",
        "cancelled",
        "cancelled",
        "booked",
        "booked",
    ]
    assert AuditEvent.objects.filter(action="appointment.cancelled").count() == 2


def test_only_appointments_at_this_centre_can_be_cancelled_here(
    client_for, staff_at_centre_2, nurse_at_centre_1, household
):
    account = household[0].patient.account
    elsewhere = booked(household[0].patient, later_slot(13, centre=2))

    client_for(nurse_at_centre_1).post(
        f"/staff/centres/1/shared-phones/{account.pk}/cancel", {"appointment": [elsewhere.pk]}
    )
    from_centre_2 = client_for(staff_at_centre_2).post(
        f"/staff/centres/2/shared-phones/{account.pk}/cancel",
        {"appointment": [household[1].pk]},
    )

    elsewhere.refresh_from_db()
    household[1].refresh_from_db()
    assert elsewhere.status == household[1].status == "booked"
    assert from_centre_2.status_code == 302  # the phone books there too, but not this one


def test_staff_of_another_centre_cannot_act_on_a_phone_with_nothing_there(
    client_for, staff_at_centre_2, household
):
    account = household[0].patient.account

    response = client_for(staff_at_centre_2).post(
        f"/staff/centres/2/shared-phones/{account.pk}/block", {"reason": "Guessing"}
    )

    assert response.status_code == 404
    assert not BookingBlock.objects.exists()


@pytest.mark.parametrize("who", ["clinician_at_centre_1", "staff_at_centre_2", "patient"])
def test_who_cannot_open_the_page(client_for, request, who, household):
    response = client_for(request.getfixturevalue(who)).get("/staff/centres/1/shared-phones")

    assert response.status_code == 403


def test_the_page_is_not_for_signed_out_visitors(client_for, household):
    response = client_for(None).get("/staff/centres/1/shared-phones")

    assert response.status_code == 302
