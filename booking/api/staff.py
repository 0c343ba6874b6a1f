"""Staff endpoints, each scoped to the centres where the signed-in user holds a role."""

from typing import Any, Literal

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router, Schema, Status

from booking.models import Appointment, Slot
from booking.schemas import (
    CancelIn,
    ClosureResultOut,
    CompleteIn,
    SlotPatchIn,
    StaffAppointmentOut,
    StaffSlotOut,
)
from booking.selectors import (
    appointment_for_staff,
    centre_appointments_on,
    centre_slots_between,
    slot_for_staff,
)
from booking.services.audit import queue_shown
from booking.services.bulk import change_in_bulk
from booking.services.schedules import (
    ClosureAdded,
    ScheduleChange,
    ScheduleFields,
    add_closure,
    create_schedule_template,
    end_schedule_template,
    remove_closure,
    update_schedule_template,
)
from booking.services.slots import SlotSyncResult, set_slot_capacity
from booking.services.staff_steps import STEPS, StaffStep, take_step
from clinics.dates import weekdays_code
from clinics.exceptions import Forbidden, InvalidInput, NotFound
from clinics.models import Closure, ScheduleTemplate, StaffMembership
from clinics.permissions import (
    StaffAction,
    centre_for_staff,
    is_city_admin,
    require_staff,
    signed_in_user,
)
from clinics.schemas import (
    CentreNumber,
    ClinicianOut,
    ClosureIn,
    ClosureOut,
    Day,
    ErrorOut,
    RowId,
    ScheduleIn,
    ScheduleOut,
    SlotChangesOut,
)
from clinics.selectors import centre_clinicians, service_by_code, upcoming_closures

router = Router(tags=["Staff"])

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
MAX_SLOT_LIST_DAYS = 14
ONE_APPOINTMENT = {200: StaffAppointmentOut, **ERRORS}


class ScheduleChangeOut(Schema):
    schedule: ScheduleOut
    slots: SlotChangesOut
    affected_appointment_ids: list[int]


def _schedule_change(change: ScheduleChange) -> ScheduleChangeOut:
    return ScheduleChangeOut.model_validate(
        {
            "schedule": change.template,
            "slots": change.slots,
            "affected_appointment_ids": change.slots.affected_appointment_ids,
        }
    )


def _schedule_fields(payload: ScheduleIn, *, is_active: bool = True) -> ScheduleFields:
    weekdays = weekdays_code(payload.weekdays)
    clinician = None
    if payload.clinician_id is not None:
        clinician = get_user_model().objects.filter(pk=payload.clinician_id).first()
        if clinician is None:
            raise InvalidInput(_("There is no staff member with that id."), field="clinician_id")
    return ScheduleFields(
        service=service_by_code(payload.service),
        clinician=clinician,
        weekdays=weekdays,
        start_time=payload.start_time,
        end_time=payload.end_time,
        slot_minutes=payload.slot_minutes,
        capacity=payload.capacity,
        valid_from=payload.valid_from,
        valid_until=payload.valid_until,
        is_active=is_active,
    )


def _closure_result(added: ClosureAdded) -> ClosureResultOut:
    return ClosureResultOut.model_validate(
        {"closure": added.closure, "affected_appointments": added.affected}
    )


# --- Weekly schedules ---------------------------------------------------------------------------


@router.get("/staff/centres/{int:number}/schedules", response={200: list[ScheduleOut], **ERRORS})
def list_schedules(request: HttpRequest, number: CentreNumber) -> list[ScheduleTemplate]:
    centre = centre_for_staff(request, number, StaffAction.MANAGE_SCHEDULE)
    return list(centre.schedule_templates.select_related("service"))


@router.get("/staff/centres/{int:number}/clinicians", response={200: list[ClinicianOut], **ERRORS})
def list_clinicians(request: HttpRequest, number: CentreNumber) -> list[StaffMembership]:
    """The clinicians and nurses of a centre, whose ids a weekly schedule's clinician_id takes."""
    centre = centre_for_staff(request, number, StaffAction.MANAGE_SCHEDULE)
    return list(centre_clinicians(centre))


@router.post("/staff/centres/{int:number}/schedules", response={201: ScheduleChangeOut, **ERRORS})
def create_schedule(
    request: HttpRequest, number: CentreNumber, payload: ScheduleIn
) -> Status[ScheduleChangeOut]:
    """Add a weekly schedule; its slots are generated over the booking horizon at once."""
    centre = centre_for_staff(request, number, StaffAction.MANAGE_SCHEDULE)
    change = create_schedule_template(centre=centre, fields=_schedule_fields(payload))
    return Status(201, _schedule_change(change))


def _template(request: HttpRequest, schedule_id: RowId) -> ScheduleTemplate:
    template = ScheduleTemplate.objects.select_related("centre").filter(pk=schedule_id).first()
    if template is None:
        raise NotFound(_("There is no weekly schedule with that id."))
    require_staff(signed_in_user(request), StaffAction.MANAGE_SCHEDULE, template.centre_id)
    return template


@router.put("/staff/schedules/{int:schedule_id}", response={200: ScheduleChangeOut, **ERRORS})
def update_schedule(
    request: HttpRequest, schedule_id: RowId, payload: ScheduleIn
) -> ScheduleChangeOut:
    """Change a weekly schedule. Booked places are kept: slots never shrink below bookings."""
    template = _template(request, schedule_id)
    fields = _schedule_fields(payload, is_active=template.is_active)  # ending is DELETE's job
    return _schedule_change(update_schedule_template(template=template, fields=fields))


@router.delete("/staff/schedules/{int:schedule_id}", response={200: ScheduleChangeOut, **ERRORS})
def end_schedule(request: HttpRequest, schedule_id: RowId) -> ScheduleChangeOut:
    """Stop a weekly schedule. Booked appointments stay and are listed for follow-up."""
    template = _template(request, schedule_id)
    return _schedule_change(end_schedule_template(template=template))


# --- Closures -----------------------------------------------------------------------------------


@router.get("/staff/centres/{int:number}/closures", response={200: list[ClosureOut], **ERRORS})
def list_closures(request: HttpRequest, number: CentreNumber) -> list[Closure]:
    """This centre's closures and the city-wide ones, from today on."""
    centre = centre_for_staff(request, number, StaffAction.VIEW_APPOINTMENTS)
    return list(upcoming_closures(centre))


@router.post("/staff/centres/{int:number}/closures", response={201: ClosureResultOut, **ERRORS})
def close_centre(
    request: HttpRequest, number: CentreNumber, payload: ClosureIn
) -> Status[ClosureResultOut]:
    """Close the centre for some days. Appointments already booked then are listed, not dropped."""
    centre = centre_for_staff(request, number, StaffAction.MANAGE_SCHEDULE)
    added = add_closure(centre=centre, created_by=signed_in_user(request), **payload.dict())
    return Status(201, _closure_result(added))


@router.post("/staff/closures", response={201: ClosureResultOut, **ERRORS})
def close_city(request: HttpRequest, payload: ClosureIn) -> Status[ClosureResultOut]:
    """Close every centre (city administrators only)."""
    if not is_city_admin(signed_in_user(request)):
        raise Forbidden()
    added = add_closure(centre=None, created_by=signed_in_user(request), **payload.dict())
    return Status(201, _closure_result(added))


@router.delete("/staff/closures/{int:closure_id}", response={200: SlotChangesOut, **ERRORS})
def lift_closure(request: HttpRequest, closure_id: RowId) -> SlotSyncResult:
    closure = Closure.objects.filter(pk=closure_id).first()
    if closure is None:
        raise NotFound(_("There is no closure with that id."))
    if closure.centre_id is None:
        if not is_city_admin(signed_in_user(request)):
            raise Forbidden()
    else:
        require_staff(signed_in_user(request), StaffAction.MANAGE_SCHEDULE, closure.centre_id)
    return remove_closure(closure=closure)


# --- Slots --------------------------------------------------------------------------------------


@router.get("/staff/centres/{int:number}/slots", response={200: list[StaffSlotOut], **ERRORS})
def list_slots(
    request: HttpRequest,
    number: CentreNumber,
    date_from: Day | None = None,
    date_to: Day | None = None,
) -> list[Slot]:
    """Slots with their capacity and bookings, for at most two weeks at a time."""
    centre = centre_for_staff(request, number, StaffAction.VIEW_APPOINTMENTS)
    first = date_from or timezone.localdate()
    last = date_to or first
    if last < first or (last - first).days >= MAX_SLOT_LIST_DAYS:
        raise InvalidInput(
            _("Choose a date range of at most 14 days, ending on or after its start."),
            field="date_to",
        )
    return list(centre_slots_between(centre.number, first, last))


@router.patch("/staff/slots/{int:slot_id}", response={200: StaffSlotOut, **ERRORS})
def change_slot(request: HttpRequest, slot_id: RowId, payload: SlotPatchIn) -> Slot:
    """Set one slot's capacity (0 stops new bookings). It never goes below what is booked."""
    slot = slot_for_staff(signed_in_user(request), slot_id, StaffAction.MANAGE_SCHEDULE)
    return set_slot_capacity(slot=slot, capacity=payload.capacity)


# --- The day's appointments ---------------------------------------------------------------------


@router.get(
    "/staff/centres/{int:number}/appointments", response={200: list[StaffAppointmentOut], **ERRORS}
)
def list_centre_appointments(
    request: HttpRequest, number: CentreNumber, day: Day | None = None
) -> list[Appointment]:
    """The centre's appointments on a day (default today, Bangkok time), in time order."""
    centre = centre_for_staff(request, number, StaffAction.VIEW_APPOINTMENTS)
    on = day or timezone.localdate()
    appointments = list(centre_appointments_on(centre.number, on))
    queue_shown(request, centre_id=centre.pk, day=on, appointments=appointments)
    return appointments


def _take(
    request: HttpRequest, appointment_id: RowId, step: StaffStep, **options: Any
) -> Appointment:
    """One step of booking.services.staff_steps on the appointment, answered with it."""
    user = signed_in_user(request)
    take_step(step, appointment=appointment_for_staff(user, appointment_id, step.needs), **options)
    return appointment_for_staff(user, appointment_id, step.needs)


@router.post(
    "/staff/appointments/{int:appointment_id}/check-in",
    response={200: StaffAppointmentOut, **ERRORS},
)
def check_in(request: HttpRequest, appointment_id: RowId) -> Appointment:
    return _take(request, appointment_id, STEPS["check-in"])


@router.post(
    "/staff/appointments/{int:appointment_id}/verify-identity",
    response={200: StaffAppointmentOut, **ERRORS},
)
def verify_identity(request: HttpRequest, appointment_id: RowId) -> Appointment:
    """Record that the desk saw the patient's ID card: their record is then verified, and an
    unverified claim to the same ID elsewhere never takes it. Audited."""
    return _take(request, appointment_id, STEPS["verify-id"])


@router.post("/staff/appointments/{int:appointment_id}/start", response=ONE_APPOINTMENT)
def start(request: HttpRequest, appointment_id: RowId) -> Appointment:
    return _take(request, appointment_id, STEPS["start"])


@router.post(
    "/staff/appointments/{int:appointment_id}/complete",
    response={200: StaffAppointmentOut, **ERRORS},
)
def complete(
    request: HttpRequest, appointment_id: RowId, payload: CompleteIn | None = None
) -> Appointment:
    """Record that the visit took place. For a vaccine, give `lot_id` (the lot on the vial);
    by default the dose comes from the usable lot that expires first."""
    lot_id = payload.lot_id if payload is not None else None
    return _take(request, appointment_id, STEPS["complete"], lot_id=lot_id)


@router.post(
    "/staff/appointments/{int:appointment_id}/no-show",
    response={200: StaffAppointmentOut, **ERRORS},
)
def no_show(request: HttpRequest, appointment_id: RowId) -> Appointment:
    return _take(request, appointment_id, STEPS["no-show"])


@router.post(
    "/staff/appointments/{int:appointment_id}/undo-check-in",
    response={200: StaffAppointmentOut, **ERRORS},
)
def undo_check_in(request: HttpRequest, appointment_id: RowId) -> Appointment:
    """Take back a check-in made by mistake, on the appointment's day: expected again."""
    return _take(request, appointment_id, STEPS["undo-check-in"])


@router.post(
    "/staff/appointments/{int:appointment_id}/undo-no-show",
    response={200: StaffAppointmentOut, **ERRORS},
)
def undo_no_show(request: HttpRequest, appointment_id: RowId) -> Appointment:
    """Take back a "did not come" made by mistake, on the appointment's day: expected again
    (the later doses of a vaccine course it gave up stay given up)."""
    return _take(request, appointment_id, STEPS["undo-no-show"])


@router.post("/staff/appointments/{int:appointment_id}/cancel", response=ONE_APPOINTMENT)
def cancel(request: HttpRequest, appointment_id: RowId, payload: CancelIn) -> Appointment:
    """Cancel on the patient's behalf (e.g. after a closure); no online cut-off applies."""
    return _take(
        request, appointment_id, STEPS["cancel"], reason=payload.reason, enforce_cutoff=False
    )


# --- Many at once (supply failures) -------------------------------------------------------------


class BulkIn(Schema):
    appointment_ids: list[RowId] = Field(min_length=1, max_length=2000)
    action: Literal["cancel", "move"]
    reason: str = Field("", max_length=200, description="For cancelling: told to the patient.")
    date_from: Day | None = Field(None, description="For moving: the first day to move to.")
    date_to: Day | None = Field(None, description="For moving: the last day to move to.")
    centres: list[CentreNumber] | None = Field(
        None, description="For moving: only these centres; default the nearest to each."
    )


class BulkOutcomeOut(Schema):
    appointment_id: int
    result: Literal["moved", "cancelled", "unchanged"]
    new_slot_id: int | None
    reason: str


class BulkOut(Schema):
    moved: int
    cancelled: int
    unchanged: int
    outcomes: list[BulkOutcomeOut]


@router.post("/staff/appointments/bulk", response={200: BulkOut, **ERRORS})
def bulk_change(request: HttpRequest, payload: BulkIn) -> BulkOut:
    """Move or cancel many appointments when supply fails (a lot withdrawn, a closure, a drive
    called off). Each patient is told by text. One that cannot be moved keeps its place and is
    listed as `unchanged` with the reason; the rest go ahead."""
    outcomes = change_in_bulk(
        user=signed_in_user(request),
        appointment_ids=payload.appointment_ids,
        action=payload.action,
        reason=payload.reason,
        date_from=payload.date_from,
        date_to=payload.date_to,
        centre_ids=payload.centres,
    )
    return BulkOut.model_validate(
        {
            "moved": sum(outcome.result == "moved" for outcome in outcomes),
            "cancelled": sum(outcome.result == "cancelled" for outcome in outcomes),
            "unchanged": sum(outcome.result == "unchanged" for outcome in outcomes),
            "outcomes": outcomes,
        }
    )
