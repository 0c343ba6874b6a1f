"""Appointment, read by the household, staff of the centre, or the partner that booked it."""

from django.db.models import Q, QuerySet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from booking.interop.fhir import selectors
from booking.interop.fhir.resource_types.base import (
    DATE_DOCUMENTATION,
    Context,
    ResourceType,
    _centre_ref,
    _date,
    _filter,
    _ids,
    _service_type,
    audited_reads,
)
from booking.interop.fhir.resources import (
    APPOINTMENT_STATUS,
    appointment_resource,
)
from booking.interop.fhir.search import (
    FhirError,
    Parameter,
    parse_number_id,
    parse_reference,
)
from booking.models import Appointment

# --- Appointment --------------------------------------------------------------------------------

AUDIT_ACTION = "fhir_appointments.viewed"

STATUS_FROM_FHIR: dict[str, str] = {}
for _ours, _theirs in APPOINTMENT_STATUS.items():
    STATUS_FROM_FHIR.setdefault(_theirs, _ours)


def _appointments(context: Context) -> QuerySet[Appointment]:
    if context.reader is None:
        raise FhirError(gettext("Sign in to read appointments."), status=401, code="login")
    return selectors.appointments_visible_to(context.reader).order_by("slot__start", "pk")


_read, _search = audited_reads(
    _appointments, appointment_resource, kind="Appointment", action=AUDIT_ACTION
)


def _appointment_status(name: str, value: str) -> Q:
    if value not in STATUS_FROM_FHIR:
        raise FhirError(
            gettext("status: %(value)r is not an appointment status here; use %(known)s.")
            % {"value": value, "known": ", ".join(STATUS_FROM_FHIR)}
        )
    return Q(status=STATUS_FROM_FHIR[value])


def _patient(name: str, value: str) -> Q:
    return Q(patient_id=parse_number_id(name, parse_reference(name, value, ["Patient"])[1]))


def _appointment_slot(name: str, value: str) -> Q:
    return Q(slot_id=parse_number_id(name, parse_reference(name, value, ["Slot"])[1]))


APPOINTMENT = ResourceType(
    name="Appointment",
    documentation=_(
        "Signed in only: a patient account sees its household's appointments, staff those at "
        "their centres. Patients appear as a name and a Patient id; there is no Patient endpoint."
    ),
    parameters=(
        Parameter("_id", "token", _("The appointment's id."), _filter(_ids(""))),
        Parameter(
            "date",
            "date",
            DATE_DOCUMENTATION,
            _date("slot__start"),
        ),
        Parameter(
            "status",
            "token",
            _("booked, checked-in, arrived, fulfilled, cancelled or noshow."),
            _filter(_appointment_status),
        ),
        Parameter("patient", "reference", _("Patient/5: one person."), _filter(_patient)),
        Parameter(
            "location",
            "reference",
            _("Location/12: at this centre."),
            _filter(lambda name, value: Q(slot__centre_id=_centre_ref(name, value))),
        ),
        Parameter("slot", "reference", _("Slot/123: in this slot."), _filter(_appointment_slot)),
        Parameter(
            "service-type",
            "token",
            _("A service code, or HL7 service-type 57 for every vaccine."),
            _filter(_service_type("slot__service__")),
        ),
    ),
    read=_read,
    search=_search,
    signed_in=True,
)
