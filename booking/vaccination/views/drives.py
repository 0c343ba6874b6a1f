"""Vaccination drives for staff: the list, a new draft, and one drive with its preview (slots
and places per centre and day next to each centre's stock), release and calling it off. The
same input model and services as the JSON API (booking/vaccination/api.py), so the rules agree."""

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Concatenate, ParamSpec

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST
from pydantic import ValidationError

from booking.models import VaccinationDrive
from booking.vaccination.drives import (
    cancel_drive,
    create_drive,
    drive_fields,
    plan_drive,
    release_drive,
)
from booking.vaccination.schemas import DriveIn, SessionIn
from booking.vaccination.selectors import drive_for_staff, drives_for_staff
from booking.views.form_errors import first_form_error
from booking.views.staff.schedules import WEEKDAYS
from clinics.dates import format_day, format_moment
from clinics.exceptions import Forbidden, NotFound
from clinics.forms import PickedDate, PickedDateTime, PickedTime
from clinics.models import HealthCentre, Service
from clinics.permissions import SignedInRequest, StaffAction, centres_where, is_signed_in
from clinics.refusals import refusal_caught
from clinics.views import refuse

P = ParamSpec("P")


class DriveForm(forms.Form):
    name_th = forms.CharField(label=gettext_lazy("Name (Thai)"), max_length=150)
    name_en = forms.CharField(label=gettext_lazy("Name (English)"), max_length=150, required=False)
    service = forms.ModelChoiceField(
        label=gettext_lazy("Vaccine"),
        queryset=Service.objects.filter(kind=Service.Kind.VACCINATION, is_active=True),
        to_field_name="code",
    )
    centres = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Health centres"),
        queryset=HealthCentre.objects.none(),
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )
    first_day = forms.DateField(label=gettext_lazy("First day"), widget=PickedDate())
    last_day = forms.DateField(label=gettext_lazy("Last day"), widget=PickedDate())
    weekdays = forms.MultipleChoiceField(
        label=gettext_lazy("Days"), choices=WEEKDAYS, widget=forms.CheckboxSelectMultiple
    )
    session_start = forms.TimeField(label=gettext_lazy("Session starts"), widget=PickedTime())
    session_end = forms.TimeField(label=gettext_lazy("Session ends"), widget=PickedTime())
    slot_minutes = forms.IntegerField(label=gettext_lazy("Minutes per slot"), initial=15)
    capacity_per_slot = forms.IntegerField(label=gettext_lazy("People per slot"))
    release_at = forms.DateTimeField(
        label=gettext_lazy("Bookings open at (Bangkok time)"),
        widget=PickedDateTime(),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    min_age_years = forms.IntegerField(
        label=gettext_lazy("Youngest age in years (optional)"), required=False, min_value=0
    )

    def __init__(self, *args: object, user: User, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        allowed = centres_where(user, StaffAction.MANAGE_SCHEDULE)
        centres = HealthCentre.objects.order_by("number")
        if allowed is not None:
            centres = centres.filter(number__in=allowed)
        field = self.fields["centres"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = centres

    def drive_input(self) -> DriveIn:
        data = self.cleaned_data
        release_at: datetime = data["release_at"]
        min_years = data.get("min_age_years")
        return DriveIn(
            name_th=data["name_th"],
            name_en=data["name_en"],
            service=data["service"].code,
            centres=[centre.number for centre in data["centres"]],
            first_day=data["first_day"],
            last_day=data["last_day"],
            weekdays=[int(day) for day in data["weekdays"]],
            sessions=[SessionIn(start_time=data["session_start"], end_time=data["session_end"])],
            slot_minutes=data["slot_minutes"],
            capacity_per_slot=data["capacity_per_slot"],
            release_at=release_at,
            min_age_months=min_years * 12 if min_years is not None else None,
            max_age_months=None,
        )


def _validation_message(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first.get('msg', '')}"


def _drive_staff_page(
    view: Callable[Concatenate[SignedInRequest, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """A page for staff who manage some centre's schedules: anyone else is sent to sign in, or
    told they cannot open it (403)."""

    @wraps(view)
    def checked(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        if not is_signed_in(request):
            return redirect_to_login(request.get_full_path())
        if centres_where(request.user, StaffAction.MANAGE_SCHEDULE) == set():
            return refuse(request, _("Your staff account cannot open this page."), 403)
        return view(request, *args, **kwargs)

    return checked


def _drive_row(drive: VaccinationDrive, language: str) -> dict[str, object]:
    return {
        "drive": drive,
        "name": drive.name_en if language == "en" and drive.name_en else drive.name_th,
        "vaccine": drive.service.name_in(language),
        "first": format_day(drive.first_day, language),
        "last": format_day(drive.last_day, language),
        "release": format_moment(drive.release_at, language),
        "centres": ", ".join(str(centre.number) for centre in drive.centres.all()),
    }


@_drive_staff_page
def drives_page(request: SignedInRequest) -> HttpResponse:
    """The drives at centres where the user manages schedules, newest first."""
    language = request.LANGUAGE_CODE
    return render(
        request,
        "booking/staff/drives.html",
        {
            "nav": "drives",
            "rows": [_drive_row(drive, language) for drive in drives_for_staff(request.user)],
        },
    )


@require_http_methods(["GET", "POST"])
@_drive_staff_page
def new_drive_page(request: SignedInRequest) -> HttpResponse:
    """A new drive, saved as a draft to preview before it is released."""
    form = DriveForm(request.POST or None, user=request.user)
    error = ""
    if request.method == "POST":
        if not form.is_valid():
            error = first_form_error(form)
        else:
            with refusal_caught() as refused:
                try:
                    fields = drive_fields(request.user, form.drive_input())
                    drive = create_drive(fields=fields, created_by=request.user)
                except ValidationError as invalid:
                    error = _validation_message(invalid)
                else:
                    messages.success(
                        request,
                        _("The drive is saved as a draft. Check the preview, then release it."),
                    )
                    return HttpResponseRedirect(reverse("staff-drive", args=[drive.pk]), status=303)
            if refused:
                error = refused.message
    return render(
        request,
        "booking/staff/drive_form.html",
        {"nav": "drives", "form": form, "error": error},
        status=400 if error else 200,
    )


@_drive_staff_page
def drive_page(request: SignedInRequest, drive_id: int) -> HttpResponse:
    """One drive: its settings and, while a draft, the preview and the release buttons."""
    language = request.LANGUAGE_CODE
    with refusal_caught() as refused:
        drive = drive_for_staff(request.user, drive_id)
    if refused:
        return refuse(request, refused.message, refused.status)
    plan = plan_drive(drive) if drive.status == VaccinationDrive.Status.DRAFT else None
    return render(
        request,
        "booking/staff/drive.html",
        {
            "nav": "drives",
            **_drive_row(drive, language),
            "sessions": list(drive.sessions.all()),
            "plan": plan,
            "centre_plans": [
                {
                    "centre": centre_plan.centre,
                    "days": [
                        {
                            "day": format_day(day.day, language),
                            "slots": day.slots,
                            "places": day.places,
                        }
                        for day in centre_plan.days
                    ],
                    "slots": centre_plan.slots,
                    "places": centre_plan.places,
                    "left_to_open": centre_plan.stock.left_to_open,
                    "shortfall": centre_plan.shortfall,
                }
                for centre_plan in (plan.centres if plan else [])
            ],
            "can_release": bool(plan and plan.slots and not any(c.shortfall for c in plan.centres)),
            # Releasing and calling off ask again: ?confirm=<action> shows its second step.
            "confirming": request.GET.get("confirm", ""),
        },
    )


@require_POST
@_drive_staff_page
def drive_action(request: SignedInRequest, drive_id: int, action: str) -> HttpResponse:
    """Release the drive (at its time, or now) or call it off."""
    back = HttpResponseRedirect(reverse("staff-drive", args=[drive_id]), status=303)
    with refusal_caught() as refused:
        drive = drive_for_staff(request.user, drive_id)
        if action == "release":
            released = release_drive(drive=drive)
            messages.success(
                request,
                _("Released: %(slots)d slots, %(places)d places, open to patients from %(when)s.")
                % {
                    "slots": released.slots_created,
                    "places": released.places,
                    "when": format_moment(drive.release_at, request.LANGUAGE_CODE),
                },
            )
        elif action == "release-now":
            released = release_drive(drive=drive, at=timezone.now())
            messages.success(
                request,
                _("Released now: %(slots)d slots, %(places)d places.")
                % {"slots": released.slots_created, "places": released.places},
            )
        elif action == "cancel":
            cancelled = cancel_drive(drive=drive)
            messages.success(
                request,
                _(
                    "The drive is called off. %(count)d booked appointments are kept: "
                    "move or cancel them."
                )
                % {"count": len(cancelled.affected)},
            )
        else:
            messages.error(request, _("There is no such step."))
    if isinstance(refused.error, Forbidden | NotFound):
        # Not this member of staff's drive: nothing done, and no page to go back to.
        return refuse(request, refused.message, refused.status)
    if refused:
        messages.error(request, refused.message)
    return back
