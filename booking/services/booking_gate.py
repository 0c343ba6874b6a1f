"""The way into the engine for a booking a person asks for, in one order: the drive's waiting
room (asking again while in line is not a booking and counts against no limit), then the
booking limits, then the engine. Someone let in to a drive who finds no place left in it is
told `drive_full`, as the people still in line are; once the drive's counter says its places
are gone, before any search (drive_full_before_searching). The API's book and allocate, the lean
route that runs them faster (config/lean_routes/) and the booking page all come through
here. A partner's booking (services.partners) stands in the same line as the person it names
and counts against the partner key's limits instead.

`let_in` and `counted` say that the caller has done the first steps already (the lean route
asks the waiting room on the event loop, and may count the limits there before handing a
booking over to a thread), so that nothing is asked or counted twice.
"""

from typing import NoReturn

from django.contrib.auth.models import User

from booking.exceptions import DriveFull, NoSlotAvailable
from booking.models import Appointment, Patient
from booking.selectors import SlotSearch
from booking.services.appointments import (
    Booking,
    allocate_slot,
    book_slot,
    has_booked_with_key,
)
from booking.services.limits import check_booking_rate
from booking.vaccination.waiting_room import (
    drive_sold_out,
    every_drive_sold_out,
    wait_turn,
    wait_turn_for_slot,
)


def count_booking(*, user: User, patient: Patient, address: str | None) -> None:
    """The limits a booking counts against (the account's and the address's each hour, the
    national ID's each day), once a person is let in and before the engine is asked."""
    check_booking_rate(account_id=user.pk, national_id=patient.national_id, address=address)


def book_for_account(
    *,
    user: User,
    patient: Patient,
    slot_id: int,
    channel: Appointment.Channel,
    idempotency_key: str,
    address: str | None,
    let_in: bool = False,
    counted: bool = False,
) -> Booking:
    """A place in the slot for one of the account's patients (see the module's order)."""
    if not let_in:
        wait_turn_for_slot(slot_id=slot_id, account_id=user.pk)
    if not counted:
        count_booking(user=user, patient=patient, address=address)
    return book_slot(
        patient=patient,
        slot_id=slot_id,
        booked_by=user,
        channel=channel,
        idempotency_key=idempotency_key,
    )


def allocate_for_account(
    *,
    user: User,
    patient: Patient,
    search: SlotSearch,
    channel: Appointment.Channel,
    idempotency_key: str,
    address: str | None,
    let_in: bool = False,
    counted: bool = False,
) -> Booking:
    """The best open slot of the search for one of the account's patients ("book the best
    for me"; see the module's order)."""
    if not let_in:
        let_in = wait_turn(service_id=search.service.pk, account_id=user.pk)
    if not counted:
        count_booking(user=user, patient=patient, address=address)
    if let_in and drive_full_before_searching(
        user=user, search=search, idempotency_key=idempotency_key
    ):
        raise DriveFull()
    try:
        return allocate_slot(
            patient=patient,
            search=search,
            booked_by=user,
            channel=channel,
            idempotency_key=idempotency_key,
        )
    except NoSlotAvailable:
        refuse_none_left(search)


def drive_full_before_searching(*, user: User, search: SlotSearch, idempotency_key: str) -> bool:
    """Whether someone a drive's line let in is told `drive_full` without a search: every
    drive of the search's service and days has no place left, as the counters say, and the
    key has not booked already (that booking is the answer, which allocate_slot gives). The
    lean route asks the same on the event loop (config/lean_routes/engine.py). In
    bench/surge.py the people let in after the last places had gone were a third of the
    allocations, each searching the drive's slots for nothing while the line answered the
    rest from the counter. The counter is moved once a booking has committed, so a booking
    of the drive's last places with the key is seen here without the patient's lock."""
    return every_drive_sold_out(
        service_id=search.service.pk, date_from=search.date_from, date_to=search.date_to
    ) and not has_booked_with_key(booked_by=user, idempotency_key=idempotency_key)


def refuse_none_left(search: SlotSearch) -> NoReturn:
    """No open slot of the search is left for someone let in: `drive_full` when a drive of the
    service in its surge, on those days, has no place left (its last places went to others
    meanwhile: the final answer, as the people still in line get it), else
    `no_slot_available`."""
    if drive_sold_out(
        service_id=search.service.pk, date_from=search.date_from, date_to=search.date_to
    ):
        raise DriveFull()
    raise NoSlotAvailable()
