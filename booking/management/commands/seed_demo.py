import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from booking.services.demo import seed_demo


class Command(BaseCommand):
    help = (
        "Add demo schedules, vaccine stock, a drive, staff and a patient "
        "(known passwords: not for production)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", default="demo-pass-2569")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        seeded = seed_demo(password=options["password"])
        self.stdout.write(
            f"Demo: {seeded.schedules} weekly schedules added, {seeded.slots.created} slots "
            f"and {seeded.drive_slots} vaccination drive slots created in "
            f"{time.perf_counter() - started:.1f} s."
        )
