"""Moving or cancelling many appointments at once, when supply fails: a lot withdrawn, a
centre closed for a day, a drive called off. Each appointment is its own transaction, so one
that cannot be moved is reported and left as it was, and the others go ahead. Every patient
moved or cancelled is told through the outbox, by the same services as a single change."""

from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from booking.exceptions import BookingError
from booking.models import Appointment
from booking.selectors import SlotOrder, SlotSearch, best_open_slots
from booking.services.appointments import cancel_appointment, reschedule_appointment
from clinics.exceptions import DomainError


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
