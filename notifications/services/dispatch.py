"""Sending what is due from the outbox, and recording what the provider says happened.

Workers claim due rows with SELECT ... FOR UPDATE SKIP LOCKED and mark them `sending` in a
short transaction of their own, so two workers never take the same row. Each message's outcome
is committed as soon as it is known.

Duplicate policy: at least once. A worker that dies after the provider accepted a message but
before its outcome was committed leaves the row in `sending`; after the claim's lease another
worker sends it again. Only the messages in flight at the moment of the crash can be sent
twice; a message is never lost.

Leases are short, so that a dead worker never holds a text past its use: a passcode is claimed
alone, for SMS_PASSCODE_LEASE_SECONDS (its code lives a few minutes); other texts for
SMS_CLAIM_LEASE_SECONDS, which a live worker renews for the rest of its batch as it goes on;
and a claimed text past its `expires_at` is taken back at once, to be dropped.
"""

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from notifications.backends import SendFailed, SmsBackend, sms_backend
from notifications.messages import redact_codes
from notifications.models import Message, OptOut
from notifications.services.outbox import (
    EXEMPT_FROM_QUIET_HOURS,
    after_quiet_hours,
    in_quiet_hours,
)

logger = logging.getLogger(__name__)

Kind = Message.Kind
Status = Message.Status

FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)

# Asked right before a message is sent whether it is still wanted: the reason to drop it, or
# "" to send it. The apps that know what a text is about register one for its kinds.
StillWantedCheck = Callable[[Message], str]
_still_wanted_checks: dict[str, StillWantedCheck] = {}


def register_still_wanted_check(*, kinds: Iterable[str], check: StillWantedCheck) -> None:
    """Have `check` asked, right before a message of one of these kinds goes out, whether it
    is still wanted (booking registers that the appointment is still on)."""
    for kind in kinds:
        _still_wanted_checks[kind] = check


# Called as a message is taken to be sent: writes the messages that follow it (booking writes
# an appointment's reminders as its confirmation is taken). Returns how many.
FollowUpWriter = Callable[[Message], int]
_follow_up_writers: dict[str, FollowUpWriter] = {}


def register_follow_ups(*, kinds: Iterable[str], write: FollowUpWriter) -> None:
    """Have `write` called as a message of one of these kinds is taken to be sent, before
    anything decides whether it goes now (still wanted, quiet hours, an opt-out): it writes
    what follows that message, as far as still wanted (booking: the reminders after an
    appointment's confirmation; a video visit's joining link even once the patient has
    checked in, which drops the confirmation). It may be called again for the same message
    (deferred by quiet hours, or taken again after a worker died), and writes nothing the
    second time."""
    for kind in kinds:
        _follow_up_writers[kind] = write


@dataclass
class DispatchResult:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    deferred: int = 0
    dropped: int = 0
    outcomes: dict[int, str] = field(default_factory=dict)

    def count(self, message_id: int, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        self.outcomes[message_id] = outcome


def claim_due_messages(*, limit: int) -> list[int]:
    """Take up to `limit` due messages for this worker, skipping rows another worker holds.

    A due passcode is taken first and alone, so a morning backlog never holds up a sign-in
    and a worker that dies holds one passcode at most, for its short lease; then replies,
    then the rest. Also takes back messages whose lease ran out (their worker died), up to
    the last attempt."""
    now = timezone.now()
    with transaction.atomic():
        due = Message.objects.select_for_update(skip_locked=True).filter(
            Q(status=Status.PENDING, due_at__lte=now) | _lease_ran_out(now)
        )
        # Each query walks a partial index in due order.
        passcode = due.filter(kind=Kind.PASSCODE).order_by("due_at", "pk")
        ids = list(passcode.values_list("pk", flat=True)[:1])
        if not ids:
            urgent = due.filter(kind__in=EXEMPT_FROM_QUIET_HOURS).order_by("due_at", "pk")
            ids = list(urgent.values_list("pk", flat=True)[:limit])
            if len(ids) < limit:
                rest = due.exclude(kind__in=EXEMPT_FROM_QUIET_HOURS).order_by("due_at", "pk")
                ids += rest.values_list("pk", flat=True)[: limit - len(ids)]
        if ids:
            Message.objects.filter(pk__in=ids).update(
                status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
            )
    return ids


def _lease_ran_out(now: datetime) -> Q:
    """Claimed messages whose worker has not finished them within the lease (it died), or
    that are past their use, whatever the lease."""
    passcode_lease = timedelta(seconds=settings.SMS_PASSCODE_LEASE_SECONDS)
    lease = timedelta(seconds=settings.SMS_CLAIM_LEASE_SECONDS)
    return Q(status=Status.SENDING) & (
        Q(kind=Kind.PASSCODE, claimed_at__lt=now - passcode_lease)
        | (~Q(kind=Kind.PASSCODE) & Q(claimed_at__lt=now - lease))
        | Q(expires_at__lte=now)
    )


def _renew_claims(ids: list[int]) -> None:
    """Extend this worker's lease on the messages it still holds."""
    Message.objects.filter(pk__in=ids, status=Status.SENDING).update(claimed_at=timezone.now())


def _give_up_abandoned() -> int:
    """Fail the messages whose workers died while sending them on every attempt."""
    return Message.objects.filter(
        _lease_ran_out(timezone.now()), attempts__gte=settings.SMS_MAX_ATTEMPTS
    ).update(
        status=Status.FAILED,
        claimed_at=None,
        error_code="abandoned",
        last_error="Workers kept stopping while sending it.",
    )


def send_due_messages(
    *, batch_size: int = 100, time_budget: float = 50.0, backend: SmsBackend | None = None
) -> DispatchResult:
    """Send due messages batch by batch until none is due or the time budget is spent."""
    backend = backend or sms_backend()
    result = DispatchResult()
    deadline = time.monotonic() + time_budget
    _give_up_abandoned()
    with _outcomes_without_waiting_for_the_disk():
        _send_batches(result, deadline=deadline, batch_size=batch_size, backend=backend)
    return result


@contextmanager
def _outcomes_without_waiting_for_the_disk() -> Iterator[None]:
    """On PostgreSQL, let this connection's commits return before they reach the disk.

    Safe for the outbox: if PostgreSQL itself crashed a moment later, a message would still
    say `sending` and be sent again (at least once), never lost; a lost claim only means the
    message is claimed again."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def _send_batches(
    result: DispatchResult, *, deadline: float, batch_size: int, backend: SmsBackend
) -> None:
    while time.monotonic() < deadline:
        ids = claim_due_messages(limit=batch_size)
        if not ids:
            break
        batch = list(Message.objects.filter(pk__in=ids).order_by("due_at", "pk"))
        opted_out = set(
            OptOut.objects.filter(phone__in={m.recipient for m in batch}).values_list(
                "phone", flat=True
            )
        )
        done = 0
        claimed_at = timezone.now()
        renew_after = timedelta(seconds=settings.SMS_CLAIM_LEASE_SECONDS / 2)
        try:
            for message in batch:
                if time.monotonic() >= deadline:
                    return
                if timezone.now() - claimed_at >= renew_after:
                    _renew_claims([m.pk for m in batch[done:]])
                    claimed_at = timezone.now()
                _wait_for_sending_turn()
                try:
                    outcome = send_message(message=message, backend=backend, opted_out=opted_out)
                except Exception as error:  # one odd message must not hold up the batch
                    logger.exception("SMS #%d could not be sent", message.pk)
                    failure = SendFailed(f"{type(error).__name__}: {error}"[:300], permanent=False)
                    outcome = _record_failure(message, failure, timezone.now())
                result.count(message.pk, outcome)
                done += 1
        finally:
            # Hand back what this run did not get to at once, rather than after the lease.
            _release_claims([m.pk for m in batch[done:]])


def _wait_for_sending_turn() -> None:
    """Keep to SMS_MAX_PER_SECOND across every worker sharing the cache (Redis when
    configured, else this process): one counter per second, and a wait for the next second
    once it is full."""
    limit = settings.SMS_MAX_PER_SECOND
    if limit <= 0:
        return
    while True:
        now = time.time()
        second = int(now)
        key = f"notifications:sent-in:{second}"
        try:
            cache.add(key, 0, timeout=5)
            taken = cache.incr(key)
        except Exception:  # the cache is down: keep to the limit in this process alone
            taken = _local_turns[second] = _local_turns.get(second, 0) + 1
        if taken <= limit:
            return
        time.sleep(max(0.001, second + 1 - now))


# Fallback counts per second, used only while the cache is unreachable; a few entries at most.
_local_turns: dict[int, int] = {}


def _release_claims(ids: list[int]) -> None:
    Message.objects.filter(pk__in=ids, status=Status.SENDING).update(
        status=Status.PENDING, claimed_at=None, attempts=F("attempts") - 1
    )


def send_message(*, message: Message, backend: SmsBackend, opted_out: set[str]) -> str:
    """Send one claimed message and record the outcome: sent, failed, retrying, deferred
    or dropped."""
    if message.status != Status.SENDING:
        return "dropped"
    now = timezone.now()
    write_follow_ups = _follow_up_writers.get(message.kind)
    if write_follow_ups is not None:
        write_follow_ups(message)
    reason = _reason_to_drop(message, now)
    if reason:
        _update(message, status=Status.CANCELLED, last_error=reason)
        return "dropped"
    if message.kind not in EXEMPT_FROM_QUIET_HOURS and in_quiet_hours(now):
        # Late from a backlog or a retry: wait for the morning, unless that is too late.
        later = after_quiet_hours(now)
        if message.expires_at is not None and later > message.expires_at:
            _update(message, status=Status.CANCELLED, last_error="Quiet hours; too late after.")
            return "dropped"
        _update(message, status=Status.PENDING, due_at=later, attempts=F("attempts") - 1)
        return "deferred"
    if message.recipient in opted_out:
        _update(
            message,
            status=Status.FAILED,
            error_code="opted_out",
            last_error="The number has opted out of text messages (STOP).",
        )
        return "failed"
    if not Message.objects.filter(pk=message.pk, status=Status.SENDING).exists():
        return "dropped"  # cancelled a moment ago, e.g. the appointment moved
    try:
        provider_id = backend.send(to=message.recipient, body=message.body, message_id=message.pk)
    except SendFailed as error:
        return _record_failure(message, error, now)
    # A message cancelled while it was already on its way was still sent: say so.
    _update(
        message,
        status=Status.SENT,
        provider_id=provider_id,
        sent_at=timezone.now(),
        holding=(Status.SENDING, Status.CANCELLED),
    )
    # (If a delivery report got here first, it has recorded all of this already.)
    return "sent"


def _reason_to_drop(message: Message, now: datetime) -> str:
    if message.expires_at is not None and now > message.expires_at:
        return "Too late to be useful."
    check = _still_wanted_checks.get(message.kind)
    return check(message) if check is not None else ""


def _record_failure(message: Message, error: SendFailed, now: datetime) -> str:
    if error.opted_out:
        OptOut.objects.get_or_create(
            phone=message.recipient, defaults={"source": "Provider reports unsubscribed"}
        )
    if error.permanent or message.attempts >= settings.SMS_MAX_ATTEMPTS:
        _update(message, status=Status.FAILED, error_code=error.code, last_error=str(error))
        logger.warning("SMS #%d failed for good: %s", message.pk, error)
        return "failed"
    wait = min(FIRST_RETRY * 2 ** (message.attempts - 1), LONGEST_RETRY)
    wait *= random.uniform(0.8, 1.2)  # workers that failed together do not retry together
    _update(
        message,
        status=Status.PENDING,
        due_at=now + wait,
        error_code=error.code,
        last_error=str(error),
    )
    return "retrying"


def _update(
    message: Message, *, holding: tuple[str, ...] = (Status.SENDING,), **fields: object
) -> None:
    # Only while this worker still holds the claim, so a late outcome never overwrites
    # a newer one. A passcode's text is blanked once it is out of the outbox's hands: only
    # its hash is kept.
    if message.kind == Kind.PASSCODE and fields.get("status") != Status.PENDING:
        fields["body"] = redact_codes(message.body)
    Message.objects.filter(pk=message.pk, status__in=holding).update(claimed_at=None, **fields)


# --- Delivery reports ---------------------------------------------------------------------------

# Twilio's statuses after it accepted a message, mapped to ours. Earlier ones change nothing.
PROVIDER_STATUSES = {
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,
    "undelivered": Status.FAILED,
    "failed": Status.FAILED,
    "canceled": Status.FAILED,
}


def record_delivery_status(
    *, provider_id: str, status: str, error_code: str = "", message_id: int | None = None
) -> bool:
    """Apply a delivery report. Repeats and reports arriving out of order change nothing:
    a message moves only forward, from sending or sent to delivered or failed.

    `message_id` (from the callback address) finds a message whose report arrives before
    the worker has recorded the provider's id; the report then records it."""
    ours = PROVIDER_STATUSES.get(status.lower())
    if ours is None or not provider_id:
        return False
    now = timezone.now()
    fields: dict[str, object] = {"status": ours, "claimed_at": None}
    if ours == Status.DELIVERED:
        fields["delivered_at"] = now
    else:
        fields["error_code"] = error_code[:20]
        fields["last_error"] = f"The provider reports the message {status.lower()}."
    moving_on = Q(status__in=(Status.SENDING, Status.SENT))
    changed = Message.objects.filter(moving_on, provider_id=provider_id).update(**fields)
    if not changed and message_id is not None:
        changed = Message.objects.filter(moving_on, pk=message_id, provider_id="").update(
            provider_id=provider_id, sent_at=now, **fields
        )
    if error_code == "21610":
        recipient = (
            Message.objects.filter(provider_id=provider_id)
            .values_list("recipient", flat=True)
            .first()
        )
        if recipient:
            OptOut.objects.get_or_create(
                phone=recipient, defaults={"source": "Provider reports unsubscribed"}
            )
    return bool(changed)
