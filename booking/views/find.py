"""The home page: find a time for a service at any centre, nearest first (by home district or
the browser's location), and book the best one in one tap. Works without JavaScript; "near
me" needs it (config/static/site/find.js fills in the location)."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from booking.models import Slot
from booking.selectors import SlotOrder, build_search, open_times_by_centre
from booking.services.limits import check_search_rate
from clinics.dates import format_day, format_moment, format_time
from clinics.exceptions import InvalidInput
from clinics.models import District, Service, for_language
from clinics.refusals import refusal_caught
from clinics.selectors import RankedCentre

# How many centres the page shows, and how many open times for each.
CENTRES_SHOWN = 8
TIMES_PER_CENTRE = 6
DEFAULT_DAYS = 14


@dataclass(frozen=True)
class CentreTimes:
    place: RankedCentre
    name: str
    district: str
    times: list[dict[str, object]]


def _day(raw: str, field: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as error:
        message = _("Give the dates as on a calendar, e.g. 2026-11-30.")
        raise InvalidInput(message, field=field) from error


def _number(raw: str) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


@require_GET
def find_page(request: HttpRequest) -> HttpResponse:
    """The search form, and the open times when a service is chosen."""
    language = request.LANGUAGE_CODE
    today = timezone.localdate()
    query = request.GET
    chosen = {
        "service": query.get("service", ""),
        "district": query.get("district", ""),
        "from": query.get("from", "") or today.isoformat(),
        "to": query.get("to", "") or (today + timedelta(days=DEFAULT_DAYS)).isoformat(),
        "lat": query.get("lat", ""),
        "lon": query.get("lon", ""),
    }
    context: dict[str, object] = {
        "nav": "find",
        "chosen": chosen,
        "services": Service.objects.filter(is_active=True).order_by("kind", "name_th"),
        "districts": District.objects.order_by(for_language(language, "name_th", "name_en")),
        "today": today.isoformat(),
        "find_texts": {
            "locating": _("Finding where you are…"),
            "located": _("Sorted by distance from where you are."),
            "refused": _("We could not get your location. Choose your district instead."),
        },
    }
    if not chosen["service"]:
        return render(request, "booking/pages/find.html", context)
    with refusal_caught() as refused:
        check_search_rate(address=request.META.get("REMOTE_ADDR"))
        district = int(chosen["district"]) if chosen["district"].isdigit() else None
        search = build_search(
            service=chosen["service"],
            date_from=_day(query.get("from", ""), "from"),
            date_to=_day(query.get("to", ""), "to")
            or (_day(query.get("from", ""), "from") or today) + timedelta(days=DEFAULT_DAYS),
            district=district,
            lat=_number(chosen["lat"]),
            lon=_number(chosen["lon"]),
            centres=None,
            order=SlotOrder.NEAREST,
        )
    if refused:
        context["error"] = refused.message
        return render(
            request,
            "booking/pages/find.html",
            context,
            status=429 if refused.status == 429 else 400,
        )
    found = open_times_by_centre(search, centres=CENTRES_SHOWN, per_centre=TIMES_PER_CENTRE)
    service = search.service
    centres = [_centre_times(place, slots, language) for place, slots in found]
    context.update(
        {
            "searched": True,
            "service": service.name_in(language),
            "is_video": service.visit_mode == "video",
            "centres": centres,
            "best": centres[0].times[0] if centres else None,
            "best_centre": centres[0] if centres else None,
            "first_day": format_day(search.date_from, language),
            "last_day": format_day(search.date_to, language),
        }
    )
    return render(request, "booking/pages/find.html", context)


def _centre_times(place: RankedCentre, slots: list[Slot], language: str) -> CentreTimes:
    centre = place.centre
    return CentreTimes(
        place=place,
        name=centre.name_in(language),
        district=centre.district.name_in(language),
        times=[
            {
                "id": slot.pk,
                "when": format_moment(slot.start, language),
                "day": format_day(timezone.localdate(slot.start), language),
                "time": format_time(slot.start, language),
                "places": slot.capacity - slot.booked,
            }
            for slot in slots
        ],
    )
