"""Races with real parallel connections, one per thread, against the configured database:
SQLite (WAL, IMMEDIATE transactions) by default, PostgreSQL when DATABASE_URL is set."""

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone

from booking.models import Appointment, Patient, Slot, WalkIn, WalkInCounter
from booking.selectors import SlotOrder, SlotSearch
from booking.services.appointments import book_slot, reschedule_appointment
from booking.services.identity import take_over_record
from booking.services.walk_ins import add_walk_in
from clinics.exceptions import DomainError
from clinics.models import AuditEvent, Service
from tests.factories import SlotFactory, UserFactory, booked, national_id
from tests.races import race

pytestmark = pytest.mark.django_db(transaction=True)


def make_patients(count: int) -> list[Patient]:
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"+66899{n:06d}") for n in range(count)])
    return Patient.objects.bulk_create(
        [
            Patient(
                account=user,
                relationship=Patient.Relationship.SELF,
                first_name="คน",
                last_name=f"ที่{n}",
                date_of_birth=timezone.localdate() - timedelta(days=365 * 30),
                sex=Patient.Sex.FEMALE,
                phone=user.username,
                national_id=national_id(),
            )
            for n, user in enumerate(users)
        ]
    )


def booking(patient: Patient, slot: Slot) -> Callable[[], object]:
    """One attempt to book the slot, with a key of its own."""
    return lambda: book_slot(
        patient=patient,
        slot_id=slot.pk,
        booked_by=patient.account,
        channel=Appointment.Channel.API,
        idempotency_key=f"key-{patient.pk}-{slot.pk}",
    )


def active_in(slot: Slot) -> int:
    return slot.appointments.exclude(status=Appointment.Status.CANCELLED).count()


def assert_counters_match_appointments() -> None:
    for slot in Slot.objects.all():
        assert slot.booked == active_in(slot), slot
        assert slot.booked <= slot.capacity, slot


def test_two_hundred_people_racing_for_five_places_get_exactly_five(reference_data):
    slot = SlotFactory(capacity=5)
    patients = make_patients(200)

    outcomes = race([booking(p, slot) for p in patients])

    assert outcomes == Counter({"ok": 5, "slot_full": 195})
    slot.refresh_from_db()
    assert slot.booked == 5
    assert active_in(slot) == 5
    assert_counters_match_appointments()


def test_double_submits_with_one_key_make_one_appointment(reference_data):
    slot = SlotFactory(capacity=50)
    (patient,) = make_patients(1)
    made: list[int] = []

    def submit() -> None:
        booking = book_slot(
            patient=patient,
            slot_id=slot.pk,
            booked_by=patient.account,
            channel=Appointment.Channel.API,
            idempotency_key="one-key-for-all",
        )
        made.append(booking.appointment.pk)

    outcomes = race([submit] * 40)

    assert outcomes == Counter({"ok": 40})
    assert len(set(made)) == 1
    assert Appointment.objects.count() == 1
    slot.refresh_from_db()
    assert slot.booked == 1


def test_one_person_racing_for_overlapping_slots_gets_one(reference_data):
    start = timezone.now() + timedelta(days=2)
    slots = [SlotFactory(start=start + timedelta(minutes=minute)) for minute in range(0, 10)]
    (patient,) = make_patients(1)

    outcomes = race([booking(patient, s) for s in slots])

    assert outcomes == Counter({"ok": 1, "overlapping_appointment": 9})
    assert_counters_match_appointments()


def test_racing_reschedules_fill_the_target_exactly(reference_data):
    source = SlotFactory(capacity=60)
    target = SlotFactory(capacity=5, start=timezone.now() + timedelta(days=3))
    appointments = [booked(p, source) for p in make_patients(60)]

    outcomes = race(
        [
            lambda a=a: reschedule_appointment(appointment=a, new_slot_id=target.pk)
            for a in appointments
        ]
    )

    assert outcomes == Counter({"ok": 5, "slot_full": 55})
    source.refresh_from_db()
    target.refresh_from_db()
    assert (source.booked, target.booked) == (55, 5)
    assert_counters_match_appointments()


def test_people_swapping_slots_at_once_neither_deadlock_nor_lose_places(reference_data):
    pairs = []
    for n in range(16):
        first = SlotFactory(capacity=2, start=timezone.now() + timedelta(days=2, hours=n))
        second = SlotFactory(capacity=2, start=timezone.now() + timedelta(days=4, hours=n))
        a, b = make_patients_for_pair(n)
        in_first = booked(a, first)
        in_second = booked(b, second)
        pairs.append((in_first, second, in_second, first))

    attempts: list[Callable[[], object]] = []
    for in_first, second, in_second, first in pairs:
        attempts.append(
            lambda a=in_first, s=second: reschedule_appointment(appointment=a, new_slot_id=s.pk)
        )
        attempts.append(
            lambda a=in_second, s=first: reschedule_appointment(appointment=a, new_slot_id=s.pk)
        )

    outcomes = race(attempts)

    assert outcomes == Counter({"ok": 32})
    assert_counters_match_appointments()


def make_patients_for_pair(n: int) -> tuple[Patient, Patient]:
    User = get_user_model()
    people = []
    for side in ("a", "b"):
        user = User.objects.create(username=f"swap-{n}-{side}")
        people.append(
            Patient.objects.create(
                account=user,
                relationship=Patient.Relationship.SELF,
                first_name="สลับ",
                last_name=f"{n}{side}",
                date_of_birth=timezone.localdate() - timedelta(days=365 * 40),
                sex=Patient.Sex.MALE,
                national_id=national_id(),
            )
        )
    return people[0], people[1]


def test_a_closure_committed_during_a_sync_is_never_undone(reference_data):
    from datetime import date

    from booking.services.schedules import add_closure, remove_closure
    from booking.services.slots import sync_slots
    from clinics.models import Closure, HealthCentre
    from tests.factories import ScheduleTemplateFactory

    centre = HealthCentre.objects.get(number=1)
    ScheduleTemplateFactory(centre=centre, weekdays="1234567")
    sync_slots(centre_ids=[1])
    day = date(2026, 12, 2)
    on_the_day = Slot.objects.filter(centre=centre, start__date=day)

    for _ in range(8):
        outcomes = race(
            [lambda: add_closure(centre=centre, start_date=day, end_date=day, reason_th="x")]
            + [lambda: sync_slots(centre_ids=[1])] * 6
        )
        assert outcomes == Counter({"ok": 7})
        assert not on_the_day.filter(closed=False).exists()
        remove_closure(closure=Closure.objects.get())
        assert on_the_day.filter(closed=False).exists()


def test_one_phone_registering_many_times_at_once_opens_one_account(reference_data):
    from booking.services.patients import PersonDetails, register_account

    def register(n: int) -> Callable[[], object]:
        return lambda: register_account(
            password="a long enough passphrase",
            person=PersonDetails(
                first_name="ซ้ำ",
                last_name=f"{n}",
                date_of_birth=timezone.localdate() - timedelta(days=365 * 25),
                sex=Patient.Sex.MALE,
                phone="0861234567",
                national_id=national_id(),
            ),
        )

    outcomes = race([register(n) for n in range(12)])

    assert outcomes == Counter({"ok": 1, "phone_registered": 11})
    assert get_user_model().objects.filter(username="+66861234567").count() == 1


def test_retried_allocations_with_one_key_book_once_even_as_slots_fill(reference_data):
    from booking.selectors import SlotSearch
    from booking.services.appointments import allocate_slot
    from clinics.models import Service

    first_choice = SlotFactory(capacity=1, start=timezone.now() + timedelta(days=1))
    SlotFactory(capacity=1, start=timezone.now() + timedelta(days=2))
    (patient, rival) = make_patients(2)
    search = SlotSearch(
        service=Service.objects.get(code="general-checkup"),
        date_from=timezone.localdate(),
        date_to=timezone.localdate() + timedelta(days=7),
        order=SlotOrder.EARLIEST,
    )
    made: list[int] = []

    def retry() -> None:
        booking = allocate_slot(
            patient=patient,
            search=search,
            booked_by=patient.account,
            channel=Appointment.Channel.API,
            idempotency_key="allocate-once",
        )
        made.append(booking.appointment.pk)

    def rival_books_the_first_choice() -> None:
        book_slot(
            patient=rival,
            slot_id=first_choice.pk,
            booked_by=rival.account,
            channel=Appointment.Channel.API,
            idempotency_key="rival",
        )

    outcomes = race([rival_books_the_first_choice] + [retry] * 20)

    assert outcomes["ok"] + outcomes["slot_full"] == 21
    assert outcomes["idempotency_key_reused"] == 0
    assert len(set(made)) == 1
    assert Appointment.objects.filter(patient=patient).count() == 1
    assert_counters_match_appointments()


def test_a_drive_release_surge_never_overbooks_or_books_a_dose_twice(reference_data):
    from booking.models import VaccinationDrive
    from booking.vaccination.drives import create_drive, release_drive
    from clinics.models import HealthCentre
    from tests.factories import drive_fields, stock_up, vaccine

    User = get_user_model()
    organiser = User.objects.create_superuser("organiser", password="x")
    stock_up(1, vaccine("vaccine-influenza"), 100)
    drive = create_drive(
        fields=drive_fields(
            centres=[HealthCentre.objects.get(number=1)],
            last_day=timezone.localdate() + timedelta(days=1),
            release_at=timezone.now(),
        ),
        created_by=organiser,
    )
    release_drive(drive=drive)
    assert VaccinationDrive.objects.get(pk=drive.pk).status == "scheduled"
    slots = list(Slot.objects.filter(drive=drive).order_by("start"))
    assert sum(slot.capacity for slot in slots) == 8
    patients = make_patients(40)

    # Everyone taps twice, on two different times, as people do when a site is slow.
    attempts = [
        booking(patient, slots[(n + tap) % len(slots)])
        for n, patient in enumerate(patients)
        for tap in (0, 1)
    ]
    outcomes = race(attempts)

    assert outcomes["ok"] == 8
    assert set(outcomes) <= {"ok", "slot_full", "course_already_booked"}
    assert_counters_match_appointments()
    per_patient = Counter(
        Appointment.objects.exclude(status=Appointment.Status.CANCELLED).values_list(
            "patient_id", flat=True
        )
    )
    assert max(per_patient.values()) == 1


def test_two_waitlist_runs_at_once_never_offer_one_place_or_one_person_twice(reference_data):
    from booking.models import WaitlistEntry, WaitlistOffer
    from booking.waitlist.services import offer_free_places
    from clinics.models import Service

    slots = [
        SlotFactory(capacity=5, start=timezone.now() + timedelta(days=1, hours=n)) for n in range(4)
    ]
    patients = make_patients(30)
    service = Service.objects.get(code="general-checkup")
    for n, patient in enumerate(patients):
        WaitlistEntry.objects.create(
            patient=patient,
            service=service,
            date_from=timezone.localdate(),
            date_to=timezone.localdate() + timedelta(days=7),
            joined_by=patient.account,
            joined_at=timezone.now() + timedelta(seconds=n),
        )

    outcomes = race([offer_free_places for _ in range(4)])
    outcomes += race([offer_free_places for _ in range(4)])  # whatever the first runs left

    assert outcomes == Counter({"ok": 8})
    offers = list(WaitlistOffer.objects.filter(status="open"))
    assert len(offers) == 20
    assert len({offer.entry_id for offer in offers}) == 20
    for slot in slots:
        slot.refresh_from_db()
        assert slot.booked == 5
    # The first twenty to join got them.
    assert {offer.entry.patient_id for offer in offers} == {p.pk for p in patients[:20]}


def test_of_many_proven_claims_to_one_record_at_once_exactly_one_takes_it():
    """A verified person takes an unverified record of their ID (booking.services.identity):
    the record's row lock lets one claim through; the others find it verified."""
    User = get_user_model()
    holder = User.objects.create(username="+66810000009")
    record = Patient.objects.create(
        account=holder,
        relationship=Patient.Relationship.OTHER,
        first_name="มาลี",
        last_name="ศรีสุข",
        date_of_birth=timezone.localdate() - timedelta(days=365 * 36),
        sex=Patient.Sex.FEMALE,
        national_id=national_id(),
    )
    owners = [User.objects.create(username=f"+668100001{n:02d}") for n in range(8)]

    outcomes = race(
        [
            lambda owner=owner: take_over_record(
                record=record,
                account=owner,
                relationship=Patient.Relationship.SELF,
                by=Patient.IdentityCheck.PARTNER,
                phone=owner.username,
            )
            for owner in owners
        ]
    )

    assert outcomes == {"ok": 1, "contact_health_centre": 7}
    record.refresh_from_db()
    assert record.account in owners
    assert AuditEvent.objects.filter(action="patient.identity_claimed").count() == 1


def partner_booking(secret: str, slot: Slot, who: dict, key: str, answers: list[int]):
    """One call to the partner API to book the slot for the person, its status kept."""
    from django.test import Client

    def attempt() -> None:
        answer = Client(HTTP_ACCEPT_LANGUAGE="en").post(
            "/api/v1/partner/appointments",
            {"slot_id": slot.pk, "person": who},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
            HTTP_IDEMPOTENCY_KEY=key,
        )
        answers.append(answer.status_code)
        if answer.status_code >= 400:
            raise DomainErrorFromAnswer(answer.json()["code"])

    return attempt


class DomainErrorFromAnswer(DomainError):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def new_person() -> dict:
    return {
        "first_name": "มาลี",
        "last_name": "ศรีสุข",
        "date_of_birth": "1990-04-02",
        "sex": "female",
        "phone": "089 123 4567",
        "national_id": national_id(),
    }


def test_twenty_partner_retries_for_a_new_person_give_one_appointment_and_nineteen_replays(
    reference_data,
):
    from booking.interop.partners import issue_partner_key
    from booking.models import Partner

    partner = Partner.objects.create(name="super-app", contact_email="api@example.org")
    secret = issue_partner_key(
        partner=partner, scopes=["appointments:write"], issued_by=None
    ).secret
    slot = SlotFactory(capacity=10)
    answers: list[int] = []

    outcomes = race([partner_booking(secret, slot, new_person(), "one-key-01", answers)] * 20)

    assert outcomes == Counter({"ok": 20})
    assert sorted(answers) == [200] * 19 + [201]
    assert Appointment.objects.count() == 1
    assert Patient.objects.count() == 1
    assert_counters_match_appointments()


def test_ten_partner_bookings_of_one_new_person_with_different_keys_give_one_appointment(
    reference_data,
):
    from booking.interop.partners import issue_partner_key
    from booking.models import Partner

    partner = Partner.objects.create(name="super-app", contact_email="api@example.org")
    secret = issue_partner_key(
        partner=partner, scopes=["appointments:write"], issued_by=None
    ).secret
    slot = SlotFactory(capacity=10)
    who = new_person()
    answers: list[int] = []

    outcomes = race(
        [partner_booking(secret, slot, who, f"own-key-{n:02}", answers) for n in range(10)]
    )

    assert outcomes == Counter({"ok": 1, "already_booked": 9})
    assert Appointment.objects.count() == 1
    assert Patient.objects.count() == 1
    assert_counters_match_appointments()


def allocation(patient: Patient, search: SlotSearch) -> Callable[[], object]:
    from booking.services.appointments import allocate_slot

    return lambda: allocate_slot(
        patient=patient,
        search=search,
        booked_by=patient.account,
        channel=Appointment.Channel.API,
        idempotency_key=f"allocate-{patient.pk}",
    )


def single_places(count: int, order: SlotOrder) -> SlotSearch:
    """`count` slots of one place each, every 20 minutes from tomorrow at centres 1 and 2 in
    turn, and a search that finds them all."""
    from clinics.models import HealthCentre, Service

    tomorrow = timezone.now() + timedelta(days=1)
    centres = list(HealthCentre.objects.filter(number__in=[1, 2]))
    for n in range(count):
        SlotFactory(capacity=1, centre=centres[n % 2], start=tomorrow + timedelta(minutes=20 * n))
    return SlotSearch(
        service=Service.objects.get(code="general-checkup"),
        date_from=timezone.localdate(),
        date_to=timezone.localdate() + timedelta(days=7),
        order=order,
    )


@pytest.mark.parametrize("order", [SlotOrder.NEAREST, SlotOrder.EARLIEST])
def test_forty_allocations_at_once_all_get_a_place_while_places_remain(reference_data, order):
    search = single_places(45, order)  # more places than ALLOCATION_ATTEMPTS, one per time

    outcomes = race([allocation(patient, search) for patient in make_patients(40)])

    assert outcomes == Counter({"ok": 40})
    assert Slot.objects.filter(booked=1).count() == 40
    assert_counters_match_appointments()


def test_allocations_that_lose_a_race_spread_out_rather_than_queue_for_the_next_slot(
    reference_data, monkeypatch
):
    from booking.services.appointments import allocation as allocating

    search = single_places(45, SlotOrder.EARLIEST)
    tries: list[int] = []

    def counted(book_one: Callable[..., object]) -> Callable[..., object]:
        def one_try(*args: object, **booking: object) -> object:
            tries.append(1)  # list.append is atomic under the GIL
            return book_one(*args, **booking)

        return one_try

    # Each try books through one of these: on the ORM, or in one call to the booking function.
    for name in ("_book_locked", "_book_in_one_call"):
        monkeypatch.setattr(allocating, name, counted(getattr(allocating, name)))

    outcomes = race([allocation(patient, search) for patient in make_patients(40)])

    assert outcomes == Counter({"ok": 40})
    # Taking the next slot after each lost race, all 40 race for one slot at a time: some
    # 700 tries on PostgreSQL. Spread out at random, under 250. (SQLite: 40, one at a time.)
    assert 40 <= len(tries) < 400
    assert_counters_match_appointments()


@pytest.mark.usefixtures("orm_engine")
def test_an_allocation_holds_no_slot_row_while_it_does_the_booking_work(
    reference_data, monkeypatch
):
    """Others may book the slot while an allocation checks the person: its row is taken by
    the conditional update at the end only. (SQLite runs one transaction at a time.)"""
    from django.db import DatabaseError, connection, transaction

    from booking.services.appointments import booking as appointments

    search = single_places(1, SlotOrder.EARLIEST)
    slot = Slot.objects.get()
    (patient,) = make_patients(1)
    seen: list[str] = []

    def lock_from_elsewhere() -> None:
        try:
            with transaction.atomic():
                list(Slot.objects.select_for_update(nowait=True).filter(pk=slot.pk).values("pk"))
            seen.append("free")
        except DatabaseError:
            seen.append("locked")
        finally:
            connections.close_all()

    check_overlap = appointments.check_no_overlap

    def overlap_checked_while_another_books(*args: object, **kwargs: object) -> None:
        if connection.vendor == "postgresql":
            other = threading.Thread(target=lock_from_elsewhere)
            other.start()
            other.join(timeout=30)
        check_overlap(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(appointments, "check_no_overlap", overlap_checked_while_another_books)

    allocation(patient, search)()

    assert seen == (["free"] if connection.vendor == "postgresql" else [])
    assert_counters_match_appointments()


def _adding(patient: Patient, service: Service, by: object) -> Callable[[], object]:
    return lambda: add_walk_in(centre_id=1, patient=patient, service=service, by=by)  # type: ignore[arg-type]


def test_walk_ins_added_at_many_desks_at_once_get_one_number_each_without_gaps(reference_data):
    patients = make_patients(60)
    nurse = UserFactory(username="desk", is_staff=True)
    service = Service.objects.get(code="general-checkup")

    outcomes = race([_adding(patient, service, nurse) for patient in patients])

    assert outcomes == Counter({"ok": 60})
    numbers = sorted(WalkIn.objects.filter(centre_id=1).values_list("number", flat=True))
    assert numbers == list(range(1, 61))
    assert WalkInCounter.objects.get(centre_id=1).last_number == 60
    assert AuditEvent.objects.filter(action="walk_in.added").count() == 60


def test_one_person_added_at_several_desks_at_once_is_queued_once(reference_data):
    [person] = make_patients(1)
    nurse = UserFactory(username="desk", is_staff=True)
    service = Service.objects.get(code="general-checkup")

    outcomes = race([_adding(person, service, nurse) for _ in range(10)])

    assert outcomes == Counter({"ok": 1, "already_in_queue": 9})
    assert WalkIn.objects.get().label == "A-001"
    assert WalkInCounter.objects.get().last_number == 1
