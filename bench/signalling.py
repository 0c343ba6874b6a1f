"""Benchmark: video-room signalling through the real ASGI stack and channel layer.

On a throw-away SQLite database it books `--rooms` video appointments, starts uvicorn serving
the project's ASGI application and opens two WebSockets per room, as browsers do: the patient
with the join link, the clinician signed in. The clinician admits the patient; then in every
room at once the clinician sends ICE messages, one at a time (flat out, or one every
`--interval` seconds for a steady load), and the patient's side sends each
straight back, so each message crosses the server (and the channel layer) twice. It prints the
round-trip p50/p99, messages lost (sent but never echoed), and the server's memory per idle
connection (resident memory before and after the connections were opened, once idle).

With REDIS_URL set, the channel layer is Redis (pub/sub) and two uvicorn processes serve: each
patient on one and each clinician on the other, so every message goes through Redis. Nothing
but loopback is used. A benchmark prints figures: it asserts nothing.

    .venv/bin/python bench/signalling.py [--rooms 200] [--messages 50] [--interval 0.5]
    REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/signalling.py --rooms 200
"""

import argparse
import asyncio
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="bench-signalling-")
os.environ.pop("DATABASE_URL", None)  # SQLite in the throw-away folder, shared by the servers

import django  # noqa: E402

django.setup()

import aiohttp  # noqa: E402
from django.contrib.auth import (  # noqa: E402
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
)
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.contrib.sessions.models import Session  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from booking.links import video_join_token  # noqa: E402
from booking.models import Appointment, Patient, Slot  # noqa: E402
from booking.services.consent import record_video_consent  # noqa: E402
from clinics.models import HealthCentre, Service, StaffMembership  # noqa: E402
from clinics.services import grant_membership, load_reference_data  # noqa: E402
from config.event_loop import UVICORN_LOOP  # noqa: E402
from tests.factories import national_id  # noqa: E402
from video.services import open_rooms_for  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare(rooms: int) -> tuple[str, list[tuple[str, str]]]:
    """The database: `rooms` video appointments in one slot starting now, and a clinician.
    Returns the clinician's session key and (room code, join token) per room."""
    call_command("migrate", verbosity=0)
    load_reference_data(years=[timezone.localdate().year])
    centre = HealthCentre.objects.get(number=1)
    User = get_user_model()
    doctor = User.objects.create_user("bench-doctor", password=None)
    grant_membership(user=doctor, centre=centre, role=StaffMembership.Role.CLINICIAN)
    start = timezone.now().replace(microsecond=0)
    slot = Slot.objects.create(
        centre=centre,
        service=Service.objects.get(code="video-general"),
        start=start,
        end=start + timedelta(hours=2),
        capacity=rooms,
        booked=rooms,
    )
    users = User.objects.bulk_create(
        [User(username=f"+6691{n:07d}", password="!") for n in range(rooms)]
    )
    patients = Patient.objects.bulk_create(
        Patient(
            account=user,
            first_name="ผู้ป่วย",
            last_name=str(n),
            date_of_birth=timezone.localdate() - timedelta(days=365 * 40),
            sex=Patient.Sex.FEMALE,
            phone=user.username,
            national_id=national_id(),
        )
        for n, user in enumerate(users)
    )
    for patient in patients:  # each has accepted the consent a first video visit asks for
        record_video_consent(patient=patient, by=patient.account, address=None)
    appointments = Appointment.objects.bulk_create(
        Appointment(
            patient=patient,
            slot=slot,
            visit_mode="video",
            channel=Appointment.Channel.API,
            booked_by=patient.account,
        )
        for patient in patients
    )
    codes = open_rooms_for(appointments)
    session = Session.objects.create(
        session_key=secrets.token_hex(16),
        session_data=SessionStore().encode(
            {
                SESSION_KEY: str(doctor.pk),
                BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: doctor.get_session_auth_hash(),
            }
        ),
        expire_date=timezone.now() + timedelta(days=1),
    )
    return session.session_key, [
        (codes[appointment.pk].code, video_join_token(appointment.pk))
        for appointment in appointments
    ]


def start_server(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "config.asgi:application", "--loop", UVICORN_LOOP,
            "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log", "--log-level", "warning", "--ws-max-queue", "1024",
        ],
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING", "SMS_WAKE_WORKER": "0"},
    )  # fmt: skip


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def wait_until_up(port: int) -> None:
    async with aiohttp.ClientSession() as client:
        for _ in range(300):
            try:
                async with client.get(f"http://127.0.0.1:{port}/fhir/r4/metadata") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start")


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, object]:
    while True:
        event = json.loads(await asyncio.wait_for(ws.receive_str(), timeout=30))
        if event["type"] == kind:
            return event


async def run(args: argparse.Namespace, doctor_session: str, rooms: list[tuple[str, str]]) -> None:
    ports = [free_port()] if not os.environ.get("REDIS_URL") else [free_port(), free_port()]
    servers = [start_server(port) for port in ports]
    patient_port, doctor_port = ports[0], ports[-1]
    try:
        for port in ports:
            await wait_until_up(port)
        await asyncio.sleep(1)
        before = sum(resident_kib(server.pid) for server in servers)
        headers = {"Origin": "http://localhost"}
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as client:
            pairs = []
            for start in range(0, len(rooms), 20):  # open in batches, as arrivals spread out
                batch = rooms[start : start + 20]

                async def open_pair(code: str, token: str) -> tuple[object, object]:
                    patient = await client.ws_connect(
                        f"ws://127.0.0.1:{patient_port}/ws/rooms/{code}/?token={token}",
                        headers=headers,
                    )
                    await next_of(patient, "waiting")
                    doctor = await client.ws_connect(
                        f"ws://127.0.0.1:{doctor_port}/ws/rooms/{code}/",
                        headers={**headers, "Cookie": f"sessionid={doctor_session}"},
                    )
                    await next_of(doctor, "welcome")
                    return patient, doctor

                pairs += await asyncio.gather(*(open_pair(c, t) for c, t in batch))
            await asyncio.sleep(2)
            idle = sum(resident_kib(server.pid) for server in servers)
            connections = 2 * len(pairs)

            async def admit(patient: object, doctor: object) -> None:
                await doctor.send_str(json.dumps({"type": "admit"}))  # type: ignore[attr-defined]
                await next_of(patient, "admitted")  # type: ignore[arg-type]

            await asyncio.gather(*(admit(p, d) for p, d in pairs))

            round_trips: list[float] = []
            lost = 0

            async def echo(patient: aiohttp.ClientWebSocketResponse) -> None:
                async for message in patient:
                    event = json.loads(message.data)
                    if event.get("type") == "ice":
                        await patient.send_str(json.dumps(event))

            async def talk(doctor: aiohttp.ClientWebSocketResponse) -> None:
                nonlocal lost
                await asyncio.sleep(random.random() * args.interval)  # rooms out of step
                for n in range(args.messages):
                    if n:
                        await asyncio.sleep(args.interval)
                    sent = time.perf_counter()
                    candidate = {"candidate": f"candidate:{n} 1 udp 1 127.0.0.1 9 typ host"}
                    await doctor.send_str(json.dumps({"type": "ice", "candidate": candidate}))
                    try:
                        while True:
                            event = json.loads(await asyncio.wait_for(doctor.receive_str(), 5))
                            if event.get("candidate") == candidate:
                                round_trips.append(time.perf_counter() - sent)
                                break
                    except TimeoutError:
                        lost += 1

            echoes = [asyncio.create_task(echo(p)) for p, _ in pairs]  # type: ignore[arg-type]
            started = time.perf_counter()
            await asyncio.gather(*(talk(d) for _, d in pairs))  # type: ignore[arg-type]
            elapsed = time.perf_counter() - started
            for task in echoes:
                task.cancel()
            for patient, doctor in pairs:
                await patient.close()  # type: ignore[attr-defined]
                await doctor.close()  # type: ignore[attr-defined]
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)

    sent_total = len(pairs) * args.messages
    ordered = sorted(round_trips)
    layer = "Redis pub/sub, 2 uvicorn processes" if len(ports) == 2 else "in memory, 1 process"
    print(f"channel layer: {layer}; rooms: {len(pairs)}; connections: {connections}")
    print(f"messages sent: {sent_total:,}; echoed back: {len(round_trips):,}; lost: {lost}")
    print(f"throughput: {2 * len(round_trips) / elapsed:,.0f} relayed messages/s")
    print(
        f"round trip: p50 {statistics.median(ordered) * 1000:.1f} ms, "
        f"p99 {ordered[int(len(ordered) * 0.99) - 1] * 1000:.1f} ms"
    )
    print(f"memory per idle connection: {(idle - before) / connections:.0f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--messages", type=int, default=50, help="per room")
    parser.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="seconds between a room's messages (0: each room sends as fast as it can)",
    )
    args = parser.parse_args()
    doctor_session, rooms = prepare(args.rooms)
    asyncio.run(run(args, doctor_session, rooms))


if __name__ == "__main__":
    main()
