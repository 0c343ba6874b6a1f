"""What releasing a drive would open: slots and places per centre and day, next to each
centre's stock, and the slots written when it is released."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone

from booking.models import DriveSession, VaccinationDrive
from booking.services.slots import NewSlot
from booking.vaccination.stock import StockPosition, stock_positions
from clinics.dates import days_between
from clinics.models import HealthCentre
from clinics.selectors import closed_days


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
