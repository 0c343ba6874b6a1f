"""A patient's changes to a booked appointment: cancel, move to another slot, confirm."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.exceptions import (
    InvalidStatusChange,
)
from booking.models import Appointment, Slot
from booking.notices import notify_cancelled, notify_rescheduled
from booking.services.appointments.booking import check_eligibility
from booking.services.audit import appointment_changed
from booking.services.places import (
    bookable_slot,
    check_booking_cutoff,
    check_cancellation_cutoff,
    check_no_overlap,
    give_back_place,
    lock_appointment,
    lock_patient,
    take_place,
)
from booking.services.queue_events import announce_queue_change
from booking.vaccination.series import (
    check_dose_day,
    release_later_doses,
    replan_later_doses,
)
from clinics.exceptions import InvalidInput

Status = Appointment.Status


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
