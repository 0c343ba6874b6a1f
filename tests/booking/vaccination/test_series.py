"""Vaccination courses: doses held with the first, kept in their intervals, and released."""

from datetime import date, time, timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.utils import timezone

from booking.exceptions import (
    CourseAlreadyBooked,
    NoDoseInStock,
    OutsideDoseInterval,
)
from booking.models import Appointment, Patient, Slot, VaccinationSeries
from booking.services.appointments import (
    book_slot,
    cancel_appointment,
    check_in,
    complete_appointment,
    mark_no_show,
    reschedule_appointment,
)
from notifications.models import Message
from tests.factories import SlotFactory, bangkok, booked, stock_up, vaccine

pytestmark = pytest.mark.django_db

Status = Appointment.Status


def vaccine_slot(
    day: date, *, centre: int = 1, code: str = "vaccine-hepatitis-b", hour: int = 10
) -> Slot:
    return SlotFactory(
        centre_id=centre,
        service=vaccine(code),
        start=bangkok(day, time(hour, 0)),
        capacity=3,
    )


def today() -> date:
    return timezone.localdate()


def doses_of(patient: Patient) -> dict[int, Appointment]:
    return {
        dose.dose_number: dose
        for dose in Appointment.objects.filter(patient=patient)
        .exclude(status=Status.CANCELLED)
        .select_related("slot")
    }


def test_booking_a_first_dose_holds_the_later_doses_at_the_same_centre(
    patient: Patient,
) -> None:
    first = vaccine_slot(today() + timedelta(days=1))
    # Dose 2 is due 28-60 days later, dose 3 56-180 days after dose 2.
    too_soon = vaccine_slot(today() + timedelta(days=20))
    elsewhere = vaccine_slot(today() + timedelta(days=29), centre=2)
    second = vaccine_slot(today() + timedelta(days=40))
    third = vaccine_slot(today() + timedelta(days=100))

    booking = book_slot(
        patient=patient,
        slot_id=first.pk,
        booked_by=patient.account,
        channel=Appointment.Channel.API,
        idempotency_key="",
    )

    doses = doses_of(patient)
    assert {number: dose.slot_id for number, dose in doses.items()} == {
        1: first.pk,
        2: second.pk,
        3: third.pk,
    }
    assert [held.dose_number for held in booking.course.held] == [2, 3]
    assert booking.course.unheld is None
    series = VaccinationSeries.objects.get(patient=patient)
    assert series.doses_in_series == 3
    assert series.centre_id == 1
    assert all(dose.series_id == series.pk for dose in doses.values())
    for slot in (first, second, third):
        slot.refresh_from_db()
        assert slot.booked == 1
    for slot in (too_soon, elsewhere):
        slot.refresh_from_db()
        assert slot.booked == 0
    # Each held dose gets its own confirmation text.
    assert Message.objects.filter(kind=Message.Kind.CONFIRMATION).count() == 3


def test_a_later_dose_goes_to_the_nearest_centre_when_its_own_has_no_time(
    patient: Patient,
) -> None:
    first = vaccine_slot(today() + timedelta(days=1), code="vaccine-hpv")
    far = vaccine_slot(today() + timedelta(days=190), centre=50, code="vaccine-hpv")
    near = vaccine_slot(today() + timedelta(days=200), centre=2, code="vaccine-hpv")

    booked(patient, first)

    assert doses_of(patient)[2].slot_id == near.pk
    far.refresh_from_db()
    assert far.booked == 0


def test_a_dose_with_no_time_in_its_interval_is_reported_due_and_the_course_stays_open(
    patient: Patient,
) -> None:
    first = vaccine_slot(today() + timedelta(days=1))
    second = vaccine_slot(today() + timedelta(days=30))

    booking = book_slot(
        patient=patient,
        slot_id=first.pk,
        booked_by=patient.account,
        channel=Appointment.Channel.API,
        idempotency_key="",
    )

    assert set(doses_of(patient)) == {1, 2}
    assert booking.course.unheld is not None
    assert booking.course.unheld.number == 3
    second_day = today() + timedelta(days=30)
    assert booking.course.unheld.earliest == second_day + timedelta(days=56)
    assert booking.course.unheld.latest == second_day + timedelta(days=180)
    assert second.pk == doses_of(patient)[2].slot_id

    # Later, when a time opens in the interval, the patient books dose 3 directly.
    third = vaccine_slot(second_day + timedelta(days=60))
    third_booking = booked(patient, third)
    assert third_booking.dose_number == 3


def test_booking_the_vaccine_again_when_every_dose_is_held_is_refused(patient: Patient) -> None:
    booked(patient, vaccine_slot(today() + timedelta(days=1), code="vaccine-influenza"))
    another = vaccine_slot(today() + timedelta(days=3), code="vaccine-influenza")

    with pytest.raises(CourseAlreadyBooked):
        booked(patient, another)

    another.refresh_from_db()
    assert another.booked == 0


def test_a_later_dose_outside_its_interval_is_refused_with_the_days_it_can_be_given(
    patient: Patient,
) -> None:
    booked(patient, vaccine_slot(today() + timedelta(days=1)))  # no time for dose 2 yet
    too_soon = vaccine_slot(today() + timedelta(days=10))

    with pytest.raises(OutsideDoseInterval) as refused:
        booked(patient, too_soon)

    assert refused.value.detail["dose"] == 2
    assert refused.value.detail["earliest"] == (today() + timedelta(days=29)).isoformat()
    assert refused.value.detail["latest"] == (today() + timedelta(days=61)).isoformat()
    assert "2569" in str(refused.value.message) or "2026" in str(refused.value.message)


def test_no_patient_holds_two_bookings_for_the_same_dose(patient: Patient) -> None:
    dose = booked(patient, vaccine_slot(today() + timedelta(days=1), code="vaccine-influenza"))
    other_slot = vaccine_slot(today() + timedelta(days=2), code="vaccine-influenza")

    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.create(
            patient=patient,
            slot=other_slot,
            visit_mode=dose.visit_mode,
            channel=dose.channel,
            booked_by=patient.account,
            series=dose.series,
            dose_number=1,
        )


def test_cancelling_the_first_dose_releases_the_later_ones_and_ends_the_course(
    patient: Patient,
) -> None:
    first = vaccine_slot(today() + timedelta(days=1))
    second = vaccine_slot(today() + timedelta(days=40))
    dose_1 = booked(patient, first)

    cancel_appointment(appointment=dose_1)

    assert not doses_of(patient)
    second.refresh_from_db()
    assert second.booked == 0
    assert VaccinationSeries.objects.get(patient=patient).status == "cancelled"
    assert Message.objects.filter(kind=Message.Kind.CANCELLED).count() == 2
    # A new course can start.
    assert booked(patient, vaccine_slot(today() + timedelta(days=2))).dose_number == 1


def test_moving_the_first_dose_moves_a_later_dose_that_left_its_interval(
    patient: Patient,
) -> None:
    first = vaccine_slot(today() + timedelta(days=1))
    second = vaccine_slot(today() + timedelta(days=30))
    later_first = vaccine_slot(today() + timedelta(days=10))
    later_second = vaccine_slot(today() + timedelta(days=45))
    dose_1 = booked(patient, first)
    assert doses_of(patient)[2].slot_id == second.pk

    reschedule_appointment(appointment=dose_1, new_slot_id=later_first.pk)

    doses = doses_of(patient)
    assert doses[1].slot_id == later_first.pk
    assert doses[2].slot_id == later_second.pk
    assert doses[2].sequence == 1
    second.refresh_from_db()
    assert second.booked == 0
    assert Message.objects.filter(kind=Message.Kind.RESCHEDULED, appointment=doses[2]).exists()


def test_moving_the_first_dose_keeps_a_later_dose_that_still_fits(patient: Patient) -> None:
    first = vaccine_slot(today() + timedelta(days=1))
    second = vaccine_slot(today() + timedelta(days=40))
    dose_1 = booked(patient, first)

    reschedule_appointment(
        appointment=dose_1, new_slot_id=vaccine_slot(today() + timedelta(days=3)).pk
    )

    assert doses_of(patient)[2].slot_id == second.pk
    assert doses_of(patient)[2].sequence == 0


def test_moving_the_first_dose_releases_a_later_dose_with_no_time_left_in_its_interval(
    patient: Patient,
) -> None:
    first = vaccine_slot(today() + timedelta(days=1))
    second = vaccine_slot(today() + timedelta(days=30))
    dose_1 = booked(patient, first)

    reschedule_appointment(
        appointment=dose_1, new_slot_id=vaccine_slot(today() + timedelta(days=10)).pk
    )

    assert set(doses_of(patient)) == {1}
    second.refresh_from_db()
    assert second.booked == 0


def test_a_later_dose_cannot_be_moved_out_of_its_interval(patient: Patient) -> None:
    booked(patient, vaccine_slot(today() + timedelta(days=1)))
    booked(patient, vaccine_slot(today() + timedelta(days=30)))
    dose_2 = doses_of(patient)[2]

    with pytest.raises(OutsideDoseInterval):
        reschedule_appointment(
            appointment=dose_2, new_slot_id=vaccine_slot(today() + timedelta(days=70)).pk
        )


def test_cancelling_a_later_dose_releases_those_after_it_and_it_is_booked_again_next(
    patient: Patient,
) -> None:
    booked(patient, vaccine_slot(today() + timedelta(days=1)))
    booked(patient, vaccine_slot(today() + timedelta(days=30)))
    booked(patient, vaccine_slot(today() + timedelta(days=100)))
    assert set(doses_of(patient)) == {1, 2, 3}

    cancel_appointment(appointment=doses_of(patient)[2])

    assert set(doses_of(patient)) == {1}
    assert VaccinationSeries.objects.get(patient=patient).status == "active"
    # The next booking is dose 2 again, so it must fit dose 2's interval.
    with pytest.raises(OutsideDoseInterval):
        booked(patient, vaccine_slot(today() + timedelta(days=101)))
    assert booked(patient, vaccine_slot(today() + timedelta(days=31))).dose_number == 2


def test_giving_a_dose_late_moves_the_next_one_to_keep_its_interval_from_the_real_day(
    patient: Patient, clock: time_machine.Traveller
) -> None:
    stock_up(1, vaccine(), 10)
    first = vaccine_slot(today() + timedelta(days=1))
    second = vaccine_slot(today() + timedelta(days=30))
    dose_1 = booked(patient, first)
    later_second = vaccine_slot(today() + timedelta(days=40))
    assert doses_of(patient)[2].slot_id == second.pk

    # The first dose is given five days late (the nurse completes it on that day).
    given_on = today() + timedelta(days=6)
    Appointment.objects.filter(pk=dose_1.pk).update(status=Status.CHECKED_IN)
    clock.move_to(bangkok(given_on, time(9, 0)))
    complete_appointment(appointment=dose_1)

    assert doses_of(patient)[2].slot_id == later_second.pk


def test_giving_a_dose_takes_it_from_the_lot_that_expires_first(
    patient: Patient, clock: time_machine.Traveller
) -> None:
    hep_b = vaccine()
    late = stock_up(1, hep_b, 5, lot="LATE")
    early = stock_up(1, hep_b, 5, lot="EARLY")
    early.expires_on = today() + timedelta(days=30)
    early.save()
    dose_1 = booked(patient, vaccine_slot(today() + timedelta(days=1)))
    clock.move_to(bangkok(today() + timedelta(days=1), time(10, 5)))
    check_in(appointment=dose_1)

    given = complete_appointment(appointment=dose_1)

    assert given.lot_id == early.pk
    early.refresh_from_db()
    late.refresh_from_db()
    assert (early.doses_used, late.doses_used) == (1, 0)


def test_a_dose_cannot_be_recorded_as_given_without_stock(
    patient: Patient, clock: time_machine.Traveller
) -> None:
    dose_1 = booked(patient, vaccine_slot(today() + timedelta(days=1)))
    clock.move_to(bangkok(today() + timedelta(days=1), time(10, 5)))
    check_in(appointment=dose_1)

    with pytest.raises(NoDoseInStock):
        complete_appointment(appointment=dose_1)

    dose_1.refresh_from_db()
    assert dose_1.status == Status.CHECKED_IN
    assert dose_1.lot_id is None


def test_the_last_dose_given_completes_the_course_and_a_new_one_may_start(
    patient: Patient, clock: time_machine.Traveller
) -> None:
    stock_up(1, vaccine("vaccine-influenza"), 3)
    dose = booked(patient, vaccine_slot(today() + timedelta(days=1), code="vaccine-influenza"))
    clock.move_to(bangkok(today() + timedelta(days=1), time(10, 5)))
    check_in(appointment=dose)
    complete_appointment(appointment=dose)

    assert VaccinationSeries.objects.get(patient=patient).status == "completed"
    next_season = booked(
        patient, vaccine_slot(today() + timedelta(days=2), code="vaccine-influenza")
    )
    assert next_season.dose_number == 1
    assert next_season.series_id != dose.series_id


def test_missing_the_first_dose_releases_the_later_ones(
    patient: Patient, clock: time_machine.Traveller
) -> None:
    dose_1 = booked(patient, vaccine_slot(today() + timedelta(days=1)))
    second = vaccine_slot(today() + timedelta(days=40))
    booked(patient, second)
    clock.move_to(bangkok(today() + timedelta(days=1), time(11, 0)))

    mark_no_show(appointment=dose_1)

    assert Appointment.objects.get(patient=patient, dose_number=2).status == Status.CANCELLED
    second.refresh_from_db()
    assert second.booked == 0
    assert VaccinationSeries.objects.get(patient=patient).status == "cancelled"


def test_consultations_are_not_part_of_any_course(patient: Patient) -> None:
    appointment = booked(patient, SlotFactory())

    assert appointment.series_id is None
    assert appointment.dose_number is None
