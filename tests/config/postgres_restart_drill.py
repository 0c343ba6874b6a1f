"""A fault drill: PostgreSQL restarted under booking load.

Starts a PostgreSQL server of its own (initdb in a temporary folder, run as the postgres user,
on a free port), migrates it, makes patients and open slots, and serves the app with uvicorn
on it. Twelve clients book as fast as they can, and four readers keep fetching a page,
FHIR, a calendar file and open data; once ten bookings have gone through, the server restarts
(`pg_ctl restart -m fast`, which drops every connection). Prints one JSON line: each phase's
answers, whether the app answered bookings again without being restarted, whether any
answer (booking or read) was a 500 rather than 503 with Retry-After, and whether every
booking is whole (each slot's count matches its appointments, each
appointment has its confirmation text). Run by tests/config/test_postgres_restart.py.
"""

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 12
# The restart comes once this many bookings have succeeded (however slow the machine), and the
# load runs on this long after it.
BOOKED_BEFORE_RESTART = 10
RUN_AFTER_RESTART = 6.0
REFUSALS: Counter[str] = Counter()
# What the reader fetches, in turn: each kind of address besides the JSON API.
READ_PATHS = (
    "/",
    "/fhir/r4/Location",
    "/centres/1/closures.ics",
    "/open-data/daily-figures.json",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postgres_bin(name: str) -> str:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not versions:
        raise SystemExit("PostgreSQL's server binaries are not installed")
    return str(versions[-1] / name)


def as_postgres(*command: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True)


def prepare(database_url: str) -> dict[str, Any]:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DATABASE_POOL_SIZE"] = "0"  # this script's checks reconnect after the restart
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connections
    from django.utils import timezone

    from clinics.services import load_reference_data
    from tests.factories import PatientFactory, SlotFactory

    call_command("migrate", interactive=False, verbosity=0)
    year = timezone.localdate().year
    load_reference_data(years=[year, year + 1])
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    slots = [SlotFactory(start=start + timedelta_hours(24 + n), capacity=40).pk for n in range(100)]
    clients = []
    for n in range(CLIENTS):
        patient = PatientFactory()
        session = SessionStore()
        session["_auth_user_id"] = str(patient.account.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = patient.account.get_session_auth_hash()
        session.create()
        clients.append({"patient": patient.pk, "session": session.session_key, "n": n})
    connections.close_all()
    return {"slots": slots, "clients": clients}


def timedelta_hours(hours: int) -> Any:
    from datetime import timedelta

    return timedelta(hours=hours)


def book(base: str, client: dict[str, Any], slot_id: int, key: str) -> int:
    request = urllib.request.Request(
        f"{base}/api/v1/me/appointments",
        data=json.dumps({"patient_id": client["patient"], "slot_id": slot_id}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Cookie": f"sessionid={client['session']}; csrftoken={'x' * 32}",
            "X-CSRFToken": "x" * 32,
            "Idempotency-Key": key,
            "Origin": base,
            "Referer": f"{base}/",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        if error.code == 422:
            body = json.loads(error.read() or b"{}")
            REFUSALS[f"{body.get('code')}: {body.get('message')}"[:120]] += 1
        return int(error.code)
    except OSError:
        return 0  # no answer at all


def read(base: str, path: str) -> int:
    """The status of a GET; a 503 must say when to try again."""
    try:
        with urllib.request.urlopen(f"{base}{path}", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        if error.code == 503 and not error.headers.get("Retry-After"):
            return -503  # counted as wrong: a 503 without Retry-After
        return int(error.code)
    except OSError:
        return 0  # no answer at all


def check_bookings() -> dict[str, Any]:
    from django.db import connections
    from django.db.models import Count, Q

    from booking.models import Appointment, Slot
    from notifications.models import Message

    connections.close_all()  # this script's own connection went with the restart
    active = Q(appointments__status__in=["booked", "checked_in", "in_consultation", "completed"])
    slots = Slot.objects.annotate(holding=Count("appointments", filter=active))
    wrong_counts = [s.pk for s in slots if s.booked != s.holding]
    booked = Appointment.objects.filter(status="booked")
    without_text = booked.exclude(
        pk__in=Message.objects.filter(kind="confirmation").values("appointment_id")
    ).count()
    return {
        "appointments": booked.count(),
        "slots_with_wrong_counts": wrong_counts,
        "appointments_without_confirmation": without_text,
    }


def main() -> int:
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        print(json.dumps({"ok": False, "error": "the drill runs as root (it starts PostgreSQL)"}))
        return 1
    folder = Path(tempfile.mkdtemp(prefix="pg-drill-"))
    data = folder / "data"
    shutil.chown(folder, "postgres")
    pg_port, web_port = free_port(), free_port()
    pg_ctl = postgres_bin("pg_ctl")
    options = f"-p {pg_port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    server = None
    result: dict[str, Any] = {"ok": False}
    try:
        as_postgres(postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
        as_postgres(
            pg_ctl,
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(folder / "postgres.log"),
            "-w",
            "start",
        )
        database_url = f"postgres://postgres@127.0.0.1:{pg_port}/postgres"
        made = prepare(database_url)
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DATABASE_POOL_SIZE": "8",
            "VAR_DIR": str(folder / "var"),
            "SMS_WAKE_WORKER": "false",
            # The load is twelve people booking as fast as they can: not what the limits are for.
            "BOOKINGS_PER_ACCOUNT_PER_HOUR": "0",
            "BOOKINGS_PER_NATIONAL_ID_PER_DAY": "0",
            # Nor the cap on one person's upcoming appointments: with the booking function each
            # of them reached it before the restart was over, and every answer after was a 409.
            "MAX_ACTIVE_BOOKINGS_PER_PATIENT": "0",
        }
        env.pop("REDIS_URL", None)
        with (folder / "uvicorn.log").open("wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host",
                 "127.0.0.1", "--port", str(web_port), "--log-level", "warning"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        base = f"http://127.0.0.1:{web_port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", web_port)) == 0:
                    break
            time.sleep(0.1)

        answers: list[tuple[float, int]] = []
        lock = threading.Lock()
        began = time.monotonic()
        stop_at = [began + 120.0]  # moved to shortly after the restart

        def load(client: dict[str, Any]) -> None:
            chooser = random.Random(client["n"])
            n = 0
            while time.monotonic() < stop_at[0]:
                n += 1
                status = book(
                    base,
                    client,
                    chooser.choice(made["slots"]),
                    f"drill-client-{client['n']}-request-{n}",
                )
                with lock:
                    answers.append((time.monotonic() - began, status))

        reads: list[tuple[float, int]] = []

        def keep_reading(path: str) -> None:
            while time.monotonic() < stop_at[0]:
                status = read(base, path)
                with lock:
                    reads.append((time.monotonic() - began, status))

        threads = [threading.Thread(target=load, args=(c,)) for c in made["clients"]]
        threads += [threading.Thread(target=keep_reading, args=(p,)) for p in READ_PATHS]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with lock:
                if sum(1 for _, status in answers if status == 201) >= BOOKED_BEFORE_RESTART:
                    break
            time.sleep(0.05)
        restart_began = time.monotonic() - began
        as_postgres(
            pg_ctl,
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(folder / "postgres.log"),
            "-m",
            "fast",
            "-w",
            "restart",
        )
        restart_ended = time.monotonic() - began
        stop_at[0] = time.monotonic() + RUN_AFTER_RESTART
        for thread in threads:
            thread.join()

        def phase(first: float, last: float) -> dict[str, int]:
            return dict(Counter(str(s) for t, s in answers if first <= t < last))

        settle = restart_ended + 2.0  # a dropped pooled connection is noticed on its next use
        after = [s for t, s in answers if t >= settle]
        result = {
            "restart_seconds": [round(restart_began, 2), round(restart_ended, 2)],
            "before": phase(0, restart_began),
            "during": phase(restart_began, settle),
            "after": phase(settle, 1e9),
            "recovered": bool(after) and all(s < 500 and s != 0 for s in after),
            "server_errors": sum(1 for _, s in answers if s == 500),
            "reads": dict(Counter(str(s) for _, s in reads)),
            "read_errors": sum(1 for _, s in reads if s not in (200, 429, 503)),
            "refusals": dict(REFUSALS),
            **check_bookings(),
        }
        result["ok"] = bool(
            result["recovered"]
            and not result["server_errors"]
            and not result["read_errors"]
            and not result["slots_with_wrong_counts"]
            and not result["appointments_without_confirmation"]
        )
    except Exception as error:  # reported in the JSON line, with the logs
        import traceback

        result["error"] = repr(error)
        result["traceback"] = traceback.format_exc()[-2000:]
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        subprocess.run(
            ["runuser", "-u", "postgres", "--", pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        log = folder / "uvicorn.log"
        if not result.get("ok") and log.exists():
            result["server_log"] = log.read_text(errors="replace")[-3000:]
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result))
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
