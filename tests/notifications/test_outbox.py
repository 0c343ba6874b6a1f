"""Writing to the outbox in the caller's transaction: nothing for a booking that rolls back,
quiet hours, and a broker that is down."""

from datetime import date, time

import pytest
from django.db import transaction
from kombu.exceptions import OperationalError

from notifications.models import Message
from notifications.services.dispatch import send_due_messages
from notifications.services.outbox import Recipient, queue_message
from tests.factories import SlotFactory, bangkok, booked

pytestmark = pytest.mark.django_db

Kind = Message.Kind
Status = Message.Status
MONDAY = date(2026, 11, 30)
TUESDAY = date(2026, 12, 1)


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
    send_due_messages()  # the confirmation goes; its reminders are written

    (reminder,) = Message.objects.filter(appointment=appointment, kind=Kind.REMINDER)
    assert reminder.reminder_minutes == 120  # due 07:30, the 24-hour one already past
    assert reminder.due_at == bangkok(TUESDAY, time(8))
    assert reminder.status == Status.PENDING


def test_a_message_quiet_hours_would_make_useless_is_dropped_with_a_reason(patient, clock):
    clock.move_to(bangkok(MONDAY, time(22, 30)))
    to = Recipient(patient.phone, "th")

    useful = queue_message(
        recipient=to, kind=Kind.CONFIRMATION, body="a", expires_at=bangkok(TUESDAY, time(8, 15))
    )
    useless = queue_message(
        recipient=to,
        kind=Kind.REMINDER,
        body="b",
        due_at=bangkok(TUESDAY, time(6)),
        expires_at=bangkok(TUESDAY, time(7, 45)),
    )

    assert useful.due_at == bangkok(TUESDAY, time(8))
    assert useful.status == Status.PENDING  # still useful at 08:00
    assert useless.status == Status.CANCELLED  # due 06:00, and 08:00 is too late
    assert "Quiet hours" in useless.last_error


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


def test_a_process_asks_the_cache_for_a_wake_up_once_a_second_at_most(clock, settings, monkeypatch):
    """Every booking that commits a text due now asks for a worker; the cache lets one
    wake-up a second through, and a process asks it once a second rather than on each."""
    from config.celery import app
    from notifications.services import outbox

    settings.SMS_WAKE_WORKER = True
    woken: list[str] = []
    asked: list[str] = []
    monkeypatch.setattr(app, "send_task", lambda name, **kwargs: woken.append(name))

    real = outbox.cache

    class CountingCache:
        def add(self, key: str, *args: object, **kwargs: object) -> bool:
            asked.append(key)
            return real.add(key, *args, **kwargs)

    monkeypatch.setattr(outbox, "cache", CountingCache())

    for _ in range(3):  # three bookings in the same second
        outbox.wake_worker()
    assert (len(asked), woken) == (1, ["notifications.tasks.send_due_messages"])

    clock.shift(1)
    outbox.wake_worker()
    assert len(asked) == 2
