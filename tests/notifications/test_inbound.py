"""Text messages people send us (notifications.services.inbound): acted on once, STOP and
START kept by the outbox, the words an app registered handed to its handler, and a help text
for anything else."""

from datetime import date, time

import pytest

from booking import notices
from booking.models import Appointment
from notifications import messages
from notifications.models import InboundMessage, Message, OptOut
from notifications.services import inbound
from notifications.services.dispatch import send_due_messages
from notifications.services.inbound import (
    ReplyAnswer,
    Sender,
    receive_text_message,
    register_reply_handler,
)
from tests.factories import bangkok
from tests.twilio_webhooks import last_reply, reply

pytestmark = pytest.mark.django_db

Kind = Message.Kind
Status = Message.Status
MONDAY = date(2026, 11, 30)


def test_the_same_reply_delivered_twice_acts_once(fake_twilio, tomorrow_visit):
    reply(fake_twilio, "2", sid="SMdup")
    reply(fake_twilio, "2", sid="SMdup")

    assert InboundMessage.objects.count() == 1
    assert Message.objects.filter(kind=Kind.REPLY).count() == 1


def test_stop_opts_out_and_start_opts_back_in(fake_twilio, tomorrow_visit):
    reply(fake_twilio, "STOP", sid="SM1")
    assert OptOut.objects.filter(phone="+66810000001").exists()
    assert not Message.objects.filter(kind=Kind.REPLY).exists()  # Twilio answers STOP itself

    reply(fake_twilio, "start", sid="SM2")

    assert not OptOut.objects.exists()
    assert last_reply().status == Status.PENDING


def test_anything_else_gets_a_short_help_text(fake_twilio, tomorrow_visit):
    reply(fake_twilio, "what time is my visit?")

    tomorrow_visit.refresh_from_db()
    assert tomorrow_visit.status == Appointment.Status.BOOKED
    assert InboundMessage.objects.get().outcome == InboundMessage.Outcome.HELP
    assert last_reply().segments <= 2


def test_replies_go_out_at_night(fake_twilio, tomorrow_visit, daytime):
    daytime.move_to(bangkok(MONDAY, time(22)))

    reply(fake_twilio, "1")
    send_due_messages()

    assert last_reply().status == Status.SENT


# --- The registry: what apps above the outbox do with a text ------------------------------------


@pytest.fixture
def registry_of_its_own(monkeypatch):
    """The handlers and sender finders registered at start, in copies this test may add to."""
    monkeypatch.setattr(inbound, "_reply_handlers", dict(inbound._reply_handlers))
    monkeypatch.setattr(inbound, "_sender_finders", list(inbound._sender_finders))
    monkeypatch.setattr(inbound, "_help_texts", list(inbound._help_texts))


def test_a_registered_word_goes_to_its_handler_and_its_answer_is_sent(
    registry_of_its_own, tomorrow_visit
):
    heard = []

    def handle(*, sender: Sender, word: str) -> ReplyAnswer:
        heard.append((sender.phone, sender.language, word))
        return ReplyAnswer(InboundMessage.Outcome.CONFIRMED, "BMA: pong", tomorrow_visit)

    register_reply_handler(words={"ping"}, handle=handle)

    received = receive_text_message(provider_id="SMping", sender="+66810000001", body=" Ping! ")

    assert heard == [("+66810000001", "th", "ping")]
    assert received.outcome == InboundMessage.Outcome.CONFIRMED
    assert received.appointment_id == tomorrow_visit.pk
    answer = last_reply()
    assert (answer.body, answer.appointment_id) == ("BMA: pong", tomorrow_visit.pk)
    assert answer.patient_id == tomorrow_visit.patient_id


def test_stop_and_start_stay_the_outbox_s_own(registry_of_its_own):
    def handle(*, sender: Sender, word: str) -> ReplyAnswer:
        return ReplyAnswer(InboundMessage.Outcome.HELP)

    with pytest.raises(ValueError, match="stop"):
        register_reply_handler(words={"stop", "ping"}, handle=handle)
    assert "ping" not in inbound._reply_handlers


def test_the_sender_finder_chooses_the_reply_s_language(registry_of_its_own, daytime):
    inbound.register_sender_finder(lambda phone: Sender(phone=phone, language="en"))

    received = receive_text_message(provider_id="SMhelp", sender="+66899990000", body="hello")

    assert received.outcome == InboundMessage.Outcome.HELP
    assert last_reply("+66899990000").language == "en"
    assert last_reply("+66899990000").patient_id is None


def test_a_number_nobody_knows_is_answered_in_thai_when_no_finder_is_registered(
    registry_of_its_own, daytime, monkeypatch
):
    monkeypatch.setattr(inbound, "_sender_finders", [])

    receive_text_message(provider_id="SMwho", sender="+66899990001", body="?")

    assert last_reply("+66899990001").language == "th"


def test_the_help_names_the_registered_words_or_only_stop_when_none_are(
    registry_of_its_own, daytime, monkeypatch
):
    monkeypatch.setattr(inbound, "_sender_finders", [])
    receive_text_message(provider_id="SMapp", sender="+66899990002", body="?")
    registered = last_reply("+66899990002").body
    monkeypatch.setattr(inbound, "_help_texts", [])
    receive_text_message(provider_id="SMbare", sender="+66899990003", body="?")
    bare = last_reply("+66899990003").body

    assert registered == notices.reply_help("th")  # booking's, registered at start
    assert bare == messages.reply_help("th") != registered
    assert "STOP" in bare
