"""Today at my centre: the queue of appointments and walk-ins in the centre's order
(booking.selectors.queue), with check-in, start, complete and no-show, the walk-ins' steps,
and who waits in the video lobby. Live: config/static/site/queue.js
listens on the centre's queue socket (booking.consumers) and reloads the queue section
(`?fragment=queue`) when something changes; without JavaScript, a reload does the same."""

from collections import Counter
from datetime import date

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from booking.models import Appointment, WalkIn
from booking.selectors import appointment_for_staff, centre_queue_on
from booking.services.audit import queue_shown
from booking.services.staff_steps import (
    QUEUE_STEPS,
    STEPS,
    STILL_TO_COME,
    queue_steps,
    take_step,
)
from booking.services.walk_ins import WALK_IN_STEPS, walk_in_steps
from booking.video_rooms import open_rooms_for
from booking.views.form_errors import row_id
from clinics.dates import format_day, format_time
from clinics.exceptions import NotFound
from clinics.models import HealthCentre, VisitMode
from clinics.permissions import StaffAction, can_act_at
from clinics.refusals import refusal_flashed
from clinics.views import centre_menu, staff_page

Status = Appointment.Status


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
    needs = {step.needs for step in QUEUE_STEPS} | {step.needs for step in WALK_IN_STEPS.values()}
    allowed = {needed: can_act_at(user, needed, centre.number) for needed in needs}
    queue = centre_queue_on(centre, day)
    appointments = [entry for entry in queue if isinstance(entry, Appointment)]
    walk_ins = [entry for entry in queue if isinstance(entry, WalkIn)]
    queue_shown(request, centre_id=centre.pk, day=day, appointments=appointments, walk_ins=walk_ins)
    # Every video visit still to be seen gets its room now, so the desk can always open it.
    rooms = open_rooms_for(
        [
            appointment
            for appointment in appointments
            if appointment.visit_mode == VisitMode.VIDEO and appointment.status in STILL_TO_COME
        ]
    )
    now = timezone.now()
    # "Did not come" asks again: ?confirm=<appointment> shows that row's second step.
    confirming = row_id(request.GET.get("confirm", ""))
    rows = []
    for entry in queue:
        if isinstance(entry, WalkIn):
            rows.append(_walk_in_row(entry, language, today=timezone.localdate(now), may=allowed))
            continue
        appointment = entry
        steps = [
            {"action": step.name, "label": step.button}
            for step in queue_steps(appointment, now=now, may=allowed.__getitem__)
        ]
        room = rooms.get(appointment.pk)
        rows.append(
            {
                "kind": "appointment",
                "appointment": appointment,
                "time": format_time(appointment.slot.start, language),
                "service": appointment.slot.service.name_in(language),
                "checked_in": format_time(appointment.checked_in_at, language)
                if appointment.checked_in_at
                else "",
                "steps": steps,
                "confirming": appointment.pk == confirming,
                "room": room if appointment.status in STILL_TO_COME else None,
                "waiting_since": format_time(room.patient_waiting_since, language)
                if room and room.patient_waiting_since
                else "",
                "in_call_since": format_time(room.admitted_at, language)
                if room and room.admitted_at and not room.ended_at
                else "",
            }
        )
    counts = Counter(appointment.status for appointment in appointments)
    waiting = sum(walk_in.status in WalkIn.IN_QUEUE for walk_in in walk_ins)
    context = {
        "nav": "today",
        "staff_centre": centre_menu(centre, language),
        "day": format_day(day, language),
        "day_iso": day.isoformat(),
        "is_today": day == timezone.localdate(),
        "rows": rows,
        "counts": {
            "booked": counts[Status.BOOKED],
            "checked_in": counts[Status.CHECKED_IN] + counts[Status.IN_CONSULTATION],
            "done": counts[Status.COMPLETED],
            "no_show": counts[Status.NO_SHOW],
            "walk_ins": len(walk_ins),
            "walk_ins_waiting": waiting,
        },
        "may_add_walk_ins": allowed[StaffAction.RECEIVE_PATIENTS],
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


def _walk_in_row(
    walk_in: WalkIn, language: str, *, today: date, may: dict[StaffAction, bool]
) -> dict[str, object]:
    steps = walk_in_steps(walk_in, today=today, may=may.__getitem__)
    return {
        "kind": "walk_in",
        "walk_in": walk_in,
        "arrived": format_time(walk_in.arrived_at, language),
        "service": walk_in.service.name_in(language),
        "steps": [{"action": step.name, "label": step.button} for step in steps],
    }


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
    step = STEPS.get(action)
    if step is None or step not in QUEUE_STEPS:
        messages.error(request, _("There is no such step."))
        return back
    with refusal_flashed(request) as refused:
        appointment = appointment_for_staff(request.user, appointment_id, step.needs)
        if appointment.slot.centre_id != centre.number:
            raise NotFound()
        take_step(step, appointment=appointment)
    if not refused:
        messages.success(request, str(step.done) % {"name": appointment.patient.first_name})
    return back
