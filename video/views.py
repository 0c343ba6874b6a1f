"""The video call pages: the patient's room page opened from the join link (`/v/<token>`), the
clinician's room page and the clinician's list of today's rooms at a centre. The call itself
is video/static/video/room.js, talking to the signalling consumer (video.consumers)."""

import math
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from booking.exceptions import LinkInvalid
from booking.links import appointment_id_from_join_token
from booking.models import Appointment
from booking.page_words import reader_language, slot_words
from booking.services.consent import CURRENT_VERSIONS, needs_video_consent, record_video_consent
from clinics.audit import record_read
from clinics.dates import format_day
from clinics.exceptions import DomainError, Forbidden, NotFound
from clinics.models import HealthCentre
from clinics.permissions import StaffAction, can_act_at
from clinics.refusals import refusal_caught
from video.models import ConsultationRoom
from video.services import entry_window, room_for


@require_http_methods(["GET", "POST"])
def patient_room_page(request: HttpRequest, token: str) -> HttpResponse:
    """The patient's room, opened from the join link: the link is the credential. Before the
    first video visit, the privacy notice and the telemedicine consent come first."""
    with refusal_caught() as refused:
        appointment = _appointment_of_join_token(token)
        room = room_for(appointment)
    if refused:
        language = reader_language(request, None)
        with translation.override(language):
            return render(
                request,
                "booking/link_page.html",
                {"error": refused.message, "language": language},
                status=refused.status,
            )
    language = reader_language(request, appointment.patient)
    with translation.override(language):
        if needs_video_consent(appointment.patient):
            return _consent_page(request, appointment, language)
        query = urlencode({"token": token, "lang": language})
        return _room_page(request, room, "patient", language, f"/ws/rooms/{room.code}/?{query}")


@require_GET
def clinician_room_page(request: HttpRequest, code: str) -> HttpResponse:
    """The clinician's side of one room; the consumer decides again who may enter."""
    room = (
        ConsultationRoom.objects.select_related(
            "appointment__patient", "appointment__slot__service", "appointment__slot__centre"
        )
        .filter(code=code)
        .first()
    )
    language = reader_language(request, None)
    refusal = _staff_refusal(request, room.appointment.slot.centre_id if room else None)
    if refusal is not None:
        return refusal
    with translation.override(language):
        if room is None:
            return _staff_error(request, language, NotFound(_("There is no such video room.")))
        record_read(
            request,
            "video_room.opened",
            target=room.appointment,
            centre_id=room.appointment.slot.centre_id,
            patients=[room.appointment.patient_id],
        )
        query = urlencode({"lang": language})
        return _room_page(request, room, "clinician", language, f"/ws/rooms/{room.code}/?{query}")


@require_GET
def centre_rooms_page(request: HttpRequest, number: int) -> HttpResponse:
    """Today's video visits at a centre and who waits, refreshed from the JSON API."""
    centre = HealthCentre.objects.filter(number=number).first()
    refusal = _staff_refusal(request, centre.number if centre else None)
    if refusal is not None:
        return refusal
    language = reader_language(request, None)
    with translation.override(language):
        if centre is None:
            return _staff_error(
                request, language, NotFound(_("There is no health centre with that number."))
            )
        return render(
            request,
            "video/centre_rooms.html",
            {
                "language": language,
                "other_language": _other(language),
                "centre": centre.label_in(language),
                "today": format_day(timezone.localdate(), language),
                "rooms_api": f"/api/v1/staff/centres/{centre.number}/video/rooms",
                "page_texts": _lobby_texts(),
            },
        )


def _consent_page(request: HttpRequest, appointment: Appointment, language: str) -> HttpResponse:
    """Ask for the privacy notice and the telemedicine consent; both boxes, then the room."""
    error = ""
    if request.method == "POST":
        if request.POST.get("privacy") == "yes" and request.POST.get("telemedicine") == "yes":
            record_video_consent(
                patient=appointment.patient,
                by=request.user if request.user.is_authenticated else None,
                address=request.META.get("REMOTE_ADDR"),
            )
            return HttpResponseRedirect(f"{request.path}?lang={language}")
        error = _("Tick both boxes to go on to the video call.")
    return render(
        request,
        "video/consent.html",
        {
            **slot_words(appointment.slot, language),
            "appointment": appointment,
            "error": error,
            "versions": CURRENT_VERSIONS,
        },
        status=400 if error else 200,
    )


def _appointment_of_join_token(token: str) -> Appointment:
    appointment = (
        Appointment.objects.select_related("patient", "slot__service", "slot__centre__district")
        .filter(pk=appointment_id_from_join_token(token))
        .first()
    )
    if appointment is None:
        raise LinkInvalid()
    return appointment


def _room_page(
    request: HttpRequest, room: ConsultationRoom, role: str, language: str, socket_path: str
) -> HttpResponse:
    appointment = room.appointment
    opens, _closes = entry_window(appointment)
    return render(
        request,
        "video/room.html",
        {
            **slot_words(appointment.slot, language),
            "role": role,
            "appointment": appointment,
            "opens_at": f"{timezone.localtime(opens):%H:%M}",
            "lobby_url": f"/video/centres/{appointment.slot.centre_id}/?lang={language}",
            "call_config": {
                "role": role,
                "socket": socket_path,
                "texts": _call_texts(),
                # Early: the page counts down to the room opening, rather than refuse a join.
                "opens_in": max(0, math.ceil((opens - timezone.now()).total_seconds())),
            },
        },
    )


def _staff_refusal(request: HttpRequest, centre_id: int | None) -> HttpResponse | None:
    """Anonymous visitors go to sign in; others need to consult at the centre (an unknown room
    or centre is only said to exist to staff)."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    allowed = (
        can_act_at(user, StaffAction.CONSULT, centre_id)
        if centre_id is not None
        else bool(user.is_staff)
    )
    if allowed:
        return None
    language = reader_language(request, None)
    with translation.override(language):
        return _staff_error(
            request,
            language,
            Forbidden(_("Only the health centre's clinicians and nurses can open this page.")),
        )


def _staff_error(request: HttpRequest, language: str, error: DomainError) -> HttpResponse:
    return render(
        request,
        "video/staff_error.html",
        {
            "language": language,
            "other_language": _other(language),
            "error": error.message,
            "sign_in_url": "/staff/sign-in?" + urlencode({"next": request.get_full_path()}),
        },
        status=error.status,
    )


def _other(language: str) -> str:
    return "en" if language == "th" else "th"


def _call_texts() -> dict[str, str]:
    """What room.js shows, in the page's language."""
    return {
        "checking": _("Checking your camera and microphone…"),
        "check_ok": _("Your camera and microphone work. Press Join when you are ready."),
        "check_refused": _(
            "The browser was not allowed to use the camera or microphone. Allow it in the "
            "browser's settings (the camera icon in the address bar), then press Check again. "
            "You can also join without them and use the chat."
        ),
        "check_no_device": _(
            "No camera or microphone was found. You can still join: you will see and hear "
            "the other person, and can use the chat."
        ),
        "check_busy": _(
            "The camera or microphone is in use by another app. Close that app, then press "
            "Check again."
        ),
        "check_audio_only": _("No camera was found: you will join with sound only."),
        "check_video_only": _("No microphone was found: you will join with video only."),
        "unsupported": _(
            "This browser cannot make video calls. Please use a recent Chrome, Safari or Firefox."
        ),
        "check_again": _("Check again"),
        "opens_in": _(
            "The room opens in %(time)s. Check your camera and microphone meanwhile; you can "
            "join once it opens."
        ),
        "room_open": _("The room is open: you can join now."),
        "connecting": _("Connecting…"),
        "waiting": _("Please wait: the clinician will let you in shortly."),
        "clinician_here": _("The clinician is here and will let you in shortly."),
        "sent_to_lobby": _("The clinician has asked you to wait in the lobby for a moment."),
        "no_patient": _("Waiting for the patient to join."),
        "patient_waiting": _("The patient is waiting in the lobby."),
        "patient_left": _("The patient left the call."),
        "clinician_left": _("The clinician left the call. Please stay: they may come back."),
        "wait_for_clinician": _("Waiting for the clinician to join the call."),
        "wait_for_patient": _("Waiting for the patient to connect."),
        "media_connecting": _("Connecting the video…"),
        "in_call": _("You are in the call."),
        "media_failed": _("The video connection failed. Trying again…"),
        "ended": _("The visit has ended. You can close this page."),
        "left": _("You left the call."),
        "reconnecting": _("The connection was lost. Reconnecting…"),
        "mute": _("Mute"),
        "unmute": _("Unmute"),
        "camera_off": _("Turn camera off"),
        "camera_on": _("Turn camera on"),
        "you": _("You"),
        "quality_good": _("Connection: good"),
        "quality_fair": _("Connection: fair"),
        "quality_poor": _("Connection: poor"),
        "confirm_end": _("End the visit for both of you? The appointment will be completed."),
    }


def _lobby_texts() -> dict[str, str]:
    """What centre_rooms.js shows, in the page's language."""
    return {
        **{f"status_{value}": str(label) for value, label in Appointment.Status.choices},
        "waiting": _("Waiting since %(time)s"),
        "in_call": _("In the call since %(time)s"),
        "ended": _("Ended at %(time)s"),
        "not_here": _("Not here yet"),
        "open_room": _("Open the room"),
        "none": _("No video visits today."),
        "failed": _("The list could not be refreshed. Trying again…"),
        "updated": _("Updated at %(time)s"),
    }
