"""Walk-ins: adding a person who just arrived to today's queue with a queue number, and the
steps staff take with them (being seen, seen, left without being seen, and taking a mistaken
step back on the day), each audited and told to the centre's live queue.

The steps are one table, as the appointments' are (booking/services/staff_steps.py): which
status each may follow, which StaffAction it needs and what the desk is told. The queue page
and the staff API take their steps from here; the services still refuse a step out of turn."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from booking.exceptions import AlreadyInQueue, InvalidWalkInStep
from booking.models import Appointment, Patient, WalkIn, WalkInCounter
from booking.selectors import day_bounds
from booking.services.places import lock_patient
from booking.services.queue_events import announce_walk_in_change
from clinics import audit
from clinics.exceptions import InvalidInput, NotFound, ServiceNotOffered
from clinics.models import HealthCentre, Service, VisitMode
from clinics.permissions import StaffAction

Status = WalkIn.Status


@transaction.atomic
def add_walk_in(*, centre_id: int, patient: Patient, service: Service, by: User) -> WalkIn:
    """Add a person who just arrived to today's queue at the centre, with the next number.

    Refused for someone already checked in for an appointment there today, or already in
    today's queue as a walk-in. Locks the patient's row (two desks adding the same person
    take turns), then the centre's counter row for the day until the walk-in commits (the
    numbers are handed out one at a time)."""
    centre = HealthCentre.objects.filter(number=centre_id, is_active=True).first()
    if centre is None:
        raise NotFound(_("There is no health centre with that number."))
    if not service.is_active or not centre.services.filter(pk=service.pk).exists():
        raise ServiceNotOffered(field="service")
    if service.visit_mode == VisitMode.VIDEO:
        raise InvalidInput(
            _("A walk-in is seen at the centre: choose a service given in person."),
            field="service",
        )
    lock_patient(patient.pk)
    now = timezone.now()
    today = timezone.localdate(now)
    _refuse_if_here_already(centre_id=centre.number, patient=patient, today=today)
    walk_in = WalkIn.objects.create(
        centre=centre,
        day=today,
        number=_next_number(centre_id=centre.number, day=today),
        patient=patient,
        service=service,
        status=Status.WAITING,
        arrived_at=now,
        added_by=by,
    )
    _audit(walk_in, "added", arrived_at=now.isoformat(timespec="seconds"))
    announce_walk_in_change(centre_id=centre.number, walk_in_id=walk_in.pk, change="added")
    return walk_in


def _refuse_if_here_already(*, centre_id: int, patient: Patient, today: date) -> None:
    start, end = day_bounds(today)
    checked_in = (
        Appointment.objects.filter(
            patient=patient,
            slot__centre_id=centre_id,
            slot__start__gte=start,
            slot__start__lt=end,
            status__in=(Appointment.Status.CHECKED_IN, Appointment.Status.IN_CONSULTATION),
        )
        .select_related("slot")
        .first()
    )
    if checked_in is not None:
        raise AlreadyInQueue(
            _(
                "%(name)s is already checked in for their %(time)s appointment today: they "
                "are in the queue already."
            )
            % {
                "name": patient.first_name,
                "time": f"{timezone.localtime(checked_in.slot.start):%H:%M}",
            }
        )
    queued = WalkIn.objects.filter(
        centre_id=centre_id, day=today, patient=patient, status__in=WalkIn.IN_QUEUE
    ).first()
    if queued is not None:
        raise AlreadyInQueue(
            _("%(name)s is already in today's queue as %(label)s.")
            % {"name": patient.first_name, "label": queued.label}
        )


def _next_number(*, centre_id: int, day: date) -> int:
    """The day's next queue number at the centre. The conditional update holds the counter's
    row to the end of the transaction, so a second desk's update waits and counts on."""
    WalkInCounter.objects.bulk_create(
        [WalkInCounter(centre_id=centre_id, day=day, last_number=0)], ignore_conflicts=True
    )
    counter = WalkInCounter.objects.filter(centre_id=centre_id, day=day)
    counter.update(last_number=F("last_number") + 1)
    return int(counter.values_list("last_number", flat=True).get())


def _lock(walk_in: WalkIn) -> WalkIn:
    return (
        WalkIn.objects.select_for_update(of=("self",))
        .select_related("patient", "service", "centre")
        .get(pk=walk_in.pk)
    )


def _audit(walk_in: WalkIn, action: str, **details: Any) -> None:
    audit.record(
        f"walk_in.{action}",
        walk_in,
        centre_id=walk_in.centre_id,
        patients=[walk_in.patient_id],
        details={
            "status": walk_in.status,
            "number": walk_in.number,
            "day": walk_in.day.isoformat(),
            "service": walk_in.service_id,
            **details,
        },
    )


def _move(
    walk_in: WalkIn, *, to: str, allowed: tuple[str, ...], on_the_day: StrOrPromise | None = None
) -> WalkIn:
    walk_in = _lock(walk_in)
    if walk_in.status not in allowed:
        raise InvalidWalkInStep(status=walk_in.status)
    if on_the_day is not None and walk_in.day != timezone.localdate():
        raise InvalidWalkInStep(on_the_day, status=walk_in.status)
    now = timezone.now()
    stamps_for: dict[str, dict[str, datetime | None]] = {
        Status.IN_CONSULTATION: {"started_at": walk_in.started_at or now, "finished_at": None},
        Status.COMPLETED: {"started_at": walk_in.started_at or now, "finished_at": now},
        Status.LEFT: {"started_at": None, "finished_at": now},
        Status.WAITING: {"started_at": None, "finished_at": None},
    }
    stamps = stamps_for[to]
    previous = walk_in.status
    walk_in.status = to
    for name, value in stamps.items():
        setattr(walk_in, name, value)
    walk_in.save(update_fields=["status", "updated_at", *stamps])
    _audit(walk_in, to, previous=previous)
    announce_walk_in_change(centre_id=walk_in.centre_id, walk_in_id=walk_in.pk, change=to)
    return walk_in


@transaction.atomic
def start_walk_in(*, walk_in: WalkIn) -> WalkIn:
    """Record that the walk-in is being seen. Locks the walk-in's row."""
    return _move(walk_in, to=Status.IN_CONSULTATION, allowed=(Status.WAITING,))


@transaction.atomic
def complete_walk_in(*, walk_in: WalkIn) -> WalkIn:
    """Record that the walk-in was seen (from waiting too, as an appointment may go from
    checked in to completed). Locks the walk-in's row."""
    return _move(walk_in, to=Status.COMPLETED, allowed=(Status.WAITING, Status.IN_CONSULTATION))


@transaction.atomic
def mark_walk_in_left(*, walk_in: WalkIn) -> WalkIn:
    """Record that the walk-in left before being seen. Locks the walk-in's row."""
    return _move(walk_in, to=Status.LEFT, allowed=(Status.WAITING,))


@transaction.atomic
def undo_walk_in_start(*, walk_in: WalkIn) -> WalkIn:
    """Take back a "being seen" recorded by mistake: waiting again, keeping the number. Only
    on the walk-in's day. Locks the walk-in's row."""
    return _move(
        walk_in,
        to=Status.WAITING,
        allowed=(Status.IN_CONSULTATION,),
        on_the_day=_("A step can be taken back only on the walk-in's day."),
    )


@transaction.atomic
def undo_walk_in_left(*, walk_in: WalkIn) -> WalkIn:
    """Take back a "left without being seen" recorded by mistake: waiting again with the same
    number. Only on the walk-in's day, and not once the person is back in the queue under a
    new number. Locks the patient's row, then the walk-in's."""
    lock_patient(walk_in.patient_id)
    queued = (
        WalkIn.objects.filter(
            centre_id=walk_in.centre_id,
            day=walk_in.day,
            patient_id=walk_in.patient_id,
            status__in=WalkIn.IN_QUEUE,
        )
        .exclude(pk=walk_in.pk)
        .first()
    )
    if queued is not None:
        raise AlreadyInQueue(
            _("This person is back in today's queue as %(label)s already.")
            % {"label": queued.label}
        )
    return _move(
        walk_in,
        to=Status.WAITING,
        allowed=(Status.LEFT,),
        on_the_day=_("A step can be taken back only on the walk-in's day."),
    )


# --- The steps, in one table ---------------------------------------------------------------------


@dataclass(frozen=True)
class WalkInStep:
    name: str  # as it appears in the staff API's and the queue page's addresses
    needs: StaffAction
    take: Callable[..., WalkIn]  # the service: take(walk_in=...)
    done: Promise  # what the queue tells the desk, with %(label)s the queue number
    button: Promise
    after: tuple[str, ...]
    on_the_day_only: bool = False

    def applies_to(self, walk_in: WalkIn, *, today: date) -> bool:
        """Whether the queue offers the step for the walk-in now (leaving aside who asks)."""
        if walk_in.status not in self.after:
            return False
        return not (self.on_the_day_only and walk_in.day != today)


WALK_IN_STEPS: dict[str, WalkInStep] = {
    step.name: step
    for step in (
        WalkInStep(
            name="start",
            needs=StaffAction.CONSULT,
            take=start_walk_in,
            done=_("%(label)s is being seen."),
            button=_("Start"),
            after=(Status.WAITING,),
        ),
        WalkInStep(
            name="complete",
            needs=StaffAction.CONSULT,
            take=complete_walk_in,
            done=_("%(label)s has been seen."),
            button=_("Complete"),
            after=(Status.WAITING, Status.IN_CONSULTATION),
        ),
        WalkInStep(
            name="left",
            needs=StaffAction.RECEIVE_PATIENTS,
            take=mark_walk_in_left,
            done=_("%(label)s left without being seen."),
            button=_("Left without being seen"),
            after=(Status.WAITING,),
        ),
        WalkInStep(
            name="undo-start",
            needs=StaffAction.CONSULT,
            take=undo_walk_in_start,
            done=_("%(label)s is waiting again."),
            button=_("Undo start"),
            after=(Status.IN_CONSULTATION,),
            on_the_day_only=True,
        ),
        WalkInStep(
            name="undo-left",
            needs=StaffAction.RECEIVE_PATIENTS,
            take=undo_walk_in_left,
            done=_("%(label)s is waiting again."),
            button=_("Undo 'left'"),
            after=(Status.LEFT,),
            on_the_day_only=True,
        ),
    )
}


def walk_in_steps(
    walk_in: WalkIn, *, today: date, may: Callable[[StaffAction], bool]
) -> list[WalkInStep]:
    """The steps the queue offers for the walk-in now to someone who `may` take them."""
    return [
        step
        for step in WALK_IN_STEPS.values()
        if may(step.needs) and step.applies_to(walk_in, today=today)
    ]
