"""SMS backends: the console (the default; the outbox table keeps every message) and Twilio.

A backend sends one message and returns the provider's id for it, or raises SendFailed saying
whether trying again later could help.
"""

import logging
from functools import cache
from typing import Protocol

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

logger = logging.getLogger(__name__)

# Twilio errors that no retry can fix (https://www.twilio.com/docs/api/errors).
INVALID_NUMBER = 21211
UNSUBSCRIBED = 21610
NOT_MOBILE = 21614
# Errors in our account or sender, not in the message: authentication, a suspended account,
# a From number or Messaging Service that is not ours.
SET_UP_ERRORS = frozenset({20003, 20005, 21212, 21603, 21606, 21705})


class SendFailed(Exception):
    def __init__(self, message: str, *, code: str = "", permanent: bool) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent

    @property
    def opted_out(self) -> bool:
        return self.code == str(UNSUBSCRIBED)


class SmsBackend(Protocol):
    def send(self, *, to: str, body: str, message_id: int) -> str: ...


class ConsoleBackend:
    """Writes each message to the log instead of sending it."""

    def send(self, *, to: str, body: str, message_id: int) -> str:
        logger.info("SMS #%d to %s: %s", message_id, to, body)
        return f"console-{message_id}"


class TwilioBackend:
    """Sends through Twilio's Messages API with the official SDK."""

    def __init__(self) -> None:
        if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
            raise ImproperlyConfigured(
                "SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN."
            )
        if not (settings.TWILIO_MESSAGING_SERVICE_SID or settings.TWILIO_FROM_NUMBER):
            raise ImproperlyConfigured(
                "SMS_BACKEND=twilio needs TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER."
            )
        # The SDK retries nothing by itself; the outbox owns retries and their backoff.
        self.client = Client(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            http_client=TwilioHttpClient(timeout=10),
        )
        if settings.TWILIO_API_BASE_URL:
            self.client.api.base_url = settings.TWILIO_API_BASE_URL
            # TWILIO_EDGE / TWILIO_REGION in the environment would rewrite that host.
            self.client.edge = self.client.region = None
        self.sender = (
            {"messaging_service_sid": settings.TWILIO_MESSAGING_SERVICE_SID}
            if settings.TWILIO_MESSAGING_SERVICE_SID
            else {"from_": settings.TWILIO_FROM_NUMBER}
        )
        self.status_callback = settings.PUBLIC_BASE_URL + reverse("twilio-status")

    def send(self, *, to: str, body: str, message_id: int) -> str:
        try:
            sent = self.client.messages.create(
                to=to,
                body=body,
                # Names our row, for a report that outruns the worker recording Twilio's id.
                status_callback=f"{self.status_callback}?message={message_id}",
                **self.sender,
            )
        except TwilioRestException as error:
            # Our own set-up (credentials, sender) may be fixed and the message sent later;
            # only a problem with this recipient or text is final.
            transient = (
                error.status in (401, 403, 429)
                or error.status >= 500
                or error.code in SET_UP_ERRORS
            )
            if error.status in (401, 403) or error.code in SET_UP_ERRORS:
                logger.error("Twilio refuses our set-up (%s): %s", error.code, error.msg)
            raise SendFailed(
                f"Twilio {error.status}: {error.msg}"[:300],
                code=str(error.code or error.status),
                permanent=not transient,
            ) from error
        except requests.RequestException as error:
            raise SendFailed(f"Twilio unreachable: {error}"[:300], permanent=False) from error
        return str(sent.sid)


@cache
def sms_backend() -> SmsBackend:
    """The configured backend, made once per process."""
    if settings.SMS_BACKEND == "twilio":
        return TwilioBackend()
    if settings.SMS_BACKEND == "console":
        return ConsoleBackend()
    raise ImproperlyConfigured(
        f"SMS_BACKEND must be console or twilio, not {settings.SMS_BACKEND!r}"
    )
