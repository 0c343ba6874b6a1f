"""A person's vaccination record to show: the doses given, a QR code whose signed payload names
an issued record (no national ID), and the public check of it, which tells genuine and current
from out of date, withdrawn, erased and forged, and survives a key rotation."""

import re
from datetime import date, time

import pytest
from django.core import signing
from django.utils import timezone

from booking.models import Appointment, DeletionRequest, IssuedRecord, Patient
from booking.services.appointments import check_in, complete_appointment
from booking.services.deletion import erase
from booking.vaccination.records import (
    SALT,
    Verdict,
    check_token,
    doses_given,
    issue_record,
    token_for,
    withdraw_records,
)
from clinics.models import AuditEvent
from tests.factories import SlotFactory, bangkok, booked, stock_up, vaccine

pytestmark = pytest.mark.django_db


def give_dose(
    patient: Patient, clock, day: date, *, code: str = "vaccine-hepatitis-b"
) -> Appointment:
    slot = SlotFactory(centre_id=1, service=vaccine(code), start=bangkok(day, time(10)), capacity=3)
    dose = booked(patient, slot)
    clock.move_to(bangkok(day, time(10, 5)))
    check_in(appointment=dose)
    return complete_appointment(appointment=dose)


@pytest.fixture
def vaccinated(patient, clock):
    """The patient with dose 1 of 3 of hepatitis B given (lot LOT-1) on 1 Dec 2026."""
    stock_up(1, vaccine(), 10)
    give_dose(patient, clock, date(2026, 12, 1))
    return patient


def verify_path(page: str) -> str:
    found = re.search(r"https?://testserver(/verify/[^<\s\"]+)", page)
    assert found is not None, page
    return found.group(1)


def test_the_record_lists_each_dose_given_with_its_number_date_centre_and_lot(vaccinated):
    [dose] = doses_given(vaccinated)

    assert (dose.number, dose.of, dose.given_on, dose.lot) == (1, 3, date(2026, 12, 1), "LOT-1")
    assert dose.vaccine_in("en") == vaccine().name_en


def test_the_qr_payload_names_an_issued_record_and_holds_no_national_id_or_name(
    vaccinated, settings
):
    token = token_for(issue_record(patient=vaccinated))

    payload = signing.loads(token, key=settings.RECORD_SIGNING_KEYS[0], salt=SALT)

    assert set(payload) == {"r", "d"}
    assert vaccinated.national_id not in token
    assert vaccinated.first_name not in token
    assert check_token(token).verdict == Verdict.CURRENT


def test_issuing_again_for_the_same_doses_reuses_the_record_and_is_audited_once(vaccinated):
    first = issue_record(patient=vaccinated)
    again = issue_record(patient=vaccinated)

    assert first == again
    assert AuditEvent.objects.filter(action="vaccination_record.issued").count() == 1


def test_a_record_whose_doses_moved_on_is_genuine_but_out_of_date(vaccinated, clock):
    token = token_for(issue_record(patient=vaccinated))
    stock_up(1, vaccine(), 10, lot="LOT-2")
    give_dose(vaccinated, clock, date(2027, 1, 5))

    assert check_token(token).verdict == Verdict.SUPERSEDED
    assert check_token(token_for(issue_record(patient=vaccinated))).verdict == Verdict.CURRENT


def test_a_withdrawn_record_no_longer_verifies_and_the_withdrawal_is_audited(vaccinated):
    token = token_for(issue_record(patient=vaccinated))

    assert withdraw_records(patient=vaccinated) == 1

    assert check_token(token).verdict == Verdict.WITHDRAWN
    assert AuditEvent.objects.filter(action="vaccination_record.withdrawn").exists()
    assert check_token(token_for(issue_record(patient=vaccinated))).verdict == Verdict.CURRENT


def test_an_erased_persons_record_no_longer_verifies(vaccinated, clock):
    token = token_for(issue_record(patient=vaccinated))
    request = DeletionRequest.objects.create(
        patient=vaccinated, requested_by=vaccinated.account, erase_on=timezone.localdate()
    )

    assert erase(request.pk)

    assert check_token(token).verdict == Verdict.WITHDRAWN
    assert not IssuedRecord.objects.filter(patient=vaccinated).exists()


@pytest.mark.parametrize(
    "token",
    ["not-a-token", "eyJyIjoxLCJkIjoiMDAwMCJ9:1v2w3x:forgedsignatureforgedsignature0000000", ""],
)
def test_a_forged_or_garbled_code_is_not_genuine(vaccinated, token):
    assert check_token(token).verdict == Verdict.NOT_GENUINE


def test_a_code_signed_with_another_key_is_not_genuine(vaccinated):
    issued = issue_record(patient=vaccinated)
    forged = signing.dumps({"r": issued.pk, "d": issued.digest[:16]}, key="someone else", salt=SALT)

    assert check_token(forged).verdict == Verdict.NOT_GENUINE


def test_after_a_key_rotation_codes_signed_with_the_old_key_still_verify(vaccinated, settings):
    old = token_for(issue_record(patient=vaccinated))
    settings.RECORD_SIGNING_KEYS = ["a new key", *settings.RECORD_SIGNING_KEYS]

    new = token_for(issue_record(patient=vaccinated))

    assert check_token(old).verdict == Verdict.CURRENT
    assert check_token(new).verdict == Verdict.CURRENT
    settings.RECORD_SIGNING_KEYS = ["a new key"]  # the old key dropped
    assert check_token(old).verdict == Verdict.NOT_GENUINE


def test_the_page_shows_the_record_in_thai_with_buddhist_era_dates_and_a_qr_code(
    client_for, vaccinated
):
    page = (
        client_for(vaccinated, "th")
        .get(f"/me/people/{vaccinated.pk}/vaccinations?lang=th")
        .content.decode()
    )

    assert "1 ธ.ค. 2569" in page
    assert "LOT-1" in page
    assert "1 จาก 3" in page
    assert "<svg" in page
    assert vaccinated.national_id not in page


def test_the_public_check_shows_the_record_only_while_it_is_current(client, client_for, vaccinated):
    page = client_for(vaccinated).get(f"/me/people/{vaccinated.pk}/vaccinations?lang=en")
    check = verify_path(page.content.decode())

    genuine = client.get(f"{check}?lang=en")
    client_for(vaccinated).post(
        f"/me/people/{vaccinated.pk}/vaccinations?lang=en", {"action": "withdraw"}
    )
    withdrawn = client.get(f"{check}?lang=en")
    forged = client.get("/verify/forged?lang=en")

    assert genuine.status_code == 200
    assert "Genuine and current" in genuine.content.decode()
    assert vaccinated.first_name in genuine.content.decode()
    assert "LOT-1" in genuine.content.decode()
    assert vaccinated.national_id not in genuine.content.decode()
    assert genuine["Cache-Control"] == "no-store"
    assert withdrawn.status_code == 410
    assert vaccinated.first_name not in withdrawn.content.decode()
    assert forged.status_code == 404
    assert "not a record we issued" in forged.content.decode()


def test_another_households_record_is_not_found(client_for, vaccinated, other_patient):
    response = client_for(other_patient).get(f"/me/people/{vaccinated.pk}/vaccinations?lang=en")

    assert response.status_code == 404
    assert vaccinated.first_name not in response.content.decode()


def test_a_person_with_no_dose_given_gets_no_code(client_for, patient, clock):
    page = client_for(patient).get(f"/me/people/{patient.pk}/vaccinations?lang=en")

    assert "No vaccine doses given through this service yet." in page.content.decode()
    assert "/verify/" not in page.content.decode()
    assert not IssuedRecord.objects.exists()


def test_the_household_page_links_each_persons_record(client_for, patient, clock):
    page = client_for(patient).get("/me/?lang=en").content.decode()

    assert f'href="/me/people/{patient.pk}/vaccinations"' in page


def test_a_visitor_is_sent_to_sign_in(client, vaccinated):
    response = client.get(f"/me/people/{vaccinated.pk}/vaccinations")

    assert response.status_code == 302
    assert "/sign-in" in response["Location"]
