"""The link in each text message: see, confirm, move or cancel that one appointment without
signing in. The signed token in the address is the only credential, and it opens nothing else."""

from django.http import HttpRequest
from ninja import Router

from booking.links import LINK_CANCELLATION, appointment_from_link
from booking.models import Appointment
from booking.schemas import LinkedAppointmentOut, RescheduleIn, SlotPageOut
from booking.selectors import alternatives_for
from booking.services import appointments as visits
from clinics.schemas import ErrorOut

router = Router(tags=["Links in text messages"])

ERRORS = {404: ErrorOut, 409: ErrorOut, 410: ErrorOut, 422: ErrorOut}
ONE = {200: LinkedAppointmentOut, **ERRORS}


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
    visits.cancel_appointment(appointment=appointment_from_link(token), reason=LINK_CANCELLATION)
    return appointment_from_link(token)


@router.get("/links/{token}/alternatives", response={200: SlotPageOut, **ERRORS}, auth=None)
def alternatives(request: HttpRequest, token: str) -> SlotPageOut:
    """Other open times at the same centre, to move the appointment to."""
    return SlotPageOut.from_page(alternatives_for(appointment_from_link(token)))


@router.post("/links/{token}/reschedule", response=ONE, auth=None)
def reschedule(request: HttpRequest, token: str, payload: RescheduleIn) -> Appointment:
    """Move to another open time of the same service."""
    visits.reschedule_appointment(
        appointment=appointment_from_link(token), new_slot_id=payload.slot_id
    )
    return appointment_from_link(token)
