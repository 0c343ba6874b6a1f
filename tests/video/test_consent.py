"""Before the first video visit the patient accepts the privacy notice and the telemedicine
consent (Medical Council announcement 54/2563), recorded with each text's version; the room
refuses them until then, and a new version of a text asks again."""

import json
from datetime import date, time

import pytest
from asgiref.sync import async_to_sync
from channels.testing.websocket import WebsocketCommunicator

from booking.links import video_join_token
from booking.models import PatientConsent
from booking.services import consent
from clinics.models import Service
from config.asgi import application
from tests.factories import SlotFactory, bangkok, booked
from video.services import room_for

MONDAY = date(2026, 11, 30)


@pytest.fixture
def visit(patient, clock):
    video = Service.objects.get(code="video-general")
    return booked(patient, SlotFactory(service=video, start=bangkok(MONDAY, time(10))))


@pytest.mark.django_db
def test_the_join_link_asks_for_consent_before_the_room(visit, client):
    response = client.get(f"/v/{video_join_token(visit.pk)}?lang=en")

    page = response.content.decode()
    assert "Before your video visit" in page
    assert "54/2563" in page
    assert "call-config" not in page


@pytest.mark.django_db
def test_both_boxes_are_needed_and_nothing_is_recorded_without_them(visit, client):
    response = client.post(f"/v/{video_join_token(visit.pk)}?lang=en", {"privacy": "yes"})

    assert response.status_code == 400
    assert "Tick both boxes" in response.content.decode()
    assert not PatientConsent.objects.exists()


@pytest.mark.django_db
def test_accepting_records_both_texts_with_their_versions_and_opens_the_room(visit, client):
    path = f"/v/{video_join_token(visit.pk)}"

    accepted = client.post(
        f"{path}?lang=en", {"privacy": "yes", "telemedicine": "yes"}, REMOTE_ADDR="203.0.113.7"
    )
    room = client.get(f"{path}?lang=en")

    assert accepted.status_code == 302
    assert set(
        PatientConsent.objects.filter(patient=visit.patient).values_list(
            "kind", "version", "address"
        )
    ) == {("privacy", "2026-11-22", "203.0.113.7"), ("telemedicine", "2026-11", "203.0.113.7")}
    assert "call-config" in room.content.decode()


@pytest.mark.django_db
def test_a_new_version_of_a_text_asks_again(visit, client, monkeypatch):
    consent.record_video_consent(patient=visit.patient, by=None, address=None)
    monkeypatch.setitem(consent.CURRENT_VERSIONS, PatientConsent.Kind.TELEMEDICINE, "2027-01")

    page = client.get(f"/v/{video_join_token(visit.pk)}?lang=en").content.decode()

    assert "Before your video visit" in page


@pytest.mark.django_db(transaction=True)
def test_the_room_refuses_a_patient_who_has_not_consented(visit, clock):
    clock.move_to(bangkok(MONDAY, time(9, 50)))
    token = video_join_token(visit.pk)
    path = f"/ws/rooms/{room_for(visit).code}/?token={token}&lang=en"

    async def enter() -> tuple[dict, dict]:
        socket = WebsocketCommunicator(
            application, path, headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")]
        )
        await socket.connect(timeout=5)
        event = json.loads(await socket.receive_from(timeout=5))
        closing = await socket.receive_output(timeout=5)
        return event, closing

    event, closing = async_to_sync(enter)()

    assert event["code"] == "consent_needed"
    assert closing == {"type": "websocket.close", "code": 4403}
