"""The waitlist: people who found nothing wait; freed or newly opened places go to them.

A free place is offered to the first matching person (risk groups first, then in the order
they joined) and held for them: the held place counts in the slot's `booked`, so nobody else
takes it. They claim it within the claim window, or it passes on to the next person. A run
goes place by place, earliest first, so the waitlist's order decides who gets what.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.exceptions import BookingError, OfferClosed, OnWaitlistAlready
from booking.models import (
    Appointment,
    Patient,
    Slot,
    WaitlistEntry,
    WaitlistOffer,
)
from booking.notices import notify_waitlist_offer
from booking.selectors import day_bounds
from booking.services.appointments import Booking, book_slot, check_eligibility
from booking.services.places import check_no_overlap, give_back_place, lock_patient, take_place
from booking.vaccination.eligibility import risk_groups_on
from booking.vaccination.series import plan_dose
from clinics.exceptions import DomainError, InvalidInput
from clinics.models import District, HealthCentre, Service
from notifications.services.outbox import after_quiet_hours

logger = logging.getLogger(__name__)

MAX_WAITLIST_DAYS = 120
RUN_LOCK = "booking:waitlist-run"
RUN_LOCK_SECONDS = 300
Entry = WaitlistEntry.Status
Offer = WaitlistOffer.Status


@dataclass(frozen=True)
class OfferRun:
    expired: int
    offered: int


@transaction.atomic
def join_waitlist(
    *,
    patient: Patient,
    service: Service,
    centres: list[HealthCentre],
    district: District | None,
    date_from: date,
    date_to: date,
    joined_by: User,
) -> WaitlistEntry:
    """Put the patient on the waitlist for a service, some centres (or a district, or any)
    and some days. People in a risk group on the first day come first.

    Locks the patient row, as booking does."""
    lock_patient(patient.pk)
    today = timezone.localdate()
    if date_from < today:
        raise InvalidInput(_("The first day cannot be in the past."), field="date_from")
    if date_to < date_from:
        raise InvalidInput(_("The last day is before the first day."), field="date_to")
    if (date_to - date_from).days > MAX_WAITLIST_DAYS:
        raise InvalidInput(
            _("Wait for at most %(days)d days at a time.") % {"days": MAX_WAITLIST_DAYS},
            field="date_to",
        )
    priority = (
        WaitlistEntry.Priority.RISK_GROUP
        if risk_groups_on(patient, date_from)
        else WaitlistEntry.Priority.EVERYONE
    )
    try:
        with transaction.atomic():
            entry = WaitlistEntry.objects.create(
                patient=patient,
                service=service,
                district=district,
                date_from=date_from,
                date_to=date_to,
                priority=priority,
                joined_by=joined_by,
                joined_at=timezone.now(),
            )
    except IntegrityError:
        raise OnWaitlistAlready() from None
    entry.centres.set(centres)
    return entry


@transaction.atomic
def leave_waitlist(*, entry: WaitlistEntry) -> WaitlistEntry:
    """Take the patient off the waitlist; a place held for them goes back at once.

    Locks the entry row, then the offer's slot through the counter update."""
    entry = WaitlistEntry.objects.select_for_update().get(pk=entry.pk)
    if entry.status not in (Entry.WAITING, Entry.OFFERED):
        return entry
    for offer in entry.offers.select_for_update().filter(status=Offer.OPEN):
        _close_offer(offer, Offer.WITHDRAWN)
    entry.status = Entry.LEFT
    entry.ended_at = timezone.now()
    entry.save(update_fields=["status", "ended_at"])
    return entry


@transaction.atomic
def claim_offer(*, offer: WaitlistOffer, booked_by: User, channel: Appointment.Channel) -> Booking:
    """Book the held place. The hold is handed straight to the booking in one transaction, so
    the place cannot be taken by anyone else in between.

    Locks the entry, the offer, then the patient and slot rows as booking does."""
    entry = WaitlistEntry.objects.select_for_update().get(pk=offer.entry_id)
    offer = WaitlistOffer.objects.select_for_update().select_related("slot").get(pk=offer.pk)
    if offer.status == Offer.CLAIMED and offer.appointment is not None:
        return Booking(appointment=offer.appointment, created=False)
    if offer.status != Offer.OPEN or offer.expires_at <= timezone.now():
        raise OfferClosed()
    give_back_place(offer.slot_id)
    booking = book_slot(
        patient=entry.patient,
        slot_id=offer.slot_id,
        booked_by=booked_by,
        channel=channel,
        idempotency_key=f"waitlist-offer-{offer.pk}",
    )
    offer.status = Offer.CLAIMED
    offer.answered_at = timezone.now()
    offer.appointment = booking.appointment
    offer.save(update_fields=["status", "answered_at", "appointment"])
    entry.status = Entry.BOOKED
    entry.ended_at = timezone.now()
    entry.save(update_fields=["status", "ended_at"])
    return booking


@transaction.atomic
def decline_offer(*, offer: WaitlistOffer) -> WaitlistOffer:
    """Turn the time down and keep waiting; the place passes on at the next run."""
    WaitlistEntry.objects.select_for_update().filter(pk=offer.entry_id).first()
    offer = WaitlistOffer.objects.select_for_update().get(pk=offer.pk)
    if offer.status != Offer.OPEN:
        raise OfferClosed()
    _close_offer(offer, Offer.DECLINED)
    WaitlistEntry.objects.filter(pk=offer.entry_id, status=Entry.OFFERED).update(
        status=Entry.WAITING
    )
    return offer


def offer_free_places(*, limit: int | None = None) -> OfferRun:
    """Expire offers past their window, then offer free places to the waitlist.

    One run works at a time (a lock in the shared cache), so the waitlist is served strictly
    in its order; a run that finds another at work returns at once. Each offer is still its
    own transaction, taking the place with the conditional update and locking the entry with
    SKIP LOCKED, so even overlapping runs never offer one place or one person twice."""
    if not cache.add(RUN_LOCK, "running", timeout=RUN_LOCK_SECONDS):
        return OfferRun(expired=0, offered=0)
    try:
        return _offer_free_places(limit)
    finally:
        cache.delete(RUN_LOCK)


def _offer_free_places(limit: int | None) -> OfferRun:
    expired = _expire_offers()
    _end_stale_entries()
    budget = limit if limit is not None else settings.WAITLIST_OFFERS_PER_RUN
    offered = 0
    for slot in _free_slots(budget):
        free = slot.capacity - slot.booked
        tried: set[int] = set()
        while free > 0 and offered < budget:
            made = _offer_one_place(slot, tried)
            if made is None:
                break
            offered += 1
            free -= 1
        if offered >= budget:
            break
    if expired or offered:
        logger.info("Waitlist: %d offers expired, %d places offered", expired, offered)
    return OfferRun(expired=expired, offered=offered)


@dataclass(frozen=True)
class RefillFigures:
    waiting: int
    offers: int
    claimed: int
    declined: int
    expired: int
    places_freed: int

    @property
    def refill_rate(self) -> float | None:
        """Of the places freed by cancellations, the share the waitlist booked again."""
        return self.claimed / self.places_freed if self.places_freed else None


def refill_figures(*, service: Service | None, since: datetime) -> RefillFigures:
    """How much freed capacity the waitlist filled again since a moment."""
    entries = WaitlistEntry.objects.all()
    offers = WaitlistOffer.objects.filter(offered_at__gte=since)
    freed = Appointment.objects.filter(status=Appointment.Status.CANCELLED, cancelled_at__gte=since)
    if service is not None:
        entries = entries.filter(service=service)
        offers = offers.filter(entry__service=service)
        freed = freed.filter(slot__service=service)
    by_status = dict(offers.values("status").annotate(n=Count("pk")).values_list("status", "n"))
    return RefillFigures(
        waiting=entries.filter(status__in=[Entry.WAITING, Entry.OFFERED]).count(),
        offers=sum(by_status.values()),
        claimed=by_status.get(Offer.CLAIMED, 0),
        declined=by_status.get(Offer.DECLINED, 0),
        expired=by_status.get(Offer.EXPIRED, 0),
        places_freed=freed.count(),
    )


# --- Helpers -------------------------------------------------------------------------------------


def _close_offer(offer: WaitlistOffer, status: WaitlistOffer.Status) -> None:
    offer.status = status
    offer.answered_at = timezone.now()
    offer.save(update_fields=["status", "answered_at"])
    give_back_place(offer.slot_id)


def _expire_offers() -> int:
    expired = 0
    while True:
        with transaction.atomic():
            batch = list(
                WaitlistOffer.objects.select_for_update(skip_locked=True)
                .filter(status=Offer.OPEN, expires_at__lte=timezone.now())
                .order_by("pk")[:200]
            )
            for offer in batch:
                _close_offer(offer, Offer.EXPIRED)
                missed = WaitlistOffer.objects.filter(
                    entry_id=offer.entry_id, status=Offer.EXPIRED
                ).count()
                # Someone who let offers lapse twice is taken off, so places reach people
                # who answer; they can join again.
                ending = missed >= settings.WAITLIST_MAX_MISSED_OFFERS
                WaitlistEntry.objects.filter(pk=offer.entry_id, status=Entry.OFFERED).update(
                    status=Entry.ENDED if ending else Entry.WAITING,
                    ended_at=timezone.now() if ending else None,
                )
            expired += len(batch)
        if len(batch) < 200:
            return expired


def _end_stale_entries() -> None:
    WaitlistEntry.objects.filter(status=Entry.WAITING, date_to__lt=timezone.localdate()).update(
        status=Entry.ENDED, ended_at=timezone.now()
    )


def _free_slots(limit: int) -> list[Slot]:
    """Open slots with free places, for services people are waiting for, earliest first."""
    now = timezone.now()
    waiting = WaitlistEntry.objects.filter(status=Entry.WAITING)
    services = list(waiting.values_list("service_id", flat=True).distinct())
    if not services:
        return []
    last_day = max(waiting.values_list("date_to", flat=True))
    return list(
        Slot.objects.filter(
            service_id__in=services,
            closed=False,
            is_full=False,
            start__lt=day_bounds(last_day)[1],
        )
        .filter(Q(opens_at__isnull=True) | Q(opens_at__lte=now))
        .filter(start__gt=now)
        .select_related("service", "centre", "drive")
        .order_by("start", "pk")[:limit]
    )


def _next_in_line(slot: Slot, tried: set[int]) -> list[WaitlistEntry]:
    day = timezone.localdate(slot.start)
    chosen = WaitlistEntry.centres.through.objects.filter(waitlistentry_id=OuterRef("pk"))
    return list(
        WaitlistEntry.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(
            status=Entry.WAITING,
            service_id=slot.service_id,
            date_from__lte=day,
            date_to__gte=day,
        )
        .filter(
            Exists(chosen.filter(healthcentre_id=slot.centre_id))
            | (
                ~Exists(chosen)
                & (Q(district__isnull=True) | Q(district_id=slot.centre.district_id))
            )
        )
        .exclude(pk__in=tried)
        # Someone who turned this time down, or let it lapse, is not offered it again.
        .exclude(Exists(WaitlistOffer.objects.filter(entry_id=OuterRef("pk"), slot_id=slot.pk)))
        .select_related("patient")
        # One at a time: a run locks only the person it is about to offer to, so runs side by
        # side still serve the waitlist in its order.
        .order_by("priority", "joined_at", "pk")[:1]
    )


def _offer_one_place(slot: Slot, tried: set[int]) -> WaitlistOffer | None:
    """Offer one place in the slot to the first person it suits, or None if nobody fits."""
    if slot.start - timedelta(minutes=slot.service.booking_cutoff_minutes) <= timezone.now():
        return None
    while True:
        with transaction.atomic():
            candidates = _next_in_line(slot, tried)
            if not candidates:
                return None
            for entry in candidates:
                tried.add(entry.pk)
                if not _suits(entry.patient, slot):
                    continue
                try:
                    with transaction.atomic():
                        take_place(slot)
                except BookingError:
                    return None  # the slot filled or closed meanwhile
                now = timezone.now()
                offer = WaitlistOffer.objects.create(
                    entry=entry,
                    slot=slot,
                    offered_at=now,
                    expires_at=after_quiet_hours(now)
                    + timedelta(minutes=settings.WAITLIST_CLAIM_MINUTES),
                )
                entry.status = Entry.OFFERED
                entry.save(update_fields=["status"])
                notify_waitlist_offer(offer)
                return offer


def _suits(patient: Patient, slot: Slot) -> bool:
    """Whether the patient could book the slot, by the checks booking itself makes: the dose's
    interval, the drive's rules, no overlap with another appointment."""
    try:
        dose = plan_dose(patient, slot)
        if dose is None or dose.number == 1:
            check_eligibility(patient, slot)
        check_no_overlap(patient, slot, moving=None)
    except DomainError:
        return False
    return True
