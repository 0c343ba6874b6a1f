"""Calendar files and feeds, read back with icalendar and with vobject, an independent parser."""

from datetime import date, time, timedelta

import pytest
import vobject
from django.test import Client
from icalendar import Calendar

from booking.links import (
    appointment_calendar_link,
    appointment_link,
    appointment_link_token,
    my_appointment_link,
)
from booking.models import CalendarFeed, Slot
from booking.services.appointments import cancel_appointment, reschedule_appointment
from clinics.models import Closure, HealthCentre, PublicHoliday, Service, StaffMembership
from tests.factories import PatientFactory, SlotFactory, bangkok, booked

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 30)
TUESDAY = MONDAY + timedelta(days=1)


def local(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def fetch(url: str, client: Client | None = None, **headers: str):
    return (client or Client()).get(local(url), **headers)


def both_parsers(body: bytes):
    """The same file through both parsers: icalendar's components and vobject's."""
    text = body.decode()
    return Calendar.from_ical(body), vobject.readOne(text)


@pytest.fixture
def visit(patient, clock):
    return booked(patient, SlotFactory(start=bangkok(TUESDAY, time(14))))


def test_an_appointment_file_holds_what_a_calendar_needs_and_no_personal_data(visit):
    response = fetch(appointment_calendar_link(visit.pk) + "?lang=en")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Cache-Control"].startswith("private")
    calendar, card = both_parsers(response.content)
    assert calendar["METHOD"] == "PUBLISH"
    event = card.vevent
    assert event.uid.value == f"appointment-{visit.pk}@localhost"
    assert event.dtstart.value == bangkok(TUESDAY, time(14))
    assert event.dtend.value == bangkok(TUESDAY, time(14, 15))
    assert "DTSTART;TZID=Asia/Bangkok:20261201T140000" in response.content.decode()
    assert event.sequence.value == "0"
    assert event.summary.value == "General outpatient visit"
    assert "Health Centre 1" in event.location.value or "Saphan Mon" in event.location.value
    assert "Phra Nakhon District, Bangkok" in event.location.value
    assert event.geo.value == "13.747449;100.496616"
    assert event.url.value == my_appointment_link(visit.pk)
    assert event.valarm.trigger.value == -timedelta(hours=1)
    assert card.vtimezone.tzid.value == "Asia/Bangkok"
    text = response.content.decode()
    patient = visit.patient
    for personal in (patient.first_name, patient.last_name, patient.national_id, patient.phone):
        assert personal not in text
    assert "1985" not in text
    assert appointment_link_token(visit.pk) not in text


def test_the_file_from_the_text_messages_link_links_back_to_it(visit):
    token = appointment_link_token(visit.pk)

    _, card = both_parsers(Client().get(f"/a/{token}/calendar.ics?lang=en").content)

    assert card.vevent.url.value == appointment_link(visit.pk)
    assert appointment_link(visit.pk) in card.vevent.description.value


def test_a_thai_reader_gets_the_file_in_thai(visit):
    _, card = both_parsers(fetch(appointment_calendar_link(visit.pk)).content)

    assert card.vevent.summary.value == Service.objects.get(code="general-checkup").name_th
    assert "แขวงวังบูรพาภิรมย์ เขตพระนคร กรุงเทพมหานคร" in card.vevent.location.value


def test_a_moved_appointment_keeps_its_uid_and_raises_its_sequence(visit):
    before = fetch(appointment_calendar_link(visit.pk)).content
    later = SlotFactory(start=bangkok(TUESDAY, time(15)))

    reschedule_appointment(appointment=visit, new_slot_id=later.pk)
    after = fetch(appointment_calendar_link(visit.pk)).content

    first, second = vobject.readOne(before.decode()), vobject.readOne(after.decode())
    assert first.vevent.uid.value == second.vevent.uid.value
    assert int(second.vevent.sequence.value) == int(first.vevent.sequence.value) + 1
    assert second.vevent.dtstart.value == bangkok(TUESDAY, time(15))


def test_a_cancelled_appointment_downloads_as_a_cancellation(visit):
    booked_sequence = int(
        vobject.readOne(
            fetch(appointment_calendar_link(visit.pk)).content.decode()
        ).vevent.sequence.value
    )

    cancel_appointment(appointment=visit, reason="plans changed")
    calendar, card = both_parsers(fetch(appointment_calendar_link(visit.pk)).content)

    assert calendar["METHOD"] == "CANCEL"
    assert card.vevent.status.value == "CANCELLED"
    assert int(card.vevent.sequence.value) > booked_sequence
    assert card.vevent.uid.value == f"appointment-{visit.pk}@localhost"
    assert not hasattr(card.vevent, "valarm")
    # RFC 5546: a CANCEL names the attendees it removes; this one holds nobody's details.
    attendee = calendar.walk("VEVENT")[0]["ATTENDEE"]
    assert str(attendee) == f"mailto:appointment-{visit.pk}@localhost"
    assert card.vevent.attendee.value == f"mailto:appointment-{visit.pk}@localhost"


def test_a_file_that_is_not_cancelled_names_no_attendee(visit):
    calendar, _card = both_parsers(fetch(appointment_calendar_link(visit.pk)).content)

    assert calendar["METHOD"] == "PUBLISH"  # RFC 5546 PUBLISH: no ATTENDEE
    assert "ATTENDEE" not in calendar.walk("VEVENT")[0]


def test_a_video_visit_carries_the_page_to_join_from_instead_of_an_address(patient, clock):
    video = Service.objects.get(code="video-general")
    appointment = booked(patient, SlotFactory(service=video, start=bangkok(TUESDAY, time(9))))

    text = fetch(appointment_calendar_link(appointment.pk) + "?lang=en").content.decode()
    _, card = both_parsers(text.encode())

    page = my_appointment_link(appointment.pk)
    assert "Join the video call" in card.vevent.description.value
    assert page in card.vevent.description.value
    assert card.vevent.conference.value == page
    assert appointment_link_token(appointment.pk) not in text
    assert card.vevent.location.value == "Video call in your browser"
    assert not hasattr(card.vevent, "geo")
    assert card.vevent.valarm.trigger.value == -timedelta(minutes=10)


def test_an_altered_or_expired_link_gets_no_file(visit, clock):
    token = appointment_link_token(visit.pk)
    altered = Client().get(f"/a/{token[:-1]}x/calendar.ics", HTTP_ACCEPT_LANGUAGE="en")
    clock.move_to(bangkok(TUESDAY + timedelta(days=3), time(9)))
    expired = Client().get(f"/a/{token}/calendar.ics", HTTP_ACCEPT_LANGUAGE="en")

    assert altered.status_code == 404
    assert "copied in full" in altered.content.decode()
    assert expired.status_code == 410


def test_an_unchanged_file_answers_not_modified(visit):
    first = fetch(appointment_calendar_link(visit.pk))

    again = fetch(appointment_calendar_link(visit.pk), HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304


def test_the_appointment_page_and_api_link_the_calendar_file(visit, client_for):
    token = appointment_link_token(visit.pk)
    page = Client().get(f"/a/{token}?lang=en")
    listed = client_for(visit.patient).get("/api/v1/me/appointments").json()

    assert f"/a/{token}/calendar.ics" in page.content.decode()
    assert "Add to my calendar" in page.content.decode()
    assert listed[0]["calendar_url"] == appointment_calendar_link(visit.pk)
    assert Client().get(f"/api/v1/links/{token}").json()["calendar_url"].endswith(".ics")


# Private feeds


def start_feed(client: Client, path: str) -> dict:
    response = client.post(path)
    assert response.status_code == 201, response.content
    return response.json()


def test_a_household_feed_holds_everyone_on_the_account_and_nobody_else(
    patient, other_patient, client_for, clock
):
    child = PatientFactory(
        account=patient.account, relationship="child", first_name="ด.ญ.มะลิ", phone=""
    )
    own = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(9))))
    childs = booked(child, SlotFactory(start=bangkok(TUESDAY, time(10))))
    gone = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(11))))
    cancel_appointment(appointment=gone)
    strangers = booked(other_patient, SlotFactory(start=bangkok(TUESDAY, time(12))))

    feed = start_feed(client_for(patient), "/api/v1/me/calendar-feed")
    response = fetch(feed["url"])

    calendar, card = both_parsers(response.content)
    uids = {event.uid.value for event in card.vevent_list}
    assert uids == {f"appointment-{own.pk}@localhost", f"appointment-{childs.pk}@localhost"}
    assert f"appointment-{strangers.pk}@localhost" not in response.content.decode()
    assert calendar.get("METHOD") is None
    assert str(calendar["REFRESH-INTERVAL"].to_ical().decode()) == "PT1H"
    summaries = {event.summary.value for event in card.vevent_list}
    assert any(summary.endswith("ด.ญ.มะลิ") for summary in summaries)
    assert patient.last_name not in response.content.decode()
    assert feed["webcal_url"].startswith("webcal://")
    assert CalendarFeed.objects.get().last_fetched_at is not None


def test_a_household_feed_links_the_signed_in_pages_and_hands_on_no_text_message_link(
    patient, client_for, clock
):
    own = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(9))))

    feed = start_feed(client_for(patient), "/api/v1/me/calendar-feed")
    text = fetch(feed["url"]).content.decode()

    assert vobject.readOne(text).vevent.url.value == my_appointment_link(own.pk)
    assert appointment_link_token(own.pk) not in text
    # Read-only in words too: moving or cancelling takes signing in.
    in_english = fetch(feed["url"] + "?lang=en").content.decode()
    description = vobject.readOne(in_english).vevent.description.value
    assert "sign in to move or cancel it" in description
    assert "See, move or cancel" not in description


def test_the_text_messages_file_keeps_the_link_that_moves_or_cancels(visit):
    token = appointment_link_token(visit.pk)

    _, card = both_parsers(Client().get(f"/a/{token}/calendar.ics?lang=en").content)

    assert f"See, move or cancel this appointment: {appointment_link(visit.pk)}" in (
        card.vevent.description.value
    )


def test_an_empty_feed_still_holds_a_component_both_parsers_read(patient, client_for):
    feed = start_feed(client_for(patient), "/api/v1/me/calendar-feed")

    calendar, card = both_parsers(fetch(feed["url"]).content)

    assert [component.name for component in calendar.subcomponents] == ["VTIMEZONE"]
    assert card.vtimezone.tzid.value == "Asia/Bangkok"
    assert not hasattr(card, "vevent")


def test_starting_a_new_feed_or_revoking_it_ends_the_old_address(patient, client_for):
    client = client_for(patient)
    first = start_feed(client, "/api/v1/me/calendar-feed")
    second = start_feed(client, "/api/v1/me/calendar-feed")

    assert fetch(first["url"]).status_code == 404
    assert fetch(second["url"]).status_code == 200
    assert client.get("/api/v1/me/calendar-feed").json()["url"] == second["url"]

    assert client.delete("/api/v1/me/calendar-feed").status_code == 204
    assert fetch(second["url"]).status_code == 404
    assert client.get("/api/v1/me/calendar-feed").json()["code"] == "not_found"


def test_a_feed_needs_a_signed_in_account(client_for):
    assert client_for(None).post("/api/v1/me/calendar-feed").status_code == 401


def test_a_clinician_feed_shows_sessions_and_appointments_without_patient_names(
    clinician_at_centre_1, patient, client_for, clock
):
    slots = [
        SlotFactory(clinician=clinician_at_centre_1, start=bangkok(TUESDAY, time(9, minute)))
        for minute in (0, 15, 30)
    ]
    afternoon = SlotFactory(clinician=clinician_at_centre_1, start=bangkok(TUESDAY, time(13)))
    someone_elses = SlotFactory(start=bangkok(TUESDAY, time(9)))
    appointment = booked(patient, slots[1])
    booked(PatientFactory(), someone_elses)

    feed = start_feed(client_for(clinician_at_centre_1), "/api/v1/staff/calendar-feed")
    response = fetch(feed["url"] + "?lang=en")

    _, card = both_parsers(response.content)
    events = {event.uid.value: event for event in card.vevent_list}
    day = f"session-{clinician_at_centre_1.pk}-c1-s{slots[0].service_id}-20261201"
    assert set(events) == {
        f"{day}@localhost",
        f"{day}-2@localhost",
        f"appointment-{appointment.pk}-clinician@localhost",
    }
    morning = events[f"{day}@localhost"]
    assert events[f"{day}-2@localhost"].dtstart.value == afternoon.start
    assert morning.dtstart.value == bangkok(TUESDAY, time(9))
    assert morning.dtend.value == bangkok(TUESDAY, time(9, 45))
    assert morning.summary.value == "General outpatient visit: 1 of 15 booked"
    text = response.content.decode()
    assert patient.first_name not in text
    assert patient.last_name not in text


def test_a_session_keeps_its_uid_when_its_first_slot_goes_and_its_sequence_rises_on_change(
    clinician_at_centre_1, patient, client_for, clock
):
    slots = [
        SlotFactory(clinician=clinician_at_centre_1, start=bangkok(TUESDAY, time(9, minute)))
        for minute in (0, 15, 30)
    ]
    feed = start_feed(client_for(clinician_at_centre_1), "/api/v1/staff/calendar-feed")

    def session() -> vobject.base.Component:
        events = vobject.readOne(fetch(feed["url"]).content.decode()).vevent_list
        [event] = [event for event in events if event.uid.value.startswith("session-")]
        return event

    before = session()
    clock.shift(timedelta(minutes=5))
    booked(patient, slots[1])
    after_booking = session()
    slots[0].closed = True
    slots[0].save(update_fields=["closed"])
    without_first = session()

    assert after_booking.uid.value == before.uid.value == without_first.uid.value
    assert int(after_booking.sequence.value) > int(before.sequence.value)
    assert after_booking.last_modified.value > before.last_modified.value
    assert without_first.dtstart.value == bangkok(TUESDAY, time(9, 15))


def test_a_sessions_feed_stops_when_the_last_staff_role_goes_and_can_still_be_revoked(
    clinician_at_centre_1, client_for
):
    client = client_for(clinician_at_centre_1)
    feed = start_feed(client, "/api/v1/staff/calendar-feed")
    StaffMembership.objects.filter(user=clinician_at_centre_1).delete()

    assert fetch(feed["url"]).status_code == 404
    assert client.delete("/api/v1/staff/calendar-feed").status_code == 204
    assert CalendarFeed.objects.get().revoked_at is not None


def test_a_feed_says_how_often_to_refresh_in_both_forms(patient, client_for):
    feed = start_feed(client_for(patient), "/api/v1/me/calendar-feed")

    text = fetch(feed["url"]).content.decode()

    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in text
    assert "X-PUBLISHED-TTL:PT1H" in text


def test_only_staff_have_a_sessions_feed(patient, client_for):
    response = client_for(patient).post("/api/v1/staff/calendar-feed")

    assert response.status_code == 403


# The public closures feed


def test_a_centres_closures_feed_lists_its_own_and_the_citys_closures_and_holidays(
    reference_data, clock
):
    centre = HealthCentre.objects.get(number=1)
    own = Closure.objects.create(
        centre=centre,
        start_date=date(2026, 12, 7),
        end_date=date(2026, 12, 8),
        reason_th="ซ่อมอาคาร",
        reason_en="Building repairs",
    )
    city = Closure.objects.create(
        start_date=date(2026, 12, 24), end_date=date(2026, 12, 24), reason_th="น้ำท่วม"
    )
    elsewhere = Closure.objects.create(
        centre=HealthCentre.objects.get(number=2),
        start_date=date(2026, 12, 9),
        end_date=date(2026, 12, 9),
        reason_th="อบรม",
    )
    PublicHoliday.objects.filter(date=date(2026, 12, 10)).update(closes_centres=False)

    response = Client().get("/centres/1/closures.ics?lang=en")

    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=3600"
    _, card = both_parsers(response.content)
    events = {event.uid.value: event for event in card.vevent_list}
    repairs = events[f"closure-{own.pk}@localhost"]
    assert repairs.dtstart.value == date(2026, 12, 7)
    assert repairs.dtend.value == date(2026, 12, 9)  # exclusive end
    assert repairs.summary.value == "Closed: Building repairs"
    assert events[f"closure-{city.pk}@localhost"].summary.value == "Closed: น้ำท่วม"
    assert f"closure-{elsewhere.pk}@localhost" not in events
    assert "holiday-20261205@localhost" in events  # King Bhumibol's birthday
    assert "holiday-20261210@localhost" not in events  # the centres open that day


def test_an_unknown_centre_has_no_closures_feed(reference_data):
    assert Client().get("/centres/99/closures.ics").status_code == 404


def test_the_file_gives_the_centres_street_and_postcode_and_its_phone(visit):
    HealthCentre.objects.filter(number=1).update(
        address_en="10 Chakkraphet Road", phone="+6621234567"
    )

    response = fetch(appointment_calendar_link(visit.pk) + "?lang=en")

    event = both_parsers(response.content)[1].vevent
    assert event.location.value.endswith("10 Chakkraphet Road, Phra Nakhon District, Bangkok 10200")
    assert "The health centre's phone: 02 123 4567" in event.description.value


def test_a_centre_without_a_phone_number_puts_none_in_the_file(visit):
    response = fetch(appointment_calendar_link(visit.pk) + "?lang=en")

    event = both_parsers(response.content)[1].vevent
    assert "phone" not in event.description.value
    assert event.location.value.endswith("Phra Nakhon District, Bangkok 10200")


@pytest.fixture
def course(patient, clock):
    """Hepatitis B: dose 1 of 3 on Tuesday, which holds dose 2 forty days later; dose 3 has no
    time in its interval yet."""
    hepatitis_b = Service.objects.get(code="vaccine-hepatitis-b")
    for day in (TUESDAY, TUESDAY + timedelta(days=40)):
        SlotFactory(service=hepatitis_b, start=bangkok(day, time(10)))
    dose_1 = booked(
        patient, Slot.objects.get(service=hepatitis_b, start=bangkok(TUESDAY, time(10)))
    )
    return dose_1, dose_1.series.appointments.get(dose_number=2)


def test_a_dose_in_a_course_says_which_dose_it_is_in_english_and_thai(course):
    _, dose_2 = course

    english = vobject.readOne(fetch(appointment_calendar_link(dose_2.pk) + "?lang=en").text)
    thai = vobject.readOne(fetch(appointment_calendar_link(dose_2.pk) + "?lang=th").text)

    assert english.vevent.summary.value == "Hepatitis B vaccine · dose 2 of 3"
    assert "This is dose 2 of 3 of the Hepatitis B vaccine course." in (
        english.vevent.description.value
    )
    assert thai.vevent.summary.value.endswith("· เข็มที่ 2 จาก 3 เข็ม")
    assert "เข็มที่ 2 จาก 3 เข็ม" in thai.vevent.description.value


def test_a_household_feed_numbers_each_dose_of_a_course(course, patient, client_for):
    feed = start_feed(client_for(patient), "/api/v1/me/calendar-feed")

    card = vobject.readOne(fetch(feed["url"] + "?lang=en").content.decode())

    assert [event.summary.value for event in card.vevent_list] == [
        "Hepatitis B vaccine · dose 1 of 3",
        "Hepatitis B vaccine · dose 2 of 3",
    ]


def test_a_clinician_feed_numbers_the_doses_in_its_sessions(
    course, clinician_at_centre_1, client_for
):
    dose_1, _ = course
    Slot.objects.filter(pk=dose_1.slot_id).update(clinician=clinician_at_centre_1)

    feed = start_feed(client_for(clinician_at_centre_1), "/api/v1/staff/calendar-feed")
    card = vobject.readOne(fetch(feed["url"] + "?lang=en").content.decode())

    [appointment] = [event for event in card.vevent_list if "clinician" in event.uid.value]
    assert appointment.summary.value == (
        f"Appointment {dose_1.pk} · Hepatitis B vaccine (in person) · dose 1 of 3"
    )
