"""Shared fixtures: the real reference data, a fixed clock, and named personas."""

import copy
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timedelta
from typing import TypeVar

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.backends.base.operations import BaseDatabaseOperations
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, sync_playwright
from pytest_django import DjangoDbBlocker, Settings

from booking.api.patients import forget_alternatives
from booking.models import Appointment, Patient
from booking.services.booking_sql import forget_slot_facts
from booking.services.booking_sql.aio import forget_shared_searches
from booking.vaccination.waiting_room import forget_drives_in_surge
from clinics.audit import unsealed_for_flush
from clinics.models import District, HealthCentre, PublicHoliday, Service, StaffMembership
from clinics.selectors import forget_centre_order, forget_reference_data
from clinics.services import grant_membership, load_reference_data
from config.async_database import close_all as close_all_async_connections
from notifications.backends import sms_backend
from notifications.services.dispatch import send_due_messages
from notifications.services.outbox import forget_wake
from tests.factories import PatientFactory, SlotFactory, UserFactory, bangkok, booked
from tests.fakes.twilio_api import FakeTwilio

T = TypeVar("T")
# The longest a browser test waits for a page to be ready (it goes on as soon as it is).
READY_CEILING_MS = 120_000

# CI runs the suite twice: on the embedded default (SQLite), then on PostgreSQL and Redis.
ON_POSTGRESQL = django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


# What starts a browser, and what starts servers, workers or whole runs of its own (several
# seconds each, or minutes for a whole file): marked so that `-m "not browser and not slow"`
# is the fast suite. CI runs all.
BROWSER_FILES = ("tests/browser/", "tests/video/test_e2e_call.py", "tests/config/test_api_docs.py")
SLOW_FILES = (
    "tests/config/test_postgres_restart.py",
    "tests/config/test_deploy.py",
    "tests/config/test_forwarded_headers.py",
    "tests/config/test_procfile.py",
    "tests/config/test_redis_down.py",
    "tests/config/test_cache.py",
    "tests/notifications/test_worker.py",
    "tests/booking/test_demo.py",
    "tests/booking/test_concurrency.py",
    "tests/config/test_load_shedding.py",
    # Whole runs: every API operation fuzzed from its schema, and every route against every
    # kind of caller, each on a fresh household, drive, partner and published files.
    "tests/config/test_api_fuzz.py",
    "tests/config/test_permissions.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks `browser` and `slow` (above). Tests marked `postgresql` are about what only
    PostgreSQL has (the booking function): they belong to the PostgreSQL run, and are left out
    of the SQLite one rather than skipped."""
    for item in items:
        where = item.nodeid
        if where.startswith(BROWSER_FILES) or "in_chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
        if where.startswith(SLOW_FILES + BROWSER_FILES):
            item.add_marker(pytest.mark.slow)
    if ON_POSTGRESQL:
        return
    elsewhere = [item for item in items if item.get_closest_marker("postgresql")]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if not item.get_closest_marker("postgresql")]


# Monday 30 November 2026, 07:00 in Bangkok: a working week ahead, with the holidays of
# 5 (Saturday), 7 (Monday, in lieu) and 10 December (Thursday) in the next fortnight.
NOW = datetime(2026, 11, 30, 7, 0, tzinfo=timezone.get_fixed_timezone(7 * 60))


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def centre_order_starts_afresh() -> None:
    """Each test's centres are its own: no ranking kept from another test's rolled-back rows."""
    forget_centre_order()


@pytest.fixture(autouse=True)
def reference_data_read_afresh() -> None:
    """No service or dose series kept from another test's rolled-back rows, nor a slot's
    alternatives or facts, nor a search shared by allocations, nor a drive found full."""
    from config.lean_routes.before_engine import drives_full_at

    forget_reference_data()
    forget_alternatives()
    forget_slot_facts()
    forget_shared_searches()
    drives_full_at.clear()


@pytest.fixture(autouse=True)
def async_connections_closed() -> Iterator[None]:
    """The connections a lean route opened on its event loops are closed after each test."""
    yield
    close_all_async_connections()


@pytest.fixture(autouse=True)
def sms_stays_in_the_outbox(settings: Settings) -> None:
    """Tests send text messages by running the dispatcher themselves; nothing wakes a worker
    through the broker unless a test asks for it."""
    settings.SMS_WAKE_WORKER = False
    forget_wake()  # a wake-up another test asked for in this process
    settings.SMS_BACKEND = "console"
    settings.SMS_MAX_PER_SECOND = 0


@pytest.fixture(autouse=True)
def cache_of_its_own(settings: Settings) -> None:
    """A fresh key space in the cache for each test: the Redis one is shared by the parallel
    workers and outlives the test database, whose ids start again on the next run."""
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = uuid.uuid4().hex
    settings.CACHES = caches
    forget_drives_in_surge()  # what this process kept from the cache


@pytest.fixture
def orm_engine(settings: Settings) -> None:
    """Bookings through the ORM whatever the database: for a test that watches the ORM
    path's own steps (the booking function runs them inside one call)."""
    settings.BOOKING_ENGINE = "orm"


@pytest.fixture(scope="session", autouse=True)
def audit_trail_emptied_between_tests() -> Iterator[None]:
    """The audit trail refuses DELETE (on SQLite, unless unsealed); a transactional test's
    database is emptied after it, the trail too."""
    original = BaseDatabaseOperations.execute_sql_flush

    def flush(self: BaseDatabaseOperations, sql_list: list[str]) -> None:
        with unsealed_for_flush():
            original(self, sql_list)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseDatabaseOperations, "execute_sql_flush", flush)
        yield


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> None:
    """Load the reference data once per test database; tests roll back to it."""
    with django_db_blocker.unblock():
        load_reference_data(years=[2026, 2027])


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """Time stands at NOW; tests move it with clock.move_to(...)."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def daytime(clock: time_machine.Traveller) -> time_machine.Traveller:
    """Ten in the morning on NOW's Monday: outside quiet hours."""
    clock.move_to(bangkok(NOW.date(), time(10)))
    return clock


@pytest.fixture
def fake_twilio(settings: Settings) -> Iterator[FakeTwilio]:
    """A local stand-in for api.twilio.com, with the Twilio backend pointed at it."""
    with FakeTwilio() as fake:
        settings.SMS_BACKEND = "twilio"
        settings.TWILIO_ACCOUNT_SID = fake.account_sid
        settings.TWILIO_AUTH_TOKEN = fake.auth_token
        settings.TWILIO_MESSAGING_SERVICE_SID = fake.messaging_service_sid
        settings.TWILIO_API_BASE_URL = fake.base_url
        settings.PUBLIC_BASE_URL = "https://booking.example.go.th"
        sms_backend.cache_clear()
        yield fake
    sms_backend.cache_clear()


@pytest.fixture
def reference_data(db: None, clock: time_machine.Traveller) -> None:
    """The 50 districts, 69 centres, service catalogue and 2026-27 holidays, as in production.

    Loaded once per database; this reloads it only after a transactional test emptied it
    (four quick counts tell, where the loader itself reads every table it fills)."""
    if (
        District.objects.count() >= 50
        and HealthCentre.objects.count() >= 69
        and Service.objects.exists()
        and PublicHoliday.objects.filter(date__year=2027).exists()
    ):
        return
    load_reference_data(years=[2026, 2027])


@pytest.fixture
def centre_1(reference_data: None) -> HealthCentre:
    return HealthCentre.objects.get(number=1)


@pytest.fixture
def centre_2(reference_data: None) -> HealthCentre:
    return HealthCentre.objects.get(number=2)


@pytest.fixture
def patient(reference_data: None) -> Patient:
    """Somchai, who lives in Phra Nakhon (district 1001) and books for himself."""
    return PatientFactory(account=UserFactory(username="+66810000001"), phone="+66810000001")


@pytest.fixture
def other_patient(reference_data: None) -> Patient:
    return PatientFactory(account=UserFactory(username="+66810000002"), phone="+66810000002")


@pytest.fixture
def tomorrow_visit(patient: Patient, daytime: time_machine.Traveller) -> Appointment:
    """The patient's visit at 14:00 the day after `daytime`: one a reply by text can act on."""
    start = bangkok(NOW.date() + timedelta(days=1), time(14))
    return booked(patient, SlotFactory(start=start))


@pytest.fixture
def texted_visit(patient: Patient, clock: time_machine.Traveller) -> Appointment:
    """The patient's visit on Wednesday 2 December, booked on Monday morning, with the texts
    that were due by then sent."""
    clock.move_to(bangkok(date(2026, 11, 30), time(10)))
    appointment = booked(patient, SlotFactory(start=bangkok(date(2026, 12, 2), time(10))))
    send_due_messages()
    return appointment


def _staff(username: str, centre_number: int, role: StaffMembership.Role) -> AbstractBaseUser:
    user = UserFactory(username=username, is_staff=True)
    grant_membership(user=user, centre=HealthCentre.objects.get(number=centre_number), role=role)
    return user


@pytest.fixture
def nurse_at_centre_1(reference_data: None) -> AbstractBaseUser:
    return _staff("nurse1", 1, StaffMembership.Role.NURSE)


@pytest.fixture
def scheduler_at_centre_1(reference_data: None) -> AbstractBaseUser:
    return _staff("scheduler1", 1, StaffMembership.Role.SCHEDULER)


@pytest.fixture
def clinician_at_centre_1(reference_data: None) -> AbstractBaseUser:
    return _staff("doctor1", 1, StaffMembership.Role.CLINICIAN)


@pytest.fixture
def admin_at_centre_1(reference_data: None) -> AbstractBaseUser:
    return _staff("admin1", 1, StaffMembership.Role.CENTRE_ADMIN)


@pytest.fixture
def staff_at_centre_2(reference_data: None) -> AbstractBaseUser:
    """A centre administrator, but of centre 2: no rights at centre 1."""
    return _staff("admin2", 2, StaffMembership.Role.CENTRE_ADMIN)


@pytest.fixture
def city_admin(reference_data: None) -> AbstractBaseUser:
    return UserFactory(username="city", is_staff=True, is_superuser=True)


@pytest.fixture
def client_for() -> Callable[[AbstractBaseUser | Patient | None], Client]:
    """A test client signed in as a user (or a patient's account holder)."""

    def make(who: AbstractBaseUser | Patient | None, language: str = "en") -> Client:
        client = Client(HTTP_ACCEPT_LANGUAGE=language)
        if isinstance(who, Patient):
            who = who.account
        if who is not None:
            client.force_login(who)
        return client

    return make


def _drive_chromium(journey: Callable[[Page], T]) -> T:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page()
            # Waits are for what the page shows, with a ceiling for a loaded machine (a
            # wait ends as soon as the page is ready; only a failure waits this long).
            page.set_default_timeout(READY_CEILING_MS)
            return journey(page)
        finally:
            browser.close()


@pytest.fixture
def in_chromium() -> Callable[[Callable[[Page], T]], T]:
    """Run a journey in Debian's headless Chromium, driven by Playwright in a thread of its
    own: Playwright keeps an event loop in its thread, where Django's ORM would refuse to run."""

    def run(journey: Callable[[Page], T]) -> T:
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(_drive_chromium, journey).result()

    return run
