"""What a drive is made of (DriveFields), built from the API's or the staff page's input, and
the rules it must meet before it is saved."""

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.auth.models import User
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.models import Patient, RiskGroup
from booking.vaccination.schemas import DriveIn
from clinics.dates import weekdays_code
from clinics.exceptions import InvalidInput
from clinics.models import District, HealthCentre, Service
from clinics.permissions import StaffAction, require_staff
from clinics.selectors import service_by_code

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


def _minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute


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
