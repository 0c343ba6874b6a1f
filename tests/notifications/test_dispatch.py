"""Sending from the outbox through the real Twilio SDK, against a local fake of its API."""

import threading
import time as time_module
from collections import Counter
from datetime import date, time, timedelta

import pytest
from django.db import connections
from django.utils import timezone

from booking.services.appointments import cancel_appointment
from notifications.models import Message, OptOut
from notifications.services.dispatch import claim_due_messages, send_due_messages
from notifications.services.outbox import Recipient, queue_message
from notifications.tasks import send_due_messages as send_due_messages_task
from tests.factories import SlotFactory, bangkok, booked

Kind = Message.Kind
Status = Message.Status
MONDAY = date(2026, 11, 30)


def queue(phone: str = "+66812345678", *, kind=Kind.REMINDER, body="BMA test", **options):
    return queue_message(recipient=Recipient(phone, "th"), kind=kind, body=body, **options)


@pytest.fixture
def daytime(clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    return clock


@pytest.mark.django_db
def test_due_messages_go_out_through_twilio_and_keep_its_message_sid(fake_twilio, daytime):
    message = queue(body="นัดหมายของคุณ พรุ่งนี้ 10:00 น.")
    later = queue(due_at=timezone.now() + timedelta(hours=1))

    result = send_due_messages_task.apply().get()

    (received,) = fake_twilio.messages
    message.refresh_from_db()
    later.refresh_from_db()
    assert result["sent"] == 1
    assert (received.to, received.body) == ("+66812345678", "นัดหมายของคุณ พรุ่งนี้ 10:00 น.")
    assert received.messaging_service_sid == fake_twilio.messaging_service_sid
    assert received.status_callback == "https://booking.example.go.th/sms/twilio/status"
    assert message.status == Status.SENT
    assert message.provider_id == received.sid
    assert message.segments == received.num_segments
    assert later.status == Status.PENDING
    assert fake_twilio.refused == []


@pytest.mark.django_db
def test_an_invalid_number_fails_for_good_with_twilios_code(fake_twilio, daytime):
    fake_twilio.invalid_numbers.add("+66812345678")
    message = queue()

    send_due_messages()

    message.refresh_from_db()
    assert (message.status, message.error_code) == (Status.FAILED, "21211")
    assert message.attempts == 1


@pytest.mark.django_db
def test_an_unsubscribed_number_fails_and_is_remembered_as_opted_out(fake_twilio, daytime):
    fake_twilio.unsubscribed_numbers.add("+66812345678")
    first = queue()

    send_due_messages()
    second = queue()

    first.refresh_from_db()
    assert (first.status, first.error_code) == (Status.FAILED, "21610")
    assert OptOut.objects.filter(phone="+66812345678").exists()
    assert (second.status, second.error_code) == (Status.FAILED, "opted_out")


@pytest.mark.django_db
@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_errors_are_retried_later_with_growing_waits(fake_twilio, daytime, status):
    fake_twilio.fail_next(status, times=2)
    message = queue()

    send_due_messages()
    message.refresh_from_db()
    first_wait = message.due_at - timezone.now()
    daytime.move_to(message.due_at)
    send_due_messages()
    message.refresh_from_db()
    second_wait = message.due_at - timezone.now()
    daytime.move_to(message.due_at)
    send_due_messages()

    message.refresh_from_db()
    assert timedelta(seconds=20) < first_wait < second_wait <= timedelta(seconds=80)
    assert message.status == Status.SENT
    assert message.attempts == 3
    assert len(fake_twilio.messages) == 1


@pytest.mark.django_db
def test_a_message_that_keeps_failing_stops_after_the_last_attempt(fake_twilio, daytime, settings):
    settings.SMS_MAX_ATTEMPTS = 3
    fake_twilio.fail_next(500, times=10)
    message = queue()

    for _ in range(3):
        send_due_messages()
        message.refresh_from_db()
        daytime.move_to(message.due_at)

    assert message.status == Status.FAILED
    assert message.attempts == 3
    assert message.error_code == "20500"


@pytest.mark.django_db
def test_a_message_whose_worker_died_is_sent_after_the_lease(fake_twilio, daytime, settings):
    message = queue()
    assert claim_due_messages(limit=10) == [message.pk]  # a worker took it, then died

    send_due_messages()
    assert fake_twilio.messages == []
    daytime.move_to(timezone.now() + timedelta(seconds=settings.SMS_CLAIM_LEASE_SECONDS + 1))
    send_due_messages()

    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.attempts == 2
    assert len(fake_twilio.messages) == 1


@pytest.mark.django_db
def test_a_backlog_that_runs_into_quiet_hours_waits_for_the_morning(fake_twilio, clock):
    clock.move_to(bangkok(MONDAY, time(20, 50)))
    message = queue()
    clock.move_to(bangkok(MONDAY, time(21, 5)))  # the worker was busy until now

    send_due_messages()

    message.refresh_from_db()
    assert message.status == Status.PENDING
    assert message.due_at == bangkok(MONDAY + timedelta(days=1), time(8))
    assert message.attempts == 0
    assert fake_twilio.messages == []


@pytest.mark.django_db
def test_passcodes_go_out_at_night(fake_twilio, clock):
    clock.move_to(bangkok(MONDAY, time(23, 30)))
    queue(kind=Kind.PASSCODE, body="BMA sign-in code: 123456")

    send_due_messages()

    assert [m.body for m in fake_twilio.messages] == ["BMA sign-in code: 123456"]


@pytest.mark.django_db
def test_a_message_past_its_use_is_dropped_not_sent(fake_twilio, daytime):
    message = queue(expires_at=timezone.now() + timedelta(minutes=5))
    daytime.move_to(timezone.now() + timedelta(minutes=10))  # the worker was down

    send_due_messages()

    message.refresh_from_db()
    assert message.status == Status.CANCELLED
    assert fake_twilio.messages == []


@pytest.mark.django_db
def test_a_reminder_for_an_appointment_no_longer_upcoming_is_dropped(patient, daytime):
    appointment = booked(patient, SlotFactory(start=bangkok(MONDAY + timedelta(days=2), time(9))))
    reminder = Message.objects.filter(appointment=appointment, kind=Kind.REMINDER).first()
    assert reminder is not None
    cancel_appointment(appointment=appointment)
    Message.objects.filter(pk=reminder.pk).update(status=Status.PENDING)  # a racing writer
    daytime.move_to(reminder.due_at)

    send_due_messages()

    reminder.refresh_from_db()
    assert reminder.status == Status.CANCELLED
    assert "cancelled" in reminder.last_error


@pytest.mark.django_db
def test_sending_is_paced_per_worker(fake_twilio, daytime, settings):
    settings.SMS_MAX_PER_SECOND = 20
    for n in range(6):
        queue(f"+6681234560{n}")

    began = time_module.monotonic()  # the clock fixture freezes wall time, not this
    send_due_messages()
    took = time_module.monotonic() - began

    assert len(fake_twilio.messages) == 6
    assert took >= 5 / 20


@pytest.mark.django_db(transaction=True)
def test_workers_in_parallel_never_send_one_message_twice(fake_twilio, reference_data):
    """Four dispatchers, each on its own database connection, drain 200 due messages."""
    for n in range(200):
        queue(f"+66812{n:06d}", kind=Kind.PASSCODE, body=f"code {n}")
    start = threading.Event()
    outcomes: Counter[str] = Counter()

    def worker() -> None:
        start.wait(timeout=10)
        try:
            result = send_due_messages(batch_size=7)
            outcomes.update(result.outcomes.values())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    start.set()
    for thread in threads:
        thread.join(timeout=60)

    bodies = Counter(m.body for m in fake_twilio.messages)
    assert outcomes == {"sent": 200}
    assert len(bodies) == 200
    assert max(bodies.values()) == 1
    assert Message.objects.filter(status=Status.SENT).count() == 200
