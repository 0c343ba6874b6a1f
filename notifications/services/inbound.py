"""Text messages people send us: confirm or cancel the next appointment, stop or restart texts.

Twilio cannot take replies from Thai mobile numbers, so the link in each message is the main
path; this serves numbers that can reply.
"""

import string

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from booking.exceptions import CancellationClosed
from booking.models import Appointment, Patient
from booking.services.appointments import cancel_appointment, confirm_attendance
from notifications import messages
from notifications.models import InboundMessage, Message, OptOut
from notifications.services.outbox import Recipient, queue_message

Outcome = InboundMessage.Outcome

CONFIRM_WORDS = frozenset({"1", "c", "ยืนยัน"})
CANCEL_WORDS = frozenset({"2", "x", "ยกเลิก"})
# Twilio's own opt-out, opt-in and help keywords, which it also acts on for a Messaging Service.
OPT_OUT_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
)
OPT_IN_WORDS = frozenset({"start", "yes", "unstop"})


def _keyword(body: str) -> str:
    return body.strip().strip(string.punctuation + " ").casefold()


@transaction.atomic
def receive_text_message(*, provider_id: str, sender: str, body: str) -> InboundMessage:
    """Act on a text message once, however many times the provider delivers it.

    Locks the account holder's patient row through the booking services it calls.
    """
    earlier = InboundMessage.objects.filter(provider_id=provider_id).first()
    if earlier is not None:
        return earlier
    word = _keyword(body)
    # A number written on someone in another's care speaks for them only once it is proven.
    people = list(
        Patient.objects.filter(
            Q(phone=sender, phone_verified_at__isnull=False) | Q(account__username=sender)
        ).order_by("relationship", "pk")
    )
    speaker = next((p for p in people if p.phone == sender), people[0] if people else None)
    language = speaker.preferred_language if speaker is not None else Patient.Language.THAI
    appointment: Appointment | None = None
    reply = ""

    if word in OPT_OUT_WORDS:
        # Twilio confirms the opt-out itself and would refuse our reply.
        OptOut.objects.get_or_create(phone=sender, defaults={"source": f"Replied {word.upper()}"})
        outcome = Outcome.OPTED_OUT
    elif word in OPT_IN_WORDS:
        OptOut.objects.filter(phone=sender).delete()
        outcome, reply = Outcome.OPTED_IN, messages.reply_opted_in(language)
    elif word in CONFIRM_WORDS | CANCEL_WORDS:
        appointment = _next_appointment(people)
        if appointment is None:
            outcome, reply = Outcome.NO_APPOINTMENT, messages.reply_no_appointment(language)
        elif word in CONFIRM_WORDS:
            confirm_attendance(appointment=appointment)
            outcome, reply = Outcome.CONFIRMED, messages.reply_confirmed(appointment, language)
        else:
            try:
                cancel_appointment(
                    appointment=appointment, reason="Cancelled by text message", send_notice=False
                )
            except CancellationClosed:
                outcome, reply = Outcome.TOO_LATE, messages.reply_too_late(appointment, language)
            else:
                outcome = Outcome.CANCELLED
                reply = messages.reply_cancelled(appointment, language)
    else:
        outcome, reply = Outcome.HELP, messages.reply_help(language)

    reply_message: Message | None = None
    if reply:
        reply_message = queue_message(
            recipient=Recipient(sender, language),
            kind=Message.Kind.REPLY,
            body=reply,
            appointment=appointment,
            patient=speaker,
        )
    return InboundMessage.objects.create(
        provider_id=provider_id,
        sender=sender,
        body=body[:1600],
        outcome=outcome,
        appointment=appointment,
        reply=reply_message,
    )


def _next_appointment(people: list[Patient]) -> Appointment | None:
    """The earliest upcoming booked appointment of anyone texts to this number are about."""
    return (
        Appointment.objects.filter(
            patient__in=people,
            status=Appointment.Status.BOOKED,
            slot__start__gt=timezone.now(),
        )
        .select_related("patient", "slot__service", "slot__centre")
        .order_by("slot__start", "pk")
        .first()
    )
