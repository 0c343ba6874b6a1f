"""Writing messages into the outbox, in the caller's transaction.

Nothing here talks to an SMS provider: a row is written now and a worker sends it when it is
due (notifications.services.dispatch). Quiet hours and opt-outs are applied as the row is
written, and again when it is sent. What the texts say, and which rows (an appointment, a
patient) they are about, is up to the apps above: booking's texts are booking.notices.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from time import time as time_now
from typing import Any, Required, TypedDict, Unpack

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.utils import timezone

from clinics.dates import in_bangkok
from notifications import messages
from notifications.models import Message, OptOut

logger = logging.getLogger(__name__)

Kind = Message.Kind
Status = Message.Status

# Answers to something the person has just done; they go out at any hour.
# A change to the account's sign-in is told at once: it may be someone taking the account over.
EXEMPT_FROM_QUIET_HOURS = frozenset({Kind.PASSCODE, Kind.REPLY, Kind.ACCOUNT_NOTICE})
WAKE_KEY = "notifications:wake-worker"
# Why a text to a number that opted out was not sent (also written by booking/sql/book_slot_v1.sql).
OPTED_OUT_ERROR = "The number has opted out of text messages (STOP)."
# A pending text due this soon wakes a worker when its transaction commits.
WAKE_WITHIN = timedelta(seconds=5)


@dataclass(frozen=True)
class Recipient:
    """Where a text goes, and the language it is written in."""

    phone: str
    language: str


def in_quiet_hours(moment: datetime) -> bool:
    """Whether the Bangkok hour is quiet: from START to END, across midnight or not;
    START == END means no quiet hours."""
    hour = in_bangkok(moment).hour
    start, end = settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END
    if start > end:
        return hour >= start or hour < end
    return start <= hour < end


def after_quiet_hours(moment: datetime) -> datetime:
    """The moment itself, or the end of the quiet period it falls in (08:00 Bangkok)."""
    if not in_quiet_hours(moment):
        return moment
    local = in_bangkok(moment)
    end = datetime.combine(
        local.date(), time(settings.SMS_QUIET_HOURS_END % 24), tzinfo=local.tzinfo
    )
    return end if end > local else end + timedelta(days=1)


class RowOptions(TypedDict, total=False):
    """What a message is written with (queue_message, outbox_row, outbox_fields): where it
    goes and what it says; when it is due (now) and stops being useful; the rows it is about;
    the reminder's lead; and whether the number opted out, when the caller asked already."""

    recipient: Required[Recipient]
    kind: Required[Message.Kind]
    body: Required[str]
    due_at: datetime | None
    expires_at: datetime | None
    appointment: models.Model | None
    patient: models.Model | None
    reminder_minutes: int | None
    opted_out: bool | None


def is_opted_out(phone: str) -> bool:
    return OptOut.objects.filter(phone=phone).exists()


def queue_message(**row: Unpack[RowOptions]) -> Message:
    """Write a message to the outbox, to go out when due (outside quiet hours).

    A message that quiet hours would delay past its use is written as cancelled, and one to a
    number that opted out as failed, so that staff see what was not sent and why.
    """
    message = outbox_row(**row)
    message.save(force_insert=True)
    _wake_if_due(message)
    return message


def outbox_row(**row: Unpack[RowOptions]) -> Message:
    """The outbox row queue_message writes, not saved yet: a caller writing several to one
    number at once asks is_opted_out once, passes `opted_out`, and writes them together
    with queue_messages."""
    return Message(**outbox_fields(**row))


def outbox_fields(
    *,
    recipient: Recipient,
    kind: Message.Kind,
    body: str,
    due_at: datetime | None = None,
    expires_at: datetime | None = None,
    appointment: models.Model | None = None,
    patient: models.Model | None = None,
    reminder_minutes: int | None = None,
    opted_out: bool | None = None,
) -> dict[str, Any]:
    """The fields of outbox_row's row, by name: for a writer that sends them on as values
    (the booking function takes its texts as JSON) without making a Message of each."""
    now = timezone.now()
    due = max(due_at or now, now)
    status, error_code, last_error = Status.PENDING, "", ""
    if kind not in EXEMPT_FROM_QUIET_HOURS:
        due = after_quiet_hours(due)
    if expires_at is not None and due > expires_at:
        status, last_error = Status.CANCELLED, "Quiet hours would delay it until it is too late."
    elif opted_out if opted_out is not None else is_opted_out(recipient.phone):
        status, error_code = Status.FAILED, "opted_out"
        last_error = OPTED_OUT_ERROR
    count = messages.count_segments(body)
    if kind == Kind.PASSCODE and status != Status.PENDING:
        body = messages.redact_codes(body)  # never sent: nothing to keep
    return {
        "recipient": recipient.phone,
        "language": recipient.language,
        "kind": kind,
        "body": body,
        "encoding": count.encoding,
        "segments": count.segments,
        "due_at": due,
        "expires_at": expires_at,
        "status": status,
        "error_code": error_code,
        "last_error": last_error,
        # By id: the outbox knows the rows its texts are about only as rows.
        "appointment_id": appointment.pk if appointment is not None else None,
        "patient_id": (
            patient.pk if patient is not None else getattr(appointment, "patient_id", None)
        ),
        "reminder_minutes": reminder_minutes,
    }


def queue_messages(rows: list[Message]) -> list[Message]:
    """Write outbox rows made by outbox_row in one statement."""
    written = Message.objects.bulk_create(rows)
    for message in written:
        _wake_if_due(message)
    return written


def _wake_if_due(message: Message) -> None:
    if message.status == Status.PENDING and message.due_at <= timezone.now() + WAKE_WITHIN:
        transaction.on_commit(wake_worker)


# When this process last asked the cache for a wake-up (time.time()).
_asked_at: float | None = None


def wake_worker() -> None:
    """Ask a worker to send what is due now. Beat's sweep sends it anyway if this fails, so
    a broker that is down delays a message by seconds and loses nothing. A process asks the
    cache at most once a second (every booking would otherwise cost a round trip to Redis,
    for the one wake-up a second the cache lets through)."""
    global _asked_at
    if not settings.SMS_WAKE_WORKER:
        return
    now = time_now()
    if _asked_at is not None and 0 <= now - _asked_at < 1:
        return
    _asked_at = now
    try:
        # One wake-up a second is enough however many bookings commit in it.
        if not cache.add(WAKE_KEY, 1, timeout=1):
            return
        current_app.send_task("notifications.tasks.send_due_messages", retry=False)
    except Exception:
        logger.warning("Could not wake a worker; the next sweep sends the message.", exc_info=True)


def forget_wake() -> None:
    """Forget when this process last asked for a wake-up (tests)."""
    global _asked_at
    _asked_at = None
