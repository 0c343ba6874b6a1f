"""A week at my centre: each day's sessions, slot by slot, with how full each is."""

from collections import defaultdict
from datetime import date, timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from booking.selectors import centre_slots_between
from clinics.dates import format_day, format_time
from clinics.models import HealthCentre
from clinics.permissions import StaffAction
from clinics.selectors import holidays_between
from clinics.views import centre_menu, staff_page


def _monday(raw: str) -> date:
    try:
        day = date.fromisoformat(raw) if raw else timezone.localdate()
    except ValueError:
        day = timezone.localdate()
    return day - timedelta(days=day.weekday())


@require_GET
@staff_page(StaffAction.VIEW_APPOINTMENTS)
def week_page(request: HttpRequest, centre: HealthCentre) -> HttpResponse:
    """Monday to Sunday of the week holding ?start= (default this week)."""
    language = request.LANGUAGE_CODE
    monday = _monday(request.GET.get("start", ""))
    sunday = monday + timedelta(days=6)
    by_day: dict[date, list[dict[str, object]]] = defaultdict(list)
    for slot in centre_slots_between(centre.number, monday, sunday):
        by_day[timezone.localdate(slot.start)].append(
            {
                "slot": slot,
                "start": format_time(slot.start, language),
                "end": format_time(slot.end, language),
                "service": slot.service.name_in(language),
                "full": slot.booked >= slot.capacity > 0,
            }
        )
    holidays = holidays_between(monday, sunday)
    days = []
    for n in range(7):
        day = monday + timedelta(days=n)
        holiday = holidays.get(day)
        days.append(
            {
                "label": format_day(day, language),
                "slots": by_day.get(day, []),
                "holiday": holiday.name_in(language) if holiday else "",
                "holiday_closes": bool(holiday and holiday.closes_centres),
            }
        )
    return render(
        request,
        "booking/staff/week.html",
        {
            "nav": "week",
            "staff_centre": centre_menu(centre, language),
            "days": days,
            "first": format_day(monday, language),
            "last": format_day(sunday, language),
            "previous": (monday - timedelta(days=7)).isoformat(),
            "next": (monday + timedelta(days=7)).isoformat(),
        },
    )
