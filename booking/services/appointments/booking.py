"""Booking a place in a given slot: the one service every entry point books through (the API,
the pages, partners, the desk), on the ORM or in one call to the booking function.

Capacity is taken with one conditional UPDATE (`booked < capacity`), so no slot is ever booked
past its capacity whatever runs at the same time; a CHECK constraint guards the same rule.
"""

from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from booking.exceptions import (
    IdempotencyKeyReused,
    NotEligible,
    SlotClosed,
    SlotFull,
)
from booking.models import Appointment, Partner, Patient, Slot
from booking.notices import notify_booked, own_texts_language
from booking.services import booking_sql
from booking.services.audit import appointment_changed
from booking.services.places import (
    bookable_slot,
    check_active_bookings_cap,
    check_booking_cutoff,
    check_no_overlap,
    lock_patient,
    take_place,
)
from booking.services.queue_events import announce_queue_change
from booking.services.safeguards import check_may_book
from booking.vaccination.eligibility import ineligibilities
from booking.vaccination.series import (
    CourseChange,
    hold_later_doses,
    plan_dose,
    start_course,
)

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
        texts_language=own_texts_language(patient),
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


def _earlier_booking(booked_by: User, idempotency_key: str) -> Appointment | None:
    if not idempotency_key:
        return None
    return _booked_with(booked_by, idempotency_key).select_related("slot").first()


def has_booked_with_key(*, booked_by: User, idempotency_key: str) -> bool:
    """Whether the account has booked with the key already (no lock taken)."""
    return bool(idempotency_key) and _booked_with(booked_by, idempotency_key).exists()


def _booked_with(booked_by: User, idempotency_key: str) -> QuerySet[Appointment]:
    return Appointment.objects.filter(booked_by=booked_by, idempotency_key=idempotency_key)
