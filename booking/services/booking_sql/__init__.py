"""Booking in one round trip to PostgreSQL: the building blocks around booking_book_slot_v2.

The function (booking/sql/book_slot_v1.sql, made by migration 0013_book_function) takes the
whole decision and writes every row of a booking under the patient's row lock: the key,
safeguards, slot, cutoff, course, drive rules, overlap, cap, the appointment, the audit event,
the texts, and the place, last, by the conditional update. What does not change between two
bookings, or cannot be known in SQL, is made here first, without touching the database:

- the appointment's id, taken from its sequence in blocks per process (`next_appointment_id`),
  so that the link in the texts and the audit event's target can be written before the call;
- the texts in Thai and English with their due times, expiry and quiet hours, by the same
  code as booking.notices (the function picks the recipient and language,
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
row is locked and the key looked up already). A call prepared without its texts (the lean
route, for a slot it read full) may also answer "texts": there is a place after all, and the
call is made again with them. booking.services.appointments.book_slot and
allocate_slot use exactly these when settings.BOOKING_ENGINE is "sql".
"""

from django.conf import settings
from django.db import connection

from booking.services.booking_sql.call import (
    FUNCTION,
    BookingCall,
    Outcome,
    aafter_commit,
    after_commit,
    booked_appointment,
    outcome,
    parse,
    prepare,
)
from booking.services.booking_sql.reads import (
    SlotFacts,
    anext_appointment_id,
    areference,
    aslot_facts,
    forget_appointment_ids,
    forget_slot_facts,
    next_appointment_id,
    reference,
    remember_slot,
    slot_facts,
)

__all__ = [
    "FUNCTION",
    "BookingCall",
    "Outcome",
    "SlotFacts",
    "aafter_commit",
    "after_commit",
    "anext_appointment_id",
    "areference",
    "aslot_facts",
    "booked_appointment",
    "forget_appointment_ids",
    "forget_slot_facts",
    "next_appointment_id",
    "outcome",
    "parse",
    "prepare",
    "reference",
    "remember_slot",
    "slot_facts",
    "use_sql_engine",
]


def use_sql_engine() -> bool:
    """Whether bookings go through the function: settings.BOOKING_ENGINE, on PostgreSQL."""
    return settings.BOOKING_ENGINE == "sql" and connection.vendor == "postgresql"
