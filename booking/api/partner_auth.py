"""Partner API keys on a request: `Authorization: Bearer bma_…`. Checked, scoped, counted
against the key's rate limit and, by PartnerKeyAudit, written to the audit trail."""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja.security import HttpBearer

from booking.exceptions import PartnerKeyMissing
from booking.models import PartnerKey
from booking.services.partners import (
    count_partner_call,
    partner_key_for,
    record_partner_call,
    require_live,
    require_scope,
)


def presented_key(request: HttpRequest) -> str | None:
    """The key in the Authorization header, if the caller sent one."""
    scheme, _space, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def partner_key_from_request(request: HttpRequest, scope: PartnerKey.Scope) -> PartnerKey:
    """The caller's live key with `scope`, counted against its limit; a DomainError otherwise.

    Once the key is known the request carries it, so that a refused call is audited too."""
    presented = presented_key(request)
    if presented is None:
        raise PartnerKeyMissing()
    key = partner_key_for(presented)
    request.partner_key = key  # type: ignore[attr-defined]
    require_live(key)
    require_scope(key, scope)
    count_partner_call(key=key)
    return key


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
