"""Moving or cancelling many appointments at once, when supply fails: a lot withdrawn, a
centre closed for a day, a drive called off. Each appointment is its own transaction, so one
that cannot be moved is reported and left as it was, and the others go ahead. Every patient
moved or cancelled is told through the outbox, by the same services as a single change."""

from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.exceptions import BookingError
from booking.models import Appointment
from booking.selectors import SlotOrder, SlotSearch, best_open_slots
from booking.services.appointments import cancel_appointment, reschedule_appointment
from clinics.exceptions import DomainError, InvalidInput, NotFound
from clinics.permissions import StaffAction, require_staff


@dataclass(frozen=True)
class BulkOutcome:
    appointment_id: int
    # moved, cancelled, or unchanged (with the reason)
    result: str
    new_slot_id: int | None = None
    reason: str = ""


def cancel_many(*, appointments: QuerySet[Appointment], reason: str) -> list[BulkOutcome]:
    """Cancel each appointment (no online cut-off) and tell its patient."""
    outcomes = []
    for appointment in appointments.order_by("pk"):
        try:
            cancel_appointment(appointment=appointment, reason=reason, enforce_cutoff=False)
        except DomainError as error:
            outcomes.append(BulkOutcome(appointment.pk, "unchanged", reason=str(error.message)))
            continue
        outcomes.append(BulkOutcome(appointment.pk, "cancelled"))
    return outcomes


def move_many(
    *,
    appointments: QuerySet[Appointment],
    date_from: date,
    date_to: date,
    centre_ids: list[int] | None,
) -> list[BulkOutcome]:
    """Move each appointment to the best open time of its service in the days given: its own
    centre first, then the nearest (or only the centres given). One that finds no time keeps
    its place and is reported, so staff can call the patient."""
    outcomes = []
    for appointment in appointments.select_related("slot__service", "slot__centre", "patient"):
        if appointment.status != Appointment.Status.BOOKED:
            outcomes.append(
                BulkOutcome(appointment.pk, "unchanged", reason=appointment.get_status_display())
            )
            continue
        centre = appointment.slot.centre
        search = SlotSearch(
            service=appointment.slot.service,
            date_from=date_from,
            date_to=date_to,
            latitude=centre.latitude,
            longitude=centre.longitude,
            centre_ids=centre_ids,
            order=SlotOrder.NEAREST,
        )
        moved = None
        last_problem = ""
        for option in best_open_slots(search, limit=settings.ALLOCATION_ATTEMPTS):
            if option.slot.pk == appointment.slot_id:
                continue
            try:
                moved = reschedule_appointment(
                    appointment=appointment, new_slot_id=option.slot.pk, enforce_cutoff=False
                )
            except BookingError as error:
                last_problem = str(error.message)
                continue
            break
        if moved is None:
            outcomes.append(
                BulkOutcome(
                    appointment.pk,
                    "unchanged",
                    reason=last_problem or str(_("No free time in those days.")),
                )
            )
        else:
            outcomes.append(BulkOutcome(appointment.pk, "moved", new_slot_id=moved.slot_id))
    return outcomes


# The longest span of days a bulk move may look in.
MAX_MOVE_DAYS = 60


def change_in_bulk(
    *,
    user: User,
    appointment_ids: list[int],
    action: str,
    reason: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    centre_ids: list[int] | None = None,
) -> list[BulkOutcome]:
    """Move or cancel the appointments (`action` "move" or "cancel"), for the staff API and
    the staff page alike: every one must exist and be at a centre where `user` may cancel
    appointments; a cancellation needs the reason the patients are told, a move the days to
    look in (at most MAX_MOVE_DAYS, from today at the earliest)."""
    appointments = Appointment.objects.filter(pk__in=appointment_ids)
    found = dict(appointments.values_list("pk", "slot__centre_id"))
    missing = sorted(set(appointment_ids) - set(found))
    if missing:
        raise NotFound(
            _("We could not find appointments %(ids)s.") % {"ids": ", ".join(map(str, missing))}
        )
    for centre_id in set(found.values()):
        require_staff(user, StaffAction.CANCEL_APPOINTMENTS, centre_id)
    if action == "cancel":
        if not reason.strip():
            raise InvalidInput(_("Give the reason the patients will be told."), field="reason")
        return cancel_many(appointments=appointments, reason=reason.strip())
    if date_from is None or date_to is None:
        raise InvalidInput(_("Give the days to move the appointments to."), field="date_from")
    if date_to < date_from or (date_to - date_from).days > MAX_MOVE_DAYS:
        raise InvalidInput(
            _("Choose at most 60 days, ending on or after the first."), field="date_to"
        )
    return move_many(
        appointments=appointments,
        date_from=max(date_from, timezone.localdate()),
        date_to=date_to,
        centre_ids=centre_ids,
    )
