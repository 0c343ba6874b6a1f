"""Immunization: a vaccine dose given here, read by the household, staff of the centre where it
was given, or the partner that booked it (with immunizations:read).

A dose given is a completed appointment for a vaccination service, and its Immunization has the
appointment's id. Anyone else, and any id that is no dose given, gets the same 404."""

from django.db.models import Q, QuerySet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from booking.interop.fhir import selectors
from booking.interop.fhir.resource_types.base import (
    DATE_DOCUMENTATION,
    NOTHING,
    Context,
    ResourceType,
    _centre_ref,
    _date,
    _filter,
    _ids,
    audited_reads,
)
from booking.interop.fhir.resources import (
    HCODE_SYSTEM,
    Resource,
    _reference,
    centre_number_system,
    instant,
    service_code_system,
)
from booking.interop.fhir.search import (
    FhirError,
    Parameter,
    parse_number_id,
    parse_reference,
    parse_token,
)
from booking.models import Appointment, PartnerKey
from clinics.models import HealthCentre, Service

CVX_SYSTEM = "http://hl7.org/fhir/sid/cvx"
# HL7 v2 table 0443: the centre gave the dose.
PERFORMER_FUNCTION = "http://terminology.hl7.org/CodeSystem/v2-0443"
AUDIT_ACTION = "fhir_immunizations.viewed"
# FHIR R4 ImmunizationStatus codes: every dose served was given; the others match nothing.
GIVEN, OTHER_STATUSES = "completed", ("entered-in-error", "not-done")


def _cvx_code(service: Service) -> str:
    """The vaccine's CVX code, once the service catalogue holds one (a `cvx_code` field)."""
    return str(getattr(service, "cvx_code", "") or "")


def _catalogue_has_cvx() -> bool:
    return any(field.name == "cvx_code" for field in Service._meta.get_fields())


def vaccine_code(service: Service) -> Resource:
    """The vaccine: the service code in this server's service CodeSystem, and its CVX code
    when the catalogue has one."""
    codings = [{"system": service_code_system(), "code": service.code, "display": service.name}]
    if cvx := _cvx_code(service):
        codings.append({"system": CVX_SYSTEM, "code": cvx})
    return {"coding": codings, "text": service.name}


def _centre_as_organisation(centre: HealthCentre) -> Resource:
    """The centre as the organisation that gave the dose, identified by its MOPH facility code
    (or its BMA number): this server has no Organization resource to point at."""
    if centre.moph_hcode:
        identifier = {"system": HCODE_SYSTEM, "value": centre.moph_hcode}
    else:
        identifier = {"system": centre_number_system(), "value": str(centre.number)}
    return {"type": "Organization", "identifier": identifier, "display": centre.name}


def immunization_resource(dose: Appointment) -> Resource:
    """A dose given as an Immunization, with the patient as a name and a handle only (as
    Appointment has them). Needs dose.patient, dose.slot with its centre and service, dose.series
    and dose.lot."""
    slot = dose.slot
    given_at = dose.completed_at or slot.start
    resource: Resource = {
        "resourceType": "Immunization",
        "id": str(dose.pk),
        "status": GIVEN,
        "vaccineCode": vaccine_code(slot.service),
        "patient": _reference("Patient", dose.patient_id, dose.patient.full_name),
        "occurrenceDateTime": instant(given_at),
        "recorded": instant(given_at),
        "primarySource": True,
        "location": _reference("Location", slot.centre_id, slot.centre.name),
        "performer": [
            {
                "function": {
                    "coding": [
                        {
                            "system": PERFORMER_FUNCTION,
                            "code": "AP",
                            "display": "Administering Provider",
                        }
                    ]
                },
                "actor": _centre_as_organisation(slot.centre),
            }
        ],
    }
    if dose.lot is not None:
        resource["lotNumber"] = dose.lot.lot_number
        resource["expirationDate"] = dose.lot.expires_on.isoformat()
    if dose.series is not None and dose.dose_number is not None:
        resource["protocolApplied"] = [
            {
                "series": slot.service.name,
                "doseNumberPositiveInt": dose.dose_number,
                "seriesDosesPositiveInt": dose.series.doses_in_series,
            }
        ]
    return resource


def _doses(context: Context) -> QuerySet[Appointment]:
    if context.reader is None:
        raise FhirError(gettext("Sign in to read vaccine doses given."), status=401, code="login")
    return selectors.immunizations_visible_to(context.reader).order_by("given_at", "pk")


_read, _search = audited_reads(
    _doses, immunization_resource, kind="Immunization", action=AUDIT_ACTION
)


def _status(name: str, value: str) -> Q:
    if value == GIVEN:  # not an empty Q(), which vanishes when or-ed with another
        return Q(pk__isnull=False)
    if value in OTHER_STATUSES:
        return NOTHING
    raise FhirError(
        gettext("status: %(value)r is not an immunization status; use %(known)s.")
        % {"value": value, "known": ", ".join((GIVEN, *OTHER_STATUSES))}
    )


def _patient(name: str, value: str) -> Q:
    return Q(patient_id=parse_number_id(name, parse_reference(name, value, ["Patient"])[1]))


def _vaccine_code(name: str, value: str) -> Q:
    system, code = parse_token(value)
    if system in (None, service_code_system()):
        return Q(slot__service__code=code)
    if system == CVX_SYSTEM and _catalogue_has_cvx():
        return Q(slot__service__cvx_code=code)
    return NOTHING


IMMUNIZATION = ResourceType(
    name="Immunization",
    documentation=_(
        "Vaccine doses given at the centres. Signed in: a patient account sees its household's, "
        "staff those given at their centres; a partner API key with immunizations:read sees "
        "those of the people the partner booked. Patients appear as a name and a Patient id; "
        "there is no Patient endpoint."
    ),
    parameters=(
        Parameter("_id", "token", _("The dose's id (its appointment's)."), _filter(_ids(""))),
        Parameter("patient", "reference", _("Patient/5: one person."), _filter(_patient)),
        Parameter("date", "date", DATE_DOCUMENTATION, _date("given_at")),
        Parameter(
            "location",
            "reference",
            _("Location/12: given at this centre."),
            _filter(lambda name, value: Q(slot__centre_id=_centre_ref(name, value))),
        ),
        Parameter(
            "vaccine-code",
            "token",
            _("A vaccine's service code (this server's HealthcareService system)."),
            _filter(_vaccine_code),
        ),
        Parameter(
            "lot-number",
            "string",
            _("The vaccine lot's number, exactly."),
            _filter(lambda name, value: Q(lot__lot_number__iexact=value)),
        ),
        Parameter(
            "status",
            "token",
            _("completed: every dose served here was given."),
            _filter(_status),
        ),
    ),
    read=_read,
    search=_search,
    signed_in=True,
    partner_scope=PartnerKey.Scope.IMMUNIZATIONS_READ,
)
