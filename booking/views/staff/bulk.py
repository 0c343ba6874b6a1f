"""Moving or cancelling, many at once, the appointments left in slots that closed under them
(a closure, a drive called off) or whose vaccine dose a withdrawn lot left uncovered: choose
them and what to do, see what will happen, confirm. The rules and the work are
booking.services.bulk's, as for the staff API's bulk operation."""

from typing import Any

from django import forms
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from booking.models import Appointment
from booking.selectors import stranded_appointments
from booking.services.bulk import change_in_bulk
from booking.vaccination.stock import appointments_beyond_stock
from booking.views.form_errors import first_form_error
from clinics.dates import format_moment
from clinics.forms import PickedDate
from clinics.models import HealthCentre
from clinics.permissions import SignedInRequest, StaffAction
from clinics.refusals import refusal_caught
from clinics.views import centre_menu, staff_page


def _to_move_or_cancel(centre_id: int) -> list[Appointment]:
    """Those in closed slots, then those whose dose the stock left does not cover, soonest
    first, each once."""
    found = {appointment.pk: appointment for appointment in stranded_appointments(centre_id)}
    for appointment in appointments_beyond_stock(centre_id):
        found.setdefault(appointment.pk, appointment)
    return sorted(found.values(), key=lambda appointment: (appointment.slot.start, appointment.pk))


class BulkForm(forms.Form):
    appointment_ids = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Appointments"), coerce=int, widget=forms.CheckboxSelectMultiple
    )
    action = forms.ChoiceField(
        label=gettext_lazy("What to do"),
        choices=[
            ("move", gettext_lazy("Move each to the best open time in these days")),
            ("cancel", gettext_lazy("Cancel each, telling the patient why")),
        ],
        widget=forms.RadioSelect,
    )
    date_from = forms.DateField(label=gettext_lazy("From"), required=False, widget=PickedDate())
    date_to = forms.DateField(label=gettext_lazy("To"), required=False, widget=PickedDate())
    reason = forms.CharField(
        label=gettext_lazy("Reason the patients are told (for cancelling)"),
        required=False,
        max_length=200,
    )

    def __init__(self, *args: Any, choices: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["appointment_ids"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = choices
        field.initial = [value for value, _label in choices]


@require_http_methods(["GET", "POST"])
@staff_page(StaffAction.CANCEL_APPOINTMENTS)
def bulk_page(request: SignedInRequest, centre: HealthCentre) -> HttpResponse:
    """The centre's appointments in closed slots or beyond its vaccine stock; moving or
    cancelling the chosen ones asks again first (a second step that repeats the choice,
    without JavaScript)."""
    language = request.LANGUAGE_CODE
    stranded = _to_move_or_cancel(centre.number)
    labels = {
        appointment.pk: f"{format_moment(appointment.slot.start, language)} · "
        f"{appointment.patient.first_name} {appointment.patient.last_name} · "
        f"{appointment.slot.service.name_in(language)}"
        for appointment in stranded
    }
    form = BulkForm(request.POST or None, choices=list(labels.items()))
    context: dict[str, Any] = {
        "nav": "closures",
        "staff_centre": centre_menu(centre, language),
        "form": form,
        "stranded": stranded,
        "error": "",
    }
    if request.method == "POST":
        if not form.is_valid():
            context["error"] = first_form_error(form)
        elif request.POST.get("confirm") != "yes":
            context["confirming"] = [labels[pk] for pk in form.cleaned_data["appointment_ids"]]
        else:
            data = form.cleaned_data
            with refusal_caught() as refused:
                outcomes = change_in_bulk(
                    user=request.user,
                    appointment_ids=data["appointment_ids"],
                    action=data["action"],
                    reason=data["reason"],
                    date_from=data["date_from"],
                    date_to=data["date_to"],
                    centre_ids=None,
                )
            if refused:
                context["error"] = refused.message
            else:
                context["outcomes"] = [
                    {"label": labels.get(outcome.appointment_id, ""), "outcome": outcome}
                    for outcome in outcomes
                ]
                context["form"] = BulkForm(
                    choices=[
                        (a.pk, labels[a.pk])
                        for a in _to_move_or_cancel(centre.number)
                        if a.pk in labels
                    ]
                )
    status = 400 if context["error"] else 200
    return render(request, "booking/staff/bulk.html", context, status=status)
