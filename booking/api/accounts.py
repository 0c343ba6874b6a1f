"""Sign-in with Django sessions: patients with a passcode texted to their phone, staff with a
username and password."""

import contextlib

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from ninja.utils import check_csrf

from booking.api.people import person_details
from booking.exceptions import SignInFailed
from booking.models import Patient
from booking.schemas import (
    AccountOut,
    PasscodeIn,
    PasscodeSentOut,
    PasscodeSignInIn,
    PatientDetailOut,
    RegisterIn,
    SignInIn,
)
from booking.services.passcodes import (
    CodeSent,
    register_with_code,
    send_sign_in_code,
    sign_in_with_code,
)
from booking.services.patients import normalise_phone
from clinics.exceptions import CsrfFailed, InvalidInput
from clinics.limits import check_sign_in_rate
from clinics.models import StaffMembership
from clinics.permissions import signed_in_user
from clinics.schemas import ErrorOut
from clinics.services import check_second_factor, needs_second_factor

router = Router(tags=["Sign-in"])


class CsrfOut(Schema):
    csrf_token: str


def _require_csrf(request: HttpRequest) -> None:
    # Sign-in and registration check CSRF too, so no other site can sign a browser in.
    if check_csrf(request) is not None:
        raise CsrfFailed()


def _account(request: HttpRequest) -> AccountOut:
    user = signed_in_user(request)
    centres = list(
        StaffMembership.objects.filter(user_id=user.pk).values_list("centre_id", flat=True)
    )
    return AccountOut(
        username=user.get_username(),
        is_staff_member=bool(centres) or bool(getattr(user, "is_superuser", False)),
        centres=centres,
    )


@router.get("/auth/csrf", response=CsrfOut, auth=None)
def csrf_token(request: HttpRequest) -> CsrfOut:
    """A CSRF token (also set as the csrftoken cookie) to send as X-CSRFToken on writes."""
    return CsrfOut(csrf_token=get_token(request))


@router.post(
    "/auth/passcode",
    response={202: PasscodeSentOut, 403: ErrorOut, 422: ErrorOut, 429: ErrorOut},
    auth=None,
)
def send_passcode(request: HttpRequest, payload: PasscodeIn) -> Status[CodeSent]:
    """Text a 6-digit passcode to a phone, to sign in or to register.

    The answer is the same whether or not the number has an account. A new code replaces the
    last one; codes expire after 5 minutes. Only mobile numbers of the countries served
    (Thailand unless configured otherwise) get a code: any other number is a 422 naming
    `phone`. Too many requests (per phone, address, block of numbers, or in all) get 429 with
    Retry-After."""
    _require_csrf(request)
    sent = send_sign_in_code(
        phone=payload.phone,
        address=request.META.get("REMOTE_ADDR"),
        language=get_language() or "th",
    )
    return Status(202, sent)


@router.post(
    "/auth/passcode/sign-in",
    response={200: AccountOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    auth=None,
)
def sign_in_with_passcode(request: HttpRequest, payload: PasscodeSignInIn) -> AccountOut:
    """Sign in with the phone and the passcode texted to it.

    A correct code for a number with no account answers 404 `not_registered` and stays valid
    for POST /auth/register. Five wrong tries spend a code."""
    _require_csrf(request)
    user = sign_in_with_code(phone=payload.phone, code=payload.code)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return _account(request)


@router.post(
    "/auth/register",
    response={201: PatientDetailOut, 401: ErrorOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    auth=None,
)
def register(request: HttpRequest, payload: RegisterIn) -> Status[Patient]:
    """Open an account with the phone's passcode (POST /auth/passcode first), and sign in."""
    _require_csrf(request)
    patient = register_with_code(code=payload.passcode, person=person_details(payload))
    login(request, patient.account, backend="django.contrib.auth.backends.ModelBackend")
    return Status(201, patient)


@router.post(
    "/auth/sign-in",
    response={200: AccountOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut, 429: ErrorOut},
    auth=None,
)
def sign_in(request: HttpRequest, payload: SignInIn) -> AccountOut:
    """Sign in with a username and password (staff; patients use a passcode)."""
    _require_csrf(request)
    username = payload.username.strip()
    with contextlib.suppress(InvalidInput):  # not a phone number: a staff username
        username = normalise_phone(username)
    check_sign_in_rate(username=username, address=request.META.get("REMOTE_ADDR"))
    user = authenticate(request, username=username, password=payload.password)
    if user is None:
        raise SignInFailed()
    if needs_second_factor(user):
        if not payload.code:
            raise InvalidInput(
                _("Staff also give the 6-digit code from their authenticator app."), field="code"
            )
        check_second_factor(user=user, code=payload.code)
    login(request, user)
    return _account(request)


@router.post("/auth/sign-out", response={204: None})
def sign_out(request: HttpRequest) -> Status[None]:
    logout(request)
    return Status(204, None)


@router.get("/auth/me", response=AccountOut)
def me(request: HttpRequest) -> AccountOut:
    """Who is signed in, and at which centres they work."""
    return _account(request)
