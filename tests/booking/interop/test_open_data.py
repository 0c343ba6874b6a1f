"""Open data: counting each day's figures, withholding small counts, and publishing them as
CSV and JSON with a data dictionary."""

import codecs
import csv
import io
import json
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.core.management import CommandError, call_command
from django.http import HttpResponseBase
from django.test import AsyncClient, Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries, Settings

from booking.interop.open_data.dataset import COLUMN_NAMES
from booking.interop.open_data.services import count_day, count_recent_days
from booking.interop.open_data.suppression import withhold_small_counts
from booking.models import Appointment, CentreDayFigures, Patient, Slot, WaitlistOffer
from booking.services.appointments import (
    cancel_appointment,
    check_in,
    complete_appointment,
    mark_no_show,
    reschedule_appointment,
    start_consultation,
)
from booking.services.walk_ins import complete_walk_in, mark_walk_in_left
from booking.tasks import count_daily_figures
from booking.waitlist.services import claim_offer, join_waitlist, offer_free_places
from clinics.exceptions import InvalidInput
from clinics.models import HealthCentre, Service
from tests.conftest import NOW
from tests.factories import PatientFactory, SlotFactory, bangkok, booked, walked_in

pytestmark = pytest.mark.django_db

MONDAY = NOW.date()  # 30 November 2026, the day the busy_monday fixture fills
CSV_URL = "/open-data/daily-figures.csv"
JSON_URL = "/open-data/daily-figures.json"


def figures_of(centre: int, service: str, day: date = MONDAY) -> dict[str, int]:
    row = CentreDayFigures.objects.get(centre_id=centre, service__code=service, day=day)
    return {
        name: getattr(row, name)
        for name in (
            "slots_offered",
            "places_offered",
            "booked",
            "attended",
            "no_shows",
            "cancellations",
            "waitlist_refills",
            "walk_ins",
        )
    }


@pytest.fixture
def busy_monday(reference_data: None, clock: time_machine.Traveller) -> dict[str, Appointment]:
    """Monday at centre 1, general check-ups: a place freed at 11:00 and refilled from the
        waitlist; at 10:00 two visits completed, one no-show, one cancellation and one moved to
        Tuesday; at 10:15 one visit in consultation and one nobody recorded; at 10:30 a slot
        closed after someone booked it, who then did not come. At centre 2 one completed visit,
        and an antenatal slot closed with nobody in it. Two walk-ins at centre 1 for a check-up, one
    seen and one who left. Then it is just after midnight."""
    centre_2 = HealthCentre.objects.get(number=2)
    refilled = SlotFactory(start=bangkok(MONDAY, time(11)), capacity=1)
    gave_up = booked(PatientFactory(), refilled)
    waiting = PatientFactory()
    join_waitlist(
        patient=waiting,
        service=refilled.service,
        centres=[],
        district=None,
        date_from=MONDAY,
        date_to=MONDAY,
        joined_by=waiting.account,
    )
    cancel_appointment(appointment=gave_up)
    offer_free_places()
    offer = WaitlistOffer.objects.get(entry__patient=waiting, status=WaitlistOffer.Status.OPEN)
    from_waitlist = claim_offer(
        offer=offer, booked_by=waiting.account, channel=Appointment.Channel.WEB
    ).appointment

    at_ten = SlotFactory(start=bangkok(MONDAY, time(10)), capacity=5)
    at_quarter_past = SlotFactory(start=bangkok(MONDAY, time(10, 15)), capacity=5)
    closed_later = SlotFactory(start=bangkok(MONDAY, time(10, 30)), capacity=3)
    tuesday = SlotFactory(start=bangkok(MONDAY + timedelta(days=1), time(10)), capacity=5)
    at_centre_2 = SlotFactory(centre=centre_2, start=bangkok(MONDAY, time(10)), capacity=2)
    SlotFactory(
        centre=centre_2,
        service=Service.objects.get(code="antenatal"),
        start=bangkok(MONDAY, time(9)),
        capacity=4,
        closed=True,
    )
    visits = {
        name: booked(PatientFactory(), slot)
        for name, slot in [
            ("completed", at_ten),
            ("completed_too", at_ten),
            ("no_show", at_ten),
            ("cancelled", at_ten),
            ("moved", at_ten),
            ("in_consultation", at_quarter_past),
            ("not_recorded", at_quarter_past),
            ("closed_no_show", closed_later),
            ("tuesday", tuesday),
            ("centre_2", at_centre_2),
        ]
    }
    cancel_appointment(appointment=visits["cancelled"])
    reschedule_appointment(appointment=visits["moved"], new_slot_id=tuesday.pk)
    Slot.objects.filter(pk=closed_later.pk).update(closed=True)  # a closure came in

    clock.move_to(bangkok(MONDAY, time(10, 40)))
    for name in ("completed", "completed_too", "centre_2"):
        complete_appointment(appointment=check_in(appointment=visits[name]))
    start_consultation(appointment=visits["in_consultation"])
    check_in(appointment=from_waitlist)
    mark_no_show(appointment=visits["no_show"])
    mark_no_show(appointment=visits["closed_no_show"])
    # Two walk-ins at centre 1 for a check-up: one seen, one who left unseen.
    complete_walk_in(walk_in=walked_in(PatientFactory()))
    mark_walk_in_left(walk_in=walked_in(PatientFactory()))

    clock.move_to(bangkok(MONDAY + timedelta(days=1), time(0, 20)))
    return visits


def figures_row(
    day: date = MONDAY, centre: int = 1, service: str = "general-checkup", **values: int
) -> CentreDayFigures:
    """A counted row with figures large enough to publish, unless told otherwise."""
    figures = {
        "slots_offered": 10,
        "places_offered": 40,
        "booked": 30,
        "attended": 20,
        "no_shows": 5,
        "cancellations": 6,
        "waitlist_refills": 5,
        "walk_ins": 7,
    }
    figures.update(values)
    return CentreDayFigures.objects.create(
        centre_id=centre,
        service=Service.objects.get(code=service),
        day=day,
        computed_at=timezone.now(),
        **figures,
    )


def body(response: HttpResponseBase) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return response.content  # type: ignore[attr-defined]


def csv_rows(response: HttpResponseBase) -> tuple[list[str], list[dict[str, str]]]:
    content = body(response)
    assert content.startswith(codecs.BOM_UTF8)
    reader = csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


# --- Counting -----------------------------------------------------------------------------------


def test_a_day_is_counted_per_centre_and_service_from_its_slots_appointments_and_offers(
    busy_monday: dict[str, Appointment], django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    with django_assert_max_num_queries(8):  # grouped queries: as many for a busy day
        rows = count_day(day=MONDAY)

    assert rows == 2
    assert figures_of(1, "general-checkup") == {
        "slots_offered": 3,  # 10:00, 10:15 and 11:00; the closed 10:30 slot is not offered
        "places_offered": 11,
        "booked": 7,  # everyone not cancelled, in the closed slot too; the moved one is not
        "attended": 4,  # two completed, one in consultation, one checked in
        "no_shows": 2,
        "cancellations": 2,  # the one who gave up the 11:00 place, and the 10:00 one
        "waitlist_refills": 1,
        "walk_ins": 2,  # seen or not: both came; not in booked
    }
    assert figures_of(2, "general-checkup") == {
        "slots_offered": 1,
        "places_offered": 2,
        "booked": 1,
        "attended": 1,
        "no_shows": 0,
        "cancellations": 0,
        "waitlist_refills": 0,
        "walk_ins": 0,
    }
    # Centre 2's antenatal care offered nothing and nobody came: no row.
    assert not CentreDayFigures.objects.filter(service__code="antenatal").exists()


def test_a_walk_in_alone_makes_a_row_for_its_centre_and_service(
    reference_data: None, clock: time_machine.Traveller
) -> None:
    walked_in(PatientFactory(), centre=3, service="vaccine-influenza")
    clock.move_to(bangkok(MONDAY + timedelta(days=1), time(0, 20)))

    assert count_day(day=MONDAY) == 1
    assert figures_of(3, "vaccine-influenza") == {
        "slots_offered": 0,
        "places_offered": 0,
        "booked": 0,
        "attended": 0,
        "no_shows": 0,
        "cancellations": 0,
        "waitlist_refills": 0,
        "walk_ins": 1,
    }


def test_counting_a_day_again_replaces_its_rows(
    busy_monday: dict[str, Appointment], clock: time_machine.Traveller
) -> None:
    count_day(day=MONDAY)
    first = {
        (row.centre_id, row.service_id): figures_of(row.centre_id, row.service.code)
        for row in CentreDayFigures.objects.select_related("service")
    }
    # Staff record the missing outcome the next morning; a row no longer right is there too.
    clock.move_to(bangkok(MONDAY + timedelta(days=1), time(8)))
    mark_no_show(appointment=busy_monday["not_recorded"])
    figures_row(centre=3)

    assert count_day(day=MONDAY) == 2
    assert count_day(day=MONDAY) == 2

    again = {
        (row.centre_id, row.service_id): figures_of(row.centre_id, row.service.code)
        for row in CentreDayFigures.objects.select_related("service")
    }
    assert again.keys() == first.keys()  # centre 3's row is gone
    assert figures_of(1, "general-checkup") == {
        **first[(1, busy_monday["completed"].slot.service_id)],
        "no_shows": 3,
    }
    assert set(CentreDayFigures.objects.values_list("computed_at", flat=True)) == {timezone.now()}


def test_only_days_that_are_over_are_counted(busy_monday: dict[str, Appointment]) -> None:
    today = timezone.localdate()  # Tuesday, with the moved appointment in it

    with pytest.raises(InvalidInput):
        count_day(day=today)
    with pytest.raises(InvalidInput):
        count_day(day=today + timedelta(days=1))
    counted = count_recent_days(recount_days=2, catch_up_days=2)

    assert counted.days == 2
    assert set(CentreDayFigures.objects.values_list("day", flat=True)) == {MONDAY}


# --- Withholding small counts -------------------------------------------------------------------

LARGE = {
    "slots_offered": 2,
    "places_offered": 3,
    "booked": 30,
    "attended": 20,
    "no_shows": 6,
    "not_recorded": 4,
    "cancellations": 0,
    "waitlist_refills": 9,
    "walk_ins": 12,
}


@pytest.mark.parametrize(
    ("changes", "withheld"),
    [
        # 4 not recorded alone could be worked out as 30 - 20 - 6: the smallest other non-zero
        # part of the sum goes with it. Slots and places count no people; 0 is not withheld.
        ({}, {"not_recorded", "no_shows"}),
        ({"attended": 24, "no_shows": 2}, {"not_recorded", "no_shows"}),
        ({"attended": 26, "no_shows": 0}, {"not_recorded", "attended"}),
        (
            {"booked": 3, "attended": 1, "no_shows": 2, "not_recorded": 0},
            {"booked", "attended", "no_shows"},
        ),
        ({"attended": 24, "not_recorded": 0, "cancellations": 1}, {"cancellations"}),
        (
            {"waitlist_refills": 4, "no_shows": 10, "attended": 20, "not_recorded": 0},
            {"waitlist_refills"},
        ),
        # Walk-ins are in no sum: a small count of them goes alone.
        ({"attended": 24, "not_recorded": 0, "walk_ins": 2}, {"walk_ins"}),
    ],
)
def test_small_counts_are_withheld_with_one_more_when_a_sum_would_give_them_away(
    changes: dict[str, int], withheld: set[str]
) -> None:
    figures = {**LARGE, **changes}

    published = withhold_small_counts(figures, below=5)

    assert {name for name, value in published.items() if value is None} == withheld
    assert all(published[name] == value for name, value in figures.items() if name not in withheld)


def test_nothing_is_withheld_when_the_threshold_is_one() -> None:
    assert withhold_small_counts({**LARGE, "booked": 1}, below=1)["booked"] == 1


# --- Publishing ---------------------------------------------------------------------------------


def test_the_csv_parses_with_the_dictionarys_columns_in_order(
    reference_data: None, client: Client
) -> None:
    figures_row(day=MONDAY - timedelta(days=1))
    figures_row(day=MONDAY - timedelta(days=1), centre=2)
    dictionary = client.get("/open-data/daily-figures/dictionary.json").json()

    response = client.get(CSV_URL)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv; charset=utf-8")
    columns, rows = csv_rows(response)
    assert columns == [column["name"] for column in dictionary["columns"]] == list(COLUMN_NAMES)
    assert rows[0] == {
        "day": "2026-11-29",
        "centre_number": "1",
        "centre_name_th": HealthCentre.objects.get(number=1).name_th,
        "centre_name_en": HealthCentre.objects.get(number=1).name_en,
        "district_code": str(HealthCentre.objects.get(number=1).district_id),
        "district_name_th": HealthCentre.objects.get(number=1).district.name_th,
        "district_name_en": HealthCentre.objects.get(number=1).district.name_en,
        "service_code": "general-checkup",
        "service_name_th": Service.objects.get(code="general-checkup").name_th,
        "service_name_en": Service.objects.get(code="general-checkup").name_en,
        "service_kind": "consultation",
        "visit_mode": "in_person",
        "slots_offered": "10",
        "places_offered": "40",
        "booked": "30",
        "attended": "20",
        "no_shows": "5",
        "not_recorded": "5",
        "cancellations": "6",
        "waitlist_refills": "5",
        "walk_ins": "7",
        "counted_at": "2026-11-30T07:00:00+07:00",
    }
    assert [row["centre_number"] for row in rows] == ["1", "2"]


def test_a_centre_renamed_to_a_formula_comes_out_of_the_csv_as_text(
    reference_data: None, client: Client
) -> None:
    # Saved before names were checked, or straight into the database: the CSV is safe anyway.
    formula = '=HYPERLINK("http://evil.example","Centre 1")'
    HealthCentre.objects.filter(number=1).update(name_en=formula, name_th="@SUM(1+1)")
    Service.objects.filter(code="general-checkup").update(name_en="-2+3")
    figures_row(day=MONDAY - timedelta(days=1))

    _, rows = csv_rows(client.get(CSV_URL))
    json_rows = json.loads(body(client.get(JSON_URL)))["rows"]

    assert rows[0]["centre_name_en"] == "'" + formula
    assert rows[0]["centre_name_th"] == "'@SUM(1+1)"
    assert rows[0]["service_name_en"] == "'-2+3"
    assert rows[0]["booked"] == "30"
    assert json_rows[0]["centre_name_en"] == formula  # JSON is not opened in spreadsheets


def test_no_cell_of_the_dictionary_csv_starts_a_formula(
    reference_data: None, client: Client
) -> None:
    content = body(client.get("/open-data/daily-figures/dictionary.csv")).decode("utf-8-sig")

    cells = [cell for row in csv.reader(io.StringIO(content)) for cell in row]

    assert cells
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_the_json_has_the_filters_and_one_object_per_row_with_withheld_counts_null(
    reference_data: None, client: Client
) -> None:
    figures_row(day=MONDAY - timedelta(days=1), booked=30, attended=27, no_shows=3, cancellations=2)

    response = client.get(JSON_URL)

    assert response.status_code == 200
    document = json.loads(body(response))
    assert document["dataset"] == "daily-figures"
    assert document["dictionary"] == "http://testserver/open-data/daily-figures/dictionary.json"
    # By default the longest period allowed, 366 days, up to yesterday.
    assert (document["from"], document["to"]) == ("2025-11-29", "2026-11-29")
    assert document["suppress_below"] == 5
    [row] = document["rows"]
    assert list(row) == list(COLUMN_NAMES)
    assert {name: row[name] for name in ("booked", "attended", "no_shows", "not_recorded")} == {
        "booked": 30,
        "attended": None,  # withheld with the 3 no-shows, which booked - attended would give
        "no_shows": None,
        "not_recorded": 0,
    }
    assert (row["cancellations"], row["slots_offered"]) == (None, 10)


def test_the_csv_leaves_withheld_counts_empty_and_the_threshold_is_a_setting(
    reference_data: None, client: Client, settings: Settings
) -> None:
    figures_row(day=MONDAY - timedelta(days=1), waitlist_refills=2)

    _, [withheld] = csv_rows(client.get(CSV_URL))
    settings.OPEN_DATA_SUPPRESS_BELOW = 1
    _, [published] = csv_rows(client.get(CSV_URL))

    assert (withheld["waitlist_refills"], published["waitlist_refills"]) == ("", "2")


def test_downloads_filter_by_days_centres_and_services(
    reference_data: None, client: Client
) -> None:
    for day in (date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)):
        for centre in (1, 2, 3):
            figures_row(day=day, centre=centre)
            figures_row(day=day, centre=centre, service="antenatal")

    document = json.loads(
        body(
            client.get(
                JSON_URL,
                {
                    "from": "2026-11-02",
                    "to": "2026-11-03",
                    "centre": ["1", "3"],
                    "service": "antenatal",
                },
            )
        )
    )

    assert [
        (row["day"], row["centre_number"], row["service_code"]) for row in document["rows"]
    ] == [
        ("2026-11-02", 1, "antenatal"),
        ("2026-11-02", 3, "antenatal"),
        ("2026-11-03", 1, "antenatal"),
        ("2026-11-03", 3, "antenatal"),
    ]
    assert (document["centres"], document["services"]) == ([1, 3], ["antenatal"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"from": "1/11/2026"}, "from"),
        ({"to": "20261101"}, "to"),
        ({"from": "2026-11-02", "to": "2026-11-01"}, "from"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),
        ({"from": "2026-12-01"}, "from"),  # after yesterday, the default last day
        ({"to": "0000-12-31"}, "to"),
        ({"centre": "one"}, "centre"),
        ({"centre": "99999999999999999999"}, "centre"),
        ({"centre": "999"}, "centre"),
        ({"service": "flu-shot"}, "service"),
        ({"centre_id": "1"}, "centre_id"),
    ],
)
def test_bad_filters_are_answered_400_naming_what_to_correct(
    reference_data: None, client: Client, query: dict[str, str], field: str
) -> None:
    for url in (CSV_URL, JSON_URL):
        response = client.get(url, query)

        assert response.status_code == 400
        answer = response.json()
        assert (answer["code"], answer["field"]) == ("invalid_input", field)
        assert answer["message"]


def test_one_request_covers_at_most_366_days(reference_data: None, client: Client) -> None:
    assert client.get(CSV_URL, {"from": "2024-01-01", "to": "2024-12-31"}).status_code == 200
    assert client.get(CSV_URL, {"from": "2025-01-01", "to": "2026-01-01"}).status_code == 200
    assert client.get(CSV_URL, {"from": "2025-01-01", "to": "2026-01-02"}).status_code == 400
    assert client.get(CSV_URL, {"to": "0001-01-03"}).status_code == 200  # nothing before


def test_a_repeated_request_gets_304_until_the_figures_are_counted_again(
    busy_monday: dict[str, Appointment], client: Client, clock: time_machine.Traveller
) -> None:
    count_day(day=MONDAY)
    first = client.get(CSV_URL)
    body(first)

    by_tag = client.get(CSV_URL, HTTP_IF_NONE_MATCH=first["ETag"])
    by_date = client.get(CSV_URL, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    as_json = client.get(JSON_URL, HTTP_IF_NONE_MATCH=first["ETag"])
    clock.shift(timedelta(hours=1))
    count_day(day=MONDAY)
    recounted = client.get(CSV_URL, HTTP_IF_NONE_MATCH=first["ETag"])

    assert first["Last-Modified"] == "Mon, 30 Nov 2026 17:20:00 GMT"
    assert (by_tag.status_code, by_date.status_code) == (304, 304)
    assert by_tag["ETag"] == first["ETag"]
    assert as_json.status_code == 200  # another representation, another tag
    assert recounted.status_code == 200
    assert recounted["ETag"] != first["ETag"]


def test_downloads_take_the_same_few_queries_however_many_rows(
    reference_data: None, client: Client, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    services = list(Service.objects.filter(code__in=["general-checkup", "antenatal"]))
    CentreDayFigures.objects.bulk_create(
        CentreDayFigures(
            centre=centre,
            service=service,
            day=MONDAY - timedelta(days=days_ago),
            computed_at=timezone.now(),
            booked=10,
            attended=10,
        )
        for centre in HealthCentre.objects.all()
        for service in services
        for days_ago in (1, 2, 3)
    )

    with django_assert_max_num_queries(2):
        _, rows = csv_rows(client.get(CSV_URL))
    with django_assert_max_num_queries(4):  # and one to check each filter's values
        document = json.loads(body(client.get(JSON_URL, {"centre": "1", "service": "antenatal"})))

    with django_assert_max_num_queries(1):
        head = client.head(CSV_URL)
    assert len(rows) == 69 * 2 * 3
    assert len(document["rows"]) == 3
    assert head["ETag"]


def test_under_asgi_the_download_is_streamed_as_it_is_read(reference_data: None) -> None:
    figures_row(day=MONDAY - timedelta(days=1))

    response = async_to_sync(AsyncClient(headers={"accept-language": "en"}).get)(CSV_URL)

    assert response.status_code == 200
    assert response.is_async
    chunks: list[bytes] = []

    async def read() -> None:
        async for chunk in response:
            chunks.append(chunk)

    async_to_sync(read)()
    assert b"".join(chunks).decode("utf-8-sig").splitlines()[1].startswith("2026-11-29,1,")


# --- Dictionary and index -----------------------------------------------------------------------


def test_the_dictionary_describes_every_column_and_the_dataset(
    reference_data: None, client: Client
) -> None:
    dictionary = client.get("/open-data/daily-figures/dictionary.json").json()

    assert dictionary["licence"]["url"].startswith("https://creativecommons.org/")
    assert dictionary["update_frequency"] == "daily"
    for key in ("title", "publisher", "source", "update_frequency", "suppression"):
        assert dictionary[f"{key}_en"]
        assert dictionary[f"{key}_th"]
    assert dictionary["primary_key"] == ["day", "centre_number", "service_code"]
    columns = {column["name"]: column for column in dictionary["columns"]}
    assert list(columns) == list(COLUMN_NAMES)
    for column in columns.values():
        assert column["type"] in {"string", "integer", "date", "datetime"}
        assert column["description_en"]
        assert column["description_th"]
    assert "1 to 4" in columns["no_shows"]["suppression_note_en"]
    assert columns["places_offered"]["suppression_note_en"] is None
    assert columns["booked"]["unit"] == "appointments"


def test_the_dictionary_as_csv_has_a_row_per_column(reference_data: None, client: Client) -> None:
    response = client.get("/open-data/daily-figures/dictionary.csv")

    fields, rows = csv_rows(response)
    again = client.get(
        "/open-data/daily-figures/dictionary.csv", HTTP_IF_NONE_MATCH=response["ETag"]
    )

    assert fields[:3] == ["name", "type", "unit"]
    assert [row["name"] for row in rows] == list(COLUMN_NAMES)
    assert rows[COLUMN_NAMES.index("booked")]["suppression_note_th"]
    assert again.status_code == 304


def test_the_index_lists_the_datasets_at_addresses_that_answer(
    reference_data: None, client: Client
) -> None:
    response = client.get("/open-data/")

    [dataset] = response.json()["datasets"]
    assert response["Access-Control-Allow-Origin"] == "*"
    assert dataset["id"] == "daily-figures"
    addresses = [distribution["url"] for distribution in dataset["distributions"]]
    addresses += dataset["dictionary"].values()
    assert addresses == [
        "http://testserver/open-data/daily-figures.csv",
        "http://testserver/open-data/daily-figures.json",
        "http://testserver/open-data/daily-figures/dictionary.json",
        "http://testserver/open-data/daily-figures/dictionary.csv",
    ]
    for address in addresses:
        assert client.get(address).status_code == 200
    assert [parameter["name"] for parameter in dataset["parameters"]] == [
        "from",
        "to",
        "centre",
        "service",
    ]


# --- The nightly task and the command -----------------------------------------------------------


def book_on(day: date, clock: time_machine.Traveller, patient: Patient) -> Appointment:
    clock.move_to(bangkok(day, time(7)))
    return booked(patient, SlotFactory(start=bangkok(day, time(10))))


def test_the_nightly_task_counts_the_last_week_again_and_catches_up_missed_days(
    reference_data: None, clock: time_machine.Traveller
) -> None:
    for day in (date(2026, 11, 15), date(2026, 11, 16), date(2026, 11, 27)):
        book_on(day, clock, PatientFactory())
    clock.move_to(bangkok(date(2026, 11, 17), time(0, 20)))
    count_day(day=date(2026, 11, 16))
    counted_then = timezone.now()
    clock.move_to(bangkok(MONDAY, time(0, 20)))

    first = count_daily_figures.apply().get()
    clock.shift(timedelta(minutes=5))
    again = count_daily_figures.apply().get()

    # 35 days up to Sunday, but for 16 November (counted already and over a week ago).
    assert first == {"days": 34, "rows": 2}
    # The last week is counted again; 15 November has its row now.
    assert again == {"days": 7 + 26, "rows": 1}
    assert dict(CentreDayFigures.objects.values_list("day", "computed_at")) == {
        date(2026, 11, 15): bangkok(MONDAY, time(0, 20)),
        date(2026, 11, 16): counted_then,
        date(2026, 11, 27): bangkok(MONDAY, time(0, 25)),
    }


def test_the_task_is_scheduled_just_after_midnight_by_beat() -> None:
    from config.celery import app

    entry = app.conf.beat_schedule["count-daily-figures"]
    assert entry["task"] == count_daily_figures.name
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({0}, {20})


def test_the_command_counts_a_range_of_past_days(
    busy_monday: dict[str, Appointment], capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("count_daily_figures", "--from", "2026-11-29")

    assert "2 days from 2026-11-29 to 2026-11-30 counted, 2 rows" in capsys.readouterr().out
    assert set(CentreDayFigures.objects.values_list("day", flat=True)) == {MONDAY}


@pytest.mark.parametrize(
    "arguments",
    [
        ["--from", "2026-11-29", "--to", "2026-12-01"],  # today
        ["--from", "2026-11-30", "--to", "2026-11-29"],
        ["--from", "29/11/2026"],
        [],
    ],
)
def test_the_command_refuses_days_not_over_or_not_dates(
    busy_monday: dict[str, Appointment], arguments: list[str]
) -> None:
    with pytest.raises(CommandError):
        call_command("count_daily_figures", *arguments)
    assert not CentreDayFigures.objects.exists()


def test_counting_at_the_day_boundary_uses_bangkok_days(
    reference_data: None, clock: time_machine.Traveller
) -> None:
    """A slot at 06:30 Bangkok time is 23:30 UTC the day before: it counts on its Bangkok day."""
    clock.move_to(datetime(2026, 11, 29, 5, 0, tzinfo=timezone.get_default_timezone()))
    slot = SlotFactory(start=bangkok(date(2026, 11, 30), time(6, 30)))
    clock.move_to(bangkok(date(2026, 12, 1), time(0, 20)))

    count_day(day=date(2026, 11, 29))
    count_day(day=date(2026, 11, 30))

    assert list(CentreDayFigures.objects.values_list("day", "slots_offered")) == [
        (date(2026, 11, 30), 1)
    ]
    assert slot.start.astimezone(UTC).date() == date(2026, 11, 29)
