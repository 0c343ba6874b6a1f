"""The desk in the staff API: find a person, register one after seeing their ID card, and book
for them (a time at the centre, or the best time anywhere), as the desk pages do. For staff
with the book_for_patients action at the centre (centre admins, schedulers, nurses); every
search, registration and booking is in the audit trail."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Schema, Status
from ninja.params.functions import Header, Query

from booking.api import staff
from booking.api.people import person_details
from booking.models import Appointment, Patient
from booking.schemas import PersonIn, StaffAppointmentOut, StaffPatientOut
from booking.selectors.desk import person_for_desk, person_query
from booking.services.desk import book_at_desk, book_best_at_desk, register_at_desk, search_people
from clinics.exceptions import InvalidInput
from clinics.models import District
from clinics.permissions import StaffAction, centre_for_staff, signed_in_user
from clinics.schemas import CentreNumber, Day, DistrictCode, ErrorOut, RowId
from clinics.selectors import district_by_code, service_by_code

# On the staff router: ninja answers one path's methods from one router, and
# /staff/centres/{number}/appointments lists the day there (GET) and books here (POST).
router = staff.router
TAGS = ["Staff: the desk"]

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut}
DESK = StaffAction.BOOK_FOR_PATIENTS

# As the patients' Idempotency-Key, a little shorter: the desk keeps its keys apart with a
# prefix (booking.services.desk.KEY_PREFIX) in the same column.
DeskIdempotencyKey: Any = Header(
    ...,
    alias="Idempotency-Key",
    min_length=8,
    max_length=90,
    description="A fresh random value (e.g. a UUID) per booking. Sending the same key again "
    "returns the same appointment instead of booking twice.",
)


class DeskPersonOut(StaffPatientOut):
    relationship: Patient.Relationship = Field(
        description="How the person is related to the holder of the account they are on."
    )
    has_passport: bool
    can_sign_in: bool = Field(
        description="False for a person registered at the desk without a phone: staff book "
        "for them, and the slip tells them their time."
    )

    @staticmethod
    def resolve_has_passport(patient: Patient) -> bool:
        return bool(patient.passport_number)

    @staticmethod
    def resolve_can_sign_in(patient: Patient) -> bool:
        return patient.account.get_username().startswith("+") or (
            patient.account.has_usable_password()
        )


class DeskRegisterIn(PersonIn):
    household: Patient.Relationship | None = Field(
        None,
        description="When the phone already has an account: add the person to its household, "
        "as this (child, parent, spouse, other). Without it such a phone answers 409 "
        "`phone_has_account`. Only when the person and the account holder agree.",
        examples=["parent"],
    )


class DeskBookIn(Schema):
    patient_id: RowId
    slot_id: RowId | None = Field(
        None, description="An open time at this centre. Or give `service` for the best time."
    )
    service: str | None = Field(
        None,
        max_length=40,
        description="Book the best open time of this service across centres in the next four "
        "weeks, instead of a given slot.",
        examples=["general-checkup"],
    )
    district_code: DistrictCode | None = Field(
        None,
        description="For the best time: near this district (default the person's home "
        "district, else the centre's).",
    )


@router.get(
    "/staff/centres/{int:number}/people", response={200: list[DeskPersonOut], **ERRORS}, tags=TAGS
)
def find_people(
    request: HttpRequest,
    number: CentreNumber,
    national_id: str = Query("", max_length=20, description="13 digits, dashes allowed."),
    phone: str = Query("", max_length=30, description="Everyone on the phone's account."),
    name: str = Query("", max_length=200, description="With date_of_birth: each word matches."),
    date_of_birth: Day | None = None,
) -> list[Patient]:
    """Find people by national ID (exact), phone, or name and date of birth (at most 20).
    National IDs come masked. Each search is recorded: who looked up whom, and how."""
    centre = centre_for_staff(request, number, DESK)
    query = person_query(
        national_id=national_id, phone=phone, name=name, date_of_birth=date_of_birth
    )
    return search_people(centre_id=centre.pk, by=signed_in_user(request), query=query)


@router.post(
    "/staff/centres/{int:number}/people", response={201: DeskPersonOut, **ERRORS}, tags=TAGS
)
def register_person(
    request: HttpRequest, number: CentreNumber, payload: DeskRegisterIn
) -> Status[Patient]:
    """Register a person whose ID card (or passport) you have seen: their identity is marked
    verified by the desk. Without `phone`, an account that cannot sign in. 409
    `person_on_file` (with `detail.patient_id`) when the ID is on file; 409
    `phone_has_account` (with `detail.account_holder_id`) when the phone has an account and
    no `household` was given."""
    centre = centre_for_staff(request, number, DESK)
    person = register_at_desk(
        centre_id=centre.pk,
        by=signed_in_user(request),
        person=person_details(payload),
        household=payload.household,
    )
    return Status(201, person)


@router.post(
    "/staff/centres/{int:number}/appointments",
    response={200: StaffAppointmentOut, 201: StaffAppointmentOut, **ERRORS},
    tags=TAGS,
)
def book_for_person(
    request: HttpRequest,
    response: HttpResponse,
    number: CentreNumber,
    payload: DeskBookIn,
    idempotency_key: str = DeskIdempotencyKey,
) -> Status[Appointment]:
    """Book for a person at the desk (channel `staff`, booked by you): `slot_id`, an open
    time at this centre (the online cut-off does not apply; a phone stopped from booking
    online does not stop it), or `service` for the best time anywhere. 201 with the
    appointment; 200 and `Idempotent-Replayed` for a key already used for it; 409
    `slot_full`, `no_slot_available`, `booking_closed`, `overlapping_appointment`...; 422
    `idempotency_key_reused` for a key used for another booking. The person is texted as
    for any booking when they have a phone."""
    centre = centre_for_staff(request, number, DESK)
    user = signed_in_user(request)
    if (payload.slot_id is None) == (payload.service is None):
        raise InvalidInput(_("Give either slot_id or service, not both."), field="slot_id")
    person = person_for_desk(payload.patient_id)
    if payload.slot_id is not None:
        booking = book_at_desk(
            centre_id=centre.pk,
            by=user,
            patient=person,
            slot_id=payload.slot_id,
            idempotency_key=idempotency_key,
        )
    else:
        assert payload.service is not None
        booking = book_best_at_desk(
            centre_id=centre.pk,
            by=user,
            patient=person,
            service=service_by_code(payload.service),
            district=_district(payload.district_code),
            idempotency_key=idempotency_key,
        )
    if not booking.created:
        response.headers["Idempotent-Replayed"] = "true"
    # Read again whole: a best time may be at another centre, and a replay holds little.
    appointment = Appointment.objects.select_related(
        "patient", "slot__service", "slot__centre__district"
    ).get(pk=booking.appointment.pk)
    return Status(201 if booking.created else 200, appointment)


def _district(code: int | None) -> District | None:
    if code is None:
        return None
    district = district_by_code(code)
    if district is None:
        raise InvalidInput(_("There is no Bangkok district with that code."), field="district_code")
    return district
