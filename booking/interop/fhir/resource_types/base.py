"""What every resource type is made of, and the search helpers they share."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from booking.interop.fhir import selectors
from booking.interop.fhir.resources import (
    HL7_SERVICE_TYPE,
    SMART_SERVICE_TYPE,
    Resource,
    service_code_system,
)
from booking.interop.fhir.search import (
    Criterion,
    FhirError,
    Parameter,
    Search,
    date_lookups,
    is_whole_number,
    not_found,
    parse_date,
    parse_number_id,
    parse_reference,
    parse_token,
)
from booking.models import Appointment, PartnerKey
from clinics import audit
from clinics.models import Service

NOTHING = Q(pk__in=[])
DATE_DOCUMENTATION = _(
    "ge, le, gt, lt or eq, then a date (a Bangkok day) or a date and time; repeat for a range."
)


@dataclass(frozen=True)
class Context:
    """What a read or search may need besides its parameters."""

    now: datetime
    reader: selectors.AppointmentReader | None = None


@dataclass(frozen=True)
class Page:
    total: int
    resources: list[Resource]


@dataclass(frozen=True)
class ResourceType:
    name: str
    documentation: str | Any
    parameters: tuple[Parameter, ...]
    read: Callable[[str, Context], Resource]
    search: Callable[[Search, Context], Page]
    signed_in: bool = False
    # The scope a partner key needs to read this type (when signed_in).
    partner_scope: PartnerKey.Scope = PartnerKey.Scope.APPOINTMENTS_READ


def _any_of(criterion: Criterion, parse: Callable[[str], Q]) -> Q:
    matches = NOTHING
    for value in criterion.values:
        matches |= parse(value)
    return matches


def _filter(build: Callable[[str, str], Q]) -> Callable[[QuerySet[Any], Criterion], QuerySet[Any]]:
    """A parameter applied to a QuerySet: any of its comma-separated values."""

    def apply(rows: QuerySet[Any], criterion: Criterion) -> QuerySet[Any]:
        return rows.filter(_any_of(criterion, lambda value: build(criterion.name, value)))

    return apply


def _ids(prefix: str) -> Callable[[str, str], Q]:
    return lambda name, value: Q(**{f"{prefix}pk": parse_number_id(name, value)})


def _service_type(prefix: str) -> Callable[[str, str], Q]:
    """Our service codes, HL7's 57 (every vaccine), or SMART's COVID-19 code."""

    def build(name: str, value: str) -> Q:
        system, code = parse_token(value)
        if system in (None, service_code_system()):
            return Q(**{f"{prefix}code": code})
        if system == HL7_SERVICE_TYPE and code == "57":
            return Q(**{f"{prefix}kind": Service.Kind.VACCINATION})
        if system == SMART_SERVICE_TYPE and code == "covid19-immunization":
            return Q(**{f"{prefix}code": "vaccine-covid19"})
        return NOTHING

    return build


def _date(field_name: str) -> Callable[[QuerySet[Any], Criterion], QuerySet[Any]]:
    def apply(rows: QuerySet[Any], criterion: Criterion) -> QuerySet[Any]:
        if len(criterion.values) > 1:
            raise FhirError(
                gettext("%(name)s takes one date each time; repeat it for a range.")
                % {"name": criterion.name}
            )
        return rows.filter(
            **date_lookups(field_name, parse_date(criterion.name, criterion.values[0]))
        )

    return apply


def _page(rows: QuerySet[Any], search: Search, build: Callable[[Any], Resource]) -> Page:
    total = rows.count()
    found = rows[search.offset : search.offset + search.count] if search.count else []
    return Page(total=total, resources=[build(row) for row in found])


def _one(rows: QuerySet[Any], ident: str, kind: str) -> Any:
    if not is_whole_number(ident, digits=18):
        raise not_found(kind, ident)
    found = rows.filter(pk=int(ident)).first()
    if found is None:
        raise not_found(kind, ident)
    return found


def _centre_ref(name: str, value: str) -> int:
    return parse_number_id(name, parse_reference(name, value, ["Location"])[1])


def audit_staff_read(context: Context, appointments: list[Appointment], *, action: str) -> None:
    """A member of staff reading appointments or doses (with the patients' names) over FHIR
    reads their records: one event per centre. A household reading its own is not a staff read;
    a partner's reads are logged with its key's calls."""
    user = context.reader.user if context.reader is not None else None
    if user is None or not audit.is_staff_account(user):
        return
    by_centre: dict[int, list[int]] = {}
    for appointment in appointments:
        by_centre.setdefault(appointment.slot.centre_id, []).append(appointment.patient_id)
    for centre_id, patients in by_centre.items():
        audit.record_read(None, action, centre_id=centre_id, patients=patients)


def audited_reads(
    rows: Callable[[Context], QuerySet[Appointment]],
    build: Callable[[Appointment], Resource],
    *,
    kind: str,
    action: str,
) -> tuple[Callable[[str, Context], Resource], Callable[[Search, Context], Page]]:
    """The read and the search of a resource made from the appointments `rows` lets the reader
    see (Appointment, Immunization): what staff are shown goes in the audit trail."""

    def read(ident: str, context: Context) -> Resource:
        appointment = _one(rows(context), ident, kind)
        audit_staff_read(context, [appointment], action=action)
        return build(appointment)

    def search(query: Search, context: Context) -> Page:
        shown: list[Appointment] = []

        def resource(appointment: Appointment) -> Resource:
            shown.append(appointment)
            return build(appointment)

        page = _page(query.apply(rows(context)), query, resource)
        audit_staff_read(context, shown, action=action)
        return page

    return read, search
