import argparse
import time
from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from booking.interop.open_data.services import count_days
from clinics.exceptions import InvalidInput


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date written YYYY-MM-DD") from None


class Command(BaseCommand):
    help = (
        "Count the open-data daily figures of past days, e.g. to fill in the days before "
        "counting began (idempotent: a day counted again replaces its rows)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from", dest="first_day", type=_day, required=True, help="First day, YYYY-MM-DD."
        )
        parser.add_argument(
            "--to", dest="last_day", type=_day, help="Last day, YYYY-MM-DD (default: yesterday)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        last_day = options["last_day"] or timezone.localdate() - timedelta(days=1)
        try:
            counted = count_days(first_day=options["first_day"], last_day=last_day)
        except InvalidInput as error:
            raise CommandError(f"--{error.detail['field']}: {error.message}") from error
        self.stdout.write(
            f"Daily figures: {counted.days} days from {options['first_day']} to {last_day} "
            f"counted, {counted.rows} rows in {time.perf_counter() - started:.1f} s."
        )
