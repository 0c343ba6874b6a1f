"""What the lean route answers: the two operations' paths, a booking request as read from the
connection (BookingRequest), whether the route applies here, and the exceptions that say who
answers instead (PassThrough: Django; Busy: 429 `busy`)."""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from ninja import Schema
from pydantic import ValidationError as PydanticValidationError

from booking.models import Patient
from booking.schemas import AllocateIn, BookIn
from booking.signed_in import sessions_are_cached
from config.middleware import NUL_MARKERS

BOOK_PATH = "/api/v1/me/appointments"
ALLOCATE_PATH = "/api/v1/me/appointments/allocate"
IDEMPOTENCY_KEY_LENGTH = (8, 100)  # as the operations' IdempotencyKey header says

Reader = Callable[..., Awaitable[Any]]
S = TypeVar("S", bound=Schema)


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


def read_request(request: HttpRequest, body: bytes, schema: type[S]) -> tuple[S, str]:
    """The body, parsed and validated as the operation's `schema`, and the Idempotency-Key;
    PassThrough for what Django is to judge: a NUL character, a body that is not a JSON object
    or breaks a rule, a query string, a missing or short key."""
    raw = request.get_full_path().encode() + body
    if any(marker in raw.lower() for marker in NUL_MARKERS):
        raise PassThrough  # RefuseNulCharacters answers it
    if request.content_type != "application/json" or request.GET:
        raise PassThrough
    key = request.headers.get("Idempotency-Key")
    shortest, longest = IDEMPOTENCY_KEY_LENGTH
    if key is None or not shortest <= len(key) <= longest:
        raise PassThrough
    try:
        if not isinstance(json.loads(body), dict):
            raise PassThrough
        payload = schema.model_validate_json(body)
    except (ValueError, PydanticValidationError) as exc:
        raise PassThrough from exc
    return payload, key


def lean_routes_apply() -> bool:
    """Whether the lean route may answer here: asked for, PostgreSQL, Redis, sessions in it."""
    return bool(
        getattr(settings, "LEAN_ROUTES", False)
        and settings.REDIS_URL
        and connection.vendor == "postgresql"
        and sessions_are_cached()
    )
