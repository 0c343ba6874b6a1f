"""The FHIR R4 read API: every answer is checked against the R4B models of fhir.resources."""

from datetime import date, time, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from booking.interop.fhir import publishing, resources
from booking.interop.fhir.resources import schedule_service_extension, service_code_system
from booking.interop.fhir.selectors import AppointmentReader, appointments_visible_to
from booking.interop.partners import issue_partner_key
from booking.models import (
    Appointment,
    Partner,
    PartnerKey,
    PartnerKeyUse,
    Patient,
    Slot,
)
from clinics.models import AuditEvent, HealthCentre, Service
from tests.factories import (
    PatientFactory,
    SlotFactory,
    bangkok,
    booked,
    released_drive,
    vaccine,
)

pytestmark = pytest.mark.django_db

BASE = "/fhir/r4"
SLOT_CAPACITY = "http://fhir-registry.smarthealthit.org/StructureDefinition/slot-capacity"
DEEP_LINK = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link"


def valid(data: dict[str, Any]) -> dict[str, Any]:
    """The resource, after checking it (and every resource in a Bundle) against FHIR R4B."""
    get_fhir_model_class(data["resourceType"]).model_validate(data)
    for entry in data.get("entry", []):
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
    return data


def fhir_get(client: Client, path: str, params: dict[str, Any] | None = None, status: int = 200):
    response = client.get(f"{BASE}/{path}", params or {}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    return valid(response.json())


def ids(bundle: dict[str, Any]) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((lk["url"] for lk in bundle["link"] if lk["relation"] == relation), None)


def tomorrow() -> date:
    return timezone.localdate() + timedelta(days=1)


def flu_slot(centre: int = 1, day: date | None = None, at: time = time(10, 0), **fields: Any):
    return SlotFactory(
        centre=HealthCentre.objects.get(number=centre),
        service=vaccine("vaccine-influenza"),
        start=bangkok(day or tomorrow(), at),
        **fields,
    )


def extension(resource: dict[str, Any], url: str) -> Any:
    found = [ext for ext in resource.get("extension", []) if ext["url"] == url]
    return found[0] if found else None


# --- CapabilityStatement ------------------------------------------------------------------------


def test_metadata_lists_exactly_the_resources_interactions_and_parameters(reference_data, client):
    statement = fhir_get(client, "metadata")

    assert statement["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == {
        "Location",
        "HealthcareService",
        "Schedule",
        "Slot",
        "Appointment",
        "Immunization",
    }
    assert {i["code"] for i in resources["Slot"]["interaction"]} == {"read", "search-type"}
    slot_params = {p["name"] for p in resources["Slot"]["searchParam"]}
    assert {
        "schedule",
        "schedule.actor",
        "start",
        "status",
        "service-type",
        "_count",
    } <= slot_params
    appointment_params = {p["name"] for p in resources["Appointment"]["searchParam"]}
    assert {"date", "status", "patient", "location"} <= appointment_params


# --- Location and HealthcareService -------------------------------------------------------------


def test_a_centre_reads_as_a_location_with_its_moph_code_address_and_position(
    reference_data, client
):
    location = fhir_get(client, "Location/1")

    assert location["name"] == "Public Health Centre 1 (Phra Nakhon)"
    assert "ศูนย์บริการสาธารณสุข 1 สะพานมอญ" in location["alias"]
    assert {"system": "https://terms.sil-th.org/id/th-moph-hcode", "value": "13646"} in location[
        "identifier"
    ]
    # SMART Scheduling Links: a line and a postcode, the manifest's state code, and no text.
    assert location["address"] == {
        "use": "work",
        "type": "physical",
        "line": ["แขวงวังบูรพาภิรมย์"],
        "city": "Bangkok",
        "district": "พระนคร",
        "state": "TH-10",
        "postalCode": "10200",
        "country": "TH",
    }
    assert location["position"]["latitude"] == pytest.approx(13.747449)


def test_a_centre_without_a_moph_code_is_still_identified_by_its_number(reference_data, client):
    location = fhir_get(client, "Location/67")

    assert [i["value"] for i in location["identifier"]] == ["67"]


@pytest.mark.parametrize("ident", ["70", "abc", "1.5"])
def test_an_unknown_location_is_a_404_operation_outcome(reference_data, client, ident):
    outcome = fhir_get(client, f"Location/{ident}", status=404)

    assert outcome["issue"][0]["code"] == "not-found"
    assert ident in outcome["issue"][0]["diagnostics"]


def test_locations_come_in_pages_with_next_and_previous_links(
    reference_data, client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(2):
        first = fhir_get(client, "Location", {"_count": 30})

    assert first["type"] == "searchset"
    assert first["total"] == 69
    assert ids(first) == [str(n) for n in range(1, 31)]
    assert link(first, "previous") is None
    next_url = link(first, "next")
    assert next_url is not None
    assert "_offset=30" in next_url
    assert first["entry"][0]["fullUrl"] == "http://testserver/fhir/r4/Location/1"

    last = fhir_get(client, "Location", {"_count": 30, "_offset": 60})
    assert ids(last) == [str(n) for n in range(61, 70)]
    assert link(last, "next") is None
    assert "_offset=30" in (link(last, "previous") or "")


def test_page_size_defaults_to_50_and_is_capped_at_200(reference_data, client):
    assert len(fhir_get(client, "Location")["entry"]) == 50
    assert len(fhir_get(client, "Location", {"_count": 1000})["entry"]) == 69
    assert "entry" not in fhir_get(client, "Location", {"_count": 0})


def test_locations_are_found_by_name_and_identifier(reference_data, client):
    assert ids(fhir_get(client, "Location", {"name": "ศูนย์บริการสาธารณสุข 12 "})) == ["12"]
    assert ids(fhir_get(client, "Location", {"name:contains": "สะพานมอญ"})) == ["1"]
    by_code = fhir_get(
        client, "Location", {"identifier": "https://terms.sil-th.org/id/th-moph-hcode|13647"}
    )
    assert ids(by_code) == ["2"]


def test_healthcare_services_list_the_centres_offering_them(
    reference_data, client, django_assert_max_num_queries
):
    flu = vaccine("vaccine-influenza")
    HealthCentre.objects.get(number=3).services.remove(flu)

    with django_assert_max_num_queries(3):
        bundle = fhir_get(client, "HealthcareService", {"service-type": "vaccine-influenza"})

    [service] = [entry["resource"] for entry in bundle["entry"]]
    assert service["id"] == str(flu.pk)
    assert service["name"] == "Seasonal influenza vaccine"
    locations = [ref["reference"] for ref in service["location"]]
    assert "Location/1" in locations
    assert "Location/3" not in locations
    immunization = {"system": "http://terminology.hl7.org/CodeSystem/service-type", "code": "57"}
    assert any(immunization.items() <= c.items() for c in service["type"][0]["coding"])

    at_3 = fhir_get(client, "HealthcareService", {"location": "Location/3"})
    assert str(flu.pk) not in ids(at_3)
    assert fhir_get(client, f"HealthcareService/{flu.pk}")["id"] == str(flu.pk)


# --- Schedule -----------------------------------------------------------------------------------


def test_each_service_at_each_centre_has_a_schedule_whose_one_actor_is_the_centre(
    reference_data, client
):
    flu = vaccine("vaccine-influenza")

    schedule = fhir_get(client, f"Schedule/centre12-service{flu.pk}")

    assert schedule["active"] is True
    assert [a["reference"] for a in schedule["actor"]] == ["Location/12"]
    service = extension(schedule, schedule_service_extension())
    assert service["valueReference"]["reference"] == f"HealthcareService/{flu.pk}"
    assert {
        "system": service_code_system(),
        "code": "vaccine-influenza",
    }.items() <= schedule["serviceType"][0]["coding"][0].items()
    by_service = fhir_get(client, "Schedule", {"actor": f"HealthcareService/{flu.pk}"})
    assert f"centre12-service{flu.pk}" in ids(by_service)
    at_12 = fhir_get(client, "Schedule", {"actor": "Location/12", "_count": 200})
    assert f"centre12-service{flu.pk}" in ids(at_12)
    assert at_12["total"] == HealthCentre.objects.get(number=12).services.count()


def test_a_vaccine_schedule_carries_the_doses_of_its_series(reference_data, client):
    hepatitis_b = vaccine("vaccine-hepatitis-b")

    schedule = fhir_get(client, f"Schedule/centre1-service{hepatitis_b.pk}")

    doses = [e["valueInteger"] for e in schedule["extension"] if e["url"].endswith("vaccine-dose")]
    assert doses == [1, 2, 3]


def test_a_drive_has_its_own_schedules_once_it_opens_for_booking(
    reference_data, client, city_admin, clock: time_machine.Traveller
):
    drive = released_drive(city_admin)
    fhir_get(client, f"Schedule/drive{drive.pk}-centre1", status=404)

    clock.move_to(drive.release_at)
    schedule = fhir_get(client, f"Schedule/drive{drive.pk}-centre1")

    assert schedule["comment"] == "Flu vaccination drive"
    assert schedule["planningHorizon"]["start"] == drive.first_day.isoformat()
    drives = fhir_get(
        client, "Schedule", {"actor": "Location/2", "service-type": "vaccine-influenza"}
    )
    assert ids(drives) == [f"centre2-service{drive.service_id}", f"drive{drive.pk}-centre2"]


@pytest.mark.parametrize("ident", ["centre1-service99999", "drive1-centre1", "nonsense"])
def test_an_unknown_schedule_is_a_404(reference_data, client, ident):
    fhir_get(client, f"Schedule/{ident}", status=404)


# --- Slot ---------------------------------------------------------------------------------------


def test_a_slot_shows_places_left_and_the_booking_link_when_free(reference_data, client, patient):
    slot = flu_slot(capacity=3)
    booked(patient, slot)

    resource = fhir_get(client, f"Slot/{slot.pk}")

    assert resource["status"] == "free"
    assert resource["schedule"]["reference"] == f"Schedule/centre1-service{slot.service_id}"
    assert resource["start"] == f"{tomorrow().isoformat()}T10:00:00+07:00"
    assert extension(resource, SLOT_CAPACITY)["valueInteger"] == 2
    assert (
        extension(resource, DEEP_LINK)["valueUrl"] == f"http://localhost:8000/book/slots/{slot.pk}"
    )


def test_a_slot_read_through_the_api_carries_the_centres_phone_and_the_vaccines_cvx_code(
    reference_data, client
):
    HealthCentre.objects.filter(number=1).update(phone="+6622453260")
    slot = flu_slot()

    resource = fhir_get(client, f"Slot/{slot.pk}")
    [found] = fhir_get(client, "Slot", {"_id": slot.pk})["entry"]

    assert extension(resource, resources.BOOKING_PHONE)["valueString"] == "+6622453260"
    assert extension(resource, resources.VACCINE_PRODUCT)["valueCoding"]["code"] == "88"
    assert found["resource"] == resource


def test_full_closed_and_too_late_slots_are_busy_without_a_booking_link(
    reference_data, client, patient
):
    full = flu_slot(capacity=1, at=time(9, 0))
    booked(patient, full)
    closed = flu_slot(closed=True, capacity=4, at=time(10, 0))
    # Flu bookings close two hours before the start: 08:30 today is too late at 07:00.
    too_late = flu_slot(day=timezone.localdate(), capacity=3, at=time(8, 30))

    statuses = {slot.pk: fhir_get(client, f"Slot/{slot.pk}") for slot in (full, closed, too_late)}

    assert statuses[full.pk]["status"] == "busy"
    assert statuses[closed.pk]["status"] == "busy-unavailable"
    assert statuses[too_late.pk]["status"] == "busy-unavailable"
    # A busy slot counts its whole capacity, so aggregators can follow what was offered.
    assert extension(statuses[full.pk], SLOT_CAPACITY)["valueInteger"] == 1
    assert extension(statuses[closed.pk], SLOT_CAPACITY)["valueInteger"] == 4
    assert extension(statuses[too_late.pk], SLOT_CAPACITY)["valueInteger"] == 3
    for resource in statuses.values():
        assert extension(resource, DEEP_LINK) is None
    free = fhir_get(client, "Slot", {"status": "free"})
    assert ids(free) == []
    busy = fhir_get(client, "Slot", {"status": "busy,busy-unavailable"})
    assert set(ids(busy)) == {str(full.pk), str(closed.pk), str(too_late.pk)}


def test_slots_are_searched_by_start_centre_service_and_status(
    reference_data, client, django_assert_max_num_queries
):
    in_week = flu_slot(centre=12, day=date(2026, 12, 2))
    flu_slot(centre=12, day=date(2026, 12, 9))  # the week after
    flu_slot(centre=1, day=date(2026, 12, 2))  # another centre
    SlotFactory(
        centre=HealthCentre.objects.get(number=12), start=bangkok(date(2026, 12, 2), time(9))
    )

    with django_assert_max_num_queries(4):
        bundle = fhir_get(
            client,
            "Slot",
            {
                "start": ["ge2026-12-01", "lt2026-12-08"],
                "schedule.actor": "Location/12",
                "service-type": "vaccine-influenza",
                "status": "free",
            },
        )

    assert ids(bundle) == [str(in_week.pk)]
    same_day = fhir_get(client, "Slot", {"start": "2026-12-02", "schedule.actor": "Location/12"})
    assert len(ids(same_day)) == 2
    at_ten = fhir_get(client, "Slot", {"start": "eq2026-12-02T10:00:00+07:00"})
    assert len(ids(at_ten)) == 2
    by_schedule = fhir_get(
        client, "Slot", {"schedule": f"Schedule/centre12-service{in_week.service_id}"}
    )
    assert len(ids(by_schedule)) == 2


def test_a_page_of_slots_costs_the_same_queries_as_a_single_slot(
    reference_data, client, django_assert_max_num_queries
):
    for minutes in range(0, 60 * 5, 5):
        flu_slot(at=time(8 + minutes // 60, minutes % 60))

    with django_assert_max_num_queries(2):
        bundle = fhir_get(client, "Slot", {"_count": 50})

    assert bundle["total"] == 60
    assert len(bundle["entry"]) == 50


def test_a_drive_slot_is_hidden_until_the_drive_opens_for_booking(
    reference_data, client, city_admin, clock: time_machine.Traveller
):
    drive = released_drive(city_admin)
    slot = Slot.objects.filter(drive=drive, centre_id=1).earliest("start")
    fhir_get(client, f"Slot/{slot.pk}", status=404)
    assert fhir_get(client, "Slot")["total"] == 0

    clock.move_to(drive.release_at)

    resource = fhir_get(client, f"Slot/{slot.pk}")
    assert resource["schedule"]["reference"] == f"Schedule/drive{drive.pk}-centre1"


# --- Errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "says"),
    [
        ("Slot", {"start": "next tuesday"}, "not a date"),
        ("Slot", {"start": "2026-13-01"}, "not a date"),
        ("Slot", {"start": "ne2026-12-01"}, "ge, le, gt, lt or eq"),
        ("Slot", {"status": "maybe"}, "free, busy, busy-unavailable"),
        ("Slot", {"schedule": "Schedule/garbage"}, "centre12-service3"),
        ("Slot", {"schedule.actor": "Patient/1"}, "Location or HealthcareService"),
        ("Slot", {"_count": "lots"}, "_count"),
        ("Slot", {"start:missing": "true"}, ":missing"),
        ("Location", {"name": ""}, "needs a value"),
        ("Appointment", {"date": "yesterday"}, "not a date"),
        # Digits that str.isdigit() takes but int() does not, and years that overflow in UTC.
        ("Slot", {"_count": "\u00b2"}, "_count"),
        ("Slot", {"_id": "\u00b2"}, "_id"),
        ("Slot", {"start": "ge0001-01-01"}, "not a date"),
        ("Slot", {"start": "0001-01-01T00:00:00+14:00"}, "not a date"),
        ("Slot", {"start": "ge9999-12-31T23:59:59-23:59"}, "not a date"),
    ],
)
def test_malformed_searches_are_a_400_saying_what_to_send(
    reference_data, client_for, patient, path, params, says
):
    outcome = fhir_get(client_for(patient), path, params, status=400)

    assert outcome["resourceType"] == "OperationOutcome"
    assert says in outcome["issue"][0]["diagnostics"]


def test_unknown_parameters_are_ignored_by_default_and_left_out_of_the_self_link(
    reference_data, client
):
    flu_slot()

    bundle = fhir_get(client, "Slot", {"colour": "blue", "_sort": "start", "status": "free"})

    assert bundle["total"] == 1
    self_link = link(bundle, "self") or ""
    assert self_link.endswith("/fhir/r4/Slot?status=free")


def test_prefer_handling_lenient_ignores_and_strict_refuses_unknown_parameters(
    reference_data, client
):
    def search(prefer: str, status: int) -> Any:
        response = client.get(
            f"{BASE}/Location",
            {"colour": "blue", "_count": 5},
            HTTP_PREFER=prefer,
            HTTP_ACCEPT_LANGUAGE="en",
        )
        assert response.status_code == status, response.content
        return response

    lenient = search("handling=lenient", 200)
    assert lenient["Preference-Applied"] == "handling=lenient"
    assert link(valid(lenient.json()), "self") == "http://testserver/fhir/r4/Location?_count=5"
    assert link(valid(lenient.json()), "next") == (
        "http://testserver/fhir/r4/Location?_count=5&_offset=5"
    )

    strict = search("return=minimal, handling=strict", 400)
    outcome = valid(strict.json())
    assert outcome["issue"][0]["code"] == "not-supported"
    assert "colour" in outcome["issue"][0]["diagnostics"]


def test_an_unsupported_modifier_is_refused_even_when_lenient(reference_data, client):
    response = client.get(f"{BASE}/Slot", {"start:missing": "true"}, HTTP_PREFER="handling=lenient")

    assert response.status_code == 400
    assert valid(response.json())["issue"][0]["code"] == "not-supported"


def test_the_capability_statement_says_unknown_parameters_are_ignored_unless_strict(
    reference_data, client
):
    documentation = fhir_get(client, "metadata")["rest"][0]["documentation"]

    assert "handling=strict" in documentation


@pytest.mark.parametrize(
    ("path", "params", "accept"),
    [
        ("Location", {"_format": "xml"}, None),
        ("Location/1", {"_format": "application/fhir+xml"}, None),
        ("metadata", {"_format": "xml"}, "application/fhir+json"),
        ("Slot", {}, "application/fhir+xml"),
        ("Location/1", {}, "application/xml, text/xml;q=0.9, application/fhir+json;q=0"),
    ],
)
def test_a_client_taking_only_xml_gets_406_with_a_json_outcome(
    reference_data, client, path, params, accept
):
    headers = {"HTTP_ACCEPT": accept} if accept else {}

    response = client.get(f"{BASE}/{path}", params, HTTP_ACCEPT_LANGUAGE="en", **headers)

    assert response.status_code == 406
    assert response["Content-Type"].startswith("application/fhir+json")
    outcome = valid(response.json())
    assert outcome["issue"][0]["code"] == "not-supported"
    assert "JSON only" in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    ("params", "accept"),
    [
        ({"_format": "json"}, "application/fhir+xml"),  # _format overrides Accept
        ({"_format": "application/fhir+json"}, None),
        ({}, "application/json"),
        ({}, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        ({}, ""),
    ],
)
def test_a_client_taking_json_is_answered(reference_data, client, params, accept):
    headers = {"HTTP_ACCEPT": accept} if accept is not None else {}

    response = client.get(f"{BASE}/Location/1", params, **headers)

    assert response.status_code == 200
    valid(response.json())


def test_unknown_resource_types_and_writes_are_refused_with_an_outcome(reference_data, client):
    assert "Location" in fhir_get(client, "Patient", status=404)["issue"][0]["diagnostics"]
    fhir_get(client, "Patient/1", status=404)
    fhir_get(client, "Slot/\u00b2", status=404)
    fhir_get(client, "Location", {"identifier": "\u00b2"})
    fhir_get(client, "Location/1/_history", status=404)
    response = client.post(f"{BASE}/Location", {}, content_type="application/fhir+json")
    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/fhir+json")
    valid(response.json())


# --- Appointment --------------------------------------------------------------------------------


@pytest.fixture
def household(patient: Patient) -> Patient:
    """Somchai's daughter, on his account."""
    return PatientFactory(
        account=patient.account, relationship=Patient.Relationship.CHILD, first_name="มะลิ"
    )


@pytest.fixture
def appointments(reference_data, patient, household, other_patient) -> dict[str, Appointment]:
    at_1 = SlotFactory(capacity=5)
    at_2 = SlotFactory(centre=HealthCentre.objects.get(number=2), capacity=5)
    return {
        "mine": booked(patient, at_1),
        "daughter": booked(household, at_2),
        "other": booked(other_patient, at_1),
    }


def test_appointments_need_a_signed_in_reader(appointments, client):
    assert client.get(f"{BASE}/Appointment/1")["WWW-Authenticate"] == (
        'Bearer realm="BMA health centre booking"'
    )
    outcome = fhir_get(client, "Appointment", status=401)
    assert outcome["issue"][0]["code"] == "login"
    fhir_get(client, f"Appointment/{appointments['mine'].pk}", status=401)


def test_a_patient_account_sees_its_household_only(
    appointments, client_for, patient, django_assert_max_num_queries
):
    client = client_for(patient)

    with django_assert_max_num_queries(6):
        bundle = fhir_get(client, "Appointment")

    assert sorted(ids(bundle)) == sorted(
        [str(appointments["mine"].pk), str(appointments["daughter"].pk)]
    )
    fhir_get(client, f"Appointment/{appointments['other'].pk}", status=404)
    mine = fhir_get(client, f"Appointment/{appointments['mine'].pk}")
    assert mine["status"] == "booked"
    patient_actor = mine["participant"][0]["actor"]
    assert patient_actor == {"reference": f"Patient/{patient.pk}", "display": patient.full_name}
    assert mine["participant"][1]["actor"]["reference"] == "Location/1"
    assert mine["slot"] == [{"reference": f"Slot/{appointments['mine'].slot_id}"}]


def test_staff_see_appointments_at_their_own_centres(
    appointments, client_for, nurse_at_centre_1, staff_at_centre_2, city_admin
):
    at_1 = fhir_get(client_for(nurse_at_centre_1), "Appointment")
    assert sorted(ids(at_1)) == sorted(
        [str(appointments["mine"].pk), str(appointments["other"].pk)]
    )
    at_2 = fhir_get(client_for(staff_at_centre_2), "Appointment")
    assert ids(at_2) == [str(appointments["daughter"].pk)]
    fhir_get(client_for(staff_at_centre_2), f"Appointment/{appointments['mine'].pk}", status=404)
    assert fhir_get(client_for(city_admin), "Appointment")["total"] == 3


def test_staff_reads_over_fhir_are_audited_and_a_households_are_not(
    appointments, client_for, patient, nurse_at_centre_1
):
    fhir_get(client_for(patient), "Appointment")
    fhir_get(client_for(nurse_at_centre_1), "Appointment")
    fhir_get(client_for(nurse_at_centre_1), f"Appointment/{appointments['other'].pk}")

    reads = AuditEvent.objects.filter(action="fhir_appointments.viewed").order_by("id")
    assert [(read.actor, read.centre_id, read.patients) for read in reads] == [
        (
            nurse_at_centre_1,
            1,
            sorted([appointments["mine"].patient_id, appointments["other"].patient_id]),
        ),
        (nurse_at_centre_1, 1, [appointments["other"].patient_id]),
    ]
    assert reads[0].via == "GET /fhir/r4/Appointment"


def test_appointments_are_searched_by_date_status_patient_and_location(
    appointments, client_for, nurse_at_centre_1, city_admin, patient
):
    client = client_for(city_admin)
    appointments["other"].status = Appointment.Status.CANCELLED
    appointments["other"].save()

    booked_only = fhir_get(client, "Appointment", {"status": "booked"})
    assert str(appointments["other"].pk) not in ids(booked_only)
    assert ids(fhir_get(client, "Appointment", {"status": "cancelled"})) == [
        str(appointments["other"].pk)
    ]
    by_patient = fhir_get(client, "Appointment", {"patient": f"Patient/{patient.pk}"})
    assert ids(by_patient) == [str(appointments["mine"].pk)]
    at_2 = fhir_get(client, "Appointment", {"location": "Location/2"})
    assert ids(at_2) == [str(appointments["daughter"].pk)]
    assert fhir_get(client, "Appointment", {"date": f"ge{tomorrow()}"})["total"] == 3
    assert fhir_get(client, "Appointment", {"date": f"lt{tomorrow()}"})["total"] == 0
    assert (
        "booked, checked-in"
        in fhir_get(client, "Appointment", {"status": "done"}, status=400)["issue"][0][
            "diagnostics"
        ]
    )


def test_a_partner_reader_sees_only_what_the_partner_booked(appointments):
    partner = Partner.objects.create(name="Super app")
    Appointment.objects.filter(pk=appointments["daughter"].pk).update(partner=partner)

    visible = appointments_visible_to(AppointmentReader(partner=partner))

    assert list(visible) == [appointments["daughter"]]
    assert list(appointments_visible_to(AppointmentReader())) == []


def test_a_partner_key_reads_the_partners_appointments_and_a_bad_key_gets_an_outcome(
    appointments,
):
    partner = Partner.objects.create(name="Super app")
    Appointment.objects.filter(pk=appointments["daughter"].pk).update(partner=partner)
    reader = issue_partner_key(
        partner=partner, scopes=[PartnerKey.Scope.APPOINTMENTS_READ], issued_by=None
    ).secret
    searcher = issue_partner_key(
        partner=partner, scopes=[PartnerKey.Scope.AVAILABILITY_READ], issued_by=None
    ).secret

    def as_partner(secret: str, path: str, status: int = 200) -> dict[str, Any]:
        response = Client().get(
            f"{BASE}/{path}", HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT_LANGUAGE="en"
        )
        assert response.status_code == status, response.content
        return valid(response.json())

    assert ids(as_partner(reader, "Appointment")) == [str(appointments["daughter"].pk)]
    as_partner(reader, f"Appointment/{appointments['mine'].pk}", status=404)
    refused = as_partner(searcher, "Appointment", status=403)
    assert refused["issue"][0]["code"] == "forbidden"
    assert "appointments:read" in refused["issue"][0]["diagnostics"]
    assert as_partner("bma_0000_nope", "Appointment", status=401)["issue"][0]["code"] == "login"
    refused_key = Client().get(f"{BASE}/Appointment", HTTP_AUTHORIZATION="Bearer bma_0000_nope")
    assert 'error="invalid_token"' in refused_key["WWW-Authenticate"]
    assert (
        'error="insufficient_scope"'
        in (
            Client().get(f"{BASE}/Appointment", HTTP_AUTHORIZATION=f"Bearer {searcher}")[
                "WWW-Authenticate"
            ]
        )
    )
    assert PartnerKeyUse.objects.filter(status_code=403).count() == 2
    assert PartnerKeyUse.objects.filter(status_code=200).count() == 1


def test_a_service_with_an_unknown_code_matches_nothing_rather_than_failing(reference_data, client):
    assert fhir_get(client, "Slot", {"service-type": "http://example.org|x"})["total"] == 0
    assert Service.objects.filter(code="x").count() == 0


def test_a_centres_street_phone_and_hours_reach_its_location(reference_data, client):
    HealthCentre.objects.filter(number=1).update(
        address_th="10 ถนนจักรเพชร",
        phone="+6621234567",
        opening_hours=[{"day": day, "opens": "08:00", "closes": "16:00"} for day in range(1, 6)]
        + [{"day": 6, "opens": "08:00", "closes": "12:00"}],
    )

    location = fhir_get(client, "Location/1")

    assert location["address"]["line"] == ["10 ถนนจักรเพชร", "แขวงวังบูรพาภิรมย์"]
    assert "text" not in location["address"]
    assert location["telecom"][0] == {"system": "phone", "value": "+6621234567", "use": "work"}
    assert location["hoursOfOperation"] == [
        {
            "daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
            "openingTime": "08:00:00",
            "closingTime": "16:00:00",
        },
        {"daysOfWeek": ["sat"], "openingTime": "08:00:00", "closingTime": "12:00:00"},
    ]


def test_the_locations_state_is_the_code_the_manifest_names():
    assert resources.BANGKOK_STATE == publishing.JURISDICTION
