"""The partner API: apps the city trusts (its super-app, national health platforms) search
open times and book, read and cancel for the people they have identified, with a key issued
in the admin. Each key has scopes and a rate limit, and every call is audited."""

from datetime import date, timedelta

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status

from booking.api.patients import IdempotencyKey, alternatives_if_full
from booking.api.people import person_details
from booking.api.public import slot_page
from booking.interop.api.partner_auth import PartnerKeyAuth, PartnerRequest
from booking.interop.partners import book_for_partner
from booking.interop.selectors import (
    partner_appointment,
    partner_appointments,
)
from booking.models import Appointment, PartnerKey
from booking.schemas import (
    AppointmentOut,
    AppointmentStatus,
    CancelIn,
    PersonIn,
    SlotPageOut,
    SlotSearchQuery,
)
from booking.services.appointments import Booking, cancel_appointment
from clinics.exceptions import InvalidInput
from clinics.schemas import Day, ErrorOut, RowId

Scope = PartnerKey.Scope
router = Router(tags=["Partners"])

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut}
ONE = {200: AppointmentOut, **ERRORS}
# A partner lists at most this many days of its bookings at a time.
MAX_LIST_DAYS = 92


class PartnerBookIn(Schema):
    slot_id: RowId
    person: PersonIn = Field(
        description="Who the appointment is for, as the partner's app has verified them. "
        "Found by national ID (or passport number and date of birth) or registered on the "
        "account of their phone number; confirmations and reminders are texted there."
    )
    identity_verified: bool = Field(
        False,
        description="True when the partner's app verified who the person is (e.g. checked "
        "their ID card or their ThaID). Needs the key's scope people:verified. Only then is "
        "a person added to the household of a phone that already has an account, or found in "
        "another phone's household, booked there; the record is marked as verified by the "
        "partner, and this is audited.",
    )


@router.get(
    "/partner/slots",
    response={200: SlotPageOut, **ERRORS},
    auth=PartnerKeyAuth(Scope.AVAILABILITY_READ),
)
def partner_search_slots(request: HttpRequest, query: Query[SlotSearchQuery]) -> SlotPageOut:
    """Open times for a service, as GET /slots, counted against the key's own limit."""
    return slot_page(query)


@router.post(
    "/partner/appointments",
    response={200: AppointmentOut, 201: AppointmentOut, **ERRORS},
    auth=PartnerKeyAuth(Scope.APPOINTMENTS_WRITE),
)
def partner_book(
    request: PartnerRequest,
    response: HttpResponse,
    payload: PartnerBookIn,
    idempotency_key: str = IdempotencyKey,
) -> Status[Appointment | AppointmentOut]:
    """Book a place for a person. 201 with the appointment; 200 with the same one when the
    Idempotency-Key was used for it before; 409 `slot_full` with `detail.alternatives`;
    429 `in_queue` while a drive is opening; 409 `contact_health_centre` when the person
    cannot be booked online as given (their ID is on record with other details or in another
    phone's household, or they would join a phone's household without `identity_verified`):
    the person should contact a health centre. Too many of those in an hour: 429."""
    with alternatives_if_full(payload.slot_id):
        booking = book_for_partner(
            key=request.auth,
            person=person_details(payload.person),
            slot_id=payload.slot_id,
            idempotency_key=idempotency_key,
            verified=payload.identity_verified,
        )
    return partner_booked(request.auth, response, booking)


def partner_booked(
    key: PartnerKey, response: HttpResponse, booking: Booking
) -> Status[Appointment | AppointmentOut]:
    """partner_book's answer to a booking made or found with the key (the lean route's too)."""
    if booking.created:
        # As the person's own booking is answered (booking.api.patients._booked): from what
        # the engine holds, without reading the appointment again.
        return Status(201, AppointmentOut.of(booking.appointment))
    response.headers["Idempotent-Replayed"] = "true"
    return Status(200, partner_appointment(key.partner_id, booking.appointment.pk))


@router.get(
    "/partner/appointments",
    response={200: list[AppointmentOut], **ERRORS},
    auth=PartnerKeyAuth(Scope.APPOINTMENTS_READ),
)
def partner_list_appointments(
    request: PartnerRequest,
    date_from: Day | None = None,
    date_to: Day | None = None,
    status: AppointmentStatus | None = None,
) -> list[Appointment]:
    """The appointments this partner booked, by day of the visit (default: the next 4 weeks)."""
    first = date_from or timezone.localdate()
    last = date_to or first + timedelta(weeks=4)
    _check_days(first, last)
    appointments = partner_appointments(request.auth.partner_id).filter(
        slot__start__date__range=(first, last)
    )
    if status is not None:
        appointments = appointments.filter(status=status)
    return list(appointments)


def _check_days(first: date, last: date) -> None:
    if last < first:
        raise InvalidInput(_("The last day is before the first day."), field="date_to")
    if (last - first).days > MAX_LIST_DAYS:
        raise InvalidInput(
            _("List at most %(days)d days at a time.") % {"days": MAX_LIST_DAYS},
            field="date_to",
        )


@router.get(
    "/partner/appointments/{int:appointment_id}",
    response=ONE,
    auth=PartnerKeyAuth(Scope.APPOINTMENTS_READ),
)
def partner_get_appointment(request: PartnerRequest, appointment_id: RowId) -> Appointment:
    """One appointment this partner booked; any other is not found."""
    return partner_appointment(request.auth.partner_id, appointment_id)


@router.post(
    "/partner/appointments/{int:appointment_id}/cancel",
    response=ONE,
    auth=PartnerKeyAuth(Scope.APPOINTMENTS_WRITE),
)
def partner_cancel(
    request: PartnerRequest, appointment_id: RowId, payload: CancelIn
) -> Appointment:
    """Cancel an appointment this partner booked, up to the service's cut-off."""
    partner_id = request.auth.partner_id
    cancel_appointment(
        appointment=partner_appointment(partner_id, appointment_id),
        reason=payload.reason or str(_("Cancelled through a partner app")),
    )
    return partner_appointment(partner_id, appointment_id)
