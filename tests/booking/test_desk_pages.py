"""The desk's pages through the test client: finding a person, registering someone new, their
record with the times to book, booking, and the slip, only for staff who may book for people
at the centre."""

import re
from datetime import date, time, timedelta

import pytest

from booking.models import Appointment, Patient
from booking.services.desk import KEY_PREFIX
from booking.services.safeguards import block_booking
from clinics.models import AuditEvent, HealthCentre
from notifications.models import Message
from tests.factories import PatientFactory, SlotFactory, bangkok, booked, national_id

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 30)  # the clock fixture's day
TUESDAY = MONDAY + timedelta(days=1)


def _key(page: str) -> str:
    found = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', page)
    assert found is not None
    return found.group(1)


@pytest.fixture
def slot(daytime):
    return SlotFactory(start=bangkok(TUESDAY, time(9)))


def test_the_desk_is_in_the_staff_menu_for_those_who_may_book_for_people(
    client_for, nurse_at_centre_1, clinician_at_centre_1
):
    nurse_page = client_for(nurse_at_centre_1).get("/staff/centres/1/today").content.decode()
    doctor_page = client_for(clinician_at_centre_1).get("/staff/centres/1/today").content.decode()

    assert 'href="/staff/centres/1/desk"' in nurse_page
    assert 'href="/staff/centres/1/desk"' not in doctor_page
    assert client_for(clinician_at_centre_1).get("/staff/centres/1/desk").status_code == 403


def test_finding_by_national_id_shows_the_person_masked_and_is_recorded(
    client_for, nurse_at_centre_1, patient
):
    response = client_for(nurse_at_centre_1).post(
        "/staff/centres/1/desk", {"national_id": patient.national_id}
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert patient.full_name in page
    assert patient.masked_national_id in page
    assert page.count(patient.national_id) == 1  # only as typed, in the form
    assert f"/staff/centres/1/desk/people/{patient.pk}" in page
    event = AuditEvent.objects.get(action="desk.people_searched")
    assert (event.actor, event.patients) == (nurse_at_centre_1, [patient.pk])


def test_a_bad_search_keeps_what_was_typed_and_says_what_is_wrong(client_for, nurse_at_centre_1):
    response = client_for(nurse_at_centre_1).post(
        "/staff/centres/1/desk?lang=en", {"name": "บุญมี", "phone": ""}
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert "There is a problem" in page
    assert 'href="#id_date_of_birth"' in page
    assert 'value="บุญมี"' in page
    assert 'aria-invalid="true"' in page


def test_registering_someone_without_a_phone_opens_their_record(
    client_for, nurse_at_centre_1, daytime
):
    number = national_id()
    response = client_for(nurse_at_centre_1).post(
        "/staff/centres/1/desk/register?lang=en",
        {
            "first_name": "บุญมี",
            "last_name": "มีสุข",
            "date_of_birth": "2491-03-09",  # Buddhist Era
            "sex": "female",
            "national_id": number,
            "preferred_language": "th",
            "id_card_seen": "on",
        },
        follow=True,
    )

    registered = Patient.objects.get(national_id=number)
    page = response.content.decode()
    assert registered.date_of_birth == date(1948, 3, 9)
    assert registered.identity_verified_by == Patient.IdentityCheck.DESK
    assert response.redirect_chain[-1][0] == f"/staff/centres/1/desk/people/{registered.pk}"
    assert "Cannot sign in online" in page
    assert "Book a time here" in page


def test_registering_an_id_on_file_keeps_the_form_and_links_the_record(
    client_for, nurse_at_centre_1, patient
):
    response = client_for(nurse_at_centre_1).post(
        "/staff/centres/1/desk/register?lang=en",
        {
            "first_name": "Somchai",
            "last_name": "Jaidee",
            "date_of_birth": "1985-01-15",
            "sex": "male",
            "national_id": patient.national_id,
            "preferred_language": "th",
            "id_card_seen": "on",
        },
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert "registered already" in page
    assert f"/staff/centres/1/desk/people/{patient.pk}" in page
    assert 'value="Somchai"' in page


def test_registering_needs_the_id_card_seen(client_for, nurse_at_centre_1, reference_data):
    response = client_for(nurse_at_centre_1).post(
        "/staff/centres/1/desk/register",
        {
            "first_name": "บุญมี",
            "last_name": "มีสุข",
            "date_of_birth": "1948-03-09",
            "sex": "female",
            "national_id": national_id(),
            "preferred_language": "th",
        },
    )

    assert response.status_code == 400
    assert 'href="#id_id_card_seen"' in response.content.decode()
    assert not Patient.objects.exists()


def test_the_person_page_lists_the_open_times_here_and_is_recorded(
    client_for, nurse_at_centre_1, patient, slot
):
    response = client_for(nurse_at_centre_1).get(
        f"/staff/centres/1/desk/people/{patient.pk}?day={TUESDAY.isoformat()}"
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert f'name="slot_id" value="{slot.pk}"' in page
    assert "_desk_person_actions_extra" not in page
    assert AuditEvent.objects.filter(action="desk.person_viewed", patients=[patient.pk]).exists()


def test_booking_a_time_here_shows_the_slip_and_texts_the_person(
    client_for, nurse_at_centre_1, patient, slot
):
    client = client_for(nurse_at_centre_1)
    page = client.get(f"/staff/centres/1/desk/people/{patient.pk}?day=2026-12-01").content.decode()

    response = client.post(
        f"/staff/centres/1/desk/people/{patient.pk}/book?lang=en",
        {"slot_id": slot.pk, "idempotency_key": _key(page), "day": "2026-12-01"},
        follow=True,
    )

    appointment = Appointment.objects.get()
    slip = response.content.decode()
    assert response.redirect_chain[-1][0] == (
        f"/staff/centres/1/desk/appointments/{appointment.pk}/slip"
    )
    assert appointment.channel == Appointment.Channel.STAFF
    assert appointment.booked_by == nurse_at_centre_1
    assert "<svg" in slip
    assert f"/a/{appointment.pk:x}"[:3] in slip
    assert "Tue 1 Dec 2026, 09:00" in slip
    assert Message.objects.filter(appointment=appointment, recipient=patient.phone).exists()


def test_a_double_submit_gives_one_appointment(client_for, nurse_at_centre_1, patient, slot):
    client = client_for(nurse_at_centre_1)
    page = client.get(f"/staff/centres/1/desk/people/{patient.pk}?day=2026-12-01").content.decode()
    form = {"slot_id": slot.pk, "idempotency_key": _key(page)}

    first = client.post(f"/staff/centres/1/desk/people/{patient.pk}/book", form)
    second = client.post(f"/staff/centres/1/desk/people/{patient.pk}/book", form)

    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert Appointment.objects.count() == 1
    assert Appointment.objects.get().idempotency_key.startswith(KEY_PREFIX)


def test_a_stopped_phone_is_booked_at_the_desk(client_for, nurse_at_centre_1, patient, slot):
    block_booking(account=patient.account, reason="Many people", by=nurse_at_centre_1, centre_id=1)

    client_for(nurse_at_centre_1).post(
        f"/staff/centres/1/desk/people/{patient.pk}/book",
        {"slot_id": slot.pk, "idempotency_key": "abcdef12"},
    )

    assert Appointment.objects.filter(patient=patient).count() == 1


def test_the_best_time_is_booked_and_a_refusal_keeps_the_choice(
    client_for, nurse_at_centre_1, patient, daytime
):
    client = client_for(nurse_at_centre_1)
    form = {"how": "best", "service": "general-checkup", "district": "", "idempotency_key": "k1"}

    refused = client.post(
        f"/staff/centres/1/desk/people/{patient.pk}/book?lang=en", form, follow=True
    )
    elsewhere = SlotFactory(centre=HealthCentre.objects.get(number=2))
    booked_now = client.post(
        f"/staff/centres/1/desk/people/{patient.pk}/book", {**form, "idempotency_key": "k2"}
    )

    assert refused.redirect_chain[-1][0].endswith("?service=general-checkup")
    page = refused.content.decode()
    assert "No time is free" in page
    assert '<option value="general-checkup" selected>' in page
    assert booked_now.status_code == 303
    assert Appointment.objects.get().slot == elsewhere


def test_the_slip_is_in_thai_with_the_buddhist_era(client_for, nurse_at_centre_1, patient, slot):
    appointment = booked(patient, slot, channel=Appointment.Channel.STAFF)

    page = (
        client_for(nurse_at_centre_1, "th")
        .get(f"/staff/centres/1/desk/appointments/{appointment.pk}/slip")
        .content.decode()
    )

    assert "2569" in page
    assert "slip.css" in page
    assert AuditEvent.objects.filter(action="desk.slip_viewed", target_id=appointment.pk).exists()


def test_the_slip_gives_the_centre_s_address_phone_and_hours(
    client_for, nurse_at_centre_1, patient, slot
):
    HealthCentre.objects.filter(number=1).update(
        address_en="10 Chakkraphet Road",
        postcode="10200",
        phone="+6621234567",
        opening_hours=[{"day": 1, "opens": "08:00", "closes": "16:00"}],
    )
    appointment = booked(patient, slot, channel=Appointment.Channel.STAFF)

    page = (
        client_for(nurse_at_centre_1)
        .get(f"/staff/centres/1/desk/appointments/{appointment.pk}/slip?lang=en")
        .content.decode()
    )

    assert "10 Chakkraphet Road" in page
    assert "10200" in page
    assert '<a href="tel:+66-2-123-4567">02 123 4567</a>' in page
    assert "Mon 08:00" in page


def test_another_centres_staff_and_patients_are_refused(
    client_for, staff_at_centre_2, patient, slot
):
    for who in (staff_at_centre_2, patient):
        client = client_for(who)
        assert client.get("/staff/centres/1/desk").status_code == 403
        assert client.get(f"/staff/centres/1/desk/people/{patient.pk}").status_code == 403
        refused = client.post(
            f"/staff/centres/1/desk/people/{patient.pk}/book",
            {"slot_id": slot.pk, "idempotency_key": "abcdef12"},
        )
        assert refused.status_code == 403
    assert not Appointment.objects.exists()


def test_an_unknown_person_is_a_404(client_for, nurse_at_centre_1, reference_data):
    assert client_for(nurse_at_centre_1).get("/staff/centres/1/desk/people/999999").status_code == (
        404
    )


def test_a_dependant_shows_whose_account_they_are_on(client_for, nurse_at_centre_1, patient):
    mother = PatientFactory(
        account=patient.account, relationship=Patient.Relationship.PARENT, phone=""
    )

    page = (
        client_for(nurse_at_centre_1)
        .get(f"/staff/centres/1/desk/people/{mother.pk}?lang=en")
        .content.decode()
    )

    assert "On the account of" in page
    assert patient.full_name in page
