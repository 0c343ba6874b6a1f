"""Benchmark: generate the 8-week horizon for all 69 centres with the demo week of schedules.

Runs in a throw-away test database (SQLite by default, PostgreSQL with DATABASE_URL), several
rounds, and prints the median time of a full generation, of a no-op re-run, and of a re-run
after every schedule's capacity changed. A benchmark prints figures: it asserts nothing.

    .venv/bin/python bench/slot_generation.py [--rounds 5]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bma .venv/bin/python bench/slot_generation.py
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import F  # noqa: E402

from booking.models import Slot  # noqa: E402
from booking.services.demo import seed_demo  # noqa: E402
from booking.services.slots import sync_slots  # noqa: E402
from clinics.models import ScheduleTemplate  # noqa: E402
from clinics.services import load_reference_data  # noqa: E402


def timed(action: object) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()  # type: ignore[operator]
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds

    test_db = connection.creation.create_test_db(verbosity=0, keepdb=False)
    try:
        load_reference_data(years=[2026, 2027])
        seed_demo(password="bench-only")
        full, noop, resize = [], [], []
        created = 0
        for _ in range(rounds):
            Slot.objects.all().delete()
            seconds, result = timed(sync_slots)
            full.append(seconds)
            created = result.created  # type: ignore[attr-defined]
            noop.append(timed(sync_slots)[0])
            ScheduleTemplate.objects.update(capacity=F("capacity") + 1)
            resize.append(timed(sync_slots)[0])
            ScheduleTemplate.objects.update(capacity=F("capacity") - 1)
        median = statistics.median(full)
        print(f"database: {connection.vendor} ({test_db})")
        schedules = ScheduleTemplate.objects.count()
        print(f"centres: 69, weekly schedules: {schedules}, rounds: {rounds}")
        print(f"slots generated per run: {created}")
        print(f"full generation: median {median:.2f} s ({created / median:,.0f} slots/s)")
        print(f"no-op re-run:    median {statistics.median(noop):.2f} s")
        print(f"capacity change: median {statistics.median(resize):.2f} s (every slot resized)")
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    main()
