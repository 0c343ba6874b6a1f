"""Vaccination courses: which dose a booking is, holding the later doses, and keeping them in
their intervals when an earlier dose moves, is given, or is called off.

Intervals count from the day a dose was actually given once it has been, and from its
booked day until then. The held doses of a course are always the next ones in order: calling
off a dose releases every later one, since their days hang on it. These run inside the
caller's transaction, which has locked the patient row.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from booking.exceptions import (
    AlreadyBooked,
    BookingError,
    CourseAlreadyBooked,
    OutsideDoseInterval,
    OverlappingAppointment,
    SlotClosed,
    SlotFull,
)
from booking.models import Appointment, Patient, Slot, VaccinationSeries
from booking.notices import notify_booked, notify_cancelled, notify_rescheduled
from booking.selectors import SlotOrder, SlotSearch, best_open_slots
from booking.services.audit import appointment_changed
from booking.services.places import check_no_overlap, give_back_place, take_place
from clinics.dates import format_day
from clinics.models import Service
from clinics.selectors import service_doses

Status = Appointment.Status
HELD_OR_GIVEN = Appointment.HELD_OR_GIVEN


@dataclass(frozen=True)
class DosePlan:
    """Which dose of a course a booking would be. `series` is None for a new course."""

    series: VaccinationSeries | None
    number: int


@dataclass(frozen=True)
class DoseDue:
    """A later dose that could not be held: when it should be given."""

    number: int
    earliest: date
    latest: date


@dataclass
class CourseChange:
    """What a change to one dose did to the later doses of its course."""

    held: list[Appointment] = field(default_factory=list)
    moved: list[Appointment] = field(default_factory=list)
    released: list[Appointment] = field(default_factory=list)
    unheld: DoseDue | None = None


def doses_in_series(service: Service) -> int:
    doses = service_doses(service.pk)
    return doses[-1].number if doses else 1


def _dose_day(appointment: Appointment) -> date:
    """The day a dose was given, or else the day it is booked for."""
    if appointment.status == Status.COMPLETED and appointment.completed_at is not None:
        return timezone.localdate(appointment.completed_at)
    return timezone.localdate(appointment.slot.start)


def _dose_window(service: Service, number: int, previous_day: date) -> tuple[date, date] | None:
    """The first and last day dose `number` may be given, or None if its interval is unset."""
    rule = next((dose for dose in service_doses(service.pk) if dose.number == number), None)
    if rule is None or rule.min_interval_days is None or rule.max_interval_days is None:
        return None
    return (
        previous_day + timedelta(days=rule.min_interval_days),
        previous_day + timedelta(days=rule.max_interval_days),
    )


def plan_dose(patient: Patient, slot: Slot) -> DosePlan | None:
    """Which dose of the slot's vaccine booking it would be; None if it is not a vaccine.

    Only the next dose of a course under way can be booked, within its interval."""
    if slot.service.kind != Service.Kind.VACCINATION:
        return None
    series = VaccinationSeries.objects.filter(
        patient=patient, service=slot.service, status=VaccinationSeries.Status.ACTIVE
    ).first()
    if series is None:
        return DosePlan(series=None, number=1)
    doses = {
        dose.dose_number: dose
        for dose in series.appointments.filter(status__in=HELD_OR_GIVEN).select_related("slot")
    }
    # The first dose not booked or given: every dose before it is, since calling a dose off
    # releases all later ones.
    number = next((n for n in range(1, series.doses_in_series + 1) if n not in doses), None)
    if number is None:
        raise CourseAlreadyBooked()
    if number > 1:
        check_dose_day(series, number, doses[number - 1], timezone.localdate(slot.start))
    return DosePlan(series=series, number=number)


def check_dose_day(
    series: VaccinationSeries, number: int, previous: Appointment, day: date
) -> None:
    """Raise OutsideDoseInterval unless dose `number` may be given on `day`."""
    window = _dose_window(series.service, number, _dose_day(previous))
    if window is None or window[0] <= day <= window[1]:
        return
    language = "en" if (get_language() or "th").startswith("en") else "th"
    raise OutsideDoseInterval(
        _("Dose %(dose)d of this vaccine can be given from %(earliest)s to %(latest)s.")
        % {
            "dose": number,
            "earliest": format_day(window[0], language),
            "latest": format_day(window[1], language),
        },
        dose=number,
        earliest=window[0].isoformat(),
        latest=window[1].isoformat(),
    )


def start_course(patient: Patient, slot: Slot) -> VaccinationSeries:
    return VaccinationSeries.objects.create(
        patient=patient,
        service=slot.service,
        centre=slot.centre,
        doses_in_series=doses_in_series(slot.service),
    )


def hold_later_doses(appointment: Appointment) -> CourseChange:
    """Book the doses after this one, each in its interval from the one before, at the same
    centre when possible and else the nearest. Stops at the first dose with no free time."""
    change = CourseChange()
    series = appointment.series
    if series is None or appointment.dose_number is None:
        return change
    previous = appointment
    for number in range(appointment.dose_number + 1, series.doses_in_series + 1):
        existing = _dose(series, number)
        if existing is not None:
            previous = existing
            continue
        window = _dose_window(series.service, number, _dose_day(previous))
        if window is None:
            return change
        held = _book_in_window(series, number, previous, window)
        if held is None:
            change.unheld = DoseDue(number=number, earliest=window[0], latest=window[1])
            return change
        change.held.append(held)
        previous = held
    return change


def replan_later_doses(appointment: Appointment) -> CourseChange:
    """After a dose moved or was given: move each later dose that left its interval to a
    time inside it; release it, and those after it, if there is none."""
    change = CourseChange()
    series = appointment.series
    if series is None or appointment.dose_number is None:
        return change
    previous = appointment
    later = list(
        series.appointments.filter(
            dose_number__gt=appointment.dose_number, status=Status.BOOKED
        ).select_related("slot__service", "slot__centre", "patient")
    )
    for index, dose in enumerate(sorted(later, key=lambda each: each.dose_number or 0)):
        assert dose.dose_number is not None
        window = _dose_window(series.service, dose.dose_number, _dose_day(previous))
        if window is None or window[0] <= _dose_day(dose) <= window[1]:
            previous = dose
            continue
        moved = _move_into_window(dose, window)
        if moved is None:
            change.released.extend(
                _release_doses(later[index:], reason=str(_("No time was free in its interval.")))
            )
            return change
        change.moved.append(moved)
        previous = moved
    return change


def release_later_doses(appointment: Appointment, *, reason: str) -> list[Appointment]:
    """Cancel the booked doses after this one; if it was the first dose, end the course."""
    series = appointment.series
    if series is None or appointment.dose_number is None:
        return []
    later = list(
        series.appointments.filter(
            dose_number__gt=appointment.dose_number, status=Status.BOOKED
        ).select_related("slot__service", "slot__centre", "patient")
    )
    released = _release_doses(later, reason=reason)
    if appointment.dose_number == 1:
        VaccinationSeries.objects.filter(pk=series.pk).update(
            status=VaccinationSeries.Status.CANCELLED
        )
    return released


def _release_doses(doses: list[Appointment], *, reason: str) -> list[Appointment]:
    now = timezone.now()
    for dose in doses:
        dose.status = Status.CANCELLED
        dose.cancelled_at = now
        dose.cancellation_reason = reason[:200]
        dose.save(update_fields=["status", "cancelled_at", "cancellation_reason", "updated_at"])
        give_back_place(dose.slot_id)
        appointment_changed(dose, "cancelled", reason=dose.cancellation_reason)
        notify_cancelled(dose)
    return doses


def record_dose_given(appointment: Appointment) -> CourseChange:
    """After a dose is given: finish the course if it was the last, else keep the later doses
    in their intervals from the day it was actually given."""
    series = appointment.series
    if series is None:
        return CourseChange()
    if appointment.dose_number == series.doses_in_series:
        VaccinationSeries.objects.filter(pk=series.pk).update(
            status=VaccinationSeries.Status.COMPLETED, completed_at=timezone.now()
        )
        return CourseChange()
    return replan_later_doses(appointment)


# --- Helpers -------------------------------------------------------------------------------------


def _dose(series: VaccinationSeries, number: int) -> Appointment | None:
    return (
        series.appointments.filter(dose_number=number, status__in=HELD_OR_GIVEN)
        .select_related("slot")
        .first()
    )


def _candidates(series: VaccinationSeries, window: tuple[date, date]) -> list[Slot]:
    """Open times in the window: the course's centre first, then the nearest, earliest first."""
    today = timezone.localdate()
    first = max(window[0], today)
    if first > window[1]:
        return []
    search = SlotSearch(
        service=series.service,
        date_from=first,
        date_to=window[1],
        latitude=series.centre.latitude,
        longitude=series.centre.longitude,
        order=SlotOrder.NEAREST,
    )
    return [option.slot for option in best_open_slots(search, limit=settings.ALLOCATION_ATTEMPTS)]


def _book_in_window(
    series: VaccinationSeries, number: int, previous: Appointment, window: tuple[date, date]
) -> Appointment | None:
    for slot in _candidates(series, window):
        try:
            with transaction.atomic():
                check_no_overlap(series.patient, slot, moving=None)
                take_place(slot)
                held = Appointment.objects.create(
                    patient=series.patient,
                    slot=slot,
                    visit_mode=slot.service.visit_mode,
                    channel=previous.channel,
                    booked_by=previous.booked_by,
                    series=series,
                    dose_number=number,
                )
        except (SlotFull, SlotClosed, AlreadyBooked, OverlappingAppointment):
            continue
        held.slot = slot
        appointment_changed(held, "booked", course_dose_held=True)
        notify_booked(held)
        return held
    return None


def _move_into_window(dose: Appointment, window: tuple[date, date]) -> Appointment | None:
    assert dose.series is not None
    old_slot_id = dose.slot_id
    for slot in _candidates(dose.series, window):
        try:
            with transaction.atomic():
                list(
                    Slot.objects.select_for_update()
                    .filter(pk__in=[old_slot_id, slot.pk])
                    .order_by("pk")
                    .values("pk")
                )
                check_no_overlap(dose.patient, slot, moving=dose)
                take_place(slot)
                give_back_place(old_slot_id)
                Appointment.objects.filter(pk=dose.pk).update(
                    slot=slot,
                    sequence=F("sequence") + 1,
                    confirmed_at=None,
                    updated_at=timezone.now(),
                )
        except BookingError:
            continue
        dose.refresh_from_db()
        appointment_changed(dose, "moved", from_slot=old_slot_id, course_dose_moved=True)
        notify_rescheduled(dose)
        return dose
    return None


def next_dose_due(series: VaccinationSeries, doses: list[Appointment]) -> DoseDue | None:
    """For a course under way, the first dose not booked or given and when it is due."""
    if series.status != VaccinationSeries.Status.ACTIVE:
        return None
    held = {dose.dose_number: dose for dose in doses if dose.status in HELD_OR_GIVEN}
    number = next((n for n in range(1, series.doses_in_series + 1) if n not in held), None)
    if number is None or number == 1:
        return None
    window = _dose_window(series.service, number, _dose_day(held[number - 1]))
    if window is None:
        return None
    return DoseDue(number=number, earliest=window[0], latest=window[1])
