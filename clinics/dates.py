"""Dates and times as people in Bangkok read them: the Buddhist Era for Thai, Bangkok time.

The one place that turns a date into words, so that every page and message agrees.
"""

from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinics.exceptions import InvalidInput

BUDDHIST_ERA_OFFSET = 543
THAI_MONTHS = (
    "ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.",
    "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.",
)  # fmt: skip
THAI_WEEKDAYS = ("จ.", "อ.", "พ.", "พฤ.", "ศ.", "ส.", "อา.")
ENGLISH_MONTHS = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip
ENGLISH_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def days_between(start: date, end: date) -> Iterator[date]:
    """Each day from `start` to `end`, both included."""
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def weekdays_code(weekdays: Iterable[int]) -> str:
    """Weekdays as schedules and drives keep them ("135": Monday, Wednesday, Friday), from
    1 (Monday) to 7 (Sunday), each once; InvalidInput naming `weekdays` otherwise."""
    days = list(weekdays)
    if len(set(days)) != len(days) or not all(1 <= day <= 7 for day in days):
        raise InvalidInput(
            _("Give each weekday once, as 1 (Monday) to 7 (Sunday)."), field="weekdays"
        )
    return "".join(str(day) for day in sorted(days))


def format_day(day: date, language: str) -> str:
    """ "จ. 30 พ.ย. 2569" in Thai, "Mon 30 Nov 2026" in English."""
    if language == "th":
        month = THAI_MONTHS[day.month - 1]
        return f"{THAI_WEEKDAYS[day.weekday()]} {day.day} {month} {day.year + BUDDHIST_ERA_OFFSET}"
    return f"{ENGLISH_WEEKDAYS[day.weekday()]} {day.day} {ENGLISH_MONTHS[day.month - 1]} {day.year}"


def format_date(day: date, language: str) -> str:
    """A date without its weekday, such as a date of birth: "9 มี.ค. 2491" or "9 Mar 1948"."""
    if language == "th":
        return f"{day.day} {THAI_MONTHS[day.month - 1]} {day.year + BUDDHIST_ERA_OFFSET}"
    return f"{day.day} {ENGLISH_MONTHS[day.month - 1]} {day.year}"


def in_bangkok(moment: datetime) -> datetime:
    """The moment in Bangkok time (TIME_ZONE), whichever time zone a request has made
    current: texts and their hours are Bangkok's. (Cheaper than timezone.localtime, which
    looks the current zone up in a context-local on each call: a booking formats several.)"""
    return moment.astimezone(timezone.get_default_timezone())


def format_time(moment: datetime, language: str) -> str:
    """ "10:30 น." in Thai, "10:30" in English, in Bangkok time."""
    clock = f"{in_bangkok(moment):%H:%M}"
    return f"{clock} น." if language == "th" else clock


def format_moment(moment: datetime, language: str) -> str:
    """The day and the time: "จ. 30 พ.ย. 2569 10:30 น." or "Mon 30 Nov 2026, 10:30"."""
    day = format_day(in_bangkok(moment).date(), language)
    separator = " " if language == "th" else ", "
    return f"{day}{separator}{format_time(moment, language)}"
