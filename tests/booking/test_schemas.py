"""The API's schemas of the booking app (booking/schemas/)."""

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone, translation

from booking.models import Appointment, Patient
from booking.schemas import AppointmentOut
from clinics.models import HealthCentre, Service
from tests.factories import SlotFactory, booked, vaccine


def dumped(schema: AppointmentOut) -> str:
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
