"""Asking for one's data to be erased, and taking the request back (Thailand's PDPA,
section 33). The page says what happens and when before anything is done."""

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from booking.selectors import patients_of
from booking.services.deletion import (
    erase_on_for,
    pending_requests,
    request_deletion,
    withdraw_deletion,
)
from clinics.dates import format_day
from clinics.permissions import signed_in_user


@require_http_methods(["GET", "POST"])
def delete_my_data_page(request: HttpRequest) -> HttpResponse:
    """GET: each person on the account, when their data would be erased, and a confirmation
    box. POST: ask for it, for one person (or, for the account holder, everyone)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url="sign-in")
    user = signed_in_user(request)
    language = request.LANGUAGE_CODE
    people = list(patients_of(user))
    error = ""
    if request.method == "POST":
        chosen = next(
            (person for person in people if str(person.pk) == request.POST.get("patient")), None
        )
        if chosen is None:
            error = _("Choose whose data to erase.")
        elif request.POST.get("confirm") != "yes":
            error = _("Tick the box to confirm that you understand what will happen.")
        else:
            asked = request_deletion(patient=chosen, by=user)
            messages.success(
                request,
                ngettext(
                    "Your request is recorded. %(count)d coming appointment was cancelled.",
                    "Your request is recorded. %(count)d coming appointments were cancelled.",
                    asked.cancelled,
                )
                % {"count": asked.cancelled},
            )
            return HttpResponseRedirect(reverse("delete-my-data"))
    pending = pending_requests(user)
    rows = [
        {
            "person": person,
            "pending": pending.get(person.pk),
            "erase_on": format_day(
                pending[person.pk].erase_on if person.pk in pending else erase_on_for(person),
                language,
            ),
        }
        for person in people
    ]
    return render(
        request,
        "booking/pages/delete_my_data.html",
        {"rows": rows, "error": error, "can_ask": len(pending) < len(people)},
        status=400 if error else 200,
    )


@require_POST
def withdraw_deletion_request(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("delete-my-data"), login_url="sign-in")
    user = signed_in_user(request)
    person = next(
        (each for each in patients_of(user) if str(each.pk) == request.POST.get("patient")), None
    )
    if person is not None and withdraw_deletion(patient=person):
        messages.success(request, _("Your request to erase data is withdrawn."))
    else:
        messages.error(request, _("There is no request to withdraw for this person."))
    return HttpResponseRedirect(reverse("delete-my-data"))
