"""Allocate's order (booking.services.appointments.Tries): the best first, then, once a race
is lost, a random one of the rest; candidates others are already about to fill are passed
over while any other is left."""

from dataclasses import dataclass

from booking.exceptions import SlotFull
from booking.services.appointments import Tries


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
