"""Print the current code of the demo staff's authenticator key, for signing in to the demo
without an authenticator app. It knows only the demo key, which the demo data gives every demo
staff account; real accounts' keys are never shown."""

from typing import Any

import pyotp
from django.core.management.base import BaseCommand

from booking.services.demo import DEMO_AUTHENTICATOR_KEY


class Command(BaseCommand):
    help = "Print the demo staff accounts' current authenticator code."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(pyotp.TOTP(DEMO_AUTHENTICATOR_KEY).now())
