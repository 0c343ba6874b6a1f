"""Signing in with a one-time passcode sent by text message.

A code goes to any mobile number of SIGN_IN_COUNTRIES that asks, with or without an account,
so the answer never tells whether a number is registered; only someone holding the phone
learns that. Codes are kept as keyed hashes, expire after SIGN_IN_CODE_MINUTES, allow
SIGN_IN_CODE_ATTEMPTS wrong tries, and are rate-limited per phone, per network address, per
block of 10,000 numbers and in all; every count is in the database, so the limits hold while
Redis is down. Landlines, satellite, premium and foreign numbers get no code: texts to them
are where toll fraud earns its money.

The same codes, sent for an account and a purpose, prove a phone number before anything else
goes to it: the phone of someone in the account holder's care, or a new sign-in number
(booking.services.phones). They count against the same limits.
"""

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from phonenumbers import PhoneNumberType

from booking.exceptions import NotRegistered, PasscodeWrong
from booking.models import Patient, SignInCode
from booking.services.patients import PersonDetails, normalise_phone, register_account
from clinics.exceptions import InvalidInput, TooManyRequests
from notifications import messages
from notifications.models import Message
from notifications.services.outbox import Recipient, queue_message

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class CodeSent:
    phone: str
    expires_at: datetime
    resend_after: datetime


def _hash(phone: str, code: str) -> str:
    return salted_hmac("booking.passcodes", f"{phone}:{code}", algorithm="sha256").hexdigest()


Purpose = SignInCode.Purpose


@transaction.atomic
def send_sign_in_code(*, phone: str, address: str | None, language: str) -> CodeSent:
    """Text a new passcode to the phone, replacing any earlier one, within the rate limits."""
    phone = normalise_phone(phone)
    return _send_code(
        phone=phone,
        purpose=Purpose.SIGN_IN,
        account=None,
        address=address,
        body=lambda code: messages.passcode(code, settings.SIGN_IN_CODE_MINUTES, language),
        language=language,
    )


@transaction.atomic
def send_phone_code(
    *, account: User, phone: str, purpose: SignInCode.Purpose, address: str | None, language: str
) -> CodeSent:
    """Text a passcode that proves the phone for this account only: for someone in its care
    (PROVE_PHONE) or as its new sign-in number (CHANGE_PHONE). The same limits as signing in
    count every code sent to the phone or asked for from the address."""
    if purpose == Purpose.SIGN_IN:
        raise ValueError("Sign-in codes are sent by send_sign_in_code.")
    phone = normalise_phone(phone)
    minutes = settings.SIGN_IN_CODE_MINUTES
    text = messages.phone_proof_code if purpose == Purpose.PROVE_PHONE else messages.new_phone_code
    return _send_code(
        phone=phone,
        purpose=purpose,
        account=account,
        address=address,
        body=lambda code: text(code, minutes, language),
        language=language,
    )


def _send_code(
    *,
    phone: str,
    purpose: SignInCode.Purpose,
    account: User | None,
    address: str | None,
    body: Callable[[str], str],
    language: str,
) -> CodeSent:
    _check_mobile_in_sign_in_countries(phone)
    prefix = phone[:-4]
    _serialise(f"sign-in-code:{phone}", f"sign-in-code:{address}", f"sign-in-code-prefix:{prefix}")
    now = timezone.now()
    _check_rate_limits(phone=phone, prefix=prefix, address=address, now=now)
    SignInCode.objects.filter(
        phone=phone, purpose=purpose, account=account, used_at__isnull=True, expires_at__gt=now
    ).update(expires_at=now)
    code = f"{secrets.randbelow(10**6):06d}"
    expires_at = now + timedelta(minutes=settings.SIGN_IN_CODE_MINUTES)
    SignInCode.objects.create(
        phone=phone,
        phone_prefix=prefix,
        purpose=purpose,
        account=account,
        code_hash=_hash(phone, code),
        requested_from=address,
        created_at=now,
        expires_at=expires_at,
    )
    # Never tied to a patient: a passcode is nobody's record, and no export may show one.
    queue_message(
        recipient=Recipient(phone, language),
        kind=Message.Kind.PASSCODE,
        body=body(code),
        expires_at=expires_at,
    )
    return CodeSent(
        phone=phone,
        expires_at=expires_at,
        resend_after=now + timedelta(seconds=settings.SIGN_IN_CODE_RESEND_SECONDS),
    )


MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _check_mobile_in_sign_in_countries(phone: str) -> None:
    """InvalidInput unless the number is a mobile one of SIGN_IN_COUNTRIES (or one its
    country's numbering cannot tell from a landline)."""
    number = phonenumbers.parse(phone)
    countries = settings.SIGN_IN_COUNTRIES
    if phonenumbers.region_code_for_number(number) not in countries:
        message: str | Promise
        if countries == ["TH"]:
            message = _(
                "We can text a passcode only to a Thai mobile number. "
                "Enter a Thai mobile number, e.g. 081 234 5678."
            )
        else:
            message = _(
                "We can text a passcode only to a mobile number from one of these "
                "countries: %(countries)s. Enter such a number."
            ) % {"countries": ", ".join(countries)}
        raise InvalidInput(message, field="phone")
    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise InvalidInput(
            _(
                "This number is not a mobile phone, so it cannot receive a passcode. "
                "Enter a mobile number, e.g. 081 234 5678."
            ),
            field="phone",
        )


def _serialise(*keys: str) -> None:
    """Make requests for the same phone, address or number block wait for each other, so
    that parallel requests cannot all pass the limits. SQLite's write transactions already
    run one at a time; on PostgreSQL, transaction-scoped advisory locks, in a fixed order."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for key in sorted(keys):
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def _check_rate_limits(*, phone: str, prefix: str, address: str | None, now: datetime) -> None:
    recent = SignInCode.objects.filter(phone=phone, created_at__gt=now - HOUR)
    latest = recent.order_by("-created_at").values_list("created_at", flat=True).first()
    if latest is not None:
        wait = latest + timedelta(seconds=settings.SIGN_IN_CODE_RESEND_SECONDS) - now
        if wait > timedelta(0):
            raise TooManyRequests(
                _("A code was sent moments ago. Please wait before asking for another."),
                retry_after=_seconds(wait),
            )
    _check_window(recent, settings.SIGN_IN_CODES_PER_PHONE_PER_HOUR, now)
    if address:
        from_address = SignInCode.objects.filter(requested_from=address, created_at__gt=now - HOUR)
        _check_window(from_address, settings.SIGN_IN_CODES_PER_ADDRESS_PER_HOUR, now)
    to_block = SignInCode.objects.filter(phone_prefix=prefix, created_at__gt=now - HOUR)
    _check_window(to_block, settings.SIGN_IN_CODES_PER_PREFIX_PER_HOUR, now)
    # Not serialised (that would make every request wait for every other): parallel requests
    # may overshoot the ceiling by as many as run at once.
    everyone = SignInCode.objects.filter(created_at__gt=now - HOUR)
    _check_window(
        everyone,
        settings.SIGN_IN_CODES_PER_HOUR,
        now,
        _("We are sending very many passcodes just now. Please try again in a while."),
    )


def _check_window(
    requests: QuerySet[SignInCode],
    limit: int,
    now: datetime,
    message: str | Promise | None = None,
) -> None:
    if limit <= 0:  # 0 turns the limit off, as for the other limits
        return
    # The limit-th latest request: while it is in the window, the window is full.
    times = requests.order_by("-created_at").values_list("created_at", flat=True)
    oldest_counted = next(iter(times[limit - 1 : limit]), None)
    if oldest_counted is not None:
        raise TooManyRequests(
            _("Too many codes were asked for. Please try again later.")
            if message is None
            else message,
            retry_after=_seconds(oldest_counted + HOUR - now),
        )


def _seconds(wait: timedelta) -> int:
    return max(1, int(wait.total_seconds() + 0.999))


def check_sign_in_code(*, phone: str, code: str, use: bool) -> str:
    """The phone (E.164) if the code is its latest, unexpired, unused one; PasscodeWrong if not.

    A wrong code counts against the code's attempts even though the error rolls back
    everything else. `use=False` checks without spending the code."""
    phone = normalise_phone(phone)
    _check_code(phone=phone, code=code, purpose=Purpose.SIGN_IN, account=None, use=use)
    return phone


def check_phone_code(
    *, account: User, phone: str, code: str, purpose: SignInCode.Purpose, use: bool
) -> None:
    """PasscodeWrong unless the code is the latest one sent to the phone for this account and
    purpose: a sign-in code, or another account's, proves nothing here."""
    _check_code(phone=normalise_phone(phone), code=code, purpose=purpose, account=account, use=use)


def _check_code(
    *, phone: str, code: str, purpose: SignInCode.Purpose, account: User | None, use: bool
) -> None:
    now = timezone.now()
    with transaction.atomic():
        latest = (
            SignInCode.objects.select_for_update()
            .filter(
                phone=phone,
                purpose=purpose,
                account=account,
                used_at__isnull=True,
                expires_at__gt=now,
            )
            .order_by("-created_at")
            .first()
        )
        matches = (
            latest is not None
            and latest.attempts < settings.SIGN_IN_CODE_ATTEMPTS
            and hmac.compare_digest(latest.code_hash, _hash(phone, code.strip()))
        )
        if latest is not None and not matches:
            SignInCode.objects.filter(pk=latest.pk).update(attempts=F("attempts") + 1)
        elif latest is not None and use:
            SignInCode.objects.filter(pk=latest.pk).update(used_at=now)
    if not matches:
        raise PasscodeWrong()


def sign_in_with_code(*, phone: str, code: str) -> User:
    """The account for the phone, once its passcode checks out.

    NotRegistered (only after a correct code) when no account uses the number: the code is
    then kept for registering."""
    phone = normalise_phone(phone)
    user = get_user_model().objects.filter(username=phone, is_active=True).first()
    check_sign_in_code(phone=phone, code=code, use=user is not None)
    if user is None:
        raise NotRegistered()
    # An account a partner opened has its phone proven the first time someone signs in with it.
    Patient.objects.filter(
        account=user,
        relationship=Patient.Relationship.SELF,
        phone=phone,
        phone_verified_at__isnull=True,
    ).update(phone_verified_at=timezone.now())
    return user


def register_with_code(*, code: str, person: PersonDetails) -> Patient:
    """Open an account for the phone whose passcode this is, spending the code with it."""
    phone = check_sign_in_code(phone=person.phone, code=code, use=False)
    with transaction.atomic():
        patient = register_account(person=person, password=None)
        check_sign_in_code(phone=phone, code=code, use=True)
        patient.phone_verified_at = timezone.now()
        patient.save(update_fields=["phone_verified_at"])
    return patient
