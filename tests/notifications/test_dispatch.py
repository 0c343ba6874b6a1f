"""Sending from the outbox through the real Twilio SDK, against a local fake of its API."""

import threading
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
    assert received.status_callback == (
        f"https://booking.example.go.th/sms/twilio/status?message={message.pk}"
    )
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
    send_due_messages()  # the confirmation goes, and its reminders are written
    reminder = Message.objects.filter(appointment=appointment, kind=Kind.REMINDER).first()
    assert reminder is not None
    cancel_appointment(appointment=appointment)
    Message.objects.filter(pk=reminder.pk).update(status=Status.PENDING)  # a racing writer
    daytime.move_to(reminder.due_at)

    send_due_messages()

    reminder.refresh_from_db()
    assert reminder.status == Status.CANCELLED
    assert "cancelled" in reminder.last_error


@pytest.mark.django_db(transaction=True)
def test_sending_keeps_to_the_rate_limit_across_workers(fake_twilio, settings):
    """Two dispatchers share one per-second budget through the cache (Redis in production).
    Real time here: the budget is counted per wall-clock second."""
    settings.SMS_MAX_PER_SECOND = 2
    settings.SMS_QUIET_HOURS_START = settings.SMS_QUIET_HOURS_END = 0  # none
    for n in range(6):
        queue(f"+6681234560{n}", kind=Kind.PASSCODE)

    def worker() -> None:
        try:
            send_due_messages(batch_size=3)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    arrivals = sorted(m.received_at for m in fake_twilio.messages)
    assert len(arrivals) == 6
    # Two a second: any five in a row straddle at least two second boundaries (allowing for
    # the time each request takes to arrive on a busy machine).
    assert all(later - first > 0.5 for first, later in zip(arrivals, arrivals[4:], strict=False))


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


# --- Found in review ------------------------------------------------------------------------------


class Exploding:
    """A backend whose SDK call fails in a way nobody planned for, for one number."""

    def __init__(self, inner, bad: str) -> None:
        self.inner, self.bad = inner, bad

    def send(self, *, to: str, body: str, message_id: int) -> str:
        if to == self.bad:
            raise ValueError("unexpected answer")
        return self.inner.send(to=to, body=body, message_id=message_id)


@pytest.mark.django_db
def test_an_unexpected_error_retries_that_message_and_the_batch_goes_on(fake_twilio, daytime):
    from notifications.backends import sms_backend

    bad = queue("+66812345670")
    good = [queue(f"+6681234567{n}") for n in range(1, 4)]

    result = send_due_messages(backend=Exploding(sms_backend(), "+66812345670"))

    bad.refresh_from_db()
    assert result.sent == 3
    assert (bad.status, bad.last_error) == (Status.PENDING, "ValueError: unexpected answer")
    assert all(Message.objects.get(pk=m.pk).status == Status.SENT for m in good)


@pytest.mark.django_db
def test_twilio_refusing_our_credentials_is_retried_not_final(fake_twilio, daytime, settings):
    settings.TWILIO_AUTH_TOKEN = "rotated-badly"
    from notifications.backends import sms_backend

    sms_backend.cache_clear()
    message = queue()

    send_due_messages()

    message.refresh_from_db()
    assert message.status == Status.PENDING
    assert message.error_code == "20003"


@pytest.mark.django_db
def test_passcodes_jump_the_morning_queue(fake_twilio, clock):
    clock.move_to(bangkok(MONDAY, time(8)))
    for n in range(5):
        queue(f"+6681234500{n}", due_at=bangkok(MONDAY, time(7, 59)))
    queue(kind=Kind.PASSCODE, body="BMA sign-in code: 654321")

    assert claim_due_messages(limit=1) == [Message.objects.get(kind=Kind.PASSCODE).pk]


@pytest.mark.django_db
def test_a_sent_passcode_is_kept_only_as_a_blank(fake_twilio, daytime):
    message = queue(kind=Kind.PASSCODE, body="BMA sign-in code: 654321. Never share it.")

    send_due_messages()

    message.refresh_from_db()
    assert fake_twilio.messages[0].body == "BMA sign-in code: 654321. Never share it."
    assert "654321" not in message.body
    assert message.status == Status.SENT


@pytest.mark.django_db
def test_a_reminder_taken_by_a_worker_is_not_sent_once_the_appointment_moves(patient, daytime):
    from booking.services.appointments import reschedule_appointment
    from notifications.backends import ConsoleBackend

    appointment = booked(patient, SlotFactory(start=bangkok(MONDAY + timedelta(days=1), time(9))))
    claimed = claim_due_messages(limit=10)  # the confirmation, taken by a worker
    later = SlotFactory(start=bangkok(MONDAY + timedelta(days=3), time(9)))
    reschedule_appointment(appointment=appointment, new_slot_id=later.pk)

    from notifications.services.dispatch import send_message

    outcomes = [
        send_message(message=m, backend=ConsoleBackend(), opted_out=set())
        for m in Message.objects.filter(pk__in=claimed)
    ]

    assert outcomes == ["dropped"]
    confirmation = Message.objects.get(appointment=appointment, kind=Kind.CONFIRMATION)
    assert confirmation.status == Status.CANCELLED


@pytest.mark.django_db
def test_a_checked_in_patient_gets_no_more_reminders(patient, clock):
    from booking.services.appointments import check_in

    clock.move_to(bangkok(MONDAY, time(8)))
    appointment = booked(patient, SlotFactory(start=bangkok(MONDAY, time(12))))
    send_due_messages()  # the confirmation goes, and its reminder is written
    check_in(appointment=appointment)
    reminder = Message.objects.get(appointment=appointment, kind=Kind.REMINDER)
    clock.move_to(reminder.due_at)

    send_due_messages()

    reminder.refresh_from_db()
    assert reminder.status == Status.CANCELLED


@pytest.mark.django_db
def test_a_message_whose_workers_keep_dying_ends_failed(fake_twilio, daytime, settings):
    settings.SMS_MAX_ATTEMPTS = 2
    message = queue()
    for _ in range(2):
        claim_due_messages(limit=10)  # a worker takes it and dies
        daytime.move_to(timezone.now() + timedelta(seconds=settings.SMS_CLAIM_LEASE_SECONDS + 1))

    send_due_messages()

    message.refresh_from_db()
    assert (message.status, message.error_code) == (Status.FAILED, "abandoned")
    assert fake_twilio.messages == []


@pytest.mark.django_db
def test_quiet_hours_need_not_cross_midnight(settings, clock):
    from notifications.services.outbox import after_quiet_hours, in_quiet_hours

    settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END = 0, 6

    assert in_quiet_hours(bangkok(MONDAY, time(3)))
    assert not in_quiet_hours(bangkok(MONDAY, time(12)))
    assert not in_quiet_hours(bangkok(MONDAY, time(23)))
    assert after_quiet_hours(bangkok(MONDAY, time(3))) == bangkok(MONDAY, time(6))


@pytest.mark.django_db
def test_quiet_hours_are_bangkok_hours_whichever_time_zone_is_current(settings, clock):
    from django.utils import timezone

    from notifications.services.outbox import after_quiet_hours, in_quiet_hours

    settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END = 21, 8

    with timezone.override("UTC"):  # 03:00 in Bangkok is 20:00 the day before in UTC
        assert in_quiet_hours(bangkok(MONDAY, time(3)))
        assert not in_quiet_hours(bangkok(MONDAY, time(12)))  # 05:00 UTC
        assert after_quiet_hours(bangkok(MONDAY, time(3))) == bangkok(MONDAY, time(8))
        assert after_quiet_hours(bangkok(MONDAY, time(22))) == bangkok(MONDAY, time(8)) + (
            timedelta(days=1)
        )


@pytest.mark.django_db
def test_without_a_messaging_service_texts_go_from_the_configured_number(
    fake_twilio, daytime, settings
):
    from notifications.backends import sms_backend

    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.TWILIO_FROM_NUMBER = fake_twilio.from_number
    sms_backend.cache_clear()
    message = queue()

    send_due_messages()

    (received,) = fake_twilio.messages
    message.refresh_from_db()
    assert (received.from_, received.messaging_service_sid) == (fake_twilio.from_number, "")
    assert message.status == Status.SENT


# --- Leases: a dead worker never holds a text past its use --------------------------------------


@pytest.mark.django_db
def test_a_passcode_is_claimed_alone_and_before_anything_else(fake_twilio, daytime):
    reminders = [queue(f"+6681234500{n}").pk for n in range(5)]
    passcode = queue(kind=Kind.PASSCODE, body="BMA sign-in code: 654321")

    first = claim_due_messages(limit=100)
    second = claim_due_messages(limit=100)

    assert first == [passcode.pk]
    assert second == reminders


@pytest.mark.django_db
def test_a_passcode_whose_worker_died_goes_out_again_while_the_code_still_works(
    fake_twilio, daytime, settings
):
    settings.SMS_PASSCODE_LEASE_SECONDS = 30
    expires_at = timezone.now() + timedelta(minutes=settings.SIGN_IN_CODE_MINUTES)
    passcode = queue(kind=Kind.PASSCODE, body="BMA sign-in code: 654321", expires_at=expires_at)
    assert claim_due_messages(limit=100) == [passcode.pk]  # a worker took it, then died

    daytime.shift(timedelta(seconds=20))
    send_due_messages()
    held = len(fake_twilio.messages)
    daytime.shift(timedelta(seconds=11))
    send_due_messages()

    passcode.refresh_from_db()
    assert held == 0
    assert passcode.status == Status.SENT
    assert passcode.sent_at < expires_at


@pytest.mark.django_db
def test_other_texts_whose_worker_died_go_out_again_within_a_minute_by_default(
    fake_twilio, daytime
):
    message = queue()
    assert claim_due_messages(limit=100) == [message.pk]  # a worker took it, then died

    daytime.shift(timedelta(seconds=61))
    send_due_messages()

    message.refresh_from_db()
    assert message.status == Status.SENT


@pytest.mark.django_db
def test_a_claimed_text_past_its_use_is_taken_back_at_once_and_dropped(fake_twilio, daytime):
    message = queue(expires_at=timezone.now() + timedelta(seconds=20))
    assert claim_due_messages(limit=100) == [message.pk]  # a worker took it, then died

    daytime.shift(timedelta(seconds=21))  # well within the lease
    send_due_messages()

    message.refresh_from_db()
    assert message.status == Status.CANCELLED
    assert message.last_error == "Too late to be useful."
    assert fake_twilio.messages == []


@pytest.mark.django_db
def test_a_live_worker_keeps_its_batch_past_the_lease(daytime, settings):
    """A slow provider: each text takes 40 s. The worker renews its claims as it goes, so
    another worker claiming meanwhile takes none of the batch."""
    from notifications.backends import ConsoleBackend

    settings.SMS_CLAIM_LEASE_SECONDS = 60
    batch = [queue(f"+6681234500{n}").pk for n in range(4)]
    taken_by_another: list[int] = []

    class SlowBackend(ConsoleBackend):
        def send(self, *, to: str, body: str, message_id: int) -> str:
            daytime.shift(timedelta(seconds=40))
            taken_by_another.extend(claim_due_messages(limit=100))
            return super().send(to=to, body=body, message_id=message_id)

    result = send_due_messages(backend=SlowBackend())

    assert taken_by_another == []
    assert sorted(result.outcomes) == batch
    assert set(result.outcomes.values()) == {"sent"}
