"""What a text message costs in SMS segments, how staff may read it, and the wording of the
texts that are about no appointment (sign-in codes, replies to STOP, START and anything
else), in Thai or English. What a booking's texts say lives in booking.notices.

Thai needs UCS-2, where one segment holds 70 characters (67 once a message is split), so
every text is kept short: the centre's short name, the date, one link.
"""

import functools
import re
from dataclasses import dataclass

from django.utils import translation
from django.utils.translation import gettext as _

# GSM 03.38: the default alphabet, and the extension table whose characters take two septets.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "gsm7" or "ucs2"
    units: int  # septets or UTF-16 code units
    segments: int


GSM7 = GSM7_BASIC | GSM7_EXTENSION


@functools.lru_cache(maxsize=256)
def count_segments(text: str) -> SegmentCount:
    """How many SMS segments the text takes, and in which encoding. (Kept for the last few:
    a booking's reminders share one text.)"""
    chars = set(text)
    if chars <= GSM7:
        single, part, encoding = 160, 153, "gsm7"
        wide = not chars.isdisjoint(GSM7_EXTENSION)  # two septets each
    else:
        single, part, encoding = 70, 67, "ucs2"
        wide = max(chars) > "\uffff"  # outside the BMP: two UTF-16 code units each
    if not wide:  # every character costs one unit
        units = len(text)
        segments = 1 if units <= single else -(-units // part)
        return SegmentCount(encoding=encoding, units=units, segments=segments)
    if encoding == "gsm7":
        costs = [2 if char in GSM7_EXTENSION else 1 for char in text]
    else:
        costs = [len(char.encode("utf-16-le")) // 2 for char in text]
    units = sum(costs)
    if units <= single:
        return SegmentCount(encoding=encoding, units=units, segments=1)
    # A character never straddles two segments: one that does not fit starts the next.
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:
            segments, used = segments + 1, 0
        used += cost
    return SegmentCount(encoding=encoding, units=units, segments=segments)


def redact_codes(text: str) -> str:
    """The text with passcodes hidden: what the outbox keeps of a passcode once sent."""
    return re.sub(r"\b\d{6}\b", "••••••", text)


def without_link_tokens(text: str) -> str:
    """The text with the signed part of appointment links hidden, for staff to read: the link
    alone can move or cancel the appointment."""
    return re.sub(r"(/[aw]/)[0-9a-z]+-[0-9a-z]+", r"\1…", text)


def staff_view_of(text: str) -> str:
    """A message as staff may read it: no passcode, no working link."""
    return without_link_tokens(redact_codes(text))


def passcode(code: str, minutes: int, language: str) -> str:
    with translation.override(language):
        return _(
            "BMA sign-in code: %(code)s. It works for %(minutes)d minutes. Never share it."
        ) % {"code": code, "minutes": minutes}


def phone_proof_code(code: str, minutes: int, language: str) -> str:
    with translation.override(language):
        return _(
            "BMA code to get texts for someone in your care: %(code)s. It works for "
            "%(minutes)d minutes. Not you? Ignore this."
        ) % {"code": code, "minutes": minutes}


def new_phone_code(code: str, minutes: int, language: str) -> str:
    with translation.override(language):
        return _(
            "BMA code to sign in with this number from now on: %(code)s. It works for "
            "%(minutes)d minutes. Never share it."
        ) % {"code": code, "minutes": minutes}


def sign_in_phone_changed(language: str) -> str:
    with translation.override(language):
        return _(
            "BMA: your account now signs in with another phone number. Not you? "
            "Contact a health centre."
        )


def reply_opted_in(language: str) -> str:
    with translation.override(language):
        return _("BMA: text messages are back on. Reply STOP to stop them.")


def reply_help(language: str) -> str:
    """The help text for a reply no app registered words for (see inbound.register_help)."""
    with translation.override(language):
        return _("BMA: reply STOP to stop texts.")
