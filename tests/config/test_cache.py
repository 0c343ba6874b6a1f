"""The Redis cache under ASGI: one connection pool per process, however many requests (each
runs in an async context of its own, where Django makes a cache object of its own), and one
connection held by each thread."""

import asyncio
import gc
import os
import threading
import uuid
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from django.core.cache import caches
from django.core.cache.backends.base import CacheKeyWarning
from pytest_django import Settings

from config.asgi import application
from tests.asgi_post import post
from tests.redis_server import redis_for_tests

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS = 100


class CountingPool(redis.ConnectionPool):
    """redis-py's pool, noting the thread of each connection every pool of the process makes."""

    made_on: list[threading.Thread] = []

    def make_connection(self) -> Any:
        CountingPool.made_on.append(threading.current_thread())
        return super().make_connection()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The Redis of REDIS_URL (a run against the real services), else a private redis-server."""
    with redis_for_tests() as url:
        yield url


async def get(path: str, query: str) -> int:
    """One request through the ASGI application, as a server runs it: in a task of its own."""
    start, _ = await post(
        application,
        path,
        b"",
        [(b"host", b"localhost")],
        method="GET",
        query=query,
        client=("127.0.0.1", 40000),
        server=("127.0.0.1", 8000),
    )
    status = start["status"]
    assert isinstance(status, int)
    return status


def test_a_hundred_asgi_requests_share_one_redis_connection_pool(
    reference_data: None, redis_url: str, settings: Settings
) -> None:
    name = f"bma-cache-test-{uuid.uuid4().hex[:12]}"
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": redis_url,
            "OPTIONS": {
                "socket_connect_timeout": 1,
                "socket_timeout": 1,
                "client_name": name,
                "pool_class": "tests.config.test_cache.CountingPool",
            },
        }
    }
    CountingPool.made_on = []

    async def searches() -> list[int]:
        # Sequential, each in a new task: a fresh async context per request, as uvicorn does.
        return [
            await asyncio.create_task(get("/api/v1/slots", "service=vaccine-influenza"))
            for _ in range(REQUESTS)
        ]

    statuses = asyncio.run(searches())
    watcher = redis.Redis.from_url(redis_url)
    try:
        still_open = [c for c in watcher.client_list() if c.get("name") == name]
    finally:
        watcher.close()
    caches["default"].close()

    assert statuses == [200] * REQUESTS
    # One connection for each thread that used the cache, held for its next requests: requests
    # in turn run on one request thread (a second should one still be finishing as the next
    # starts), and the answer cache reads and writes the shared answers on the event loop's
    # executor (as many threads again, at most). A pool per request made one for every request.
    threads = set(CountingPool.made_on)
    assert len(CountingPool.made_on) == len(threads)
    assert len(threads) <= 4
    assert len(still_open) <= 4


def test_several_counters_are_counted_in_one_round_trip_and_start_again_without_redis(
    redis_url: str,
) -> None:
    """The booking limits' windows: made at 0 with their timeout when new, one added to each,
    in one command (a script); with Redis gone they start again instead of failing."""
    from config.cache import ResilientRedisCache

    live = ResilientRedisCache(redis_url, {"OPTIONS": {"socket_connect_timeout": 1}})
    names = [f"windows-test:{uuid.uuid4().hex}:{n}" for n in range(3)]
    windows = [(name, 60 + n) for n, name in enumerate(names)]

    assert live.count_windows(windows) == [1, 1, 1]
    assert live.count_windows(windows[:2]) == [2, 2]
    assert live.get(names[0]) == 2
    client = redis.Redis.from_url(redis_url)
    assert 0 < client.ttl(live.make_key(names[2])) <= 62

    gone = ResilientRedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 1}})
    assert gone.count_windows(windows) == [1, 1, 1]


def test_incr_is_one_round_trip_and_refuses_a_key_that_is_not_there(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As Django's incr answers (a ValueError for no such key, never a key made at the
    delta), in one command to Redis where Django's takes two."""
    from config.cache import ResilientRedisCache

    live = ResilientRedisCache(redis_url, {"OPTIONS": {"socket_connect_timeout": 1}})
    name = f"incr-test:{uuid.uuid4().hex}"
    live.set(name, 5, timeout=60)
    live.incr(name, 0)  # the script is loaded
    sent: list[bytes] = []
    send = redis.connection.Connection.send_packed_command

    def counting(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(command if isinstance(command, bytes) else b"".join(command))
        return send(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counting)

    assert live.incr(name, -2) == 3
    assert live.incr(name) == 4
    with pytest.raises(ValueError, match="not found"):
        live.incr(f"{name}:missing")

    assert len(sent) == 3
    assert all(b"EVALSHA" in command for command in sent)
    assert live.get(f"{name}:missing") is None


def thread_client(cache: Any) -> Any:
    """The redis-py client the cache uses in this thread."""
    return cache._cache.get_client()


def test_each_thread_keeps_one_connection_and_sends_only_its_commands(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread's client holds one connection of the pool: a read is one command sent and no
    probe of the connection before it; another thread has a connection of its own, and the
    next thread after it ends takes that one over."""
    from config.cache import ResilientRedisCache

    live = ResilientRedisCache(redis_url, {"OPTIONS": {"socket_connect_timeout": 1}})
    live.set("thread-test", 1, timeout=60)
    mine = thread_client(live)
    probes: list[object] = []
    can_read = redis.connection.Connection.can_read

    def probing(self: Any, *args: Any, **kwargs: Any) -> Any:
        probes.append(self)
        return can_read(self, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "can_read", probing)

    assert [live.get("thread-test") for _ in range(3)] == [1, 1, 1]
    assert thread_client(live) is mine
    assert probes == []

    def in_a_thread() -> Any:
        live.get("thread-test")
        return thread_client(live).connection

    first = ThreadPoolExecutor(1)
    theirs = first.submit(in_a_thread).result()
    first.shutdown()
    second = ThreadPoolExecutor(1)
    after = second.submit(in_a_thread).result()
    second.shutdown()

    assert theirs is not mine.connection
    assert after is theirs


def test_a_forked_child_makes_its_own_clients(redis_url: str) -> None:
    """Celery's workers are forked: a child must never talk on its parent's connection."""
    from config.cache import ResilientRedisCache

    live = ResilientRedisCache(redis_url, {"OPTIONS": {"socket_connect_timeout": 1}})
    live.set("fork-test", "parent", timeout=60)
    parent = thread_client(live).connection
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            gc.collect()  # the parent's thread clients, if let go, must not be handed on here
            fresh = thread_client(live).connection is not parent
            in_a_thread = ThreadPoolExecutor(1).submit(lambda: thread_client(live).connection)
            fresh = fresh and in_a_thread.result() is not parent
            os.write(write, b"ok" if fresh and live.get("fork-test") == "parent" else b"no")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 2)
    os.waitpid(child, 0)

    assert answer == b"ok"
    assert live.get("fork-test") == "parent"


def test_a_number_in_line_is_drawn_once_in_one_round_trip(redis_url: str) -> None:
    """The waiting room's numbers: the next of the counter, kept for the holder, who keeps it
    however often they ask (even at the same moment); 1 with Redis gone."""
    from config.cache import ResilientRedisCache

    live = ResilientRedisCache(redis_url, {"OPTIONS": {"socket_connect_timeout": 1}})
    line = f"line-test:{uuid.uuid4().hex}"
    with ThreadPoolExecutor(8) as pool:
        firsts = list(pool.map(lambda _: live.draw_number(line, f"{line}:a", 60), range(8)))

    assert set(firsts) == {1}
    assert live.draw_number(line, f"{line}:b", 60) == 2
    assert live.draw_number(line, f"{line}:a", 60) == 1
    assert live.get(f"{line}:b") == 2
    client = redis.Redis.from_url(redis_url)
    assert 0 < client.ttl(live.make_key(line)) <= 60
    assert 0 < client.ttl(live.make_key(f"{line}:b")) <= 60

    gone = ResilientRedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 1}})
    assert gone.draw_number(line, f"{line}:c", 60) == 1


def test_counters_move_together_made_if_new_or_only_if_there(redis_url: str) -> None:
    """A booking in a drive moves the places left (only once counted) and the bookings made
    (made at 0 if new), in one command."""
    from config.cache import ResilientRedisCache

    live = ResilientRedisCache(redis_url, {"OPTIONS": {"socket_connect_timeout": 1}})
    places, made = (f"move-test:{uuid.uuid4().hex}:{name}" for name in ("places", "made"))

    assert live.move_counters([(places, -1, None), (made, 1, 60)]) == [None, 1]
    assert live.get(places) is None
    live.set(places, 10, timeout=60)
    assert live.move_counters([(places, -1, None), (made, 1, 60)]) == [9, 2]
    assert live.get(places) == 9
    assert live.get(made) == 2
    assert 0 < redis.Redis.from_url(redis_url).ttl(live.make_key(made)) <= 60

    gone = ResilientRedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 1}})
    assert gone.move_counters([(places, -1, None)]) == [None]


def test_a_script_the_server_forgot_is_sent_again(redis_url: str) -> None:
    """The scripts are sent on the thread's connection by their SHA: a server that no longer
    knows them (restarted, or its scripts flushed) is sent the script, and answers."""
    from config.cache import ResilientRedisCache

    live = ResilientRedisCache(redis_url, {"OPTIONS": {"socket_connect_timeout": 1}})
    name = f"noscript-test:{uuid.uuid4().hex}"
    assert live.count_windows([(name, 60)]) == [1]

    redis.Redis.from_url(redis_url).script_flush()

    assert live.count_windows([(name, 60)]) == [2]
    assert live.move_counters([(name, 5, None)]) == [7]


def test_a_connection_the_server_dropped_is_made_again_before_the_next_script(
    redis_url: str,
) -> None:
    """A thread's connection closed by the server (a restart, a timeout, a proxy) is made again
    once, and the script counts: the limits do not start again for one lost connection."""
    from config.cache import ResilientRedisCache

    live = ResilientRedisCache(redis_url, {"OPTIONS": {"socket_connect_timeout": 1}})
    name = f"reconnect-test:{uuid.uuid4().hex}"
    assert live.count_windows([(name, 60)]) == [1]
    held = live._cache.get_client(live.make_key(name), write=True).connection
    killer = redis.Redis.from_url(redis_url)
    held.send_command("CLIENT", "ID")
    own_id = int(held.read_response())

    assert killer.client_kill_filter(_id=own_id) == 1

    assert live.count_windows([(name, 60)]) == [2]
    assert live.draw_number(f"{name}:line", f"{name}:mine", 60) == 1


def test_keys_named_by_a_hint_are_read_with_it_in_one_command(redis_url: str) -> None:
    """read_with_hint: the keys and the hint, and, when the hint is there, the keys it names
    (its value in place of the placeholder), in one command; nothing while Redis is gone."""
    from config.cache import ResilientRedisCache

    live = ResilientRedisCache(redis_url, {"OPTIONS": {"socket_connect_timeout": 1}})
    base = f"hint-test:{uuid.uuid4().hex}"
    session, hint = f"{base}:session", f"{base}:hint"
    named = [f"{base}:account:{{who}}", f"{base}:line:{{who}}", f"{base}:plain"]
    live.set_many({session: {"user": 7}, f"{base}:account:7": {"name": "A"}, f"{base}:plain": 3})
    sent: list[Any] = []
    client = live._cache.get_client(live.make_key(session))
    send = client.connection.send_packed_command

    def counting(command: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(command)
        return send(command, *args, **kwargs)

    client.connection.send_packed_command = counting
    try:
        unhinted = live.read_with_hint([session], hint, "{who}", named)
        live.set(hint, 7)
        sent.clear()
        found, hinted = live.read_with_hint([session], hint, "{who}", named)
    finally:
        client.connection.send_packed_command = send

    assert unhinted == ({session: {"user": 7}}, None)
    assert len(sent) == 1
    assert found == {session: {"user": 7}, hint: 7}
    assert hinted == {f"{base}:account:7": {"name": "A"}, f"{base}:plain": 3}
    gone = ResilientRedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 1}})
    assert gone.read_with_hint([session], hint, "{who}", named) == ({}, None)


def test_any_key_is_taken_without_memcached_warnings(redis_url: str) -> None:
    """Redis takes keys memcached would refuse (long, with spaces): no warning is worked out
    for them, and they are stored and read as any other."""
    from config.cache import ResilientRedisCache

    live = ResilientRedisCache(redis_url, {"OPTIONS": {"socket_connect_timeout": 1}})
    key = f"key test {uuid.uuid4().hex} " + "x" * 300
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheKeyWarning)
        live.set(key, "kept", 60)
        assert live.get(key) == "kept"
        assert live.get_many([key, f"{key}:other"]) == {key: "kept"}
        assert live.draw_number(f"{key}:next", f"{key}:holder", 60) == 1
