"""Benchmark: booking through the real HTTP stack, steady and on a hot slot, on PostgreSQL.

On a throw-away PostgreSQL database (and Redis, if REDIS_URL is set) it loads the reference
data, opens slots of a service at many centres and signs in patients (bulk inserts, a session
each), then starts uvicorn workers serving the project's ASGI application as production would
and runs, per run:

  steady    an open loop: `--rate` patients a second for `--duration` seconds, each booking
            a place in a slot of their own (POST /api/v1/me/appointments)
  hot       `--hot-people` patients at once on one slot of `--hot-capacity` places: exactly
            that many must be booked, every other answer a 409 `slot_full` with alternatives
  allocate  (with --allocate) as steady, but "book the best for me"
            (POST /api/v1/me/appointments/allocate)
  partner   (with --partner) as steady, but a partner's app books for the people: one key,
            `--partner-rate` a second, each person on file (found by national ID) into a slot
            of their own (POST /api/v1/partner/appointments)
  partner hot  (with --partner) as hot, through the partner's key

and `pgbench -N -c 32` on its own scratch database, for the machine's baseline in the same
run. Before the first run, `--warmup` seconds of bookings at up to 300 a second warm the web
processes (not measured); before each run PostgreSQL is vacuumed and checkpointed. It
prints, per run and scenario: bookings/s and their share of pgbench, p50/p95/p99 of
every answer, answers by kind (status and code), SQL statements and round trips per
successful booking (counted in the web processes: config/sql_count.py, on only here), CPU ms
per booking in the web processes (from /proc), and for the hot slot what SQL says was booked.
With --runs 3, the median and the worst of the runs too. The per-address booking limit is
lifted (every simulated patient comes from 127.0.0.1). The load is sent with
bench/lean_client.py, whose CPU (also printed) is taken from the cores it measures. A
benchmark prints figures: it asserts nothing.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bma REDIS_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python bench/booking.py [--runs 3] [--rate 600] [--duration 20]
"""

import argparse
import asyncio
import gc
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvloop
from django.conf import settings
from django.db import connection
from django.utils import timezone
from surge import (  # also sets Django up, in a scratch VAR_DIR
    cpu_seconds,
    free_port,
    percentile,
    pgbench_baseline,
    settle,
    sign_in_patients,
    wait_until_up,
    web_processes,
)
from surge import start_server as surge_server

from bench.lean_client import LeanClient
from booking.interop.partners import issue_partner_key
from booking.models import Partner, PartnerKey, Patient, Slot
from booking.selectors import SlotSearch, best_open_slots
from clinics.models import District, HealthCentre, Service
from clinics.selectors import forget_centre_order
from clinics.services import load_reference_data
from tests.factories import national_id, person_of

SERVICE = "general-checkup"
SLOTS_PER_CENTRE_DAY = 36  # 08:00 to 17:00, 15-minute slots
# The first answer of each kind other than 201, printed once at the end.
samples: dict[str, str] = {}


@dataclass
class Outcome:
    """One scenario of one run."""

    name: str
    answers: list[tuple[float, int, float, str]] = field(default_factory=list)
    seconds: float = 0.0
    statements: int = 0
    transactions: int = 0
    cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def booked(self) -> int:
        return sum(1 for _, status, _, _ in self.answers if status == 201)

    @property
    def rate(self) -> float:
        return self.booked / self.seconds if self.seconds else 0.0

    def latency(self, share: float) -> float:
        return percentile([latency for _, _, latency, _ in self.answers], share) * 1000


def open_slots(count: int, capacity: int, *, from_day: int = 2) -> list[int]:
    """`count` slots of the service spread over centres, days and times, from `from_day` days
    from today (the day after tomorrow); ids in order."""
    service = Service.objects.get(code=SERVICE)
    centres = list(HealthCentre.objects.filter(services=service).order_by("number"))
    first = timezone.localtime().replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(
        days=from_day
    )
    per_day = len(centres) * SLOTS_PER_CENTRE_DAY
    slots = []
    for n in range(count):
        day, rest = divmod(n, per_day)
        step, centre = divmod(rest, len(centres))
        start = first + timedelta(days=day, minutes=15 * step)
        slots.append(
            Slot(
                centre=centres[centre],
                service=service,
                start=start,
                end=start + timedelta(minutes=15),
                capacity=capacity,
            )
        )
    return [slot.pk for slot in Slot.objects.bulk_create(slots, batch_size=2000)]


def bookings(
    pairs: Iterable[tuple[int, tuple[int, str]]], key_prefix: str
) -> list[tuple[str, str, str, str]]:
    """A booking request (POST /api/v1/me/appointments) for each (slot, (patient, session)),
    its idempotency key made of the prefix and the patient."""
    return [
        (
            "/api/v1/me/appointments",
            session,
            f"{key_prefix}-{patient_id}",
            f'{{"patient_id": {patient_id}, "slot_id": {slot_id}}}',
        )
        for slot_id, (patient_id, session) in pairs
    ]


def partner_bookings(
    pairs: Iterable[tuple[int, tuple[int, str]]], secret: str, *, new: bool = False
) -> list[tuple[str, str, str, str]]:
    """A partner's booking request (POST /api/v1/partner/appointments) for each (slot,
    (patient, session)): the person as the partner's app knows them, found by national ID;
    `new`: someone not on file (another national ID and phone), registered with the
    booking."""
    pairs = list(pairs)
    people = Patient.objects.in_bulk([patient_id for _, (patient_id, _) in pairs])
    made = []
    for slot_id, (patient_id, _session) in pairs:
        person = person_of(people[patient_id])
        if new:
            person |= {"national_id": national_id(), "phone": f"+6691{patient_id:07d}"}
        body = json.dumps({"slot_id": slot_id, "person": person})
        made.append(
            (
                "/api/v1/partner/appointments",
                f"Bearer {secret}",
                f"bench-partner-{patient_id}",
                body,
            )
        )
    return made


def partner_secret() -> str:
    """A key of a partner's app, with a limit no bench reaches."""
    partner = Partner.objects.create(name="bench super-app", contact_email="api@example.org")
    return issue_partner_key(
        partner=partner,
        scopes=[PartnerKey.Scope.APPOINTMENTS_WRITE],
        issued_by=None,
        requests_per_minute=100_000_000,
    ).secret


def per_day_of() -> int:
    """How many slots open_slots puts on one day (08:00 to 17:00 in 15 minutes, every centre
    offering the service)."""
    return HealthCentre.objects.filter(services__code=SERVICE).count() * SLOTS_PER_CENTRE_DAY


def start_server(port: int, workers: int, count_dir: str) -> subprocess.Popen[bytes]:
    """surge's server, counting its SQL into `count_dir`, with the per-address limits lifted:
    every simulated patient comes from 127.0.0.1."""
    return surge_server(
        port,
        workers,
        extra_env={
            "BOOKINGS_PER_ADDRESS_PER_HOUR": "100000000",
            "SEARCHES_PER_ADDRESS_PER_MINUTE": "100000000",
            "SQL_COUNT_DIR": count_dir,
        },
    )


def sql_totals(pids: list[int], count_dir: str) -> tuple[int, int]:
    """(statements, transactions) so far, summed over the web processes that count."""
    folder = Path(count_dir)
    for old in folder.glob("*.json"):
        old.unlink()
    workers = pids[1:]
    # A worker still loading the app would be ended by SIGUSR1: wait until each says it counts.
    deadline = time.time() + 120
    while not all((folder / f"{pid}.ready").exists() for pid in workers):
        if time.time() > deadline:
            raise RuntimeError("the web workers never started counting their SQL")
        time.sleep(0.05)
    for pid in workers:
        os.kill(pid, signal.SIGUSR1)
    deadline = time.time() + 10
    while time.time() < deadline:
        found = [folder / f"{pid}.json" for pid in workers]
        if all(path.exists() for path in found):
            totals = [json.loads(path.read_text()) for path in found]
            return (
                sum(t["statements"] for t in totals),
                sum(t["transactions"] for t in totals),
            )
        time.sleep(0.05)
    raise RuntimeError("the web workers did not report their SQL counts")


async def send_all(
    base: str, requests: list[tuple[str, str, str, str]], rate: float | None
) -> list[tuple[float, int, float, str]]:
    """POST each (path, session key or "Bearer <partner key>", idempotency key, body): `rate`
    a second (an open loop), or all at once. Returns (sent at, status, latency, code) for
    each."""
    answers: list[tuple[float, int, float, str]] = []
    csrf = secrets.token_hex(16)
    async with LeanClient.at(base, limit=4000) as client:
        begin = time.time() + 0.2

        async def one(number: int, path: str, session: str, key: str, body: str) -> None:
            if rate:
                await asyncio.sleep(max(begin + number / rate - time.time(), 0))
            headers = (
                {"Authorization": session}
                if session.startswith("Bearer ")
                else {"Cookie": f"sessionid={session}; csrftoken={csrf}", "X-CSRFToken": csrf}
            )
            headers.update({"Idempotency-Key": key, "Content-Type": "application/json"})
            sent = time.time()
            try:
                answer = await client.post(path, headers=headers, body=body.encode())
                payload, status = answer.text(), answer.status
            except (TimeoutError, ConnectionError, OSError) as error:
                answers.append((sent, 0, time.time() - sent, type(error).__name__))
                return
            found = re.search(r'"code":\s*"([a-z_]+)"', payload)
            code = found.group(1) if found else ""
            if code == "slot_full" and '"alternatives": [{' not in payload.replace(
                '"alternatives":[{', '"alternatives": [{'
            ):
                code = "slot_full_without_alternatives"
            if status != 201:
                samples.setdefault(f"{status} {code}", payload[:300])
            answers.append((sent, status, time.time() - sent, code))

        await asyncio.gather(*(one(n, *request) for n, request in enumerate(requests)))
    return answers


def measure(
    name: str,
    base: str,
    server: subprocess.Popen[bytes],
    count_dir: str,
    requests: list[tuple[str, str, str, str]],
    rate: float | None,
) -> Outcome:
    pids = web_processes(server)
    statements, transactions = sql_totals(pids, count_dir)
    cpu = cpu_seconds(pids)
    outcome = Outcome(name=name)
    client = time.process_time()
    outcome.answers = uvloop.run(send_all(base, requests, rate))
    outcome.client_cpu_seconds = time.process_time() - client
    outcome.cpu_seconds = cpu_seconds(pids) - cpu
    after = sql_totals(pids, count_dir)
    outcome.statements, outcome.transactions = after[0] - statements, after[1] - transactions
    first = min(sent for sent, *_ in outcome.answers)
    outcome.seconds = max(sent + latency for sent, _, latency, _ in outcome.answers) - first
    return outcome


def check_hot_slot(slot_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.booked, s.capacity, (SELECT count(*) FROM booking_appointment a"
            " WHERE a.slot_id = s.id AND a.status <> 'cancelled') FROM booking_slot s"
            " WHERE s.id = %s",
            [slot_id],
        )
        booked, capacity, appointments = cursor.fetchone()
    verdict = "ok" if booked == appointments == capacity else "WRONG"
    return (
        f"checked in SQL: slot counter {booked} of {capacity}, "
        f"{appointments} appointments: {verdict}"
    )


def report(outcome: Outcome, baseline: float) -> None:
    kinds = Counter(
        f"{status} {code}".strip() if status else f"connection error {code}"
        for _, status, _, code in outcome.answers
    )
    booked = max(outcome.booked, 1)
    print(
        f"  {outcome.name}: {len(outcome.answers):,} answers in {outcome.seconds:.1f} s; "
        f"{outcome.booked:,} booked, {outcome.rate:,.0f} bookings/s"
        + (f", share of pgbench {outcome.rate / baseline:.3f}" if baseline else "")
    )
    print(
        f"    latency p50 {outcome.latency(0.5):.0f} ms, p95 {outcome.latency(0.95):.0f} ms, "
        f"p99 {outcome.latency(0.99):.0f} ms; answers {dict(sorted(kinds.items()))}"
    )
    print(
        f"    per booking: {outcome.statements / booked:.1f} SQL statements, "
        f"{(outcome.statements + 2 * outcome.transactions) / booked:.1f} round trips, "
        f"{outcome.cpu_seconds * 1000 / booked:.2f} CPU ms in the web processes; per answer: "
        f"{outcome.statements / max(len(outcome.answers), 1):.1f} SQL statements, "
        f"{outcome.cpu_seconds * 1000 / max(len(outcome.answers), 1):.2f} CPU ms "
        f"(the bench's own client: "
        f"{outcome.client_cpu_seconds * 1000 / max(len(outcome.answers), 1):.2f} CPU ms)"
    )
    for note in outcome.notes:
        print(f"    {note}")


def explain_best_open_slots() -> None:
    """EXPLAIN ANALYZE of the query that finds the best places (the allocate path)."""
    if connection.vendor != "postgresql":
        return
    captured: list[tuple[str, Any]] = []

    def capture(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        captured.append((sql, params))
        return execute(sql, params, many, context)

    forget_centre_order()
    search = SlotSearch(
        service=Service.objects.get(code=SERVICE),
        date_from=timezone.localdate(),
        date_to=timezone.localdate() + timedelta(days=30),
        district=District.objects.get(code=1001),
    )
    best_open_slots(search, limit=1)
    with connection.execute_wrapper(capture):
        best_open_slots(search, limit=settings.ALLOCATION_ATTEMPTS)
    sql, params = captured[-1]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE booking_slot")
        cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {sql}", params)
        plan = [row[0] for row in cursor.fetchall()]
    print("Plan of the best-places query (booking/selectors.py, best_open_slots):")
    for line in plan:
        print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--rate", type=float, default=600, help="steady arrivals per second")
    parser.add_argument("--duration", type=float, default=20, help="seconds of steady arrivals")
    parser.add_argument("--hot-people", type=int, default=200)
    parser.add_argument("--hot-capacity", type=int, default=5)
    parser.add_argument("--allocate", action="store_true", help="also run the allocate path")
    parser.add_argument("--partner", action="store_true", help="also run a partner's bookings")
    parser.add_argument(
        "--partner-rate", type=float, help="a partner's bookings per second (default: --rate)"
    )
    parser.add_argument(
        "--partner-new",
        action="store_true",
        help="the partner's people are not on file: each is registered with their booking",
    )
    parser.add_argument("--web-workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--pgbench-seconds", type=int, default=20)
    parser.add_argument("--explain", action="store_true", help="print the best-places plan")
    parser.add_argument(
        "--warmup",
        type=float,
        default=5,
        help="seconds of bookings at up to 300/s before the first run, not measured (a web "
        "process's first requests fill its caches and prepare its statements)",
    )
    options = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server: bookings are measured there.")

    steady = int(options.rate * options.duration)
    partner_rate = options.partner_rate or options.rate
    partnered = int(partner_rate * options.duration) if options.partner else 0
    hot_runs = 2 if options.partner else 1  # a partner's app on a hot slot too
    per_run = steady * (2 if options.allocate else 1) + options.hot_people * hot_runs + partnered
    warm_rate = min(options.rate, 300)
    warm = int(warm_rate * options.warmup)
    test_db = connection.creation.create_test_db(verbosity=0, keepdb=False)
    server = None
    count_dir = tempfile.mkdtemp(prefix="bench-booking-sql-")
    runs: list[list[tuple[Outcome, float]]] = []
    try:
        started = time.perf_counter()
        load_reference_data(years=[timezone.localdate().year, timezone.localdate().year + 1])
        people = sign_in_patients(per_run * options.runs + warm)
        slots = open_slots((steady + partnered) * options.runs + warm, capacity=5)
        hot = open_slots(options.runs * hot_runs, capacity=options.hot_capacity)
        secret = partner_secret() if options.partner else ""
        # "Book the best for me" books the best places it finds: its own, from a day after
        # every other scenario's slots, so that it never fills a later run's (which would
        # answer those slot_full).
        allocate_from = 3 + len(slots) // per_day_of() if options.allocate else 0
        if options.allocate:
            open_slots(steady * options.runs, capacity=5, from_day=allocate_from)
        print(
            f"Set up {len(people):,} signed-in patients and {len(slots) + len(hot):,} slots "
            f"in {time.perf_counter() - started:.0f} s; load average before: "
            f"{os.getloadavg()[0]:.2f}"
        )
        if options.explain:
            explain_best_open_slots()
        settle()
        connection.close()
        # The client's own heap (every patient's session, the requests): out of its collector's
        # walks, so that the load generator does not pause and then send in bursts.
        gc.collect()
        gc.freeze()
        port = free_port()
        server = start_server(port, options.web_workers, count_dir)
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_until_up(base))
        if warm:
            warming = bookings(zip(slots[-warm:], people[-warm:], strict=True), "bench-warm")
            uvloop.run(send_all(base, warming, warm_rate))
            samples.clear()
            settle()  # the tables' statistics with bookings in them
        after = (timezone.localdate() + timedelta(days=allocate_from)).isoformat()
        until = (timezone.localdate() + timedelta(days=allocate_from + 60)).isoformat()
        for run in range(options.runs):
            mine = iter(people[run * per_run : (run + 1) * per_run])
            outcomes: list[Outcome] = []
            requests = bookings(
                zip(slots[run * steady : (run + 1) * steady], mine, strict=False), "bench-booking"
            )
            outcomes.append(measure("steady", base, server, count_dir, requests, options.rate))
            requests = bookings(
                ((hot[run], next(mine)) for _ in range(options.hot_people)), "bench-booking"
            )
            outcomes.append(measure("hot", base, server, count_dir, requests, None))
            outcomes[-1].notes.append(check_hot_slot(hot[run]))
            if options.allocate:
                requests = [
                    (
                        "/api/v1/me/appointments/allocate",
                        session,
                        f"bench-allocate-{patient_id}",
                        f'{{"patient_id": {patient_id}, "service": "{SERVICE}", '
                        f'"date_from": "{after}", "date_to": "{until}"}}',
                    )
                    for patient_id, session in (next(mine) for _ in range(steady))
                ]
                outcomes.append(
                    measure("allocate", base, server, count_dir, requests, options.rate)
                )
            if options.partner:
                theirs = slots[steady * options.runs :][run * partnered : (run + 1) * partnered]
                requests = partner_bookings(
                    zip(theirs, mine, strict=False), secret, new=options.partner_new
                )
                outcomes.append(measure("partner", base, server, count_dir, requests, partner_rate))
                partner_hot = hot[options.runs + run]
                requests = partner_bookings(
                    ((partner_hot, next(mine)) for _ in range(options.hot_people)), secret
                )
                outcomes.append(measure("partner hot", base, server, count_dir, requests, None))
                outcomes[-1].notes.append(check_hot_slot(partner_hot))
            baseline = pgbench_baseline(options.pgbench_seconds)
            settle()
            print(
                f"Run {run + 1}: pgbench -N -c 32: {baseline:,.0f} tps; "
                f"load average {os.getloadavg()[0]:.2f}"
            )
            for outcome in outcomes:
                report(outcome, baseline)
            runs.append([(outcome, baseline) for outcome in outcomes])
        if len(runs) > 1:
            for index, name in enumerate(outcome.name for outcome, _ in runs[0]):
                rates = [run[index][0].rate for run in runs]
                shares = [run[index][0].rate / run[index][1] for run in runs if run[index][1]]
                p99s = [run[index][0].latency(0.99) for run in runs]
                print(
                    f"{name} over {len(runs)} runs: median {statistics.median(rates):,.0f} "
                    f"bookings/s (worst {min(rates):,.0f}), share "
                    f"{statistics.median(shares) if shares else 0:.3f} "
                    f"(worst {min(shares) if shares else 0:.3f}), p99 median "
                    f"{statistics.median(p99s):.0f} ms (worst {max(p99s):.0f} ms)"
                )
        for kind, sample in samples.items():
            print(f"First {kind} answer: {sample}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        connection.close()
        connection.creation.destroy_test_db(test_db, verbosity=0)
        shutil.rmtree(count_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
