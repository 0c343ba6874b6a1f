"""Text that people type and others read back: names must have something to see, a centre's
name must not read as a spreadsheet formula, and every cell of every CSV the project writes is
made safe to open in a spreadsheet."""

import unicodedata
from collections.abc import Iterable
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

T = TypeVar("T")

# Marks that combine with the letter before them, format characters (zero-width space and
# joiners, direction marks, the BOM), controls, spaces and unassigned or private code points:
# none of them shows on its own.
INVISIBLE_CATEGORIES = frozenset({"Mn", "Me", "Cf", "Cc", "Co", "Cn", "Zs", "Zl", "Zp"})
# Letters and symbols that are drawn blank: the Hangul fillers and the blank braille pattern.
BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# A cell starting with one of these is read by Excel, LibreOffice and Google Sheets as a
# formula (tab and carriage return as a way round the others): OWASP's list.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_visible(text: str) -> bool:
    """Whether `text` has at least one character that shows on its own."""
    return any(
        unicodedata.category(character) not in INVISIBLE_CATEGORIES
        and character not in BLANK_CHARACTERS
        for character in text
    )


def validate_centre_name(value: str) -> None:
    """A health centre's name as published (pages, FHIR, calendars, open data): something to
    read, on one line, that no spreadsheet would run as a formula."""
    if not is_visible(value):
        raise ValidationError(_("Enter a name with letters that can be seen."), code="invisible")
    if value.startswith(FORMULA_STARTS):
        raise ValidationError(
            _("A name cannot begin with =, +, -, @ or a tab: spreadsheets would run it."),
            code="formula",
        )
    if any(unicodedata.category(character) == "Cc" for character in value):
        raise ValidationError(
            _("A name must be on one line, without tabs or other control characters."),
            code="control_character",
        )


def spreadsheet_safe(value: T) -> T | str:
    """A CSV cell that no spreadsheet runs: text that would start a formula gets an apostrophe
    before it, which keeps it text (OWASP's advice). Numbers and empty cells are left as they
    are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def spreadsheet_row(values: Iterable[T]) -> list[T | str]:
    """Every cell of a CSV row through spreadsheet_safe: what each csv writer here writes."""
    return [spreadsheet_safe(value) for value in values]
