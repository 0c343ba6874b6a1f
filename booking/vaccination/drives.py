"""Vaccination drives: planning, stock-checked release in bulk, and calling one off.

A drive's slots are written in one bulk insert when it is released, each carrying the
drive's release time in `Slot.opens_at`; search and booking ignore a slot until then. So a
drive scheduled for 10:00 opens at 10:00 exactly, with no job that has to run on time.
"""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.exceptions import DriveNotDraft, InsufficientStock, InvalidStatusChange
from booking.models import (
    Appointment,
    DriveSession,
    Patient,
    RiskGroup,
    Slot,
    VaccinationDrive,
)
from booking.selectors import day_bounds
from booking.services.audit import drive_changed
from booking.services.slots import NewSlot, insert_slots, lock_centres
from booking.vaccination.schemas import DriveIn
from booking.vaccination.stock import StockPosition, stock_positions
from booking.vaccination.waiting_room import count_places_left
from clinics.dates import days_between, weekdays_code
from clinics.exceptions import InvalidInput
from clinics.models import District, HealthCentre, Service
from clinics.permissions import StaffAction, require_staff
from clinics.selectors import closed_days, service_by_code

# How far a drive may run, and how far ahead it may start.
MAX_DRIVE_DAYS = 120
MAX_DAYS_AHEAD = 365


@dataclass(frozen=True)
class DriveFields:
    name_th: str
    name_en: str
    service: Service
    centres: list[HealthCentre]
    first_day: date
    last_day: date
    weekdays: str
    sessions: list[tuple[time, time]]
    slot_minutes: int
    capacity_per_slot: int
    release_at: datetime
    min_age_months: int | None = None
    max_age_months: int | None = None
    sexes: list[str] = field(default_factory=list)
    risk_groups: list[str] = field(default_factory=list)
    districts: list[District] = field(default_factory=list)


@dataclass(frozen=True)
class PlannedDay:
    day: date
    slots: int
    places: int


@dataclass(frozen=True)
class CentrePlan:
    centre: HealthCentre
    days: list[PlannedDay]
    stock: StockPosition

    @property
    def slots(self) -> int:
        return sum(day.slots for day in self.days)

    @property
    def places(self) -> int:
        return sum(day.places for day in self.days)

    @property
    def shortfall(self) -> int:
        return max(self.places - self.stock.left_to_open, 0)


@dataclass(frozen=True)
class DrivePlan:
    centres: list[CentrePlan]

    @property
    def slots(self) -> int:
        return sum(centre.slots for centre in self.centres)

    @property
    def places(self) -> int:
        return sum(centre.places for centre in self.centres)


@dataclass(frozen=True)
class DriveReleased:
    drive: VaccinationDrive
    slots_created: int
    places: int


@dataclass(frozen=True)
class DriveCancelled:
    drive: VaccinationDrive
    slots_removed: int
    # Appointments still booked in the drive: staff move or cancel them (see services.bulk).
    affected: list[Appointment]


@transaction.atomic
def create_drive(*, fields: DriveFields, created_by: User) -> VaccinationDrive:
    """Create a drive as a draft: nothing is visible or bookable until it is released."""
    validate_drive_fields(fields, is_new=True)
    drive = VaccinationDrive(created_by=created_by)
    _apply_fields(drive, fields)
    drive_changed(drive, "created", name=drive.name_th)
    return drive


@transaction.atomic
def update_drive(*, drive: VaccinationDrive, fields: DriveFields) -> VaccinationDrive:
    """Change a draft drive. Locks its row."""
    drive = VaccinationDrive.objects.select_for_update().get(pk=drive.pk)
    if drive.status != VaccinationDrive.Status.DRAFT:
        raise DriveNotDraft()
    validate_drive_fields(fields, is_new=False)
    _apply_fields(drive, fields)
    drive_changed(drive, "changed", name=drive.name_th)
    return drive


def validate_drive_fields(fields: DriveFields, *, is_new: bool) -> None:
    """Raise InvalidInput naming the field for the first rule the drive breaks."""
    today = timezone.localdate()
    if fields.service.kind != Service.Kind.VACCINATION:
        raise InvalidInput(_("A drive is for a vaccine."), field="service")
    if not fields.centres:
        raise InvalidInput(_("Choose at least one health centre."), field="centres")
    if is_new and fields.first_day < today:
        raise InvalidInput(_("A drive cannot start in the past."), field="first_day")
    if fields.last_day < fields.first_day:
        raise InvalidInput(_("The last day is before the first day."), field="last_day")
    if (fields.last_day - fields.first_day).days >= MAX_DRIVE_DAYS:
        raise InvalidInput(
            _("A drive can run for at most %(days)d days.") % {"days": MAX_DRIVE_DAYS},
            field="last_day",
        )
    if fields.first_day > today + timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidInput(_("A drive can start at most a year ahead."), field="first_day")
    if not fields.sessions:
        raise InvalidInput(_("Give at least one daily session."), field="sessions")
    ordered = sorted(fields.sessions)
    for start, end in ordered:
        if end <= start:
            raise InvalidInput(_("Each session must end after it starts."), field="sessions")
    for (_start, end), (next_start, _end) in itertools.pairwise(ordered):
        if next_start < end:
            raise InvalidInput(_("The daily sessions overlap."), field="sessions")
    if not any(
        _minutes(end) - _minutes(start) >= fields.slot_minutes for start, end in fields.sessions
    ):
        raise InvalidInput(_("Every session is shorter than one slot."), field="slot_minutes")
    last_start = datetime.combine(
        fields.last_day, ordered[-1][0], tzinfo=timezone.get_default_timezone()
    )
    if fields.release_at >= last_start:
        raise InvalidInput(
            _("The drive must open for booking before its last session starts."),
            field="release_at",
        )
    if (
        fields.min_age_months is not None
        and fields.max_age_months is not None
        and fields.max_age_months <= fields.min_age_months
    ):
        raise InvalidInput(
            _("The oldest age must be above the youngest age."), field="max_age_months"
        )
    if any(sex not in Patient.Sex.values for sex in fields.sexes):
        raise InvalidInput(_("Unknown sex: use female, male or other."), field="sexes")
    if any(group not in RiskGroup.values for group in fields.risk_groups):
        raise InvalidInput(
            _("Unknown risk group. Use one of: %(groups)s.")
            % {"groups": ", ".join(RiskGroup.values)},
            field="risk_groups",
        )


def plan_drive(drive: VaccinationDrive) -> DrivePlan:
    """What releasing the drive would open: slots and places per centre and day, skipping
    closed days and times already past, next to each centre's stock of the vaccine."""
    centres = list(drive.centres.order_by("number"))
    numbers = [centre.number for centre in centres]
    closed = closed_days(centre_ids=numbers, start=drive.first_day, end=drive.last_day)
    stock = stock_positions(centre_ids=numbers, service=drive.service)
    sessions = list(drive.sessions.all())
    plans = []
    for centre in centres:
        days = []
        for day in days_between(drive.first_day, drive.last_day):
            if day.isoweekday() not in drive.iso_weekdays or day in closed[centre.number]:
                continue
            slots = sum(1 for _ in _slot_times(drive, sessions, day))
            if slots:
                days.append(
                    PlannedDay(day=day, slots=slots, places=slots * drive.capacity_per_slot)
                )
        plans.append(CentrePlan(centre=centre, days=days, stock=stock[centre.number]))
    return DrivePlan(centres=plans)


@transaction.atomic
def release_drive(*, drive: VaccinationDrive, at: datetime | None = None) -> DriveReleased:
    """Open the drive for booking at `at` (default: its release time; never in the past).

    A draft gets its slots now, in bulk, if every centre holds the doses for them;
    otherwise nothing is written. A drive already scheduled and not yet open just moves its
    opening time. Locks the drive row, then the centre rows in number order, as stock and
    schedule changes do, so the stock read here cannot change before the slots are written.
    """
    drive = VaccinationDrive.objects.select_for_update().get(pk=drive.pk)
    now = timezone.now()
    opens_at = max(at or drive.release_at, now)
    if drive.status == VaccinationDrive.Status.CANCELLED:
        raise InvalidStatusChange(_("This drive was cancelled."), status=drive.status)
    if drive.status == VaccinationDrive.Status.SCHEDULED:
        if drive.release_at <= now:
            raise InvalidStatusChange(
                _("This drive is already open for booking."), status=drive.status
            )
        Slot.objects.filter(drive=drive).update(opens_at=opens_at)
        drive.release_at = opens_at
        drive.save(update_fields=["release_at"])
        drive_changed(drive, "release_moved", opens_at=opens_at.isoformat())
        return DriveReleased(drive=drive, slots_created=0, places=0)

    lock_centres(drive.centres.values_list("number", flat=True))
    plan = plan_drive(drive)
    short = [centre for centre in plan.centres if centre.shortfall > 0]
    if short:
        raise InsufficientStock(
            centres=[
                {
                    "centre": centre.centre.number,
                    "places": centre.places,
                    "doses_left_to_open": centre.stock.left_to_open,
                }
                for centre in short
            ]
        )
    if not plan.slots:
        raise InvalidInput(
            _("This drive would open no slots: every day is closed or already past."),
            field="first_day",
        )
    for centre in plan.centres:  # a drive is the decision to offer the vaccine there
        centre.centre.services.add(drive.service)
    created = insert_slots(list(_new_slots(drive, plan, opens_at)))
    drive.status = VaccinationDrive.Status.SCHEDULED
    drive.release_at = opens_at
    drive.scheduled_at = now
    drive.save(update_fields=["status", "release_at", "scheduled_at"])
    drive_changed(drive, "released", opens_at=opens_at.isoformat(), slots=created)
    transaction.on_commit(lambda: count_places_left(drive_id=drive.pk))
    return DriveReleased(drive=drive, slots_created=created, places=plan.places)


@transaction.atomic
def cancel_drive(*, drive: VaccinationDrive) -> DriveCancelled:
    """Call a drive off: its unbooked slots go, booked ones close to new bookings, and the
    appointments in them are listed for staff to move or cancel - none is dropped here.

    Locks the drive row, then its slots in id order."""
    drive = VaccinationDrive.objects.select_for_update().get(pk=drive.pk)
    if drive.status == VaccinationDrive.Status.CANCELLED:
        return DriveCancelled(drive=drive, slots_removed=0, affected=[])
    slot_ids = list(
        Slot.objects.select_for_update()
        .filter(drive=drive)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    ever_booked = Appointment.objects.filter(slot=OuterRef("pk"))
    removable = Slot.objects.filter(pk__in=slot_ids, booked=0).exclude(Exists(ever_booked))
    removed, _ = removable.delete()
    Slot.objects.filter(drive=drive).update(closed=True)
    drive.status = VaccinationDrive.Status.CANCELLED
    drive.cancelled_at = timezone.now()
    drive.save(update_fields=["status", "cancelled_at"])
    drive_changed(drive, "cancelled", slots_removed=removed)
    affected = list(
        Appointment.objects.filter(slot__drive=drive, status__in=Appointment.UPCOMING)
        .select_related("patient", "slot__centre", "slot__service")
        .order_by("slot__start", "pk")
    )
    return DriveCancelled(drive=drive, slots_removed=removed, affected=affected)


def sync_drive_slots(*, centre_ids: list[int] | None, start: date, end: date) -> int:
    """Close drive slots on days a centre is now closed, and reopen those of scheduled drives
    on days no longer closed. Runs inside a closure change, which holds the centre locks."""
    slots = Slot.objects.filter(
        drive__status=VaccinationDrive.Status.SCHEDULED,
        start__gte=max(day_bounds(start)[0], timezone.now()),
        start__lt=day_bounds(end)[1],
    )
    if centre_ids is not None:
        slots = slots.filter(centre_id__in=centre_ids)
    rows = list(slots.order_by("pk").values("pk", "centre_id", "start", "closed"))
    if not rows:
        return 0
    numbers = sorted({row["centre_id"] for row in rows})
    closed = closed_days(centre_ids=numbers, start=start, end=end)
    to_close, to_open = [], []
    for row in rows:
        shut = timezone.localdate(row["start"]) in closed[row["centre_id"]]
        if shut and not row["closed"]:
            to_close.append(row["pk"])
        elif not shut and row["closed"]:
            to_open.append(row["pk"])
    list(
        Slot.objects.select_for_update()
        .filter(pk__in=[*to_close, *to_open])
        .order_by("pk")
        .values("pk")
    )
    changed = Slot.objects.filter(pk__in=to_close).update(closed=True)
    changed += Slot.objects.filter(pk__in=to_open).update(closed=False)
    return changed


# --- Helpers -------------------------------------------------------------------------------------


def _apply_fields(drive: VaccinationDrive, fields: DriveFields) -> None:
    drive.name_th = fields.name_th
    drive.name_en = fields.name_en
    drive.service = fields.service
    drive.first_day = fields.first_day
    drive.last_day = fields.last_day
    drive.weekdays = fields.weekdays
    drive.slot_minutes = fields.slot_minutes
    drive.capacity_per_slot = fields.capacity_per_slot
    drive.release_at = fields.release_at
    drive.min_age_months = fields.min_age_months
    drive.max_age_months = fields.max_age_months
    drive.sexes = sorted(set(fields.sexes))
    drive.risk_groups = sorted(set(fields.risk_groups))
    drive.save()
    drive.centres.set(fields.centres)
    drive.districts.set(fields.districts)
    drive.sessions.all().delete()
    DriveSession.objects.bulk_create(
        DriveSession(drive=drive, start_time=start, end_time=end)
        for start, end in sorted(fields.sessions)
    )


def _minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute


def _slot_times(
    drive: VaccinationDrive, sessions: list[DriveSession], day: date
) -> Iterator[tuple[datetime, datetime]]:
    zone = timezone.get_default_timezone()
    now = timezone.now()
    length = timedelta(minutes=drive.slot_minutes)
    for session in sessions:
        start = datetime.combine(day, session.start_time, tzinfo=zone)
        session_end = datetime.combine(day, session.end_time, tzinfo=zone)
        while start + length <= session_end:
            if start > now:
                yield start, start + length
            start += length


def _new_slots(drive: VaccinationDrive, plan: DrivePlan, opens_at: datetime) -> Iterator[NewSlot]:
    sessions = list(drive.sessions.all())
    for centre in plan.centres:
        for planned in centre.days:
            for start, end in _slot_times(drive, sessions, planned.day):
                yield NewSlot(
                    centre_id=centre.centre.number,
                    service_id=drive.service_id,
                    start=start,
                    end=end,
                    capacity=drive.capacity_per_slot,
                    drive_id=drive.pk,
                    opens_at=opens_at,
                )


def drive_fields(user: User, payload: DriveIn) -> DriveFields:
    """A drive's fields from API (or staff page) input, checking the user manages every
    centre it names."""
    weekdays = weekdays_code(payload.weekdays)
    centres = list(HealthCentre.objects.filter(number__in=payload.centres).order_by("number"))
    missing = sorted(set(payload.centres) - {centre.number for centre in centres})
    if missing:
        raise InvalidInput(
            _("There is no health centre numbered %(numbers)s.")
            % {"numbers": ", ".join(map(str, missing))},
            field="centres",
        )
    for centre in centres:
        require_staff(user, StaffAction.MANAGE_SCHEDULE, centre.number)
    districts = list(District.objects.filter(code__in=payload.districts))
    if len(districts) != len(set(payload.districts)):
        raise InvalidInput(_("There is no Bangkok district with that code."), field="districts")
    release_at = payload.release_at
    if timezone.is_naive(release_at):
        release_at = timezone.make_aware(release_at)
    return DriveFields(
        name_th=payload.name_th,
        name_en=payload.name_en,
        service=service_by_code(payload.service),
        centres=centres,
        first_day=payload.first_day,
        last_day=payload.last_day,
        weekdays=weekdays,
        sessions=[(session.start_time, session.end_time) for session in payload.sessions],
        slot_minutes=payload.slot_minutes,
        capacity_per_slot=payload.capacity_per_slot,
        release_at=release_at,
        min_age_months=payload.min_age_months,
        max_age_months=payload.max_age_months,
        sexes=list(payload.sexes),
        risk_groups=list(payload.risk_groups),
        districts=districts,
    )
