"""Benchmark: preview and release a drive of all 69 centres for 30 days.

Runs in a throw-away test database (SQLite by default, PostgreSQL with DATABASE_URL): every
centre holds stock, then a drive of 69 centres x 30 days, two daily sessions of 15-minute
slots, is planned (the preview) and released (every slot written in one bulk insert), several
rounds; prints the median times. A benchmark prints figures: it asserts nothing.

    .venv/bin/python bench/drive_release.py [--rounds 5]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bma .venv/bin/python bench/drive_release.py
"""

import argparse
import os
import statistics
import sys
import time
from datetime import time as clock_time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from booking.models import Slot, VaccinationDrive  # noqa: E402
from booking.vaccination.drives import DriveFields, create_drive, plan_drive, release_drive  # noqa: E402
from booking.vaccination.stock import receive_lot  # noqa: E402
from clinics.models import HealthCentre, Service  # noqa: E402
from clinics.services import load_reference_data  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds

    test_db = connection.creation.create_test_db(verbosity=0, keepdb=False)
    try:
        today = timezone.localdate()
        load_reference_data(years=[today.year, today.year + 1])
        flu = Service.objects.get(code="vaccine-influenza")
        centres = list(HealthCentre.objects.filter(is_active=True))
        for centre in centres:
            receive_lot(
                centre=centre,
                service=flu,
                lot_number="BENCH",
                expires_on=today + timedelta(days=365),
                doses=10_000,
            )
        admin = get_user_model().objects.create_superuser("bench-admin", password=None)
        fields = DriveFields(
            name_th="ทดสอบเปิดกิจกรรม",
            name_en="Release benchmark",
            service=flu,
            centres=centres,
            first_day=today + timedelta(days=1),
            last_day=today + timedelta(days=30),
            weekdays="1234567",
            sessions=[
                (clock_time(9, 0), clock_time(12, 0)),
                (clock_time(13, 0), clock_time(16, 0)),
            ],
            slot_minutes=15,
            capacity_per_slot=5,
            release_at=timezone.now() + timedelta(hours=1),
        )
        previews, releases = [], []
        created = 0
        for _ in range(rounds):
            drive = create_drive(fields=fields, created_by=admin)
            started = time.perf_counter()
            plan = plan_drive(drive)
            previews.append(time.perf_counter() - started)
            started = time.perf_counter()
            created = release_drive(drive=drive).slots_created
            releases.append(time.perf_counter() - started)
            Slot.objects.filter(drive=drive).delete()
            VaccinationDrive.objects.filter(pk=drive.pk).delete()
        print(f"Drive of {len(centres)} centres x 30 days on {connection.vendor}: "
              f"{created:,} slots, {plan.places:,} places; median of {rounds} rounds")  # fmt: skip
        print(f"  preview (plan and stock of every centre): {statistics.median(previews):.2f} s")
        print(f"  release (stock check and bulk insert): {statistics.median(releases):.2f} s "
              f"({created / statistics.median(releases):,.0f} slots/s)")  # fmt: skip
    finally:
        connection.close()
        connection.creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    main()
