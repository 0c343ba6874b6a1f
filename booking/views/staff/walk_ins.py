"""Walk-ins at the desk: find the person who just arrived (by Thai national ID or phone), add
them to today's queue with a service, and print their slip; and the walk-ins' steps from the
queue's buttons. Adding takes a POST of `patient` (an id) and `service` (a code), so any page
that found the person (the desk's search) can send them here."""

from datetime import date

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from booking.models import Patient
from booking.selectors import patients_with, walk_in_for_staff
from booking.services.patients import normalise_national_id, normalise_phone
from booking.services.walk_ins import WALK_IN_STEPS, add_walk_in
from booking.views.form_errors import row_id
from clinics import audit
from clinics.centre_facts import facts_in
from clinics.dates import format_day, format_time
from clinics.exceptions import InvalidInput, NotFound
from clinics.models import HealthCentre, Service, VisitMode
from clinics.permissions import StaffAction, signed_in_user
from clinics.refusals import refusal_caught, refusal_flashed
from clinics.views import centre_menu, staff_page


class FindPersonForm(forms.Form):
    find = forms.CharField(
        label=gettext_lazy("Thai national ID or phone number"),
        max_length=40,
        help_text=gettext_lazy("13 digits from the ID card, or a phone such as 081 234 5678."),
    )


def _services(centre: HealthCentre, language: str) -> list[tuple[str, str]]:
    offered = centre.services.filter(is_active=True).exclude(visit_mode=VisitMode.VIDEO)
    return [
        (service.code, service.name_in(language)) for service in offered.order_by("kind", "code")
    ]


class AddWalkInForm(forms.Form):
    patient = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    service = forms.ChoiceField(label=gettext_lazy("Service"))

    def __init__(self, *args: object, services: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["service"].choices = [("", _("Choose a service")), *services]  # type: ignore[attr-defined]


def _day(raw: str) -> str:
    """The queue's day the button was on (today if it is not a date), as YYYY-MM-DD."""
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        return timezone.localdate().isoformat()


def _people_found(raw: str) -> list[Patient]:
    """The people the desk's entry names: 13 digits are a national ID, anything else a phone.
    InvalidInput (field `find`) when it is neither."""
    digits = "".join(character for character in raw if character.isdigit())
    if len(digits) == 13 and not raw.strip().startswith("+"):
        national_id = normalise_national_id(digits)
        return list(patients_with(national_id=national_id))
    try:
        phone = normalise_phone(raw, field="find")
    except InvalidInput:
        raise InvalidInput(
            _("Enter a 13-digit Thai national ID or a phone number such as 081 234 5678."),
            field="find",
        ) from None
    return list(patients_with(phone=phone))


@require_http_methods(["GET"])
@staff_page(StaffAction.RECEIVE_PATIENTS)
def walk_ins_page(request: HttpRequest, centre: HealthCentre) -> HttpResponse:
    """Find the person who just arrived, then add them to today's queue."""
    language = request.LANGUAGE_CODE
    services = _services(centre, language)
    find = FindPersonForm(request.GET if "find" in request.GET else None)
    people: list[Patient] = []
    searched = False
    chosen = row_id(request.GET.get("patient", ""))
    if chosen is not None:  # a link from a page that found the person (?patient=<id>)
        people = list(Patient.objects.filter(pk=chosen))
        searched = True
    elif find.is_bound and find.is_valid():
        searched = True
        with refusal_caught() as refused:
            people = _people_found(find.cleaned_data["find"])
        if refused:
            refused.add_to(find)
    audit.record_read(
        request,
        "patient.looked_up",
        centre_id=centre.number,
        patients=[person.pk for person in people],
    )
    return render(
        request,
        "booking/staff/walk_ins.html",
        _context(centre, language, find=find, people=people, services=services)
        | {"searched": searched and not find.errors},
        status=422 if find.errors else 200,
    )


def _context(
    centre: HealthCentre,
    language: str,
    *,
    find: FindPersonForm,
    people: list[Patient],
    services: list[tuple[str, str]],
    error: str = "",
    add: AddWalkInForm | None = None,
) -> dict[str, object]:
    return {
        "nav": "walk-ins",
        "staff_centre": centre_menu(centre, language),
        "today": format_day(timezone.localdate(), language),
        "form": add if add is not None and add.errors else find,
        "find": find,
        "people": [
            {
                "person": person,
                "form": AddWalkInForm(initial={"patient": person.pk}, services=services),
            }
            for person in people
        ],
        "services": services,
        "error": error,
    }


@require_POST
@staff_page(StaffAction.RECEIVE_PATIENTS)
def add_walk_in_view(request: HttpRequest, centre: HealthCentre) -> HttpResponse:
    """Add the person (`patient`, an id) for a service (`service`, a code) to today's queue;
    on to their slip."""
    language = request.LANGUAGE_CODE
    services = _services(centre, language)
    form = AddWalkInForm(request.POST, services=services)
    person = None
    if form.is_valid():
        person = Patient.objects.filter(pk=form.cleaned_data["patient"]).first()
        if person is None:
            form.add_error(None, _("We could not find that person. Look them up again."))
    error = ""
    status = 422
    if person is not None:
        with refusal_caught() as refused:
            walk_in = add_walk_in(
                centre_id=centre.number,
                patient=person,
                service=Service.objects.get(code=form.cleaned_data["service"]),
                by=signed_in_user(request),
            )
        if refused:
            error, status = refused.message, refused.status
        else:
            messages.success(
                request,
                _("%(name)s is in the queue as %(label)s.")
                % {"name": person.first_name, "label": walk_in.label},
            )
            return HttpResponseRedirect(
                f"/staff/centres/{centre.number}/walk-ins/{walk_in.pk}", status=303
            )
    people = [person] if person is not None else []
    context = _context(
        centre,
        language,
        find=FindPersonForm(),
        people=people,
        services=services,
        error=error,
        add=form,
    )
    if person is not None:  # the person stays chosen, with the service picked
        context["people"] = [{"person": person, "form": form}]
    return render(request, "booking/staff/walk_ins.html", context, status=status)


@require_GET
@staff_page(StaffAction.VIEW_APPOINTMENTS)
def walk_in_slip_page(request: HttpRequest, centre: HealthCentre, walk_in_id: int) -> HttpResponse:
    """The walk-in's slip, to print and hand over: centre, queue number, service, arrival."""
    language = request.LANGUAGE_CODE
    with refusal_flashed(request) as refused:
        walk_in = walk_in_for_staff(request.user, walk_in_id, StaffAction.VIEW_APPOINTMENTS)
        if walk_in.centre_id != centre.number:
            raise NotFound(_("We could not find that walk-in."))
    if refused:
        return HttpResponseRedirect(f"/staff/centres/{centre.number}/today", status=303)
    audit.record_read(
        request,
        "walk_in.viewed",
        centre_id=centre.number,
        patients=[walk_in.patient_id],
        target=walk_in,
    )
    return render(
        request,
        "booking/staff/walk_in_slip.html",
        {
            "nav": "walk-ins",
            "staff_centre": centre_menu(centre, language),
            "walk_in": walk_in,
            "centre_name": centre.name_in(language),
            "centre_facts": facts_in(centre, language),
            "service": walk_in.service.name_in(language),
            "day": format_day(walk_in.day, language),
            "arrived": format_time(walk_in.arrived_at, language),
            "today_iso": walk_in.day.isoformat(),
        },
    )


@require_POST
@staff_page(StaffAction.VIEW_APPOINTMENTS)
def walk_in_action(
    request: HttpRequest, centre: HealthCentre, walk_in_id: int, action: str
) -> HttpResponse:
    """One step of one walk-in, from a button in the queue; back to the queue with the outcome."""
    back = HttpResponseRedirect(
        f"/staff/centres/{centre.number}/today?day={_day(request.POST.get('day', ''))}",
        status=303,
    )
    step = WALK_IN_STEPS.get(action)
    if step is None:
        messages.error(request, _("There is no such step."))
        return back
    with refusal_flashed(request) as refused:
        walk_in = walk_in_for_staff(request.user, walk_in_id, step.needs)
        if walk_in.centre_id != centre.number:
            raise NotFound(_("We could not find that walk-in."))
        walk_in = step.take(walk_in=walk_in)
    if not refused:
        messages.success(request, str(step.done) % {"label": walk_in.label})
    return back
