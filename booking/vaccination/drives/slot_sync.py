"""A released drive's slots kept in step with its centres' closures."""

from datetime import date

from django.utils import timezone

from booking.models import Slot, VaccinationDrive
from booking.selectors import day_bounds
from clinics.selectors import closed_days


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
