"""The consultation room's signalling consumer, through the real ASGI application (origin
check, session auth, routing) with Channels' WebsocketCommunicator and the configured channel
layer (in memory, or Redis when REDIS_URL is set)."""

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import date, time, timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing.websocket import WebsocketCommunicator
from django.core.cache import cache
from django.test import Client
from django.utils import translation

from booking.links import video_join_token
from booking.models import Appointment
from booking.services.consent import record_video_consent
from clinics.exceptions import NotFound
from clinics.models import Service
from config.asgi import application
from tests.factories import PatientFactory, SlotFactory, bangkok, booked
from video.limits import take_places
from video.models import ConsultationRoom
from video.services import ice_servers, room_for

pytestmark = pytest.mark.django_db(transaction=True)

START = time(10, 0)

# How long a test waits for an answer that must come: long enough for a loaded machine (CI
# timed out at 3 s); a test that passes never waits it out.
WAIT_SECONDS = 30


@pytest.fixture
def visit(patient, clock):
    video = Service.objects.get(code="video-general")
    appointment = booked(patient, SlotFactory(service=video, start=bangkok(clock_day(), START)))
    record_video_consent(patient=patient, by=None, address=None)
    clock.move_to(bangkok(clock_day(), time(9, 50)))
    return appointment


def clock_day() -> date:
    return date(2026, 11, 30)  # the clock fixture's Monday


def cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def room_path(appointment: Appointment, query: str = "") -> str:
    code = room_for(appointment).code
    return f"/ws/rooms/{code}/" + (f"?{query}" if query else "")


def communicator(path: str, cookie: bytes | None = None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, path, headers=headers)


async def receive(socket: WebsocketCommunicator) -> dict[str, Any]:
    return json.loads(await socket.receive_from(timeout=WAIT_SECONDS))


async def receive_until(socket: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    for _ in range(10):
        event = await receive(socket)
        if event["type"] == kind:
            return event
    raise AssertionError(f"no {kind} event")


async def join(path: str, cookie: bytes | None = None) -> WebsocketCommunicator:
    socket = communicator(path, cookie)
    connected, _ = await socket.connect(timeout=WAIT_SECONDS)
    assert connected
    return socket


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


def test_a_clinician_admits_the_waiting_patient_and_they_signal_chat_and_end(
    visit, clinician_at_centre_1
):
    path = room_path(visit)
    patient_cookie, doctor_cookie = (
        cookie_for(visit.patient.account),
        cookie_for(clinician_at_centre_1),
    )

    async def scenario() -> None:
        patient = await join(path, patient_cookie)
        welcome = await receive(patient)
        assert welcome["type"] == "welcome"
        assert welcome["role"] == "patient"
        assert (await receive(patient))["type"] == "waiting"

        doctor = await join(path, doctor_cookie)
        assert (await receive(doctor))["role"] == "clinician"
        assert (await receive(doctor))["type"] == "patient_waiting"
        assert (await receive(patient))["type"] == "peer_joined"

        await doctor.send_to(text_data=json.dumps({"type": "admit"}))
        # (With Redis, the patient's own "waiting" news may reach the clinician a second time,
        # after the room's state said so: pages treat it as the same news.)
        await receive_until(patient, "admitted")
        await receive_until(doctor, "admitted")

        await patient.send_to(text_data=json.dumps({"type": "offer", "sdp": "v=0 offer"}))
        assert await receive(doctor) == {"type": "offer", "sdp": "v=0 offer"}
        await doctor.send_to(text_data=json.dumps({"type": "answer", "sdp": "v=0 answer"}))
        assert await receive(patient) == {"type": "answer", "sdp": "v=0 answer"}
        candidate = {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0"}
        await doctor.send_to(text_data=json.dumps({"type": "ice", "candidate": candidate}))
        assert await receive(patient) == {"type": "ice", "candidate": candidate}

        await patient.send_to(text_data=json.dumps({"type": "chat", "text": " สวัสดีค่ะ "}))
        for socket in (patient, doctor):
            chat = await receive(socket)
            assert (chat["type"], chat["text"], chat["role"]) == ("chat", "สวัสดีค่ะ", "patient")

        await doctor.send_to(text_data=json.dumps({"type": "end"}))
        assert (await receive(patient))["type"] == "ended"
        assert (await receive(doctor))["type"] == "ended"
        await patient.disconnect()
        await doctor.disconnect()

    run(scenario)
    visit.refresh_from_db()
    assert visit.status == Appointment.Status.COMPLETED
    assert ConsultationRoom.objects.get().ended_at is not None


def test_the_join_link_lets_the_patient_in_without_signing_in(visit):
    path = room_path(visit, f"token={video_join_token(visit.pk)}")

    async def scenario() -> None:
        socket = await join(path)
        welcome = await receive(socket)
        assert (welcome["role"], welcome["name"]) == ("patient", visit.patient.first_name)
        assert (await receive(socket))["type"] == "waiting"
        await socket.disconnect()

    run(scenario)
    visit.refresh_from_db()
    assert visit.status == Appointment.Status.CHECKED_IN


def test_a_guardian_enters_their_childs_room_from_their_own_account(patient, clock):
    child = PatientFactory(account=patient.account, relationship="child", phone="")
    video = Service.objects.get(code="video-general")
    visit = booked(child, SlotFactory(service=video, start=bangkok(clock_day(), START)))
    record_video_consent(patient=child, by=patient.account, address=None)
    clock.move_to(bangkok(clock_day(), time(9, 50)))
    path, cookie = room_path(visit), cookie_for(patient.account)

    async def scenario() -> None:
        socket = await join(path, cookie)
        welcome = await receive(socket)
        assert (welcome["role"], welcome["name"]) == ("patient", child.first_name)
        await receive_until(socket, "waiting")
        await socket.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("anonymous", "forbidden"),
        ("another patient", "forbidden"),
        ("staff of another centre", "forbidden"),
        ("join link of another visit", "forbidden"),
    ],
)
def test_anyone_else_is_refused_clearly(visit, staff_at_centre_2, who, code):
    other = PatientFactory()
    query, cookie = "lang=en", None
    if who == "another patient":
        cookie = cookie_for(other.account)
    elif who == "staff of another centre":
        cookie = cookie_for(staff_at_centre_2)
    elif who == "join link of another visit":
        query = f"lang=en&token={video_join_token(visit.pk + 1)}"
    path = room_path(visit, query)

    async def scenario() -> None:
        socket = await join(path, cookie)
        refusal = await receive(socket)
        assert refusal["type"] == "error"
        assert refusal["message"]
        assert refusal["code"] == code
        closed = await socket.receive_output(timeout=WAIT_SECONDS)
        assert closed["type"] == "websocket.close"
        assert closed["code"] in (4401, 4403)

    run(scenario)
    visit.refresh_from_db()
    assert visit.status == Appointment.Status.BOOKED


def test_an_unknown_room_is_refused(reference_data):
    async def scenario() -> None:
        socket = await join("/ws/rooms/not-a-room/?lang=en")
        refusal = await receive(socket)
        assert refusal["code"] == "not_found"
        assert (await socket.receive_output(timeout=WAIT_SECONDS))["code"] == 4404

    run(scenario)


@pytest.mark.parametrize(
    ("at", "says"),
    [(time(9, 44), "opens at 09:45"), (time(10, 46), "is over")],
)
def test_the_room_opens_15_minutes_before_and_closes_after_the_grace_period(visit, clock, at, says):
    path = room_path(visit, "lang=en")
    cookie = cookie_for(visit.patient.account)
    clock.move_to(bangkok(clock_day(), at))

    async def scenario() -> None:
        socket = await join(path, cookie)
        refusal = await receive(socket)
        assert refusal["code"] == "room_closed"
        assert says in refusal["message"]

    run(scenario)


def test_bad_messages_are_refused_and_the_room_carries_on(visit, clinician_at_centre_1):
    path = room_path(visit, "lang=en")
    patient_cookie = cookie_for(visit.patient.account)

    async def scenario() -> None:
        patient = await join(path, patient_cookie)
        await receive_until(patient, "waiting")
        for raw, code in [
            ("not json", "not_json"),
            (json.dumps({"type": "dance"}), "unknown_type"),
            (json.dumps([1, 2]), "unknown_type"),
            (json.dumps({"type": "chat", "text": "x" * 70_000}), "too_large"),
            (json.dumps({"type": "chat", "text": ""}), "invalid_chat"),
            (json.dumps({"type": "offer", "sdp": 5}), "invalid_sdp"),
            (json.dumps({"type": "offer", "sdp": "v=0"}), "not_admitted"),
            (json.dumps({"type": "admit"}), "not_allowed"),
            (json.dumps({"type": "ice", "candidate": "x"}), "invalid_candidate"),
        ]:
            await patient.send_to(text_data=raw)
            error = await receive(patient)
            assert (error["type"], error["code"]) == ("error", code), raw
        await patient.send_to(bytes_data=b"\x00\x01")
        assert (await receive(patient))["code"] == "not_text"
        await patient.send_to(text_data=json.dumps({"type": "chat", "text": "still here"}))
        assert (await receive(patient))["text"] == "still here"
        await patient.disconnect()

    run(scenario)


def test_a_patient_who_drops_rejoins_the_call_and_the_clinician_hears_of_it(
    visit, clinician_at_centre_1
):
    path = room_path(visit)
    patient_cookie = cookie_for(visit.patient.account)
    doctor_cookie = cookie_for(clinician_at_centre_1)

    async def scenario() -> None:
        patient = await join(path, patient_cookie)
        doctor = await join(path, doctor_cookie)
        await receive_until(patient, "waiting")
        await doctor.send_to(text_data=json.dumps({"type": "admit"}))
        await receive_until(patient, "admitted")
        await receive_until(doctor, "admitted")

        await patient.disconnect()
        assert (await receive_until(doctor, "peer_left"))["role"] == "patient"
        again = await join(path, patient_cookie)
        await receive_until(again, "admitted")
        assert (await receive_until(doctor, "peer_joined"))["name"] == visit.patient.first_name
        await again.send_to(text_data=json.dumps({"type": "offer", "sdp": "v=0 again"}))
        assert (await receive_until(doctor, "offer"))["sdp"] == "v=0 again"

        await doctor.send_to(text_data=json.dumps({"type": "lobby"}))
        await receive_until(again, "sent_to_lobby")
        await again.send_to(text_data=json.dumps({"type": "offer", "sdp": "v=0"}))
        assert (await receive_until(again, "error"))["code"] == "not_admitted"
        await again.disconnect()
        await doctor.disconnect()

    run(scenario)


def test_a_patients_lobby_wait_ends_when_they_leave(visit):
    path = room_path(visit)
    cookie = cookie_for(visit.patient.account)

    async def scenario() -> None:
        socket = await join(path, cookie)
        await receive_until(socket, "waiting")
        await socket.send_to(text_data=json.dumps({"type": "leave"}))
        assert (await socket.receive_output(timeout=WAIT_SECONDS))["type"] == "websocket.close"
        await socket.disconnect()

    run(scenario)
    assert ConsultationRoom.objects.get().patient_waiting_since is None


def test_turn_credentials_follow_the_turn_rest_scheme_and_expire(settings):
    settings.VIDEO_STUN_URLS = ["stun:127.0.0.1:3478"]
    settings.VIDEO_TURN_URLS = ["turn:127.0.0.1:3478?transport=udp"]
    settings.VIDEO_TURN_SECRET = "shared-with-coturn"
    settings.VIDEO_TURN_TTL_SECONDS = 600

    stun, turn = ice_servers(who="patient-12", now=1_800_000_000)

    assert stun == {"urls": ["stun:127.0.0.1:3478"]}
    assert turn["username"] == "1800000600:patient-12"
    expected = hmac.new(b"shared-with-coturn", b"1800000600:patient-12", hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(expected).decode()
    assert "shared-with-coturn" not in json.dumps([stun, turn])


def test_without_turn_settings_no_credentials_are_made(settings):
    settings.VIDEO_TURN_URLS = []
    settings.VIDEO_STUN_URLS = []

    assert ice_servers(who="patient-1") == []


def test_only_video_appointments_have_a_room(patient, clock):
    in_person = booked(patient, SlotFactory(start=bangkok(clock_day(), START) + timedelta(days=1)))

    with translation.override("en"), pytest.raises(NotFound, match="not a video call"):
        room_for(in_person)


async def refused(socket: WebsocketCommunicator) -> tuple[str, int]:
    """The code of the error event a refused connection gets, and its close code."""
    event = await receive_until(socket, "error")
    assert event["message"]
    closed = await socket.receive_output(timeout=WAIT_SECONDS)
    assert closed["type"] == "websocket.close"
    return event["code"], closed["code"]


def test_a_join_link_opens_only_so_many_connections_at_once(visit, settings):
    settings.VIDEO_SOCKETS_PER_JOIN_LINK = 2
    path = room_path(visit, f"lang=en&token={video_join_token(visit.pk)}")

    async def scenario() -> None:
        first, second = await join(path), await join(path)
        for socket in (first, second):
            await receive_until(socket, "waiting")

        assert await refused(await join(path)) == ("too_many_connections", 4429)

        await first.disconnect()  # its place is given back
        again = await join(path)
        await receive_until(again, "waiting")
        await again.disconnect()
        await second.disconnect()

    run(scenario)


def test_a_room_opens_only_so_many_connections_at_once_whoever_they_are(
    visit, clinician_at_centre_1, settings
):
    settings.VIDEO_SOCKETS_PER_ROOM = 2
    path = room_path(visit, "lang=en")
    patient_cookie = cookie_for(visit.patient.account)
    doctor_cookie = cookie_for(clinician_at_centre_1)

    async def scenario() -> None:
        patient = await join(path, patient_cookie)
        doctor = await join(path, doctor_cookie)
        await receive_until(doctor, "patient_waiting")

        second_tab = await join(path, doctor_cookie)
        code, close_code = await refused(second_tab)
        assert (code, close_code) == ("too_many_connections", 4429)
        await patient.send_to(text_data=json.dumps({"type": "chat", "text": "still here"}))
        assert (await receive_until(doctor, "chat"))["text"] == "still here"
        await patient.disconnect()
        await doctor.disconnect()

    run(scenario)


def test_a_refused_connection_holds_no_place(visit, settings):
    settings.VIDEO_SOCKETS_PER_ROOM = 1
    path = room_path(visit, "lang=en")
    stranger = cookie_for(PatientFactory().account)
    patient_cookie = cookie_for(visit.patient.account)

    async def scenario() -> None:
        for _ in range(3):
            assert (await refused(await join(path, stranger)))[0] == "forbidden"
        patient = await join(path, patient_cookie)
        await receive_until(patient, "waiting")
        await patient.disconnect()

    run(scenario)


def test_chatting_too_fast_is_refused_message_by_message_and_the_call_carries_on(visit, settings):
    settings.VIDEO_CHATS_PER_10_SECONDS = 3
    path = room_path(visit, "lang=en")
    cookie = cookie_for(visit.patient.account)

    async def scenario() -> None:
        patient = await join(path, cookie)
        await receive_until(patient, "waiting")
        for number in range(3):
            await patient.send_to(text_data=json.dumps({"type": "chat", "text": f"{number}"}))
            assert (await receive(patient))["text"] == f"{number}"

        await patient.send_to(text_data=json.dumps({"type": "chat", "text": "one too many"}))
        error = await receive(patient)
        assert (error["type"], error["code"]) == ("error", "too_many_messages")
        assert "too quickly" in error["message"]

        await patient.send_to(text_data=json.dumps({"type": "leave"}))
        left = await patient.receive_output(timeout=WAIT_SECONDS)
        assert left["code"] == 1000  # still connected
        await patient.disconnect()

    run(scenario)


def test_an_open_connection_keeps_its_place_beyond_the_lease(visit, settings, clock):
    clock.move_to(bangkok(clock_day(), time(9, 50)), tick=True)  # so that leases run out
    settings.VIDEO_SOCKETS_PER_ROOM = 1
    settings.VIDEO_SOCKET_LEASE_SECONDS = 1  # renewed every third of a second
    path = room_path(visit, "lang=en")
    cookie = cookie_for(visit.patient.account)
    lapsing = take_places(room_code="another room", join_token=None, holder="not renewed")

    async def scenario() -> None:
        patient = await join(path, cookie)
        await receive_until(patient, "waiting")
        for _ in range(200):  # until a place taken at the same time, not renewed, has lapsed
            if await sync_to_async(cache.get)(lapsing.keys[0]) is None:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the lease did not run out")

        assert (await refused(await join(path, cookie)))[1] == 4429
        await patient.disconnect()

    run(scenario)
