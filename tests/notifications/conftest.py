from collections.abc import Iterator

import pytest
from pytest_django import Settings

from notifications.backends import sms_backend
from tests.fakes.twilio_api import FakeTwilio


@pytest.fixture
def fake_twilio(settings: Settings) -> Iterator[FakeTwilio]:
    """A local stand-in for api.twilio.com, with the Twilio backend pointed at it."""
    with FakeTwilio() as fake:
        settings.SMS_BACKEND = "twilio"
        settings.TWILIO_ACCOUNT_SID = fake.account_sid
        settings.TWILIO_AUTH_TOKEN = fake.auth_token
        settings.TWILIO_MESSAGING_SERVICE_SID = fake.messaging_service_sid
        settings.TWILIO_API_BASE_URL = fake.base_url
        settings.PUBLIC_BASE_URL = "https://booking.example.go.th"
        sms_backend.cache_clear()
        yield fake
    sms_backend.cache_clear()
