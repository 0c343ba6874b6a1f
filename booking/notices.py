"""What a booking's text messages say and when they go: the confirmation, the reminders, the
joining link of a video visit, a move, a cancellation, a waitlist offer, the answers to a
reply that confirms or cancels, and who receives them.

The outbox below (notifications) writes and sends texts and knows nothing of appointments;
this module words them and queues them there, in the caller's transaction. Its check that an
appointment is still on, and its writer of what follows an announcement, are registered with
the dispatcher in BookingConfig.ready.

A booking, a move or a record moving to another account writes one text in its own
transaction: the announcement of the appointment's time (a confirmation, or a notice of the
move). What leads up to the time (the reminders, a video visit's joining link) is written by
the dispatcher as it takes that announcement to send it (write_follow_ups), from the
appointment as it is then: the announcement is committed with the booking, so nothing is lost,
and a booking writes one outbox row rather than three (issue 17: the fast booking path).
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from booking.links import appointment_link, offer_link
from booking.models import Appointment, Patient, WaitlistOffer
from clinics.centre_facts import phone_as_written
from clinics.dates import format_moment
from clinics.models import Service, VisitMode, for_language
from notifications.models import Message
from notifications.services.outbox import (
    Recipient,
    is_opted_out,
    outbox_fields,
    outbox_row,
    queue_message,
    queue_messages,
)

Kind = Message.Kind
Status = Message.Status
Row = TypeVar("Row")  # an outbox row as outbox_row makes it, or its fields (outbox_fields)

# Messages about an appointment's time: replaced when it moves, dropped when it is cancelled.
ABOUT_THE_TIME = (Kind.CONFIRMATION, Kind.REMINDER, Kind.RESCHEDULED, Kind.VIDEO_LINK)
# Those that announce the time, written with the change; and what the dispatcher writes after
# one, leading up to the time (write_follow_ups).
ANNOUNCEMENTS = (Kind.CONFIRMATION, Kind.RESCHEDULED)
FOLLOW_UPS = (Kind.REMINDER, Kind.VIDEO_LINK)
# A reminder that cannot go out by this long before the start is not worth sending.
REMINDER_LEAD = timedelta(minutes=15)
# A reminder due this soon after booking adds nothing to the confirmation.
REMINDER_MIN_GAP = timedelta(minutes=30)
# The video link goes out as the room opens.
VIDEO_LINK_BEFORE = timedelta(minutes=15)


# --- What the texts say -------------------------------------------------------------------------


def _details(appointment: Appointment, language: str) -> dict[str, str]:
    slot = appointment.slot
    service = slot.service
    return {
        "service": service.name_in(language),
        "centre": slot.centre.label_in(language),
        "when": format_moment(slot.start, language),
        "link": appointment_link(appointment.pk),
    }


def what_to_bring(service: Service, language: str) -> str:
    """What to bring to a visit of the service, in the language, as one list: the service's
    own (which names the ID card where it is needed), or else the ID card. The texts, the
    appointment's page and its calendar file all say this."""
    with translation.override(language):
        return _what_to_bring(service, language)


def _what_to_bring(service: Service, language: str) -> str:
    """what_to_bring, with the language active already, as the texts have it (entering it
    again cost each booking's confirmation about 7 µs)."""
    custom = for_language(language, service.what_to_bring_th, service.what_to_bring_en)
    return custom or _("your ID card")


def reply_help(language: str) -> str:
    """The help sent back for a reply the outbox cannot act on: the words booking's replies
    take (booking.services.sms_replies) and STOP."""
    with translation.override(language):
        return _(
            "BMA: reply 1 to confirm or 2 to cancel your next appointment, STOP to stop texts."
        )


def booking_confirmation(appointment: Appointment, language: str) -> str:
    with translation.override(language):
        details = _details(appointment, language)
        if appointment.visit_mode == "video":
            return (
                _("BMA: video visit booked, %(service)s, %(when)s. Join and manage: %(link)s")
                % details
            )
        return _(
            "BMA: booked %(service)s at %(centre)s, %(when)s. Bring %(bring)s. Manage: %(link)s"
        ) % {**details, "bring": _what_to_bring(appointment.slot.service, language)}


def reminder(appointment: Appointment, language: str) -> str:
    with translation.override(language):
        details = _details(appointment, language)
        if appointment.visit_mode == "video":
            return _("BMA reminder: video visit %(when)s. Join: %(link)s") % details
        return _("BMA reminder: %(centre)s, %(when)s. Confirm or cancel: %(link)s") % details


def rescheduled(appointment: Appointment, language: str) -> str:
    with translation.override(language):
        return _(
            "BMA: your appointment moved to %(when)s at %(centre)s. Manage: %(link)s"
        ) % _details(appointment, language)


def cancellation(appointment: Appointment, language: str) -> str:
    with translation.override(language):
        return _("BMA: your appointment at %(centre)s on %(when)s is cancelled.") % _details(
            appointment, language
        )


def drive_called_off(appointment: Appointment, language: str) -> str:
    with translation.override(language):
        return _(
            "BMA: the vaccination drive of your appointment at %(centre)s on %(when)s is called "
            "off. The centre will move or cancel it; to choose yourself: %(link)s"
        ) % _details(appointment, language)


def centre_closed(appointment: Appointment, language: str) -> str:
    with translation.override(language):
        return _(
            "BMA: %(centre)s is closed on the day of your appointment, %(when)s. Please choose "
            "another time: %(link)s"
        ) % _details(appointment, language)


def dose_not_covered(appointment: Appointment, language: str) -> str:
    with translation.override(language):
        return _(
            "BMA: a vaccine lot was withdrawn at %(centre)s; the dose for your appointment on "
            "%(when)s may not be available. To choose another time: %(link)s"
        ) % _details(appointment, language)


def waitlist_offer(offer: WaitlistOffer, language: str) -> str:
    with translation.override(language):
        service = offer.slot.service
        return _(
            "BMA: a place is free for %(service)s at %(centre)s, %(when)s. Held for you until "
            "%(until)s. Book or decline: %(link)s"
        ) % {
            "service": service.name_in(language),
            "centre": offer.slot.centre.label_in(language),
            "when": format_moment(offer.slot.start, language),
            "until": format_moment(offer.expires_at, language),
            "link": offer_link(offer.pk),
        }


def video_link(appointment: Appointment, language: str) -> str:
    with translation.override(language):
        return _("BMA: your video visit starts at %(when)s. Join here: %(link)s") % _details(
            appointment, language
        )


def reply_confirmed(appointment: Appointment, language: str) -> str:
    with translation.override(language):
        return _("BMA: thank you, see you on %(when)s.") % _details(appointment, language)


def reply_cancelled(appointment: Appointment, language: str) -> str:
    with translation.override(language):
        return _("BMA: cancelled your appointment on %(when)s as you asked.") % _details(
            appointment, language
        )


def reply_too_late(appointment: Appointment, language: str) -> str:
    with translation.override(language):
        details = _details(appointment, language)
        phone = appointment.slot.centre.phone
        if phone:
            return _("BMA: too late to cancel by text. Please call %(centre)s on %(phone)s.") % {
                **details,
                "phone": phone_as_written(phone),
            }
        return _("BMA: too late to cancel by text. Please call %(centre)s.") % details


def reply_no_appointment(language: str) -> str:
    with translation.override(language):
        return _("BMA: you have no upcoming appointment to change.")


def _record_moved_out(language: str) -> str:
    with translation.override(language):
        return _(
            "BMA: someone proved their ID and their record left your account. If this is wrong, "
            "contact a health centre."
        )


# --- Who receives them -------------------------------------------------------------------------


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


def own_texts_language(patient: Patient) -> str | None:
    """The language of the patient's texts when their own row settles it (recipient_for's
    first two cases: the account holder, or someone in their care with a proven phone); None
    when the holder's row is needed, or the row was read without those fields."""
    needed = {"relationship", "phone", "phone_verified_at", "preferred_language"}
    if needed & patient.get_deferred_fields():
        return None
    if patient.relationship == Patient.Relationship.SELF or (
        patient.phone and patient.phone_verified_at is not None
    ):
        return str(patient.preferred_language)
    return None


# --- Queueing them -----------------------------------------------------------------------------


def notify_booked(appointment: Appointment) -> None:
    """Queue the confirmation; the reminders and a video visit's joining link follow it
    (write_follow_ups)."""
    _announce_time(appointment, Kind.CONFIRMATION, booking_confirmation)


def notify_rescheduled(appointment: Appointment) -> None:
    """Replace the messages about the old time with a notice of the new one, which the
    reminders for it follow (write_follow_ups)."""
    _cancel_pending_messages(appointment, reason="Replaced: the appointment moved.")
    _announce_time(appointment, Kind.RESCHEDULED, rescheduled)


def notify_cancelled(appointment: Appointment, *, send_notice: bool = True) -> None:
    """Drop the pending messages about the appointment and queue the cancellation notice."""
    _cancel_pending_messages(appointment, reason="The appointment was cancelled.")
    recipient = recipient_for(appointment.patient)
    if recipient is None or not send_notice:
        return
    queue_message(
        recipient=recipient,
        kind=Kind.CANCELLED,
        body=cancellation(appointment, recipient.language),
        expires_at=appointment.slot.start,
        appointment=appointment,
    )


def notify_drive_change(
    appointment: Appointment, text: Callable[[Appointment, str], str]
) -> Message | None:
    """Tell the patient their booked time is hit by a change staff made (a drive called off,
    the centre closed that day, a vaccine lot withdrawn), with the link to move it: `text` is
    drive_called_off, centre_closed or dose_not_covered. The appointment itself stays until it
    is moved or cancelled. The message written, or None when nobody receives the patient's
    texts."""
    recipient = recipient_for(appointment.patient)
    if recipient is None:
        return None
    return queue_message(
        recipient=recipient,
        kind=Kind.DRIVE_CHANGE,
        body=text(appointment, recipient.language),
        expires_at=appointment.slot.start,
        appointment=appointment,
    )


def notify_record_moved(appointment: Appointment) -> None:
    """The person's record moved to another account: the messages still to come about the
    appointment go to whoever receives its texts now, starting with a fresh confirmation."""
    _cancel_pending_messages(appointment, reason="Replaced: the person's record moved.")
    _announce_time(appointment, Kind.CONFIRMATION, booking_confirmation)


def notify_record_moved_out(recipient: Recipient) -> None:
    """Tell an account holder that a person's record left their account."""
    queue_message(
        recipient=recipient,
        kind=Kind.RECORD_MOVED,
        body=_record_moved_out(recipient.language),
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
        body=waitlist_offer(offer, recipient.language),
        expires_at=offer.expires_at,
        patient=patient,
    )


def _cancel_pending_messages(appointment: Appointment, *, reason: str) -> int:
    """Cancel the appointment's messages that have not gone out yet, including any a worker
    has just taken: it checks again right before sending.

    Under the appointment's row lock (taken here if the caller has not), as write_follow_ups
    writes: reminders a worker is writing for the time being replaced are either committed
    before this looks, and cancelled, or written after, by then for the new time or not at
    all."""
    Appointment.objects.select_for_update().filter(pk=appointment.pk).values_list("pk").first()
    return Message.objects.filter(
        appointment=appointment,
        status__in=(Status.PENDING, Status.SENDING),
        kind__in=ABOUT_THE_TIME,
    ).update(status=Status.CANCELLED, last_error=reason)


def _announce_time(
    appointment: Appointment, kind: Message.Kind, text: Callable[[Appointment, str], str]
) -> None:
    """Say when the appointment is (useful until it ends); what leads up to it follows
    (write_follow_ups)."""
    recipient = recipient_for(appointment.patient)
    if recipient is None:
        return
    opted_out = is_opted_out(recipient.phone)
    queue_messages([_announcement(appointment, recipient, kind, text, outbox_row, opted_out)])


def booked_fields(
    appointment: Appointment, recipient: Recipient, *, opted_out: bool
) -> list[dict[str, Any]]:
    """The rows notify_booked writes (the confirmation; the reminders and the joining link
    follow it, written by the dispatcher) as their fields by name (outbox_fields), for the
    booking function, which writes them from values made in the recipient's language
    beforehand."""
    return [
        _announcement(
            appointment,
            recipient,
            Kind.CONFIRMATION,
            booking_confirmation,
            outbox_fields,
            opted_out,
        )
    ]


def _announcement(
    appointment: Appointment,
    recipient: Recipient,
    kind: Message.Kind,
    text: Callable[[Appointment, str], str],
    row: Callable[..., Row],
    opted_out: bool,
) -> Row:
    """What is said when the appointment is, made by `row` (outbox_row, or outbox_fields),
    which takes outbox_row's arguments."""
    return row(
        recipient=recipient,
        kind=kind,
        body=text(appointment, recipient.language),
        expires_at=appointment.slot.end,
        appointment=appointment,
        opted_out=opted_out,
    )


def write_follow_ups(announcement: Message) -> int:
    """Write what leads up to the appointment an announcement is about (the reminders, a
    video visit's joining link), to the announcement's recipient in its language: the
    dispatcher calls this as it takes the announcement to send it (registered in
    BookingConfig.ready). The number of rows written.

    Called whether or not the announcement itself is still wanted, so what follows it is
    decided here as appointment_still_on decides for each: an appointment no longer booked
    gets nothing, except that one checked in (before its confirmation went) still gets a
    video visit's joining link. Nothing is written for an announcement cancelled since it was
    taken (the time moved, or the record moved to another account: a newer announcement
    carries the follow-ups), or a second time for the same announcement (taken again after
    quiet hours or a worker's death: its follow-ups have larger ids). The appointment's row
    is locked first, as _cancel_pending_messages locks it. A reminder due within
    REMINDER_MIN_GAP of the announcement being written adds nothing to it and is left out,
    as when reminders were written with the booking, and so is a text past its use already
    (the announcement waited for the morning, or for a worker)."""
    if announcement.appointment_id is None:
        return 0
    still_on = {*_wanted_while(Kind.REMINDER), *_wanted_while(Kind.VIDEO_LINK)}
    with transaction.atomic():
        appointment = (
            Appointment.objects.select_for_update(of=("self",))
            .select_related("slot__service", "slot__centre")
            .filter(pk=announcement.appointment_id, status__in=still_on)
            .first()
        )
        if appointment is None:
            return 0
        if not Message.objects.filter(pk=announcement.pk, status=Status.SENDING).exists():
            return 0
        if Message.objects.filter(
            appointment_id=appointment.pk, kind__in=FOLLOW_UPS, pk__gt=announcement.pk
        ).exists():
            return 0
        recipient = Recipient(announcement.recipient, announcement.language)
        rows = _follow_ups(
            appointment,
            recipient,
            announced_at=announcement.created_at,
            opted_out=is_opted_out(recipient.phone),
        )
        queue_messages(rows)
        return len(rows)


def _follow_ups(
    appointment: Appointment, recipient: Recipient, *, announced_at: datetime, opted_out: bool
) -> list[Message]:
    slot = appointment.slot
    now = timezone.now()
    rows = []
    body = ""  # every reminder says the same: written once, when one is due
    wanted = appointment.status in _wanted_while(Kind.REMINDER)
    offsets = slot.service.reminder_offsets if wanted else []
    for minutes in offsets:
        due = slot.start - timedelta(minutes=minutes)
        if due < announced_at + REMINDER_MIN_GAP or slot.start - REMINDER_LEAD <= now:
            continue  # adds nothing to the announcement, or is past its use already
        body = body or reminder(appointment, recipient.language)
        rows.append(
            outbox_row(
                recipient=recipient,
                kind=Kind.REMINDER,
                body=body,
                due_at=due,
                expires_at=slot.start - REMINDER_LEAD,
                appointment=appointment,
                reminder_minutes=minutes,
                opted_out=opted_out,
            )
        )
    video = appointment.visit_mode == VisitMode.VIDEO
    if video and appointment.status in _wanted_while(Kind.VIDEO_LINK) and slot.end > now:
        rows.append(
            outbox_row(
                recipient=recipient,
                kind=Kind.VIDEO_LINK,
                body=video_link(appointment, recipient.language),
                due_at=slot.start - VIDEO_LINK_BEFORE,
                expires_at=slot.end,
                appointment=appointment,
                opted_out=opted_out,
            )
        )
    return rows


# --- Right before sending -----------------------------------------------------------------------


def _wanted_while(kind: str) -> tuple[str, ...]:
    """The appointment's statuses in which a text of this kind about its time is still
    wanted: a patient already checked in needs no reminder, but may still join a video visit."""
    if kind == Kind.VIDEO_LINK:
        return (Appointment.Status.BOOKED, Appointment.Status.CHECKED_IN)
    return (Appointment.Status.BOOKED,)


def appointment_still_on(message: Message) -> str:
    """Why a text about an appointment's time is no longer wanted ("" while it is): the
    dispatcher asks right before sending (registered for ABOUT_THE_TIME)."""
    if message.appointment_id is None:
        return ""
    still_on = _wanted_while(message.kind)
    # Read now, not with the batch: it may have changed since the claim.
    current = Appointment.objects.filter(pk=message.appointment_id).values_list("status", flat=True)
    status = current.first()
    if status not in still_on:
        return f"The appointment is {status}."
    return ""
