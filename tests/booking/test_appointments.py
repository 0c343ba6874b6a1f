from datetime import date, time, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from booking.exceptions import (
    AlreadyBooked,
    BookingClosed,
    CancellationClosed,
    IdempotencyKeyReused,
    InvalidStatusChange,
    NoSlotAvailable,
    OverlappingAppointment,
    SlotClosed,
    SlotFull,
)
from booking.models import Appointment, Patient, Slot
from booking.selectors import SlotOrder, SlotSearch
from booking.services.appointments import (
    Booking,
    allocate_slot,
    book_slot,
    cancel_appointment,
    check_in,
    complete_appointment,
    mark_no_show,
    reschedule_appointment,
    start_consultation,
)
from clinics.exceptions import InvalidInput, NotFound
from clinics.models import HealthCentre, Service
from tests.factories import PatientFactory, SlotFactory, bangkok, book

pytestmark = pytest.mark.django_db

Status = Appointment.Status
TUESDAY = date(2026, 12, 1)


def counter(slot: Slot) -> int:
    slot.refresh_from_db()
    return slot.booked


# --- Booking -------------------------------------------------------------------------------------


def test_booking_takes_a_place_and_records_who_how_and_the_visit_mode(reference_data, patient):
    video = Service.objects.get(code="video-general")
    slot = SlotFactory(service=video)

    booking = book(patient, slot)

    appointment = booking.appointment
    assert booking.created
    assert appointment.status == Status.BOOKED
    assert appointment.visit_mode == "video"
    assert appointment.channel == Appointment.Channel.API
    assert appointment.booked_by == patient.account
    assert counter(slot) == 1


def test_booking_a_full_slot_raises_slot_full(reference_data, patient, other_patient):
    slot = SlotFactory(capacity=1)
    book(patient, slot)

    with pytest.raises(SlotFull):
        book(other_patient, slot)
    assert counter(slot) == 1
    assert Appointment.objects.count() == 1


def test_the_database_itself_refuses_a_counter_past_capacity(reference_data):
    slot = SlotFactory(capacity=1, booked=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Slot.objects.filter(pk=slot.pk).update(booked=F("booked") + 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Slot.objects.filter(pk=slot.pk).update(booked=F("booked") - 2)


def test_booking_a_closed_slot_raises_slot_closed(reference_data, patient):
    slot = SlotFactory(closed=True)
    with pytest.raises(SlotClosed):
        book(patient, slot)
    assert counter(slot) == 0


def test_booking_a_slot_that_does_not_exist_is_not_found(reference_data, patient):
    with pytest.raises(NotFound):
        book_slot(
            patient=patient,
            slot_id=999_999,
            booked_by=patient.account,
            channel=Appointment.Channel.API,
            idempotency_key="",
        )


def test_booking_closes_the_services_cutoff_before_the_start(reference_data, patient, clock):
    slot = SlotFactory(start=bangkok(TUESDAY, time(10, 0)))  # general-checkup: 60 minutes
    clock.move_to(bangkok(TUESDAY, time(9, 1)))

    with pytest.raises(BookingClosed) as error:
        book(patient, slot)
    assert error.value.detail["cutoff_minutes"] == 60

    clock.move_to(bangkok(TUESDAY, time(8, 59)))
    assert book(patient, slot).created


def test_a_patient_cannot_hold_two_places_in_one_slot(reference_data, patient):
    slot = SlotFactory()
    book(patient, slot)
    with pytest.raises(AlreadyBooked):
        book(patient, slot)
    assert counter(slot) == 1


def test_a_patient_cannot_hold_overlapping_appointments(reference_data, patient):
    tomorrow = timezone.localdate() + timedelta(days=1)
    first = SlotFactory(start=bangkok(tomorrow, time(10, 0)))
    overlapping = SlotFactory(
        service=Service.objects.get(code="vaccine-influenza"),
        centre=HealthCentre.objects.get(number=2),
        start=bangkok(tomorrow, time(10, 10)),
    )
    after = SlotFactory(start=bangkok(tomorrow, time(10, 15)))
    book(patient, first)

    with pytest.raises(OverlappingAppointment):
        book(patient, overlapping)
    assert book(patient, after).created  # back-to-back is fine


def test_a_cancelled_appointment_does_not_block_booking_again(reference_data, patient):
    slot = SlotFactory()
    cancel_appointment(appointment=book(patient, slot).appointment)
    assert book(patient, slot).created
    assert counter(slot) == 1


def test_a_dependant_can_be_booked_beside_the_guardian(reference_data, patient):
    child = PatientFactory(account=patient.account, relationship=Patient.Relationship.CHILD)
    slot = SlotFactory()
    book(patient, slot)
    booking = book_slot(
        patient=child,
        slot_id=slot.pk,
        booked_by=patient.account,
        channel=Appointment.Channel.API,
        idempotency_key="",
    )
    assert booking.appointment.patient == child
    assert counter(slot) == 2


# --- Idempotency ---------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_returns_the_same_appointment(reference_data, patient):
    slot = SlotFactory()
    first = book(patient, slot, key="retry-key-1")
    again = book(patient, slot, key="retry-key-1")

    assert first.created
    assert not again.created
    assert again.appointment.pk == first.appointment.pk
    assert counter(slot) == 1


def test_a_key_reused_for_another_slot_is_refused(reference_data, patient):
    book(patient, SlotFactory(), key="retry-key-1")
    other = SlotFactory(start=timezone.now() + timedelta(days=3))
    with pytest.raises(IdempotencyKeyReused):
        book(patient, other, key="retry-key-1")
    assert counter(other) == 0


def test_the_same_key_from_two_accounts_books_twice(reference_data, patient, other_patient):
    slot = SlotFactory()
    book(patient, slot, key="same-key-123")
    book(other_patient, slot, key="same-key-123")
    assert counter(slot) == 2


# --- Cancelling ----------------------------------------------------------------------------------


def test_cancelling_frees_the_place_at_once(reference_data, patient, other_patient):
    slot = SlotFactory(capacity=1)
    appointment = book(patient, slot).appointment

    cancelled = cancel_appointment(appointment=appointment, reason="changed my mind")

    assert cancelled.status == Status.CANCELLED
    assert cancelled.cancelled_at == timezone.now()
    assert cancelled.cancellation_reason == "changed my mind"
    assert counter(slot) == 0
    assert book(other_patient, slot).created


def test_cancelling_twice_frees_the_place_once(reference_data, patient, other_patient):
    slot = SlotFactory(capacity=2)
    appointment = book(patient, slot).appointment
    book(other_patient, slot)

    cancel_appointment(appointment=appointment)
    cancel_appointment(appointment=appointment)

    assert counter(slot) == 1


def test_cancelling_closes_the_services_cutoff_before_the_start(reference_data, patient, clock):
    slot = SlotFactory(start=bangkok(TUESDAY, time(10, 0)))  # general-checkup: 120 minutes
    appointment = book(patient, slot).appointment
    clock.move_to(bangkok(TUESDAY, time(8, 1)))

    with pytest.raises(CancellationClosed):
        cancel_appointment(appointment=appointment)
    # Staff are not bound by the online cut-off.
    assert cancel_appointment(appointment=appointment, enforce_cutoff=False).status == "cancelled"


def test_a_completed_appointment_cannot_be_cancelled(reference_data, patient, clock):
    slot = SlotFactory(start=bangkok(TUESDAY, time(10, 0)))
    appointment = book(patient, slot).appointment
    clock.move_to(bangkok(TUESDAY, time(9, 50)))
    check_in(appointment=appointment)
    complete_appointment(appointment=appointment)

    with pytest.raises(InvalidStatusChange):
        cancel_appointment(appointment=appointment, enforce_cutoff=False)
    assert counter(slot) == 1


# --- Rescheduling --------------------------------------------------------------------------------


def test_rescheduling_moves_the_place_and_raises_the_sequence(reference_data, patient):
    old, new = SlotFactory(), SlotFactory(start=timezone.now() + timedelta(days=2))
    appointment = book(patient, old).appointment

    moved = reschedule_appointment(appointment=appointment, new_slot_id=new.pk)

    assert moved.slot_id == new.pk
    assert moved.sequence == 1
    assert counter(old) == 0
    assert counter(new) == 1


def test_rescheduling_into_a_full_slot_keeps_the_old_place(reference_data, patient, other_patient):
    old, full = SlotFactory(), SlotFactory(start=timezone.now() + timedelta(days=2), capacity=1)
    book(other_patient, full)
    appointment = book(patient, old).appointment

    with pytest.raises(SlotFull):
        reschedule_appointment(appointment=appointment, new_slot_id=full.pk)

    appointment.refresh_from_db()
    assert appointment.slot_id == old.pk
    assert appointment.sequence == 0
    assert counter(old) == 1
    assert counter(full) == 1


def test_rescheduling_to_another_service_is_refused(reference_data, patient):
    appointment = book(patient, SlotFactory()).appointment
    other_service = SlotFactory(service=Service.objects.get(code="vaccine-influenza"))
    with pytest.raises(InvalidInput) as error:
        reschedule_appointment(appointment=appointment, new_slot_id=other_service.pk)
    assert error.value.detail["field"] == "slot_id"


def test_rescheduling_checks_overlaps_but_not_with_itself(reference_data, patient):
    tomorrow = timezone.localdate() + timedelta(days=1)
    appointment = book(patient, SlotFactory(start=bangkok(tomorrow, time(10, 0)))).appointment
    shifted = SlotFactory(start=bangkok(tomorrow, time(10, 5)))
    # Moving by five minutes overlaps only the appointment being moved.
    assert reschedule_appointment(appointment=appointment, new_slot_id=shifted.pk).slot == shifted

    other = book(patient, SlotFactory(start=bangkok(tomorrow, time(11, 0)))).appointment
    clash = SlotFactory(start=bangkok(tomorrow, time(11, 5)))
    with pytest.raises(OverlappingAppointment):
        reschedule_appointment(appointment=appointment, new_slot_id=clash.pk)
    assert other.status == Status.BOOKED


def test_rescheduling_to_the_same_slot_changes_nothing(reference_data, patient):
    slot = SlotFactory()
    appointment = book(patient, slot).appointment
    assert reschedule_appointment(appointment=appointment, new_slot_id=slot.pk).sequence == 0
    assert counter(slot) == 1


def test_rescheduling_respects_both_cutoffs(reference_data, patient, clock):
    soon = SlotFactory(start=bangkok(TUESDAY, time(10, 0)))
    later = SlotFactory(start=bangkok(TUESDAY, time(15, 0)))
    booked_later = book(patient, later).appointment
    clock.move_to(bangkok(TUESDAY, time(9, 30)))
    with pytest.raises(BookingClosed):
        reschedule_appointment(appointment=booked_later, new_slot_id=soon.pk)

    clock.move_to(bangkok(TUESDAY, time(7, 30)))
    booked_soon = reschedule_appointment(appointment=booked_later, new_slot_id=soon.pk)
    clock.move_to(bangkok(TUESDAY, time(8, 30)))
    with pytest.raises(CancellationClosed):
        reschedule_appointment(appointment=booked_soon, new_slot_id=later.pk)


# --- The visit -----------------------------------------------------------------------------------


def test_a_visit_goes_booked_checked_in_in_consultation_completed(reference_data, patient, clock):
    appointment = book(patient, SlotFactory(start=bangkok(TUESDAY, time(10, 0)))).appointment
    clock.move_to(bangkok(TUESDAY, time(9, 40)))

    assert check_in(appointment=appointment).status == Status.CHECKED_IN
    assert start_consultation(appointment=appointment).status == Status.IN_CONSULTATION
    done = complete_appointment(appointment=appointment)

    assert done.status == Status.COMPLETED
    assert done.checked_in_at == bangkok(TUESDAY, time(9, 40))
    assert done.completed_at == bangkok(TUESDAY, time(9, 40))


def test_a_video_visit_may_start_without_check_in(reference_data, patient, clock):
    slot = SlotFactory(service=Service.objects.get(code="video-general"))
    appointment = book(patient, slot).appointment
    clock.move_to(slot.start - timedelta(minutes=5))
    assert start_consultation(appointment=appointment).status == Status.IN_CONSULTATION


def test_a_visit_cannot_start_or_complete_before_its_day(reference_data, patient, clock):
    appointment = book(patient, SlotFactory()).appointment  # tomorrow
    with pytest.raises(InvalidStatusChange):
        start_consultation(appointment=appointment)
    clock.move_to(appointment.slot.start)
    start_consultation(appointment=appointment)
    assert complete_appointment(appointment=appointment).status == Status.COMPLETED


def test_a_slot_already_attended_cannot_be_booked_again_by_the_same_person(
    reference_data, patient, clock
):
    slot = SlotFactory(start=bangkok(TUESDAY, time(15, 0)))
    appointment = book(patient, slot).appointment
    clock.move_to(bangkok(TUESDAY, time(9, 0)))
    check_in(appointment=appointment)
    complete_appointment(appointment=appointment)  # seen early
    with pytest.raises(AlreadyBooked):
        book(patient, slot)


@pytest.mark.parametrize("withdrawn", ["service", "centre", "offer"])
def test_a_slot_whose_service_or_centre_was_withdrawn_cannot_be_booked(
    reference_data, patient, withdrawn
):
    slot = SlotFactory()
    if withdrawn == "service":
        Service.objects.filter(pk=slot.service_id).update(is_active=False)
    elif withdrawn == "centre":
        HealthCentre.objects.filter(pk=slot.centre_id).update(is_active=False)
    else:
        slot.centre.services.remove(slot.service)
    with pytest.raises(SlotClosed):
        book(patient, slot)
    assert counter(slot) == 0


def test_check_in_is_only_on_the_day(reference_data, patient, clock):
    appointment = book(patient, SlotFactory(start=bangkok(TUESDAY, time(10, 0)))).appointment
    with pytest.raises(InvalidStatusChange):
        check_in(appointment=appointment)  # it is Monday


def test_completing_a_visit_that_never_started_is_refused(reference_data, patient):
    appointment = book(patient, SlotFactory()).appointment
    with pytest.raises(InvalidStatusChange):
        complete_appointment(appointment=appointment)


def test_no_show_only_after_the_start_and_it_keeps_the_place_counted(
    reference_data, patient, clock
):
    slot = SlotFactory(start=bangkok(TUESDAY, time(10, 0)))
    appointment = book(patient, slot).appointment
    clock.move_to(bangkok(TUESDAY, time(9, 59)))
    with pytest.raises(InvalidStatusChange):
        mark_no_show(appointment=appointment)

    clock.move_to(bangkok(TUESDAY, time(10, 20)))
    assert mark_no_show(appointment=appointment).status == Status.NO_SHOW
    assert counter(slot) == 1
    # Someone marked as not come who turns up after all is checked in (issue 19), that day.
    assert check_in(appointment=appointment).status == Status.CHECKED_IN
    assert counter(slot) == 1


# --- Allocation ----------------------------------------------------------------------------------


def flu_search(**changes: object) -> SlotSearch:
    values: dict[str, object] = {
        "service": Service.objects.get(code="vaccine-influenza"),
        "date_from": date(2026, 11, 30),
        "date_to": date(2026, 12, 14),
    }
    values.update(changes)
    return SlotSearch(**values)  # type: ignore[arg-type]


def allocate(patient: Patient, search: SlotSearch, key: str = "") -> Booking:
    return allocate_slot(
        patient=patient,
        search=search,
        booked_by=patient.account,
        channel=Appointment.Channel.API,
        idempotency_key=key,
    )


def flu_slot(centre: int, day: date, at: time, **fields: object) -> Slot:
    return SlotFactory(
        centre=HealthCentre.objects.get(number=centre),
        service=Service.objects.get(code="vaccine-influenza"),
        start=bangkok(day, at),
        **fields,
    )


def test_allocation_books_the_earliest_slot_at_the_best_ranked_centre(reference_data, patient):
    phra_nakhon = patient.district  # centres 1 and 9 are in Phra Nakhon
    far_but_early = flu_slot(40, date(2026, 12, 1), time(9, 0))
    home_late = flu_slot(1, date(2026, 12, 3), time(11, 0))
    home_early = flu_slot(1, date(2026, 12, 3), time(9, 0))

    booking = allocate(patient, flu_search(district=phra_nakhon))

    assert booking.appointment.slot == home_early
    assert far_but_early.pk != home_late.pk


def test_allocation_by_earliest_time_ignores_distance(reference_data, patient):
    far_but_early = flu_slot(40, date(2026, 12, 1), time(9, 0))
    flu_slot(1, date(2026, 12, 3), time(9, 0))

    booking = allocate(patient, flu_search(district=patient.district, order=SlotOrder.EARLIEST))

    assert booking.appointment.slot == far_but_early


def test_allocation_moves_past_full_and_overlapping_slots(reference_data, patient, other_patient):
    full = flu_slot(1, date(2026, 12, 1), time(9, 0), capacity=1)
    book(other_patient, full)
    mine = flu_slot(1, date(2026, 12, 1), time(9, 15))
    book(patient, SlotFactory(start=bangkok(date(2026, 12, 1), time(9, 20))))  # general checkup
    free = flu_slot(1, date(2026, 12, 1), time(9, 45))

    booking = allocate(patient, flu_search(district=patient.district))

    assert booking.appointment.slot == free
    assert counter(mine) == 0


def test_allocation_with_nothing_open_raises_no_slot_available(reference_data, patient):
    flu_slot(1, date(2026, 12, 20), time(9, 0))  # outside the dates asked for
    with pytest.raises(NoSlotAvailable):
        allocate(patient, flu_search())


def test_allocation_retried_with_its_key_returns_the_same_appointment(reference_data, patient):
    flu_slot(1, date(2026, 12, 1), time(9, 0))
    flu_slot(1, date(2026, 12, 1), time(10, 0))

    first = allocate(patient, flu_search(), key="allocate-key")
    again = allocate(patient, flu_search(), key="allocate-key")

    assert again.appointment.pk == first.appointment.pk
    assert not again.created
    assert Appointment.objects.count() == 1


def test_allocation_can_be_limited_to_chosen_centres(reference_data, patient):
    flu_slot(1, date(2026, 12, 1), time(9, 0))
    chosen = flu_slot(12, date(2026, 12, 4), time(9, 0))

    booking = allocate(patient, flu_search(district=patient.district, centre_ids=[12]))

    assert booking.appointment.slot == chosen
