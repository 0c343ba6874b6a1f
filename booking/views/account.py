"""A patient's own pages: signing in with a texted passcode, their household's appointments
and vaccination record, and one appointment (move, cancel, calendar file, video link)."""

from dataclasses import replace
from datetime import date, timedelta

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from booking.links import appointment_link_token
from booking.models import Appointment, Patient, RiskGroup
from booking.notices import what_to_bring
from booking.page_words import slot_words
from booking.selectors import (
    appointment_can_change,
    appointment_of,
    appointments_of,
    confirmation_text_of,
    patient_of,
    patients_of,
    vaccination_courses_of,
)
from booking.services.patients import add_dependant, details_of, update_patient
from booking.services.phones import offer_phone_proof, phone_needs_proof
from booking.thaid import thaid_enabled
from booking.vaccination.models import DECLARED_RISK_GROUPS
from booking.vaccination.series import next_dose_due
from booking.views.form_errors import first_form_error, row_id
from booking.views.links import act_on_appointment, move_options, video_join_url
from booking.views.passcode_flow import (
    STEPS,
    DependantForm,
    sign_in_state,
    take_sign_in_step,
)
from booking.views.phone_steps import NEW_PHONE_KEY, PHONE_STEPS, take_phone_step
from booking.waitlist.selectors import waitlist_of
from booking.waitlist.services import join_waitlist, leave_waitlist
from clinics.dates import format_day, format_moment
from clinics.exceptions import InvalidInput, NotFound
from clinics.models import District
from clinics.permissions import signed_in_user
from clinics.refusals import refusal_caught, refusal_flashed
from clinics.selectors import district_by_code, service_by_code
from notifications.models import Message

PAGE_CANCELLATION = "Cancelled on the patient's page"
UPCOMING = (
    Appointment.Status.BOOKED,
    Appointment.Status.CHECKED_IN,
    Appointment.Status.IN_CONSULTATION,
)


def _next_url(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or reverse("my-appointments")
    if url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()}):
        return wanted
    return reverse("my-appointments")


@require_http_methods(["GET", "POST"])
def sign_in_page(request: HttpRequest) -> HttpResponse:
    """A patient signs in (or opens an account) with a passcode texted to their phone."""
    next_url = _next_url(request)
    if request.user.is_authenticated:
        return HttpResponseRedirect(next_url)
    if request.method == "POST":
        action = request.POST.get("action", "")
        with refusal_flashed(request):
            if action in STEPS:
                take_sign_in_step(request, action, request.LANGUAGE_CODE)
        if request.user.is_authenticated:
            return HttpResponseRedirect(next_url)
        query = QueryDict(mutable=True)
        query["next"] = next_url
        return HttpResponseRedirect(f"{reverse('sign-in')}?{query.urlencode(safe='/')}")
    return render(
        request,
        "booking/pages/sign_in.html",
        {
            "nav": "sign-in",
            "next": next_url,
            "thaid": thaid_enabled(),
            **sign_in_state(request),
        },
    )


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponseRedirect(reverse("find"))


@require_http_methods(["GET", "POST"])
def my_appointments_page(request: HttpRequest) -> HttpResponse:
    """The household's appointments, coming and past, their vaccination record, adding someone
    to book for, proving their phones and changing the sign-in phone."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url="sign-in")
    user = signed_in_user(request)
    language = request.LANGUAGE_CODE
    action = request.POST.get("action", "")
    if request.method == "POST" and action == "health_details":
        with refusal_flashed(request) as refused:
            person = patient_of(
                user,
                _posted_row(request, "patient_id", _("Choose who the details are for.")),
            )
            _save_health_details(request, person)
        if not refused:
            messages.success(
                request,
                _("%(name)s's details for vaccination drives are saved.")
                % {"name": person.first_name},
            )
        return HttpResponseRedirect(request.path, status=303)
    if request.method == "POST" and action in ("join_waitlist", "leave_waitlist"):
        with refusal_flashed(request) as refused:
            done = _waitlist_step(request, user, action)
        if not refused:
            messages.success(request, done)
        return HttpResponseRedirect(request.path, status=303)
    if request.method == "POST" and action in PHONE_STEPS:
        with refusal_flashed(request):
            take_phone_step(request, action)
        return HttpResponseRedirect(request.path, status=303)
    form = DependantForm(request.POST or None)
    error = ""
    # Added from the booking page's "who is it for" step: the slot to go back to.
    back_to_slot = row_id(request.POST.get("back") or request.GET.get("back", ""))
    if request.method == "POST":
        if form.is_valid():
            with refusal_caught() as refused:
                added = add_dependant(
                    account=user,
                    relationship=Patient.Relationship(form.cleaned_data["relationship"]),
                    person=form.person(),
                )
            if refused:
                error = refused.message
                refused.add_to(form)  # next to the field it is about, too
            else:
                messages.success(
                    request,
                    _("%(name)s is added: choose them when you book.") % {"name": added.first_name},
                )
                if form.conversion_note():
                    messages.info(request, form.conversion_note())
                sent = offer_phone_proof(
                    patient=added, address=request.META.get("REMOTE_ADDR"), language=language
                )
                if sent is not None:
                    messages.info(
                        request,
                        _(
                            "We have texted a passcode to %(phone)s. Enter it below to send "
                            "%(name)s's texts there; until then they come to you."
                        )
                        % {"phone": sent.phone, "name": added.first_name},
                    )
                if back_to_slot is not None:  # added while booking: back to the same time
                    back = reverse("book-slot", args=[back_to_slot])
                    chosen = f"?lang={language}&for={added.pk}"
                    return HttpResponseRedirect(f"{back}{chosen}", status=303)
                return HttpResponseRedirect(request.path, status=303)
        else:
            error = first_form_error(form)
    now = timezone.now()
    coming: list[dict[str, object]] = []
    past: list[dict[str, object]] = []
    for appointment in appointments_of(user):
        row = {
            "appointment": appointment,
            "when": format_moment(appointment.slot.start, language),
            **slot_words(appointment.slot, language),
        }
        is_coming = appointment.status in UPCOMING and appointment.slot.end > now
        (coming if is_coming else past).append(row)
    past.reverse()
    household = list(patients_of(user).select_related("account"))
    courses = []
    for course in vaccination_courses_of(user):
        doses = list(course.appointments.all())
        due = next_dose_due(course, doses)
        courses.append(
            {
                "course": course,
                "vaccine": course.service.name_in(language),
                "doses": [
                    {
                        "number": dose.dose_number,
                        "status": dose.get_status_display(),
                        "given": dose.status == Appointment.Status.COMPLETED,
                        "when": format_day(timezone.localdate(dose.slot.start), language),
                        "centre": dose.slot.centre.name_in(language),
                        "lot": dose.lot.lot_number if dose.lot else "",
                    }
                    for dose in doses
                ],
                "due": {
                    "number": due.number,
                    "earliest": format_day(due.earliest, language),
                    "latest": format_day(due.latest, language),
                }
                if due
                else None,
            }
        )
    return render(
        request,
        "booking/pages/my_appointments.html",
        {
            "nav": "me",
            "coming": coming,
            "past": past,
            "courses": courses,
            "districts": [
                (district.code, district.name_in(language))
                for district in District.objects.order_by("code")
            ],
            "declared_groups": [
                (group.value, group.label) for group in RiskGroup if group in DECLARED_RISK_GROUPS
            ],
            "back_to_slot": back_to_slot,
            "waitlist": [
                {
                    "entry": entry,
                    "service": entry.service.name_in(language),
                    "first": format_day(entry.date_from, language),
                    "last": format_day(entry.date_to, language),
                }
                for entry in waitlist_of(user)
            ],
            "household": [
                {"person": person, "needs_proof": phone_needs_proof(person)} for person in household
            ],
            "holder": next(
                (p for p in household if p.relationship == Patient.Relationship.SELF), None
            ),
            "new_sign_in_phone": request.session.get(NEW_PHONE_KEY, ""),
            "dependant_form": form,
            "error": error,
        },
        status=400 if error else 200,
    )


@require_http_methods(["GET", "POST"])
def my_appointment_page(request: HttpRequest, appointment_id: int) -> HttpResponse:
    """One of the household's appointments: its details, and moving or cancelling it."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url="sign-in")
    language = request.LANGUAGE_CODE
    with refusal_caught() as refused:
        appointment = appointment_of(signed_in_user(request), appointment_id)
    if refused:
        return render(
            request,
            "booking/pages/my_appointment.html",
            {"nav": "me", "error": refused.message},
            status=refused.status,
        )
    if request.method == "POST":
        with refusal_flashed(request) as refused:
            done = act_on_appointment(request, appointment, reason=PAGE_CANCELLATION)
        if not refused:
            messages.success(request, done)
        return HttpResponseRedirect(request.path)
    can_change = appointment_can_change(appointment)
    just_booked = (
        request.GET.get("booked") == "1" and appointment.status == Appointment.Status.BOOKED
    )
    return render(
        request,
        "booking/pages/my_appointment.html",
        {
            "nav": "me",
            **slot_words(appointment.slot, language),
            "appointment": appointment,
            "just_booked": just_booked,
            "texted": _what_was_texted(appointment, language) if just_booked else "",
            "can_change": can_change,
            "asking_to_cancel": can_change and request.GET.get("cancel") == "1",
            **(move_options(appointment, language) if can_change else {}),
            "video_join_url": video_join_url(appointment, language),
            "calendar_url": f"/a/{appointment_link_token(appointment.pk)}/calendar.ics"
            f"?lang={language}",
            "what_to_bring": what_to_bring(appointment.slot.service, language),
        },
    )


def _what_was_texted(appointment: Appointment, language: str) -> str:
    """What the page can truly say of the confirming text: sent, held until the night's
    quiet hours end, stopped by a STOP, or never written (no mobile phone on the account)."""
    text = confirmation_text_of(appointment)
    if text is None:
        return _(
            "No text message goes out for this appointment: nobody on the account has a "
            "mobile phone. Keep this page, or add the appointment to your calendar."
        )
    if text.status == Message.Status.FAILED:
        return _(
            "Texts to this phone are stopped (a reply of STOP), so no confirmation was sent. "
            "Keep this page, or add the appointment to your calendar."
        )
    if text.status == Message.Status.PENDING and text.due_at > timezone.now() + timedelta(
        minutes=1
    ):
        return _(
            "We will text you a confirmation at %(time)s, when the night's quiet hours end, "
            "with a link to this appointment."
        ) % {"time": format_moment(text.due_at, language)}
    return _("We have texted you a confirmation, with a link to this appointment.")


def _posted_row(request: HttpRequest, name: str, refusal: str) -> int:
    found = row_id(request.POST.get(name, ""))
    if found is None:
        raise InvalidInput(refusal, field=name)
    return found


def _district_posted(request: HttpRequest) -> District | None:
    """The home district a form posted by its code ("" for none); InvalidInput if unknown."""
    code = request.POST.get("district", "")
    if not code:
        return None
    district = district_by_code(row_id(code) or -1)
    if district is None:
        raise InvalidInput(_("There is no Bangkok district with that code."), field="district")
    return district


def _save_health_details(request: HttpRequest, person: Patient) -> None:
    """The risk groups a person declares and their home district, which vaccination drives'
    rules read: saved with update_patient (validated, audited by field name), only once the
    account holder confirms they are true and may be used for that."""
    if request.POST.get("confirm") != "yes":
        raise InvalidInput(
            _("Tick the box to confirm the details are true and may be used for drives."),
            field="confirm",
        )
    groups = tuple(group for group in request.POST.getlist("risk_groups") if group)
    update_patient(
        patient=person,
        person=replace(details_of(person), district=_district_posted(request), risk_groups=groups),
    )


def _waitlist_step(request: HttpRequest, user: User, action: str) -> str:
    """Join the waitlist (from a search that found nothing) or leave it; what happened."""
    if action == "leave_waitlist":
        entry = waitlist_of(user).filter(pk=row_id(request.POST.get("entry_id", "")) or 0).first()
        if entry is None:
            raise NotFound(_("We could not find that waitlist place on your account."))
        leave_waitlist(entry=entry)
        return _("You have left the waitlist for %(service)s.") % {
            "service": entry.service.name_in(request.LANGUAGE_CODE)
        }
    person = patient_of(
        user, _posted_row(request, "patient_id", _("Choose who the details are for."))
    )
    try:
        first = date.fromisoformat(request.POST.get("from", ""))
        last = date.fromisoformat(request.POST.get("to", ""))
    except ValueError as error:
        raise InvalidInput(
            _("Give the dates as on a calendar, e.g. 2026-11-30."), field="from"
        ) from error
    entry = join_waitlist(
        patient=person,
        service=service_by_code(request.POST.get("service", "")),
        centres=[],
        district=_district_posted(request),
        date_from=first,
        date_to=last,
        joined_by=user,
    )
    return _("%(name)s is on the waitlist for %(service)s: we text you when a place is held.") % {
        "name": person.first_name,
        "service": entry.service.name_in(request.LANGUAGE_CODE),
    }
