"""Staff pages that belong to no one desk: signing in and out, choosing a centre, the check
every centre page makes (`staff_page`), and the centre's own details (address, phone, hours)."""

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec

import segno
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clinics.centre_facts import facts_in
from clinics.forms import CentreFactsForm
from clinics.limits import check_sign_in_rate
from clinics.models import HealthCentre
from clinics.permissions import (
    SignedInRequest,
    StaffAction,
    actions_at,
    centres_where,
    is_signed_in,
)
from clinics.refusals import refusal_caught
from clinics.services import (
    authenticator_uri,
    check_second_factor,
    confirm_authenticator,
    has_authenticator,
    needs_second_factor,
    start_authenticator,
    update_centre_facts,
)

P = ParamSpec("P")
CentrePage = Callable[Concatenate[SignedInRequest, HealthCentre, P], HttpResponse]


def centre_menu(centre: HealthCentre, language: str) -> dict[str, object]:
    """What the staff layout's menu needs to know of the centre a page is about."""
    return {"number": centre.number, "label": centre.label_in(language)}


def refuse(request: HttpRequest, message: str, status: int) -> HttpResponse:
    """A staff page that cannot be shown, saying why, in the staff layout."""
    return render(request, "clinics/staff_refused.html", {"error": message}, status=status)


def staff_page(action: StaffAction) -> Callable[[CentrePage[P]], Callable[..., HttpResponse]]:
    """A page about one centre (`number` in the URL) for staff who may take `action` there:
    anyone else is sent to sign in, or told they cannot open it (403); an unknown centre is a
    404, but only to staff. The view receives the centre instead of its number."""

    def decorate(view: CentrePage[P]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def checked(
            request: HttpRequest, number: int, *args: P.args, **kwargs: P.kwargs
        ) -> HttpResponse:
            if not is_signed_in(request):
                return redirect_to_login(request.get_full_path())
            user = request.user
            centre = HealthCentre.objects.select_related("district").filter(number=number).first()
            allowed = actions_at(user, number)
            if action not in allowed:
                return refuse(request, _("Your staff account cannot open this page."), 403)
            if centre is None:
                return refuse(request, _("There is no health centre with that number."), 404)
            # What the staff menu offers beyond the pages every member of staff opens.
            request.staff_links = {  # type: ignore[attr-defined]
                "audit": StaffAction.READ_AUDIT in allowed,
                "phones": StaffAction.CANCEL_APPOINTMENTS in allowed,
                "desk": StaffAction.BOOK_FOR_PATIENTS in allowed,
                "about": StaffAction.MANAGE_CENTRE in allowed,
            }
            return view(request, centre, *args, **kwargs)

        return checked

    return decorate


# Between the password and the authenticator's code, the session holds who is signing in
# (not signed in yet), since when, and where they were going.
PENDING_USER = "staff-sign-in-user"
PENDING_SINCE = "staff-sign-in-since"
PENDING_NEXT = "staff-sign-in-next"
PENDING_SECONDS = 5 * 60


@require_http_methods(["GET", "POST"])
def sign_in_page(request: HttpRequest) -> HttpResponse:
    """Staff sign in with their user name and password, then a code from their authenticator
    app (set up on the first sign-in)."""
    home = reverse("staff-home")
    next_url = request.POST.get("next") or request.GET.get("next") or home
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = home
    form = AuthenticationForm(request, data=request.POST or None)
    if request.method == "POST":
        with refusal_caught() as refused:
            check_sign_in_rate(
                username=request.POST.get("username", ""), address=request.META.get("REMOTE_ADDR")
            )
        if refused:
            return render(
                request,
                "clinics/sign_in.html",
                {"form": AuthenticationForm(request), "next": next_url, "error": refused.message},
                status=refused.status,
            )
    if request.method == "POST" and form.is_valid():
        user = form.get_user()
        if not needs_second_factor(user):
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return HttpResponseRedirect(next_url)
        request.session[PENDING_USER] = user.pk
        request.session[PENDING_SINCE] = timezone.now().timestamp()
        request.session[PENDING_NEXT] = next_url
        step = "code" if has_authenticator(user) else "authenticator"
        return HttpResponseRedirect(reverse(f"staff-sign-in-{step}"))
    return render(
        request,
        "clinics/sign_in.html",
        {"form": form, "next": next_url},
        status=400 if request.method == "POST" else 200,
    )


def _pending_user(request: HttpRequest) -> User | None:
    since = request.session.get(PENDING_SINCE, 0)
    pending = request.session.get(PENDING_USER)
    if not isinstance(pending, int) or timezone.now().timestamp() - since > PENDING_SECONDS:
        return None
    return User.objects.filter(pk=pending, is_active=True).first()


def _finish_sign_in(request: HttpRequest, user: User) -> HttpResponse:
    next_url = request.session.get(PENDING_NEXT, reverse("staff-home"))
    for key in (PENDING_USER, PENDING_SINCE, PENDING_NEXT):
        request.session.pop(key, None)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponseRedirect(next_url)


def _start_again(request: HttpRequest) -> HttpResponse:
    messages.info(request, _("Please sign in again."))
    return HttpResponseRedirect(reverse("staff-sign-in"))


@require_http_methods(["GET", "POST"])
def sign_in_code_page(request: HttpRequest) -> HttpResponse:
    """The second step: the 6-digit code the authenticator app shows now."""
    user = _pending_user(request)
    if user is None:
        return _start_again(request)
    error = ""
    if request.method == "POST":
        with refusal_caught() as refused:
            check_second_factor(user=user, code=request.POST.get("code", ""))
        if refused:
            error = refused.message
        else:
            return _finish_sign_in(request, user)
    return render(
        request,
        "clinics/sign_in_code.html",
        {"error": error},
        status=400 if error else 200,
    )


@require_http_methods(["GET", "POST"])
def sign_in_authenticator_page(request: HttpRequest) -> HttpResponse:
    """The first sign-in: add the key to an authenticator app (QR code or typed), then prove it
    works with a code from it."""
    user = _pending_user(request)
    if user is None:
        return _start_again(request)
    error = ""
    with refusal_caught() as refused:
        authenticator = start_authenticator(user=user)
    if refused:
        return HttpResponseRedirect(reverse("staff-sign-in-code"))
    if request.method == "POST":
        with refusal_caught() as refused:
            confirm_authenticator(user=user, code=request.POST.get("code", ""))
        if refused:
            error = refused.message
        else:
            messages.success(request, _("Your authenticator app is set up."))
            return _finish_sign_in(request, user)
    uri = authenticator_uri(authenticator)
    return render(
        request,
        "clinics/sign_in_authenticator.html",
        {
            "error": error,
            "qr_code": mark_safe(
                segno.make(uri, error="m").svg_inline(
                    scale=5, title=_("QR code for your authenticator app")
                )
            ),
            "key": " ".join(
                authenticator.key[i : i + 4] for i in range(0, len(authenticator.key), 4)
            ),
        },
        status=400 if error else 200,
    )


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponseRedirect(reverse("staff-sign-in"))


def home_page(request: HttpRequest) -> HttpResponse:
    """The centres this member of staff works at; with only one, straight to its day."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    numbers = centres_where(user, StaffAction.VIEW_APPOINTMENTS)
    centres = HealthCentre.objects.select_related("district").order_by("number")
    if numbers is not None:
        centres = centres.filter(number__in=numbers)
    rows = list(centres)
    if len(rows) == 1:
        return HttpResponseRedirect(reverse("staff-today", args=[rows[0].number]))
    language = request.LANGUAGE_CODE
    return render(
        request,
        "clinics/staff_home.html",
        {"centres": [centre_menu(centre, language) for centre in rows], "nav": "home"},
        # An account on no centre's staff (a patient's, or staff not yet given a role).
        status=200 if rows else 403,
    )


@require_http_methods(["GET", "POST"])
@staff_page(StaffAction.MANAGE_CENTRE)
def centre_about_page(request: SignedInRequest, centre: HealthCentre) -> HttpResponse:
    """The centre's address, phone and opening hours, as patients see them, for its admins to
    correct. A form that breaks a rule comes back with what was typed and nothing written."""
    language = request.LANGUAGE_CODE
    form = CentreFactsForm(
        request.POST if request.method == "POST" else None,
        initial=CentreFactsForm.initial_for(centre),
    )
    if request.method == "POST" and form.is_valid():
        with refusal_caught() as refused:
            update_centre_facts(centre=centre, by=request.user, facts=form.facts())
        if not refused:
            messages.success(request, _("The centre's details are saved."))
            return HttpResponseRedirect(request.path, status=303)
        refused.add_to(form)
    return render(
        request,
        "clinics/centre_about.html",
        {
            "nav": "about",
            "staff_centre": centre_menu(centre, language),
            "form": form,
            "error": "",
            "facts": facts_in(centre, language),
        },
        status=400 if form.errors else 200,
    )
