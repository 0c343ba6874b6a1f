"""The steps staff take on an appointment, in one table: which status each may follow, which
StaffAction it needs, which service it calls and what the desk is told. The queue page
(booking/views/staff/today.py), the staff API (booking/api/staff.py) and the admin's actions
(booking/admin/appointments.py) all take their steps from here.

The services still decide: a step shown is one the service would take, and a step asked for
out of turn is refused by the service (InvalidStatusChange) whoever asks."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from booking.models import Appointment
from booking.services import appointments as visits
from booking.services.identity import verify_identity_at_desk
from clinics.permissions import StaffAction

Status = Appointment.Status


def _verify_identity(*, appointment: Appointment) -> Appointment:
    verify_identity_at_desk(patient=appointment.patient, centre_id=appointment.slot.centre_id)
    return appointment


@dataclass(frozen=True)
class StaffStep:
    name: str  # as it appears in the staff API's and the queue page's addresses
    needs: StaffAction
    take: Callable[..., Appointment]  # the service: take(appointment=..., **options)
    done: Promise | None  # what the queue tells the desk, with %(name)s the first name
    button: Promise | None  # the queue page's button (None: not on the queue)
    admin_label: Promise | None  # the admin's action (None: not in the admin)
    # The statuses it may follow (the service checks again).
    after: tuple[str, ...] = ()
    # Only once the appointment's time has come (a no-show).
    once_started: bool = False
    # Only while the patient's identity is not yet verified.
    unverified_only: bool = False
    # Only on the appointment's own day (taking a step back).
    on_the_day_only: bool = False
    admin_options: dict[str, Any] = field(default_factory=dict)

    def applies_to(self, appointment: Appointment, *, now: datetime) -> bool:
        """Whether the queue offers the step for the appointment now (leaving aside who asks)."""
        if appointment.status not in self.after:
            return False
        if self.once_started and appointment.slot.start > now:
            return False
        if self.on_the_day_only and timezone.localdate(appointment.slot.start) != (
            timezone.localdate(now)
        ):
            return False
        return not (self.unverified_only and appointment.patient.identity_verified)


# Whatever is still to happen at the desk (the statuses a video room stays open for too).
STILL_TO_COME = Appointment.UPCOMING

STEPS: dict[str, StaffStep] = {
    step.name: step
    for step in (
        StaffStep(
            name="check-in",
            needs=StaffAction.RECEIVE_PATIENTS,
            take=visits.check_in,
            done=_("%(name)s is checked in."),
            button=_("Check in"),
            admin_label=_("Check in"),
            # Someone marked as not come who turns up after all is checked in too.
            after=(Status.BOOKED, Status.NO_SHOW),
        ),
        StaffStep(
            name="start",
            needs=StaffAction.CONSULT,
            take=visits.start_consultation,
            done=_("%(name)s's visit has started."),
            button=_("Start"),
            admin_label=_("Start consultation"),
            after=(Status.BOOKED, Status.CHECKED_IN),
        ),
        StaffStep(
            name="complete",
            needs=StaffAction.CONSULT,
            take=visits.complete_appointment,
            done=_("%(name)s's visit is complete."),
            button=_("Complete"),
            admin_label=_("Complete"),
            after=(Status.CHECKED_IN, Status.IN_CONSULTATION),
        ),
        StaffStep(
            name="no-show",
            needs=StaffAction.RECEIVE_PATIENTS,
            take=visits.mark_no_show,
            done=_("%(name)s is marked as not attending."),
            button=_("Did not come"),
            admin_label=_("Mark did not attend"),
            after=(Status.BOOKED,),
            once_started=True,
        ),
        # A check-in or a "did not come" made by mistake is taken back on the day.
        StaffStep(
            name="undo-check-in",
            needs=StaffAction.RECEIVE_PATIENTS,
            take=visits.undo_check_in,
            done=_("%(name)s's check-in is taken back: expected again."),
            button=_("Undo check-in"),
            admin_label=_("Undo check-in"),
            after=(Status.CHECKED_IN,),
            on_the_day_only=True,
        ),
        StaffStep(
            name="undo-no-show",
            needs=StaffAction.RECEIVE_PATIENTS,
            take=visits.undo_no_show,
            done=_("%(name)s is expected again."),
            button=_("Undo 'did not come'"),
            admin_label=_("Undo 'did not come'"),
            after=(Status.NO_SHOW,),
            on_the_day_only=True,
        ),
        # Whoever receives patients at the desk sees their ID card.
        StaffStep(
            name="verify-id",
            needs=StaffAction.RECEIVE_PATIENTS,
            take=_verify_identity,
            done=_("%(name)s's ID is marked as checked against the card."),
            button=_("ID card checked"),
            admin_label=None,
            after=STILL_TO_COME,
            unverified_only=True,
        ),
        StaffStep(
            name="cancel",
            needs=StaffAction.CANCEL_APPOINTMENTS,
            take=visits.cancel_appointment,
            done=None,
            button=None,
            admin_label=_("Cancel (no online cut-off)"),
            after=(Status.BOOKED, Status.CHECKED_IN),
            admin_options={"enforce_cutoff": False, "reason": "Cancelled by staff"},
        ),
    )
}
# The queue page's buttons, in the order it shows them.
QUEUE_STEPS = tuple(step for step in STEPS.values() if step.button is not None)


def queue_steps(
    appointment: Appointment, *, now: datetime, may: Callable[[StaffAction], bool]
) -> list[StaffStep]:
    """The steps the queue offers for the appointment now to someone who `may` take them."""
    return [
        step for step in QUEUE_STEPS if may(step.needs) and step.applies_to(appointment, now=now)
    ]


def take_step(step: StaffStep, *, appointment: Appointment, **options: Any) -> Appointment:
    """Take the step through its service (which refuses it out of turn)."""
    return step.take(appointment=appointment, **options)
