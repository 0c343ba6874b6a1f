"""Partner API keys for ninja (PartnerKeyAuth) and, by PartnerKeyAudit, every call made with
one written to the audit trail. The key itself is read from the request by
booking.interop.partner_keys, which the FHIR endpoints use too."""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja.security import HttpBearer

from booking.interop.partner_keys import partner_key_from_request
from booking.interop.partners import record_partner_call
from booking.models import PartnerKey


class PartnerRequest(HttpRequest):
    """A request PartnerKeyAuth let through: ninja sets its auth to the caller's key."""

    auth: PartnerKey


class PartnerKeyAuth(HttpBearer):
    """ninja authentication for partner endpoints, needing one scope."""

    def __init__(self, scope: PartnerKey.Scope) -> None:
        super().__init__()
        self.scope = scope

    def __call__(self, request: HttpRequest) -> PartnerKey:
        return partner_key_from_request(request, self.scope)

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return partner_key_from_request(request, self.scope)


class PartnerKeyAudit:
    """Middleware: write every call made with a partner key, with its answer's status."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        key: PartnerKey | None = getattr(request, "partner_key", None)
        if key is not None:
            record_partner_call(
                key=key,
                method=request.method or "",
                path=request.path,
                status_code=response.status_code,
                address=request.META.get("REMOTE_ADDR") or None,
            )
        return response
