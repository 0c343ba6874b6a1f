"""Weekly schedules and closures: each change is saved and the slots follow in one transaction."""

from dataclasses import dataclass
from datetime import date, time, timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.models import Appointment
from booking.notices import centre_closed, notify_drive_change
from booking.services.audit import schedule_changed, schedule_summary
from booking.services.slots import SlotSyncResult, horizon, lock_centres, sync_slots
from booking.vaccination.drives import sync_drive_slots
from clinics.exceptions import InvalidInput, ScheduleOverlap, ServiceNotOffered
from clinics.models import Closure, HealthCentre, ScheduleTemplate, Service, StaffMembership
from clinics.selectors import SESSION_ROLES

# How far ahead a closure may be entered; further is almost certainly a typo in the year.
CLOSURE_MAX_DAYS_AHEAD = 2 * 366


@dataclass(frozen=True)
class ScheduleFields:
    service: Service
    clinician: User | None
    weekdays: str
    start_time: time
    end_time: time
    slot_minutes: int
    capacity: int
    valid_from: date
    valid_until: date | None
    is_active: bool = True


@dataclass(frozen=True)
class ScheduleChange:
    template: ScheduleTemplate
    slots: SlotSyncResult


@dataclass(frozen=True)
class ClosureAdded:
    closure: Closure
    slots: SlotSyncResult
    affected: list[Appointment]


@transaction.atomic
def create_schedule_template(*, centre: HealthCentre, fields: ScheduleFields) -> ScheduleChange:
    """Add a weekly schedule at a centre and generate its slots over the horizon.

    Locks the centre row, so that two overlapping schedules cannot both pass the check.
    """
    lock_centres([centre.number])
    template = ScheduleTemplate(centre=centre, **vars(fields))
    validate_schedule_template(template)
    template.save()
    schedule_changed(template, "created", centre_id=centre.pk, **schedule_summary(template))
    return ScheduleChange(template=template, slots=sync_slots(centre_ids=[centre.number]))


@transaction.atomic
def update_schedule_template(
    *, template: ScheduleTemplate, fields: ScheduleFields
) -> ScheduleChange:
    """Change a weekly schedule; future slots follow, booked places are kept.

    Locks the centre row, then the template row. The service cannot change: its booked
    slots would keep the old one; end the schedule and add another instead.
    """
    lock_centres([template.centre_id])
    template = ScheduleTemplate.objects.select_for_update().get(pk=template.pk)
    if fields.service.pk != template.service_id:
        raise InvalidInput(
            _("A schedule's service cannot change. End this schedule and add a new one."),
            field="service",
        )
    for name, value in vars(fields).items():
        setattr(template, name, value)
    validate_schedule_template(template)
    template.save()
    schedule_changed(
        template, "changed", centre_id=template.centre_id, **schedule_summary(template)
    )
    return ScheduleChange(template=template, slots=sync_slots(centre_ids=[template.centre_id]))


@transaction.atomic
def end_schedule_template(*, template: ScheduleTemplate) -> ScheduleChange:
    """Stop a weekly schedule: its unbooked future slots go, booked ones close and are reported."""
    lock_centres([template.centre_id])
    ScheduleTemplate.objects.filter(pk=template.pk).update(is_active=False)
    template.refresh_from_db()
    schedule_changed(template, "ended", centre_id=template.centre_id)
    return ScheduleChange(template=template, slots=sync_slots(centre_ids=[template.centre_id]))


def validate_schedule_template(template: ScheduleTemplate) -> None:
    """Raise a domain error naming the field if the schedule breaks a rule."""
    if template.end_time <= template.start_time:
        raise InvalidInput(_("The session must end after it starts."), field="end_time")
    if template.valid_until is not None and template.valid_until < template.valid_from:
        raise InvalidInput(
            _("The schedule must end on or after the day it starts."), field="valid_until"
        )
    _full_clean(template)
    if not template.centre.services.filter(pk=template.service_id).exists():
        raise ServiceNotOffered(field="service")
    if (
        template.clinician_id is not None
        and not StaffMembership.objects.filter(
            user_id=template.clinician_id,
            centre=template.centre,
            role__in=SESSION_ROLES,
        ).exists()
    ):
        raise InvalidInput(
            _("The clinician must be a clinician or nurse at this centre."), field="clinician"
        )
    if (template.end_time.hour * 60 + template.end_time.minute) - (
        template.start_time.hour * 60 + template.start_time.minute
    ) < template.slot_minutes:
        raise InvalidInput(
            _("The session is shorter than one slot. Make it longer or the slots shorter."),
            field="end_time",
        )
    others = ScheduleTemplate.objects.filter(
        centre=template.centre,
        service=template.service,
        clinician=template.clinician,
        is_active=True,
        start_time__lt=template.end_time,
        end_time__gt=template.start_time,
    ).exclude(pk=template.pk)
    if template.valid_until is not None:
        others = others.filter(valid_from__lte=template.valid_until)
    others = others.filter(Q(valid_until__isnull=True) | Q(valid_until__gte=template.valid_from))
    for other in others:
        shared = template.iso_weekdays & other.iso_weekdays
        if shared:
            raise ScheduleOverlap(other_schedule_id=other.pk, weekdays=sorted(shared))


def _full_clean(instance: ScheduleTemplate | Closure) -> None:
    """Run the model's own validation and report the first problem against its field."""
    try:
        instance.full_clean(exclude=["centre", "service", "clinician", "created_by"])
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise InvalidInput(messages[0], field=field) from error


@transaction.atomic
def add_closure(
    *,
    centre: HealthCentre | None,
    start_date: date,
    end_date: date,
    reason_th: str,
    reason_en: str = "",
    created_by: User | None = None,
) -> ClosureAdded:
    """Close a centre (or, with no centre, every centre) for some days.

    Unbooked slots in those days are removed; booked ones are closed to new bookings and their
    appointments are returned so that staff can move or cancel them - none is dropped silently.
    Locks the centre rows concerned (every centre for a city-wide closure).
    """
    lock_centres([centre.number] if centre is not None else None)
    closure = Closure(
        centre=centre,
        start_date=start_date,
        end_date=end_date,
        reason_th=reason_th,
        reason_en=reason_en,
        created_by=created_by,
    )
    validate_closure(closure)
    closure.save()
    schedule_changed(
        closure,
        "added",
        centre_id=closure.centre_id,
        first_day=start_date.isoformat(),
        last_day=end_date.isoformat(),
        reason=reason_th or reason_en,
    )
    slots = resync_days(centre=centre, start_date=start_date, end_date=end_date)
    affected = list(
        Appointment.objects.filter(
            pk__in=slots.affected_appointment_ids, status__in=Appointment.UPCOMING
        ).select_related("patient", "slot__centre", "slot__service")
    )
    for appointment in affected:  # each is told, with the link to choose another time
        notify_drive_change(appointment, centre_closed)
    return ClosureAdded(closure=closure, slots=slots, affected=affected)


def validate_closure(closure: Closure) -> None:
    """Raise a domain error naming the field if the closure breaks a rule."""
    today = timezone.localdate()
    if closure.start_date < today:
        raise InvalidInput(_("A closure cannot start in the past."), field="start_date")
    if closure.end_date < closure.start_date:
        raise InvalidInput(_("The last closed day is before the first."), field="end_date")
    if closure.end_date > today + timedelta(days=CLOSURE_MAX_DAYS_AHEAD):
        raise InvalidInput(_("A closure can be entered at most two years ahead."), field="end_date")
    _full_clean(closure)


@transaction.atomic
def remove_closure(*, closure: Closure) -> SlotSyncResult:
    """Lift a closure; the slots of those days come back (others' closures still apply)."""
    centre, start_date, end_date = closure.centre, closure.start_date, closure.end_date
    lock_centres([centre.number] if centre is not None else None)
    schedule_changed(
        closure,
        "lifted",
        centre_id=closure.centre_id,
        first_day=start_date.isoformat(),
        last_day=end_date.isoformat(),
    )
    closure.delete()
    return resync_days(centre=centre, start_date=start_date, end_date=end_date)


def resync_days(*, centre: HealthCentre | None, start_date: date, end_date: date) -> SlotSyncResult:
    """Sync one centre's (or every centre's) slots on some days: weekly schedules within the
    horizon, vaccination drives on every day given."""
    centre_ids = [centre.number] if centre is not None else None
    sync_drive_slots(centre_ids=centre_ids, start=start_date, end=end_date)
    first, last = horizon()
    start_date, end_date = max(start_date, first), min(end_date, last)
    if start_date > end_date:
        return SlotSyncResult()
    return sync_slots(centre_ids=centre_ids, start=start_date, end=end_date)
