"""Telling a centre's desks that its queue changed (booking.services.queue_events): each step of
a visit, a booking, a move, a cancellation and the video lobby are told to the centre's group
once the change commits; nothing is told of a change that rolled back; and a channel layer that
is down costs the change nothing."""

import asyncio
import logging
from collections.abc import Callable
from datetime import date, time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from booking.models import Appointment
from booking.services import queue_events
from booking.services.appointments import (
    cancel_appointment,
    check_in,
    complete_appointment,
    mark_no_show,
    reschedule_appointment,
    start_consultation,
)
from booking.services.queue_events import QueueChange, announce_queue_change, queue_group, send_soon
from clinics.models import Service
from tests.factories import SlotFactory, bangkok, booked
from video.services import admit_patient, leave_lobby, room_for, send_back_to_lobby, wait_in_lobby

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 30)  # the clock fixture's day
Heard = Callable[[], list[tuple[str, int, str]]]


@pytest.fixture
def desks(settings, clock) -> Heard:
    """A listener in the groups of centres 1 and 2 on a fresh in-memory layer; `heard()`
    returns what reached it as (group, appointment id, change). Call it once per test: the
    layer's queues belong to the event loop that first waits on them."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            # The tests move the clock by hours: nothing may expire on the way.
            "CONFIG": {"expiry": 10**6, "group_expiry": 10**6},
        }
    }
    layer = get_channel_layer()
    listeners = {number: async_to_sync(layer.new_channel)() for number in (1, 2)}
    for number, channel in listeners.items():
        async_to_sync(layer.group_add)(queue_group(number), channel)

    async def drain() -> list[tuple[str, int, str]]:
        heard = []
        for number, channel in listeners.items():
            while True:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), timeout=0.05)
                except TimeoutError:
                    break
                assert message["type"] == "queue.changed"
                heard.append((queue_group(number), message["appointment_id"], message["change"]))
        return heard

    return async_to_sync(drain)


@pytest.fixture
def visit(patient, clock) -> Appointment:
    return booked(patient, SlotFactory(start=bangkok(MONDAY, time(9))))


def test_a_check_in_waits_for_the_commit(desks, visit, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        check_in(appointment=visit)

    assert len(callbacks) == 1  # run by the commit
    assert desks() == []


def test_a_check_in_is_told_to_the_centres_desks(desks, visit, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        check_in(appointment=visit)

    assert desks() == [("centre.1.queue", visit.pk, "checked_in")]


def test_a_change_that_rolls_back_is_not_told(desks, visit, django_capture_on_commit_callbacks):
    def check_in_then_fail() -> None:
        with transaction.atomic():
            check_in(appointment=visit)
            raise RuntimeError("the rest of the request failed")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        check_in_then_fail()

    visit.refresh_from_db()
    assert visit.status == Appointment.Status.BOOKED
    assert callbacks == []
    assert desks() == []


def test_each_step_of_a_visit_is_told(
    desks, visit, patient, clock, django_capture_on_commit_callbacks
):
    absent = booked(patient, SlotFactory(start=bangkok(MONDAY, time(8))))
    with django_capture_on_commit_callbacks(execute=True):
        check_in(appointment=visit)
        start_consultation(appointment=visit)
        complete_appointment(appointment=visit)
        clock.move_to(bangkok(MONDAY, time(8, 30)))
        mark_no_show(appointment=absent)

    assert desks() == [
        ("centre.1.queue", visit.pk, "checked_in"),
        ("centre.1.queue", visit.pk, "in_consultation"),
        ("centre.1.queue", visit.pk, "completed"),
        ("centre.1.queue", absent.pk, "no_show"),
    ]


def test_booking_moving_and_cancelling_are_told_to_each_centre_concerned(
    desks, patient, clock, django_capture_on_commit_callbacks
):
    elsewhere = SlotFactory(centre_id=2, start=bangkok(date(2026, 12, 2), time(9)))
    with django_capture_on_commit_callbacks(execute=True):
        appointment = booked(patient, SlotFactory(start=bangkok(date(2026, 12, 2), time(10))))
        reschedule_appointment(appointment=appointment, new_slot_id=elsewhere.pk)
        cancel_appointment(appointment=appointment)

    heard = desks()
    assert ("centre.1.queue", appointment.pk, "booked") in heard
    assert ("centre.1.queue", appointment.pk, "moved") in heard
    assert ("centre.2.queue", appointment.pk, "moved") in heard
    assert ("centre.2.queue", appointment.pk, "cancelled") in heard
    assert ("centre.1.queue", appointment.pk, "cancelled") not in heard


def test_the_video_lobby_is_told(desks, patient, clock, django_capture_on_commit_callbacks):
    video = Service.objects.get(code="video-general")
    appointment = booked(patient, SlotFactory(service=video, start=bangkok(MONDAY, time(10))))
    room = room_for(appointment)
    with django_capture_on_commit_callbacks(execute=True):
        wait_in_lobby(room_id=room.pk)
        leave_lobby(room_id=room.pk)
        wait_in_lobby(room_id=room.pk)
        admit_patient(room_id=room.pk)
        send_back_to_lobby(room_id=room.pk)
        admit_patient(room_id=room.pk)

    changes = [change for _group, pk, change in desks() if pk == appointment.pk]
    assert changes == [
        "checked_in",
        "waiting",
        "left",
        "waiting",
        "admitted",
        "in_consultation",
        "waiting",
        "admitted",
    ]


def test_a_channel_layer_that_is_down_costs_the_change_nothing(
    settings, visit, caplog, django_capture_on_commit_callbacks
):
    # Nothing listens on port 1: every send fails at once.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }

    with (
        caplog.at_level(logging.WARNING, logger="booking.services.queue_events"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        check_in(appointment=visit)

    visit.refresh_from_db()
    assert visit.status == Appointment.Status.CHECKED_IN
    assert "Could not tell centre 1's desks" in caplog.text


def test_no_channel_layer_at_all_is_quietly_nothing(
    settings, visit, django_capture_on_commit_callbacks
):
    settings.CHANNEL_LAYERS = {}

    with django_capture_on_commit_callbacks(execute=True):
        announce_queue_change(centre_id=1, appointment_id=visit.pk, change="checked_in")


def test_changes_of_one_moment_on_the_event_loop_are_told_once_per_centre(settings) -> None:
    """The lean route's sends (send_soon): changes to a centre that come before its send has
    had its turn on the loop make one message, the latest; every centre is told; a change once
    the loop is free again is told on its own."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

    async def told() -> tuple[list[dict[str, object]], dict[str, object]]:
        layer = get_channel_layer()
        desks = {number: await layer.new_channel() for number in (1, 2)}
        for number, channel in desks.items():
            await layer.group_add(queue_group(number), channel)
        send_soon([QueueChange(1, 10, "booked"), QueueChange(2, 20, "booked")])
        send_soon([QueueChange(1, 11, "booked")])
        send_soon([QueueChange(1, 12, "cancelled")])
        first = [await asyncio.wait_for(layer.receive(desks[n]), timeout=30) for n in (1, 2)]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(desks[1]), timeout=0.3)
        send_soon([QueueChange(1, 13, "checked_in")])
        later = await asyncio.wait_for(layer.receive(desks[1]), timeout=30)
        return first, later

    first, later = asyncio.run(told())

    assert first == [
        {"type": "queue.changed", "appointment_id": 12, "change": "cancelled"},
        {"type": "queue.changed", "appointment_id": 20, "change": "booked"},
    ]
    assert later == {"type": "queue.changed", "appointment_id": 13, "change": "checked_in"}


def test_changes_that_come_while_a_send_is_on_its_way_are_sent_next_as_one(monkeypatch) -> None:
    """One send per centre on its way at a time: the changes that come meanwhile are sent
    once it has gone, as one (the latest); another centre's are not held up."""
    sent: list[int] = []

    async def told() -> None:
        through = asyncio.Event()

        async def slow_send(change: QueueChange) -> None:
            sent.append(change.appointment_id)
            if change.centre_id == 1:
                await through.wait()

        monkeypatch.setattr(queue_events, "_asend_queue_change", slow_send)
        send_soon([QueueChange(1, 10, "booked")])
        while not sent:
            await asyncio.sleep(0)
        send_soon([QueueChange(1, 11, "booked"), QueueChange(2, 20, "booked")])
        send_soon([QueueChange(1, 12, "cancelled")])
        for _ in range(10):
            await asyncio.sleep(0)
        assert sent == [10, 20]
        through.set()
        while len(sent) < 3:
            await asyncio.sleep(0.01)
        for _ in range(10):
            await asyncio.sleep(0)

    asyncio.run(asyncio.wait_for(told(), timeout=30))

    assert sent == [10, 20, 12]


def test_after_telling_a_centre_its_desks_are_told_again_only_after_a_pause(settings) -> None:
    """The first change after a quiet moment is told at once; those within the pause after it
    make one message at its end (the latest)."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.QUEUE_CHANGE_PAUSE_MS = 300

    async def told() -> list[dict[str, object]]:
        layer = get_channel_layer()
        desk = await layer.new_channel()
        await layer.group_add(queue_group(1), desk)
        send_soon([QueueChange(1, 10, "booked")])
        first = await asyncio.wait_for(layer.receive(desk), timeout=30)
        send_soon([QueueChange(1, 11, "booked")])
        send_soon([QueueChange(1, 12, "cancelled")])
        with pytest.raises(TimeoutError):  # still in the pause
            await asyncio.wait_for(layer.receive(desk), timeout=0.15)
        second = await asyncio.wait_for(layer.receive(desk), timeout=30)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(desk), timeout=0.5)
        return [first, second]

    assert asyncio.run(told()) == [
        {"type": "queue.changed", "appointment_id": 10, "change": "booked"},
        {"type": "queue.changed", "appointment_id": 12, "change": "cancelled"},
    ]
