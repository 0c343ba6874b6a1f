"""Open slot search: anyone may look before signing in."""

from datetime import date, timedelta

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Query, Router

from booking.schemas import SlotPageOut, SlotSearchQuery
from booking.selectors import SlotOrder, SlotSearch, search_open_slots
from booking.services.limits import check_search_rate
from clinics.exceptions import InvalidInput
from clinics.models import District
from clinics.schemas import ErrorOut
from clinics.selectors import district_by_code, service_by_code

router = Router(tags=["Slots"])

# A search or allocation may look this far ahead: the booking horizon plus some slack.
MAX_SEARCH_DAYS = 120


def build_search(
    *,
    service: str,
    date_from: date | None,
    date_to: date | None,
    district: District | int | None,
    lat: float | None,
    lon: float | None,
    centres: list[int] | None,
    order: SlotOrder,
) -> SlotSearch:
    """A SlotSearch from API input, with the default window of four weeks from today."""
    first = date_from or timezone.localdate()
    last = date_to or first + timedelta(weeks=4)
    if last < first:
        raise InvalidInput(_("The last day is before the first day."), field="date_to")
    if (last - first).days > MAX_SEARCH_DAYS:
        raise InvalidInput(
            _("Search at most %(days)d days at a time.") % {"days": MAX_SEARCH_DAYS},
            field="date_to",
        )
    if (lat is None) != (lon is None):
        raise InvalidInput(_("Give both latitude and longitude, or neither."), field="lon")
    if isinstance(district, int):
        found = district_by_code(district)
        if found is None:
            raise InvalidInput(_("There is no Bangkok district with that code."), field="district")
        district = found
    return SlotSearch(
        service=service_by_code(service),
        date_from=first,
        date_to=last,
        district=district,
        latitude=lat,
        longitude=lon,
        centre_ids=centres,
        order=order,
    )


@router.get(
    "/slots", response={200: SlotPageOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}, auth=None
)
def search_slots(request: HttpRequest, query: Query[SlotSearchQuery]) -> SlotPageOut:
    """Open times for a service across all centres.

    Ranked for the patient: centres in their district first (`district`), then the nearest
    (to `lat`/`lon`, or else to the district's centre), then the earliest time. With
    `order=earliest`, the earliest time comes first and distance breaks ties.
    """
    check_search_rate(address=request.META.get("REMOTE_ADDR"))
    return slot_page(query)


def slot_page(query: SlotSearchQuery) -> SlotPageOut:
    """One page of open times for a search as the API takes it."""
    search = build_search(
        service=query.service,
        date_from=query.date_from,
        date_to=query.date_to,
        district=query.district,
        lat=query.lat,
        lon=query.lon,
        centres=query.centre,
        order=query.order,
    )
    return SlotPageOut.from_page(
        search_open_slots(search, page=query.page, page_size=query.page_size)
    )
