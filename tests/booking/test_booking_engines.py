"""Every booking rule and race, against both engines: the ORM path (any database) and the
booking function, one call to PostgreSQL (booking/sql/book_slot_v1.sql). One suite, so that
the two cannot drift: each test runs once per engine the database has."""

import threading
import uuid
from collections import Counter
from datetime import date, time, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection, connections, transaction
from django.test import Client
from django.utils import timezone, translation

from booking import notices
from booking.exceptions import NotEligible, SlotFull
from booking.models import (
    Appointment,
    BookingBlock,
    DeletionRequest,
    Patient,
    RiskGroup,
    Slot,
    VaccinationDrive,
    VaccinationSeries,
)
from booking.selectors import SlotOrder, SlotSearch
from booking.services import booking_sql
from booking.services.appointments import Booking, allocate_slot
from booking.vaccination.drives import create_drive, release_drive
from booking.vaccination.waiting_room import _bookings_key, _places_key, count_places_left
from clinics.exceptions import DomainError
from clinics.models import AuditEvent, HealthCentre, Service
from notifications.models import Message, OptOut
from notifications.services.dispatch import send_due_messages
from tests.factories import (
    PatientFactory,
    SlotFactory,
    bangkok,
    book,
    booked,
    drive_fields,
    stock_up,
    vaccine,
)
from tests.races import race, until_a_lock_is_awaited


@pytest.fixture(autouse=True)
def in_english():
    """Refusals are compared with their English wording; the site's default language is Thai."""
    with translation.override("en"):
        yield


def refusal(patient: Patient, slot: Slot, key: str = "", **options: Any) -> DomainError:
    """The error a booking is refused with; nothing of it was written."""
    before = (Appointment.objects.count(), Message.objects.count(), AuditEvent.objects.count())
    booked_before = Slot.objects.filter(pk=slot.pk).values_list("booked", flat=True).first()
    with pytest.raises(DomainError) as refused:
        book(patient, slot, key, **options)
    assert (
        Appointment.objects.count(),
        Message.objects.count(),
        AuditEvent.objects.count(),
    ) == before
    assert Slot.objects.filter(pk=slot.pk).values_list("booked", flat=True).first() == (
        booked_before
    )
    return refused.value


# --- Booking ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_booking_writes_the_appointment_its_place_its_event_and_its_texts(
    engine, reference_data, patient, clock
):
    clock.move_to(bangkok(timezone.localdate(), time(10)))  # outside quiet hours
    slot = SlotFactory(start=bangkok(timezone.localdate() + timedelta(days=2), time(10)))

    made = book(patient, slot, "key-1")

    assert made.created
    appointment = Appointment.objects.select_related("slot__service", "slot__centre").get()
    assert appointment.pk == made.appointment.pk
    assert (appointment.patient_id, appointment.slot_id, appointment.status) == (
        patient.pk,
        slot.pk,
        Appointment.Status.BOOKED,
    )
    assert (appointment.channel, appointment.idempotency_key, appointment.sequence) == (
        "api",
        "key-1",
        0,
    )
    assert (appointment.visit_mode, appointment.series_id, appointment.dose_number) == (
        "in_person",
        None,
        None,
    )
    assert appointment.created_at == timezone.now() == made.appointment.created_at
    assert made.appointment.slot.centre.district.code == 1001
    slot.refresh_from_db()
    assert slot.booked == 1
    # The confirmation alone: the reminders follow as a worker takes it (write_follow_ups).
    (confirmation,) = Message.objects.filter(appointment=appointment)
    language = patient.preferred_language
    assert (confirmation.kind, confirmation.reminder_minutes) == ("confirmation", None)
    assert confirmation.body == notices.booking_confirmation(appointment, language)
    assert (confirmation.recipient, confirmation.language, confirmation.status) == (
        patient.phone,
        language,
        "pending",
    )
    assert (confirmation.patient_id, confirmation.due_at) == (patient.pk, timezone.now())
    send_due_messages()
    texts = list(Message.objects.filter(appointment=appointment).order_by("pk"))
    assert [(t.kind, t.reminder_minutes, t.status) for t in texts] == [
        ("confirmation", None, "sent"),
        ("reminder", 1440, "pending"),
        ("reminder", 120, "pending"),
    ]
    assert [t.body for t in texts[1:]] == [notices.reminder(appointment, language)] * 2
    assert {(t.recipient, t.language, t.patient_id) for t in texts} == {
        (patient.phone, language, patient.pk)
    }
    assert texts[0].expires_at == slot.end
    assert texts[1].due_at == slot.start - timedelta(minutes=1440)
    assert texts[1].expires_at == slot.start - timedelta(minutes=15)
    assert all(t.segments >= 1 and t.encoding == "ucs2" for t in texts)
    (event,) = AuditEvent.objects.filter(action="appointment.booked")
    assert (event.target_type, event.target_id, event.centre_id, event.patients) == (
        "appointment",
        appointment.pk,
        1,
        [patient.pk],
    )
    assert event.details == {"status": "booked", "slot": slot.pk, "channel": "api"}
    assert (event.actor_kind, event.actor_id, event.via) == ("system", None, "command")
    assert event.at == timezone.now()


@pytest.mark.django_db
def test_the_answer_and_the_audit_event_through_the_api_are_the_same(
    engine, reference_data, patient, client_for
):
    slot = SlotFactory()
    client: Client = client_for(patient)

    response = client.post(
        "/api/v1/me/appointments",
        {"patient_id": patient.pk, "slot_id": slot.pk},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="key-for-the-api",
    )

    assert response.status_code == 201, response.content
    assert response.json() == client.get(f"/api/v1/me/appointments/{response.json()['id']}").json()
    (event,) = AuditEvent.objects.filter(action="appointment.booked")
    assert (event.actor_id, event.actor_name, event.actor_kind) == (
        patient.account_id,
        patient.account.username,
        "patient",
    )
    assert (event.via, str(event.address)) == ("POST /api/v1/me/appointments", "127.0.0.1")
    again = client.post(
        "/api/v1/me/appointments",
        {"patient_id": patient.pk, "slot_id": slot.pk},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="key-for-the-api",
    )
    assert again.status_code == 200
    assert again.json() == response.json()


@pytest.mark.django_db
def test_the_answer_for_a_vaccine_of_one_dose_is_the_appointment_as_read_again(
    engine, reference_data, patient, client_for
):
    slot = SlotFactory(service=vaccine("vaccine-influenza"))
    client: Client = client_for(patient, language="th")

    response = client.post(
        "/api/v1/me/appointments",
        {"patient_id": patient.pk, "slot_id": slot.pk},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="key-for-a-flu-shot",
    )

    assert response.status_code == 201, response.content
    assert response.json()["dose_number"] == 1
    assert response.json()["course_id"] == VaccinationSeries.objects.get().pk
    assert response.json() == client.get(f"/api/v1/me/appointments/{response.json()['id']}").json()


@pytest.mark.django_db
def test_a_member_of_staff_booking_at_the_desk_is_recorded_as_staff(
    engine, reference_data, patient, nurse_at_centre_1
):
    slot = SlotFactory()
    staff = User.objects.get(pk=nurse_at_centre_1.pk)  # a fresh object: nothing known of it

    book(patient, slot, booked_by=staff, channel=Appointment.Channel.STAFF)

    (event,) = AuditEvent.objects.filter(action="appointment.booked")
    assert event.actor_kind == "system"  # no request: the task or command that ran it
    from clinics import audit

    with audit.serving(_request_of(staff)):
        book(PatientFactory(), slot, booked_by=staff, channel=Appointment.Channel.STAFF)
    latest = AuditEvent.objects.filter(action="appointment.booked").latest("pk")
    assert (latest.actor_id, latest.actor_kind) == (staff.pk, "staff")


def _request_of(user: User) -> Any:
    from django.test import RequestFactory

    request = RequestFactory().post("/api/v1/staff/appointments")
    request.user = user
    return request


@pytest.mark.django_db
def test_the_same_key_again_answers_with_what_it_booked(engine, reference_data, patient):
    slot = SlotFactory()
    first = book(patient, slot, "same")

    again = book(patient, slot, "same")

    assert not again.created
    assert again.appointment.pk == first.appointment.pk
    assert Appointment.objects.count() == 1
    assert Slot.objects.get(pk=slot.pk).booked == 1


@pytest.mark.django_db
def test_a_key_used_for_another_slot_or_person_is_refused(engine, reference_data, patient):
    slot, other_slot = SlotFactory(), SlotFactory(start=timezone.now() + timedelta(days=3))
    child = PatientFactory(account=patient.account, relationship=Patient.Relationship.CHILD)
    book(patient, slot, "used")

    assert refusal(patient, other_slot, "used").code == "idempotency_key_reused"
    assert refusal(child, slot, "used", booked_by=patient.account).code == (
        "idempotency_key_reused"
    )


@pytest.mark.django_db
def test_one_place_per_person_per_slot_and_no_overlap(engine, reference_data, patient):
    slot = SlotFactory()
    first = book(patient, slot, "a").appointment
    overlapping = SlotFactory(start=slot.start + timedelta(minutes=5))

    again = refusal(patient, slot, "b")
    clash = refusal(patient, overlapping, "c")

    assert (again.code, again.detail) == ("already_booked", {"appointment_id": first.pk})
    assert (clash.code, clash.detail) == ("overlapping_appointment", {"appointment_id": first.pk})


@pytest.mark.django_db
def test_a_cap_on_upcoming_bookings(engine, reference_data, patient, settings):
    settings.MAX_ACTIVE_BOOKINGS_PER_PATIENT = 2
    start = timezone.now() + timedelta(days=2)
    slots = [SlotFactory(start=start + timedelta(hours=n)) for n in range(3)]
    book(patient, slots[0])
    book(patient, slots[1])

    refused = refusal(patient, slots[2])

    assert (refused.code, refused.detail) == ("too_many_active_bookings", {"limit": 2})
    settings.MAX_ACTIVE_BOOKINGS_PER_PATIENT = 0
    assert book(patient, slots[2]).created


@pytest.mark.django_db
def test_a_stopped_phone_books_only_at_the_desk(engine, reference_data, patient, nurse_at_centre_1):
    BookingBlock.objects.create(account=patient.account, reason="many", blocked_by=patient.account)
    slot = SlotFactory()

    assert refusal(patient, slot).code == "booking_blocked"
    assert book(patient, slot, channel=Appointment.Channel.STAFF).created


@pytest.mark.django_db
def test_nobody_books_for_someone_whose_erasure_is_pending(engine, reference_data, patient):
    DeletionRequest.objects.create(
        patient=patient, requested_by=patient.account, erase_on=timezone.localdate()
    )

    assert refusal(patient, SlotFactory()).code == "deletion_pending"


@pytest.mark.django_db
def test_what_closes_a_slot_to_booking(engine, reference_data, patient):
    closed = SlotFactory(closed=True)
    full = SlotFactory(capacity=1, start=timezone.now() + timedelta(days=3))
    booked(PatientFactory(), full)
    not_yet = SlotFactory(
        start=timezone.now() + timedelta(days=4), opens_at=timezone.now() + timedelta(hours=1)
    )
    missing = Slot(pk=10**9)

    assert (refusal(patient, closed).code, refusal(patient, closed).detail) == (
        "slot_closed",
        {"slot_id": closed.pk},
    )
    assert (refusal(patient, full).code, refusal(patient, full).detail) == (
        "slot_full",
        {"slot_id": full.pk},
    )
    for hidden in (not_yet, missing):
        gone = refusal(patient, hidden)
        assert (gone.code, gone.detail, str(gone.message)) == (
            "not_found",
            {"field": "slot_id"},
            "That time slot does not exist.",
        )


@pytest.mark.django_db
def test_a_service_or_centre_no_longer_offered_closes_its_slots(engine, reference_data, patient):
    slot = SlotFactory()
    centre = HealthCentre.objects.get(number=1)
    service = Service.objects.get(code="general-checkup")

    centre.services.remove(service)
    assert refusal(patient, slot).code == "slot_closed"
    centre.services.add(service)
    Service.objects.filter(pk=service.pk).update(is_active=False)
    assert refusal(patient, slot).code == "slot_closed"
    Service.objects.filter(pk=service.pk).update(is_active=True)
    HealthCentre.objects.filter(pk=1).update(is_active=False)
    assert refusal(patient, slot).code == "slot_closed"
    HealthCentre.objects.filter(pk=1).update(is_active=True)
    assert book(patient, slot).created


@pytest.mark.django_db
def test_online_booking_closes_before_the_start(engine, reference_data, patient, clock):
    slot = SlotFactory(start=timezone.now() + timedelta(minutes=30))

    refused = refusal(patient, slot)

    assert (refused.code, refused.detail) == ("booking_closed", {"cutoff_minutes": 60})
    assert (
        str(refused.message) == "Online booking for this time closed 60 minutes before it starts."
    )
    assert book(patient, slot, enforce_cutoff=False).created


# --- Vaccines and drives ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_vaccine_of_one_dose_starts_its_course_and_is_booked_once(
    engine, reference_data, patient
):
    flu = vaccine("vaccine-influenza")
    slot = SlotFactory(service=flu)
    later = SlotFactory(service=flu, start=timezone.now() + timedelta(days=5))

    made = book(patient, slot)

    series = VaccinationSeries.objects.get()
    assert (series.patient_id, series.service_id, series.centre_id) == (patient.pk, flu.pk, 1)
    assert (series.doses_in_series, series.status) == (1, "active")
    assert (made.appointment.series_id, made.appointment.dose_number) == (series.pk, 1)
    assert refusal(patient, later).code == "course_already_booked"
    # A cancelled dose leaves the course under way: the next booking is its dose again.
    Appointment.objects.update(status=Appointment.Status.CANCELLED)
    again = book(patient, later).appointment
    assert (again.series_id, again.dose_number) == (series.pk, 1)
    assert VaccinationSeries.objects.count() == 1


@pytest.mark.django_db
def test_a_vaccine_of_several_doses_books_and_holds_the_later_doses(
    engine, reference_data, patient
):
    hepatitis_b = vaccine("vaccine-hepatitis-b")
    first = SlotFactory(service=hepatitis_b)
    for days in range(20, 60):
        SlotFactory(service=hepatitis_b, start=first.start + timedelta(days=days))

    made = book(patient, first)

    assert made.created
    assert made.appointment.dose_number == 1
    assert made.course.held, "the later doses are held with the first"
    series = VaccinationSeries.objects.get()
    assert series.doses_in_series == 3
    assert Appointment.objects.filter(series=series).count() == 1 + len(made.course.held)


@pytest.mark.django_db(transaction=True)
def test_a_course_of_several_doses_outside_a_transaction_replays_its_key(
    engine, reference_data, patient
):
    """Outside a transaction the function's statement commits by itself, its patient lock
    with it: the ORM path it hands a course to locks and looks the key up again."""
    hepatitis_b = vaccine("vaccine-hepatitis-b")
    first = SlotFactory(service=hepatitis_b)
    other = SlotFactory(service=hepatitis_b, start=first.start + timedelta(hours=2))

    made = book(patient, first, "course-key")
    again = book(patient, first, "course-key")

    assert made.created
    assert made.appointment.dose_number == 1
    assert not again.created
    assert again.appointment.pk == made.appointment.pk
    assert refusal(patient, other, "course-key").code == "idempotency_key_reused"
    assert refusal(patient, other, "another-key").code == "outside_dose_interval"


@pytest.fixture
def organiser(city_admin: User) -> User:
    return city_admin


def released(organiser: User, clock: time_machine.Traveller, **rules: Any) -> VaccinationDrive:
    for number in (1, 2):
        stock_up(number, vaccine("vaccine-influenza"), 100)
    drive = create_drive(fields=drive_fields(**rules), created_by=organiser)
    release_drive(drive=drive)
    drive.refresh_from_db()
    clock.move_to(drive.release_at)
    return drive


@pytest.mark.django_db
def test_a_drive_refuses_whom_its_rules_leave_out_with_every_reason(
    engine, reference_data, organiser, patient, clock
):
    from clinics.models import District

    drive = released(
        organiser,
        clock,
        min_age_months=65 * 12,
        max_age_months=90 * 12,
        risk_groups=[RiskGroup.AGED_65_PLUS, RiskGroup.PREGNANT],
        sexes=["female"],
        districts=[District.objects.get(code=1002)],
    )
    slot = Slot.objects.filter(drive=drive).earliest("start")

    refused = refusal(patient, slot)

    assert isinstance(refused, NotEligible)
    assert [reason["code"] for reason in refused.detail["reasons"]] == [
        "too_young",
        "sex",
        "risk_group",
        "district",
    ]
    assert str(refused.message).startswith("This drive is for people aged 65 years or over")
    patient.date_of_birth = date(1950, 1, 1)
    patient.sex = Patient.Sex.FEMALE
    patient.district_id = 1002
    patient.save()
    assert book(patient, slot).appointment.dose_number == 1


@pytest.mark.django_db
def test_age_rules_count_whole_months_on_the_local_day_and_declared_groups(
    engine, reference_data, organiser, clock
):
    drive = released(organiser, clock, max_age_months=24, risk_groups=[RiskGroup.YOUNG_CHILD])
    slot = Slot.objects.filter(drive=drive).earliest("start")
    day = timezone.localdate(slot.start)
    six_months_tomorrow = PatientFactory(date_of_birth=_months_before(day, 6) + timedelta(days=1))
    six_months_today = PatientFactory(date_of_birth=_months_before(day, 6))
    two_years_today = PatientFactory(date_of_birth=_months_before(day, 24))

    assert [r["code"] for r in refusal(six_months_tomorrow, slot).detail["reasons"]] == [
        "risk_group"
    ]
    assert [r["code"] for r in refusal(two_years_today, slot).detail["reasons"]] == [
        "too_old",
        "risk_group",
    ]
    assert book(six_months_today, slot).created


@pytest.mark.django_db
def test_declared_risk_groups_count_but_not_a_declared_age(
    engine, reference_data, organiser, clock
):
    drive = released(organiser, clock, risk_groups=[RiskGroup.PREGNANT, RiskGroup.AGED_65_PLUS])
    slot = Slot.objects.filter(drive=drive).earliest("start")
    says_old = PatientFactory(risk_groups=[RiskGroup.AGED_65_PLUS])
    pregnant = PatientFactory(sex="female", risk_groups=[RiskGroup.PREGNANT])

    assert [r["code"] for r in refusal(says_old, slot).detail["reasons"]] == ["risk_group"]
    assert book(pregnant, slot).created


def _months_before(day: date, months: int) -> date:
    month = day.month - months
    year = day.year + (month - 1) // 12
    return day.replace(year=year, month=(month - 1) % 12 + 1)


@pytest.mark.django_db
def test_a_booking_in_a_drive_moves_its_places_left_counter_on_commit(
    engine, reference_data, organiser, clock, django_capture_on_commit_callbacks
):
    drive = released(organiser, clock)
    slot = Slot.objects.filter(drive=drive).earliest("start")
    left = count_places_left(drive_id=drive.pk)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        book(PatientFactory(date_of_birth=date(1950, 1, 1)), slot)
    assert cache.get(_places_key(drive.pk)) == left  # nothing moves before the commit
    for callback in callbacks:
        callback()

    assert cache.get(_places_key(drive.pk)) == left - 1
    assert cache.get(_bookings_key(drive.pk)) == 1  # the line moves on by one


# --- Texts -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_texts_about_a_dependant_go_to_their_proven_phone_or_else_the_holders(
    engine, reference_data, patient
):
    patient.preferred_language = "en"
    patient.save()
    unproven = PatientFactory(
        account=patient.account, relationship=Patient.Relationship.CHILD, preferred_language="th"
    )
    proven = PatientFactory(
        account=patient.account,
        relationship=Patient.Relationship.CHILD,
        phone_verified_at=timezone.now(),
        preferred_language="th",
    )
    holders_number = PatientFactory(
        account=patient.account,
        relationship=Patient.Relationship.PARENT,
        phone=patient.phone,
        preferred_language="th",
    )
    start = timezone.now() + timedelta(days=2)

    def texts_for(person: Patient, hours: int) -> set[tuple[str, str]]:
        made = book(person, SlotFactory(start=start + timedelta(hours=hours))).appointment
        return set(
            Message.objects.filter(appointment_id=made.pk).values_list("recipient", "language")
        )

    assert texts_for(unproven, 0) == {(patient.phone, "en")}
    assert texts_for(proven, 1) == {(proven.phone, "th")}
    assert texts_for(holders_number, 2) == {(patient.phone, "th")}
    nobody = PatientFactory(relationship=Patient.Relationship.SELF, phone="", passport_number="X")
    made = book(nobody, SlotFactory(start=start + timedelta(hours=3))).appointment
    assert not Message.objects.filter(appointment_id=made.pk).exists()


@pytest.mark.django_db
def test_texts_to_a_number_that_opted_out_are_written_as_failed(engine, reference_data, patient):
    OptOut.objects.create(phone=patient.phone, source="Replied STOP")

    made = book(patient, SlotFactory()).appointment

    send_due_messages()  # never takes a failed confirmation: no reminders follow it
    texts = Message.objects.filter(appointment_id=made.pk)
    assert texts.count() == 1
    assert {(t.status, t.error_code, t.last_error) for t in texts} == {
        ("failed", "opted_out", "The number has opted out of text messages (STOP).")
    }


@pytest.mark.django_db
def test_quiet_hours_hold_texts_until_morning_or_cancel_them(
    engine, reference_data, patient, clock
):
    night = bangkok(timezone.localdate() + timedelta(days=1), time(22, 0))
    clock.move_to(night)
    morning = bangkok(timezone.localdate(night) + timedelta(days=1), time(8, 0))
    early = SlotFactory(start=morning + timedelta(minutes=10))
    later = SlotFactory(start=morning + timedelta(days=2))

    cut_short = book(patient, early, enforce_cutoff=False).appointment
    held = book(patient, later).appointment

    (confirmation,) = Message.objects.filter(appointment_id=cut_short.pk, kind="confirmation")
    assert (confirmation.status, confirmation.due_at) == ("pending", morning)
    (moved,) = Message.objects.filter(appointment_id=held.pk, kind="confirmation")
    assert (moved.status, moved.due_at) == ("pending", morning)
    # Taken in the morning: the early visit's 2-hour reminder (06:10) is past its use and
    # left out; the later visit's follow.
    clock.move_to(morning)
    send_due_messages()
    assert not Message.objects.filter(appointment_id=cut_short.pk, kind="reminder").exists()
    assert sorted(
        Message.objects.filter(appointment_id=held.pk, kind="reminder").values_list(
            "reminder_minutes", "status"
        )
    ) == [(120, "cancelled"), (1440, "pending")]  # 06:00 is quiet, and 08:00 too late


@pytest.mark.django_db
def test_a_video_visit_gets_its_joining_link(engine, reference_data, patient, clock):
    clock.move_to(bangkok(timezone.localdate(), time(10)))  # outside quiet hours
    video = Service.objects.filter(visit_mode="video", is_active=True).first()
    assert video is not None
    centre = HealthCentre.objects.filter(services=video).first()
    slot = SlotFactory(service=video, centre=centre)

    made = book(patient, slot).appointment
    send_due_messages()

    assert made.visit_mode == "video"
    link = Message.objects.get(appointment_id=made.pk, kind="video_link")
    appointment = Appointment.objects.get(pk=made.pk)
    assert link.body == notices.video_link(appointment, patient.preferred_language)
    assert link.due_at == slot.start - timedelta(minutes=15)


@pytest.mark.django_db
def test_the_desks_hear_of_it_and_a_worker_wakes_once_it_commits(
    engine,
    reference_data,
    patient,
    clock,
    settings,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    from booking.services import queue_events
    from config.celery import app

    heard: list[tuple[str, dict[str, Any]]] = []
    woken: list[str] = []

    class Layer:
        async def group_send(self, group: str, event: dict[str, Any]) -> None:
            heard.append((group, event))

    monkeypatch.setattr(queue_events, "get_channel_layer", lambda: Layer())
    monkeypatch.setattr(app, "send_task", lambda name, **kwargs: woken.append(name))
    settings.SMS_WAKE_WORKER = True
    clock.move_to(bangkok(timezone.localdate(), time(10)))  # a text due now, not at 08:00
    slot = SlotFactory()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        made = book(patient, slot).appointment
    assert heard == []
    assert woken == []
    for callback in callbacks:
        callback()

    assert heard == [
        (
            "centre.1.queue",
            {"type": "queue.changed", "appointment_id": made.pk, "change": "booked"},
        )
    ]
    assert woken == ["notifications.tasks.send_due_messages"]


# --- Allocate --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_allocate_books_the_first_open_candidate_and_replays_its_key(
    engine, reference_data, patient
):
    service = Service.objects.get(code="general-checkup")
    start = timezone.now() + timedelta(days=2)
    full = SlotFactory(start=start, capacity=1)
    booked(PatientFactory(), full)
    free = SlotFactory(start=start + timedelta(hours=1))
    search = SlotSearch(
        service=service,
        date_from=timezone.localdate(),
        date_to=timezone.localdate() + timedelta(days=7),
        centre_ids=[1],
        order=SlotOrder.EARLIEST,
    )

    def allocate(key: str) -> Booking:
        return allocate_slot(
            patient=patient,
            search=search,
            booked_by=patient.account,
            channel=Appointment.Channel.API,
            idempotency_key=key,
        )

    made = allocate("alloc")
    again = allocate("alloc")

    assert made.created
    assert made.appointment.slot_id == free.pk
    assert not again.created
    assert again.appointment.pk == made.appointment.pk
    Slot.objects.filter(pk=free.pk).update(closed=True)
    assert not allocate("alloc").created  # no candidate left: the key still answers
    with pytest.raises(DomainError) as refused:
        allocate("another")
    assert refused.value.code == "no_slot_available"


# --- Races (PostgreSQL; SQLite runs one transaction at a time) --------------------------------


def _people(count: int) -> list[Patient]:
    return [PatientFactory() for _ in range(count)]


@pytest.mark.django_db(transaction=True)
def test_many_people_racing_for_one_slot_never_overbook_it(engine, reference_data):
    slot = SlotFactory(capacity=5)
    people = _people(60)

    outcomes = race([lambda p=p: book(p, slot, f"k-{p.pk}") for p in people])

    assert outcomes == Counter({"ok": 5, "slot_full": 55})
    slot.refresh_from_db()
    assert slot.booked == 5 == slot.appointments.count()
    assert Message.objects.count() == 5  # the confirmations; the reminders follow them
    assert AuditEvent.objects.filter(action="appointment.booked").count() == 5


@pytest.mark.django_db(transaction=True)
def test_twenty_requests_with_one_key_make_one_appointment(engine, reference_data):
    slot = SlotFactory(capacity=50)
    (person,) = _people(1)
    made: list[tuple[int, bool]] = []

    def submit() -> None:
        booking = book(person, slot, "one-key")
        made.append((booking.appointment.pk, booking.created))

    outcomes = race([submit] * 20)

    assert outcomes == Counter({"ok": 20})
    assert len({pk for pk, _ in made}) == 1
    assert sorted(created for _, created in made) == [False] * 19 + [True]
    assert Appointment.objects.count() == 1
    assert Slot.objects.get(pk=slot.pk).booked == 1


@pytest.mark.django_db(transaction=True)
def test_one_key_for_two_people_of_a_household_at_once_books_one(engine, reference_data):
    slot = SlotFactory(capacity=50)
    holder = PatientFactory()
    household = [holder] + [
        PatientFactory(account=holder.account, relationship=Patient.Relationship.CHILD)
        for _ in range(7)
    ]

    outcomes = race(
        [lambda p=p: book(p, slot, "family-key", booked_by=holder.account) for p in household]
    )

    assert outcomes == Counter({"ok": 1, "idempotency_key_reused": 7})
    assert Appointment.objects.count() == 1
    assert Slot.objects.get(pk=slot.pk).booked == 1


@pytest.mark.django_db(transaction=True)
def test_one_person_racing_for_overlapping_slots_gets_one(engine, reference_data):
    start = timezone.now() + timedelta(days=2)
    slots = [SlotFactory(start=start + timedelta(minutes=minute)) for minute in range(10)]
    (person,) = _people(1)

    outcomes = race([lambda s=s: book(person, s, f"k-{s.pk}") for s in slots])

    assert outcomes == Counter({"ok": 1, "overlapping_appointment": 9})


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_the_function_holds_no_slot_row_until_it_takes_the_place(reference_data, settings):
    """While the booking function writes the appointment, its event and texts, others may
    still lock the slot: its row is taken by the conditional update at the end only. (A
    table lock held elsewhere stops the function at the opt-out question, half-way.)"""
    settings.BOOKING_ENGINE = "sql"
    slot = SlotFactory()
    (person,) = _people(1)
    seen: list[str] = []
    holding = threading.Event()
    release = threading.Event()

    def hold_the_opt_out_table() -> None:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("LOCK TABLE notifications_optout IN ACCESS EXCLUSIVE MODE")
                holding.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    def booker() -> None:
        try:
            book(person, slot, "k")
            seen.append("booked")
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_opt_out_table)
    holder.start()
    assert holding.wait(timeout=30)
    booking = threading.Thread(target=booker)
    booking.start()
    if not until_a_lock_is_awaited(booking, table="notifications_optout"):
        pytest.fail("the booking never reached the opt-out question")
    with connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute(
                    "SELECT id FROM booking_slot WHERE id = %s FOR UPDATE NOWAIT", [slot.pk]
                )
            seen.append("slot free")
        except Exception:
            seen.append("slot locked")
    release.set()
    holder.join(timeout=30)
    booking.join(timeout=30)

    assert seen == ["slot free", "booked"]
    assert Slot.objects.get(pk=slot.pk).booked == 1


def test_prepare_needs_no_database(settings):
    """prepare() is pure: an async caller runs it between its own reads and the call."""
    from clinics.models import District

    centre = HealthCentre(number=1, abbrev_th="ศบส.", short_name_th="หนึ่ง", is_active=True)
    centre.district = District(code=1001, name_th="พระนคร", name_en="Phra Nakhon")
    service = Service(
        pk=7,
        code="x",
        kind="general",
        visit_mode="in_person",
        name_th="ตรวจ",
        name_en="Check-up",
        reminder_minutes="1440",
    )
    start = timezone.now() + timedelta(days=2)
    facts = booking_sql.SlotFacts(3, start, start + timedelta(minutes=15), 1, 7, None)

    call = booking_sql.prepare(
        appointment_id=41,
        patient_id=5,
        slot_id=3,
        facts=facts,
        service=service,
        centre=centre,
        booked_by_id=9,
        channel="api",
        idempotency_key=str(uuid.uuid4()),
    )

    assert call.sql.startswith("SELECT booking_book_slot_v2(")
    assert len(call.params) == call.sql.count("%s") == 15
    assert "/a/" in call.params[-1]


def test_the_appointment_the_texts_are_made_from_is_as_from_db_makes_it():
    """prepare's appointment and slot in memory are made without Model.__init__, which would
    send pre_init and post_init: nothing may listen to them for these models, and what is
    made is what from_db makes of the same values (the rest deferred, read on demand)."""
    from django.db.models.signals import post_init, pre_init

    from booking.services.booking_sql.call import _in_memory

    for model in (Slot, Appointment):
        assert not pre_init.has_listeners(model)
        assert not post_init.has_listeners(model)
    values = {"id": 9, "patient_id": 4, "slot_id": 3, "status": "booked", "lot_id": None}

    made = _in_memory(Appointment, **values)
    read = Appointment.from_db(None, list(values), list(values.values()))

    assert made.__dict__.keys() - {"_state"} == read.__dict__.keys() - {"_state"}
    assert {name: getattr(made, name) for name in values} == values
    assert made.get_deferred_fields() == read.get_deferred_fields()
    assert (made._state.adding, made._state.db) == (read._state.adding, read._state.db)
    with pytest.raises(ValueError, match="Not fields of Appointment"):
        _in_memory(Appointment, id=1, colour="blue")


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_an_async_caller_books_with_the_same_blocks_on_its_own_connection(reference_data, patient):
    """What a lean async route does: its own psycopg AsyncConnection, no Django ORM between
    the reads it needs and the one call."""
    import asyncio

    import psycopg

    from clinics.selectors import forget_reference_data

    slot = SlotFactory()
    forget_reference_data()
    database = connection.settings_dict

    async def book_async() -> tuple[booking_sql.BookingCall, booking_sql.Outcome]:
        async with await psycopg.AsyncConnection.connect(
            host=database["HOST"],
            port=database["PORT"] or 5432,
            user=database["USER"],
            dbname=database["NAME"],
            autocommit=True,
        ) as conn:
            facts = await booking_sql.aslot_facts(conn, slot.pk)
            service, centre = await booking_sql.areference(conn, facts)
            call = booking_sql.prepare(
                appointment_id=await booking_sql.anext_appointment_id(conn),
                patient_id=patient.pk,
                slot_id=slot.pk,
                facts=facts,
                service=service,
                centre=centre,
                booked_by_id=patient.account_id,
                channel="api",
                idempotency_key="async-key",
            )
            cursor = await conn.execute(call.sql, call.params)
            row = await cursor.fetchone()
            assert row is not None
            done = booking_sql.outcome(row[0], call)
            await booking_sql.aafter_commit(call, done)
            again = await conn.execute(call.sql, call.params)
            replay = await again.fetchone()
            assert replay is not None
            assert booking_sql.outcome(replay[0], call).kind == "replay"
            return call, done

    call, done = asyncio.run(book_async())

    assert done.kind == "booked"
    appointment = Appointment.objects.get()
    assert appointment.pk == call.appointment_id == done.appointment_id
    assert Slot.objects.get(pk=slot.pk).booked == 1
    assert Message.objects.filter(appointment=appointment).count() == 1  # the confirmation
    assert AuditEvent.objects.filter(action="appointment.booked", target_id=appointment.pk).exists()
    assert booking_sql.reference(booking_sql.slot_facts(slot.pk))[1].district.code == 1001


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_call_without_texts_is_refused_for_a_full_slot_and_asks_for_them_when_a_place_is_free(
    reference_data, patient
):
    """A caller that read the slot full leaves the texts out. Full: slot_full, as with them.
    A place free after all (a cancellation since the read): nothing is written, and the
    answer asks for the texts; with them, the booking is made with its texts."""
    full = SlotFactory(capacity=1, booked=1)
    free = SlotFactory()

    def call_for(slot, *, texts):
        facts = booking_sql.slot_facts(slot.pk)
        service, centre = booking_sql.reference(facts)
        return booking_sql.prepare(
            appointment_id=booking_sql.next_appointment_id(),
            patient_id=patient.pk,
            slot_id=slot.pk,
            facts=facts,
            service=service,
            centre=centre,
            booked_by_id=patient.account_id,
            channel="api",
            idempotency_key=f"no-texts-{slot.pk}-{texts}",
            texts=texts,
        )

    def run(call):
        with connection.cursor() as cursor:
            cursor.execute(call.sql, call.params)
            return booking_sql.outcome(cursor.fetchone()[0], call)

    with pytest.raises(SlotFull):
        run(call_for(full, texts=False))
    asked = run(call_for(free, texts=False))
    assert asked.kind == "texts"
    assert not Appointment.objects.exists()
    assert Slot.objects.get(pk=free.pk).booked == 0

    done = run(call_for(free, texts=True))

    assert done.kind == "booked"
    assert (
        Message.objects.filter(appointment_id=done.appointment_id).count() == 1
    )  # the confirmation
