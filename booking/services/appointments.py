"""The booking engine: taking, moving and releasing places in slots, and the visit's progress.

Capacity is taken with one conditional UPDATE (`booked < capacity`), so no slot is ever booked
past its capacity whatever runs at the same time; a CHECK constraint guards the same rule.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.exceptions import (
    AlreadyBooked,
    BookingClosed,
    CancellationClosed,
    IdempotencyKeyReused,
    InvalidStatusChange,
    NoSlotAvailable,
    OverlappingAppointment,
    SlotClosed,
    SlotFull,
)
from booking.models import Appointment, Patient, Slot
from booking.selectors import SlotSearch, search_open_slots
from clinics.exceptions import InvalidInput, NotFound
from notifications.services.outbox import notify_booked, notify_cancelled, notify_rescheduled

Status = Appointment.Status


@dataclass(frozen=True)
class Booking:
    appointment: Appointment
    # False when an earlier request with the same idempotency key already made it.
    created: bool


@transaction.atomic
def book_slot(
    *,
    patient: Patient,
    slot_id: int,
    booked_by: User,
    channel: Appointment.Channel,
    idempotency_key: str,
    enforce_cutoff: bool = True,
) -> Booking:
    """Give the patient a place in the slot, or return what the same idempotency key made.

    Locks the patient row (one person's bookings run one at a time, which makes the overlap
    check safe), then the slot row through the conditional update of its counter.
    """
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    earlier = _earlier_booking(booked_by, idempotency_key)
    if earlier is not None:
        if earlier.patient_id != patient.pk or earlier.slot_id != slot_id:
            raise IdempotencyKeyReused()
        return Booking(appointment=earlier, created=False)

    slot = _get_slot(slot_id)
    if enforce_cutoff:
        _check_booking_cutoff(slot)
    _check_no_overlap(patient, slot, moving=None)
    _take_place(slot)
    try:
        with transaction.atomic():
            appointment = Appointment.objects.create(
                patient=patient,
                slot=slot,
                visit_mode=slot.service.visit_mode,
                channel=channel,
                booked_by=booked_by,
                idempotency_key=idempotency_key,
            )
    except IntegrityError:
        # Only a key reused across two people at the same moment gets here: the patient lock
        # serialises everything else.
        raise IdempotencyKeyReused() from None
    notify_booked(appointment)
    return Booking(appointment=appointment, created=True)


@transaction.atomic
def allocate_slot(
    *,
    patient: Patient,
    search: SlotSearch,
    booked_by: User,
    channel: Appointment.Channel,
    idempotency_key: str,
) -> Booking:
    """Book the best open slot for the search ("the earliest time near me") in one call.

    Tries candidates in ranked order, each in its own savepoint, so a slot taken by someone
    else a moment earlier just moves it on to the next. Locks the patient row first, so a
    retry with the same key waits for the first attempt and returns what it booked.
    """
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    earlier = _earlier_booking(booked_by, idempotency_key)
    if earlier is not None:
        if earlier.patient_id != patient.pk or earlier.slot.service_id != search.service.pk:
            raise IdempotencyKeyReused()
        return Booking(appointment=earlier, created=False)
    page = search_open_slots(search, page=1, page_size=settings.ALLOCATION_ATTEMPTS)
    for candidate in page.items:
        try:
            return book_slot(
                patient=patient,
                slot_id=candidate.slot.pk,
                booked_by=booked_by,
                channel=channel,
                idempotency_key=idempotency_key,
            )
        except (SlotFull, SlotClosed, BookingClosed, AlreadyBooked, OverlappingAppointment):
            continue
    raise NoSlotAvailable()


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
    the patient itself), a cancellation notice is queued. Locks the appointment row, then the
    slot row through the counter update.
    """
    appointment = _lock(appointment)
    if appointment.status == Status.CANCELLED:
        return appointment
    if appointment.status not in (Status.BOOKED, Status.CHECKED_IN):
        raise InvalidStatusChange(status=appointment.status)
    if enforce_cutoff:
        _check_cancellation_cutoff(appointment.slot)
    appointment.status = Status.CANCELLED
    appointment.cancelled_at = timezone.now()
    appointment.cancellation_reason = reason[:200]
    appointment.save(update_fields=["status", "cancelled_at", "cancellation_reason", "updated_at"])
    Slot.objects.filter(pk=appointment.slot_id).update(booked=F("booked") - 1)
    notify_cancelled(appointment, send_notice=send_notice)
    return appointment


@transaction.atomic
def reschedule_appointment(
    *, appointment: Appointment, new_slot_id: int, enforce_cutoff: bool = True
) -> Appointment:
    """Move an appointment to another slot of the same service, all or nothing.

    The old place is released only if the new one is taken. Locks the patient, the
    appointment, then both slots in id order, so two people swapping slots cannot deadlock.
    """
    Patient.objects.select_for_update().filter(pk=appointment.patient_id).first()
    appointment = _lock(appointment)
    if appointment.status != Status.BOOKED:
        raise InvalidStatusChange(status=appointment.status)
    if new_slot_id == appointment.slot_id:
        return appointment
    old_slot = appointment.slot
    new_slot = _get_slot(new_slot_id)
    if new_slot.service_id != old_slot.service_id:
        raise InvalidInput(_("Choose a new time for the same service."), field="slot_id")
    if enforce_cutoff:
        _check_cancellation_cutoff(old_slot)
        _check_booking_cutoff(new_slot)
    _check_no_overlap(appointment.patient, new_slot, moving=appointment)
    list(Slot.objects.select_for_update().filter(pk__in=[old_slot.pk, new_slot.pk]).order_by("pk"))
    _take_place(new_slot)
    Slot.objects.filter(pk=old_slot.pk).update(booked=F("booked") - 1)
    appointment.slot = new_slot
    appointment.visit_mode = new_slot.service.visit_mode
    appointment.sequence = F("sequence") + 1
    appointment.confirmed_at = None  # confirmed the old time, not the new one
    appointment.save(update_fields=["slot", "visit_mode", "sequence", "confirmed_at", "updated_at"])
    appointment.refresh_from_db()
    notify_rescheduled(appointment)
    return appointment


@transaction.atomic
def confirm_attendance(*, appointment: Appointment) -> Appointment:
    """Record that the patient will come. Confirming twice is harmless."""
    appointment = _lock(appointment)
    if appointment.status != Status.BOOKED or appointment.slot.start <= timezone.now():
        raise InvalidStatusChange(
            _("Only an upcoming booked appointment can be confirmed."), status=appointment.status
        )
    if appointment.confirmed_at is None:
        appointment.confirmed_at = timezone.now()
        appointment.save(update_fields=["confirmed_at", "updated_at"])
    return appointment


# --- The visit's progress (staff) ---------------------------------------------------------------


@transaction.atomic
def check_in(*, appointment: Appointment) -> Appointment:
    """Record that the patient has arrived. Only on the day of the appointment."""
    appointment = _lock(appointment)
    if timezone.localdate(appointment.slot.start) != timezone.localdate():
        raise InvalidStatusChange(
            _("Check-in is only possible on the day of the appointment."),
            status=appointment.status,
        )
    return _move_status(appointment, to=Status.CHECKED_IN, allowed=(Status.BOOKED,))


@transaction.atomic
def start_consultation(*, appointment: Appointment) -> Appointment:
    """Record that the consultation or vaccination has begun. Not before its day."""
    appointment = _lock(appointment)
    _check_day_has_come(appointment)
    return _move_status(
        appointment, to=Status.IN_CONSULTATION, allowed=(Status.BOOKED, Status.CHECKED_IN)
    )


@transaction.atomic
def complete_appointment(*, appointment: Appointment) -> Appointment:
    """Record that the visit took place. Not before its day."""
    appointment = _lock(appointment)
    _check_day_has_come(appointment)
    return _move_status(
        appointment, to=Status.COMPLETED, allowed=(Status.CHECKED_IN, Status.IN_CONSULTATION)
    )


@transaction.atomic
def mark_no_show(*, appointment: Appointment) -> Appointment:
    """Record that the patient did not come. Only once the slot has started."""
    appointment = _lock(appointment)
    if appointment.slot.start > timezone.now():
        raise InvalidStatusChange(
            _("A patient can be marked as not attending only after the appointment has started."),
            status=appointment.status,
        )
    return _move_status(appointment, to=Status.NO_SHOW, allowed=(Status.BOOKED,))


# --- Helpers -------------------------------------------------------------------------------------


def _earlier_booking(booked_by: User, idempotency_key: str) -> Appointment | None:
    if not idempotency_key:
        return None
    return (
        Appointment.objects.filter(booked_by=booked_by, idempotency_key=idempotency_key)
        .select_related("slot")
        .first()
    )


def _get_slot(slot_id: int) -> Slot:
    """The slot to book into; SlotClosed if its service or centre is no longer offered,
    which may be before the next sync has closed the slot itself."""
    try:
        slot = Slot.objects.select_related("service", "centre").get(pk=slot_id)
    except Slot.DoesNotExist:
        raise NotFound(_("That time slot does not exist."), field="slot_id") from None
    offered = slot.centre.services.filter(pk=slot.service_id).exists()
    if not (slot.service.is_active and slot.centre.is_active and offered):
        raise SlotClosed(slot_id=slot.pk)
    return slot


def _lock(appointment: Appointment) -> Appointment:
    return (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("slot__service", "patient")
        .get(pk=appointment.pk)
    )


def _take_place(slot: Slot) -> None:
    """Take one place in the slot with a conditional update, or say why there is none."""
    taken = Slot.objects.filter(pk=slot.pk, closed=False, booked__lt=F("capacity")).update(
        booked=F("booked") + 1
    )
    if taken:
        return
    current = Slot.objects.filter(pk=slot.pk).values("closed").first()
    if current is None or current["closed"]:
        raise SlotClosed(slot_id=slot.pk)
    raise SlotFull(slot_id=slot.pk)


def _check_booking_cutoff(slot: Slot) -> None:
    minutes = slot.service.booking_cutoff_minutes
    if timezone.now() > slot.start - timedelta(minutes=minutes):
        raise BookingClosed(
            _("Online booking for this time closed %(minutes)d minutes before it starts.")
            % {"minutes": minutes},
            cutoff_minutes=minutes,
        )


def _check_cancellation_cutoff(slot: Slot) -> None:
    minutes = slot.service.cancellation_cutoff_minutes
    if timezone.now() > slot.start - timedelta(minutes=minutes):
        raise CancellationClosed(cutoff_minutes=minutes)


def _check_no_overlap(patient: Patient, slot: Slot, *, moving: Appointment | None) -> None:
    in_slot = Appointment.objects.filter(patient=patient, slot=slot).exclude(
        status=Status.CANCELLED
    )
    if moving is not None:
        in_slot = in_slot.exclude(pk=moving.pk)
    same = in_slot.values_list("pk", flat=True).first()
    if same is not None:  # booked, or even already seen: one place per person per slot
        raise AlreadyBooked(appointment_id=same)
    clashes = Appointment.objects.filter(
        patient=patient,
        status__in=Appointment.UPCOMING,
        slot__start__lt=slot.end,
        slot__end__gt=slot.start,
    )
    if moving is not None:
        clashes = clashes.exclude(pk=moving.pk)
    clash = clashes.values_list("pk", flat=True).first()
    if clash is not None:
        raise OverlappingAppointment(appointment_id=clash)


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
    appointment.status = to
    for name, value in stamps.items():
        setattr(appointment, name, value)
    appointment.save(update_fields=["status", "updated_at", *stamps])
    return appointment
