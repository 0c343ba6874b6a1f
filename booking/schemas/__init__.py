import math
from datetime import date, timedelta
from typing import Annotated, Literal

from ninja import Field, Schema

from booking.links import appointment_calendar_link
from booking.models import Appointment, Patient, RiskGroup, Slot
from booking.selectors import SlotOption, SlotOrder, SlotPage, appointment_can_change
from clinics.models import HealthCentre, Service, VisitMode
from clinics.schemas import (
    BangkokDateTime,
    BodyIn,
    CentreBrief,
    CentreNumber,
    ClosureOut,
    Day,
    DistrictCode,
    RowId,
    ServiceBrief,
    choices_schema,
)

AppointmentStatus = Annotated[
    Appointment.Status, choices_schema("AppointmentStatus", list(Appointment.Status.values))
]


class PersonIn(Schema):
    first_name: str = Field(min_length=1, max_length=100, examples=["สมชาย"])
    last_name: str = Field(min_length=1, max_length=100, examples=["ใจดี"])
    date_of_birth: Day = Field(examples=["1980-05-17"])
    sex: Patient.Sex
    phone: str = Field("", max_length=30, examples=["081 234 5678"])
    national_id: str = Field(
        "", max_length=20, description="13-digit Thai national ID.", examples=["1101700203450"]
    )
    passport_number: str = Field("", max_length=20, description="For people who are not Thai.")
    preferred_language: Patient.Language = Patient.Language.THAI
    district_code: DistrictCode | None = Field(
        None, description="Home district geocode, e.g. 1001."
    )
    risk_groups: list[RiskGroup] = Field(
        default_factory=list,
        description="Risk groups the person declares, for vaccination drives that put them "
        "first. The age groups (aged_65_plus, young_child) follow from the date of birth.",
        examples=[["chronic_disease"]],
    )


class RegisterIn(PersonIn):
    phone: str = Field(min_length=6, max_length=30, examples=["081 234 5678"])
    passcode: str = Field(
        min_length=1,
        max_length=12,
        description="The code texted to the phone by POST /auth/passcode.",
        examples=["123456"],
    )


class PasscodeIn(Schema):
    phone: str = Field(min_length=6, max_length=30, examples=["081 234 5678"])


class PasscodeSentOut(Schema):
    phone: str = Field(description="Where the code went, as E.164.")
    expires_at: BangkokDateTime
    resend_after: BangkokDateTime


class PasscodeSignInIn(Schema):
    phone: str = Field(min_length=6, max_length=30, examples=["081 234 5678"])
    code: str = Field(min_length=1, max_length=12, examples=["123456"])


class DependantIn(PersonIn):
    relationship: Patient.Relationship = Field(examples=["child"])


class PatientChangeIn(PersonIn):
    phone_passcode: str = Field(
        "",
        max_length=12,
        description="To change the account holder's phone, which is also how they sign in: "
        "the code texted to the new number. Without it, a new phone answers 409 "
        "`phone_change_needs_passcode` and the code is texted.",
        examples=["123456"],
    )


class PhoneCodeIn(Schema):
    code: str = Field(min_length=1, max_length=12, examples=["123456"])


class SignInIn(Schema):
    username: str = Field(
        min_length=1, max_length=150, description="A patient's phone number, or a staff username."
    )
    password: str = Field(min_length=1, max_length=128)
    code: str = Field(
        default="",
        max_length=12,
        description="Staff only: the 6-digit code their authenticator app shows now.",
    )


class AccountOut(Schema):
    username: str
    is_staff_member: bool
    centres: list[int] = Field(description="Centres where this account has a staff role.")


class PatientOut(Schema):
    id: int
    relationship: Patient.Relationship
    first_name: str
    last_name: str
    date_of_birth: date
    sex: Patient.Sex
    phone: str
    phone_proven: bool = Field(
        description="Whether a passcode proved the phone. Texts about someone in the account "
        "holder's care go to their own phone only once it is proven (or it is the holder's "
        "own number); until then they go to the account holder."
    )
    national_id_masked: str = Field(alias="masked_national_id")
    has_passport: bool
    preferred_language: Patient.Language
    district_code: int | None = Field(alias="district_id")
    risk_groups: list[RiskGroup]

    @staticmethod
    def resolve_has_passport(patient: Patient) -> bool:
        return bool(patient.passport_number)

    @staticmethod
    def resolve_phone_proven(patient: Patient) -> bool:
        return patient.phone_verified_at is not None


class PatientDetailOut(PatientOut):
    """The patient's own page: the only place the full national ID is shown."""

    national_id: str
    passport_number: str


class SlotOut(Schema):
    id: int
    start: BangkokDateTime
    end: BangkokDateTime
    remaining: int
    service: str = Field(description="Service code.")
    centre: CentreBrief
    distance_km: float | None = Field(description="From the point searched from, if any.")
    in_home_district: bool

    @classmethod
    def from_option(cls, option: SlotOption) -> "SlotOut":
        """The option made into its schema without validating (its values already have their
        fields' types): about half a search answer's CPU went to validating every slot and
        centre of the page; tests/booking/test_schemas.py compares the two."""
        slot = option.slot
        km = option.place.distance_km
        return cls.model_construct(
            id=slot.pk,
            start=slot.start,
            end=slot.end,
            remaining=slot.remaining,
            service=slot.service.code,
            centre=CentreBrief.of(option.place.centre),
            distance_km=round(km, 2) if km is not None else None,
            in_home_district=option.place.in_home_district,
        )


class SlotPageOut(Schema):
    items: list[SlotOut]
    count: int
    page: int
    page_size: int
    pages: int

    @classmethod
    def from_page(cls, page: SlotPage) -> "SlotPageOut":
        return cls.model_construct(
            items=[SlotOut.from_option(option) for option in page.items],
            count=page.count,
            page=page.page,
            page_size=page.page_size,
            pages=math.ceil(page.count / page.page_size),
        )


class SlotSearchQuery(Schema):
    service: str = Field(max_length=40, description="Service code, e.g. vaccine-influenza.")
    date_from: Day | None = Field(None, description="First day (Bangkok). Default: today.")
    date_to: Day | None = Field(None, description="Last day (Bangkok). Default: 4 weeks on.")
    district: DistrictCode | None = Field(
        None, description="Home district geocode: its centres come first."
    )
    lat: float | None = Field(None, ge=-90, le=90, description="Search near this point.")
    lon: float | None = Field(None, ge=-180, le=180)
    centre: list[CentreNumber] | None = Field(None, description="Only these centres (numbers).")
    order: SlotOrder = SlotOrder.NEAREST
    page: int = Field(1, ge=1, le=10_000)
    page_size: int = Field(20, ge=1, le=100)


class BookIn(Schema):
    patient_id: RowId
    slot_id: RowId


class AllocateIn(Schema):
    patient_id: RowId
    service: str = Field(max_length=40, examples=["vaccine-influenza"])
    date_from: Day | None = None
    date_to: Day | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    centres: list[CentreNumber] | None = Field(None, description="Only these centres (numbers).")
    order: SlotOrder = SlotOrder.NEAREST


class RescheduleIn(Schema):
    slot_id: RowId


class CompleteIn(Schema):
    lot_id: RowId | None = Field(None, description="For a vaccine: the lot the dose came from.")


class CancelIn(BodyIn):
    reason: str = Field("", max_length=200)


class PatientBrief(Schema):
    id: int
    first_name: str
    last_name: str


class AppointmentOut(Schema):
    id: int
    status: AppointmentStatus
    visit_mode: VisitMode
    channel: Appointment.Channel
    patient: PatientBrief
    slot_id: int
    start: BangkokDateTime
    end: BangkokDateTime
    centre: CentreBrief
    service: ServiceBrief
    sequence: int = Field(description="Raised each time the appointment is moved.")
    booked_at: BangkokDateTime
    cancellable_until: BangkokDateTime
    confirmed_at: BangkokDateTime | None = Field(
        description="When the patient said they will come (link or text reply)."
    )
    dose_number: int | None = Field(
        description="For a vaccine: which dose of the course this is (1, 2, ...)."
    )
    course_id: int | None = Field(
        alias="series_id", description="For a vaccine: the course, see /me/vaccinations."
    )
    calendar_url: str = Field(
        description="The appointment as an .ics file (iCalendar), to add to a calendar app. "
        "The link downloads the file and nothing else: it cannot change the appointment."
    )

    @staticmethod
    def resolve_calendar_url(appointment: Appointment) -> str:
        return appointment_calendar_link(appointment.pk)

    @staticmethod
    def resolve_start(appointment: Appointment) -> object:
        return appointment.slot.start

    @staticmethod
    def resolve_end(appointment: Appointment) -> object:
        return appointment.slot.end

    @staticmethod
    def resolve_centre(appointment: Appointment) -> object:
        return appointment.slot.centre

    @staticmethod
    def resolve_service(appointment: Appointment) -> object:
        return appointment.slot.service

    @staticmethod
    def resolve_booked_at(appointment: Appointment) -> object:
        return appointment.created_at

    @staticmethod
    def resolve_cancellable_until(appointment: Appointment) -> object:
        minutes = appointment.slot.service.cancellation_cutoff_minutes
        return appointment.slot.start - timedelta(minutes=minutes)

    @classmethod
    def of(cls, appointment: Appointment) -> "AppointmentOut":
        """The appointment's schema made from its fields' values, without validating: what
        validating the appointment gives (ninja reads each attribute through a DjangoGetter,
        about a tenth of a booking's CPU on the lean route), for an appointment held with its
        patient, slot, centre and service, as a new booking's is. Derived values come from the
        resolvers above; tests/booking/test_schemas.py compares the two."""
        patient = appointment.patient
        centre, service = cls.resolve_centre(appointment), cls.resolve_service(appointment)
        assert isinstance(centre, HealthCentre)
        assert isinstance(service, Service)
        return cls.model_construct(
            id=appointment.pk,
            status=Appointment.Status(appointment.status),
            visit_mode=VisitMode(appointment.visit_mode),
            channel=Appointment.Channel(appointment.channel),
            patient=PatientBrief.model_construct(
                id=patient.pk, first_name=patient.first_name, last_name=patient.last_name
            ),
            slot_id=appointment.slot_id,
            start=cls.resolve_start(appointment),
            end=cls.resolve_end(appointment),
            centre=CentreBrief.of(centre),
            service=ServiceBrief.model_construct(
                code=service.code,
                name=service.name,
                kind=Service.Kind(service.kind),
                visit_mode=VisitMode(service.visit_mode),
            ),
            sequence=appointment.sequence,
            booked_at=cls.resolve_booked_at(appointment),
            cancellable_until=cls.resolve_cancellable_until(appointment),
            confirmed_at=appointment.confirmed_at,
            dose_number=appointment.dose_number,
            course_id=appointment.series_id,
            calendar_url=cls.resolve_calendar_url(appointment),
        )


class StaffPatientOut(PatientBrief):
    date_of_birth: date
    sex: Patient.Sex
    phone: str
    national_id_masked: str = Field(alias="masked_national_id")
    identity_verified_by: Patient.IdentityCheck | Literal[""] = Field(
        description="Who proved the person's identity: thaid, desk or partner; empty if nobody."
    )


class StaffAppointmentOut(AppointmentOut):
    patient: StaffPatientOut
    checked_in_at: BangkokDateTime | None
    completed_at: BangkokDateTime | None
    cancelled_at: BangkokDateTime | None
    cancellation_reason: str


class StaffSlotOut(Schema):
    id: int
    service: str
    start: BangkokDateTime
    end: BangkokDateTime
    capacity: int
    booked: int
    closed: bool
    capacity_set_by_staff: bool
    template_id: int | None

    @staticmethod
    def resolve_service(slot: Slot) -> str:
        return slot.service.code


class SlotPatchIn(Schema):
    capacity: int = Field(ge=0, le=5000)


class ClosureResultOut(Schema):
    closure: ClosureOut
    affected_appointments: list[StaffAppointmentOut]


class LinkedAppointmentOut(Schema):
    """An appointment opened from the link in a text message. Links get forwarded, so it
    shows only the patient's first name."""

    status: AppointmentStatus
    visit_mode: VisitMode
    patient_first_name: str
    start: BangkokDateTime
    end: BangkokDateTime
    centre: CentreBrief
    service: ServiceBrief
    confirmed_at: BangkokDateTime | None
    cancellable_until: BangkokDateTime
    can_change: bool = Field(description="Whether it may still be confirmed, moved or cancelled.")
    calendar_url: str = Field(
        description="The appointment as an .ics file (iCalendar); the link opens nothing else."
    )

    @staticmethod
    def resolve_patient_first_name(appointment: Appointment) -> str:
        return appointment.patient.first_name

    resolve_start = staticmethod(AppointmentOut.resolve_start)
    resolve_end = staticmethod(AppointmentOut.resolve_end)
    resolve_centre = staticmethod(AppointmentOut.resolve_centre)
    resolve_service = staticmethod(AppointmentOut.resolve_service)
    resolve_cancellable_until = staticmethod(AppointmentOut.resolve_cancellable_until)
    resolve_calendar_url = staticmethod(AppointmentOut.resolve_calendar_url)

    @staticmethod
    def resolve_can_change(appointment: Appointment) -> bool:
        return appointment_can_change(appointment)
