"""The audit trail (Thailand's PDPA: health data is sensitive data). Services call `record`
for every change to appointments, slots, schedules, drives and stock, and staff pages call it
for every read of patients' records. Who and from where come from the request being served
(AuditContext keeps it for the code below it), from a partner's key, or else the background
task running. An event is written in the caller's transaction: a change and its record commit
or roll back together."""

import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.cache import cache
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from clinics.models import AuditEvent, StaffMembership

Actor = AuditEvent.Actor

_current_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)
_sealed = True


class AuditContext:
    """Middleware: the request being served, for `record` to find who and from where."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)


@contextmanager
def serving(request: HttpRequest) -> Iterator[None]:
    """The same as AuditContext, for code that serves a request outside the middleware (the
    WebSocket consumers)."""
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


def record(
    action: str,
    target: Model | None = None,
    *,
    target_type: str = "",
    centre_id: int | None,
    patients: Iterable[int] = (),
    details: dict[str, Any] | None = None,
    actor: User | AnonymousUser | None = None,
) -> AuditEvent:
    """Add one event: `action` ("appointment.cancelled", "queue.viewed", ...) on `target`
    at the centre, touching these patients' records."""
    request = _current_request.get()
    event = AuditEvent(
        action=action,
        target_type=target_type or (target._meta.model_name if target is not None else "") or "",
        target_id=target.pk if target is not None else None,
        centre_id=centre_id,
        patients=sorted(set(patients)),
        details=details or {},
    )
    _fill_actor(event, request, actor)
    if request is not None:
        event.address = request.META.get("REMOTE_ADDR") or None
        event.via = f"{request.method} {request.path}"[:200]
    else:
        event.via = _running_task()
    event.save(force_insert=True)
    return event


def record_read(
    request: HttpRequest | None,
    action: str,
    *,
    centre_id: int | None,
    patients: Iterable[int],
    target: Model | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """A member of staff was shown these patients' records. Nothing is written when the page
    showed nobody, nor when the same person was shown the same records the same way in the
    last few minutes (a queue page reloads itself on every change)."""
    request = request or _current_request.get()
    patient_ids = sorted(set(patients))
    if not patient_ids or request is None:
        return
    reader = getattr(request.user, "pk", None)
    seen = hashlib.sha256(
        repr((reader, action, centre_id, target.pk if target else None, patient_ids)).encode()
    ).hexdigest()
    if not cache.add(f"audit-read:{seen}", 1, timeout=settings.AUDIT_REPEATED_READ_SECONDS):
        return
    with serving(request):
        record(action, target, centre_id=centre_id, patients=patient_ids, details=details)


def _fill_actor(
    event: AuditEvent, request: HttpRequest | None, actor: User | AnonymousUser | None
) -> None:
    partner_key = getattr(request, "partner_key", None) if request is not None else None
    user = actor if actor is not None else getattr(request, "user", None)
    if isinstance(user, User) and user.is_authenticated:
        event.actor = user
        event.actor_name = user.get_username()
        event.actor_kind = Actor.STAFF if is_staff_account(user) else Actor.PATIENT
    elif partner_key is not None:
        event.actor_kind = Actor.PARTNER
        event.actor_name = str(partner_key.partner)[:150]
        event.details = {**event.details, "partner_key": partner_key.prefix}
    elif request is not None:
        event.actor_kind = Actor.ANONYMOUS
    else:
        event.actor_kind = Actor.SYSTEM


def is_staff_account(user: User) -> bool:
    """Whether the account is staff's (admin site users and anyone on a centre's staff)."""
    known: bool | None = getattr(user, "_audit_is_staff", None)
    if known is None:
        known = bool(
            user.is_staff
            or user.is_superuser
            or StaffMembership.objects.filter(user_id=user.pk).exists()
        )
        user._audit_is_staff = known  # type: ignore[attr-defined]
    return known


def _running_task() -> str:
    from celery import current_task

    name = getattr(current_task, "name", None) if current_task else None
    return f"task {name}" if name else "command"


# --- Reading it ----------------------------------------------------------------------------------

READS = Q(action__endswith="viewed") | Q(action__endswith="opened")


def filter_events(
    events: QuerySet[AuditEvent], *, since: date, until: date, kind: str, who: str
) -> QuerySet[AuditEvent]:
    """Events from the first day to the last (Bangkok days), "reads", "changes" or "all",
    by accounts whose name holds `who`; newest first."""
    start = timezone.make_aware(datetime.combine(since, time.min))
    end = timezone.make_aware(datetime.combine(until + timedelta(days=1), time.min))
    events = events.filter(at__gte=start, at__lt=end)
    if kind == "reads":
        events = events.filter(READS)
    elif kind == "changes":
        events = events.exclude(READS)
    if who:
        events = events.filter(actor_name__icontains=who)
    return events.order_by("-at", "-id")


# --- Sealing on SQLite ---------------------------------------------------------------------------
# PostgreSQL's trigger refuses every UPDATE and DELETE. SQLite's DELETE trigger asks this
# function, so that only emptying a whole test database between tests can get past it.


def _audit_trail_sealed() -> int:
    return 1 if _sealed else 0


def register_sqlite_function(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """connection_created: give every SQLite connection audit_trail_sealed()."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("audit_trail_sealed", 0, _audit_trail_sealed)


@contextmanager
def unsealed_for_flush() -> Iterator[None]:
    """Only for emptying a test database (the test suite wraps Django's flush in it)."""
    global _sealed
    _sealed = False
    try:
        yield
    finally:
        _sealed = True
