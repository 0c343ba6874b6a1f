"""Staff endpoints for walk-ins: a centre's walk-ins on a day, adding one to today's queue, and
the steps staff take with them (booking.services.walk_ins), scoped as the other staff routes
to the centres where the signed-in user holds a role."""

from datetime import date
from typing import Annotated

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router, Schema, Status

from booking.models import Patient, WalkIn
from booking.schemas import StaffPatientOut
from booking.selectors import centre_walk_ins_on, walk_in_for_staff
from booking.services.audit import queue_shown
from booking.services.walk_ins import WALK_IN_STEPS, WalkInStep, add_walk_in
from clinics.exceptions import NotFound
from clinics.permissions import StaffAction, centre_for_staff, signed_in_user
from clinics.schemas import BangkokDateTime, CentreNumber, Day, ErrorOut, RowId, choices_schema
from clinics.selectors import service_by_code

router = Router(tags=["Staff"])

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}

WalkInStatus = Annotated[WalkIn.Status, choices_schema("WalkInStatus", list(WalkIn.Status.values))]


class WalkInIn(Schema):
    patient_id: RowId = Field(description="The person, found first (by ID or phone).")
    service: str = Field(
        min_length=1, max_length=50, examples=["general-checkup"], description="A service code."
    )


class WalkInOut(Schema):
    id: int
    centre: int
    day: date = Field(description="The Bangkok day of the queue.")
    number: int = Field(description="The queue number, from 1 each day at each centre.")
    label: str = Field(description="The queue number as shown and printed, e.g. A-017.")
    status: WalkInStatus
    patient: StaffPatientOut
    service: str
    arrived_at: BangkokDateTime
    started_at: BangkokDateTime | None
    finished_at: BangkokDateTime | None

    @staticmethod
    def resolve_centre(walk_in: WalkIn) -> int:
        return walk_in.centre_id

    @staticmethod
    def resolve_service(walk_in: WalkIn) -> str:
        return walk_in.service.code


ONE_WALK_IN = {200: WalkInOut, **ERRORS}


@router.get("/staff/centres/{int:number}/walk-ins", response={200: list[WalkInOut], **ERRORS})
def list_walk_ins(
    request: HttpRequest, number: CentreNumber, day: Day | None = None
) -> list[WalkIn]:
    """The centre's walk-ins on a day (default today, Bangkok time), by queue number."""
    centre = centre_for_staff(request, number, StaffAction.VIEW_APPOINTMENTS)
    on = day or timezone.localdate()
    walk_ins = list(centre_walk_ins_on(centre.number, on))
    queue_shown(request, centre_id=centre.number, day=on, appointments=[], walk_ins=walk_ins)
    return walk_ins


@router.post("/staff/centres/{int:number}/walk-ins", response={201: WalkInOut, **ERRORS})
def create_walk_in(request: HttpRequest, number: CentreNumber, payload: WalkInIn) -> Status[WalkIn]:
    """Add a person who just arrived to today's queue with the next queue number. Refused
    (409 `already_in_queue`) for someone checked in for an appointment there today or already
    waiting as a walk-in; 422 for a service the centre does not give in person."""
    centre = centre_for_staff(request, number, StaffAction.RECEIVE_PATIENTS)
    patient = Patient.objects.filter(pk=payload.patient_id).first()
    if patient is None:
        raise NotFound(_("There is no person with that id."), field="patient_id")
    walk_in = add_walk_in(
        centre_id=centre.number,
        patient=patient,
        service=service_by_code(payload.service),
        by=signed_in_user(request),
    )
    return Status(201, walk_in_for_staff(request.user, walk_in.pk, StaffAction.RECEIVE_PATIENTS))


def _take(request: HttpRequest, walk_in_id: RowId, step: WalkInStep) -> WalkIn:
    user = signed_in_user(request)
    step.take(walk_in=walk_in_for_staff(user, walk_in_id, step.needs))
    return walk_in_for_staff(user, walk_in_id, step.needs)


@router.post("/staff/walk-ins/{int:walk_in_id}/start", response=ONE_WALK_IN)
def start(request: HttpRequest, walk_in_id: RowId) -> WalkIn:
    """The walk-in is being seen."""
    return _take(request, walk_in_id, WALK_IN_STEPS["start"])


@router.post("/staff/walk-ins/{int:walk_in_id}/complete", response=ONE_WALK_IN)
def complete(request: HttpRequest, walk_in_id: RowId) -> WalkIn:
    """The walk-in has been seen."""
    return _take(request, walk_in_id, WALK_IN_STEPS["complete"])


@router.post("/staff/walk-ins/{int:walk_in_id}/left", response=ONE_WALK_IN)
def left(request: HttpRequest, walk_in_id: RowId) -> WalkIn:
    """The walk-in left without being seen."""
    return _take(request, walk_in_id, WALK_IN_STEPS["left"])


@router.post("/staff/walk-ins/{int:walk_in_id}/undo-start", response=ONE_WALK_IN)
def undo_start(request: HttpRequest, walk_in_id: RowId) -> WalkIn:
    """Take back a start made by mistake, on the walk-in's day: waiting again."""
    return _take(request, walk_in_id, WALK_IN_STEPS["undo-start"])


@router.post("/staff/walk-ins/{int:walk_in_id}/undo-left", response=ONE_WALK_IN)
def undo_left(request: HttpRequest, walk_in_id: RowId) -> WalkIn:
    """Take back a "left" made by mistake, on the walk-in's day: waiting again, same number."""
    return _take(request, walk_in_id, WALK_IN_STEPS["undo-left"])
