"""Moving or cancelling many appointments at once when supply fails."""

from datetime import date, time, timedelta

import pytest
from django.test import Client

from booking.models import Appointment, Slot
from notifications.models import Message
from tests.factories import PatientFactory, SlotFactory, bangkok, booked

pytestmark = pytest.mark.django_db

TUESDAY = date(2026, 12, 1)


def post(client: Client, body: dict):
    return client.post("/api/v1/staff/appointments/bulk", body, content_type="application/json")


def test_staff_cancel_many_and_every_patient_is_told(reference_data, nurse_at_centre_1, client_for):
    slot = SlotFactory(capacity=3, start=bangkok(TUESDAY, time(9, 0)))
    appointments = [booked(PatientFactory(), slot) for _ in range(3)]

    response = post(
        client_for(nurse_at_centre_1),
        {
            "appointment_ids": [a.pk for a in appointments],
            "action": "cancel",
            "reason": "Vaccine lot recalled",
        },
    )

    assert response.status_code == 200, response.json()
    assert response.json()["cancelled"] == 3
    assert set(Appointment.objects.values_list("status", flat=True)) == {"cancelled"}
    assert Message.objects.filter(kind=Message.Kind.CANCELLED).count() == 3
    slot.refresh_from_db()
    assert slot.booked == 0


def test_staff_move_many_to_the_nearest_free_times_and_see_who_could_not_move(
    reference_data, nurse_at_centre_1, client_for
):
    closed_day = SlotFactory(capacity=3, start=bangkok(TUESDAY, time(9, 0)))
    appointments = [booked(PatientFactory(), closed_day) for _ in range(3)]
    same_centre = SlotFactory(capacity=1, start=bangkok(TUESDAY + timedelta(days=1), time(9, 0)))
    nearby = SlotFactory(
        centre_id=2, capacity=1, start=bangkok(TUESDAY + timedelta(days=1), time(9, 0))
    )

    response = post(
        client_for(nurse_at_centre_1),
        {
            "appointment_ids": [a.pk for a in appointments],
            "action": "move",
            "date_from": (TUESDAY + timedelta(days=1)).isoformat(),
            "date_to": (TUESDAY + timedelta(days=7)).isoformat(),
        },
    )

    body = response.json()
    assert response.status_code == 200, body
    assert (body["moved"], body["unchanged"]) == (2, 1)
    moved_to = {o["new_slot_id"] for o in body["outcomes"] if o["result"] == "moved"}
    assert moved_to == {same_centre.pk, nearby.pk}
    stuck = next(o for o in body["outcomes"] if o["result"] == "unchanged")
    assert stuck["reason"]
    assert Appointment.objects.get(pk=stuck["appointment_id"]).slot_id == closed_day.pk
    assert Message.objects.filter(kind=Message.Kind.RESCHEDULED).count() == 2
    for slot in Slot.objects.all():
        assert slot.booked == slot.appointments.exclude(status="cancelled").count()


def test_bulk_changes_need_rights_at_every_centre_concerned(
    reference_data, nurse_at_centre_1, client_for
):
    mine = booked(PatientFactory(), SlotFactory(start=bangkok(TUESDAY, time(9, 0))))
    theirs = booked(PatientFactory(), SlotFactory(centre_id=2, start=bangkok(TUESDAY, time(9, 0))))

    response = post(
        client_for(nurse_at_centre_1),
        {"appointment_ids": [mine.pk, theirs.pk], "action": "cancel", "reason": "x"},
    )

    assert response.status_code == 403
    assert not Appointment.objects.filter(status="cancelled").exists()
    no_reason = post(
        client_for(nurse_at_centre_1),
        {"appointment_ids": [mine.pk], "action": "cancel", "reason": " "},
    )
    assert no_reason.status_code == 422
    assert no_reason.json()["field"] == "reason"
