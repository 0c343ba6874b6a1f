"""What booking_book_slot_v2's caller reads before the call, and keeps per process: a block
of appointment ids, the facts of a slot that never change, the slot's service and centre.
Each has a sync form (Django's connection) and an async one (a psycopg AsyncConnection)."""

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model

from booking.models import Slot
from clinics.models import District, HealthCentre, Service
from clinics.selectors import (
    centre_by_number,
    own_copy,
    reference_version,
    remember,
    remembered,
    service_by_id,
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

M = TypeVar("M", bound=Model)


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


def database_name() -> str:
    """The name of Django's database, which the kept ids and facts are per: read from the
    settings, since asking `connection` on the event loop makes a new connection object for
    each request (a context of its own), about 30 µs, and the lean route asks several times."""
    return str(connections.settings[DEFAULT_DB_ALIAS]["NAME"])


def next_appointment_id() -> int:
    """An id for the next appointment, from this process's block (refilled in one query)."""
    database = database_name()
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


def keep_slot_facts(database: str, facts: SlotFacts) -> SlotFacts:
    with _slot_facts_lock:
        _slot_facts[(database, facts.slot_id)] = facts
        while len(_slot_facts) > SLOT_FACTS_KEPT:
            _slot_facts.popitem(last=False)
    return facts


def facts_of_row(slot_id: int, row: tuple[Any, ...]) -> SlotFacts:
    """SlotFacts from a row of SLOT_FACTS_SQL's columns."""
    start, end, centre_id, service_id, drive_id = row
    return SlotFacts(slot_id, start, end, int(centre_id), int(service_id), drive_id)


def kept_slot_facts(slot_id: int) -> SlotFacts | None:
    """The slot's facts if this process keeps them (no query)."""
    return _kept_facts(database_name(), slot_id)


def slot_facts(slot_id: int) -> SlotFacts | None:
    """The slot's facts, kept per process (a miss reads them by primary key); None if no
    such slot (not kept: it may be made later)."""
    kept = kept_slot_facts(slot_id)
    if kept is not None:
        return kept
    database = database_name()
    with connection.cursor() as cursor:
        cursor.execute(SLOT_FACTS_SQL, [slot_id])
        row = cursor.fetchone()
    return None if row is None else keep_slot_facts(database, facts_of_row(slot_id, row))


async def aslot_facts(conn: Any, slot_id: int) -> SlotFacts | None:
    """slot_facts on a psycopg AsyncConnection."""
    database = str(conn.info.dbname)
    kept = _kept_facts(database, slot_id)
    if kept is not None:
        return kept
    async with conn.cursor() as cursor:
        await cursor.execute(SLOT_FACTS_SQL, [slot_id])
        row = await cursor.fetchone()
    return None if row is None else keep_slot_facts(database, facts_of_row(slot_id, row))


def remember_slot(slot: Slot) -> SlotFacts:
    """Keep the facts of a slot read anyway (allocate's candidates)."""
    database = database_name()
    return keep_slot_facts(
        database,
        SlotFacts(slot.pk, slot.start, slot.end, slot.centre_id, slot.service_id, slot.drive_id),
    )


def reference(facts: SlotFacts | None) -> tuple[Service | None, HealthCentre | None]:
    """The slot's service and centre (with its district), as clinics.selectors keeps them."""
    if facts is None:
        return None, None
    service, centre = service_by_id(facts.service_id), centre_by_number(facts.centre_id)
    return _own(service), _own(centre)


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
    return _own(service), _own(centre)


def _own(instance: M | None) -> M | None:
    return None if instance is None else own_copy(instance)


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


def forget_appointment_ids() -> None:
    """Drop this process's block of ids (tests that count a booking's statements)."""
    with _ids_lock:
        _ids.clear()


def forget_slot_facts() -> None:
    """Drop the slot facts this process keeps (tests: a rolled-back slot's id is used again)."""
    with _slot_facts_lock:
        _slot_facts.clear()
