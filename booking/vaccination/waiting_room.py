"""The waiting room in front of a drive's release: fair and responsive at ten times demand.

When a drive opens, everyone who asks to book joins a line in arrival order (one place in it
per account) and is let in as fast as the bookings commit: DRIVE_ADMIT_BURST at once, then
one more for every booking in the drive that commits, and the window grows with the line's
speed (see _window), since someone let in books only when they next ask. Someone let in who
never books (they gave up, or lost every slot they tried) holds their turn for
ADMISSION_LEASE_SECONDS at most.
DRIVE_ADMIT_PER_SECOND, when set, is a ceiling on top (0: none).

Someone not yet let in gets 429 with their place in line and when to ask again, and
`drive_full` once no place is left, from a few cache operations and no database work: the
places left in each drive are a counter in the cache, set when the drive is released, moved
when a booking or cancellation in it commits, and reconciled from the slots at most every
PLACES_RECONCILE_SECONDS by whoever asks first. The line runs for DRIVE_QUEUE_MINUTES after
the release.

The line lives in the shared cache (Redis in production). The database still guards every
place: the waiting room decides only who may try, never who gets a place. With Redis down
everyone is let straight through.
"""

import math
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from booking.exceptions import DriveFull, InQueue
from booking.models import Appointment, Slot, VaccinationDrive
from booking.services.booking_sql.reads import slot_facts
from clinics.limits import count_windows

# How long the list of drives in their surge may be reused by the people waiting.
PLACES_CHECK_SECONDS = 2
# How often the places-left counter is set again from the slots (by whoever asks first).
PLACES_RECONCILE_SECONDS = 5
# How long someone let in holds their turn in the window without a booking committing.
ADMISSION_LEASE_SECONDS = 10
# How much faster than bookings have committed so far the line is expected to move, when no
# DRIVE_ADMIT_PER_SECOND is set (see admit).
ADMISSION_HEADROOM = 2
# From being let in to booking: the wait until one asks again (a whole number of seconds, at
# least one) and the answer's time; about two seconds in bench/surge.py.
ADMISSION_CYCLE_SECONDS = 2
# How long a process reuses the drives in their surge read from the cache.
PROCESS_KEEPS_DRIVES_SECONDS = 1
# A slot's service and drive never change: their lookup is kept this long.
SLOT_DRIVE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Admission:
    admitted: bool
    position: int  # in order of arrival, from 1; 0 when there is no line
    ahead: int  # people in front not yet let in
    retry_after: int  # seconds
    # The drive's places-left counter as read with the line, for has_places (no second read).
    places: dict[str, Any] | None = field(default=None, compare=False)
    # No place is left (has_places said so): someone new to the line was given no number.
    sold_out: bool = False


# The drives in their surge as this process last read them from the cache, by service:
# (good until, as time.time() gives it, the drives).
_drives_in_surge: dict[int, tuple[float, list[VaccinationDrive]]] = {}


# Each drive's places-left counter as this process last read it with its line (admit): every
# request in line reads it, so this is the freshest reading any request here has had.
_places_read: dict[int, Any] = {}


def kept_drives_in_surge(service_id: int) -> list[VaccinationDrive] | None:
    """The service's drives in their surge as this process keeps them now, without asking
    anyone; None when it keeps nothing fresh for the service."""
    kept = _drives_in_surge.get(service_id)
    if kept is not None and 0 < kept[0] - time.time() <= PROCESS_KEEPS_DRIVES_SECONDS:
        return list(kept[1])
    return None


def drives_in_surge(*, service_id: int, now: datetime | None = None) -> list[VaccinationDrive]:
    """The service's drives whose waiting room is open now (reused for a moment when asked
    about the present, since every request in the surge asks: kept in the shared cache for
    PLACES_CHECK_SECONDS, and in this process for a second of that)."""
    if now is None:
        kept = kept_drives_in_surge(service_id)
        if kept is not None:
            return kept
        found = list(
            cache.get_or_set(
                f"drives-in-surge:{service_id}",
                lambda: drives_in_surge(service_id=service_id, now=timezone.now()),
                PLACES_CHECK_SECONDS,
            )
            or []
        )
        _drives_in_surge[service_id] = (time.time() + PROCESS_KEEPS_DRIVES_SECONDS, found)
        return list(found)
    return list(
        VaccinationDrive.objects.filter(
            service_id=service_id,
            status=VaccinationDrive.Status.SCHEDULED,
            release_at__lte=now,
            release_at__gt=now - timedelta(minutes=settings.DRIVE_QUEUE_MINUTES),
        )
    )


def _line_key(drive: VaccinationDrive) -> str:
    return f"drive-queue:{drive.pk}:{drive.release_at.timestamp():.0f}"


def _places_key(drive_id: int) -> str:
    return f"drive-places-left:{drive_id}"


def _bookings_key(drive_id: int) -> str:
    return f"drive-bookings-committed:{drive_id}"


def line_keys(drive: VaccinationDrive, account_id: int | str) -> list[str]:
    """The cache keys admit reads for the account: its number in line, the bookings committed,
    the line's mark, and the places left with when they were counted. A caller may read them
    together with keys of its own (the lean route, with the account's) and pass them on."""
    key = _line_key(drive)
    places = _places_key(drive.pk)
    return [
        f"{key}:{account_id}",
        _bookings_key(drive.pk),
        f"{key}:mark",
        places,
        f"{places}:counted-at",
    ]


def admit(
    drive: VaccinationDrive,
    account_id: int | str,
    *,
    now: datetime | None = None,
    known: dict[str, Any] | None = None,
) -> Admission:
    """This account's place in the drive's line, and whether it is let in yet. A partner's
    booking stands in line as the person it names (a string) rather than an account. `known`:
    what one read of several cache keys found, a key read and not found as None; the line's
    keys (line_keys) are read here unless all of them were. Someone with no number yet is
    given none once no place is left (sold_out)."""
    now = now or timezone.now()
    elapsed = (now - drive.release_at).total_seconds()
    if elapsed < 0 or elapsed >= settings.DRIVE_QUEUE_MINUTES * 60:
        return Admission(admitted=True, position=0, ahead=0, retry_after=0)
    lifetime = settings.DRIVE_QUEUE_MINUTES * 60 + 600
    key = _line_key(drive)
    keys = line_keys(drive, account_id)
    mine, bookings_key, mark_key, *places_keys = keys
    # One round trip for all a poll needs to know, the places left included.
    if known is None or any(name not in known for name in keys):
        known = cache.get_many(keys)
    known = {name: known[name] for name in keys if known.get(name) is not None}
    _places_read[drive.pk] = known.get(places_keys[0])
    places: dict[str, Any] | None = {name: known[name] for name in places_keys if name in known}
    position = known.get(mine)
    if position is None:
        if int(known.get(places_keys[0], 1)) <= 0:
            if not has_places(drive, known=places):
                # Someone new to the line once no place is left is told so without a number:
                # a round trip fewer for three arrivals in four in bench/surge.py, and someone
                # the window would have let in is not sent on to the engine to hear the same.
                return Admission(
                    admitted=False, position=0, ahead=0, retry_after=0, places=places,
                    sold_out=True,
                )  # fmt: skip
            places = None  # counted again just now, and some were left: has_places reads it
        position = _draw(f"{key}:next", mine, lifetime)
    # The mark notes how far the line had got, and when: everyone let in by then has booked
    # or given up a lease later, so their turns are over too (this keeps the line moving when
    # people let in never book).
    marked_at, marked_let_in, floor = known.get(mark_key) or (elapsed, 0, 0)
    lease_over = elapsed - marked_at >= ADMISSION_LEASE_SECONDS
    if lease_over:
        floor = max(floor, marked_let_in)
    finished = max(int(known.get(bookings_key) or 0), floor)
    let_in = _window(finished, elapsed) + finished
    if settings.DRIVE_ADMIT_PER_SECOND:
        ceiling = settings.DRIVE_ADMIT_BURST + int(elapsed * settings.DRIVE_ADMIT_PER_SECOND)
        let_in = min(let_in, ceiling)
    if mark_key not in known:
        cache.add(mark_key, (elapsed, let_in, floor), timeout=lifetime)
    elif lease_over:
        cache.set(mark_key, (elapsed, let_in, floor), timeout=lifetime)
    if position <= let_in:
        return Admission(admitted=True, position=position, ahead=0, retry_after=0)
    ahead = position - let_in
    # Expect the line to go on moving ADMISSION_HEADROOM times as fast as bookings have
    # committed so far, and by at least a window a lease. Someone who comes back too early
    # asks again, at the cost of a poll (no SQL); someone who comes back too late leaves the
    # engine idle, and an estimate nobody comes back in time to beat would fulfil itself.
    rate = max(
        ADMISSION_HEADROOM * finished / max(elapsed, 1),
        settings.DRIVE_ADMIT_BURST / ADMISSION_LEASE_SECONDS,
    )
    if settings.DRIVE_ADMIT_PER_SECOND:
        rate = min(rate, settings.DRIVE_ADMIT_PER_SECOND)
    wait = math.ceil(ahead / max(rate, 0.001))
    places_left = known.get(places_keys[0])
    behind_every_place = places_left is not None and ahead > int(places_left)
    if not settings.DRIVE_ADMIT_PER_SECOND and not behind_every_place:
        # In the first seconds the rate is a guess: nobody is told to wait longer than the
        # drive has been open, so the guesses are made again as bookings show the real one.
        # Someone behind more people than there are places left waits for people ahead to
        # give up, however fast the line moves: asking sooner would tell them nothing (in
        # bench/surge.py, three in four arrivals).
        wait = min(wait, max(math.ceil(elapsed), 1))
    return Admission(
        admitted=False,
        position=position,
        ahead=ahead,
        retry_after=min(max(wait, 1), 30),
        places=places,
    )


def _window(finished: int, elapsed: float) -> int:
    """How many more than have booked are let in: DRIVE_ADMIT_BURST, or, with no ceiling a
    second set, as many as would book in ADMISSION_CYCLE_SECONDS at ADMISSION_HEADROOM times
    the speed so far, if more. Someone let in books when they next ask, a second or more
    later: a window of a fixed size holds the line to that size every cycle, whatever the
    engine's speed (Little's law)."""
    window = settings.DRIVE_ADMIT_BURST
    if not settings.DRIVE_ADMIT_PER_SECOND:
        speed = ADMISSION_HEADROOM * finished / max(elapsed, 1)
        window = max(window, math.ceil(speed * ADMISSION_CYCLE_SECONDS))
    return window


def places_left_in_slots(drive_id: int) -> int:
    """The free places in the drive's open slots still to come, counted in the database."""
    free = Slot.objects.filter(drive_id=drive_id, closed=False, start__gt=timezone.now()).aggregate(
        free=Sum(F("capacity") - F("booked"))
    )["free"]
    return max(int(free or 0), 0)


def count_places_left(*, drive_id: int) -> int:
    """Set the drive's places-left counter in the cache from its slots, and return it."""
    left = places_left_in_slots(drive_id)
    lifetime = settings.DRIVE_QUEUE_MINUTES * 60 + 600
    cache.set(_places_key(drive_id), left, timeout=lifetime)
    cache.set(f"{_places_key(drive_id)}:counted-at", timezone.now().timestamp(), timeout=lifetime)
    return left


def has_places(drive: VaccinationDrive, *, known: dict[str, Any] | None = None) -> bool:
    """Whether any place in the drive is still free, from the cache's counter (as `known` has
    it, when read already); counted again from the slots when the counter is missing or has
    not been for a while."""
    key = _places_key(drive.pk)
    if known is None:
        known = cache.get_many([key, f"{key}:counted-at"])
    left = known.get(key)
    counted_at = known.get(f"{key}:counted-at", 0)
    # Whoever asks first once the count is PLACES_RECONCILE_SECONDS old counts again.
    claim = f"{key}:counting:{counted_at}"
    stale = timezone.now().timestamp() - counted_at >= PLACES_RECONCILE_SECONDS and cache.add(
        claim, 1, timeout=PLACES_RECONCILE_SECONDS + 60
    )
    if left is None or stale:
        try:
            left = count_places_left(drive_id=drive.pk)
        except BaseException:
            # Not counted after all (the database failed, or the lean route asked from the
            # event loop and counts from a thread instead): the next to ask counts.
            if stale:
                cache.delete(claim)
            raise
    return int(left) > 0


def _draw(counter: str, holder: str, lifetime: int) -> int:
    """A number in line for `holder`: the one it keeps, else the next of `counter`. In one round
    trip where the cache is Redis (config.cache), drawn once; otherwise a double tap draws
    twice, and the first number kept is the one that counts."""
    in_one_trip = getattr(cache, "draw_number", None)
    if in_one_trip is not None:
        return int(in_one_trip(counter, holder, lifetime))
    drawn = _count(counter, lifetime)
    return drawn if cache.add(holder, drawn, timeout=lifetime) else int(cache.get(holder, drawn))


def _move_counters(drive_id: int, *, taken: int, finished: int) -> None:
    """The places left (not counted yet: the next reconciliation counts it) and, when someone
    let in has booked, the bookings that move the line on by one; in one round trip where the
    cache is Redis (config.cache)."""
    lifetime = settings.DRIVE_QUEUE_MINUTES * 60 + 600
    in_one_trip = getattr(cache, "move_counters", None)
    if in_one_trip is not None:
        moves: list[tuple[str, int, int | None]] = [(_places_key(drive_id), -taken, None)]
        if finished:
            moves.append((_bookings_key(drive_id), 1, lifetime))
        in_one_trip(moves)
        return
    with suppress(ValueError):
        cache.incr(_places_key(drive_id), -taken)
    if finished:
        _count(_bookings_key(drive_id), lifetime)


def _count(key: str, lifetime: int) -> int:
    """Add one to a counter that starts at 0 (with its lifetime) and give its new value."""
    return count_windows([(key, lifetime)])[0]


def forget_drives_in_surge() -> None:
    """Drop what this process keeps of the drives in their surge and their counters (tests)."""
    _drives_in_surge.clear()
    _places_read.clear()


def note_booking_committed(*, drive_id: int) -> None:
    """A booking in the drive (a first dose, or no vaccine course) has committed: what the
    Appointment post_save signal arranges, for the booking function, which sends none."""
    _move_counters(drive_id, taken=1, finished=1)


def slot_drive_key(slot_id: int) -> str:
    """The cache key of the slot's (service id, drive id), for a caller that reads it together
    with other keys (the lean route)."""
    return f"slot-drive:{slot_id}"


def _drive_of_slot(
    slot_id: int, *, known: dict[str, Any] | None = None
) -> tuple[int, int | None] | None:
    """The slot's (service id, drive id), kept in the cache for a drive's slots: every poll in
    a surge asks. A slot of no drive is not written there: nobody polls for it, and the
    process that books it keeps its facts anyway (a cache write on every such booking saved
    nothing)."""
    key = slot_drive_key(slot_id)
    found = known.get(key) if known is not None else cache.get(key)
    if found is None:
        facts = slot_facts(slot_id)  # kept per process: one read by primary key on a miss
        if facts is None:
            return None
        found = (facts.service_id, facts.drive_id)
        if facts.drive_id is not None:
            cache.set(key, found, timeout=SLOT_DRIVE_SECONDS)
    return (int(found[0]), found[1])


def note_appointment_saved(
    sender: type[Appointment],
    instance: Appointment,
    created: bool,
    update_fields: Any = None,
    **kwargs: Any,
) -> None:
    """Move the drive's counters once a booking or a cancellation in one of its slots commits
    (connected to Appointment's post_save in booking.apps)."""
    if created and instance.status in Appointment.UPCOMING:
        taken = 1
        # The later doses held with a first one are not someone else let in.
        finished = 0 if (instance.dose_number or 1) > 1 else 1
    elif (
        update_fields is not None
        and "status" in update_fields
        and instance.status == Appointment.Status.CANCELLED
    ):
        taken, finished = -1, 0
    else:
        return
    if Appointment.slot.is_cached(instance):
        drive_id = instance.slot.drive_id
    else:  # no database work here: if the cache does not know, reconciliation counts it
        found = cache.get(f"slot-drive:{instance.slot_id}")
        drive_id = found[1] if found is not None else None
    if drive_id is not None:
        transaction.on_commit(lambda: _move_counters(drive_id, taken=taken, finished=finished))


def wait_turn(
    *,
    service_id: int,
    account_id: int | str,
    drive_id: int | None = None,
    known: dict[str, Any] | None = None,
) -> bool:
    """Raise InQueue until the account is let in to every drive of the service in its surge
    (or the one drive given), or DriveFull once that drive has no place left; True once a
    drive's line has let it in, False when no line stood in the way. `known`: the line's keys
    as read already (see admit)."""
    drives = drives_in_surge(service_id=service_id)
    if drive_id is not None:
        drives = [drive for drive in drives if drive.pk == drive_id]
    let_in = False
    for drive in drives:
        admission = admit(drive, account_id, known=known)
        if not admission.admitted:
            if admission.sold_out or not has_places(drive, known=admission.places):
                raise DriveFull()
            raise InQueue(
                position=admission.position,
                ahead=admission.ahead,
                retry_after=admission.retry_after,
            )
        let_in = let_in or admission.position > 0
    return let_in


def drive_sold_out(*, service_id: int, date_from: date, date_to: date) -> bool:
    """Whether a drive of the service in its surge, on days within date_from..date_to, has no
    place left, as its counter says: someone let in who then finds no open slot was beaten to
    the drive's last places, and is told `drive_full` rather than `no_slot_available`."""
    return any(not has_places(drive) for drive in _drives_on(service_id, date_from, date_to))


def _drives_on(service_id: int, date_from: date, date_to: date) -> list[VaccinationDrive]:
    """The service's drives in their surge with days within date_from..date_to."""
    return [
        drive
        for drive in drives_in_surge(service_id=service_id)
        if drive.first_day <= date_to and date_from <= drive.last_day
    ]


def every_drive_sold_out(
    *, service_id: int, date_from: date, date_to: date, as_last_read: bool = False
) -> bool:
    """Whether the service has drives in their surge on days within date_from..date_to and
    none of them has a place left, as their counters say: someone the line let in is then
    told `drive_full` before any search, as the people still in line are (a search could
    only find a slot of no drive, which the line does not offer them either). With
    `as_last_read` (the lean route), each counter as this process last read it with the
    line, with no round trip: someone let in before the last places went and given a turn
    after is told by the readings of those who came after them (a counter the cache did not
    hold counts as places left); one not read here yet is asked of the cache."""

    def none_left(drive: VaccinationDrive) -> bool:
        if not as_last_read or drive.pk not in _places_read:
            return not has_places(drive)
        count = _places_read[drive.pk]
        return count is not None and int(count) <= 0

    drives = _drives_on(service_id, date_from, date_to)
    return bool(drives) and all(none_left(drive) for drive in drives)


def some_drive_read_sold_out() -> bool:
    """Whether a drive's counter, as this process last read it with the line, said no place
    was left: until one does, every_drive_sold_out(as_last_read=True) cannot be true, and the
    lean route does not make the search to ask it (every booking in a drive's line would)."""
    return any(count is not None and int(count) <= 0 for count in _places_read.values())


def wait_turn_for_slot(
    *, slot_id: int, account_id: int | str, known: dict[str, Any] | None = None
) -> bool:
    """Wait in line as for `wait_turn` when the slot belongs to a drive; otherwise go ahead.
    `known`: what one read of several cache keys, the slot's drive among them (and perhaps the
    line's), found."""
    target = _drive_of_slot(slot_id, known=known)
    if target is not None and target[1] is not None:
        return wait_turn(
            service_id=target[0], account_id=account_id, drive_id=target[1], known=known
        )
    return False
