"""Before the engine, all on the event loop: the session and the account it names
(signed_in), then the waiting room (wait_in_line); the rare read the cache lacks is made in a
reader thread."""

import time
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import cache
from django.core.exceptions import SynchronousOnlyOperation
from django.db import close_old_connections
from django.http import HttpResponse

from booking.exceptions import DriveFull, InQueue
from booking.models import VaccinationDrive
from booking.schemas import BookIn
from booking.services.booking_sql.reads import kept_slot_facts
from booking.signed_in import (
    account_key,
    cached_account,
    cached_session,
    keep_account,
    remember_session_account,
    session_account_key,
    session_of,
    session_store,
    sessions_share_the_cache,
    signed_in_account,
    stored_session,
    user_id_of,
)
from booking.vaccination.waiting_room import (
    kept_drives_in_surge,
    line_keys,
    slot_drive_key,
    wait_turn,
    wait_turn_for_slot,
)
from clinics.permissions import signed_in_user
from clinics.selectors import service_id_by_code
from config.api import api
from config.lean_routes.request import BookingRequest, Busy, PassThrough, Reader


def _wait_in_line(booking: BookingRequest) -> bool:
    """The waiting room's wait_turn for the request: True once a drive's line has let it in."""
    payload, user_id = booking.payload, signed_in_user(booking.request).pk
    if isinstance(payload, BookIn):
        return wait_turn_for_slot(slot_id=payload.slot_id, account_id=user_id, known=booking.known)
    service_id = service_id_by_code(payload.service)
    return wait_turn(service_id=service_id, account_id=user_id, known=booking.known)


def drives_kept_for(booking: BookingRequest) -> list[VaccinationDrive] | None:
    """The drives in their surge the request is for, as this process keeps them without asking
    anyone: [] when it knows of none (a slot of no drive, or one it keeps no facts of; a service
    with no drive in its surge), None when it cannot tell (a drive's slot or a service whose
    drives in their surge it does not keep now, or a service it does not keep)."""
    payload = booking.payload
    if isinstance(payload, BookIn):
        return drives_kept_for_slot(payload.slot_id)
    try:
        service_id = service_id_by_code(payload.service)
    except Exception:  # not kept here (SynchronousOnlyOperation), or no such service
        return None
    return kept_drives_in_surge(service_id)


def drives_kept_for_slot(slot_id: int) -> list[VaccinationDrive] | None:
    """drives_kept_for a booking of the slot: [] for a slot of no drive or one this process
    keeps no facts of, None for a drive's slot whose drive in its surge it does not keep now."""
    facts = kept_slot_facts(slot_id)
    if facts is None or facts.drive_id is None:
        return []
    kept = kept_drives_in_surge(facts.service_id)
    return ([drive for drive in kept if drive.pk == facts.drive_id] or None) if kept else None


def may_be_a_drives(drives: list[VaccinationDrive] | None) -> bool:
    """Whether a request is, or may be, for a drive's waiting room, from drives_kept_for's (or
    drives_kept_for_slot's) answer."""
    return drives is None or bool(drives)


def _line_keys(booking: BookingRequest, user_id: int | str) -> list[str]:
    """The waiting room's keys for the request's drives this process keeps: read with the
    account's (and, for a session the process has seen, with the session), so that a poll in
    line costs one round trip to the cache."""
    return [key for drive in drives_kept_for(booking) or [] for key in line_keys(drive, user_id)]


def _wait_in_line_in_a_thread(booking: BookingRequest) -> bool:
    close_old_connections()
    try:
        return _wait_in_line(booking)
    finally:
        close_old_connections()


async def wait_in_line(booking: BookingRequest, *, read: Reader) -> HttpResponse | None:
    """The waiting room: its answer ("in queue", `drive_full`), or None once let in. Asked on
    the event loop from Redis; the rare step that needs SQL (a drive list or a count not in the
    cache) raises SynchronousOnlyOperation before any statement, and the whole step is asked
    again in a thread."""
    try:
        try:
            let_in = _wait_in_line(booking)
        except SynchronousOnlyOperation:
            let_in = bool(await read(_wait_in_line_in_a_thread, booking))
    except (InQueue, DriveFull) as refused:
        if isinstance(refused, DriveFull):
            _note_drive_full(booking)
        return api.on_exception(booking.request, refused)
    except Busy:
        raise
    except Exception as exc:  # an unknown service, say: the view's order of checks decides
        raise PassThrough from exc
    booking.let_in = let_in
    return None


class NeedsDatabase(Exception):
    """The cache does not hold it: read it in a thread."""


async def signed_in(booking: BookingRequest, *, read: Reader) -> None:
    """Put the session and the account on the request as Django's middleware would: from the
    cache on the event loop, or, when the cache lacks either, in one thread that reads the
    database too (and fills the cache). PassThrough when only Django can tell."""
    session_key = booking.request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        raise PassThrough
    try:
        found = _sign_in(booking, session_key, database=False)
    except NeedsDatabase:
        found = await read(_sign_in_in_a_thread, booking, session_key)
    if found is None:
        raise PassThrough
    session, kept = found
    user = signed_in_account(session, kept)
    if user is None:
        raise PassThrough
    booking.request.session = session
    booking.request.user = user


def _sign_in(
    booking: BookingRequest, session_key: str, *, database: bool
) -> tuple[SessionBase, dict[str, Any]] | None:
    """The session and what is kept of its account; None when there is no such session or
    account. NeedsDatabase when the cache lacks either and `database` is false. A session
    this process has seen before is read together with its account's keys, in one round trip
    to the cache (a poll in a drive's line, say); the session read then decides, and should
    it name another account, that account's keys are read after all."""
    shared = sessions_share_the_cache()
    guess = signed_in_as.get(session_key) if shared else None
    asked_hint = False  # whether the cache was asked for the session's hint
    keys: list[str] = []
    found: dict[str, Any] = {}
    store = session_store(session_key) if shared else None
    if guess is not None and store is not None:
        keys = _keys_for(booking, guess)
        found = cache.get_many([store.cache_key, *keys])
        session = session_of(store, found.pop(store.cache_key, None))
    elif store is not None and hasattr(cache, "read_with_hint"):
        # A session this process has not seen: read with the keys of the account the cache's
        # hint names, in one round trip.
        hint = session_account_key(session_key)
        templates = _keys_for(booking, ACCOUNT_PLACEHOLDER)
        read, named = cache.read_with_hint([store.cache_key], hint, ACCOUNT_PLACEHOLDER, templates)
        session = session_of(store, read.get(store.cache_key))
        asked_hint = True
        if named is not None and isinstance(read[hint], int):
            guess = read[hint]
            keys = [key.replace(ACCOUNT_PLACEHOLDER, str(guess)) for key in templates]
            found = named
    else:
        session = cached_session(session_key)
    if session is None:  # the cache has lost it: read where the session engine keeps it
        if not database:
            raise NeedsDatabase
        session = stored_session(session_key)
        if session is None:
            return None
    user_id = user_id_of(session)
    if user_id is None:
        return None
    if user_id != guess or not keys:
        keys = _keys_for(booking, user_id)
        found = cache.get_many(keys)
    if asked_hint and user_id != guess:  # none, or naming another account
        remember_session_account(session_key, user_id)  # for the next process it reaches
    booking.known = {key: found.get(key) for key in keys}  # None: read, and not there
    kept = cached_account(user_id, known=booking.known)
    if kept is None:
        if not database:
            raise NeedsDatabase
        kept = keep_account(user_id)
        if kept is None:
            return None
    _remember_signed_in_as(session_key, user_id)
    return session, kept


def _keys_for(booking: BookingRequest, user_id: int | str) -> list[str]:
    """What the cache is asked for with the session: the account, the slot's drive (the
    waiting room asks next) and the line's keys."""
    keys = [account_key(user_id)]
    if isinstance(booking.payload, BookIn):
        keys.append(slot_drive_key(booking.payload.slot_id))
    return keys + _line_keys(booking, user_id)


# What stands for the account's id in the keys read with a session's hint.
ACCOUNT_PLACEHOLDER = "{account}"

# The account each session was signed in as when this process last read it, so that the next
# request of the session reads it and the account's keys together; a guess the session read
# with them confirms. Emptied when full (a session's next request then costs one more round trip).
signed_in_as: dict[str, int] = {}
SIGNED_IN_AS_KEPT = 50_000


def _remember_signed_in_as(session_key: str, user_id: int) -> None:
    if len(signed_in_as) >= SIGNED_IN_AS_KEPT:
        signed_in_as.clear()
    signed_in_as[session_key] = user_id


def _sign_in_in_a_thread(
    booking: BookingRequest, session_key: str
) -> tuple[SessionBase, dict[str, Any]] | None:
    close_old_connections()
    try:
        return _sign_in(booking, session_key, database=True)
    finally:
        close_old_connections()


# The drives whose line this process has lately told someone new that every place is taken
# (time.monotonic()): while one is, its late arrivals wait behind the bookings in flight.
drives_full_at: dict[int, float] = {}
# How long a drive is taken to be full after the line last said so here. A new arrival is
# asked about at least this often, so that a place given back is found within it.
DRIVE_FULL_LATELY_SECONDS = 2.0


def _note_drive_full(booking: BookingRequest) -> None:
    now = time.monotonic()
    for drive in drives_kept_for(booking) or []:
        drives_full_at[drive.pk] = now


def found_drive_full_lately(booking: BookingRequest) -> bool:
    """Whether the request is for drives (as this process keeps them) whose line has told
    someone here, in the last DRIVE_FULL_LATELY_SECONDS, that every place is taken."""
    if not drives_full_at:  # as for every booking outside a drive's sell-out
        return False
    drives = drives_kept_for(booking)
    if not drives:
        return False
    since = time.monotonic() - DRIVE_FULL_LATELY_SECONDS
    return all(drives_full_at.get(drive.pk, since - 1) >= since for drive in drives)
