"""Start-up checks of the text message settings, so a wrong setting fails `manage.py check`
rather than the first message."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register


@register(Tags.compatibility)
def check_sms_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if settings.SMS_BACKEND not in ("console", "twilio"):
        problems.append(
            Error(
                f"SMS_BACKEND is {settings.SMS_BACKEND!r}.",
                hint="Set SMS_BACKEND to console or twilio.",
                id="notifications.E001",
            )
        )
    if settings.SMS_BACKEND == "twilio":
        missing = [
            name
            for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
            if not getattr(settings, name)
        ]
        if not (settings.TWILIO_MESSAGING_SERVICE_SID or settings.TWILIO_FROM_NUMBER):
            missing.append("TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER")
        if missing:
            problems.append(
                Error(
                    "SMS_BACKEND=twilio but settings are missing: " + ", ".join(missing) + ".",
                    id="notifications.E002",
                )
            )
    if not settings.PUBLIC_BASE_URL.startswith(("http://", "https://")):
        problems.append(
            Error(
                "PUBLIC_BASE_URL must be the site's address, e.g. https://booking.bangkok.go.th.",
                id="notifications.E003",
            )
        )
    return problems


@register(Tags.security, deploy=True)
def check_public_address(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.PUBLIC_BASE_URL.startswith("https://"):
        return []
    return [
        Warning(
            "PUBLIC_BASE_URL is not https: links in text messages and Twilio's webhooks "
            "would travel unencrypted.",
            id="notifications.W001",
        )
    ]
