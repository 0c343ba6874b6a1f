"""The link in each text message: see, confirm, move or cancel that one appointment without
signing in. The signed token in the address is the only credential, and it opens nothing else."""

import math
from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router

from booking.links import appointment_from_link
from booking.models import Appointment
from booking.schemas import LinkedAppointmentOut, RescheduleIn, SlotOut, SlotPageOut
from booking.selectors import SlotSearch, search_open_slots
from booking.services import appointments as visits
from clinics.schemas import ErrorOut

router = Router(tags=["Links in text messages"])

ERRORS = {404: ErrorOut, 409: ErrorOut, 410: ErrorOut, 422: ErrorOut}
ONE = {200: LinkedAppointmentOut, **ERRORS}
# Alternatives offered for moving an appointment: the same centre, this far ahead.
ALTERNATIVE_DAYS = 28


def alternatives_for(
    appointment: Appointment, *, page: int = 1, page_size: int = 20
) -> SlotPageOut:
    """Open times for the same service at the same centre, from today."""
    today = timezone.localdate()
    search = SlotSearch(
        service=appointment.slot.service,
        date_from=today,
        date_to=today + timedelta(days=ALTERNATIVE_DAYS),
        centre_ids=[appointment.slot.centre_id],
        district=appointment.patient.district,
    )
    found = search_open_slots(search, page=page, page_size=page_size)
    return SlotPageOut(
        items=[
            SlotOut.from_option(option)
            for option in found.items
            if option.slot.pk != appointment.slot_id
        ],
        count=found.count,
        page=found.page,
        page_size=found.page_size,
        pages=math.ceil(found.count / found.page_size),
    )


@router.get("/links/{token}", response=ONE, auth=None)
def linked_appointment(request: HttpRequest, token: str) -> Appointment:
    """The appointment a text message's link opens."""
    return appointment_from_link(token)


@router.post("/links/{token}/confirm", response=ONE, auth=None)
def confirm(request: HttpRequest, token: str) -> Appointment:
    """Say you will come."""
    visits.confirm_attendance(appointment=appointment_from_link(token))
    return appointment_from_link(token)


@router.post("/links/{token}/cancel", response=ONE, auth=None)
def cancel(request: HttpRequest, token: str) -> Appointment:
    """Cancel, up to the service's cut-off before the start."""
    visits.cancel_appointment(
        appointment=appointment_from_link(token), reason="Cancelled through the message link"
    )
    return appointment_from_link(token)


@router.get("/links/{token}/alternatives", response={200: SlotPageOut, **ERRORS}, auth=None)
def alternatives(request: HttpRequest, token: str) -> SlotPageOut:
    """Other open times at the same centre, to move the appointment to."""
    return alternatives_for(appointment_from_link(token))


@router.post("/links/{token}/reschedule", response=ONE, auth=None)
def reschedule(request: HttpRequest, token: str, payload: RescheduleIn) -> Appointment:
    """Move to another open time of the same service."""
    visits.reschedule_appointment(
        appointment=appointment_from_link(token), new_slot_id=payload.slot_id
    )
    return appointment_from_link(token)
