"""A centre's queue for a day: its appointments and its walk-ins, in the order the centre
chooses (one rule, `in_queue_order`), the walk-ins staff may act on, and the person the desk
looks up to add as a walk-in."""

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from booking.models import Appointment, Patient, WalkIn
from booking.selectors.households import AnyUser
from booking.selectors.staff import centre_appointments_on
from clinics.exceptions import NotFound
from clinics.models import HealthCentre
from clinics.permissions import StaffAction, require_staff

QueueEntry = Appointment | WalkIn


class QueueOrder(StrEnum):
    """How a centre mixes walk-ins with appointments on its queue."""

    # Time, then arrival: each appointment at its slot's start, each walk-in at the moment
    # they arrived, earliest first. At the same minute the appointment goes first (it was
    # promised that time), then walk-ins by number.
    BY_TIME = "by_time"
    # Every appointment by time, then every walk-in by arrival.
    APPOINTMENTS_FIRST = "appointments_first"


def queue_order_for(centre: HealthCentre) -> QueueOrder:
    """The order of the centre's queue: the QUEUE_ORDER setting for now (one setting for
    every centre, until the centre's own choice is stored with it)."""
    try:
        return QueueOrder(settings.QUEUE_ORDER)
    except ValueError:
        return QueueOrder.BY_TIME


def _sort_key(entry: QueueEntry, order: QueueOrder) -> tuple[int, datetime, int, int]:
    if isinstance(entry, Appointment):
        return (0, entry.slot.start, 0, entry.pk)
    group = 1 if order == QueueOrder.APPOINTMENTS_FIRST else 0
    return (group, entry.arrived_at, 1, entry.number)


def in_queue_order(
    appointments: Iterable[Appointment], walk_ins: Iterable[WalkIn], *, order: QueueOrder
) -> list[QueueEntry]:
    """Appointments and walk-ins as one queue, in the centre's order (see QueueOrder)."""
    entries: list[QueueEntry] = [*appointments, *walk_ins]
    return sorted(entries, key=lambda entry: _sort_key(entry, order))


def centre_walk_ins_on(centre_id: int, day: date) -> QuerySet[WalkIn]:
    """A centre's walk-ins on one Bangkok day, by queue number."""
    return (
        WalkIn.objects.filter(centre_id=centre_id, day=day)
        .select_related("patient", "service", "centre")
        .order_by("number")
    )


def centre_queue_on(centre: HealthCentre, day: date) -> list[QueueEntry]:
    """The centre's day: its appointments and walk-ins, in the centre's queue order."""
    return in_queue_order(
        centre_appointments_on(centre.number, day),
        centre_walk_ins_on(centre.number, day),
        order=queue_order_for(centre),
    )


def walk_in_for_staff(user: AnyUser, walk_in_id: int, action: StaffAction) -> WalkIn:
    """A walk-in the staff member may act on; Forbidden at another centre."""
    walk_in = (
        WalkIn.objects.select_related("patient", "service", "centre").filter(pk=walk_in_id).first()
    )
    if walk_in is None:
        raise NotFound(_("We could not find that walk-in."))
    require_staff(user, action, walk_in.centre_id)
    return walk_in


def patients_with(*, national_id: str = "", phone: str = "") -> QuerySet[Patient]:
    """People on file with exactly this national ID, or this phone (E.164, their own or their
    account's, so a household's children are found by the parent's phone): the desk's quick
    look-up before adding a walk-in."""
    if national_id:
        found = Patient.objects.filter(national_id=national_id)
    elif phone:
        found = Patient.objects.filter(Q(phone=phone) | Q(account__username=phone))
    else:
        found = Patient.objects.none()
    return found.order_by("last_name", "first_name", "pk")[:20]
