"""The lean route: `POST /api/v1/me/appointments` and `POST /api/v1/me/appointments/allocate`
answered on the event loop, in front of Django's request stack (issue 17), with PostgreSQL and
Redis (setting LEAN_ROUTES).

Django's synchronous stack costs 7-9 ms of CPU per request before any work, and a surge is
mostly people polling the waiting room. Here a booking request is read once and, when it is an
ordinary one, answered without that stack:

1. the session, from Redis (cached_db; from the database in a thread when Redis has lost
   it), and the account it names, checked as django.contrib.auth.get_user checks it, from a
   per-account cache (booking/signed_in.py);
2. Django's own SecurityMiddleware, LocaleMiddleware (the API speaks Accept-Language) and
   CsrfViewMiddleware, run on a real ASGIRequest built from the scope and body, as ninja's
   SessionAuth runs the CSRF check on writes;
3. the body, parsed and validated with the operation's own schemas (BookIn, AllocateIn), and
   the Idempotency-Key header's rules;
4. the waiting room (wait_turn_for_slot / wait_turn): "in queue" and `drive_full` come from
   Redis with no SQL at all, rendered by the API's own exception handlers;
5. the engine, `run_booking`, on the event loop when the booking function is the engine
   (BOOKING_ENGINE "sql"): the patient read, the limits, and the call of
   booking_book_slot_v1 on an async connection (config/async_database.py,
   booking/services/booking_sql/aio.py) for the slot, or for each of allocate's candidates
   in allocate's order (searched with the ORM in an engine thread), answered by the ninja
   operation itself. Anything that needs the ORM is handed to a thread, where the ninja
   view's own steps after sign-in run (patient_of, the limits, book_slot / allocate_slot
   with alternatives_if_full): a patient not on the account, a replay, a course of several
   doses, a drive's rules not met, no candidate left. The function writes nothing in those
   cases and the limits are counted once. The audit event sees this request, its account,
   `POST /api/v1/me/appointments` and REMOTE_ADDR (the address uvicorn's proxy-header rule
   left in the scope, as for Django).

Anything else passes through to Django unchanged, with the body already read replayed: no
session, a session get_user would not take, a CSRF failure, a body that is not JSON or breaks
a rule, a missing or short Idempotency-Key, a NUL character, a disallowed host, another path or
method, and anything that fails before the engine. Django gives those their answers, so they
are the same by construction; the hot answers
(booked, replayed, `slot_full` with alternatives, `already_booked`, "in queue", `drive_full`,
`too_many_requests`) are given here, from the same functions, and the tests compare each with
Django's.

One difference in order: the view reads the patient before the waiting room, so that a patient
not on the account is 404 at once; here the waiting room comes first (an "in queue" answer
costs no SQL), so such a request is told its place in line, and 404 once let in.

The ninja operations stay as they are: the OpenAPI documentation is generated from them, and
this route is only a faster way of running them behind the same URL.

Admission: WEB_CAPACITY bookings run at once (on the loop, up to LEAN_DATABASE_CONNECTIONS
of them in the database at a time, or in a thread with a pooled connection each); a burst
waits for a turn on the event loop rather than being refused, up to LEAN_MAX_WAITING
requests and a wait of LEAN_MAX_WAIT_SECONDS (expected from how long the engine has taken
lately, or found); beyond that, 429 `busy` at once, as from load shedding.
Django's load shedding counts the bookings running here as in flight: both share the pool.
"""

import asyncio
import functools
import io
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.cache import cache
from django.core.exceptions import DisallowedHost, SynchronousOnlyOperation
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections, connection
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.locale import LocaleMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils import translation
from ninja.operation import Operation
from pydantic import ValidationError as PydanticValidationError

from booking.api import patients
from booking.exceptions import DriveFull, InQueue, SlotFull
from booking.models import Appointment, Patient
from booking.schemas import AllocateIn, BookIn
from booking.selectors import SlotSearch, best_open_slots, patient_of
from booking.services import booking_sql, queue_events
from booking.services.appointments import Booking
from booking.services.booking_gate import count_booking
from booking.services.booking_sql.aio import (
    Candidates,
    HandOver,
    Option,
    aallocate_slot,
    abest_open_slots,
    abook_slot,
    apatient_of,
)
from booking.services.booking_sql.reads import (
    aslot_facts,
    kept_slot_facts,
    remember_slot,
)
from booking.signed_in import (
    account_key,
    cached_account,
    cached_session,
    keep_account,
    sessions_are_cached,
    signed_in_account,
    stored_session,
    user_id_of,
)
from booking.vaccination.waiting_room import slot_drive_key, wait_turn, wait_turn_for_slot
from clinics.audit import serving
from clinics.exceptions import DomainError
from clinics.permissions import signed_in_user
from clinics.selectors import district_by_code, service_by_code
from config.api import api
from config.async_database import AsyncConnections
from config.load_shedding import BUSY_BODY, BUSY_HEADERS, Shedder
from config.middleware import NUL_MARKERS

logger = logging.getLogger(__name__)

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

BOOK_PATH = "/api/v1/me/appointments"
ALLOCATE_PATH = "/api/v1/me/appointments/allocate"
# A booking's body is a few dozen bytes; anything much larger is for Django to judge.
MAX_BODY_BYTES = 16 * 1024
IDEMPOTENCY_KEY_LENGTH = (8, 100)  # as the operations' IdempotencyKey header says
ENGINE_TIME_SMOOTHING = 0.2


class PassThrough(Exception):
    """Django's stack answers this request."""


@dataclass
class BookingRequest:
    request: HttpRequest
    payload: BookIn | AllocateIn
    idempotency_key: str
    # What the cache held for the account and the slot's drive, read in one round trip.
    known: dict[str, Any] = field(default_factory=dict)
    # Whether the booking limits have counted this request already (before a hand-over).
    counted: bool = False


def lean_routes_apply() -> bool:
    """Whether the lean route may answer here: asked for, PostgreSQL, Redis, sessions in it."""
    return bool(
        getattr(settings, "LEAN_ROUTES", False)
        and settings.REDIS_URL
        and connection.vendor == "postgresql"
        and sessions_are_cached()
    )


@functools.cache
def _operation(view: Callable[..., Any]) -> Operation:
    """The view's ninja operation, bound to the API as it is when serving its URL: it shapes
    the answer (the response schema for the status, headers set by the view)."""
    for path_view in patients.router.path_operations.values():
        for operation in path_view.operations:
            if operation.view_func is view:
                bound = operation.clone()
                bound.api = api
                return bound
    raise LookupError(f"No ninja operation for {view.__name__}")


# --- The engine: the one call the database does the work in ------------------------------------

Reader = Callable[..., Awaitable[Any]]


def _book_now(booking: BookingRequest) -> HttpResponse:
    """What the ninja view does once the caller is signed in and let in, and its answer, from
    the operation itself."""
    request, payload = booking.request, booking.payload
    user = signed_in_user(request)
    operation = _operation(patients.allocate if isinstance(payload, AllocateIn) else patients.book)
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
            temporal = api.create_temporal_response(request)
            result = patients._booked(request, temporal, made)
            return operation._result_to_response(request, result, temporal)  # type: ignore[return-value]
    except Exception as exc:  # every error the view could raise, answered as the API does
        return api.on_exception(request, exc)


def _with_fresh_connections(function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args)` on an engine thread, with Django's connections as a request has them."""
    close_old_connections()
    try:
        return function(*args)
    finally:
        close_old_connections()


async def run_booking(
    booking: BookingRequest,
    *,
    executor: ThreadPoolExecutor,
    connections: AsyncConnections | None = None,
) -> HttpResponse:
    """Book (or find the booking already made with the key) and answer as the API does: on
    the event loop when it can (`connections`), else in a thread. Either way the booking
    holds one of WEB_CAPACITY turns, and its ORM work runs on `executor`'s threads (as many),
    apart from the reads of people still in line."""

    async def in_a_thread(function: Callable[..., Any], *args: Any) -> Any:
        run = sync_to_async(_with_fresh_connections, thread_sensitive=False, executor=executor)
        return await run(function, *args)

    changes: list[queue_events.QueueChange] = []
    collecting = queue_events.deferred_changes.set(changes)
    try:
        if connections is not None:
            try:
                return await _book_on_the_loop(
                    booking, connections=connections, in_a_thread=in_a_thread
                )
            except HandOver:
                pass
        answer: HttpResponse = await in_a_thread(_book_now, booking)
        return answer
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
    with serving(request):
        try:
            async with connections.connection() as conn:
                patient = await apatient_of(conn, account_id=user.pk, patient_id=payload.patient_id)
                if patient is None:
                    raise HandOver  # the view's 404, in its words
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
                    )
                else:
                    made = await aallocate_slot(
                        conn,
                        patient=patient,
                        booked_by=user,
                        channel=Appointment.Channel.API,
                        idempotency_key=booking.idempotency_key,
                        candidates=_allocation_candidates(booking, patient, conn, in_a_thread),
                    )
        except SlotFull as lost:  # a given slot (allocate moves on): as alternatives_if_full
            assert isinstance(payload, BookIn)
            alternatives = await _alternatives(payload.slot_id, in_a_thread=in_a_thread)
            lost.detail["alternatives"] = alternatives
            return api.on_exception(request, lost)
        except DomainError as refused:
            return api.on_exception(request, refused)
        appointment, call, done = made
        booking_sql.after_commit(call, done)  # the desks' change is collected by run_booking
        temporal = api.create_temporal_response(request)
        result = patients._booked(request, temporal, Booking(appointment=appointment, created=True))
        view = patients.allocate if isinstance(payload, AllocateIn) else patients.book
        return _operation(view)._result_to_response(request, result, temporal)  # type: ignore[return-value]


def _allocation_candidates(
    booking: BookingRequest, patient: Patient, conn: Any, in_a_thread: Reader
) -> Candidates:
    """Allocate's candidates for the request: the search is made once, as the view makes it,
    then asked again leaving out the slots tried, on `conn` (abest_open_slots) or, when
    that needs the ORM, on an engine thread."""
    payload = booking.payload
    assert isinstance(payload, AllocateIn)
    search: SlotSearch | None = None

    async def candidates(tried: set[int]) -> tuple[SlotSearch, list[Option]]:
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


def _allocation_search(payload: AllocateIn, patient: Patient) -> SlotSearch:
    district = district_by_code(patient.district_id) if patient.district_id else None
    return patients.allocation_search(payload, district=district)


def _candidates(
    payload: AllocateIn, patient: Patient, tried: set[int], search: SlotSearch | None
) -> tuple[SlotSearch, list[Option]]:
    """The search (made if not yet) and its next candidates, with the ORM."""
    if search is None:
        search = _allocation_search(payload, patient)
    options = best_open_slots(search, limit=settings.ALLOCATION_ATTEMPTS, excluding=tried)
    return search, [
        Option(remember_slot(option.slot), option.slot.capacity - option.slot.booked)
        for option in options
    ]


async def _alternatives(slot_id: int, *, in_a_thread: Reader) -> list[dict[str, Any]]:
    """patients.alternatives_to: kept ones from the event loop, else worked out in a thread."""
    try:
        return patients.alternatives_to(slot_id)
    except SynchronousOnlyOperation:
        return list(await in_a_thread(patients.alternatives_to, slot_id))


# --- Before the engine: all on the event loop ----------------------------------------------------


def _wait_in_line(booking: BookingRequest) -> None:
    payload, user_id = booking.payload, signed_in_user(booking.request).pk
    if isinstance(payload, BookIn):
        wait_turn_for_slot(slot_id=payload.slot_id, account_id=user_id, known=booking.known)
    else:
        wait_turn(service_id=service_by_code(payload.service).pk, account_id=user_id)


def _wait_in_line_in_a_thread(booking: BookingRequest) -> None:
    close_old_connections()
    try:
        _wait_in_line(booking)
    finally:
        close_old_connections()


async def wait_in_line(booking: BookingRequest, *, read: Reader) -> HttpResponse | None:
    """The waiting room: its answer ("in queue", `drive_full`), or None once let in. Asked on
    the event loop from Redis; the rare step that needs SQL (a drive list or a count not in the
    cache) raises SynchronousOnlyOperation before any statement, and the whole step is asked
    again in a thread."""
    try:
        try:
            _wait_in_line(booking)
        except SynchronousOnlyOperation:
            await read(_wait_in_line_in_a_thread, booking)
    except (InQueue, DriveFull) as refused:
        return api.on_exception(booking.request, refused)
    except Busy:
        raise
    except Exception as exc:  # an unknown service, say: the view's order of checks decides
        raise PassThrough from exc
    return None


class NeedsDatabase(Exception):
    """The cache does not hold it: read it in a thread."""


class Busy(Exception):
    """Too many requests are waiting already: 429 `busy`, as load shedding answers."""


async def signed_in(booking: BookingRequest, *, read: Reader) -> None:
    """Put the session and the account on the request as Django's middleware would: from the
    cache on the event loop, or, when the cache lacks either, in one thread that reads the
    database too (and fills the cache). PassThrough when only Django can tell."""
    session_key = booking.request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        raise PassThrough
    try:
        found = _sign_in(booking, session_key, database=False)
    except NeedsDatabase:
        found = await read(_sign_in_in_a_thread, booking, session_key)
    if found is None:
        raise PassThrough
    session, kept = found
    user = signed_in_account(session, kept)
    if user is None:
        raise PassThrough
    booking.request.session = session
    booking.request.user = user


def _sign_in(
    booking: BookingRequest, session_key: str, *, database: bool
) -> tuple[SessionBase, dict[str, Any]] | None:
    """The session and what is kept of its account; None when there is no such session or
    account. NeedsDatabase when the cache lacks either and `database` is false."""
    session = cached_session(session_key)
    if session is None:  # the cache has lost it: read where the session engine keeps it
        if not database:
            raise NeedsDatabase
        session = stored_session(session_key)
        if session is None:
            return None
    user_id = user_id_of(session)
    if user_id is None:
        return None
    keys = [account_key(user_id)]
    if isinstance(booking.payload, BookIn):  # the waiting room asks next
        keys.append(slot_drive_key(booking.payload.slot_id))
    booking.known = cache.get_many(keys)
    kept = cached_account(user_id, known=booking.known)
    if kept is None:
        if not database:
            raise NeedsDatabase
        kept = keep_account(user_id)
        if kept is None:
            return None
    return session, kept


def _sign_in_in_a_thread(
    booking: BookingRequest, session_key: str
) -> tuple[SessionBase, dict[str, Any]] | None:
    close_old_connections()
    try:
        return _sign_in(booking, session_key, database=True)
    finally:
        close_old_connections()


def _no_view(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    raise AssertionError


class LeanRoutes:
    """ASGI middleware: the two booking operations answered here when they are ordinary; every
    other request, and every unusual booking request, goes to `app` (Django, behind load
    shedding) untouched, its body replayed."""

    def __init__(self, app: ASGIApp, *, shedder: Shedder | None = None) -> None:
        self.app = app
        # Django's load shedding counts the lean route's bookings as in flight too: both take
        # connections from the same pool.
        self.shedder = shedder
        self.engaged = lean_routes_apply()
        capacity = max(int(settings.WEB_CAPACITY), 1)
        self.executor = ThreadPoolExecutor(max_workers=capacity, thread_name_prefix="lean-route")
        # Reads the cache lacked (a session, an account, a drive list): short, and apart from
        # the bookings, so that a surge of people not seen yet does not wait behind them.
        self.reads = ThreadPoolExecutor(max_workers=capacity, thread_name_prefix="lean-read")
        # The booking function called from the event loop, on connections of its own.
        self.connections = (
            AsyncConnections(int(settings.LEAN_DATABASE_CONNECTIONS))
            if self.engaged and booking_sql.use_sql_engine()
            else None
        )
        self.turns = capacity
        self.max_waiting = int(settings.LEAN_MAX_WAITING)
        self.max_wait_seconds = float(settings.LEAN_MAX_WAIT_SECONDS)
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.waiting = 0
        self.reading = 0
        self.engine_seconds = 0.0  # how long an engine call has taken lately
        self.answered = 0  # requests the lean route answered itself (the rest went to Django)
        noop = lambda request: HttpResponse()  # noqa: E731 - only their hooks are called
        self.security = SecurityMiddleware(noop)
        self.sessions = SessionMiddleware(noop)
        self.locale = LocaleMiddleware(noop)
        self.common = CommonMiddleware(noop)
        self.csrf = CsrfViewMiddleware(noop)
        self.frames = XFrameOptionsMiddleware(noop)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            not self.engaged
            or scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope.get("path") not in (BOOK_PATH, ALLOCATE_PATH)
        ):
            await self.app(scope, receive, send)
            return
        body, complete, disconnected = await _read_body(receive)
        if complete and not disconnected:
            with translation.override(None):
                try:
                    response = await self.answer(scope, body)
                except PassThrough:
                    response = None
                except Busy:
                    response = _busy()
                except Exception:
                    # Django answers what went wrong as it would have (a database that cannot
                    # be reached is 503). A booking the engine made is only replayed there:
                    # its idempotency key finds it.
                    logger.exception("The lean route failed on %s; Django answers.", scope["path"])
                    response = None
            if response is not None:
                self.answered += 1
                await _send_response(response, send)
                return
        await self.app(scope, _replaying(body, complete, disconnected, receive), send)

    async def answer(self, scope: dict[str, Any], body: bytes) -> HttpResponse:
        request = ASGIRequest(scope, io.BytesIO(body))
        booking = self.parse(request, body)
        try:
            request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it
        except DisallowedHost as exc:
            raise PassThrough from exc
        if self.security.process_request(request) is not None:  # e.g. to HTTPS
            raise PassThrough
        self.locale.process_request(request)
        await signed_in(booking, read=self.read)
        # ninja's SessionAuth runs Django's CSRF check on every write; a failure is Django's.
        request.csrf_processing_done = False  # type: ignore[attr-defined]
        self.csrf.process_request(request)
        if self.csrf.process_view(request, _no_view, (), {}) is not None:
            raise PassThrough
        await self.know_slot(booking)
        response = await wait_in_line(booking, read=self.read)
        if response is None:
            response = await self.take_turn(booking)
            if response is None:
                return _busy()  # as load shedding answers: before any middleware
        return self.finish(request, response)

    @staticmethod
    def parse(request: ASGIRequest, body: bytes) -> BookingRequest:
        raw = request.get_full_path().encode() + body
        if any(marker in raw.lower() for marker in NUL_MARKERS):
            raise PassThrough  # RefuseNulCharacters answers it
        if request.content_type != "application/json" or request.GET:
            raise PassThrough
        key = request.headers.get("Idempotency-Key")
        shortest, longest = IDEMPOTENCY_KEY_LENGTH
        if key is None or not shortest <= len(key) <= longest:
            raise PassThrough
        schema = AllocateIn if request.path == ALLOCATE_PATH else BookIn
        try:
            if not isinstance(json.loads(body), dict):
                raise PassThrough
            payload = schema.model_validate_json(body)
        except (ValueError, PydanticValidationError) as exc:
            raise PassThrough from exc
        return BookingRequest(request=request, payload=payload, idempotency_key=key)

    async def read(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(*args)` on a reader thread (it reads the database), or Busy when
        LEAN_MAX_WAITING reads are queued for one already."""
        if self.reading >= self.max_waiting:
            raise Busy
        self.reading += 1
        try:
            return await sync_to_async(function, thread_sensitive=False, executor=self.reads)(*args)
        finally:
            self.reading -= 1

    async def know_slot(self, booking: BookingRequest) -> None:
        """The slot's facts kept in this process (its drive, for the waiting room), read on
        the event loop when neither the cache nor the process has them."""
        payload = booking.payload
        if (
            self.connections is not None
            and isinstance(payload, BookIn)
            and slot_drive_key(payload.slot_id) not in booking.known
            and kept_slot_facts(payload.slot_id) is None
        ):
            if self.connections.waiting >= self.max_waiting:
                raise Busy
            async with self.connections.connection() as conn:
                await aslot_facts(conn, payload.slot_id)

    async def take_turn(self, booking: BookingRequest) -> HttpResponse | None:
        """The engine's answer, WEB_CAPACITY bookings at a time; the rest wait their turn, up
        to a bound (None: too many waiting, or a wait expected or found longer than
        LEAN_MAX_WAIT_SECONDS, from how long the engine has taken lately)."""
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:  # a new loop: the tests' runs
            self._semaphore, self._loop = asyncio.Semaphore(self.turns), loop
        semaphore = self._semaphore
        if semaphore.locked() and (
            self.waiting >= self.max_waiting
            or (self.waiting + 1) * self.engine_seconds / self.turns > self.max_wait_seconds
        ):
            return None
        self.waiting += 1
        try:
            async with asyncio.timeout(self.max_wait_seconds):
                await semaphore.acquire()
        except TimeoutError:
            return None
        finally:
            self.waiting -= 1
        if self.shedder is not None:
            self.shedder.started()
        began = time.monotonic()
        try:
            return await run_booking(booking, executor=self.executor, connections=self.connections)
        finally:
            # A smoothed time per engine call, as load shedding smooths its latency.
            took = time.monotonic() - began
            self.engine_seconds += ENGINE_TIME_SMOOTHING * (took - self.engine_seconds)
            if self.shedder is not None:
                self.shedder.finished()
            semaphore.release()

    def finish(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """What Django's middleware adds to an API answer on its way out, in its order."""
        if "Content-Security-Policy" not in response:  # config.middleware.ContentSecurityPolicy
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        answer: Any = response  # each hook takes and gives an HttpResponse here
        for middleware in (
            self.frames,
            self.csrf,
            self.common,
            self.locale,
            self.sessions,
            self.security,
        ):
            answer = middleware.process_response(request, answer)
        assert isinstance(answer, HttpResponse)  # none of them makes a streaming one
        return answer


def _busy() -> HttpResponse:
    response = HttpResponse(BUSY_BODY, status=429)
    for name, value in BUSY_HEADERS:
        response[name.decode()] = value.decode()
    return response


async def _read_body(receive: Any) -> tuple[bytes, bool, bool]:
    """The body (up to MAX_BODY_BYTES), whether that is all of it, and whether the client
    went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), False, True
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True, False
        if size > MAX_BODY_BYTES:
            return b"".join(chunks), False, False


def _replaying(body: bytes, complete: bool, disconnected: bool, receive: Any) -> Any:
    """`receive` for Django: the part of the body already read, then the rest as it comes."""
    replayed = False

    async def replay() -> dict[str, Any]:
        nonlocal replayed
        if not replayed:
            replayed = True
            if disconnected and not body:
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": body, "more_body": not complete}
        if disconnected:
            return {"type": "http.disconnect"}
        return dict(await receive())

    return replay


async def _send_response(response: HttpResponse, send: Any) -> None:
    """The response as ASGIHandler sends a plain one."""
    headers = [(name.encode("latin1"), value.encode("latin1")) for name, value in response.items()]
    for cookie in response.cookies.values():
        headers.append((b"Set-Cookie", cookie.output(header="").encode("ascii").strip()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})
