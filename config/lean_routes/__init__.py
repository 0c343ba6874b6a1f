"""The lean route: `POST /api/v1/me/appointments` and `POST /api/v1/me/appointments/allocate`,
and a partner's `POST /api/v1/partner/appointments`, answered on the event loop, in front of
Django's request stack (issue 17), with PostgreSQL and Redis (setting LEAN_ROUTES). A
partner's booking, read with its key rather than a session, is described in `partner`; what
follows is a person's own.

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
   booking_book_slot_v2 on an async connection (config/async_database.py,
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

Admission: LEAN_TURNS bookings run at once (on the loop, up to LEAN_DATABASE_CONNECTIONS
of them in the database at a time, or in one of WEB_CAPACITY threads with a pooled connection
each); a burst
waits for a turn on the event loop rather than being refused, up to LEAN_MAX_WAITING
requests and a wait of LEAN_MAX_WAIT_SECONDS (expected from how long the engine has taken
lately, or found); beyond that, 429 `busy` at once, as from load shedding. While that holds, a
booking of a slot not known to be a drive's (or allocate for a service with no drive in its
surge, as this process keeps them) is told `busy` as soon as it is parsed, before the session,
account or slot is read (an overloaded process had spent as much on each refusal as on a
booking); a drive's polls still reach the waiting room.
Django's load shedding counts the bookings running here as in flight: both share the
machine, and a hand-over shares the pool. In a drive's surge most requests are asks in line,
and each booking on the loop waits there several times behind them: the more bookings in
flight, the more of the loop the engine keeps (LEAN_TURNS, see config/settings.py).

The package, one module each:

- `middleware`: the ASGI middleware itself (`LeanRoutes`): which requests it takes, Django's
  own middleware run on them in and out, the reader threads and the LEAN_TURNS turns at the
  engine (admission), and what goes on to Django;
- `request`: a booking request as read here (`BookingRequest`), the two paths (`BOOK_PATH`,
  `ALLOCATE_PATH`), whether the route applies (`lean_routes_apply`), and `PassThrough` and
  `Busy`, which say who answers instead;
- `before_engine`: steps 1 and 4, the session and account (`signed_in`) and the waiting room
  (`wait_in_line`);
- `engine`: step 5 (`run_booking`), on the event loop or in an engine thread, answered by the
  ninja operation;
- `partner`: a partner's booking (`PartnerBooking`): the key, the checks before the person,
  and the person and the booking at the engine, with each call written to the key's uses;
- `wire`: the ASGI messages, reading the body, replaying it to Django, sending an answer.
"""

from config.lean_routes.before_engine import signed_in, wait_in_line
from config.lean_routes.engine import run_booking
from config.lean_routes.middleware import LeanRoutes
from config.lean_routes.request import (
    ALLOCATE_PATH,
    BOOK_PATH,
    BookingRequest,
    Busy,
    PassThrough,
    lean_routes_apply,
)

__all__ = [
    "ALLOCATE_PATH",
    "BOOK_PATH",
    "BookingRequest",
    "Busy",
    "LeanRoutes",
    "PassThrough",
    "lean_routes_apply",
    "run_booking",
    "signed_in",
    "wait_in_line",
]
