"""The drive, stock and vaccination-record endpoints, end to end through the API."""

from datetime import date, time, timedelta

import pytest
import time_machine
from django.test import Client

from booking.models import Appointment, Slot, VaccinationDrive
from tests.factories import SlotFactory, bangkok, booked, stock_up, vaccine

pytestmark = pytest.mark.django_db

TUESDAY = date(2026, 12, 1)
FRIDAY = date(2026, 12, 4)

DRIVE = {
    "name_th": "ฉีดวัคซีนไข้หวัดใหญ่ผู้สูงอายุ",
    "name_en": "Flu shots for older people",
    "service": "vaccine-influenza",
    "centres": [1, 2],
    "first_day": TUESDAY.isoformat(),
    "last_day": FRIDAY.isoformat(),
    "sessions": [{"start_time": "09:00", "end_time": "10:00"}],
    "slot_minutes": 15,
    "capacity_per_slot": 2,
    "release_at": "2026-11-30T10:00:00+07:00",
    "min_age_months": 780,
    "risk_groups": ["aged_65_plus", "chronic_disease"],
}


def post(client: Client, path: str, body: dict | None = None):
    return client.post(path, body or {}, content_type="application/json")


PERSON_FIELDS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "sex",
    "phone",
    "national_id",
    "passport_number",
    "preferred_language",
    "district_code",
)


def declare_risk_groups(client: Client, patient_id: int, groups: list[str]):
    """PUT the patient's details as they are, with these risk groups."""
    details = client.get(f"/api/v1/me/patients/{patient_id}").json()
    return client.put(
        f"/api/v1/me/patients/{patient_id}",
        {**{key: details[key] for key in PERSON_FIELDS}, "risk_groups": groups},
        content_type="application/json",
    )


def test_staff_create_preview_and_release_a_drive_that_opens_at_its_release_time(
    city_admin, patient, client_for, clock: time_machine.Traveller
):
    staff = client_for(city_admin)
    created = post(staff, "/api/v1/staff/drives", DRIVE)
    assert created.status_code == 201, created.json()
    drive = created.json()
    assert drive["status"] == "draft"
    assert not drive["is_open"]
    assert drive["rules"] == [
        "Aged 65 years or over on the vaccination day.",
        "In one of these groups: Aged 65 or over; Chronic disease (lung, heart, stroke, "
        "kidney, diabetes, cancer treatment).",
    ]

    preview = staff.get(f"/api/v1/staff/drives/{drive['id']}/preview").json()
    assert (preview["slots"], preview["places"], preview["can_release"]) == (32, 64, False)
    assert preview["centres"][0]["shortfall"] == 32
    assert preview["centres"][0]["days"][0] == {"day": "2026-12-01", "slots": 4, "places": 8}

    short = post(staff, f"/api/v1/staff/drives/{drive['id']}/release")
    assert short.status_code == 409
    assert short.json()["code"] == "insufficient_stock"
    assert [c["centre"] for c in short.json()["detail"]["centres"]] == [1, 2]

    for number in (1, 2):
        response = post(
            staff,
            f"/api/v1/staff/centres/{number}/stock",
            {
                "service": "vaccine-influenza",
                "lot_number": "FLU-1",
                "expires_on": "2027-06-30",
                "doses": 40,
            },
        )
        assert response.status_code == 201, response.json()
    released = post(staff, f"/api/v1/staff/drives/{drive['id']}/release")
    assert released.status_code == 200, released.json()
    assert released.json()["slots_created"] == 32
    assert released.json()["drive"]["status"] == "scheduled"

    public = client_for(None)
    assert public.get("/api/v1/drives").json()[0]["is_open"] is False
    search = "/api/v1/slots?service=vaccine-influenza&date_from=2026-12-01&date_to=2026-12-04"
    assert public.get(search).json()["count"] == 0

    clock.move_to(bangkok(date(2026, 11, 30), time(10, 0)))
    assert public.get("/api/v1/drives").json()[0]["is_open"] is True
    assert public.get(search).json()["count"] == 32

    stock = staff.get("/api/v1/staff/centres/1/stock").json()
    flu = next(row for row in stock if row["service"]["code"] == "vaccine-influenza")
    assert (flu["on_hand"], flu["open_places"], flu["left_to_open"]) == (40, 32, 8)


def test_a_patient_sees_why_they_cannot_book_a_drive_before_trying(
    city_admin, patient, client_for, clock
):
    for number in (1, 2):
        stock_up(number, vaccine("vaccine-influenza"), 100)
    staff = client_for(city_admin)
    drive = post(staff, "/api/v1/staff/drives", DRIVE).json()
    post(staff, f"/api/v1/staff/drives/{drive['id']}/release", {"at": "2026-11-29T23:00:00Z"})
    client = client_for(patient, language="th")

    answer = client.get(f"/api/v1/drives/{drive['id']}/eligibility?patient_id={patient.pk}")

    assert answer.status_code == 200
    body = answer.json()
    assert body["eligible"] is False
    assert body["day"] == "2026-12-01"
    assert [reason["code"] for reason in body["reasons"]] == ["too_young", "risk_group"]
    assert "65 ปี" in body["reasons"][0]["message"]

    slot = Slot.objects.filter(drive_id=drive["id"]).earliest("start")
    refused = post(
        client_for(patient),
        "/api/v1/me/appointments",
        {"patient_id": patient.pk, "slot_id": slot.pk},
    )
    # No Idempotency-Key: the header is required.
    assert refused.status_code == 422
    refused = client_for(patient).post(
        "/api/v1/me/appointments",
        {"patient_id": patient.pk, "slot_id": slot.pk},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="drive-booking-1",
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "not_eligible"

    # Declaring a chronic disease is not enough: the drive also needs age 65.
    updated = declare_risk_groups(client, patient.pk, ["chronic_disease"])
    assert updated.status_code == 200, updated.json()
    assert updated.json()["risk_groups"] == ["chronic_disease"]
    body = client.get(f"/api/v1/drives/{drive['id']}/eligibility?patient_id={patient.pk}").json()
    assert [reason["code"] for reason in body["reasons"]] == ["too_young"]


def test_a_patient_cannot_declare_an_age_group(patient, client_for):
    response = declare_risk_groups(client_for(patient), patient.pk, ["aged_65_plus"])

    assert response.status_code == 422
    assert response.json()["field"] == "risk_groups"


def test_staff_manage_drives_only_where_they_manage_schedules(
    scheduler_at_centre_1, clinician_at_centre_1, staff_at_centre_2, client_for
):
    one_centre = {**DRIVE, "centres": [1]}
    assert (
        post(client_for(clinician_at_centre_1), "/api/v1/staff/drives", one_centre).status_code
        == 403
    )
    assert post(client_for(scheduler_at_centre_1), "/api/v1/staff/drives", DRIVE).status_code == 403
    created = post(client_for(scheduler_at_centre_1), "/api/v1/staff/drives", one_centre)
    assert created.status_code == 201
    drive_id = created.json()["id"]
    assert client_for(staff_at_centre_2).get(f"/api/v1/staff/drives/{drive_id}").status_code == 403
    assert client_for(staff_at_centre_2).get("/api/v1/staff/drives").json() == []
    assert not VaccinationDrive.objects.exclude(pk=drive_id).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"centres": [1, 999]}, "centres"),
        ({"weekdays": [1, 1]}, "weekdays"),
        ({"service": "no-such-vaccine"}, "service"),
        ({"districts": [9999]}, "districts"),
        ({"first_day": "2026-11-01"}, "first_day"),
    ],
)
def test_a_bad_drive_gets_a_4xx_naming_the_field(city_admin, client_for, change, field):
    response = post(client_for(city_admin), "/api/v1/staff/drives", {**DRIVE, **change})

    assert 400 <= response.status_code < 500
    assert response.json()["field"] == field
    assert not VaccinationDrive.objects.exists()


def test_withdrawing_a_lot_reports_what_staff_must_move(
    city_admin, nurse_at_centre_1, patient, client_for, clock
):
    lot = stock_up(1, vaccine("vaccine-influenza"), 10)
    slot = SlotFactory(service=vaccine("vaccine-influenza"), capacity=4)
    appointment = booked(patient, slot)

    response = post(
        client_for(nurse_at_centre_1),
        f"/api/v1/staff/lots/{lot.pk}/withdraw",
        {"reason": "Recall notice 12/2569"},
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["lot"]["withdrawn_at"] is not None
    assert (body["places_closed"], body["shortfall"]) == (3, 1)
    assert body["stock"]["on_hand"] == 0
    assert body["appointments_beyond_stock"] == [appointment.pk]
    assert body["patients_told"] == 1


def test_the_vaccination_record_shows_doses_given_and_the_next_dose_due(
    patient, nurse_at_centre_1, client_for, clock
):
    hep_b = vaccine()
    lot = stock_up(1, hep_b, 5, lot="HB-77")
    first = SlotFactory(service=hep_b, start=bangkok(date(2026, 11, 30), time(10, 0)))
    dose_1 = booked(patient, first, enforce_cutoff=False)
    nurse = client_for(nurse_at_centre_1)
    assert post(nurse, f"/api/v1/staff/appointments/{dose_1.pk}/check-in").status_code == 200
    clock.move_to(bangkok(date(2026, 11, 30), time(10, 10)))
    given = post(nurse, f"/api/v1/staff/appointments/{dose_1.pk}/complete", {"lot_id": lot.pk})
    assert given.status_code == 200, given.json()

    record = client_for(patient).get("/api/v1/me/vaccinations").json()

    assert len(record) == 1
    course = record[0]
    assert course["status"] == "active"
    assert course["doses_in_series"] == 3
    assert course["doses"][0]["lot_number"] == "HB-77"
    assert course["doses"][0]["given_at"].startswith("2026-11-30T10:10")
    assert course["next_dose_due"] == {
        "number": 2,
        "earliest": (date(2026, 11, 30) + timedelta(days=28)).isoformat(),
        "latest": (date(2026, 11, 30) + timedelta(days=60)).isoformat(),
    }
    appointments = client_for(patient).get("/api/v1/me/appointments").json()
    assert appointments[0]["dose_number"] == 1
    assert appointments[0]["course_id"] == course["id"]
    assert Appointment.objects.get(pk=dose_1.pk).lot_id == lot.pk


def test_releasing_with_a_body_that_is_not_a_json_object_is_a_422_and_releases_nothing(
    city_admin, client_for
):
    staff = client_for(city_admin)
    drive = post(staff, "/api/v1/staff/drives", DRIVE).json()

    response = staff.post(
        f"/api/v1/staff/drives/{drive['id']}/release", "[]", content_type="application/json"
    )

    assert (response.status_code, response.json()["field"]) == (422, "body")
    assert VaccinationDrive.objects.get(pk=drive["id"]).status == VaccinationDrive.Status.DRAFT
