import re
from datetime import date, datetime, time
from typing import Annotated, Any

from django.utils import timezone
from ninja import Field, Schema
from pydantic import (
    AfterValidator,
    BeforeValidator,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from clinics.centre_facts import phone_as_written
from clinics.models import (
    HealthCentre,
    ScheduleTemplate,
    Service,
    ServiceDose,
    StaffMembership,
    VisitMode,
)


def _bangkok_iso(value: datetime) -> str:
    """timezone.localtime's answer without its look-up of a time zone activated for the
    request (none ever is; a request-local read, most of the 8 µs each of an appointment's
    four datetimes cost an answer)."""
    if timezone.is_naive(value):
        raise ValueError("A naive datetime has no Bangkok time")
    return value.astimezone(timezone.get_default_timezone()).isoformat()


# Datetimes are stored in UTC and shown in Bangkok time, with the +07:00 offset.
BangkokDateTime = Annotated[datetime, PlainSerializer(_bangkok_iso, return_type=str)]

# Inputs are bounded to what their columns and date arithmetic can hold, so that an absurd
# value is a 422 naming the field rather than an overflow deep in the database driver.
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]
UserId = Annotated[int, Field(ge=1, le=2**31 - 1)]
CentreNumber = Annotated[int, Field(ge=1, le=32_767)]
DistrictCode = Annotated[int, Field(ge=1, le=32_767)]
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2100, 12, 31)


ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _written_as_iso_day(value: Any) -> Any:
    # pydantic would also read a number, or a string of one, as seconds since 1970: "0" was
    # 1 January 1970 instead of a 422.
    if isinstance(value, date) or (isinstance(value, str) and ISO_DAY.fullmatch(value)):
        return value
    raise PydanticCustomError("date_format", "give the date as YYYY-MM-DD")


def _within_calendar(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise PydanticCustomError("date_out_of_range", "the date must be in 1900-2100")
    return value


Day = Annotated[date, BeforeValidator(_written_as_iso_day), AfterValidator(_within_calendar)]


def _local_clock(value: time) -> time:
    if value.tzinfo is not None:
        raise PydanticCustomError("time_with_offset", "give the time without a UTC offset")
    return value


# Schedules are in Bangkok wall-clock time: "08:30", never "08:30+07:00".
ClockTime = Annotated[time, AfterValidator(_local_clock)]


def _clock_text(value: time) -> str:
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


# A wall-clock time shown as it is entered, "08:30". OpenAPI's `format: time` is RFC 3339's
# full-time, which needs seconds and a UTC offset ("08:30:00+07:00"): not what a clinic's hours
# are, so the answer says what it is with a pattern instead.
WallClockOut = Annotated[
    time,
    PlainSerializer(_clock_text, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$",
            "description": "Bangkok wall-clock time, HH:MM.",
            "examples": ["08:30"],
        }
    ),
]


class BodyIn(Schema):
    """A request body, which must be a JSON object. (ninja's Schema reads fields from any
    object, so a body whose fields all have defaults would otherwise take a list or a number
    as if it were {}.)"""

    @model_validator(mode="before")
    @classmethod
    def _a_json_object(cls, value: Any) -> Any:
        # ninja has wrapped the body in its DjangoGetter by now; `_obj` is what was sent.
        if not isinstance(getattr(value, "_obj", value), dict):
            raise PydanticCustomError("object_expected", "send a JSON object")
        return value


def choices_schema(title: str, values: list[str]) -> WithJsonSchema:
    """A model's choices inline in the OpenAPI schema under a name of their own: several models
    have a `Kind`, and under one shared name the schema's components would mix them up."""
    return WithJsonSchema({"title": title, "type": "string", "enum": values})


ServiceKind = Annotated[Service.Kind, choices_schema("ServiceKind", list(Service.Kind.values))]


class ErrorOut(Schema):
    code: str = Field(description="Stable machine-readable error code, e.g. slot_full.")
    message: str = Field(description="What went wrong, in the request's language (Thai/English).")
    field: str | None = Field(None, description="The input field to correct, if any.")
    errors: list[dict[str, str]] = Field(
        default_factory=list, description="Every invalid field, for invalid_input."
    )
    detail: dict[str, Any] = Field(default_factory=dict)


class DistrictOut(Schema):
    code: int
    name: str
    name_th: str
    name_en: str
    latitude: float
    longitude: float


class DistrictBrief(Schema):
    code: int
    name: str


class CentreBrief(Schema):
    number: int
    name: str
    district: DistrictBrief
    latitude: float
    longitude: float

    @classmethod
    def of(cls, centre: HealthCentre) -> "CentreBrief":
        """The centre's brief made from its fields' values, without validating: what
        validating it gives (in the active language), for a centre held with its district."""
        district = centre.district
        return cls.model_construct(
            number=centre.number,
            name=centre.name,
            district=DistrictBrief.model_construct(code=district.code, name=district.name),
            latitude=centre.latitude,
            longitude=centre.longitude,
        )


class OpeningPeriodOut(Schema):
    day: int = Field(description="1 Monday … 7 Sunday.")
    opens: WallClockOut
    closes: WallClockOut


class CentreFactsFields(Schema):
    """What people need to find and reach a centre; each empty when the centre has not given
    it."""

    address_th: str = Field(description="The street line in Thai (house number, soi, road).")
    address_en: str = Field(description="The street line in English.")
    postcode: str = Field(description="Five digits, e.g. 10200.")
    phone: str = Field(description="E.164, e.g. +6621234567.", examples=["+6621234567"])
    opening_hours: list[OpeningPeriodOut] = Field(description="One period a weekday, by day.")

    @staticmethod
    def resolve_opening_hours(centre: HealthCentre) -> list[Any]:
        return list(centre.opening_periods)


class CentreOut(CentreBrief, CentreFactsFields):
    name_th: str
    name_en: str
    short_name_th: str
    abbrev_th: str
    subdistrict_th: str
    line_oa: str
    services: list[str] = Field(description="Codes of the services this centre offers.")

    @staticmethod
    def resolve_services(centre: HealthCentre) -> list[str]:
        return [service.code for service in centre.services.all()]


class CentreFactsOut(CentreBrief, CentreFactsFields):
    """A centre's facts as its admins keep them."""

    phone_as_written: str = Field(description="The phone as people write it: 02 123 4567.")

    @staticmethod
    def resolve_phone_as_written(centre: HealthCentre) -> str:
        return phone_as_written(centre.phone) if centre.phone else ""


class OpeningPeriodIn(BodyIn):
    day: int = Field(ge=1, le=7, description="1 Monday … 7 Sunday.")
    opens: ClockTime = Field(examples=["08:00"])
    closes: ClockTime = Field(examples=["16:00"])


class CentreFactsPatch(BodyIn):
    """The facts to change; a field left out stays as it is, an empty one is removed."""

    address_th: str | None = Field(None, max_length=200)
    address_en: str | None = Field(None, max_length=200)
    postcode: str | None = Field(None, max_length=5, examples=["10200"])
    phone: str | None = Field(
        None, max_length=30, description="As written: 02 123 4567, +66 2 123 4567."
    )
    opening_hours: list[OpeningPeriodIn] | None = Field(
        None, max_length=7, description="Every period the centre opens; [] for none known."
    )


class ServiceDoseOut(Schema):
    number: int
    min_interval_days: int | None
    max_interval_days: int | None


class ServiceBrief(Schema):
    code: str
    name: str
    kind: ServiceKind
    visit_mode: VisitMode


class ServiceOut(ServiceBrief):
    name_th: str
    name_en: str
    description: str
    default_slot_minutes: int
    booking_cutoff_minutes: int
    cancellation_cutoff_minutes: int
    doses: list[ServiceDoseOut] = Field(description="The dose series, for vaccines.")

    @staticmethod
    def resolve_doses(service: Service) -> list[ServiceDose]:
        return list(service.doses.all())


class ScheduleIn(Schema):
    service: str = Field(max_length=40, description="Service code.", examples=["general-checkup"])
    clinician_id: UserId | None = None
    weekdays: list[int] = Field(
        description="ISO weekdays: 1 = Monday … 7 = Sunday.",
        min_length=1,
        max_length=7,
        examples=[[1, 2, 3, 4, 5]],
    )
    start_time: ClockTime = Field(examples=["08:30"])
    end_time: ClockTime = Field(examples=["12:00"])
    slot_minutes: int = Field(ge=5, le=240, examples=[15])
    capacity: int = Field(ge=1, le=500, examples=[4])
    valid_from: Day
    valid_until: Day | None = None


class ClinicianOut(Schema):
    """Someone who may run a centre's sessions: `id` is what a schedule's clinician_id takes."""

    id: int = Field(alias="user_id")
    name: str
    role: str

    @staticmethod
    def resolve_name(membership: StaffMembership) -> str:
        user = membership.user
        return user.get_full_name() or user.get_username()


class ScheduleOut(Schema):
    id: int
    centre: int = Field(alias="centre_id")
    service: ServiceBrief
    clinician_id: int | None
    weekdays: list[int]
    start_time: WallClockOut
    end_time: WallClockOut
    slot_minutes: int
    capacity: int
    valid_from: date
    valid_until: date | None
    is_active: bool

    @staticmethod
    def resolve_weekdays(template: ScheduleTemplate) -> list[int]:
        return sorted(template.iso_weekdays)


class ClosureIn(Schema):
    start_date: Day
    end_date: Day
    reason_th: str = Field(min_length=1, max_length=200, examples=["ปิดปรับปรุงอาคาร"])
    reason_en: str = Field("", max_length=200, examples=["Closed for building repairs"])


class ClosureOut(Schema):
    id: int
    centre: int | None = Field(alias="centre_id", description="Empty for a city-wide closure.")
    start_date: date
    end_date: date
    reason: str
    reason_th: str
    reason_en: str


class SlotChangesOut(Schema):
    created: int
    resized: int
    reopened: int
    removed: int
    closed: int
