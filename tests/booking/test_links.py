"""The link in each text message opens that one appointment, without signing in."""

import re
from datetime import date, time, timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client

from booking.links import (
    appointment_calendar_link,
    appointment_calendar_token,
    appointment_link,
    appointment_link_token,
)
from booking.models import Appointment, Partner, PartnerKey
from notifications.models import Message
from tests.booking.interop.test_partners import book, call, key_for, person
from tests.factories import SlotFactory, bangkok, booked

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 30)
Status = Appointment.Status


@pytest.fixture
def visit(patient, clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    return booked(patient, SlotFactory(start=bangkok(MONDAY + timedelta(days=1), time(14))))


def api(token: str, action: str = "", body: dict | None = None):
    path = f"/api/v1/links/{token}" + (f"/{action}" if action else "")
    client = Client(HTTP_ACCEPT_LANGUAGE="en", enforce_csrf_checks=True)
    if body is None and not action:
        return client.get(path)
    if action == "alternatives":
        return client.get(path)
    return client.post(path, body or {}, content_type="application/json")


def test_the_confirmation_carries_a_link_that_opens_the_appointment(visit):
    body = Message.objects.get(appointment=visit, kind=Message.Kind.CONFIRMATION).body
    link = appointment_link(visit.pk)
    token = link.rsplit("/", 1)[1]

    response = api(token)

    assert link in body
    assert len(link) < 60
    assert response.status_code == 200
    shown = response.json()
    assert shown["status"] == "booked"
    assert shown["patient_first_name"] == visit.patient.first_name
    assert visit.patient.last_name not in str(shown)
    assert visit.patient.national_id not in str(shown)
    assert shown["can_change"] is True


def test_a_link_cannot_be_altered_to_open_another_appointment(visit, other_patient):
    other = booked(other_patient, SlotFactory())
    ident, signature = appointment_link_token(visit.pk).split("-")
    other_ident = appointment_link_token(other.pk).split("-")[0]

    for forged in [
        f"{other_ident}-{signature}",
        f"{ident}-{'a' * 16}",
        ident,
        "x" * 500,
        f"{ident}-กขค",
        f"{ident}-{signature[:-1]}é",
    ]:
        response = api(forged)
        assert response.status_code == 404, forged
        assert response.json()["code"] == "link_invalid"


def test_a_link_expires_a_day_after_the_appointment(visit, clock):
    token = appointment_link_token(visit.pk)
    clock.move_to(visit.slot.end + timedelta(hours=24, minutes=1))

    response = api(token)

    assert response.status_code == 410
    assert response.json()["code"] == "link_expired"


def test_confirming_through_the_link_needs_no_sign_in_or_csrf(visit):
    response = api(appointment_link_token(visit.pk), "confirm")

    visit.refresh_from_db()
    assert response.status_code == 200
    assert visit.confirmed_at is not None


def test_cancelling_through_the_link_keeps_to_the_cut_off(visit, clock):
    token = appointment_link_token(visit.pk)
    clock.move_to(visit.slot.start - timedelta(minutes=119))

    late = api(token, "cancel")
    visit.refresh_from_db()
    assert late.status_code == 409
    assert late.json()["code"] == "cancellation_closed"
    assert visit.status == Status.BOOKED

    clock.move_to(visit.slot.start - timedelta(hours=3))
    in_time = api(token, "cancel")
    visit.refresh_from_db()
    assert in_time.status_code == 200
    assert visit.status == Status.CANCELLED


def test_moving_through_the_link_offers_times_at_the_same_centre(visit):
    later = SlotFactory(start=visit.slot.start + timedelta(days=2))
    SlotFactory(
        start=visit.slot.start + timedelta(days=2),
        centre=visit.slot.centre.__class__.objects.get(number=2),
    )
    token = appointment_link_token(visit.pk)

    offered = api(token, "alternatives").json()["items"]
    moved = api(token, "reschedule", {"slot_id": later.pk})

    visit.refresh_from_db()
    assert [slot["id"] for slot in offered] == [later.pk]
    assert moved.status_code == 200
    assert visit.slot == later


# --- The page ------------------------------------------------------------------------------------


def test_the_page_shows_the_appointment_in_the_patients_language(visit):
    token = appointment_link_token(visit.pk)

    thai = Client().get(f"/a/{token}")
    english = Client().get(f"/a/{token}?lang=en")

    assert thai.status_code == english.status_code == 200
    assert "ศูนย์บริการสาธารณสุข 1 สะพานมอญ" in thai.content.decode()
    assert "อ. 1 ธ.ค. 2569 14:00 น." in thai.content.decode()
    assert "Tue 1 Dec 2026, 14:00" in english.content.decode()
    assert thai["Content-Type"].startswith("text/html")


def test_the_link_page_asks_again_before_it_cancels(visit):
    token = appointment_link_token(visit.pk)
    browser = Client()

    page = browser.get(f"/a/{token}?lang=th").content.decode()
    asked = browser.get(f"/a/{token}?lang=th&cancel=1").content.decode()
    visit.refresh_from_db()

    assert 'name="action" value="cancel"' not in page
    assert 'name="action" value="cancel"' in asked
    assert "ยกเลิกนัดนี้ใช่ไหม" in asked
    assert visit.status == Status.BOOKED


def test_the_page_cancels_with_a_form_protected_by_csrf(visit):
    token = appointment_link_token(visit.pk)
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(f"/a/{token}?lang=en")
    csrf = page.cookies["csrftoken"].value

    forged = browser.post(f"/a/{token}?lang=en", {"action": "cancel"})
    done = browser.post(f"/a/{token}?lang=en", {"action": "cancel", "csrfmiddlewaretoken": csrf})
    after = browser.get(done["Location"])

    visit.refresh_from_db()
    assert forged.status_code == 403
    assert done.status_code == 302
    assert visit.status == Status.CANCELLED
    assert "Your appointment is cancelled." in after.content.decode()


def test_the_page_moves_the_appointment_to_a_chosen_time(visit):
    later = SlotFactory(start=visit.slot.start + timedelta(days=1))
    token = appointment_link_token(visit.pk)

    page = Client().get(f"/a/{token}?lang=en").content.decode()
    Client().post(f"/a/{token}?lang=en", {"action": "reschedule", "slot_id": str(later.pk)})

    visit.refresh_from_db()
    assert f'value="{later.pk}"' in page
    assert visit.slot == later


def test_the_page_explains_a_refusal_without_changing_anything(visit):
    token = appointment_link_token(visit.pk)
    client = Client()

    response = client.post(
        f"/a/{token}?lang=en", {"action": "reschedule", "slot_id": "abc"}, follow=True
    )

    visit.refresh_from_db()
    assert response.status_code == 200
    assert "Choose a new time first." in response.content.decode()
    assert visit.status == Status.BOOKED


def test_a_bad_link_gets_a_page_that_says_so(reference_data):
    response = Client().get("/a/zz-notavalidsignature?lang=en")

    assert response.status_code == 404
    assert "does not open an appointment" in response.content.decode()


def test_the_page_opens_in_the_language_the_text_was_written_in(visit):
    visit.patient.preferred_language = "en"
    visit.patient.save()

    page = Client(HTTP_ACCEPT_LANGUAGE="th").get(f"/a/{appointment_link_token(visit.pk)}")

    assert "Tue 1 Dec 2026, 14:00" in page.content.decode()


@pytest.mark.parametrize("slot_id", ["abc", "²", "1" * 40, ""])
def test_the_page_refuses_odd_slot_ids_without_an_error_page(visit, slot_id):
    token = appointment_link_token(visit.pk)

    response = Client().post(
        f"/a/{token}?lang=en", {"action": "reschedule", "slot_id": slot_id}, follow=True
    )

    assert response.status_code == 200
    assert "Choose a new time first." in response.content.decode()


def test_a_non_ascii_link_gets_the_not_found_page(reference_data):
    assert Client().get("/a/1-กขค").status_code == 404


# --- The calendar link in API answers ------------------------------------------------------------

ACTIONS = [("confirm", {}), ("cancel", {}), ("reschedule", None)]


def token_in(url: str) -> str:
    """The signed token in an address, wherever in the path it sits."""
    found = re.search(r"/([0-9a-z]+-[a-z2-7]{16})(?:[/.]|$)", url)
    assert found, url
    return found.group(1)


def assert_opens_only_the_calendar_file(url: str, visit: Appointment) -> None:
    """Try everything the text message's link does with the token in `url`: nothing but the
    .ics file answers, and the file does not hand on the text message's link."""
    token = token_in(url)
    booked_slot = visit.slot_id
    later = SlotFactory(start=visit.slot.start + timedelta(days=1))
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")

    answers = [api(token), api(token, "alternatives"), browser.get(f"/a/{token}")]
    for action, body in ACTIONS:
        answers.append(api(token, action, body if body is not None else {"slot_id": later.pk}))
        answers.append(browser.post(f"/a/{token}", {"action": action, "slot_id": str(later.pk)}))
    calendar_file = browser.get(urlsplit(url).path)

    visit.refresh_from_db()
    assert [answer.status_code for answer in answers] == [404] * len(answers)
    assert (visit.status, visit.slot_id, visit.confirmed_at) == (Status.BOOKED, booked_slot, None)
    assert calendar_file.status_code == 200
    assert calendar_file["Content-Type"] == "text/calendar; charset=utf-8"
    assert appointment_link_token(visit.pk) not in calendar_file.content.decode()


def test_a_clinician_who_may_not_cancel_cannot_act_through_the_staff_apis_calendar_link(
    visit, clinician_at_centre_1, client_for
):
    listed = client_for(clinician_at_centre_1).get(
        "/api/v1/staff/centres/1/appointments", {"day": "2026-12-01"}
    )

    [shown] = listed.json()
    assert shown["id"] == visit.pk
    assert_opens_only_the_calendar_file(shown["calendar_url"], visit)


def test_a_read_only_partner_key_cannot_act_through_the_calendar_link_it_is_given(reference_data):
    partner = Partner.objects.create(name="Clinic finder", contact_email="api@example.org")
    slot = SlotFactory(start=bangkok(MONDAY + timedelta(days=1), time(9)))
    booking = book(key_for(partner), slot.pk, person())
    assert booking.status_code == 201, booking.content
    visit = Appointment.objects.get(pk=booking.json()["id"])
    reader = key_for(partner, scopes=[PartnerKey.Scope.APPOINTMENTS_READ])

    listed = call(reader, "get", "/partner/appointments", {"date_from": "2026-12-01"})
    one = call(reader, "get", f"/partner/appointments/{visit.pk}")

    [shown] = listed.json()
    assert shown["calendar_url"] == one.json()["calendar_url"]
    assert_opens_only_the_calendar_file(shown["calendar_url"], visit)


def test_the_patients_api_and_the_link_api_give_the_calendar_link_too(visit, client_for):
    mine = client_for(visit.patient).get("/api/v1/me/appointments").json()
    linked = api(appointment_link_token(visit.pk)).json()

    assert mine[0]["calendar_url"] == linked["calendar_url"] == appointment_calendar_link(visit.pk)
    assert_opens_only_the_calendar_file(linked["calendar_url"], visit)


def test_the_text_messages_link_and_the_calendar_link_do_not_open_each_other(visit):
    acting, calendar = appointment_link_token(visit.pk), appointment_calendar_token(visit.pk)

    assert acting != calendar
    assert Client().get(f"/c/{acting}.ics").status_code == 404
    assert Client().get(f"/a/{calendar}/calendar.ics").status_code == 404
    assert Client().get(f"/a/{acting}/calendar.ics").status_code == 200
    assert Client().get(f"/c/{calendar}.ics").status_code == 200
    assert Client().post(f"/c/{calendar}.ics").status_code == 405


def test_the_calendar_link_expires_with_the_text_messages_link(visit, clock):
    path = urlsplit(appointment_calendar_link(visit.pk)).path

    clock.move_to(visit.slot.end + timedelta(hours=23))
    still = Client().get(path)
    clock.move_to(visit.slot.end + timedelta(hours=24, minutes=1))
    over = Client().get(path, HTTP_ACCEPT_LANGUAGE="en")

    assert still.status_code == 200
    assert over.status_code == 410


def test_a_new_secret_key_signs_anew_and_the_old_links_stop_opening(visit, settings):
    """Signatures are kept per process for speed, by the key that made them: a rotated
    SECRET_KEY is never answered from what the old one signed."""
    before = appointment_link_token(visit.pk)

    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    after = appointment_link_token(visit.pk)

    assert after != before
    assert Client().get(f"/a/{before}").status_code == 404
    assert Client().get(f"/a/{after}").status_code == 200
