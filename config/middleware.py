"""Request checks that belong to no app."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
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
