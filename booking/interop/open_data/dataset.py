"""The daily-figures dataset: its columns in their published order, what each one means (the
data dictionary, in English and Thai), and how one counted row becomes one published row.

The column list is the single source of the CSV header, the JSON keys and the dictionary, so
they cannot drift apart. The Thai texts are the Thai translations of the English ones.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from booking.interop.open_data.suppression import withhold_small_counts
from booking.models import CentreDayFigures

DATASET_ID = "daily-figures"
# The longest period one request may ask for: a year, leap years included.
MAX_DAYS_PER_REQUEST = 366
LICENCE = {
    "name": "Creative Commons Attribution 4.0 International (CC BY 4.0)",
    "url": "https://creativecommons.org/licenses/by/4.0/",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a Frictionless Table Schema type: string, integer, date, datetime
    unit: str
    description: Promise
    value: Callable[[CentreDayFigures], Any]
    counts_people: bool = False


def _figure(name: str) -> Callable[[CentreDayFigures], Any]:
    return lambda row: getattr(row, name)


def _not_recorded(row: CentreDayFigures) -> int:
    return max(row.booked - row.attended - row.no_shows, 0)


COLUMNS: tuple[Column, ...] = (
    Column(
        "day",
        "date",
        "",
        _("The day the slots start on, in Bangkok (UTC+7), as YYYY-MM-DD."),
        lambda row: row.day.isoformat(),
    ),
    Column(
        "centre_number",
        "integer",
        "",
        _("The health centre's number (1 to 69), which does not change when it is renamed."),
        lambda row: row.centre_id,
    ),
    Column(
        "centre_name_th",
        "string",
        "",
        _("The health centre's name in Thai."),
        lambda row: row.centre.name_th,
    ),
    Column(
        "centre_name_en",
        "string",
        "",
        _("The health centre's name in English."),
        lambda row: row.centre.name_en,
    ),
    Column(
        "district_code",
        "integer",
        "",
        _("The Interior Ministry geocode of the district the centre is in, e.g. 1001."),
        lambda row: row.centre.district_id,
    ),
    Column(
        "district_name_th",
        "string",
        "",
        _("The district's name in Thai."),
        lambda row: row.centre.district.name_th,
    ),
    Column(
        "district_name_en",
        "string",
        "",
        _("The district's name in English."),
        lambda row: row.centre.district.name_en,
    ),
    Column(
        "service_code",
        "string",
        "",
        _("The service's code, which does not change, e.g. vaccine-influenza."),
        lambda row: row.service.code,
    ),
    Column(
        "service_name_th",
        "string",
        "",
        _("The service's name in Thai."),
        lambda row: row.service.name_th,
    ),
    Column(
        "service_name_en",
        "string",
        "",
        _("The service's name in English."),
        lambda row: row.service.name_en,
    ),
    Column(
        "service_kind",
        "string",
        "",
        _("What kind of service it is: consultation, antenatal or vaccination."),
        lambda row: row.service.kind,
    ),
    Column(
        "visit_mode",
        "string",
        "",
        _("How the visit takes place: in_person or video."),
        lambda row: row.service.visit_mode,
    ),
    Column(
        "slots_offered",
        "integer",
        "slots",
        _(
            "Bookable times starting that day that were open for booking when counted. Slots "
            "closed by a closure, a holiday or staff are not included."
        ),
        _figure("slots_offered"),
    ),
    Column(
        "places_offered",
        "integer",
        "places",
        _("Places in those slots: the sum of their capacities (a slot may take several people)."),
        _figure("places_offered"),
    ),
    Column(
        "booked",
        "integer",
        "appointments",
        _(
            "Appointments in that day's slots, open or closed, that were not cancelled: "
            "attended + no_shows + not_recorded. An appointment moved to another time counts "
            "only on the day it was moved to."
        ),
        _figure("booked"),
        counts_people=True,
    ),
    Column(
        "attended",
        "integer",
        "appointments",
        _(
            "Of the booked appointments, those where the person came: checked in, in "
            "consultation or completed."
        ),
        _figure("attended"),
        counts_people=True,
    ),
    Column(
        "no_shows",
        "integer",
        "appointments",
        _("Of the booked appointments, those staff marked as the person not attending."),
        _figure("no_shows"),
        counts_people=True,
    ),
    Column(
        "not_recorded",
        "integer",
        "appointments",
        _(
            "Of the booked appointments, those still shown as booked when counted: nobody "
            "recorded whether the person came. Equal to booked - attended - no_shows."
        ),
        _not_recorded,
        counts_people=True,
    ),
    Column(
        "cancellations",
        "integer",
        "appointments",
        _(
            "Appointments in that day's slots that were cancelled, whenever and by whom (the "
            "patient, staff, or with a cancelled vaccination drive). Not included in booked."
        ),
        _figure("cancellations"),
        counts_people=True,
    ),
    Column(
        "waitlist_refills",
        "integer",
        "places",
        _(
            "Places in that day's slots that were offered to someone on the waitlist and "
            "claimed by them. The appointment each one made is also counted in booked or "
            "cancellations."
        ),
        _figure("waitlist_refills"),
        counts_people=True,
    ),
    Column(
        "walk_ins",
        "integer",
        "people",
        _(
            "People who came that day without an appointment and were added to the queue at "
            "the desk, whether they were seen or left before being seen. Not included in booked."
        ),
        _figure("walk_ins"),
        counts_people=True,
    ),
    Column(
        "counted_at",
        "datetime",
        "",
        _(
            "When this row was counted, in ISO 8601 with the Bangkok offset. The last week is "
            "counted again each night, so figures may change as staff record late outcomes."
        ),
        lambda row: timezone.localtime(row.computed_at).isoformat(timespec="seconds"),
    ),
)
COLUMN_NAMES = tuple(column.name for column in COLUMNS)
DICTIONARY_FIELDS = (
    "name",
    "type",
    "unit",
    "description_en",
    "description_th",
    "suppression_note_en",
    "suppression_note_th",
)


def published_row(row: CentreDayFigures, *, suppress_below: int) -> dict[str, Any]:
    """One counted row as published: every column in order, small counts as None."""
    values = {column.name: column.value(row) for column in COLUMNS}
    people = {column.name: values[column.name] for column in COLUMNS if column.counts_people}
    values.update(withhold_small_counts(people, below=suppress_below))
    return values


def _in_both_languages(text: Promise, **params: object) -> tuple[str, str]:
    with translation.override("en"):
        english = str(text) % params if params else str(text)
    with translation.override("th"):
        thai = str(text) % params if params else str(text)
    return english, thai


def _suppression_rule(suppress_below: int) -> tuple[str, str]:
    if suppress_below <= 1:
        return _in_both_languages(_("No figure is withheld."))
    return _in_both_languages(
        _(
            "Counts of people from 1 to %(largest)d are withheld: empty in CSV, null in JSON. "
            "booked = attended + no_shows + not_recorded, so when only one of these four is "
            "withheld, the smallest other non-zero one of them is withheld too, and neither "
            "can be worked out from the rest. A withheld figure is never 0."
        ),
        largest=suppress_below - 1,
    )


def dictionary_rows(*, suppress_below: int) -> list[dict[str, str | None]]:
    """The data dictionary's column descriptions, one per column, in English and Thai."""
    note_en, note_th = _suppression_rule(suppress_below)
    rows: list[dict[str, str | None]] = []
    for column in COLUMNS:
        description_en, description_th = _in_both_languages(column.description)
        withheld = column.counts_people and suppress_below > 1
        rows.append(
            {
                "name": column.name,
                "type": column.type,
                "unit": column.unit,
                "description_en": description_en,
                "description_th": description_th,
                "suppression_note_en": note_en if withheld else None,
                "suppression_note_th": note_th if withheld else None,
            }
        )
    return rows


def dataset_metadata(*, suppress_below: int) -> dict[str, Any]:
    """What the dataset is, who publishes it, under which licence and how often, in English
    and Thai: the dictionary's header."""
    texts = {
        "title": _("Daily appointments at Bangkok's public health centres"),
        "description": _(
            "For each day, health centre and service: the slots and places offered, "
            "appointments booked, attended, missed and cancelled, places refilled from the "
            "waitlist, and people seen without an appointment (walk-ins). Aggregated counts "
            "only, with no personal data."
        ),
        "publisher": _("Health Department, Bangkok Metropolitan Administration"),
        "source": _(
            "Counted from the slots, appointments, waitlist offers and walk-ins of the BMA "
            "health centre booking system."
        ),
        "update_frequency": _(
            "Daily: each night at about 00:20 Bangkok time the day before is added and the "
            "week before it is counted again."
        ),
        "csv_format": _(
            "UTF-8 with a byte-order mark (so that spreadsheet programs show Thai), comma "
            "separated, CRLF line ends, a header row; an empty cell is a withheld figure. Text "
            "that begins with =, +, -, @, a tab or a carriage return is written with an "
            "apostrophe before it, so that no spreadsheet runs it as a formula."
        ),
    }
    described: dict[str, Any] = {}
    for key, text in texts.items():
        english, thai = _in_both_languages(text)
        described[f"{key}_en"] = english
        described[f"{key}_th"] = thai
    described["suppression_en"], described["suppression_th"] = _suppression_rule(suppress_below)
    return {
        "id": DATASET_ID,
        **described,
        "licence": LICENCE,
        "update_frequency": "daily",
        "time_zone": "Asia/Bangkok",
        "primary_key": ["day", "centre_number", "service_code"],
        "row_order": ["day", "centre_number", "service_code"],
        "suppress_below": suppress_below,
        "max_days_per_request": MAX_DAYS_PER_REQUEST,
    }


PARAMETERS: tuple[tuple[str, Promise], ...] = (
    (
        "from",
        _("The first day, YYYY-MM-DD. Default: 365 days before to."),
    ),
    (
        "to",
        _("The last day, YYYY-MM-DD, at most 365 days after from. Default: yesterday."),
    ),
    (
        "centre",
        _("Only this health centre's number; give it more than once for several centres."),
    ),
    (
        "service",
        _("Only this service's code; give it more than once for several services."),
    ),
)


def parameter_rows() -> list[dict[str, str]]:
    """The download's query parameters, described in English and Thai."""
    rows = []
    for name, description in PARAMETERS:
        description_en, description_th = _in_both_languages(description)
        rows.append(
            {"name": name, "description_en": description_en, "description_th": description_th}
        )
    return rows
