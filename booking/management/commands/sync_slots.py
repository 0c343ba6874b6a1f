import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from booking.services.slots import extend_slot_horizon, sync_slots


class Command(BaseCommand):
    help = "Generate and update bookable slots over the rolling horizon (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--centre", type=int, action="append", help="Only this centre number.")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        centres = options["centre"]
        result = sync_slots(centre_ids=centres) if centres else extend_slot_horizon()
        self.stdout.write(
            f"Slots: {result.created} created, {result.resized} resized, "
            f"{result.reopened} reopened, {result.removed} removed, {result.closed} closed "
            f"in {time.perf_counter() - started:.1f} s."
        )
        if result.affected_appointment_ids:
            self.stdout.write(
                self.style.WARNING(
                    f"{len(result.affected_appointment_ids)} booked appointments are in closed "
                    "slots; see the admin to move or cancel them."
                )
            )
