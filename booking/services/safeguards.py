"""One phone booking for many people: what staff see of it, and stopping that phone from
booking online (or letting it book again). Every step is in the audit trail."""

from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from booking.exceptions import BookingBlocked, DeletionPending
from booking.models import Appointment, BookingBlock, DeletionRequest, Patient
from clinics import audit
from clinics.exceptions import InvalidInput


def check_may_book(patient: Patient, channel: str) -> None:
    """Refuse an online booking from a phone staff stopped, and any booking for someone whose
    erasure is under way. Staff at the desk may still book for a stopped phone's people."""
    if (
        channel != Appointment.Channel.STAFF
        and BookingBlock.objects.filter(
            account_id=patient.account_id, lifted_at__isnull=True
        ).exists()
    ):
        raise BookingBlocked()
    if DeletionRequest.objects.filter(
        patient=patient, status=DeletionRequest.Status.PENDING
    ).exists():
        raise DeletionPending()


@dataclass
class SharedPhone:
    account: User
    people: int  # different people with coming appointments, at any centre
    bookings: int  # their coming appointments, at any centre
    block: BookingBlock | None
    here: list[Appointment] = field(default_factory=list)  # the ones at this centre


def _upcoming() -> QuerySet[Appointment]:
    return Appointment.objects.filter(status__in=Appointment.UPCOMING, slot__end__gt=timezone.now())


def shared_phones(centre_id: int, *, limit: int = 50) -> list[SharedPhone]:
    """Accounts with coming appointments at the centre that book for at least
    SHARED_PHONE_MIN_PEOPLE people in all, most people first; and every phone stopped from
    booking that has appointments here, so that it can be allowed again."""
    accounts_here = _upcoming().filter(slot__centre_id=centre_id).values("patient__account_id")
    counted = (
        _upcoming()
        .filter(patient__account_id__in=accounts_here)
        .values("patient__account_id")
        .annotate(people=Count("patient_id", distinct=True), bookings=Count("id"))
        .order_by()
    )
    counts = {row["patient__account_id"]: row for row in counted}
    blocks = {
        block.account_id: block
        for block in BookingBlock.objects.filter(
            lifted_at__isnull=True, account_id__in=list(counts)
        ).select_related("blocked_by")
    }
    chosen = sorted(
        (
            account_id
            for account_id, row in counts.items()
            if row["people"] >= settings.SHARED_PHONE_MIN_PEOPLE or account_id in blocks
        ),
        key=lambda account_id: (-counts[account_id]["people"], account_id),
    )[:limit]
    accounts = User.objects.in_bulk(chosen)
    here: dict[int, list[Appointment]] = {}
    for appointment in (
        _upcoming()
        .filter(slot__centre_id=centre_id, patient__account_id__in=chosen)
        .select_related("patient", "slot__service")
        .order_by("slot__start", "pk")
    ):
        here.setdefault(appointment.patient.account_id, []).append(appointment)
    return [
        SharedPhone(
            account=accounts[account_id],
            people=counts[account_id]["people"],
            bookings=counts[account_id]["bookings"],
            block=blocks.get(account_id),
            here=here.get(account_id, []),
        )
        for account_id in chosen
    ]


def has_bookings_at(account_id: int, centre_id: int) -> bool:
    """Staff act on a phone only where it has coming appointments."""
    return _upcoming().filter(slot__centre_id=centre_id, patient__account_id=account_id).exists()


@transaction.atomic
def block_booking(*, account: User, reason: str, by: User, centre_id: int) -> BookingBlock:
    """Stop the account's phone from booking online, everywhere. Its appointments stay:
    staff cancel those they judge false one by one."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput(_("Say why this phone is stopped from booking."), field="reason")
    try:
        with transaction.atomic():
            block = BookingBlock.objects.create(account=account, reason=reason[:200], blocked_by=by)
    except IntegrityError:
        raise InvalidInput(
            _("This phone is already stopped from booking."), field="reason"
        ) from None
    audit.record(
        "account.booking_blocked",
        account,
        target_type="account",
        centre_id=centre_id,
        patients=account.patients.values_list("pk", flat=True),
        details={"reason": block.reason},
    )
    return block


@transaction.atomic
def lift_booking_block(*, account: User, by: User, centre_id: int) -> None:
    lifted = BookingBlock.objects.filter(account=account, lifted_at__isnull=True).update(
        lifted_at=timezone.now(), lifted_by=by
    )
    if lifted:
        audit.record(
            "account.booking_unblocked",
            account,
            target_type="account",
            centre_id=centre_id,
            patients=account.patients.values_list("pk", flat=True),
        )
