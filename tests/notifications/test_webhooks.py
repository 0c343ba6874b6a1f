"""Twilio's webhooks: delivery reports and replies, each signed with X-Twilio-Signature.
(What a reply does: tests/notifications/test_inbound.py and tests/booking/test_sms_replies.py.)"""

import pytest
from twilio.request_validator import RequestValidator

from notifications.models import InboundMessage, Message
from notifications.services.dispatch import send_due_messages
from notifications.services.outbox import Recipient, queue_message
from tests.twilio_webhooks import BASE, post_signed

pytestmark = pytest.mark.django_db

Kind = Message.Kind
Status = Message.Status


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
