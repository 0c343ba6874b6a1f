"""What people need to find and reach a centre: its address, postcode, phone number and opening
hours, checked on the way in and written the way people read them, in Thai and English.

Every page, the calendar files and the texts show a centre's facts through `facts_in`, so they
all agree; a fact the centre has not given is left out, never shown blank.

Opening hours are kept structured, one period a weekday (`[{"day": 1, "opens": "08:00",
"closes": "16:00"}, ...]`, 1 Monday to 7 Sunday), so that they read in either language and go
to partners as FHIR `hoursOfOperation` unchanged.
"""

import re
from dataclasses import dataclass
from datetime import time
from typing import TYPE_CHECKING, Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from clinics.dates import ENGLISH_WEEKDAYS

if TYPE_CHECKING:
    from clinics.models import HealthCentre

POSTCODE = re.compile(r"^[1-9][0-9]{4}$")
CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
BANGKOK_TH, BANGKOK_EN = "กรุงเทพมหานคร", "Bangkok"
DASH = "\u2013"  # between the first and last day, and the opening and closing time
THAI_DAY_NAMES = ("จันทร์", "อังคาร", "พุธ", "พฤหัสบดี", "ศุกร์", "เสาร์", "อาทิตย์")


# --- Checks (model validators: the admin, the staff page and the API all pass through them) ----


def validate_postcode(value: str) -> None:
    """A Thai postcode: five digits (Bangkok's start with 10)."""
    if not POSTCODE.match(value):
        raise ValidationError(_("Enter the postcode as five digits, e.g. 10200."), code="postcode")


def validate_address_line(value: str) -> None:
    """A street line as published on pages, calendars and FHIR: one line of text."""
    if any(ord(character) < 32 or ord(character) == 127 for character in value):
        raise ValidationError(
            _("Write the address on one line, without tabs or line breaks."), code="one_line"
        )


def _parsed_phone(raw: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(raw, "TH")
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def normalise_centre_phone(raw: str) -> str:
    """A phone number as written ("02 123 4567", "02-123-4567", "+66 2 123 4567") as E.164;
    empty stays empty. ValidationError if it is no valid number."""
    raw = raw.strip()
    if not raw:
        return ""
    number = _parsed_phone(raw)
    if number is None:
        raise ValidationError(
            _("Enter a valid phone number, e.g. 02 123 4567 or 081 234 5678."), code="phone"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_centre_phone(value: str) -> None:
    """Stored numbers are E.164 (+6621234567): one form for links, FHIR and comparisons."""
    if normalise_centre_phone(value) != value:
        raise ValidationError(
            _("Enter a valid phone number, e.g. 02 123 4567 or 081 234 5678."), code="phone"
        )


def phone_as_written(phone: str) -> str:
    """A stored number as people write it: Thai numbers the local way ("02 123 4567",
    "089 111 2233"), others the international way ("+44 7700 900123"); anything that is not
    a valid number as it is. The one home for centres' and people's numbers alike."""
    number = _parsed_phone(phone)
    if number is None:
        return phone
    way = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if phonenumbers.region_code_for_number(number) == "TH"
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, way)


def phone_uri(phone: str) -> str:
    """The `tel:` link of a stored number (RFC 3966)."""
    number = _parsed_phone(phone)
    if number is None:
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.RFC3966)


@dataclass(frozen=True)
class OpeningPeriod:
    """Open on `day` (1 Monday … 7 Sunday) from `opens` until `closes`."""

    day: int
    opens: time
    closes: time

    def as_json(self) -> dict[str, Any]:
        return {"day": self.day, "opens": f"{self.opens:%H:%M}", "closes": f"{self.closes:%H:%M}"}


def opening_periods_from(value: Any) -> list[OpeningPeriod]:
    """The periods of a stored `opening_hours` value, by weekday; ValidationError if it is not
    a list of {day, opens, closes}, one a weekday, each closing after it opens."""
    invalid = ValidationError(
        _("Give opening hours as one period a weekday, each closing after it opens."),
        code="opening_hours",
    )
    if not isinstance(value, list):
        raise invalid
    periods = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"day", "opens", "closes"}:
            raise invalid
        day, opens, closes = entry["day"], entry["opens"], entry["closes"]
        if not isinstance(day, int) or isinstance(day, bool) or not 1 <= day <= 7:
            raise invalid
        if not all(isinstance(clock, str) and CLOCK.match(clock) for clock in (opens, closes)):
            raise invalid
        period = OpeningPeriod(day, time.fromisoformat(opens), time.fromisoformat(closes))
        if period.closes <= period.opens:
            raise invalid
        periods.append(period)
    if len({period.day for period in periods}) != len(periods):
        raise invalid
    return sorted(periods, key=lambda period: period.day)


def validate_opening_hours(value: Any) -> None:
    opening_periods_from(value)


# --- Words -------------------------------------------------------------------------------------


def _clock(moment: time, language: str) -> str:
    return f"{moment:%H.%M}" if language == "th" else f"{moment:%H:%M}"


def _day_name(day: int, language: str) -> str:
    return THAI_DAY_NAMES[day - 1] if language == "th" else ENGLISH_WEEKDAYS[day - 1]


def opening_hours_lines(periods: list[OpeningPeriod], language: str) -> list[str]:
    """Days in a row with the same hours read as one line, with en dashes: "Mon-Fri 08:00-16:00",
    or "จันทร์-ศุกร์ 08.00-16.00 น."."""
    runs: list[list[OpeningPeriod]] = []
    for period in periods:
        last = runs[-1][-1] if runs else None
        if (
            last is not None
            and last.day + 1 == period.day
            and (last.opens, last.closes) == (period.opens, period.closes)
        ):
            runs[-1].append(period)
        else:
            runs.append([period])
    lines = []
    for run in runs:
        days = _day_name(run[0].day, language)
        if len(run) > 1:
            days = f"{days}{DASH}{_day_name(run[-1].day, language)}"
        hours = f"{_clock(run[0].opens, language)}{DASH}{_clock(run[0].closes, language)}"
        lines.append(f"{days} {hours} น." if language == "th" else f"{days} {hours}")
    return lines


def address_in(centre: "HealthCentre", language: str) -> str:
    """The centre's postal address on one line, as far as it is known: the street line (in the
    language, else the other one), subdistrict, district, Bangkok and the postcode. Needs
    centre.district."""
    district = centre.district
    if language == "th":
        parts = [
            centre.address_th or centre.address_en,
            f"แขวง{centre.subdistrict_th}" if centre.subdistrict_th else "",
            f"เขต{district.name_th}",
            f"{BANGKOK_TH} {centre.postcode}".strip(),
        ]
        return " ".join(part for part in parts if part)
    parts = [
        centre.address_en or centre.address_th,
        f"{district.name_en} District",
        f"{BANGKOK_EN} {centre.postcode}".strip(),
    ]
    return ", ".join(part for part in parts if part)


@dataclass(frozen=True)
class CentreFacts:
    """A centre's facts in one language, each empty when the centre has not given it."""

    name: str
    address: str
    phone: str
    phone_uri: str
    opening_hours: list[str]

    def __bool__(self) -> bool:
        return bool(self.address or self.phone or self.opening_hours)


def facts_in(centre: "HealthCentre", language: str) -> CentreFacts:
    """What pages and files say about where a centre is and how to reach it. The address is
    given once there is a street line or a postcode to add to the district. Needs
    centre.district."""
    known = bool(centre.address_th or centre.address_en or centre.postcode)
    return CentreFacts(
        name=centre.name_in(language),
        address=address_in(centre, language) if known else "",
        phone=phone_as_written(centre.phone) if centre.phone else "",
        phone_uri=phone_uri(centre.phone) if centre.phone else "",
        opening_hours=opening_hours_lines(centre.opening_periods, language),
    )
