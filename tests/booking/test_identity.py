"""Verified identity: the desk, ThaID and partners prove who holds an ID, and a verified
person always wins over an unverified record of the same ID."""

from datetime import date, time

import pytest

from booking.exceptions import ContactHealthCentre, PasscodeWrong
from booking.models import Appointment, Patient
from booking.services.identity import (
    VerifiedPerson,
    connect_phone_account,
    decline_phone_account,
    sign_in_with_verified_identity,
    take_over_record,
    verify_identity_at_desk,
)
from booking.services.passcodes import send_sign_in_code
from booking.services.patients import PersonDetails, update_patient
from clinics.exceptions import TooManyRequests
from clinics.models import AuditEvent
from notifications.models import Message
from tests.factories import (
    PatientFactory,
    SlotFactory,
    UserFactory,
    bangkok,
    booked,
    national_id,
    passcode_texted_to,
)

pytestmark = pytest.mark.django_db

TUESDAY = date(2026, 12, 1)
Check = Patient.IdentityCheck


@pytest.fixture
def victim_id() -> str:
    return national_id()


@pytest.fixture
def squatter(reference_data) -> Patient:
    """An account holder on +66810000009 who registered someone else's ID as a dependant."""
    return PatientFactory(account=UserFactory(username="+66810000009"), phone="+66810000009")


@pytest.fixture
def squatted(squatter, victim_id) -> Patient:
    return PatientFactory(
        account=squatter.account,
        relationship=Patient.Relationship.OTHER,
        national_id=victim_id,
        phone="",
        date_of_birth=date(1990, 4, 2),
    )


def proven(victim_id: str, **fields) -> VerifiedPerson:
    return VerifiedPerson(
        national_id=victim_id,
        first_name=fields.get("first_name", "มาลี"),
        last_name=fields.get("last_name", "ศรีสุข"),
        date_of_birth=fields.get("date_of_birth", date(1990, 4, 2)),
        sex=fields.get("sex", Patient.Sex.FEMALE),
    )


# --- The desk --------------------------------------------------------------------------------


def test_the_desk_marks_an_id_as_verified_once_and_it_is_audited(patient):
    verify_identity_at_desk(patient=patient, centre_id=1)
    verify_identity_at_desk(patient=patient, centre_id=1)

    patient.refresh_from_db()
    assert patient.identity_verified_by == Check.DESK
    assert patient.identity_verified_at is not None
    [event] = AuditEvent.objects.filter(action="patient.identity_verified")
    assert (event.centre_id, event.patients, event.details) == (1, [patient.pk], {"by": "desk"})


def test_changing_an_id_counts_as_a_look_up(patient, settings):
    settings.NATIONAL_ID_LOOKUPS_PER_ACCOUNT_PER_HOUR = 1

    def change_id() -> None:
        update_patient(
            patient=patient,
            person=PersonDetails(
                first_name=patient.first_name,
                last_name=patient.last_name,
                date_of_birth=patient.date_of_birth,
                sex=Patient.Sex(patient.sex),
                phone=patient.phone,
                national_id=national_id(),
            ),
        )

    change_id()
    with pytest.raises(TooManyRequests):
        change_id()


def test_changing_a_verified_id_drops_the_verification(patient):
    verify_identity_at_desk(patient=patient, centre_id=1)
    details = PersonDetails(
        first_name=patient.first_name,
        last_name=patient.last_name,
        date_of_birth=patient.date_of_birth,
        sex=Patient.Sex(patient.sex),
        phone=patient.phone,
        national_id=national_id(),
    )

    update_patient(patient=patient, person=details)

    patient.refresh_from_db()
    assert (patient.identity_verified_at, patient.identity_verified_by) == (None, "")


# --- Verified wins ---------------------------------------------------------------------------


def test_a_verified_record_is_never_taken(squatted):
    verify_identity_at_desk(patient=squatted, centre_id=1)
    other = UserFactory(username="+66810000077")

    with pytest.raises(ContactHealthCentre):
        take_over_record(
            record=squatted,
            account=other,
            relationship=Patient.Relationship.SELF,
            by=Check.PARTNER,
        )

    squatted.refresh_from_db()
    assert squatted.account.get_username() == "+66810000009"


def test_a_taken_record_brings_its_coming_appointments_and_texts_and_tells_the_old_holder(
    squatter, squatted
):
    visit = booked(squatted, SlotFactory(start=bangkok(TUESDAY, time(9))))
    old_texts = set(Message.objects.filter(appointment=visit).values_list("pk", flat=True))
    owner = UserFactory(username="+66810000077")

    take_over_record(
        record=squatted,
        account=owner,
        relationship=Patient.Relationship.SELF,
        by=Check.PARTNER,
        phone="+66810000077",
    )

    visit.refresh_from_db()
    assert visit.patient.account == owner
    assert Appointment.objects.filter(patient__account=squatter.account).count() == 0
    old = Message.objects.filter(pk__in=old_texts)
    assert set(old.values_list("status", flat=True)) == {Message.Status.CANCELLED}
    new = Message.objects.filter(appointment=visit).exclude(pk__in=old_texts)
    assert set(new.values_list("recipient", flat=True)) == {"+66810000077"}
    assert new.filter(kind=Message.Kind.CONFIRMATION).exists()
    told = Message.objects.get(kind=Message.Kind.RECORD_MOVED)
    assert told.recipient == "+66810000009"
    [event] = AuditEvent.objects.filter(action="patient.identity_claimed")
    assert event.details == {
        "by": "partner",
        "from_account": squatter.account_id,
        "to_account": owner.pk,
    }


# --- ThaID sign-in (the rules; the OpenID Connect flow is in test_thaid.py) ------------------


def test_a_person_new_to_us_gets_a_verified_account_of_their_own(reference_data, victim_id):
    match = sign_in_with_verified_identity(person=proven(victim_id), subject="sub-1")

    assert match.account is not None
    assert match.account.get_username() == "thaid:sub-1"
    record = Patient.objects.get(national_id=victim_id)
    assert (record.account, record.relationship) == (match.account, Patient.Relationship.SELF)
    assert record.identity_verified_by == Check.THAID
    assert not match.account.has_usable_password()


def test_a_squatted_id_comes_to_the_person_who_proved_it(squatter, squatted, victim_id):
    visit = booked(squatted, SlotFactory(start=bangkok(TUESDAY, time(9))))

    match = sign_in_with_verified_identity(
        person=proven(victim_id, first_name="Malee"), subject="sub-2"
    )

    squatted.refresh_from_db()
    assert match.account == squatted.account
    assert squatted.relationship == Patient.Relationship.SELF
    assert squatted.first_name == "Malee"
    assert squatted.identity_verified_by == Check.THAID
    visit.refresh_from_db()
    assert visit.patient.account == match.account
    assert not Patient.objects.filter(account=squatter.account, national_id=victim_id).exists()
    assert Message.objects.filter(kind=Message.Kind.RECORD_MOVED, recipient=squatter.phone)
    # Nothing more goes to the squatter's phone about the visit.
    assert not Message.objects.filter(
        appointment=visit, recipient=squatter.phone, status=Message.Status.PENDING
    ).exists()


def test_a_verified_dependant_is_not_taken_by_a_thaid_sign_in(squatted, victim_id):
    verify_identity_at_desk(patient=squatted, centre_id=1)

    with pytest.raises(ContactHealthCentre):
        sign_in_with_verified_identity(person=proven(victim_id), subject="sub-3")


def test_a_verified_account_holder_simply_signs_in(patient):
    verify_identity_at_desk(patient=patient, centre_id=1)

    match = sign_in_with_verified_identity(person=proven(patient.national_id), subject="sub-4")

    assert match.account == patient.account


def test_the_own_record_of_a_phone_account_asks_for_that_phones_passcode(patient):
    match = sign_in_with_verified_identity(person=proven(patient.national_id), subject="sub-5")

    assert match == type(match)(account=None, phone_to_prove=patient.phone)
    send_sign_in_code(phone=patient.phone, address=None, language="th")
    with pytest.raises(PasscodeWrong):
        connect_phone_account(person=proven(patient.national_id), code="000000")
    account = connect_phone_account(
        person=proven(patient.national_id), code=passcode_texted_to(patient.phone)
    )

    patient.refresh_from_db()
    assert account == patient.account
    assert patient.identity_verified_by == Check.THAID


def test_not_my_phone_takes_the_record_to_an_account_of_its_own(patient):
    holder = patient.account

    account = decline_phone_account(person=proven(patient.national_id), subject="sub-6")

    patient.refresh_from_db()
    assert account != holder
    assert patient.account == account
    assert patient.phone == ""
    assert Message.objects.get(kind=Message.Kind.RECORD_MOVED).recipient == "+66810000001"
