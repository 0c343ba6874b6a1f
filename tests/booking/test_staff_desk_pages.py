"""The staff desk pages through the test client: today's queue and its buttons, the week,
weekly schedules and closures, each only for staff of the centre with the right role."""

import re
from datetime import date, time

import pytest

from booking.models import Appointment, Patient, Slot
from booking.services.slots import sync_slots
from clinics.models import AuditEvent, Closure, HealthCentre, ScheduleTemplate, Service
from notifications.models import Message
from tests.factories import PatientFactory, ScheduleTemplateFactory, SlotFactory, bangkok, booked
from video.models import ConsultationRoom
from video.services import room_for, wait_in_lobby

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 30)  # the clock fixture's day


@pytest.fixture
def visit(patient, clock):
    return booked(patient, SlotFactory(start=bangkok(MONDAY, time(9))))


def test_the_queue_lists_the_days_appointments_with_their_next_steps(
    client_for, nurse_at_centre_1, visit
):
    response = client_for(nurse_at_centre_1).get("/staff/centres/1/today?lang=en")

    page = response.content.decode()
    assert response.status_code == 200
    assert f'data-appointment-id="{visit.pk}"' in page
    assert visit.patient.first_name in page
    assert "Check in" in page
    assert 'data-socket="/ws/centres/1/queue/"' in page


def test_the_queue_is_thai_by_default(client_for, nurse_at_centre_1, visit):
    page = client_for(nurse_at_centre_1).get("/staff/centres/1/today").content.decode()

    assert '<html lang="th">' in page
    assert "2569" in page


def test_checking_in_from_the_queue(client_for, nurse_at_centre_1, visit):
    client = client_for(nurse_at_centre_1)

    response = client.post(
        f"/staff/centres/1/today/appointments/{visit.pk}/check-in?lang=en", follow=True
    )

    visit.refresh_from_db()
    assert visit.status == Appointment.Status.CHECKED_IN
    assert "is checked in" in response.content.decode()


def test_a_step_that_is_not_allowed_yet_is_said_and_changes_nothing(
    client_for, nurse_at_centre_1, visit
):
    response = client_for(nurse_at_centre_1).post(
        f"/staff/centres/1/today/appointments/{visit.pk}/no-show?lang=en", follow=True
    )

    visit.refresh_from_db()
    assert visit.status == Appointment.Status.BOOKED
    assert 'role="alert"' in response.content.decode()


def test_staff_of_another_centre_cannot_see_or_act_on_the_queue(
    client_for, staff_at_centre_2, visit
):
    client = client_for(staff_at_centre_2)

    assert client.get("/staff/centres/1/today").status_code == 403
    assert (
        client.post(f"/staff/centres/1/today/appointments/{visit.pk}/check-in").status_code == 403
    )
    visit.refresh_from_db()
    assert visit.status == Appointment.Status.BOOKED


def test_an_appointment_of_another_centre_cannot_be_moved_through_this_centres_queue(
    client_for, city_admin, patient, clock
):
    elsewhere = booked(patient, SlotFactory(centre_id=2, start=bangkok(MONDAY, time(9))))

    client_for(city_admin).post(f"/staff/centres/1/today/appointments/{elsewhere.pk}/check-in")

    elsewhere.refresh_from_db()
    assert elsewhere.status == Appointment.Status.BOOKED


def test_a_visitor_is_sent_to_sign_in(client):
    assert client.get("/staff/centres/1/today").headers["Location"].startswith("/staff/sign-in")


def test_the_queue_reads_a_bounded_number_of_queries(
    client_for, nurse_at_centre_1, reference_data, clock, django_assert_max_num_queries
):
    for hour in range(8, 16):
        booked(PatientFactory(), SlotFactory(start=bangkok(MONDAY, time(hour))))
    client = client_for(nurse_at_centre_1)

    with django_assert_max_num_queries(12):
        client.get("/staff/centres/1/today?fragment=queue")


def test_the_fragment_is_just_the_queue(client_for, nurse_at_centre_1, visit):
    page = (
        client_for(nurse_at_centre_1).get("/staff/centres/1/today?fragment=queue").content.decode()
    )

    assert page.lstrip().startswith('<section id="queue"')


def test_the_week_shows_each_slot_and_how_full_it_is(client_for, nurse_at_centre_1, visit):
    page = client_for(nurse_at_centre_1).get("/staff/centres/1/week?lang=en").content.decode()

    assert "Mon 30 Nov 2026" in page
    assert "1 / " in page
    assert "<meter" in page


def test_a_scheduler_adds_a_weekly_schedule(client_for, scheduler_at_centre_1, clock):
    service = Service.objects.get(code="general-checkup")
    before = Slot.objects.filter(centre_id=1, service=service).count()

    response = client_for(scheduler_at_centre_1).post(
        "/staff/centres/1/schedules?lang=en",
        {
            "service": service.pk,
            "weekdays": ["6"],
            "start_time": "08:00",
            "end_time": "10:00",
            "slot_minutes": "30",
            "capacity": "2",
            "valid_from": "2026-11-30",
        },
    )

    assert response.status_code == 303
    assert ScheduleTemplate.objects.filter(centre_id=1, weekdays="6").exists()
    assert Slot.objects.filter(centre_id=1, service=service).count() > before


def test_a_scheduler_adds_a_weekly_schedule_from_the_thai_page(
    client_for, scheduler_at_centre_1, clock
):
    """The date pickers hold ISO dates in Thai too: a Thai page showed 30/11/2026, which a
    date picker shows as empty, so the schedule could not be saved."""
    client = client_for(scheduler_at_centre_1, "th")
    service = Service.objects.get(code="general-checkup")

    page = client.get("/staff/centres/1/schedules?lang=th").content.decode()
    response = client.post(
        "/staff/centres/1/schedules?lang=th",
        {
            "service": service.pk,
            "weekdays": ["6"],
            "start_time": "08:00",
            "end_time": "10:00",
            "slot_minutes": "30",
            "capacity": "2",
            "valid_from": "2026-11-30",
        },
    )

    assert 'type="date" name="valid_from" value="2026-11-30"' in page
    assert response.status_code == 303
    made = ScheduleTemplate.objects.get(centre_id=1, weekdays="6")
    assert made.valid_from == date(2026, 11, 30)
    edit = client.get(f"/staff/centres/1/schedules/{made.pk}?lang=th").content.decode()
    assert 'value="2026-11-30"' in edit
    assert 'type="time" name="start_time" value="08:00"' in edit


def test_a_new_schedule_says_which_public_holidays_get_no_slots(
    client_for, scheduler_at_centre_1, clock
):
    service = Service.objects.get(code="general-checkup")
    client = client_for(scheduler_at_centre_1)

    page = client.get("/staff/centres/1/schedules?lang=en").content.decode()
    added = client.post(
        "/staff/centres/1/schedules?lang=en",
        {
            "service": service.pk,
            "weekdays": ["4"],  # Thursdays: 10 December is Constitution Day
            "start_time": "08:00",
            "end_time": "10:00",
            "slot_minutes": "30",
            "capacity": "2",
            "valid_from": "2026-11-30",
        },
        follow=True,
    ).content.decode()

    assert "Public holidays ahead" in page
    assert "No slots on these public holidays: Thu 10 Dec 2026" in added
    assert "Mon 7 Dec 2026," not in added.split("No slots on these public holidays")[1]


def test_a_schedule_that_breaks_a_rule_comes_back_with_the_message_and_nothing_written(
    client_for, scheduler_at_centre_1, clock
):
    service = Service.objects.get(code="general-checkup")

    response = client_for(scheduler_at_centre_1).post(
        "/staff/centres/1/schedules?lang=en",
        {
            "service": service.pk,
            "weekdays": ["6"],
            "start_time": "10:00",
            "end_time": "08:00",
            "slot_minutes": "30",
            "capacity": "2",
            "valid_from": "2026-11-30",
        },
    )

    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert not ScheduleTemplate.objects.filter(centre_id=1, weekdays="6").exists()


def test_a_clinician_cannot_edit_schedules(client_for, clinician_at_centre_1):
    assert client_for(clinician_at_centre_1).get("/staff/centres/1/schedules").status_code == 403


def test_closing_the_centre_and_lifting_it(client_for, scheduler_at_centre_1, patient, clock):
    booked(patient, SlotFactory(start=bangkok(date(2026, 12, 2), time(9))))
    client = client_for(scheduler_at_centre_1)

    added = client.post(
        "/staff/centres/1/closures?lang=en",
        {
            "action": "add",
            "start_date": "2026-12-02",
            "end_date": "2026-12-02",
            "reason_th": "ซ่อมแซม",
        },
        follow=True,
    )
    closure = Closure.objects.get(centre_id=1)
    lifted = client.post(
        "/staff/centres/1/closures?lang=en", {"action": "lift", "closure_id": closure.pk}
    )

    assert "The centre is closed on those days" in added.content.decode()
    assert lifted.status_code == 303
    assert not Closure.objects.filter(pk=closure.pk).exists()


def test_lifting_a_closure_asks_again_first(client_for, scheduler_at_centre_1, clock):
    client = client_for(scheduler_at_centre_1)
    client.post(
        "/staff/centres/1/closures?lang=en",
        {"action": "add", "start_date": "2026-12-02", "end_date": "2026-12-02", "reason_th": "x"},
    )
    closure = Closure.objects.get(centre_id=1)

    page = client.get("/staff/centres/1/closures?lang=en").content.decode()
    asked = client.get(f"/staff/centres/1/closures?lang=en&lift={closure.pk}").content.decode()

    assert 'name="action" value="lift"' not in page
    assert f'name="lift" value="{closure.pk}"' in page
    # The accessible name holds the visible words (axe: label-content-name-mismatch).
    assert 'aria-label="Lift this closure: from Wed 2 Dec 2026">Lift this closure<' in page
    assert 'name="action" value="lift"' in asked
    assert "Lift this closure? Its days open for booking again." in asked
    assert Closure.objects.filter(pk=closure.pk).exists()


def test_public_holidays_show_on_the_week_and_closures_pages(
    client_for, scheduler_at_centre_1, clock
):
    client = client_for(scheduler_at_centre_1)

    week = client.get("/staff/centres/1/week?lang=en&start=2026-12-07").content.decode()
    closures = client.get("/staff/centres/1/closures?lang=en").content.decode()
    added = client.post(
        "/staff/centres/1/closures?lang=en",
        {"action": "add", "start_date": "2026-12-09", "end_date": "2026-12-10", "reason_th": "x"},
        follow=True,
    ).content.decode()

    assert "Public holiday: " in week
    assert "No sessions: centres are closed on this public holiday." in week
    assert "Public holidays ahead" in closures
    assert "Mon 7 Dec 2026" in closures
    assert "Thu 10 Dec 2026" in closures
    assert "Already public holidays: Thu 10 Dec 2026 (" in added
    assert "Wed 9 Dec 2026 (" not in added


def test_a_closure_ending_before_it_starts_is_refused(client_for, scheduler_at_centre_1, clock):
    response = client_for(scheduler_at_centre_1).post(
        "/staff/centres/1/closures?lang=en",
        {"action": "add", "start_date": "2026-12-05", "end_date": "2026-12-01", "reason_th": "x"},
    )

    assert response.status_code == 400
    assert not Closure.objects.filter(centre_id=1).exists()


def test_did_not_come_asks_again_first_and_the_first_step_changes_nothing(
    client_for, nurse_at_centre_1, patient, clock
):
    early = booked(patient, SlotFactory(start=bangkok(MONDAY, time(8))))
    clock.move_to(bangkok(MONDAY, time(8, 30)))
    client = client_for(nurse_at_centre_1)
    mark = f'action="/staff/centres/1/today/appointments/{early.pk}/no-show"'

    page = client.get("/staff/centres/1/today?lang=en&day=2026-11-30").content.decode()
    asked = client.get(
        f"/staff/centres/1/today?lang=en&day=2026-11-30&confirm={early.pk}"
    ).content.decode()
    odd = client.get("/staff/centres/1/today?lang=en&confirm=%C2%B2")
    early.refresh_from_db()

    assert mark not in page  # no one-tap "did not come"
    assert f'name="confirm" value="{early.pk}"' in page
    assert early.status == Appointment.Status.BOOKED
    assert mark in asked
    assert f"Mark {patient.first_name} as not come?" in asked
    assert "Yes, did not come" in asked
    assert odd.status_code == 200


def test_the_counts_say_how_the_day_is_going(client_for, nurse_at_centre_1, patient, clock):
    early = booked(patient, SlotFactory(start=bangkok(MONDAY, time(8))))
    booked(PatientFactory(), SlotFactory(start=bangkok(MONDAY, time(9))))
    clock.move_to(bangkok(MONDAY, time(8, 30)))
    client = client_for(nurse_at_centre_1)
    client.post(f"/staff/centres/1/today/appointments/{early.pk}/no-show")

    page = client.get("/staff/centres/1/today?lang=en&fragment=queue").content.decode()

    assert "<strong>1</strong> expected" in page
    assert "<strong>1</strong> did not come" in page


def test_a_clinician_starts_and_completes_a_visit_from_the_queue(
    client_for, clinician_at_centre_1, visit
):
    client = client_for(clinician_at_centre_1)

    started = client.post(f"/staff/centres/1/today/appointments/{visit.pk}/start")
    page = client.get("/staff/centres/1/today?lang=en").content.decode()
    completed = client.post(
        f"/staff/centres/1/today/appointments/{visit.pk}/complete", {"day": "2026-11-30"}
    )

    visit.refresh_from_db()
    assert started.status_code == 303
    assert "step-complete" in page
    assert completed.headers["Location"] == "/staff/centres/1/today?day=2026-11-30"
    assert visit.status == Appointment.Status.COMPLETED


def test_a_receptionist_sees_only_the_steps_of_their_role(client_for, scheduler_at_centre_1, visit):
    page = client_for(scheduler_at_centre_1).get("/staff/centres/1/today?lang=en").content.decode()

    assert "step-check-in" in page
    assert "step-start" not in page


def test_a_step_outside_the_role_is_refused_and_changes_nothing(
    client_for, scheduler_at_centre_1, visit
):
    response = client_for(scheduler_at_centre_1).post(
        f"/staff/centres/1/today/appointments/{visit.pk}/start?lang=en", follow=True
    )

    visit.refresh_from_db()
    assert visit.status == Appointment.Status.BOOKED
    assert 'role="alert"' in response.content.decode()


def test_an_unknown_step_is_said_and_changes_nothing(client_for, nurse_at_centre_1, visit):
    response = client_for(nurse_at_centre_1).post(
        f"/staff/centres/1/today/appointments/{visit.pk}/teleport?lang=en",
        {"day": "not a day\r\nSet-Cookie: x=1"},
    )

    visit.refresh_from_db()
    assert response.status_code == 303
    assert response.headers["Location"] == "/staff/centres/1/today?day=2026-11-30"
    assert visit.status == Appointment.Status.BOOKED


def test_a_patient_waiting_in_the_video_lobby_is_shown_with_the_way_in(
    client_for, nurse_at_centre_1, patient, clock
):
    video = Service.objects.get(code="video-general")
    waiting = booked(patient, SlotFactory(service=video, start=bangkok(MONDAY, time(10))))
    later = booked(PatientFactory(), SlotFactory(service=video, start=bangkok(MONDAY, time(11))))
    wait_in_lobby(room_id=room_for(waiting).pk)

    page = client_for(nurse_at_centre_1).get("/staff/centres/1/today?lang=en").content.decode()

    waiting_room = ConsultationRoom.objects.get(appointment=waiting)
    later_room = ConsultationRoom.objects.get(appointment=later)  # made for the desk's link
    assert "waiting in the video lobby since" in page
    assert f'href="/video/rooms/{waiting_room.code}">Admit from the video lobby</a>' in page
    assert f'href="/video/rooms/{later_room.code}">Open the video room</a>' in page


def test_another_day_is_shown_on_request(client_for, nurse_at_centre_1, patient, clock):
    booked(patient, SlotFactory(start=bangkok(date(2026, 12, 1), time(9))))

    page = (
        client_for(nurse_at_centre_1)
        .get("/staff/centres/1/today?lang=en&day=2026-12-01")
        .content.decode()
    )

    assert patient.first_name in page
    assert "<h1>Queue</h1>" in page  # not "Today's queue"


def test_the_week_marks_closed_slots_and_links_the_next_and_previous_weeks(
    client_for, nurse_at_centre_1, reference_data, clock
):
    SlotFactory(start=bangkok(date(2026, 12, 2), time(9)), closed=True)

    page = (
        client_for(nurse_at_centre_1)
        .get("/staff/centres/1/week?lang=en&start=2026-12-02")
        .content.decode()
    )

    assert 'class="closed"' in page
    assert "?start=2026-12-07" in page
    assert "?start=2026-11-23" in page


def test_the_week_reads_a_bounded_number_of_queries(
    client_for, nurse_at_centre_1, reference_data, clock, django_assert_max_num_queries
):
    for day in (MONDAY, date(2026, 12, 1), date(2026, 12, 2)):
        for hour in range(8, 14):
            SlotFactory(start=bangkok(day, time(hour)))
    client = client_for(nurse_at_centre_1)

    with django_assert_max_num_queries(10):
        client.get("/staff/centres/1/week")


def test_the_schedules_read_a_bounded_number_of_queries(
    client_for, scheduler_at_centre_1, clock, django_assert_max_num_queries
):
    for weekday in "12345":
        ScheduleTemplateFactory(weekdays=weekday)
    client = client_for(scheduler_at_centre_1)

    with django_assert_max_num_queries(12):
        client.get("/staff/centres/1/schedules")


def test_a_scheduler_changes_a_weekly_schedule_and_keeps_its_clinician(
    client_for, scheduler_at_centre_1, clinician_at_centre_1, clock
):
    template = ScheduleTemplateFactory(weekdays="6", clinician=clinician_at_centre_1)

    response = client_for(scheduler_at_centre_1).post(
        f"/staff/centres/1/schedules/{template.pk}?lang=en",
        {**schedule_form(template), "capacity": "7", "action": "save"},
    )

    template.refresh_from_db()
    assert response.status_code == 303
    assert template.capacity == 7
    assert template.clinician == clinician_at_centre_1


def test_a_change_that_breaks_a_rule_comes_back_and_changes_nothing(
    client_for, scheduler_at_centre_1, clock
):
    template = ScheduleTemplateFactory(weekdays="6")

    response = client_for(scheduler_at_centre_1).post(
        f"/staff/centres/1/schedules/{template.pk}?lang=en",
        {**schedule_form(template), "end_time": "07:00", "action": "save"},
    )

    template.refresh_from_db()
    assert response.status_code == 400
    assert "The session must end after it starts." in response.content.decode()
    assert template.end_time == time(12, 0)


def test_ending_a_weekly_schedule(client_for, scheduler_at_centre_1, clock):
    template = ScheduleTemplateFactory(weekdays="6")

    response = client_for(scheduler_at_centre_1).post(
        f"/staff/centres/1/schedules/{template.pk}", {"action": "end"}
    )

    template.refresh_from_db()
    assert response.status_code == 303
    assert not template.is_active


def test_another_centres_schedule_is_not_found_here(client_for, scheduler_at_centre_1, clock):
    elsewhere = ScheduleTemplateFactory(centre=HealthCentre.objects.get(number=2))

    response = client_for(scheduler_at_centre_1).post(
        f"/staff/centres/1/schedules/{elsewhere.pk}", {"action": "end"}
    )

    elsewhere.refresh_from_db()
    assert response.status_code == 404
    assert elsewhere.is_active


def test_another_centres_closure_cannot_be_lifted_here(client_for, scheduler_at_centre_1, clock):
    closure = Closure.objects.create(
        centre=HealthCentre.objects.get(number=2),
        start_date=date(2026, 12, 2),
        end_date=date(2026, 12, 2),
        reason_th="ซ่อมแซม",
    )

    response = client_for(scheduler_at_centre_1).post(
        "/staff/centres/1/closures?lang=en", {"action": "lift", "closure_id": closure.pk}
    )

    assert response.status_code == 400
    assert Closure.objects.filter(pk=closure.pk).exists()


def test_a_closure_says_how_many_appointments_it_touches(
    client_for, scheduler_at_centre_1, patient, clock
):
    template = ScheduleTemplateFactory(weekdays="3")  # Wednesdays
    sync_slots(centre_ids=[1])
    wednesday = Slot.objects.filter(
        template=template, start__gte=bangkok(date(2026, 12, 2), time(0))
    )
    booked(patient, wednesday.order_by("start").first())

    response = client_for(scheduler_at_centre_1).post(
        "/staff/centres/1/closures?lang=en",
        {"action": "add", "start_date": "2026-12-02", "end_date": "2026-12-02", "reason_th": "x"},
        follow=True,
    )

    assert "1 booked appointment falls in it" in response.content.decode()


def test_a_nurse_cannot_edit_closures(client_for, nurse_at_centre_1):
    assert client_for(nurse_at_centre_1).get("/staff/centres/1/closures").status_code == 403


def schedule_form(template: ScheduleTemplate) -> dict[str, object]:
    return {
        "service": template.service_id,
        "weekdays": list(template.weekdays),
        "start_time": template.start_time.strftime("%H:%M"),
        "end_time": template.end_time.strftime("%H:%M"),
        "slot_minutes": str(template.slot_minutes),
        "capacity": str(template.capacity),
        "valid_from": template.valid_from.isoformat(),
    }


def test_the_desk_marks_an_id_checked_from_the_queue_and_it_is_audited(
    client_for, nurse_at_centre_1, visit
):
    client = client_for(nurse_at_centre_1)
    assert "step-verify-id" in client.get("/staff/centres/1/today?lang=en").content.decode()

    response = client.post(
        f"/staff/centres/1/today/appointments/{visit.pk}/verify-id?lang=en", follow=True
    )

    page = response.content.decode()
    visit.patient.refresh_from_db()
    assert visit.patient.identity_verified_by == Patient.IdentityCheck.DESK
    assert "marked as checked against the card" in page
    assert "ID verified" in page
    assert "step-verify-id" not in page
    event = AuditEvent.objects.get(action="patient.identity_verified")
    assert (event.actor, event.centre_id) == (nurse_at_centre_1, 1)


def test_staff_of_another_centre_cannot_mark_an_id_checked(client_for, staff_at_centre_2, visit):
    response = client_for(staff_at_centre_2).post(
        f"/staff/centres/1/today/appointments/{visit.pk}/verify-id"
    )

    assert response.status_code == 403
    visit.patient.refresh_from_db()
    assert not visit.patient.identity_verified


def test_appointments_in_closed_times_are_moved_or_cancelled_in_bulk_after_a_second_step(
    client_for, scheduler_at_centre_1, clinician_at_centre_1, patient, clock
):
    visit = booked(patient, SlotFactory(start=bangkok(date(2026, 12, 2), time(9))))
    Slot.objects.filter(pk=visit.slot_id).update(closed=True)
    client = client_for(scheduler_at_centre_1)
    path = "/staff/centres/1/move-or-cancel?lang=en"
    chosen = {"appointment_ids": [str(visit.pk)], "action": "cancel", "reason": "Flooding"}

    page = client.get(path).content.decode()
    no_reason = client.post(path, {**chosen, "reason": "", "confirm": "yes"})
    asked = client.post(path, chosen).content.decode()
    visit.refresh_from_db()
    assert visit.status == Appointment.Status.BOOKED  # not before the second step

    done = client.post(path, {**chosen, "confirm": "yes"}).content.decode()
    visit.refresh_from_db()

    assert patient.first_name in page
    assert no_reason.status_code == 400
    assert "Give the reason the patients will be told." in no_reason.content.decode()
    assert "Cancel 1 appointment?" in asked
    assert "cancelled; the patient is told" in done
    assert visit.status == Appointment.Status.CANCELLED
    assert Message.objects.filter(appointment=visit, kind=Message.Kind.CANCELLED).exists()
    assert client_for(clinician_at_centre_1).get(path).status_code == 403


def test_a_form_with_problems_lists_them_all_at_the_top_linking_to_each_field(
    client_for, scheduler_at_centre_1, clock
):
    page = client_for(scheduler_at_centre_1).post(
        "/staff/centres/1/schedules?lang=en",
        {"weekdays": ["6"], "start_time": "8 o'clock", "slot_minutes": "30", "capacity": "2"},
    )

    text = page.content.decode()
    summary = text.split('class="notice error error-summary"')[1].split("</div>")[0]
    assert page.status_code == 400
    assert "There is a problem" in summary
    for field in ("service", "start_time", "end_time", "valid_from"):
        assert f'href="#id_{field}"' in summary, field  # every problem at once
        assert f'id="id_{field}_error"' in text  # and next to its field
    [start] = re.findall(r'<input[^>]*name="start_time"[^>]*>', text)
    assert 'aria-invalid="true"' in start
    assert 'value="8 o&#x27;clock"' in start  # what was typed is kept
