"""The centre's facts (address, phone, opening hours) on the patient's pages: the same way on
each (clinics/_centre_facts.html), and only those the centre has given."""

from datetime import date, time, timedelta

import pytest
from django.test import Client

from booking.links import appointment_link_token
from clinics.models import HealthCentre, Service
from tests.factories import SlotFactory, bangkok, booked

pytestmark = pytest.mark.django_db

TUESDAY = date(2026, 12, 1)
PHONE_LINK = '<a href="tel:+66-2-123-4567">02 123 4567</a>'


@pytest.fixture
def reachable_centre(centre_1):
    HealthCentre.objects.filter(number=1).update(
        address_en="10 Chakkraphet Road",
        phone="+6621234567",
        opening_hours=[{"day": day, "opens": "08:00", "closes": "16:00"} for day in range(1, 6)],
    )
    return HealthCentre.objects.get(number=1)


def test_the_find_results_show_each_centres_address_phone_and_hours(reachable_centre):
    flu = Service.objects.get(code="vaccine-influenza")
    SlotFactory(service=flu, centre=reachable_centre, start=bangkok(TUESDAY, time(9)))

    page = Client().get(f"/?service={flu.code}&from={TUESDAY}&to={TUESDAY}&lang=en")
    text = page.content.decode()

    assert "10 Chakkraphet Road, Phra Nakhon District, Bangkok 10200" in text
    assert PHONE_LINK in text
    assert "Mon\u2013Fri 08:00\u201316:00" in text


def test_the_booking_confirmation_shows_the_facts_and_hides_what_is_not_known(
    client_for, patient, clock
):
    visit = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(9))))

    text = client_for(patient).get(f"/me/appointments/{visit.pk}?booked=1&lang=en").content.decode()

    assert "Phra Nakhon District, Bangkok 10200" in text  # the postcode from the data
    assert "tel:" not in text  # no phone given: no empty row
    assert "Opening hours" not in text


def test_the_appointment_pages_give_the_phone_as_a_link(
    client_for, patient, reachable_centre, clock
):
    visit = booked(patient, SlotFactory(centre=reachable_centre, start=bangkok(TUESDAY, time(9))))

    own = client_for(patient).get(f"/me/appointments/{visit.pk}?lang=th").content.decode()
    texted = client_for(None).get(f"/a/{appointment_link_token(visit.pk)}?lang=th").content.decode()

    for text in (own, texted):
        assert PHONE_LINK in text
        assert "10 Chakkraphet Road แขวงวังบูรพาภิรมย์ เขตพระนคร กรุงเทพมหานคร 10200" in text
        assert "จันทร์\u2013ศุกร์ 08.00\u201316.00 น." in text


def test_too_late_to_change_online_says_which_number_to_call(
    client_for, patient, reachable_centre, clock
):
    start = bangkok(TUESDAY, time(9))
    visit = booked(patient, SlotFactory(centre=reachable_centre, start=start))
    clock.move_to(start - timedelta(minutes=30))

    text = client_for(patient).get(f"/me/appointments/{visit.pk}?lang=en").content.decode()

    assert "too late to move or cancel this appointment online" in text
    assert f"Please call the health centre on {PHONE_LINK}." in text


def test_too_late_without_a_phone_number_still_says_to_call(client_for, patient, clock):
    start = bangkok(TUESDAY, time(9))
    visit = booked(patient, SlotFactory(start=start))
    clock.move_to(start - timedelta(minutes=30))

    text = client_for(patient).get(f"/me/appointments/{visit.pk}?lang=en").content.decode()

    assert "Please call the health centre." in text
