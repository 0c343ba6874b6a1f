"""The waiting room in front of a drive's release: fair and responsive at ten times demand.

When a drive opens, everyone who asks to book joins a line in arrival order (one place in it
per account) and is let in at a fixed rate: DRIVE_ADMIT_BURST at once, then
DRIVE_ADMIT_PER_SECOND, set at or below what the engine serves (bench/surge.py measures it).
Someone not yet let in gets 429 with their place in line and when to ask again, from a few
cache operations and no database work, so the surge does not slow down the people booking.
The line runs for DRIVE_QUEUE_MINUTES after the release; a sold-out drive says so at once.

The line lives in the shared cache (Redis in production). The database still guards every
place: the waiting room decides only who may try, never who gets a place.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from booking.exceptions import DriveFull, InQueue
from booking.models import Slot, VaccinationDrive

# How long a "still has places" answer may be reused by the people waiting.
PLACES_CHECK_SECONDS = 2


@dataclass(frozen=True)
class Admission:
    admitted: bool
    position: int  # in order of arrival, from 1; 0 when there is no line
    ahead: int  # people in front not yet let in
    retry_after: int  # seconds


def drives_in_surge(*, service_id: int, now: datetime | None = None) -> list[VaccinationDrive]:
    """The service's drives whose waiting room is open now (reused for a moment when asked
    about the present, since every request in the surge asks)."""
    if now is None:
        found = cache.get_or_set(
            f"drives-in-surge:{service_id}",
            lambda: drives_in_surge(service_id=service_id, now=timezone.now()),
            PLACES_CHECK_SECONDS,
        )
        return list(found or [])
    return list(
        VaccinationDrive.objects.filter(
            service_id=service_id,
            status=VaccinationDrive.Status.SCHEDULED,
            release_at__lte=now,
            release_at__gt=now - timedelta(minutes=settings.DRIVE_QUEUE_MINUTES),
        )
    )


def admit(
    drive: VaccinationDrive, account_id: int | str, *, now: datetime | None = None
) -> Admission:
    """This account's place in the drive's line, and whether it is let in yet. A partner's
    booking stands in line as the person it names (a string) rather than an account."""
    now = now or timezone.now()
    elapsed = (now - drive.release_at).total_seconds()
    if elapsed < 0 or elapsed >= settings.DRIVE_QUEUE_MINUTES * 60:
        return Admission(admitted=True, position=0, ahead=0, retry_after=0)
    lifetime = settings.DRIVE_QUEUE_MINUTES * 60 + 600
    key = f"drive-queue:{drive.pk}:{drive.release_at.timestamp():.0f}"
    mine = f"{key}:{account_id}"
    position = cache.get(mine)
    if position is None:
        cache.add(f"{key}:next", 0, timeout=lifetime)
        drawn = cache.incr(f"{key}:next")
        # A double tap draws twice; the first number kept is the one that counts.
        position = drawn if cache.add(mine, drawn, timeout=lifetime) else cache.get(mine, drawn)
    let_in = settings.DRIVE_ADMIT_BURST + int(elapsed * settings.DRIVE_ADMIT_PER_SECOND)
    if position <= let_in:
        return Admission(admitted=True, position=position, ahead=0, retry_after=0)
    ahead = position - let_in
    wait = math.ceil(ahead / max(settings.DRIVE_ADMIT_PER_SECOND, 0.001))
    return Admission(
        admitted=False, position=position, ahead=ahead, retry_after=min(max(wait, 1), 30)
    )


def has_places(drive: VaccinationDrive) -> bool:
    """Whether any place in the drive is still free; reused for a moment by everyone."""

    def check() -> bool:
        return Slot.objects.filter(
            drive=drive, closed=False, booked__lt=F("capacity"), start__gt=timezone.now()
        ).exists()

    return bool(cache.get_or_set(f"drive-places:{drive.pk}", check, PLACES_CHECK_SECONDS))


def wait_turn(*, service_id: int, account_id: int | str, drive_id: int | None = None) -> None:
    """Raise InQueue until the account is let in to every drive of the service in its surge
    (or the one drive given), or DriveFull once that drive has no place left."""
    drives = drives_in_surge(service_id=service_id)
    if drive_id is not None:
        drives = [drive for drive in drives if drive.pk == drive_id]
    for drive in drives:
        admission = admit(drive, account_id)
        if not admission.admitted:
            if not has_places(drive):
                raise DriveFull()
            raise InQueue(
                position=admission.position,
                ahead=admission.ahead,
                retry_after=admission.retry_after,
            )


def wait_turn_for_slot(*, slot_id: int, account_id: int | str) -> None:
    """Wait in line as for `wait_turn` when the slot belongs to a drive; otherwise go ahead."""
    target = Slot.objects.filter(pk=slot_id).order_by().values("service_id", "drive_id").first()
    if target is not None and target["drive_id"] is not None:
        wait_turn(
            service_id=target["service_id"], account_id=account_id, drive_id=target["drive_id"]
        )
