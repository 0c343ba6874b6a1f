"""Request checks that belong to no app."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext as _

from config.errors import DATABASE_UNAVAILABLE, database_unavailable, refusal

NUL_MARKERS = (b"\x00", b"\\u0000", b"%00")


class RefuseNulCharacters:
    """Refuse a request carrying a NUL character, in its address, query or body: no field
    accepts it, PostgreSQL cannot store or compare it, and a page would otherwise fail on it.
    The API answers 422, as for any field that breaks a rule; every other address 400, in its
    own form (config/errors.py)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.get_full_path().encode() + request.body
        if any(marker in raw.lower() for marker in NUL_MARKERS):
            return refusal(
                request,
                status=422 if request.path.startswith("/api/") else 400,
                code="invalid_input",
                message=_("The request contains a NUL character, which no field allows."),
            )
        return self.get_response(request)


class DatabaseUnavailable:
    """A database that cannot do the work (restarting, unreachable, a lock wait ran out) is 503
    with Retry-After on every address, as in the API: pages, FHIR, calendars and open data
    too. Errors outside any view reach config.errors.server_error, which answers the same."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, DATABASE_UNAVAILABLE):
            return database_unavailable(request, exc)
        return None


PAGE_LANGUAGES = ("th", "en")
PAGE_LANGUAGE_COOKIE = "page_language"
# Machine-read paths keep Accept-Language (the API) or have no words to translate.
NOT_PAGES = ("/api/", "/fhir/", "/admin/", "/open-data/", "/static/", "/ws/")


class PageLanguage:
    """Pages are in Thai unless the reader chose English: `?lang=en` (or `th`) on any page
    switches, and a cookie remembers the choice for the next page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(NOT_PAGES) or request.path.endswith(".ics"):
            return self.get_response(request)  # calendar files take ?lang= themselves
        chosen = request.GET.get("lang", "")
        remembered = request.COOKIES.get(PAGE_LANGUAGE_COOKIE, "")
        if chosen in PAGE_LANGUAGES:
            language = chosen
        elif remembered in PAGE_LANGUAGES:
            language = remembered
        else:
            language = "th"
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        if chosen in PAGE_LANGUAGES and chosen != remembered:
            response.set_cookie(
                PAGE_LANGUAGE_COOKIE,
                chosen,
                max_age=365 * 24 * 3600,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
            )
        return response


class ContentSecurityPolicy:
    """Send the site's Content-Security-Policy: scripts and styles only from our own static
    files (no inline script anywhere), nothing framed, forms posted only to us."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        return response
