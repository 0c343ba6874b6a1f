"""What the booking engine writes to the outbox, in its own transaction."""

from datetime import date, time, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from kombu.exceptions import OperationalError

from booking.models import Patient
from booking.services.appointments import cancel_appointment, reschedule_appointment
from booking.services.patients import PersonDetails, add_dependant
from clinics.models import Service
from notifications.models import Message, OptOut
from notifications.services.dispatch import send_due_messages
from tests.factories import PatientFactory, SlotFactory, bangkok, booked, national_id

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
    reminders = Message.objects.filter(appointment=appointment, kind=Kind.REMINDER)
    assert confirmation.status == Status.PENDING
    assert confirmation.due_at == timezone.now()
    assert confirmation.recipient == patient.phone
    assert confirmation.segments >= 1
    assert sorted((r.reminder_minutes, r.due_at) for r in reminders) == [
        (120, bangkok(TUESDAY, time(12))),
        (1440, bangkok(MONDAY, time(14))),
    ]


def test_a_rolled_back_booking_queues_nothing(patient, clock):
    slot = SlotFactory()

    def book_then_fail() -> None:
        with transaction.atomic():
            booked(patient, slot)
            raise RuntimeError("the request failed after booking")

    with pytest.raises(RuntimeError):
        book_then_fail()

    assert not Message.objects.exists()


def test_messages_due_in_quiet_hours_wait_for_eight_in_the_morning(patient, clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    slot = SlotFactory(start=bangkok(TUESDAY, time(9, 30)))

    appointment = booked(patient, slot)

    (reminder,) = Message.objects.filter(appointment=appointment, kind=Kind.REMINDER)
    assert reminder.reminder_minutes == 120  # due 07:30, the 24-hour one already past
    assert reminder.due_at == bangkok(TUESDAY, time(8))
    assert reminder.status == Status.PENDING


def test_a_message_quiet_hours_would_make_useless_is_dropped_with_a_reason(patient, clock):
    clock.move_to(bangkok(MONDAY, time(22, 30)))
    slot = SlotFactory(start=bangkok(TUESDAY, time(8)))

    appointment = booked(patient, slot)

    confirmation = Message.objects.get(appointment=appointment, kind=Kind.CONFIRMATION)
    reminder = Message.objects.get(appointment=appointment, kind=Kind.REMINDER)
    assert confirmation.due_at == bangkok(TUESDAY, time(8))
    assert confirmation.status == Status.PENDING  # still useful until the visit ends
    assert reminder.status == Status.CANCELLED  # due 06:00, 08:00 is after the visit began
    assert "Quiet hours" in reminder.last_error


def test_cancelling_drops_pending_reminders_and_queues_a_notice(patient, clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    appointment = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(14))))

    cancel_appointment(appointment=appointment)

    assert kinds(appointment) == [
        (Kind.CANCELLED, Status.PENDING),
        (Kind.CONFIRMATION, Status.CANCELLED),
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

    reschedule_appointment(appointment=appointment, new_slot_id=later.pk)

    pending = Message.objects.filter(appointment=appointment, status=Status.PENDING)
    assert sorted(pending.values_list("kind", flat=True)) == [
        Kind.REMINDER,
        Kind.REMINDER,
        Kind.RESCHEDULED,
    ]
    assert {m.due_at for m in pending.filter(kind=Kind.REMINDER)} == {
        later.start - timedelta(hours=24),
        later.start - timedelta(hours=2),
    }
    assert Message.objects.filter(appointment=appointment, status=Status.CANCELLED).count() == 3


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

    link = Message.objects.get(appointment=appointment, kind=Kind.VIDEO_LINK)
    assert link.due_at == bangkok(TUESDAY, time(12, 45))
    assert link.expires_at == slot.end
    assert "/a/" in link.body


def test_a_number_that_opted_out_gets_nothing_and_staff_see_why(patient, clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    OptOut.objects.create(phone=patient.phone, source="Replied STOP")

    appointment = booked(patient, SlotFactory())

    confirmation = Message.objects.get(appointment=appointment, kind=Kind.CONFIRMATION)
    assert confirmation.status == Status.FAILED
    assert confirmation.error_code == "opted_out"


@pytest.mark.usefixtures("orm_engine")
def test_every_message_of_a_booking_to_an_opted_out_number_is_failed_from_one_question(
    patient, clock
):
    """The opt-out is asked once for the number, however many messages a booking writes."""
    clock.move_to(bangkok(MONDAY, time(10)))
    OptOut.objects.create(phone=patient.phone, source="Replied STOP")
    slot = SlotFactory(start=bangkok(MONDAY, time(10)) + timedelta(days=3))

    with CaptureQueriesContext(connection) as queries:
        appointment = booked(patient, slot)

    written = Message.objects.filter(appointment=appointment)
    assert written.count() == 3  # the confirmation and two reminders (a day and 2 hours before)
    assert {(m.status, m.error_code) for m in written} == {(Status.FAILED, "opted_out")}
    asked = [q for q in queries.captured_queries if "notifications_optout" in q["sql"]]
    assert len(asked) == 1


def test_a_booking_commits_and_its_message_waits_when_the_broker_is_down(
    patient, clock, settings, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    from config.celery import app

    clock.move_to(bangkok(MONDAY, time(10)))
    settings.SMS_WAKE_WORKER = True

    def broker_down(*args: object, **kwargs: object) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(app, "send_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        appointment = booked(patient, SlotFactory())

    assert callbacks  # the wake-up was attempted, and failed quietly
    assert "Could not wake a worker" in caplog.text
    confirmation = Message.objects.get(appointment=appointment, kind=Kind.CONFIRMATION)
    assert confirmation.status == Status.PENDING
    send_due_messages()  # beat's next sweep
    confirmation.refresh_from_db()
    assert confirmation.status == Status.SENT
