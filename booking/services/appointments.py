"""The booking engine: taking, moving and releasing places in slots, and the visit's progress.

Capacity is taken with one conditional UPDATE (`booked < capacity`), so no slot is ever booked
past its capacity whatever runs at the same time; a CHECK constraint guards the same rule.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from random import SystemRandom
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.exceptions import (
    AlreadyBooked,
    BookingClosed,
    IdempotencyKeyReused,
    InvalidStatusChange,
    NoSlotAvailable,
    NotEligible,
    OverlappingAppointment,
    SlotClosed,
    SlotFull,
)
from booking.models import Appointment, Partner, Patient, Slot
from booking.notices import notify_booked, notify_cancelled, notify_rescheduled
from booking.selectors import SlotSearch, best_open_slots
from booking.services import booking_sql
from booking.services.audit import appointment_changed
from booking.services.places import (
    bookable_slot,
    check_active_bookings_cap,
    check_booking_cutoff,
    check_cancellation_cutoff,
    check_no_overlap,
    give_back_place,
    lock_appointment,
    lock_patient,
    take_place,
)
from booking.services.queue_events import announce_queue_change
from booking.services.safeguards import check_may_book
from booking.vaccination.eligibility import ineligibilities
from booking.vaccination.series import (
    CourseChange,
    check_dose_day,
    hold_later_doses,
    plan_dose,
    record_dose_given,
    release_later_doses,
    replan_later_doses,
    start_course,
)
from booking.vaccination.stock import use_dose
from clinics.exceptions import InvalidInput

Status = Appointment.Status


@dataclass(frozen=True)
class Booking:
    appointment: Appointment
    # False when an earlier request with the same idempotency key already made it.
    created: bool
    # For the first dose of a vaccine: the later doses held with it, or the one that was not.
    course: CourseChange = field(default_factory=CourseChange)


def book_slot(
    *,
    patient: Patient,
    slot_id: int,
    booked_by: User,
    channel: Appointment.Channel,
    idempotency_key: str,
    enforce_cutoff: bool = True,
    partner: Partner | None = None,
) -> Booking:
    """Give the patient a place in the slot, or return what the same idempotency key made.

    A vaccine books the next dose of the patient's course, within its interval; a first dose
    also holds the later ones (see services.series), and a drive's first dose needs its
    eligibility rules to hold. Locks the patient row (one person's bookings run one at a
    time, which makes the overlap and dose checks safe), then the slot row through the
    conditional update of its counter, as the last write: everyone booking the slot queues
    on that row lock until commit, so the less is done while holding it the more bookings a
    busy slot takes per second (bench/hot_slot.py: 637/s against 126/s with 5 ms of work
    after it). Someone who loses the race has their other writes rolled back.

    With settings.BOOKING_ENGINE "sql" (PostgreSQL) the same rules run in one call to the
    booking function (services.booking_sql), a vaccine course of several doses excepted.
    """
    if booking_sql.use_sql_engine():
        return _book_in_one_call(
            patient=patient,
            slot_id=slot_id,
            booked_by=booked_by,
            channel=channel,
            idempotency_key=idempotency_key,
            enforce_cutoff=enforce_cutoff,
            partner=partner,
        )
    return _book_slot_orm(
        patient=patient,
        slot_id=slot_id,
        booked_by=booked_by,
        channel=channel,
        idempotency_key=idempotency_key,
        enforce_cutoff=enforce_cutoff,
        partner=partner,
    )


@transaction.atomic
def _book_slot_orm(
    *,
    patient: Patient,
    slot_id: int,
    booked_by: User,
    channel: Appointment.Channel,
    idempotency_key: str,
    enforce_cutoff: bool = True,
    partner: Partner | None = None,
) -> Booking:
    lock_patient(patient.pk)
    earlier = _earlier_booking(booked_by, idempotency_key)
    if earlier is not None:
        if earlier.patient_id != patient.pk or earlier.slot_id != slot_id:
            raise IdempotencyKeyReused()
        return Booking(appointment=earlier, created=False)
    return _book_locked(
        patient=patient,
        slot_id=slot_id,
        booked_by=booked_by,
        channel=channel,
        idempotency_key=idempotency_key,
        enforce_cutoff=enforce_cutoff,
        partner=partner,
    )


def _book_locked(
    *,
    patient: Patient,
    slot_id: int,
    booked_by: User,
    channel: Appointment.Channel,
    idempotency_key: str,
    enforce_cutoff: bool = True,
    partner: Partner | None = None,
) -> Booking:
    """book_slot once the patient's row is locked and no earlier booking has the key; in the
    caller's transaction."""
    check_may_book(patient, channel)
    slot = bookable_slot(slot_id)
    if enforce_cutoff:
        check_booking_cutoff(slot)
    dose = plan_dose(patient, slot)
    if dose is None or dose.number == 1:
        check_eligibility(patient, slot)
    check_no_overlap(patient, slot, moving=None)
    if dose is None or dose.number == 1:
        check_active_bookings_cap(patient)
    if slot.closed or slot.booked >= slot.capacity:  # as read: spare the work when it is gone
        raise SlotClosed(slot_id=slot.pk) if slot.closed else SlotFull(slot_id=slot.pk)
    series = None
    if dose is not None:
        series = dose.series or start_course(patient, slot)
    try:
        with transaction.atomic():
            appointment = Appointment.objects.create(
                patient=patient,
                slot=slot,
                visit_mode=slot.service.visit_mode,
                channel=channel,
                booked_by=booked_by,
                idempotency_key=idempotency_key,
                series=series,
                dose_number=dose.number if dose is not None else None,
                partner=partner,
            )
    except IntegrityError:
        # Only a key reused across two people at the same moment gets here: the patient lock
        # serialises everything else.
        raise IdempotencyKeyReused() from None
    appointment_changed(appointment, "booked", channel=channel)
    notify_booked(appointment)
    course = hold_later_doses(appointment)
    take_place(slot)
    announce_queue_change(centre_id=slot.centre_id, appointment_id=appointment.pk, change="booked")
    return Booking(appointment=appointment, created=True, course=course)


def check_eligibility(patient: Patient, slot: Slot) -> None:
    """Raise NotEligible, with every reason, if the slot's drive does not let the patient in."""
    drive = slot.drive
    if drive is None:
        return
    districts = set(drive.districts.values_list("code", flat=True))
    problems = ineligibilities(
        drive, patient, timezone.localdate(slot.start), district_codes=districts
    )
    if problems:
        raise NotEligible(
            " ".join(problem.message for problem in problems),
            reasons=[{"code": problem.code, "message": problem.message} for problem in problems],
        )


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
        already about to fill are passed over while any other is left."""
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


def _book_in_one_call(
    *,
    patient: Patient,
    slot_id: int,
    booked_by: User,
    channel: Appointment.Channel,
    idempotency_key: str,
    enforce_cutoff: bool = True,
    partner: Partner | None = None,
    replay_service_id: int | None = None,
) -> Booking:
    """book_slot (or one try of allocate_slot) as one call to the booking function, in the
    caller's transaction if there is one. A course of several doses goes on with the ORM
    path (booking_sql's "orm" outcome)."""
    facts = booking_sql.slot_facts(slot_id)
    service, centre = booking_sql.reference(facts)
    call = booking_sql.prepare(
        appointment_id=booking_sql.next_appointment_id(),
        patient_id=patient.pk,
        slot_id=slot_id,
        facts=facts,
        service=service,
        centre=centre,
        booked_by_id=booked_by.pk,
        channel=channel,
        idempotency_key=idempotency_key,
        partner_id=partner.pk if partner is not None else None,
        enforce_cutoff=enforce_cutoff,
        replay_service_id=replay_service_id,
    )
    # Outside a transaction the call is the whole round trip: its one statement commits by
    # itself, all or nothing (no BEGIN and COMMIT). Inside the caller's transaction it runs
    # there, opening no savepoint: it writes nothing when it refuses, and its refusal is
    # raised from no atomic block, so that transaction stays usable (allocate's next try,
    # the API's alternatives).
    in_transaction = connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute(call.sql, call.params)
        answer = cursor.fetchone()[0]
    try:
        done = booking_sql.outcome(answer, call)
    except NotEligible:
        # Worded with every reason as booking.vaccination.eligibility says them: a refusal may
        # cost more.
        check_eligibility(patient, Slot.objects.select_related("drive").get(pk=slot_id))
        raise
    if done.kind == "replay":
        assert done.appointment_id is not None
        earlier = Appointment.objects.select_related("slot").get(pk=done.appointment_id)
        return Booking(appointment=earlier, created=False)
    if done.kind == "orm":
        with transaction.atomic():  # a savepoint in the caller's transaction, else its own
            if not in_transaction:
                # The function's patient lock ended with its statement: take it again, and
                # look the key up again under it.
                lock_patient(patient.pk)
                made = _earlier_booking(booked_by, idempotency_key)
                if made is not None:
                    return _replayed(made, patient, slot_id, replay_service_id)
            return _book_locked(
                patient=patient,
                slot_id=slot_id,
                booked_by=booked_by,
                channel=channel,
                idempotency_key=idempotency_key,
                enforce_cutoff=enforce_cutoff,
                partner=partner,
            )
    appointment = booking_sql.booked_appointment(
        call, done, patient=patient, booked_by=booked_by, partner=partner
    )
    # Run at once when the statement committed by itself, else when the caller's commits.
    transaction.on_commit(lambda: booking_sql.after_commit(call, done))
    return Booking(appointment=appointment, created=True)


def _replayed(
    earlier: Appointment, patient: Patient, slot_id: int, replay_service_id: int | None
) -> Booking:
    """What an earlier booking with the key answers: itself, or IdempotencyKeyReused if it
    was for someone else or another slot (allocate: another service)."""
    other_target = (
        earlier.slot_id != slot_id
        if replay_service_id is None
        else earlier.slot.service_id != replay_service_id
    )
    if earlier.patient_id != patient.pk or other_target:
        raise IdempotencyKeyReused()
    return Booking(appointment=earlier, created=False)


@transaction.atomic
def cancel_appointment(
    *,
    appointment: Appointment,
    reason: str = "",
    enforce_cutoff: bool = True,
    send_notice: bool = True,
) -> Appointment:
    """Cancel an appointment and give its place back at once. Cancelling twice is harmless.

    Its pending reminders are dropped and, unless `send_notice` is False (the caller tells
    the patient itself), a cancellation notice is queued. The later doses of a vaccine course
    go with it. Locks the patient row, the appointment row, then the slot row through the
    counter update.
    """
    lock_patient(appointment.patient_id)
    appointment = lock_appointment(appointment)
    if appointment.status == Status.CANCELLED:
        return appointment
    if appointment.status not in (Status.BOOKED, Status.CHECKED_IN):
        raise InvalidStatusChange(status=appointment.status)
    if enforce_cutoff:
        check_cancellation_cutoff(appointment.slot)
    appointment.status = Status.CANCELLED
    appointment.cancelled_at = timezone.now()
    appointment.cancellation_reason = reason[:200]
    appointment.save(update_fields=["status", "cancelled_at", "cancellation_reason", "updated_at"])
    appointment_changed(appointment, "cancelled", reason=appointment.cancellation_reason)
    give_back_place(appointment.slot_id)  # the slot's row lock, last
    announce_queue_change(
        centre_id=appointment.slot.centre_id, appointment_id=appointment.pk, change="cancelled"
    )
    notify_cancelled(appointment, send_notice=send_notice)
    release_later_doses(appointment, reason=str(_("The earlier dose was cancelled.")))
    return appointment


@transaction.atomic
def reschedule_appointment(
    *, appointment: Appointment, new_slot_id: int, enforce_cutoff: bool = True
) -> Appointment:
    """Move an appointment to another slot of the same service, all or nothing.

    The old place is released only if the new one is taken. A vaccine dose must stay in its
    interval, and the later doses of its course are moved to fit. Locks the patient, the
    appointment, then both slots in id order, so two people swapping slots cannot deadlock.
    """
    lock_patient(appointment.patient_id)
    appointment = lock_appointment(appointment)
    if appointment.status != Status.BOOKED:
        raise InvalidStatusChange(status=appointment.status)
    if new_slot_id == appointment.slot_id:
        return appointment
    old_slot = appointment.slot
    new_slot = bookable_slot(new_slot_id)
    if new_slot.service_id != old_slot.service_id:
        raise InvalidInput(_("Choose a new time for the same service."), field="slot_id")
    if enforce_cutoff:
        check_cancellation_cutoff(old_slot)
        check_booking_cutoff(new_slot)
    _check_dose_can_move(appointment, new_slot)
    check_no_overlap(appointment.patient, new_slot, moving=appointment)
    list(Slot.objects.select_for_update().filter(pk__in=[old_slot.pk, new_slot.pk]).order_by("pk"))
    take_place(new_slot)
    give_back_place(old_slot.pk)
    appointment.slot = new_slot
    appointment.visit_mode = new_slot.service.visit_mode
    appointment.sequence = F("sequence") + 1
    appointment.confirmed_at = None  # confirmed the old time, not the new one
    appointment.save(update_fields=["slot", "visit_mode", "sequence", "confirmed_at", "updated_at"])
    appointment.refresh_from_db()
    appointment_changed(appointment, "moved", from_slot=old_slot.pk)
    notify_rescheduled(appointment)
    replan_later_doses(appointment)
    for centre_id in {old_slot.centre_id, new_slot.centre_id}:
        announce_queue_change(centre_id=centre_id, appointment_id=appointment.pk, change="moved")
    return appointment


def _check_dose_can_move(appointment: Appointment, new_slot: Slot) -> None:
    """A first dose moved into a drive must meet its rules; a later dose stays in its interval
    from the dose before."""
    if appointment.series is None or appointment.dose_number in (None, 1):
        check_eligibility(appointment.patient, new_slot)
        return
    assert appointment.dose_number is not None
    previous = (
        appointment.series.appointments.filter(
            dose_number=appointment.dose_number - 1,
            status__in=Appointment.HELD_OR_GIVEN,
        )
        .select_related("slot")
        .first()
    )
    if previous is not None:
        check_dose_day(
            appointment.series,
            appointment.dose_number,
            previous,
            timezone.localdate(new_slot.start),
        )


@transaction.atomic
def confirm_attendance(*, appointment: Appointment) -> Appointment:
    """Record that the patient will come. Confirming twice is harmless."""
    appointment = lock_appointment(appointment)
    if appointment.status != Status.BOOKED or appointment.slot.start <= timezone.now():
        raise InvalidStatusChange(
            _("Only an upcoming booked appointment can be confirmed."), status=appointment.status
        )
    if appointment.confirmed_at is None:
        appointment.confirmed_at = timezone.now()
        appointment.save(update_fields=["confirmed_at", "updated_at"])
        appointment_changed(appointment, "confirmed")
    return appointment


# --- The visit's progress (staff) ---------------------------------------------------------------


@transaction.atomic
def check_in(*, appointment: Appointment) -> Appointment:
    """Record that the patient has arrived. Only on the day of the appointment."""
    appointment = lock_appointment(appointment)
    if timezone.localdate(appointment.slot.start) != timezone.localdate():
        raise InvalidStatusChange(
            _("Check-in is only possible on the day of the appointment."),
            status=appointment.status,
        )
    return _move_status(appointment, to=Status.CHECKED_IN, allowed=(Status.BOOKED,))


@transaction.atomic
def start_consultation(*, appointment: Appointment) -> Appointment:
    """Record that the consultation or vaccination has begun. Not before its day."""
    appointment = lock_appointment(appointment)
    _check_day_has_come(appointment)
    return _move_status(
        appointment, to=Status.IN_CONSULTATION, allowed=(Status.BOOKED, Status.CHECKED_IN)
    )


@transaction.atomic
def complete_appointment(*, appointment: Appointment, lot_id: int | None = None) -> Appointment:
    """Record that the visit took place. Not before its day.

    A vaccine dose is taken from stock (the lot given, or else the one expiring first), and
    the later doses of the course are kept in their intervals from today. Locks the patient
    row, the appointment row, then the lot row through its counter update."""
    lock_patient(appointment.patient_id)
    appointment = lock_appointment(appointment)
    _check_day_has_come(appointment)
    _move_status(
        appointment, to=Status.COMPLETED, allowed=(Status.CHECKED_IN, Status.IN_CONSULTATION)
    )
    if appointment.series_id is not None:
        appointment.lot = use_dose(
            centre=appointment.slot.centre, service=appointment.slot.service, lot_id=lot_id
        )
        appointment.save(update_fields=["lot", "updated_at"])
        appointment_changed(appointment, "dose_given", lot=appointment.lot.lot_number)
        record_dose_given(appointment)
    return appointment


@transaction.atomic
def mark_no_show(*, appointment: Appointment) -> Appointment:
    """Record that the patient did not come. Only once the slot has started.

    The later doses of a vaccine course are released: their days hung on this one."""
    lock_patient(appointment.patient_id)
    appointment = lock_appointment(appointment)
    if appointment.slot.start > timezone.now():
        raise InvalidStatusChange(
            _("A patient can be marked as not attending only after the appointment has started."),
            status=appointment.status,
        )
    _move_status(appointment, to=Status.NO_SHOW, allowed=(Status.BOOKED,))
    release_later_doses(appointment, reason=str(_("The earlier dose was missed.")))
    return appointment


# --- Helpers -------------------------------------------------------------------------------------


def _earlier_booking(booked_by: User, idempotency_key: str) -> Appointment | None:
    if not idempotency_key:
        return None
    return (
        Appointment.objects.filter(booked_by=booked_by, idempotency_key=idempotency_key)
        .select_related("slot")
        .first()
    )


def _check_day_has_come(appointment: Appointment) -> None:
    if timezone.localdate(appointment.slot.start) > timezone.localdate():
        raise InvalidStatusChange(
            _("A visit can be started or completed only on the day of the appointment."),
            status=appointment.status,
        )


def _move_status(
    appointment: Appointment, *, to: Appointment.Status, allowed: tuple[str, ...]
) -> Appointment:
    if appointment.status not in allowed:
        raise InvalidStatusChange(status=appointment.status)
    now = timezone.now()
    stamps: dict[str, Any] = {
        Status.CHECKED_IN: {"checked_in_at": now},
        Status.COMPLETED: {"completed_at": now},
    }.get(to, {})
    previous = appointment.status
    appointment.status = to
    for name, value in stamps.items():
        setattr(appointment, name, value)
    appointment.save(update_fields=["status", "updated_at", *stamps])
    appointment_changed(appointment, to, previous=previous)
    announce_queue_change(
        centre_id=appointment.slot.centre_id, appointment_id=appointment.pk, change=to
    )
    return appointment
