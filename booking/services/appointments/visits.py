"""The visit's progress, as staff record it: checked in, in consultation, completed (with the
dose given), did not come."""

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from booking.exceptions import (
    InvalidStatusChange,
)
from booking.models import Appointment
from booking.services.audit import appointment_changed
from booking.services.places import (
    lock_appointment,
    lock_patient,
)
from booking.services.queue_events import announce_queue_change
from booking.vaccination.series import (
    record_dose_given,
    release_later_doses,
)
from booking.vaccination.stock import use_dose

Status = Appointment.Status


@transaction.atomic
def check_in(*, appointment: Appointment) -> Appointment:
    """Record that the patient has arrived. Only on the day of the appointment; someone
    marked as not come who turns up after all is checked in too."""
    appointment = lock_appointment(appointment)
    _check_on_the_day(appointment, _("Check-in is only possible on the day of the appointment."))
    return _move_status(appointment, to=Status.CHECKED_IN, allowed=(Status.BOOKED, Status.NO_SHOW))


@transaction.atomic
def undo_check_in(*, appointment: Appointment) -> Appointment:
    """Take back a check-in made by mistake: the patient is expected again. Only on the day
    of the appointment, and only before the visit has started. Audited as any step."""
    appointment = lock_appointment(appointment)
    _check_on_the_day(appointment, _("A check-in can be taken back only on its day."))
    return _move_status(appointment, to=Status.BOOKED, allowed=(Status.CHECKED_IN,))


@transaction.atomic
def undo_no_show(*, appointment: Appointment) -> Appointment:
    """Take back a "did not come" made by mistake: the patient is expected again. Only on
    the day of the appointment. The later doses of a vaccine course it gave up stay given up
    (book them again). Audited as any step."""
    appointment = lock_appointment(appointment)
    _check_on_the_day(appointment, _("A 'did not come' can be taken back only on its day."))
    return _move_status(appointment, to=Status.BOOKED, allowed=(Status.NO_SHOW,))


def _check_on_the_day(appointment: Appointment, refusal: StrOrPromise) -> None:
    if timezone.localdate(appointment.slot.start) != timezone.localdate():
        raise InvalidStatusChange(refusal, status=appointment.status)


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
    stamps_for: dict[str, dict[str, Any]] = {
        Status.CHECKED_IN: {"checked_in_at": now},
        Status.COMPLETED: {"completed_at": now},
        Status.BOOKED: {"checked_in_at": None},  # a step taken back: expected again
    }
    stamps = stamps_for.get(to, {})
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
