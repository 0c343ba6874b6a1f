"""Partner API keys on a request: `Authorization: Bearer bma_…`. Checked, scoped and counted
against the key's rate limit, for the partner API (booking.interop.api.partner_auth) and the FHIR
endpoints alike."""

from django.http import HttpRequest

from booking.exceptions import PartnerKeyInvalid, PartnerKeyMissing, PartnerScopeMissing
from booking.interop.partners import (
    count_partner_call,
    partner_key_for,
    require_live,
    require_scope,
)
from booking.models import PartnerKey
from clinics.exceptions import DomainError

# The protection space a key belongs to, named in every challenge (RFC 7235 section 2.2).
REALM = "BMA health centre booking"


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


def key_challenge() -> str:
    """The WWW-Authenticate header of a 401 to a request that sent no key."""
    return f'Bearer realm="{REALM}"'


def bearer_challenge(error: DomainError) -> str | None:
    """The WWW-Authenticate header for a refusal, as RFC 6750 section 3 has it, or None when the
    refusal is not about the key: no key sent names only the scheme and realm; a key we do not
    take (mistyped, revoked, expired) says invalid_token; a key without the scope (a 403) says
    insufficient_scope and which scope. The descriptions are ASCII English, as the RFC asks;
    the body says it in the reader's language."""
    challenge = key_challenge()
    if isinstance(error, PartnerKeyMissing):
        return challenge
    if isinstance(error, PartnerKeyInvalid):
        return (
            f'{challenge}, error="invalid_token", error_description="The key is not valid: '
            'mistyped, revoked or expired"'
        )
    if isinstance(error, PartnerScopeMissing):
        scope = str(error.detail.get("scope", ""))
        return f'{challenge}, error="insufficient_scope", scope="{scope}"'
    return None
