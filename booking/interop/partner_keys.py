"""Partner API keys on a request: `Authorization: Bearer bma_…`. Checked, scoped and counted
against the key's rate limit, for the partner API (booking.interop.api.partner_auth) and the FHIR
endpoints alike."""

from django.http import HttpRequest

from booking.exceptions import PartnerKeyMissing
from booking.interop.partners import (
    count_partner_call,
    partner_key_for,
    require_live,
    require_scope,
)
from booking.models import PartnerKey


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
