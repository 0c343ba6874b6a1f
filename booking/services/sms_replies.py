"""Replies by text that confirm or cancel the next appointment, and who a replying number is.

The outbox (notifications.services.inbound) receives the text, answers STOP, START and
anything it does not know, and asks what booking registered in BookingConfig.ready: who the
number is (sender_of) and what CONFIRM_WORDS and CANCEL_WORDS do (confirm_by_text,
cancel_by_text).
"""

from django.db.models import Q
from django.utils import timezone

from booking import notices
from booking.exceptions import CancellationClosed
from booking.models import Appointment, Patient
from booking.services.appointments import cancel_appointment, confirm_attendance
from notifications.models import InboundMessage
from notifications.services.inbound import ReplyAnswer, Sender

Outcome = InboundMessage.Outcome

CONFIRM_WORDS = frozenset({"1", "c", "ยืนยัน"})
CANCEL_WORDS = frozenset({"2", "x", "ยกเลิก"})


def sender_of(phone: str) -> Sender:
    """The people texts to this number are about, and whose language the reply speaks."""
    # A number written on someone in another's care speaks for them only once it is proven.
    people = list(
        Patient.objects.filter(
            Q(phone=phone, phone_verified_at__isnull=False) | Q(account__username=phone)
        ).order_by("relationship", "pk")
    )
    speaker = next((p for p in people if p.phone == phone), people[0] if people else None)
    language = speaker.preferred_language if speaker is not None else Patient.Language.THAI
    return Sender(phone=phone, language=language, speaker=speaker, people=tuple(people))


def confirm_by_text(*, sender: Sender, word: str) -> ReplyAnswer:
    """Confirm attendance at the next appointment of anyone the number's texts are about.

    Locks the appointment row (confirm_attendance)."""
    appointment = _next_appointment(sender)
    if appointment is None:
        return ReplyAnswer(Outcome.NO_APPOINTMENT, notices.reply_no_appointment(sender.language))
    confirm_attendance(appointment=appointment)
    return ReplyAnswer(
        Outcome.CONFIRMED, notices.reply_confirmed(appointment, sender.language), appointment
    )


def cancel_by_text(*, sender: Sender, word: str) -> ReplyAnswer:
    """Cancel the next appointment of anyone the number's texts are about, unless it is too
    late to cancel; the reply says which, so no cancellation notice is sent.

    Locks the patient, appointment and slot rows (cancel_appointment)."""
    appointment = _next_appointment(sender)
    if appointment is None:
        return ReplyAnswer(Outcome.NO_APPOINTMENT, notices.reply_no_appointment(sender.language))
    try:
        cancel_appointment(
            appointment=appointment, reason="Cancelled by text message", send_notice=False
        )
    except CancellationClosed:
        return ReplyAnswer(
            Outcome.TOO_LATE, notices.reply_too_late(appointment, sender.language), appointment
        )
    return ReplyAnswer(
        Outcome.CANCELLED, notices.reply_cancelled(appointment, sender.language), appointment
    )


def _next_appointment(sender: Sender) -> Appointment | None:
    """The earliest upcoming booked appointment of anyone texts to this number are about."""
    return (
        Appointment.objects.filter(
            patient__in=sender.people,
            status=Appointment.Status.BOOKED,
            slot__start__gt=timezone.now(),
        )
        .select_related("patient", "slot__service", "slot__centre")
        .order_by("slot__start", "pk")
        .first()
    )
