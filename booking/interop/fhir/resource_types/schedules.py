"""Schedule and Slot: when each centre offers each service, and each bookable time."""

from collections.abc import Callable

from django.db.models import Q, QuerySet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from booking.interop.fhir import selectors
from booking.interop.fhir.resource_types.base import (
    DATE_DOCUMENTATION,
    Context,
    Page,
    ResourceType,
    _date,
    _filter,
    _ids,
    _one,
    _page,
    _service_type,
)
from booking.interop.fhir.resources import (
    BUSY,
    BUSY_UNAVAILABLE,
    FREE,
    HL7_SERVICE_TYPE,
    SMART_SERVICE_TYPE,
    Resource,
    ScheduleKey,
    ScheduleRow,
    schedule_resource,
    service_code_system,
    slot_resource,
)
from booking.interop.fhir.search import (
    Criterion,
    FhirError,
    Parameter,
    Search,
    not_found,
    parse_boolean,
    parse_number_id,
    parse_reference,
    parse_token,
)
from booking.models import Slot
from clinics.models import Service

# --- Schedule: rows from two queries, filtered in Python ------------------------------------------

ScheduleTest = Callable[[ScheduleRow], bool]


def _schedule_filter(
    build: Callable[[str, str], ScheduleTest],
) -> Callable[[list[ScheduleRow], Criterion], list[ScheduleRow]]:
    def apply(rows: list[ScheduleRow], criterion: Criterion) -> list[ScheduleRow]:
        tests = [build(criterion.name, value) for value in criterion.values]
        return [row for row in rows if any(test(row) for test in tests)]

    return apply


def _schedule_id(name: str, value: str) -> ScheduleTest:
    key = ScheduleKey.parse(value)
    return lambda row: row.key == key


def _schedule_actor(name: str, value: str) -> ScheduleTest:
    kind, ident = parse_reference(name, value, ["Location", "HealthcareService"])
    number = parse_number_id(name, ident)
    if kind == "Location":
        return lambda row: row.centre.number == number
    return lambda row: row.service.pk == number


def _schedule_service_type(name: str, value: str) -> ScheduleTest:
    system, code = parse_token(value)
    if system in (None, service_code_system()):
        return lambda row: row.service.code == code
    if system == HL7_SERVICE_TYPE and code == "57":
        return lambda row: row.service.kind == Service.Kind.VACCINATION
    if system == SMART_SERVICE_TYPE and code == "covid19-immunization":
        return lambda row: row.service.code == "vaccine-covid19"
    return lambda row: False


def _schedule_active(name: str, value: str) -> ScheduleTest:
    wanted = parse_boolean(name, value)
    return lambda row: row.active == wanted


def _read_schedule(ident: str, context: Context) -> Resource:
    key = ScheduleKey.parse(ident)
    if key is None:
        raise not_found("Schedule", ident)
    rows = selectors.schedule_rows(now=context.now, centre_ids={key.centre_id})
    for row in rows:
        if row.key == key:
            return schedule_resource(row, selectors.dose_numbers().get(row.service.pk, []))
    raise not_found("Schedule", ident)


def _search_schedules(search: Search, context: Context) -> Page:
    rows = search.apply(selectors.schedule_rows(now=context.now))
    doses = selectors.dose_numbers()
    found = rows[search.offset : search.offset + search.count]
    return Page(
        total=len(rows),
        resources=[schedule_resource(row, doses.get(row.service.pk, [])) for row in found],
    )


SCHEDULE = ResourceType(
    name="Schedule",
    documentation=_(
        "centre{n}-service{id}: a service's everyday calendar at a centre; "
        "drive{id}-centre{n}: a vaccination drive at a centre."
    ),
    parameters=(
        Parameter("_id", "token", _("The schedule's id."), _schedule_filter(_schedule_id)),
        Parameter(
            "actor",
            "reference",
            _(
                "Location/12 (a Schedule's one actor), or HealthcareService/3 for the service "
                "its serviceType and extension name."
            ),
            _schedule_filter(_schedule_actor),
        ),
        Parameter(
            "service-type",
            "token",
            _("A service code, or HL7 service-type 57 for every vaccine."),
            _schedule_filter(_schedule_service_type),
        ),
        Parameter("active", "token", _("true or false."), _schedule_filter(_schedule_active)),
    ),
    read=_read_schedule,
    search=_search_schedules,
)


# --- Slot ---------------------------------------------------------------------------------------


def _slots(context: Context) -> QuerySet[Slot]:
    return (
        selectors.released_slots(context.now)
        .select_related("service", "centre")
        .order_by("start", "pk")
    )


def _slot_schedule(name: str, value: str) -> Q:
    ident = parse_reference(name, value, ["Schedule"])[1]
    key = ScheduleKey.parse(ident)
    if key is None:
        raise FhirError(
            gettext(
                "%(name)s: %(value)r is not a schedule id of this server: "
                "centre12-service3 or drive7-centre12."
            )
            % {"name": name, "value": value}
        )
    if key.drive_id is not None:
        return Q(centre_id=key.centre_id, drive_id=key.drive_id)
    return Q(centre_id=key.centre_id, service_id=key.service_id, drive__isnull=True)


def _slot_actor(name: str, value: str) -> Q:
    kind, ident = parse_reference(name, value, ["Location", "HealthcareService"])
    number = parse_number_id(name, ident)
    return Q(centre_id=number) if kind == "Location" else Q(service_id=number)


SLOT_STATUSES = (FREE, BUSY, BUSY_UNAVAILABLE)


def _slot_status(context: Context) -> Callable[[QuerySet[Slot], Criterion], QuerySet[Slot]]:
    def apply(rows: QuerySet[Slot], criterion: Criterion) -> QuerySet[Slot]:
        unknown = set(criterion.values) - set(SLOT_STATUSES)
        if unknown:
            raise FhirError(
                gettext("status: %(value)r is not a slot status here; use %(known)s.")
                % {"value": sorted(unknown)[0], "known": ", ".join(SLOT_STATUSES)}
            )
        return selectors.slots_in_status(rows, set(criterion.values), context.now)

    return apply


def _slot_parameters(context: Context) -> tuple[Parameter, ...]:
    return (
        Parameter("_id", "token", _("The slot's id."), _filter(_ids(""))),
        Parameter(
            "schedule",
            "reference",
            _("Schedule/centre12-service3 or Schedule/drive7-centre12."),
            _filter(_slot_schedule),
        ),
        Parameter(
            "schedule.actor",
            "reference",
            _("The schedule's Location/12 or HealthcareService/3."),
            _filter(_slot_actor),
        ),
        Parameter(
            "start",
            "date",
            DATE_DOCUMENTATION,
            _date("start"),
        ),
        Parameter("status", "token", _("free, busy or busy-unavailable."), _slot_status(context)),
        Parameter(
            "service-type",
            "token",
            _("A service code, or HL7 service-type 57 for every vaccine."),
            _filter(_service_type("service__")),
        ),
    )


def slot_type(context: Context) -> ResourceType:
    """Slots: open for booking only; the status parameter needs the request's time."""
    return ResourceType(
        name="Slot",
        documentation=_("Times open for booking (a drive's once it is released)."),
        parameters=_slot_parameters(context),
        read=lambda ident, context: slot_resource(
            _one(_slots(context), ident, "Slot"), now=context.now
        ),
        search=lambda search, context: _page(
            search.apply(_slots(context)), search, lambda slot: slot_resource(slot, now=context.now)
        ),
    )
