"""Signing in with ThaID: off to the ThaID app and back (booking.thaid checks what comes
back), then into the person's account; or, when a phone's account holds their ID as its own
and nobody proved it, a choice: prove that phone with a passcode to connect it, or say it is
not theirs and take the record into an account of its own (booking.services.identity)."""

import time
from datetime import date

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from booking.services.identity import (
    VerifiedPerson,
    connect_phone_account,
    decline_phone_account,
    sign_in_with_verified_identity,
)
from booking.services.passcodes import send_sign_in_code
from booking.thaid import finish_thaid_sign_in, start_thaid_sign_in, thaid_enabled
from clinics.refusals import Refusal, refusal_caught, refusal_flashed

# Who ThaID vouched for, while they choose what to do with a phone's account; for this long.
PENDING_KEY = "thaid-pending"
PENDING_SECONDS = 600
CALLBACK_PATH = "/sign-in/thaid/callback"


def _enabled() -> None:
    if not thaid_enabled():
        raise Http404()


@require_GET
def thaid_start(request: HttpRequest) -> HttpResponse:
    """Off to ThaID, to prove who you are in the app."""
    _enabled()
    with refusal_caught() as refused:
        return start_thaid_sign_in(request, redirect_uri=request.build_absolute_uri(CALLBACK_PATH))
    return _failed(request, refused, status=503)  # reached only when refused


@require_GET
def thaid_callback(request: HttpRequest) -> HttpResponse:
    """Back from ThaID: everything checked, then into the person's account."""
    _enabled()
    request.session.pop(PENDING_KEY, None)
    with refusal_caught() as refused:
        person, subject = finish_thaid_sign_in(request)
        match = sign_in_with_verified_identity(person=person, subject=subject)
    if refused:
        return _failed(request, refused)
    if match.account is not None:
        return _signed_in(request, match.account)
    request.session[PENDING_KEY] = {
        "national_id": person.national_id,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "date_of_birth": person.date_of_birth.isoformat() if person.date_of_birth else "",
        "sex": person.sex,
        "subject": subject,
        "phone": match.phone_to_prove,
        "until": time.time() + PENDING_SECONDS,
    }
    return HttpResponseRedirect(reverse("thaid-connect"), status=303)


@require_http_methods(["GET", "POST"])
def thaid_connect(request: HttpRequest) -> HttpResponse:
    """We have an account for you on 08x-xxx-x678: prove that phone, or say it is not yours."""
    _enabled()
    pending = request.session.get(PENDING_KEY)
    if not pending or pending["until"] < time.time():
        request.session.pop(PENDING_KEY, None)
        messages.error(request, _("Please sign in with ThaID again."))
        return HttpResponseRedirect(reverse("sign-in"), status=303)
    person = VerifiedPerson(
        national_id=pending["national_id"],
        first_name=pending["first_name"],
        last_name=pending["last_name"],
        date_of_birth=date.fromisoformat(pending["date_of_birth"])
        if pending["date_of_birth"]
        else None,
        sex=pending["sex"],
    )
    if request.method == "GET":
        return render(
            request,
            "booking/pages/thaid_connect.html",
            {
                "nav": "sign-in",
                "phone": masked_phone(pending["phone"]),
                "sent": pending.get("sent", False),
            },
        )
    action = request.POST.get("action", "")
    with refusal_flashed(request):
        if action == "send_code":
            send_sign_in_code(
                phone=pending["phone"],
                address=request.META.get("REMOTE_ADDR"),
                language=request.LANGUAGE_CODE,
            )
            request.session[PENDING_KEY] = {**pending, "sent": True}
            messages.success(
                request,
                _("We have texted a passcode to %(phone)s.")
                % {"phone": masked_phone(pending["phone"])},
            )
        elif action == "connect":
            account = connect_phone_account(person=person, code=request.POST.get("code", ""))
            return _signed_in(request, account)
        elif action == "decline":
            account = decline_phone_account(person=person, subject=pending["subject"])
            messages.info(
                request,
                _(
                    "Your record is now in an account of your own, which you open with ThaID. "
                    "Add your phone number under your details to get text messages."
                ),
            )
            return _signed_in(request, account)
    return HttpResponseRedirect(reverse("thaid-connect"), status=303)


def masked_phone(phone: str) -> str:
    """+66812345678 as the last three digits of 08x-xxx-x678."""
    local = f"0{phone[3:]}" if phone.startswith("+66") else phone
    return f"{local[:2]}x-xxx-x{local[-3:]}"


def _signed_in(request: HttpRequest, account: User) -> HttpResponse:
    request.session.pop(PENDING_KEY, None)
    login(request, account, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponseRedirect(reverse("my-appointments"), status=303)


def _failed(request: HttpRequest, refused: Refusal, *, status: int | None = None) -> HttpResponse:
    assert refused.error is not None
    return render(
        request,
        "booking/pages/thaid_failed.html",
        {"nav": "sign-in", "message": refused.message, "code": refused.error.code},
        status=status or refused.status,
    )
