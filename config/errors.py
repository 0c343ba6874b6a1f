"""Refusals given outside a view's own error handling, in the language each kind of address
speaks: the API's JSON error, a FHIR OperationOutcome, open data's JSON, plain text for
calendar files, and a small page for people. Used for a NUL character in a request and for a
database that cannot be reached, so that every address answers them alike.

Nothing here touches the database: these answers are given when it may be unreachable."""

import logging
import sys
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import format_html
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.defaults import server_error as django_server_error
from psycopg_pool import PoolTimeout

from booking.interop.fhir.search import FhirError
from booking.interop.fhir.views import operation_outcome

logger = logging.getLogger(__name__)

# A lock wait that ran out, a dropped connection, a server restarting: nothing was written.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 2
# FHIR's issue codes for the statuses given here.
OUTCOME_CODES = {400: "invalid", 422: "invalid", 429: "throttled", 503: "transient"}


def error_body(
    code: str,
    message: str,
    *,
    field: str | None = None,
    errors: list[dict[str, str]] | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "field": field,
        "errors": errors or [],
        "detail": detail or {},
    }


def refusal(request: HttpRequest, *, status: int, code: str, message: str) -> HttpResponse:
    """`message` with `status`, in the form the address's callers read."""
    path = request.path
    response: HttpResponse
    if path.startswith("/fhir/"):
        response = operation_outcome(
            FhirError(message, status=status, code=OUTCOME_CODES.get(status, "processing"))
        )
    elif path.startswith(("/api/", "/open-data/")) or path.endswith(".json"):
        response = JsonResponse(
            error_body(code, message), status=status, json_dumps_params={"ensure_ascii": False}
        )
        if path.startswith("/open-data/"):
            response["Access-Control-Allow-Origin"] = "*"
    elif path.endswith(".ics") or path.startswith(("/static/", "/sms/")):
        response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    else:
        page = format_html(
            '<!doctype html><html lang="{}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>{}</title></head><body><h1>{}</h1></body></html>",
            get_language() or "th",
            message,
            message,
        )
        response = HttpResponse(page, status=status, content_type="text/html; charset=utf-8")
        # Given before the middleware that adds these to every other page.
        response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        response["X-Frame-Options"] = "DENY"
    return response


def database_unavailable_status(exc: BaseException) -> int:
    """No connection free in the pool in time is the surge itself: 429, like the waiting room.
    Anything else (a lock wait ran out, the server went away) is 503."""
    return 429 if isinstance(exc.__cause__, PoolTimeout) else 503


def database_unavailable(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """The answer to a database that could not do the work: try again in a moment."""
    logger.warning("Database unavailable during %s %s: %s", request.method, request.path, exc)
    response = refusal(
        request,
        status=database_unavailable_status(exc),
        code="busy",
        message=_("We are very busy right now. Nothing was saved; please try again."),
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if response.status_code == 429:
        # The client reconnects, and may reach another, less busy process.
        response["Connection"] = "close"
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database that went away while a middleware, a template or a response
    used it (outside any view) is 503 with Retry-After as well; anything else is Django's 500."""
    exc = sys.exc_info()[1]
    if isinstance(exc, DATABASE_UNAVAILABLE):
        return database_unavailable(request, exc)
    return django_server_error(request)
