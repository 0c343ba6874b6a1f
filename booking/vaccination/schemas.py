"""API shapes for vaccination drives, stock, courses and the waitlist."""

from datetime import date, datetime
from typing import Annotated

from django.utils import timezone
from ninja import Field, Schema

from booking.models import Patient, RiskGroup, VaccinationDrive, VaccinationSeries, VaccineLot
from booking.schemas import StaffAppointmentOut
from clinics.schemas import (
    BangkokDateTime,
    BodyIn,
    CentreBrief,
    CentreNumber,
    ClockTime,
    Day,
    ServiceBrief,
    WallClockOut,
    choices_schema,
)

DriveStatus = Annotated[
    VaccinationDrive.Status,
    choices_schema("DriveStatus", list(VaccinationDrive.Status.values)),
]
CourseStatus = Annotated[
    VaccinationSeries.Status,
    choices_schema("CourseStatus", list(VaccinationSeries.Status.values)),
]


class SessionIn(Schema):
    start_time: ClockTime = Field(examples=["09:00"])
    end_time: ClockTime = Field(examples=["12:00"])


class DriveIn(Schema):
    name_th: str = Field(min_length=1, max_length=150, examples=["ฉีดวัคซีนไข้หวัดใหญ่ 2570"])
    name_en: str = Field("", max_length=150, examples=["Flu vaccination 2027"])
    service: str = Field(description="The vaccine's service code.", examples=["vaccine-influenza"])
    centres: list[CentreNumber] = Field(min_length=1, max_length=100, examples=[[1, 2, 3]])
    first_day: Day
    last_day: Day
    weekdays: list[int] = Field(
        default=[1, 2, 3, 4, 5, 6, 7], description="ISO weekdays: 1 = Monday … 7 = Sunday."
    )
    sessions: list[SessionIn] = Field(min_length=1, max_length=6)
    slot_minutes: int = Field(15, ge=5, le=240)
    capacity_per_slot: int = Field(ge=1, le=500)
    release_at: datetime = Field(
        description="When patients may see and book it (ISO 8601 with a UTC offset)."
    )
    min_age_months: int | None = Field(None, ge=0, le=1800)
    max_age_months: int | None = Field(None, ge=1, le=1800)
    sexes: list[Patient.Sex] = Field(default_factory=list, description="Empty: everyone.")
    risk_groups: list[RiskGroup] = Field(
        default_factory=list, description="Empty: everyone; else the patient is in one of them."
    )
    districts: list[int] = Field(
        default_factory=list, description="Home district geocodes; empty: every district."
    )


class SessionOut(Schema):
    start_time: WallClockOut
    end_time: WallClockOut


class DriveOut(Schema):
    id: int
    name: str
    name_th: str
    name_en: str
    service: ServiceBrief
    status: DriveStatus
    is_open: bool = Field(description="Patients can see and book its slots now.")
    first_day: date
    last_day: date
    weekdays: list[int]
    sessions: list[SessionOut]
    slot_minutes: int
    capacity_per_slot: int
    release_at: BangkokDateTime
    centres: list[int]
    min_age_months: int | None
    max_age_months: int | None
    sexes: list[Patient.Sex]
    risk_groups: list[RiskGroup]
    districts: list[int]
    rules: list[str] = Field(description="Who may book, in the request's language.")

    @staticmethod
    def resolve_is_open(drive: VaccinationDrive) -> bool:
        return (
            drive.status == VaccinationDrive.Status.SCHEDULED and drive.release_at <= timezone.now()
        )

    @staticmethod
    def resolve_weekdays(drive: VaccinationDrive) -> list[int]:
        return sorted(drive.iso_weekdays)

    @staticmethod
    def resolve_sessions(drive: VaccinationDrive) -> list[object]:
        return list(drive.sessions.all())

    @staticmethod
    def resolve_centres(drive: VaccinationDrive) -> list[int]:
        return [centre.number for centre in drive.centres.all()]

    @staticmethod
    def resolve_districts(drive: VaccinationDrive) -> list[int]:
        return [district.code for district in drive.districts.all()]

    @staticmethod
    def resolve_rules(drive: VaccinationDrive) -> list[str]:
        from booking.vaccination.eligibility import describe_rules

        return describe_rules(drive, district_names=[d.name for d in drive.districts.all()])


class PlannedDayOut(Schema):
    day: date
    slots: int
    places: int


class CentrePlanOut(Schema):
    centre: int
    slots: int
    places: int
    doses_left_to_open: int = Field(
        description="Doses held, less those already promised (booked, offered or reserved)."
    )
    shortfall: int = Field(description="Places the centre holds no doses for.")
    days: list[PlannedDayOut]


class DrivePreviewOut(Schema):
    slots: int
    places: int
    can_release: bool
    centres: list[CentrePlanOut]


class ReleaseIn(BodyIn):
    at: datetime | None = Field(
        None, description="When to open; default the drive's release time. Past means now."
    )


class DriveReleasedOut(Schema):
    drive: DriveOut
    slots_created: int
    places: int


class DriveCancelledOut(Schema):
    drive: DriveOut
    slots_removed: int
    affected_appointments: list[StaffAppointmentOut]


class EligibilityReasonOut(Schema):
    code: str = Field(description="too_young, too_old, sex, risk_group or district.")
    message: str


class EligibilityOut(Schema):
    eligible: bool
    day: date = Field(description="The vaccination day the rules were checked for.")
    reasons: list[EligibilityReasonOut]


# --- Stock ---------------------------------------------------------------------------------------


class LotIn(Schema):
    service: str = Field(examples=["vaccine-influenza"])
    lot_number: str = Field(min_length=1, max_length=40, examples=["FLU-2026-0173"])
    expires_on: Day
    doses: int = Field(ge=1, le=1_000_000)


class LotOut(Schema):
    id: int
    centre: int = Field(alias="centre_id")
    service: str
    lot_number: str
    expires_on: date
    doses_received: int
    doses_used: int
    doses_left: int
    withdrawn_at: BangkokDateTime | None
    withdrawal_reason: str

    @staticmethod
    def resolve_service(lot: VaccineLot) -> str:
        return lot.service.code


class StockOut(Schema):
    service: ServiceBrief
    on_hand: int = Field(description="Doses in lots neither withdrawn nor expired.")
    booked: int = Field(description="Places booked or held from today on, not given yet.")
    open_places: int = Field(description="Free places in open slots from today on.")
    reserved_for_courses: int = Field(
        description="Later doses of courses started here, not booked yet."
    )
    left_to_open: int = Field(description="What a new drive or slot may still open.")
    lots: list[LotOut]


class WithdrawIn(Schema):
    reason: str = Field(min_length=1, max_length=200, examples=["Cold chain broken"])


class LotWithdrawnOut(Schema):
    lot: LotOut
    stock: StockOut
    places_closed: int = Field(description="Free places no longer offered.")
    shortfall: int = Field(
        description="Booked doses beyond the stock left: move or cancel this many appointments."
    )
    appointments_beyond_stock: list[int] = Field(
        description="The booked appointments whose dose the stock left no longer covers, "
        "soonest first: move or cancel them (POST /staff/appointments/bulk)."
    )
    patients_told: int = Field(
        description="How many of their patients were sent a text (none when the lot was "
        "already withdrawn)."
    )


# --- A patient's courses -------------------------------------------------------------------------


class DoseOut(Schema):
    number: int
    appointment_id: int
    status: str
    start: BangkokDateTime
    centre: CentreBrief
    given_at: BangkokDateTime | None
    lot_number: str | None


class DoseDueOut(Schema):
    number: int
    earliest: date
    latest: date


class VaccinationCourseOut(Schema):
    id: int
    patient_id: int
    vaccine: ServiceBrief
    status: CourseStatus
    doses_in_series: int
    doses: list[DoseOut]
    next_dose_due: DoseDueOut | None = Field(
        description="A dose of a course under way that is not booked yet, and when it is due."
    )
