"""Benchmark: what the audit trail costs a booking.

Runs in a throw-away test database (SQLite by default, PostgreSQL with DATABASE_URL): many
patients each book a place, one transaction per booking as the API does, then are checked in
and cancelled; rounds alternate with the trail on and off (its `record` replaced by nothing),
and the medians per step and their ratio are printed. A benchmark prints figures: it asserts
nothing.

    .venv/bin/python bench/audit_cost.py [--rounds 6] [--bookings 200]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bma .venv/bin/python bench/audit_cost.py
"""

import argparse
import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SMS_WAKE_WORKER", "false")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from booking.models import Appointment, Patient, Slot  # noqa: E402
from booking.services.appointments import book_slot, cancel_appointment  # noqa: E402
from clinics import audit  # noqa: E402
from clinics.models import AuditEvent, HealthCentre, Service  # noqa: E402
from clinics.services import load_reference_data  # noqa: E402


def _people(count: int, prefix: int) -> list[Patient]:
    User = get_user_model()
    people = []
    for n in range(count):
        phone = f"+668{prefix:02d}{n:06d}"
        account = User.objects.create(username=phone)
        people.append(
            Patient.objects.create(
                account=account,
                relationship=Patient.Relationship.SELF,
                first_name="ทดสอบ",
                last_name=str(n),
                date_of_birth=date(1980, 1, 1),
                sex=Patient.Sex.FEMALE,
                phone=phone,
                passport_number=f"B{prefix:02d}{n:06d}",
            )
        )
    return people


def _round(people: list[Patient], slot: Slot) -> tuple[float, float]:
    """Milliseconds per booking and per cancellation."""
    started = time.perf_counter()
    booked = []
    for person in people:
        with transaction.atomic():
            booked.append(
                book_slot(
                    patient=person,
                    slot_id=slot.pk,
                    booked_by=person.account,
                    channel=Appointment.Channel.API,
                    idempotency_key="",
                ).appointment
            )
    booking = (time.perf_counter() - started) * 1000 / len(people)
    started = time.perf_counter()
    for appointment in booked:
        cancel_appointment(appointment=appointment, enforce_cutoff=False)
    cancelling = (time.perf_counter() - started) * 1000 / len(people)
    return booking, cancelling


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--bookings", type=int, default=200)
    options = parser.parse_args()

    test_db = connection.creation.create_test_db(verbosity=0, keepdb=False)
    recording = audit.record
    try:
        today = timezone.localdate()
        load_reference_data(years=[today.year, today.year + 1])
        service = Service.objects.get(code="general-checkup")
        centre = HealthCentre.objects.get(number=1)
        figures: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for number in range(options.rounds * 2):
            on = number % 2 == 0
            audit.record = recording if on else (lambda *args, **kwargs: None)  # type: ignore[assignment]
            start = timezone.now() + timedelta(days=2 + number)
            slot = Slot.objects.create(
                centre=centre,
                service=service,
                start=start,
                end=start + timedelta(minutes=15),
                capacity=options.bookings,
            )
            figures[on].append(_round(_people(options.bookings, number), slot))
        audit.record = recording
        print(f"Audit trail cost on {connection.vendor}: {options.bookings} bookings a round, "
              f"median of {options.rounds} rounds each way "
              f"({AuditEvent.objects.count():,} events written)")  # fmt: skip
        for index, step in enumerate(("book", "cancel")):
            with_trail = statistics.median(row[index] for row in figures[True])
            without = statistics.median(row[index] for row in figures[False])
            print(f"  {step}: {with_trail:.2f} ms with the trail, {without:.2f} ms without "
                  f"(x{with_trail / without:.2f})")  # fmt: skip
    finally:
        audit.record = recording
        connection.close()
        connection.creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    main()
