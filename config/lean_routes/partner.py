"""A partner's booking on the lean route: `POST /api/v1/partner/appointments` (booking for a
person on file, with a key) answered on the event loop, as the person's own booking is.

The ninja operation's steps, in its order, with the same functions:

1. the key (`Authorization: Bearer bma_…`), read on one of the route's async connections with
   its partner in one statement, every time (a key revoked or a partner suspended is refused
   at once), checked as partner_key_from_request checks it, and counted against its limit
   (Redis). A key that is missing, not ours, revoked, expired or without the scope is
   Django's: it reads the key again, answers 401 or 403 and writes the call;
2. the checks before the person is looked for (partner_booking_checks): the scope for
   `identity_verified`, the details, a drive's waiting room ("in queue" and `drive_full` from
   Redis), the key's refusals about people, a phone;
3. at the engine, under the route's LEAN_TURNS admission: the person read with their account
   in one statement (aperson_on_file) and booked by the booking function (abook_slot) on the
   same connection, answered by the operation's own answer (partner_booked), and the call
   written to the key's uses (PartnerKeyAudit's row) there too.

Anything that needs the ORM is handed to an engine thread, where book_for_partner runs as the
view runs it, with the details step 2 gave (`checked`: not asked again): someone not on file
(registered with the booking), someone whose phone signs in to another account, someone the
partner verified (marked so), a refusal about the person (counted and audited there), a
replay, a course of several doses, a drive's rules not met. Nothing is written on the loop
in those cases, and the key was counted once.

Anything unusual before the key is read passes through to Django unchanged, as on the route
for a person's own booking; from then on every answer, whoever gives it, is written to the
key's uses once, with its status. One difference: a call told `busy` once its key was read
(too many waiting for a turn) is counted and written; Django's load shedding answers `busy`
before the key is read."""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse

from booking.api.patients import alternatives_if_full
from booking.api.people import person_details
from booking.exceptions import PartnerKeyInvalid, PartnerScopeMissing, SlotFull
from booking.interop.api import partners as partner_api
from booking.interop.partner_keys import presented_key
from booking.interop.partners import (
    apartner_key_for,
    aperson_on_file,
    arecord_partner_call,
    book_for_partner,
    count_partner_call,
    partner_booking_checks,
    partner_idempotency_key,
    record_partner_call,
    require_live,
    require_scope,
)
from booking.models import Appointment, PartnerKey
from booking.notices import own_texts_language
from booking.services import booking_sql
from booking.services.appointments import Booking
from booking.services.booking_sql.aio import HandOver, Replayed, abook_slot
from booking.services.patients import PersonDetails
from clinics.audit import serving
from clinics.exceptions import DomainError
from config.api import api
from config.async_database import AsyncConnections
from config.lean_routes.before_engine import drives_kept_for_slot, may_be_a_drives
from config.lean_routes.engine import (
    alternatives_for,
    desks_told_after,
    operation_answer,
    with_fresh_connections,
)
from config.lean_routes.request import PassThrough, Reader, read_request

PARTNER_BOOK_PATH = "/api/v1/partner/appointments"


@dataclass
class PartnerBooking:
    request: ASGIRequest
    payload: partner_api.PartnerBookIn
    idempotency_key: str
    presented: str  # the key, as the caller sent it
    key: PartnerKey | None = None  # once read and checked
    details: PersonDetails | None = None  # once checked (partner_booking_checks)
    # Whether a drive's line let the request in just now (LeanRoutes.take_turn).
    let_in: bool = False


def parse_partner(request: ASGIRequest, body: bytes) -> PartnerBooking:
    """The request as the route reads it; PassThrough when Django is to answer: no key sent,
    or a session cookie with it (the audit would name the session's account), and whatever
    read_request leaves to Django."""
    presented = presented_key(request)
    if presented is None or settings.SESSION_COOKIE_NAME in request.COOKIES:
        raise PassThrough
    payload, idempotency_key = read_request(request, body, partner_api.PartnerBookIn)
    return PartnerBooking(
        request=request, payload=payload, idempotency_key=idempotency_key, presented=presented
    )


def partner_in_a_drive(booking: PartnerBooking) -> bool:
    """Whether the booking may be for a drive's waiting room, as far as this process knows."""
    return may_be_a_drives(drives_kept_for_slot(booking.payload.slot_id))


async def read_key(booking: PartnerBooking, conn: Any) -> PartnerKey:
    """The caller's key, live and with the scope to book, on the request as Django's
    authentication leaves it; PassThrough otherwise (Django reads it again and refuses)."""
    try:
        key = await apartner_key_for(conn, booking.presented)
        require_live(key)
        require_scope(key, PartnerKey.Scope.APPOINTMENTS_WRITE)
    except (PartnerKeyInvalid, PartnerScopeMissing) as refused:
        raise PassThrough from refused
    request = booking.request
    request.partner_key = key  # type: ignore[attr-defined] # as partner_key_from_request does
    request.auth = key  # type: ignore[attr-defined] # as ninja does
    booking.key = key
    return key


async def check_partner_booking(booking: PartnerBooking, *, read: Reader) -> HttpResponse | None:
    """The key counted, then partner_booking_checks (details, waiting room, refusals, phone):
    the API's answer when one refuses, else None (booking.details set). Asked on the event
    loop; what needs SQL (a district, a drive not in the cache) is asked in a reader thread."""
    key = booking.key
    assert key is not None
    try:
        count_partner_call(key=key)
        try:
            booking.details, booking.let_in = _checks(booking)
        except SynchronousOnlyOperation:
            checked = await read(with_fresh_connections, _checks, booking)
            booking.details, booking.let_in = checked
    except DomainError as refused:
        return api.on_exception(booking.request, refused)
    return None


def _checks(booking: PartnerBooking) -> tuple[PersonDetails, bool]:
    assert booking.key is not None
    payload = booking.payload
    return partner_booking_checks(
        key=booking.key,
        person=person_details(payload.person),
        slot_id=payload.slot_id,
        verified=payload.identity_verified,
    )


async def run_partner_booking(
    booking: PartnerBooking, *, connections: AsyncConnections, in_a_thread: Reader
) -> HttpResponse:
    """The person on file booked on the event loop and the call written, on one connection;
    handed to an engine thread (_book_now) when only the ORM can answer."""
    request, payload, key, details = booking.request, booking.payload, booking.key, booking.details
    assert key is not None
    assert details is not None
    try:
        with desks_told_after(), serving(request):
            async with connections.connection() as conn:
                patient = await aperson_on_file(
                    conn, details=details, verified=payload.identity_verified
                )
                if patient is None:
                    raise HandOver
                try:
                    appointment, call, done = await abook_slot(
                        conn,
                        patient=patient,
                        slot_id=payload.slot_id,
                        booked_by=patient.account,
                        channel=Appointment.Channel.API,
                        idempotency_key=partner_idempotency_key(key, booking.idempotency_key),
                        partner=key.partner,
                        texts_language=own_texts_language(patient),  # the texts made once
                    )
                except SlotFull as lost:  # as alternatives_if_full
                    lost.detail["alternatives"] = await alternatives_for(
                        payload.slot_id, in_a_thread=in_a_thread
                    )
                    response = api.on_exception(request, lost)
                except DomainError as refused:
                    response = api.on_exception(request, refused)
                else:
                    booking_sql.after_commit(call, done)
                    response = _answered(booking, Booking(appointment=appointment, created=True))
                await arecord_partner_call(conn, **_call_of(request, key, response))
                return response
    except HandOver:
        with desks_told_after():
            answer: HttpResponse = await in_a_thread(_book_now, booking)
        return answer
    except Replayed as earlier:
        replay: HttpResponse = await in_a_thread(_replay_now, booking, earlier.appointment_id)
        return replay


async def record_call(booking: PartnerBooking, response: HttpResponse, conn: Any) -> None:
    """The call written to the key's uses, as PartnerKeyAudit writes it (an answer given
    before the engine)."""
    assert booking.key is not None
    await arecord_partner_call(conn, **_call_of(booking.request, booking.key, response))


def _call_of(request: HttpRequest, key: PartnerKey, response: HttpResponse) -> dict[str, Any]:
    return {
        "key": key,
        "method": request.method or "",
        "path": request.path,
        "status_code": response.status_code,
        "address": request.META.get("REMOTE_ADDR") or None,
    }


def _answered(booking: PartnerBooking, made: Booking) -> HttpResponse:
    """partner_book's answer to the booking, from the ninja operation itself."""
    key = booking.key
    assert key is not None
    return operation_answer(
        partner_api.router,
        partner_api.partner_book,
        booking.request,
        lambda temporal: partner_api.partner_booked(key, temporal, made),
    )


def _book_now(booking: PartnerBooking) -> HttpResponse:
    """What the ninja view does once the key is counted and the checks passed (the details
    they gave), its answer, and the call written, in an engine thread."""
    request, payload, key, details = booking.request, booking.payload, booking.key, booking.details
    assert key is not None
    assert details is not None
    try:
        with serving(request):
            with alternatives_if_full(payload.slot_id):
                made = book_for_partner(
                    key=key,
                    person=details,
                    slot_id=payload.slot_id,
                    idempotency_key=booking.idempotency_key,
                    verified=payload.identity_verified,
                    checked=True,
                )
            response = _answered(booking, made)
    except Exception as exc:  # every error the view could raise, answered as the API does
        response = api.on_exception(request, exc)
    record_partner_call(**_call_of(request, key, response))
    return response


def _replay_now(booking: PartnerBooking, appointment_id: int) -> HttpResponse:
    """The answer to the key's earlier booking, which the function found, as partner_booked
    answers a replay; and the call written."""
    request, key = booking.request, booking.key
    assert key is not None
    try:
        with serving(request):
            earlier = Appointment(pk=appointment_id)  # partner_booked reads it as the partner's
            response = _answered(booking, Booking(appointment=earlier, created=False))
    except Exception as exc:  # as _book_now answers
        response = api.on_exception(request, exc)
    record_partner_call(**_call_of(request, key, response))
    return response
