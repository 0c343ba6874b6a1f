"""Short signed links that open one appointment without signing in.

A link names the appointment and carries an HMAC of it (keyed by SECRET_KEY), so it cannot be
guessed or altered to reach another appointment. It needs no table: it stops working a set time
after the appointment ends, which the appointment itself says.

Each purpose signs with its own salt, so that a token made for one opens nothing else. The link
in a text message (/a/) confirms, moves and cancels; the calendar link (/c/) that API answers
carry only downloads the .ics file, since those answers reach staff and partners who may not
change the appointment. Whoever acts through a link is recorded in the audit trail as the
holder of the link for that patient.
"""

import functools
import hmac
from base64 import b32encode
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import salted_hmac

from booking.exceptions import LinkExpired, LinkInvalid
from booking.models import Appointment, CalendarFeed, WaitlistOffer
from clinics import audit

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
# Recorded on an appointment cancelled from its link (page or API).
LINK_CANCELLATION = "Cancelled through the message link"
MAX_TOKEN_LENGTH = 40


def _base36(number: int) -> str:
    encoded = ""
    while True:
        number, remainder = divmod(number, 36)
        encoded = _DIGITS[remainder] + encoded
        if number == 0:
            return encoded


APPOINTMENT_SALT = "booking.links.appointment"
CALENDAR_FILE_SALT = "booking.links.appointment-calendar"
OFFER_SALT = "booking.links.waitlist-offer"
FEED_SALT = "booking.links.calendar-feed"
JOIN_SALT = "booking.links.video-join"


def _signature(ident: str, salt: str = APPOINTMENT_SALT) -> str:
    return _signature_with(ident, salt, settings.SECRET_KEY)


@functools.lru_cache(maxsize=4096)
def _signature_with(ident: str, salt: str, secret: str) -> str:
    """Kept for the last few thousand: a booking signs its appointment's link for each of its
    texts and for its answer."""
    digest = salted_hmac(salt, ident, secret=secret, algorithm="sha256").digest()
    return b32encode(digest[:10]).decode().lower()  # 80 bits in 16 characters


def _token(row_id: int, salt: str) -> str:
    ident = _base36(row_id)
    return f"{ident}-{_signature(ident, salt)}"


def _row_id(token: str, salt: str) -> int:
    """The id a token signs; LinkInvalid if it was altered."""
    ident, _, signature = token.strip().lower().partition("-")
    valid = (
        0 < len(token) <= MAX_TOKEN_LENGTH
        and ident.isalnum()
        and ident.isascii()
        and signature.isascii()
        and hmac.compare_digest(signature, _signature(ident, salt))
    )
    if not valid:
        raise LinkInvalid()
    return int(ident, 36)


def appointment_link_token(appointment_id: int) -> str:
    return _token(appointment_id, APPOINTMENT_SALT)


def appointment_link(appointment_id: int) -> str:
    """The address a patient opens from a text message to see and change one appointment."""
    return f"{settings.PUBLIC_BASE_URL}/a/{appointment_link_token(appointment_id)}"


def link_expires_at(appointment: Appointment) -> datetime:
    return appointment.slot.end + timedelta(hours=settings.APPOINTMENT_LINK_GRACE_HOURS)


def _appointment(token: str, salt: str) -> Appointment:
    appointment = (
        Appointment.objects.select_related(
            "patient", "series", "slot__service", "slot__centre__district"
        )
        .filter(pk=_row_id(token, salt))
        .first()
    )
    if appointment is None:
        raise LinkInvalid()
    if timezone.now() > link_expires_at(appointment):
        raise LinkExpired()
    return appointment


def appointment_from_link(token: str) -> Appointment:
    """The appointment a link opens; LinkInvalid if it was altered, LinkExpired once over.
    What the request changes from here on is recorded as done by the link's holder."""
    appointment = _appointment(token, APPOINTMENT_SALT)
    audit.acting_through_link(patient_id=appointment.patient_id)
    return appointment


def offer_link_token(offer_id: int) -> str:
    return _token(offer_id, OFFER_SALT)


def offer_link(offer_id: int) -> str:
    """The address at which someone on the waitlist claims or turns down a held place."""
    return f"{settings.PUBLIC_BASE_URL}/w/{offer_link_token(offer_id)}"


def offer_from_link(token: str) -> WaitlistOffer:
    """The offer a link opens; LinkInvalid if it was altered. Whether it is still open is
    for the page to say. What the request changes from here on is recorded as done by the
    link's holder."""
    offer = (
        WaitlistOffer.objects.select_related(
            "entry__patient", "slot__service", "slot__centre__district", "appointment"
        )
        .filter(pk=_row_id(token, OFFER_SALT))
        .first()
    )
    if offer is None:
        raise LinkInvalid()
    audit.acting_through_link(patient_id=offer.entry.patient_id)
    return offer


def appointment_calendar_token(appointment_id: int) -> str:
    return _token(appointment_id, CALENDAR_FILE_SALT)


def appointment_calendar_link(appointment_id: int) -> str:
    """The appointment as an .ics file and nothing more: the link API answers carry."""
    return f"{settings.PUBLIC_BASE_URL}/c/{appointment_calendar_token(appointment_id)}.ics"


def appointment_from_calendar_link(token: str) -> Appointment:
    """The appointment a calendar link downloads; LinkInvalid if it was altered (or is the
    text message's token), LinkExpired once over, as the text message's link."""
    return _appointment(token, CALENDAR_FILE_SALT)


def my_appointment_link(appointment_id: int) -> str:
    """The appointment's page for its signed-in account holder: an address that is no key."""
    return f"{settings.PUBLIC_BASE_URL}/me/appointments/{appointment_id}"


def calendar_feed_link(feed_id: int) -> str:
    """The private address a calendar app subscribes to."""
    return f"{settings.PUBLIC_BASE_URL}/calendars/{_token(feed_id, FEED_SALT)}.ics"


def calendar_feed_from_link(token: str) -> CalendarFeed:
    """The live feed a subscription address names; LinkInvalid once it is revoked."""
    feed = (
        CalendarFeed.objects.select_related("owner")
        .filter(pk=_row_id(token, FEED_SALT), revoked_at__isnull=True, owner__is_active=True)
        .first()
    )
    if feed is None:
        raise LinkInvalid()
    return feed


def video_join_token(appointment_id: int) -> str:
    """The token in a video visit's join link: it opens that one room and nothing else."""
    return _token(appointment_id, JOIN_SALT)


def video_join_link(appointment_id: int) -> str:
    return f"{settings.PUBLIC_BASE_URL}/v/{video_join_token(appointment_id)}"


def appointment_id_from_join_token(token: str) -> int:
    """The appointment a join token names; LinkInvalid if it was altered. When the room is
    open is the room's rule (video.services)."""
    return _row_id(token, JOIN_SALT)
