"""The /me page's phone forms, without JavaScript: proving the phone of someone in the account
holder's care with the passcode texted to it, and moving the holder's sign-in to a new number
in two steps (the new number, then the code texted to it), kept in the session between them."""

from django.contrib import messages
from django.http import HttpRequest
from django.utils.translation import gettext as _

from booking.models import Patient
from booking.selectors import patient_of, patients_of
from booking.services.patients import SignInPhoneNeedsPasscode, details_of
from booking.services.phones import correct_details, prove_phone, send_phone_proof
from clinics.exceptions import InvalidInput
from clinics.permissions import signed_in_user

NEW_PHONE_KEY = "me-new-sign-in-phone"
PHONE_STEPS = (
    "prove_phone",
    "resend_phone_code",
    "new_sign_in_phone",
    "confirm_sign_in_phone",
    "keep_sign_in_phone",
)


def _row_id(request: HttpRequest) -> int:
    raw = request.POST.get("patient_id", "")
    if not raw.isdigit():
        raise InvalidInput(_("Choose the person whose phone this is."), field="patient_id")
    return int(raw)


def _holder(request: HttpRequest) -> Patient:
    holder = (
        patients_of(signed_in_user(request)).filter(relationship=Patient.Relationship.SELF).first()
    )
    if holder is None:  # a staff account has no patient of its own
        raise InvalidInput(_("This account has no sign-in phone to change."), field="phone")
    return holder


def take_phone_step(request: HttpRequest, action: str) -> None:
    """Take one step (an action in PHONE_STEPS) and say what it did; a DomainError says what
    went wrong."""
    user = signed_in_user(request)
    address = request.META.get("REMOTE_ADDR")
    language = request.LANGUAGE_CODE
    if action == "prove_phone":
        patient = prove_phone(
            patient=patient_of(user, _row_id(request)), code=request.POST.get("code", "")
        )
        messages.success(
            request,
            _("%(name)s's texts now go to %(phone)s.")
            % {"name": patient.first_name, "phone": patient.phone},
        )
    elif action == "resend_phone_code":
        sent = send_phone_proof(
            patient=patient_of(user, _row_id(request)), address=address, language=language
        )
        messages.success(
            request, _("We have texted a passcode to %(phone)s.") % {"phone": sent.phone}
        )
    elif action == "new_sign_in_phone":
        holder = _holder(request)
        details = details_of(holder)
        phone = request.POST.get("phone", "")
        try:
            correct_details(
                patient=holder,
                person=details.with_phone(phone),
                address=address,
                language=language,
                keep_session_key=request.session.session_key,
            )
        except SignInPhoneNeedsPasscode as asked:
            request.session[NEW_PHONE_KEY] = asked.detail["phone"]
            messages.success(
                request,
                _("We have texted a passcode to %(phone)s.") % {"phone": asked.detail["phone"]},
            )
        else:
            messages.info(request, _("You already sign in with this number."))
    elif action == "confirm_sign_in_phone":
        phone = request.session.get(NEW_PHONE_KEY, "")
        if not phone:
            raise InvalidInput(_("Enter the new phone number first."), field="phone")
        code = request.POST.get("code", "").strip()
        if not code:
            raise InvalidInput(_("Enter the passcode we texted to the new number."), field="code")
        holder = _holder(request)
        correct_details(
            patient=holder,
            person=details_of(holder).with_phone(phone),
            phone_passcode=code,
            address=address,
            language=language,
            keep_session_key=request.session.session_key,
        )
        request.session.pop(NEW_PHONE_KEY, None)
        request.session.cycle_key()  # a new key for the one session that stays signed in
        messages.success(
            request,
            _("You now sign in with %(phone)s. Your other sessions are signed out.")
            % {"phone": phone},
        )
    elif action == "keep_sign_in_phone":
        request.session.pop(NEW_PHONE_KEY, None)
