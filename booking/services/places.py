"""The checks and counter updates that every way of taking or giving back a place shares.

A place is taken with one conditional UPDATE (`booked < capacity`), so no slot is ever booked
past its capacity whatever runs at the same time; a CHECK constraint guards the same rule.
These run inside the caller's transaction.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.exceptions import (
    AlreadyBooked,
    BookingClosed,
    CancellationClosed,
    OverlappingAppointment,
    SlotClosed,
    SlotFull,
    TooManyActiveBookings,
)
from booking.models import Appointment, Patient, Slot
from clinics.exceptions import NotFound
from clinics.models import HealthCentre


def bookable_slot(slot_id: int) -> Slot:
    """The slot to book into; SlotClosed if its service or centre is no longer offered,
    which may be before the next sync has closed the slot itself. A slot that has not opened
    yet (a drive before its release time) is not found, as if it did not exist."""
    # One statement: the slot, its service, centre (with the district its answer shows) and
    # drive, and whether the centre still offers the service.
    offers = HealthCentre.services.through.objects.filter(
        healthcentre_id=OuterRef("centre_id"), service_id=OuterRef("service_id")
    )
    slot = (
        Slot.objects.select_related("service", "centre__district", "drive")
        .annotate(offered=Exists(offers))
        .filter(pk=slot_id)
        .order_by("pk")  # not the default ordering, which joins the centre again to sort
        .first()
    )
    if slot is None or (slot.opens_at is not None and slot.opens_at > timezone.now()):
        raise NotFound(_("That time slot does not exist."), field="slot_id")
    offered: bool = slot.offered
    if not (slot.service.is_active and slot.centre.is_active and offered):
        raise SlotClosed(slot_id=slot.pk)
    return slot


def lock_patient(patient_id: int) -> None:
    """Lock one patient's row: that person's bookings then run one at a time. (Only the row:
    the model's default ordering would join, and so lock, the account too.)"""
    list(Patient.objects.select_for_update().filter(pk=patient_id).order_by().values("pk"))


def lock_appointment(appointment: Appointment) -> Appointment:
    return (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("slot__service", "slot__centre", "patient")
        .get(pk=appointment.pk)
    )


def take_place(slot: Slot) -> None:
    """Take one place in the slot with a conditional update, or say why there is none."""
    taken = Slot.objects.filter(pk=slot.pk, closed=False, booked__lt=F("capacity")).update(
        booked=F("booked") + 1
    )
    if taken:
        return
    current = Slot.objects.filter(pk=slot.pk).order_by("pk").values("closed").first()
    if current is None or current["closed"]:
        raise SlotClosed(slot_id=slot.pk)
    raise SlotFull(slot_id=slot.pk)


def give_back_place(slot_id: int) -> None:
    Slot.objects.filter(pk=slot_id).update(booked=F("booked") - 1)


def check_booking_cutoff(slot: Slot) -> None:
    minutes = slot.service.booking_cutoff_minutes
    if timezone.now() > slot.start - timedelta(minutes=minutes):
        raise BookingClosed(
            _("Online booking for this time closed %(minutes)d minutes before it starts.")
            % {"minutes": minutes},
            cutoff_minutes=minutes,
        )


def check_cancellation_cutoff(slot: Slot) -> None:
    minutes = slot.service.cancellation_cutoff_minutes
    if timezone.now() > slot.start - timedelta(minutes=minutes):
        raise CancellationClosed(cutoff_minutes=minutes)


def check_no_overlap(patient: Patient, slot: Slot, *, moving: Appointment | None) -> None:
    in_slot = Appointment.objects.filter(patient=patient, slot=slot).exclude(
        status=Appointment.Status.CANCELLED
    )
    if moving is not None:
        in_slot = in_slot.exclude(pk=moving.pk)
    same = in_slot.order_by("pk").values_list("pk", flat=True).first()
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
    clash = clashes.order_by("pk").values_list("pk", flat=True).first()
    if clash is not None:
        raise OverlappingAppointment(appointment_id=clash)


def check_active_bookings_cap(patient: Patient) -> None:
    """Refuse a booking past the number of upcoming appointments one person may hold (later
    doses of a vaccination course, booked with the first, do not count). The caller holds the
    patient's row lock, so two bookings at once cannot both pass."""
    limit = settings.MAX_ACTIVE_BOOKINGS_PER_PATIENT
    if limit <= 0:
        return
    held = (
        Appointment.objects.filter(
            patient=patient,
            status__in=(Appointment.Status.BOOKED, Appointment.Status.CHECKED_IN),
            slot__end__gt=timezone.now(),
        )
        .exclude(dose_number__gt=1)
        .count()
    )
    if held >= limit:
        raise TooManyActiveBookings(limit=limit)
