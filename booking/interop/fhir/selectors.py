"""Reads behind the FHIR API and the bulk files, including who may see which appointments."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from booking.interop.fhir.resources import BUSY, BUSY_UNAVAILABLE, FREE, ScheduleRow
from booking.interop.partner_keys import partner_key_from_request, presented_key
from booking.models import Appointment, Partner, PartnerKey, Slot, VaccinationDrive
from clinics.models import HealthCentre, Service, ServiceDose
from clinics.permissions import StaffAction, centres_where


def released_slots(now: datetime) -> QuerySet[Slot]:
    """Slots anyone may see: those open for booking (a drive's, from its release time)."""
    return Slot.objects.filter(Q(opens_at__isnull=True) | Q(opens_at__lte=now))


def bookable_in_time(now: datetime) -> Q:
    """Slots that start after their service's booking cut-off: a few services, a few cut-offs."""
    services_by_cutoff: dict[int, list[int]] = defaultdict(list)
    for service_id, cutoff in Service.objects.values_list("pk", "booking_cutoff_minutes"):
        services_by_cutoff[cutoff].append(service_id)
    bookable = Q(pk__in=[])
    for cutoff, service_ids in services_by_cutoff.items():
        bookable |= Q(service_id__in=service_ids, start__gte=now + timedelta(minutes=cutoff))
    return bookable


def slots_in_status(slots: QuerySet[Slot], statuses: set[str], now: datetime) -> QuerySet[Slot]:
    """resources.slot_status, asked in SQL: change both together."""
    places_left = Q(is_full=False)
    in_time = bookable_in_time(now)
    matches = Q(pk__in=[])
    if FREE in statuses:
        matches |= Q(closed=False) & places_left & in_time
    if BUSY in statuses:
        matches |= Q(closed=False) & ~places_left
    if BUSY_UNAVAILABLE in statuses:
        matches |= Q(closed=True) | (places_left & ~in_time)
    return slots.filter(matches)


# --- Schedules ----------------------------------------------------------------------------------


def schedule_rows(
    *, now: datetime, centre_ids: set[int] | None = None, service_ids: set[int] | None = None
) -> list[ScheduleRow]:
    """Every Schedule: each service each centre offers, then each drive at each of its centres
    once the drive opens for booking (as its slots do). Two queries, whatever the number."""
    offered = HealthCentre.services.through.objects.select_related(
        "healthcentre__district", "service"
    ).order_by("healthcentre_id", "service_id")
    at_drives = (
        VaccinationDrive.centres.through.objects.select_related(
            "healthcentre__district", "vaccinationdrive__service"
        )
        .filter(
            vaccinationdrive__status__in=[
                VaccinationDrive.Status.SCHEDULED,
                VaccinationDrive.Status.CANCELLED,
            ],
            vaccinationdrive__scheduled_at__isnull=False,
            vaccinationdrive__release_at__lte=now,
        )
        .order_by("vaccinationdrive_id", "healthcentre_id")
    )
    if centre_ids is not None:
        offered = offered.filter(healthcentre_id__in=centre_ids)
        at_drives = at_drives.filter(healthcentre_id__in=centre_ids)
    if service_ids is not None:
        offered = offered.filter(service_id__in=service_ids)
        at_drives = at_drives.filter(vaccinationdrive__service_id__in=service_ids)
    rows = [ScheduleRow(centre=link.healthcentre, service=link.service) for link in offered]
    rows += [
        ScheduleRow(
            centre=link.healthcentre,
            service=link.vaccinationdrive.service,
            drive=link.vaccinationdrive,
        )
        for link in at_drives
    ]
    return rows


def dose_numbers() -> dict[int, list[int]]:
    """The dose numbers of each vaccine's series, by service id: one query."""
    doses: dict[int, list[int]] = defaultdict(list)
    for service_id, number in ServiceDose.objects.values_list("service_id", "number"):
        doses[service_id].append(number)
    return doses


# --- Appointments -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppointmentReader:
    """Who reads appointments: a signed-in account (a patient's household, a staff member, or
    both), or a partner through its API key (appointments it booked)."""

    user: User | None = None
    partner: Partner | None = None


def appointment_reader(
    request: HttpRequest, scope: PartnerKey.Scope = PartnerKey.Scope.APPOINTMENTS_READ
) -> AppointmentReader | None:
    """The reader behind a request, or None when nobody signed in. A request carrying a
    partner API key reads as that partner (the key needs `scope`; a bad key is refused with
    its DomainError rather than read as anonymous)."""
    if presented_key(request) is not None:
        key = partner_key_from_request(request, scope)
        return AppointmentReader(partner=key.partner)
    user = request.user
    if isinstance(user, User) and user.is_authenticated and user.is_active:
        return AppointmentReader(user=user)
    return None


def appointments_visible_to(reader: AppointmentReader) -> QuerySet[Appointment]:
    """The one answer to "which appointments may this reader see": their household's, those at
    centres where they may view appointments, those the partner booked; nothing else."""
    visible = Q(pk__in=[])
    if reader.partner is not None:
        visible |= Q(partner=reader.partner)
    if reader.user is not None:
        visible |= Q(patient__account_id=reader.user.pk)
        centres = centres_where(reader.user, StaffAction.VIEW_APPOINTMENTS)
        if centres is None:
            visible = Q()
        elif centres:
            visible |= Q(slot__centre_id__in=centres)
    return Appointment.objects.filter(visible).select_related(
        "patient", "slot__centre", "slot__service"
    )


def immunizations_visible_to(reader: AppointmentReader) -> QuerySet[Appointment]:
    """The vaccine doses given that this reader may see, as appointments_visible_to decides
    (the household's, those at the reader's centres, those the partner booked), each with when
    the dose was given (`given_at`: when the visit was completed, else the slot's start)."""
    return (
        appointments_visible_to(reader)
        .filter(status=Appointment.Status.COMPLETED, slot__service__kind=Service.Kind.VACCINATION)
        .annotate(given_at=Coalesce("completed_at", "slot__start"))
        .select_related("series", "lot")
    )
