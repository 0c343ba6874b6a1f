"""A partner's booking on the lean route (config/lean_routes/partner.py): the same answers,
key uses and audit as Django's, through the real ASGI application.

As in test_lean_routes, each case sends the same request to an application with the lean route
and to one without, and compares status, JSON and headers; every call made with a key is
written to its uses once, whoever answers it."""

import asyncio
import itertools
import json
import uuid
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from pytest_django import Settings

from booking.interop.partners import issue_partner_key, revoke_partner_keys
from booking.models import (
    Appointment,
    Partner,
    PartnerKey,
    PartnerKeyUse,
    Patient,
    Slot,
    VaccinationDrive,
)
from booking.notices import booking_confirmation
from clinics.models import AuditEvent
from config.asgi import build_application
from notifications.models import Message
from tests.config.test_lean_routes import (
    Answer,
    Apps,
    Caller,
    _call,
    apps,
    assert_same,
    async_statements,
    call,
    caller,
    django_connections_made,
    drive_in_surge,
    expect_django,
    expect_lean,
    lean_applies,
    new_slot,
    request_headers,
    texts_made_in,
)
from tests.factories import PatientFactory, SlotFactory, UserFactory, booked, person_of

pytestmark = pytest.mark.django_db(transaction=True)
# Fixtures of test_lean_routes, used here.
__all__ = [
    "apps",
    "async_statements",
    "django_connections_made",
    "drive_in_surge",
    "texts_made_in",
]

PARTNER = "/api/v1/partner/appointments"
Scope = PartnerKey.Scope
_phones = itertools.count(1)


def on_file() -> Patient:
    """Someone on file whose account signs in with their phone (as a partner's app finds
    them: by national ID, with that phone)."""
    phone = f"+6689{next(_phones):07d}"
    return PatientFactory(account=UserFactory(username=phone), phone=phone)


@pytest.fixture
def partner(reference_data: None) -> Partner:
    return Partner.objects.create(name=f"App {uuid.uuid4()}", contact_email="api@example.org")


def key_of(partner: Partner, scopes: list[str] | None = None, **options: Any) -> Caller:
    secret = issue_partner_key(
        partner=partner, scopes=scopes or list(Scope.values), issued_by=None, **options
    ).secret
    return Caller(session_key=None, authorization=f"Bearer {secret}")


@pytest.fixture
def app(partner: Partner) -> Caller:
    """The partner's app, with a key of every scope."""
    return key_of(partner)


def booking_of(person: Patient, slot: Slot, **changes: Any) -> dict[str, Any]:
    return {"slot_id": slot.pk, "person": person_of(person, **changes)}


def uses() -> list[tuple[str, str, int]]:
    return [(use.method, use.path, use.status_code) for use in PartnerKeyUse.objects.order_by("id")]


def read_by_partner(app: Caller, appointment_id: int) -> Any:
    client = Client(HTTP_ACCEPT_LANGUAGE="en", HTTP_AUTHORIZATION=app.authorization)
    return client.get(f"{PARTNER}/{appointment_id}").json()


# --- The hot answers, given on the event loop ----------------------------------------------------


def test_a_booking_for_someone_on_file_is_201_as_django_answers_it(
    apps: Apps, app: Caller, partner: Partner
) -> None:
    first, second = on_file(), on_file()
    before = apps.route.answered

    lean = apps.lean_call(PARTNER, booking_of(first, new_slot()), app)
    django = call(apps.django, PARTNER, booking_of(second, new_slot()), app)

    expect_lean(apps, before)
    assert lean.status == django.status == 201
    assert lean.same_headers() == django.same_headers()
    assert lean.body == read_by_partner(app, lean.body["id"])
    made = Appointment.objects.get(pk=lean.body["id"])
    assert (made.partner_id, made.channel) == (partner.pk, Appointment.Channel.API)
    assert (made.patient_id, made.booked_by_id) == (first.pk, first.account_id)
    assert made.idempotency_key.startswith(f"partner-{partner.pk}:")
    assert uses() == [("POST", PARTNER, 201)] * 2 + [("GET", f"{PARTNER}/{made.pk}", 200)]


def test_the_audit_event_is_the_one_django_writes(apps: Apps, app: Caller) -> None:
    lean = apps.lean_call(PARTNER, booking_of(on_file(), new_slot()), app)
    django = call(apps.django, PARTNER, booking_of(on_file(), new_slot()), app)

    def event(answer: Answer) -> tuple[Any, ...]:
        found = AuditEvent.objects.get(action="appointment.booked", target_id=answer.body["id"])
        details = {**found.details, "slot": None}
        return found.actor_id, found.actor_kind, found.via, found.address, details

    assert event(lean) == event(django)
    assert event(lean)[2] == f"POST {PARTNER}"


def test_a_replay_is_200_with_idempotent_replayed_as_from_django(apps: Apps, app: Caller) -> None:
    body = booking_of(on_file(), new_slot())
    first = apps.lean_call(PARTNER, body, app, key="partner-replay-1")
    before = apps.route.answered

    django, lean = apps.both(PARTNER, body, app, key="partner-replay-1")

    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.body["id"]) == (200, first.body["id"])
    assert lean.headers["idempotent-replayed"] == "true"
    assert Appointment.objects.count() == 1
    assert [status for _method, _path, status in uses()] == [201, 200, 200]


def test_the_texts_are_django_s_made_once_in_the_language_they_go_in(
    apps: Apps, app: Caller, texts_made_in: list[str]
) -> None:
    first, second = on_file(), on_file()
    Patient.objects.filter(pk__in=[first.pk, second.pk]).update(preferred_language="en")

    lean = apps.lean_call(PARTNER, booking_of(first, new_slot()), app)
    made_for_lean = list(texts_made_in)
    django = call(apps.django, PARTNER, booking_of(second, new_slot()), app)

    def texts(answer: Answer) -> list[tuple[str, str, str]]:
        made = Message.objects.filter(appointment_id=answer.body["id"]).order_by("pk")
        return list(made.values_list("kind", "language", "recipient"))

    assert [text[:2] for text in texts(lean)] == [text[:2] for text in texts(django)]
    assert {text[1:] for text in texts(lean)} == {("en", first.phone)}
    confirmation = Message.objects.get(appointment_id=lean.body["id"], kind="confirmation")
    shown = Appointment.objects.select_related("slot__centre", "slot__service")
    assert confirmation.body == booking_confirmation(shown.get(pk=lean.body["id"]), "en")
    if lean_applies():
        assert made_for_lean == ["en"]  # once, where Django's book_slot makes them in both


@pytest.mark.parametrize("language", ["th", "en"])
def test_a_full_slot_is_slot_full_with_the_same_alternatives(
    apps: Apps, app: Caller, language: str
) -> None:
    lost = SlotFactory(capacity=1)
    booked(PatientFactory(), lost)
    SlotFactory(centre_id=2, start=lost.start)
    person = on_file()
    before = apps.route.answered

    django, lean = apps.both(
        PARTNER,
        booking_of(person, lost),
        Caller(None, authorization=app.authorization, language=language),
    )

    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.code) == (409, "slot_full")
    assert len(lean.body["detail"]["alternatives"]) == 1
    assert lean.headers["content-language"] == language
    assert [status for _method, _path, status in uses()] == [409, 409]


def test_a_second_place_in_the_same_slot_is_already_booked(apps: Apps, app: Caller) -> None:
    person, slot = on_file(), SlotFactory(capacity=5)
    booked(person, slot)
    before = apps.route.answered

    django, lean = apps.both(PARTNER, booking_of(person, slot), app)

    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.code) == (409, "already_booked")


def test_details_that_break_a_rule_are_answered_as_django_does(apps: Apps, app: Caller) -> None:
    body = booking_of(on_file(), new_slot(), first_name="\u200b")
    before = apps.route.answered

    django, lean = apps.both(PARTNER, body, app)

    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.body["field"]) == (422, "first_name")
    assert not Appointment.objects.exists()
    assert [status for _method, _path, status in uses()] == [422, 422]


def test_what_the_checks_must_read_is_read_in_a_thread_and_answered_here(
    apps: Apps, app: Caller
) -> None:
    """A district the process does not keep yet: the checks are asked again in a reader
    thread (on the loop they would need the database), and the lean route still answers."""
    from clinics.selectors import forget_reference_data

    forget_reference_data()
    body = booking_of(on_file(), new_slot(), district_code=1001)
    before = apps.route.answered

    answer = apps.lean_call(PARTNER, body, app)

    expect_lean(apps, before)
    assert answer.status == 201
    assert Appointment.objects.get(pk=answer.body["id"]).partner_id is not None


def test_identity_verified_without_its_scope_is_403_as_from_django(
    apps: Apps, partner: Partner
) -> None:
    who = key_of(partner, scopes=[Scope.APPOINTMENTS_WRITE])
    body = {**booking_of(on_file(), new_slot()), "identity_verified": True}
    before = apps.route.answered

    django, lean = apps.both(PARTNER, body, who)

    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.code) == (403, "partner_scope_missing")
    assert "insufficient_scope" in lean.headers["www-authenticate"]
    assert [status for _method, _path, status in uses()] == [403, 403]


def test_someone_in_a_drives_line_is_told_their_place_as_by_django(
    apps: Apps, app: Caller, drive_in_surge: VaccinationDrive
) -> None:
    slot = Slot.objects.filter(drive=drive_in_surge).first()
    assert slot is not None
    body = booking_of(on_file(), slot)
    apps.lean_call(PARTNER, body, app)  # joins the line
    before = apps.route.answered

    django, lean = apps.both(PARTNER, body, app)

    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.code) == (429, "in_queue")
    assert not Appointment.objects.exists()
    assert [status for _method, _path, status in uses()] == [429, 429, 429]


def test_a_key_past_its_calls_a_minute_is_too_many_requests(apps: Apps, partner: Partner) -> None:
    django_app, lean_app = (
        key_of(partner, requests_per_minute=1),
        key_of(partner, requests_per_minute=1),
    )
    with time_machine.travel(timezone.now().replace(second=10), tick=False):
        assert call(apps.django, PARTNER, booking_of(on_file(), new_slot()), django_app).status
        assert apps.lean_call(PARTNER, booking_of(on_file(), new_slot()), lean_app).status == 201
        before = apps.route.answered

        django = call(apps.django, PARTNER, booking_of(on_file(), new_slot()), django_app)
        lean = apps.lean_call(PARTNER, booking_of(on_file(), new_slot()), lean_app)

    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.code, lean.headers["retry-after"]) == (
        429,
        "too_many_requests",
        "50",
    )
    assert Appointment.objects.count() == 2
    assert sorted(status for _method, _path, status in uses()) == [201, 201, 429, 429]


# --- Handed to an engine thread: what needs the ORM ---------------------------------------------


def test_someone_new_is_registered_and_booked_as_django_does(apps: Apps, app: Caller) -> None:
    def someone_new() -> dict[str, Any]:
        phone = f"+6689{next(_phones):07d}"
        return booking_of(PatientFactory.build(phone=phone), new_slot())

    lean_body, django_body = someone_new(), someone_new()
    before = apps.route.answered

    lean = apps.lean_call(PARTNER, lean_body, app)
    django = call(apps.django, PARTNER, django_body, app)

    expect_lean(apps, before)
    assert lean.status == django.status == 201
    assert lean.same_headers() == django.same_headers()
    assert lean.body == read_by_partner(app, lean.body["id"])
    registered = Patient.objects.get(pk=lean.body["patient"]["id"])
    assert registered.national_id == lean_body["person"]["national_id"]
    assert registered.account.username == lean_body["person"]["phone"]
    assert [status for _method, _path, status in uses()][:2] == [201, 201]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"date_of_birth": "2001-01-01"}, "birth_date_differs"),
        ({"phone": "+66899999999"}, "in_another_household"),
    ],
)
def test_a_person_who_does_not_match_is_refused_counted_and_audited_as_by_django(
    apps: Apps, app: Caller, changes: dict[str, str], reason: str
) -> None:
    person = on_file()
    before = apps.route.answered

    django, lean = apps.both(PARTNER, booking_of(person, new_slot(), **changes), app)

    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.code) == (409, "contact_health_centre")
    refusals = AuditEvent.objects.filter(action="partner.person_refused")
    assert [event.details["reason"] for event in refusals] == [reason] * 2
    assert not Appointment.objects.exists()
    assert [status for _method, _path, status in uses()] == [409, 409]


def test_a_booking_handed_to_a_thread_is_checked_once(
    apps: Apps, app: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks (the details, a drive's waiting room, the key's refusals) are made on the
    loop, and the thread books with the details they gave, without asking again."""
    import booking.interop.partners
    import config.lean_routes.partner

    asked: list[str] = []
    check = booking.interop.partners.partner_booking_checks

    def counted(**options: Any) -> Any:
        asked.append(options["person"].national_id)
        return check(**options)

    for module in (booking.interop.partners, config.lean_routes.partner):
        monkeypatch.setattr(module, "partner_booking_checks", counted)
    phone = f"+6689{next(_phones):07d}"
    body = booking_of(PatientFactory.build(phone=phone), new_slot())
    before = apps.route.answered

    answer = apps.lean_call(PARTNER, body, app)

    expect_lean(apps, before)
    assert answer.status == 201
    assert asked == [body["person"]["national_id"]]


def test_a_person_the_partner_verified_is_marked_so_as_by_django(apps: Apps, app: Caller) -> None:
    first, second = on_file(), on_file()

    lean = apps.lean_call(
        PARTNER, {**booking_of(first, new_slot()), "identity_verified": True}, app
    )
    django = call(
        apps.django, PARTNER, {**booking_of(second, new_slot()), "identity_verified": True}, app
    )

    assert lean.status == django.status == 201
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.identity_verified_by == second.identity_verified_by == "partner"


# --- Races, arriving together on one process's event loop --------------------------------------


async def _together(app: Any, bodies: list[Any], who: Caller, keys: list[str]) -> list[Answer]:
    return list(
        await asyncio.gather(
            *(
                _call(app, PARTNER, json.dumps(body).encode(), request_headers(who, key=key))
                for body, key in zip(bodies, keys, strict=True)
            )
        )
    )


@pytest.mark.parametrize("known", [True, False], ids=["on file", "someone new"])
def test_twenty_retries_with_one_key_give_one_appointment_and_nineteen_replays(
    apps: Apps, app: Caller, known: bool
) -> None:
    phone = f"+6689{next(_phones):07d}"
    person = on_file() if known else PatientFactory.build(phone=phone)
    body = booking_of(person, new_slot(capacity=10))

    answers = asyncio.run(_together(apps.lean, [body] * 20, app, ["one-key-for-all"] * 20))

    assert sorted(answer.status for answer in answers) == [200] * 19 + [201]
    assert len({answer.body["id"] for answer in answers}) == 1
    assert Appointment.objects.count() == 1
    assert Patient.objects.filter(national_id=body["person"]["national_id"]).count() == 1
    assert len(uses()) == 20


def test_two_hundred_people_on_one_slot_at_once_wait_their_turn_rather_than_being_refused(
    settings: Settings, partner: Partner
) -> None:
    """A partner's app sends 200 people for one slot of 5 at once (a key allowed that many
    calls): exactly 5 booked, everyone else `slot_full` with the times still open."""
    settings.WEB_CAPACITY = 4
    settings.LEAN_TURNS = 4
    settings.LEAN_MAX_WAIT_SECONDS = 600  # however slow the machine: this is about the count
    settings.LEAN_ROUTES = True
    apps = Apps(lean=build_application(), django=None)
    if not lean_applies():  # Django's own shedding answers a surge there (test_load_shedding)
        assert not apps.route.engaged
        return
    app = key_of(partner, requests_per_minute=1000)
    hot = new_slot(capacity=5)
    new_slot()  # somewhere to be offered instead
    bodies = [booking_of(on_file(), hot) for _ in range(200)]

    answers = asyncio.run(_together(apps.lean, bodies, app, [uuid.uuid4().hex for _ in bodies]))

    codes = sorted(answer.code or str(answer.status) for answer in answers)
    assert (codes.count("201"), codes.count("slot_full")) == (5, 195)
    assert all(answer.body["detail"]["alternatives"] for answer in answers if answer.code)
    hot.refresh_from_db()
    assert hot.booked == 5 == hot.appointments.count()
    assert len(uses()) == 200


def test_ten_bookings_of_one_person_with_different_keys_give_one_appointment(
    apps: Apps, app: Caller
) -> None:
    body = booking_of(on_file(), new_slot(capacity=10))

    answers = asyncio.run(
        _together(apps.lean, [body] * 10, app, [f"own-key-{n:02}" for n in range(10)])
    )

    assert (
        sorted((answer.status, answer.code) for answer in answers)
        == [(201, None)] + [(409, "already_booked")] * 9
    )
    assert Appointment.objects.count() == 1
    assert Slot.objects.get(pk=body["slot_id"]).booked == 1


# --- Who answers what: Django for everything unusual --------------------------------------------


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no key", 401),
        ("a key that is not ours", 401),
        ("a revoked key", 401),
        ("a key without the scope", 403),
        ("a field breaks a rule", 422),
        ("no Idempotency-Key", 422),
        ("not JSON", 400),
        ("a session cookie with the key", 201),
    ],
)
def test_unusual_requests_are_answered_by_django_unchanged(
    apps: Apps, partner: Partner, case: str, status: int
) -> None:
    body: Any = booking_of(on_file(), new_slot())
    who, options = key_of(partner), {}
    if case == "no key":
        who = Caller(None)
    elif case == "a key that is not ours":
        who = Caller(None, authorization="Bearer bma_00000000_wrong")
    elif case == "a revoked key":
        revoke_partner_keys(key_ids=list(PartnerKey.objects.values_list("id", flat=True)))
    elif case == "a key without the scope":
        who = key_of(partner, scopes=[Scope.APPOINTMENTS_READ])
    elif case == "a field breaks a rule":
        body["slot_id"] = "soon"
    elif case == "no Idempotency-Key":
        options["key"] = None
    elif case == "not JSON":
        body = b"{not json"
    elif case == "a session cookie with the key":
        signed_in = caller(PatientFactory())
        who = Caller(signed_in.session_key, authorization=who.authorization)
    before = apps.route.answered

    django = call(apps.django, PARTNER, body, who, **options)
    if case == "a session cookie with the key":  # another person, the same answer
        body = booking_of(on_file(), new_slot())
    lean = call(apps.lean, PARTNER, body, who, **options)

    expect_django(apps, before)
    assert lean.status == django.status == status
    if status != 201:
        assert_same(django, lean)
    assert (
        len(uses())
        == len([u for u in uses() if u[2] == status])
        == (0 if case in {"no key", "a key that is not ours"} else 2)
    )


@pytest.mark.parametrize(
    "who", ["anonymous", "patient", "staff", "read-only key", "revoked key", "suspended partner"]
)
def test_the_lean_route_lets_in_and_keeps_out_whom_django_does(
    apps: Apps, partner: Partner, admin_at_centre_1: User, who: str
) -> None:
    """The permission matrix's callers, on the partner's booking through the lean route."""
    key = key_of(partner)
    callers = {
        "anonymous": lambda: caller(None),
        "patient": lambda: caller(on_file()),
        "staff": lambda: caller(admin_at_centre_1),
        "read-only key": lambda: key_of(partner, scopes=[Scope.APPOINTMENTS_READ]),
        "revoked key": lambda: key,
        "suspended partner": lambda: key,
    }
    if who == "revoked key":
        revoke_partner_keys(key_ids=list(PartnerKey.objects.values_list("id", flat=True)))
    elif who == "suspended partner":
        Partner.objects.filter(pk=partner.pk).update(is_active=False)

    django = call(apps.django, PARTNER, booking_of(on_file(), new_slot()), callers[who]())
    lean = apps.lean_call(PARTNER, booking_of(on_file(), new_slot()), callers[who]())

    assert (lean.status, lean.code) == (django.status, django.code)
    assert lean.status in {401, 403}
    assert not Appointment.objects.exists()


def test_a_key_revoked_is_refused_on_its_next_call(apps: Apps, app: Caller) -> None:
    assert apps.lean_call(PARTNER, booking_of(on_file(), new_slot()), app).status == 201

    revoke_partner_keys(key_ids=list(PartnerKey.objects.values_list("id", flat=True)))
    answer = apps.lean_call(PARTNER, booking_of(on_file(), new_slot()), app)

    assert (answer.status, answer.code) == (401, "partner_key_invalid")
    assert Appointment.objects.count() == 1


# --- What it costs ------------------------------------------------------------------------------


@pytest.mark.parametrize("slot_seen", [True, False])
def test_a_booking_for_someone_on_file_is_a_few_statements_on_the_loops_connection(
    apps: Apps,
    app: Caller,
    async_statements: list[str],
    django_connections_made: list[str],
    slot_seen: bool,
) -> None:
    """The key with its partner, the slot's facts (unless the process keeps them), the person
    with their account, the booking function, and the call's use (the key's second call in
    a minute: its last use is not written again); no connection of Django's is made (nor a
    thread's, which would make one)."""
    slot = new_slot(capacity=2)
    apps.lean_call(PARTNER, booking_of(on_file(), slot if slot_seen else new_slot()), app)
    person = on_file()
    django_connections_made.clear()
    async_statements.clear()
    before = apps.route.answered

    answer = apps.lean_call(PARTNER, booking_of(person, slot), app)

    expect_lean(apps, before)
    assert answer.status == 201
    if lean_applies():
        assert django_connections_made == []
        assert len(async_statements) == (4 if slot_seen else 5), async_statements
