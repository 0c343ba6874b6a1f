"""Accounts, patients and dependants. Only what care and booking need is collected."""

from dataclasses import dataclass, replace
from datetime import date, timedelta
from importlib import import_module
from uuid import uuid4

import phonenumbers
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from stdnum.exceptions import ValidationError as IdValidationError
from stdnum.th import pin

from booking.exceptions import AlreadyRegistered
from booking.models import Patient
from booking.services.limits import check_national_id_lookup_rate
from booking.vaccination.models import DECLARED_RISK_GROUPS
from clinics import audit
from clinics.exceptions import DomainError, InvalidInput
from clinics.models import District
from clinics.text import is_visible
from notifications import messages
from notifications.models import Message
from notifications.services.outbox import Recipient, queue_message

OLDEST_AGE_YEARS = 130
# Accounts opened at a health centre's desk for people with no phone: "desk-<32 hex digits>".
# With no phone to text a passcode to and no password they cannot sign in; staff book for the
# person, and ThaID signs them in to it once they prove their ID there.
DESK_ACCOUNT_PREFIX = "desk-"


@dataclass(frozen=True)
class PersonDetails:
    first_name: str
    last_name: str
    date_of_birth: date
    sex: Patient.Sex
    phone: str = ""
    national_id: str = ""
    passport_number: str = ""
    preferred_language: Patient.Language = Patient.Language.THAI
    district: District | None = None
    # Declared risk groups (see RiskGroup); those that follow from age are not declared.
    risk_groups: tuple[str, ...] = ()

    def with_phone(self, phone: str) -> "PersonDetails":
        return replace(self, phone=phone)


def details_of(patient: Patient) -> PersonDetails:
    """A patient's details as they are, to correct one of them."""
    return PersonDetails(
        first_name=patient.first_name,
        last_name=patient.last_name,
        date_of_birth=patient.date_of_birth,
        sex=Patient.Sex(patient.sex),
        phone=patient.phone,
        national_id=patient.national_id,
        passport_number=patient.passport_number,
        preferred_language=Patient.Language(patient.preferred_language),
        district=patient.district,
        risk_groups=tuple(patient.risk_groups),
    )


class PhoneAlreadyRegistered(AlreadyRegistered):
    code = "phone_registered"
    default_message = _("An account with this phone number already exists. Please sign in.")


def normalise_phone(raw: str, *, field: str = "phone") -> str:
    """A phone number as E.164; Thai numbers may be written the local way (081 234 5678)."""
    try:
        number = phonenumbers.parse(raw, "TH")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidInput(
            _("Enter a valid phone number, e.g. 081 234 5678 or +66 81 234 5678."), field=field
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_national_id(raw: str) -> str:
    """Thirteen digits with a valid check digit, without dashes or spaces."""
    try:
        return str(pin.validate(raw))
    except IdValidationError:
        raise InvalidInput(
            _("Enter the 13-digit Thai national ID exactly as on the ID card."),
            field="national_id",
        ) from None


@transaction.atomic
def register_account(*, password: str | None, person: PersonDetails) -> Patient:
    """Open an account for a person, signing in with their phone number, as its own patient.

    Without a password the account signs in only with passcodes sent to the phone."""
    if not person.phone:
        raise InvalidInput(_("A phone number is needed to open an account."), field="phone")
    details = validated_person(person)
    User = get_user_model()
    if User.objects.filter(username=details.phone).exists():
        raise PhoneAlreadyRegistered()
    user = User(username=details.phone, first_name=details.first_name, last_name=details.last_name)
    if password is None:
        user.set_unusable_password()
    else:
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise InvalidInput(" ".join(error.messages), field="password") from error
        user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # the same phone registering twice at the same moment
        raise PhoneAlreadyRegistered() from None
    return _save_patient(Patient(account=user, relationship=Patient.Relationship.SELF), details)


@transaction.atomic
def register_account_without_phone(*, person: PersonDetails) -> Patient:
    """Open an account that cannot sign in, for a person with no phone, as its own patient."""
    details = replace(validated_person(person), phone="")
    user = get_user_model()(
        username=f"{DESK_ACCOUNT_PREFIX}{uuid4().hex}",
        first_name=details.first_name,
        last_name=details.last_name,
    )
    user.set_unusable_password()
    user.save()
    return _save_patient(Patient(account=user, relationship=Patient.Relationship.SELF), details)


@transaction.atomic
def add_dependant(
    *, account: User, relationship: Patient.Relationship, person: PersonDetails
) -> Patient:
    """Add a child, parent or other person in the account holder's care."""
    if relationship == Patient.Relationship.SELF:
        raise InvalidInput(_("Choose how this person is related to you."), field="relationship")
    details = validated_person(person)
    if details.national_id:
        check_national_id_lookup_rate(account_id=account.pk)
    return _save_patient(Patient(account=account, relationship=relationship), details)


class SignInPhoneNeedsPasscode(DomainError):
    """A new sign-in phone must be proven first: nothing was changed."""

    code = "phone_change_needs_passcode"
    status = 409
    default_message = _(
        "A new sign-in phone number must first be proven with a passcode texted to it."
    )


@transaction.atomic
def update_patient(
    *,
    patient: Patient,
    person: PersonDetails,
    sign_in_phone_proven: bool = False,
    keep_session_key: str | None = None,
) -> Patient:
    """Correct a patient's details. The account holder's phone is also how they sign in.

    A new sign-in phone must be proven, with a passcode texted to it (booking.services.phones)
    or by health centre staff who see the person: otherwise SignInPhoneNeedsPasscode and
    nothing changes. Moving the sign-in ends the account's sessions (but `keep_session_key`)
    and tells the old number. Someone in the holder's care whose phone changes has it
    unproven until a passcode proves it. Locks the account row when the sign-in phone changes.
    """
    details = validated_person(person)
    old_sign_in = patient.account.get_username()
    moved = False
    if patient.relationship == Patient.Relationship.SELF:
        if not details.phone:
            raise InvalidInput(
                _("The account holder's phone number cannot be removed."), field="phone"
            )
        if details.phone != old_sign_in:
            if not sign_in_phone_proven:
                raise SignInPhoneNeedsPasscode(phone=details.phone)
            _move_sign_in(patient, details.phone)
            moved = True
    if details.national_id != patient.national_id:
        if details.national_id:
            check_national_id_lookup_rate(account_id=patient.account_id)
        # The proof was for the ID on file, not for the new one.
        patient.identity_verified_at, patient.identity_verified_by = None, ""
    before = {name: getattr(patient, name) for name in vars(details)}
    if moved:
        patient.phone_verified_at = timezone.now()
    elif details.phone != patient.phone:
        patient.phone_verified_at = None
    patient = _save_patient(patient, details)
    changed = sorted(name for name, value in before.items() if getattr(patient, name) != value)
    if changed:  # which details changed, never their values
        audit.record(
            "patient.changed",
            patient,
            centre_id=None,
            patients=[patient.pk],
            details={"fields": changed},
        )
    if moved:
        end_other_sessions(account=patient.account, keep_session_key=keep_session_key)
        _tell_sign_in_moved(patient, old_phone=old_sign_in)
    return patient


def _move_sign_in(patient: Patient, phone: str) -> None:
    User = get_user_model()
    account = User.objects.select_for_update().get(pk=patient.account_id)
    if User.objects.filter(username=phone).exclude(pk=account.pk).exists():
        raise PhoneAlreadyRegistered()
    account.username = phone
    try:
        with transaction.atomic():
            account.save(update_fields=["username"])
    except IntegrityError:
        raise PhoneAlreadyRegistered() from None
    patient.account = account


def _tell_sign_in_moved(patient: Patient, *, old_phone: str) -> None:
    audit.record(
        "patient.sign_in_phone_changed",
        patient,
        centre_id=None,
        patients=[patient.pk],
        details={"fields": ["phone", "username"]},
    )
    if not old_phone.startswith("+"):  # an account that signed in with a name, not a phone
        return
    queue_message(
        recipient=Recipient(old_phone, patient.preferred_language),
        kind=Message.Kind.ACCOUNT_NOTICE,
        body=messages.sign_in_phone_changed(patient.preferred_language),
        patient=patient,
    )


def end_other_sessions(*, account: User, keep_session_key: str | None) -> int:
    """Sign the account out everywhere but the session kept; how many sessions ended.

    Sessions are stored signed and encoded, so each live one is read to find its account."""
    ended = [
        session.session_key
        for session in Session.objects.filter(expire_date__gt=timezone.now())
        .exclude(session_key=keep_session_key or "")
        .iterator()
        if session.get_decoded().get(SESSION_KEY) == str(account.pk)
    ]
    store = import_module(settings.SESSION_ENGINE).SessionStore
    for session_key in ended:
        # Through the session engine, so that a copy kept in the cache (cached_db) goes too.
        store(session_key).delete()
    return len(ended)


def validated_person(person: PersonDetails) -> PersonDetails:
    """The details tidied (E.164 phone, bare ID digits), or InvalidInput naming the field."""
    today = timezone.localdate()
    if person.date_of_birth > today:
        raise InvalidInput(_("The date of birth cannot be in the future."), field="date_of_birth")
    if person.date_of_birth < today - timedelta(days=365 * OLDEST_AGE_YEARS):
        raise InvalidInput(_("Please check the year of birth."), field="date_of_birth")
    if not person.first_name.strip():
        raise InvalidInput(_("Enter a first name."), field="first_name")
    if not is_visible(person.first_name):
        raise InvalidInput(
            _("The first name has no letters that can be seen. Type it as it is written."),
            field="first_name",
        )
    if not person.last_name.strip():
        raise InvalidInput(_("Enter a last name."), field="last_name")
    if not is_visible(person.last_name):
        raise InvalidInput(
            _("The last name has no letters that can be seen. Type it as it is written."),
            field="last_name",
        )
    national_id = normalise_national_id(person.national_id) if person.national_id else ""
    passport = person.passport_number.strip().upper()
    if passport and (len(passport) > 20 or not (passport.isascii() and passport.isalnum())):
        raise InvalidInput(
            _("Enter the passport number as printed: letters and digits only."),
            field="passport_number",
        )
    if not national_id and not passport:
        raise InvalidInput(
            _("Enter a Thai national ID, or a passport number if you are not Thai."),
            field="national_id",
        )
    if any(group not in DECLARED_RISK_GROUPS for group in person.risk_groups):
        raise InvalidInput(
            _("Choose risk groups from: %(groups)s. Age groups follow from the date of birth.")
            % {"groups": ", ".join(sorted(DECLARED_RISK_GROUPS))},
            field="risk_groups",
        )
    return replace(
        person,
        first_name=person.first_name.strip(),
        last_name=person.last_name.strip(),
        phone=normalise_phone(person.phone) if person.phone else "",
        national_id=national_id,
        passport_number=passport,
        risk_groups=tuple(sorted(set(person.risk_groups))),
    )


def _save_patient(patient: Patient, details: PersonDetails) -> Patient:
    for name, value in vars(details).items():
        setattr(patient, name, list(value) if name == "risk_groups" else value)
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError:
        # Said as any other refusal staff must resolve: whether the ID is on file is not told.
        raise AlreadyRegistered() from None
    return patient
