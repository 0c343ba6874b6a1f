"""Today at my centre: the queue of appointments in time order, with check-in, start,
complete and no-show, and who waits in the video lobby. Live: config/static/site/queue.js
listens on the centre's queue socket (booking.consumers) and reloads the queue section
(`?fragment=queue`) when something changes; without JavaScript, a reload does the same."""

from collections import Counter
from collections.abc import Callable
from datetime import date

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from booking.models import Appointment
from booking.selectors import appointment_for_staff, centre_appointments_on
from booking.services import appointments as visits
from booking.services.audit import queue_shown
from booking.services.identity import verify_identity_at_desk
from clinics.dates import format_day, format_time
from clinics.exceptions import DomainError, NotFound
from clinics.models import HealthCentre, VisitMode
from clinics.permissions import StaffAction, can_act_at
from clinics.views import staff_centre, staff_page
from video.services import open_rooms_for

Status = Appointment.Status


def _verify_identity(appointment: Appointment) -> Appointment:
    verify_identity_at_desk(patient=appointment.patient, centre_id=appointment.slot.centre_id)
    return appointment


ACTIONS: dict[str, tuple[StaffAction, Callable[[Appointment], Appointment], Promise]] = {
    "check-in": (
        StaffAction.RECEIVE_PATIENTS,
        lambda appointment: visits.check_in(appointment=appointment),
        gettext_lazy("%(name)s is checked in."),
    ),
    "start": (
        StaffAction.CONSULT,
        lambda appointment: visits.start_consultation(appointment=appointment),
        gettext_lazy("%(name)s's visit has started."),
    ),
    "complete": (
        StaffAction.CONSULT,
        lambda appointment: visits.complete_appointment(appointment=appointment),
        gettext_lazy("%(name)s's visit is complete."),
    ),
    "no-show": (
        StaffAction.RECEIVE_PATIENTS,
        lambda appointment: visits.mark_no_show(appointment=appointment),
        gettext_lazy("%(name)s is marked as not attending."),
    ),
    # Whoever receives patients at the desk sees their ID card.
    "verify-id": (
        StaffAction.RECEIVE_PATIENTS,
        _verify_identity,
        gettext_lazy("%(name)s's ID is marked as checked against the card."),
    ),
}
STEP_NAMES = {
    "check-in": gettext_lazy("Check in"),
    "start": gettext_lazy("Start"),
    "complete": gettext_lazy("Complete"),
    "no-show": gettext_lazy("Did not come"),
    "verify-id": gettext_lazy("ID card checked"),
}
# Which buttons each status shows.
NEXT_STEPS: dict[str, tuple[str, ...]] = {
    Status.BOOKED: ("check-in", "start", "no-show"),
    Status.CHECKED_IN: ("start", "complete"),
    Status.IN_CONSULTATION: ("complete",),
}


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw) if raw else timezone.localdate()
    except ValueError:
        return timezone.localdate()


@require_GET
@staff_page(StaffAction.VIEW_APPOINTMENTS)
def today_page(request: HttpRequest, centre: HealthCentre) -> HttpResponse:
    """The day's queue (today, or ?day=YYYY-MM-DD)."""
    language = request.LANGUAGE_CODE
    day = _day(request.GET.get("day", ""))
    user = request.user
    needs = {needed for needed, _change, _done in ACTIONS.values()}
    allowed = {needed: can_act_at(user, needed, centre.number) for needed in needs}
    may = {action: allowed[needed] for action, (needed, _change, _done) in ACTIONS.items()}
    appointments = list(centre_appointments_on(centre.number, day))
    queue_shown(request, centre_id=centre.pk, day=day, appointments=appointments)
    # Every video visit still to be seen gets its room now, so the desk can always open it.
    rooms = open_rooms_for(
        [
            appointment
            for appointment in appointments
            if appointment.visit_mode == VisitMode.VIDEO and appointment.status in NEXT_STEPS
        ]
    )
    now = timezone.now()
    rows = []
    for appointment in appointments:
        steps = [
            {"action": step, "label": STEP_NAMES[step]}
            for step in NEXT_STEPS.get(appointment.status, ())
            if may[step] and (step != "no-show" or appointment.slot.start <= now)
        ]
        if (
            may["verify-id"]
            and appointment.status in NEXT_STEPS
            and not appointment.patient.identity_verified
        ):
            steps.append({"action": "verify-id", "label": STEP_NAMES["verify-id"]})
        room = rooms.get(appointment.pk)
        rows.append(
            {
                "appointment": appointment,
                "time": format_time(appointment.slot.start, language),
                "service": appointment.slot.service.name_th
                if language == "th"
                else appointment.slot.service.name_en,
                "checked_in": format_time(appointment.checked_in_at, language)
                if appointment.checked_in_at
                else "",
                "steps": steps,
                "room": room if appointment.status in NEXT_STEPS else None,
                "waiting_since": format_time(room.patient_waiting_since, language)
                if room and room.patient_waiting_since
                else "",
                "in_call_since": format_time(room.admitted_at, language)
                if room and room.admitted_at and not room.ended_at
                else "",
            }
        )
    counts = Counter(appointment.status for appointment in appointments)
    context = {
        "nav": "today",
        "staff_centre": staff_centre(centre, language),
        "day": format_day(day, language),
        "day_iso": day.isoformat(),
        "is_today": day == timezone.localdate(),
        "rows": rows,
        "counts": {
            "booked": counts[Status.BOOKED],
            "checked_in": counts[Status.CHECKED_IN] + counts[Status.IN_CONSULTATION],
            "done": counts[Status.COMPLETED],
            "no_show": counts[Status.NO_SHOW],
        },
        "queue_texts": {
            "live": _("Live: the queue updates by itself."),
            "updated": _("Updated at %(time)s."),
            "paused": _("Live updates paused. Reconnecting…"),
            "refused": _("Live updates are off: reload the page to sign in again."),
        },
        "socket": f"/ws/centres/{centre.number}/queue/",
        "updated_at": format_time(now, language),
    }
    if request.GET.get("fragment") == "queue":
        return render(request, "booking/staff/_queue.html", context)
    return render(request, "booking/staff/today.html", context)


@require_POST
@staff_page(StaffAction.VIEW_APPOINTMENTS)
def queue_action(
    request: HttpRequest, centre: HealthCentre, appointment_id: int, action: str
) -> HttpResponse:
    """One step of one visit, from a button in the queue; back to the queue with the outcome."""
    day = _day(request.POST.get("day", ""))
    back = HttpResponseRedirect(
        f"/staff/centres/{centre.number}/today?day={day.isoformat()}", status=303
    )
    if action not in ACTIONS:
        messages.error(request, _("There is no such step."))
        return back
    needed, change, done = ACTIONS[action]
    try:
        appointment = appointment_for_staff(request.user, appointment_id, needed)
        if appointment.slot.centre_id != centre.number:
            raise NotFound()
        change(appointment)
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(request, str(done) % {"name": appointment.patient.first_name})
    return back
