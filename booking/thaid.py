"""ThaID sign-in: the national Digital ID app, as an OpenID Connect provider, through Authlib.

The authorization code flow with PKCE (S256); the state and the nonce are kept in the session
and checked on the way back; the ID token's RS256 signature is checked against the provider's
JWKS, and its issuer, audience, expiry and issue time too. The person's national ID comes from
one claim (THAID_NATIONAL_ID_CLAIM, "pid" in ThaID) and must be a valid Thai ID. Off unless
THAID_ISSUER, THAID_CLIENT_ID and THAID_CLIENT_SECRET are set."""

import logging
from datetime import date
from typing import Any

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.django_client import OAuth
from authlib.integrations.django_client.apps import DjangoOAuth2App
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from joserfc.errors import JoseError
from requests import RequestException

from booking.exceptions import ThaidFailed, ThaidNoNationalId
from booking.models import Patient
from booking.services.identity import VerifiedPerson
from booking.services.patients import normalise_national_id
from clinics.exceptions import InvalidInput

logger = logging.getLogger(__name__)

NAME = "thaid"
# Seconds the provider may take to answer one request.
TIMEOUT_SECONDS = 10
SEXES = {
    "male": Patient.Sex.MALE,
    "m": Patient.Sex.MALE,
    "1": Patient.Sex.MALE,
    "female": Patient.Sex.FEMALE,
    "f": Patient.Sex.FEMALE,
    "2": Patient.Sex.FEMALE,
}


def thaid_enabled() -> bool:
    return bool(settings.THAID_ISSUER and settings.THAID_CLIENT_ID and settings.THAID_CLIENT_SECRET)


def _client() -> DjangoOAuth2App:
    oauth = OAuth()
    client: DjangoOAuth2App = oauth.register(
        name=NAME,
        client_id=settings.THAID_CLIENT_ID,
        client_secret=settings.THAID_CLIENT_SECRET,
        server_metadata_url=f"{settings.THAID_ISSUER}/.well-known/openid-configuration",
        client_kwargs={
            "scope": settings.THAID_SCOPES,
            "code_challenge_method": "S256",
            "default_timeout": TIMEOUT_SECONDS,
        },
    )
    return client


def start_thaid_sign_in(request: HttpRequest, *, redirect_uri: str) -> HttpResponse:
    """The redirect to ThaID, with a fresh state, nonce and PKCE challenge in the session."""
    try:
        client = _client()
        _issuer(client)
        response: HttpResponse = client.authorize_redirect(request, redirect_uri)
    except (AuthlibBaseError, JoseError, RequestException, ValueError, RuntimeError) as error:
        logger.warning("ThaID sign-in could not start: %r", error)
        raise ThaidFailed() from error
    return response


def finish_thaid_sign_in(request: HttpRequest) -> tuple[VerifiedPerson, str]:
    """The person ThaID vouches for and their subject, from the callback; ThaidFailed when
    anything does not check out (state, code, PKCE, signature, issuer, audience, times,
    nonce), ThaidNoNationalId when the ID claim is missing or not a valid Thai ID."""
    try:
        client = _client()
        issuer = _issuer(client)
        token = client.authorize_access_token(
            request,
            leeway=settings.THAID_CLOCK_LEEWAY_SECONDS,
            # Authlib alone accepts another audience when `azp` names us: ours must be in it.
            claims_options={
                "iss": {"essential": True, "value": issuer},
                "aud": {"essential": True, "values": [settings.THAID_CLIENT_ID]},
                "sub": {"essential": True},
                "exp": {"essential": True},
                "iat": {"essential": True},
            },
        )
    except (AuthlibBaseError, JoseError, RequestException, ValueError, RuntimeError) as error:
        logger.warning("ThaID sign-in refused: %r", error)
        raise ThaidFailed() from error
    claims: dict[str, Any] | None = token.get("userinfo")
    if not claims or not claims.get("sub"):  # no ID token came back: nothing was proven
        raise ThaidFailed()
    return _person_from(claims), str(claims["sub"])


def _issuer(client: DjangoOAuth2App) -> str:
    """The issuer as the discovery document spells it, if it is the one configured."""
    issuer = str(client.load_server_metadata().get("issuer", ""))
    if issuer.rstrip("/") != settings.THAID_ISSUER:
        raise ValueError("The discovery document names another issuer.")
    return issuer


def _person_from(claims: dict[str, Any]) -> VerifiedPerson:
    raw = claims.get(settings.THAID_NATIONAL_ID_CLAIM)
    try:
        national_id = normalise_national_id(str(raw)) if raw else ""
    except InvalidInput:
        national_id = ""
    if not national_id:
        raise ThaidNoNationalId()
    return VerifiedPerson(
        national_id=national_id,
        first_name=str(claims.get("given_name") or "").strip(),
        last_name=str(claims.get("family_name") or "").strip(),
        date_of_birth=_birthdate(claims.get("birthdate")),
        sex=SEXES.get(str(claims.get("gender") or "").strip().lower(), ""),
    )


def _birthdate(raw: object) -> date | None:
    """An ISO date, the year in the Christian or (past 2400) the Buddhist era."""
    try:
        year, month, day = (int(part) for part in str(raw).split("-"))
        return date(year - 543 if year > 2400 else year, month, day)
    except ValueError:
        return None
