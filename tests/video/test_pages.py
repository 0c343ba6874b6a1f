"""The video call pages through Django's test client: the patient's page from the join link,
the clinician's room and list pages (staff only), and the join link on the appointment page.
The call itself runs in real browsers in test_e2e_call.py."""

import json
from datetime import date, time

import pytest

from booking.links import appointment_link_token, video_join_token
from booking.services.appointments import cancel_appointment
from booking.services.consent import record_video_consent
from clinics.models import Service
from tests.factories import SlotFactory, bangkok, booked
from video.services import room_for

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 30)


@pytest.fixture
def visit(patient, clock):
    video = Service.objects.get(code="video-general")
    record_video_consent(patient=patient, by=None, address=None)
    return booked(patient, SlotFactory(service=video, start=bangkok(MONDAY, time(10))))


def call_config(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="call-config" type="application/json">')
    body = html[html.index(">", start) + 1 : html.index("</script>", start)]
    return json.loads(body)


def test_the_join_link_opens_the_patients_room_page_without_signing_in(visit, client):
    token = video_join_token(visit.pk)

    response = client.get(f"/v/{token}?lang=en")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Check my camera and microphone" in page
    assert "Join the video call" in page
    assert "You can join from 09:45" in page
    assert 'id="leave-button"' in page
    assert 'id="admit-button"' not in page
    config = call_config(response)
    code = room_for(visit).code
    assert config["role"] == "patient"
    assert config["socket"] == f"/ws/rooms/{code}/?token={token}&lang=en"
    assert config["texts"]["waiting"].startswith("Please wait")


def test_an_early_join_counts_down_to_the_room_opening_rather_than_refuse(visit, client, clock):
    token = video_join_token(visit.pk)

    early = call_config(client.get(f"/v/{token}?lang=en"))  # 07:00; it opens at 09:45
    clock.move_to(bangkok(MONDAY, time(9, 50)))
    open_now = call_config(client.get(f"/v/{token}?lang=en"))

    assert early["opens_in"] == (2 * 60 + 45) * 60
    assert early["texts"]["opens_in"].startswith("The room opens in %(time)s.")
    assert open_now["opens_in"] == 0


def test_the_patients_page_is_in_thai_unless_english_is_asked_for(visit, client):
    response = client.get(f"/v/{video_join_token(visit.pk)}")

    assert '<html lang="th">' in response.content.decode()
    assert call_config(response)["socket"].endswith("&lang=th")


@pytest.mark.parametrize(
    "token",
    ["not-a-token", "1-aaaaaaaaaaaaaaaa", "appointment-link"],
)
def test_an_invalid_join_link_says_so_with_404(visit, client, token):
    if token == "appointment-link":  # the appointment page's token does not open the room
        token = appointment_link_token(visit.pk)

    response = client.get(f"/v/{token}?lang=en")

    assert response.status_code == 404
    assert "This link cannot be used" in response.content.decode()
    assert "call-config" not in response.content.decode()


def test_the_join_link_of_an_appointment_in_person_is_not_a_room(patient, client, clock):
    visit = booked(patient, SlotFactory(start=bangkok(MONDAY, time(10))))

    response = client.get(f"/v/{video_join_token(visit.pk)}?lang=en")

    assert response.status_code == 404
    assert "not a video call" in response.content.decode()


def test_a_clinician_of_the_centre_opens_the_room_page(visit, clinician_at_centre_1, client_for):
    code = room_for(visit).code

    response = client_for(clinician_at_centre_1).get(f"/video/rooms/{code}?lang=en")

    assert response.status_code == 200
    page = response.content.decode()
    for button in ("Admit", "Send back to lobby", "End visit"):
        assert button in page
    assert visit.patient.first_name in page
    config = call_config(response)
    assert (config["role"], config["socket"]) == ("clinician", f"/ws/rooms/{code}/?lang=en")
    assert "/video/centres/1/?lang=en" in page


def test_an_anonymous_visitor_is_sent_to_sign_in_first(visit, client):
    code = room_for(visit).code

    response = client.get(f"/video/rooms/{code}")

    assert response.status_code == 302
    assert response["Location"].startswith("/staff/sign-in?next=/video/rooms/")


@pytest.mark.parametrize("who", ["the patient", "staff of another centre"])
def test_others_may_not_open_the_clinicians_pages(visit, staff_at_centre_2, client_for, who):
    client = client_for(visit.patient if who == "the patient" else staff_at_centre_2)
    code = room_for(visit).code

    for path in (f"/video/rooms/{code}?lang=en", "/video/centres/1/?lang=en"):
        response = client.get(path)
        assert response.status_code == 403
        assert "Only the health centre" in response.content.decode()


def test_an_unknown_room_or_centre_is_404_for_staff(clinician_at_centre_1, client_for):
    client = client_for(clinician_at_centre_1)

    assert client.get("/video/rooms/no-such-room?lang=en").status_code == 404
    assert client.get("/video/centres/999/?lang=en").status_code == 404


def test_the_centres_list_page_polls_the_rooms_api(clinician_at_centre_1, client_for):
    response = client_for(clinician_at_centre_1).get("/video/centres/1/?lang=en")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-api="/api/v1/staff/centres/1/video/rooms"' in page
    assert "video/centre_rooms.js" in page
    assert "Mon 30 Nov 2026" in page


def test_the_appointment_page_links_to_the_video_call(visit, client):
    response = client.get(f"/a/{appointment_link_token(visit.pk)}?lang=en")

    assert f'href="/v/{video_join_token(visit.pk)}?lang=en"' in response.content.decode()
    assert "Join the video call" in response.content.decode()


def test_a_cancelled_or_in_person_appointment_has_no_join_link(visit, patient, client):
    in_person = booked(patient, SlotFactory(start=bangkok(MONDAY, time(11))))
    cancel_appointment(appointment=visit, reason="test")

    for appointment in (visit, in_person):
        response = client.get(f"/a/{appointment_link_token(appointment.pk)}?lang=en")
        assert "Join the video call" not in response.content.decode()
