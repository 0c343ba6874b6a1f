"""Verified identity: who proved that a record is the person whose national ID it holds, and
what happens when a proven person claims an ID that an unproven record holds.

A record is verified by ThaID sign-in (the person proved it themselves), by staff at a centre
who saw the ID card, or by a partner app that says it checked the person. A verified person
always wins over an unverified record of the same ID: that record leaves the account it sat in
(whose holder is texted to contact a centre) for the verified person's own account, and its
coming appointments and their texts follow it. A verified record is never taken by another
claim; that is for staff at a health centre."""

from dataclasses import dataclass
from datetime import date

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.exceptions import ContactHealthCentre
from booking.models import Appointment, Patient
from booking.notices import notify_record_moved, notify_record_moved_out
from booking.services.passcodes import check_sign_in_code
from booking.services.patients import normalise_national_id
from clinics import audit
from clinics.exceptions import InvalidInput
from notifications.services.outbox import Recipient

IdentityCheck = Patient.IdentityCheck
Relationship = Patient.Relationship
# Accounts opened by ThaID sign-in, for people with no phone account: "thaid:<subject>".
THAID_ACCOUNT_PREFIX = "thaid:"


@dataclass(frozen=True)
class VerifiedPerson:
    """A person as a trusted source proved them: their ID, and what it told of them."""

    national_id: str
    first_name: str = ""
    last_name: str = ""
    date_of_birth: date | None = None
    sex: str = ""


@dataclass(frozen=True)
class IdentityMatch:
    """Where a ThaID sign-in leads: into `account`, or (when an account of a phone holds the
    person's ID as its own and nobody proved it) to proving that phone with a passcode."""

    account: User | None = None
    phone_to_prove: str = ""


def mark_verified(
    patient: Patient, *, by: Patient.IdentityCheck, centre_id: int | None = None
) -> Patient:
    """Record who proved the person's identity (the first proof is kept). Locks the patient.

    Call inside a transaction."""
    locked = Patient.objects.select_for_update().get(pk=patient.pk)
    if locked.identity_verified_at is None:
        locked.identity_verified_at = timezone.now()
        locked.identity_verified_by = by
        locked.save(update_fields=["identity_verified_at", "identity_verified_by"])
        audit.record(
            "patient.identity_verified",
            locked,
            centre_id=centre_id,
            patients=[locked.pk],
            details={"by": str(by)},
        )
    return locked


@transaction.atomic
def verify_identity_at_desk(*, patient: Patient, centre_id: int) -> Patient:
    """Record that staff at the centre saw the person's ID card. Locks the patient row."""
    return mark_verified(patient, by=IdentityCheck.DESK, centre_id=centre_id)


@transaction.atomic
def take_over_record(
    *,
    record: Patient,
    account: User,
    relationship: Patient.Relationship,
    by: Patient.IdentityCheck,
    phone: str = "",
    person: VerifiedPerson | None = None,
) -> Patient:
    """Move an unverified record to the account of the person who proved its ID: the old
    account's holder is texted to contact a centre, the coming appointments and their texts
    follow the record. ContactHealthCentre if the record is verified. Locks the record."""
    # No join in the locking read: on PostgreSQL a row whose account a concurrent claim just
    # changed would drop out of a join re-checked after the wait, and seem not to exist.
    locked = Patient.objects.select_for_update().get(pk=record.pk)
    if locked.identity_verified_at is not None:
        raise ContactHealthCentre()
    previous_account = locked.account
    told = _holder_of(previous_account)
    locked.account = account
    locked.relationship = relationship
    locked.phone = phone
    if person is not None:
        locked.first_name = person.first_name or locked.first_name
        locked.last_name = person.last_name or locked.last_name
        locked.date_of_birth = person.date_of_birth or locked.date_of_birth
    locked.identity_verified_at = timezone.now()
    locked.identity_verified_by = by
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError:  # the account has a record of its own already
        raise ContactHealthCentre() from None
    audit.record(
        "patient.identity_claimed",
        locked,
        centre_id=None,
        patients=[locked.pk],
        details={"by": str(by), "from_account": previous_account.pk, "to_account": account.pk},
    )
    coming = Appointment.objects.filter(
        patient=locked, status=Appointment.Status.BOOKED, slot__start__gt=timezone.now()
    ).select_related("slot__service", "slot__centre", "patient")
    for appointment in coming:
        notify_record_moved(appointment)
    if told is not None and told.phone != phone:
        notify_record_moved_out(told)
    return locked


def _holder_of(account: User) -> Recipient | None:
    holder = (
        Patient.objects.filter(account=account, relationship=Relationship.SELF)
        .exclude(phone="")
        .first()
    )
    if holder is not None:
        return Recipient(holder.phone, holder.preferred_language)
    if account.get_username().startswith("+"):
        return Recipient(account.get_username(), Patient.Language.THAI)
    return None


# --- ThaID sign-in -------------------------------------------------------------------------------


@transaction.atomic
def sign_in_with_verified_identity(*, person: VerifiedPerson, subject: str) -> IdentityMatch:
    """Where someone who proved their national ID with ThaID goes: their own record's account;
    a new account holding their record (taken from another household if nobody proved it
    there); or, if a phone's account holds their ID as its own, to proving that phone.

    ContactHealthCentre when a verified record of the ID is in someone else's care."""
    national_id = normalise_national_id(person.national_id)
    record = Patient.objects.select_for_update().filter(national_id=national_id).first()
    if record is None:
        return IdentityMatch(account=_open_thaid_account(person, subject, national_id))
    if record.identity_verified_at is not None:
        if record.relationship != Relationship.SELF:
            raise ContactHealthCentre()
        return IdentityMatch(account=record.account)
    if record.relationship == Relationship.SELF and _signs_in_by_phone(record.account):
        return IdentityMatch(phone_to_prove=record.account.get_username())
    return IdentityMatch(account=_take_into_thaid_account(record, person, subject))


def connect_phone_account(*, person: VerifiedPerson, code: str) -> User:
    """The phone's account whose own record holds the person's ID, now verified by ThaID,
    once the passcode texted to that phone checks out."""
    record = _unproven_own_record(person)
    phone = record.account.get_username()
    # Outside the transaction: a wrong code counts against its attempts.
    check_sign_in_code(phone=phone, code=code, use=False)
    with transaction.atomic():
        record = _unproven_own_record(person)
        if record.account.get_username() != phone:
            raise ContactHealthCentre()
        check_sign_in_code(phone=phone, code=code, use=True)
        mark_verified(record, by=IdentityCheck.THAID)
        return record.account


@transaction.atomic
def decline_phone_account(*, person: VerifiedPerson, subject: str) -> User:
    """ "That is not my phone": the record leaves the phone's account for the person's own."""
    return _take_into_thaid_account(_unproven_own_record(person), person, subject)


def _unproven_own_record(person: VerifiedPerson) -> Patient:
    record = (
        Patient.objects.select_related("account")
        .filter(national_id=normalise_national_id(person.national_id))
        .first()
    )
    if (
        record is None
        or record.identity_verified_at is not None
        or record.relationship != Relationship.SELF
        or not _signs_in_by_phone(record.account)
    ):
        raise ContactHealthCentre()
    return record


def _signs_in_by_phone(account: User) -> bool:
    return account.get_username().startswith("+")


def _thaid_account(subject: str) -> User:
    User = get_user_model()
    account, created = User.objects.get_or_create(username=f"{THAID_ACCOUNT_PREFIX}{subject}"[:150])
    if created:
        account.set_unusable_password()
        account.save(update_fields=["password"])
    return account


def _open_thaid_account(person: VerifiedPerson, subject: str, national_id: str) -> User:
    if not (person.first_name and person.last_name and person.date_of_birth and person.sex):
        raise InvalidInput(
            _(
                "ThaID did not share your name, date of birth and sex, which a new record "
                "needs. Allow ThaID to share them and sign in again, or register with your "
                "phone number."
            ),
            field="thaid",
        )
    account = _thaid_account(subject)
    if Patient.objects.filter(account=account, relationship=Relationship.SELF).exists():
        raise ContactHealthCentre()
    account.first_name, account.last_name = person.first_name, person.last_name
    account.save(update_fields=["first_name", "last_name"])
    patient = Patient.objects.create(
        account=account,
        relationship=Relationship.SELF,
        first_name=person.first_name,
        last_name=person.last_name,
        date_of_birth=person.date_of_birth,
        sex=person.sex,
        national_id=national_id,
        identity_verified_at=timezone.now(),
        identity_verified_by=IdentityCheck.THAID,
    )
    audit.record(
        "patient.identity_verified",
        patient,
        centre_id=None,
        patients=[patient.pk],
        details={"by": str(IdentityCheck.THAID)},
    )
    return account


def _take_into_thaid_account(record: Patient, person: VerifiedPerson, subject: str) -> User:
    account = _thaid_account(subject)
    take_over_record(
        record=record,
        account=account,
        relationship=Relationship.SELF,
        by=IdentityCheck.THAID,
        person=person,
    )
    return account
