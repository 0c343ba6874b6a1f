"""Calling our Twilio webhooks as Twilio does: signed with X-Twilio-Signature for the public
address, and a person's text message to our number."""

from django.http import HttpResponse
from django.test import Client
from twilio.request_validator import RequestValidator

from notifications.models import Message

BASE = "https://booking.example.go.th"  # PUBLIC_BASE_URL in the fake_twilio fixture


def post_signed(
    path: str, params: dict[str, str], token: str, *, signature: str | None = None
) -> HttpResponse:
    if signature is None:
        signature = RequestValidator(token).compute_signature(BASE + path, params)
    return Client().post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def reply(fake, body: str, *, sender: str = "+66810000001", sid: str = "SMin1") -> HttpResponse:
    params = {"MessageSid": sid, "From": sender, "To": "+15005550006", "Body": body}
    return post_signed("/sms/twilio/incoming", params, fake.auth_token)


def last_reply(sender: str = "+66810000001") -> Message:
    return Message.objects.filter(kind=Message.Kind.REPLY, recipient=sender).latest("pk")
