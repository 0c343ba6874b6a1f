"""Booking a slot with booking_book_slot_v2 on the event loop, on a psycopg AsyncConnection
(the lean route): the same building blocks and the same call as
booking.services.appointments.booking._book_in_one_call, for the answers that need nothing more.

`abook_slot` gives the new appointment, or raises the DomainError the ORM path raises for
the same refusal, or HandOver when the answer needs Django's ORM: an earlier booking with the
key (read back with its relations), a course of several doses (booked by the ORM path) or a
drive's rules not met (worded by booking.vaccination.eligibility). The function writes nothing in
those cases, so the caller books again through book_slot in a thread, and gets the same answer.
"""

import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import SynchronousOnlyOperation

from booking.exceptions import NoSlotAvailable, NotEligible, SlotClosed, SlotFull
from booking.models import Appointment, Partner, Patient
from booking.selectors import (
    SlotOrder,
    SlotSearch,
    centres_to_walk,
    open_slots_in_centre_order_sql,
)
from booking.services.appointments import Tries
from booking.services.booking_sql.call import (
    CALL_SQL,
    BookingCall,
    Outcome,
    booked_appointment,
    outcome,
    prepare,
)
from booking.services.booking_sql.reads import (
    SlotFacts,
    anext_appointment_id,
    areference,
    aslot_facts,
    facts_of_row,
    keep_slot_facts,
)

# What an answer and the limits need of the patient; the rest is left deferred.
PATIENT_FIELDS = ("id", "account_id", "first_name", "last_name", "national_id", "district_id")
# The patient, and the language their texts go in: booking.notices.recipient_for's choice, as
# the booking function makes it (step 11): their own, for the account holder or someone in
# their care with a proven phone (or the holder's own number); else the holder's.
PATIENT_SQL = (
    f"SELECT {', '.join('p.' + name for name in PATIENT_FIELDS)}, "
    "CASE WHEN p.relationship = 'self' OR (p.phone <> '' AND p.phone_verified_at IS NOT NULL) "
    "THEN p.preferred_language ELSE coalesce(("
    "SELECT CASE WHEN h.phone = p.phone THEN p.preferred_language ELSE h.preferred_language END "
    "FROM booking_patient h WHERE h.account_id = p.account_id AND h.relationship = 'self' "
    "AND h.phone <> '' ORDER BY h.id LIMIT 1), p.preferred_language) END "
    "FROM booking_patient p WHERE p.id = %s AND p.account_id = %s"
)
# Whether the slot is full or closed as read now: the texts of a refusal are not made.
FULL_SQL = "s.closed OR s.is_full"
# A slot's facts (SLOT_FACTS_SQL's columns), FULL_SQL and PATIENT_SQL's row, in one statement:
# for a booking of a slot this process has not seen yet, which would read both.
SLOT_AND_PATIENT_SQL = (
    f'SELECT s.start, s."end", s.centre_id, s.service_id, s.drive_id, {FULL_SQL}, pp.* '
    f"FROM booking_slot s LEFT JOIN LATERAL ({PATIENT_SQL}) pp ON true WHERE s.id = %s"
)
# PATIENT_SQL's row and FULL_SQL, for a booking of a slot whose facts this process keeps.
PATIENT_AND_ROOM_SQL = PATIENT_SQL.replace(
    " FROM booking_patient p WHERE",
    f", (SELECT {FULL_SQL} FROM booking_slot s WHERE s.id = %s) FROM booking_patient p WHERE",
)
# PATIENT_SQL's row, and whether the account has booked with the key (booking_gate's
# drive_full_before_searching, for someone let in to a drive whose places are gone).
PATIENT_AND_KEY_SQL = PATIENT_SQL.replace(
    " FROM booking_patient p WHERE",
    ", EXISTS (SELECT 1 FROM booking_appointment a WHERE a.booked_by_id = p.account_id "
    "AND a.idempotency_key = %s) FROM booking_patient p WHERE",
)

# PATIENT_SQL's row and the booking function's answer to a call without texts
# (NO_TEXTS_CALL_SQL's), in one statement: for a slot this process found full a moment ago (a
# burst on one slot, where nearly every answer is a refusal), which would otherwise cost a
# statement for the patient and another for the call. No such patient on the account: no row,
# and the function is not called.
PATIENT_AND_NO_TEXTS_CALL_SQL = PATIENT_SQL.replace(
    " FROM booking_patient p WHERE",
    f", {CALL_SQL.removeprefix('SELECT ')} FROM booking_patient p, "
    "set_config('synchronous_commit', 'off', true) AS quick WHERE",
)
# allocate_slot's look for an earlier booking with the key (booking.services.appointments).
# The lock's own transaction writes nothing that matters once it ends (the row's lock), so it
# commits without waiting for its WAL to reach the disk (synchronous_commit off for it alone):
# after a drive sold out, everyone let in but too late took this lock, each waiting for a
# flush of the disk (WALSync in pg_stat_activity) while holding one of the engine's turns.
LOCK_PATIENT_SQL = (
    "SELECT set_config('synchronous_commit', 'off', true) FROM booking_patient "
    "WHERE id = %s FOR UPDATE"
)
# The call without texts (`texts=False`: the slot was read full, or another booking of it is in
# flight here) writes nothing: should a place be free after all, the function answers "texts"
# before any write, and the call is made again with them. Made on the loop's connections, in
# autocommit, its statement is its transaction, and what it leaves (the patient's row lock) need
# not reach the disk: it commits without waiting for a flush of the WAL, as LOCK_PATIENT_SQL's
# transaction does. In a burst on one slot the refusals had each waited for one while holding
# one of the engine's turns.
NO_TEXTS_CALL_SQL = f"{CALL_SQL} FROM set_config('synchronous_commit', 'off', true) AS quick"
BOOKED_WITH_KEY_SQL = (
    "SELECT 1 FROM booking_appointment WHERE booked_by_id = %s AND idempotency_key = %s"
)


Made = tuple[Appointment, BookingCall, Outcome]


# The search and its next candidates (their slots' facts), leaving out the slots tried
# (searched on the connection with abest_open_slots, or with the ORM in a thread when that
# cannot answer).
Candidates = Callable[[set[int]], Awaitable[tuple[SlotSearch, list[SlotFacts]]]]
# Bookings (of a given slot, or an allocation's try) this process is making now, by slot
# (touched on the event loop's thread alone).
_trying: Counter[int] = Counter()


@dataclass(frozen=True, eq=False)
class SharedSearch:
    """A search's candidates as read at `read_at` (time.monotonic)."""

    read_at: float
    candidates: list[SlotFacts]


SearchKey = tuple[Any, ...]
# The last candidates read for each search, kept while an allocation is in flight here.
_searches: dict[SearchKey, SharedSearch] = {}
# Allocations in flight in this process (see allocating).
_allocations = 0
# How long a slot found full is asked about with the patient's read (apatient_and_first_call).
FULL_LATELY_SECONDS = 1.0
# When this process last found each slot full or closed (time.monotonic), for a while.
_full_at: dict[int, float] = {}
# The slot's facts as abest_open_slots selects them (SLOT_FACTS_SQL's, after the id).
CANDIDATE_COLUMNS = 's.id, s.start, s."end", s.centre_id, s.service_id, s.drive_id'


class HandOver(Exception):
    """Booking through book_slot in a thread answers this one (nothing was written here)."""


class Replayed(Exception):
    """The function found the key's earlier booking (nothing was written): the answer is that
    appointment, read by its id, as book_slot's replay reads it."""

    def __init__(self, appointment_id: int) -> None:
        super().__init__(appointment_id)
        self.appointment_id = appointment_id


async def _apatient_row(
    conn: Any, sql: str, params: list[Any]
) -> tuple[Patient, tuple[Any, ...]] | None:
    """A statement made from PATIENT_SQL: the patient (only PATIENT_FIELDS loaded) and the
    row's other columns, the texts' language first; None when the account has no such
    patient."""
    async with conn.cursor() as cursor:
        await cursor.execute(sql, params)
        row = await cursor.fetchone()
    if row is None:
        return None
    width = len(PATIENT_FIELDS)
    return Patient.from_db("default", PATIENT_FIELDS, row[:width]), tuple(row[width:])


async def apatient_of(conn: Any, *, account_id: int, patient_id: int) -> tuple[Patient, str] | None:
    """booking.selectors.patient_of on an AsyncConnection: one of the account's patients
    (only PATIENT_FIELDS loaded) and the language their texts go in, or None."""
    found = await _apatient_row(conn, PATIENT_SQL, [patient_id, account_id])
    if found is None:
        return None
    patient, (language,) = found
    return patient, str(language)


async def apatient_and_room(
    conn: Any, *, account_id: int, patient_id: int, slot_id: int
) -> tuple[Patient, str, bool] | None:
    """apatient_of, and whether the slot is full or closed as read now, in one statement."""
    found = await _apatient_row(conn, PATIENT_AND_ROOM_SQL, [slot_id, patient_id, account_id])
    if found is None:
        return None
    patient, (language, full) = found
    return patient, str(language), bool(full)


async def apatient_and_key(
    conn: Any, *, account_id: int, patient_id: int, idempotency_key: str
) -> tuple[Patient, bool] | None:
    """One of the account's patients (as apatient_of loads them) and whether the account has
    booked with the key already, in one statement; None when there is no such patient."""
    found = await _apatient_row(
        conn, PATIENT_AND_KEY_SQL, [idempotency_key, patient_id, account_id]
    )
    if found is None:
        return None
    patient, (_language, booked) = found
    return patient, bool(booked)


async def aslot_facts_and_patient(
    conn: Any, *, slot_id: int, account_id: int, patient_id: int
) -> tuple[SlotFacts, tuple[Patient, str, bool] | None] | None:
    """aslot_facts and apatient_and_room in one round trip: the slot's facts (kept, as
    aslot_facts keeps them) and what apatient_and_room gives; None when there is no such slot
    (then nothing is known of the patient either)."""
    async with conn.cursor() as cursor:
        await cursor.execute(SLOT_AND_PATIENT_SQL, [patient_id, account_id, slot_id])
        row = await cursor.fetchone()
    if row is None:
        return None
    facts = keep_slot_facts(str(conn.info.dbname), facts_of_row(slot_id, row[:5]))
    full, patient_row = bool(row[5]), row[6:]
    if patient_row[0] is None:
        return facts, None
    patient = Patient.from_db("default", PATIENT_FIELDS, patient_row[:-1])
    return facts, (patient, str(patient_row[-1]), full)


async def abest_open_slots(
    conn: Any, search: SlotSearch, *, limit: int, excluding: set[int]
) -> list[SlotFacts]:
    """booking.selectors.best_open_slots on `conn`, for allocate: the candidates' facts, in
    the same order, from the same query, kept as slot_facts keeps them. Django raises
    SynchronousOnlyOperation, before anything is asked, when ranking the centres needs the
    database (an order this process does not keep, a place or a list of centres given); an
    earliest-first search raises it here: the caller then searches with the ORM in a thread.

    While allocations are in flight in this process (allocating, which the lean route enters
    for each allocation from before its turn until its answer), a search's last read is shared
    for ALLOCATION_SHARE_MS at most: the next allocation of the same search takes its
    candidates (less those it tried and the slots this process found full or closed since)
    instead of reading them again. In a surge everyone searches the same centres at once, and
    each search cost the booking about a sixth of its web CPU; the booking function guards
    every place as before. One allocation at a time reads afresh every time."""
    if search.order == SlotOrder.EARLIEST:
        raise SynchronousOnlyOperation("an earliest-first search is made with the ORM")
    ranked = centres_to_walk(search)
    if not ranked:
        return []
    centres = [place.centre.number for place in ranked]
    database = str(conn.info.dbname)
    key = (database, search.service.pk, tuple(centres), search.date_from, search.date_to, limit)
    shared = _searches.get(key) if _allocations else None
    if shared is not None and time.monotonic() - shared.read_at < _share_seconds():
        left = _still_open(shared, excluding)
        if left:
            return left
    read_at = time.monotonic()
    sql, params = open_slots_in_centre_order_sql(
        search, centres, limit=limit, excluding=excluding, columns=CANDIDATE_COLUMNS
    )
    async with conn.cursor() as cursor:
        await cursor.execute(sql, params)
        rows = await cursor.fetchall()
    found = [keep_slot_facts(database, facts_of_row(int(row[0]), row[1:6])) for row in rows]
    if _allocations:
        _searches[key] = SharedSearch(read_at, found)
    return list(found)


def _share_seconds() -> float:
    """How long allocations in flight in this process share a search's candidates."""
    return float(settings.ALLOCATION_SHARE_MS) / 1000


def _still_open(shared: SharedSearch, excluding: set[int]) -> list[SlotFacts]:
    """The shared candidates an allocation has not tried, less the slots this process found
    full or closed since they were read."""
    return [
        candidate
        for candidate in shared.candidates
        if candidate.slot_id not in excluding
        and _full_at.get(candidate.slot_id, shared.read_at) <= shared.read_at
    ]


@contextmanager
def allocating() -> Iterator[None]:
    """An allocation is in flight here, from when its request reaches the engine (the lean
    route enters this before it waits for a turn) until it is answered: the searches read
    meanwhile are shared (abest_open_slots) and forgotten once none is in flight."""
    global _allocations
    _allocations += 1
    try:
        yield
    finally:
        _allocations -= 1
        if not _allocations:
            _searches.clear()


def _found_full(slot_id: int) -> None:
    """The slot is full or closed, as this process found just now."""
    now = time.monotonic()
    _full_at[slot_id] = now
    if len(_full_at) > 10_000:  # what is older than any shared search is of no more use
        for old in [slot for slot, at in _full_at.items() if now - at > _share_seconds()]:
            del _full_at[old]


def forget_shared_searches() -> None:
    """Drop the shared searches and the slots found full (tests)."""
    _searches.clear()
    _full_at.clear()


async def _prepared_call(
    conn: Any,
    *,
    patient_id: int,
    slot_id: int,
    booked_by: User,
    channel: Appointment.Channel,
    idempotency_key: str,
    texts: bool,
    appointment_id: int | None = None,
    replay_service_id: int | None = None,
    texts_language: str | None = None,
    partner_id: int | None = None,
) -> BookingCall:
    """prepare's call for the slot, its facts, service and centre as this process keeps them
    (read on `conn` when it does not), with a new appointment id unless given one."""
    facts = await aslot_facts(conn, slot_id)
    service, centre = await areference(conn, facts)
    return prepare(
        appointment_id=appointment_id or await anext_appointment_id(conn),
        patient_id=patient_id,
        slot_id=slot_id,
        facts=facts,
        service=service,
        centre=centre,
        booked_by_id=booked_by.pk,
        channel=channel,
        idempotency_key=idempotency_key,
        replay_service_id=replay_service_id,
        texts_language=texts_language,
        texts=texts,
        partner_id=partner_id,
    )


def found_full_lately(slot_id: int) -> bool:
    """This process found the slot full or closed less than FULL_LATELY_SECONDS ago."""
    at = _full_at.get(slot_id)
    return at is not None and time.monotonic() - at < FULL_LATELY_SECONDS


# The answer a call without texts gave, and the call: abook_slot's first call, made already.
FirstCall = tuple[BookingCall, Any]


async def apatient_and_first_call(
    conn: Any,
    *,
    account_id: int,
    patient_id: int,
    slot_id: int,
    booked_by: User,
    channel: Appointment.Channel,
    idempotency_key: str,
) -> tuple[tuple[Patient, str, bool] | None, FirstCall | None]:
    """apatient_and_room and abook_slot's first call without texts, in one statement
    (PATIENT_AND_NO_TEXTS_CALL_SQL), for a slot found full lately: what apatient_and_room
    gives (the slot taken as read full), and the call with the function's answer, which
    abook_slot reads once the limits are counted (`first`). The call writes nothing whatever
    it answers, so counting the limits after it, rather than before, changes no answer.
    (None, None) when the account has no such patient (the function was not called)."""
    call = await _prepared_call(
        conn,
        patient_id=patient_id,
        slot_id=slot_id,
        booked_by=booked_by,
        channel=channel,
        idempotency_key=idempotency_key,
        texts=False,
    )
    found = await _apatient_row(
        conn, PATIENT_AND_NO_TEXTS_CALL_SQL, [*call.params, patient_id, account_id]
    )
    if found is None:
        return None, None
    patient, (language, answer) = found
    return (patient, str(language), True), (call, answer)


async def abook_slot(
    conn: Any,
    *,
    patient: Patient,
    slot_id: int,
    booked_by: User,
    channel: Appointment.Channel,
    idempotency_key: str,
    replay_service_id: int | None = None,
    texts_language: str | None = None,
    full_as_read: bool = False,
    first: FirstCall | None = None,
    partner: Partner | None = None,
) -> Made:
    """A place in the slot for the patient, in one call that commits by itself (`conn` is in
    autocommit); the call and its outcome are for booking_sql.after_commit. With
    `replay_service_id` (allocate), an earlier booking with the key must be of that
    service rather than that slot; with `texts_language` (apatient_of's), the texts are
    written in that language only. With `full_as_read` (the slot was read full or closed
    just now), or while another booking of the slot is being made in this process (a burst
    on one slot: most of it is refused), the texts are not made for a refusal: should the
    function find a place after all, it says so before writing anything, and the call is
    made again with them. `first`: that call without texts, made already with the patient's
    read (apatient_and_first_call); its answer is read here as the call's own would be.
    `partner`: the partner booking for the patient (its booking may be read and cancelled
    by it)."""
    crowded = _trying[slot_id] > 0
    _trying[slot_id] += 1
    try:
        return await _abook_slot(
            conn,
            patient=patient,
            slot_id=slot_id,
            booked_by=booked_by,
            channel=channel,
            idempotency_key=idempotency_key,
            replay_service_id=replay_service_id,
            texts_language=texts_language,
            texts=not (full_as_read or crowded),
            first=first,
            partner=partner,
        )
    except (SlotFull, SlotClosed):
        _found_full(slot_id)
        raise
    finally:
        _leave(slot_id)


async def _abook_slot(
    conn: Any,
    *,
    patient: Patient,
    slot_id: int,
    booked_by: User,
    channel: Appointment.Channel,
    idempotency_key: str,
    replay_service_id: int | None,
    texts_language: str | None,
    texts: bool,
    first: FirstCall | None,
    partner: Partner | None,
) -> Made:
    # A second call (with its texts) books as the first, under the same id.
    appointment_id = first[0].appointment_id if first else await anext_appointment_id(conn)

    async def book(texts: bool) -> tuple[BookingCall, Outcome]:
        call = await _prepared_call(
            conn,
            appointment_id=appointment_id,
            patient_id=patient.pk,
            slot_id=slot_id,
            booked_by=booked_by,
            channel=channel,
            idempotency_key=idempotency_key,
            replay_service_id=replay_service_id,
            texts_language=texts_language,
            texts=texts,
            partner_id=None if partner is None else partner.pk,
        )
        async with conn.cursor() as cursor:
            await cursor.execute(call.sql if texts else NO_TEXTS_CALL_SQL, call.params)
            row = await cursor.fetchone()
        return call, read(call, row[0])

    def read(call: BookingCall, answer: Any) -> Outcome:
        try:
            return outcome(answer, call)
        except NotEligible as refused:
            raise HandOver from refused

    call, done = (first[0], read(*first)) if first else await book(texts=texts)
    if done.kind == "texts":  # a place free after all
        call, done = await book(texts=True)
    if done.kind == "replay":
        assert done.appointment_id is not None
        raise Replayed(done.appointment_id)
    if done.kind != "booked":  # "orm"
        raise HandOver
    appointment = booked_appointment(
        call, done, patient=patient, booked_by=booked_by, partner=partner
    )
    if appointment.slot.booked >= appointment.slot.capacity:
        _found_full(slot_id)  # passed over by the allocations sharing a search
    return appointment, call, done


async def aallocate_slot(
    conn: Any,
    *,
    patient: Patient,
    booked_by: User,
    channel: Appointment.Channel,
    idempotency_key: str,
    candidates: Candidates,
    texts_language: str | None = None,
) -> Made:
    """allocate_slot with the booking function on `conn`: the candidates tried in allocate's
    order (booking.services.appointments.Tries), one call each. When none is left,
    NoSlotAvailable, as allocate_slot answers, unless the key has booked already (HandOver:
    allocate_slot answers that booking, or that the key was reused). In a surge everyone
    ranks the same slot first: a slot one of this process's own allocations is trying is
    passed over for the next while any other is left, rather than queued behind on its row
    lock (which is held until the booking commits: with several in flight on one slot, the
    booking function took 2.4 ms a call in one process, against 1.0 ms with one).

    Made within allocating() (the lean route enters it for the whole request), allocations in
    flight together share their search's candidates (abest_open_slots): a place freed less
    than ALLOCATION_SHARE_MS before may go to the next person rather than this one, and a
    slot filled meanwhile elsewhere is refused and passed over, as one filled between the
    search and the try always was."""
    tries = Tries()
    search, options = await candidates(tries.tried)
    while options:
        while options:
            option = tries.next_of(options, crowded=_crowded)
            try:
                return await abook_slot(
                    conn,
                    patient=patient,
                    slot_id=option.slot_id,
                    booked_by=booked_by,
                    channel=channel,
                    idempotency_key=idempotency_key,
                    replay_service_id=search.service.pk,
                    texts_language=texts_language,
                )
            except Tries.MOVE_ON as refused:  # a full or closed slot is marked by abook_slot
                tries.refused(refused)
        search, options = await candidates(tries.tried)
    if await abooked_with_key(
        conn, patient_id=patient.pk, booked_by_id=booked_by.pk, idempotency_key=idempotency_key
    ):
        raise HandOver  # allocate_slot answers the key's earlier booking, or that it was reused
    raise NoSlotAvailable()


async def abooked_with_key(
    conn: Any, *, patient_id: int, booked_by_id: int, idempotency_key: str
) -> bool:
    """Whether the account has booked with the key already: allocate_slot's last look when no
    try reached the key (_allocated_before), the patient's row locked first, in a statement of
    its own (`conn` is in autocommit) that commits without waiting for the disk, so that a
    booking of theirs still in flight is waited for and what is read next sees it."""
    async with conn.cursor() as cursor:
        await cursor.execute(LOCK_PATIENT_SQL, [patient_id])
        await cursor.execute(BOOKED_WITH_KEY_SQL, [booked_by_id, idempotency_key])
        return await cursor.fetchone() is not None


def _leave(slot_id: int) -> None:
    _trying[slot_id] -= 1
    if not _trying[slot_id]:
        del _trying[slot_id]


def bookings_in_flight() -> dict[int, int]:
    """How many bookings (of a given slot, or an allocation's try) this process is making in
    each slot now."""
    return dict(_trying)


def _crowded(candidate: SlotFacts) -> bool:
    """A booking of the slot is being made in this process already."""
    return _trying[candidate.slot_id] > 0
