"""Partners' API keys: issuing, checking, counting and recording each use, and booking for
the people a partner's app has identified."""

import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, ForeignKey, JSONField, Model
from django.utils import timezone
from django.utils.translation import gettext as _

from booking.exceptions import (
    AlreadyRegistered,
    ContactHealthCentre,
    PartnerKeyInvalid,
    PartnerScopeMissing,
    PersonDoesNotMatch,
)
from booking.models import Appointment, Partner, PartnerKey, PartnerKeyUse, Patient
from booking.services.appointments import Booking, book_slot
from booking.services.identity import VerifiedPerson, mark_verified, take_over_record
from booking.services.limits import check_partner_refusal_rate, count_partner_refusal
from booking.services.patients import (
    PersonDetails,
    add_dependant,
    register_account,
    validated_person,
)
from booking.vaccination.waiting_room import wait_turn_for_slot
from clinics import audit
from clinics.exceptions import InvalidInput, TooManyRequests
from clinics.limits import count_windows

KEY_START = "bma_"
M = TypeVar("M", bound=Model)
# A key's last_used_at is written again once it is this old (record_partner_call).
LAST_USED_PRECISION = timedelta(minutes=1)
Scope = PartnerKey.Scope


@dataclass(frozen=True)
class IssuedKey:
    key: PartnerKey
    # The whole key, shown once: only its hash is kept.
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def issue_partner_key(
    *,
    partner: Partner,
    scopes: list[str],
    issued_by: User | None,
    label: str = "",
    requests_per_minute: int = 120,
    expires_at: datetime | None = None,
) -> IssuedKey:
    """Make a key for the partner; the returned secret is the only time the key is seen."""
    unknown = set(scopes) - set(Scope.values)
    if unknown or not scopes:
        raise ValueError(f"Choose scopes from {Scope.values}")
    prefix = f"{KEY_START}{secrets.token_hex(4)}"
    secret = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = PartnerKey.objects.create(
        partner=partner,
        label=label,
        prefix=prefix,
        secret_hash=_hash(secret),
        scopes=sorted(set(scopes)),
        requests_per_minute=requests_per_minute,
        expires_at=expires_at,
        created_by=issued_by,
    )
    return IssuedKey(key=key, secret=secret)


def revoke_partner_keys(*, key_ids: list[int]) -> int:
    """Stop keys working at once; returns how many were live."""
    return PartnerKey.objects.filter(pk__in=key_ids, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


@functools.cache
def _database() -> BaseDatabaseWrapper:
    """Django's default database, for its converters and adapters alone (no statement is run
    on it): on the lean route's event loop each request is a context of its own, where
    asking for `connection` made a new object every time."""
    return connections[DEFAULT_DB_ALIAS]


def _read_with_parent(model: type[M], parent: str, where: str, params: list[Any]) -> M | None:
    """The first row of `model` (by id) matching `where` (its columns as "c."), with the row
    its foreign key `parent` points to, in one statement, as select_related(parent) loads them
    (each value through the converters the ORM would apply): written out, since making the
    ORM's statement cost about ten times the CPU of running it (0.6-0.9 ms a read; a partner's
    booking reads a key and a person, bench/booking.py --partner)."""
    read = _statement_with_parent(model, parent, where)
    with connection.cursor() as cursor:
        cursor.execute(read.sql, params)
        row = cursor.fetchone()
    return None if row is None else read.made(row)


async def _aread_with_parent(
    conn: Any, model: type[M], parent: str, where: str, params: list[Any]
) -> M | None:
    """_read_with_parent on a psycopg AsyncConnection (the lean route's): the same statement,
    loaded the same way."""
    read = _statement_with_parent(model, parent, where)
    async with conn.cursor() as cursor:
        await cursor.execute(read.sql, params)
        row = await cursor.fetchone()
    return None if row is None else read.made(row)


@dataclass(frozen=True)
class _ReadWithParent:
    sql: str
    model: type[Model]
    name: str  # the foreign key's
    parent: type[Model]
    own: list[str]  # the fields the columns fill, of the model and then of its parent
    theirs: list[str]
    converters: list[list[tuple[Any, Any]]]  # per column: (converter, its column expression)

    def convert(self, index: int, value: Any) -> Any:
        for converter, column in self.converters[index]:
            value = converter(value, column, _database())
        return value

    def made(self, row: Sequence[Any]) -> Any:
        """The model's instance, with its parent, from a row of the statement."""
        values = [self.convert(index, value) for index, value in enumerate(row)]
        width = len(self.own)
        found = self.model.from_db(DEFAULT_DB_ALIAS, self.own, values[:width])
        setattr(
            found, self.name, self.parent.from_db(DEFAULT_DB_ALIAS, self.theirs, values[width:])
        )
        return found


@functools.cache
def _statement_with_parent(model: type[Model], parent: str, where: str) -> _ReadWithParent:
    """_read_with_parent's statement, the fields its columns fill, and their converters."""
    field = model._meta.get_field(parent)
    assert isinstance(field, ForeignKey)
    parent_model = field.related_model
    assert isinstance(parent_model, type)
    assert issubclass(parent_model, Model)
    own_key, their_key = model._meta.pk, parent_model._meta.pk
    assert own_key is not None
    assert their_key is not None
    quote = connection.ops.quote_name
    own, theirs = model._meta.concrete_fields, parent_model._meta.concrete_fields

    def selected(table: str, field: Field[Any, Any]) -> str:
        # JSON as text, as Django's own connections load it on PostgreSQL (psycopg would
        # parse it on the lean route's, which JSONField's converter does after).
        as_text = connection.vendor == "postgresql" and isinstance(field, JSONField)
        return f"{table}.{quote(field.column)}{'::text' if as_text else ''}"

    columns = [selected("c", f) for f in own] + [selected("p", f) for f in theirs]
    converters = []
    for table, each in [(model._meta.db_table, f) for f in own] + [
        (parent_model._meta.db_table, f) for f in theirs
    ]:
        column = each.get_col(table)
        found = connection.ops.get_db_converters(column)
        found += each.get_db_converters(connection)  # type: ignore[attr-defined] # not in the stubs
        converters.append([(converter, column) for converter in found])
    return _ReadWithParent(
        sql=(
            f"SELECT {', '.join(columns)} FROM {quote(model._meta.db_table)} c "
            f"JOIN {quote(parent_model._meta.db_table)} p "
            f"ON p.{quote(their_key.column)} = c.{quote(field.column)} "
            f"WHERE {where} ORDER BY c.{quote(own_key.column)} LIMIT 1"
        ),
        model=model,
        name=parent,
        parent=parent_model,
        own=[f.attname for f in own],
        theirs=[f.attname for f in theirs],
        converters=converters,
    )


def partner_key_for(presented: str) -> PartnerKey:
    """The key a caller presented, live or not (so that using a revoked one is audited too);
    PartnerKeyInvalid if it is not one of ours."""
    prefix = _prefix_of(presented)
    key = None if prefix is None else _read_with_parent(PartnerKey, "partner", _BY_PREFIX, [prefix])
    return _presented_key(key, presented)


async def apartner_key_for(conn: Any, presented: str) -> PartnerKey:
    """partner_key_for on a psycopg AsyncConnection (the lean route's)."""
    prefix = _prefix_of(presented)
    key = None
    if prefix is not None:
        key = await _aread_with_parent(conn, PartnerKey, "partner", _BY_PREFIX, [prefix])
    return _presented_key(key, presented)


# A key's row (with its partner's) by the key's prefix.
_BY_PREFIX = "c.prefix = %s"


def _prefix_of(presented: str) -> str | None:
    """The prefix of what looks like one of our keys: "bma_<8 hex digits>_<secret>", where
    the secret part may itself contain "_"."""
    presented = presented.strip()
    if not presented.startswith(KEY_START) or len(presented) >= 200:
        return None
    return "_".join(presented.split("_", 2)[:2])


def _presented_key(key: PartnerKey | None, presented: str) -> PartnerKey:
    """The key read by its prefix, if the whole of what was presented is its secret."""
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(presented.strip())):
        raise PartnerKeyInvalid()
    return key


def require_live(key: PartnerKey) -> None:
    """PartnerKeyInvalid once the key is revoked or expired, or its partner suspended."""
    expired = key.expires_at is not None and key.expires_at <= timezone.now()
    if key.revoked_at is not None or expired or not key.partner.is_active:
        raise PartnerKeyInvalid()


def require_scope(key: PartnerKey, scope: PartnerKey.Scope) -> None:
    if scope not in key.scopes:
        raise PartnerScopeMissing(
            _("This API key may not do this: it needs the scope %(scope)s.") % {"scope": scope},
            scope=str(scope),
        )


def count_partner_call(*, key: PartnerKey) -> None:
    """Count the call in the key's current minute; TooManyRequests past its limit.

    A fixed window in the shared cache (Redis in production), so every web process counts
    against the same limit."""
    now = timezone.now()
    window = f"partner-key-calls:{key.pk}:{int(now.timestamp()) // 60}"
    [calls] = count_windows([(window, 120)])  # one round trip to Redis
    if calls > key.requests_per_minute:
        raise TooManyRequests(
            _("This API key may make %(limit)d calls a minute. Please wait and try again.")
            % {"limit": key.requests_per_minute},
            retry_after=60 - now.second,
        )


# PartnerKeyUse's row written out (record_partner_call): the ORM's INSERT took about 0.7 ms of
# CPU to make, on every call of a key.
_USE_FIELDS = [f for f in PartnerKeyUse._meta.concrete_fields if not f.primary_key]
_INSERT_USE = (
    f"INSERT INTO {PartnerKeyUse._meta.db_table} ({', '.join(f.column for f in _USE_FIELDS)}) "
    f"VALUES ({', '.join(['%s'] * len(_USE_FIELDS))})"
)
_KEY_USED = f"UPDATE {PartnerKey._meta.db_table} SET last_used_at = %s WHERE id = %s"


def record_partner_call(
    *, key: PartnerKey, method: str, path: str, status_code: int, address: str | None
) -> None:
    """Write one use of a key to the audit trail, answered or refused; and when the key was
    last used, to the minute (LAST_USED_PRECISION): every call of a busy key writing its row
    would have them wait for each other's lock on it."""
    with connection.cursor() as cursor:  # use.save(), but made in a tenth of its CPU
        for sql, params in _partner_call_writes(key, method, path, status_code, address):
            cursor.execute(sql, params)


async def arecord_partner_call(
    conn: Any, *, key: PartnerKey, method: str, path: str, status_code: int, address: str | None
) -> None:
    """record_partner_call on a psycopg AsyncConnection (the lean route's), in autocommit."""
    async with conn.cursor() as cursor:
        for sql, params in _partner_call_writes(key, method, path, status_code, address):
            await cursor.execute(sql, params)


def _partner_call_writes(
    key: PartnerKey, method: str, path: str, status_code: int, address: str | None
) -> list[tuple[str, list[Any]]]:
    """record_partner_call's statements: the use, and the key's last use when it is stale (the
    key in memory is told)."""
    now = timezone.now()
    use = PartnerKeyUse(
        key=key,
        at=now,
        method=method[:10],
        path=path[:300],
        status_code=status_code,
        address=address,
    )
    writes = [
        (
            _INSERT_USE,
            [f.get_db_prep_save(getattr(use, f.attname), _database()) for f in _USE_FIELDS],
        )
    ]
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
        key.last_used_at = now
        writes.append((_KEY_USED, [_database().ops.adapt_datetimefield_value(now), key.pk]))
    return writes


def _find_person(details: PersonDetails) -> Patient | None:
    """The person by national ID (or passport and date of birth), with their account (the
    booking is made by it)."""
    return _read_with_parent(Patient, "account", *_person_where(details))


async def aperson_on_file(conn: Any, *, details: PersonDetails, verified: bool) -> Patient | None:
    """The person on file as book_for_partner finds them (_on_file), on a psycopg
    AsyncConnection (the lean route's), for the person found whose account signs in with
    their phone, or who is verified: they are read with their account in one statement. None
    for anyone else (nothing is written), and for a refusal (PersonDoesNotMatch is counted
    and audited by book_for_partner)."""
    found = await _aread_with_parent(conn, Patient, "account", *_person_where(details))
    if found is None:
        return None
    phones_account = found.account if found.account.get_username() == details.phone else None
    if found.identity_verified_at is None and phones_account is None:
        return None  # the phone's account is another, or none: read by book_for_partner
    try:
        return _on_file(found, phones_account, details, verified=verified)
    except PersonDoesNotMatch:
        return None


def _person_where(details: PersonDetails) -> tuple[str, list[Any]]:
    """_read_with_parent's condition and parameters for the person."""
    if details.national_id:
        return "c.national_id = %s", [details.national_id]
    return (
        "c.passport_number = %s AND c.date_of_birth = %s",
        [details.passport_number, _database().ops.adapt_datefield_value(details.date_of_birth)],
    )


def _account_of_phone(phone: str, found: Patient | None) -> User | None:
    """The account that signs in with `phone`: the person's own when it does (read with
    them), else looked up."""
    if found is not None and found.account.get_username() == phone:
        return found.account
    return get_user_model().objects.filter(username=phone).first()


def _find_or_register_and_book(
    details: PersonDetails, *, verified: bool, book: Callable[[Patient], Booking]
) -> Booking:
    """The person found and booked as they are (outside a transaction: the booking is the only
    write, and makes its own), or written and booked in one transaction, all or nothing."""
    found = _find_person(details)
    account = _account_of_phone(details.phone, found)
    if found is None and account is not None:
        # A registration committed between the two reads shows its account but not yet its
        # person: read again (on PostgreSQL each statement sees what is committed by then).
        found = _find_person(details)
    on_file = _on_file(found, account, details, verified=verified)
    if on_file is not None:
        return book(on_file)
    with transaction.atomic():
        return book(_written(found, account, details, verified=verified))


def _written(
    found: Patient | None, account: User | None, details: PersonDetails, *, verified: bool
) -> Patient:
    """The person _on_file left to be written: the record found, marked verified or taken into
    the phone's account; or someone new, on the phone's account or an account of their own."""
    if found is not None:
        if account is not None and found.account_id == account.pk:
            return _verified_by_partner(found)
        return _take_for_phone(found, account, details)
    if account is None:
        patient = register_account(password=None, person=details)
    else:
        patient = add_dependant(
            account=account, relationship=Patient.Relationship.OTHER, person=details
        )
    return _verified_by_partner(patient) if verified else patient


def _on_file(
    found: Patient | None, account: User | None, details: PersonDetails, *, verified: bool
) -> Patient | None:
    """The person found (`found`), to be booked as they are on file; PersonDoesNotMatch when
    they may not be booked as given; None when booking them writes first: someone new, on
    `account` (the phone's, if it has one) or on an account of their own, or someone found
    whom the partner verified and who is to be marked so or taken into the phone's
    account."""
    if found is None:
        if account is not None and not verified:
            raise PersonDoesNotMatch(reason="unverified_on_a_known_phone")
        return None
    if found.identity_verified_at is not None:
        if found.date_of_birth != details.date_of_birth:
            raise PersonDoesNotMatch(reason="birth_date_differs", patient_id=found.pk)
        return found  # their own household, whichever phone the partner gave
    if account is not None and found.account_id == account.pk:
        if found.date_of_birth != details.date_of_birth:
            raise PersonDoesNotMatch(reason="birth_date_differs", patient_id=found.pk)
        return None if verified else found
    if not verified:  # booking would land in another phone's household
        differs = found.date_of_birth != details.date_of_birth
        raise PersonDoesNotMatch(
            reason="birth_date_differs" if differs else "in_another_household",
            patient_id=found.pk,
        )
    return None


def _verified_by_partner(patient: Patient) -> Patient:
    return mark_verified(patient, by=Patient.IdentityCheck.PARTNER)


def _take_for_phone(found: Patient, account: User | None, details: PersonDetails) -> Patient:
    """Verified wins: the record nobody proved moves to the phone the partner verified."""
    if account is None:
        account, created = get_user_model().objects.get_or_create(
            username=details.phone,
            defaults={"first_name": details.first_name, "last_name": details.last_name},
        )
        if created:
            account.set_unusable_password()
            account.save(update_fields=["password"])
    has_own = Patient.objects.filter(account=account, relationship=Patient.Relationship.SELF)
    relationship = Patient.Relationship.OTHER if has_own.exists() else Patient.Relationship.SELF
    return take_over_record(
        record=found,
        account=account,
        relationship=relationship,
        by=Patient.IdentityCheck.PARTNER,
        phone=details.phone,
        person=VerifiedPerson(
            national_id=details.national_id,
            first_name=details.first_name,
            last_name=details.last_name,
            date_of_birth=details.date_of_birth,
        ),
    )


def book_for_partner(
    *,
    key: PartnerKey,
    person: PersonDetails,
    slot_id: int,
    idempotency_key: str,
    verified: bool = False,
    checked: bool = False,
) -> Booking:
    """Book a place for the person a partner names: the same engine, rules, waiting room and
    texts as a booking made by the person, marked as the partner's so that it may read and
    cancel it. All or nothing: a refused booking registers nobody. `verified` needs the
    key's people:verified scope. A person who does not match is refused as any person the
    partner may not book, and the refusal is audited once the booking is undone. `checked`:
    partner_booking_checks has let this call through already, a drive's waiting room
    included, and `person` is the details it gave (the lean route asked them)."""
    try:
        if checked:
            details = person
        else:
            details, _let_in = partner_booking_checks(
                key=key, person=person, slot_id=slot_id, verified=verified
            )
        return _book_for_partner(
            key=key,
            details=details,
            slot_id=slot_id,
            idempotency_key=idempotency_key,
            verified=verified,
        )
    except PersonDoesNotMatch as refusal:
        audit.record(
            "partner.person_refused",
            centre_id=None,
            patients=[refusal.patient_id] if refusal.patient_id else [],
            details={"reason": refusal.reason, "partner": key.partner_id},
        )
        raise


def partner_booking_checks(
    *, key: PartnerKey, person: PersonDetails, slot_id: int, verified: bool
) -> tuple[PersonDetails, bool]:
    """What a partner's booking asks before the person is looked for, in this order: the
    scope `verified` needs, the details (validated and tidied, which are returned), the
    drive's waiting room (whether its line let them in just now is returned), the key's
    refusals about people, and a phone for the texts."""
    if verified:
        require_scope(key, Scope.PEOPLE_VERIFIED)
    details = validated_person(person)
    # In a drive's waiting room the person holds one place in line, however they come.
    let_in = wait_turn_for_slot(slot_id=slot_id, account_id=partner_visitor(details))
    check_partner_refusal_rate(key_id=key.pk)  # too many refusals about people: the key waits
    if not details.phone:
        raise InvalidInput(_("A phone number is needed for the confirmation text."), field="phone")
    return details, let_in


def partner_visitor(details: PersonDetails) -> str:
    """Who the person is to a drive's waiting room, whichever partner books for them."""
    return f"person:{details.national_id or details.passport_number}"


def partner_idempotency_key(key: PartnerKey, idempotency_key: str) -> str:
    """The appointment's idempotency key for the partner's: each partner's keys apart."""
    return f"partner-{key.partner_id}:{idempotency_key}"


def _book_for_partner(
    *,
    key: PartnerKey,
    details: PersonDetails,
    slot_id: int,
    idempotency_key: str,
    verified: bool,
) -> Booking:
    def book(patient: Patient) -> Booking:
        return book_slot(
            patient=patient,
            slot_id=slot_id,
            booked_by=patient.account,
            channel=Appointment.Channel.API,
            idempotency_key=partner_idempotency_key(key, idempotency_key),
            partner=key.partner,
        )

    # The person a partner names (`details`, validated, with a phone) is found by national ID
    # (or passport and date of birth), or registered: on the account of their phone number,
    # which is also where texts go. A person found in another phone's household, or a person
    # added to a phone's household, is booked there only when the partner says it verified
    # who they are (`verified`, which needs the scope people:verified): then a record nobody
    # proved is taken into the phone's account. A verified person's bookings stay in their
    # own household whatever phone the partner gives. Every refusal about the person is the
    # same "contact a health centre", counted against the key (check_partner_refusal_rate
    # says when the key must wait).
    try:
        try:
            return _find_or_register_and_book(details, verified=verified, book=book)
        except AlreadyRegistered:
            # Another request registered this phone or ID at the same moment (a partner's
            # retries of one booking, say): its insert made ours wait until it committed, and
            # ours was undone. Find them now.
            return _find_or_register_and_book(details, verified=verified, book=book)
    except ContactHealthCentre:
        count_partner_refusal(key_id=key.pk)
        raise
