"""Walk-ins on the staff pages: today's queue shows them among the appointments in the
centre's order with their steps; the desk finds a person, adds them and gets a printable
slip; each only for staff of the centre."""

from datetime import date, time
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from booking.models import WalkIn
from clinics.models import AuditEvent, HealthCentre
from tests.factories import PatientFactory, SlotFactory, bangkok, booked, walked_in

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 30)


@pytest.fixture
def desk(client_for, nurse_at_centre_1):
    return client_for(nurse_at_centre_1)


def test_the_queue_shows_walk_ins_among_the_appointments_by_time_then_arrival(desk, clock, patient):
    nine = booked(PatientFactory(), SlotFactory(start=bangkok(MONDAY, time(9))))
    half_past = booked(PatientFactory(), SlotFactory(start=bangkok(MONDAY, time(9, 30))))
    clock.move_to(bangkok(MONDAY, time(9, 10)))
    walk_in = walked_in(patient)

    page = desk.get("/staff/centres/1/today?lang=en").content.decode()

    rows = [
        page.index(f'data-appointment-id="{nine.pk}"'),
        page.index(f'data-walk-in-id="{walk_in.pk}"'),
        page.index(f'data-appointment-id="{half_past.pk}"'),
    ]
    assert rows == sorted(rows)
    assert "A-001" in page
    assert "walk-in, arrived 09:10" in page
    assert f"/today/walk-ins/{walk_in.pk}/start" in page
    assert f"/today/walk-ins/{walk_in.pk}/left" in page
    assert 'href="/staff/centres/1/walk-ins"' in page
    assert "(1 waiting)" in page


def test_the_queue_is_in_thai_with_the_walk_in(client_for, nurse_at_centre_1, clock, patient):
    walked_in(patient)

    page = client_for(nurse_at_centre_1, "th").get("/staff/centres/1/today").content.decode()

    assert "A-001" in page
    assert "รอรับบริการ" in page  # Waiting


def test_a_step_from_the_queue_moves_the_walk_in_and_says_so(desk, clock, patient):
    walk_in = walked_in(patient)

    response = desk.post(
        f"/staff/centres/1/today/walk-ins/{walk_in.pk}/left?lang=en",
        {"day": "2026-11-30"},
        follow=True,
    )

    walk_in.refresh_from_db()
    assert walk_in.status == WalkIn.Status.LEFT
    assert "A-001 left without being seen." in response.content.decode()
    assert response.redirect_chain[0][0] == "/staff/centres/1/today?day=2026-11-30"


def test_a_step_out_of_turn_or_unknown_is_said_and_changes_nothing(desk, clock, patient):
    walk_in = walked_in(patient)

    refused = desk.post(
        f"/staff/centres/1/today/walk-ins/{walk_in.pk}/undo-left?lang=en", follow=True
    )
    unknown = desk.post(f"/staff/centres/1/today/walk-ins/{walk_in.pk}/vanish?lang=en", follow=True)
    elsewhere = desk.post(
        f"/staff/centres/1/today/walk-ins/{walk_in.pk}/left?lang=en", {"day": "x"}
    )

    assert "cannot be changed in that way" in refused.content.decode()
    assert "There is no such step." in unknown.content.decode()
    assert elsewhere["Location"] == "/staff/centres/1/today?day=2026-11-30"
    walk_in.refresh_from_db()
    assert walk_in.status == WalkIn.Status.LEFT


def test_a_walk_in_of_another_centre_is_not_stepped_through_this_centres_queue(
    client_for, admin_at_centre_1, clock, patient
):
    other = walked_in(patient, centre=2)

    response = client_for(admin_at_centre_1).post(
        f"/staff/centres/1/today/walk-ins/{other.pk}/left?lang=en", follow=True
    )

    other.refresh_from_db()
    assert other.status == WalkIn.Status.WAITING
    assert "You are not allowed" in response.content.decode()


def test_the_desk_finds_a_person_by_national_id_or_phone(desk, patient, settings):
    settings.AUDIT_REPEATED_READ_SECONDS = 0
    by_id = desk.get(f"/staff/centres/1/walk-ins?lang=en&find={patient.national_id}")
    by_phone = desk.get("/staff/centres/1/walk-ins?lang=en&find=081 000 0001")

    for response in (by_id, by_phone):
        page = response.content.decode()
        assert response.status_code == 200
        assert patient.full_name in page
        assert f'name="patient" value="{patient.pk}"' in page
        assert 'action="/staff/centres/1/walk-ins/add"' in page
    assert AuditEvent.objects.filter(action="patient.looked_up", patients=[patient.pk]).count() == 2


def test_an_entry_that_is_neither_an_id_nor_a_phone_is_a_form_problem(desk, patient):
    bad_id = desk.get("/staff/centres/1/walk-ins?lang=en&find=1234567890123")
    neither = desk.get("/staff/centres/1/walk-ins?lang=en&find=somchai")

    assert bad_id.status_code == neither.status_code == 422
    assert "There is a problem" in bad_id.content.decode()
    assert "13-digit Thai national ID" in neither.content.decode()
    assert 'aria-invalid="true"' in neither.content.decode()


def test_nobody_found_is_said(desk, reference_data):
    page = desk.get("/staff/centres/1/walk-ins?lang=en&find=089 999 9999").content.decode()

    assert "Nobody on file has that ID or phone." in page


def test_adding_leads_to_a_printable_slip(desk, clock, patient):
    clock.move_to(bangkok(MONDAY, time(9, 10)))

    response = desk.post(
        "/staff/centres/1/walk-ins/add?lang=en",
        {"patient": patient.pk, "service": "general-checkup"},
    )

    walk_in = WalkIn.objects.get()
    assert response.status_code == 303
    assert response["Location"] == f"/staff/centres/1/walk-ins/{walk_in.pk}"
    slip = desk.get(response["Location"] + "?lang=en").content.decode()
    assert '<strong class="queue-label">A-001</strong>' in slip
    assert "09:10" in slip
    assert walk_in.service.name_en in slip
    assert "Public Health Centre 1" in slip
    assert "site/print.js" in slip
    assert "data-print hidden" in slip  # shown by the script only: no dead button without it
    assert "is in the queue as A-001" in slip
    css = (Path(django_settings.BASE_DIR) / "config/static/site/site.css").read_text()
    assert "@media print" in css


def test_the_slip_gives_the_centre_s_phone_and_hours_and_leaves_out_what_it_has_not_given(
    desk, clock, patient
):
    HealthCentre.objects.filter(number=1).update(
        phone="+6621234567",
        opening_hours=[{"day": 1, "opens": "08:00", "closes": "16:00"}],
        address_th="",
        address_en="",
        postcode="",
    )
    walk_in = walked_in(patient)

    slip = desk.get(f"/staff/centres/1/walk-ins/{walk_in.pk}?lang=en").content.decode()

    assert '<a href="tel:+66-2-123-4567">02 123 4567</a>' in slip
    assert "Mon 08:00" in slip
    assert "centre-address" not in slip  # no street line or postcode: no address, not a blank


def test_a_refused_addition_says_why_and_keeps_the_person_chosen(desk, clock, patient):
    walked_in(patient)

    again = desk.post(
        "/staff/centres/1/walk-ins/add?lang=en",
        {"patient": patient.pk, "service": "general-checkup"},
    )
    no_service = desk.post("/staff/centres/1/walk-ins/add?lang=en", {"patient": patient.pk})
    nobody = desk.post(
        "/staff/centres/1/walk-ins/add?lang=en", {"patient": 999999, "service": "general-checkup"}
    )

    assert again.status_code == 409
    assert "already in today&#x27;s queue as A-001" in again.content.decode()
    assert f'name="patient" value="{patient.pk}"' in again.content.decode()
    assert no_service.status_code == 422
    assert "There is a problem" in no_service.content.decode()
    assert nobody.status_code == 422
    assert "Look them up again" in nobody.content.decode()
    assert WalkIn.objects.count() == 1


def test_the_add_view_takes_a_post_from_any_page_that_found_the_person(desk, patient):
    # The desk's search posts `patient` and `service` here: nothing else is needed.
    response = desk.post(
        "/staff/centres/1/walk-ins/add", {"patient": patient.pk, "service": "vaccine-influenza"}
    )

    assert response.status_code == 303
    assert WalkIn.objects.get().service.code == "vaccine-influenza"


def test_the_walk_in_pages_are_for_staff_of_the_centre(
    client_for, staff_at_centre_2, patient, clock
):
    walk_in = walked_in(patient)
    client = client_for(staff_at_centre_2)

    assert client.get("/staff/centres/1/walk-ins").status_code == 403
    assert client.get(f"/staff/centres/1/walk-ins/{walk_in.pk}").status_code == 403
    assert (
        client.post(
            "/staff/centres/1/walk-ins/add", {"patient": patient.pk, "service": "general-checkup"}
        ).status_code
        == 403
    )
    assert client_for(None).get("/staff/centres/1/walk-ins").status_code == 302


def test_a_slip_of_another_centre_is_not_shown_here(client_for, city_admin, patient, clock):
    walk_in = walked_in(patient, centre=2)

    response = client_for(city_admin).get(f"/staff/centres/1/walk-ins/{walk_in.pk}?lang=en")

    assert response.status_code == 303
    assert response["Location"] == "/staff/centres/1/today"


def test_a_page_that_found_the_person_links_here_with_them_chosen(desk, patient):
    page = desk.get(f"/staff/centres/1/walk-ins?lang=en&patient={patient.pk}").content.decode()
    odd = desk.get("/staff/centres/1/walk-ins?lang=en&patient=๑๒")

    assert patient.full_name in page
    assert f'name="patient" value="{patient.pk}"' in page
    assert odd.status_code == 200
    assert "Who came?" not in odd.content.decode()
