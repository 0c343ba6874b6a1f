"""The page that books one slot: where the scheduling-links files and other sites send people
(`/book/slots/<id>`). No JavaScript: sign in with a passcode texted to the phone (or open an
account with it), choose who the place is for, book, and land on the appointment's page."""

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from booking.exceptions import NotEligible
from booking.models import Appointment, Slot
from booking.page_words import reader_language, slot_words
from booking.selectors import next_best_slots, patient_of, patients_of
from booking.services.booking_gate import book_for_account
from booking.views.form_errors import row_id
from booking.views.links import time_choices
from booking.views.passcode_flow import (
    STEPS,
    forget_sign_in_steps,
    sign_in_state,
    take_sign_in_step,
)
from clinics.exceptions import InvalidInput
from clinics.permissions import signed_in_user
from clinics.refusals import refusal_flashed


def _slot(slot_id: int) -> Slot | None:
    slot = (
        Slot.objects.select_related("service", "centre__district")
        .filter(pk=slot_id)
        .order_by("pk")
        .first()
    )
    if slot is None or (slot.opens_at is not None and slot.opens_at > timezone.now()):
        return None  # a drive's slot is not shown before its release, as in the API
    return slot


def _unavailable_reason(slot: Slot) -> str:
    if slot.start <= timezone.now():
        return _("This time has passed.")
    if slot.closed:
        return _("The health centre is closed at this time.")
    if slot.booked >= slot.capacity:
        return _("This time is fully booked.")
    return ""


@require_http_methods(["GET", "POST"])
def book_slot_page(request: HttpRequest, slot_id: int) -> HttpResponse:
    """One open time: sign in if need be, choose who it is for, book."""
    slot = _slot(slot_id)
    language = reader_language(request, None)
    with translation.override(language):
        if slot is None:
            return render(
                request,
                "booking/book_slot.html",
                {"language": language, "error": _("That time slot does not exist.")},
                status=404,
            )
        if request.method == "POST":
            return _act(request, slot, language)
        return render(request, "booking/book_slot.html", _context(request, slot, language))


def _context(request: HttpRequest, slot: Slot, language: str) -> dict[str, object]:
    signed_in = request.user.is_authenticated
    unavailable = _unavailable_reason(slot)
    return {
        **slot_words(slot, language),
        "slot": slot,
        "places_left": slot.capacity - slot.booked,
        "unavailable": unavailable,
        "other_times": time_choices(
            [option.slot for option in next_best_slots(slot.pk, count=5)] if unavailable else [],
            language,
        ),
        "signed_in": signed_in,
        "patients": list(patients_of(request.user)) if signed_in else [],
        # Back from adding someone while booking: they are the one chosen.
        "chosen_patient": row_id(request.GET.get("for", "")),
        **sign_in_state(request),
        "idempotency_key": uuid.uuid4().hex,
    }


def _act(request: HttpRequest, slot: Slot, language: str) -> HttpResponse:
    here = f"{request.path}?lang={language}"
    action = request.POST.get("action", "")
    with refusal_flashed(request):
        if action in STEPS:
            take_sign_in_step(request, action, language)
        elif action == "book" and request.user.is_authenticated:
            return _book(request, slot, language)
    return HttpResponseRedirect(here)


def _book(request: HttpRequest, slot: Slot, language: str) -> HttpResponse:
    patient_id = row_id(request.POST.get("patient_id", ""))
    if patient_id is None:
        raise InvalidInput(_("Choose who the appointment is for."), field="patient_id")
    user = signed_in_user(request)
    patient = patient_of(user, patient_id)
    try:
        booking = book_for_account(
            user=user,
            patient=patient,
            slot_id=slot.pk,
            channel=Appointment.Channel.WEB,
            idempotency_key=request.POST.get("idempotency_key", "")[:100],
            address=request.META.get("REMOTE_ADDR"),
        )
    except NotEligible:
        # The refusal names each rule that failed; where to correct what the rules read.
        messages.info(
            request,
            format_html(
                '<a href="{}#person-{}">{}</a>',
                reverse("my-appointments"),
                patient.pk,
                _("Check or correct %(name)s's details for vaccination drives")
                % {"name": patient.first_name},
            ),
        )
        raise
    forget_sign_in_steps(request)
    # What the text does (sent, held until quiet hours end, or none) is said below it.
    messages.success(request, _("Booked."))
    return HttpResponseRedirect(
        f"{reverse('my-appointment', args=[booking.appointment.pk])}?booked=1"
    )
