"""Vaccine stock at a centre: each vaccine's doses on hand, booked, free in open slots,
reserved for courses and left to open, its lots, recording a delivery and withdrawing a lot."""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from booking.models import VaccineLot
from booking.vaccination.stock import receive_lot, stock_rows, withdraw_lot
from booking.views.form_errors import first_form_error
from clinics.dates import format_day
from clinics.forms import PickedDate
from clinics.models import HealthCentre, Service
from clinics.permissions import SignedInRequest, StaffAction, can_act_at
from clinics.refusals import refusal_caught
from clinics.views import centre_menu, staff_page


class DeliveryForm(forms.Form):
    service = forms.ModelChoiceField(
        label=gettext_lazy("Vaccine"),
        queryset=Service.objects.filter(kind=Service.Kind.VACCINATION, is_active=True),
    )
    lot_number = forms.CharField(label=gettext_lazy("Lot number"), max_length=40)
    expires_on = forms.DateField(label=gettext_lazy("Expires on"), widget=PickedDate())
    doses = forms.IntegerField(label=gettext_lazy("Doses"), min_value=1, max_value=1_000_000)


class WithdrawalForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why the lot is withdrawn"),
        max_length=200,
    )


@require_http_methods(["GET", "POST"])
@staff_page(StaffAction.VIEW_APPOINTMENTS)
def stock_page(request: SignedInRequest, centre: HealthCentre) -> HttpResponse:
    language = request.LANGUAGE_CODE
    may_receive = can_act_at(request.user, StaffAction.MANAGE_STOCK, centre.number)
    form = DeliveryForm(request.POST or None)
    error = ""
    if request.method == "POST":
        if not may_receive:
            return HttpResponse(status=403)
        if form.is_valid():
            data = form.cleaned_data
            with refusal_caught() as refused:
                receive_lot(
                    centre=centre,
                    service=data["service"],
                    lot_number=data["lot_number"].strip(),
                    expires_on=data["expires_on"],
                    doses=data["doses"],
                    received_by=request.user,
                )
            if refused:
                error = refused.message
            else:
                messages.success(request, _("The delivery is recorded."))
                return HttpResponseRedirect(request.path, status=303)
        else:
            error = first_form_error(form)
    rows = []
    for row in stock_rows(centre):
        rows.append(
            {
                **row,
                "name": row["service"].name_in(language),
                "lot_rows": [
                    {"lot": lot, "expires": format_day(lot.expires_on, language)}
                    for lot in row["lots"]
                ],
            }
        )
    return render(
        request,
        "booking/staff/stock.html",
        {
            "nav": "stock",
            "staff_centre": centre_menu(centre, language),
            "rows": rows,
            "form": form if may_receive else None,
            "may_withdraw": may_receive,
            "error": error,
        },
        status=400 if error else 200,
    )


@require_http_methods(["GET", "POST"])
@staff_page(StaffAction.MANAGE_STOCK)
def withdraw_lot_page(request: SignedInRequest, centre: HealthCentre, lot_id: int) -> HttpResponse:
    """Withdraw one of the centre's lots after a second look (the page is the confirmation
    step); the answer says how many patients were told and links to moving or cancelling
    their appointments."""
    language = request.LANGUAGE_CODE
    lot = VaccineLot.objects.select_related("service").filter(pk=lot_id, centre=centre).first()
    if lot is None:
        raise Http404
    form = WithdrawalForm(request.POST or None)
    context = {
        "nav": "stock",
        "staff_centre": centre_menu(centre, language),
        "lot": lot,
        "vaccine": lot.service.name_in(language),
        "expires": format_day(lot.expires_on, language),
        "form": form,
        "error": "",
    }
    if request.method == "POST":
        if form.is_valid():
            withdrawn = withdraw_lot(lot=lot, reason=form.cleaned_data["reason"].strip())
            context["withdrawn"] = withdrawn
        else:
            context["error"] = first_form_error(form)
    return render(
        request,
        "booking/staff/withdraw_lot.html",
        context,
        status=400 if context["error"] else 200,
    )
