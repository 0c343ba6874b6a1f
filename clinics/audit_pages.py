"""The audit trail as pages: a centre's events for its centre admins, and every event for city
admins. Read only: the trail has no page, form or API that changes it."""

from datetime import date, timedelta
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from clinics.audit import actor_in_words, filter_events
from clinics.dates import format_moment
from clinics.models import AuditEvent, HealthCentre
from clinics.permissions import StaffAction, is_city_admin
from clinics.views import centre_menu, refuse, staff_page

PAGE_SIZE = 100

ACTIONS: dict[str, Promise] = {
    "queue.viewed": gettext_lazy("Viewed the day's appointments"),
    "video_lobby.viewed": gettext_lazy("Viewed the video lobby"),
    "video_room.opened": gettext_lazy("Opened a video room"),
    "admin.patient_list_viewed": gettext_lazy("Listed patients (admin)"),
    "admin.patient_viewed": gettext_lazy("Opened a patient's record (admin)"),
    "admin.appointment_list_viewed": gettext_lazy("Listed appointments (admin)"),
    "admin.appointment_viewed": gettext_lazy("Opened an appointment (admin)"),
    "appointment_messages.viewed": gettext_lazy("Read an appointment's text messages"),
    "patient_messages.viewed": gettext_lazy("Read a patient's text messages"),
    "fhir_appointments.viewed": gettext_lazy("Read appointments over FHIR"),
    "shared_phones.viewed": gettext_lazy("Viewed phones booking for many people"),
    "appointment.booked": gettext_lazy("Appointment booked"),
    "appointment.cancelled": gettext_lazy("Appointment cancelled"),
    "appointment.moved": gettext_lazy("Appointment moved"),
    "appointment.confirmed": gettext_lazy("Attendance confirmed"),
    "appointment.checked_in": gettext_lazy("Checked in"),
    "appointment.in_consultation": gettext_lazy("Visit started"),
    "appointment.completed": gettext_lazy("Visit completed"),
    "appointment.no_show": gettext_lazy("Marked as not attending"),
    "appointment.dose_given": gettext_lazy("Vaccine lot recorded"),
    "walk_in.added": gettext_lazy("Walk-in added to the queue"),
    "walk_in.in_consultation": gettext_lazy("Walk-in being seen"),
    "walk_in.completed": gettext_lazy("Walk-in seen"),
    "walk_in.left": gettext_lazy("Walk-in left without being seen"),
    "walk_in.waiting": gettext_lazy("Walk-in waiting again (a step taken back)"),
    "walk_in.viewed": gettext_lazy("Opened a walk-in's slip"),
    "patient.looked_up": gettext_lazy("Looked up a person at the desk"),
    "slot.capacity_set": gettext_lazy("Slot capacity changed"),
    "schedule.created": gettext_lazy("Weekly schedule added"),
    "schedule.changed": gettext_lazy("Weekly schedule changed"),
    "schedule.ended": gettext_lazy("Weekly schedule ended"),
    "closure.added": gettext_lazy("Closure added"),
    "closure.lifted": gettext_lazy("Closure lifted"),
    "drive.created": gettext_lazy("Drive created"),
    "drive.changed": gettext_lazy("Drive changed"),
    "drive.released": gettext_lazy("Drive released"),
    "drive.release_moved": gettext_lazy("Drive's opening time moved"),
    "drive.cancelled": gettext_lazy("Drive cancelled"),
    "stock.received": gettext_lazy("Vaccine delivery recorded"),
    "stock.withdrawn": gettext_lazy("Vaccine lot withdrawn"),
    "stock.places_closed": gettext_lazy("Places closed for want of stock"),
    "account.booking_blocked": gettext_lazy("Phone stopped from booking"),
    "account.booking_unblocked": gettext_lazy("Phone allowed to book again"),
    "patient.changed": gettext_lazy("Patient's details corrected"),
    "patient.deletion_requested": gettext_lazy("Deletion asked for"),
    "patient.deletion_withdrawn": gettext_lazy("Deletion request withdrawn"),
    "patient.erased": gettext_lazy("Personal data erased"),
    "patient.identity_verified": gettext_lazy("Identity verified"),
    "patient.identity_claimed": gettext_lazy("Record moved to the person who proved the ID"),
    "partner.person_refused": gettext_lazy("Partner's booking refused: the person did not match"),
}
RECORDS: dict[str, Promise] = {
    "appointment": gettext_lazy("appointment"),
    "patient": gettext_lazy("patient"),
    "account": gettext_lazy("account"),
    "slot": gettext_lazy("slot"),
    "scheduletemplate": gettext_lazy("schedule"),
    "closure": gettext_lazy("closure"),
    "vaccinationdrive": gettext_lazy("drive"),
    "vaccinelot": gettext_lazy("vaccine lot"),
    "message": gettext_lazy("text message"),
    "vaccinationseries": gettext_lazy("vaccination course"),
    "waitlistentry": gettext_lazy("waitlist entry"),
    "waitlistoffer": gettext_lazy("waitlist offer"),
    "walkin": gettext_lazy("walk-in"),
}
KINDS = {
    "all": gettext_lazy("Everything"),
    "reads": gettext_lazy("Reads of patients' records"),
    "changes": gettext_lazy("Changes"),
}


def _action_label(action: str) -> str:
    """The action in words; the admin's other lists and pages by the record they show."""
    if action in ACTIONS:
        return str(ACTIONS[action])
    if action.startswith("admin."):
        model = action.removeprefix("admin.").rpartition("_")[0]
        record = str(RECORDS.get(model.removesuffix("_list"), model))
        if model.endswith("_list"):
            return _("Listed in the admin: %(record)s") % {"record": record}
        return _("Opened in the admin: %(record)s") % {"record": record}
    return action


def _date(raw: str, default: date) -> date:
    try:
        return date.fromisoformat(raw) if raw else default
    except ValueError:
        return default


def _details(details: dict[str, Any]) -> str:
    shown = [f"{key}: {value}" for key, value in details.items() if value not in ("", None)]
    return " · ".join(shown)


def _patients(ids: list[int]) -> str:
    shown = ", ".join(f"#{each}" for each in ids[:10])
    if len(ids) > 10:
        shown += " " + _("and %(count)d more") % {"count": len(ids) - 10}
    return shown


def _events(request: HttpRequest, events: QuerySet[AuditEvent]) -> dict[str, Any]:
    """Filter by ?since=&until= (days, default the last week), ?kind= and ?who=; one page of
    the newest first."""
    language = request.LANGUAGE_CODE
    today = timezone.localdate()
    until = _date(request.GET.get("until", ""), today)
    since = min(_date(request.GET.get("since", ""), until - timedelta(days=6)), until)
    kind = request.GET.get("kind", "all")
    kind = kind if kind in KINDS else "all"
    who = request.GET.get("who", "").strip()[:150]
    events = filter_events(events, since=since, until=until, kind=kind, who=who)
    page = Paginator(events.order_by("-at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            "event": event,
            "at": format_moment(event.at, language),
            "actor_kind": actor_in_words(event),
            "action": _action_label(event.action),
            "is_read": event.action.endswith(("viewed", "opened")),
            "record": f"{RECORDS.get(event.target_type, event.target_type)} #{event.target_id}"
            if event.target_id
            else "",
            "patients": _patients(event.patients),
            "details": _details(event.details),
        }
        for event in page.object_list
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "rows": rows,
        "page": page,
        "query": query.urlencode(),
        "since": since.isoformat(),
        "until": until.isoformat(),
        "kind": kind,
        "kinds": KINDS.items(),
        "who": who,
    }


@require_GET
@staff_page(StaffAction.READ_AUDIT)
def centre_audit_page(request: HttpRequest, centre: HealthCentre) -> HttpResponse:
    """Everything recorded at the centre: who read which patients' records, and every change
    to its appointments, slots, schedules, drives and stock."""
    context = _events(request, AuditEvent.objects.filter(centre=centre))
    context |= {"nav": "audit", "staff_centre": centre_menu(centre, request.LANGUAGE_CODE)}
    return render(request, "clinics/audit.html", context)


@require_GET
def city_audit_page(request: HttpRequest) -> HttpResponse:
    """City admins: every centre's events, and the city-wide ones (closures of every centre,
    drives before they have centres)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not is_city_admin(request.user):
        return refuse(request, _("Only city admins can read the whole city's audit trail."), 403)
    events = AuditEvent.objects.select_related("centre")
    context = _events(request, events)
    for row in context["rows"]:
        centre = row["event"].centre
        row["centre"] = centre.label_in(request.LANGUAGE_CODE) if centre else _("Every centre")
    context |= {"nav": "audit", "city": True}
    return render(request, "clinics/audit.html", context)
