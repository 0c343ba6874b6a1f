from datetime import date

import pytest

from booking.exceptions import AlreadyRegistered
from booking.models import Patient
from booking.services.patients import (
    PersonDetails,
    PhoneAlreadyRegistered,
    SignInPhoneNeedsPasscode,
    add_dependant,
    normalise_phone,
    register_account,
    update_patient,
)
from clinics.exceptions import InvalidInput, TooManyRequests
from clinics.models import District
from tests.factories import national_id

pytestmark = pytest.mark.django_db


def person(**changes: object) -> PersonDetails:
    values: dict[str, object] = {
        "first_name": "มาลี",
        "last_name": "ศรีสุข",
        "date_of_birth": date(1990, 2, 3),
        "sex": Patient.Sex.FEMALE,
        "phone": "081 234 5678",
        "national_id": national_id(),
    }
    values.update(changes)
    return PersonDetails(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("081 234 5678", "+66812345678"),
        ("0812345678", "+66812345678"),
        ("+66 81 234 5678", "+66812345678"),
        ("02 123 4567", "+6621234567"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_numbers_are_stored_as_e164(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["12345", "081 234 567", "not a phone", ""])
def test_invalid_phone_numbers_are_refused_naming_the_field(raw):
    with pytest.raises(InvalidInput) as error:
        normalise_phone(raw)
    assert error.value.detail["field"] == "phone"


def test_registering_opens_an_account_signed_in_by_phone(reference_data):
    district = District.objects.get(code=1033)
    patient = register_account(
        password="a long enough passphrase",
        person=person(national_id="1-1017-00203-45-0", district=district),
    )

    assert patient.relationship == Patient.Relationship.SELF
    assert patient.phone == "+66812345678"
    assert patient.account.username == "+66812345678"
    assert patient.account.check_password("a long enough passphrase")
    assert patient.national_id == "1101700203450"
    assert patient.district == district


def test_a_national_id_with_a_wrong_check_digit_is_refused(reference_data):
    with pytest.raises(InvalidInput) as error:
        register_account(
            password="a long enough passphrase", person=person(national_id="1101700203451")
        )
    assert error.value.detail["field"] == "national_id"


def test_a_foreigner_registers_with_a_passport_instead(reference_data):
    patient = register_account(
        password="a long enough passphrase",
        person=person(national_id="", passport_number="ab1234567"),
    )
    assert patient.passport_number == "AB1234567"
    assert patient.masked_national_id == ""


def test_someone_with_neither_id_is_refused(reference_data):
    with pytest.raises(InvalidInput):
        register_account(password="a long enough passphrase", person=person(national_id=""))


def test_a_weak_password_is_refused(reference_data):
    with pytest.raises(InvalidInput) as error:
        register_account(password="12345678", person=person())
    assert error.value.detail["field"] == "password"


def test_a_phone_number_opens_one_account(reference_data):
    register_account(password="a long enough passphrase", person=person())
    with pytest.raises(PhoneAlreadyRegistered):
        register_account(password="a long enough passphrase", person=person(phone="0812345678"))


def test_a_national_id_is_registered_once_and_the_refusal_does_not_say_so(reference_data, patient):
    with pytest.raises(AlreadyRegistered) as error:
        add_dependant(
            account=patient.account,
            relationship=Patient.Relationship.PARENT,
            person=person(national_id=patient.national_id, phone=""),
        )
    assert error.value.code == "contact_health_centre"
    assert "field" not in error.value.detail
    assert "registered" not in str(error.value.message)


def test_adding_people_by_national_id_is_limited_per_account(reference_data, patient, settings):
    settings.NATIONAL_ID_LOOKUPS_PER_ACCOUNT_PER_HOUR = 2
    for _n in range(2):
        add_dependant(
            account=patient.account,
            relationship=Patient.Relationship.CHILD,
            person=person(phone="", date_of_birth=date(2024, 1, 1)),
        )

    with pytest.raises(TooManyRequests) as error:
        add_dependant(
            account=patient.account,
            relationship=Patient.Relationship.CHILD,
            person=person(phone="", national_id=patient.national_id),
        )
    assert error.value.detail["retry_after"] > 0


def test_a_guardian_adds_a_child_without_a_phone(reference_data, patient):
    child = add_dependant(
        account=patient.account,
        relationship=Patient.Relationship.CHILD,
        person=person(phone="", date_of_birth=date(2024, 1, 1)),
    )
    assert child.account == patient.account
    assert child.phone == ""


def test_a_dependant_cannot_be_added_as_self(reference_data, patient):
    with pytest.raises(InvalidInput):
        add_dependant(
            account=patient.account, relationship=Patient.Relationship.SELF, person=person()
        )


@pytest.mark.parametrize("born", [date(2027, 1, 1), date(1880, 1, 1)])
def test_an_impossible_date_of_birth_is_refused(reference_data, born):
    with pytest.raises(InvalidInput) as error:
        register_account(password="a long enough passphrase", person=person(date_of_birth=born))
    assert error.value.detail["field"] == "date_of_birth"


def test_the_account_holder_keeps_a_phone(reference_data, patient):
    with pytest.raises(InvalidInput):
        update_patient(patient=patient, person=person(phone="", national_id=patient.national_id))


def test_the_national_id_is_masked_like_the_card(reference_data):
    patient = Patient(national_id="1101700203450")
    assert patient.masked_national_id == "x-xxxx-xxxx3-45-0"


def test_staff_who_see_the_account_holder_may_move_their_sign_in(reference_data, patient):
    update_patient(
        patient=patient,
        person=person(phone="086 555 0000", national_id=patient.national_id),
        sign_in_phone_proven=True,
    )
    patient.account.refresh_from_db()
    assert patient.account.username == "+66865550000"


def test_a_new_sign_in_phone_that_nobody_proved_changes_nothing(reference_data, patient):
    with pytest.raises(SignInPhoneNeedsPasscode):
        update_patient(
            patient=patient,
            person=person(phone="086 555 0000", first_name="ใหม่", national_id=patient.national_id),
        )
    patient.refresh_from_db()
    patient.account.refresh_from_db()
    assert (patient.phone, patient.account.username) == ("+66810000001", "+66810000001")
    assert patient.first_name != "ใหม่"


def test_a_phone_that_signs_in_another_account_is_refused(reference_data, patient, other_patient):
    with pytest.raises(PhoneAlreadyRegistered):
        update_patient(
            patient=patient,
            person=person(phone=other_patient.phone, national_id=patient.national_id),
            sign_in_phone_proven=True,
        )
    patient.refresh_from_db()
    assert patient.phone != other_patient.phone


@pytest.mark.parametrize("passport", ["ß" * 20, "AB 123", "A" * 21])
def test_a_passport_number_must_be_letters_and_digits(reference_data, passport):
    with pytest.raises(InvalidInput) as error:
        register_account(
            password="a long enough passphrase",
            person=person(national_id="", passport_number=passport),
        )
    assert error.value.detail["field"] == "passport_number"


@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize("invisible", ["\u200b", "\u200b\u200d", "\u0e48\u0e49", "\u0301"])
def test_a_name_of_only_invisible_characters_is_refused_naming_the_field(
    reference_data, field, invisible
):
    with pytest.raises(InvalidInput) as error:
        register_account(password="a long enough passphrase", person=person(**{field: invisible}))

    assert error.value.detail["field"] == field
    assert not Patient.objects.exists()


def test_a_dependant_or_a_correction_with_an_invisible_name_is_refused(reference_data, patient):
    with pytest.raises(InvalidInput):
        add_dependant(
            account=patient.account,
            relationship=Patient.Relationship.CHILD,
            person=person(first_name="\u200b", phone="", national_id=national_id()),
        )
    with pytest.raises(InvalidInput):
        update_patient(
            patient=patient,
            person=person(last_name="\u2060", national_id=patient.national_id, phone=patient.phone),
        )
