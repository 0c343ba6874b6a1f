"""A person's vaccination record to show or print (/me/people/<id>/vaccinations), and the
public check of its QR code (/verify/<token>)."""

import segno
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from booking.selectors import patient_of
from booking.vaccination.records import (
    GivenDose,
    Verdict,
    check_token,
    doses_given,
    issue_record,
    token_for,
    withdraw_records,
)
from clinics.dates import format_date
from clinics.models import HealthCentre
from clinics.permissions import signed_in_user
from clinics.refusals import refusal_caught


def _rows(doses: list[GivenDose] | tuple[GivenDose, ...], language: str) -> list[dict[str, str]]:
    centres = {
        centre.number: centre.name_in(language)
        for centre in HealthCentre.objects.filter(number__in={d.centre_number for d in doses})
    }
    return [
        {
            "vaccine": dose.vaccine_in(language),
            "dose": (
                _("%(number)s of %(of)s") % {"number": dose.number, "of": dose.of}
                if dose.number and dose.of
                else str(dose.number or "—")
            ),
            "date": format_date(dose.given_on, language),
            "centre": centres.get(dose.centre_number, ""),
            "lot": dose.lot or "—",
        }
        for dose in doses
    ]


@require_http_methods(["GET", "POST"])
def vaccination_record_page(request: HttpRequest, patient_id: int) -> HttpResponse:
    """One person's doses given, with a QR code others can check; withdrawing the code."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url="sign-in")
    language = request.LANGUAGE_CODE
    with refusal_caught() as refused:
        patient = patient_of(signed_in_user(request), patient_id)
    if refused:
        return render(
            request,
            "booking/vaccination/record.html",
            {"nav": "me", "error": refused.message},
            status=refused.status,
        )
    if request.method == "POST" and request.POST.get("action") == "withdraw":
        withdraw_records(patient=patient)
        messages.success(
            request,
            _("The QR codes issued before no longer verify. This page shows a new one."),
        )
        return HttpResponseRedirect(request.path, status=303)
    doses = doses_given(patient)
    context: dict[str, object] = {
        "nav": "me",
        "patient": patient,
        "born": format_date(patient.date_of_birth, language),
        "rows": _rows(doses, language),
    }
    if doses:
        verify_url = request.build_absolute_uri(
            reverse("verify-record", args=[token_for(issue_record(patient=patient))])
        )
        context["verify_url"] = verify_url
        context["qr_code"] = mark_safe(
            segno.make(verify_url, error="m").svg_inline(
                scale=4, title=_("QR code to check this record")
            )
        )
    return render(request, "booking/vaccination/record.html", context)


@require_GET
def verify_record_page(request: HttpRequest, token: str) -> HttpResponse:
    """Whether a record's QR code is genuine and current; a current one shows the record's
    own lines and nothing more."""
    language = request.LANGUAGE_CODE
    check = check_token(token)
    status = {Verdict.NOT_GENUINE: 404, Verdict.WITHDRAWN: 410}.get(check.verdict, 200)
    context: dict[str, object] = {"verdict": check.verdict.value}
    if check.issued is not None:
        patient = check.issued.patient
        context["issued_on"] = format_date(check.issued.issued_at.date(), language)
        if check.verdict == Verdict.CURRENT:
            context["name"] = patient.full_name
            context["born"] = format_date(patient.date_of_birth, language)
            context["rows"] = _rows(check.doses, language)
    response = render(request, "booking/vaccination/verify.html", context, status=status)
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response
