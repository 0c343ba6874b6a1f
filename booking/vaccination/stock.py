"""Vaccine stock at each centre: deliveries, withdrawals, and doses used as they are given.

What a centre can still open for a vaccine is the doses it holds, less the doses already
promised: every place in its open slots from today on (booked or not), and the later doses of
courses started there that are not booked yet. A dose is taken from stock when it is given,
not when it is booked.
"""

from dataclasses import dataclass
from datetime import date
from typing import TypedDict

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, F, IntegerField, Q, Sum, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.exceptions import NoDoseInStock
from booking.models import Appointment, Slot, VaccinationSeries, VaccineLot
from booking.notices import dose_not_covered, notify_drive_change
from booking.selectors import day_bounds
from booking.services.audit import stock_changed
from clinics.exceptions import InvalidInput, NotFound
from clinics.models import HealthCentre, Service


@dataclass(frozen=True)
class StockPosition:
    """One vaccine at one centre."""

    centre_id: int
    service: Service
    # Doses in lots that are neither withdrawn nor past their expiry.
    on_hand: int
    # Places from today on that are booked (or held for the waitlist) and not given yet.
    booked: int
    # Places still free in open slots from today on.
    open_places: int
    # Later doses of courses started here that are not booked yet.
    reserved_for_courses: int

    @property
    def left_to_open(self) -> int:
        return self.on_hand - self.booked - self.open_places - self.reserved_for_courses


def _usable_lots(*, centre_id: int, service_id: int, on: date | None = None) -> Q:
    today = on or timezone.localdate()
    return Q(
        centre_id=centre_id,
        service_id=service_id,
        withdrawn_at__isnull=True,
        expires_on__gte=today,
        doses_used__lt=F("doses_received"),
    )


def stock_positions(*, centre_ids: list[int], service: Service) -> dict[int, StockPosition]:
    """Where each centre stands for a vaccine. Five queries whatever the number of centres."""
    found = positions_of_vaccines(centre_ids=centre_ids, services=[service])
    return {number: found[(number, service.pk)] for number in centre_ids}


def positions_of_vaccines(
    *, centre_ids: list[int], services: list[Service]
) -> dict[tuple[int, int], StockPosition]:
    """Where each centre stands for each vaccine, by (centre number, service id). Five queries
    whatever the number of centres and vaccines."""
    today = timezone.localdate()
    by_id = {service.pk: service for service in services}
    on_hand = {
        (row["centre_id"], row["service_id"]): row["left"]
        for row in VaccineLot.objects.filter(
            centre_id__in=centre_ids,
            service_id__in=list(by_id),
            withdrawn_at__isnull=True,
            expires_on__gte=today,
        )
        .values("centre_id", "service_id")
        .annotate(left=Sum(F("doses_received") - F("doses_used")))
    }
    start_of_today, _ = day_bounds(today)
    slots = Slot.objects.filter(
        centre_id__in=centre_ids, service_id__in=list(by_id), start__gte=start_of_today
    )
    places = {
        (row["centre_id"], row["service_id"]): row
        for row in slots.values("centre_id", "service_id").annotate(
            taken=Coalesce(Sum("booked"), 0),
            free=Coalesce(
                Sum(
                    Case(
                        When(closed=False, then=F("capacity") - F("booked")),
                        default=0,
                        output_field=IntegerField(),
                    )
                ),
                0,
            ),
        )
    }
    # Booked places that will need no dose: given already (taken from stock) or missed.
    settled = {
        (row["slot__centre_id"], row["slot__service_id"]): row["count"]
        for row in Appointment.objects.filter(
            slot__in=slots, status__in=[Appointment.Status.COMPLETED, Appointment.Status.NO_SHOW]
        )
        .values("slot__centre_id", "slot__service_id")
        .annotate(count=Count("pk"))
    }
    courses = VaccinationSeries.objects.filter(
        centre_id__in=centre_ids,
        service_id__in=list(by_id),
        status=VaccinationSeries.Status.ACTIVE,
    )
    course_doses = {
        (row["centre_id"], row["service_id"]): row["doses"]
        for row in courses.values("centre_id", "service_id").annotate(doses=Sum("doses_in_series"))
    }
    doses_held = {
        (row["series__centre_id"], row["series__service_id"]): row["count"]
        for row in Appointment.objects.filter(
            series__in=courses, status__in=Appointment.HELD_OR_GIVEN
        )
        .values("series__centre_id", "series__service_id")
        .annotate(count=Count("pk"))
    }
    positions = {}
    for number in centre_ids:
        for service_id, service in by_id.items():
            key = (number, service_id)
            positions[key] = StockPosition(
                centre_id=number,
                service=service,
                on_hand=on_hand.get(key) or 0,
                booked=(places.get(key, {}).get("taken") or 0) - settled.get(key, 0),
                open_places=places.get(key, {}).get("free") or 0,
                reserved_for_courses=max((course_doses.get(key) or 0) - doses_held.get(key, 0), 0),
            )
    return positions


def use_dose(*, centre: HealthCentre, service: Service, lot_id: int | None) -> VaccineLot:
    """Take one dose from the lot given, or else from the usable lot that expires first.

    Locks the lot row through the conditional update of its counter."""
    lots = VaccineLot.objects.filter(_usable_lots(centre_id=centre.pk, service_id=service.pk))
    if lot_id is not None:
        lots = lots.filter(pk=lot_id)
    for lot in lots.order_by("expires_on", "pk"):
        taken = VaccineLot.objects.filter(pk=lot.pk, doses_used__lt=F("doses_received")).update(
            doses_used=F("doses_used") + 1
        )
        if taken:
            lot.refresh_from_db()
            return lot
    raise NoDoseInStock()


@transaction.atomic
def receive_lot(
    *,
    centre: HealthCentre,
    service: Service,
    lot_number: str,
    expires_on: date,
    doses: int,
    received_by: User | None = None,
) -> VaccineLot:
    """Record a delivery of doses to a centre; a second delivery of the same lot adds to it.

    Locks the centre row, as opening a drive does, so stock is never read half-changed."""
    HealthCentre.objects.select_for_update().filter(pk=centre.pk).first()
    if service.kind != Service.Kind.VACCINATION:
        raise InvalidInput(_("Stock is kept only for vaccines."), field="service")
    if doses < 1:
        raise InvalidInput(_("Give the number of doses delivered, 1 or more."), field="doses")
    if expires_on < timezone.localdate():
        raise InvalidInput(_("This lot has already expired."), field="expires_on")
    lot = VaccineLot.objects.filter(centre=centre, service=service, lot_number=lot_number).first()
    if lot is not None:
        if lot.expires_on != expires_on:
            raise InvalidInput(
                _("This lot number is already recorded here with another expiry date."),
                field="expires_on",
            )
        if lot.withdrawn_at is not None:
            raise InvalidInput(
                _("This lot has been withdrawn; doses from it cannot be added."),
                field="lot_number",
            )
        VaccineLot.objects.filter(pk=lot.pk).update(doses_received=F("doses_received") + doses)
        lot.refresh_from_db()
        stock_changed(lot, "received", doses=doses)
        return lot
    try:
        with transaction.atomic():
            lot = VaccineLot.objects.create(
                centre=centre,
                service=service,
                lot_number=lot_number,
                expires_on=expires_on,
                doses_received=doses,
            )
    except IntegrityError:  # pragma: no cover - the centre lock serialises deliveries
        raise InvalidInput(_("This lot is already recorded."), field="lot_number") from None
    stock_changed(lot, "received", doses=doses, expires_on=expires_on.isoformat())
    return lot


@dataclass(frozen=True)
class LotWithdrawn:
    lot: VaccineLot
    position: StockPosition
    # Free places closed so that no more is promised than the stock left can give.
    places_closed: int
    # Booked doses beyond the stock left: staff move or cancel these appointments.
    shortfall: int
    # The booked appointments whose dose the stock left no longer covers, soonest first.
    affected: list[Appointment]
    # How many of their patients were sent a text (none for a lot already withdrawn).
    patients_told: int


@transaction.atomic
def withdraw_lot(*, lot: VaccineLot, reason: str) -> LotWithdrawn:
    """Take a lot out of use (a recall, a cold-chain failure), and stop offering places that
    the remaining stock cannot give, latest first. Booked places are never taken away here:
    the patients whose dose the stock left no longer covers are told by text, and listed for
    staff to move or cancel in bulk.

    Locks the centre row, then the lot row, then the slots it shrinks in id order."""
    HealthCentre.objects.select_for_update().filter(pk=lot.centre_id).first()
    lot = (
        VaccineLot.objects.select_for_update(of=("self",)).select_related("service").get(pk=lot.pk)
    )
    newly_withdrawn = lot.withdrawn_at is None
    if newly_withdrawn:
        lot.withdrawn_at = timezone.now()
        lot.withdrawal_reason = reason[:200]
        lot.save(update_fields=["withdrawn_at", "withdrawal_reason"])
    position = stock_positions(centre_ids=[lot.centre_id], service=lot.service)[lot.centre_id]
    excess = -position.left_to_open
    closed = _close_free_places(lot.centre_id, lot.service, excess) if excess > 0 else 0
    position = stock_positions(centre_ids=[lot.centre_id], service=lot.service)[lot.centre_id]
    affected = _beyond_stock(lot.centre_id, position)
    told = 0
    if newly_withdrawn:  # asking again changes nothing and tells nobody twice
        for appointment in affected:
            if notify_drive_change(appointment, dose_not_covered) is not None:
                told += 1
        stock_changed(
            lot,
            "withdrawn",
            reason=lot.withdrawal_reason,
            appointments_beyond_stock=len(affected),
            patients_told=told,
        )
    if closed:
        stock_changed(lot, "places_closed", places=closed)
    return LotWithdrawn(
        lot=lot,
        position=position,
        places_closed=closed,
        shortfall=max(-position.left_to_open, 0),
        affected=affected,
        patients_told=told,
    )


def appointments_beyond_stock(centre_id: int) -> list[Appointment]:
    """The centre's booked appointments whose vaccine dose the stock left no longer covers,
    for each vaccine of which a lot was withdrawn there, soonest first: for staff to move or
    cancel. Doses go to the soonest visits, so these are the latest ones beyond the doses held
    (later doses of courses not booked yet come after booked places). One query when no lot
    was withdrawn at the centre."""
    withdrawn = list(
        Service.objects.filter(lots__centre_id=centre_id, lots__withdrawn_at__isnull=False)
        .distinct()
        .order_by("pk")
    )
    if not withdrawn:
        return []
    positions = positions_of_vaccines(centre_ids=[centre_id], services=withdrawn)
    found = [
        appointment
        for position in positions.values()
        for appointment in _beyond_stock(centre_id, position)
    ]
    return sorted(found, key=lambda appointment: (appointment.slot.start, appointment.pk))


def _beyond_stock(centre_id: int, position: StockPosition) -> list[Appointment]:
    """The latest booked appointments of the vaccine at the centre that the doses on hand do
    not reach, soonest first."""
    uncovered = position.booked - position.on_hand
    if uncovered <= 0:
        return []
    latest = (
        Appointment.objects.filter(
            slot__centre_id=centre_id,
            slot__service=position.service,
            slot__start__gt=timezone.now(),
            status=Appointment.Status.BOOKED,
        )
        .select_related("patient", "slot__centre", "slot__service")
        .order_by("-slot__start", "-pk")[:uncovered]
    )
    return sorted(latest, key=lambda appointment: (appointment.slot.start, appointment.pk))


def _close_free_places(centre_id: int, service: Service, count: int) -> int:
    """Lower the capacity of open slots to their bookings, latest slots first, until `count`
    free places are gone."""
    start_of_today, _ = day_bounds(timezone.localdate())
    slots = list(
        Slot.objects.select_for_update()
        .filter(
            centre_id=centre_id,
            service=service,
            start__gte=start_of_today,
            closed=False,
            is_full=False,
        )
        .order_by("pk")
        .values("pk", "start", "capacity", "booked")
    )
    closed = 0
    for slot in sorted(slots, key=lambda row: (row["start"], row["pk"]), reverse=True):
        if closed >= count:
            break
        cut = min(slot["capacity"] - slot["booked"], count - closed)
        Slot.objects.filter(pk=slot["pk"]).update(
            capacity=F("capacity") - cut, capacity_set_by_staff=True
        )
        closed += cut
    return closed


def lot_for_staff(lot_id: int) -> VaccineLot:
    lot = VaccineLot.objects.select_related("service", "centre").filter(pk=lot_id).first()
    if lot is None:
        raise NotFound(_("There is no vaccine lot with that id."))
    return lot


class StockRow(TypedDict):
    """A vaccine's stock position with its lots, as the API and the stock page show it."""

    service: Service
    on_hand: int
    booked: int
    open_places: int
    reserved_for_courses: int
    left_to_open: int
    lots: list[VaccineLot]


def stock_rows(centre: HealthCentre) -> list[StockRow]:
    """Each vaccine at the centre with its stock position and lots, soonest expiry first: seven
    queries however many vaccines."""
    lots = list(
        VaccineLot.objects.filter(centre=centre)
        .select_related("service")
        .order_by("expires_on", "pk")
    )
    vaccines = (
        Service.objects.filter(kind=Service.Kind.VACCINATION)
        .filter(Q(centres=centre) | Q(lots__centre=centre))
        .distinct()
    )
    listed = list(vaccines.order_by("code"))
    positions = positions_of_vaccines(centre_ids=[centre.number], services=listed)
    return [
        stock_row(
            positions[(centre.number, vaccine.pk)],
            [lot for lot in lots if lot.service_id == vaccine.pk],
        )
        for vaccine in listed
    ]


def stock_row(position: StockPosition, lots: list[VaccineLot]) -> StockRow:
    """A vaccine's stock position with its lots."""
    return {
        "service": position.service,
        "on_hand": position.on_hand,
        "booked": position.booked,
        "open_places": position.open_places,
        "reserved_for_courses": position.reserved_for_courses,
        "left_to_open": position.left_to_open,
        "lots": lots,
    }
