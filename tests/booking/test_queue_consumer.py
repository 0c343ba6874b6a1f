"""The staff desk's live queue socket, through the real ASGI application and the configured
channel layer: staff of the centre hear of each change once it commits; anyone else is
refused."""

import copy
import json
import uuid
from datetime import date, time

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing.websocket import WebsocketCommunicator
from django.test import Client

from booking.services.appointments import check_in
from clinics.models import Service
from config.asgi import application
from tests.factories import SlotFactory, bangkok, booked, walked_in
from video.services import room_for, wait_in_lobby

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def channel_layer_of_its_own(settings):
    """With Redis, a group name of this test's own: parallel test runs share the server, and
    another's check-in at "centre 1" must not reach this test's desk."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    if "redis" in layers["default"]["BACKEND"]:
        layers["default"].setdefault("CONFIG", {})["prefix"] = f"test-{uuid.uuid4().hex[:12]}"
        settings.CHANNEL_LAYERS = layers


MONDAY = date(2026, 11, 30)


def cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def socket(number: int, cookie: bytes | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, f"/ws/centres/{number}/queue/", headers=headers)


def test_staff_of_the_centre_hear_of_a_check_in(nurse_at_centre_1, patient, clock):
    visit = booked(patient, SlotFactory(start=bangkok(MONDAY, time(9))))
    cookie = cookie_for(nurse_at_centre_1)

    async def listen() -> dict:
        desk = socket(1, cookie)
        connected, _ = await desk.connect(timeout=5)
        assert connected
        await database_sync_to_async(check_in)(appointment=visit)
        event = json.loads(await desk.receive_from(timeout=5))
        await desk.disconnect()
        return event

    event = async_to_sync(listen)()

    assert event == {"type": "queue_changed", "appointment_id": visit.pk, "change": "checked_in"}


def test_staff_of_the_centre_hear_of_a_walk_in_added(nurse_at_centre_1, patient, clock):
    cookie = cookie_for(nurse_at_centre_1)

    async def listen() -> tuple[dict, int]:
        desk = socket(1, cookie)
        connected, _ = await desk.connect(timeout=5)
        assert connected
        walk_in = await database_sync_to_async(walked_in)(patient)
        event = json.loads(await desk.receive_from(timeout=5))
        await desk.disconnect()
        return event, walk_in.pk

    event, walk_in_id = async_to_sync(listen)()

    assert event == {"type": "walk_in_changed", "walk_in_id": walk_in_id, "change": "added"}


def test_a_change_at_another_centre_is_not_heard(nurse_at_centre_1, patient, clock):
    elsewhere = booked(patient, SlotFactory(centre_id=2, start=bangkok(MONDAY, time(9))))
    cookie = cookie_for(nurse_at_centre_1)

    async def listen() -> bool:
        desk = socket(1, cookie)
        await desk.connect(timeout=5)
        await database_sync_to_async(check_in)(appointment=elsewhere)
        quiet = await desk.receive_nothing(timeout=0.5)
        await desk.disconnect()
        return quiet

    assert async_to_sync(listen)()


@pytest.mark.parametrize("who", ["anonymous", "other-centre"])
def test_others_are_refused(who, staff_at_centre_2, reference_data):
    cookie = None if who == "anonymous" else cookie_for(staff_at_centre_2)

    async def knock() -> dict:
        desk = socket(1, cookie)
        await desk.connect(timeout=5)
        # Opened, then closed with the code, so that a browser can read it and stop trying.
        return await desk.receive_output(timeout=5)

    closed = async_to_sync(knock)()

    assert closed == {"type": "websocket.close", "code": 4403}


def test_staff_of_the_centre_hear_a_patient_start_waiting_in_the_video_lobby(
    nurse_at_centre_1, patient, clock
):
    video = Service.objects.get(code="video-general")
    visit = booked(patient, SlotFactory(service=video, start=bangkok(MONDAY, time(10))))
    room = room_for(visit)
    cookie = cookie_for(nurse_at_centre_1)

    async def listen() -> list[dict]:
        desk = socket(1, cookie)
        connected, _ = await desk.connect(timeout=5)
        assert connected
        await database_sync_to_async(wait_in_lobby)(room_id=room.pk)
        events = [json.loads(await desk.receive_from(timeout=5)) for _ in range(2)]
        await desk.disconnect()
        return events

    events = async_to_sync(listen)()

    assert [event["change"] for event in events] == ["checked_in", "waiting"]
    assert {event["appointment_id"] for event in events} == {visit.pk}
