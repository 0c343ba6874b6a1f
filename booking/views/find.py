"""The home page: find a time for a service at any centre, nearest first (by home district or
the browser's location), and book the best one in one tap. Works without JavaScript; "near
me" needs it (config/static/site/find.js fills in the location)."""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from booking.models import Patient, Slot
from booking.selectors import SlotOrder, build_search, open_times_by_centre, patients_of
from booking.services.limits import check_search_rate
from booking.vaccination.eligibility import anyone_eligible, describe_rules
from booking.vaccination.selectors import drives_with_districts
from clinics.centre_facts import CentreFacts, facts_in
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
    facts: CentreFacts


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
        "mine": query.get("mine", ""),
    }
    context: dict[str, object] = {
        "nav": "find",
        "chosen": chosen,
        "services": Service.objects.filter(is_active=True).order_by("kind", "name_th"),
        "districts": District.objects.order_by(for_language(language, "name_th", "name_en")),
        "today": today.isoformat(),
        "signed_in": request.user.is_authenticated,
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
    drives = _drives_of([slot for _place, slots in found for slot in slots], language)
    mine = chosen["mine"] == "1" and request.user.is_authenticated
    if mine and drives:
        people = list(patients_of(request.user))
        found = [
            (place, [slot for slot in slots if _someone_may_book(slot, drives, people)])
            for place, slots in found
        ]
        found = [(place, slots) for place, slots in found if slots]
    service = search.service
    centres = [_centre_times(place, slots, language, drives) for place, slots in found]
    if not centres and request.user.is_authenticated:  # who could wait for a place
        context["patients"] = list(patients_of(request.user))
    shown = {
        key
        for centre in centres
        for time in centre.times
        if isinstance(key := time["drive_id"], int)
    }
    context.update(
        {
            "searched": True,
            "service": service.name_in(language),
            "is_video": service.visit_mode == "video",
            "centres": centres,
            "best": centres[0].times[0] if centres else None,
            "best_centre": centres[0] if centres else None,
            "drive_notes": [drives[key] for key in sorted(shown)],
            "first_day": format_day(search.date_from, language),
            "last_day": format_day(search.date_to, language),
        }
    )
    return render(request, "booking/pages/find.html", context)


def _drives_of(slots: list[Slot], language: str) -> dict[int, dict[str, Any]]:
    """The vaccination drives the slots belong to, with who each is for, in plain words (a
    patient sees a drive's rules before choosing a time). One query, none without drives."""
    ids = {slot.drive_id for slot in slots if slot.drive_id is not None}
    if not ids:
        return {}
    return {
        drive.pk: {
            "drive": drive,
            "name": for_language(language, drive.name_th, drive.name_en or drive.name_th),
            "rules": [
                str(rule)
                for rule in describe_rules(
                    drive,
                    district_names=[
                        district.name_in(language) for district in drive.districts.all()
                    ],
                )
            ],
            "district_codes": {district.pk for district in drive.districts.all()},
        }
        for drive in drives_with_districts(ids)
    }


def _someone_may_book(slot: Slot, drives: dict[int, dict[str, Any]], people: list[Patient]) -> bool:
    if slot.drive_id is None:
        return True
    drive = drives[slot.drive_id]
    return anyone_eligible(
        drive["drive"],
        people,
        timezone.localdate(slot.start),
        district_codes=drive["district_codes"],
    )


def _centre_times(
    place: RankedCentre, slots: list[Slot], language: str, drives: dict[int, dict[str, Any]]
) -> CentreTimes:
    centre = place.centre
    return CentreTimes(
        place=place,
        name=centre.name_in(language),
        district=centre.district.name_in(language),
        facts=facts_in(centre, language),
        times=[
            {
                "id": slot.pk,
                "when": format_moment(slot.start, language),
                "day": format_day(timezone.localdate(slot.start), language),
                "time": format_time(slot.start, language),
                "places": slot.capacity - slot.booked,
                "drive_id": slot.drive_id,
                "drive": drives[slot.drive_id]["name"] if slot.drive_id in drives else "",
            }
            for slot in slots
        ],
    )
