"""The ASGI middleware (LeanRoutes): which requests it answers, Django's own middleware run on
them in and out, the reads and the LEAN_TURNS turns at the engine it admits, and the rest
handed to Django with the body replayed."""

import asyncio
import io
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.locale import LocaleMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils import translation

from booking.schemas import AllocateIn, BookIn
from booking.services import booking_sql
from booking.services.booking_sql.aio import aslot_facts_and_patient
from booking.services.booking_sql.reads import aslot_facts, kept_slot_facts
from booking.vaccination.waiting_room import slot_drive_key
from clinics.permissions import signed_in_user
from config.async_database import AsyncConnections
from config.lean_routes.before_engine import (
    drives_kept_for,
    found_drive_full_lately,
    may_be_a_drives,
    signed_in,
    wait_in_line,
)
from config.lean_routes.engine import engine_thread, run_booking
from config.lean_routes.partner import (
    PARTNER_BOOK_PATH,
    PartnerBooking,
    check_partner_booking,
    parse_partner,
    partner_in_a_drive,
    read_key,
    record_call,
    run_partner_booking,
)
from config.lean_routes.request import (
    ALLOCATE_PATH,
    BOOK_PATH,
    BookingRequest,
    Busy,
    PassThrough,
    lean_routes_apply,
    read_request,
)
from config.lean_routes.wire import _busy, _read_body, _replaying, _send_response
from config.load_shedding import Shedder

logger = logging.getLogger(__name__)

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

ENGINE_TIME_SMOOTHING = 0.2
# How long someone a drive's line has let in waits for a turn at the engine at most: the line
# bounds how many it lets in, so they are not sent back with `busy` after LEAN_MAX_WAIT_SECONDS.
LET_IN_MAX_WAIT_SECONDS = 60
# How long a late arrival for a drive found full waits at most for the bookings in flight to
# be done before it is asked about (see LeanRoutes.after_those_let_in).
LATE_ARRIVAL_MAX_WAIT_SECONDS = 5.0


def _no_view(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    raise AssertionError


def _in_a_drive(booking: BookingRequest) -> bool:
    """Whether the request may be for a drive's waiting room, as far as this process knows
    without asking anyone: a slot it keeps the facts of that is a drive's, or allocate for a
    service unless it keeps the service's drives in their surge, and there are none."""
    return may_be_a_drives(drives_kept_for(booking))


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
        self.in_engine_thread = engine_thread(self.executor)
        # Reads the cache lacked (a session, an account, a drive list): short, and apart from
        # the bookings, so that a surge of people not seen yet does not wait behind them.
        self.reads = ThreadPoolExecutor(max_workers=capacity, thread_name_prefix="lean-read")
        # The booking function called from the event loop, on connections of its own.
        self.connections = (
            AsyncConnections(int(settings.LEAN_DATABASE_CONNECTIONS))
            if self.engaged and booking_sql.use_sql_engine()
            else None
        )
        self.turns = max(int(settings.LEAN_TURNS), 1)
        self.max_waiting = int(settings.LEAN_MAX_WAITING)
        self.max_wait_seconds = float(settings.LEAN_MAX_WAIT_SECONDS)
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.waiting = 0
        self.in_engine = 0  # bookings waiting for a turn or at the engine
        self._idle: asyncio.Event | None = None  # set while in_engine is 0, on _idle_loop
        self._idle_loop: asyncio.AbstractEventLoop | None = None
        self.reading = 0
        self.engine_seconds = 0.0  # how long an engine call has taken lately
        self.answered = 0  # requests the lean route answered itself (the rest went to Django)
        noop = lambda request: HttpResponse()  # noqa: E731 - only their hooks are called
        self.security = SecurityMiddleware(noop)
        self.sessions = SessionMiddleware(noop)
        self.authentication = AuthenticationMiddleware(noop)
        self.locale = LocaleMiddleware(noop)
        self.common = CommonMiddleware(noop)
        self.csrf = CsrfViewMiddleware(noop)
        self.frames = XFrameOptionsMiddleware(noop)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            not self.engaged
            or scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope.get("path") not in (BOOK_PATH, ALLOCATE_PATH, PARTNER_BOOK_PATH)
        ):
            await self.app(scope, receive, send)
            return
        body, complete, disconnected = await _read_body(receive)
        if complete and not disconnected:
            with translation.override(None):
                try:
                    if scope["path"] == PARTNER_BOOK_PATH:
                        response = await self.answer_partner(scope, body)
                    else:
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
        if self.no_turn_soon() and not _in_a_drive(booking):
            # The engine would turn it away: 429 `busy` now, as load shedding answers before
            # any middleware, rather than after the session, the account and the slot are
            # read for nothing (an overloaded process spent as much on a refusal as on a
            # booking). A request this process knows (or cannot tell) to be for a drive goes
            # on to the waiting room, which tells people in line their place from Redis.
            raise Busy
        await self.after_those_let_in(booking)
        self.middleware_in(request)
        await signed_in(booking, read=self.read)
        # ninja's SessionAuth runs Django's CSRF check on every write; a failure is Django's.
        request.csrf_processing_done = False  # type: ignore[attr-defined]
        self.csrf.process_request(request)
        if self.csrf.process_view(request, _no_view, (), {}) is not None:
            raise PassThrough
        await self.know_slot(booking)
        response = await wait_in_line(booking, read=self.read)
        if response is None:
            response = await self.take_turn(
                booking,
                lambda: run_booking(booking, executor=self.executor, connections=self.connections),
            )
            if response is None:
                return _busy()  # as load shedding answers: before any middleware
        return self.finish(request, response)

    def middleware_in(self, request: ASGIRequest) -> None:
        """What Django's middleware does on the way in that matters here; PassThrough where it
        would answer itself."""
        try:
            request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it
        except DisallowedHost as exc:
            raise PassThrough from exc
        if self.security.process_request(request) is not None:  # e.g. to HTTPS
            raise PassThrough
        self.locale.process_request(request)

    async def answer_partner(self, scope: dict[str, Any], body: bytes) -> HttpResponse:
        """A partner's booking (config/lean_routes/partner.py): the key read on a connection of
        the route's, the checks and the waiting room on the loop, the booking at the engine;
        every answer once the key is read is written to its uses."""
        connections = self.connections
        if connections is None:
            raise PassThrough
        request = ASGIRequest(scope, io.BytesIO(body))
        booking = parse_partner(request, body)
        if self.no_turn_soon() and not partner_in_a_drive(booking):
            raise Busy  # as for a person's own booking (answer)
        self.middleware_in(request)
        self.sessions.process_request(request)  # no session cookie: nothing is read
        self.authentication.process_request(request)  # AnonymousUser, when asked (audit)
        if connections.waiting >= self.max_waiting:
            raise Busy
        async with connections.connection() as conn:
            await read_key(booking, conn)
            # The slot's facts kept, so that the waiting room need not read them in a thread.
            await aslot_facts(conn, booking.payload.slot_id)
        response: HttpResponse | None = None
        try:
            response = await check_partner_booking(booking, read=self.read)
            if response is None:
                turn = await self.take_turn(
                    booking,
                    lambda: run_partner_booking(
                        booking, connections=connections, in_a_thread=self.in_engine_thread
                    ),
                )
                if turn is not None:
                    return self.finish(request, turn)  # the call was written at the engine
        except Busy:
            pass
        answer = _busy() if response is None else self.finish(request, response)
        async with connections.connection() as conn:
            await record_call(booking, answer, conn)
        return answer

    async def after_those_let_in(self, booking: BookingRequest) -> None:
        """A request for a drive whose every place the line has lately said is taken (most
        likely someone new, to be told `drive_full`) waits, before anything is read for it,
        until no booking is waiting for a turn or at the engine in this process, or
        LATE_ARRIVAL_MAX_WAIT_SECONDS. In a flash drive the people let in then book first,
        without the late arrivals' session reads and answers taking the cores from them
        (bench/surge.py: the final answers' p99 8-12 s against 14-17 s; the sell-out within
        the runs' spread). Someone let in who asks again then waits too, at most that
        long."""
        if not found_drive_full_lately(booking):
            return
        idle = self._idle_event()
        if idle.is_set():
            return
        try:
            async with asyncio.timeout(LATE_ARRIVAL_MAX_WAIT_SECONDS):
                await idle.wait()
        except TimeoutError:
            pass

    def _idle_event(self) -> asyncio.Event:
        """The event set while no booking is waiting for a turn or at the engine, made anew
        for a new loop (the tests' runs)."""
        loop = asyncio.get_running_loop()
        if self._idle is None or self._idle_loop is not loop:
            self._idle, self._idle_loop, self.in_engine = asyncio.Event(), loop, 0
            self._idle.set()
        return self._idle

    @staticmethod
    def parse(request: ASGIRequest, body: bytes) -> BookingRequest:
        payload: BookIn | AllocateIn
        if request.path == ALLOCATE_PATH:
            payload, key = read_request(request, body, AllocateIn)
        else:
            payload, key = read_request(request, body, BookIn)
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
        the event loop when neither the cache nor the process has them; the patient is read
        in the same statement then, for the engine (BookingRequest.patient)."""
        payload = booking.payload
        if (
            self.connections is not None
            and isinstance(payload, BookIn)
            and booking.known.get(slot_drive_key(payload.slot_id)) is None
            and kept_slot_facts(payload.slot_id) is None
        ):
            if self.connections.waiting >= self.max_waiting:
                raise Busy
            async with self.connections.connection() as conn:  # the patient with it, once
                found = await aslot_facts_and_patient(
                    conn,
                    slot_id=payload.slot_id,
                    account_id=signed_in_user(booking.request).pk,
                    patient_id=payload.patient_id,
                )
            if found is not None:
                booking.patient, booking.patient_read = found[1], True

    def no_turn_soon(self) -> bool:
        """Every turn is taken and too many wait already, or the wait expected (from how long
        the engine has taken lately) is longer than LEAN_MAX_WAIT_SECONDS."""
        semaphore = self._semaphore
        return (
            semaphore is not None
            and self._loop is asyncio.get_running_loop()
            and semaphore.locked()
            and (
                self.waiting >= self.max_waiting
                or (self.waiting + 1) * self.engine_seconds / self.turns > self.max_wait_seconds
            )
        )

    async def take_turn(
        self,
        booking: BookingRequest | PartnerBooking,
        engine: Callable[[], Awaitable[HttpResponse]],
    ) -> HttpResponse | None:
        """The engine's answer, LEAN_TURNS bookings at a time; the rest wait their turn, up
        to a bound (None: too many waiting, or a wait expected or found longer than
        LEAN_MAX_WAIT_SECONDS, from how long the engine has taken lately). Someone a drive's
        line has let in waits however many are waiting, up to LET_IN_MAX_WAIT_SECONDS: told
        `busy`, they had asked again at the back of the engine's queue, still let in, and in
        bench/surge.py 1,000-1,300 people a run had, after waiting 5-11 s, which also left
        some of the drive's places to people asking again 10 s later (sold out after 14-25 s
        rather than 13)."""
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:  # a new loop: the tests' runs
            self._semaphore, self._loop = asyncio.Semaphore(self.turns), loop
        semaphore = self._semaphore
        idle = self._idle_event()
        if not booking.let_in and self.no_turn_soon():
            return None
        self.in_engine += 1
        idle.clear()
        try:
            return await self._take_turn(booking, semaphore, engine)
        finally:
            self.in_engine -= 1
            if self.in_engine == 0:
                idle.set()

    async def _take_turn(
        self,
        booking: BookingRequest | PartnerBooking,
        semaphore: asyncio.Semaphore,
        engine: Callable[[], Awaitable[HttpResponse]],
    ) -> HttpResponse | None:
        self.waiting += 1
        try:
            limit = LET_IN_MAX_WAIT_SECONDS if booking.let_in else self.max_wait_seconds
            async with asyncio.timeout(limit):
                await semaphore.acquire()
        except TimeoutError:
            return None
        finally:
            self.waiting -= 1
        if self.shedder is not None:
            self.shedder.started()
        began = time.monotonic()
        try:
            return await engine()
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
