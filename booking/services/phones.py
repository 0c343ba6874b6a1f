"""Proving phone numbers before anything is texted to them, and moving an account's sign-in to
a new number: both with a passcode texted to the number, for this account only.

The account holder's own phone is the one they sign in with. Someone in their care may have
the holder's number written on them, or a number of their own that a passcode has proven;
until then their texts go to the account holder.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.exceptions import ContactHealthCentre
from booking.models import Patient, SignInCode
from booking.services.passcodes import CodeSent, check_phone_code, send_phone_code
from booking.services.patients import (
    PersonDetails,
    PhoneAlreadyRegistered,
    SignInPhoneNeedsPasscode,
    update_patient,
    validated_person,
)
from clinics import audit
from clinics.exceptions import InvalidInput, TooManyRequests

Purpose = SignInCode.Purpose


class PhoneChangeRefused(ContactHealthCentre):
    """Answered as any other refusal that only staff can resolve (the same code and words),
    whatever the reason, so that it never tells whether another account signs in with the
    number. Staff at a health centre can move the sign-in (the patient admin)."""


def phone_needs_proof(patient: Patient) -> bool:
    """Whether a passcode must prove the patient's phone before texts go to it: someone in
    the holder's care, with a number that is neither proven nor the holder's own."""
    return (
        patient.relationship != Patient.Relationship.SELF
        and bool(patient.phone)
        and patient.phone_verified_at is None
        and patient.phone != patient.account.get_username()
    )


def send_phone_proof(*, patient: Patient, address: str | None, language: str) -> CodeSent:
    """Text a passcode to the phone of someone in the holder's care, to prove it."""
    if not phone_needs_proof(patient):
        raise InvalidInput(
            _("This phone number needs no passcode: texts already go to it, or to yours."),
            field="phone",
        )
    return send_phone_code(
        account=patient.account,
        phone=patient.phone,
        purpose=Purpose.PROVE_PHONE,
        address=address,
        language=language,
    )


def offer_phone_proof(*, patient: Patient, address: str | None, language: str) -> CodeSent | None:
    """Text a passcode to a phone that needs proving; None when none is needed, or when the
    limits say wait (the holder may ask again later)."""
    if not phone_needs_proof(patient):
        return None
    try:
        return send_phone_proof(patient=patient, address=address, language=language)
    except TooManyRequests:
        return None


def prove_phone(*, patient: Patient, code: str) -> Patient:
    """Mark the phone of someone in the holder's care proven, with the passcode texted to it.

    The code is checked before the change's transaction, so that a wrong one counts."""
    if not phone_needs_proof(patient):
        raise InvalidInput(
            _("This phone number needs no passcode: texts already go to it, or to yours."),
            field="phone",
        )
    check_phone_code(
        account=patient.account,
        phone=patient.phone,
        code=code,
        purpose=Purpose.PROVE_PHONE,
        use=True,
    )
    with transaction.atomic():
        patient.phone_verified_at = timezone.now()
        patient.save(update_fields=["phone_verified_at"])
        audit.record(
            "patient.phone_proven",
            patient,
            centre_id=None,
            patients=[patient.pk],
            details={"fields": ["phone"]},
        )
    return patient


def correct_details(
    *,
    patient: Patient,
    person: PersonDetails,
    phone_passcode: str = "",
    address: str | None,
    language: str,
    keep_session_key: str | None,
) -> Patient:
    """Correct a patient's details as their account holder.

    A new sign-in phone takes the passcode texted to it: without one a code is sent there and
    SignInPhoneNeedsPasscode says so, changing nothing; with it, the sign-in moves, the
    account's other sessions end and the old number is told. A new phone for someone in the
    holder's care is kept unproven, and a passcode is texted to prove it."""
    details = validated_person(person)
    account = patient.account
    moving = (
        patient.relationship == Patient.Relationship.SELF
        and bool(details.phone)
        and details.phone != account.get_username()
    )
    if not moving:
        old_phone = patient.phone
        patient = update_patient(patient=patient, person=details)
        if patient.phone != old_phone:
            offer_phone_proof(patient=patient, address=address, language=language)
        return patient
    if not phone_passcode:
        # Sent whether or not another account uses the number: only its holder learns that.
        sent = send_phone_code(
            account=account,
            phone=details.phone,
            purpose=Purpose.CHANGE_PHONE,
            address=address,
            language=language,
        )
        raise SignInPhoneNeedsPasscode(
            _(
                "We have texted a passcode to the new number. Send the same details again "
                "with that passcode to sign in with the new number from now on."
            ),
            field="phone_passcode",
            phone=sent.phone,
            expires_at=timezone.localtime(sent.expires_at).isoformat(),
            resend_after=timezone.localtime(sent.resend_after).isoformat(),
        )

    def check(*, use: bool) -> None:
        check_phone_code(
            account=account,
            phone=details.phone,
            code=phone_passcode,
            purpose=Purpose.CHANGE_PHONE,
            use=use,
        )

    check(use=False)  # outside the change's transaction, so that a wrong code counts
    try:
        with transaction.atomic():
            patient = update_patient(
                patient=patient,
                person=details,
                sign_in_phone_proven=True,
                keep_session_key=keep_session_key,
            )
            check(use=True)
    except PhoneAlreadyRegistered:
        raise PhoneChangeRefused() from None
    return patient
