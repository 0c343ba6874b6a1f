"""A centre's weekly schedules (add, change, end) and closures (add, lift), through the same
services as the JSON API. A form that breaks a rule comes back with the message and nothing
written."""

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods

from booking.services.schedules import (
    ScheduleFields,
    add_closure,
    create_schedule_template,
    end_schedule_template,
    remove_closure,
    update_schedule_template,
)
from booking.services.slots import horizon
from booking.views.form_errors import first_form_error
from clinics.dates import format_day
from clinics.exceptions import DomainError
from clinics.forms import PickedDate, PickedTime
from clinics.models import HealthCentre, ScheduleTemplate, Service
from clinics.permissions import SignedInRequest, StaffAction
from clinics.refusals import refusal_caught
from clinics.selectors import holidays_between, upcoming_closures
from clinics.views import centre_menu, refuse, staff_page

WEEKDAYS = [
    ("1", gettext_lazy("Monday")),
    ("2", gettext_lazy("Tuesday")),
    ("3", gettext_lazy("Wednesday")),
    ("4", gettext_lazy("Thursday")),
    ("5", gettext_lazy("Friday")),
    ("6", gettext_lazy("Saturday")),
    ("7", gettext_lazy("Sunday")),
]

# The public holidays the closures page lists (the ones that close centres).
HOLIDAYS_AHEAD = timedelta(days=62)


class ScheduleForm(forms.Form):
    service = forms.ModelChoiceField(
        label=gettext_lazy("Service"), queryset=Service.objects.filter(is_active=True)
    )
    weekdays = forms.MultipleChoiceField(
        label=gettext_lazy("Days"), choices=WEEKDAYS, widget=forms.CheckboxSelectMultiple
    )
    start_time = forms.TimeField(label=gettext_lazy("First slot starts"), widget=PickedTime())
    end_time = forms.TimeField(label=gettext_lazy("Last slot ends by"), widget=PickedTime())
    slot_minutes = forms.IntegerField(
        label=gettext_lazy("Minutes per slot"), min_value=5, max_value=240
    )
    capacity = forms.IntegerField(label=gettext_lazy("People per slot"), min_value=1, max_value=500)
    valid_from = forms.DateField(label=gettext_lazy("From"), widget=PickedDate())
    valid_until = forms.DateField(
        label=gettext_lazy("Until (optional)"),
        required=False,
        widget=PickedDate(),
    )

    def fields_for_service(
        self, *, clinician: User | None = None, is_active: bool = True
    ) -> ScheduleFields:
        """The service's input; the form does not choose a clinician, a change keeps theirs."""
        data = self.cleaned_data
        return ScheduleFields(
            service=data["service"],
            clinician=clinician,
            weekdays="".join(sorted(data["weekdays"])),
            start_time=data["start_time"],
            end_time=data["end_time"],
            slot_minutes=data["slot_minutes"],
            capacity=data["capacity"],
            valid_from=data["valid_from"],
            valid_until=data["valid_until"],
            is_active=is_active,
        )


class ClosureForm(forms.Form):
    start_date = forms.DateField(label=gettext_lazy("First closed day"), widget=PickedDate())
    end_date = forms.DateField(label=gettext_lazy("Last closed day"), widget=PickedDate())
    reason_th = forms.CharField(label=gettext_lazy("Reason (Thai)"), max_length=200)
    reason_en = forms.CharField(
        label=gettext_lazy("Reason (English)"), max_length=200, required=False
    )


def _affected(count: int) -> str:
    if not count:
        return ""
    return " " + ngettext(
        "%(count)d booked appointment falls in it: move or cancel it from the day's queue.",
        "%(count)d booked appointments fall in it: move or cancel them from the day's queue.",
        count,
    ) % {"count": count}


def _holidays_ahead(language: str) -> list[dict[str, str]]:
    """The public holidays ahead that close centres: no slots are made on them."""
    today = timezone.localdate()
    return [
        {"day": format_day(day, language), "name": holiday.name_in(language)}
        for day, holiday in holidays_between(today, today + HOLIDAYS_AHEAD).items()
        if holiday.closes_centres
    ]


def _skipped_for_holidays(template: ScheduleTemplate, language: str) -> str:
    """What a page says after a weekly schedule is saved, when public holidays on its
    weekdays within the booking horizon get no slots from it ("" when none do)."""
    first, last = horizon()
    first = max(first, template.valid_from)
    if template.valid_until is not None:
        last = min(last, template.valid_until)
    days = [
        day
        for day, holiday in holidays_between(first, last).items()
        if holiday.closes_centres and str(day.isoweekday()) in template.weekdays
    ]
    if not days:
        return ""
    return " " + _("No slots on these public holidays: %(days)s.") % {
        "days": ", ".join(format_day(day, language) for day in days)
    }


def _schedule_rows(centre: HealthCentre, language: str) -> list[dict[str, Any]]:
    names = dict(WEEKDAYS)
    return [
        {
            "template": template,
            "service": template.service.name_in(language),
            "days": ", ".join(str(names[day]) for day in template.weekdays),
            "from": format_day(template.valid_from, language),
            "until": format_day(template.valid_until, language) if template.valid_until else "",
        }
        for template in centre.schedule_templates.select_related("service").order_by(
            "-is_active", "service__code", "start_time"
        )
    ]


@require_http_methods(["GET", "POST"])
@staff_page(StaffAction.MANAGE_SCHEDULE)
def schedules_page(request: HttpRequest, centre: HealthCentre) -> HttpResponse:
    """The weekly schedules, and a form to add one."""
    language = request.LANGUAGE_CODE
    form = ScheduleForm(request.POST or None, initial={"valid_from": timezone.localdate()})
    error = ""
    if request.method == "POST":
        if form.is_valid():
            with refusal_caught() as refused:
                change = create_schedule_template(centre=centre, fields=form.fields_for_service())
            if refused:
                error = refused.message
            else:
                messages.success(
                    request,
                    _("The schedule is added: %(count)d new slots.")
                    % {"count": change.slots.created}
                    + _skipped_for_holidays(change.template, language),
                )
                return HttpResponseRedirect(request.path, status=303)
        else:
            error = first_form_error(form)
    return render(
        request,
        "booking/staff/schedules.html",
        {
            "nav": "schedules",
            "staff_centre": centre_menu(centre, language),
            "rows": _schedule_rows(centre, language),
            "form": form,
            "error": error,
            "holidays": _holidays_ahead(language),
        },
        status=400 if error else 200,
    )


@require_http_methods(["GET", "POST"])
@staff_page(StaffAction.MANAGE_SCHEDULE)
def schedule_page(request: HttpRequest, centre: HealthCentre, schedule_id: int) -> HttpResponse:
    """One weekly schedule: change it, or end it."""
    language = request.LANGUAGE_CODE
    template = centre.schedule_templates.filter(pk=schedule_id).first()
    if template is None:
        return refuse(request, _("There is no weekly schedule with that id."), 404)
    initial = {
        "service": template.service_id,
        "weekdays": list(template.weekdays),
        "start_time": template.start_time,
        "end_time": template.end_time,
        "slot_minutes": template.slot_minutes,
        "capacity": template.capacity,
        "valid_from": template.valid_from,
        "valid_until": template.valid_until,
    }
    form = ScheduleForm(
        request.POST if request.POST.get("action") == "save" else None, initial=initial
    )
    error = ""
    if request.method == "POST":
        with refusal_caught() as refused:
            if request.POST.get("action") == "end":
                change = end_schedule_template(template=template)
                messages.success(
                    request,
                    _("The schedule has ended.")
                    + _affected(len(change.slots.affected_appointment_ids)),
                )
                return HttpResponseRedirect(
                    reverse("staff-schedules", args=[centre.number]), status=303
                )
            if form.is_valid():
                change = update_schedule_template(
                    template=template,
                    fields=form.fields_for_service(
                        clinician=template.clinician, is_active=template.is_active
                    ),
                )
                messages.success(
                    request,
                    _("The schedule is changed.")
                    + _affected(len(change.slots.affected_appointment_ids)),
                )
                return HttpResponseRedirect(request.path, status=303)
            error = first_form_error(form)
        if refused:
            error = refused.message
    return render(
        request,
        "booking/staff/schedule.html",
        {
            "nav": "schedules",
            "staff_centre": centre_menu(centre, language),
            "template": template,
            "form": form,
            "error": error,
            "holidays": _holidays_ahead(language),
        },
        status=400 if error else 200,
    )


@require_http_methods(["GET", "POST"])
@staff_page(StaffAction.MANAGE_SCHEDULE)
def closures_page(request: SignedInRequest, centre: HealthCentre) -> HttpResponse:
    """The centre's closures from today on (and the city's), a form to add one, and lifting."""
    language = request.LANGUAGE_CODE
    form = ClosureForm(request.POST if request.POST.get("action") == "add" else None)
    error = ""
    if request.method == "POST":
        with refusal_caught() as refused:
            if request.POST.get("action") == "lift":
                closure = centre.closures.filter(
                    pk=request.POST.get("closure_id", "0") or 0
                ).first()
                if closure is None:
                    raise DomainError(_("There is no closure with that id at this centre."))
                remove_closure(closure=closure)
                messages.success(request, _("The closure is lifted; its days are open again."))
                return HttpResponseRedirect(request.path, status=303)
            if form.is_valid():
                added = add_closure(centre=centre, created_by=request.user, **form.cleaned_data)
                messages.success(
                    request,
                    _("The centre is closed on those days.") + _affected(len(added.affected)),
                )
                already = holidays_between(added.closure.start_date, added.closure.end_date)
                if already:
                    messages.info(
                        request,
                        _("Already public holidays: %(days)s.")
                        % {
                            "days": "; ".join(
                                f"{format_day(day, language)} ({holiday.name_in(language)})"
                                for day, holiday in already.items()
                            )
                        },
                    )
                return HttpResponseRedirect(request.path, status=303)
            error = first_form_error(form)
        if refused:
            error = refused.message
    closures = upcoming_closures(centre)
    return render(
        request,
        "booking/staff/closures.html",
        {
            "nav": "closures",
            "staff_centre": centre_menu(centre, language),
            "closures": [
                {
                    "closure": closure,
                    "first": format_day(closure.start_date, language),
                    "last": format_day(closure.end_date, language),
                    "reason": closure.reason_th
                    if language == "th"
                    else closure.reason_en or closure.reason_th,
                    "citywide": closure.centre_id is None,
                    # Lifting asks again: ?lift=<closure> shows that closure's second step.
                    "confirming": request.GET.get("lift") == str(closure.pk),
                }
                for closure in closures
            ],
            "form": form,
            "error": error,
            "holidays": _holidays_ahead(language),
        },
        status=400 if error else 200,
    )
