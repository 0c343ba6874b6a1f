from datetime import date, time

import pytest
from django.test import Client

from booking.models import Appointment, Slot
from booking.services.slots import sync_slots
from clinics.models import AuditEvent, Closure, HealthCentre, ScheduleTemplate, Service
from tests.factories import ScheduleTemplateFactory, SlotFactory, bangkok, booked

pytestmark = pytest.mark.django_db

TUESDAY = date(2026, 12, 1)


def post(client: Client, path: str, body: dict | None = None):
    return client.post(path, body or {}, content_type="application/json")


SCHEDULE = {
    "service": "vaccine-influenza",
    "weekdays": [1, 3, 5],
    "start_time": "09:00",
    "end_time": "12:00",
    "slot_minutes": 15,
    "capacity": 6,
    "valid_from": "2026-11-30",
}


# --- Who may do what -----------------------------------------------------------------------------


def test_staff_endpoints_need_a_signed_in_staff_member_of_that_centre(
    reference_data, patient, staff_at_centre_2, client_for
):
    path = "/api/v1/staff/centres/1/appointments"
    assert client_for(None).get(path).status_code == 401
    assert client_for(patient).get(path).status_code == 403
    assert client_for(staff_at_centre_2).get(path).status_code == 403
    assert (
        client_for(staff_at_centre_2).get("/api/v1/staff/centres/2/appointments").status_code == 200
    )


def test_staff_of_another_centre_cannot_act_on_this_centres_appointments(
    reference_data, patient, staff_at_centre_2, client_for, clock
):
    appointment = booked(patient, SlotFactory(start=bangkok(date(2026, 11, 30), time(10, 0))))
    client = client_for(staff_at_centre_2, language="en")

    for action in ("check-in", "start", "complete", "no-show", "cancel"):
        response = post(client, f"/api/v1/staff/appointments/{appointment.pk}/{action}")
        assert response.status_code == 403, action
        assert response.json()["code"] == "forbidden"
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED


def test_a_clinician_consults_but_does_not_manage_schedules_or_cancel(
    reference_data, patient, clinician_at_centre_1, client_for, clock
):
    client = client_for(clinician_at_centre_1)
    slot = SlotFactory(service=Service.objects.get(code="video-general"))
    appointment = booked(patient, slot)
    clock.move_to(slot.start)

    assert post(client, "/api/v1/staff/centres/1/schedules", SCHEDULE).status_code == 403
    assert post(client, f"/api/v1/staff/appointments/{appointment.pk}/cancel").status_code == 403
    assert post(client, f"/api/v1/staff/appointments/{appointment.pk}/start").status_code == 200


def test_a_nurse_cannot_change_schedules(reference_data, nurse_at_centre_1, client_for):
    response = post(client_for(nurse_at_centre_1), "/api/v1/staff/centres/1/schedules", SCHEDULE)
    assert response.status_code == 403
    assert not ScheduleTemplate.objects.exists()


# --- The day's queue -----------------------------------------------------------------------------


def test_the_days_queue_with_check_in_and_completion(
    reference_data,
    patient,
    other_patient,
    nurse_at_centre_1,
    client_for,
    clock,
    django_assert_max_num_queries,
):
    first = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(9, 0))))
    second = booked(other_patient, SlotFactory(start=bangkok(TUESDAY, time(10, 0))))
    booked(patient, SlotFactory(start=bangkok(date(2026, 12, 2), time(9, 0))))  # another day
    booked(
        other_patient,
        SlotFactory(centre=HealthCentre.objects.get(number=2), start=bangkok(TUESDAY, time(9, 0))),
    )
    clock.move_to(bangkok(TUESDAY, time(8, 45)))
    client = client_for(nurse_at_centre_1)

    with django_assert_max_num_queries(6):
        queue = client.get("/api/v1/staff/centres/1/appointments").json()

    assert [a["id"] for a in queue] == [first.pk, second.pk]
    assert queue[0]["patient"]["national_id_masked"].startswith("x-xxxx-")
    assert "national_id" not in queue[0]["patient"]

    checked_in = post(client, f"/api/v1/staff/appointments/{first.pk}/check-in").json()
    assert checked_in["status"] == "checked_in"
    assert checked_in["checked_in_at"] == "2026-12-01T08:45:00+07:00"
    assert post(client, f"/api/v1/staff/appointments/{first.pk}/complete").json()["status"] == (
        "completed"
    )


def test_a_queue_for_another_day_can_be_asked_for(
    reference_data, patient, nurse_at_centre_1, client_for
):
    later = booked(patient, SlotFactory(start=bangkok(date(2026, 12, 2), time(9, 0))))
    queue = client_for(nurse_at_centre_1).get(
        "/api/v1/staff/centres/1/appointments", {"day": "2026-12-02"}
    )
    assert [a["id"] for a in queue.json()] == [later.pk]


def test_no_show_before_the_start_is_a_409(reference_data, patient, nurse_at_centre_1, client_for):
    appointment = booked(patient, SlotFactory())
    response = post(
        client_for(nurse_at_centre_1, language="en"),
        f"/api/v1/staff/appointments/{appointment.pk}/no-show",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_status_change"
    assert "after the appointment has started" in response.json()["message"]


def test_staff_cancel_frees_the_place_even_after_the_online_cutoff(
    reference_data, patient, nurse_at_centre_1, client_for
):
    slot = SlotFactory(start=bangkok(date(2026, 11, 30), time(8, 0)))
    appointment = booked(patient, slot, channel=Appointment.Channel.STAFF, enforce_cutoff=False)

    response = post(
        client_for(nurse_at_centre_1),
        f"/api/v1/staff/appointments/{appointment.pk}/cancel",
        {"reason": "centre flooded"},
    )

    assert response.status_code == 200
    assert response.json()["cancellation_reason"] == "centre flooded"
    slot.refresh_from_db()
    assert slot.booked == 0


# --- Schedules -----------------------------------------------------------------------------------


def test_a_scheduler_creates_a_weekly_schedule_and_its_slots_appear(
    reference_data, scheduler_at_centre_1, client_for
):
    client = client_for(scheduler_at_centre_1)
    response = post(client, "/api/v1/staff/centres/1/schedules", SCHEDULE)

    assert response.status_code == 201
    body = response.json()
    assert body["schedule"]["weekdays"] == [1, 3, 5]
    # 8 weeks x 3 days x 12 slots, less two holidays: 7 Dec (in lieu) and 1 Jan 2027.
    assert body["slots"]["created"] == (8 * 3 - 2) * 12
    assert client.get("/api/v1/slots", {"service": "vaccine-influenza"}).json()["count"] > 0
    listed = client.get("/api/v1/staff/centres/1/schedules").json()
    assert [s["id"] for s in listed] == [body["schedule"]["id"]]


def test_changing_a_schedule_resizes_and_ending_it_reports_booked_appointments(
    reference_data, patient, scheduler_at_centre_1, client_for
):
    client = client_for(scheduler_at_centre_1)
    schedule_id = post(client, "/api/v1/staff/centres/1/schedules", SCHEDULE).json()["schedule"][
        "id"
    ]
    slot = Slot.objects.filter(template_id=schedule_id).order_by("start")[5]
    appointment = booked(patient, slot)

    changed = client.put(
        f"/api/v1/staff/schedules/{schedule_id}",
        {**SCHEDULE, "capacity": 8},
        content_type="application/json",
    )
    assert changed.status_code == 200
    assert changed.json()["slots"]["resized"] > 0

    ended = client.delete(f"/api/v1/staff/schedules/{schedule_id}")
    assert ended.status_code == 200
    assert ended.json()["affected_appointment_ids"] == [appointment.pk]
    assert ended.json()["schedule"]["is_active"] is False

    edited_after = client.put(
        f"/api/v1/staff/schedules/{schedule_id}", SCHEDULE, content_type="application/json"
    )
    assert edited_after.json()["schedule"]["is_active"] is False
    assert edited_after.json()["slots"]["created"] == 0


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"weekdays": [1, 1]}, 422, "weekdays"),
        ({"weekdays": [8]}, 422, "weekdays"),
        ({"weekdays": []}, 422, "weekdays"),
        ({"start_time": "25:00"}, 422, "start_time"),
        ({"end_time": "09:05"}, 422, "end_time"),
        ({"capacity": 0}, 422, "capacity"),
        ({"service": "vaccine-unicorn"}, 404, "service"),
        ({"valid_until": "2026-11-01"}, 422, "valid_until"),
        ({"clinician_id": 999999}, 422, "clinician_id"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(
    reference_data, scheduler_at_centre_1, client_for, change, status, field
):
    response = post(
        client_for(scheduler_at_centre_1),
        "/api/v1/staff/centres/1/schedules",
        {**SCHEDULE, **change},
    )
    assert response.status_code == status
    assert response.json()["field"] == field
    assert not ScheduleTemplate.objects.exists()
    assert not Slot.objects.exists()


def test_an_overlapping_schedule_is_a_409(reference_data, scheduler_at_centre_1, client_for):
    client = client_for(scheduler_at_centre_1)
    post(client, "/api/v1/staff/centres/1/schedules", SCHEDULE)
    response = post(
        client,
        "/api/v1/staff/centres/1/schedules",
        {**SCHEDULE, "start_time": "11:00", "end_time": "13:00"},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "schedule_overlap"


# --- Closures and slots --------------------------------------------------------------------------


def test_a_closure_over_booked_slots_lists_the_appointments_to_follow_up(
    reference_data, patient, scheduler_at_centre_1, client_for
):
    ScheduleTemplateFactory(weekdays="12345")
    sync_slots()
    slot = Slot.objects.filter(centre_id=1, start__gte=bangkok(TUESDAY, time(0))).order_by("start")[
        0
    ]
    appointment = booked(patient, slot)
    client = client_for(scheduler_at_centre_1)

    response = post(
        client,
        "/api/v1/staff/centres/1/closures",
        {"start_date": "2026-12-01", "end_date": "2026-12-01", "reason_th": "ซ่อมแอร์"},
    )

    assert response.status_code == 201
    body = response.json()
    assert [a["id"] for a in body["affected_appointments"]] == [appointment.pk]
    assert body["affected_appointments"][0]["patient"]["phone"] == patient.phone
    closures = client.get("/api/v1/staff/centres/1/closures").json()
    assert [c["id"] for c in closures] == [body["closure"]["id"]]

    lifted = client.delete(f"/api/v1/staff/closures/{body['closure']['id']}")
    assert lifted.status_code == 200
    assert lifted.json()["reopened"] == 1


def test_only_city_administrators_close_every_centre(
    reference_data, scheduler_at_centre_1, city_admin, client_for
):
    body = {"start_date": "2026-12-24", "end_date": "2026-12-24", "reason_th": "วันหยุดพิเศษ"}
    assert (
        post(client_for(scheduler_at_centre_1), "/api/v1/staff/closures", body).status_code == 403
    )
    response = post(client_for(city_admin), "/api/v1/staff/closures", body)
    assert response.status_code == 201
    assert response.json()["closure"]["centre"] is None
    closure_id = response.json()["closure"]["id"]
    assert (
        client_for(scheduler_at_centre_1).delete(f"/api/v1/staff/closures/{closure_id}").status_code
        == 403
    )
    assert Closure.objects.filter(pk=closure_id).exists()


def test_a_closure_in_the_past_is_a_422(reference_data, scheduler_at_centre_1, client_for):
    response = post(
        client_for(scheduler_at_centre_1),
        "/api/v1/staff/centres/1/closures",
        {"start_date": "2026-11-01", "end_date": "2026-11-02", "reason_th": "x"},
    )
    assert response.status_code == 422
    assert response.json()["field"] == "start_date"


def test_slots_are_listed_and_capacity_changed_but_never_below_bookings(
    reference_data, patient, scheduler_at_centre_1, client_for, django_assert_max_num_queries
):
    slot = SlotFactory(capacity=3)
    SlotFactory(start=bangkok(TUESDAY, time(11, 0)))
    booked(patient, slot)
    client = client_for(scheduler_at_centre_1)

    with django_assert_max_num_queries(6):
        listed = client.get(
            "/api/v1/staff/centres/1/slots", {"date_from": "2026-12-01", "date_to": "2026-12-01"}
        ).json()
    assert (listed[0]["id"], listed[0]["booked"]) == (slot.pk, 1)

    too_low = client.patch(
        f"/api/v1/staff/slots/{slot.pk}", {"capacity": 0}, content_type="application/json"
    )
    assert too_low.status_code == 409
    assert too_low.json()["code"] == "capacity_below_booked"
    ok = client.patch(
        f"/api/v1/staff/slots/{slot.pk}", {"capacity": 1}, content_type="application/json"
    )
    assert ok.json()["capacity"] == 1
    assert ok.json()["capacity_set_by_staff"] is True


def test_a_slot_list_longer_than_two_weeks_is_a_422(
    reference_data, scheduler_at_centre_1, client_for
):
    response = client_for(scheduler_at_centre_1).get(
        "/api/v1/staff/centres/1/slots", {"date_from": "2026-12-01", "date_to": "2026-12-31"}
    )
    assert response.status_code == 422


def test_staff_of_another_centre_cannot_change_its_slots(
    reference_data, staff_at_centre_2, client_for
):
    slot = SlotFactory(capacity=3)
    response = client_for(staff_at_centre_2).patch(
        f"/api/v1/staff/slots/{slot.pk}", {"capacity": 10}, content_type="application/json"
    )
    assert response.status_code == 403
    slot.refresh_from_db()
    assert slot.capacity == 3


def test_a_schedule_time_with_a_utc_offset_is_a_422_and_saves_nothing(
    reference_data, scheduler_at_centre_1, client_for
):
    response = post(
        client_for(scheduler_at_centre_1),
        "/api/v1/staff/centres/1/schedules",
        {**SCHEDULE, "start_time": "09:00+07:00"},
    )
    assert response.status_code == 422
    assert response.json()["field"] == "start_time"
    assert not ScheduleTemplate.objects.exists()


def test_far_future_days_are_422s_in_staff_lists(reference_data, nurse_at_centre_1, client_for):
    client = client_for(nurse_at_centre_1)
    assert client.get("/api/v1/staff/centres/1/appointments?day=9999-12-31").status_code == 422
    assert client.get("/api/v1/staff/centres/1/slots?date_from=9999-12-31").status_code == 422


@pytest.mark.parametrize("day", ["0", "1", "20261201", "2026-1-1"])
def test_a_day_not_written_as_yyyy_mm_dd_is_a_422_not_1970(
    reference_data, admin_at_centre_1, client_for, day
):
    client = client_for(admin_at_centre_1)
    for path in (
        f"/api/v1/staff/centres/1/appointments?day={day}",
        f"/api/v1/staff/centres/1/slots?date_from={day}",
        f"/api/v1/staff/centres/1/audit?until={day}",
    ):
        response = client.get(path)
        assert response.status_code == 422, path
        assert "YYYY-MM-DD" in response.json()["message"]


def test_the_desk_marks_an_id_checked_over_the_api_and_other_centres_cannot(
    reference_data, patient, nurse_at_centre_1, staff_at_centre_2, client_for, clock
):
    appointment = booked(patient, SlotFactory(start=bangkok(date(2026, 11, 30), time(9))))
    path = f"/api/v1/staff/appointments/{appointment.pk}/verify-identity"

    refused = post(client_for(staff_at_centre_2), path)
    assert refused.status_code == 403
    assert post(client_for(patient), path).status_code == 403
    patient.refresh_from_db()
    assert not patient.identity_verified

    answer = post(client_for(nurse_at_centre_1), path)
    assert answer.status_code == 200
    assert answer.json()["patient"]["identity_verified_by"] == "desk"
    assert AuditEvent.objects.filter(action="patient.identity_verified", centre_id=1).count() == 1


def test_a_scheduler_lists_the_clinicians_and_nurses_a_schedule_may_name(
    client_for,
    scheduler_at_centre_1,
    clinician_at_centre_1,
    nurse_at_centre_1,
    staff_at_centre_2,
    django_assert_max_num_queries,
):
    clinician_at_centre_1.first_name, clinician_at_centre_1.last_name = "Anong", "Srisuk"
    clinician_at_centre_1.save()
    client = client_for(scheduler_at_centre_1)

    with django_assert_max_num_queries(6):
        listed = client.get("/api/v1/staff/centres/1/clinicians").json()

    assert sorted(listed, key=lambda person: person["role"]) == [
        {"id": clinician_at_centre_1.pk, "name": "Anong Srisuk", "role": "clinician"},
        {"id": nurse_at_centre_1.pk, "name": "nurse1", "role": "nurse"},
    ]
    schedule = post(
        client,
        "/api/v1/staff/centres/1/schedules",
        {**SCHEDULE, "clinician_id": clinician_at_centre_1.pk},
    )
    assert schedule.status_code == 201, schedule.content
    assert client.get("/api/v1/staff/centres/2/clinicians").status_code == 403
    assert (
        client_for(clinician_at_centre_1).get("/api/v1/staff/centres/1/clinicians").status_code
        == 403
    )
