"""The resource types served, each with its search parameters, its read and its search.

The CapabilityStatement is generated from these definitions, so it lists exactly what works."""

from booking.interop.fhir.resource_types.appointments import APPOINTMENT
from booking.interop.fhir.resource_types.base import Context, Page, ResourceType
from booking.interop.fhir.resource_types.immunizations import IMMUNIZATION
from booking.interop.fhir.resource_types.places import HEALTHCARE_SERVICE, LOCATION
from booking.interop.fhir.resource_types.schedules import SCHEDULE, slot_type

__all__ = ["Context", "Page", "ResourceType", "resource_types"]


def resource_types(context: Context) -> dict[str, ResourceType]:
    return {
        kind.name: kind
        for kind in (
            LOCATION,
            HEALTHCARE_SERVICE,
            SCHEDULE,
            slot_type(context),
            APPOINTMENT,
            IMMUNIZATION,
        )
    }
