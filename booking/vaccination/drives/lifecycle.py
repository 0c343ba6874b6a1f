"""A drive's changes: created as a draft, changed while a draft, released (its slots written
in bulk if the stock holds them) and called off."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.exceptions import DriveNotDraft, InsufficientStock, InvalidStatusChange
from booking.models import Appointment, DriveSession, Slot, VaccinationDrive
from booking.notices import drive_called_off, notify_drive_change
from booking.services.audit import drive_changed
from booking.services.slots import insert_slots, lock_centres
from booking.vaccination.drives.fields import DriveFields, validate_drive_fields
from booking.vaccination.drives.planning import _new_slots, plan_drive
from booking.vaccination.waiting_room import count_places_left
from clinics.exceptions import InvalidInput


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
    for appointment in affected:  # each is told, with the link to choose another time
        notify_drive_change(appointment, drive_called_off)
    return DriveCancelled(drive=drive, slots_removed=removed, affected=affected)


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
