""" "Book the best for me": the best open slot for a service near the patient, tried in
ranked order until one books."""

from collections.abc import Callable
from random import SystemRandom
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from booking.exceptions import (
    AlreadyBooked,
    BookingClosed,
    IdempotencyKeyReused,
    NoSlotAvailable,
    OverlappingAppointment,
    SlotClosed,
    SlotFull,
)
from booking.models import Appointment, Patient
from booking.selectors import SlotSearch, best_open_slots
from booking.services import booking_sql
from booking.services.appointments.booking import (
    Booking,
    _book_in_one_call,
    _book_locked,
    _earlier_booking,
)
from booking.services.places import (
    lock_patient,
)

Status = Appointment.Status


def allocate_slot(
    *,
    patient: Patient,
    search: SlotSearch,
    booked_by: User,
    channel: Appointment.Channel,
    idempotency_key: str,
) -> Booking:
    """Book the best open slot for the search ("the earliest time near me") in one call.

    Tries candidates in ranked order, ALLOCATION_ATTEMPTS at a time, each with book_slot in
    its own savepoint: the place is taken by its conditional update, the last write, so no
    slot row is locked while the booking's other work is done. A slot someone else filled a
    moment earlier just moves it on to the next; when a batch is used up it asks for the next
    one, leaving out what it tried, and gives up only when no open slot is left. In a surge
    everyone ranks the same slots first: they fill one after the other and nobody is told
    `no_slot_available` while a place remains. Locks the patient row first, so a retry with
    the same key waits for the first attempt and returns what it booked.

    With settings.BOOKING_ENGINE "sql" each try is one call to the booking function, which
    locks the patient and looks the key up itself.
    """
    options: dict[str, Any] = {
        "patient": patient,
        "search": search,
        "booked_by": booked_by,
        "channel": channel,
        "idempotency_key": idempotency_key,
    }
    if booking_sql.use_sql_engine():
        return _allocate(**options, in_one_call=True)
    with transaction.atomic():
        return _allocate(**options, in_one_call=False)


def _allocate(
    *,
    patient: Patient,
    search: SlotSearch,
    booked_by: User,
    channel: Appointment.Channel,
    idempotency_key: str,
    in_one_call: bool,
) -> Booking:
    if not in_one_call:
        replay = _allocated_before(patient, booked_by, idempotency_key, search)
        if replay is not None:
            return replay
    tries = Tries()
    while candidates := best_open_slots(
        search, limit=settings.ALLOCATION_ATTEMPTS, excluding=tries.tried
    ):
        while candidates:
            candidate = tries.next_of(candidates)
            try:
                if in_one_call:
                    # One call a try: the function locks the patient and looks the key up
                    # each time (an earlier booking with it, of this service, is the answer),
                    # and writes nothing when it refuses, so no savepoint is needed.
                    booking_sql.remember_slot(candidate.slot)
                    return _book_in_one_call(
                        patient=patient,
                        slot_id=candidate.slot.pk,
                        booked_by=booked_by,
                        channel=channel,
                        idempotency_key=idempotency_key,
                        replay_service_id=search.service.pk,
                    )
                # The patient is locked and the key looked up once, above, for every try.
                with transaction.atomic():
                    return _book_locked(
                        patient=patient,
                        slot_id=candidate.slot.pk,
                        booked_by=booked_by,
                        channel=channel,
                        idempotency_key=idempotency_key,
                    )
            except Tries.MOVE_ON as refused:
                tries.refused(refused)
    if in_one_call:
        # No try reached the key: it may have booked already, as the ORM path checks first.
        replay = _allocated_before(patient, booked_by, idempotency_key, search)
        if replay is not None:
            return replay
    raise NoSlotAvailable()


class Candidate(Protocol):
    """A slot allocate may try: a SlotOption, or a slot's kept facts (the lean route)."""

    @property
    def slot_id(self) -> int: ...


CandidateT = TypeVar("CandidateT", bound=Candidate)


class Tries:
    """The order in which allocate tries its candidates, and which refusals move it on to
    the next (shared by allocate_slot and the lean route's allocate on the event loop)."""

    # A slot someone else filled or closed a moment earlier, or one the person cannot take.
    MOVE_ON = (SlotFull, SlotClosed, BookingClosed, AlreadyBooked, OverlappingAppointment)

    def __init__(self) -> None:
        self.tried: set[int] = set()
        self.lost_a_race = False

    def next_of(
        self,
        candidates: list[CandidateT],
        *,
        crowded: Callable[[CandidateT], bool] | None = None,
    ) -> CandidateT:
        """Take the next candidate out of `candidates`. Someone who lost a place to another
        booking is in a surge, where everyone ranks the same slots first: from then on a
        random one of the rest, not the next, so the crowd spreads over the open slots
        instead of all racing for one at a time. Candidates `crowded` says others are
        already trying are passed over while any other is left."""
        room = [i for i, c in enumerate(candidates) if crowded is None or not crowded(c)]
        choices = room or list(range(len(candidates)))
        pick = SystemRandom().choice(choices) if self.lost_a_race else choices[0]
        candidate = candidates.pop(pick)
        self.tried.add(candidate.slot_id)
        return candidate

    def refused(self, refusal: Exception) -> None:
        if isinstance(refusal, SlotFull):
            self.lost_a_race = True


def _allocated_before(
    patient: Patient, booked_by: User, idempotency_key: str, search: SlotSearch
) -> Booking | None:
    """Lock the patient; what an earlier allocate with the key booked, if any. (A refusal is
    raised outside the transaction: the caller's, if any, stays usable.)"""
    with transaction.atomic(savepoint=False):
        lock_patient(patient.pk)
        earlier = _earlier_booking(booked_by, idempotency_key)
    if earlier is None:
        return None
    if earlier.patient_id != patient.pk or earlier.slot.service_id != search.service.pk:
        raise IdempotencyKeyReused()
    return Booking(appointment=earlier, created=False)
