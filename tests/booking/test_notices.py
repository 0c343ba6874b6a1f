"""What a booking's texts say, and what the booking engine writes to the outbox about an
appointment: its announcement in its own transaction, and what leads up to the time as the
dispatcher takes that announcement (write_follow_ups)."""

import threading
from datetime import date, time, timedelta

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from booking import notices
from booking.models import Appointment, Patient, Slot
from booking.services.appointments import cancel_appointment, reschedule_appointment
from booking.services.patients import PersonDetails, add_dependant
from booking.services.slots import sync_slots
from clinics.models import HealthCentre, Service
from notifications.messages import count_segments
from notifications.models import Message, OptOut
from notifications.services.dispatch import send_due_messages
from tests.factories import (
    PatientFactory,
    ScheduleTemplateFactory,
    SlotFactory,
    bangkok,
    booked,
    national_id,
    released_drive,
)
from tests.races import until_a_lock_is_awaited

pytestmark = pytest.mark.django_db

Kind = Message.Kind
Status = Message.Status
MONDAY = date(2026, 11, 30)
TUESDAY = date(2026, 12, 1)


def kinds(appointment):
    return sorted((m.kind, m.status) for m in Message.objects.filter(appointment=appointment))


def test_a_booking_queues_a_confirmation_now_and_reminders_before_the_visit(patient, clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    slot = SlotFactory(start=bangkok(TUESDAY, time(14)))

    appointment = booked(patient, slot)

    confirmation = Message.objects.get(appointment=appointment, kind=Kind.CONFIRMATION)
    assert confirmation.status == Status.PENDING
    assert confirmation.due_at == timezone.now()
    assert confirmation.recipient == patient.phone
    assert confirmation.segments >= 1
    # The booking writes the confirmation alone; the reminders follow as it is sent.
    assert kinds(appointment) == [(Kind.CONFIRMATION, Status.PENDING)]

    send_due_messages()

    reminders = Message.objects.filter(appointment=appointment, kind=Kind.REMINDER)
    assert sorted((r.reminder_minutes, r.due_at, r.status) for r in reminders) == [
        (120, bangkok(TUESDAY, time(12)), Status.PENDING),
        (1440, bangkok(MONDAY, time(14)), Status.PENDING),
    ]
    assert {(r.recipient, r.language) for r in reminders} == {
        (confirmation.recipient, confirmation.language)
    }
    assert Message.objects.get(pk=confirmation.pk).status == Status.SENT


def test_the_reminders_are_written_once_however_often_their_confirmation_is_taken(patient, clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    appointment = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(14))))
    confirmation = Message.objects.get(appointment=appointment, kind=Kind.CONFIRMATION)
    confirmation.status = Status.SENDING  # as a worker takes it
    confirmation.save(update_fields=["status"])

    assert notices.write_follow_ups(confirmation) == 2
    # Taken again (quiet hours sent it back, or its worker died): nothing more.
    assert notices.write_follow_ups(confirmation) == 0
    assert Message.objects.filter(appointment=appointment, kind=Kind.REMINDER).count() == 2


def test_no_reminders_follow_a_confirmation_cancelled_since_it_was_taken(patient, clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    appointment = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(14))))
    confirmation = Message.objects.get(appointment=appointment, kind=Kind.CONFIRMATION)
    Message.objects.filter(pk=confirmation.pk).update(status=Status.CANCELLED)
    confirmation.status = Status.SENDING  # what the worker still holds in memory

    assert notices.write_follow_ups(confirmation) == 0


def test_no_reminders_follow_for_an_appointment_cancelled_before_its_confirmation_went(
    patient, clock
):
    clock.move_to(bangkok(MONDAY, time(10)))
    appointment = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(14))))
    cancel_appointment(appointment=appointment)

    send_due_messages()

    assert kinds(appointment) == [
        (Kind.CANCELLED, Status.SENT),
        (Kind.CONFIRMATION, Status.CANCELLED),
    ]


def test_a_reminder_due_soon_after_the_booking_is_left_out_however_late_it_is_written(
    patient, clock
):
    clock.move_to(bangkok(MONDAY, time(10)))
    # Booked at 10:00 for 12:20: the 2-hour reminder (10:20) is due within 30 minutes of the
    # booking and adds nothing to the confirmation. For 13:00, it is due at 11:00, and is
    # written even when the worker takes the confirmation late, at 10:45.
    soon = booked(patient, SlotFactory(start=bangkok(MONDAY, time(12, 20))))
    later = booked(patient, SlotFactory(start=bangkok(MONDAY, time(13))))
    clock.move_to(bangkok(MONDAY, time(10, 45)))

    send_due_messages()

    assert kinds(soon) == [(Kind.CONFIRMATION, Status.SENT)]
    assert kinds(later) == [(Kind.CONFIRMATION, Status.SENT), (Kind.REMINDER, Status.PENDING)]


def test_cancelling_drops_pending_reminders_and_queues_a_notice(patient, clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    appointment = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(14))))
    send_due_messages()

    cancel_appointment(appointment=appointment)

    assert kinds(appointment) == [
        (Kind.CANCELLED, Status.PENDING),
        (Kind.CONFIRMATION, Status.SENT),
        (Kind.REMINDER, Status.CANCELLED),
        (Kind.REMINDER, Status.CANCELLED),
    ]


def test_a_sent_confirmation_is_kept_when_the_appointment_is_cancelled(patient, clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    appointment = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(14))))
    send_due_messages()

    cancel_appointment(appointment=appointment)

    assert Message.objects.get(appointment=appointment, kind=Kind.CONFIRMATION).status == (
        Status.SENT
    )


def test_rescheduling_replaces_the_reminders_with_ones_for_the_new_time(patient, clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    appointment = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(14))))
    later = SlotFactory(start=bangkok(TUESDAY + timedelta(days=1), time(15)))
    send_due_messages()

    reschedule_appointment(appointment=appointment, new_slot_id=later.pk)

    # The old time's reminders are cancelled; the notice of the new time waits to be sent.
    assert kinds(appointment) == [
        (Kind.CONFIRMATION, Status.SENT),
        (Kind.REMINDER, Status.CANCELLED),
        (Kind.REMINDER, Status.CANCELLED),
        (Kind.RESCHEDULED, Status.PENDING),
    ]

    send_due_messages()

    pending = Message.objects.filter(appointment=appointment, status=Status.PENDING)
    assert {(m.kind, m.due_at) for m in pending} == {
        (Kind.REMINDER, later.start - timedelta(hours=24)),
        (Kind.REMINDER, later.start - timedelta(hours=2)),
    }


def test_texts_about_a_dependant_go_to_the_account_holder_in_their_language(patient, clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    patient.preferred_language = Patient.Language.ENGLISH
    patient.save()
    child = PatientFactory(
        account=patient.account,
        relationship=Patient.Relationship.CHILD,
        phone="",
        preferred_language=Patient.Language.THAI,
    )

    appointment = booked(child, SlotFactory())

    confirmation = Message.objects.get(appointment=appointment, kind=Kind.CONFIRMATION)
    assert (confirmation.recipient, confirmation.language) == (patient.phone, "en")
    assert confirmation.patient == child
    assert "Health Centre 1" in confirmation.body


def test_a_dependant_added_with_a_strangers_phone_has_their_texts_go_to_the_holder(patient, clock):
    child = add_dependant(
        account=patient.account,
        relationship=Patient.Relationship.CHILD,
        person=PersonDetails(
            first_name="น้อง",
            last_name="ใจดี",
            date_of_birth=date(2019, 4, 2),
            sex=Patient.Sex.FEMALE,
            phone="+66899990000",
            national_id=national_id(),
        ),
    )

    appointment = booked(child, SlotFactory())

    sent_to = {m.recipient for m in Message.objects.filter(appointment=appointment)}
    assert sent_to == {patient.phone}


def test_a_dependants_proven_phone_gets_their_texts(patient, clock):
    child = PatientFactory(
        account=patient.account,
        relationship=Patient.Relationship.CHILD,
        phone="+66899990000",
        phone_verified_at=timezone.now(),
    )

    appointment = booked(child, SlotFactory())

    sent_to = {m.recipient for m in Message.objects.filter(appointment=appointment)}
    assert sent_to == {"+66899990000"}


def test_a_dependant_with_the_holders_own_number_gets_texts_there_unproven(patient, clock):
    child = PatientFactory(
        account=patient.account, relationship=Patient.Relationship.CHILD, phone=patient.phone
    )

    appointment = booked(child, SlotFactory())

    sent_to = {m.recipient for m in Message.objects.filter(appointment=appointment)}
    assert sent_to == {patient.phone}


def test_each_service_sets_its_own_reminder_times(patient, clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    Service.objects.filter(code="general-checkup").update(reminder_minutes="2880,60")
    slot = SlotFactory(start=bangkok(MONDAY + timedelta(days=3), time(10)))

    appointment = booked(patient, slot)
    send_due_messages()

    assert sorted(
        Message.objects.filter(appointment=appointment, kind=Kind.REMINDER).values_list(
            "reminder_minutes", flat=True
        )
    ) == [60, 2880]


def test_a_video_visit_also_gets_its_joining_link_as_the_room_opens(patient, clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    slot = SlotFactory(
        service=Service.objects.get(code="video-general"), start=bangkok(TUESDAY, time(13))
    )

    appointment = booked(patient, slot)
    send_due_messages()

    link = Message.objects.get(appointment=appointment, kind=Kind.VIDEO_LINK)
    assert link.due_at == bangkok(TUESDAY, time(12, 45))
    assert link.expires_at == slot.end
    assert "/a/" in link.body


def test_a_video_visit_checked_in_before_its_confirmation_went_still_gets_its_link(patient, clock):
    from booking.services.appointments import check_in

    clock.move_to(bangkok(MONDAY, time(10)))
    video = booked(
        patient,
        SlotFactory(
            service=Service.objects.get(code="video-general"), start=bangkok(MONDAY, time(13))
        ),
    )
    in_person = booked(patient, SlotFactory(start=bangkok(MONDAY, time(15))))
    for appointment in (video, in_person):
        check_in(appointment=appointment)  # before a worker took the confirmations

    send_due_messages()

    # The confirmations are dropped, and so are the reminders; the joining link is still
    # wanted (appointment_still_on).
    assert kinds(video) == [
        (Kind.CONFIRMATION, Status.CANCELLED),
        (Kind.VIDEO_LINK, Status.PENDING),
    ]
    assert kinds(in_person) == [(Kind.CONFIRMATION, Status.CANCELLED)]


def test_a_number_that_opted_out_gets_nothing_and_staff_see_why(patient, clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    OptOut.objects.create(phone=patient.phone, source="Replied STOP")

    appointment = booked(patient, SlotFactory())

    confirmation = Message.objects.get(appointment=appointment, kind=Kind.CONFIRMATION)
    assert confirmation.status == Status.FAILED
    assert confirmation.error_code == "opted_out"


@pytest.mark.usefixtures("orm_engine")
def test_a_booking_to_an_opted_out_number_writes_its_confirmation_failed_and_nothing_follows(
    patient, clock
):
    """The opt-out is asked once; the confirmation, never taken to be sent, has no reminders
    follow it: staff see one failed text with the reason."""
    clock.move_to(bangkok(MONDAY, time(10)))
    OptOut.objects.create(phone=patient.phone, source="Replied STOP")
    slot = SlotFactory(start=bangkok(MONDAY, time(10)) + timedelta(days=3))

    with CaptureQueriesContext(connection) as queries:
        appointment = booked(patient, slot)
    send_due_messages()

    assert kinds(appointment) == [(Kind.CONFIRMATION, Status.FAILED)]
    assert Message.objects.get(appointment=appointment).error_code == "opted_out"
    asked = [q for q in queries.captured_queries if "notifications_optout" in q["sql"]]
    assert len(asked) == 1


def test_reminders_written_after_the_number_opted_out_are_written_failed(patient, clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    appointment = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(14))))
    confirmation = Message.objects.get(appointment=appointment, kind=Kind.CONFIRMATION)
    OptOut.objects.create(phone=patient.phone, source="Replied STOP")

    send_due_messages()

    assert Message.objects.get(pk=confirmation.pk).status == Status.FAILED
    reminders = Message.objects.filter(appointment=appointment, kind=Kind.REMINDER)
    assert {(m.status, m.error_code) for m in reminders} == {(Status.FAILED, "opted_out")}
    assert reminders.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["th", "en"])
def test_appointment_messages_are_short_and_say_what_matters(patient, clock, language):
    slot = SlotFactory(start=bangkok(date(2026, 12, 1), time(9, 30)))
    appointment = booked(patient, slot)

    confirmation = notices.booking_confirmation(appointment, language)
    texts = [
        confirmation,
        notices.reminder(appointment, language),
        notices.rescheduled(appointment, language),
        notices.cancellation(appointment, language),
        notices.reply_help(language),
    ]

    day = "1 ธ.ค. 2569" if language == "th" else "1 Dec 2026"
    assert day in confirmation
    assert ("09:30 น." if language == "th" else "09:30") in confirmation
    assert ("ศบส.1 สะพานมอญ" if language == "th" else "Health Centre 1") in confirmation
    assert ("บัตรประชาชน" if language == "th" else "ID card") in confirmation
    assert "/a/" in confirmation
    for text in texts:
        assert count_segments(text).segments <= 3, text
    if language == "th":
        assert count_segments(confirmation).encoding == "ucs2"
    else:
        assert count_segments(notices.reply_help("en")).encoding == "gsm7"


def test_the_texts_language_follows_from_the_patients_own_row_only_when_it_settles_it(patient):
    patient.preferred_language = "en"
    child = PatientFactory(
        account=patient.account, relationship=Patient.Relationship.CHILD, phone=""
    )
    proven = PatientFactory(
        account=patient.account,
        relationship=Patient.Relationship.CHILD,
        phone="+66812220000",
        phone_verified_at=timezone.now(),
        preferred_language="th",
    )
    partly_read = Patient.objects.only("id", "account_id").get(pk=patient.pk)

    assert notices.own_texts_language(patient) == "en"  # the holder
    assert notices.own_texts_language(proven) == "th"  # their own proven phone
    assert notices.own_texts_language(child) is None  # the holder's row decides
    assert notices.own_texts_language(partly_read) is None  # not read: asked of no query
    # Where it settles it, it is recipient_for's language.
    for person in (patient, proven):
        assert notices.recipient_for(person).language == notices.own_texts_language(person)


@pytest.mark.postgresql
def test_a_booking_through_the_booking_function_makes_the_texts_once_when_the_row_settles_it(
    patient, monkeypatch
):
    from booking.services.booking_sql import call as call_module

    made_in = []
    make_rows = call_module.booked_fields

    def counted(appointment, recipient, **options):
        made_in.append(recipient.language)
        return make_rows(appointment, recipient, **options)

    monkeypatch.setattr(call_module, "booked_fields", counted)
    patient.preferred_language = "en"
    patient.save(update_fields=["preferred_language"])

    appointment = booked(patient, SlotFactory(start=bangkok(date(2026, 12, 2), time(10))))

    confirmation = Message.objects.get(appointment=appointment, kind=Message.Kind.CONFIRMATION)
    assert (confirmation.language, made_in) == ("en", ["en"])
    assert confirmation.body == notices.booking_confirmation(appointment, "en")


@pytest.mark.parametrize("language", ["th", "en"])
def test_a_drive_called_off_and_a_closure_tell_each_booked_patient_with_the_link(
    patient, city_admin, clock, language
):
    from booking.services.schedules import add_closure
    from booking.vaccination.drives import cancel_drive

    patient.preferred_language = language
    patient.save(update_fields=["preferred_language"])
    drive = released_drive(city_admin)
    clock.move_to(drive.release_at)
    in_drive = booked(patient, Slot.objects.filter(drive=drive).earliest("start"))
    template = ScheduleTemplateFactory(centre=HealthCentre.objects.get(number=1))
    sync_slots(centre_ids=[1])
    later = timezone.now() + timedelta(days=2)
    scheduled = Slot.objects.filter(template=template, start__gt=later).earliest("start")
    ordinary = booked(patient, scheduled)
    day = timezone.localdate(scheduled.start)

    cancel_drive(drive=drive)
    add_closure(centre=scheduled.centre, start_date=day, end_date=day, reason_th="ซ่อม")

    told = {
        message.appointment_id: message
        for message in Message.objects.filter(kind=Message.Kind.DRIVE_CHANGE)
    }
    assert set(told) == {in_drive.pk, ordinary.pk}
    assert told[in_drive.pk].body == notices.drive_called_off(in_drive, language)
    assert told[ordinary.pk].body == notices.centre_closed(ordinary, language)
    for message in told.values():
        assert message.recipient == patient.phone
        assert "/a/" in message.body
        assert count_segments(message.body).segments <= 3, message.body


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_worker_writing_reminders_waits_for_a_move_in_progress_and_writes_none_for_the_old_time(
    reference_data,
):
    """A worker has taken the confirmation while the patient moves the appointment: the move
    holds the appointment's row until it commits, having cancelled the confirmation; the
    worker waits for that row, then finds its confirmation cancelled and writes nothing (the
    notice of the move carries the new time's reminders)."""
    patient = PatientFactory()
    appointment = booked(patient, SlotFactory())
    later = SlotFactory(start=appointment.slot.start + timedelta(days=1))
    confirmation = Message.objects.get(appointment=appointment, kind=Kind.CONFIRMATION)
    Message.objects.filter(pk=confirmation.pk).update(status=Status.SENDING)  # a worker took it
    confirmation.status = Status.SENDING
    moving, release = threading.Event(), threading.Event()
    written: list[int] = []

    def move() -> None:
        try:
            with transaction.atomic():
                reschedule_appointment(appointment=appointment, new_slot_id=later.pk)
                moving.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    def write() -> None:
        try:
            written.append(notices.write_follow_ups(confirmation))
        finally:
            connections.close_all()

    mover = threading.Thread(target=move)
    mover.start()
    assert moving.wait(timeout=30)
    writer = threading.Thread(target=write)
    writer.start()
    until_a_lock_is_awaited(writer)  # the worker waits for the move, or is done
    release.set()
    mover.join(timeout=30)
    writer.join(timeout=30)

    assert written == [0]
    assert kinds(appointment) == [
        (Kind.CONFIRMATION, Status.CANCELLED),
        (Kind.RESCHEDULED, Status.PENDING),
    ]


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_reminders_being_written_as_the_record_moves_away_are_cancelled_with_the_rest(
    reference_data, monkeypatch
):
    """A worker is writing the reminders of a confirmation when the person's record moves to
    another account: the move waits for the appointment's row, then cancels them with the old
    confirmation, so none goes to the number that no longer receives the person's texts."""
    patient = PatientFactory()
    appointment = booked(patient, SlotFactory())
    confirmation = Message.objects.get(appointment=appointment, kind=Kind.CONFIRMATION)
    Message.objects.filter(pk=confirmation.pk).update(status=Status.SENDING)  # a worker took it
    confirmation.status = Status.SENDING
    writing, release = threading.Event(), threading.Event()
    queue_now = notices.queue_messages

    def queue_then_wait(rows: list[Message]) -> list[Message]:
        made = queue_now(rows)
        if rows and rows[0].kind == Kind.REMINDER:  # the worker's, not the move's
            writing.set()
            release.wait(timeout=30)
        return made

    monkeypatch.setattr(notices, "queue_messages", queue_then_wait)

    def write() -> None:
        try:
            notices.write_follow_ups(confirmation)
        finally:
            connections.close_all()

    def move() -> None:
        try:
            with transaction.atomic():
                notices.notify_record_moved(
                    Appointment.objects.select_related("slot__service", "slot__centre").get(
                        pk=appointment.pk
                    )
                )
        finally:
            connections.close_all()

    writer = threading.Thread(target=write)
    writer.start()
    assert writing.wait(timeout=30)
    mover = threading.Thread(target=move)
    mover.start()
    until_a_lock_is_awaited(mover)  # the move waits for the worker, or is done
    release.set()
    writer.join(timeout=30)
    mover.join(timeout=30)

    assert kinds(appointment) == [
        (Kind.CONFIRMATION, Status.CANCELLED),
        (Kind.CONFIRMATION, Status.PENDING),
        (Kind.REMINDER, Status.CANCELLED),
        (Kind.REMINDER, Status.CANCELLED),
    ]
