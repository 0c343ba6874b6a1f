"""Benchmark: the release surge of a vaccination drive, through the real HTTP stack.

On a throw-away PostgreSQL database (and Redis for the cache, if REDIS_URL is set) it opens a
drive of 5,000 places across centres, starts uvicorn workers serving the project's ASGI
application as production would, and sends 20,000 simulated patients, each signed in with
their own session, arriving at a fixed rate from the release second (an open model: arrivals
do not wait for answers). Each asks to be booked the best place of the drive
(POST /api/v1/me/appointments/allocate); someone told 429 `in_queue` asks again after
Retry-After, as the waiting room says. Afterwards SQL checks that no slot is overbooked and no
one holds two places. In the same run, `pgbench -N -c 32` on the same server gives the
machine's baseline. It prints where the CPU went over the arrivals (each web worker,
PostgreSQL, Redis, this client, the whole machine) and a timeline: every two seconds, the
requests sent (first asks, asks again), their answers and p99, and how busy the machine, the
web workers and PostgreSQL were; how many requests each person sent, and how long each waited
from their first request to their first answer and to their final one. The load is sent with
bench/lean_client.py. A benchmark prints figures: it asserts nothing.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bma REDIS_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python bench/surge.py [--patients 20000] [--rate 1000] [--open-connections]
"""

import argparse
import asyncio
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import time as clock_time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="bench-surge-")

import django  # noqa: E402

django.setup()

import aiohttp  # noqa: E402
import uvloop  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import (  # noqa: E402
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
)
from django.contrib.sessions.backends.cached_db import KEY_PREFIX as CACHED_SESSION_PREFIX  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.contrib.sessions.models import Session  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.lean_client import LeanClient  # noqa: E402
from bench.settle import settle  # noqa: E402
from bench.web_server import free_port, start_uvicorn  # noqa: E402
from booking.models import Patient, Slot, VaccinationDrive  # noqa: E402
from booking.signed_in import (  # noqa: E402
    ACCOUNT_CACHE_SECONDS,
    account_entry,
    account_key,
    session_account_key,
    sessions_are_cached,
)
from booking.vaccination.drives import DriveFields, create_drive, release_drive  # noqa: E402
from booking.vaccination.stock import receive_lot  # noqa: E402
from clinics.models import HealthCentre, PublicHoliday, Service  # noqa: E402
from clinics.services import load_reference_data  # noqa: E402
from tests.factories import national_id  # noqa: E402

SERVICE = "vaccine-influenza"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The first answer of each unexpected kind, printed at the end.
samples: dict[str, str] = {}
# When each person sent their first request.
firsts: list[float] = []
# How many requests each person sent, by their final answer (201, or the 409's code).
asks_until: dict[str, list[int]] = {}
# Each person's wait from their first request to their first answer, and to their final one.
first_answers: list[float] = []
final_answers: list[float] = []


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def open_drive(places: int, release_in: float) -> VaccinationDrive:
    """A drive of `places` places: 25 centres, two days, 20 slots of 5 places a day each."""
    flu = Service.objects.get(code=SERVICE)
    per_centre = 2 * 20 * 5
    centres = list(HealthCentre.objects.order_by("number")[: max(places // per_centre, 1)])
    for centre in centres:
        receive_lot(
            centre=centre,
            service=flu,
            lot_number="BENCH",
            expires_on=timezone.localdate() + timedelta(days=365),
            doses=per_centre * 2,
        )
    # Two days in a row on which centres open: a public holiday would take its places away.
    closed = set(PublicHoliday.objects.filter(closes_centres=True).values_list("date", flat=True))
    first_day = timezone.localdate() + timedelta(days=3)
    while first_day in closed or first_day + timedelta(days=1) in closed:
        first_day += timedelta(days=1)
    admin = get_user_model().objects.create_superuser("bench-admin", password=None)
    drive = create_drive(
        fields=DriveFields(
            name_th="ทดสอบรับมือผู้จองจำนวนมาก",
            name_en="Surge benchmark",
            service=flu,
            centres=centres,
            first_day=first_day,
            last_day=first_day + timedelta(days=1),
            weekdays="1234567",
            sessions=[(clock_time(8, 0), clock_time(13, 0))],
            slot_minutes=15,
            capacity_per_slot=5,
            release_at=timezone.now() + timedelta(seconds=release_in),
        ),
        created_by=admin,
    )
    release_drive(drive=drive)
    drive.refresh_from_db()
    return drive


def sign_in_patients(count: int) -> list[tuple[int, str]]:
    """Accounts with a patient each, and a session for each: (patient id, session key)."""
    User = get_user_model()
    users = User.objects.bulk_create(
        [User(username=f"+6690{n:07d}", password="!") for n in range(count)], batch_size=2000
    )
    patients = Patient.objects.bulk_create(
        [
            Patient(
                account=user,
                relationship=Patient.Relationship.SELF,
                first_name="ผู้จอง",
                last_name=str(n),
                date_of_birth=timezone.localdate() - timedelta(days=365 * 40),
                sex=Patient.Sex.FEMALE,
                phone=user.username,
                national_id=national_id(),
                district_id=1001,
            )
            for n, user in enumerate(users)
        ],
        batch_size=2000,
    )
    store = SessionStore()
    expires = timezone.now() + timedelta(days=1)
    sessions = []
    for user in users:
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        sessions.append(
            Session(
                session_key=secrets.token_hex(16),
                session_data=store.encode(data),
                expire_date=expires,
            )
        )
    Session.objects.bulk_create(sessions, batch_size=2000)
    if sessions_are_cached():
        # As signing in through the site leaves them: the session in the cache beside the
        # database (cached_db), and the account and the session's hint kept for the lean
        # route (user_logged_in).
        for user in users:
            user._audit_is_staff = False  # type: ignore[attr-defined]  # patients, just made
        for start in range(0, len(sessions), 2000):
            batch = list(
                zip(users[start : start + 2000], sessions[start : start + 2000], strict=True)
            )
            cache.set_many(
                {
                    CACHED_SESSION_PREFIX + s.session_key: store.decode(s.session_data)
                    for _, s in batch
                },
                timeout=24 * 3600,
            )
            cache.set_many(
                {account_key(user.pk): account_entry(user) for user, _ in batch},
                timeout=ACCOUNT_CACHE_SECONDS,
            )
            cache.set_many(
                {session_account_key(s.session_key): user.pk for user, s in batch},
                timeout=settings.SESSION_COOKIE_AGE,
            )
    return [
        (patient.pk, session.session_key)
        for patient, session in zip(patients, sessions, strict=True)
    ]


def start_server(
    port: int, workers: int, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """uvicorn serving the project as production would, once every worker serves."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "LOG_LEVEL": "WARNING",
        "SMS_WAKE_WORKER": "0",
        **(extra_env or {}),
    }
    return start_uvicorn(
        [
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
            "--timeout-keep-alive", "75", "--backlog", "8192",
        ],
        workers=workers,
        cwd=ROOT,
        env=env,
    )  # fmt: skip


def web_processes(server: subprocess.Popen[bytes]) -> list[int]:
    """The uvicorn master and its workers (not multiprocessing's resource tracker)."""
    pids = [server.pid]
    for task in Path(f"/proc/{server.pid}/task").iterdir():
        for pid in (task / "children").read_text().split():
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(int(pid))
    return pids


def process_ticks(stat: str) -> int:
    """The CPU a process has used (utime and stime) from its /proc/<pid>/stat, in ticks."""
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_seconds(pids: list[int]) -> float:
    return sum(process_ticks(Path(f"/proc/{pid}/stat").read_text()) for pid in pids) / CLOCK_TICKS


def machine_cpu() -> tuple[float, float]:
    """The machine's (busy, all) CPU seconds since boot, over every core (/proc/stat)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks) - idle) / CLOCK_TICKS, sum(ticks) / CLOCK_TICKS


Sample = tuple[float, float, float, float, float, int]


def sample_machine(samples: list[Sample], workers: list[int], stop: threading.Event) -> None:
    """Every half second until `stop`: (time, the machine's busy and all CPU seconds, the web
    workers' CPU seconds, PostgreSQL's, the transactions PostgreSQL counts for the database:
    each statement of the web processes commits by itself), for the timeline."""
    try:
        while not stop.is_set():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT xact_commit + xact_rollback FROM pg_stat_database"
                    " WHERE datname = current_database()"
                )
                transactions = int(cursor.fetchone()[0])
            samples.append(
                (
                    time.time(),
                    *machine_cpu(),
                    cpu_seconds(workers),
                    named_cpu("postgres"),
                    transactions,
                )
            )
            stop.wait(0.5)
    finally:
        connection.close()


def named_cpu(name: str) -> float:
    """CPU seconds of the running processes called `name` (postgres, redis-server)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        if text.split("(", 1)[1].rsplit(")", 1)[0] == name:
            total += process_ticks(text)
    return total / CLOCK_TICKS


def others_cpu() -> tuple[float, float, float]:
    """CPU seconds so far of PostgreSQL, Redis and this client."""
    return named_cpu("postgres"), named_cpu("redis-server"), sum(os.times()[:2])


async def wait_until_up(base: str) -> None:
    async with aiohttp.ClientSession() as client:
        for _ in range(200):
            try:
                async with client.get(f"{base}/api/v1/drives") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start")


async def surge(
    base: str,
    patients: list[tuple[int, str]],
    rate: float,
    release_at: float,
    days: tuple[str, str],
    open_first: bool = False,
) -> tuple[list[tuple[float, int, float, str]], float]:
    """Every patient arrives at their second and keeps asking until booked or refused.
    Returns (sent at, status, latency, code) for every request, and when the first arrived;
    each person's arrival is also noted in `firsts`."""
    results: list[tuple[float, int, float, str]] = []
    csrf = secrets.token_hex(16)
    async with LeanClient.at(base, limit=2000) as client:
        if open_first:
            # As a reverse proxy keeps its connections to the web processes: the arrivals'
            # requests reach the application as they are sent, not once each new connection
            # has been accepted by a busy process.
            await client.open_all()

        async def patient_journey(number: int, patient_id: int, session_key: str) -> None:
            await asyncio.sleep(max(release_at + number / rate - time.time(), 0))
            headers = {
                "Cookie": f"sessionid={session_key}; csrftoken={csrf}",
                "X-CSRFToken": csrf,
                "Idempotency-Key": f"surge-booking-{patient_id}",
                "Content-Type": "application/json",
            }
            body = (
                f'{{"patient_id": {patient_id}, "service": "{SERVICE}", '
                f'"date_from": "{days[0]}", "date_to": "{days[1]}"}}'
            ).encode()
            asks, arrived = 0, time.time()
            firsts.append(arrived)
            while True:
                sent = time.time()
                try:
                    answer = await client.post(
                        "/api/v1/me/appointments/allocate", headers=headers, body=body
                    )
                    payload, status = answer.text(), answer.status
                    retry = float(answer.headers.get("retry-after", "1"))
                except (TimeoutError, ConnectionError, OSError) as error:
                    # A dropped or refused connection: a phone would try again.
                    results.append((sent, 0, time.time() - sent, type(error).__name__))
                    await asyncio.sleep(1)
                    continue
                found = re.search(r'"code":\s*"([a-z_]+)"', payload)
                code = found.group(1) if found else ""
                if status not in (201, 409, 429) and code not in samples:
                    samples[code] = payload[:300]
                results.append((sent, status, time.time() - sent, code))
                asks += 1
                waited = time.time() - arrived
                if asks == 1:
                    first_answers.append(waited)
                if status != 429:
                    asks_until.setdefault(str(status) if status == 201 else code, []).append(asks)
                    final_answers.append(waited)
                    return
                await asyncio.sleep(retry)

        await asyncio.gather(
            *(patient_journey(n, pid, key) for n, (pid, key) in enumerate(patients))
        )
    return results, release_at


def pgbench_baseline(seconds: int = 20) -> float:
    """Transactions per second of `pgbench -N -c 32` (simple updates) on a scratch database."""
    db = connection.settings_dict
    host, port, user = db["HOST"] or "127.0.0.1", str(db["PORT"] or 5432), db["USER"]
    name = f"bench_pgbench_{os.getpid()}"
    base = ["-h", host, "-p", port, "-U", user]
    subprocess.run(["createdb", *base, name], check=True)
    try:
        subprocess.run(
            ["pgbench", *base, "-i", "-s", "10", "-q", name], check=True, capture_output=True
        )
        run = subprocess.run(
            ["pgbench", *base, "-N", "-c", "32", "-j", "2", "-T", str(seconds), name],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        found = re.search(r"tps = ([0-9.]+)", run.stdout)
        return float(found.group(1)) if found else 0.0
    finally:
        subprocess.run(["dropdb", *base, name], check=True)


def timeline(
    results: list[tuple[float, int, float, str]],
    release_at: float,
    machine: list[Sample],
    step: float = 2.0,
) -> None:
    """Per `step` seconds from the release, by when requests were sent: first asks, asks
    again, and the answers (booked, in queue, drive full, other), with the answers' p99; how
    busy the machine's cores, the web workers and PostgreSQL were in those seconds, and the
    statements PostgreSQL counted."""

    def at(moment: float) -> Sample:
        return min(machine, key=lambda sample: abs(sample[0] - moment))

    buckets: dict[int, list[tuple[float, int, float, str]]] = {}
    for row in results:
        buckets.setdefault(int((row[0] - release_at) // step), []).append(row)
    first_asks = Counter(int((sent - release_at) // step) for sent in firsts)
    print(f"Timeline by {step:g} s (sent): first asks + asks again; 201, 429, drive_full, "
          f"other; p99 of their answers; the machine busy, the web workers' and "
          f"PostgreSQL's CPU (of one core); SQL statements (by PostgreSQL's count, which "
          f"lags by up to a second)")  # fmt: skip
    for number in sorted(buckets):
        rows = buckets[number]
        first = first_asks[number]
        kinds = Counter(
            "201" if status == 201 else "429" if status == 429
            else "full" if code == "drive_full" else "other"
            for _, status, _, code in rows
        )  # fmt: skip
        p99 = percentile([row[2] for row in rows], 0.99) * 1000
        start, end = at(release_at + number * step), at(release_at + (number + 1) * step)
        busy = (end[1] - start[1]) / max(end[2] - start[2], 0.001)
        web = (end[3] - start[3]) / max(end[0] - start[0], 0.001)
        database = (end[4] - start[4]) / max(end[0] - start[0], 0.001)
        statements = end[5] - start[5]
        print(f"  {number * step:5.0f} s: {first:5,} + {len(rows) - first:6,}; "
              f"{kinds['201']:5,} {kinds['429']:6,} {kinds['full']:6,} {kinds['other']:4,}; "
              f"p99 {p99:6.0f} ms; {busy:4.0%} {web:4.0%} {database:4.0%}; "
              f"{statements:6,} statements")  # fmt: skip


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * share), len(ordered) - 1)] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--places", type=int, default=5000)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000, help="arrivals per second")
    parser.add_argument("--web-workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--admit-rate", type=int, default=settings.DRIVE_ADMIT_PER_SECOND,
        help="the waiting room's DRIVE_ADMIT_PER_SECOND ceiling (0: none)",
    )  # fmt: skip
    parser.add_argument("--admit-burst", type=int, default=settings.DRIVE_ADMIT_BURST)
    parser.add_argument(
        "--open-connections", action="store_true",
        help="open the client's 2,000 connections before the release, as a reverse proxy keeps "
        "its connections to the web processes (by default each of the first 2,000 arrivals "
        "opens one, and a busy web process accepts them late)",
    )  # fmt: skip
    options = parser.parse_args()
    os.environ["DRIVE_ADMIT_PER_SECOND"] = str(options.admit_rate)
    os.environ["DRIVE_ADMIT_BURST"] = str(options.admit_burst)
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server: the surge is measured there.")

    test_db = connection.creation.create_test_db(verbosity=0, keepdb=False)
    server = None
    try:
        started = time.perf_counter()
        load_reference_data(years=[timezone.localdate().year, timezone.localdate().year + 1])
        patients = sign_in_patients(options.patients)
        drive = open_drive(options.places, release_in=3600)
        places = sum(Slot.objects.filter(drive=drive).values_list("capacity", flat=True))
        print(f"Set up {len(patients):,} signed-in patients and a drive of {places:,} places "
              f"at {drive.centres.count()} centres in "
              f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        settle()
        connection.close()
        port = free_port()
        # Every simulated patient comes from 127.0.0.1: the per-address booking limit (2,000 an
        # hour) would stop the surge at 2,000 places, with a Retry-After of up to an hour.
        server = start_server(
            port, options.web_workers, extra_env={"BOOKINGS_PER_ADDRESS_PER_HOUR": "100000000"}
        )
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_until_up(base))
        release_drive(drive=drive, at=timezone.now() + timedelta(seconds=2))
        drive.refresh_from_db()
        # The first arrival comes at the release the server knows, not before it (nothing is
        # open a moment earlier: someone asking then is told no_slot_available).
        release_at = drive.release_at.timestamp()
        days = (drive.first_day.isoformat(), drive.last_day.isoformat())
        workers = web_processes(server)[1:]
        cpu_before = [cpu_seconds([pid]) for pid in workers]
        others_before = others_cpu()
        machine_before = machine_cpu()
        machine: list[Sample] = []
        stop = threading.Event()
        sampler = threading.Thread(target=sample_machine, args=(machine, workers, stop))
        sampler.start()
        try:
            results, _ = uvloop.run(
                surge(base, patients, options.rate, release_at, days, options.open_connections)
            )
        finally:
            stop.set()
            sampler.join()
        machine_after = machine_cpu()
        # How the load split between the workers: each keeps the connections it accepted.
        cpu = [cpu_seconds([pid]) - before for pid, before in zip(workers, cpu_before, strict=True)]
        others = [after - before for after, before in zip(others_cpu(), others_before, strict=True)]
        busy = (machine_after[0] - machine_before[0]) / max(
            machine_after[1] - machine_before[1], 0.001
        )

        booked = sorted(sent + latency for sent, status, latency, _ in results if status == 201)
        kinds = Counter(
            str(status)
            if status in (201, 409, 429)
            else f"connection error, retried ({code})"
            if status == 0
            else f"other {status} {code}"
            for _, status, _, code in results
        )
        codes = Counter(code for _, status, _, code in results if status == 409)
        waiting = Counter(code for _, status, _, code in results if status == 429)
        latencies = [latency for *_, latency, _ in ((r[0], r[2], r[3]) for r in results)]
        ended = max(sent + latency for sent, _, latency, _ in results)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM booking_slot s WHERE s.drive_id = %s"
                " AND (s.booked > s.capacity OR s.booked <> (SELECT count(*)"
                " FROM booking_appointment a WHERE a.slot_id = s.id AND a.status <> 'cancelled'))",
                [drive.pk],
            )
            overbooked = cursor.fetchone()[0]
            cursor.execute(
                "SELECT count(*) FROM (SELECT a.patient_id FROM booking_appointment a"
                " JOIN booking_slot s ON s.id = a.slot_id WHERE s.service_id = %s"
                " AND a.status <> 'cancelled' GROUP BY a.patient_id HAVING count(*) > 1) d",
                [drive.service_id],
            )
            duplicates = cursor.fetchone()[0]
            cursor.execute(
                "SELECT count(*) FROM booking_appointment a JOIN booking_slot s ON s.id = a.slot_id"
                " WHERE s.drive_id = %s AND a.status <> 'cancelled'",
                [drive.pk],
            )
            appointments = cursor.fetchone()[0]
        server.terminate()
        server.wait(timeout=30)
        server = None
        baseline = pgbench_baseline()

        span = booked[-1] - booked[0] if len(booked) > 1 else 0.0
        rate = len(booked) / span if span else 0.0
        cache_kind = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
        print(f"Web: uvicorn x{options.web_workers}, pool {settings.DATABASE_POOL_SIZE} "
              f"connections each; cache: {cache_kind}; "
              f"waiting room {options.admit_burst} + {options.admit_rate}/s")  # fmt: skip
        print(f"Arrivals: {len(patients):,} patients at {options.rate:,.0f}/s; "
              f"{len(results):,} requests in {ended - release_at:.1f} s")  # fmt: skip
        print(f"Web workers' CPU over the arrivals: "
              f"{', '.join(f'{seconds:.1f} s' for seconds in cpu)} "
              f"(the busiest {max(cpu) / max(sum(cpu), 0.001):.0%}); PostgreSQL {others[0]:.1f} s, "
              f"Redis {others[1]:.1f} s, this client {others[2]:.1f} s; the machine "
              f"{busy:.0%} busy")  # fmt: skip
        print(f"Answers: {dict(sorted(kinds.items()))}; 409 codes: {dict(codes)}; "
              f"429 codes: {dict(waiting)}")  # fmt: skip
        for code, sample in samples.items():
            print(f"  first {code or 'unexpected'} answer: {sample}")
        print(f"Booked: {len(booked):,} of {places:,} places; {rate:,.0f} bookings/s; sold out "
              f"{(booked[-1] - release_at) if len(booked) >= places else float('nan'):.1f} s "
              f"after release")  # fmt: skip
        print(f"Latency (all answers): p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
              f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
              f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms; "
              f"median {statistics.median(latencies) * 1000:.0f} ms")  # fmt: skip
        for status in sorted({status for _, status, _, _ in results}):
            of_kind = [latency for _, kind, latency, _ in results if kind == status]
            print(f"  {status or 'connection error'}: p50 {percentile(of_kind, 0.5) * 1000:.0f} "
                  f"ms, p99 {percentile(of_kind, 0.99) * 1000:.0f} ms "
                  f"({len(of_kind):,} answers)")  # fmt: skip
        for name, waits in (("first", first_answers), ("final", final_answers)):
            print(f"Each person's wait for their {name} answer: "
                  f"p50 {percentile(waits, 0.5):.2f} s, p95 {percentile(waits, 0.95):.2f} s, "
                  f"p99 {percentile(waits, 0.99):.2f} s, longest {max(waits, default=0):.2f} s "
                  f"({len(waits):,} people)")  # fmt: skip
        timeline(results, release_at, machine)
        for outcome, counts in sorted(asks_until.items()):
            print(f"Asks per person told {outcome}: median {statistics.median(counts):.0f}, "
                  f"p90 {percentile(counts, 0.9):.0f}, max {max(counts)}; "
                  f"{sum(counts):,} in all for {len(counts):,} people; "
                  f"by count {dict(sorted(Counter(counts).items()))}")  # fmt: skip
        print(f"Checked in SQL: {appointments:,} appointments; overbooked slots: {overbooked}; "
              f"patients holding two places: {duplicates}")  # fmt: skip
        print(f"pgbench -N -c 32 on the same server: {baseline:,.0f} tps; bookings/s as a share "
              f"of it: {rate / baseline if baseline else 0:.3f}")  # fmt: skip
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        connection.close()
        connection.creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    main()
