"""What a name must have to be shown, what a centre may be called, and the one function every
CSV writer passes its cells through."""

import pytest
from django.core.exceptions import ValidationError

from clinics.models import HealthCentre
from clinics.text import is_visible, spreadsheet_row, spreadsheet_safe, validate_centre_name

INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200b\u200c\u200d\u2060",  # zero-width space, non-joiner, joiner, word joiner
    "\ufeff",  # byte-order mark
    "\u0301\u0308",  # combining accents with nothing to sit on
    "\u0e48\u0e49",  # Thai tone marks alone
    "\u3164",  # Hangul filler
    "\u2800",  # blank braille pattern
    " \u200b\u00a0",
    "",
]


@pytest.mark.parametrize("text", INVISIBLE)
def test_text_of_only_zero_width_or_combining_characters_is_invisible(text):
    assert not is_visible(text)


@pytest.mark.parametrize("text", ["มาลี", "ก\u0e48", "Zoë", "e\u0301", "李", "O'Neil", "\u200bAnn"])
def test_a_name_with_one_character_to_see_is_visible(text):
    assert is_visible(text)


@pytest.mark.parametrize(
    "cell", ['=HYPERLINK("http://x","click")', "+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1"]
)
def test_a_cell_a_spreadsheet_would_run_is_kept_as_text(cell):
    assert spreadsheet_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", [0, -5, 2.5, None, "", "ศูนย์บริการสาธารณสุข 1", "2026-11-30"])
def test_other_cells_are_written_as_they_are(cell):
    assert spreadsheet_safe(cell) == cell


def test_a_row_goes_through_cell_by_cell():
    assert spreadsheet_row(["=1", 3, "a"]) == ["'=1", 3, "a"]


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ('=HYPERLINK("http://evil.example","Centre 1")', "formula"),
        ("+66 centre", "formula"),
        ("-centre", "formula"),
        ("@centre", "formula"),
        ("\tcentre", "formula"),
        ("\u200b\u200b", "invisible"),
        ("Centre\n1", "control_character"),
    ],
)
def test_a_centre_name_must_be_readable_and_never_a_formula(name, code):
    with pytest.raises(ValidationError) as error:
        validate_centre_name(name)
    assert error.value.code == code


def test_every_centre_in_the_reference_data_has_an_acceptable_name(reference_data):
    for centre in HealthCentre.objects.all():
        centre.full_clean()
