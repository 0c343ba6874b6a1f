"""What an account holds: its patients, their appointments and vaccination courses, and the
other times an appointment could move to."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.models import Appointment, Patient, Slot, VaccinationSeries
from booking.selectors.slots import (
    SlotOption,
    SlotPage,
    SlotSearch,
    best_open_slots,
    search_open_slots,
)
from clinics.exceptions import NotFound
from notifications.models import Message

AnyUser = User | AnonymousUser


def patients_of(user: AnyUser) -> QuerySet[Patient]:
    """The account holder and their dependants."""
    return Patient.objects.filter(account_id=user.pk).select_related("district")


def patient_of(user: AnyUser, patient_id: int) -> Patient:
    """One of the account's patients; another account's patient is simply not found."""
    patient = patients_of(user).filter(pk=patient_id).first()
    if patient is None:
        raise NotFound(_("We could not find that person on your account."), field="patient_id")
    return patient


def appointments_of(user: AnyUser) -> QuerySet[Appointment]:
    return (
        Appointment.objects.filter(patient__account_id=user.pk)
        .select_related("patient", "slot__centre__district", "slot__service")
        .order_by("slot__start", "pk")
    )


def vaccination_courses_of(user: AnyUser) -> QuerySet[VaccinationSeries]:
    """The vaccination courses of everyone on the account, newest first, with their doses
    (not cancelled ones), centres and lots: three queries however many."""
    return (
        VaccinationSeries.objects.filter(patient__account_id=user.pk)
        .exclude(status=VaccinationSeries.Status.CANCELLED)
        .select_related("service", "patient")
        .prefetch_related(
            Prefetch(
                "appointments",
                queryset=Appointment.objects.exclude(status=Appointment.Status.CANCELLED)
                .select_related("slot__centre__district", "lot")
                .order_by("dose_number", "pk"),
            )
        )
        .order_by("-created_at", "pk")
    )


def appointment_can_change(appointment: Appointment) -> bool:
    """Whether the patient may still confirm, move or cancel it online."""
    minutes = appointment.slot.service.cancellation_cutoff_minutes
    return appointment.status == Appointment.Status.BOOKED and timezone.now() <= (
        appointment.slot.start - timedelta(minutes=minutes)
    )


# Times offered for moving an appointment from its link: the same centre, this far ahead.
ALTERNATIVE_DAYS = 28


def alternatives_for(appointment: Appointment, *, page: int = 1, page_size: int = 20) -> SlotPage:
    """Open times for the same service at the same centre, from today, other than its own."""
    today = timezone.localdate()
    search = SlotSearch(
        service=appointment.slot.service,
        date_from=today,
        date_to=today + timedelta(days=ALTERNATIVE_DAYS),
        centre_ids=[appointment.slot.centre_id],
        district=appointment.patient.district,
    )
    found = search_open_slots(search, page=page, page_size=page_size)
    others = [option for option in found.items if option.slot.pk != appointment.slot_id]
    return SlotPage(items=others, count=found.count, page=found.page, page_size=found.page_size)


@dataclass(frozen=True)
class MoveChoices:
    """Where an appointment could move to, as its page offers it."""

    here: list[Slot]  # at the same centre, a few a day over several days
    nearby: list[Slot]  # at the centres nearest the patient, a few each


def move_choices(
    appointment: Appointment, *, per_day: int = 3, days: int = 5, per_centre: int = 2
) -> MoveChoices:
    """Other open times for the appointment's service: at its centre, spread over up to
    `days` days (`per_day` each, rather than a whole day before the next), and at the other
    centres nearest the patient's home district (`per_centre` each, up to 3 centres). Two
    searches."""
    today = timezone.localdate()
    slot = appointment.slot
    last = today + timedelta(days=ALTERNATIVE_DAYS)
    at_centre = search_open_slots(
        SlotSearch(
            service=slot.service, date_from=today, date_to=last, centre_ids=[slot.centre_id]
        ),
        page=1,
        page_size=per_day * days * 4,
        excluding=[slot.pk],
    )
    here: list[Slot] = []
    by_day: dict[date, int] = {}
    for option in at_centre.items:
        day = timezone.localdate(option.slot.start)
        if by_day.get(day, 0) >= per_day or (day not in by_day and len(by_day) >= days):
            continue
        by_day[day] = by_day.get(day, 0) + 1
        here.append(option.slot)
    around = search_open_slots(
        SlotSearch(
            service=slot.service,
            district=appointment.patient.district or slot.centre.district,
            date_from=today,
            date_to=last,
        ),
        page=1,
        page_size=60,
    )
    nearby: list[Slot] = []
    by_centre: dict[int, int] = {}
    for option in around.items:
        centre_id = option.slot.centre_id
        if centre_id == slot.centre_id or by_centre.get(centre_id, 0) >= per_centre:
            continue
        if centre_id not in by_centre and len(by_centre) >= 3:
            continue
        by_centre[centre_id] = by_centre.get(centre_id, 0) + 1
        nearby.append(option.slot)
    return MoveChoices(here=sorted(here, key=lambda s: s.start), nearby=nearby)


def next_best_slots(slot_id: int, *, count: int = 3, days: int = 7) -> list[SlotOption]:
    """Open times to suggest to someone who just lost a slot: the same service from that day
    on, at the same centre first, then the nearest."""
    slot = Slot.objects.select_related("service", "centre").filter(pk=slot_id).first()
    if slot is None:
        return []
    day = timezone.localdate(slot.start)
    search = SlotSearch(
        service=slot.service,
        date_from=day,
        date_to=day + timedelta(days=days),
        latitude=slot.centre.latitude,
        longitude=slot.centre.longitude,
    )
    found = best_open_slots(search, limit=count + 1)
    return [option for option in found if option.slot.pk != slot_id][:count]


def appointment_of(user: AnyUser, appointment_id: int) -> Appointment:
    """One of the account's appointments; another account's is simply not found."""
    appointment = appointments_of(user).filter(pk=appointment_id).first()
    if appointment is None:
        raise NotFound(_("We could not find that appointment on your account."))
    return appointment


def confirmation_text_of(appointment: Appointment) -> Message | None:
    """The text that confirms the booking (the latest, should there be more), or None when
    none was written (nobody on the account has a mobile phone)."""
    return (
        Message.objects.filter(appointment_id=appointment.pk, kind=Message.Kind.CONFIRMATION)
        .order_by("-pk")
        .first()
    )
