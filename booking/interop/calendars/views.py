"""Calendar files and feeds. Each answers with text/calendar, or a short plain-text reason."""

from collections.abc import Callable
from hashlib import sha256

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.utils import timezone, translation
from django.utils.cache import get_conditional_response
from django.utils.http import quote_etag
from django.views.decorators.http import require_GET

from booking.exceptions import LinkInvalid
from booking.interop.calendars import ics, selectors
from booking.interop.calendars.services import note_feed_fetched
from booking.links import (
    appointment_from_calendar_link,
    appointment_from_link,
    appointment_link,
    calendar_feed_from_link,
)
from booking.models import Appointment, CalendarFeed
from booking.page_words import reader_language
from clinics.exceptions import DomainError
from clinics.models import HealthCentre


def _calendar_response(
    request: HttpRequest, body: bytes, *, filename: str, shared: bool
) -> HttpResponseBase:
    response = HttpResponse(body, content_type=ics.CALENDAR_CONTENT_TYPE)
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    # Private files and feeds carry their credential in the address: no shared cache keeps
    # them, no search engine lists them, and no other site learns the address from a click.
    response["Cache-Control"] = "public, max-age=3600" if shared else "private, max-age=300"
    if not shared:
        response["X-Robots-Tag"] = "noindex"
        response["Referrer-Policy"] = "no-referrer"
    etag = quote_etag(sha256(body).hexdigest()[:32])
    response["ETag"] = etag
    return get_conditional_response(request, etag=etag, response=response) or response


def _refusal(error: DomainError) -> HttpResponse:
    return HttpResponse(
        str(error.message), status=error.status, content_type="text/plain; charset=utf-8"
    )


def _appointment_file(
    request: HttpRequest, open_link: Callable[[str], Appointment], token: str, *, acting: bool
) -> HttpResponseBase:
    try:
        appointment = open_link(token)
    except DomainError as error:
        with translation.override(reader_language(request, None)):
            return _refusal(error)
    language = reader_language(request, appointment.patient)
    # Only the text message's link gets itself back in the file; any other file links to the
    # signed-in page, which is no key.
    link = appointment_link(appointment.pk) if acting else ""
    body = ics.appointment_calendar(appointment, language=language, link=link)
    return _calendar_response(
        request, body, filename=f"appointment-{appointment.pk}.ics", shared=False
    )


@require_GET
def appointment_file(request: HttpRequest, token: str) -> HttpResponseBase:
    """The appointment a text message links to, as an .ics file to add to a calendar."""
    return _appointment_file(request, appointment_from_link, token, acting=True)


@require_GET
def appointment_calendar_file(request: HttpRequest, token: str) -> HttpResponseBase:
    """The appointment as an .ics file, from the calendar link that API answers carry: that
    link downloads the file and opens nothing else."""
    return _appointment_file(request, appointment_from_calendar_link, token, acting=False)


@require_GET
def private_feed(request: HttpRequest, token: str) -> HttpResponseBase:
    """A household's or a clinician's feed, at the address they subscribed to."""
    try:
        feed = calendar_feed_from_link(token)
    except DomainError as error:
        with translation.override(reader_language(request, None)):
            return _refusal(error)
    owner = feed.owner
    if feed.kind == CalendarFeed.Kind.CLINICIAN and not selectors.works_at_a_centre(owner):
        with translation.override(reader_language(request, None)):
            return _refusal(LinkInvalid())
    note_feed_fetched(feed=feed)
    language = selectors.household_language(owner)
    if request.GET.get("lang") in {"th", "en"}:
        language = request.GET["lang"]
    if feed.kind == CalendarFeed.Kind.HOUSEHOLD:
        body = ics.household_calendar(
            selectors.household_appointments(owner),
            language=language,
            several_people=selectors.household_size(owner) > 1,
        )
    else:
        body = ics.clinician_calendar(
            selectors.clinician_slots(owner),
            selectors.clinician_appointments(owner),
            language=language,
            stamp=timezone.now().replace(second=0, microsecond=0),
        )
    return _calendar_response(request, body, filename=f"{feed.kind}.ics", shared=False)


@require_GET
def centre_closures_feed(request: HttpRequest, number: int) -> HttpResponseBase:
    """Public: the days a centre is closed, for anyone to subscribe to."""
    centre = get_object_or_404(HealthCentre.objects.select_related("district"), number=number)
    language = request.GET.get("lang") if request.GET.get("lang") in {"th", "en"} else "th"
    since = selectors.closures_since()
    body = ics.closures_calendar(
        centre,
        selectors.centre_closures(centre, since=since),
        selectors.closing_holidays(since=since),
        language=language or "th",
        stamp=timezone.now().replace(hour=0, minute=0, second=0, microsecond=0),
    )
    return _calendar_response(
        request, body, filename=f"centre-{centre.number}-closures.ics", shared=True
    )
