"""Benchmark: the SMART Scheduling Links files for the demo's 69 centres and their slots.

Runs in a throw-away test database (SQLite by default, PostgreSQL with DATABASE_URL) seeded
with the demo week at every centre and the demo flu drive, then prints the median of several
rounds: a run that writes every file, a run that finds nothing changed, a run after one slot
changed (it rebuilds that slot's week only), the size of each file,
and how many requests a second one process serves for the largest slot file (200 and 304) and
the manifest, in-process through Django's test client. A benchmark prints figures: it asserts
nothing.

    .venv/bin/python bench/bulk_publish.py [--rounds 5] [--seconds 3]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bma .venv/bin/python bench/bulk_publish.py
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import F  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from booking.interop.fhir.publishing import MANIFEST, PREFIX, publish_scheduling_links  # noqa: E402
from booking.models import PublishedFile, Slot  # noqa: E402
from booking.services.demo import seed_demo  # noqa: E402
from clinics.services import load_reference_data  # noqa: E402


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def per_second(action: Callable[[], object], seconds: float) -> float:
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        action()
        done += 1
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    options = parser.parse_args()
    settings.ALLOWED_HOSTS = ["testserver"]

    test_db = connection.creation.create_test_db(verbosity=0, keepdb=False)
    try:
        load_reference_data(years=[2026, 2027])
        seed_demo(password="bench-only")
        full, noop, one, slots = [], [], [], 0
        changing = Slot.objects.filter(start__gte=timezone.now() + timedelta(days=2)).first()
        assert changing is not None
        for _ in range(options.rounds):
            PublishedFile.objects.filter(name__startswith=PREFIX).delete()
            started = time.perf_counter()
            slots = publish_scheduling_links().slots
            full.append(time.perf_counter() - started)
            noop.append(timed(publish_scheduling_links))
            Slot.objects.filter(pk=changing.pk).update(capacity=F("capacity") + 1)
            one.append(timed(publish_scheduling_links))
        files = {f.name: len(f.body.encode()) for f in PublishedFile.objects.all()}
        largest = max((name for name in files if "/slots-" in name), key=files.__getitem__)
        client = Client()
        url = f"/fhir/r4/bulk/{largest.removeprefix(PREFIX)}"
        etag = client.get(url)["ETag"]
        rates: dict[str, list[float]] = {
            "slot file, 200": [],
            "slot file, 304": [],
            "manifest, 200": [],
        }
        for _ in range(options.rounds):
            rates["slot file, 200"].append(per_second(lambda: client.get(url), options.seconds))
            rates["slot file, 304"].append(
                per_second(lambda: client.get(url, HTTP_IF_NONE_MATCH=etag), options.seconds)
            )
            rates["manifest, 200"].append(
                per_second(lambda: client.get("/fhir/r4/$bulk-publish"), options.seconds)
            )

        print(f"database: {connection.vendor} ({test_db}), rounds: {options.rounds}")
        print(f"slots in the database: {Slot.objects.count():,}; published: {slots:,}")
        print(f"run writing every file: median {statistics.median(full):.2f} s")
        print(f"run with nothing changed: median {statistics.median(noop):.3f} s")
        print(f"run after one slot changed: median {statistics.median(one):.2f} s")
        for name, size in sorted(files.items()):
            label = "manifest" if name == MANIFEST else name.removeprefix(PREFIX)
            print(f"  {label:<28} {size / 1024:>9,.0f} KiB")
        print(f"all files: {sum(files.values()) / 1024 / 1024:.1f} MiB")
        for label, samples in rates.items():
            print(f"served, {label}: median {statistics.median(samples):,.0f} requests/s")
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    main()
