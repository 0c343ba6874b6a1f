"""Text messages people send us: stop or restart texts, anything else the apps above answer
(booking confirms or cancels the next appointment), or a short help text.

Twilio cannot take replies from Thai mobile numbers, so the link in each message is the main
path; this serves numbers that can reply.

The outbox knows nothing of the people behind a number or what a word does to their
appointments: the app that does registers, in its AppConfig.ready, who a number is
(register_sender_finder) and what to do with its words (register_reply_handler).
"""

import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from django.db import models, transaction

from clinics.models import Language
from notifications import messages
from notifications.models import InboundMessage, Message, OptOut
from notifications.services.outbox import Recipient, queue_message

Outcome = InboundMessage.Outcome

# Twilio's own opt-out, opt-in and help keywords, which it also acts on for a Messaging Service.
OPT_OUT_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
)
OPT_IN_WORDS = frozenset({"start", "yes", "unstop"})


@dataclass(frozen=True)
class Sender:
    """Who sent a text message, as far as the app that knows people can tell."""

    phone: str
    # The language the reply is written in.
    language: str
    # The person the reply is about (the reply's Message.patient), if anyone.
    speaker: models.Model | None = None
    # Everyone that texts to this number are about: what a handler may act on.
    people: tuple[models.Model, ...] = ()


@dataclass(frozen=True)
class ReplyAnswer:
    """What a handler did with a text: its outcome, the reply to send ("" for none) and the
    appointment it acted on."""

    outcome: str
    reply: str = ""
    appointment: models.Model | None = None


class ReplyHandler(Protocol):
    def __call__(self, *, sender: Sender, word: str) -> ReplyAnswer: ...


SenderFinder = Callable[[str], Sender]

_reply_handlers: dict[str, ReplyHandler] = {}
_sender_finders: list[SenderFinder] = []
_help_texts: list[Callable[[str], str]] = []


def register_reply_handler(*, words: Iterable[str], handle: ReplyHandler) -> None:
    """Have `handle` act on a text whose keyword (trimmed, casefolded) is one of `words`.

    STOP and START words stay the outbox's own; a word registered again moves to the new
    handler."""
    taken = set(words) & (OPT_OUT_WORDS | OPT_IN_WORDS)
    if taken:
        raise ValueError(f"The outbox answers {sorted(taken)} itself.")
    for word in words:
        _reply_handlers[word] = handle


def register_sender_finder(find: SenderFinder) -> None:
    """Have `find` say who a phone number is (the last one registered is asked)."""
    _sender_finders.append(find)


def register_help(text: Callable[[str], str]) -> None:
    """Have `text(language)` be the help sent back for a reply that matches no word, naming
    the words registered (the last one registered is used; else the outbox's own, which
    names only STOP)."""
    _help_texts.append(text)


def _help(language: str) -> str:
    return _help_texts[-1](language) if _help_texts else messages.reply_help(language)


def _find_sender(phone: str) -> Sender:
    if not _sender_finders:
        return Sender(phone=phone, language=Language.THAI)
    return _sender_finders[-1](phone)


def _keyword(body: str) -> str:
    return body.strip().strip(string.punctuation + " ").casefold()


@transaction.atomic
def receive_text_message(*, provider_id: str, sender: str, body: str) -> InboundMessage:
    """Act on a text message once, however many times the provider delivers it.

    Locks what the handler of its word locks.
    """
    earlier = InboundMessage.objects.filter(provider_id=provider_id).first()
    if earlier is not None:
        return earlier
    word = _keyword(body)
    who = _find_sender(sender)
    language = who.language

    if word in OPT_OUT_WORDS:
        # Twilio confirms the opt-out itself and would refuse our reply.
        OptOut.objects.get_or_create(phone=sender, defaults={"source": f"Replied {word.upper()}"})
        answer = ReplyAnswer(Outcome.OPTED_OUT)
    elif word in OPT_IN_WORDS:
        OptOut.objects.filter(phone=sender).delete()
        answer = ReplyAnswer(Outcome.OPTED_IN, messages.reply_opted_in(language))
    elif word in _reply_handlers:
        answer = _reply_handlers[word](sender=who, word=word)
    else:
        answer = ReplyAnswer(Outcome.HELP, _help(language))

    reply_message: Message | None = None
    if answer.reply:
        reply_message = queue_message(
            recipient=Recipient(sender, language),
            kind=Message.Kind.REPLY,
            body=answer.reply,
            appointment=answer.appointment,
            patient=who.speaker,
        )
    return InboundMessage.objects.create(
        provider_id=provider_id,
        sender=sender,
        body=body[:1600],
        outcome=answer.outcome,
        appointment_id=answer.appointment.pk if answer.appointment is not None else None,
        reply=reply_message,
    )
