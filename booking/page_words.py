"""What a page says in its reader's language: which language that is, and the words about a
slot (for the booking pages and the video pages alike)."""

from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import translation

from booking.models import Patient, Slot
from booking.notices import recipient_for
from clinics.centre_facts import facts_in
from clinics.dates import format_moment, format_time

LANGUAGES = ("th", "en")


def reader_language(request: HttpRequest, patient: Patient | None) -> str:
    """The reader's choice (?lang=), else the language their texts are in, else Thai."""
    chosen = request.GET.get("lang", "")
    if chosen in LANGUAGES:
        return chosen
    if patient is None:
        return translation.get_language() or "th"
    recipient = recipient_for(patient)
    return recipient.language if recipient else "th"


def slot_words(slot: Slot, language: str) -> dict[str, Any]:
    """What a page says about a slot, in the reader's language. Needs slot.centre.district."""
    return {
        "language": language,
        "other_language": "en" if language == "th" else "th",
        "service": slot.service.name_in(language),
        # One name for the centre on every page: its full name in the reader's language (the
        # short label, "ศบส.1 สะพานมอญ", is for texts, where room is short).
        "centre": slot.centre.name_in(language),
        # Where it is and how to call it (clinics/_centre_facts.html shows them).
        "centre_facts": facts_in(slot.centre, language),
        "when": format_moment(slot.start, language),
        "until": format_time(slot.end, language),
        # Moving or cancelling online closes this long before the start (the service's rule).
        "changes_close": format_moment(
            slot.start - timedelta(minutes=slot.service.cancellation_cutoff_minutes), language
        ),
    }
