"""Writing messages into the outbox, in the caller's transaction.

Nothing here talks to an SMS provider: a row is written now and a worker sends it when it is
due (notifications.services.dispatch). Quiet hours and opt-outs are applied as the row is
written, and again when it is sent.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from booking.models import Appointment, Patient, WaitlistOffer
from clinics.models import VisitMode
from notifications import messages
from notifications.models import Message, OptOut

logger = logging.getLogger(__name__)

Kind = Message.Kind
Status = Message.Status

# Answers to something the person has just done; they go out at any hour.
# A change to the account's sign-in is told at once: it may be someone taking the account over.
EXEMPT_FROM_QUIET_HOURS = frozenset({Kind.PASSCODE, Kind.REPLY, Kind.ACCOUNT_NOTICE})
# Messages about an appointment's time: replaced when it moves, dropped when it is cancelled.
ABOUT_THE_TIME = (Kind.CONFIRMATION, Kind.REMINDER, Kind.RESCHEDULED, Kind.VIDEO_LINK)
# A reminder that cannot go out by this long before the start is not worth sending.
REMINDER_LEAD = timedelta(minutes=15)
# A reminder due this soon after booking adds nothing to the confirmation.
REMINDER_MIN_GAP = timedelta(minutes=30)
# The video link goes out as the room opens.
VIDEO_LINK_BEFORE = timedelta(minutes=15)
WAKE_KEY = "notifications:wake-worker"
# Why a text to a number that opted out was not sent (also written by booking/sql/book_slot_v1.sql).
OPTED_OUT_ERROR = "The number has opted out of text messages (STOP)."
# A pending text due this soon wakes a worker when its transaction commits.
WAKE_WITHIN = timedelta(seconds=5)


@dataclass(frozen=True)
class Recipient:
    phone: str
    language: str


def recipient_for(patient: Patient) -> Recipient | None:
    """Who receives texts about a patient: the account holder's own phone; for someone in
    their care, that person's phone once proven with a passcode (or the holder's own number
    written on them), else the account holder's."""
    if patient.relationship == Patient.Relationship.SELF:
        return Recipient(patient.phone, patient.preferred_language) if patient.phone else None
    if patient.phone and patient.phone_verified_at is not None:
        return Recipient(patient.phone, patient.preferred_language)
    holder = (
        Patient.objects.filter(
            account_id=patient.account_id, relationship=Patient.Relationship.SELF
        )
        .exclude(phone="")
        .first()
    )
    if holder is None:
        return None
    if patient.phone == holder.phone:
        return Recipient(patient.phone, patient.preferred_language)
    return Recipient(holder.phone, holder.preferred_language)


def in_quiet_hours(moment: datetime) -> bool:
    """Whether the Bangkok hour is quiet: from START to END, across midnight or not;
    START == END means no quiet hours."""
    hour = timezone.localtime(moment).hour
    start, end = settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END
    if start > end:
        return hour >= start or hour < end
    return start <= hour < end


def after_quiet_hours(moment: datetime) -> datetime:
    """The moment itself, or the end of the quiet period it falls in (08:00 Bangkok)."""
    if not in_quiet_hours(moment):
        return moment
    local = timezone.localtime(moment)
    end = timezone.make_aware(
        datetime.combine(local.date(), time(settings.SMS_QUIET_HOURS_END % 24))
    )
    return end if end > local else end + timedelta(days=1)


def is_opted_out(phone: str) -> bool:
    return OptOut.objects.filter(phone=phone).exists()


def queue_message(
    *,
    recipient: Recipient,
    kind: Message.Kind,
    body: str,
    due_at: datetime | None = None,
    expires_at: datetime | None = None,
    appointment: Appointment | None = None,
    patient: Patient | None = None,
    reminder_minutes: int | None = None,
    opted_out: bool | None = None,
) -> Message:
    """Write a message to the outbox, to go out when due (outside quiet hours).

    A message that quiet hours would delay past its use is written as cancelled, and one to a
    number that opted out as failed, so that staff see what was not sent and why.
    """
    message = outbox_row(
        recipient=recipient,
        kind=kind,
        body=body,
        due_at=due_at,
        expires_at=expires_at,
        appointment=appointment,
        patient=patient,
        reminder_minutes=reminder_minutes,
        opted_out=opted_out,
    )
    message.save(force_insert=True)
    _wake_if_due(message)
    return message


def outbox_row(
    *,
    recipient: Recipient,
    kind: Message.Kind,
    body: str,
    due_at: datetime | None = None,
    expires_at: datetime | None = None,
    appointment: Appointment | None = None,
    patient: Patient | None = None,
    reminder_minutes: int | None = None,
    opted_out: bool | None = None,
) -> Message:
    """The outbox row queue_message writes, not saved yet: a caller writing several to one
    number at once asks is_opted_out once, passes `opted_out`, and writes them together
    with queue_messages."""
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
    return Message(
        recipient=recipient.phone,
        language=recipient.language,
        kind=kind,
        body=body,
        encoding=count.encoding,
        segments=count.segments,
        due_at=due,
        expires_at=expires_at,
        status=status,
        error_code=error_code,
        last_error=last_error,
        appointment=appointment,
        patient=patient if patient is not None else getattr(appointment, "patient", None),
        reminder_minutes=reminder_minutes,
    )


def queue_messages(rows: list[Message]) -> list[Message]:
    """Write outbox rows made by outbox_row in one statement."""
    written = Message.objects.bulk_create(rows)
    for message in written:
        _wake_if_due(message)
    return written


def _wake_if_due(message: Message) -> None:
    if message.status == Status.PENDING and message.due_at <= timezone.now() + WAKE_WITHIN:
        transaction.on_commit(wake_worker)


def wake_worker() -> None:
    """Ask a worker to send what is due now. Beat's sweep sends it anyway if this fails, so
    a broker that is down delays a message by seconds and loses nothing."""
    if not settings.SMS_WAKE_WORKER:
        return
    try:
        # One wake-up a second is enough however many bookings commit in it.
        if not cache.add(WAKE_KEY, 1, timeout=1):
            return
        from config.celery import app

        app.send_task("notifications.tasks.send_due_messages", retry=False)
    except Exception:
        logger.warning("Could not wake a worker; the next sweep sends the message.", exc_info=True)


# --- Messages about appointments ----------------------------------------------------------------


def notify_booked(appointment: Appointment) -> None:
    """Queue the confirmation, the reminders and (for a video visit) the joining link."""
    _announce_time(appointment, Kind.CONFIRMATION, messages.booking_confirmation)


def notify_rescheduled(appointment: Appointment) -> None:
    """Replace the messages about the old time with a notice and reminders for the new one."""
    cancel_pending_messages(appointment, reason="Replaced: the appointment moved.")
    _announce_time(appointment, Kind.RESCHEDULED, messages.rescheduled)


def notify_cancelled(appointment: Appointment, *, send_notice: bool = True) -> None:
    """Drop the pending messages about the appointment and queue the cancellation notice."""
    cancel_pending_messages(appointment, reason="The appointment was cancelled.")
    recipient = recipient_for(appointment.patient)
    if recipient is None or not send_notice:
        return
    queue_message(
        recipient=recipient,
        kind=Kind.CANCELLED,
        body=messages.cancellation(appointment, recipient.language),
        expires_at=appointment.slot.start,
        appointment=appointment,
    )


def notify_record_moved(appointment: Appointment) -> None:
    """The person's record moved to another account: the messages still to come about the
    appointment go to whoever receives its texts now, starting with a fresh confirmation."""
    cancel_pending_messages(appointment, reason="Replaced: the person's record moved.")
    _announce_time(appointment, Kind.CONFIRMATION, messages.booking_confirmation)


def notify_record_moved_out(recipient: Recipient) -> None:
    """Tell an account holder that a person's record left their account."""
    queue_message(
        recipient=recipient,
        kind=Kind.RECORD_MOVED,
        body=messages.record_moved_out(recipient.language),
    )


def notify_waitlist_offer(offer: WaitlistOffer) -> None:
    """Tell someone on the waitlist that a place is held for them, with the link to claim it."""
    patient = offer.entry.patient
    recipient = recipient_for(patient)
    if recipient is None:
        return
    queue_message(
        recipient=recipient,
        kind=Kind.WAITLIST_OFFER,
        body=messages.waitlist_offer(offer, recipient.language),
        expires_at=offer.expires_at,
        patient=patient,
    )


def cancel_pending_messages(appointment: Appointment, *, reason: str) -> int:
    """Cancel the appointment's messages that have not gone out yet, including any a worker
    has just taken: it checks again right before sending."""
    return Message.objects.filter(
        appointment=appointment,
        status__in=(Status.PENDING, Status.SENDING),
        kind__in=ABOUT_THE_TIME,
    ).update(status=Status.CANCELLED, last_error=reason)


def _announce_time(
    appointment: Appointment, kind: Message.Kind, text: Callable[[Appointment, str], str]
) -> None:
    """Say when the appointment is (useful until it ends), then queue what leads up to it:
    the opt-out asked once for the number, the rows written in one statement."""
    recipient = recipient_for(appointment.patient)
    if recipient is None:
        return
    opted_out = is_opted_out(recipient.phone)
    queue_messages(announcement_rows(appointment, recipient, kind, text, opted_out=opted_out))


def booked_rows(
    appointment: Appointment, recipient: Recipient, *, opted_out: bool
) -> list[Message]:
    """The rows notify_booked writes, not saved: the confirmation, then the reminders and the
    joining link. (The booking function writes these, made in both languages beforehand.)"""
    return announcement_rows(
        appointment,
        recipient,
        Kind.CONFIRMATION,
        messages.booking_confirmation,
        opted_out=opted_out,
    )


def announcement_rows(
    appointment: Appointment,
    recipient: Recipient,
    kind: Message.Kind,
    text: Callable[[Appointment, str], str],
    *,
    opted_out: bool,
) -> list[Message]:
    announcement = outbox_row(
        recipient=recipient,
        kind=kind,
        body=text(appointment, recipient.language),
        expires_at=appointment.slot.end,
        appointment=appointment,
        opted_out=opted_out,
    )
    return [announcement, *_reminders(appointment, recipient, opted_out=opted_out)]


def _reminders(appointment: Appointment, recipient: Recipient, *, opted_out: bool) -> list[Message]:
    slot = appointment.slot
    now = timezone.now()
    rows = []
    for minutes in slot.service.reminder_offsets:
        due = slot.start - timedelta(minutes=minutes)
        if due < now + REMINDER_MIN_GAP:
            continue
        rows.append(
            outbox_row(
                recipient=recipient,
                kind=Kind.REMINDER,
                body=messages.reminder(appointment, recipient.language),
                due_at=due,
                expires_at=slot.start - REMINDER_LEAD,
                appointment=appointment,
                reminder_minutes=minutes,
                opted_out=opted_out,
            )
        )
    if appointment.visit_mode == VisitMode.VIDEO:
        rows.append(
            outbox_row(
                recipient=recipient,
                kind=Kind.VIDEO_LINK,
                body=messages.video_link(appointment, recipient.language),
                due_at=slot.start - VIDEO_LINK_BEFORE,
                expires_at=slot.end,
                appointment=appointment,
                opted_out=opted_out,
            )
        )
    return rows
