"""Request checks that belong to no app."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _

NUL_MARKERS = (b"\x00", b"\\u0000", b"%00")


class RefuseNulCharacters:
    """Refuse API requests carrying a NUL character: no field accepts it and PostgreSQL cannot
    store it. (Django forms, and so the admin, refuse it already.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            raw = request.get_full_path().encode() + request.body
            if any(marker in raw.lower() for marker in NUL_MARKERS):
                return JsonResponse(
                    {
                        "code": "invalid_input",
                        "message": _(
                            "The request contains a NUL character, which no field allows."
                        ),
                        "field": None,
                        "errors": [],
                        "detail": {},
                    },
                    status=422,
                )
        return self.get_response(request)


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
