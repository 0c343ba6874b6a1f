"""Text message settings are checked at start-up, and beat sweeps the outbox."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError


def test_beat_sweeps_the_outbox_every_few_seconds(settings):
    from config.celery import app

    entry = app.conf.beat_schedule["send-due-messages"]
    assert entry["task"] == "notifications.tasks.send_due_messages"
    assert entry["schedule"] == float(settings.SMS_SWEEP_SECONDS) <= 60


def test_the_twilio_backend_without_credentials_fails_the_system_check(settings):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = ""

    with pytest.raises(SystemCheckError, match=r"notifications\.E002"):
        call_command("check")


def test_an_unknown_backend_fails_the_system_check(settings):
    settings.SMS_BACKEND = "pager"

    with pytest.raises(SystemCheckError, match=r"notifications\.E001"):
        call_command("check")


def test_the_default_settings_pass(settings):
    call_command("check")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("1440,120", True),
        ("", True),
        (" 60 ", True),
        ("abc", False),
        ("0", False),
        ("30000", False),
    ],
)
def test_a_services_reminder_times_are_validated(reference_data, value, valid):
    from django.core.exceptions import ValidationError

    from clinics.models import Service

    service = Service.objects.get(code="general-checkup")
    service.reminder_minutes = value
    if valid:
        service.full_clean()
    else:
        with pytest.raises(ValidationError, match="reminder_minutes"):
            service.full_clean()
