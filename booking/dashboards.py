"""Figures for the staff dashboards, read from the nightly daily figures (CentreDayFigures,
counted by booking.interop.open_data.services.count_day): per day for one centre or the city,
and per centre for the city's ranking. Two queries whatever the span."""

from dataclasses import dataclass
from datetime import date

from django.db.models import Sum

from booking.models import CentreDayFigures

FIGURES = (
    "places_offered",
    "booked",
    "attended",
    "no_shows",
    "cancellations",
    "waitlist_refills",
    "walk_ins",
)


@dataclass(frozen=True)
class Totals:
    places_offered: int = 0
    booked: int = 0
    attended: int = 0
    no_shows: int = 0
    cancellations: int = 0
    waitlist_refills: int = 0
    walk_ins: int = 0  # people seen without an appointment: not in booked nor in the rates

    @property
    def booking_rate(self) -> float | None:
        return self.booked / self.places_offered if self.places_offered else None

    @property
    def attendance_rate(self) -> float | None:
        seen = self.attended + self.no_shows
        return self.attended / seen if seen else None

    @property
    def no_show_rate(self) -> float | None:
        seen = self.attended + self.no_shows
        return self.no_shows / seen if seen else None


@dataclass(frozen=True)
class DayTotals:
    day: date
    totals: Totals


def _sums(row: dict[str, int | None]) -> Totals:
    return Totals(**{name: int(row.get(name) or 0) for name in FIGURES})


def daily_totals(*, centre_id: int | None, first: date, last: date) -> list[DayTotals]:
    """Each day from first to last (days with no figures count as zero), for a centre or,
    with none, the whole city."""
    rows = CentreDayFigures.objects.filter(day__gte=first, day__lte=last)
    if centre_id is not None:
        rows = rows.filter(centre_id=centre_id)
    found = {
        row["day"]: _sums(row)
        for row in rows.values("day").annotate(**{name: Sum(name) for name in FIGURES})
    }
    span = (last - first).days + 1
    return [
        DayTotals(day=day, totals=found.get(day, Totals()))
        for day in (date.fromordinal(first.toordinal() + n) for n in range(span))
    ]


def centre_totals(*, first: date, last: date) -> dict[int, Totals]:
    """Each centre's totals over the span, by centre number."""
    rows = (
        CentreDayFigures.objects.filter(day__gte=first, day__lte=last)
        .values("centre_id")
        .annotate(**{name: Sum(name) for name in FIGURES})
    )
    return {row["centre_id"]: _sums(row) for row in rows}


def add_up(days: list[DayTotals]) -> Totals:
    return Totals(**{name: sum(getattr(day.totals, name) for day in days) for name in FIGURES})
