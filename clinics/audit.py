"""The audit trail (Thailand's PDPA: health data is sensitive data). Services call `record`
for every change to appointments, slots, schedules, drives and stock, and staff pages call it
for every read of patients' records. Who and from where come from the request being served
(AuditContext keeps it for the code below it), from the link in a text message it acts
through, from a partner's key, or else the background task running. A token in the address is
never written down: the trail would hand on the key it records the use of. An event is written
in the caller's transaction: a change and its record commit or roll back together."""

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
from django.utils.translation import gettext as _

from clinics.models import AuditEvent, StaffMembership

Actor = AuditEvent.Actor

_current_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)
_sealed = True
# Address parts that are keys (links in texts, calendar files and feeds, video joins, waitlist
# offers): recorded as this instead.
SECRET_ROUTE_ARGUMENTS = frozenset({"token"})
HIDDEN = "…"


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


def acting_through_link(*, patient_id: int) -> None:
    """The request being served acts through a link sent for this patient: record what it
    does as done by the link's holder."""
    request = _current_request.get()
    if request is not None:
        request.audit_link_patient_id = patient_id  # type: ignore[attr-defined]


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
    event = AuditEvent(
        **event_fields(
            action,
            target,
            target_type=target_type,
            centre_id=centre_id,
            patients=patients,
            details=details,
            actor=actor,
        )
    )
    event.save(force_insert=True)
    return event


def event_fields(
    action: str,
    target: Model | None = None,
    *,
    target_type: str = "",
    target_id: int | None = None,
    centre_id: int | None,
    patients: Iterable[int] = (),
    details: dict[str, Any] | None = None,
    actor: User | AnonymousUser | None = None,
    ask_if_staff: bool = True,
) -> dict[str, Any]:
    """The event `record` writes, as AuditEvent's keyword arguments (every field but the id,
    the account as `actor`): a writer that needs no model (the booking function's caller)
    takes them as they are, without making the model only to read it back. With
    `ask_if_staff` False nothing is read: a signed-in account whose staff membership is not
    known yet gets an empty actor_kind, for the writer to settle (the booking function asks in
    the same call, see booking/sql/book_slot_v1.sql)."""
    request = _current_request.get()
    fields: dict[str, Any] = {
        "at": timezone.now(),
        "actor_kind": "",
        "actor": None,
        "actor_name": "",
        "link_patient_id": None,
        "action": action,
        "target_type": target_type or (target._meta.model_name if target is not None else "") or "",
        "target_id": target.pk if target is not None else target_id,
        "centre_id": centre_id,
        "patients": sorted(set(patients)),
        "details": details or {},
        "address": None,
        "via": "",
    }
    _fill_actor(fields, request, actor, ask_if_staff=ask_if_staff)
    if request is not None:
        fields["address"] = request.META.get("REMOTE_ADDR") or None
        fields["via"] = f"{request.method} {path_without_secrets(request)}"[:200]
    else:
        fields["via"] = _running_task()
    return fields


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


def path_without_secrets(request: HttpRequest) -> str:
    """The request's path with each key in it (a route argument named in
    SECRET_ROUTE_ARGUMENTS) as "…", e.g. "/a/…/calendar.ics"."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    if match is None:
        return path
    for name, value in match.kwargs.items():
        if name in SECRET_ROUTE_ARGUMENTS and str(value):
            path = path.replace(str(value), HIDDEN)
    return path


def _fill_actor(
    fields: dict[str, Any],
    request: HttpRequest | None,
    actor: User | AnonymousUser | None,
    *,
    ask_if_staff: bool = True,
) -> None:
    partner_key = getattr(request, "partner_key", None) if request is not None else None
    link_patient_id = getattr(request, "audit_link_patient_id", None) if actor is None else None
    user = actor if actor is not None else getattr(request, "user", None)
    if link_patient_id is not None:
        # The link is the credential; an account signed in on the same browser is noted too.
        fields["actor_kind"] = Actor.LINK
        fields["link_patient_id"] = link_patient_id
        if isinstance(user, User) and user.is_authenticated:
            fields["actor"] = user
            fields["actor_name"] = user.get_username()
    elif isinstance(user, User) and user.is_authenticated:
        fields["actor"] = user
        fields["actor_name"] = user.get_username()
        known: bool | None = getattr(user, "_audit_is_staff", None)
        if known is None and (user.is_staff or user.is_superuser):
            known = True
        if known is None and not ask_if_staff:
            fields["actor_kind"] = ""  # for the writer to settle
        else:
            fields["actor_kind"] = Actor.STAFF if is_staff_account(user) else Actor.PATIENT
    elif partner_key is not None:
        fields["actor_kind"] = Actor.PARTNER
        fields["actor_name"] = str(partner_key.partner)[:150]
        fields["details"] = {**fields["details"], "partner_key": partner_key.prefix}
    elif request is not None:
        fields["actor_kind"] = Actor.ANONYMOUS
    else:
        fields["actor_kind"] = Actor.SYSTEM


def actor_in_words(event: AuditEvent) -> str:
    """Who acted, as the audit pages and API show it."""
    if event.actor_kind == Actor.LINK and event.link_patient_id is not None:
        return _("Holder of the link for patient #%(patient)d") % {"patient": event.link_patient_id}
    return str(event.get_actor_kind_display())


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
