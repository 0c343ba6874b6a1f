"""The API's schemas of the booking app (booking/schemas/)."""

import json
import math
from datetime import timedelta
from typing import Any

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone, translation

from booking.models import Appointment, Patient
from booking.schemas import AppointmentOut, SlotOut, SlotPageOut
from booking.selectors import SlotOrder, SlotPage, build_search, search_open_slots
from clinics.models import HealthCentre, Service
from clinics.schemas import CentreBrief
from tests.factories import SlotFactory, booked, vaccine


def dumped(schema: AppointmentOut | SlotPageOut) -> str:
    """As ninja answers it: the model dumped, then rendered to JSON."""
    return json.dumps(schema.model_dump(), cls=DjangoJSONEncoder, sort_keys=True)


def appointments(patient: Patient) -> list[Appointment]:
    """Appointments of each kind the answer shows differently, as the engine holds them."""
    video = Service.objects.filter(visit_mode="video", is_active=True).first()
    assert video is not None
    days = iter(range(2, 6))

    def slot(**fields: object) -> Any:
        start = timezone.now() + timedelta(days=next(days))
        return SlotFactory(start=start, end=start + timedelta(minutes=15), **fields)

    moved = booked(patient, slot())
    moved.sequence, moved.confirmed_at = 1, timezone.now()
    centre = HealthCentre.objects.filter(services=video).first()
    return [
        booked(patient, slot()),
        moved,
        booked(patient, slot(service=video, centre=centre)),
        booked(patient, slot(service=vaccine("vaccine-influenza"))),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["th", "en"])
def test_an_appointment_made_into_its_schema_is_as_validating_it_gives(
    reference_data: None, patient: Patient, language: str
) -> None:
    made = appointments(patient)
    assert {a.visit_mode for a in made} == {"in_person", "video"}
    assert any(a.dose_number for a in made)
    assert any(a.confirmed_at for a in made)

    with translation.override(language):
        for appointment in made:
            assert dumped(AppointmentOut.of(appointment)) == dumped(
                AppointmentOut.model_validate(appointment)
            )


def validated_page(page: SlotPage) -> SlotPageOut:
    """The page's schema as validating each slot and centre gives it."""
    items = [
        SlotOut(
            id=option.slot.pk,
            start=option.slot.start,
            end=option.slot.end,
            remaining=option.slot.remaining,
            service=option.slot.service.code,
            centre=CentreBrief.model_validate(option.place.centre, from_attributes=True),
            distance_km=(
                round(option.place.distance_km, 2) if option.place.distance_km is not None else None
            ),
            in_home_district=option.place.in_home_district,
        )
        for option in page.items
    ]
    return SlotPageOut(
        items=items,
        count=page.count,
        page=page.page,
        page_size=page.page_size,
        pages=math.ceil(page.count / page.page_size),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["th", "en"])
@pytest.mark.parametrize("from_home", [False, True])
def test_a_page_of_slots_made_into_its_schema_is_as_validating_it_gives(
    reference_data: None, language: str, from_home: bool
) -> None:
    """From a home district (ranked by it, with distances) and from nowhere (neither)."""
    centres = list(HealthCentre.objects.filter(is_active=True).select_related("district")[:3])
    service = Service.objects.get(code="general-checkup")
    for number, centre in enumerate(centres, start=1):
        start = timezone.now() + timedelta(days=number)
        SlotFactory(centre=centre, service=service, start=start, end=start + timedelta(minutes=15))
    search = build_search(
        service=service.code,
        date_from=None,
        date_to=None,
        district=centres[0].district_id if from_home else None,
        lat=None,
        lon=None,
        centres=None,
        order=SlotOrder.NEAREST,
    )

    with translation.override(language):
        page = search_open_slots(search, page=1, page_size=2)
        assert len(page.items) == 2
        assert page.count >= 3
        assert any(option.place.in_home_district for option in page.items) is from_home
        assert (page.items[0].place.distance_km is not None) is from_home
        assert dumped(SlotPageOut.from_page(page)) == dumped(validated_page(page))
