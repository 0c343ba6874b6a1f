"""Twilio's webhooks: delivery reports and replies, each signed with X-Twilio-Signature."""

from datetime import date, time, timedelta

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from booking.models import Appointment
from notifications.models import InboundMessage, Message, OptOut
from notifications.services.dispatch import send_due_messages
from notifications.services.outbox import Recipient, queue_message
from tests.factories import PatientFactory, SlotFactory, bangkok, booked

pytestmark = pytest.mark.django_db

Kind = Message.Kind
Status = Message.Status
MONDAY = date(2026, 11, 30)
BASE = "https://booking.example.go.th"


@pytest.fixture
def daytime(clock):
    clock.move_to(bangkok(MONDAY, time(10)))
    return clock


def post_signed(path: str, params: dict[str, str], token: str, *, signature: str | None = None):
    if signature is None:
        signature = RequestValidator(token).compute_signature(BASE + path, params)
    return Client().post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def status_report(fake, sid: str, status: str, error_code: str = ""):
    params = {
        "MessageSid": sid,
        "MessageStatus": status,
        "AccountSid": fake.account_sid,
        "To": "+66812345678",
    }
    if error_code:
        params["ErrorCode"] = error_code
    return post_signed("/sms/twilio/status", params, fake.auth_token)


@pytest.fixture
def sent_message(fake_twilio, daytime):
    message = queue_message(
        recipient=Recipient("+66812345678", "th"), kind=Kind.REMINDER, body="BMA test"
    )
    send_due_messages()
    message.refresh_from_db()
    assert message.status == Status.SENT
    return message


def test_a_delivery_report_marks_the_message_delivered(fake_twilio, sent_message):
    response = status_report(fake_twilio, sent_message.provider_id, "delivered")

    sent_message.refresh_from_db()
    assert response.status_code == 204
    assert sent_message.status == Status.DELIVERED
    assert sent_message.delivered_at is not None


def test_repeated_and_late_reports_never_move_a_message_backwards(fake_twilio, sent_message):
    for status in ["sent", "delivered", "delivered", "sent", "queued", "undelivered"]:
        assert status_report(fake_twilio, sent_message.provider_id, status).status_code == 204

    sent_message.refresh_from_db()
    assert sent_message.status == Status.DELIVERED


def test_an_undelivered_report_fails_the_message_with_its_error_code(fake_twilio, sent_message):
    status_report(fake_twilio, sent_message.provider_id, "sent")
    status_report(fake_twilio, sent_message.provider_id, "undelivered", "30003")

    sent_message.refresh_from_db()
    assert (sent_message.status, sent_message.error_code) == (Status.FAILED, "30003")


def test_a_report_for_an_unknown_message_is_accepted_and_ignored(fake_twilio, daytime):
    assert status_report(fake_twilio, "SM" + "0" * 32, "delivered").status_code == 204


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "not-a-signature",
        RequestValidator("another-token").compute_signature(
            BASE + "/sms/twilio/status", {"MessageSid": "SMx", "MessageStatus": "failed"}
        ),
    ],
)
def test_forged_webhooks_are_refused(fake_twilio, sent_message, signature):
    params = {"MessageSid": sent_message.provider_id, "MessageStatus": "failed"}

    status = post_signed("/sms/twilio/status", params, fake_twilio.auth_token, signature=signature)
    incoming = post_signed(
        "/sms/twilio/incoming",
        {"MessageSid": "SMin", "From": "+66812345678", "Body": "2"},
        fake_twilio.auth_token,
        signature=signature,
    )

    sent_message.refresh_from_db()
    assert status.status_code == incoming.status_code == 403
    assert sent_message.status == Status.SENT
    assert not InboundMessage.objects.exists()


def test_a_signature_for_other_parameters_is_refused(fake_twilio, sent_message):
    signed_for = {"MessageSid": sent_message.provider_id, "MessageStatus": "delivered"}
    signature = RequestValidator(fake_twilio.auth_token).compute_signature(
        BASE + "/sms/twilio/status", signed_for
    )

    response = post_signed(
        "/sms/twilio/status",
        {**signed_for, "MessageStatus": "failed"},
        fake_twilio.auth_token,
        signature=signature,
    )

    assert response.status_code == 403


def test_webhooks_refuse_everything_when_twilio_is_not_configured(settings, daytime):
    settings.TWILIO_AUTH_TOKEN = ""

    response = post_signed("/sms/twilio/status", {"MessageSid": "SMx"}, "anything")

    assert response.status_code == 403


# --- Replies -------------------------------------------------------------------------------------


def reply(fake, body: str, *, sender: str = "+66810000001", sid: str = "SMin1"):
    params = {"MessageSid": sid, "From": sender, "To": "+15005550006", "Body": body}
    return post_signed("/sms/twilio/incoming", params, fake.auth_token)


@pytest.fixture
def tomorrow_visit(patient, daytime):
    return booked(patient, SlotFactory(start=bangkok(MONDAY + timedelta(days=1), time(14))))


def last_reply(sender: str = "+66810000001") -> Message:
    return Message.objects.filter(kind=Kind.REPLY, recipient=sender).latest("pk")


@pytest.mark.parametrize("body", ["1", "C", " c ", "ยืนยัน"])
def test_replying_1_confirms_the_next_appointment(fake_twilio, tomorrow_visit, body):
    response = reply(fake_twilio, body)

    tomorrow_visit.refresh_from_db()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert tomorrow_visit.confirmed_at is not None
    assert InboundMessage.objects.get().outcome == InboundMessage.Outcome.CONFIRMED
    assert last_reply().status == Status.PENDING


@pytest.mark.parametrize("body", ["2", "x", "ยกเลิก"])
def test_replying_2_cancels_the_next_appointment_with_one_reply(fake_twilio, tomorrow_visit, body):
    reply(fake_twilio, body)

    tomorrow_visit.refresh_from_db()
    assert tomorrow_visit.status == Appointment.Status.CANCELLED
    assert InboundMessage.objects.get().outcome == InboundMessage.Outcome.CANCELLED
    assert not Message.objects.filter(kind=Kind.CANCELLED).exists()  # the reply says it
    assert Message.objects.filter(kind=Kind.REPLY).count() == 1


def test_replying_2_too_close_to_the_visit_cancels_nothing(fake_twilio, tomorrow_visit, daytime):
    daytime.move_to(tomorrow_visit.slot.start - timedelta(minutes=60))  # cut-off is 120

    reply(fake_twilio, "2")

    tomorrow_visit.refresh_from_db()
    assert tomorrow_visit.status == Appointment.Status.BOOKED
    assert InboundMessage.objects.get().outcome == InboundMessage.Outcome.TOO_LATE
    assert "สะพานมอญ" in last_reply().body


def test_the_same_reply_delivered_twice_acts_once(fake_twilio, tomorrow_visit):
    reply(fake_twilio, "2", sid="SMdup")
    reply(fake_twilio, "2", sid="SMdup")

    assert InboundMessage.objects.count() == 1
    assert Message.objects.filter(kind=Kind.REPLY).count() == 1


def test_a_reply_acts_on_the_dependants_next_appointment_for_the_guardian(
    fake_twilio, patient, daytime
):
    child = PatientFactory(account=patient.account, relationship="child", phone="")
    visit = booked(child, SlotFactory(start=bangkok(MONDAY + timedelta(days=2), time(9))))

    reply(fake_twilio, "1")

    visit.refresh_from_db()
    assert visit.confirmed_at is not None


def test_a_number_written_unproven_on_someone_elses_dependant_cannot_act_for_them(
    fake_twilio, other_patient, daytime
):
    stranger = "+66899990000"
    child = PatientFactory(account=other_patient.account, relationship="child", phone=stranger)
    visit = booked(child, SlotFactory(start=bangkok(MONDAY + timedelta(days=2), time(9))))

    reply(fake_twilio, "2", sender=stranger)

    visit.refresh_from_db()
    assert visit.status == Appointment.Status.BOOKED
    assert InboundMessage.objects.get().outcome == InboundMessage.Outcome.NO_APPOINTMENT


def test_a_dependants_proven_number_acts_on_their_appointment(fake_twilio, patient, daytime):
    child = PatientFactory(
        account=patient.account,
        relationship="child",
        phone="+66899990000",
        phone_verified_at=bangkok(MONDAY, time(9)),
    )
    visit = booked(child, SlotFactory(start=bangkok(MONDAY + timedelta(days=2), time(9))))

    reply(fake_twilio, "1", sender="+66899990000")

    visit.refresh_from_db()
    assert visit.confirmed_at is not None


def test_a_reply_with_no_appointment_says_so(fake_twilio, patient, daytime):
    reply(fake_twilio, "1")

    assert InboundMessage.objects.get().outcome == InboundMessage.Outcome.NO_APPOINTMENT


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


def test_a_report_that_outruns_the_worker_still_lands(fake_twilio, daytime):
    """Twilio reports delivery before the worker has committed the message's SID."""
    from notifications.services.dispatch import claim_due_messages

    message = queue_message(
        recipient=Recipient("+66812345678", "th"), kind=Kind.REMINDER, body="BMA test"
    )
    claim_due_messages(limit=1)  # the worker is mid-send
    path = f"/sms/twilio/status?message={message.pk}"
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered"}

    response = post_signed(path, params, fake_twilio.auth_token)

    message.refresh_from_db()
    assert response.status_code == 204
    assert message.status == Status.DELIVERED
    assert message.provider_id == "SM" + "a" * 32


def test_a_report_naming_another_message_changes_nothing_it_should_not(fake_twilio, sent_message):
    path = f"/sms/twilio/status?message={sent_message.pk}"
    params = {"MessageSid": "SM" + "b" * 32, "MessageStatus": "failed"}

    post_signed(path, params, fake_twilio.auth_token)

    sent_message.refresh_from_db()
    assert sent_message.status == Status.SENT  # it has its own SID already
