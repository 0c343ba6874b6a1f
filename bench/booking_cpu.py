"""Benchmark: the CPU one booking costs the web process and PostgreSQL, in one process.

bench/booking.py and bench/surge.py measure the whole machine through uvicorn, and on a small
shared machine their figures move by a third from one run to the next: a change that saves a
few per cent of a booking's work cannot be seen there. This bench drives the project's ASGI
application directly, as uvicorn calls it (`--concurrency` requests at a time on uvloop, no
sockets), on a throw-away PostgreSQL database with Redis, and reads the CPU this process used
(every thread) and the CPU PostgreSQL's backends for the database used (from /proc). Per run
and scenario it prints CPU ms per answer here and in PostgreSQL, answers a second (one
process, `--concurrency` at once: waits such as a commit's flush show there, not in the CPU)
and the answers by status:

  book      each patient books a place in a slot of their own (POST /api/v1/me/appointments)
  allocate  "book the best for me" (POST /api/v1/me/appointments/allocate), from slots of its
            own
  full      each patient asks for a slot that is full: 409 `slot_full` with alternatives
  surge     each patient, let in by the line of a drive just released, is booked the best
            place of it (allocate), as the first 5,000 arrivals in bench/surge.py are
  drive     each patient, new to the line of a drive whose places are gone, asks to be
            booked the best place of it: 409 `drive_full` from the waiting room (three
            arrivals in four in bench/surge.py)

surge and drive are each a drive of the same service, and are run apart.

Before the first run, `--warmup` bookings fill the process's caches and prepare its
statements (not measured). To compare two commits, run this bench from each in turn, several
times (a worktree for the other commit), and compare the medians: what it prints is the
request's own work, not uvicorn's, the client's or the machine's. It asserts nothing.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bma REDIS_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python bench/booking_cpu.py [--runs 5] [--bookings 2000] [--concurrency 20]
"""

import os

# The per-address limits, lifted before Django reads its settings: every request here comes
# from one address.
os.environ["BOOKINGS_PER_ADDRESS_PER_HOUR"] = "100000000"
os.environ["SEARCHES_PER_ADDRESS_PER_MINUTE"] = "100000000"
# Everyone in a drive's line is let in (the surge scenario measures bookings, not the line).
os.environ["DRIVE_ADMIT_BURST"] = "100000000"

import argparse
import asyncio
import gc
import secrets
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvloop
from django.db import connection
from django.db.models import F
from django.utils import timezone
from surge import CLOCK_TICKS, open_drive, process_ticks, settle, sign_in_patients  # sets Django up
from surge import SERVICE as DRIVE_SERVICE

from bench.booking import SERVICE, open_slots, per_day_of
from booking.models import Slot
from booking.vaccination.drives import release_drive
from booking.vaccination.waiting_room import count_places_left
from clinics.services import load_reference_data
from tests.asgi_post import post

BOOK = "/api/v1/me/appointments"
ALLOCATE = "/api/v1/me/appointments/allocate"
# (path, session key, idempotency key, body)
Request = tuple[str, str, str, bytes]


@dataclass
class Figures:
    """One scenario of one run."""

    name: str
    answers: Counter[str]
    web_cpu: float  # seconds, this process
    database_cpu: float  # seconds, PostgreSQL's backends for the database
    seconds: float  # from the first request to the last answer

    @property
    def rate(self) -> float:
        return sum(self.answers.values()) / self.seconds

    def per_answer(self, seconds: float) -> float:
        return seconds * 1000 / max(sum(self.answers.values()), 1)


async def answer(app: Any, request: Request, csrf: str) -> str:
    """The request through the ASGI application: its status, and the error's code if any."""
    path, session, key, body = request
    headers = [
        (b"host", b"127.0.0.1"),
        (b"cookie", f"sessionid={session}; csrftoken={csrf}".encode()),
        (b"x-csrftoken", csrf.encode()),
        (b"idempotency-key", key.encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    start, content = await post(
        app, path, body, headers, client=("127.0.0.1", 50000), server=("127.0.0.1", 8000)
    )
    status = start["status"]
    if status == 201:
        return "201"
    code = content.split(b'"code": "', 1)[-1].split(b'"', 1)[0].decode() if content else ""
    return f"{status} {code}"


async def answer_all(app: Any, requests: list[Request], concurrency: int) -> Counter[str]:
    csrf = secrets.token_hex(16)
    left = iter(requests)
    answers: Counter[str] = Counter()

    async def one_at_a_time() -> None:
        for request in left:
            answers[await answer(app, request, csrf)] += 1

    await asyncio.gather(*(one_at_a_time() for _ in range(concurrency)))
    return answers


def backends_cpu() -> float:
    """CPU seconds PostgreSQL's backends for this database have used (their /proc)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        pids = [pid for (pid,) in cursor.fetchall()]
    total = 0
    for pid in pids:
        try:
            total += process_ticks(Path(f"/proc/{pid}/stat").read_text())
        except FileNotFoundError:  # it ended meanwhile
            continue
    return total / CLOCK_TICKS


def measure(
    name: str, app: Any, requests: list[Request], concurrency: int, loop: asyncio.AbstractEventLoop
) -> Figures:
    database = backends_cpu()
    web, began = time.process_time(), time.perf_counter()
    answers = loop.run_until_complete(answer_all(app, requests, concurrency))
    web, seconds = time.process_time() - web, time.perf_counter() - began
    return Figures(name, answers, web, backends_cpu() - database, seconds)


def requests_for(
    scenario: str, people: Iterator[tuple[int, str]], slots: Iterator[int], count: int, **dates: str
) -> list[Request]:
    made: list[Request] = []
    for _ in range(count):
        patient, session = next(people)
        key = f"bench-cpu-{scenario}-{patient}"
        if scenario in ("allocate", "surge", "drive"):
            service, after, until = (
                (SERVICE, dates["after"], dates["until"])
                if scenario == "allocate"
                else (DRIVE_SERVICE, dates["drive_from"], dates["drive_to"])
            )
            body = (
                f'{{"patient_id": {patient}, "service": "{service}", '
                f'"date_from": "{after}", "date_to": "{until}"}}'
            )
            made.append((ALLOCATE, session, key, body.encode()))
        else:
            body = f'{{"patient_id": {patient}, "slot_id": {next(slots)}}}'
            made.append((BOOK, session, key, body.encode()))
    return made


def drive_in_surge(places: int, *, sold_out: bool) -> dict[str, str]:
    """A drive of at least `places` places released a moment ago (its places all taken, as
    its counter says, when `sold_out`): its first and last days."""
    drive = open_drive(places, release_in=3600)
    release_drive(drive=drive, at=timezone.now() - timedelta(seconds=1))
    drive.refresh_from_db()
    if sold_out:
        Slot.objects.filter(drive=drive).update(booked=F("capacity"))
        count_places_left(drive_id=drive.pk)
    return {"drive_from": drive.first_day.isoformat(), "drive_to": drive.last_day.isoformat()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bookings", type=int, default=2000, help="answers per scenario a run")
    parser.add_argument("--concurrency", type=int, default=20, help="requests at once")
    parser.add_argument("--warmup", type=int, default=1000, help="bookings first, not measured")
    parser.add_argument(
        "--scenarios",
        default="book,allocate,full",
        help="of book, allocate, full, surge and drive",
    )
    options = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server: bookings are measured there.")
    scenarios = options.scenarios.split(",")
    if {"surge", "drive"} <= set(scenarios):
        parser.error("surge and drive are each a drive of the same service: run them apart")
    count, runs = options.bookings, options.runs
    test_db = connection.creation.create_test_db(verbosity=0, keepdb=False)
    try:
        started = time.perf_counter()
        load_reference_data(years=[timezone.localdate().year, timezone.localdate().year + 1])
        people = iter(sign_in_patients(count * len(scenarios) * runs + options.warmup + 1))
        slots = iter(open_slots(count * runs + options.warmup, capacity=5))
        full = open_slots(1, capacity=1)
        allocate_from = 3 + (count * runs + options.warmup) // per_day_of()
        if "allocate" in scenarios:
            open_slots(count * runs, capacity=5, from_day=allocate_from)
        after = timezone.localdate() + timedelta(days=allocate_from)
        dates = {"after": after.isoformat(), "until": (after + timedelta(days=60)).isoformat()}
        if "surge" in scenarios:
            dates.update(drive_in_surge(count * runs, sold_out=False))
        if "drive" in scenarios:
            dates.update(drive_in_surge(200, sold_out=True))
        print(f"Set up in {time.perf_counter() - started:.0f} s")
        settle()

        from config.asgi import build_application  # the settings as this bench set them

        app = build_application()
        loop = uvloop.new_event_loop()
        warming = requests_for("warm", people, slots, options.warmup)
        filling = requests_for("fill", people, iter(full), 1)
        print(
            f"Warm-up: {dict(loop.run_until_complete(answer_all(app, warming, 20)))}, "
            f"{dict(loop.run_until_complete(answer_all(app, filling, 1)))}"
        )
        settle()
        gc.collect()
        gc.freeze()
        results: dict[str, list[Figures]] = {name: [] for name in scenarios}
        for run in range(runs):
            for name in scenarios:
                targets = iter(full * count) if name == "full" else slots
                requests = requests_for(name, people, targets, count, **dates)
                figures = measure(name, app, requests, options.concurrency, loop)
                results[name].append(figures)
                print(
                    f"run {run + 1} {name}: {figures.per_answer(figures.web_cpu):.3f} CPU ms "
                    f"per answer here, {figures.per_answer(figures.database_cpu):.3f} in "
                    f"PostgreSQL; {figures.rate:,.0f} answers a second; {dict(figures.answers)}"
                )
        for name, figures_of in results.items():
            web = [f.per_answer(f.web_cpu) for f in figures_of]
            database = [f.per_answer(f.database_cpu) for f in figures_of]
            rates = [f.rate for f in figures_of]
            print(
                f"{name}: median {statistics.median(web):.3f} CPU ms per answer here "
                f"({min(web):.3f}-{max(web):.3f}), {statistics.median(database):.3f} in "
                f"PostgreSQL ({min(database):.3f}-{max(database):.3f}), "
                f"{statistics.median(rates):,.0f} answers a second "
                f"({min(rates):,.0f}-{max(rates):,.0f}), over {runs} runs"
            )
        loop.close()
    finally:
        # The application's connections (its own async ones, its threads') end with the process:
        # the scratch database is dropped from under them.
        db = connection.settings_dict
        connection.close()
        subprocess.run(
            ["dropdb", "--force", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432),
             "-U", db["USER"], test_db],
            check=True,
        )  # fmt: skip


if __name__ == "__main__":
    main()
