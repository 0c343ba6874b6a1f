"""Staff see a patient's text messages and whether they arrived."""

from datetime import date

import pytest

from booking.links import appointment_link_token
from clinics.models import AuditEvent
from tests.factories import SlotFactory, booked

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 30)


def test_staff_see_the_messages_about_an_appointment_with_their_status(
    texted_visit, nurse_at_centre_1, client_for, django_assert_max_num_queries
):
    client = client_for(nurse_at_centre_1)

    with django_assert_max_num_queries(8):
        response = client.get(f"/api/v1/staff/appointments/{texted_visit.pk}/messages")

    assert response.status_code == 200
    shown = {(m["kind"], m["status"]) for m in response.json()}
    assert shown == {("confirmation", "sent"), ("reminder", "pending")}
    confirmation = next(m for m in response.json() if m["kind"] == "confirmation")
    assert confirmation["recipient"] == texted_visit.patient.phone
    assert confirmation["segments"] >= 1
    assert confirmation["sent_at"].endswith("+07:00")
    # The link in the text would let a reader move or cancel it: staff see it blanked.
    assert "/a/…" in confirmation["body"]
    assert appointment_link_token(texted_visit.pk) not in confirmation["body"]
    [read] = AuditEvent.objects.filter(action="appointment_messages.viewed")
    assert (read.target_id, read.centre_id, read.patients) == (
        texted_visit.pk,
        1,
        [texted_visit.patient_id],
    )


def test_staff_see_a_patients_messages_about_their_centre_only(
    texted_visit, patient, nurse_at_centre_1, staff_at_centre_2, client_for, clock
):
    from clinics.models import HealthCentre

    elsewhere = booked(patient, SlotFactory(centre=HealthCentre.objects.get(number=2)))

    at_1 = client_for(nurse_at_centre_1).get(f"/api/v1/staff/patients/{patient.pk}/messages")
    at_2 = client_for(staff_at_centre_2).get(f"/api/v1/staff/patients/{patient.pk}/messages")

    assert {m["appointment_id"] for m in at_1.json()} == {texted_visit.pk}
    assert {m["appointment_id"] for m in at_2.json()} == {elsewhere.pk}
    reads = AuditEvent.objects.filter(action="patient_messages.viewed").order_by("id")
    assert [(read.actor, read.centre_id, read.patients) for read in reads] == [
        (nurse_at_centre_1, 1, [patient.pk]),
        (staff_at_centre_2, 2, [patient.pk]),
    ]


def test_other_centres_staff_and_patients_are_refused(
    texted_visit, patient, other_patient, staff_at_centre_2, client_for
):
    other_centre = client_for(staff_at_centre_2).get(
        f"/api/v1/staff/appointments/{texted_visit.pk}/messages"
    )
    a_patient = client_for(patient).get(f"/api/v1/staff/appointments/{texted_visit.pk}/messages")
    stranger = client_for(staff_at_centre_2).get(f"/api/v1/staff/patients/{patient.pk}/messages")
    anonymous = client_for(None).get(f"/api/v1/staff/patients/{patient.pk}/messages")

    assert other_centre.status_code == 403
    assert a_patient.status_code == 403
    assert stranger.status_code == 404
    assert anonymous.status_code == 401
