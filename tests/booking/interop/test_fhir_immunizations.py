"""FHIR Immunization: each vaccine dose given, read by the household, staff of the centre where
it was given and the partner that booked it, and by nobody else (the 404 of an unknown id).
Every answer is checked against the R4B models of fhir.resources."""

from datetime import date
from typing import Any

import pytest
from django.test import Client

from booking.interop.fhir.resource_types.immunizations import immunization_resource
from booking.interop.fhir.resources import service_code_system
from booking.interop.fhir.selectors import AppointmentReader, immunizations_visible_to
from booking.interop.partners import issue_partner_key
from booking.models import Appointment, Partner, PartnerKey, Patient
from clinics.models import AuditEvent
from tests.booking.interop.test_fhir import BASE, fhir_get, ids, valid
from tests.factories import PatientFactory, SlotFactory, booked, given_dose, stock_up, vaccine

pytestmark = pytest.mark.django_db

TUESDAY, WEDNESDAY = date(2026, 12, 1), date(2026, 12, 2)


@pytest.fixture
def household(patient: Patient) -> Patient:
    """Somchai's daughter, on his account."""
    return PatientFactory(
        account=patient.account, relationship=Patient.Relationship.CHILD, first_name="มะลิ"
    )


@pytest.fixture
def doses(reference_data, patient, household, other_patient) -> dict[str, Appointment]:
    """Hepatitis B dose 1 of 3 for Somchai (centre 1, Tuesday, LOT-1), his daughter (centre 2,
    Wednesday, LOT-2) and another patient (centre 1, Tuesday, LOT-1)."""
    stock_up(1, vaccine(), 10)
    stock_up(2, vaccine(), 10, lot="LOT-2")
    return {
        "mine": given_dose(patient, TUESDAY),
        "daughter": given_dose(household, WEDNESDAY, centre=2),
        "other": given_dose(other_patient, TUESDAY),
    }


def as_partner(secret: str, path: str, status: int = 200) -> dict[str, Any]:
    response = Client().get(
        f"{BASE}/{path}", HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == status, response.content
    assert "Access-Control-Allow-Origin" not in response
    return valid(response.json())


def test_a_dose_given_reads_as_an_immunization_with_vaccine_date_lot_place_and_dose_number(
    doses, client_for, patient
):
    dose = doses["mine"]

    immunization = fhir_get(client_for(patient), f"Immunization/{dose.pk}")

    assert immunization["id"] == str(dose.pk)
    assert immunization["status"] == "completed"
    assert immunization["vaccineCode"]["coding"] == [
        {
            "system": service_code_system(),
            "code": "vaccine-hepatitis-b",
            "display": "Hepatitis B vaccine",
        },
        {"system": "http://hl7.org/fhir/sid/cvx", "code": "45"},  # from the catalogue
    ]
    assert immunization["patient"] == {
        "reference": f"Patient/{patient.pk}",
        "display": patient.full_name,
    }
    assert immunization["occurrenceDateTime"] == "2026-12-01T10:05:00+07:00"
    assert immunization["lotNumber"] == "LOT-1"
    assert immunization["location"]["reference"] == "Location/1"
    assert immunization["performer"][0]["actor"] == {
        "type": "Organization",
        "identifier": {"system": "https://terms.sil-th.org/id/th-moph-hcode", "value": "13646"},
        "display": "Public Health Centre 1 (Phra Nakhon)",
    }
    [protocol] = immunization["protocolApplied"]
    assert (protocol["doseNumberPositiveInt"], protocol["seriesDosesPositiveInt"]) == (1, 3)


def test_the_household_sees_its_own_doses_and_anyone_else_gets_the_404_of_an_unknown_id(
    doses, client_for, patient, other_patient, django_assert_max_num_queries
):
    client = client_for(patient)

    with django_assert_max_num_queries(6):
        bundle = fhir_get(client, "Immunization")

    assert ids(bundle) == [str(doses["mine"].pk), str(doses["daughter"].pk)]
    someone_elses = fhir_get(client, f"Immunization/{doses['other'].pk}", status=404)
    unknown = fhir_get(client, "Immunization/999999", status=404)
    assert someone_elses["issue"][0]["diagnostics"] == unknown["issue"][0]["diagnostics"].replace(
        "999999", str(doses["other"].pk)
    )
    assert ids(fhir_get(client_for(other_patient), "Immunization")) == [str(doses["other"].pk)]


def test_only_doses_given_are_immunizations(doses, client_for, patient):
    booked_dose = booked(patient, SlotFactory(service=vaccine("vaccine-influenza")))
    checkup = booked(patient, SlotFactory(start=booked_dose.slot.end))
    Appointment.objects.filter(pk=checkup.pk).update(status=Appointment.Status.COMPLETED)
    client = client_for(patient)

    for appointment in (booked_dose, checkup):
        fhir_get(client, f"Immunization/{appointment.pk}", status=404)
    assert fhir_get(client, "Immunization")["total"] == 2


def test_reading_doses_needs_a_signed_in_reader_or_a_key(doses, client):
    response = client.get(f"{BASE}/Immunization/{doses['mine'].pk}")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="BMA health centre booking"'
    assert valid(response.json())["issue"][0]["code"] == "login"
    fhir_get(client, "Immunization", status=401)


def test_staff_see_the_doses_given_at_their_centres_and_their_reads_are_audited(
    doses, client_for, patient, nurse_at_centre_1, staff_at_centre_2, city_admin
):
    at_1 = fhir_get(client_for(nurse_at_centre_1), "Immunization")
    assert ids(at_1) == [str(doses["mine"].pk), str(doses["other"].pk)]
    fhir_get(client_for(staff_at_centre_2), f"Immunization/{doses['mine'].pk}", status=404)
    fhir_get(client_for(staff_at_centre_2), f"Immunization/{doses['daughter'].pk}")
    assert fhir_get(client_for(city_admin), "Immunization")["total"] == 3
    fhir_get(client_for(patient), "Immunization")

    reads = AuditEvent.objects.filter(action="fhir_immunizations.viewed").order_by("id")
    assert [(read.actor, read.centre_id, read.patients) for read in reads][:2] == [
        (nurse_at_centre_1, 1, sorted([doses["mine"].patient_id, doses["other"].patient_id])),
        (staff_at_centre_2, 2, [doses["daughter"].patient_id]),
    ]
    assert reads[0].via == "GET /fhir/r4/Immunization"
    assert not reads.filter(actor=patient.account).exists()


def test_a_partner_reads_the_doses_of_people_it_booked_with_immunizations_read(doses):
    partner = Partner.objects.create(name="Super app")
    Appointment.objects.filter(pk=doses["daughter"].pk).update(partner=partner)
    reader = issue_partner_key(
        partner=partner, scopes=[PartnerKey.Scope.IMMUNIZATIONS_READ], issued_by=None
    ).secret
    appointments_only = issue_partner_key(
        partner=partner, scopes=[PartnerKey.Scope.APPOINTMENTS_READ], issued_by=None
    ).secret

    assert ids(as_partner(reader, "Immunization")) == [str(doses["daughter"].pk)]
    as_partner(reader, f"Immunization/{doses['daughter'].pk}")
    as_partner(reader, f"Immunization/{doses['mine'].pk}", status=404)
    refused = as_partner(appointments_only, "Immunization", status=403)
    assert "immunizations:read" in refused["issue"][0]["diagnostics"]
    assert list(immunizations_visible_to(AppointmentReader())) == []


def test_doses_are_searched_by_patient_date_location_vaccine_lot_and_status(
    doses, client_for, city_admin, patient
):
    client = client_for(city_admin)
    mine, daughter = str(doses["mine"].pk), str(doses["daughter"].pk)

    assert ids(fhir_get(client, "Immunization", {"patient": f"Patient/{patient.pk}"})) == [mine]
    assert ids(fhir_get(client, "Immunization", {"date": "2026-12-02"})) == [daughter]
    assert fhir_get(client, "Immunization", {"date": "lt2026-12-02"})["total"] == 2
    assert ids(fhir_get(client, "Immunization", {"location": "Location/2"})) == [daughter]
    assert ids(fhir_get(client, "Immunization", {"lot-number": "lot-2"})) == [daughter]
    by_code = {"vaccine-code": f"{service_code_system()}|vaccine-hepatitis-b"}
    assert fhir_get(client, "Immunization", by_code)["total"] == 3
    assert fhir_get(client, "Immunization", {"vaccine-code": "vaccine-influenza"})["total"] == 0
    assert fhir_get(client, "Immunization", {"status": "completed"})["total"] == 3
    assert fhir_get(client, "Immunization", {"status": "not-done"})["total"] == 0
    refused = fhir_get(client, "Immunization", {"status": "given"}, status=400)
    assert "completed" in refused["issue"][0]["diagnostics"]
    assert fhir_get(client, "Immunization", {"patient": "Location/1"}, status=400)


def test_a_vaccine_without_a_cvx_code_in_the_catalogue_gets_no_cvx_coding(doses):
    dose = immunizations_visible_to(AppointmentReader(user=doses["mine"].patient.account)).get(
        pk=doses["mine"].pk
    )
    dose.slot.service.cvx_code = ""

    immunization = valid(immunization_resource(dose))

    assert [coding["system"] for coding in immunization["vaccineCode"]["coding"]] == [
        service_code_system()
    ]


def test_a_dose_without_a_course_or_lot_leaves_out_what_is_not_known(doses):
    dose = immunizations_visible_to(AppointmentReader(user=doses["mine"].patient.account)).get(
        pk=doses["mine"].pk
    )
    dose.series, dose.dose_number, dose.lot = None, None, None

    immunization = valid(immunization_resource(dose))

    assert "protocolApplied" not in immunization
    assert "lotNumber" not in immunization


def test_the_capability_statement_lists_immunization_read_and_search(reference_data, client):
    statement = fhir_get(client, "metadata")

    [immunization] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Immunization"]
    assert {i["code"] for i in immunization["interaction"]} == {"read", "search-type"}
    assert {"patient", "date", "location", "vaccine-code", "lot-number", "status"} <= {
        p["name"] for p in immunization["searchParam"]
    }
    assert "immunizations:read" in statement["rest"][0]["security"]["description"]
