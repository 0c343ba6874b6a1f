"""Dates and times as people in Bangkok read them: the Buddhist Era for Thai, Bangkok time.

The one place that turns a date into words, so that every page and message agrees.
"""

from datetime import date, datetime

from django.utils import timezone

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


def format_day(day: date, language: str) -> str:
    """ "จ. 30 พ.ย. 2569" in Thai, "Mon 30 Nov 2026" in English."""
    if language == "th":
        month = THAI_MONTHS[day.month - 1]
        return f"{THAI_WEEKDAYS[day.weekday()]} {day.day} {month} {day.year + BUDDHIST_ERA_OFFSET}"
    return f"{ENGLISH_WEEKDAYS[day.weekday()]} {day.day} {ENGLISH_MONTHS[day.month - 1]} {day.year}"


def format_time(moment: datetime, language: str) -> str:
    """ "10:30 น." in Thai, "10:30" in English, in Bangkok time."""
    clock = f"{timezone.localtime(moment):%H:%M}"
    return f"{clock} น." if language == "th" else clock


def format_moment(moment: datetime, language: str) -> str:
    """The day and the time: "จ. 30 พ.ย. 2569 10:30 น." or "Mon 30 Nov 2026, 10:30"."""
    day = format_day(timezone.localdate(moment), language)
    separator = " " if language == "th" else ", "
    return f"{day}{separator}{format_time(moment, language)}"
