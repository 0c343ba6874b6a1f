"""Pages that links in text messages open. The appointment page works without signing in and
without JavaScript: plain forms, each action answered by a redirect back to the page."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from booking.links import (
    LINK_CANCELLATION,
    appointment_from_link,
    appointment_link_token,
    offer_from_link,
    video_join_token,
)
from booking.models import Appointment, Slot, WaitlistOffer
from booking.page_words import reader_language, slot_words
from booking.selectors import appointment_can_change, move_choices
from booking.services import appointments as visits
from booking.views.form_errors import row_id
from booking.waitlist.services import claim_offer, decline_offer
from clinics.dates import format_moment
from clinics.exceptions import InvalidInput
from clinics.models import VisitMode
from clinics.refusals import Refusal, refusal_caught, refusal_flashed


def time_choices(slots: list[Slot], language: str) -> list[dict[str, object]]:
    return [{"id": slot.pk, "label": format_moment(slot.start, language)} for slot in slots]


def move_options(appointment: Appointment, language: str) -> dict[str, object]:
    """What an appointment's page offers to move it to: other days at its centre, and the
    nearest other centres (each time labelled with its centre)."""
    choices = move_choices(appointment)
    return {
        "alternatives": time_choices(choices.here, language),
        "nearby": [
            {
                "id": slot.pk,
                "label": f"{format_moment(slot.start, language)} · {slot.centre.name_in(language)}",
            }
            for slot in choices.nearby
        ],
    }


def _link_error(request: HttpRequest, template: str, refused: Refusal) -> HttpResponse:
    language = reader_language(request, None)
    with translation.override(language):
        return render(
            request,
            template,
            {"error": refused.message, "language": language},
            status=refused.status,
        )


@require_http_methods(["GET", "POST"])
def appointment_link_page(request: HttpRequest, token: str) -> HttpResponse:
    """One appointment, opened from the link in a text message: in the language the text was
    written in, unless the reader switches."""
    with refusal_caught() as refused:
        appointment = appointment_from_link(token)
    if refused:
        return _link_error(request, "booking/appointment_link.html", refused)
    language = reader_language(request, appointment.patient)
    with translation.override(language):
        if request.method == "POST":
            with refusal_flashed(request) as refused:
                done = act_on_appointment(request, appointment, reason=LINK_CANCELLATION)
            if not refused:
                messages.success(request, done)
            return HttpResponseRedirect(f"{request.path}?lang={language}")
        slot = appointment.slot
        can_change = appointment_can_change(appointment)
        return render(
            request,
            "booking/appointment_link.html",
            {
                **slot_words(slot, language),
                "appointment": appointment,
                "can_change": can_change,
                "asking_to_cancel": can_change and request.GET.get("cancel") == "1",
                **(move_options(appointment, language) if can_change else {}),
                "video_join_url": video_join_url(appointment, language),
            },
        )


def video_join_url(appointment: Appointment, language: str) -> str:
    """Where a video visit that still takes place is joined from; "" for any other."""
    if appointment.visit_mode != VisitMode.VIDEO or appointment.status not in (
        Appointment.Status.BOOKED,
        Appointment.Status.CHECKED_IN,
        Appointment.Status.IN_CONSULTATION,
    ):
        return ""
    return f"/v/{video_join_token(appointment.pk)}?lang={language}"


def act_on_appointment(request: HttpRequest, appointment: Appointment, *, reason: str) -> str:
    """Confirm, cancel or move an appointment from a page's form; what happened, in words."""
    action = request.POST.get("action", "")
    if action == "confirm":
        visits.confirm_attendance(appointment=appointment)
        return _("Thank you. We have noted that you will come.")
    if action == "cancel":
        visits.cancel_appointment(appointment=appointment, reason=reason)
        return _("Your appointment is cancelled.")
    if action == "reschedule":
        new_slot_id = row_id(request.POST.get("slot_id", ""))
        if new_slot_id is None:
            raise InvalidInput(_("Choose a new time first."), field="slot_id")
        moved = visits.reschedule_appointment(appointment=appointment, new_slot_id=new_slot_id)
        return _("Your appointment has moved to %(when)s.") % {
            "when": format_moment(moved.slot.start, translation.get_language() or "th")
        }
    return _("Nothing was changed.")


@require_http_methods(["GET", "POST"])
def waitlist_offer_page(request: HttpRequest, token: str) -> HttpResponse:
    """A place held for someone on the waitlist, opened from the text: book it or pass."""
    with refusal_caught() as refused:
        offer = offer_from_link(token)
    if refused:
        return _link_error(request, "booking/waitlist_offer.html", refused)
    patient = offer.entry.patient
    language = reader_language(request, patient)
    with translation.override(language):
        if request.method == "POST":
            action = request.POST.get("action", "")
            with refusal_flashed(request):
                if action == "claim":
                    booking = claim_offer(
                        offer=offer, booked_by=patient.account, channel=Appointment.Channel.WEB
                    )
                    link = reverse(
                        "appointment-link", args=[appointment_link_token(booking.appointment.pk)]
                    )
                    return HttpResponseRedirect(f"{link}?{urlencode({'lang': language})}")
                if action == "decline":
                    decline_offer(offer=offer)
                    messages.success(request, _("We will offer you another time when one is free."))
            return HttpResponseRedirect(f"{request.path}?lang={language}")
        slot = offer.slot
        return render(
            request,
            "booking/waitlist_offer.html",
            {
                **slot_words(slot, language),
                "offer": offer,
                "held_until": format_moment(offer.expires_at, language),
                "is_open": offer.status == WaitlistOffer.Status.OPEN
                and offer.expires_at > timezone.now(),
                "appointment_link": (
                    f"/a/{appointment_link_token(offer.appointment_id)}?lang={language}"
                    if offer.appointment_id
                    else ""
                ),
            },
        )
