"""The desk: staff find a person (or register them after seeing their ID card), open their
record, book them a time at this centre or the best time anywhere, and print the slip.

The rules are booking.services.desk's; every search, record shown, registration and booking is
in the audit trail. Searches are posted, so that national IDs and phone numbers stay out of
addresses (and so out of browser histories and server logs)."""

import uuid
from datetime import date
from typing import Any

import segno
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from booking.exceptions import PersonOnFile
from booking.links import appointment_link
from booking.models import Appointment, Patient
from booking.notices import what_to_bring
from booking.page_words import slot_words
from booking.selectors.desk import (
    account_holder_of,
    coming_appointments_of,
    open_times_at,
    person_for_desk,
)
from booking.services.desk import book_at_desk, book_best_at_desk, register_at_desk, search_people
from booking.views.form_errors import row_id
from booking.views.staff.desk_forms import BestTimeForm, DeskRegistrationForm, PersonSearchForm
from clinics.audit import record_read
from clinics.centre_facts import facts_in, phone_as_written
from clinics.dates import format_date, format_day, format_moment, format_time
from clinics.exceptions import NotFound
from clinics.models import HealthCentre
from clinics.permissions import SignedInRequest, StaffAction
from clinics.refusals import refusal_caught, refusal_flashed
from clinics.views import centre_menu, refuse, staff_page

DESK = StaffAction.BOOK_FOR_PATIENTS


def _person_url(centre: HealthCentre, patient_id: int) -> str:
    return reverse("staff-desk-person", args=[centre.number, patient_id])


def person_row(person: Patient, language: str) -> dict[str, Any]:
    """What the desk shows of a person: never their whole national ID."""
    return {
        "person": person,
        "url_id": person.pk,
        "born": format_date(person.date_of_birth, language),
        "id_shown": person.masked_national_id or person.passport_number,
        "phone": phone_as_written(person.phone) if person.phone else "",
    }


@require_http_methods(["GET", "POST"])
@staff_page(DESK)
def desk_page(request: SignedInRequest, centre: HealthCentre) -> HttpResponse:
    """Find a person: the form, and once posted the people it finds."""
    language = request.LANGUAGE_CODE
    form = PersonSearchForm(request.POST or None)
    found: list[dict[str, Any]] | None = None
    if request.method == "POST" and form.is_valid():
        query = form.query()
        if query is not None:
            people = search_people(centre_id=centre.pk, by=request.user, query=query)
            found = [person_row(person, language) for person in people]
    return render(
        request,
        "booking/staff/desk.html",
        {
            "nav": "desk",
            "staff_centre": centre_menu(centre, language),
            "form": form,
            "found": found,
        },
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@staff_page(DESK)
def register_page(request: SignedInRequest, centre: HealthCentre) -> HttpResponse:
    """Register someone new after seeing their ID card; then their record, to book."""
    language = request.LANGUAGE_CODE
    form = DeskRegistrationForm(
        request.POST or None, initial={"preferred_language": Patient.Language.THAI}
    )
    on_file: int | None = None
    if request.method == "POST" and form.is_valid():
        with refusal_caught() as refused:
            person = register_at_desk(
                centre_id=centre.pk,
                by=request.user,
                person=form.person(),
                household=form.household_relationship(),
            )
        if not refused:
            messages.success(
                request,
                _("%(name)s is registered, their ID card seen. Book them a time below.")
                % {"name": person.full_name},
            )
            return HttpResponseRedirect(_person_url(centre, person.pk), status=303)
        refused.add_to(form)
        if isinstance(refused.error, PersonOnFile):
            on_file = refused.error.detail.get("patient_id")
    return render(
        request,
        "booking/staff/desk_register.html",
        {
            "nav": "desk",
            "staff_centre": centre_menu(centre, language),
            "form": form,
            "conversion_note": form.conversion_note() if form.is_bound and not form.errors else "",
            "on_file": on_file,
        },
        status=400 if form.errors else 200,
    )


def _day(raw: str) -> date:
    try:
        day = date.fromisoformat(raw) if raw else timezone.localdate()
    except ValueError:
        return timezone.localdate()
    return max(day, timezone.localdate())


@require_GET
@staff_page(DESK)
def person_page(request: SignedInRequest, centre: HealthCentre, patient_id: int) -> HttpResponse:
    """One person: who they are, their coming appointments (each with its slip), and booking
    them a time here on a day (?day=) or the best time anywhere."""
    language = request.LANGUAGE_CODE
    with refusal_caught() as refused:
        person = person_for_desk(patient_id)
    if refused:
        return refuse(request, refused.message, refused.status)
    holder = account_holder_of(person)
    coming = list(coming_appointments_of(person))
    record_read(request, "desk.person_viewed", centre_id=centre.pk, patients=[person.pk])
    day = _day(request.GET.get("day", ""))
    times = [
        {
            "slot": slot,
            "time": format_time(slot.start, language),
            "until": format_time(slot.end, language),
            "service": slot.service.name_in(language),
            "drive": slot.drive.name if slot.drive is not None else "",
            "left": slot.remaining,
        }
        for slot in open_times_at(centre, day)
    ]
    best_form = BestTimeForm(
        {key: request.GET[key] for key in ("service", "district") if request.GET.get(key)} or None,
        language=language,
    )
    return render(
        request,
        "booking/staff/desk_person.html",
        {
            "nav": "desk",
            "staff_centre": centre_menu(centre, language),
            **person_row(person, language),
            "holder": person_row(holder, language) if holder and holder != person else None,
            "signs_in": person.account.has_usable_password()
            or person.account.get_username().startswith("+"),
            "verified": person.identity_verified,
            "coming": [
                {
                    "appointment": appointment,
                    "when": format_moment(appointment.slot.start, language),
                    "service": appointment.slot.service.name_in(language),
                    "centre": appointment.slot.centre.name_in(language),
                }
                for appointment in coming
            ],
            "day": format_day(day, language),
            "day_iso": day.isoformat(),
            "today_iso": timezone.localdate().isoformat(),
            "times": times,
            "best_form": best_form,
            # One key a page: whichever form is sent twice books once.
            "idempotency_key": uuid.uuid4().hex,
        },
    )


@require_POST
@staff_page(DESK)
def book_action(request: SignedInRequest, centre: HealthCentre, patient_id: int) -> HttpResponse:
    """Book the person: `slot_id` (a time here) or `how=best` with a service (and district).
    Booked: the slip. Refused: back to their record, saying why, with what was chosen."""
    language = request.LANGUAGE_CODE
    key = request.POST.get("idempotency_key", "")[:64]
    back = {"day": request.POST.get("day", "")}
    with refusal_flashed(request) as refused:
        person = person_for_desk(patient_id)
        if not key:
            raise NotFound(_("This form is out of date. Please choose the time again."))
        if request.POST.get("how") == "best":
            form = BestTimeForm(request.POST, language=language)
            back = {name: request.POST.get(name, "") for name in ("service", "district")}
            if not form.is_valid():
                messages.error(request, _("Choose the service to book."))
                return _back_to_person(centre, patient_id, back)
            booking = book_best_at_desk(
                centre_id=centre.pk,
                by=request.user,
                patient=person,
                service=form.cleaned_data["service"],
                district=form.cleaned_data["district"],
                idempotency_key=key,
            )
        else:
            slot_id = row_id(request.POST.get("slot_id", ""))
            if slot_id is None:
                raise NotFound(_("Choose one of the open times."), field="slot_id")
            booking = book_at_desk(
                centre_id=centre.pk,
                by=request.user,
                patient=person,
                slot_id=slot_id,
                idempotency_key=key,
            )
    if refused:
        return _back_to_person(centre, patient_id, back)
    messages.success(request, _("Booked. Give the person this slip."))
    return HttpResponseRedirect(
        reverse("staff-desk-slip", args=[centre.number, booking.appointment.pk]), status=303
    )


def _back_to_person(centre: HealthCentre, patient_id: int, chosen: dict[str, str]) -> HttpResponse:
    kept = {name: value for name, value in chosen.items() if value}
    query = f"?{urlencode(kept)}" if kept else ""
    return HttpResponseRedirect(f"{_person_url(centre, patient_id)}{query}", status=303)


@require_GET
@staff_page(DESK)
def slip_page(request: SignedInRequest, centre: HealthCentre, appointment_id: int) -> HttpResponse:
    """The slip to print or show: centre, time, service, what to bring, and the appointment's
    link (also as a QR code) to confirm, move or cancel it without signing in. Any coming
    appointment of a person the desk may book for: a best time may be at another centre."""
    language = request.LANGUAGE_CODE
    appointment = (
        Appointment.objects.select_related("patient", "slot__service", "slot__centre__district")
        .filter(pk=appointment_id)
        .first()
    )
    if appointment is None:
        return refuse(request, _("We could not find that appointment."), 404)
    record_read(
        request,
        "desk.slip_viewed",
        centre_id=centre.pk,
        patients=[appointment.patient_id],
        target=appointment,
    )
    link = appointment_link(appointment.pk)
    return render(
        request,
        "booking/staff/desk_slip.html",
        {
            "nav": "desk",
            "staff_centre": centre_menu(centre, language),
            **slot_words(appointment.slot, language),
            "appointment": appointment,
            "patient": person_row(appointment.patient, language),
            "what_to_bring": what_to_bring(appointment.slot.service, language),
            # The slot's centre: a best time may be at another centre than the desk's.
            "centre_facts": facts_in(appointment.slot.centre, language),
            "link": link,
            "qr_code": mark_safe(  # segno's own SVG of our own link
                segno.make(link, error="m").svg_inline(
                    scale=4, title=_("QR code of the appointment's link")
                )
            ),
            "booked_here": appointment.channel == Appointment.Channel.STAFF,
        },
    )
