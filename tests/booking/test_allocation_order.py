"""Allocate's order (booking.services.appointments.Tries): the best first, then, once a race
is lost, a random one of the rest; candidates others are already trying are passed over
while any other is left (on the event loop: a slot another booking of the process is being
made in, booking.services.booking_sql.aio). A booking made while another of the same slot is
in flight in the process leaves its texts out until the function finds a place for it.
Allocations in flight together share their search's candidates for a moment."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest

from booking.exceptions import SlotFull
from booking.models import Appointment, Patient
from booking.selectors import SlotOrder, SlotSearch, build_search, centres_to_walk
from booking.services.appointments import Tries
from booking.services.booking_sql import aio
from booking.services.booking_sql.reads import SlotFacts
from config.async_database import AsyncConnections
from tests.factories import PatientFactory, SlotFactory, booked, vaccine


@dataclass(frozen=True)
class Found:
    slot_id: int
    free: int = 1


def test_the_best_candidate_is_tried_first_and_remembered() -> None:
    tries = Tries()
    candidates = [Found(1), Found(2), Found(3)]

    assert tries.next_of(candidates) == Found(1)
    assert candidates == [Found(2), Found(3)]
    assert tries.tried == {1}


def test_a_crowded_candidate_is_passed_over_for_the_next_best() -> None:
    tries = Tries()
    candidates = [Found(1), Found(2), Found(3)]

    assert tries.next_of(candidates, crowded=lambda found: found.slot_id == 1) == Found(2)
    assert candidates == [Found(1), Found(3)]  # still there, should the others fail


def test_when_every_candidate_is_crowded_the_best_is_tried_all_the_same() -> None:
    tries = Tries()

    assert tries.next_of([Found(1), Found(2)], crowded=lambda found: True) == Found(1)


def test_after_a_lost_race_the_pick_is_among_the_uncrowded_rest() -> None:
    tries = Tries()
    tries.refused(SlotFull())
    picks = {
        tries.next_of(
            [Found(1), Found(2), Found(3), Found(4)], crowded=lambda found: found.slot_id < 3
        ).slot_id
        for _ in range(50)
    }

    assert picks <= {3, 4}
    assert picks == {3, 4}  # random, not always the first: 50 tries, a chance of 2**-49 to fail


def test_two_allocations_at_once_in_one_process_try_different_slots() -> None:
    """A slot one allocation of the process is trying is passed over by the next, though it
    has room for both: the second would otherwise wait on the first's row lock until it
    commits."""
    tried: list[int] = []
    first_in_flight = asyncio.Event()
    let_first_finish = asyncio.Event()
    slots = [
        SlotFacts(
            slot_id=number,
            start=datetime(2026, 12, 10, 9, tzinfo=UTC),
            end=datetime(2026, 12, 10, 9, 15, tzinfo=UTC),
            centre_id=1,
            service_id=1,
            drive_id=None,
        )
        for number in (1, 2)
    ]

    async def candidates(excluding: set[int]) -> tuple[Any, list[SlotFacts]]:
        search = SimpleNamespace(service=SimpleNamespace(pk=1))
        return search, [facts for facts in slots if facts.slot_id not in excluding]

    async def book(conn: Any, *, slot_id: int, **kwargs: Any) -> Any:
        tried.append(slot_id)
        if len(tried) == 1:
            first_in_flight.set()
            await let_first_finish.wait()
        return slot_id

    async def two_at_once() -> list[Any]:
        async def allocate() -> Any:
            return await aio.aallocate_slot(
                None,
                patient=cast(Any, None),
                booked_by=cast(Any, None),
                channel=cast(Any, "web"),
                idempotency_key="key",
                candidates=candidates,
            )

        first = asyncio.ensure_future(allocate())
        await first_in_flight.wait()
        second = await allocate()
        let_first_finish.set()
        return [await first, second]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aio, "_abook_slot", book)
        booked = asyncio.run(two_at_once())

    assert booked == [1, 2]
    assert aio.bookings_in_flight() == {}


def test_a_booking_of_a_slot_another_is_being_made_in_leaves_its_texts_out() -> None:
    """In a burst on one slot most are refused: those that start while another booking of
    the slot is in flight here are called without texts (the function asks for them should
    a place be free); a booking of another slot, or of the same once the first is done, has
    them made at once."""
    asked: list[tuple[int, bool]] = []
    first_in_flight = asyncio.Event()
    let_first_finish = asyncio.Event()

    async def book(conn: Any, *, slot_id: int, texts: bool, **kwargs: Any) -> Any:
        asked.append((slot_id, texts))
        if len(asked) == 1:
            first_in_flight.set()
            await let_first_finish.wait()
        return slot_id

    def booking(slot_id: int) -> Any:
        return aio.abook_slot(
            None,
            patient=cast(Any, None),
            slot_id=slot_id,
            booked_by=cast(Any, None),
            channel=cast(Any, "api"),
            idempotency_key="key",
        )

    async def burst() -> None:
        first = asyncio.ensure_future(booking(1))
        await first_in_flight.wait()
        await booking(1)
        await booking(2)
        assert aio.bookings_in_flight() == {1: 1}
        let_first_finish.set()
        await first
        await booking(1)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aio, "_abook_slot", book)
        asyncio.run(burst())

    assert asked == [(1, True), (1, False), (2, True), (1, True)]
    assert aio.bookings_in_flight() == {}


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_the_last_look_for_the_keys_booking_locks_without_waiting_for_the_disk(
    reference_data: None,
) -> None:
    """abooked_with_key, run here inside a transaction of the test's: the patient's row is
    locked (another connection cannot take it) by a statement that turns synchronous commit
    off for its transaction alone, which in autocommit is the lock's own."""
    patient = PatientFactory()
    connections = AsyncConnections(2)

    async def look() -> tuple[bool, str, bool, str]:
        async with connections.connection() as conn, connections.connection() as other:
            await conn.execute("BEGIN")
            booked = await aio.abooked_with_key(
                conn, patient_id=patient.pk, booked_by_id=patient.account_id, idempotency_key="k"
            )
            during = await (await conn.execute("SHOW synchronous_commit")).fetchone()
            taken = await other.execute(
                "SELECT 1 FROM booking_patient WHERE id = %s FOR UPDATE SKIP LOCKED", [patient.pk]
            )
            free = await taken.fetchone() is not None
            await conn.execute("COMMIT")
            after = await (await conn.execute("SHOW synchronous_commit")).fetchone()
            return booked, str(during[0]), free, str(after[0])

    try:
        assert asyncio.run(look()) == (False, "off", False, "on")
    finally:
        connections.close()


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_call_without_texts_commits_without_waiting_for_the_disk_and_a_booking_waits(
    reference_data: None,
) -> None:
    """A call without texts (the slot was read full) writes nothing, so its statement turns
    synchronous commit off for its own transaction (its own, in the loop's autocommit); a
    call that books leaves it on. Run here inside a transaction of the test's, to look."""
    full, free = SlotFactory(capacity=1), SlotFactory(capacity=1)
    booked(PatientFactory(), full)
    patient = PatientFactory()
    connections = AsyncConnections(1)

    async def call(slot_id: int, *, full_as_read: bool) -> tuple[str, str]:
        async with connections.connection() as conn:
            await conn.execute("BEGIN")
            try:
                await aio.abook_slot(
                    conn,
                    patient=patient,
                    slot_id=slot_id,
                    booked_by=patient.account,
                    channel=Appointment.Channel.API,
                    idempotency_key=f"key-{slot_id}",
                    full_as_read=full_as_read,
                )
                answer = "booked"
            except SlotFull:
                answer = "slot_full"
            during = await (await conn.execute("SHOW synchronous_commit")).fetchone()
            await conn.execute("ROLLBACK")
            return answer, str(during[0])

    async def both() -> list[tuple[str, str]]:
        return [
            await call(full.pk, full_as_read=True),
            await call(free.pk, full_as_read=False),
        ]

    try:
        assert asyncio.run(both()) == [("slot_full", "off"), ("booked", "on")]
    finally:
        connections.close()


def flu_search_from_home(patient: Patient) -> SlotSearch:
    """ "Book the best for me" for a flu jab from the patient's district, with the centres'
    order kept (the search on the event loop then needs no ORM)."""
    search = build_search(
        service="vaccine-influenza",
        date_from=None,
        date_to=None,
        district=patient.district_id,
        lat=None,
        lon=None,
        centres=None,
        order=SlotOrder.NEAREST,
    )
    centres_to_walk(search)
    return search


class CountedReads:
    """An async connection that counts the cursors asked of it (each search is one)."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.reads = conn, 0

    @property
    def info(self) -> Any:
        return self.conn.info

    def cursor(self) -> Any:
        self.reads += 1
        return self.conn.cursor()


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_allocations_in_flight_together_share_a_search_and_one_alone_reads_it_afresh(
    patient: Patient, settings: Any
) -> None:
    """abest_open_slots within allocating(): while an allocation is in flight, the next of
    the same search takes the candidates read for the first without a query, less those it
    tried and the slots this process found full since; one alone, one after the others are
    answered, and one once the search is ALLOCATION_SHARE_MS old read them again."""
    flu = vaccine("vaccine-influenza")
    home = SlotFactory(service=flu, centre_id=9)
    later_at_home = SlotFactory(service=flu, centre_id=9, start=home.start + timedelta(hours=1))
    farther = SlotFactory(service=flu, centre_id=40)
    search = flu_search_from_home(patient)
    connections = AsyncConnections(1)

    async def searches() -> list[tuple[int, list[int]]]:
        seen: list[tuple[int, list[int]]] = []
        async with connections.connection() as conn:
            counted = CountedReads(conn)

            async def candidates(excluding: set[int] | None = None) -> None:
                found = await aio.abest_open_slots(
                    counted, search, limit=25, excluding=excluding or set()
                )
                seen.append((counted.reads, [facts.slot_id for facts in found]))

            await candidates()  # alone
            with aio.allocating():
                await candidates()  # the first in flight
                with aio.allocating():  # a second, meanwhile
                    await candidates({home.pk})
                    aio._found_full(later_at_home.pk)  # as a try of it is refused, say
                    await candidates()
            await candidates()  # none in flight
            with aio.allocating():
                await candidates()  # the first of the next in flight
                with aio.allocating():
                    settings.ALLOCATION_SHARE_MS = 0
                    await candidates()  # too old
        return seen

    try:
        seen = asyncio.run(searches())
    finally:
        connections.close()

    every = [home.pk, later_at_home.pk, farther.pk]
    assert seen == [
        (1, every),
        (2, every),
        (2, [later_at_home.pk, farther.pk]),
        (2, [home.pk, farther.pk]),
        (3, every),  # read afresh: what was found full before is not left out of a new read
        (4, every),
        (5, every),
    ]


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_allocations_sharing_a_search_pass_over_the_slots_found_full_meanwhile(
    patient: Patient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three allocations while another is in flight, on one search read once: the first
    fills the best slot; the second tries the next, filled meanwhile by another process
    (refused, slot_full), and takes the third; the third tries neither again."""
    flu = vaccine("vaccine-influenza")
    home = SlotFactory(service=flu, centre_id=9, capacity=1)
    later_at_home = SlotFactory(
        service=flu, centre_id=9, start=home.start + timedelta(hours=1), capacity=1
    )
    farther = SlotFactory(service=flu, centre_id=40, capacity=5)
    search = flu_search_from_home(patient)
    people = [PatientFactory() for _ in range(3)]
    tried: list[int] = []
    book = aio.abook_slot

    async def trying(conn: Any, **kwargs: Any) -> Any:
        tried.append(kwargs["slot_id"])
        return await book(conn, **kwargs)

    monkeypatch.setattr(aio, "abook_slot", trying)
    connections = AsyncConnections(1)

    async def allocations() -> tuple[int, list[int]]:
        async with connections.connection() as conn:
            counted = CountedReads(conn)

            async def candidates(excluding: set[int]) -> Any:
                return search, await aio.abest_open_slots(
                    counted, search, limit=25, excluding=excluding
                )

            slots = []
            with aio.allocating():  # another allocation in flight all along
                for number, person in enumerate(people):
                    if number == 1:  # another process fills it
                        await conn.execute(
                            "UPDATE booking_slot SET booked = capacity WHERE id = %s",
                            [later_at_home.pk],
                        )
                    appointment, _, _ = await aio.aallocate_slot(
                        conn,
                        patient=person,
                        booked_by=person.account,
                        channel=Appointment.Channel.API,
                        idempotency_key=f"key-{number}",
                        candidates=candidates,
                    )
                    slots.append(appointment.slot_id)
            return counted.reads, slots

    try:
        reads, slots = asyncio.run(allocations())
    finally:
        connections.close()

    assert slots == [home.pk, farther.pk, farther.pk]
    assert tried == [home.pk, later_at_home.pk, farther.pk, farther.pk]
    assert reads == 1
