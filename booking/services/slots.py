"""Turning weekly schedules into bookable slots, and keeping them in step with closures."""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from itertools import chain

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from booking.exceptions import CapacityBelowBooked
from booking.models import Appointment, Slot
from booking.selectors import day_bounds
from booking.services.audit import slot_changed
from clinics.dates import days_between
from clinics.models import HealthCentre, ScheduleTemplate
from clinics.selectors import closed_days
from clinics.services import load_public_holidays

# Keeps each IN (...) list well under SQLite's limit on bound parameters.
CHUNK = 500


@dataclass
class SlotSyncResult:
    created: int = 0
    resized: int = 0
    reopened: int = 0
    removed: int = 0
    closed: int = 0
    # Appointments still booked in slots this run closed: staff must move or cancel them.
    affected_appointment_ids: list[int] = field(default_factory=list)

    def add(self, other: "SlotSyncResult") -> None:
        self.created += other.created
        self.resized += other.resized
        self.reopened += other.reopened
        self.removed += other.removed
        self.closed += other.closed
        self.affected_appointment_ids.extend(other.affected_appointment_ids)

    @property
    def changed(self) -> int:
        return self.created + self.resized + self.reopened + self.removed + self.closed


@dataclass(frozen=True)
class _PlannedSlot:
    template: ScheduleTemplate
    start: datetime
    end: datetime


def horizon(*, today: date | None = None) -> tuple[date, date]:
    """The first and last day of the rolling booking horizon."""
    first = today or timezone.localdate()
    return first, first + timedelta(weeks=settings.SLOT_HORIZON_WEEKS) - timedelta(days=1)


def sync_slots(
    *,
    centre_ids: Iterable[int] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> SlotSyncResult:
    """Make future slots match the weekly schedules, closures and holidays.

    Creates missing slots, resizes them to the schedule (never below what is booked), removes
    unbooked slots that no longer fit and closes booked ones, keeping their appointments, which
    it reports. Running it twice changes nothing the second time.

    Each centre is synced in its own transaction that first locks the centre's row, so that
    closures and schedule changes (which take the same lock) are never read half-way; then
    the slots it changes, in id order, as bookings and reschedules do, so none can deadlock.
    """
    default_start, default_end = horizon()
    start = start or default_start
    end = end or default_end
    centres = HealthCentre.objects.order_by("number")
    if centre_ids is not None:
        centres = centres.filter(number__in=list(centre_ids))
    result = SlotSyncResult()
    for number in centres.values_list("number", flat=True):
        result.add(_sync_centre(number, start=start, end=end))
    return result


@transaction.atomic
def _sync_centre(number: int, *, start: date, end: date) -> SlotSyncResult:
    centre = HealthCentre.objects.select_for_update().get(number=number)
    templates = list(ScheduleTemplate.objects.filter(centre=centre).select_related("service"))
    if not templates:
        return SlotSyncResult()
    offered = set(centre.services.values_list("pk", flat=True))
    live = [
        template
        for template in templates
        if template.is_active
        and centre.is_active
        and template.service.is_active
        and template.service_id in offered
    ]
    closed = closed_days(centre_ids=[number], start=start, end=end)[number]
    planned = _plan(live, start=start, end=end, closed=closed)
    return _apply(number, templates, planned, start=start, end=end)


def lock_centres(numbers: Iterable[int] | None) -> None:
    """Lock centre rows (all centres for None) in number order, as sync_slots does, before
    changing what their slots are generated from."""
    centres = HealthCentre.objects.select_for_update().order_by("number")
    if numbers is not None:
        centres = centres.filter(number__in=list(numbers))
    list(centres.values_list("number", flat=True))


def extend_slot_horizon() -> SlotSyncResult:
    """Load this and next year's holidays, then sync every centre over the whole horizon."""
    today = timezone.localdate()
    load_public_holidays(years=[today.year, today.year + 1])
    return sync_slots()


def _plan(
    templates: list[ScheduleTemplate], *, start: date, end: date, closed: set[date]
) -> dict[tuple[int, datetime], _PlannedSlot]:
    now = timezone.now()
    zone = timezone.get_default_timezone()
    planned: dict[tuple[int, datetime], _PlannedSlot] = {}
    for day in days_between(start, end):
        if day in closed:
            continue
        for template in templates:
            if not template.runs_on(day):
                continue
            for slot_start, slot_end in _times(template, day, zone):
                if slot_start > now:
                    planned[(template.pk, slot_start)] = _PlannedSlot(
                        template, slot_start, slot_end
                    )
    return planned


def _times(
    template: ScheduleTemplate, day: date, zone: tzinfo
) -> Iterator[tuple[datetime, datetime]]:
    length = timedelta(minutes=template.slot_minutes)
    slot_start = datetime.combine(day, template.start_time, tzinfo=zone)
    day_end = datetime.combine(day, template.end_time, tzinfo=zone)
    while slot_start + length <= day_end:
        yield slot_start, slot_start + length
        slot_start += length


def _apply(
    centre_number: int,
    templates: list[ScheduleTemplate],
    planned: dict[tuple[int, datetime], _PlannedSlot],
    *,
    start: date,
    end: date,
) -> SlotSyncResult:
    result = SlotSyncResult()
    range_start, _ = day_bounds(start)
    _, range_end = day_bounds(end)
    existing = Slot.objects.filter(
        template__in=templates,
        start__gte=max(range_start, timezone.now()),
        start__lt=range_end,
    ).values(
        "id",
        "template_id",
        "start",
        "capacity",
        "closed",
        "capacity_set_by_staff",
        "clinician_id",
    )

    unplanned: list[int] = []
    reopen: list[int] = []
    resize: dict[int, list[int]] = defaultdict(list)
    reassign: dict[int | None, list[int]] = defaultdict(list)
    seen: set[tuple[int, datetime]] = set()
    for row in existing:
        key = (row["template_id"], row["start"])
        plan = planned.get(key)
        if plan is None:
            if not row["closed"]:
                unplanned.append(row["id"])
            continue
        seen.add(key)
        if row["closed"]:
            reopen.append(row["id"])
        if row["capacity"] != plan.template.capacity and not row["capacity_set_by_staff"]:
            resize[plan.template.capacity].append(row["id"])
        if row["clinician_id"] != plan.template.clinician_id:
            reassign[plan.template.clinician_id].append(row["id"])

    result.created = _insert_slots(
        centre_number, [plan for key, plan in planned.items() if key not in seen]
    )
    changing = sorted({*unplanned, *reopen, *chain(*resize.values()), *chain(*reassign.values())})
    for chunk in _chunks(changing):
        list(Slot.objects.select_for_update().filter(id__in=chunk).order_by("id").values("id"))

    for chunk in _chunks(reopen):
        result.reopened += Slot.objects.filter(id__in=chunk).update(closed=False)
    for capacity, ids in resize.items():
        for chunk in _chunks(ids):
            # Greatest(): a slot never shrinks below the people already booked into it.
            result.resized += Slot.objects.filter(id__in=chunk).update(
                capacity=Greatest(Value(capacity), F("booked"))
            )
    for clinician_id, ids in reassign.items():
        for chunk in _chunks(ids):
            Slot.objects.filter(id__in=chunk).update(clinician_id=clinician_id)
    for chunk in _chunks(unplanned):
        removed, closed, affected = _retire(chunk)
        result.removed += removed
        result.closed += closed
        result.affected_appointment_ids.extend(affected)
    return result


@dataclass(frozen=True)
class NewSlot:
    centre_id: int
    service_id: int
    start: datetime
    end: datetime
    capacity: int
    template_id: int | None = None
    clinician_id: int | None = None
    drive_id: int | None = None
    opens_at: datetime | None = None


def _insert_slots(centre_number: int, plans: list[_PlannedSlot]) -> int:
    return insert_slots(
        [
            NewSlot(
                centre_id=centre_number,
                service_id=plan.template.service_id,
                start=plan.start,
                end=plan.end,
                capacity=plan.template.capacity,
                template_id=plan.template.pk,
                clinician_id=plan.template.clinician_id,
            )
            for plan in plans
        ]
    )


def insert_slots(slots: list[NewSlot]) -> int:
    """Insert slots in bulk below the ORM: compiling a bulk_create of 130,000 slots took most
    of a 13-second run. A row that another run inserted first is skipped by the unique
    (template, start) or (drive, centre, start) index. bench/slot_generation.py measures this."""
    if not slots:
        return 0
    connection = transaction.get_connection()
    ops = connection.ops
    columns = [
        "centre_id",
        "service_id",
        "template_id",
        "clinician_id",
        "drive_id",
        "start",
        "end",
        "capacity",
        "booked",
        "closed",
        "capacity_set_by_staff",
        "opens_at",
        "created_at",
    ]
    now = ops.adapt_datetimefield_value(timezone.now())
    rows = [
        (
            slot.centre_id,
            slot.service_id,
            slot.template_id,
            slot.clinician_id,
            slot.drive_id,
            ops.adapt_datetimefield_value(slot.start),
            ops.adapt_datetimefield_value(slot.end),
            slot.capacity,
            0,
            False,
            False,
            ops.adapt_datetimefield_value(slot.opens_at),
            now,
        )
        for slot in slots
    ]
    table = ops.quote_name(Slot._meta.db_table)
    names = ", ".join(ops.quote_name(column) for column in columns)
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            # SQLite, in process: one prepared statement run for every row is quickest.
            values = ", ".join(["%s"] * len(columns))
            sql = f"INSERT INTO {table} ({names}) VALUES ({values}) ON CONFLICT DO NOTHING"
            cursor.executemany(sql, rows)
            return max(int(cursor.rowcount), 0)
        else:
            # PostgreSQL: COPY into a scratch table, then one INSERT that skips conflicts.
            # (Django binds parameters client-side, so a huge VALUES list is slow to build.)
            cursor.execute(
                f"CREATE TEMPORARY TABLE slot_load AS SELECT {names} FROM {table} WITH NO DATA"
            )
            with cursor.cursor.copy(f"COPY slot_load ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM slot_load "
                "ON CONFLICT DO NOTHING"
            )
            inserted = int(cursor.rowcount)
            cursor.execute("DROP TABLE slot_load")
    return inserted


def _retire(slot_ids: list[int]) -> tuple[int, int, list[int]]:
    """Delete slots nobody ever booked; close the others, keeping their appointments."""
    never_booked = Appointment.objects.filter(slot=OuterRef("pk"))
    deletable = list(
        Slot.objects.select_for_update()
        .filter(id__in=slot_ids, booked=0)
        .exclude(Exists(never_booked))
        .values_list("id", flat=True)
    )
    Slot.objects.filter(id__in=deletable).delete()
    remaining = [slot_id for slot_id in slot_ids if slot_id not in set(deletable)]
    closed = Slot.objects.filter(id__in=remaining).update(closed=True)
    affected = list(
        Appointment.objects.filter(
            slot_id__in=remaining, status__in=Appointment.UPCOMING
        ).values_list("id", flat=True)
    )
    return len(deletable), closed, affected


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for offset in range(0, len(ids), CHUNK):
        yield ids[offset : offset + CHUNK]


@transaction.atomic
def set_slot_capacity(*, slot: Slot, capacity: int) -> Slot:
    """Set one slot's capacity by hand; refuses to go below the people booked.

    Locks the slot row through the conditional update.
    """
    changed = Slot.objects.filter(pk=slot.pk, booked__lte=capacity).update(
        capacity=capacity, capacity_set_by_staff=True
    )
    if not changed:
        slot.refresh_from_db()
        raise CapacityBelowBooked(booked=slot.booked)
    slot.refresh_from_db()
    slot_changed(slot, "capacity_set", capacity=capacity)
    return slot
