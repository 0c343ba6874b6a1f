"""Location (the health centres) and HealthcareService (the services they offer)."""

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from booking.interop.fhir.resource_types.base import (
    NOTHING,
    ResourceType,
    _any_of,
    _centre_ref,
    _filter,
    _ids,
    _one,
    _page,
    _service_type,
)
from booking.interop.fhir.resources import (
    HCODE_SYSTEM,
    Resource,
    centre_number_system,
    healthcare_service_resource,
    location_resource,
    service_code_system,
)
from booking.interop.fhir.search import (
    Criterion,
    FhirError,
    Parameter,
    is_whole_number,
    parse_boolean,
    parse_token,
)
from clinics.models import HealthCentre, Service

# --- Location -----------------------------------------------------------------------------------


def _centres() -> QuerySet[HealthCentre]:
    return HealthCentre.objects.select_related("district").order_by("number")


def _centre_name(rows: QuerySet[HealthCentre], criterion: Criterion) -> QuerySet[HealthCentre]:
    lookup = {"": "istartswith", "contains": "icontains", "exact": "exact"}[criterion.modifier]
    fields = ("name_th", "name_en", "short_name_th", "abbrev_th")
    return rows.filter(
        _any_of(
            criterion,
            lambda value: Q(
                *[Q(**{f"{field}__{lookup}": value}) for field in fields], _connector=Q.OR
            ),
        )
    )


def _centre_identifier(name: str, value: str) -> Q:
    system, code = parse_token(value)
    by_hcode = Q(moph_hcode=code) if code else NOTHING
    by_number = Q(number=int(code)) if is_whole_number(code, digits=5) else NOTHING
    if system is None:
        return by_hcode | by_number
    return {HCODE_SYSTEM: by_hcode, centre_number_system(): by_number}.get(system, NOTHING)


def _centre_status(name: str, value: str) -> Q:
    if value not in {"active", "inactive"}:
        raise FhirError(gettext("status must be active or inactive."))
    return Q(is_active=value == "active")


LOCATION = ResourceType(
    name="Location",
    documentation=_("The BMA public health centres."),
    parameters=(
        Parameter("_id", "token", _("The centre's number."), _filter(_ids(""))),
        Parameter(
            "name",
            "string",
            _("Start of the Thai or English name, short name or abbreviation (:contains, :exact)."),
            _centre_name,
            modifiers=("contains", "exact"),
        ),
        Parameter(
            "identifier",
            "token",
            _("The MOPH facility code or the centre number, with or without its system."),
            _filter(_centre_identifier),
        ),
        Parameter("status", "token", _("active or inactive."), _filter(_centre_status)),
    ),
    read=lambda ident, context: location_resource(_one(_centres(), ident, "Location")),
    search=lambda search, context: _page(search.apply(_centres()), search, location_resource),
)


# --- HealthcareService --------------------------------------------------------------------------


def _services() -> QuerySet[Service]:
    centres = Prefetch("centres", queryset=HealthCentre.objects.only("number"))
    return Service.objects.prefetch_related(centres).order_by("pk")


def _service_resource(service: Service) -> Resource:
    return healthcare_service_resource(service, [centre.number for centre in service.centres.all()])


def _service_name(rows: QuerySet[Service], criterion: Criterion) -> QuerySet[Service]:
    lookup = {"": "istartswith", "contains": "icontains", "exact": "exact"}[criterion.modifier]
    return rows.filter(
        _any_of(
            criterion,
            lambda value: Q(**{f"name_th__{lookup}": value}) | Q(**{f"name_en__{lookup}": value}),
        )
    )


def _service_identifier(name: str, value: str) -> Q:
    system, code = parse_token(value)
    return Q(code=code) if system in (None, service_code_system()) else NOTHING


HEALTHCARE_SERVICE = ResourceType(
    name="HealthcareService",
    documentation=_("The services people book, and the centres offering each."),
    parameters=(
        Parameter("_id", "token", _("The service's id."), _filter(_ids(""))),
        Parameter(
            "name",
            "string",
            _("Start of the Thai or English name (:contains, :exact)."),
            _service_name,
            modifiers=("contains", "exact"),
        ),
        Parameter("identifier", "token", _("The service code."), _filter(_service_identifier)),
        Parameter(
            "service-type",
            "token",
            _("A service code, or HL7 service-type 57 for every vaccine."),
            _filter(_service_type("")),
        ),
        Parameter(
            "location",
            "reference",
            _("Offered at this centre: Location/12."),
            lambda rows, criterion: rows.filter(
                _any_of(criterion, lambda value: Q(centres=_centre_ref(criterion.name, value)))
            ).distinct(),
        ),
        Parameter(
            "active",
            "token",
            _("true or false."),
            _filter(lambda name, value: Q(is_active=parse_boolean(name, value))),
        ),
    ),
    read=lambda ident, context: _service_resource(_one(_services(), ident, "HealthcareService")),
    search=lambda search, context: _page(search.apply(_services()), search, _service_resource),
)
