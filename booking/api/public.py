"""Open slot search: anyone may look before signing in."""

from django.http import HttpRequest
from ninja import Query, Router

from booking.schemas import SlotPageOut, SlotSearchQuery
from booking.selectors import build_search, search_open_slots
from booking.services.limits import check_search_rate
from clinics.schemas import ErrorOut

router = Router(tags=["Slots"])


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
