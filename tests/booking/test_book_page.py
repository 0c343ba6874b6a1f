"""The page other sites link to for one slot (/book/slots/<id>): sign in or open an account
with a texted passcode, choose who it is for, book."""

import re
from datetime import date, time, timedelta

import pytest
from django.test import Client

from booking.models import Appointment, Patient, RiskGroup, Slot
from clinics.dates import format_moment
from notifications.models import Message, OptOut
from tests.factories import (
    PatientFactory,
    SlotFactory,
    bangkok,
    booked,
    national_id,
    passcode_texted_to,
    released_drive,
)

pytestmark = pytest.mark.django_db

TUESDAY = date(2026, 12, 1)


def page(client: Client, slot_id: int, **post: str):
    path = f"/book/slots/{slot_id}?lang=en"
    if post:
        return client.post(path, post, follow=True)
    return client.get(path)


@pytest.fixture
def slot(reference_data):
    return SlotFactory(start=bangkok(TUESDAY, time(9)))


def test_the_page_shows_the_time_and_asks_for_a_phone(slot):
    response = page(Client(), slot.pk)

    text = response.content.decode()
    assert response.status_code == 200
    assert "General outpatient visit" in text
    assert "Tue 1 Dec 2026, 09:00" in text
    assert 'name="phone"' in text


def test_the_page_is_in_thai_by_default(slot):
    text = Client().get(f"/book/slots/{slot.pk}").content.decode()

    assert 'lang="th"' in text
    assert "อ. 1 ธ.ค. 2569" in text


def test_a_patient_signs_in_with_a_passcode_and_books(patient, slot):
    client = Client()
    page(client, slot.pk, action="send_code", phone=patient.phone)
    code = passcode_texted_to(patient.phone)

    signed_in = page(client, slot.pk, action="sign_in", code=code)
    assert f'value="{patient.pk}"' in signed_in.content.decode()
    done = page(
        client, slot.pk, action="book", patient_id=str(patient.pk), idempotency_key="k" * 32
    )

    appointment = Appointment.objects.get()
    assert appointment.patient == patient
    assert appointment.channel == Appointment.Channel.WEB
    assert done.redirect_chain[-1][0] == f"/me/appointments/{appointment.pk}?booked=1"
    assert "Booked." in done.content.decode()


def test_a_new_person_opens_an_account_with_the_same_passcode(slot):
    client = Client()
    page(client, slot.pk, action="send_code", phone="0891112233")
    asked = page(client, slot.pk, action="sign_in", code=passcode_texted_to("+66891112233"))
    assert "No account uses this number yet" in asked.content.decode()

    page(
        client,
        slot.pk,
        action="register",
        first_name="Anong",
        last_name="Suksai",
        date_of_birth="1992-03-04",
        sex="female",
        national_id=national_id(),
    )
    newcomer = Patient.objects.get(phone="+66891112233")
    page(client, slot.pk, action="book", patient_id=str(newcomer.pk), idempotency_key="k" * 32)

    assert Appointment.objects.get().patient == newcomer
    assert newcomer.preferred_language == "en"


def test_a_wrong_passcode_is_said_plainly(patient, slot):
    client = Client()
    page(client, slot.pk, action="send_code", phone=patient.phone)

    response = page(client, slot.pk, action="sign_in", code="000000")

    assert 'role="alert"' in response.content.decode()
    assert not Appointment.objects.exists()


def test_bad_registration_details_are_named_and_nothing_is_saved(slot):
    client = Client()
    page(client, slot.pk, action="send_code", phone="0891112233")
    page(client, slot.pk, action="sign_in", code=passcode_texted_to("+66891112233"))

    response = page(
        client,
        slot.pk,
        action="register",
        first_name="Anong",
        last_name="Suksai",
        date_of_birth="not a date",
        sex="female",
        national_id="123",
    )

    assert "Date of birth" in response.content.decode()
    assert not Patient.objects.filter(phone="+66891112233").exists()


def test_a_refused_registration_keeps_what_was_typed_and_says_what_is_wrong_by_its_field(slot):
    client = Client()
    page(client, slot.pk, action="send_code", phone="0891112233")
    page(client, slot.pk, action="sign_in", code=passcode_texted_to("+66891112233"))
    typed = {
        "first_name": "Anong",
        "last_name": "Suksai",
        "date_of_birth": "1992-03-04",
        "sex": "female",
        "national_id": "1234567890123",  # 13 digits, a wrong check digit: the service refuses
    }

    refused = page(client, slot.pk, action="register", **typed).content.decode()
    again = page(client, slot.pk).content.decode()

    for name in ("first_name", "last_name", "date_of_birth", "national_id"):
        assert f'name="{name}" value="{typed[name]}"' in refused
    assert '<option value="female" selected>' in refused
    [id_input] = re.findall(r'<input[^>]*name="national_id"[^>]*>', refused)
    assert 'aria-invalid="true"' in id_input
    assert 'aria-describedby="id_national_id_error"' in id_input
    assert 'id="id_national_id_error"' in refused
    assert 'name="first_name" value=' not in again  # shown once, then the form is empty
    assert not Patient.objects.filter(phone="+66891112233").exists()


def test_the_registration_form_presets_no_sex_and_says_what_each_field_is(slot):
    client = Client()
    page(client, slot.pk, action="send_code", phone="0891112233")
    asked = page(
        client, slot.pk, action="sign_in", code=passcode_texted_to("+66891112233")
    ).content.decode()

    assert '<option value="" selected>Choose</option>' in asked
    assert 'autocomplete="given-name"' in asked
    assert 'autocomplete="family-name"' in asked
    assert 'autocomplete="bday"' in asked
    assert 'name="national_id" inputmode="numeric"' in asked
    left_empty = page(
        client,
        slot.pk,
        action="register",
        first_name="Anong",
        last_name="Suksai",
        date_of_birth="1992-03-04",
        national_id=national_id(),
    )
    assert not Patient.objects.filter(phone="+66891112233").exists()
    assert 'name="first_name" value="Anong"' in left_empty.content.decode()


def test_the_passcode_step_shows_the_number_as_written_and_offers_a_new_code_after_the_wait(
    slot, clock
):
    client = Client()
    sent = page(client, slot.pk, action="send_code", phone="+66891112233").content.decode()

    assert "The passcode texted to 089 111 2233" in sent
    assert "We have texted a passcode to 089 111 2233." in sent
    assert "You can ask for a new code in 60 seconds." in sent
    assert 'value="send_code"' in sent
    too_soon = page(client, slot.pk, action="send_code", phone="+66891112233")
    clock.shift(61)
    again = page(client, slot.pk, action="send_code", phone="+66891112233").content.decode()

    assert too_soon.status_code == 200
    assert Message.objects.filter(kind=Message.Kind.PASSCODE).count() == 2
    assert "You can ask for a new code in 60 seconds." in again
    clock.shift(15)
    assert "in 45 seconds." in page(client, slot.pk).content.decode()


def test_a_buddhist_era_year_of_birth_is_read_as_its_christian_era_year_and_said_so(slot):
    client = Client()
    page(client, slot.pk, action="send_code", phone="0891112233")
    page(client, slot.pk, action="sign_in", code=passcode_texted_to("+66891112233"))

    opened = page(
        client,
        slot.pk,
        action="register",
        first_name="Anong",
        last_name="Suksai",
        date_of_birth="2535-03-04",
        sex="female",
        national_id=national_id(),
    )

    assert Patient.objects.get(phone="+66891112233").date_of_birth == date(1992, 3, 4)
    assert "We read the year of birth 2535 as 1992 (Christian era)." in opened.content.decode()


def test_the_page_says_until_when_the_booking_can_be_moved_or_cancelled_online(slot):
    closes = slot.start - timedelta(minutes=slot.service.cancellation_cutoff_minutes)

    text = page(Client(), slot.pk).content.decode()

    assert "Move or cancel online until" in text
    assert format_moment(closes, "en") in text


def _book_and_read_what_is_next(client_for, patient, slot) -> str:
    client = client_for(patient)
    done = page(
        client, slot.pk, action="book", patient_id=str(patient.pk), idempotency_key="k" * 32
    )
    return done.content.decode()


def test_the_confirmation_page_says_a_text_booked_at_night_comes_when_quiet_hours_end(
    client_for, patient, slot, clock
):
    """NOW is 07:00 in Bangkok, inside the quiet hours (21:00 to 08:00)."""
    text = _book_and_read_what_is_next(client_for, patient, slot)

    assert "We will text you a confirmation at Mon 30 Nov 2026, 08:00" in text
    assert "We have texted you a confirmation" not in text
    assert "We have texted you" not in text  # nor does the notice above it say so


def test_the_confirmation_page_says_a_text_went_by_day_and_none_to_a_number_that_said_stop(
    client_for, patient, other_patient, slot, daytime
):
    by_day = _book_and_read_what_is_next(client_for, patient, slot)
    OptOut.objects.create(phone=other_patient.phone)
    stopped = _book_and_read_what_is_next(client_for, other_patient, slot)

    assert "We have texted you a confirmation, with a link to this appointment." in by_day
    assert "Texts to this phone are stopped (a reply of STOP)" in stopped


def test_what_to_bring_is_said_once_whether_the_service_lists_it_or_not(
    client_for, patient, other_patient, slot, daytime
):
    listed = _book_and_read_what_is_next(client_for, patient, slot)
    unlisted_slot = SlotFactory(start=bangkok(TUESDAY, time(10)))
    unlisted_slot.service.what_to_bring_en = ""
    unlisted_slot.service.save(update_fields=["what_to_bring_en"])
    unlisted = _book_and_read_what_is_next(client_for, other_patient, unlisted_slot)

    assert (
        "Please arrive 10 minutes early and bring ID card, appointment card and your current "
        "medicines." in listed
    )
    assert listed.count("ID card") == 1
    assert "Please arrive 10 minutes early and bring your ID card." in unlisted
    assert unlisted.count("ID card") == 1


def test_the_pages_name_the_centre_one_way_in_each_language(client_for, patient, slot, daytime):
    client = client_for(patient, "th")
    booking_page = client.get(f"/book/slots/{slot.pk}?lang=th").content.decode()
    done = client.post(
        f"/book/slots/{slot.pk}?lang=th",
        {"action": "book", "patient_id": str(patient.pk), "idempotency_key": "k" * 32},
        follow=True,
    )
    confirmation = done.content.decode()
    listed = client.get("/me/?lang=th").content.decode()

    for shown in (booking_page, confirmation, listed):
        assert slot.centre.name_in("th") in shown
        assert slot.centre.label_in("th") not in shown  # the short label is the texts'


def test_a_refused_drive_booking_names_each_rule_and_links_to_the_details_to_correct(
    client_for, patient, city_admin, clock
):
    drive = released_drive(city_admin, risk_groups=[RiskGroup.PREGNANT])
    clock.move_to(drive.release_at)
    slot = Slot.objects.filter(drive=drive).earliest("start")

    refused = page(
        client_for(patient), slot.pk, action="book", patient_id=str(patient.pk),
        idempotency_key="k" * 32,
    ).content.decode()  # fmt: skip

    assert "This drive is for people in these groups" in refused
    assert f'<a href="/me/#person-{patient.pk}">Check or correct' in refused
    assert not Appointment.objects.exists()


def test_someone_cannot_book_for_a_patient_on_another_account(
    patient, other_patient, slot, client_for
):
    client = client_for(patient)

    page(client, slot.pk, action="book", patient_id=str(other_patient.pk), idempotency_key="k" * 32)
    odd = page(client, slot.pk, action="book", patient_id="\u00b2", idempotency_key="k" * 32)

    assert odd.status_code == 200
    assert "Choose who the appointment is for." in odd.content.decode()
    assert not Appointment.objects.exists()


def test_a_full_slot_points_to_other_open_times(slot):
    full = SlotFactory(start=bangkok(TUESDAY, time(10)), capacity=1)
    booked(PatientFactory(), full)

    text = page(Client(), full.pk).content.decode()

    assert "This time is fully booked." in text
    assert f"/book/slots/{slot.pk}?lang=en" in text
    assert 'name="phone"' not in text


def test_an_unknown_or_unreleased_slot_is_not_found(slot, clock):
    unreleased = SlotFactory(
        start=bangkok(TUESDAY, time(11)), opens_at=bangkok(TUESDAY - timedelta(days=1), time(10))
    )

    assert Client().get("/book/slots/999999").status_code == 404
    assert Client().get(f"/book/slots/{unreleased.pk}").status_code == 404
