"""Counting the daily figures the city publishes as open data.

A day is counted only once it is over, from a few grouped queries over its slots,
appointments, claimed waitlist offers and walk-ins; the definitions are those of the data dictionary
(booking/interop/open_data/dataset.py). Counting a day again replaces its rows.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.models import Appointment, CentreDayFigures, Slot, WaitlistOffer, WalkIn
from booking.selectors import day_bounds
from clinics.dates import days_between
from clinics.exceptions import InvalidInput

Status = Appointment.Status

# Staff sometimes record check-ins, completions and no-shows days after the visit: each night
# the last week is counted again so that the published figures catch up with them.
RECOUNT_DAYS = 7
# Nights missed while beat or the workers were down are caught up this far back.
CATCH_UP_DAYS = 35

# A person came: checked in at least. Someone checked in but never completed still attended.
ATTENDED = (Status.CHECKED_IN, Status.IN_CONSULTATION, Status.COMPLETED)

FIGURES = (
    "slots_offered",
    "places_offered",
    "booked",
    "attended",
    "no_shows",
    "cancellations",
    "waitlist_refills",
    "walk_ins",
)


@dataclass(frozen=True)
class DaysCounted:
    days: int
    rows: int


@transaction.atomic
def count_day(*, day: date) -> int:
    """Count one past Bangkok day's figures per centre and service, replacing its rows.

    Returns the number of rows. A centre and service with no open slot, no appointment and no
    claimed offer that day has no row. Locks only the day's figures rows it rewrites (the
    upsert), so two counts of the same day at once leave the same rows."""
    if day >= timezone.localdate():
        raise InvalidInput(_("Only days that are over can be counted."), field="day")
    start, end = day_bounds(day)
    counted: dict[tuple[int, int], dict[str, int]] = {}

    def figures_of(centre_id: int, service_id: int) -> dict[str, int]:
        return counted.setdefault((centre_id, service_id), dict.fromkeys(FIGURES, 0))

    open_slot = Q(closed=False)
    for group in (
        Slot.objects.filter(start__gte=start, start__lt=end)
        .values("centre_id", "service_id")
        .annotate(
            slots_offered=Count("pk", filter=open_slot),
            places_offered=Sum("capacity", filter=open_slot, default=0),
        )
        .order_by()
    ):
        if group["slots_offered"]:
            figures_of(group["centre_id"], group["service_id"]).update(
                slots_offered=group["slots_offered"], places_offered=group["places_offered"]
            )

    for group in (
        Appointment.objects.filter(slot__start__gte=start, slot__start__lt=end)
        .values("slot__centre_id", "slot__service_id")
        .annotate(
            booked=Count("pk", filter=~Q(status=Status.CANCELLED)),
            attended=Count("pk", filter=Q(status__in=ATTENDED)),
            no_shows=Count("pk", filter=Q(status=Status.NO_SHOW)),
            cancellations=Count("pk", filter=Q(status=Status.CANCELLED)),
        )
        .order_by()
    ):
        figures_of(group["slot__centre_id"], group["slot__service_id"]).update(
            booked=group["booked"],
            attended=group["attended"],
            no_shows=group["no_shows"],
            cancellations=group["cancellations"],
        )

    for group in (
        WaitlistOffer.objects.filter(
            status=WaitlistOffer.Status.CLAIMED, slot__start__gte=start, slot__start__lt=end
        )
        .values("slot__centre_id", "slot__service_id")
        .annotate(refills=Count("pk"))
        .order_by()
    ):
        figures_of(group["slot__centre_id"], group["slot__service_id"])["waitlist_refills"] = group[
            "refills"
        ]

    # Walk-ins count on the day they came, whatever became of them (seen, or left unseen).
    for group in (
        WalkIn.objects.filter(day=day)
        .values("centre_id", "service_id")
        .annotate(walk_ins=Count("pk"))
        .order_by()
    ):
        figures_of(group["centre_id"], group["service_id"])["walk_ins"] = group["walk_ins"]

    now = timezone.now()
    rows = [
        CentreDayFigures(
            centre_id=centre_id, service_id=service_id, day=day, computed_at=now, **figures
        )
        for (centre_id, service_id), figures in counted.items()
    ]
    # An upsert rather than delete-then-insert: a second count running at the same time
    # waits on these rows instead of failing on the unique constraint.
    CentreDayFigures.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["centre", "service", "day"],
        update_fields=[*FIGURES, "computed_at"],
    )
    stale = [
        pk
        for pk, centre_id, service_id in CentreDayFigures.objects.filter(day=day).values_list(
            "pk", "centre_id", "service_id"
        )
        if (centre_id, service_id) not in counted
    ]
    if stale:
        CentreDayFigures.objects.filter(pk__in=stale).delete()
    return len(rows)


def count_days(*, first_day: date, last_day: date) -> DaysCounted:
    """Count every day from `first_day` to `last_day`, both included; each day commits alone."""
    if first_day > last_day:
        raise InvalidInput(_("The first day must not be after the last day."), field="from")
    if last_day >= timezone.localdate():
        raise InvalidInput(_("Only days that are over can be counted."), field="to")
    rows = 0
    days = 0
    for day in days_between(first_day, last_day):
        rows += count_day(day=day)
        days += 1
    return DaysCounted(days=days, rows=rows)


def count_recent_days(
    *, recount_days: int = RECOUNT_DAYS, catch_up_days: int = CATCH_UP_DAYS
) -> DaysCounted:
    """Count the last `recount_days` days (yesterday included) again, and any earlier day of
    the last `catch_up_days` that has no figures yet."""
    yesterday = timezone.localdate() - timedelta(days=1)
    recount_from = yesterday - timedelta(days=recount_days - 1)
    catch_up_from = min(yesterday - timedelta(days=catch_up_days - 1), recount_from)
    counted_already = set(
        CentreDayFigures.objects.filter(day__gte=catch_up_from, day__lt=recount_from)
        .values_list("day", flat=True)
        .distinct()
    )
    # A day with nothing at all (a city-wide holiday) has no rows, and so is counted again
    # each night until it leaves the window: a few empty queries.
    days = [
        day
        for day in days_between(catch_up_from, yesterday)
        if day >= recount_from or day not in counted_already
    ]
    rows = sum(count_day(day=day) for day in days)
    return DaysCounted(days=len(days), rows=rows)
