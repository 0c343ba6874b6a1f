"""The engine, the one call the database does the work in (run_booking): on the event loop
with the booking function on an async connection, or in an engine thread with the ninja view's
own steps when only the ORM can answer; answered by the ninja operation itself."""

import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from typing import Any, NoReturn

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse
from ninja import Router
from ninja.operation import Operation

from booking.api import patients
from booking.exceptions import DriveFull, NoSlotAvailable, SlotFull
from booking.models import Appointment, Patient
from booking.schemas import AllocateIn, BookIn
from booking.selectors import SlotSearch, best_open_slots, patient_of
from booking.services import booking_sql, queue_events
from booking.services.appointments import Booking
from booking.services.booking_gate import count_booking, refuse_none_left
from booking.services.booking_sql.aio import (
    Candidates,
    HandOver,
    Replayed,
    aallocate_slot,
    abest_open_slots,
    abook_slot,
    allocating,
    apatient_and_first_call,
    apatient_and_key,
    apatient_and_room,
    apatient_of,
    found_full_lately,
)
from booking.services.booking_sql.reads import SlotFacts, remember_slot
from booking.vaccination.waiting_room import every_drive_sold_out, some_drive_read_sold_out
from clinics.audit import serving
from clinics.exceptions import DomainError
from clinics.permissions import signed_in_user
from clinics.selectors import district_by_code
from config.api import api
from config.async_database import AsyncConnections
from config.lean_routes.request import BookingRequest, Reader


@functools.cache
def operation_of(router: Router, view: Callable[..., Any]) -> Operation:
    """The view's ninja operation, bound to the API as it is when serving its URL: it shapes
    the answer (the response schema for the status, headers set by the view)."""
    for path_view in router.path_operations.values():
        for operation in path_view.operations:
            if operation.view_func is view:
                bound = operation.clone()
                bound.api = api
                return bound
    raise LookupError(f"No ninja operation for {view.__name__}")


def operation_answer(
    router: Router,
    view: Callable[..., Any],
    request: HttpRequest,
    result_of: Callable[[HttpResponse], Any],
) -> HttpResponse:
    """The view's answer as its ninja operation gives it: `result_of` (the view's result, given
    the response it may set headers on) shaped by the operation."""
    operation = operation_of(router, view)
    temporal = api.create_temporal_response(request)
    result = result_of(temporal)
    return operation._result_to_response(request, result, temporal)  # type: ignore[return-value]


def _answered(booking: BookingRequest, made: Booking) -> HttpResponse:
    """The booking's answer as the ninja view gives it, from the operation itself."""
    request, payload = booking.request, booking.payload
    view = patients.allocate if isinstance(payload, AllocateIn) else patients.book
    return operation_answer(
        patients.router, view, request, lambda temporal: patients._booked(request, temporal, made)
    )


def _book_now(booking: BookingRequest) -> HttpResponse:
    """What the ninja view does once the caller is signed in and let in, and its answer, from
    the operation itself."""
    request, payload = booking.request, booking.payload
    user = signed_in_user(request)
    try:
        with serving(request):
            patient = patient_of(user, payload.patient_id)
            made = patients.book_or_allocate(
                request,
                user=user,
                patient=patient,
                payload=payload,
                idempotency_key=booking.idempotency_key,
                let_in=True,
                counted=booking.counted,
            )
            return _answered(booking, made)
    except Exception as exc:  # every error the view could raise, answered as the API does
        return api.on_exception(request, exc)


def _replay_now(booking: BookingRequest, appointment_id: int) -> HttpResponse:
    """The answer to the key's earlier booking, which the function found: the appointment read
    as book_slot reads a replay and answered as _book_now answers one, without allocate's
    search being made again (a retry after a lost answer cost three times a booking)."""
    request = booking.request
    try:
        with serving(request):
            earlier = Appointment.objects.select_related("slot").get(pk=appointment_id)
            return _answered(booking, Booking(appointment=earlier, created=False))
    except Exception as exc:  # as _book_now answers
        return api.on_exception(request, exc)


def with_fresh_connections(function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args)` on an engine thread, with Django's connections as a request has them."""
    close_old_connections()
    try:
        return function(*args)
    finally:
        close_old_connections()


def engine_thread(executor: ThreadPoolExecutor) -> Reader:
    """What runs `function(*args)` on one of `executor`'s threads, with Django's connections as
    a request has them."""

    async def in_a_thread(function: Callable[..., Any], *args: Any) -> Any:
        run = sync_to_async(with_fresh_connections, thread_sensitive=False, executor=executor)
        return await run(function, *args)

    return in_a_thread


async def run_booking(
    booking: BookingRequest,
    *,
    executor: ThreadPoolExecutor,
    connections: AsyncConnections | None = None,
) -> HttpResponse:
    """Book (or find the booking already made with the key) and answer as the API does: on
    the event loop when it can (`connections`), else in a thread. Either way the booking
    holds one of LEAN_TURNS turns, and its ORM work runs on `executor`'s threads (WEB_CAPACITY),
    apart from the reads of people still in line."""
    in_a_thread = engine_thread(executor)
    with desks_told_after():
        if connections is not None:
            try:
                return await _book_on_the_loop(
                    booking, connections=connections, in_a_thread=in_a_thread
                )
            except HandOver:
                pass
            except Replayed as earlier:
                replay: HttpResponse = await in_a_thread(
                    _replay_now, booking, earlier.appointment_id
                )
                return replay
        answer: HttpResponse = await in_a_thread(_book_now, booking)
        return answer


@contextmanager
def desks_told_after() -> Iterator[None]:
    """The centres' desks told of the bookings made within, from the event loop once they are
    committed (queue_events.send_soon)."""
    changes: list[queue_events.QueueChange] = []
    collecting = queue_events.deferred_changes.set(changes)
    try:
        yield
    finally:
        queue_events.deferred_changes.reset(collecting)
        queue_events.send_soon(changes)  # the desks are told from here, after the commit


async def _book_on_the_loop(
    booking: BookingRequest, *, connections: AsyncConnections, in_a_thread: Reader
) -> HttpResponse:
    """What _book_now does, with the booking function on an async connection (allocate's
    candidates are still searched with the ORM, on an engine thread). HandOver, before
    anything is written, when only the ORM can answer."""
    request, payload = booking.request, booking.payload
    user = signed_in_user(request)
    in_flight = allocating() if isinstance(payload, AllocateIn) else nullcontext()
    with serving(request), in_flight:
        try:
            async with connections.connection() as conn:
                if isinstance(payload, AllocateIn) and booking.let_in and _sold_out(booking):
                    await _drive_full_at_once(booking, conn)
                first = None
                if booking.patient_read:
                    found = booking.patient
                elif isinstance(payload, BookIn) and found_full_lately(payload.slot_id):
                    # A burst on one slot: the patient and the call without texts together.
                    found, first = await apatient_and_first_call(
                        conn,
                        account_id=user.pk,
                        patient_id=payload.patient_id,
                        slot_id=payload.slot_id,
                        booked_by=user,
                        channel=Appointment.Channel.API,
                        idempotency_key=booking.idempotency_key,
                    )
                else:
                    found = await _read_patient(booking, conn)
                if found is None:
                    raise HandOver  # the view's 404, in its words
                patient, texts_language, full_as_read = found
                count_booking(user=user, patient=patient, address=request.META.get("REMOTE_ADDR"))
                booking.counted = True
                if isinstance(payload, BookIn):
                    made = await abook_slot(
                        conn,
                        patient=patient,
                        slot_id=payload.slot_id,
                        booked_by=user,
                        channel=Appointment.Channel.API,
                        idempotency_key=booking.idempotency_key,
                        texts_language=texts_language,
                        full_as_read=full_as_read,
                        first=first,
                    )
                else:
                    try:
                        made = await aallocate_slot(
                            conn,
                            patient=patient,
                            booked_by=user,
                            channel=Appointment.Channel.API,
                            idempotency_key=booking.idempotency_key,
                            candidates=_allocation_candidates(booking, patient, conn, in_a_thread),
                            texts_language=texts_language,
                        )
                    except NoSlotAvailable:
                        _refuse_none_left(booking, patient)
        except SlotFull as lost:  # a given slot (allocate moves on): as alternatives_if_full
            assert isinstance(payload, BookIn)
            alternatives = await alternatives_for(payload.slot_id, in_a_thread=in_a_thread)
            lost.detail["alternatives"] = alternatives
            return api.on_exception(request, lost)
        except DomainError as refused:
            return api.on_exception(request, refused)
        appointment, call, done = made
        booking_sql.after_commit(call, done)  # the desks' change is collected by run_booking
        return _answered(booking, Booking(appointment=appointment, created=True))


def _sold_out(booking: BookingRequest) -> bool:
    """booking_gate.drive_full_before_searching's first question, from the drives' counters
    as this process last read them with the line: False until one of them has said no place
    is left (no search is made for the question before), when only the database can tell
    (the search's service not kept here), or when the search is at fault (the view says
    how)."""
    assert isinstance(booking.payload, AllocateIn)
    if not some_drive_read_sold_out():
        return False
    try:
        search = patients.allocation_search(booking.payload, district=None)  # service, days
        return every_drive_sold_out(
            service_id=search.service.pk,
            date_from=search.date_from,
            date_to=search.date_to,
            as_last_read=True,
        )
    except (SynchronousOnlyOperation, DomainError):
        return False


async def _drive_full_at_once(booking: BookingRequest, conn: Any) -> NoReturn:
    """booking_gate.drive_full_before_searching's answer for someone let in to a drive whose
    places are gone, with the patient and the key's earlier booking looked up in one
    statement: DriveFull once the limits are counted; HandOver when there is no such patient
    (the view's 404) or the key has booked (allocate_slot answers with that booking)."""
    payload, user = booking.payload, signed_in_user(booking.request)
    found = await apatient_and_key(
        conn,
        account_id=user.pk,
        patient_id=payload.patient_id,
        idempotency_key=booking.idempotency_key,
    )
    if found is None:
        raise HandOver
    patient, booked = found
    count_booking(user=user, patient=patient, address=booking.request.META.get("REMOTE_ADDR"))
    booking.counted = True
    if booked:
        raise HandOver
    raise DriveFull()


async def _read_patient(booking: BookingRequest, conn: Any) -> tuple[Patient, str, bool] | None:
    """The patient on the signed-in account, their texts' language, and (for a given slot)
    whether the slot is full or closed as read now."""
    payload, account_id = booking.payload, signed_in_user(booking.request).pk
    if isinstance(payload, BookIn):
        return await apatient_and_room(
            conn, account_id=account_id, patient_id=payload.patient_id, slot_id=payload.slot_id
        )
    found = await apatient_of(conn, account_id=account_id, patient_id=payload.patient_id)
    return None if found is None else (*found, False)


def _allocation_candidates(
    booking: BookingRequest, patient: Patient, conn: Any, in_a_thread: Reader
) -> Candidates:
    """Allocate's candidates for the request: the search is made once, as the view makes it,
    then asked again leaving out the slots tried, on `conn` (abest_open_slots) or, when
    that needs the ORM, on an engine thread."""
    payload = booking.payload
    assert isinstance(payload, AllocateIn)
    search: SlotSearch | None = None

    async def candidates(tried: set[int]) -> tuple[SlotSearch, list[SlotFacts]]:
        nonlocal search
        try:
            if search is None:
                search = _allocation_search(payload, patient)
            limit = settings.ALLOCATION_ATTEMPTS
            return search, await abest_open_slots(conn, search, limit=limit, excluding=tried)
        except SynchronousOnlyOperation:
            search, options = await in_a_thread(_candidates, payload, patient, set(tried), search)
            return search, options

    return candidates


def _refuse_none_left(booking: BookingRequest, patient: Patient) -> NoReturn:
    """allocate_for_account's answer when nothing is left (`drive_full` or
    `no_slot_available`), from the cache; HandOver when that needs the database (the drive's
    places to be counted again, say)."""
    payload = booking.payload
    assert isinstance(payload, AllocateIn)
    try:
        refuse_none_left(_allocation_search(payload, patient))
    except SynchronousOnlyOperation as needs_sql:
        raise HandOver from needs_sql


def _allocation_search(payload: AllocateIn, patient: Patient) -> SlotSearch:
    district = district_by_code(patient.district_id) if patient.district_id else None
    return patients.allocation_search(payload, district=district)


def _candidates(
    payload: AllocateIn, patient: Patient, tried: set[int], search: SlotSearch | None
) -> tuple[SlotSearch, list[SlotFacts]]:
    """The search (made if not yet) and its next candidates, with the ORM."""
    if search is None:
        search = _allocation_search(payload, patient)
    options = best_open_slots(search, limit=settings.ALLOCATION_ATTEMPTS, excluding=tried)
    return search, [remember_slot(option.slot) for option in options]


async def alternatives_for(slot_id: int, *, in_a_thread: Reader) -> list[dict[str, Any]]:
    """patients.alternatives_to: kept ones from the event loop, else worked out in a thread."""
    try:
        return patients.alternatives_to(slot_id)
    except SynchronousOnlyOperation:
        return list(await in_a_thread(patients.alternatives_to, slot_id))
