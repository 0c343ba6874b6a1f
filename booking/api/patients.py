"""A signed-in account's own patients and appointments. Another account's are not found."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.utils.asyncio import async_unsafe
from django.utils.translation import get_language
from ninja import Router, Status
from ninja.params.functions import Header

from booking.api.people import person_details
from booking.exceptions import SlotFull
from booking.models import Appointment, Patient
from booking.schemas import (
    AllocateIn,
    AppointmentOut,
    AppointmentStatus,
    BookIn,
    CancelIn,
    DependantIn,
    PasscodeSentOut,
    PatientChangeIn,
    PatientDetailOut,
    PatientOut,
    PhoneCodeIn,
    RescheduleIn,
    SlotOut,
)
from booking.selectors import (
    SlotSearch,
    appointment_of,
    appointments_of,
    build_search,
    next_best_slots,
    patient_of,
    patients_of,
)
from booking.services.appointments import (
    Booking,
    cancel_appointment,
    reschedule_appointment,
)
from booking.services.booking_gate import allocate_for_account, book_for_account
from booking.services.passcodes import CodeSent
from booking.services.patients import add_dependant
from booking.services.phones import (
    correct_details,
    offer_phone_proof,
    prove_phone,
    send_phone_proof,
)
from clinics.models import District
from clinics.permissions import signed_in_user
from clinics.schemas import ErrorOut, RowId

router = Router(tags=["My patients and appointments"])

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut}
ONE_APPOINTMENT = {200: AppointmentOut, **ERRORS}

# The default of an operation's `idempotency_key: str` parameter, as ninja reads it.
IdempotencyKey: Any = Header(
    ...,
    alias="Idempotency-Key",
    min_length=8,
    max_length=100,
    description="A fresh random value (e.g. a UUID) per booking. Retrying with the same key "
    "returns the same appointment instead of booking twice.",
)


# A slot many people want at once is refused to most of them: its alternatives are worked out
# once in this long per process rather than for each refusal. They are suggestions: one taken
# meanwhile is refused in turn, with alternatives of its own.
ALTERNATIVES_SECONDS = 1.0
ALTERNATIVES_KEPT = 10_000
_alternatives: dict[int, tuple[float, list[dict[str, Any]]]] = {}
# One thread at a time works a slot's alternatives out; the others wait for its answer.
_making: dict[int, threading.Lock] = {}
_making_guard = threading.Lock()


def _kept_alternatives(slot_id: int) -> list[dict[str, Any]] | None:
    kept = _alternatives.get(slot_id)
    if kept is not None and time.monotonic() - kept[0] < ALTERNATIVES_SECONDS:
        return list(kept[1])
    return None


@async_unsafe
def _to_be_made() -> None:
    """SynchronousOnlyOperation on an event loop, before any lock is waited for there."""


def alternatives_to(slot_id: int) -> list[dict[str, Any]]:
    """The next-best times to a slot, as the API shows them: kept a second per process, and
    worked out by one thread at a time (a hot slot's refusals come together: each working
    them out had cost more than the refusal itself)."""
    kept = _kept_alternatives(slot_id)
    if kept is not None:
        return kept
    _to_be_made()
    with _making_guard:
        if len(_making) >= ALTERNATIVES_KEPT:
            _making.clear()
        making = _making.setdefault(slot_id, threading.Lock())
    with making:
        kept = _kept_alternatives(slot_id)  # made while this thread waited
        if kept is not None:
            return kept
        made = [
            SlotOut.from_option(option).model_dump(mode="json")
            for option in next_best_slots(slot_id)
        ]
        if len(_alternatives) >= ALTERNATIVES_KEPT:
            _alternatives.clear()
        _alternatives[slot_id] = (time.monotonic(), made)
        return list(made)


def forget_alternatives() -> None:
    _alternatives.clear()


@contextmanager
def alternatives_if_full(slot_id: int) -> Iterator[None]:
    """Someone who lost the slot's last place gets the next-best times in the 409's
    `detail.alternatives`, to choose from at once."""
    try:
        yield
    except SlotFull as lost:
        lost.detail["alternatives"] = alternatives_to(slot_id)
        raise


@router.get("/me/patients", response=list[PatientOut])
def list_my_patients(request: HttpRequest) -> list[Patient]:
    """The account holder and their dependants."""
    return list(patients_of(signed_in_user(request)))


@router.post("/me/patients", response={201: PatientDetailOut, **ERRORS})
def add_my_dependant(request: HttpRequest, payload: DependantIn) -> Status[Patient]:
    """Add a child, parent or someone else in your care, to book for them.

    A phone of their own (not yours) gets a passcode texted to it, and their texts go to
    you until POST /me/patients/{id}/phone/verify proves it (`phone_proven`)."""
    patient = add_dependant(
        account=signed_in_user(request),
        relationship=payload.relationship,
        person=person_details(payload),
    )
    offer_phone_proof(
        patient=patient, address=request.META.get("REMOTE_ADDR"), language=get_language() or "th"
    )
    return Status(201, patient)


@router.get("/me/patients/{int:patient_id}", response={200: PatientDetailOut, **ERRORS})
def get_my_patient(request: HttpRequest, patient_id: RowId) -> Patient:
    return patient_of(signed_in_user(request), patient_id)


@router.put("/me/patients/{int:patient_id}", response={200: PatientDetailOut, **ERRORS})
def update_my_patient(request: HttpRequest, patient_id: RowId, payload: PatientChangeIn) -> Patient:
    """Correct a person's details.

    Your own phone is how you sign in: a new one answers 409 `phone_change_needs_passcode`,
    changes nothing and texts a passcode to the new number (`detail.phone`,
    `detail.expires_at`, `detail.resend_after`); send the same details again with
    `phone_passcode` to move your sign-in there. That signs out your other sessions and texts
    the old number. A new phone for someone in your care is texted a passcode, as when adding
    them."""
    user = signed_in_user(request)
    sign_in = user.get_username()
    patient = correct_details(
        patient=patient_of(user, patient_id),
        person=person_details(payload),
        phone_passcode=payload.phone_passcode,
        address=request.META.get("REMOTE_ADDR"),
        language=get_language() or "th",
        keep_session_key=request.session.session_key,
    )
    if patient.account.get_username() != sign_in:
        request.session.cycle_key()  # a new key for the one session that stays signed in
    return patient


@router.post(
    "/me/patients/{int:patient_id}/phone/passcode", response={202: PasscodeSentOut, **ERRORS}
)
def send_my_patient_phone_passcode(request: HttpRequest, patient_id: RowId) -> Status[CodeSent]:
    """Text (again) a passcode to prove the phone of someone in your care.

    422 when their phone needs none: it is proven already, or it is yours."""
    patient = patient_of(signed_in_user(request), patient_id)
    sent = send_phone_proof(
        patient=patient, address=request.META.get("REMOTE_ADDR"), language=get_language() or "th"
    )
    return Status(202, sent)


@router.post(
    "/me/patients/{int:patient_id}/phone/verify", response={200: PatientDetailOut, **ERRORS}
)
def verify_my_patient_phone(
    request: HttpRequest, patient_id: RowId, payload: PhoneCodeIn
) -> Patient:
    """Prove the phone of someone in your care with the passcode texted to it: from then on
    their texts go to that phone."""
    patient = patient_of(signed_in_user(request), patient_id)
    return prove_phone(patient=patient, code=payload.code)


@router.get("/me/appointments", response=list[AppointmentOut])
def list_my_appointments(
    request: HttpRequest, status: AppointmentStatus | None = None, patient_id: RowId | None = None
) -> list[Appointment]:
    """Everyone's appointments on this account, in time order."""
    appointments = appointments_of(signed_in_user(request))
    if status is not None:
        appointments = appointments.filter(status=status)
    if patient_id is not None:
        appointments = appointments.filter(patient_id=patient_id)
    return list(appointments)


@router.get("/me/appointments/{int:appointment_id}", response=ONE_APPOINTMENT)
def get_my_appointment(request: HttpRequest, appointment_id: RowId) -> Appointment:
    return appointment_of(signed_in_user(request), appointment_id)


def _booked(
    request: HttpRequest, response: HttpResponse, booking: Booking
) -> Status[Appointment | AppointmentOut]:
    """The answer to a booking. A new one is answered from what the engine holds (the slot
    was read with its service, centre and district): the same as reading it again, without
    the statement, and made into its schema directly (ninja does not validate it again). A
    replay reads what the first request made."""
    if booking.created:
        return Status(201, AppointmentOut.of(booking.appointment))
    response.headers["Idempotent-Replayed"] = "true"
    return Status(200, appointment_of(signed_in_user(request), booking.appointment.pk))


@router.post("/me/appointments", response={200: AppointmentOut, 201: AppointmentOut, **ERRORS})
def book(
    request: HttpRequest,
    response: HttpResponse,
    payload: BookIn,
    idempotency_key: str = IdempotencyKey,
) -> Status[Appointment | AppointmentOut]:
    """Book a place in a slot for yourself or a dependant.

    201 with the new appointment; 200 with the same appointment when the Idempotency-Key was
    already used for this booking; 409 `slot_full` when someone took the last place first,
    with the next-best times in `detail.alternatives`. While a vaccination drive is opening,
    429 `in_queue` gives your place in line and Retry-After; 409 `drive_full` once it is gone.
    """
    user = signed_in_user(request)
    patient = patient_of(user, payload.patient_id)
    booking = book_or_allocate(
        request, user=user, patient=patient, payload=payload, idempotency_key=idempotency_key
    )
    return _booked(request, response, booking)


@router.post(
    "/me/appointments/allocate", response={200: AppointmentOut, 201: AppointmentOut, **ERRORS}
)
def allocate(
    request: HttpRequest,
    response: HttpResponse,
    payload: AllocateIn,
    idempotency_key: str = IdempotencyKey,
) -> Status[Appointment | AppointmentOut]:
    """Book the best open slot in one call: "the earliest time near me".

    Uses the same ranking as the slot search; the patient's home district is used unless
    `lat`/`lon` are given. While a drive of the service is opening, 429 `in_queue` as for
    booking a slot.
    """
    user = signed_in_user(request)
    patient = patient_of(user, payload.patient_id)
    booking = book_or_allocate(
        request, user=user, patient=patient, payload=payload, idempotency_key=idempotency_key
    )
    return _booked(request, response, booking)


def allocation_search(payload: AllocateIn, *, district: District | None) -> SlotSearch:
    """What "book the best for me" searches: the payload's service, days, place and order,
    near the patient's home district unless `lat`/`lon` are given."""
    return build_search(
        service=payload.service,
        date_from=payload.date_from,
        date_to=payload.date_to,
        district=district,
        lat=payload.lat,
        lon=payload.lon,
        centres=payload.centres,
        order=payload.order,
    )


def book_or_allocate(
    request: HttpRequest,
    *,
    user: User,
    patient: Patient,
    payload: BookIn | AllocateIn,
    idempotency_key: str,
    let_in: bool = False,
    counted: bool = False,
) -> Booking:
    """What the two operations do once the person is signed in, through the booking gate
    (the waiting room, the limits, the engine; services.booking_gate): a slot (BookIn) with
    the next-best times if it is full, or the best open one (AllocateIn). The lean route
    runs it too, `let_in` and maybe `counted` already."""
    address = request.META.get("REMOTE_ADDR")
    if isinstance(payload, BookIn):
        with alternatives_if_full(payload.slot_id):
            return book_for_account(
                user=user,
                patient=patient,
                slot_id=payload.slot_id,
                channel=Appointment.Channel.API,
                idempotency_key=idempotency_key,
                address=address,
                let_in=let_in,
                counted=counted,
            )
    return allocate_for_account(
        user=user,
        patient=patient,
        search=allocation_search(payload, district=patient.district),
        channel=Appointment.Channel.API,
        idempotency_key=idempotency_key,
        address=address,
        let_in=let_in,
        counted=counted,
    )


@router.post("/me/appointments/{int:appointment_id}/reschedule", response=ONE_APPOINTMENT)
def reschedule(request: HttpRequest, appointment_id: RowId, payload: RescheduleIn) -> Appointment:
    """Move to another time of the same service; the old place is kept if the new one is gone."""
    appointment = appointment_of(signed_in_user(request), appointment_id)
    reschedule_appointment(appointment=appointment, new_slot_id=payload.slot_id)
    return appointment_of(signed_in_user(request), appointment_id)


@router.post("/me/appointments/{int:appointment_id}/cancel", response=ONE_APPOINTMENT)
def cancel(request: HttpRequest, appointment_id: RowId, payload: CancelIn) -> Appointment:
    """Cancel; the place is offered to others at once."""
    appointment = appointment_of(signed_in_user(request), appointment_id)
    cancel_appointment(appointment=appointment, reason=payload.reason)
    return appointment_of(signed_in_user(request), appointment_id)
