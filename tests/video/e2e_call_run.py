"""One real video call between two headless Chromium browsers, run by tests/video/test_e2e_call.py
inside a network namespace of its own (`unshare -n -- python e2e_call_run.py ...`): nothing
leaves the machine, the media goes over loopback.

It brings `lo` up, prepares a throw-away SQLite database in a temporary VAR_DIR (a clinician at
centre 1, a patient, a video appointment starting in a few minutes), starts uvicorn (one
process, or two sharing a private redis-server with --processes 2: the patient on one, the
clinician on the other), and drives the journey: the patient opens the join link, checks the
camera and joins the lobby; the clinician signs in, finds the patient waiting in the centre's
list, opens the room and admits them; both RTCPeerConnections connect and receive media; they
chat; the clinician ends the visit. It prints one JSON line with the result and exits non-zero
on failure.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyotp

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    # With only `lo` in the namespace, WebRTC must be allowed to use loopback addresses.
    "--allow-loopback-in-peer-connection",
]
PASSWORD = "e2e-video-pass-2569"
AUTHENTICATOR_KEY = pyotp.random_base32()
STEP_MS = 20_000

MEDIA_BYTES_JS = """async () => {
  const pc = window.bmaCall && window.bmaCall.pc;
  if (!pc) return null;
  const bytes = {audio: 0, video: 0};
  (await pc.getStats()).forEach((stats) => {
    if (stats.type === "inbound-rtp") bytes[stats.kind] += stats.bytesReceived || 0;
  });
  return {state: pc.connectionState, audio: bytes.audio, video: bytes.video,
          offers: window.bmaCall.offers, events: window.bmaCall.events,
          quality: window.bmaCall.quality};
}"""


def media_flowing(page: Any, timeout: float = STEP_MS / 1000) -> dict[str, Any]:
    """The page's media reading once audio and video both arrive. Asked from here, since
    wait_for_function takes the promise MEDIA_BYTES_JS returns for a true answer at once."""
    deadline = time.monotonic() + timeout
    while True:
        reading: dict[str, Any] | None = page.evaluate(MEDIA_BYTES_JS)
        if reading and reading["audio"] > 0 and reading["video"] > 0:
            return reading
        if time.monotonic() > deadline:
            raise TimeoutError(f"media did not flow both ways: {reading}")
        page.wait_for_timeout(250)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: Any, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


def prepare_database() -> dict[str, Any]:
    """Migrate, load the reference data and make the people and the visit, around now."""
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.utils import timezone

    from booking.links import video_join_token
    from booking.services.consent import record_video_consent
    from clinics.models import HealthCentre, Service, StaffAuthenticator, StaffMembership
    from clinics.services import grant_membership, load_reference_data
    from tests.factories import PatientFactory, SlotFactory, UserFactory, booked
    from video.services import room_for

    call_command("migrate", interactive=False, verbosity=0)
    year = timezone.localdate().year
    load_reference_data(years=[year, year + 1])
    call_command("collectstatic", interactive=False, verbosity=0)

    doctor = UserFactory(username="doctor-e2e", is_staff=True, first_name="Anong")
    doctor.set_password(PASSWORD)
    doctor.save()
    StaffAuthenticator.objects.create(
        user=doctor, key=AUTHENTICATOR_KEY, confirmed_at=timezone.now()
    )
    grant_membership(
        user=doctor, centre=HealthCentre.objects.get(number=1), role=StaffMembership.Role.CLINICIAN
    )
    patient = PatientFactory(first_name="Somsri")
    start = (timezone.now() + timedelta(minutes=5)).replace(second=0, microsecond=0)
    if timezone.localdate(start) != timezone.localdate():
        # Check-in is only on the appointment's day, and a visit five minutes on would be
        # tomorrow's (the last minutes of a Bangkok day): wait for the new day, at most five
        # minutes, rather than fail at midnight.
        midnight = timezone.localtime(start).replace(hour=0, minute=0, second=0, microsecond=0)
        while timezone.now() < midnight + timedelta(seconds=1):
            time.sleep(1)
        start = (timezone.now() + timedelta(minutes=5)).replace(second=0, microsecond=0)
    slot = SlotFactory(service=Service.objects.get(code="video-general"), start=start)
    visit = booked(patient, slot, enforce_cutoff=False)
    record_video_consent(patient=patient, by=None, address=None)
    room = room_for(visit)
    connections.close_all()
    return {"token": video_join_token(visit.pk), "room_code": room.code, "id": visit.pk}


def appointment_status(appointment_id: int) -> str:
    from booking.models import Appointment

    return str(Appointment.objects.get(pk=appointment_id).status)


def start_server(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--lifespan", "off"]
    command += ["--ws-max-size", env.get("VIDEO_MAX_MESSAGE_BYTES", "65536")]  # as the Procfile
    with log.open("wb") as output:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)


def run_call(patient_base: str, clinician_base: str, visit: dict[str, Any]) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    timings: dict[str, float] = {}
    console: list[str] = []
    started = time.monotonic()

    def mark(step: str) -> None:
        timings[step] = round(time.monotonic() - started, 2)

    with sync_playwright() as playwright:
        browsers = [
            playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(2)
        ]
        try:
            patient, clinician = (browser.new_page() for browser in browsers)
            for who, page in (("patient", patient), ("clinician", clinician)):
                page.set_default_timeout(STEP_MS)
                page.on(
                    "console",
                    lambda message, who=who: console.append(f"{who}: {message.text}"[:300]),
                )
                page.on("pageerror", lambda error, who=who: console.append(f"{who}: {error}"))
            mark("browsers")

            patient.goto(f"{patient_base}/v/{visit['token']}?lang=en")
            patient.click("#check-button")
            patient.wait_for_selector("#join-button:not([disabled])")
            patient.click("#join-button")
            patient.wait_for_function("() => window.bmaCall.state === 'waiting'")
            mark("patient_waiting")

            centre_page = "/video/centres/1/?lang=en"
            clinician.goto(f"{clinician_base}/staff/sign-in?next={quote(centre_page)}")
            clinician.fill("#id_username", "doctor-e2e")
            clinician.fill("#id_password", PASSWORD)
            clinician.click("form button.primary")
            clinician.fill("#code", pyotp.TOTP(AUTHENTICATOR_KEY).now())
            clinician.click("form button.primary")
            clinician.wait_for_url(f"{clinician_base}{centre_page}")
            waiting_row = clinician.locator("#rooms li.waiting")
            waiting_row.get_by_role("link").click()
            clinician.wait_for_url(f"**/video/rooms/{visit['room_code']}?lang=en")
            mark("clinician_in_room_page")
            clinician.click("#check-button")
            clinician.wait_for_selector("#join-button:not([disabled])")
            clinician.click("#join-button")
            clinician.click("#admit-button")
            mark("admitted")

            for page in (patient, clinician):
                page.wait_for_function(
                    "() => window.bmaCall.pc && window.bmaCall.pc.connectionState === 'connected'"
                )
            mark("connected")
            media: dict[str, Any] = {}
            for page in (patient, clinician):
                media_flowing(page)
                page.wait_for_selector("#quality:not([hidden])")
            mark("media_flows")

            patient.fill("#chat-text", "สวัสดีค่ะ คุณหมอ")
            patient.press("#chat-text", "Enter")
            clinician.wait_for_selector("#chat-log li:has-text('สวัสดีค่ะ คุณหมอ')")
            mark("chat")
            for who, page in (("patient", patient), ("clinician", clinician)):
                media[who] = media_flowing(page)
                media[who]["quality_shown"] = page.inner_text("#quality")

            clinician.once("dialog", lambda dialog: dialog.accept())
            clinician.click("#end-button")
            for page in (patient, clinician):
                page.wait_for_function("() => window.bmaCall.state === 'ended'")
            mark("ended")
            return {"timings": timings, "media": media, "console": console[-20:]}
        except Exception as error:
            raise CallFailed(str(error), timings, console) from error
        finally:
            for browser in browsers:
                browser.close()


class CallFailed(Exception):
    def __init__(self, message: str, timings: dict[str, float], console: list[str]) -> None:
        super().__init__(message)
        self.timings = timings
        self.console = console[-30:]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, choices=[1, 2], default=1)
    args = parser.parse_args()
    started = time.monotonic()
    result: dict[str, Any] = {"ok": False, "processes": args.processes}
    children: list[subprocess.Popen[bytes]] = []
    var_dir = Path(tempfile.mkdtemp(prefix="bma-video-e2e-"))
    logs: list[Path] = []
    try:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL")
        }
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            VAR_DIR=str(var_dir),
            DEBUG="false",
            SMS_WAKE_WORKER="false",
            LOG_LEVEL="WARNING",
            PYTHONPATH=str(ROOT),
        )
        if args.processes == 2:
            redis_port = free_port()
            redis_log = var_dir / "redis.log"
            logs.append(redis_log)
            children.append(
                subprocess.Popen(
                    [
                        *("redis-server", "--port", str(redis_port), "--bind", "127.0.0.1"),
                        *("--save", "", "--appendonly", "no", "--logfile", str(redis_log)),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
            wait_for(lambda: socket.create_connection(("127.0.0.1", redis_port)), "redis-server")
        os.environ.update(env)
        for key in ("DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL"):
            if key not in env:
                os.environ.pop(key, None)
        visit = prepare_database()
        result["prepared_seconds"] = round(time.monotonic() - started, 2)

        ports = [free_port() for _ in range(args.processes)]
        for port in ports:
            log = var_dir / f"uvicorn-{port}.log"
            logs.append(log)
            children.append(start_server(port, env, log))
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base in bases:
            wait_for(lambda base=base: http_ok(f"{base}/static/video/room.js"), base)
        result["servers"] = bases
        patient_base, clinician_base = bases[0], bases[-1]
        result.update(run_call(patient_base, clinician_base, visit))
        result["appointment_status"] = appointment_status(visit["id"])
        result["ok"] = result["appointment_status"] == "completed" and all(
            media["state"] == "connected" and media["audio"] > 0 and media["video"] > 0
            for media in result["media"].values()
        )
    except CallFailed as failure:
        result.update(error=str(failure), timings=failure.timings, console=failure.console)
    except Exception as error:
        result.update(error=f"{error}", traceback=traceback.format_exc()[-2000:])
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
        if not result["ok"]:
            result["server_logs"] = {
                log.name: log.read_text(errors="replace")[-3000:] for log in logs if log.exists()
            }
        shutil.rmtree(var_dir, ignore_errors=True)
        result["seconds"] = round(time.monotonic() - started, 2)
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
