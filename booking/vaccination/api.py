"""Vaccination drives, vaccine stock and a patient's vaccination courses."""

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Router, Status

from booking.models import Appointment, VaccinationDrive, VaccinationSeries, VaccineLot
from booking.selectors import patient_of, vaccination_courses_of
from booking.vaccination.drives import (
    cancel_drive,
    create_drive,
    drive_fields,
    plan_drive,
    release_drive,
    update_drive,
)
from booking.vaccination.eligibility import ineligibilities
from booking.vaccination.schemas import (
    CentrePlanOut,
    DoseDueOut,
    DoseOut,
    DriveCancelledOut,
    DriveIn,
    DriveOut,
    DrivePreviewOut,
    DriveReleasedOut,
    EligibilityOut,
    LotIn,
    LotOut,
    LotWithdrawnOut,
    PlannedDayOut,
    ReleaseIn,
    StockOut,
    VaccinationCourseOut,
    WithdrawIn,
)
from booking.vaccination.selectors import drive_for_staff, drives_for_staff, drives_with_details
from booking.vaccination.series import next_dose_due
from booking.vaccination.stock import (
    StockRow,
    lot_for_staff,
    receive_lot,
    stock_row,
    stock_rows,
    withdraw_lot,
)
from clinics.exceptions import Forbidden, InvalidInput, NotFound
from clinics.permissions import StaffAction, centres_where, require_staff, signed_in_user
from clinics.permissions import centre_for_staff as _centre
from clinics.schemas import CentreBrief, CentreNumber, Day, ErrorOut, RowId, ServiceBrief
from clinics.selectors import service_by_code

router = Router(tags=["Vaccination drives"])

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


# --- Public --------------------------------------------------------------------------------------


@router.get("/drives", response=list[DriveOut], auth=None)
def list_drives(request: HttpRequest) -> list[VaccinationDrive]:
    """Drives open for booking or announced, that have not ended, soonest first."""
    return list(
        drives_with_details()
        .filter(status=VaccinationDrive.Status.SCHEDULED, last_day__gte=timezone.localdate())
        .order_by("release_at", "pk")
    )


def _public_drive(drive_id: int) -> VaccinationDrive:
    drive = (
        drives_with_details().filter(pk=drive_id, status=VaccinationDrive.Status.SCHEDULED).first()
    )
    if drive is None:
        raise NotFound(_("There is no vaccination drive with that id."))
    return drive


@router.get("/drives/{int:drive_id}", response={200: DriveOut, 404: ErrorOut}, auth=None)
def get_drive(request: HttpRequest, drive_id: RowId) -> VaccinationDrive:
    return _public_drive(drive_id)


@router.get("/drives/{int:drive_id}/eligibility", response={200: EligibilityOut, **ERRORS})
def check_drive_eligibility(
    request: HttpRequest, drive_id: RowId, patient_id: RowId, day: Day | None = None
) -> EligibilityOut:
    """Whether one of your patients may book the drive, and every reason if not.

    Age counts on the vaccination day: `day`, or by default the drive's first day still to come.
    """
    drive = _public_drive(drive_id)
    patient = patient_of(signed_in_user(request), patient_id)
    on = day or max(drive.first_day, timezone.localdate())
    if not drive.first_day <= on <= drive.last_day:
        raise InvalidInput(_("Choose a day on which the drive runs."), field="day")
    problems = ineligibilities(
        drive, patient, on, district_codes={d.code for d in drive.districts.all()}
    )
    return EligibilityOut.model_validate({"eligible": not problems, "day": on, "reasons": problems})


# --- A patient's courses -------------------------------------------------------------------------


def _dose(dose: Appointment) -> DoseOut:
    # The a_dose_belongs_to_a_course constraint gives every appointment of a course its number.
    assert dose.dose_number is not None
    return DoseOut(
        number=dose.dose_number,
        appointment_id=dose.pk,
        status=dose.status,
        start=dose.slot.start,
        centre=CentreBrief.from_orm(dose.slot.centre),
        given_at=dose.completed_at,
        lot_number=dose.lot.lot_number if dose.lot else None,
    )


@router.get(
    "/me/vaccinations", response=list[VaccinationCourseOut], tags=["My patients and appointments"]
)
def list_my_vaccinations(
    request: HttpRequest, patient_id: RowId | None = None
) -> list[VaccinationCourseOut]:
    """Vaccination courses of everyone on the account: doses booked and given, lots, and the
    next dose due when it is not booked yet."""
    courses = vaccination_courses_of(signed_in_user(request))
    if patient_id is not None:
        courses = courses.filter(patient_id=patient_id)
    result = []
    for course in courses:
        doses = list(course.appointments.all())
        due = next_dose_due(course, doses)
        result.append(
            VaccinationCourseOut(
                id=course.pk,
                patient_id=course.patient_id,
                vaccine=ServiceBrief.from_orm(course.service),
                status=VaccinationSeries.Status(course.status),
                doses_in_series=course.doses_in_series,
                doses=[_dose(dose) for dose in doses],
                next_dose_due=DoseDueOut.from_orm(due) if due is not None else None,
            )
        )
    return result


# --- Staff: drives -------------------------------------------------------------------------------


def _staff_drive(request: HttpRequest, drive_id: int) -> VaccinationDrive:
    return drive_for_staff(signed_in_user(request), drive_id)


def _reloaded(drive: VaccinationDrive) -> VaccinationDrive:
    return drives_with_details().get(pk=drive.pk)


@router.get("/staff/drives", response={200: list[DriveOut], **ERRORS})
def list_staff_drives(request: HttpRequest) -> list[VaccinationDrive]:
    """Drives at any centre where you manage schedules, newest first."""
    user = signed_in_user(request)
    if centres_where(user, StaffAction.MANAGE_SCHEDULE) == set():
        raise Forbidden(_("Only staff who manage a centre's schedules can see its drives."))
    return list(drives_for_staff(user))


@router.post("/staff/drives", response={201: DriveOut, **ERRORS})
def create_staff_drive(request: HttpRequest, payload: DriveIn) -> Status[VaccinationDrive]:
    """Create a drive as a draft. Preview it, then release it."""
    user = signed_in_user(request)
    drive = create_drive(fields=drive_fields(user, payload), created_by=user)
    return Status(201, _reloaded(drive))


@router.get("/staff/drives/{int:drive_id}", response={200: DriveOut, **ERRORS})
def get_staff_drive(request: HttpRequest, drive_id: RowId) -> VaccinationDrive:
    return _staff_drive(request, drive_id)


@router.put("/staff/drives/{int:drive_id}", response={200: DriveOut, **ERRORS})
def update_staff_drive(request: HttpRequest, drive_id: RowId, payload: DriveIn) -> VaccinationDrive:
    """Change a draft drive (409 `drive_not_draft` once released)."""
    drive = _staff_drive(request, drive_id)
    update_drive(drive=drive, fields=drive_fields(signed_in_user(request), payload))
    return _reloaded(drive)


@router.get("/staff/drives/{int:drive_id}/preview", response={200: DrivePreviewOut, **ERRORS})
def preview_drive(request: HttpRequest, drive_id: RowId) -> DrivePreviewOut:
    """What releasing the drive would open, per centre and day, next to each centre's stock."""
    drive = _staff_drive(request, drive_id)
    plan = plan_drive(drive)
    return DrivePreviewOut(
        slots=plan.slots,
        places=plan.places,
        can_release=plan.slots > 0 and not any(centre.shortfall for centre in plan.centres),
        centres=[
            CentrePlanOut(
                centre=centre.centre.number,
                slots=centre.slots,
                places=centre.places,
                doses_left_to_open=centre.stock.left_to_open,
                shortfall=centre.shortfall,
                days=[PlannedDayOut(**vars(day)) for day in centre.days],
            )
            for centre in plan.centres
        ],
    )


@router.post("/staff/drives/{int:drive_id}/release", response={200: DriveReleasedOut, **ERRORS})
def release_staff_drive(
    request: HttpRequest, drive_id: RowId, payload: ReleaseIn
) -> DriveReleasedOut:
    """Make the drive's slots, in bulk, opening at its release time (or `at`, or now).

    409 `insufficient_stock` lists the centres short of doses; nothing is written then.
    """
    drive = _staff_drive(request, drive_id)
    released = release_drive(drive=drive, at=payload.at)
    return DriveReleasedOut.model_validate(
        {
            "drive": _reloaded(drive),
            "slots_created": released.slots_created,
            "places": released.places,
        }
    )


@router.post("/staff/drives/{int:drive_id}/cancel", response={200: DriveCancelledOut, **ERRORS})
def cancel_staff_drive(request: HttpRequest, drive_id: RowId) -> DriveCancelledOut:
    """Call the drive off. Booked appointments are kept and listed for moving or cancelling."""
    drive = _staff_drive(request, drive_id)
    cancelled = cancel_drive(drive=drive)
    return DriveCancelledOut.model_validate(
        {
            "drive": _reloaded(drive),
            "slots_removed": cancelled.slots_removed,
            "affected_appointments": cancelled.affected,
        }
    )


# --- Staff: stock --------------------------------------------------------------------------------


@router.get(
    "/staff/centres/{int:number}/stock",
    response={200: list[StockOut], **ERRORS},
    tags=["Vaccine stock"],
)
def list_stock(request: HttpRequest, number: CentreNumber) -> list[StockRow]:
    """Each vaccine at the centre: doses held, promised, reserved for courses, and left to
    open, with its lots."""
    centre = _centre(request, number, StaffAction.VIEW_APPOINTMENTS)
    return stock_rows(centre)


@router.post(
    "/staff/centres/{int:number}/stock", response={201: LotOut, **ERRORS}, tags=["Vaccine stock"]
)
def receive_stock(request: HttpRequest, number: CentreNumber, payload: LotIn) -> Status[VaccineLot]:
    """Record a delivery. The same lot number again adds doses to it."""
    centre = _centre(request, number, StaffAction.MANAGE_STOCK)
    lot = receive_lot(
        centre=centre,
        service=service_by_code(payload.service),
        lot_number=payload.lot_number.strip(),
        expires_on=payload.expires_on,
        doses=payload.doses,
        received_by=signed_in_user(request),
    )
    return Status(201, lot)


@router.post(
    "/staff/lots/{int:lot_id}/withdraw",
    response={200: LotWithdrawnOut, **ERRORS},
    tags=["Vaccine stock"],
)
def withdraw_stock(request: HttpRequest, lot_id: RowId, payload: WithdrawIn) -> LotWithdrawnOut:
    """Take a lot out of use. Free places the stock left cannot give stop being offered; the
    patients whose dose the stock left no longer covers are told by text, and their
    appointments listed to move or cancel (POST /staff/appointments/bulk)."""
    lot = lot_for_staff(lot_id)
    require_staff(signed_in_user(request), StaffAction.MANAGE_STOCK, lot.centre_id)
    withdrawn = withdraw_lot(lot=lot, reason=payload.reason)
    lots = list(
        VaccineLot.objects.filter(centre_id=lot.centre_id, service=lot.service).select_related(
            "service"
        )
    )
    return LotWithdrawnOut.model_validate(
        {
            "lot": withdrawn.lot,
            "stock": stock_row(withdrawn.position, lots),
            "places_closed": withdrawn.places_closed,
            "shortfall": withdrawn.shortfall,
            "appointments_beyond_stock": [appointment.pk for appointment in withdrawn.affected],
            "patients_told": withdrawn.patients_told,
        }
    )
