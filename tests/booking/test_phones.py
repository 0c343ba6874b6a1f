"""Phone numbers are proven before anything is texted to them: the phone of someone in an
account holder's care, and a new sign-in phone."""

from datetime import date, time, timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import translation

from booking.models import Patient, SignInCode
from booking.services.passcodes import send_sign_in_code
from booking.services.patients import PersonDetails, add_dependant
from booking.services.phones import correct_details, prove_phone
from clinics.models import AuditEvent
from notifications import messages
from notifications.models import Message
from tests.factories import (
    PatientFactory,
    SlotFactory,
    bangkok,
    booked,
    national_id,
    passcode_texted_to,
    person_of,
)

pytestmark = pytest.mark.django_db

STRANGER = "+66899990000"
NEW_PHONE = "+66865550000"
TUESDAY = date(2026, 12, 1)


def child_details(**changes: object) -> dict[str, object]:
    return {
        "first_name": "น้องมะลิ",
        "last_name": "ใจดี",
        "date_of_birth": "2019-04-02",
        "sex": "female",
        "national_id": national_id(),
        "relationship": "child",
        **changes,
    }


def passcodes_to(phone: str) -> int:
    return Message.objects.filter(recipient=phone, kind=Message.Kind.PASSCODE).count()


# --- Someone in the account holder's care ------------------------------------------------------


def test_a_dependant_added_with_another_phone_keeps_it_unproven_and_texts_it_a_passcode(
    client_for, patient
):
    response = client_for(patient).post(
        "/api/v1/me/patients", child_details(phone="089 999 0000"), content_type="application/json"
    )

    assert response.status_code == 201
    assert (response.json()["phone"], response.json()["phone_proven"]) == (STRANGER, False)
    [code] = Message.objects.filter(recipient=STRANGER, kind=Message.Kind.PASSCODE)
    assert "someone in your care" in code.body
    assert (code.patient, code.appointment) == (None, None)  # a passcode is nobody's record
    assert SignInCode.objects.get(phone=STRANGER).purpose == SignInCode.Purpose.PROVE_PHONE


def test_a_dependant_with_the_holders_own_number_needs_no_passcode(client_for, patient):
    response = client_for(patient).post(
        "/api/v1/me/patients", child_details(phone=patient.phone), content_type="application/json"
    )

    assert response.status_code == 201
    assert passcodes_to(patient.phone) == 0


def test_the_passcode_proves_the_dependants_phone_and_their_texts_go_there(
    client_for, patient, clock
):
    client = client_for(patient)
    child_id = client.post(
        "/api/v1/me/patients", child_details(phone=STRANGER), content_type="application/json"
    ).json()["id"]

    response = client.post(
        f"/api/v1/me/patients/{child_id}/phone/verify",
        {"code": passcode_texted_to(STRANGER)},
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json()["phone_proven"] is True
    appointment = booked(Patient.objects.get(pk=child_id), SlotFactory())
    confirmation = Message.objects.get(appointment=appointment, kind=Message.Kind.CONFIRMATION)
    assert confirmation.recipient == STRANGER
    [audited] = AuditEvent.objects.filter(action="patient.phone_proven")
    assert audited.details == {"fields": ["phone"]}  # which field, never its value
    assert audited.target_id == child_id


def test_a_wrong_code_proves_nothing(client_for, patient):
    client = client_for(patient)
    child_id = client.post(
        "/api/v1/me/patients", child_details(phone=STRANGER), content_type="application/json"
    ).json()["id"]
    right = passcode_texted_to(STRANGER)

    response = client.post(
        f"/api/v1/me/patients/{child_id}/phone/verify",
        {"code": "000000" if right != "000000" else "111111"},
        content_type="application/json",
    )

    assert response.status_code == 401
    assert response.json()["code"] == "passcode_wrong"
    assert Patient.objects.get(pk=child_id).phone_verified_at is None
    assert SignInCode.objects.get(phone=STRANGER).attempts == 1  # the wrong try counts


def test_a_sign_in_code_for_the_number_does_not_prove_it(patient):
    child = add_dependant(
        account=patient.account,
        relationship=Patient.Relationship.CHILD,
        person=PersonDetails(
            first_name="น้อง",
            last_name="ใจดี",
            date_of_birth=date(2019, 4, 2),
            sex=Patient.Sex.FEMALE,
            phone=STRANGER,
            national_id=national_id(),
        ),
    )
    send_sign_in_code(phone=STRANGER, address=None, language="th")

    with pytest.raises(Exception, match="passcode is wrong"):
        prove_phone(patient=child, code=passcode_texted_to(STRANGER))
    child.refresh_from_db()
    assert child.phone_verified_at is None


def test_another_accounts_code_for_the_number_does_not_prove_it(
    client_for, patient, other_patient, clock
):
    mine = client_for(patient).post(
        "/api/v1/me/patients", child_details(phone=STRANGER), content_type="application/json"
    )
    clock.shift(timedelta(minutes=2))
    theirs = client_for(other_patient)
    their_child = theirs.post(
        "/api/v1/me/patients", child_details(phone=STRANGER), content_type="application/json"
    ).json()["id"]
    assert passcodes_to(STRANGER) == 2

    response = client_for(patient).post(
        f"/api/v1/me/patients/{mine.json()['id']}/phone/verify",
        {"code": passcode_texted_to(STRANGER)},  # the code sent for the other account
        content_type="application/json",
    )

    assert response.status_code == 401
    assert Patient.objects.get(pk=their_child).phone_verified_at is None


def test_a_corrected_dependant_phone_is_unproven_again_and_texted_a_passcode(
    client_for, patient, clock
):
    child = PatientFactory(
        account=patient.account,
        relationship="child",
        phone=STRANGER,
        phone_verified_at=bangkok(TUESDAY, time(9)),
    )

    response = client_for(patient).put(
        f"/api/v1/me/patients/{child.pk}",
        person_of(child, phone="089 999 1111"),
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json()["phone_proven"] is False
    assert passcodes_to("+66899991111") == 1
    appointment = booked(Patient.objects.get(pk=child.pk), SlotFactory())
    confirmation = Message.objects.get(appointment=appointment, kind=Message.Kind.CONFIRMATION)
    assert confirmation.recipient == patient.phone


def test_correcting_a_dependants_other_details_sends_no_new_code(client_for, patient, clock):
    child = PatientFactory(account=patient.account, relationship="child", phone=STRANGER)

    response = client_for(patient).put(
        f"/api/v1/me/patients/{child.pk}",
        person_of(child, last_name="ใหม่"),
        content_type="application/json",
    )

    assert response.status_code == 200
    assert passcodes_to(STRANGER) == 0


def test_asking_again_for_a_proof_code_is_limited_like_sign_in_codes(client_for, patient):
    client = client_for(patient)
    child_id = client.post(
        "/api/v1/me/patients", child_details(phone=STRANGER), content_type="application/json"
    ).json()["id"]

    again = client.post(f"/api/v1/me/patients/{child_id}/phone/passcode")

    assert again.status_code == 429
    assert "Retry-After" in again.headers
    assert passcodes_to(STRANGER) == 1


def test_a_proof_code_is_refused_for_a_phone_that_needs_none(client_for, patient):
    response = client_for(patient).post(f"/api/v1/me/patients/{patient.pk}/phone/passcode")

    assert response.status_code == 422
    assert response.json()["field"] == "phone"


# --- The account holder's sign-in phone --------------------------------------------------------


def test_a_new_sign_in_phone_without_its_passcode_changes_nothing_and_texts_one(
    client_for, patient
):
    response = client_for(patient).put(
        f"/api/v1/me/patients/{patient.pk}",
        person_of(patient, phone="086 555 0000", last_name="ใหม่"),
        content_type="application/json",
    )

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "phone_change_needs_passcode"
    assert body["field"] == "phone_passcode"
    assert body["detail"]["phone"] == NEW_PHONE
    assert {"expires_at", "resend_after"} <= set(body["detail"])
    patient.refresh_from_db()
    patient.account.refresh_from_db()
    assert (patient.phone, patient.account.username) == ("+66810000001", "+66810000001")
    assert patient.last_name != "ใหม่"
    assert passcodes_to(NEW_PHONE) == 1
    assert SignInCode.objects.get(phone=NEW_PHONE).purpose == SignInCode.Purpose.CHANGE_PHONE


def test_the_passcode_moves_the_sign_in_ends_other_sessions_and_tells_the_old_number(
    client_for, patient
):
    here, elsewhere = client_for(patient), client_for(patient)
    before = here.session.session_key
    here.put(
        f"/api/v1/me/patients/{patient.pk}",
        person_of(patient, phone=NEW_PHONE),
        content_type="application/json",
    )

    response = here.put(
        f"/api/v1/me/patients/{patient.pk}",
        person_of(patient, phone=NEW_PHONE, phone_passcode=passcode_texted_to(NEW_PHONE)),
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json()["phone"] == NEW_PHONE
    assert response.json()["phone_proven"] is True
    patient.account.refresh_from_db()
    assert patient.account.username == NEW_PHONE
    assert here.get("/api/v1/auth/me").json()["username"] == NEW_PHONE
    assert here.session.session_key != before  # the one session kept has a new key
    assert not Session.objects.filter(session_key=before).exists()
    assert elsewhere.get("/api/v1/auth/me").status_code == 401
    [notice] = Message.objects.filter(kind=Message.Kind.ACCOUNT_NOTICE)
    assert notice.recipient == "+66810000001"
    assert notice.patient == patient
    assert notice.body == messages.sign_in_phone_changed(patient.preferred_language)
    assert messages.count_segments(notice.body).segments == 1
    [audited] = AuditEvent.objects.filter(action="patient.sign_in_phone_changed")
    assert audited.details == {"fields": ["phone", "username"]}
    assert NEW_PHONE not in str(audited.details)


def test_a_sign_in_code_for_the_new_number_does_not_move_the_sign_in(client_for, patient):
    client = client_for(patient)
    send_sign_in_code(phone=NEW_PHONE, address=None, language="en")

    response = client.put(
        f"/api/v1/me/patients/{patient.pk}",
        person_of(patient, phone=NEW_PHONE, phone_passcode=passcode_texted_to(NEW_PHONE)),
        content_type="application/json",
    )

    assert response.status_code == 401
    patient.account.refresh_from_db()
    assert patient.account.username == "+66810000001"


def test_a_number_another_account_uses_answers_as_any_other_and_is_refused_plainly(
    client_for, patient, other_patient
):
    client = client_for(patient, "en")
    free = client.put(
        f"/api/v1/me/patients/{patient.pk}",
        person_of(patient, phone="086 555 0000"),
        content_type="application/json",
    )
    taken = client.put(
        f"/api/v1/me/patients/{patient.pk}",
        person_of(patient, phone=other_patient.phone),
        content_type="application/json",
    )

    # Asking tells nothing: the same answer, and a code to the number either way.
    assert (taken.status_code, taken.json()["code"]) == (free.status_code, free.json()["code"])
    assert taken.json()["message"] == free.json()["message"]
    assert passcodes_to(other_patient.phone) == 1
    refused = client.put(
        f"/api/v1/me/patients/{patient.pk}",
        person_of(
            patient,
            phone=other_patient.phone,
            phone_passcode=passcode_texted_to(other_patient.phone),
        ),
        content_type="application/json",
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "contact_health_centre"
    assert "contact a health centre" in refused.json()["message"]
    assert "already" not in refused.json()["message"]
    patient.account.refresh_from_db()
    assert patient.account.username == "+66810000001"
    assert not Message.objects.filter(kind=Message.Kind.ACCOUNT_NOTICE).exists()


def test_the_service_asks_for_the_passcode_before_moving_the_sign_in(patient):
    details = PersonDetails(
        first_name=patient.first_name,
        last_name=patient.last_name,
        date_of_birth=patient.date_of_birth,
        sex=Patient.Sex(patient.sex),
        phone=NEW_PHONE,
        national_id=patient.national_id,
    )

    # The refusal is worded in the active language: English here, whatever ran before.
    with translation.override("en"), pytest.raises(Exception, match="texted a passcode"):
        correct_details(
            patient=patient, person=details, address=None, language="en", keep_session_key=None
        )
    patient.account.refresh_from_db()
    assert patient.account.username == "+66810000001"


def test_an_unchanged_sign_in_phone_needs_no_passcode(client_for, patient):
    response = client_for(patient).put(
        f"/api/v1/me/patients/{patient.pk}",
        person_of(patient, phone="081 000 0001", last_name="ใหม่"),
        content_type="application/json",
    )

    assert response.status_code == 200
    assert passcodes_to(patient.phone) == 0


def test_signing_in_with_a_passcode_proves_a_partner_registered_holders_phone(patient):
    from booking.services.passcodes import sign_in_with_code

    send_sign_in_code(phone=patient.phone, address=None, language="th")
    sign_in_with_code(phone=patient.phone, code=passcode_texted_to(patient.phone))

    patient.refresh_from_db()
    assert patient.phone_verified_at is not None
