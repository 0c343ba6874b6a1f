from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from clinics.services import load_reference_data


class Command(BaseCommand):
    help = "Load districts, the 69 centres, the service catalogue and Thai holidays (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        year = timezone.localdate().year
        loaded = load_reference_data(years=[year, year + 1])
        self.stdout.write(
            f"Reference data: {loaded.districts} districts, {loaded.centres} centres, "
            f"{loaded.services} services, {loaded.holidays} holidays added."
        )
