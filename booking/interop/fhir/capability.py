"""The CapabilityStatement, generated from the resource types so it lists exactly what works."""

from datetime import datetime

from django.utils.translation import gettext

from booking.interop.fhir.resource_types import ResourceType
from booking.interop.fhir.resources import FHIR_VERSION, Resource, instant
from booking.interop.fhir.search import result_parameters


def capability_statement(
    types: dict[str, ResourceType], *, base_url: str, now: datetime
) -> Resource:
    resources = []
    for kind in types.values():
        parameters = [
            {"name": p.name, "type": p.type, "documentation": str(p.documentation)}
            for p in kind.parameters
        ]
        parameters += [
            {"name": name, "type": "number", "documentation": str(documentation)}
            for name, documentation in result_parameters().items()
        ]
        resources.append(
            {
                "type": kind.name,
                "documentation": str(kind.documentation),
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "versioning": "no-version",
                "readHistory": False,
                "updateCreate": False,
                "searchParam": parameters,
            }
        )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(now),
        "publisher": gettext("Bangkok Metropolitan Administration health centres"),
        "kind": "instance",
        "software": {"name": "BMA health centre booking"},
        "implementation": {
            "description": gettext(
                "Read-only FHIR R4 API of the BMA health centre booking system, and SMART "
                "Scheduling Links files at $bulk-publish."
            ),
            "url": base_url,
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": gettext(
                    "Search parameters this server does not know are ignored, as FHIR R4 "
                    "recommends, and the Bundle's self link lists only those used; send "
                    "Prefer: handling=strict to have them refused with 400 instead. A "
                    "malformed value or an unsupported modifier is always refused with 400. "
                    "Results come in pages: follow the Bundle's next link."
                ),
                "security": {
                    "cors": True,
                    "description": gettext(
                        "Appointments and Immunizations need a signed-in session (a patient "
                        "account or staff) or a partner API key sent as Authorization: Bearer, "
                        "with appointments:read or immunizations:read; everything else is "
                        "public. A record the reader may not see answers 404, as an unknown id "
                        "does. CORS: the public answers (metadata, Location, Schedule, Slot, "
                        "HealthcareService and the $bulk-publish files) carry "
                        "Access-Control-Allow-Origin: * and answer preflights; Appointment and "
                        "Immunization answers never do, so a browser cannot send credentials "
                        "across origins."
                    ),
                },
                "resource": resources,
                "operation": [
                    {
                        "name": "bulk-publish",
                        "definition": (
                            "https://github.com/smart-on-fhir/smart-scheduling-links/blob/"
                            "master/specification.md"
                        ),
                        "documentation": gettext(
                            "SMART Scheduling Links: Locations, Schedules and the next weeks' "
                            "Slots as NDJSON files, refreshed every minute."
                        ),
                    }
                ],
            }
        ],
    }
