"""Partner API keys: issued in the admin, scoped, rate-limited, revocable, every use audited;
and what partners do with them: search, book, read and cancel for people they identify."""

import asyncio
from dataclasses import replace
from datetime import date, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from booking.interop.partners import (
    _find_person,
    apartner_key_for,
    aperson_on_file,
    issue_partner_key,
    partner_key_for,
    revoke_partner_keys,
)
from booking.models import Appointment, Partner, PartnerKey, PartnerKeyUse, Patient
from booking.services.identity import verify_identity_at_desk
from booking.services.patients import details_of
from clinics.models import AuditEvent
from config.async_database import AsyncConnections
from notifications.models import Message
from tests.factories import PatientFactory, SlotFactory, bangkok, booked, national_id

pytestmark = pytest.mark.django_db

TUESDAY = date(2026, 12, 1)
Scope = PartnerKey.Scope
ALL_SCOPES = list(Scope.values)


@pytest.fixture
def super_app(reference_data) -> Partner:
    return Partner.objects.create(name="กรุงเทพฯ super-app", contact_email="api@example.org")


def key_for(partner: Partner, scopes=None, **options) -> str:
    return issue_partner_key(
        partner=partner, scopes=scopes or ALL_SCOPES, issued_by=None, **options
    ).secret


def call(secret: str | None, method: str, path: str, body: dict | None = None, **headers):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    if secret is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    if method == "get":
        return client.get(f"/api/v1{path}", body or {}, **headers)
    return client.post(f"/api/v1{path}", body or {}, content_type="application/json", **headers)


def person(**overrides) -> dict:
    return {
        "first_name": "มาลี",
        "last_name": "ศรีสุข",
        "date_of_birth": "1990-04-02",
        "sex": "female",
        "phone": "089 123 4567",
        "national_id": national_id(),
        "preferred_language": "th",
        **overrides,
    }


def book_verified(secret: str, slot_id: int, who: dict, key: str = "booking-0001"):
    return call(
        secret,
        "post",
        "/partner/appointments",
        {"slot_id": slot_id, "person": who, "identity_verified": True},
        HTTP_IDEMPOTENCY_KEY=key,
    )


def book(secret: str, slot_id: int, who: dict, key: str = "booking-0001"):
    return call(
        secret,
        "post",
        "/partner/appointments",
        {"slot_id": slot_id, "person": who},
        HTTP_IDEMPOTENCY_KEY=key,
    )


# Keys


def test_a_key_is_kept_only_as_a_hash_and_named_by_its_prefix(super_app):
    issued = issue_partner_key(partner=super_app, scopes=[Scope.APPOINTMENTS_READ], issued_by=None)

    stored = PartnerKey.objects.get()
    assert issued.secret.startswith(stored.prefix + "_")
    assert issued.secret not in str(PartnerKey.objects.values().get())
    assert len(issued.secret) > 40


@pytest.mark.parametrize(
    ("presented", "code"),
    [(None, "partner_key_missing"), ("bma_00000000_wrong", "partner_key_invalid")],
)
def test_a_call_without_a_good_key_is_refused_with_what_to_do(super_app, presented, code):
    key_for(super_app)

    response = call(presented, "get", "/partner/appointments")

    assert response.status_code == 401
    assert response.json()["code"] == code
    assert (
        "Authorization: Bearer" in response.json()["message"]
        or "new key" in response.json()["message"]
    )
    assert not PartnerKeyUse.objects.exists()


@pytest.mark.parametrize(
    ("presented", "challenge"),
    [
        (None, 'Bearer realm="BMA health centre booking"'),
        (
            "bma_00000000_wrong",
            'Bearer realm="BMA health centre booking", error="invalid_token", '
            'error_description="The key is not valid: mistyped, revoked or expired"',
        ),
    ],
)
def test_a_401_challenges_for_a_bearer_key_as_rfc_6750_has_it(super_app, presented, challenge):
    response = call(presented, "get", "/partner/slots")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == challenge


def test_a_key_without_the_scope_is_told_which_scope_in_the_challenge(super_app):
    secret = key_for(super_app, scopes=[Scope.AVAILABILITY_READ])

    response = call(secret, "get", "/partner/appointments")

    assert response.status_code == 403
    assert response["WWW-Authenticate"] == (
        'Bearer realm="BMA health centre booking", error="insufficient_scope", '
        'scope="appointments:read"'
    )


def test_a_revoked_or_expired_key_or_a_suspended_partner_stops_working(super_app, clock):
    revoked = issue_partner_key(partner=super_app, scopes=ALL_SCOPES, issued_by=None)
    expiring = key_for(super_app, expires_at=timezone.now() + timedelta(hours=1))
    suspended = key_for(Partner.objects.create(name="Old platform", is_active=False))
    revoke_partner_keys(key_ids=[revoked.key.pk])
    clock.shift(timedelta(hours=2))

    for secret in (revoked.secret, expiring, suspended):
        response = call(secret, "get", "/partner/appointments")
        assert response.status_code == 401, secret
        assert response.json()["code"] == "partner_key_invalid"
    # A leaked old key being tried is what the audit trail is for.
    assert PartnerKeyUse.objects.filter(status_code=401).count() == 3


def test_a_key_without_the_scope_is_refused_and_the_refusal_audited(super_app):
    secret = key_for(super_app, scopes=[Scope.AVAILABILITY_READ])

    response = call(secret, "get", "/partner/appointments")

    assert response.status_code == 403
    assert response.json()["code"] == "partner_scope_missing"
    assert "appointments:read" in response.json()["message"]
    use = PartnerKeyUse.objects.get()
    assert (use.method, use.path, use.status_code) == ("GET", "/api/v1/partner/appointments", 403)


def test_a_key_is_held_to_its_calls_per_minute(super_app, clock):
    secret = key_for(super_app, requests_per_minute=2)

    answers = [call(secret, "get", "/partner/appointments").status_code for _ in range(3)]
    clock.shift(timedelta(minutes=1))
    next_minute = call(secret, "get", "/partner/appointments")

    assert answers == [200, 200, 429]
    assert next_minute.status_code == 200
    assert list(PartnerKeyUse.objects.order_by("pk").values_list("status_code", flat=True)) == [
        200,
        200,
        429,
        200,
    ]


def test_the_limit_is_per_key(super_app):
    first, second = key_for(super_app, requests_per_minute=1), key_for(super_app)

    call(first, "get", "/partner/appointments")

    assert call(first, "get", "/partner/appointments").status_code == 429
    assert call(second, "get", "/partner/appointments").status_code == 200
    assert call(second, "get", "/partner/appointments").status_code == 200


def test_every_use_records_when_and_from_where(super_app, clock):
    secret = key_for(super_app)

    call(secret, "get", "/partner/appointments", REMOTE_ADDR="203.0.113.9")

    use = PartnerKeyUse.objects.get()
    assert use.address == "203.0.113.9"
    assert use.at == timezone.now()
    assert PartnerKey.objects.get().last_used_at == timezone.now()


def fields_of(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_a_key_and_a_person_are_read_as_the_orm_reads_them(super_app, patient, other_patient):
    """partner_key_for and _find_person write their statement out (the ORM's took ten times
    the CPU to make): what they give must be what select_related gives, values converted."""
    secret = key_for(super_app, expires_at=timezone.now() + timedelta(days=30))
    travelling = PatientFactory(national_id="", passport_number="AB1234567")

    key = partner_key_for(secret)
    expected = PartnerKey.objects.select_related("partner").get()
    assert fields_of(key) == fields_of(expected)
    assert fields_of(key.partner) == fields_of(expected.partner)
    assert isinstance(key.scopes, list)
    for someone in (patient, other_patient, travelling):
        found = _find_person(details_of(someone))
        expected_person = Patient.objects.select_related("account").get(pk=someone.pk)
        assert fields_of(found) == fields_of(expected_person)
        assert fields_of(found.account) == fields_of(expected_person.account)
    assert _find_person(replace(details_of(travelling), date_of_birth=date(1900, 1, 1))) is None


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_on_the_lean_routes_connection_a_key_and_a_person_are_read_as_the_orm_reads_them(
    super_app, patient
):
    """apartner_key_for and aperson_on_file, on an async connection of the lean route's
    (whose driver parses JSON itself): the same instances as select_related's."""
    secret = key_for(super_app, expires_at=timezone.now() + timedelta(days=30))
    Patient.objects.filter(pk=patient.pk).update(risk_groups=["pregnant"])
    details = details_of(patient)

    async def read() -> tuple[PartnerKey, Patient | None]:
        async with AsyncConnections(1).connection() as conn:
            key = await apartner_key_for(conn, secret)
            person = await aperson_on_file(conn, details=details, verified=False)
            return key, person

    key, found = asyncio.run(read())

    expected = PartnerKey.objects.select_related("partner").get()
    assert fields_of(key) == fields_of(expected)
    assert fields_of(key.partner) == fields_of(expected.partner)
    assert isinstance(key.scopes, list)
    assert found is not None
    expected_person = Patient.objects.select_related("account").get(pk=patient.pk)
    assert fields_of(found) == fields_of(expected_person)
    assert fields_of(found.account) == fields_of(expected_person.account)
    assert found.risk_groups == ["pregnant"]


def test_when_a_key_was_last_used_is_kept_to_the_minute(super_app, clock):
    secret = key_for(super_app)
    first = timezone.now()

    call(secret, "get", "/partner/appointments")
    clock.shift(timedelta(seconds=59))
    call(secret, "get", "/partner/appointments")

    assert PartnerKey.objects.get().last_used_at == first  # not written again
    assert PartnerKeyUse.objects.count() == 2  # every use is

    clock.shift(timedelta(seconds=1))
    call(secret, "get", "/partner/appointments")

    assert PartnerKey.objects.get().last_used_at == first + timedelta(minutes=1)


# What partners do


def test_a_partner_searches_open_times(super_app):
    SlotFactory(start=bangkok(TUESDAY, time(9)))

    response = call(
        key_for(super_app, scopes=[Scope.AVAILABILITY_READ]),
        "get",
        "/partner/slots",
        {"service": "general-checkup"},
    )

    assert response.status_code == 200
    assert response.json()["count"] >= 1


def test_a_partner_books_for_a_new_person_who_is_registered_and_texted(super_app):
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    who = person()

    response = book(key_for(super_app), slot.pk, who)

    assert response.status_code == 201, response.content
    appointment = Appointment.objects.get()
    assert appointment.partner == super_app
    assert response.json()["id"] == appointment.pk
    patient = appointment.patient
    assert patient.national_id == who["national_id"]
    assert patient.relationship == Patient.Relationship.SELF
    assert patient.account.get_username() == "+66891234567"
    assert not patient.account.has_usable_password()
    assert Message.objects.filter(appointment=appointment, recipient="+66891234567").exists()
    [audited] = AuditEvent.objects.filter(action="appointment.booked")
    assert (audited.actor_kind, audited.actor_name) == ("partner", super_app.name)
    assert audited.details["partner_key"] == PartnerKey.objects.get().prefix


def test_a_retry_with_the_same_idempotency_key_books_nothing_more(super_app):
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    secret, who = key_for(super_app), person()

    first = book(secret, slot.pk, who)
    again = book(secret, slot.pk, who)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert Appointment.objects.count() == 1


def test_a_known_person_is_found_by_national_id_and_a_mismatch_changes_nothing(super_app, patient):
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    secret = key_for(super_app)
    same = person(
        national_id=patient.national_id,
        date_of_birth=patient.date_of_birth.isoformat(),
        phone=patient.phone,
    )
    wrong_birthday = person(national_id=patient.national_id, date_of_birth="2001-01-01")

    refused = book(secret, slot.pk, wrong_birthday, key="booking-0002")
    accepted = book(secret, slot.pk, same)

    assert refused.status_code == 409
    assert refused.json()["code"] == "contact_health_centre"
    assert refused.json()["field"] is None
    assert accepted.status_code == 201
    assert Appointment.objects.get().patient == patient
    assert Patient.objects.filter(national_id=patient.national_id).count() == 1


def test_a_birth_date_mismatch_answers_as_any_person_the_partner_may_not_book_and_is_audited(
    super_app, patient
):
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    secret = key_for(super_app)
    on_file = person(national_id=patient.national_id, date_of_birth="2001-01-01")
    # Someone the partner may not book for another reason: not on file, on a known phone,
    # and not verified by the partner.
    not_theirs = person(phone=patient.phone)

    mismatch = book(secret, slot.pk, on_file, key="booking-0003")
    other = book(secret, slot.pk, not_theirs, key="booking-0004")

    assert mismatch.status_code == other.status_code == 409
    assert mismatch.json() == other.json()  # nothing says an ID is on file
    assert "date_of_birth" not in mismatch.content.decode()
    refusals = AuditEvent.objects.filter(action="partner.person_refused").order_by("pk")
    assert [event.details["reason"] for event in refusals] == [
        "birth_date_differs",
        "unverified_on_a_known_phone",
    ]
    assert refusals[0].patients == [patient.pk]
    assert refusals[0].actor_kind == "partner"
    assert refusals[1].patients == []
    assert not Appointment.objects.exists()


def test_someone_else_on_a_known_phone_is_added_to_that_account_when_the_partner_verified_them(
    super_app, patient
):
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))

    response = book_verified(key_for(super_app), slot.pk, person(phone=patient.phone))

    assert response.status_code == 201
    added = Appointment.objects.get().patient
    assert added.account == patient.account
    assert added.relationship == Patient.Relationship.OTHER
    assert added.identity_verified_by == Patient.IdentityCheck.PARTNER
    [event] = AuditEvent.objects.filter(action="patient.identity_verified")
    assert (event.actor_kind, event.details["by"]) == ("partner", "partner")


def test_nobody_joins_a_phones_household_unless_the_partner_verified_them(super_app, patient):
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))

    response = book(key_for(super_app), slot.pk, person(phone=patient.phone))

    assert response.status_code == 409
    assert response.json()["code"] == "contact_health_centre"
    assert Patient.objects.filter(account=patient.account).count() == 1


def test_saying_a_person_is_verified_needs_its_own_scope(super_app, patient):
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    secret = key_for(super_app, scopes=[Scope.APPOINTMENTS_WRITE])

    response = book_verified(secret, slot.pk, person(phone=patient.phone))

    assert response.status_code == 403
    assert response.json()["detail"]["scope"] == "people:verified"
    assert not Appointment.objects.exists()


def test_a_squatted_id_is_not_booked_into_the_squatters_household(super_app, patient):
    """Someone registered the person's ID as their dependant: a partner booking for the person
    on their own phone neither lands there nor texts the squatter."""
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    victim = person(phone="089 123 4567")
    PatientFactory(
        account=patient.account,
        relationship=Patient.Relationship.OTHER,
        national_id=victim["national_id"],
        date_of_birth=date(1990, 4, 2),
        phone="",
    )

    refused = book(key_for(super_app), slot.pk, victim)

    assert refused.status_code == 409
    assert refused.json()["code"] == "contact_health_centre"
    assert not Appointment.objects.exists()


def test_a_verified_person_takes_their_id_back_from_a_squatter(super_app, patient):
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    victim = person(phone="089 123 4567")
    squatted = PatientFactory(
        account=patient.account,
        relationship=Patient.Relationship.OTHER,
        national_id=victim["national_id"],
        date_of_birth=date(1990, 4, 2),
        phone="",
    )

    response = book_verified(key_for(super_app), slot.pk, victim)

    assert response.status_code == 201, response.content
    squatted.refresh_from_db()
    assert squatted.account.get_username() == "+66891234567"
    assert squatted.relationship == Patient.Relationship.SELF
    assert squatted.identity_verified_by == Patient.IdentityCheck.PARTNER
    appointment = Appointment.objects.get()
    assert appointment.patient == squatted
    texts = Message.objects.filter(appointment=appointment)
    assert set(texts.values_list("recipient", flat=True)) == {"+66891234567"}
    told = Message.objects.get(kind=Message.Kind.RECORD_MOVED)
    assert told.recipient == patient.phone


def test_a_verified_persons_bookings_stay_in_their_own_household(super_app, patient, other_patient):
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    verify_identity_at_desk(patient=patient, centre_id=1)
    same = person(
        national_id=patient.national_id,
        date_of_birth=patient.date_of_birth.isoformat(),
        phone=other_patient.phone,
    )

    response = book_verified(key_for(super_app), slot.pk, same)

    assert response.status_code == 201
    appointment = Appointment.objects.get()
    assert appointment.patient == patient
    patient.refresh_from_db()
    assert patient.account.get_username() == "+66810000001"
    recipients = set(Message.objects.values_list("recipient", flat=True))
    assert recipients == {patient.phone}


def test_a_key_refused_too_often_waits(super_app, patient, settings):
    settings.PARTNER_PERSON_REFUSALS_PER_KEY_PER_HOUR = 2
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    secret = key_for(super_app)

    answers = [
        book(secret, slot.pk, person(phone=patient.phone), key=f"booking-{n}").status_code
        for n in range(3)
    ]
    fresh = book(secret, slot.pk, person(phone="089 555 0000"), key="booking-9")

    assert answers == [409, 409, 429]
    assert fresh.status_code == 429
    assert int(fresh["Retry-After"]) > 0


def test_a_refused_booking_registers_nobody(super_app):
    full = SlotFactory(start=bangkok(TUESDAY, time(9)), capacity=1)
    booked(PatientFactory(), full)
    accounts_before = get_user_model().objects.count()

    response = book(key_for(super_app), full.pk, person())

    assert response.status_code == 409
    assert response.json()["code"] == "slot_full"
    assert "alternatives" in response.json()["detail"]
    assert get_user_model().objects.count() == accounts_before
    assert Patient.objects.count() == 1


def test_bad_person_details_get_a_clear_error(super_app):
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))

    no_phone = book(key_for(super_app), slot.pk, person(phone=""))
    bad_id = book(key_for(super_app), slot.pk, person(national_id="1234"))

    assert no_phone.status_code == 422
    assert no_phone.json()["field"] == "phone"
    assert bad_id.status_code == 422
    assert bad_id.json()["field"] == "national_id"
    assert not Appointment.objects.exists()


def test_a_partner_reads_and_cancels_only_what_it_booked(super_app, patient):
    other = Partner.objects.create(name="Another platform")
    secret, others = key_for(super_app), key_for(other)
    mine = book(secret, SlotFactory(start=bangkok(TUESDAY, time(9))).pk, person()).json()
    direct = booked(patient, SlotFactory(start=bangkok(TUESDAY, time(10))))

    listed = call(secret, "get", "/partner/appointments", {"date_from": "2026-11-30"})
    not_theirs = call(others, "get", f"/partner/appointments/{mine['id']}")
    not_booked_by_partner = call(secret, "get", f"/partner/appointments/{direct.pk}")
    cancelled = call(secret, "post", f"/partner/appointments/{mine['id']}/cancel", {})

    assert [item["id"] for item in listed.json()] == [mine["id"]]
    assert not_theirs.status_code == 404
    assert not_booked_by_partner.status_code == 404
    assert call(others, "post", f"/partner/appointments/{mine['id']}/cancel", {}).status_code == 404
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert (
        Appointment.objects.get(pk=mine["id"]).cancellation_reason
        == "Cancelled through a partner app"
    )


def test_a_list_longer_than_a_quarter_is_refused(super_app):
    response = call(
        key_for(super_app),
        "get",
        "/partner/appointments",
        {"date_from": "2026-12-01", "date_to": "2027-06-01"},
    )

    assert response.status_code == 422
    assert response.json()["field"] == "date_to"


# The admin


def test_a_city_admin_issues_a_key_once_and_revokes_it(super_app, city_admin, client_for):
    admin = client_for(city_admin)

    issued = admin.post(
        "/admin/booking/partnerkey/add/",
        {
            "partner": super_app.pk,
            "label": "production",
            "scopes": [Scope.APPOINTMENTS_READ],
            "requests_per_minute": 60,
        },
        follow=True,
    )

    key = PartnerKey.objects.get()
    shown = [str(message) for message in issued.context["messages"]]
    secret = next(word for text in shown for word in text.split() if word.startswith(key.prefix))
    assert key.created_by == city_admin
    assert key.scopes == [Scope.APPOINTMENTS_READ]
    assert call(secret, "get", "/partner/appointments").status_code == 200
    assert secret not in admin.get(f"/admin/booking/partnerkey/{key.pk}/change/").content.decode()

    admin.post(
        "/admin/booking/partnerkey/",
        {"action": "revoke", "_selected_action": [key.pk]},
    )
    assert call(secret, "get", "/partner/appointments").status_code == 401
    assert admin.get("/admin/booking/partnerkeyuse/").status_code == 200


def test_centre_staff_cannot_issue_keys(super_app, nurse_at_centre_1, client_for):
    nurse_at_centre_1.is_staff = True
    nurse_at_centre_1.save()

    response = client_for(nurse_at_centre_1).get("/admin/booking/partnerkey/add/")

    assert response.status_code == 403


def test_the_api_documents_the_partner_endpoints_and_their_key(reference_data):
    schema = Client().get("/api/v1/openapi.json").json()

    assert "/api/v1/partner/appointments" in schema["paths"]
    post = schema["paths"]["/api/v1/partner/appointments"]["post"]
    assert post["security"] == [{"PartnerKeyAuth": []}]
    assert schema["components"]["securitySchemes"]["PartnerKeyAuth"]["scheme"] == "bearer"


def test_an_id_someone_registered_as_their_own_goes_to_the_verified_person(super_app, patient):
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    victim = person(
        national_id=patient.national_id,
        date_of_birth=patient.date_of_birth.isoformat(),
        phone="089 123 4567",
    )

    response = book_verified(key_for(super_app), slot.pk, victim)

    assert response.status_code == 201, response.content
    patient.refresh_from_db()
    assert patient.account.get_username() == "+66891234567"
    assert patient.relationship == Patient.Relationship.SELF
    assert patient.phone == "+66891234567"
    assert not Patient.objects.filter(account__username="+66810000001").exists()
    assert Message.objects.get(kind=Message.Kind.RECORD_MOVED).recipient == "+66810000001"


def test_a_person_registered_between_the_two_look_ups_is_found_not_refused(
    super_app, patient, monkeypatch
):
    # On PostgreSQL a concurrent registration can commit after the look-up of the person and
    # before that of the phone's account: the person then seems new on a known phone.
    from booking.interop import partners

    real = partners._find_person
    looks = []

    def committed_after_the_first_look(details):
        looks.append(details)
        return None if len(looks) == 1 else real(details)

    monkeypatch.setattr(partners, "_find_person", committed_after_the_first_look)
    slot = SlotFactory(start=bangkok(TUESDAY, time(9)))
    same = person(
        national_id=patient.national_id,
        date_of_birth=patient.date_of_birth.isoformat(),
        phone=patient.phone,
    )

    answer = book(key_for(super_app), slot.pk, same)

    assert answer.status_code == 201, answer.content
    assert Appointment.objects.get().patient == patient
