"""What the lean route answers: the two operations' paths, a booking request as read from the
connection (BookingRequest), whether the route applies here, and the exceptions that say who
answers instead (PassThrough: Django; Busy: 429 `busy`)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest

from booking.models import Patient
from booking.schemas import AllocateIn, BookIn
from booking.signed_in import sessions_are_cached

BOOK_PATH = "/api/v1/me/appointments"
ALLOCATE_PATH = "/api/v1/me/appointments/allocate"
IDEMPOTENCY_KEY_LENGTH = (8, 100)  # as the operations' IdempotencyKey header says

Reader = Callable[..., Awaitable[Any]]


class PassThrough(Exception):
    """Django's stack answers this request."""


class Busy(Exception):
    """Too many requests are waiting already: 429 `busy`, as load shedding answers."""


@dataclass
class BookingRequest:
    request: HttpRequest
    payload: BookIn | AllocateIn
    idempotency_key: str
    # What the cache held for the account, the slot's drive and the drive's line, read in one
    # round trip (a key read and not there: None).
    known: dict[str, Any] = field(default_factory=dict)
    # Whether the booking limits have counted this request already (before a hand-over).
    counted: bool = False
    # The patient, their texts' language and whether the slot was full as read
    # (apatient_and_room's answer), when read already with the slot (LeanRoutes.know_slot):
    # `patient_read` says whether `patient` is that answer.
    patient: tuple[Patient, str, bool] | None = None
    patient_read: bool = False
    # Whether a drive's line let the request in just now (before_engine.wait_in_line): it then
    # waits for its turn at the engine rather than being told `busy` (LeanRoutes.take_turn).
    let_in: bool = False


def lean_routes_apply() -> bool:
    """Whether the lean route may answer here: asked for, PostgreSQL, Redis, sessions in it."""
    return bool(
        getattr(settings, "LEAN_ROUTES", False)
        and settings.REDIS_URL
        and connection.vendor == "postgresql"
        and sessions_are_cached()
    )
