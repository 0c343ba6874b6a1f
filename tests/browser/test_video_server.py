"""The site as served for real (uvicorn, as the Procfile runs it): a signalling frame over the
app's message limit is refused by the server before the app reads it."""

import json
from datetime import date, time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from booking.links import video_join_token
from booking.services.consent import record_video_consent
from clinics.models import Service
from tests.factories import SlotFactory, bangkok, booked
from video.services import room_for


def test_a_signalling_frame_over_the_apps_limit_is_closed_with_1009(site, patient, clock, settings):
    video = Service.objects.get(code="video-general")
    visit = booked(patient, SlotFactory(service=video, start=bangkok(date(2026, 11, 30), time(10))))
    record_video_consent(patient=patient, by=None, address=None)
    clock.move_to(bangkok(date(2026, 11, 30), time(9, 50)))
    address = site.replace("http://", "ws://") + (
        f"/ws/rooms/{room_for(visit).code}/?lang=en&token={video_join_token(visit.pk)}"
    )
    limit = settings.VIDEO_MAX_MESSAGE_BYTES

    with connect(address, origin=site, open_timeout=10) as socket:
        kinds = [json.loads(socket.recv(timeout=10))["type"] for _ in range(2)]
        assert kinds == ["welcome", "waiting"]
        socket.send("x" * limit)  # at the limit: the app reads it, and says what is wrong
        assert json.loads(socket.recv(timeout=10))["code"] == "not_json"

        socket.send("x" * (limit + 1))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009  # message too big
