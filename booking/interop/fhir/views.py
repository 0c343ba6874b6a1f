"""FHIR R4 endpoints: plain views, because FHIR answers errors with an OperationOutcome.

Every answer is application/fhir+json, except the SMART Scheduling Links manifest (JSON, as
the bulk data specification has it) and its NDJSON files."""

import gzip
import json
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.http import http_date, quote_etag
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt

from booking.interop.fhir import publishing, selectors
from booking.interop.fhir.capability import capability_statement
from booking.interop.fhir.resource_types import Context, ResourceType, resource_types
from booking.interop.fhir.resources import Resource
from booking.interop.fhir.search import FhirError, handling_preference, parse_search
from booking.interop.partner_keys import bearer_challenge, key_challenge
from booking.models import PublishedFile
from clinics.exceptions import DomainError

FHIR_JSON = "application/fhir+json; charset=utf-8"
# What a client may accept for this server's answers (application/json+fhir is DSTU2's name).
JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")

View = Callable[..., HttpResponseBase]
# OperationOutcome issue codes for the API's refusals, by HTTP status.
OUTCOME_CODES = {401: "login", 403: "forbidden", 404: "not-found", 429: "throttled"}


def fhir_response(resource: Resource, *, status: int = 200) -> HttpResponse:
    return HttpResponse(
        json.dumps(resource, ensure_ascii=False), status=status, content_type=FHIR_JSON
    )


def operation_outcome(error: FhirError) -> HttpResponse:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": error.code, "diagnostics": error.message}],
    }
    response = fhir_response(outcome, status=error.status)
    if error.status == 405:
        response["Allow"] = "GET, HEAD"
    if error.status == 401:  # nobody signed in and no key: a key is the one HTTP scheme
        response["WWW-Authenticate"] = key_challenge()
    return response


def fhir_view(view: View) -> View:
    """GET and HEAD only; a FhirError becomes its OperationOutcome. Exempt from CSRF, which
    guards writes: a write is refused here with a 405 outcome, not an HTML 403 page."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            if request.method not in ("GET", "HEAD"):
                raise FhirError(
                    gettext("This server only reads: use GET."), status=405, code="not-supported"
                )
            return view(request, *args, **kwargs)
        except FhirError as error:
            return operation_outcome(error)
        except DomainError as error:  # a partner key refused: missing scope, revoked, too fast
            response = operation_outcome(
                FhirError(
                    str(error.message),
                    status=error.status,
                    code=OUTCOME_CODES.get(error.status, "processing"),
                )
            )
            if "retry_after" in error.detail:
                response["Retry-After"] = str(error.detail["retry_after"])
            if (challenge := bearer_challenge(error)) is not None:
                response["WWW-Authenticate"] = challenge
            return response

    return wrapper


def _serves_json(request: HttpRequest) -> bool:
    """Whether the client takes JSON: `_format` decides when given (FHIR has it override
    Accept), else the Accept header (none: anything)."""
    formats = request.GET.getlist("_format")
    if formats:
        return all("json" in value.lower() for value in formats)
    if not request.headers.get("Accept", "").strip():
        return True
    return any(request.accepts(media_type) for media_type in JSON_TYPES)


def json_only(view: View) -> View:
    """Refuse with 406 a client that takes only a format this server does not write (XML,
    Turtle): answering JSON with 200 would be a format it did not ask for."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not _serves_json(request):
            raise FhirError(
                gettext(
                    "This server answers in JSON only (application/fhir+json). Leave out "
                    "_format or send _format=json, and accept application/fhir+json."
                ),
                status=406,
                code="not-supported",
            )
        return view(request, *args, **kwargs)

    return wrapper


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("fhir:metadata")).removesuffix("metadata")


def _context(request: HttpRequest, kind: ResourceType | None = None) -> Context:
    # Only appointments and immunizations ask who is reading: other answers never touch the
    # session.
    reader = (
        selectors.appointment_reader(request, kind.partner_scope)
        if kind and kind.signed_in
        else None
    )
    return Context(now=timezone.now(), reader=reader)


def _resource_type(name: str, context: Context) -> ResourceType:
    types = resource_types(context)
    if name not in types:
        raise FhirError(
            gettext("This server has no %(name)s resources. It serves: %(known)s.")
            % {"name": name, "known": ", ".join(types)},
            status=404,
            code="not-supported",
        )
    return types[name]


@fhir_view
@json_only
def metadata(request: HttpRequest) -> HttpResponseBase:
    context = _context(request)
    statement = capability_statement(
        resource_types(context), base_url=_base_url(request), now=context.now
    )
    return fhir_response(statement)


@fhir_view
@json_only
def read(request: HttpRequest, kind: str, ident: str) -> HttpResponseBase:
    resource_type = _resource_type(kind, _context(request))
    context = _context(request, resource_type)
    return fhir_response(resource_type.read(ident, context))


@fhir_view
@json_only
def search(request: HttpRequest, kind: str) -> HttpResponseBase:
    resource_type = _resource_type(kind, _context(request))
    context = _context(request, resource_type)
    handling = handling_preference(request.headers.get("Prefer", ""))
    query = parse_search(
        request.GET, resource_type.parameters, resource_type.name, handling=handling
    )
    page = resource_type.search(query, context)
    base = _base_url(request)

    def link(relation: str, offset: int) -> Resource:
        # Only the parameters used: a client sees from the self link what was ignored.
        params = QueryDict(mutable=True)
        for name, value in query.used:
            params.appendlist(name, value)
        if offset:
            params["_offset"] = str(offset)
        encoded = params.urlencode(safe="|/:,")
        return {"relation": relation, "url": f"{base}{kind}" + (f"?{encoded}" if encoded else "")}

    links = [link("self", query.offset)]
    if query.count and query.offset + query.count < page.total:
        links.append(link("next", query.offset + query.count))
    if query.offset > 0:
        links.append(link("previous", max(query.offset - query.count, 0)))
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": page.total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in page.resources
        ],
    }
    if not bundle["entry"]:
        del bundle["entry"]  # FHIR has no empty lists
    response = fhir_response(bundle)
    if "handling=" in request.headers.get("Prefer", ""):
        response["Preference-Applied"] = f"handling={handling}"
    return response


@fhir_view
@json_only
def unknown(request: HttpRequest, rest: str) -> HttpResponseBase:
    raise FhirError(
        gettext("There is nothing at this address. Start from %(url)s.")
        % {"url": _base_url(request) + "metadata"},
        status=404,
        code="not-found",
    )


# --- SMART Scheduling Links --------------------------------------------------------------------


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header (RFC 9110 section 12.5.3) takes gzip: named with a
    quality above 0, or else covered by `*` with one."""
    qualities: dict[str, float] = {}
    for coding in accept_encoding.split(","):
        name, *params = (part.strip() for part in coding.split(";"))
        quality = 1.0
        for param in params:
            key, _equals, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[name.lower()] = quality
    for name in ("gzip", "x-gzip", "*"):
        if name in qualities:
            return qualities[name] > 0
    return False


@lru_cache(maxsize=32)
def _gzipped(pk: int, etag: str) -> bytes:
    """A stored file's body, compressed once per version (its etag) in this process."""
    body = PublishedFile.objects.filter(pk=pk).values_list("body", flat=True).first() or ""
    return gzip.compress(body.encode(), compresslevel=6, mtime=0)


def _published(request: HttpRequest, name: str) -> HttpResponseBase:
    """One stored file, with validators: a 304 never loads the body. Compressed with gzip when
    the client takes it; each encoding is a representation of its own, with its own ETag
    (RFC 9110 section 8.8.3), and caches are told the answer varies with Accept-Encoding."""
    found = (
        PublishedFile.objects.filter(name=name)
        .values("pk", "content_type", "etag", "modified_at")
        .first()
    )
    if found is None:
        raise FhirError(
            gettext("There is no such file. The manifest at %(url)s lists them.")
            % {"url": _base_url(request) + "$bulk-publish"},
            status=404,
            code="not-found",
        )
    compressed = accepts_gzip(request.headers.get("Accept-Encoding", ""))
    etag = quote_etag(found["etag"] + ("-gzip" if compressed else ""))
    last_modified = int(found["modified_at"].timestamp())
    headers = {
        "ETag": etag,
        "Last-Modified": http_date(last_modified),
        "Cache-Control": f"public, max-age={settings.SCHEDULING_LINKS_REFRESH_SECONDS}",
    }
    not_modified = get_conditional_response(request, etag=etag, last_modified=last_modified)
    if not_modified is not None:
        for header, value in headers.items():
            not_modified[header] = value
        patch_vary_headers(not_modified, ["Accept-Encoding"])
        return not_modified
    content_type = f"{found['content_type']}; charset=utf-8"
    if compressed:
        response = HttpResponse(_gzipped(found["pk"], found["etag"]), content_type=content_type)
        response["Content-Encoding"] = "gzip"
    else:
        body = PublishedFile.objects.filter(pk=found["pk"]).values_list("body", flat=True).first()
        response = HttpResponse(body or "", content_type=content_type)
    for header, value in headers.items():
        response[header] = value
    patch_vary_headers(response, ["Accept-Encoding"])
    return response


@fhir_view
def bulk_manifest(request: HttpRequest) -> HttpResponseBase:
    """The manifest, which is never missing: before the first background run, this request
    writes the files itself (once: later runs find them)."""
    if not PublishedFile.objects.filter(name=publishing.MANIFEST).exists():
        publishing.publish_scheduling_links()
    return _published(request, publishing.MANIFEST)


@fhir_view
def bulk_file(request: HttpRequest, name: str) -> HttpResponseBase:
    return _published(request, f"{publishing.PREFIX}{name}")
