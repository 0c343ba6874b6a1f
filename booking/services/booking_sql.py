"""Booking in one round trip to PostgreSQL: the building blocks around booking_book_slot_v1.

The function (booking/sql/book_slot_v1.sql, made by migration 0013_book_function) takes the
whole decision and writes every row of a booking under the patient's row lock: the key,
safeguards, slot, cutoff, course, drive rules, overlap, cap, the appointment, the audit event,
the texts, and the place, last, by the conditional update. What does not change between two
bookings, or cannot be known in SQL, is made here first, without touching the database:

- the appointment's id, taken from its sequence in blocks per process (`next_appointment_id`),
  so that the link in the texts and the audit event's target can be written before the call;
- the texts in Thai and English with their due times, expiry and quiet hours, by the same
  code as notifications.services.outbox (the function picks the recipient and language,
  applies the opt-out list and writes the rows);
- the audit event's fields, as clinics.audit.record fills them;
- the slot's facts that never change once it exists (start, end, centre, service, drive:
  `slot_facts`, kept per process), and the service and centre (clinics.selectors, kept for
  REFERENCE_CACHE_SECONDS): the function checks again what can change (closed, capacity,
  opening time, active service and centre, the centre offering the service, the cutoff, the
  visit mode the texts were written for).

A caller runs, in its transaction:

    facts = slot_facts(slot_id)                    # or: await aslot_facts(conn, slot_id)
    service, centre = reference(facts)             # or: await areference(conn, facts)
    call = prepare(appointment_id=next_appointment_id(), facts=facts, service=service,
                   centre=centre, ...)             # pure Python
    cursor.execute(call.sql, call.params)          # the one round trip
    done = outcome(cursor.fetchone()[0], call)     # Outcome, or raises the DomainError
    ... commit ...
    after_commit(call, done)                       # the desks, the drive's counter, the worker

`done.kind` is "booked", "replay" (the key's earlier appointment, `done.appointment_id`) or
"orm": a vaccine course of several doses (the next dose's interval, holding the later doses),
which booking.services.appointments books with the ORM in the same transaction (the patient
row is locked and the key looked up already). booking.services.appointments.book_slot and
allocate_slot use exactly these when settings.BOOKING_ENGINE is "sql".
"""

import copy
import json
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from booking.exceptions import (
    AlreadyBooked,
    BookingBlocked,
    BookingClosed,
    CourseAlreadyBooked,
    DeletionPending,
    IdempotencyKeyReused,
    NotEligible,
    OverlappingAppointment,
    SlotClosed,
    SlotFull,
    TooManyActiveBookings,
)
from booking.models import Appointment, Partner, Patient, Slot
from booking.services.queue_events import send_queue_change
from booking.services.waiting_room import note_booking_committed
from clinics import audit
from clinics.exceptions import DomainError, NotFound
from clinics.models import AuditEvent, District, HealthCentre, Service
from clinics.selectors import (
    centre_by_number,
    reference_version,
    remember,
    remembered,
    service_by_id,
)
from notifications.models import Message
from notifications.services.outbox import OPTED_OUT_ERROR, Recipient, booked_rows, wake_worker

FUNCTION = "booking_book_slot_v1"
CALL_SQL = (
    f"SELECT {FUNCTION}(%s::bigint, %s::bigint, %s::bigint, %s::integer, %s::text, %s::text, "
    "%s::bigint, %s::bigint, %s::boolean, %s::timestamptz, %s::text, %s::integer, %s::text, "
    "%s::jsonb, %s::jsonb)"
)
IDS_SQL = (
    "SELECT nextval(pg_get_serial_sequence('booking_appointment', 'id')) "
    "FROM generate_series(1, %s)"
)
SLOT_FACTS_SQL = (
    'SELECT start, "end", centre_id, service_id, drive_id FROM booking_slot WHERE id = %s'
)
IDS_PER_BLOCK = 50
SLOT_FACTS_KEPT = 50_000


def use_sql_engine() -> bool:
    """Whether bookings go through the function: settings.BOOKING_ENGINE, on PostgreSQL."""
    return settings.BOOKING_ENGINE == "sql" and connection.vendor == "postgresql"


# --- Appointment ids ------------------------------------------------------------------------------
# Taken from the table's own sequence, IDS_PER_BLOCK at a time, per process and database. An id
# a replay or a refusal does not use is lost, as a rolled-back insert loses one.

_ids: dict[str, deque[int]] = {}
_ids_lock = threading.Lock()


def _take_id(database: str) -> int | None:
    with _ids_lock:
        block = _ids.get(database)
        return block.popleft() if block else None


def _keep_ids(database: str, ids: list[int]) -> int:
    with _ids_lock:
        block = _ids.setdefault(database, deque())
        block.extend(ids[1:])
    return ids[0]


def next_appointment_id() -> int:
    """An id for the next appointment, from this process's block (refilled in one query)."""
    database = str(connection.settings_dict["NAME"])
    taken = _take_id(database)
    if taken is not None:
        return taken
    with connection.cursor() as cursor:
        cursor.execute(IDS_SQL, [IDS_PER_BLOCK])
        return _keep_ids(database, [int(row[0]) for row in cursor.fetchall()])


async def anext_appointment_id(conn: Any) -> int:
    """next_appointment_id on a psycopg AsyncConnection."""
    database = str(conn.info.dbname)
    taken = _take_id(database)
    if taken is not None:
        return taken
    async with conn.cursor() as cursor:
        await cursor.execute(IDS_SQL, [IDS_PER_BLOCK])
        return _keep_ids(database, [int(row[0]) for row in await cursor.fetchall()])


# --- What never changes about a slot --------------------------------------------------------------


@dataclass(frozen=True)
class SlotFacts:
    """What a slot keeps from its creation to its end: the admin shows these read-only and no
    service changes them (a slot is closed, resized, or opened later, never moved)."""

    slot_id: int
    start: datetime
    end: datetime
    centre_id: int
    service_id: int
    drive_id: int | None


_slot_facts: OrderedDict[tuple[str, int], SlotFacts] = OrderedDict()
_slot_facts_lock = threading.Lock()


def _kept_facts(database: str, slot_id: int) -> SlotFacts | None:
    with _slot_facts_lock:
        facts = _slot_facts.get((database, slot_id))
        if facts is not None:
            _slot_facts.move_to_end((database, slot_id))
        return facts


def _keep_facts(database: str, facts: SlotFacts) -> SlotFacts:
    with _slot_facts_lock:
        _slot_facts[(database, facts.slot_id)] = facts
        while len(_slot_facts) > SLOT_FACTS_KEPT:
            _slot_facts.popitem(last=False)
    return facts


def _facts_of_row(slot_id: int, row: tuple[Any, ...]) -> SlotFacts:
    start, end, centre_id, service_id, drive_id = row
    return SlotFacts(slot_id, start, end, int(centre_id), int(service_id), drive_id)


def slot_facts(slot_id: int) -> SlotFacts | None:
    """The slot's facts, kept per process (a miss reads them by primary key); None if no
    such slot (not kept: it may be made later)."""
    database = str(connection.settings_dict["NAME"])
    kept = _kept_facts(database, slot_id)
    if kept is not None:
        return kept
    with connection.cursor() as cursor:
        cursor.execute(SLOT_FACTS_SQL, [slot_id])
        row = cursor.fetchone()
    return None if row is None else _keep_facts(database, _facts_of_row(slot_id, row))


async def aslot_facts(conn: Any, slot_id: int) -> SlotFacts | None:
    """slot_facts on a psycopg AsyncConnection."""
    database = str(conn.info.dbname)
    kept = _kept_facts(database, slot_id)
    if kept is not None:
        return kept
    async with conn.cursor() as cursor:
        await cursor.execute(SLOT_FACTS_SQL, [slot_id])
        row = await cursor.fetchone()
    return None if row is None else _keep_facts(database, _facts_of_row(slot_id, row))


def remember_slot(slot: Slot) -> None:
    """Keep the facts of a slot read anyway (allocate's candidates)."""
    database = str(connection.settings_dict["NAME"])
    _keep_facts(
        database,
        SlotFacts(slot.pk, slot.start, slot.end, slot.centre_id, slot.service_id, slot.drive_id),
    )


def reference(facts: SlotFacts | None) -> tuple[Service | None, HealthCentre | None]:
    """The slot's service and centre (with its district), as clinics.selectors keeps them."""
    if facts is None:
        return None, None
    service, centre = service_by_id(facts.service_id), centre_by_number(facts.centre_id)
    return copy.copy(service), copy.copy(centre)


async def areference(
    conn: Any, facts: SlotFacts | None
) -> tuple[Service | None, HealthCentre | None]:
    """reference on a psycopg AsyncConnection: the same kept objects, a miss read on `conn`."""
    if facts is None:
        return None, None
    service = remembered(("service-id", facts.service_id))
    centre = remembered(("centre", facts.centre_id))
    version = reference_version()
    if not isinstance(service, Service):
        service = await _aload(conn, Service, facts.service_id)
        remember(("service-id", facts.service_id), service, version=version)
    if not isinstance(centre, HealthCentre):
        centre = await _aload(conn, HealthCentre, facts.centre_id)
        if centre is not None:
            centre.district = await _aload(conn, District, centre.district_id)
        remember(("centre", facts.centre_id), centre, version=version)
    return copy.copy(service), copy.copy(centre)


async def _aload(conn: Any, model: Any, pk: int) -> Any:
    fields = model._meta.concrete_fields
    names = ", ".join(f'"{f.column}"' for f in fields)
    async with conn.cursor() as cursor:
        await cursor.execute(
            f'SELECT {names} FROM {model._meta.db_table} WHERE "{model._meta.pk.column}" = %s',
            [pk],
        )
        row = await cursor.fetchone()
    return None if row is None else model.from_db("default", [f.attname for f in fields], row)


# --- The call ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookingCall:
    """One call of the function: its SQL and parameters, and what `outcome` and `after_commit`
    need to read its answer."""

    sql: str
    params: tuple[Any, ...]
    appointment_id: int
    slot_id: int
    facts: SlotFacts | None
    service: Service | None
    centre: HealthCentre | None
    channel: str
    idempotency_key: str
    now: datetime


def prepare(
    *,
    appointment_id: int,
    patient_id: int,
    slot_id: int,
    facts: SlotFacts | None,
    service: Service | None,
    centre: HealthCentre | None,
    booked_by_id: int,
    channel: str,
    idempotency_key: str,
    partner_id: int | None = None,
    enforce_cutoff: bool = True,
    replay_service_id: int | None = None,
    audit_event: AuditEvent | None = None,
    actor: User | AnonymousUser | None = None,
    now: datetime | None = None,
) -> BookingCall:
    """The call that books `slot_id` for the patient; pure Python, no database.

    `facts`, `service` and `centre` are None when no such slot exists (the function answers
    slot_not_found after the key and safeguards, as the ORM path does). `replay_service_id`
    is allocate's: an earlier booking with the key must be of that service rather than that
    slot. `audit_event` is the event's fields as clinics.audit.event_for makes them; by
    default it is made from the request being served (AuditContext)."""
    now = now or timezone.now()
    texts: dict[str, Any] = {"opted_out_error": OPTED_OUT_ERROR}
    visit_mode = ""
    if facts is not None and service is not None and centre is not None:
        visit_mode = service.visit_mode
        appointment = _unsaved_appointment(appointment_id, patient_id, facts, service, centre)
        for language in ("th", "en"):
            rows = booked_rows(appointment, Recipient("", language), opted_out=False)
            texts[language] = [_text_row(row) for row in rows]
    if audit_event is None:
        audit_event = audit.event_for(
            "appointment.booked",
            target_type="appointment",
            target_id=appointment_id,
            centre_id=facts.centre_id if facts is not None else None,
            patients=[patient_id],
            details={"status": Appointment.Status.BOOKED, "slot": slot_id, "channel": channel},
            actor=actor,
            ask_if_staff=False,
        )
    params = (
        appointment_id,
        patient_id,
        slot_id,
        booked_by_id,
        str(channel),
        idempotency_key,
        replay_service_id,
        partner_id,
        enforce_cutoff,
        now,
        settings.TIME_ZONE,
        settings.MAX_ACTIVE_BOOKINGS_PER_PATIENT,
        visit_mode,
        json.dumps(_audit_fields(audit_event)),
        json.dumps(texts),
    )
    return BookingCall(
        sql=CALL_SQL,
        params=params,
        appointment_id=appointment_id,
        slot_id=slot_id,
        facts=facts,
        service=service,
        centre=centre,
        channel=str(channel),
        idempotency_key=idempotency_key,
        now=now,
    )


def _unsaved_appointment(
    appointment_id: int, patient_id: int, facts: SlotFacts, service: Service, centre: HealthCentre
) -> Appointment:
    """The appointment as the texts see it (notifications.messages), in memory only."""
    slot = Slot(
        pk=facts.slot_id,
        start=facts.start,
        end=facts.end,
        centre=centre,
        service=service,
        drive_id=facts.drive_id,
    )
    return Appointment(
        pk=appointment_id,
        slot=slot,
        patient=Patient(pk=patient_id),
        visit_mode=service.visit_mode,
        status=Appointment.Status.BOOKED,
    )


def _text_row(row: Message) -> dict[str, Any]:
    return {
        "kind": str(row.kind),
        "body": row.body,
        "encoding": row.encoding,
        "segments": row.segments,
        "due_at": row.due_at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at is not None else None,
        "status": str(row.status),
        "last_error": row.last_error,
        "reminder_minutes": row.reminder_minutes,
    }


def _audit_fields(event: AuditEvent) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(),
        "actor_kind": str(event.actor_kind or ""),
        "actor_name": event.actor_name,
        "actor_id": event.actor_id,
        "action": event.action,
        "target_type": event.target_type,
        "patients": list(event.patients),
        # As the JSONField would store it (str() of lazy or enum values included).
        "details": json.loads(json.dumps(event.details, default=str)),
        "address": event.address,
        "via": event.via,
        "link_patient_id": event.link_patient_id,
    }


# --- The answer ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    kind: str  # booked, replay or orm
    appointment_id: int | None = None
    answer: dict[str, Any] = field(default_factory=dict)


def outcome(
    answer: Any,
    call: BookingCall,
    *,
    explain_ineligible: Callable[[list[str]], None] | None = None,
) -> Outcome:
    """What the function answered: an Outcome, or the DomainError the ORM path raises for
    the same refusal (same code, message and detail). For not_eligible, `explain_ineligible`
    may raise the NotEligible with every reason worded (booking.eligibility); without it, or
    if it raises nothing, the reasons carry only their codes."""
    answer = parse(answer)
    kind = answer["outcome"]
    if kind == "booked":
        return Outcome("booked", int(answer["appointment_id"]), answer)
    if kind == "replay":
        return Outcome("replay", int(answer["appointment_id"]), answer)
    if kind == "orm":
        return Outcome("orm", None, answer)
    code = answer["code"]
    if code == "not_eligible":
        reasons = list(answer["reasons"])
        if explain_ineligible is not None:
            explain_ineligible(reasons)
        raise NotEligible(reasons=[{"code": reason, "message": reason} for reason in reasons])
    raise _refusal(code, answer)


def parse(answer: Any) -> dict[str, Any]:
    """The function's answer as a dict (the Django connection hands jsonb over as text)."""
    if isinstance(answer, (str, bytes)):
        parsed: dict[str, Any] = json.loads(answer)
        return parsed
    return dict(answer)


def _refusal(code: str, answer: dict[str, Any]) -> DomainError:
    if code == "idempotency_key_reused":
        return IdempotencyKeyReused()
    if code == "booking_blocked":
        return BookingBlocked()
    if code == "deletion_pending":
        return DeletionPending()
    if code == "slot_not_found":
        return NotFound(_("That time slot does not exist."), field="slot_id")
    if code == "slot_closed":
        return SlotClosed(slot_id=answer["slot_id"])
    if code == "slot_full":
        return SlotFull(slot_id=answer["slot_id"])
    if code == "booking_closed":
        minutes = int(answer["cutoff_minutes"])
        return BookingClosed(
            _("Online booking for this time closed %(minutes)d minutes before it starts.")
            % {"minutes": minutes},
            cutoff_minutes=minutes,
        )
    if code == "course_already_booked":
        return CourseAlreadyBooked()
    if code == "already_booked":
        return AlreadyBooked(appointment_id=answer["appointment_id"])
    if code == "overlapping_appointment":
        return OverlappingAppointment(appointment_id=answer["appointment_id"])
    if code == "too_many_active_bookings":
        return TooManyActiveBookings(limit=answer["limit"])
    raise ValueError(f"{FUNCTION} answered an unknown refusal: {code}")


def booked_appointment(
    call: BookingCall,
    done: Outcome,
    *,
    patient: Patient,
    booked_by: User,
    partner: Partner | None,
) -> Appointment:
    """The appointment the function wrote, in memory, with its slot, centre (and district)
    and service: what the ORM path's Appointment holds, for the answer to be made without
    reading it again."""
    if call.facts is None or call.service is None or call.centre is None:
        raise ValueError("A booked outcome comes from a call made with the slot's facts.")
    row = done.answer["slot"]
    slot = Slot(
        pk=call.slot_id,
        centre=call.centre,
        service=call.service,
        template_id=row["template_id"],
        clinician_id=row["clinician_id"],
        start=call.facts.start,
        end=call.facts.end,
        capacity=row["capacity"],
        booked=row["booked"],
        closed=row["closed"],
        capacity_set_by_staff=row["capacity_set_by_staff"],
        drive_id=row["drive_id"],
        opens_at=parse_datetime(row["opens_at"]) if row["opens_at"] else None,
        created_at=parse_datetime(row["created_at"]) or call.now,
    )
    slot._state.adding, slot._state.db = False, "default"
    appointment = Appointment(
        pk=call.appointment_id,
        patient=patient,
        slot=slot,
        status=Appointment.Status.BOOKED,
        visit_mode=done.answer["visit_mode"],
        channel=call.channel,
        booked_by=booked_by,
        idempotency_key=call.idempotency_key,
        sequence=0,
        cancellation_reason="",
        created_at=call.now,
        updated_at=call.now,
        series_id=done.answer["series_id"],
        dose_number=done.answer["dose_number"],
        partner=partner,
    )
    appointment._state.adding, appointment._state.db = False, "default"
    return appointment


# --- Once it has committed -----------------------------------------------------------------------


def after_commit(call: BookingCall, done: Outcome) -> None:
    """What a booking's commit sets off, as the ORM path's on_commit callbacks do: the
    centre's desks are told, the drive's places-left counter and line move (the Appointment
    post_save signal's work: the function sends no signal), and a worker wakes for a text
    due now. Only for a "booked" outcome; never raises for a service that is down."""
    if done.kind != "booked" or call.facts is None:
        return
    if call.facts.drive_id is not None:
        note_booking_committed(drive_id=call.facts.drive_id)
    if done.answer.get("wake"):
        wake_worker()
    send_queue_change(
        centre_id=call.facts.centre_id, appointment_id=call.appointment_id, change="booked"
    )


async def aafter_commit(call: BookingCall, done: Outcome) -> None:
    """after_commit from async code (the cache and channel layer clients it uses are sync)."""
    await sync_to_async(after_commit, thread_sensitive=False)(call, done)
