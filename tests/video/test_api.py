"""Video calls in the JSON API: the patient's join link and the clinician's list of rooms."""

from datetime import date, time

import pytest

from booking.links import video_join_token
from clinics.models import Service
from tests.factories import PatientFactory, SlotFactory, bangkok, booked
from video.models import ConsultationRoom
from video.services import room_for, wait_in_lobby

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 30)


def video_visit(patient, at: time):
    video = Service.objects.get(code="video-general")
    return booked(patient, SlotFactory(service=video, start=bangkok(MONDAY, at)))


def test_a_patient_gets_the_join_page_and_when_the_room_opens(patient, client_for, clock):
    visit = video_visit(patient, time(10))

    answer = client_for(patient).get(f"/api/v1/me/appointments/{visit.pk}/video").json()

    assert answer["join_url"].endswith(f"/v/{video_join_token(visit.pk)}")
    assert answer["opens_at"] == "2026-11-30T09:45:00+07:00"
    assert answer["closes_at"] == "2026-11-30T10:45:00+07:00"
    assert answer["is_open"] is False


def test_an_appointment_in_person_has_no_video_call(patient, client_for, clock):
    visit = booked(patient, SlotFactory(start=bangkok(MONDAY, time(10))))

    response = client_for(patient).get(f"/api/v1/me/appointments/{visit.pk}/video")

    assert response.status_code == 404
    assert "not a video call" in response.json()["message"]


def test_another_accounts_video_call_is_not_found(patient, other_patient, client_for, clock):
    visit = video_visit(patient, time(10))

    response = client_for(other_patient).get(f"/api/v1/me/appointments/{visit.pk}/video")

    assert response.status_code == 404


def test_a_clinician_sees_todays_rooms_and_who_waits(
    clinician_at_centre_1, client_for, clock, django_assert_max_num_queries
):
    first = video_visit(PatientFactory(first_name="มาลี"), time(10))
    second = video_visit(PatientFactory(first_name="สมศรี"), time(11))
    booked(PatientFactory(), SlotFactory(start=bangkok(MONDAY, time(10))))  # in person
    wait_in_lobby(room_id=room_for(first).pk)
    client = client_for(clinician_at_centre_1)

    with django_assert_max_num_queries(10):
        rows = client.get("/api/v1/staff/centres/1/video/rooms").json()

    assert [row["appointment_id"] for row in rows] == [first.pk, second.pk]
    assert rows[0]["patient_first_name"] == "มาลี"
    assert rows[0]["waiting_since"] == "2026-11-30T07:00:00+07:00"
    assert rows[0]["status"] == "checked_in"
    assert rows[1]["waiting_since"] is None
    assert (
        rows[1]["room_url"]
        == f"/video/rooms/{ConsultationRoom.objects.get(appointment=second).code}"
    )
    assert client.get("/api/v1/staff/centres/1/video/rooms").json() == rows  # same rooms


def test_only_clinicians_of_the_centre_see_its_rooms(
    staff_at_centre_2, scheduler_at_centre_1, patient, client_for
):
    for who in (staff_at_centre_2, scheduler_at_centre_1, patient):
        assert client_for(who).get("/api/v1/staff/centres/1/video/rooms").status_code == 403
