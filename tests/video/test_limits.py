"""The places a room's and a join link's connections take in the cache (shared by every server
process when REDIS_URL is set), and the chat allowance of one connection."""

import time
from collections.abc import Callable

import pytest
from django.core.cache import cache

from video.limits import (
    ChatAllowance,
    TooManyConnections,
    release_places,
    renew_places,
    take_places,
)


def eventually(condition: Callable[[], bool], *, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def test_each_connection_takes_a_place_until_the_room_is_full(settings):
    settings.VIDEO_SOCKETS_PER_ROOM = 3
    held = [take_places(room_code="R1", join_token=None, holder=f"c{n}") for n in range(3)]
    assert len({places.keys for places in held}) == 3

    with pytest.raises(TooManyConnections):
        take_places(room_code="R1", join_token=None, holder="c3")
    take_places(room_code="R2", join_token=None, holder="c3")  # another room has its own

    release_places(places=held[1])
    assert take_places(room_code="R1", join_token=None, holder="c4").keys == held[1].keys


def test_a_full_join_link_gives_back_the_room_place_it_took(settings):
    settings.VIDEO_SOCKETS_PER_ROOM = 3
    settings.VIDEO_SOCKETS_PER_JOIN_LINK = 1
    take_places(room_code="R1", join_token="link-a", holder="c0")

    with pytest.raises(TooManyConnections):
        take_places(room_code="R1", join_token="link-a", holder="c1")

    take_places(room_code="R1", join_token=None, holder="c2")
    take_places(room_code="R1", join_token="link-b", holder="c3")  # the room had a place left


def test_giving_back_a_place_taken_over_by_another_connection_leaves_it_theirs(settings):
    settings.VIDEO_SOCKETS_PER_ROOM = 1
    mine = take_places(room_code="R1", join_token=None, holder="c0")
    cache.set(mine.keys[0], "c1")  # my lease lapsed and c1 took the place

    release_places(places=mine)

    assert cache.get(mine.keys[0]) == "c1"


def test_the_places_of_a_process_that_died_free_themselves_after_the_lease(settings):
    settings.VIDEO_SOCKETS_PER_ROOM = 1
    settings.VIDEO_SOCKET_LEASE_SECONDS = 1
    take_places(room_code="R1", join_token=None, holder="process-that-died")
    with pytest.raises(TooManyConnections):
        take_places(room_code="R1", join_token=None, holder="c1")

    def a_place_is_free() -> bool:
        try:
            take_places(room_code="R1", join_token=None, holder="c1")
        except TooManyConnections:
            return False
        return True

    eventually(a_place_is_free)


def test_an_open_connection_that_renews_keeps_its_place_past_the_first_lease(settings):
    settings.VIDEO_SOCKETS_PER_ROOM = 1
    settings.VIDEO_SOCKET_LEASE_SECONDS = 1
    alive = take_places(room_code="R1", join_token=None, holder="alive")
    gone = take_places(room_code="R2", join_token=None, holder="gone")
    settings.VIDEO_SOCKET_LEASE_SECONDS = 60
    renew_places(places=alive)

    eventually(lambda: cache.get(gone.keys[0]) is None)  # a lease of 1 s has run out

    assert cache.get(alive.keys[0]) == "alive"
    with pytest.raises(TooManyConnections):
        take_places(room_code="R1", join_token=None, holder="c1")


def test_renewing_takes_back_a_place_that_lapsed(settings):
    settings.VIDEO_SOCKETS_PER_ROOM = 1
    mine = take_places(room_code="R1", join_token=None, holder="c0")
    cache.delete(mine.keys[0])  # lapsed while the process was stalled

    renew_places(places=mine)

    assert cache.get(mine.keys[0]) == "c0"


def test_no_limit_takes_no_place(settings):
    settings.VIDEO_SOCKETS_PER_ROOM = 0
    settings.VIDEO_SOCKETS_PER_JOIN_LINK = 0
    for number in range(50):
        assert take_places(room_code="R1", join_token="t", holder=f"c{number}").keys == ()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_connection_may_chat_so_often_in_any_ten_seconds():
    clock = Clock()
    allowance = ChatAllowance(limit=3, window_seconds=10, clock=clock)

    assert [allowance.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 9.9
    assert not allowance.take()
    clock.now += 0.1  # the first three are now ten seconds old
    assert [allowance.take() for _ in range(4)] == [True, True, True, False]


def test_no_chat_limit_refuses_nothing():
    allowance = ChatAllowance(limit=0, clock=Clock())
    assert all(allowance.take() for _ in range(1000))
