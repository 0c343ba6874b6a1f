"""The waiting room in front of a drive's release, and what someone who loses a slot sees."""

from datetime import date, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.cache import cache, caches
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from pytest_django import Settings

from booking.exceptions import DriveFull, InQueue
from booking.models import Appointment, Slot, VaccinationDrive
from booking.services.appointments import cancel_appointment
from booking.vaccination.drives import create_drive, release_drive
from booking.vaccination.waiting_room import (
    ADMISSION_LEASE_SECONDS,
    PLACES_RECONCILE_SECONDS,
    Admission,
    admit,
    count_places_left,
    every_drive_sold_out,
    has_places,
    line_keys,
    places_left_in_slots,
    slot_drive_key,
    some_drive_read_sold_out,
    wait_turn_for_slot,
)
from tests.factories import (
    PatientFactory,
    SlotFactory,
    book_through_api,
    booked,
    drive_fields,
    stock_up,
    vaccine,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def slow_line(settings: Settings) -> None:
    settings.DRIVE_ADMIT_BURST = 2
    settings.DRIVE_ADMIT_PER_SECOND = 1
    settings.DRIVE_QUEUE_MINUTES = 10


@pytest.fixture
def drive(city_admin: User, clock: time_machine.Traveller) -> VaccinationDrive:
    """The default flu drive, open from 10:00 today; the clock stands at 10:00."""
    for number in (1, 2):
        stock_up(number, vaccine("vaccine-influenza"), 100)
    made = create_drive(fields=drive_fields(), created_by=city_admin)
    release_drive(drive=made)
    made.refresh_from_db()
    clock.move_to(made.release_at)
    return made


def bookings_commit(drive: VaccinationDrive, count: int, capture) -> None:
    """`count` people (let in earlier) book places in the drive, and their bookings commit."""
    slots = iter(Slot.objects.filter(drive=drive).order_by("start", "pk"))
    with capture(execute=True):
        for _ in range(count):
            booked(PatientFactory(date_of_birth=date(1950, 1, 1)), next(slots))


@pytest.fixture
def adaptive_line(settings: Settings) -> None:
    settings.DRIVE_ADMIT_BURST = 2
    settings.DRIVE_ADMIT_PER_SECOND = 0
    settings.DRIVE_QUEUE_MINUTES = 10


def test_people_are_let_in_in_arrival_order_as_bookings_commit_not_at_a_fixed_rate(
    adaptive_line: None,
    drive: VaccinationDrive,
    clock: time_machine.Traveller,
    django_capture_on_commit_callbacks,
) -> None:
    first, second, third, fourth = (admit(drive, account) for account in (11, 12, 13, 14))

    assert [a.admitted for a in (first, second, third, fourth)] == [True, True, False, False]
    assert (third.position, third.ahead) == (3, 1)
    assert (fourth.position, fourth.ahead) == (4, 2)
    assert admit(drive, 14).position == 4  # asking again keeps one's place

    clock.shift(timedelta(seconds=5))  # time alone lets nobody in
    assert not admit(drive, 13).admitted
    bookings_commit(drive, 1, django_capture_on_commit_callbacks)
    assert admit(drive, 13).admitted
    assert not admit(drive, 14).admitted
    bookings_commit(drive, 1, django_capture_on_commit_callbacks)
    assert admit(drive, 14).admitted


def test_a_quick_engine_lets_the_line_through_as_fast_as_it_books(
    adaptive_line: None,
    drive: VaccinationDrive,
    clock: time_machine.Traveller,
    django_capture_on_commit_callbacks,
) -> None:
    for account in range(40):
        admit(drive, account)
    clock.shift(timedelta(seconds=100))

    bookings_commit(drive, 30, django_capture_on_commit_callbacks)  # all in the same second

    assert [admit(drive, account).admitted for account in (30, 31, 32)] == [True, True, False]


def test_the_window_grows_to_what_books_in_a_cycle_at_twice_the_speed_so_far(
    adaptive_line: None, drive: VaccinationDrive, django_capture_on_commit_callbacks
) -> None:
    """30 bookings in the first second: 120 more than have booked are let in (two seconds
    from being let in to booking, at 60 a second), not 2, since people let in book only
    when they next ask."""
    for account in range(200):
        admit(drive, account)

    bookings_commit(drive, 30, django_capture_on_commit_callbacks)

    assert [admit(drive, account).admitted for account in (148, 149, 150)] == [True, True, False]
    assert admit(drive, 199).ahead == 200 - 150


def test_in_the_first_seconds_nobody_is_told_to_wait_longer_than_the_drive_has_been_open(
    adaptive_line: None, drive: VaccinationDrive, clock: time_machine.Traveller
) -> None:
    """With no bookings yet the line's speed is a guess (a window a lease: 0.2 a second
    here), which would send the 40th in line away for 190 s: they are asked back within a
    second, then within the time the drive has been open."""
    for account in range(40):
        admit(drive, account)

    assert admit(drive, 39).retry_after == 1
    clock.shift(timedelta(seconds=12))
    assert admit(drive, 39).retry_after == 12


def test_someone_behind_more_people_than_places_left_is_not_asked_back_sooner_for_it(
    adaptive_line: None, drive: VaccinationDrive, clock: time_machine.Traveller
) -> None:
    """More people ahead than places left: only people giving up ahead would let them in,
    which no speed of the line changes, so the first seconds' bound on the wait is not theirs
    (the line's own guess stands, up to 30 s)."""
    count_places_left(drive_id=drive.pk)
    cache.set(f"drive-places-left:{drive.pk}", 30)
    for account in range(40):
        admit(drive, account)

    assert admit(drive, 39).retry_after == 30  # 38 ahead of 30 places
    assert admit(drive, 20).retry_after == 1  # 19 ahead: within the time open, as before


def test_people_are_asked_back_as_if_the_line_moved_twice_as_fast_as_bookings_commit(
    adaptive_line: None,
    drive: VaccinationDrive,
    clock: time_machine.Traveller,
    django_capture_on_commit_callbacks,
) -> None:
    for account in range(50):
        admit(drive, account)
    clock.shift(timedelta(seconds=100))
    bookings_commit(drive, 30, django_capture_on_commit_callbacks)  # 0.3 a second so far

    waiting = admit(drive, 44)

    assert waiting.ahead == 45 - (2 + 30)
    assert waiting.retry_after == 22  # 13 ahead at 0.6 a second (at 0.3, 44 s)


def test_the_ceiling_on_admissions_a_second_holds_when_set(
    adaptive_line: None,
    drive: VaccinationDrive,
    clock: time_machine.Traveller,
    settings: Settings,
    django_capture_on_commit_callbacks,
) -> None:
    settings.DRIVE_ADMIT_PER_SECOND = 1
    for account in range(10):
        admit(drive, account)
    bookings_commit(drive, 6, django_capture_on_commit_callbacks)

    assert [admit(drive, account).admitted for account in (0, 1, 2)] == [True, True, False]
    assert admit(drive, 2).retry_after == 1
    clock.shift(timedelta(seconds=1))
    assert [admit(drive, account).admitted for account in (2, 3)] == [True, False]


def test_someone_let_in_who_never_books_holds_their_turn_for_a_lease_at_most(
    adaptive_line: None, drive: VaccinationDrive, clock: time_machine.Traveller
) -> None:
    for account in range(5):
        admit(drive, account)

    clock.shift(timedelta(seconds=ADMISSION_LEASE_SECONDS - 1))
    assert not admit(drive, 2).admitted
    clock.shift(timedelta(seconds=1))
    assert [admit(drive, account).admitted for account in (2, 3, 4)] == [True, True, False]


def test_a_cancellation_in_the_drive_gives_its_place_back_to_the_counter(
    adaptive_line: None, drive: VaccinationDrive, django_capture_on_commit_callbacks
) -> None:
    left = count_places_left(drive_id=drive.pk)
    slot = Slot.objects.filter(drive=drive).earliest("start")
    with django_capture_on_commit_callbacks(execute=True):
        visit = booked(PatientFactory(date_of_birth=date(1950, 1, 1)), slot)
    assert cache.get(f"drive-places-left:{drive.pk}") == left - 1

    with django_capture_on_commit_callbacks(execute=True):
        cancel_appointment(appointment=visit)

    assert cache.get(f"drive-places-left:{drive.pk}") == left


def test_releasing_a_drive_counts_its_places_in_the_cache(
    city_admin: User, clock: time_machine.Traveller, django_capture_on_commit_callbacks
) -> None:
    for number in (1, 2):
        stock_up(number, vaccine("vaccine-influenza"), 100)
    made = create_drive(fields=drive_fields(), created_by=city_admin)

    with django_capture_on_commit_callbacks(execute=True):
        released = release_drive(drive=made)

    assert released.places > 0
    assert cache.get(f"drive-places-left:{made.pk}") == released.places


class CountingCache:
    """Counts the calls made to the cache (with Redis, each one a round trip), not the calls a
    backend makes to itself inside one (the in-memory cache's get_many calls get)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        self.depth = 0
        backend = caches["default"]
        for name in ("get", "get_many", "set", "add", "incr", "get_or_set", "delete"):
            monkeypatch.setattr(backend, name, self.counting(name, getattr(backend, name)))

    def counting(self, name: str, method):
        def call(*args, **kwargs):
            if not self.depth:
                self.calls.append(name)
            self.depth += 1
            try:
                return method(*args, **kwargs)
            finally:
                self.depth -= 1

        return call


def test_a_poll_in_line_costs_no_database_work_and_a_few_cache_round_trips(
    adaptive_line: None,
    drive: VaccinationDrive,
    monkeypatch: pytest.MonkeyPatch,
    django_assert_num_queries,
) -> None:
    slot = Slot.objects.filter(drive=drive).earliest("start")
    for account in range(3):
        admit(drive, account)
    with pytest.raises(InQueue):  # warm-up: the drive, the slot and the counter are looked up
        wait_turn_for_slot(slot_id=slot.pk, account_id=2)
    counted = CountingCache(monkeypatch)

    with django_assert_num_queries(0), pytest.raises(InQueue) as waiting:
        wait_turn_for_slot(slot_id=slot.pk, account_id=2)

    assert waiting.value.detail["position"] == 3
    # The places left are read with the line, in the same round trip; the drives in their
    # surge are kept in the process for a second.
    assert counted.calls == ["get", "get_many"]


def test_a_drive_slot_is_kept_in_the_cache_for_the_polls_and_a_slot_of_no_drive_is_not(
    drive: VaccinationDrive,
) -> None:
    """Every poll in a surge asks for its slot's drive; nobody polls for a slot of no drive,
    so writing that one to the cache on each booking would save nothing."""
    drive_slot = Slot.objects.filter(drive=drive).earliest("start")
    plain = SlotFactory()

    wait_turn_for_slot(slot_id=plain.pk, account_id=2)  # no drive: straight through
    wait_turn_for_slot(slot_id=drive_slot.pk, account_id=2)  # one of the first: let in

    assert cache.get(slot_drive_key(plain.pk)) is None
    assert cache.get(slot_drive_key(drive_slot.pk)) == (drive_slot.service_id, drive.pk)


def test_the_drives_in_their_surge_are_asked_of_the_cache_again_after_a_second(
    adaptive_line: None,
    drive: VaccinationDrive,
    clock: time_machine.Traveller,
    monkeypatch: pytest.MonkeyPatch,
    django_assert_num_queries,
) -> None:
    slot = Slot.objects.filter(drive=drive).earliest("start")
    for account in range(3):
        admit(drive, account)
    with pytest.raises(InQueue):  # warm-up: the drive, the slot and the counter are looked up
        wait_turn_for_slot(slot_id=slot.pk, account_id=2)
    counted = CountingCache(monkeypatch)

    clock.shift(timedelta(seconds=1))
    with django_assert_num_queries(0), pytest.raises(InQueue):
        wait_turn_for_slot(slot_id=slot.pk, account_id=2)

    assert counted.calls == ["get", "get_or_set", "get_many"]


def test_a_sold_out_drive_is_told_from_the_counter_without_database_work(
    adaptive_line: None,
    drive: VaccinationDrive,
    django_assert_num_queries,
) -> None:
    slot = Slot.objects.filter(drive=drive).earliest("start")
    for account in range(3):
        admit(drive, account)
    with pytest.raises(InQueue):
        wait_turn_for_slot(slot_id=slot.pk, account_id=2)
    cache.set(f"drive-places-left:{drive.pk}", 0)  # as the last bookings' commits leave it

    with django_assert_num_queries(0), pytest.raises(DriveFull):
        wait_turn_for_slot(slot_id=slot.pk, account_id=2)


def test_someone_new_to_the_line_once_no_place_is_left_is_told_so_without_a_number(
    adaptive_line: None,
    drive: VaccinationDrive,
    clock: time_machine.Traveller,
    django_assert_num_queries,
) -> None:
    """Three arrivals in four in bench/surge.py: told `drive_full` from the read of the line,
    with no number drawn (a round trip), and none of them sent on to the engine for being
    inside the window. A counter not counted lately is counted again first."""
    slot = Slot.objects.filter(drive=drive).earliest("start")
    for account in range(3):
        admit(drive, account)
    with pytest.raises(InQueue):  # warm-up: the drive, the slot and the counter are looked up
        wait_turn_for_slot(slot_id=slot.pk, account_id=2)
    assert count_places_left(drive_id=drive.pk) > 0  # counted now
    cache.set(f"drive-places-left:{drive.pk}", 0)  # as the last bookings' commits leave it

    with django_assert_num_queries(0), pytest.raises(DriveFull):
        wait_turn_for_slot(slot_id=slot.pk, account_id=99)
    assert admit(drive, 98) == Admission(
        admitted=False, position=0, ahead=0, retry_after=0, sold_out=True
    )

    assert cache.get(line_keys(drive, 99)[0]) is None  # no number kept for them
    clock.shift(timedelta(seconds=PLACES_RECONCILE_SECONDS))  # counted again: places are left
    with pytest.raises(InQueue) as waiting:
        wait_turn_for_slot(slot_id=slot.pk, account_id=100)
    assert waiting.value.detail["position"] == 4  # the next number after the first three


def test_whether_every_drive_is_sold_out_can_take_the_counters_as_last_read_in_line(
    adaptive_line: None, drive: VaccinationDrive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lean route asks from the counters as the process last read them with the line (each
    request in line reads them), with no round trip; a counter not read yet is asked of the
    cache."""
    days = {"service_id": drive.service_id, "date_from": drive.first_day, "date_to": drive.last_day}
    places = f"drive-places-left:{drive.pk}"
    assert count_places_left(drive_id=drive.pk) > 0  # counted now
    cache.set(places, 0)
    assert every_drive_sold_out(**days, as_last_read=True)  # none read yet: asked
    admit(drive, 1)  # someone in line reads the counter
    cache.set(places, 2)  # a cancellation, say
    counted = CountingCache(monkeypatch)

    assert every_drive_sold_out(**days, as_last_read=True)  # as last read: no round trip
    assert counted.calls == []
    assert not every_drive_sold_out(**days)
    assert counted.calls == ["get_many"]
    admit(drive, 2)  # someone else in line reads it again
    assert not every_drive_sold_out(**days, as_last_read=True)
    cache.set(places, 0)
    assert not some_drive_read_sold_out()
    admit(drive, 3)
    assert every_drive_sold_out(**days, as_last_read=True)
    assert some_drive_read_sold_out()
    after = drive.last_day + timedelta(days=1)
    assert not every_drive_sold_out(**{**days, "date_from": after, "date_to": after})


def test_the_places_counter_is_set_again_from_the_slots_after_a_while(
    adaptive_line: None, drive: VaccinationDrive, clock: time_machine.Traveller
) -> None:
    for account in range(3):
        admit(drive, account)
    assert has_places(drive)
    cache.set(f"drive-places-left:{drive.pk}", 0)  # wrong: a change the hooks missed
    assert not has_places(drive)

    clock.shift(timedelta(seconds=PLACES_RECONCILE_SECONDS))

    assert has_places(drive)
    assert cache.get(f"drive-places-left:{drive.pk}") == places_left_in_slots(drive.pk) > 0


def test_there_is_no_line_before_the_release_or_once_the_surge_window_is_over(
    slow_line: None, drive: VaccinationDrive, clock: time_machine.Traveller
) -> None:
    for account in range(5):
        admit(drive, account)
    clock.shift(timedelta(minutes=10))

    assert admit(drive, 99).admitted
    assert admit(drive, 99).position == 0


def test_someone_in_line_gets_429_with_their_place_then_books_when_let_in(
    slow_line: None,
    drive: VaccinationDrive,
    client_for,
    clock: time_machine.Traveller,
    django_capture_on_commit_callbacks,
) -> None:
    slot = Slot.objects.filter(drive=drive).earliest("start")
    ahead = [PatientFactory(date_of_birth=date(1950, 1, 1)) for _ in range(2)]
    for n, person in enumerate(ahead):
        with django_capture_on_commit_callbacks(execute=True):
            answer = book_through_api(client_for(person), person.pk, slot.pk, f"ahead-of-me-{n}")
        assert answer.status_code == 201
    patient = PatientFactory()
    client = client_for(patient)

    waiting = book_through_api(client, patient.pk, slot.pk, "in-line-key-1")

    assert waiting.status_code == 429
    assert waiting["Retry-After"] == "1"
    body = waiting.json()
    assert body["code"] == "in_queue"
    assert (body["detail"]["position"], body["detail"]["ahead"]) == (3, 1)
    assert "number 3 in line" in body["message"]
    assert not Slot.objects.get(pk=slot.pk).appointments.filter(patient=patient).exists()

    clock.shift(timedelta(seconds=1))
    assert (
        book_through_api(client, patient.pk, slot.pk, "in-line-key-1").status_code == 409
    )  # slot now full
    other = Slot.objects.filter(drive=drive).exclude(pk=slot.pk).earliest("start")
    assert book_through_api(client, patient.pk, other.pk, "in-line-key-2").status_code == 201


def test_people_in_line_for_a_sold_out_drive_are_told_at_once(
    slow_line: None, drive: VaccinationDrive, client_for
) -> None:
    Slot.objects.filter(drive=drive).update(capacity=0)
    for account in range(3):
        admit(drive, account)
    patient = PatientFactory()

    answer = book_through_api(
        client_for(patient), patient.pk, Slot.objects.filter(drive=drive).first().pk, "sold-out-key"
    )

    assert answer.status_code == 409
    assert answer.json()["code"] == "drive_full"


def allocate_through_api(client, patient, key: str, **search):
    return client.post(
        "/api/v1/me/appointments/allocate",
        {"patient_id": patient.pk, "service": "vaccine-influenza", "order": "earliest", **search},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def sell_out(drive: VaccinationDrive) -> None:
    """Every place of the drive taken by others, as the counter's moves on commit leave it."""
    Slot.objects.filter(drive=drive).update(booked=F("capacity"))
    cache.set(f"drive-places-left:{drive.pk}", 0)


def test_someone_let_in_who_finds_the_drive_sold_out_is_told_drive_full(
    slow_line: None, drive: VaccinationDrive, client_for
) -> None:
    patient = PatientFactory(date_of_birth=date(1950, 1, 1))
    assert admit(drive, patient.account_id).admitted  # first in line
    sell_out(drive)

    answer = allocate_through_api(client_for(patient), patient, "let-in-too-late")

    assert answer.status_code == 409
    assert answer.json()["code"] == "drive_full"


def test_someone_let_in_to_a_sold_out_drive_is_told_drive_full_before_any_search(
    slow_line: None, drive: VaccinationDrive, client_for
) -> None:
    """As the people still in line are told, even with a slot of no drive open on those
    days (which a search would have found): the counter answers, and the key is looked up."""
    patient = PatientFactory(date_of_birth=date(1950, 1, 1))
    assert admit(drive, patient.account_id).admitted
    sell_out(drive)
    elsewhere = SlotFactory(service=vaccine("vaccine-influenza"), centre_id=9)
    assert drive.first_day <= elsewhere.start.date() <= drive.last_day

    with CaptureQueriesContext(connection) as queries:
        answer = allocate_through_api(client_for(patient), patient, "let-in-after-the-sell-out")

    assert answer.status_code == 409
    assert answer.json()["code"] == "drive_full"
    assert not Appointment.objects.filter(patient=patient).exists()
    assert not [sql for sql in queries.captured_queries if '"booking_slot"."id"' in sql["sql"]]


def test_a_search_on_days_outside_the_sold_out_drive_is_told_no_slot_available(
    slow_line: None, drive: VaccinationDrive, client_for
) -> None:
    patient = PatientFactory(date_of_birth=date(1950, 1, 1))
    assert admit(drive, patient.account_id).admitted
    sell_out(drive)
    after = drive.last_day + timedelta(days=1)

    answer = allocate_through_api(
        client_for(patient),
        patient,
        "after-the-drive",
        date_from=after.isoformat(),
        date_to=(after + timedelta(days=6)).isoformat(),
    )

    assert answer.status_code == 409
    assert answer.json()["code"] == "no_slot_available"


def test_someone_who_booked_gets_their_booking_again_once_the_drive_sold_out(
    slow_line: None, drive: VaccinationDrive, client_for, django_capture_on_commit_callbacks
) -> None:
    patient = PatientFactory(date_of_birth=date(1950, 1, 1))
    client = client_for(patient)
    with django_capture_on_commit_callbacks(execute=True):
        first = allocate_through_api(client, patient, "booked-before-the-sell-out")
    assert first.status_code == 201
    sell_out(drive)

    again = allocate_through_api(client, patient, "booked-before-the-sell-out")

    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]


def test_someone_who_loses_a_slot_is_offered_the_next_best_times(
    reference_data, patient, other_patient, client_for
) -> None:
    lost = SlotFactory(capacity=1)
    booked(other_patient, lost)
    same_centre_later = SlotFactory(start=lost.start + timedelta(hours=1))
    nearby = SlotFactory(centre_id=2, start=lost.start)

    answer = book_through_api(client_for(patient), patient.pk, lost.pk, "lost-it-key")

    assert answer.status_code == 409
    body = answer.json()
    assert body["code"] == "slot_full"
    assert [option["id"] for option in body["detail"]["alternatives"]] == [
        same_centre_later.pk,
        nearby.pk,
    ]
    assert body["detail"]["alternatives"][0]["start"].startswith("2026-12-01T11:00")


def line_of_two_ahead(drive: VaccinationDrive) -> None:
    """Two accounts arrived first and fill the first second's places in line."""
    for account in (-1, -2):
        assert admit(drive, account).admitted


def test_polling_in_line_never_counts_against_the_booking_limits(
    slow_line: None, drive: VaccinationDrive, client_for, settings, clock: time_machine.Traveller
) -> None:
    settings.BOOKINGS_PER_ACCOUNT_PER_HOUR = 2
    settings.BOOKINGS_PER_ADDRESS_PER_HOUR = 2
    settings.BOOKINGS_PER_NATIONAL_ID_PER_DAY = 2
    settings.DRIVE_ADMIT_PER_SECOND = 0.05  # let in one more every 20 s
    line_of_two_ahead(drive)
    slot = Slot.objects.filter(drive=drive).earliest("start")
    patient = PatientFactory()
    client = client_for(patient)

    polls = [book_through_api(client, patient.pk, slot.pk, "polling-key-1") for _ in range(12)]

    assert {poll.json()["code"] for poll in polls} == {"in_queue"}
    assert {poll["Retry-After"] for poll in polls} == {"20"}
    clock.shift(timedelta(seconds=20))
    assert book_through_api(client, patient.pk, slot.pk, "polling-key-1").status_code == 201


def test_polling_in_line_to_allocate_never_counts_against_the_booking_limits(
    slow_line: None, drive: VaccinationDrive, client_for, settings, clock: time_machine.Traveller
) -> None:
    settings.BOOKINGS_PER_ACCOUNT_PER_HOUR = 2
    settings.BOOKINGS_PER_NATIONAL_ID_PER_DAY = 2
    line_of_two_ahead(drive)
    patient = PatientFactory()
    client = client_for(patient)

    def allocate():
        return client.post(
            "/api/v1/me/appointments/allocate",
            {"patient_id": patient.pk, "service": "vaccine-influenza", "order": "earliest"},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="allocate-poll-key",
        )

    polls = [allocate() for _ in range(6)]

    assert {poll.json()["code"] for poll in polls} == {"in_queue"}
    clock.shift(timedelta(seconds=ADMISSION_LEASE_SECONDS))  # the two ahead never booked
    assert allocate().status_code == 201


def test_polling_in_line_on_the_booking_page_never_counts_against_the_booking_limits(
    slow_line: None, drive: VaccinationDrive, client_for, settings, clock: time_machine.Traveller
) -> None:
    settings.BOOKINGS_PER_ACCOUNT_PER_HOUR = 2
    settings.BOOKINGS_PER_NATIONAL_ID_PER_DAY = 2
    line_of_two_ahead(drive)
    slot = Slot.objects.filter(drive=drive).earliest("start")
    patient = PatientFactory()
    client = client_for(patient)

    def book_on_the_page():
        return client.post(
            f"/book/slots/{slot.pk}?lang=en",
            {"action": "book", "patient_id": str(patient.pk), "idempotency_key": "page-poll-key"},
        )

    for _ in range(6):
        answer = book_on_the_page()
        assert answer.status_code == 302
        assert "/me/appointments/" not in answer["Location"]
    clock.shift(timedelta(seconds=ADMISSION_LEASE_SECONDS))  # the two ahead never booked
    assert "/me/appointments/" in book_on_the_page()["Location"]
