"""The lean route (config/lean_routes/): the two booking operations answered in front of
Django give the same answers as Django, through the real ASGI application.

Each case sends the same request to an application with the lean route and to one without
(LEAN_ROUTES off), and compares status, JSON and headers. On PostgreSQL with Redis the lean
route answers the hot cases itself; anywhere else it must not engage at all, and every answer
is Django's."""

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.db.models import F
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from pytest_django import Settings

import config.async_database
import config.lean_routes.middleware
from booking.interop.partners import issue_partner_key
from booking.models import Appointment, Partner, PartnerKey, Patient, Slot, VaccinationDrive
from booking.notices import booking_confirmation
from booking.services.booking_sql.aio import bookings_in_flight
from booking.services.queue_events import queue_group
from booking.signed_in import account_key, keep_account, session_account_key
from booking.vaccination.drives import create_drive, release_drive
from booking.vaccination.waiting_room import admit, wait_turn_for_slot
from clinics.selectors import (
    district_by_code,
    forget_centre_order,
    ranked_centres_offering,
    service_by_code,
)
from config.asgi import build_application
from config.lean_routes import LeanRoutes
from config.load_shedding import BUSY_BODY
from notifications.models import Message
from tests.asgi_post import post
from tests.factories import PatientFactory, SlotFactory, booked, drive_fields, stock_up, vaccine

pytestmark = pytest.mark.django_db(transaction=True)

BOOK = "/api/v1/me/appointments"
ALLOCATE = "/api/v1/me/appointments/allocate"
# Headers every answer carries whoever gives it; those that change between two requests
# (a fresh CSRF cookie, the length) are compared apart.
VARYING = {"set-cookie", "content-length"}


_hours = iter(range(1000))


def new_slot(**fields: Any) -> Slot:
    """A slot an hour after the last one made: no two bookings of a test overlap."""
    made = SlotFactory(**fields)
    made.start += timedelta(hours=next(_hours) % 8)
    made.end = made.start + timedelta(minutes=15)
    made.save()
    return made


def lean_applies() -> bool:
    return connection.vendor == "postgresql" and bool(settings.REDIS_URL)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any
    cookies: list[str] = field(default_factory=list)

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None

    def same_headers(self) -> dict[str, str]:
        return {name: value for name, value in self.headers.items() if name not in VARYING}


@dataclass
class Caller:
    """Someone calling the API: a signed-in browser (session and CSRF cookies) or not."""

    session_key: str | None
    csrf: str = field(default_factory=_get_new_csrf_string)
    language: str = "en"
    authorization: str | None = None


async def _call(app: Any, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> Answer:
    start, content = await post(app, path, body, headers)
    response_headers: dict[str, str] = {}
    cookies = []
    for name, value in start["headers"]:
        name_text, value_text = name.decode().lower(), value.decode("latin1")
        if name_text == "set-cookie":
            cookies.append(value_text)
        response_headers[name_text] = value_text
    try:
        parsed = json.loads(content) if content else None
    except ValueError:
        parsed = content.decode("utf-8", "replace")
    return Answer(start["status"], response_headers, parsed, cookies)


def call(
    app: Any,
    path: str,
    body: Any,
    who: Caller,
    *,
    key: str | None = "fresh",
    csrf: bool = True,
    content_type: str = "application/json",
    extra: tuple[tuple[str, str], ...] = (),
) -> Answer:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = request_headers(who, key=key, csrf=csrf, content_type=content_type, extra=extra)
    return asyncio.run(_call(app, path, raw, headers))


def request_headers(
    who: Caller,
    *,
    key: str | None = "fresh",
    csrf: bool = True,
    content_type: str = "application/json",
    extra: tuple[tuple[str, str], ...] = (),
) -> list[tuple[bytes, bytes]]:
    cookies = [f"csrftoken={who.csrf}"]
    if who.session_key:
        cookies.append(f"{settings.SESSION_COOKIE_NAME}={who.session_key}")
    headers = [
        (b"host", b"testserver"),
        (b"content-type", content_type.encode()),
        (b"accept-language", who.language.encode()),
        (b"cookie", "; ".join(cookies).encode()),
    ]
    if csrf:
        headers.append((b"x-csrftoken", who.csrf.encode()))
    if key is not None:
        headers.append((b"idempotency-key", (uuid.uuid4().hex if key == "fresh" else key).encode()))
    if who.authorization:
        headers.append((b"authorization", who.authorization.encode()))
    headers.extend((name.encode(), value.encode()) for name, value in extra)
    return headers


def caller(who: User | Patient | None, language: str = "en") -> Caller:
    if who is None:
        return Caller(session_key=None, language=language)
    client = Client()
    client.force_login(who.account if isinstance(who, Patient) else who)
    return Caller(session_key=client.cookies[settings.SESSION_COOKIE_NAME].value, language=language)


@dataclass
class Apps:
    lean: Any  # with the lean route (when it applies here)
    django: Any  # LEAN_ROUTES off: every request through Django

    @property
    def route(self) -> LeanRoutes:
        return lean_routes_of(self.lean)

    def both(self, path: str, body: Any, who: Caller, **options: Any) -> tuple[Answer, Answer]:
        """The same request answered by Django, then by the lean application."""
        return call(self.django, path, body, who, **options), self.lean_call(
            path, body, who, **options
        )

    def lean_call(self, path: str, body: Any, who: Caller, **options: Any) -> Answer:
        return call(self.lean, path, body, who, **options)


def lean_routes_of(application: Any) -> LeanRoutes:
    """The lean route in the application's HTTP stack (behind the slot search's cache)."""
    found = application.application_mapping["http"]
    while not isinstance(found, LeanRoutes):
        found = found.app
    return found


@pytest.fixture
def apps(settings: Settings) -> Apps:
    settings.LEAN_ROUTES = False
    django = build_application()
    settings.LEAN_ROUTES = True
    lean = build_application()
    return Apps(lean=lean, django=django)


def assert_same(django: Answer, lean: Answer) -> None:
    assert (lean.status, lean.body) == (django.status, django.body)
    assert lean.same_headers() == django.same_headers()
    assert cookie_names(lean) == cookie_names(django)


def cookie_names(answer: Answer) -> list[str]:
    return sorted(cookie.split("=", 1)[0] for cookie in answer.cookies)


def answered_by_lean_route(apps: Apps, before: int) -> bool:
    return apps.route.answered > before


def expect_lean(apps: Apps, before: int) -> None:
    """The lean route answered where it applies, and never elsewhere."""
    assert answered_by_lean_route(apps, before) == lean_applies()


def expect_django(apps: Apps, before: int) -> None:
    assert not answered_by_lean_route(apps, before)


# --- Where it engages ---------------------------------------------------------------------------


def test_the_lean_route_engages_only_on_postgresql_with_redis(apps: Apps) -> None:
    assert apps.route.engaged == lean_applies()
    assert lean_routes_of(apps.django).engaged is False


# --- The hot answers: given by the lean route, the same as Django's -----------------------------


def test_a_booking_is_201_with_the_appointment_as_django_shows_it(
    apps: Apps, reference_data: None, patient: Patient
) -> None:
    who = caller(patient)
    before = apps.route.answered

    lean = apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)
    django = call(apps.django, BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)

    expect_lean(apps, before)
    assert lean.status == django.status == 201
    assert lean.same_headers() == django.same_headers()
    assert lean.headers["content-type"] == "application/json; charset=utf-8"
    shown = Client(HTTP_ACCEPT_LANGUAGE="en")
    shown.force_login(patient.account)
    assert lean.body == shown.get(f"{BOOK}/{lean.body['id']}").json()
    appointment = Appointment.objects.get(pk=lean.body["id"])
    assert appointment.channel == Appointment.Channel.API
    assert appointment.booked_by_id == patient.account_id


def test_a_booking_tells_the_centres_desks_from_the_event_loop(
    apps: Apps, reference_data: None, patient: Patient
) -> None:
    """The desks' queue page hears of the booking as from Django: the lean route sends the
    change from its own event loop once the booking has committed. (On Redis the group is
    shared with the other test processes, whose changes at the same centre are passed over.)"""
    slot = new_slot()
    who = caller(patient)
    before = apps.route.answered

    async def book_and_listen() -> tuple[Answer, dict[str, Any]]:
        layer = get_channel_layer()
        assert layer is not None
        desk = await layer.new_channel()
        await layer.group_add(queue_group(slot.centre_id), desk)
        body = json.dumps({"patient_id": patient.pk, "slot_id": slot.pk}).encode()
        answer = await _call(apps.lean, BOOK, body, request_headers(who))

        async def heard_of_it() -> dict[str, Any]:
            while True:
                message: dict[str, Any] = await layer.receive(desk)
                if message.get("appointment_id") == answer.body.get("id"):
                    return message

        heard = await asyncio.wait_for(heard_of_it(), timeout=60)
        await layer.group_discard(queue_group(slot.centre_id), desk)
        return answer, heard

    answer, heard = asyncio.run(book_and_listen())

    expect_lean(apps, before)
    assert answer.status == 201
    assert heard == {
        "type": "queue.changed",
        "appointment_id": answer.body["id"],
        "change": "booked",
    }


def test_a_replay_is_200_with_idempotent_replayed_as_from_django(
    apps: Apps, reference_data: None, patient: Patient
) -> None:
    who = caller(patient)
    body = {"patient_id": patient.pk, "slot_id": new_slot().pk}
    first = apps.lean_call(BOOK, body, who, key="replay-key-1")
    before = apps.route.answered

    django, lean = apps.both(BOOK, body, who, key="replay-key-1")

    expect_lean(apps, before)
    assert_same(django, lean)
    assert lean.status == 200
    assert lean.headers["idempotent-replayed"] == "true"
    assert lean.body["id"] == first.body["id"]
    assert Appointment.objects.count() == 1


@pytest.mark.parametrize("path", [BOOK, ALLOCATE])
def test_a_replay_is_answered_from_the_earlier_booking_without_booking_again(
    apps: Apps, reference_data: None, patient: Patient, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The function finds the key's earlier booking: it is read by its id and answered, with
    no second search or booking through the view (a retry cost three times a booking)."""
    import config.lean_routes.engine

    slot = new_slot(service=vaccine("vaccine-influenza"))
    who = caller(patient)
    body: dict[str, Any] = {"patient_id": patient.pk}
    body |= {"slot_id": slot.pk} if path == BOOK else {"service": "vaccine-influenza"}
    first = apps.lean_call(path, body, who, key="replay-read-key")
    assert first.status == 201
    django = call(apps.django, path, body, who, key="replay-read-key")

    def no_second_booking(booking: Any) -> Any:
        raise AssertionError("the booking was made again through the view")

    if lean_applies():
        monkeypatch.setattr(config.lean_routes.engine, "_book_now", no_second_booking)
    before = apps.route.answered
    replayed = apps.lean_call(path, body, who, key="replay-read-key")

    expect_lean(apps, before)
    assert_same(django, replayed)
    assert (replayed.status, replayed.body["id"]) == (200, first.body["id"])
    assert replayed.headers["idempotent-replayed"] == "true"
    assert Appointment.objects.count() == 1


@pytest.mark.parametrize("language", ["th", "en"])
def test_a_full_slot_is_slot_full_with_the_same_alternatives_in_each_language(
    apps: Apps, reference_data: None, patient: Patient, other_patient: Patient, language: str
) -> None:
    lost = SlotFactory(capacity=1)
    booked(other_patient, lost)
    SlotFactory(start=lost.start + timedelta(hours=1))
    SlotFactory(centre_id=2, start=lost.start)
    before = apps.route.answered

    django, lean = apps.both(
        BOOK, {"patient_id": patient.pk, "slot_id": lost.pk}, caller(patient, language)
    )

    expect_lean(apps, before)
    assert_same(django, lean)
    assert lean.status == 409
    assert lean.code == "slot_full"
    assert len(lean.body["detail"]["alternatives"]) == 2
    assert lean.headers["content-language"] == language
    thai = "เวลานี้เพิ่งมีผู้จองเต็มแล้ว กรุณาเลือกเวลาอื่น"
    assert (lean.body["message"] == thai) == (language == "th")


def test_a_second_place_in_the_same_slot_is_already_booked(
    apps: Apps, reference_data: None, patient: Patient
) -> None:
    slot = SlotFactory(capacity=5)
    booked(patient, slot)
    before = apps.route.answered

    django, lean = apps.both(BOOK, {"patient_id": patient.pk, "slot_id": slot.pk}, caller(patient))

    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.code) == (409, "already_booked")


def test_too_many_bookings_is_too_many_requests_with_retry_after(
    apps: Apps, reference_data: None, patient: Patient, settings: Settings
) -> None:
    settings.BOOKINGS_PER_ACCOUNT_PER_HOUR = 1
    who = caller(patient)
    apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)
    before = apps.route.answered

    django, lean = apps.both(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)

    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.code) == (429, "too_many_requests")
    assert int(lean.headers["retry-after"]) > 0


def test_a_patient_not_on_the_account_is_not_found(
    apps: Apps, reference_data: None, patient: Patient, other_patient: Patient
) -> None:
    django, lean = apps.both(
        BOOK, {"patient_id": other_patient.pk, "slot_id": new_slot().pk}, caller(patient)
    )

    assert_same(django, lean)
    assert (lean.status, lean.code) == (404, "not_found")
    assert not Appointment.objects.exists()


def test_allocate_books_the_best_slot_and_replays_as_django_does(
    apps: Apps, reference_data: None, patient: Patient
) -> None:
    flu = vaccine("vaccine-influenza")
    SlotFactory(service=flu, centre_id=40)
    home = SlotFactory(service=flu, centre_id=9)
    who = caller(patient)
    body = {"patient_id": patient.pk, "service": "vaccine-influenza"}
    before = apps.route.answered

    lean = apps.lean_call(ALLOCATE, body, who, key="allocate-key")
    django, replayed = apps.both(ALLOCATE, body, who, key="allocate-key")

    expect_lean(apps, before)
    assert (lean.status, lean.body["slot_id"]) == (201, home.pk)
    assert_same(django, replayed)
    assert replayed.headers["idempotent-replayed"] == "true"


def test_allocate_searches_in_a_thread_when_the_centres_order_is_not_kept_and_books_on_the_loop(
    apps: Apps, reference_data: None, patient: Patient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The centres' order is not kept in this process, so the candidates come from the ORM
    on an engine thread; the first is filled by someone else before it is tried: allocate's
    order moves on to the next, on the event loop."""
    import config.lean_routes.engine

    forget_centre_order()
    flu = vaccine("vaccine-influenza")
    home = SlotFactory(service=flu, centre_id=9)
    farther = SlotFactory(service=flu, centre_id=40)
    search = config.lean_routes.engine.best_open_slots
    searched_with_the_orm: list[int] = []

    def filled_meanwhile(*args: Any, **kwargs: Any) -> Any:
        found = search(*args, **kwargs)
        if not searched_with_the_orm:
            Slot.objects.filter(pk=home.pk).update(booked=F("capacity"))
        searched_with_the_orm.append(len(found))
        return found

    def no_thread(booking: Any) -> Any:
        raise AssertionError("the engine was run in a thread")

    monkeypatch.setattr(config.lean_routes.engine, "best_open_slots", filled_meanwhile)
    monkeypatch.setattr(config.lean_routes.engine, "_book_now", no_thread)
    before = apps.route.answered

    answer = apps.lean_call(
        ALLOCATE, {"patient_id": patient.pk, "service": "vaccine-influenza"}, caller(patient)
    )

    expect_lean(apps, before)
    if lean_applies():
        assert searched_with_the_orm == [2]
        assert (answer.status, answer.body["slot_id"]) == (201, farther.pk)
        assert Appointment.objects.get().slot_id == farther.pk


def test_allocate_searches_and_books_on_the_loop_once_the_centres_order_is_kept(
    apps: Apps, reference_data: None, patient: Patient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the order kept, no thread at all: the candidates are searched on the async
    connection, in the ORM's order, and a slot filled between the search and the try is
    passed over for the next."""
    import config.lean_routes.engine

    flu = vaccine("vaccine-influenza")
    home = SlotFactory(service=flu, centre_id=9)
    later_at_home = SlotFactory(service=flu, centre_id=9, start=home.start + timedelta(hours=1))
    farther = SlotFactory(service=flu, centre_id=40)
    district = district_by_code(patient.district_id) if patient.district_id else None
    ranked_centres_offering(flu, district=district, latitude=None, longitude=None)  # kept
    asearch = config.lean_routes.engine.abest_open_slots
    found_on_the_loop: list[list[int]] = []

    def fill_home() -> None:
        try:
            Slot.objects.filter(pk=home.pk).update(booked=F("capacity"))
        finally:
            connection.close()  # this thread's own connection

    async def filled_meanwhile(*args: Any, **kwargs: Any) -> Any:
        found = await asearch(*args, **kwargs)
        if not found_on_the_loop:
            await sync_to_async(fill_home, thread_sensitive=False)()
        found_on_the_loop.append([facts.slot_id for facts in found])
        return found

    def no_thread(*args: Any) -> Any:
        raise AssertionError("a thread was used")

    monkeypatch.setattr(config.lean_routes.engine, "abest_open_slots", filled_meanwhile)
    monkeypatch.setattr(config.lean_routes.engine, "_candidates", no_thread)
    monkeypatch.setattr(config.lean_routes.engine, "_book_now", no_thread)
    before = apps.route.answered

    answer = apps.lean_call(
        ALLOCATE, {"patient_id": patient.pk, "service": "vaccine-influenza"}, caller(patient)
    )

    expect_lean(apps, before)
    if lean_applies():
        assert found_on_the_loop[0] == [home.pk, later_at_home.pk, farther.pk]
        assert bookings_in_flight() == {}  # no try left counted as in flight
        assert (answer.status, answer.body["slot_id"]) in {
            (201, later_at_home.pk),
            (201, farther.pk),  # one who lost a race takes a random one of the rest
        }


@pytest.fixture
def handed_over(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The idempotency key of every booking the lean route hands over to an engine thread."""
    import config.lean_routes.engine

    seen: list[str] = []
    book_now = config.lean_routes.engine._book_now

    def counting(booking: Any) -> Any:
        seen.append(booking.idempotency_key)
        return book_now(booking)

    monkeypatch.setattr(config.lean_routes.engine, "_book_now", counting)
    return seen


def test_allocate_with_no_place_left_is_answered_as_django_does(
    apps: Apps, reference_data: None, patient: Patient, handed_over: list[str]
) -> None:
    """Answered on the event loop, once the key is found not to have booked already."""
    flu = vaccine("vaccine-influenza")
    full = SlotFactory(service=flu, centre_id=9)
    Slot.objects.filter(pk=full.pk).update(booked=F("capacity"))
    body = {"patient_id": patient.pk, "service": "vaccine-influenza"}
    before = apps.route.answered

    django, lean = apps.both(ALLOCATE, body, caller(patient))

    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.code) == (409, "no_slot_available")
    assert not Appointment.objects.exists()
    assert handed_over == []


def test_allocate_with_no_place_left_replays_the_keys_earlier_booking_as_django_does(
    apps: Apps, reference_data: None, patient: Patient, handed_over: list[str]
) -> None:
    """The key booked the last place before: answered with that booking (handed over to the
    ORM, which reads it), as Django answers, however many ask again."""
    flu = vaccine("vaccine-influenza")
    last = SlotFactory(service=flu, centre_id=9, capacity=1)
    body = {"patient_id": patient.pk, "service": "vaccine-influenza"}
    who = caller(patient)
    first = apps.lean_call(ALLOCATE, body, who, key="allocate-the-last-place")
    assert (first.status, first.body["slot_id"]) == (201, last.pk)
    handed_over.clear()

    django, lean = apps.both(ALLOCATE, body, who, key="allocate-the-last-place")

    assert_same(django, lean)
    assert lean.status == 200
    assert lean.body["id"] == first.body["id"]
    assert Appointment.objects.count() == 1
    if lean_applies():
        assert handed_over == ["allocate-the-last-place"]


@pytest.mark.parametrize("counted", [True, False])
def test_someone_let_in_to_a_sold_out_drive_is_told_drive_full_without_handing_over(
    apps: Apps,
    drive_in_surge: VaccinationDrive,
    settings: Settings,
    handed_over: list[str],
    counted: bool,
) -> None:
    """Let in, but the drive's last places went to others meanwhile: `drive_full`, as Django
    answers, from the event loop and the cache (allocate_for_account's answer); handed over
    when the drive's places are to be counted again from its slots."""
    from booking.vaccination.waiting_room import count_places_left

    settings.DRIVE_ADMIT_BURST = 100  # everyone is let in
    Slot.objects.filter(drive=drive_in_surge).update(capacity=0)
    patient = PatientFactory()
    who = caller(patient)
    body = in_line(ALLOCATE, patient, drive_in_surge)
    if counted:
        assert count_places_left(drive_id=drive_in_surge.pk) == 0
    else:
        cache.delete(f"drive-places-left:{drive_in_surge.pk}")
    before = apps.route.answered

    lean = apps.lean_call(ALLOCATE, body, who, key="let-in-too-late")
    django = call(apps.django, ALLOCATE, body, who, key="let-in-too-late")

    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.code) == (409, "drive_full")
    if lean_applies():
        assert handed_over == ([] if counted else ["let-in-too-late"])


@pytest.mark.parametrize("booked_before", [False, True])
def test_someone_let_in_to_a_sold_out_drive_is_answered_from_one_statement_as_django_does(
    apps: Apps,
    drive_in_surge: VaccinationDrive,
    settings: Settings,
    handed_over: list[str],
    async_statements: list[str],
    booked_before: bool,
) -> None:
    """booking_gate.drive_full_before_searching on the event loop: the patient and the key's
    earlier booking in one statement, no search; that booking, if any, is the answer (handed
    over to the ORM, which reads it)."""
    from booking.services.booking_sql.aio import PATIENT_AND_KEY_SQL
    from booking.vaccination.waiting_room import count_places_left

    settings.DRIVE_ADMIT_BURST = 100  # everyone is let in
    patient = PatientFactory()
    who = caller(patient)
    body = in_line(ALLOCATE, patient, drive_in_surge)
    key = "let-in-after-the-sell-out"
    if booked_before:
        first = apps.lean_call(ALLOCATE, body, who, key=key)
        assert first.status == 201
    else:  # let in before the last places went (someone new after is told at once)
        assert admit(drive_in_surge, patient.account_id).admitted
    Slot.objects.filter(drive=drive_in_surge).update(booked=F("capacity"))
    assert count_places_left(drive_id=drive_in_surge.pk) == 0
    handed_over.clear()
    async_statements.clear()
    before = apps.route.answered

    lean = apps.lean_call(ALLOCATE, body, who, key=key)
    django = call(apps.django, ALLOCATE, body, who, key=key)

    expect_lean(apps, before)
    assert_same(django, lean)
    if booked_before:
        assert (lean.status, lean.body["id"]) == (200, first.body["id"])
    else:
        assert (lean.status, lean.code) == (409, "drive_full")
    if lean_applies():
        assert async_statements == [PATIENT_AND_KEY_SQL]
        assert handed_over == ([key] if booked_before else [])


# --- The waiting room: answered from Redis, without SQL -----------------------------------------


@pytest.fixture
def drive_in_surge(
    settings: Settings, city_admin: User, clock: time_machine.Traveller
) -> VaccinationDrive:
    """A flu drive released now, with a line that lets two people in and no more."""
    settings.DRIVE_ADMIT_BURST = 2
    settings.DRIVE_ADMIT_PER_SECOND = 1
    settings.DRIVE_QUEUE_MINUTES = 10
    for number in (1, 2):
        stock_up(number, vaccine("vaccine-influenza"), 100)
    drive = create_drive(fields=drive_fields(), created_by=city_admin)
    release_drive(drive=drive)
    drive.refresh_from_db()
    clock.move_to(drive.release_at)
    for account in (-1, -2, -3):
        admit(drive, account)
    return drive


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every SQL statement run from now on, in any thread."""
    seen: list[str] = []
    original = CursorWrapper._execute_with_wrappers

    def counting(self: CursorWrapper, sql: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(sql)
        return original(self, sql, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CursorWrapper, "_execute_with_wrappers", counting)
        yield seen


@pytest.fixture
def async_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement run on a psycopg async connection (the event loop's) from now on."""
    import psycopg

    seen: list[str] = []
    execute = psycopg.AsyncCursor.execute

    async def counting(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(query))
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", counting)
    return seen


def test_someone_in_line_is_told_their_place_and_asking_again_runs_no_sql(
    apps: Apps, drive_in_surge: VaccinationDrive, statements: list[str]
) -> None:
    patient = PatientFactory()
    who = caller(patient)
    slot = Slot.objects.filter(drive=drive_in_surge).first()
    assert slot is not None
    body = {"patient_id": patient.pk, "slot_id": slot.pk}
    apps.lean_call(BOOK, body, who)  # the first poll may read what the cache lacks
    before = apps.route.answered

    django, lean = apps.both(BOOK, body, who)
    statements.clear()
    again = apps.lean_call(BOOK, body, who)

    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.code) == (429, "in_queue")
    assert lean.headers["retry-after"] == str(lean.body["detail"]["retry_after"])
    assert again.body == lean.body
    if lean_applies():
        assert statements == []
    assert not Appointment.objects.filter(patient=patient).exists()


def test_someone_in_line_for_a_sold_out_drive_is_told_drive_full(
    apps: Apps, drive_in_surge: VaccinationDrive, statements: list[str]
) -> None:
    Slot.objects.filter(drive=drive_in_surge).update(capacity=0)
    patient = PatientFactory()
    who = caller(patient)
    slot = Slot.objects.filter(drive=drive_in_surge).first()
    assert slot is not None
    body = {"patient_id": patient.pk, "slot_id": slot.pk}
    apps.lean_call(BOOK, body, who)
    before = apps.route.answered

    django, lean = apps.both(BOOK, body, who)
    statements.clear()
    apps.lean_call(BOOK, body, who)

    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.code) == (409, "drive_full")
    if lean_applies():
        assert statements == []


def test_someone_new_to_a_sold_out_drive_is_told_drive_full_without_sql_as_django_does(
    apps: Apps,
    drive_in_surge: VaccinationDrive,
    settings: Settings,
    statements: list[str],
    async_statements: list[str],
) -> None:
    """Not sent on to the engine for being inside the line's window: no number is drawn once
    the counter says no place is left (waiting_room.admit)."""
    from booking.vaccination.waiting_room import count_places_left

    settings.DRIVE_ADMIT_BURST = 100  # the window would let them in
    body = in_line(ALLOCATE, PatientFactory(), drive_in_surge)
    apps.lean_call(ALLOCATE, body, caller(PatientFactory()))  # the first poll reads the drives
    Slot.objects.filter(drive=drive_in_surge).update(booked=F("capacity"))
    assert count_places_left(drive_id=drive_in_surge.pk) == 0
    patient = PatientFactory()
    body, who = in_line(ALLOCATE, patient, drive_in_surge), caller(patient)
    statements.clear()
    async_statements.clear()
    before = apps.route.answered

    lean = apps.lean_call(ALLOCATE, body, who, key="new-after-the-sell-out")

    if lean_applies():
        assert (statements, async_statements) == ([], [])
    django = call(apps.django, ALLOCATE, body, who, key="new-after-the-sell-out")
    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.code) == (409, "drive_full")


def test_telling_someone_new_a_drive_is_full_marks_it_full_lately_in_the_process(
    apps: Apps, drive_in_surge: VaccinationDrive, settings: Settings
) -> None:
    from booking.vaccination.waiting_room import count_places_left
    from config.lean_routes import before_engine

    settings.DRIVE_ADMIT_BURST = 100
    body = in_line(ALLOCATE, PatientFactory(), drive_in_surge)
    apps.lean_call(ALLOCATE, body, caller(PatientFactory()))  # the first poll reads the drives
    assert drive_in_surge.pk not in before_engine.drives_full_at
    Slot.objects.filter(drive=drive_in_surge).update(booked=F("capacity"))
    assert count_places_left(drive_id=drive_in_surge.pk) == 0
    patient = PatientFactory()

    lean = apps.lean_call(ALLOCATE, in_line(ALLOCATE, patient, drive_in_surge), caller(patient))

    assert (lean.status, lean.code) == (409, "drive_full")
    if lean_applies():
        assert drive_in_surge.pk in before_engine.drives_full_at


def test_a_late_arrival_for_a_drive_found_full_waits_for_the_bookings_in_flight(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked about only once no booking of the process waits for a turn or is at the engine;
    a request for anything else goes on at once."""
    from types import SimpleNamespace

    from django.http import HttpResponse

    route = apps.route
    middleware = config.lean_routes.middleware
    monkeypatch.setattr(middleware, "found_drive_full_lately", lambda booking: booking == "late")

    async def scenario() -> list[str]:
        done: list[str] = []
        release = asyncio.Event()

        async def booking_in_flight() -> HttpResponse:
            await release.wait()
            done.append("booked")
            return HttpResponse(status=201)

        async def arrive(booking: str) -> None:
            await route.after_those_let_in(booking)  # type: ignore[arg-type]
            done.append(booking)

        booking = asyncio.create_task(
            route.take_turn(SimpleNamespace(let_in=True), booking_in_flight)  # type: ignore[arg-type]
        )
        await asyncio.sleep(0)  # it takes its turn, and waits at the engine
        late = asyncio.create_task(arrive("late"))
        await arrive("other")
        for _ in range(5):
            await asyncio.sleep(0)
        assert done == ["other"]  # the late arrival still waits
        release.set()
        await asyncio.gather(booking, late)
        await arrive("late")  # nothing in flight now: on at once
        return done

    assert asyncio.run(scenario()) == ["other", "booked", "late", "late"]


def test_a_late_arrival_waits_for_the_bookings_in_flight_only_so_long(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from django.http import HttpResponse

    route = apps.route
    middleware = config.lean_routes.middleware
    monkeypatch.setattr(middleware, "found_drive_full_lately", lambda booking: True)
    monkeypatch.setattr(middleware, "LATE_ARRIVAL_MAX_WAIT_SECONDS", 0.01)

    async def scenario() -> bool:
        stuck = asyncio.Event()

        async def booking_in_flight() -> HttpResponse:
            await stuck.wait()
            return HttpResponse(status=201)

        booking = asyncio.create_task(
            route.take_turn(SimpleNamespace(let_in=True), booking_in_flight)  # type: ignore[arg-type]
        )
        await asyncio.sleep(0)
        await route.after_those_let_in("late")  # type: ignore[arg-type]
        still_in_flight = not booking.done()
        stuck.set()
        await booking
        return still_in_flight

    assert asyncio.run(scenario())


# --- Everything unusual: Django's answer, the body replayed intact ------------------------------


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("not signed in", 403),  # ninja's session auth checks CSRF first
        ("not signed in, with a token", 401),
        ("no CSRF token", 403),
        ("a field breaks a rule", 422),
        ("no Idempotency-Key", 422),
        ("a short Idempotency-Key", 422),
        ("not JSON", 400),
        ("a form, not JSON", 400),
    ],
)
def test_unusual_requests_are_answered_by_django_unchanged(
    apps: Apps, reference_data: None, patient: Patient, case: str, status: int
) -> None:
    body: Any = {"patient_id": patient.pk, "slot_id": new_slot().pk}
    who = caller(patient)
    options: dict[str, Any] = {}
    if case == "not signed in":
        who = caller(None)
        options["csrf"] = False
    elif case == "not signed in, with a token":
        who = caller(None)
    elif case == "no CSRF token":
        options["csrf"] = False
    elif case == "a field breaks a rule":
        body["slot_id"] = "soon"
    elif case == "no Idempotency-Key":
        options["key"] = None
    elif case == "a short Idempotency-Key":
        options["key"] = "short"
    elif case == "not JSON":
        body = b"{not json"
    elif case == "a form, not JSON":
        body = f"patient_id={patient.pk}".encode()
        options["content_type"] = "application/x-www-form-urlencoded"
    before = apps.route.answered

    django, lean = apps.both(BOOK, body, who, **options)

    expect_django(apps, before)
    assert_same(django, lean)
    assert lean.status == status
    assert not Appointment.objects.exists()


def test_the_accounts_kept_for_sessions_are_kept_apart_for_each_secret_key(
    settings: Settings,
) -> None:
    """A session's hash depends on SECRET_KEY: a new key starts a new space of kept accounts
    (the key's tag is worked out once per key, and follows a change of it)."""
    before = account_key(7)
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    after = account_key(7)

    assert after != before
    assert after.startswith("signed-in-account:7:")


@pytest.mark.parametrize("guessed_by", ["the process", "the hint"])
def test_a_session_read_with_the_keys_of_an_account_it_was_taken_for_is_still_what_decides(
    apps: Apps, reference_data: None, patient: Patient, guessed_by: str
) -> None:
    """The process remembers which account a session was signed in as, and signing in leaves
    a hint of it in the cache (for a process new to the session), to read the session and
    that account's keys at once; should either name another account, the request is the
    session's account's all the same (and the hint is put right)."""
    from config.lean_routes.before_engine import signed_in_as

    who = caller(patient)
    assert who.session_key is not None
    hint = session_account_key(who.session_key)
    if lean_applies():
        assert cache.get(hint) == patient.account_id  # left by signing in
    first = apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)
    assert first.status == 201
    if lean_applies():
        assert signed_in_as[who.session_key] == patient.account_id
    stranger = PatientFactory()

    def taken_for_the_stranger() -> None:
        if guessed_by == "the process":
            signed_in_as[who.session_key] = stranger.account_id
        else:
            signed_in_as.clear()
            cache.set(hint, stranger.account_id)

    before = apps.route.answered
    taken_for_the_stranger()
    mine = apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)
    taken_for_the_stranger()
    theirs = apps.lean_call(BOOK, {"patient_id": stranger.pk, "slot_id": new_slot().pk}, who)

    expect_lean(apps, before)
    assert mine.status == 201
    assert Appointment.objects.get(pk=mine.body["id"]).booked_by_id == patient.account_id
    assert theirs.status == 404
    assert not Appointment.objects.filter(patient=stranger).exists()
    if lean_applies() and guessed_by == "the hint":
        assert cache.get(hint) == patient.account_id


def test_a_signed_out_session_is_not_taken_from_the_cache(
    apps: Apps, reference_data: None, patient: Patient
) -> None:
    client = Client()
    client.force_login(patient.account)
    who = Caller(session_key=client.cookies[settings.SESSION_COOKIE_NAME].value)
    client.logout()

    answer = apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)

    assert (answer.status, answer.code) == (401, "not_signed_in")


def test_a_new_password_ends_the_sessions_the_lean_route_had_taken(
    apps: Apps, reference_data: None, patient: Patient
) -> None:
    who = caller(patient)
    apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)
    patient.account.set_password("a whole new password")
    patient.account.save()

    answer = apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)

    assert (answer.status, answer.code) == (401, "not_signed_in")
    assert Appointment.objects.count() == 1


def test_a_deactivated_account_cannot_book(
    apps: Apps, reference_data: None, patient: Patient
) -> None:
    who = caller(patient)
    apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)
    patient.account.is_active = False
    patient.account.save()

    answer = apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)

    assert answer.status == 401
    assert Appointment.objects.count() == 1


def test_the_audit_event_names_the_account_the_route_and_the_address(
    apps: Apps, reference_data: None, patient: Patient
) -> None:
    from clinics.models import AuditEvent

    answer = apps.lean_call(
        BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, caller(patient)
    )

    event = AuditEvent.objects.get(action="appointment.booked", target_id=answer.body["id"])
    assert event.actor_id == patient.account_id
    assert event.actor_kind == AuditEvent.Actor.PATIENT
    assert event.via == f"POST {BOOK}"
    assert event.address == "203.0.113.7"


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ((("origin", "http://evil.example"),), 403),
        ((("origin", "http://testserver"),), 201),
        ((("x-forwarded-proto", "https"), ("referer", "https://evil.example/")), 403),
        ((("x-forwarded-proto", "https"),), 403),  # over HTTPS a Referer is required
        ((("x-forwarded-proto", "https"), ("referer", "https://testserver/book")), 201),
        ((("x-forwarded-proto", "https"), ("origin", "https://testserver")), 201),
    ],
)
def test_csrf_origin_and_referer_rules_hold_over_http_and_https(
    apps: Apps,
    reference_data: None,
    patient: Patient,
    settings: Settings,
    extra: tuple[tuple[str, str], ...],
    status: int,
) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    who = caller(patient)
    before = apps.route.answered

    lean = apps.lean_call(
        BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who, extra=extra
    )
    django = call(
        apps.django, BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who, extra=extra
    )

    assert lean.status == django.status == status
    assert lean.code == django.code
    if status == 403:
        assert lean.code == "csrf_failed"
        expect_django(apps, before)
    else:
        expect_lean(apps, before)


def test_signing_out_everywhere_else_ends_the_sessions_the_lean_route_reads(
    apps: Apps, reference_data: None, patient: Patient
) -> None:
    from booking.services.patients import end_other_sessions

    elsewhere, here = caller(patient), caller(patient)
    apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, elsewhere)

    end_other_sessions(account=patient.account, keep_session_key=here.session_key)
    signed_out = apps.lean_call(
        BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, elsewhere
    )
    still_in = apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, here)

    assert (signed_out.status, signed_out.code) == (401, "not_signed_in")
    assert still_in.status == 201


def test_with_redis_down_bookings_go_on_with_the_session_read_from_the_database(
    apps: Apps, reference_data: None, patient: Patient, settings: Settings
) -> None:
    who = caller(patient)
    caches = dict(settings.CACHES)
    if settings.REDIS_URL:  # a port nothing listens on: every read misses, as when Redis is down
        caches["default"] = {**caches["default"], "LOCATION": "redis://127.0.0.1:9/0"}
        settings.CACHES = caches
    before = apps.route.answered

    django = call(apps.django, BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)
    lean = apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)

    assert lean.status == django.status == 201
    expect_lean(apps, before)


def test_a_session_the_cache_has_lost_is_read_from_the_database(
    apps: Apps, reference_data: None, patient: Patient
) -> None:
    from django.core.cache import cache

    from booking.signed_in import session_account_key, session_store

    who = caller(patient)
    assert who.session_key is not None
    # Redis restarted: what the cache held for this session is gone. Only its keys: the cache
    # shares its Redis database with Celery's broker, and a FLUSHDB here would also drop a task
    # another test's worker has yet to take (tests/notifications/test_worker.py).
    lost = [session_account_key(who.session_key)]
    store = session_store(who.session_key)
    if hasattr(store, "cache_key"):  # sessions kept in the cache too (cached_db, with Redis)
        assert cache.get(store.cache_key) is not None
        lost.append(store.cache_key)
    cache.delete_many(lost)
    before = apps.route.answered

    answer = apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)

    assert answer.status == 201
    expect_lean(apps, before)


# --- Who may call it: the permission matrix's answers, through the lean route ------------------


@pytest.mark.parametrize("who", ["anonymous", "patient", "other patient", "staff", "partner key"])
@pytest.mark.parametrize("path", [BOOK, ALLOCATE])
def test_the_lean_route_lets_in_and_keeps_out_whom_django_does(
    apps: Apps,
    reference_data: None,
    patient: Patient,
    other_patient: Patient,
    admin_at_centre_1: User,
    who: str,
    path: str,
) -> None:
    flu = vaccine("vaccine-influenza")
    slot = SlotFactory(service=flu, capacity=10)
    SlotFactory(service=flu, capacity=10, centre_id=9)
    body = (
        {"patient_id": patient.pk, "slot_id": slot.pk}
        if path == BOOK
        else {"patient_id": patient.pk, "service": "vaccine-influenza"}
    )
    callers: dict[str, Callable[[], Caller]] = {
        "anonymous": lambda: caller(None),
        "patient": lambda: caller(patient),
        "other patient": lambda: caller(other_patient),
        "staff": lambda: caller(admin_at_centre_1),
        "partner key": lambda: Caller(
            session_key=None,
            authorization=f"Bearer {partner_key()}",
        ),
    }

    django = call(apps.django, path, body, callers[who](), key="matrix-django-key")
    lean = apps.lean_call(path, body, callers[who](), key="matrix-lean-key")

    if who == "patient":
        assert django.status == 201
        # The same patient with a new key: a second place in the same slot, or the next best.
        assert lean.status in {201, 409}
    else:
        assert lean.status == django.status
        assert lean.code == django.code
        assert lean.status in {401, 403, 404}


def partner_key() -> str:
    partner = Partner.objects.create(name=f"App {uuid.uuid4()}", contact_email="api@example.org")
    return issue_partner_key(
        partner=partner, scopes=list(PartnerKey.Scope.values), issued_by=None
    ).secret


# --- Admission: a burst waits its turn, an overload is shed -------------------------------------


async def _all_at_once(app: Any, requests: list[tuple[str, Any, Caller]]) -> list[Answer]:
    """The requests arriving together on one event loop, as a surge reaches one process."""

    def headers(who: Caller) -> list[tuple[bytes, bytes]]:
        return [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"accept-language", b"en"),
            (b"cookie", f"csrftoken={who.csrf}; sessionid={who.session_key}".encode()),
            (b"x-csrftoken", who.csrf.encode()),
            (b"idempotency-key", uuid.uuid4().hex.encode()),
        ]

    return list(
        await asyncio.gather(
            *(
                _call(app, path, json.dumps(body).encode(), headers(who))
                for path, body, who in requests
            )
        )
    )


def people_signed_in(apps: Apps, count: int) -> list[tuple[Patient, Caller]]:
    """`count` people, each signed in, whose accounts the lean route has read already."""
    people = [PatientFactory() for _ in range(count)]
    callers = [(person, caller(person)) for person in people]
    for person in people:  # as their first request would leave it
        keep_account(person.account_id)
    return callers


def test_two_hundred_people_on_one_slot_at_once_wait_their_turn_rather_than_being_refused(
    settings: Settings, reference_data: None
) -> None:
    settings.WEB_CAPACITY = 4
    settings.LEAN_TURNS = 4
    settings.LEAN_MAX_WAIT_SECONDS = 600  # however slow the machine: this is about the count
    settings.BOOKINGS_PER_ADDRESS_PER_HOUR = 1000
    settings.LEAN_ROUTES = True
    apps = Apps(lean=build_application(), django=None)
    if not lean_applies():  # Django's own shedding answers a surge there (test_load_shedding)
        assert not apps.route.engaged
        return
    hot = new_slot(capacity=5)
    new_slot()  # somewhere to be offered instead
    people = people_signed_in(apps, 200)
    requests = [(BOOK, {"patient_id": p.pk, "slot_id": hot.pk}, who) for p, who in people]

    answers = asyncio.run(_all_at_once(apps.lean, requests))

    codes = sorted(answer.code or str(answer.status) for answer in answers)
    assert codes.count("201") == 5
    assert codes.count("slot_full") == 195
    assert all(answer.body["detail"]["alternatives"] for answer in answers if answer.code)
    hot.refresh_from_db()
    assert hot.booked == 5 == hot.appointments.count()


@pytest.mark.parametrize("turns", [1, 3])
def test_more_than_the_bound_waiting_are_told_busy_as_load_shedding_tells_them(
    settings: Settings, reference_data: None, turns: int
) -> None:
    """LEAN_TURNS bookings at once, whatever Django's WEB_CAPACITY (in a surge, the more in
    flight, the more of the event loop the engine keeps), LEAN_MAX_WAITING waiting; the
    rest are refused at once."""
    settings.WEB_CAPACITY = 1
    settings.LEAN_TURNS = turns
    settings.LEAN_MAX_WAITING = 3
    settings.LEAN_MAX_WAIT_SECONDS = 600
    settings.BOOKINGS_PER_ADDRESS_PER_HOUR = 1000
    settings.LEAN_ROUTES = True
    apps = Apps(lean=build_application(), django=None)
    if not lean_applies():
        assert not apps.route.engaged
        return
    people = people_signed_in(apps, 10)
    slots = [new_slot() for _ in people]
    for slot in slots:  # each slot's drive (none) known already, as after its first request
        wait_turn_for_slot(slot_id=slot.pk, account_id=0)
    requests = [
        (BOOK, {"patient_id": p.pk, "slot_id": slot.pk}, who)
        for (p, who), slot in zip(people, slots, strict=True)
    ]

    answers = asyncio.run(_all_at_once(apps.lean, requests))

    busy = [answer for answer in answers if answer.code == "busy"]
    assert len(busy) == 10 - turns - 3  # booking, then three waiting: the rest refused at once
    assert all(answer.status == 429 for answer in busy)
    assert json.dumps(busy[0].body, ensure_ascii=False).encode() == BUSY_BODY
    assert busy[0].headers["retry-after"] == "1"
    assert busy[0].headers["connection"] == "close"
    assert sorted(answer.status for answer in answers if answer not in busy) == [201] * (turns + 3)


def test_a_booking_the_engine_would_turn_away_is_told_busy_before_anything_is_read(
    apps: Apps,
    reference_data: None,
    patient: Patient,
    monkeypatch: pytest.MonkeyPatch,
    async_statements: list[str],
) -> None:
    """An overloaded process spends nothing more on a request the engine would refuse: no
    session, account or slot is read, as Django's load shedding answers before any
    middleware. Once a turn is free, the same request books."""
    route = apps.route
    if not lean_applies():
        assert not route.engaged
        return
    reads = async_statements
    monkeypatch.setattr(
        "config.lean_routes.middleware.signed_in",
        _counted(reads, "session", config.lean_routes.middleware.signed_in),
    )
    headers = request_headers(caller(patient))
    body = json.dumps({"patient_id": patient.pk, "slot_id": new_slot().pk}).encode()

    def ask(every_turn_taken: bool) -> Answer:
        return asking(apps, BOOK, body, headers, every_turn_taken=every_turn_taken)

    refused = ask(every_turn_taken=True)

    assert (refused.status, refused.code) == (429, "busy")
    assert json.dumps(refused.body, ensure_ascii=False).encode() == BUSY_BODY
    assert reads == []
    booked = ask(every_turn_taken=False)
    assert booked.status == 201
    assert "session" in reads


def in_line(path: str, patient: Patient, drive: VaccinationDrive) -> dict[str, Any]:
    """A request for the drive's place: one of its slots (book), or its service (allocate)."""
    if path == ALLOCATE:
        return {"patient_id": patient.pk, "service": "vaccine-influenza"}
    slot = Slot.objects.filter(drive=drive).first()
    assert slot is not None
    return {"patient_id": patient.pk, "slot_id": slot.pk}


@pytest.mark.parametrize("path", [BOOK, ALLOCATE])
def test_someone_in_line_is_told_their_place_even_while_the_engine_is_full(
    apps: Apps, drive_in_surge: VaccinationDrive, path: str
) -> None:
    """The early busy is for bookings only: a poll for a drive's slot, or for a service with a
    drive in its surge, this process knows goes on to the waiting room, which tells the
    person their place from Redis."""
    route = apps.route
    if not lean_applies():
        assert not route.engaged
        return
    patient = PatientFactory()
    who = caller(patient)
    body = in_line(path, patient, drive_in_surge)
    apps.lean_call(path, body, who)  # the first poll learns the slot's drive, or the drives

    answer = asking(
        apps, path, json.dumps(body).encode(), request_headers(who), every_turn_taken=True
    )

    assert (answer.status, answer.code) == (429, "in_queue")


def test_allocate_is_told_busy_early_only_once_the_process_knows_no_drive_is_in_its_surge(
    apps: Apps, reference_data: None, patient: Patient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Book the best for me" may be for a drive's waiting room: it is told busy before
    anything is read only for a service whose drives in their surge this process keeps, and
    there are none."""
    from booking.vaccination.waiting_room import forget_drives_in_surge

    route = apps.route
    if not lean_applies():
        assert not route.engaged
        return
    who = caller(patient)
    body = json.dumps({"patient_id": patient.pk, "service": "general-checkup"}).encode()

    def ask() -> Answer:
        return asking(apps, ALLOCATE, body, request_headers(who), every_turn_taken=True)

    reads: list[str] = []
    monkeypatch.setattr(
        "config.lean_routes.middleware.signed_in",
        _counted(reads, "session", config.lean_routes.middleware.signed_in),
    )
    forget_drives_in_surge()

    not_known = ask()  # read through to the waiting room, which finds no drive
    assert (not_known.status, not_known.code, reads) == (429, "busy", ["session"])
    known = ask()

    assert (known.status, known.code, reads) == (429, "busy", ["session"])


def test_allocate_for_a_service_whose_drives_the_process_does_not_keep_now_is_not_told_busy_early(
    apps: Apps, reference_data: None, patient: Patient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service is kept in the process, but not (or no longer) its drives in their surge:
    it cannot tell whether a drive's line is open, so the request reads on to the waiting
    room rather than being refused before anything is read."""
    from booking.vaccination.waiting_room import forget_drives_in_surge

    route = apps.route
    if not lean_applies():
        assert not route.engaged
        return
    who = caller(patient)
    body = json.dumps({"patient_id": patient.pk, "service": "general-checkup"}).encode()
    reads: list[str] = []
    monkeypatch.setattr(
        "config.lean_routes.middleware.signed_in",
        _counted(reads, "session", config.lean_routes.middleware.signed_in),
    )
    service_by_code("general-checkup")  # the service is kept here
    forget_drives_in_surge()

    answer = asking(apps, ALLOCATE, body, request_headers(who), every_turn_taken=True)

    assert (answer.status, answer.code, reads) == (429, "busy", ["session"])


@pytest.mark.parametrize("path", [BOOK, ALLOCATE])
def test_asking_in_line_again_is_one_round_trip_to_the_cache_and_joining_it_two(
    apps: Apps, drive_in_surge: VaccinationDrive, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone new in line: the session with the account and the line's keys (the account the
    session's hint names, left by signing in; the process keeps the drive in its surge), then
    their number drawn, two commands to Redis. Asking again, the session is read with the
    account's and the line's keys, in one. A session with no hint is read, then its account's
    keys, and its hint is left for the next process it reaches."""
    if not lean_applies():
        assert not apps.route.engaged
        return
    import redis

    patient = PatientFactory()
    who = caller(patient)
    body = in_line(path, patient, drive_in_surge)
    first = apps.lean_call(path, body, who)  # a number in line drawn; the drive learnt
    sent: list[Any] = []
    send = redis.connection.Connection.send_packed_command

    def counting(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(command)
        return send(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counting)
    before = apps.route.answered

    again = apps.lean_call(path, body, who)

    expect_lean(apps, before)
    assert (again.status, again.code) == (429, "in_queue")
    assert again.body["detail"]["position"] == first.body["detail"]["position"]
    assert len(sent) == 1

    newcomer = PatientFactory()
    signed_in = caller(newcomer)
    sent.clear()
    joined = apps.lean_call(path, {**body, "patient_id": newcomer.pk}, signed_in)

    assert (joined.status, joined.code) == (429, "in_queue")
    assert joined.body["detail"]["position"] == first.body["detail"]["position"] + 1
    assert len(sent) == 2  # and a number drawn, in one command

    unhinted = PatientFactory()
    without = caller(unhinted)
    assert without.session_key is not None
    cache.delete(session_account_key(without.session_key))
    sent.clear()
    joined = apps.lean_call(path, {**body, "patient_id": unhinted.pk}, without)

    assert (joined.status, joined.code) == (429, "in_queue")
    assert len(sent) == 4  # the session, the account's keys, the hint kept, the number drawn
    assert cache.get(session_account_key(without.session_key)) == unhinted.account_id


def asking(
    apps: Apps,
    path: str,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    every_turn_taken: bool,
) -> Answer:
    """The lean application's answer with every engine turn taken and as many waiting as
    may (or with a turn free)."""
    route = apps.route

    async def ask() -> Answer:
        route._semaphore = asyncio.Semaphore(0 if every_turn_taken else 1)
        route._loop = asyncio.get_running_loop()
        route.waiting = route.max_waiting if every_turn_taken else 0
        try:
            return await _call(apps.lean, path, body, headers)
        finally:
            route.waiting = 0

    return asyncio.run(ask())


def _counted(seen: list[str], name: str, function: Any) -> Any:
    async def counted(*args: Any, **kwargs: Any) -> Any:
        seen.append(name)
        return await function(*args, **kwargs)

    return counted


def test_django_load_shedding_counts_the_lean_routes_bookings_in_flight(
    apps: Apps, reference_data: None, patient: Patient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import config.lean_routes.engine

    shedder = apps.route.shedder
    assert shedder is not None
    seen: list[int] = []
    book_now, abook_slot = config.lean_routes.engine._book_now, config.lean_routes.engine.abook_slot

    def counting(booking: Any) -> Any:  # the engine in a thread
        seen.append(shedder.in_flight)
        return book_now(booking)

    async def acounting(*args: Any, **kwargs: Any) -> Any:  # the booking function on the loop
        seen.append(shedder.in_flight)
        return await abook_slot(*args, **kwargs)

    monkeypatch.setattr(config.lean_routes.engine, "_book_now", counting)
    monkeypatch.setattr(config.lean_routes.engine, "abook_slot", acounting)

    answer = apps.lean_call(
        BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, caller(patient)
    )

    assert answer.status == 201
    assert seen == ([1] if lean_applies() else [])
    assert shedder.in_flight == 0


def test_booking_a_given_slot_is_done_on_the_event_loop_without_a_thread(
    apps: Apps, reference_data: None, patient: Patient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import config.lean_routes.engine

    def no_thread(booking: Any) -> Any:
        raise AssertionError("the engine was run in a thread")

    monkeypatch.setattr(config.lean_routes.engine, "_book_now", no_thread)
    before = apps.route.answered

    answer = apps.lean_call(
        BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, caller(patient)
    )

    expect_lean(apps, before)
    assert answer.status == 201
    assert Appointment.objects.get().pk == answer.body["id"]


def test_a_slot_new_to_the_process_is_read_with_the_patient_then_booked_in_one_call(
    apps: Apps, reference_data: None, patient: Patient, async_statements: list[str]
) -> None:
    """Two statements on the event loop's connection for an ordinary booking: the slot's facts
    (the waiting room asks for its drive first) with the patient, then the booking function;
    the patient is not read a second time."""
    from booking.services.booking_sql.aio import SLOT_AND_PATIENT_SQL
    from booking.services.booking_sql.call import CALL_SQL

    seen = async_statements
    # The first booking reads the service and centre, which the process then keeps.
    apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, caller(patient))
    seen.clear()
    before = apps.route.answered

    answer = apps.lean_call(
        BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, caller(patient)
    )

    expect_lean(apps, before)
    assert answer.status == 201
    if lean_applies():
        assert [sql for sql in seen if "nextval" not in sql] == [SLOT_AND_PATIENT_SQL, CALL_SQL]


@pytest.fixture
def django_connections_made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The aliases of the connections Django makes from now on (each request on the event
    loop is a context of its own, where asking Django's `connection` anything makes a new
    connection object, about 30 µs)."""
    from django.db import connections

    made: list[str] = []
    make = connections.create_connection

    def counted(alias: str) -> Any:
        made.append(alias)
        return make(alias)

    # Opening the route's own connection asks Django for its parameters: each test's request
    # runs on a loop of its own, so it opens one each time (a web process opens a few, once).
    opening = config.async_database._parameters()
    monkeypatch.setattr(config.async_database, "_parameters", lambda: dict(opening))
    monkeypatch.setattr(connections, "create_connection", counted)
    return made


def test_an_ordinary_booking_on_the_event_loop_makes_no_django_connection(
    apps: Apps, reference_data: None, patient: Patient, django_connections_made: list[str]
) -> None:
    """The lean route books a slot it knows without a connection of Django's, on its own
    async connection."""
    apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, caller(patient))
    slot = new_slot(capacity=2)
    apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": slot.pk}, caller(patient))
    other = PatientFactory()  # the slot's facts are kept now
    django_connections_made.clear()
    before = apps.route.answered

    answer = apps.lean_call(BOOK, {"patient_id": other.pk, "slot_id": slot.pk}, caller(other))

    expect_lean(apps, before)
    assert answer.status == 201
    if lean_applies():
        assert django_connections_made == []


@pytest.fixture
def texts_made_in(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The languages the booking function's texts are made in, as they are made."""
    import booking.services.booking_sql.call as calls

    made: list[str] = []
    make = calls.booked_fields

    def counting(appointment: Any, recipient: Any, **options: Any) -> Any:
        made.append(recipient.language)
        return make(appointment, recipient, **options)

    monkeypatch.setattr(calls, "booked_fields", counting)
    return made


@pytest.fixture
def texts_made(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The appointments the booking function's texts are made for, as they are made."""
    import booking.services.booking_sql.call as calls

    made: list[int] = []
    make = calls.booked_fields

    def counting(appointment: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(appointment.pk)
        return make(appointment, *args, **kwargs)

    monkeypatch.setattr(calls, "booked_fields", counting)
    return made


def test_a_refusal_of_a_slot_read_full_makes_no_texts_and_a_place_freed_since_books_with_them(
    apps: Apps,
    reference_data: None,
    patient: Patient,
    monkeypatch: pytest.MonkeyPatch,
    texts_made: list[int],
) -> None:
    """Most of what a hot slot's refusal cost was making texts that were never written: a
    slot read full has none made. Read full but free by the call (a cancellation in between),
    the booking is made with its texts all the same."""
    import config.lean_routes.engine as engine
    import config.lean_routes.middleware as middleware

    slot = new_slot(capacity=1)
    first = apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": slot.pk}, caller(patient))
    assert first.status == 201
    other = PatientFactory()
    texts_made.clear()
    before = apps.route.answered

    refused = apps.lean_call(BOOK, {"patient_id": other.pk, "slot_id": slot.pk}, caller(other))

    expect_lean(apps, before)
    assert (refused.status, refused.code) == (409, "slot_full")
    if lean_applies():
        assert texts_made == []
    read, read_with_slot = engine.apatient_and_room, middleware.aslot_facts_and_patient

    async def read_full(*args: Any, **kwargs: Any) -> Any:
        found = await read(*args, **kwargs)
        return None if found is None else (*found[:2], True)

    async def read_with_slot_full(*args: Any, **kwargs: Any) -> Any:
        found = await read_with_slot(*args, **kwargs)
        if found is None or found[1] is None:
            return found
        return found[0], (*found[1][:2], True)

    monkeypatch.setattr(engine, "apatient_and_room", read_full)
    monkeypatch.setattr(middleware, "aslot_facts_and_patient", read_with_slot_full)

    handed_over: list[Any] = []
    monkeypatch.setattr(engine, "_book_now", handed_over.append)
    free = new_slot()

    booked = apps.lean_call(BOOK, {"patient_id": other.pk, "slot_id": free.pk}, caller(other))

    assert booked.status == 201
    assert handed_over == []  # asked again with the texts, on the loop
    assert texts_written(booked) == ["confirmation"]


def texts_written(booked: Answer) -> list[str]:
    """The kinds of the texts written with a booking the answer made, in order."""
    texts = Message.objects.filter(appointment_id=booked.body["id"]).order_by("pk")
    return list(texts.values_list("kind", flat=True))


def _full_slot_found_full(apps: Apps) -> Slot:
    """A slot of one place, its place taken through the lean route (which finds it full)."""
    slot = new_slot(capacity=1)
    holder = PatientFactory()
    taken = apps.lean_call(BOOK, {"patient_id": holder.pk, "slot_id": slot.pk}, caller(holder))
    assert taken.status == 201
    return slot


def test_a_refusal_of_a_slot_found_full_lately_is_one_statement_and_answered_as_django_does(
    apps: Apps, reference_data: None, patient: Patient, async_statements: list[str]
) -> None:
    """In a burst on one slot nearly every answer is a refusal: once the process has found the
    slot full, the patient is read and the function asked (without texts) in one statement,
    and the limits are counted after it; the answer is Django's."""
    from booking.services.booking_sql.aio import PATIENT_AND_NO_TEXTS_CALL_SQL

    slot = _full_slot_found_full(apps)
    async_statements.clear()
    before = apps.route.answered

    django, lean = apps.both(BOOK, {"patient_id": patient.pk, "slot_id": slot.pk}, caller(patient))

    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.code) == (409, "slot_full")
    if lean_applies():
        assert [sql for sql in async_statements if "nextval" not in sql] == [
            PATIENT_AND_NO_TEXTS_CALL_SQL
        ]


def test_a_slot_found_full_lately_with_a_place_freed_since_is_booked_with_its_texts(
    apps: Apps, reference_data: None, patient: Patient, async_statements: list[str]
) -> None:
    from booking.services.booking_sql.aio import PATIENT_AND_NO_TEXTS_CALL_SQL
    from booking.services.booking_sql.call import CALL_SQL

    slot = _full_slot_found_full(apps)
    Slot.objects.filter(pk=slot.pk).update(capacity=2)
    async_statements.clear()
    before = apps.route.answered

    lean = apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": slot.pk}, caller(patient))

    expect_lean(apps, before)
    assert lean.status == 201
    assert texts_written(lean) == ["confirmation"]
    if lean_applies():
        assert [sql for sql in async_statements if "nextval" not in sql] == [
            PATIENT_AND_NO_TEXTS_CALL_SQL,
            CALL_SQL,
        ]


def test_a_slot_found_full_lately_still_answers_a_stranger_and_the_limits_as_django_does(
    apps: Apps,
    reference_data: None,
    patient: Patient,
    other_patient: Patient,
    settings: Settings,
) -> None:
    """Someone not on the account is not found (the function is not asked), and the limits,
    counted after the function's refusal, answer as when counted before it."""
    slot = _full_slot_found_full(apps)

    django, lean = apps.both(
        BOOK, {"patient_id": other_patient.pk, "slot_id": slot.pk}, caller(patient)
    )

    assert_same(django, lean)
    assert (lean.status, lean.code) == (404, "not_found")
    settings.BOOKINGS_PER_ACCOUNT_PER_HOUR = 1
    who = caller(patient)
    apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)
    before = apps.route.answered

    django, lean = apps.both(BOOK, {"patient_id": patient.pk, "slot_id": slot.pk}, who)

    expect_lean(apps, before)
    assert_same(django, lean)
    assert (lean.status, lean.code) == (429, "too_many_requests")
    assert Appointment.objects.filter(slot=slot).count() == 1


def test_a_booking_made_while_another_of_the_slot_is_in_flight_has_its_texts_all_the_same(
    apps: Apps,
    reference_data: None,
    patient: Patient,
    monkeypatch: pytest.MonkeyPatch,
    texts_made: list[int],
) -> None:
    """A burst on one slot: a booking that starts while another of the slot is in flight in
    the process is called without texts, and, finding a place free, made with them."""
    import config.lean_routes.engine as engine
    from booking.services.booking_sql import aio

    handed_over: list[Any] = []
    monkeypatch.setattr(engine, "_book_now", handed_over.append)
    slot = new_slot(capacity=2)
    before = apps.route.answered
    monkeypatch.setitem(aio._trying, slot.pk, 1)  # another booking of the slot, in flight

    booked = apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": slot.pk}, caller(patient))

    expect_lean(apps, before)
    assert booked.status == 201
    assert texts_written(booked) == ["confirmation"]
    if lean_applies():
        assert handed_over == []  # asked again with the texts, on the loop
        assert texts_made == [booked.body["id"]]  # made once: when the function asked for them


def test_a_booking_makes_its_texts_once_in_the_language_they_go_in(
    apps: Apps, reference_data: None, patient: Patient, texts_made_in: list[str]
) -> None:
    """A child without a phone of their own: the texts go to the account holder, in the
    holder's language, and the lean route makes them in that language only."""
    patient.preferred_language = "en"
    patient.save(update_fields=["preferred_language"])
    child = PatientFactory(
        account=patient.account,
        relationship=Patient.Relationship.CHILD,
        phone="",
        preferred_language="th",
    )
    before = apps.route.answered

    answer = apps.lean_call(
        BOOK, {"patient_id": child.pk, "slot_id": new_slot().pk}, caller(patient)
    )

    expect_lean(apps, before)
    assert answer.status == 201
    appointment = Appointment.objects.select_related("slot__centre", "slot__service").get(
        pk=answer.body["id"]
    )
    confirmation = Message.objects.get(appointment=appointment, kind=Message.Kind.CONFIRMATION)
    assert (confirmation.recipient, confirmation.language) == (patient.phone, "en")
    assert confirmation.body == booking_confirmation(appointment, "en")
    if lean_applies():
        assert texts_made_in == ["en"]


def test_a_course_of_several_doses_is_handed_to_the_orm_and_answered_as_django_does(
    apps: Apps, reference_data: None, patient: Patient, other_patient: Patient
) -> None:
    """The booking function leaves a course to the ORM path, having written nothing: the
    lean route books it in a thread, once, with the later doses held, as Django does."""
    hepatitis_b = vaccine("vaccine-hepatitis-b")
    first, other = new_slot(service=hepatitis_b), new_slot(service=hepatitis_b)
    for days in range(20, 60):
        SlotFactory(service=hepatitis_b, start=first.start + timedelta(days=days))
        SlotFactory(service=hepatitis_b, start=other.start + timedelta(days=days))
    before = apps.route.answered

    lean = apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": first.pk}, caller(patient))
    django = call(
        apps.django,
        BOOK,
        {"patient_id": other_patient.pk, "slot_id": other.pk},
        caller(other_patient),
    )

    expect_lean(apps, before)
    assert lean.status == django.status == 201
    assert lean.body["dose_number"] == django.body["dose_number"] == 1
    assert Appointment.objects.filter(slot=first, patient=patient).count() == 1
    held = Appointment.objects.filter(patient=patient).count()
    assert held > 1  # the later doses, held with the first
    assert held == Appointment.objects.filter(patient=other_patient).count()


def test_a_replay_handed_to_a_thread_counts_against_the_limits_once(
    apps: Apps, reference_data: None, patient: Patient, settings: Settings
) -> None:
    """A replay is read back with the ORM in a thread: the booking limits the loop counted
    are not counted again there (two requests within a limit of two)."""
    settings.BOOKINGS_PER_ACCOUNT_PER_HOUR = 2
    who = caller(patient)
    body = {"patient_id": patient.pk, "slot_id": new_slot().pk}
    first = apps.lean_call(BOOK, body, who, key="replay-key-limits")
    before = apps.route.answered

    replay = apps.lean_call(BOOK, body, who, key="replay-key-limits")

    expect_lean(apps, before)
    assert (first.status, replay.status) == (201, 200)
    assert replay.body["id"] == first.body["id"]
    third = apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)
    assert (third.status, third.code) == (429, "too_many_requests")


def test_the_lean_route_serves_the_addresses_of_the_two_ninja_operations() -> None:
    from django.urls import reverse

    from config.lean_routes import ALLOCATE_PATH, BOOK_PATH

    assert reverse("api:book") == BOOK_PATH
    assert reverse("api:allocate") == ALLOCATE_PATH


def test_a_database_failure_before_the_engine_is_answered_by_django(
    apps: Apps, reference_data: None, patient: Patient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    import config.lean_routes.before_engine

    def unreachable(user_id: int) -> None:
        raise OperationalError("the server closed the connection")

    who = caller(patient)
    monkeypatch.setattr(config.lean_routes.before_engine, "cached_account", lambda *a, **k: None)
    monkeypatch.setattr(config.lean_routes.before_engine, "keep_account", unreachable)
    before = apps.route.answered

    answer = apps.lean_call(BOOK, {"patient_id": patient.pk, "slot_id": new_slot().pk}, who)

    assert answer.status == 201  # Django's own stack, with its own connection, booked it
    expect_django(apps, before)


def test_people_not_seen_yet_beyond_the_bound_are_told_busy_rather_than_queued_without_end(
    settings: Settings, reference_data: None
) -> None:
    settings.WEB_CAPACITY = 1
    settings.LEAN_TURNS = 1
    settings.LEAN_MAX_WAITING = 2
    settings.LEAN_ROUTES = True
    apps = Apps(lean=build_application(), django=None)
    if not lean_applies():
        assert not apps.route.engaged
        return
    people = [(person, caller(person)) for person in PatientFactory.create_batch(6)]
    requests = [(BOOK, {"patient_id": p.pk, "slot_id": new_slot().pk}, who) for p, who in people]
    cache.delete_many([account_key(person.account_id) for person, _ in people])

    # Nobody's account has been read yet: each needs the database before anything else.
    answers = asyncio.run(_all_at_once(apps.lean, requests))

    codes = sorted(answer.code or str(answer.status) for answer in answers)
    assert codes == ["201", "201", "busy", "busy", "busy", "busy"]
    assert apps.route.reading == 0


def test_people_a_drives_line_let_in_wait_for_their_turn_rather_than_being_told_busy(
    settings: Settings, drive_in_surge: VaccinationDrive
) -> None:
    """The line has said it is their turn, and bounds how many it lets in: someone let in is
    not told `busy` (to ask again at the back of the engine's queue) however long the wait
    looks or is. Ordinary bookings are, in the same process (below)."""
    settings.WEB_CAPACITY = 1
    settings.LEAN_TURNS = 1
    settings.LEAN_MAX_WAITING = 100
    settings.LEAN_MAX_WAIT_SECONDS = 0
    settings.BOOKINGS_PER_ADDRESS_PER_HOUR = 1000
    settings.DRIVE_ADMIT_BURST = 10  # the line lets in everyone below
    settings.DRIVE_ADMIT_PER_SECOND = 0
    settings.LEAN_ROUTES = True
    apps = Apps(lean=build_application(), django=None)
    if not lean_applies():
        assert not apps.route.engaged
        return
    apps.route.engine_seconds = 1.0  # as if each booking had lately taken a second
    people = people_signed_in(apps, 5)
    in_line = [
        (ALLOCATE, {"patient_id": p.pk, "service": "vaccine-influenza"}, w) for p, w in people
    ]

    answers = asyncio.run(_all_at_once(apps.lean, in_line))

    assert [(a.status, a.code) for a in answers] == [(201, None)] * 5
    ordinary = [(BOOK, {"patient_id": p.pk, "slot_id": new_slot().pk}, w) for p, w in people]
    refused = asyncio.run(_all_at_once(apps.lean, ordinary))
    assert "busy" in {answer.code for answer in refused}


def test_a_wait_expected_longer_than_the_limit_is_told_busy_at_once(
    settings: Settings, reference_data: None
) -> None:
    settings.WEB_CAPACITY = 1
    settings.LEAN_TURNS = 1
    settings.LEAN_MAX_WAIT_SECONDS = 2
    settings.BOOKINGS_PER_ADDRESS_PER_HOUR = 1000
    settings.LEAN_ROUTES = True
    apps = Apps(lean=build_application(), django=None)
    if not lean_applies():
        assert not apps.route.engaged
        return
    apps.route.engine_seconds = 1.0  # as if each booking had lately taken a second
    people = people_signed_in(apps, 6)
    slots = [new_slot() for _ in people]
    for slot in slots:
        wait_turn_for_slot(slot_id=slot.pk, account_id=0)
    requests = [
        (BOOK, {"patient_id": p.pk, "slot_id": slot.pk}, who)
        for (p, who), slot in zip(people, slots, strict=True)
    ]

    answers = asyncio.run(_all_at_once(apps.lean, requests))

    # One at the engine; two more expected within two seconds wait; the rest are refused.
    codes = sorted(answer.code or str(answer.status) for answer in answers)
    assert codes == ["201", "201", "201", "busy", "busy", "busy"]
