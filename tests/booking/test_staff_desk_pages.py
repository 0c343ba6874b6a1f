"""The staff desk pages through the test client: today's queue and its buttons, the week,
weekly schedules and closures, each only for staff of the centre with the right role."""

from datetime import date, time

import pytest

from booking.models import Appointment, Slot
from clinics.models import Closure, ScheduleTemplate, Service
from tests.factories import PatientFactory, SlotFactory, bangkok, booked

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


def test_a_closure_ending_before_it_starts_is_refused(client_for, scheduler_at_centre_1, clock):
    response = client_for(scheduler_at_centre_1).post(
        "/staff/centres/1/closures?lang=en",
        {"action": "add", "start_date": "2026-12-05", "end_date": "2026-12-01", "reason_th": "x"},
    )

    assert response.status_code == 400
    assert not Closure.objects.filter(centre_id=1).exists()
