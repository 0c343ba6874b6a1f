"""The one NinjaAPI: routers from the apps, and every error mapped to a response once.

Errors always come back as {"code", "message", "field", "errors", "detail"}: a stable code for
programs and a message in the request's language (Thai by default, English on request).
"""

import copy
import logging
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.schema import OpenAPISchema
from ninja.security import SessionAuth

from booking.api import accounts, desk, links, patients, public, staff, text_messages, walk_ins
from booking.interop.api import calendars, partners
from booking.interop.partner_keys import bearer_challenge
from booking.vaccination import api as drives
from booking.waitlist import api as waitlist
from clinics import api as clinics_api
from clinics import audit_api
from clinics.exceptions import CsrfFailed, DomainError, NotSignedIn
from config.errors import database_unavailable, error_body
from video import api as video_api

logger = logging.getLogger(__name__)

# Any operation can answer these, whatever its own responses: a body that is not JSON (400),
# not signed in (401), not allowed or no CSRF token (403), an id that matches nothing (404), a
# field that breaks a rule (422).
COMMON_ERRORS = {
    400: "The body is not valid JSON.",
    401: "Not signed in, or no valid key.",
    403: "Not allowed, or the CSRF token is missing.",
    404: "Nothing has that id or address.",
    422: "A field is missing or breaks a rule; `field` names it.",
}


_schemas: dict[tuple[str | None, tuple[tuple[str, Any], ...]], OpenAPISchema] = {}


class BookingAPI(NinjaAPI):
    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        """The schema, with the errors every operation can give documented on each.

        Made once per process and prefix (it takes about a second of CPU, and the routes do
        not change while the process runs); each caller gets its own copy."""
        key = (path_prefix, tuple(sorted((path_params or {}).items())))
        made = _schemas.get(key)
        if made is None:
            made = _schemas[key] = self._documented_schema(path_prefix, path_params)
        return copy.deepcopy(made)

    def _documented_schema(
        self, path_prefix: str | None, path_params: dict[str, Any] | None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        error = {"$ref": "#/components/schemas/ErrorOut"}
        for operations in schema["paths"].values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in COMMON_ERRORS.items():
                    if status in responses or str(status) in responses:
                        continue
                    responses[status] = {
                        "description": description,
                        "content": {"application/json": {"schema": error}},
                    }
        return schema


api = BookingAPI(
    title="BMA health centre booking API",
    version="1",
    description=(
        "Book appointments, video consultations and vaccines at Bangkok's 69 public health "
        "centres. Sign in with a session (POST /auth/sign-in); send the csrftoken cookie's "
        "value as X-CSRFToken on every write. Errors carry a stable `code` and a `message` "
        "in Thai or English (Accept-Language)."
    ),
    urls_namespace="api",
    auth=SessionAuth(),
)
api.add_router("", clinics_api.router)
api.add_router("", public.router)
api.add_router("", accounts.router)
api.add_router("", patients.router)
api.add_router("", staff.router)
# The desk's operations are on the staff router (booking.api.desk says why): imported above.
assert desk.router is staff.router
api.add_router("", walk_ins.router)
api.add_router("", drives.router)
api.add_router("", waitlist.router)
api.add_router("", links.router)
api.add_router("", calendars.router)
api.add_router("", partners.router)
api.add_router("", text_messages.router)
api.add_router("", video_api.router)
api.add_router("", audit_api.router)


@csrf_exempt  # a write to no address is a 404, not a CSRF failure
def unknown_api_path(request: HttpRequest, rest: str) -> HttpResponse:
    """Any other address under the API: the API's JSON 404 rather than an HTML page."""
    return api.create_response(
        request,
        error_body("not_found", _("There is no such address in the API. See /api/docs.")),
        status=404,
    )


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    detail = dict(exc.detail)
    field = detail.pop("field", None)
    response = api.create_response(
        request,
        error_body(exc.code, str(exc.message), field=field, detail=detail),
        status=exc.status,
    )
    if "retry_after" in detail:
        response["Retry-After"] = str(detail["retry_after"])
    if (challenge := bearer_challenge(exc)) is not None:
        response["WWW-Authenticate"] = challenge
    return response


def _validation_message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return _("This field is required.")
    if kind in {"string_too_short", "too_short"}:
        return _("This is too short.")
    if kind in {"string_too_long", "too_long"}:
        return _("This is too long.")
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return _("Enter a whole number.")
    if kind in {"float_parsing", "float_type"}:
        return _("Enter a number.")
    if kind == "time_with_offset":
        return _("Give the time in Bangkok time without a time zone, e.g. 08:30.")
    if kind == "date_out_of_range":
        return _("Enter a date between 1900 and 2100.")
    if kind.startswith("date"):
        return _("Enter a date as YYYY-MM-DD, e.g. 2026-12-01.")
    if kind.startswith("time"):
        return _("Enter a time as HH:MM, e.g. 08:30.")
    if kind in {"enum", "literal_error"}:
        return _("Choose one of: %(expected)s.") % {"expected": ctx.get("expected", "")}
    if kind in {"greater_than_equal", "greater_than"}:
        return _("This must be at least %(limit)s.") % {"limit": ctx.get("ge", ctx.get("gt", ""))}
    if kind in {"less_than_equal", "less_than"}:
        return _("This must be at most %(limit)s.") % {"limit": ctx.get("le", ctx.get("lt", ""))}
    if kind == "json_invalid":
        return _("The request body is not valid JSON.")
    if kind == "object_expected":
        return _("Send the body as a JSON object, e.g. {}.")
    return _("This value is not valid.")


def _field_name(location: list[Any] | tuple[Any, ...]) -> str:
    # ninja reports ("body", "payload", "phone") or ("query", "service"): keep what a person
    # would recognise as the field.
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form"}:
        parts = parts[1:]
    if parts and parts[0] in {"payload", "query"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {"field": _field_name(error.get("loc", ())), "message": _validation_message(error)}
        for error in exc.errors
    ]
    first = errors[0] if errors else {"field": "body", "message": ""}
    return api.create_response(
        request,
        error_body(
            "invalid_input",
            _("Please check %(field)s: %(message)s")
            % {"field": first["field"], "message": first["message"]},
            field=first["field"],
            errors=errors,
        ),
        status=422,
    )


@api.exception_handler(DjangoValidationError)
def model_validation_error(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    if hasattr(exc, "error_dict"):
        errors = [
            {"field": name, "message": str(messages[0])}
            for name, messages in exc.message_dict.items()
        ]
    else:
        errors = [{"field": "body", "message": message} for message in exc.messages]
    return api.create_response(
        request,
        error_body("invalid_input", errors[0]["message"], field=errors[0]["field"], errors=errors),
        status=422,
    )


@api.exception_handler(AuthenticationError)
def not_signed_in(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    error = NotSignedIn()
    return api.create_response(
        request, error_body(error.code, str(error.message)), status=error.status
    )


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(
        request, error_body("not_found", _("We could not find that.")), status=404
    )


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 403 and "CSRF" in str(exc):  # from ninja's session auth
        return domain_error(request, CsrfFailed())
    if exc.status_code == 400:  # a body that is not JSON at all
        return api.create_response(
            request,
            error_body("invalid_input", _("The request body is not valid JSON."), field="body"),
            status=400,
        )
    return api.create_response(request, error_body("http_error", str(exc)), status=exc.status_code)


@api.exception_handler(DataError)
def value_not_storable(request: HttpRequest, exc: DataError) -> HttpResponse:
    # A value the database refuses (too long, out of range): the transaction was rolled back.
    logger.warning("Database refused a value in %s %s: %s", request.method, request.path, exc)
    return api.create_response(
        request,
        error_body(
            "invalid_input", _("A value is too long or not allowed. Nothing was saved."), field=None
        ),
        status=422,
    )


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def database_busy(request: HttpRequest, exc: OperationalError | InterfaceError) -> HttpResponse:
    # The one answer every address gives (config/errors.py): nothing was written; try again.
    return database_unavailable(request, exc)
