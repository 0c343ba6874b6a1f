"""The FHIR resources this server publishes, built in one place for the API and the bulk files.

Each builder takes rows already loaded (with the relations named in its docstring) and runs no
query, so a page of any size costs the same queries."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.utils.translation import gettext

from booking.models import Appointment, Slot, VaccinationDrive
from clinics.centre_facts import OpeningPeriod
from clinics.dates import in_bangkok
from clinics.models import HealthCentre, Service

Resource = dict[str, Any]

FHIR_VERSION = "4.0.1"
HCODE_SYSTEM = "https://terms.sil-th.org/id/th-moph-hcode"
HL7_SERVICE_TYPE = "http://terminology.hl7.org/CodeSystem/service-type"
SMART_SERVICE_TYPE = "http://fhir-registry.smarthealthit.org/CodeSystem/service-type"
SMART_EXTENSION = "http://fhir-registry.smarthealthit.org/StructureDefinition/"
SLOT_CAPACITY = SMART_EXTENSION + "slot-capacity"
BOOKING_DEEP_LINK = SMART_EXTENSION + "booking-deep-link"
VACCINE_DOSE = SMART_EXTENSION + "vaccine-dose"
VACCINE_PRODUCT = SMART_EXTENSION + "vaccine-product"
BOOKING_PHONE = SMART_EXTENSION + "booking-phone"
CVX_SYSTEM = "http://hl7.org/fhir/sid/cvx"
# The CDC's short descriptions of the CVX codes in the service catalogue (clinics/data/SOURCES.md),
# as the vaccine-product coding's display; a code staff enter outside these goes without one.
CVX_DISPLAY = {
    "03": "MMR",
    "45": "Hep B, unspecified formulation",
    "88": "influenza, unspecified formulation",
    "90": "rabies, unspecified formulation",
    "102": "DTP-Hib-Hep B",
    "137": "HPV, unspecified formulation",
    "213": "SARS-COV-2 (COVID-19) vaccine, UNSPECIFIED",
}
# Bangkok's ISO 3166-2 code: the manifest's "state" (publishing.JURISDICTION) and Locations'.
BANGKOK_STATE = "TH-10"
BANGKOK_CITY = "Bangkok"
FHIR_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

FREE, BUSY, BUSY_UNAVAILABLE = "free", "busy", "busy-unavailable"

# Appointment.Status -> FHIR R4 AppointmentStatus.
APPOINTMENT_STATUS: dict[str, str] = {
    Appointment.Status.BOOKED: "booked",
    Appointment.Status.CHECKED_IN: "checked-in",
    Appointment.Status.IN_CONSULTATION: "arrived",
    Appointment.Status.COMPLETED: "fulfilled",
    Appointment.Status.CANCELLED: "cancelled",
    Appointment.Status.NO_SHOW: "noshow",
}


def fhir_base() -> str:
    return f"{settings.PUBLIC_BASE_URL}/fhir/r4"


def centre_number_system() -> str:
    """The namespace of BMA centre numbers: this server's Location address."""
    return f"{fhir_base()}/Location"


def service_code_system() -> str:
    """The namespace of service codes: system + code names a HealthcareService here."""
    return f"{fhir_base()}/HealthcareService"


def schedule_service_extension() -> str:
    """This server's extension on a Schedule naming its HealthcareService: SMART Scheduling
    Links wants the Location as a Schedule's only actor."""
    return f"{fhir_base()}/StructureDefinition/schedule-healthcare-service"


def booking_deep_link(slot_id: int) -> str:
    """Where a person books this slot on the patient web site."""
    return f"{settings.PUBLIC_BASE_URL}/book/slots/{slot_id}"


def instant(moment: datetime) -> str:
    """A FHIR instant in Bangkok time (the default zone, not the reader's), to the second."""
    return in_bangkok(moment).isoformat(timespec="seconds")


# --- Schedule ids ---------------------------------------------------------------------------------

_EVERYDAY_ID = re.compile(r"^centre(\d{1,5})-service(\d{1,18})$")
_DRIVE_ID = re.compile(r"^drive(\d{1,18})-centre(\d{1,5})$")


@dataclass(frozen=True)
class ScheduleKey:
    """Which Schedule: the everyday one of a service at a centre, or a drive's at a centre."""

    centre_id: int
    service_id: int | None = None
    drive_id: int | None = None

    @property
    def id(self) -> str:
        if self.drive_id is not None:
            return f"drive{self.drive_id}-centre{self.centre_id}"
        return f"centre{self.centre_id}-service{self.service_id}"

    @classmethod
    def parse(cls, schedule_id: str) -> "ScheduleKey | None":
        if found := _EVERYDAY_ID.match(schedule_id):
            return cls(centre_id=int(found[1]), service_id=int(found[2]))
        if found := _DRIVE_ID.match(schedule_id):
            return cls(centre_id=int(found[2]), drive_id=int(found[1]))
        return None

    @classmethod
    def of_slot(cls, slot: Slot) -> "ScheduleKey":
        if slot.drive_id is not None:
            return cls(centre_id=slot.centre_id, drive_id=slot.drive_id)
        return cls(centre_id=slot.centre_id, service_id=slot.service_id)


@dataclass(frozen=True)
class ScheduleRow:
    """A Schedule's facts: the centre and service, and the drive for a drive's schedule."""

    centre: HealthCentre
    service: Service
    drive: VaccinationDrive | None = None

    @property
    def key(self) -> ScheduleKey:
        if self.drive is not None:
            return ScheduleKey(centre_id=self.centre.number, drive_id=self.drive.pk)
        return ScheduleKey(centre_id=self.centre.number, service_id=self.service.pk)

    @property
    def active(self) -> bool:
        everyday = self.centre.is_active and self.service.is_active
        if self.drive is None:
            return everyday
        return everyday and self.drive.status == VaccinationDrive.Status.SCHEDULED


# --- Builders -----------------------------------------------------------------------------------


def _reference(kind: str, ident: object, display: str | None = None) -> Resource:
    reference: Resource = {"reference": f"{kind}/{ident}"}
    if display:
        reference["display"] = display
    return reference


def service_type(service: Service) -> Resource:
    """The codings of a service: ours, plus HL7's Immunization for vaccines (and SMART's COVID-19
    code, which aggregators look for)."""
    codings = [{"system": service_code_system(), "code": service.code, "display": service.name}]
    if service.kind == Service.Kind.VACCINATION:
        codings.append({"system": HL7_SERVICE_TYPE, "code": "57", "display": "Immunization"})
        if service.code == "vaccine-covid19":
            codings.append(
                {
                    "system": SMART_SERVICE_TYPE,
                    "code": "covid19-immunization",
                    "display": "COVID-19 Immunization Appointment",
                }
            )
    return {"coding": codings}


def vaccine_product(service: Service) -> Resource | None:
    """The SMART vaccine-product extension of a vaccine with a CVX code, else None."""
    if service.kind != Service.Kind.VACCINATION or not service.cvx_code:
        return None
    coding = {"system": CVX_SYSTEM, "code": service.cvx_code}
    if display := CVX_DISPLAY.get(service.cvx_code):
        coding["display"] = display
    return {"url": VACCINE_PRODUCT, "valueCoding": coding}


def location_address(centre: HealthCentre) -> Resource:
    """A centre's address as SMART Scheduling Links wants it: `line` and `postalCode` given,
    `state` the ISO 3166-2 code the manifest uses, no `text` (its address profile forbids one).
    The lines are Thai, as the centre writes its address: the street line when staff have given
    one (the English one if only that), then the subdistrict; the district's name is Thai too.
    Needs centre.district."""
    street = centre.address_th or centre.address_en
    lines = [street] if street else []
    if centre.subdistrict_th:
        lines.append(f"แขวง{centre.subdistrict_th}")
    if not lines:  # the one part every centre has
        lines.append(f"เขต{centre.district.name_th}")
    address: Resource = {
        "use": "work",
        "type": "physical",
        "line": lines,
        "city": BANGKOK_CITY,
        "district": centre.district.name_th,
        "state": BANGKOK_STATE,
        "country": "TH",
    }
    if centre.postcode:
        address["postalCode"] = centre.postcode
    return address


def hours_of_operation(periods: list[OpeningPeriod]) -> list[Resource]:
    """Opening hours as FHIR `Location.hoursOfOperation`: the days with the same hours together."""
    by_hours: dict[tuple[time, time], list[str]] = {}
    for period in periods:
        by_hours.setdefault((period.opens, period.closes), []).append(FHIR_DAYS[period.day - 1])
    return [
        {
            "daysOfWeek": days,
            "openingTime": opens.isoformat(timespec="seconds"),
            "closingTime": closes.isoformat(timespec="seconds"),
        }
        for (opens, closes), days in by_hours.items()
    ]


def location_resource(centre: HealthCentre) -> Resource:
    """A centre as a Location. Needs centre.district."""
    identifiers = []
    if centre.moph_hcode:
        identifiers.append({"system": HCODE_SYSTEM, "value": centre.moph_hcode})
    identifiers.append({"system": centre_number_system(), "value": str(centre.number)})
    names = {centre.name_th, centre.name_en, centre.short_name_th, centre.abbrev_th}
    resource: Resource = {
        "resourceType": "Location",
        "id": str(centre.number),
        "identifier": identifiers,
        "status": "active" if centre.is_active else "inactive",
        "name": centre.name,
        "alias": sorted(name for name in names - {centre.name} if name),
        "mode": "instance",
        "address": location_address(centre),
        "position": {"latitude": centre.latitude, "longitude": centre.longitude},
    }
    telecom = []
    if centre.phone:
        telecom.append({"system": "phone", "value": centre.phone, "use": "work"})
    if centre.line_oa:
        telecom.append({"system": "url", "value": centre.line_oa})
    if telecom:
        resource["telecom"] = telecom
    if hours := hours_of_operation(centre.opening_periods):
        resource["hoursOfOperation"] = hours
    return resource


def healthcare_service_resource(service: Service, centre_ids: Iterable[int]) -> Resource:
    """A service of the catalogue and the centres that offer it."""
    resource: Resource = {
        "resourceType": "HealthcareService",
        "id": str(service.pk),
        "identifier": [{"system": service_code_system(), "value": service.code}],
        "active": service.is_active,
        "category": [{"text": service.get_kind_display()}],
        "type": [service_type(service)],
        "name": service.name,
        "location": [_reference("Location", number) for number in sorted(centre_ids)],
        "appointmentRequired": True,
    }
    if service.description:
        resource["comment"] = service.description
    if service.visit_mode == "video":
        resource["characteristic"] = [{"text": gettext("Video consultation")}]
    return resource


def schedule_resource(row: ScheduleRow, dose_numbers: Iterable[int] = ()) -> Resource:
    """A Schedule whose one actor is its Location, as SMART Scheduling Links requires; the
    HealthcareService is named by the serviceType coding (system + code) and referenced in an
    extension. A drive's carries the drive's name and days."""
    extensions: list[Resource] = [
        {
            "url": schedule_service_extension(),
            "valueReference": _reference("HealthcareService", row.service.pk, row.service.name),
        }
    ]
    # One product a Schedule (SMART Scheduling Links, Schedule File: the extension "SHOULD NOT
    # repeat"): each Schedule is one service, and each vaccine service one CVX code.
    if product := vaccine_product(row.service):
        extensions.append(product)
    extensions += [{"url": VACCINE_DOSE, "valueInteger": n} for n in sorted(set(dose_numbers))]
    resource: Resource = {
        "resourceType": "Schedule",
        "id": row.key.id,
        "extension": extensions,
        "active": row.active,
        "serviceType": [service_type(row.service)],
        "actor": [_reference("Location", row.centre.number, row.centre.name)],
    }
    if row.drive is not None:
        resource["comment"] = row.drive.name
        resource["planningHorizon"] = {
            "start": row.drive.first_day.isoformat(),
            "end": row.drive.last_day.isoformat(),
        }
    return resource


def slot_status(slot: Slot, *, now: datetime) -> str:
    """free, busy or busy-unavailable (see the package docstring). Needs slot.service.
    selectors.slots_in_status asks the same in SQL: change both together."""
    if slot.closed:
        return BUSY_UNAVAILABLE
    if slot.booked >= slot.capacity:
        return BUSY
    if slot.start < now + timedelta(minutes=slot.service.booking_cutoff_minutes):
        return BUSY_UNAVAILABLE
    return FREE


def slot_resource(slot: Slot, *, now: datetime) -> Resource:
    """A Slot, with its capacity, its vaccine's product code, and, when free, the booking deep
    link and the centre's phone. Needs slot.service and slot.centre.

    The SMART slot-capacity extension counts the identical places the resource stands for: a
    free slot's places left, and a busy one's whole capacity, so that an aggregator following
    busy slots sees the capacity a centre offered (SMART Scheduling Links: publishers SHOULD
    include busy slots to help clients monitor total capacity). The phone goes as stored, E.164,
    as in the Location's telecom: a number any aggregator, in Thailand or not, can dial."""
    status = slot_status(slot, now=now)
    extensions: list[Resource] = [
        {"url": SLOT_CAPACITY, "valueInteger": slot.remaining if status == FREE else slot.capacity}
    ]
    if status == FREE:
        extensions.append({"url": BOOKING_DEEP_LINK, "valueUrl": booking_deep_link(slot.pk)})
        if slot.centre.phone:
            extensions.append({"url": BOOKING_PHONE, "valueString": slot.centre.phone})
    if product := vaccine_product(slot.service):
        extensions.append(product)
    return {
        "resourceType": "Slot",
        "id": str(slot.pk),
        # No serviceType: the Schedule carries it, and it would add 40% to the bulk files.
        "schedule": _reference("Schedule", ScheduleKey.of_slot(slot).id),
        "status": status,
        "start": instant(slot.start),
        "end": instant(slot.end),
        "extension": extensions,
    }


def appointment_resource(appointment: Appointment) -> Resource:
    """An appointment, with the patient as a name and a handle only.
    Needs appointment.patient and appointment.slot with its centre and service."""
    slot = appointment.slot
    resource: Resource = {
        "resourceType": "Appointment",
        "id": str(appointment.pk),
        "status": APPOINTMENT_STATUS[appointment.status],
        "serviceType": [service_type(slot.service)],
        "description": slot.service.name,
        "start": instant(slot.start),
        "end": instant(slot.end),
        "created": instant(appointment.created_at),
        "slot": [_reference("Slot", slot.pk)],
        "participant": [
            {
                "actor": _reference(
                    "Patient", appointment.patient_id, appointment.patient.full_name
                ),
                "required": "required",
                "status": "accepted",
            },
            {
                "actor": _reference("Location", slot.centre_id, slot.centre.name),
                "required": "required",
                "status": "accepted",
            },
        ],
    }
    if appointment.status == Appointment.Status.CANCELLED and appointment.cancellation_reason:
        resource["cancelationReason"] = {"text": appointment.cancellation_reason}
    return resource
