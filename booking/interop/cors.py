"""Cross-origin reads of the public, credential-free answers: a browser-only vaccine finder on
another site may read them (`Access-Control-Allow-Origin: *`); nothing that uses a session or a
partner key ever says so.

Public: the FHIR CapabilityStatement, the SMART Scheduling Links manifest and its NDJSON files,
the FHIR reads and searches of Location, Schedule, Slot and HealthcareService, a centre's
closures calendar, and open data. Not public: FHIR Appointment and Immunization (a session or
a key), the partner API, the private calendar feeds and appointment files (a secret link), and
everything else.

A Django middleware (PublicCors), so that every answer on a public path carries the headers
whichever layer gives it (a view, an OperationOutcome, the middleware that turns away NUL
characters or answers 503 when the database is away), and a preflight (`OPTIONS` with
`Access-Control-Request-Method`) is answered before any view. The load shedding in front of
Django asks `is_public` too for its 429. The lean routes and the public answer cache answer
none of these paths."""

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBase

PUBLIC_FHIR_TYPES = ("Location", "Schedule", "Slot", "HealthcareService")
_PUBLIC_PATH = re.compile(
    r"^/(?:fhir/r4/(?:metadata|\$bulk-publish|bulk/[^/]+"
    rf"|(?:{'|'.join(PUBLIC_FHIR_TYPES)})(?:/[^/]+)?)"
    r"|centres/[0-9]+/closures\.ics"
    r"|open-data/.*)$",
    re.DOTALL,
)
# A browser sends a preflight before a GET with any of these: FHIR's Prefer, and conditional
# requests (If-None-Match) for the files.
ALLOWED_REQUEST_HEADERS = "Accept, Accept-Language, Prefer, If-None-Match, If-Modified-Since"
# Response headers a script may read besides the simple ones.
EXPOSED_HEADERS = "ETag, Preference-Applied, Retry-After, Age"
PREFLIGHT_MAX_AGE = 86400


def is_public(path: str) -> bool:
    """Whether any origin may read the answers at this path."""
    return _PUBLIC_PATH.match(path) is not None


def public_headers() -> list[tuple[str, str]]:
    """The headers that open an answer to any origin."""
    return [
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Expose-Headers", EXPOSED_HEADERS),
    ]


def _preflight() -> HttpResponse:
    response = HttpResponse(status=204)
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
    response["Access-Control-Allow-Headers"] = ALLOWED_REQUEST_HEADERS
    response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    return response


class PublicCors:
    """Middleware: answers on public paths are open to any origin; their preflights are
    answered here. No credentials are allowed (no Access-Control-Allow-Credentials, and no
    Authorization among the request headers allowed), so a browser sends none."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not is_public(request.path_info):
            return self.get_response(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return _preflight()
        response = self.get_response(request)
        for name, value in public_headers():
            response[name] = value
        return response
