"""A fault drill: Redis stops (a private redis-server, killed and started again by the test).
Booking goes on, with its texts waiting in the outbox and going out once Redis is back; the
video room says it is unavailable instead of hanging."""

import json
import shutil
from collections.abc import Iterator
from datetime import date
from datetime import time as clock_time

import pyotp
import pytest
from asgiref.sync import async_to_sync
from channels.testing.websocket import WebsocketCommunicator
from django.test import Client
from django.utils.timezone import now as clock_now
from pytest_django import Settings

from booking.links import video_join_token
from booking.models import Slot
from booking.vaccination.drives import create_drive, release_drive
from clinics.models import Service, StaffAuthenticator
from config.asgi import application
from notifications.models import Message
from notifications.services.dispatch import send_due_messages
from tests.factories import (
    PatientFactory,
    SlotFactory,
    bangkok,
    book_through_api,
    booked,
    drive_fields,
    passcode_texted_to,
    stock_up,
    vaccine,
)
from tests.redis_server import PrivateRedis
from video.services import room_for

pytestmark = pytest.mark.django_db(transaction=True)

MONDAY = date(2026, 11, 30)


@pytest.fixture
def redis_server(settings: Settings) -> Iterator[PrivateRedis]:
    """Cache and channel layer on a Redis of the test's own, as in production."""
    if shutil.which("redis-server") is None:
        pytest.fail("This drill needs redis-server: run scripts/setup.")
    server = PrivateRedis()
    server.start()
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [server.url]},
        }
    }
    yield server
    server.stop()


def test_booking_goes_on_while_redis_is_down_and_its_texts_go_out_when_it_is_back(
    redis_server, client_for, patient, clock
):
    client = client_for(patient)
    before = SlotFactory(start=bangkok(MONDAY, clock_time(9)))
    during = SlotFactory(start=bangkok(MONDAY, clock_time(11)))
    assert book_through_api(client, patient.pk, before.pk, "before-the-fault").status_code == 201

    redis_server.stop()
    status = book_through_api(client, patient.pk, during.pk, "during-the-fault").status_code
    waiting = Message.objects.filter(
        appointment__slot=during, kind=Message.Kind.CONFIRMATION, status=Message.Status.PENDING
    )
    assert status == 201
    assert waiting.count() == 1

    redis_server.start()
    clock.move_to(bangkok(MONDAY, clock_time(8, 30)))  # past the quiet hours
    send_due_messages(time_budget=10)

    sent = Message.objects.get(appointment__slot=during, kind=Message.Kind.CONFIRMATION)
    assert sent.status == Message.Status.SENT


def test_a_video_room_says_it_is_unavailable_while_redis_is_down(redis_server, patient, clock):
    video = Service.objects.get(code="video-general")
    visit = booked(patient, SlotFactory(service=video, start=bangkok(MONDAY, clock_time(10))))
    clock.move_to(bangkok(MONDAY, clock_time(9, 50)))
    path = f"/ws/rooms/{room_for(visit).code}/?token={video_join_token(visit.pk)}&lang=en"
    redis_server.stop()

    async def enter() -> tuple[dict, dict]:
        socket = WebsocketCommunicator(
            application, path, headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")]
        )
        connected, _ = await socket.connect(timeout=10)
        assert connected
        event = json.loads(await socket.receive_from(timeout=10))
        closing = await socket.receive_output(timeout=10)
        await socket.disconnect()
        return event, closing

    event, closing = async_to_sync(enter)()

    assert event["code"] == "unavailable"
    assert "Video calls are unavailable" in event["message"]
    assert closing == {"type": "websocket.close", "code": 4503}


def test_the_waiting_room_lets_people_through_while_redis_is_down_and_no_place_is_overbooked(
    redis_server, city_admin, client_for, clock, settings
):
    settings.DRIVE_ADMIT_BURST = 1  # with Redis up, one at a time
    for number in (1, 2):
        stock_up(number, vaccine("vaccine-influenza"), 100)
    drive = create_drive(fields=drive_fields(), created_by=city_admin)
    redis_server.stop()
    release_drive(drive=drive)  # its places are counted once Redis is back
    drive.refresh_from_db()
    clock.move_to(drive.release_at)
    slot = Slot.objects.filter(drive=drive).earliest("start")
    people = [PatientFactory(date_of_birth=date(1950, 1, 1)) for _ in range(slot.capacity + 2)]

    answers = [
        book_through_api(
            client_for(person), person.pk, slot.pk, f"through-the-waiting-room-{n}"
        ).status_code
        for n, person in enumerate(people)
    ]

    assert answers == [201] * slot.capacity + [409, 409]  # slot_full, not in_queue
    slot.refresh_from_db()
    assert slot.booked == slot.capacity == slot.appointments.count()


# --- Sign-in lockouts hold while Redis is down --------------------------------------------------

STAFF_PASSWORD = "correct horse battery"  # the factories' password


def staff_sign_in(client: Client, code: str, password: str = STAFF_PASSWORD) -> int:
    response = client.post(
        "/api/v1/auth/sign-in",
        {"username": "nurse1", "password": password, "code": code},
        content_type="application/json",
    )
    return response.status_code


def test_eight_wrong_staff_codes_lock_the_account_while_redis_is_down(
    redis_server, nurse_at_centre_1, clock
):
    key = pyotp.random_base32()
    StaffAuthenticator.objects.create(user=nurse_at_centre_1, key=key, confirmed_at=clock_now())
    redis_server.stop()
    client = Client()

    wrong = [staff_sign_in(client, "000000") for _ in range(8)]
    right = staff_sign_in(client, pyotp.TOTP(key).now())

    assert wrong == [401] * 5 + [429] * 3
    assert right == 429
    assert client.get("/api/v1/auth/me").status_code == 401


def test_the_password_sign_in_limit_holds_while_redis_is_down(
    redis_server, nurse_at_centre_1, clock, settings
):
    settings.SIGN_INS_PER_USER_PER_10_MINUTES = 3
    redis_server.stop()

    tries = [staff_sign_in(Client(), "000000", password="guess") for _ in range(4)]

    assert tries == [401, 401, 401, 429]


def test_passcode_tries_and_requests_are_limited_while_redis_is_down(redis_server, patient, clock):
    redis_server.stop()
    phone = patient.phone

    def ask() -> int:
        response = Client().post(
            "/api/v1/auth/passcode", {"phone": phone}, content_type="application/json"
        )
        return response.status_code

    def sign_in(code: str) -> int:
        response = Client().post(
            "/api/v1/auth/passcode/sign-in",
            {"phone": phone, "code": code},
            content_type="application/json",
        )
        return response.status_code

    assert ask() == 202
    code = passcode_texted_to(phone)
    wrong = [sign_in(f"{(int(code) + 1) % 1_000_000:06d}") for _ in range(5)]
    again = [ask() for _ in range(2)]

    assert wrong == [401] * 5
    assert sign_in(code) == 401
    assert again == [429, 429]
