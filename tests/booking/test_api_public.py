from datetime import date, time

import pytest

from booking.models import Appointment
from booking.services.appointments import book_slot
from clinics.models import HealthCentre, Service
from tests.factories import SlotFactory, bangkok

pytestmark = pytest.mark.django_db


def flu_slot(centre: int, day: date, at: time, **fields: object):
    return SlotFactory(
        centre=HealthCentre.objects.get(number=centre),
        service=Service.objects.get(code="vaccine-influenza"),
        start=bangkok(day, at),
        **fields,
    )


def test_districts_are_listed(reference_data, client):
    response = client.get("/api/v1/districts")
    assert response.status_code == 200
    assert len(response.json()) == 50


def test_centres_list_with_district_coordinates_and_services(
    reference_data, client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(3):
        response = client.get("/api/v1/centres", HTTP_ACCEPT_LANGUAGE="en")

    centres = response.json()
    assert len(centres) == 69
    first = centres[0]
    assert first["number"] == 1
    assert first["name_th"] == "ศูนย์บริการสาธารณสุข 1 สะพานมอญ"
    assert first["name"] == "Public Health Centre 1 (Phra Nakhon)"
    assert first["district"] == {"code": 1001, "name": "Phra Nakhon"}
    assert first["latitude"] == pytest.approx(13.747449)
    assert "vaccine-influenza" in first["services"]


def test_centres_filter_by_district_and_service(reference_data, client):
    in_phra_nakhon = client.get("/api/v1/centres", {"district": 1001}).json()
    assert {c["number"] for c in in_phra_nakhon} == {1, 9}

    HealthCentre.objects.get(number=9).services.remove(Service.objects.get(code="antenatal"))
    offering = client.get("/api/v1/centres", {"district": 1001, "service": "antenatal"}).json()
    assert [c["number"] for c in offering] == [1]


def test_a_missing_centre_is_a_404_with_a_code(reference_data, client):
    response = client.get("/api/v1/centres/70", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response.json()["message"] == "There is no health centre with that number."


def test_services_show_their_dose_series(reference_data, client):
    services = {s["code"]: s for s in client.get("/api/v1/services").json()}
    assert len(services) == 12
    hep_b = services["vaccine-hepatitis-b"]
    assert hep_b["kind"] == "vaccination"
    assert [d["number"] for d in hep_b["doses"]] == [1, 2, 3]
    assert hep_b["doses"][1] == {"number": 2, "min_interval_days": 28, "max_interval_days": 60}
    assert services["video-general"]["visit_mode"] == "video"

    vaccines = client.get("/api/v1/services", {"kind": "vaccination"}).json()
    assert {s["kind"] for s in vaccines} == {"vaccination"}


def test_names_are_thai_by_default_and_english_on_request(reference_data, client):
    thai = client.get("/api/v1/services/vaccine-influenza").json()
    english = client.get("/api/v1/services/vaccine-influenza", HTTP_ACCEPT_LANGUAGE="en").json()
    assert thai["name"] == "วัคซีนป้องกันโรคไข้หวัดใหญ่ตามฤดูกาล"
    assert english["name"] == "Seasonal influenza vaccine"


def test_slot_search_ranks_the_home_district_first_then_distance_then_time(reference_data, client):
    far_early = flu_slot(40, date(2026, 12, 1), time(9, 0))
    near_other_district = flu_slot(2, date(2026, 12, 1), time(9, 30))
    home_late = flu_slot(9, date(2026, 12, 2), time(10, 0))
    home_early = flu_slot(9, date(2026, 12, 2), time(9, 0))

    response = client.get(
        "/api/v1/slots",
        {"service": "vaccine-influenza", "district": 1001, "date_from": "2026-11-30"},
    )

    assert response.status_code == 200
    ids = [item["id"] for item in response.json()["items"]]
    assert ids == [home_early.pk, home_late.pk, near_other_district.pk, far_early.pk]
    first = response.json()["items"][0]
    assert first["in_home_district"] is True
    assert first["centre"]["number"] == 9
    assert first["start"] == "2026-12-02T09:00:00+07:00"
    assert first["remaining"] == 5


def test_slot_search_from_a_point_ranks_by_distance(reference_data, client):
    centre_40 = HealthCentre.objects.get(number=40)
    near = flu_slot(40, date(2026, 12, 3), time(9, 0))
    far = flu_slot(1, date(2026, 12, 1), time(9, 0))

    items = client.get(
        "/api/v1/slots",
        {"service": "vaccine-influenza", "lat": centre_40.latitude, "lon": centre_40.longitude},
    ).json()["items"]

    assert [item["id"] for item in items] == [near.pk, far.pk]
    assert items[0]["distance_km"] == 0.0
    assert items[1]["distance_km"] > 5


def test_slot_search_by_earliest_time(reference_data, client):
    later_home = flu_slot(1, date(2026, 12, 3), time(9, 0))
    early_far = flu_slot(40, date(2026, 12, 1), time(9, 0))
    items = client.get(
        "/api/v1/slots", {"service": "vaccine-influenza", "district": 1001, "order": "earliest"}
    ).json()["items"]
    assert [item["id"] for item in items] == [early_far.pk, later_home.pk]


def test_slot_search_hides_full_closed_and_too_late_slots(reference_data, client, patient):
    full = flu_slot(1, date(2026, 12, 1), time(9, 0), capacity=1)
    book_slot(
        patient=patient,
        slot_id=full.pk,
        booked_by=patient.account,
        channel=Appointment.Channel.API,
        idempotency_key="",
    )
    flu_slot(1, date(2026, 12, 1), time(9, 15), closed=True)
    flu_slot(1, date(2026, 11, 30), time(8, 30))  # flu closes 120 minutes ahead; it is 07:00
    bookable = flu_slot(1, date(2026, 11, 30), time(9, 15))

    items = client.get("/api/v1/slots", {"service": "vaccine-influenza"}).json()["items"]

    assert [item["id"] for item in items] == [bookable.pk]


def test_slot_search_pages_with_a_fixed_number_of_queries(
    reference_data, client, django_assert_max_num_queries
):
    for hour in range(8, 16):
        for centre in (1, 2, 3):
            flu_slot(centre, date(2026, 12, 1), time(hour, 0))

    with django_assert_max_num_queries(5):
        page = client.get(
            "/api/v1/slots", {"service": "vaccine-influenza", "page_size": 10, "page": 2}
        ).json()

    assert page["count"] == 24
    assert page["pages"] == 3
    assert len(page["items"]) == 10
    beyond = client.get("/api/v1/slots", {"service": "vaccine-influenza", "page": 9}).json()
    assert beyond["items"] == []


def test_slot_search_can_be_limited_to_chosen_centres(reference_data, client):
    flu_slot(1, date(2026, 12, 1), time(9, 0))
    chosen = flu_slot(5, date(2026, 12, 1), time(9, 0))
    other = flu_slot(6, date(2026, 12, 1), time(9, 0))
    items = client.get(
        "/api/v1/slots?service=vaccine-influenza&centre=5&centre=6&order=earliest"
    ).json()["items"]
    assert {item["id"] for item in items} == {chosen.pk, other.pk}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"service": "vaccine-influenza", "date_from": "2026-13-01"}, "date_from"),
        (
            {"service": "vaccine-influenza", "date_from": "2026-12-10", "date_to": "2026-12-01"},
            "date_to",
        ),
        ({"service": "vaccine-influenza", "date_to": "2027-12-01"}, "date_to"),
        ({"service": "vaccine-influenza", "lat": "13.7"}, "lon"),
        ({"service": "vaccine-influenza", "lat": "113.7", "lon": "100.5"}, "lat"),
        ({"service": "vaccine-influenza", "district": 9999}, "district"),
        ({"service": "vaccine-influenza", "page_size": 1000}, "page_size"),
        ({}, "service"),
    ],
)
def test_bad_search_input_is_a_422_naming_the_field(reference_data, client, query, field):
    response = client.get("/api/v1/slots", query, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_input"
    assert body["field"] == field
    assert body["message"]


def test_an_unknown_service_is_a_404_naming_the_field(reference_data, client):
    response = client.get("/api/v1/slots", {"service": "vaccine-unicorn"})
    assert response.status_code == 404
    assert response.json()["field"] == "service"


def test_the_openapi_schema_and_docs_are_served(reference_data, client):
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/slots" in schema["paths"]
    assert "/api/v1/me/appointments" in schema["paths"]
    assert client.get("/api/docs").url == "/api/v1/docs"
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_error_messages_are_in_thai_by_default_and_english_on_request(reference_data, client):
    query = {"service": "vaccine-influenza", "date_from": "2026-12-10", "date_to": "2026-12-01"}
    thai = client.get("/api/v1/slots", query).json()
    english = client.get("/api/v1/slots", query, HTTP_ACCEPT_LANGUAGE="en").json()
    assert thai["code"] == english["code"] == "invalid_input"
    assert english["message"] == "The last day is before the first day."
    assert thai["message"] != english["message"]
    assert any("\u0e00" <= char <= "\u0e7f" for char in thai["message"])  # Thai script

    missing = client.get("/api/v1/slots").json()
    assert missing["errors"] == [{"field": "service", "message": "กรุณากรอกข้อมูลช่องนี้"}]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/slots?service=vaccine-influenza&date_from=9999-12-31", "date_from"),
        ("/api/v1/slots?service=vaccine-influenza&date_from=0001-01-01", "date_from"),
        ("/api/v1/slots?service=vaccine-influenza&centre=99999999999999999999", "centre.0"),
        ("/api/v1/slots?service=vaccine-influenza&district=99999999999999999999", "district"),
        ("/api/v1/slots?service=vaccine-influenza&page=-1", "page"),
        ("/api/v1/slots?service=vaccine-influenza&lat=nan&lon=nan", "lat"),
        ("/api/v1/slots?service=" + "x" * 500, "service"),
        ("/api/v1/centres/99999999999999999999", "number"),
        ("/api/v1/centres?district=99999999999999999999", "district"),
    ],
)
def test_absurd_values_are_422s_naming_the_field_never_500s(reference_data, client, path, field):
    response = client.get(path)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_an_unknown_api_address_is_a_json_404(reference_data, client):
    response = client.get("/api/v1/me/patients/-1")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
