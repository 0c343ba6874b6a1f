"""Vaccination drives: planning, release against stock, eligibility, and calling one off."""

from datetime import date, time, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.utils import timezone

from booking.exceptions import DriveNotDraft, InsufficientStock, NotEligible
from booking.models import Appointment, Patient, RiskGroup, Slot, VaccinationDrive
from booking.selectors import SlotSearch, search_open_slots
from booking.services.schedules import add_closure, remove_closure
from booking.vaccination.drives import (
    cancel_drive,
    create_drive,
    plan_drive,
    release_drive,
    update_drive,
)
from booking.vaccination.stock import stock_positions, withdraw_lot
from clinics.exceptions import InvalidInput, NotFound
from clinics.models import HealthCentre
from tests.factories import bangkok, booked, drive_fields, released_drive, stock_up, vaccine

pytestmark = pytest.mark.django_db

# The default drive: four days of four 15-minute slots of two places at each of two centres.
PLACES_PER_CENTRE_DAY = 8
SLOTS = 2 * 4 * 4


def today() -> date:
    return timezone.localdate()


@pytest.fixture
def organiser(city_admin: User) -> User:
    return city_admin


def flu_search() -> SlotSearch:
    return SlotSearch(
        service=vaccine("vaccine-influenza"),
        date_from=today(),
        date_to=today() + timedelta(days=10),
    )


def test_the_plan_counts_places_per_centre_and_day_skipping_closed_days(
    organiser: User, centre_1: HealthCentre
) -> None:
    closed_day = today() + timedelta(days=2)
    add_closure(centre=centre_1, start_date=closed_day, end_date=closed_day, reason_th="ปิด")
    drive = create_drive(
        fields=drive_fields(weekdays="12345", last_day=today() + timedelta(days=7)),
        created_by=organiser,
    )

    plan = plan_drive(drive)

    by_centre = {centre.centre.number: centre for centre in plan.centres}
    # Tue 1 to Mon 7 Dec 2026: Sat 5 is a holiday (Father's Day) and Mon 7 its day in lieu,
    # Sun 6 is not a drive day, and centre 1 also shuts on Wed 2.
    assert [day.day for day in by_centre[2].days] == [
        today() + timedelta(days=offset) for offset in (1, 2, 3, 4)
    ]
    assert closed_day not in [day.day for day in by_centre[1].days]
    assert by_centre[1].places == 3 * PLACES_PER_CENTRE_DAY
    assert by_centre[2].places == 4 * PLACES_PER_CENTRE_DAY
    assert plan.places == 7 * PLACES_PER_CENTRE_DAY
    assert by_centre[1].shortfall == 3 * PLACES_PER_CENTRE_DAY  # no stock recorded yet


def test_a_drive_cannot_open_more_places_than_a_centre_has_doses_for(organiser: User) -> None:
    flu = vaccine("vaccine-influenza")
    stock_up(1, flu, 4 * PLACES_PER_CENTRE_DAY)
    stock_up(2, flu, 4 * PLACES_PER_CENTRE_DAY - 1)
    drive = create_drive(fields=drive_fields(), created_by=organiser)

    with pytest.raises(InsufficientStock) as refused:
        release_drive(drive=drive)

    assert refused.value.detail["centres"] == [
        {"centre": 2, "places": 32, "doses_left_to_open": 31}
    ]
    assert not Slot.objects.filter(drive=drive).exists()
    drive.refresh_from_db()
    assert drive.status == VaccinationDrive.Status.DRAFT


def test_doses_promised_elsewhere_count_against_what_a_drive_may_open(
    organiser: User, patient: Patient
) -> None:
    flu = vaccine("vaccine-influenza")
    stock_up(1, flu, 40)
    first = create_drive(
        fields=drive_fields(centres=[HealthCentre.objects.get(number=1)]), created_by=organiser
    )
    release_drive(drive=first)

    position = stock_positions(centre_ids=[1], service=flu)[1]
    assert (position.on_hand, position.open_places, position.left_to_open) == (40, 32, 8)

    second = create_drive(
        fields=drive_fields(centres=[HealthCentre.objects.get(number=1)]), created_by=organiser
    )
    with pytest.raises(InsufficientStock):
        release_drive(drive=second)


def test_a_scheduled_drive_is_neither_visible_nor_bookable_before_its_release_time(
    organiser: User, patient: Patient, clock: time_machine.Traveller
) -> None:
    drive = released_drive(organiser)
    assert drive.status == VaccinationDrive.Status.SCHEDULED
    slot = Slot.objects.filter(drive=drive).earliest("start")
    assert Slot.objects.filter(drive=drive).count() == SLOTS

    assert search_open_slots(flu_search(), page=1, page_size=10).count == 0
    with pytest.raises(NotFound):
        booked(patient, slot)

    clock.move_to(drive.release_at)
    assert search_open_slots(flu_search(), page=1, page_size=10).count == SLOTS
    assert booked(patient, slot).slot_id == slot.pk


def test_releasing_now_opens_at_once_and_a_scheduled_release_can_be_moved(
    organiser: User, patient: Patient
) -> None:
    drive = released_drive(organiser)
    later = drive.release_at + timedelta(hours=2)
    release_drive(drive=drive, at=later)
    assert set(Slot.objects.filter(drive=drive).values_list("opens_at", flat=True)) == {later}

    release_drive(drive=drive, at=timezone.now() - timedelta(hours=1))

    drive.refresh_from_db()
    assert drive.release_at == timezone.now()
    assert search_open_slots(flu_search(), page=1, page_size=10).count == SLOTS


def test_a_released_drive_can_no_longer_be_edited(organiser: User) -> None:
    drive = released_drive(organiser)

    with pytest.raises(DriveNotDraft):
        update_drive(drive=drive, fields=drive_fields(capacity_per_slot=50))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"service": "general-checkup"}, "service"),
        ({"centres": []}, "centres"),
        ({"last_day": "before"}, "last_day"),
        ({"sessions": [(time(9, 0), time(11, 0)), (time(10, 30), time(12, 0))]}, "sessions"),
        ({"sessions": [(time(9, 0), time(9, 10))]}, "slot_minutes"),
        ({"release_at": "after"}, "release_at"),
        ({"min_age_months": 24, "max_age_months": 12}, "max_age_months"),
        ({"risk_groups": ["astronaut"]}, "risk_groups"),
    ],
)
def test_a_drive_that_breaks_a_rule_is_refused_naming_the_field(
    organiser: User, overrides: dict[str, object], field: str
) -> None:
    values = dict(overrides)
    if values.get("service") == "general-checkup":
        values["service"] = vaccine("general-checkup")
    if values.get("last_day") == "before":
        values["last_day"] = today()
    if values.get("release_at") == "after":
        values["release_at"] = bangkok(today() + timedelta(days=8), time(8, 0))

    with pytest.raises(InvalidInput) as refused:
        create_drive(fields=drive_fields(**values), created_by=organiser)

    assert refused.value.detail["field"] == field
    assert not VaccinationDrive.objects.exists()


def test_only_eligible_patients_book_a_drive_and_the_refusal_gives_every_reason(
    organiser: User, patient: Patient, clock: time_machine.Traveller
) -> None:
    drive = released_drive(
        organiser,
        min_age_months=65 * 12,
        risk_groups=[RiskGroup.AGED_65_PLUS, RiskGroup.PREGNANT],
        sexes=["female"],
    )
    clock.move_to(drive.release_at)
    slot = Slot.objects.filter(drive=drive).earliest("start")

    with pytest.raises(NotEligible) as refused:
        booked(patient, slot)

    assert [reason["code"] for reason in refused.value.detail["reasons"]] == [
        "too_young",
        "sex",
        "risk_group",
    ]
    slot.refresh_from_db()
    assert slot.booked == 0
    patient.date_of_birth = date(1950, 1, 1)
    patient.sex = Patient.Sex.FEMALE
    patient.save()
    assert booked(patient, slot).dose_number == 1


def test_age_is_taken_on_the_vaccination_day(
    organiser: User, patient: Patient, clock: time_machine.Traveller
) -> None:
    drive = released_drive(organiser, min_age_months=65 * 12)
    clock.move_to(drive.release_at)
    slots = Slot.objects.filter(drive=drive, centre_id=1).order_by("start")
    first_day = timezone.localdate(slots[0].start)
    # Turns 65 on the drive's second day.
    patient.date_of_birth = (first_day + timedelta(days=1)).replace(year=first_day.year - 65)
    patient.save()

    with pytest.raises(NotEligible):
        booked(patient, slots[0])
    second_day_slot = next(s for s in slots if timezone.localdate(s.start) > first_day)
    assert booked(patient, second_day_slot).slot_id == second_day_slot.pk


def test_a_drive_for_some_districts_turns_away_residents_of_others(
    organiser: User, patient: Patient, clock: time_machine.Traveller
) -> None:
    from clinics.models import District

    drive = released_drive(organiser, districts=[District.objects.get(code=1002)])
    clock.move_to(drive.release_at)
    slot = Slot.objects.filter(drive=drive).earliest("start")

    with pytest.raises(NotEligible) as refused:
        booked(patient, slot)  # lives in 1001

    assert refused.value.detail["reasons"][0]["code"] == "district"


def test_cancelling_a_drive_removes_unbooked_slots_and_lists_the_booked_ones(
    organiser: User, patient: Patient, clock: time_machine.Traveller
) -> None:
    drive = released_drive(organiser)
    clock.move_to(drive.release_at)
    slot = Slot.objects.filter(drive=drive).earliest("start")
    appointment = booked(patient, slot)

    cancelled = cancel_drive(drive=drive)

    assert [each.pk for each in cancelled.affected] == [appointment.pk]
    assert cancelled.slots_removed == SLOTS - 1
    slot.refresh_from_db()
    assert slot.closed
    assert slot.booked == 1
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED
    assert search_open_slots(flu_search(), page=1, page_size=10).count == 0


def test_closing_a_centre_for_a_day_closes_its_drive_slots_and_lifting_it_reopens_them(
    organiser: User, centre_1: HealthCentre, clock: time_machine.Traveller
) -> None:
    drive = released_drive(organiser)
    clock.move_to(drive.release_at)
    day = today() + timedelta(days=3)

    added = add_closure(centre=centre_1, start_date=day, end_date=day, reason_th="ไฟดับ")

    on_day = Slot.objects.filter(drive=drive, centre=centre_1, start__date=day)
    assert on_day.count() == 4
    assert all(slot.closed for slot in on_day)
    assert not Slot.objects.filter(drive=drive, centre_id=2, closed=True).exists()
    remove_closure(closure=added.closure)
    assert not Slot.objects.filter(drive=drive, closed=True).exists()


def test_withdrawing_a_lot_closes_free_places_latest_first_and_reports_the_shortfall(
    organiser: User, patient: Patient, other_patient: Patient, clock: time_machine.Traveller
) -> None:
    flu = vaccine("vaccine-influenza")
    lot = stock_up(1, flu, 32, lot="RECALLED")
    stock_up(1, flu, 1, lot="SPARE")
    stock_up(2, flu, 32)
    drive = create_drive(fields=drive_fields(), created_by=organiser)
    release_drive(drive=drive)
    clock.move_to(drive.release_at)
    slots = list(Slot.objects.filter(drive=drive, centre_id=1).order_by("start"))
    booked(patient, slots[0])
    booked(other_patient, slots[1])

    withdrawn = withdraw_lot(lot=lot, reason="cold chain broken")

    assert withdrawn.places_closed == 30
    assert withdrawn.shortfall == 1  # two booked, one dose left
    assert withdrawn.position.open_places == 0
    assert sum(slot.capacity for slot in Slot.objects.filter(drive=drive, centre_id=1)) == 2
    assert Slot.objects.filter(drive=drive, centre_id=2, capacity=2).count() == 16
