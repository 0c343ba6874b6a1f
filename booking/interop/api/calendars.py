"""Private calendar feeds: start one, see its address, or revoke it. The address is the only
credential a calendar app holds, so starting a new one always ends the old one."""

from typing import Annotated

from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from booking.interop.calendars.selectors import works_at_a_centre
from booking.interop.calendars.services import revoke_calendar_feed, start_calendar_feed
from booking.links import calendar_feed_link
from booking.models import CalendarFeed
from clinics.exceptions import Forbidden, NotFound
from clinics.permissions import signed_in_user
from clinics.schemas import BangkokDateTime, ErrorOut, choices_schema

router = Router(tags=["Calendars"])


class CalendarFeedOut(Schema):
    kind: Annotated[
        CalendarFeed.Kind, choices_schema("CalendarFeedKind", list(CalendarFeed.Kind.values))
    ]
    url: str = Field(description="Subscribe to this address in a calendar app. Keep it private.")
    webcal_url: str = Field(description="The same address for apps that open webcal:// links.")
    created_at: BangkokDateTime
    last_fetched_at: BangkokDateTime | None = Field(
        description="When a calendar app last fetched it, to the minute."
    )

    @staticmethod
    def resolve_url(feed: CalendarFeed) -> str:
        return calendar_feed_link(feed.pk)

    @staticmethod
    def resolve_webcal_url(feed: CalendarFeed) -> str:
        return "webcal://" + calendar_feed_link(feed.pk).split("://", 1)[1]


ONE = {200: CalendarFeedOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut}
STARTED = {201: CalendarFeedOut, 401: ErrorOut, 403: ErrorOut}
REVOKED = {204: None, 401: ErrorOut, 403: ErrorOut}


def _live_feed(user: User, kind: CalendarFeed.Kind) -> CalendarFeed:
    feed = CalendarFeed.objects.filter(owner=user, kind=kind, revoked_at__isnull=True).first()
    if feed is None:
        raise NotFound(_("You have no calendar feed. Start one first."))
    return feed


def _clinician(request: HttpRequest) -> User:
    user = signed_in_user(request)
    if not works_at_a_centre(user):
        raise Forbidden(_("Only health centre staff have a sessions calendar."))
    return user


@router.get("/me/calendar-feed", response=ONE)
def household_feed(request: HttpRequest) -> CalendarFeed:
    """The address of your household's appointments calendar."""
    return _live_feed(signed_in_user(request), CalendarFeed.Kind.HOUSEHOLD)


@router.post("/me/calendar-feed", response=STARTED)
def start_household_feed(request: HttpRequest) -> Status[CalendarFeed]:
    """A new address for your household's appointments; any earlier address stops working."""
    feed = start_calendar_feed(owner=signed_in_user(request), kind=CalendarFeed.Kind.HOUSEHOLD)
    return Status(201, feed)


@router.delete("/me/calendar-feed", response=REVOKED)
def revoke_household_feed(request: HttpRequest) -> Status[None]:
    """Stop the address working, e.g. after sharing it by mistake."""
    revoke_calendar_feed(owner=signed_in_user(request), kind=CalendarFeed.Kind.HOUSEHOLD)
    return Status(204, None)


@router.get("/staff/calendar-feed", response=ONE)
def clinician_feed(request: HttpRequest) -> CalendarFeed:
    """The address of your sessions and appointments calendar."""
    return _live_feed(_clinician(request), CalendarFeed.Kind.CLINICIAN)


@router.post("/staff/calendar-feed", response=STARTED)
def start_clinician_feed(request: HttpRequest) -> Status[CalendarFeed]:
    """A new address for your sessions calendar; any earlier address stops working."""
    feed = start_calendar_feed(owner=_clinician(request), kind=CalendarFeed.Kind.CLINICIAN)
    return Status(201, feed)


@router.delete("/staff/calendar-feed", response=REVOKED)
def revoke_clinician_feed(request: HttpRequest) -> Status[None]:
    """Stop your sessions calendar's address working (also once you no longer work here)."""
    revoke_calendar_feed(owner=signed_in_user(request), kind=CalendarFeed.Kind.CLINICIAN)
    return Status(204, None)
