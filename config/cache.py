"""The Redis cache, made to degrade rather than fail: when Redis cannot be reached, reads miss,
writes are dropped and counters start again, so that booking, signing in and sending texts go
on without it (the waiting room then lets people straight through, and the booking and search
limits' counters start from zero until Redis is back). Each failure is logged. The sign-in
lockouts (wrong staff codes, password sign-ins, passcodes) are counted in the database instead,
so that they hold while Redis is down.

Every process shares one connection pool per Redis server: Django makes a cache object per
thread and per async context, which under ASGI means one per request, and Django's own client
opens a pool (and so a connection) for each of them. Each thread (the event loop's among them)
keeps one client holding one of the pool's connections for good."""

import asyncio
import logging
import os
import threading
import weakref
from typing import Any

import redis.asyncio
from django.conf import settings
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


def _unreachable(operation: str) -> None:
    logger.warning("Redis cache unreachable (%s); going on without it.", operation)


_pools: dict[tuple[str, str], Any] = {}
_pools_lock = threading.Lock()
# Each thread's clients, by the id of their pool (the pools above are kept for the life of the
# process); when a thread ends its clients wait, with their connections, for the next thread
# (Django runs each synchronous request in a thread of its own).
_thread_clients = threading.local()
_idle_clients: dict[int, list[Any]] = {}


class _Held:
    """What one thread holds: its client of each pool."""

    __slots__ = ("__weakref__", "clients")

    def __init__(self) -> None:
        self.clients: dict[int, Any] = {}
        # To this process's idle clients: a forked child's are another dict, never these.
        weakref.finalize(self, _hand_on, self.clients, _idle_clients)


def _hand_on(clients: dict[int, Any], idle: dict[int, list[Any]]) -> None:
    for pool_id, client in clients.items():
        idle.setdefault(pool_id, []).append(client)


def _forget_clients_after_fork() -> None:
    """A forked child (Celery's workers) must not share its parent's connections: its threads'
    clients are made again (the pools start afresh by themselves)."""
    global _thread_clients, _idle_clients
    _thread_clients, _idle_clients = threading.local(), {}


os.register_at_fork(after_in_child=_forget_clients_after_fork)
# incr in one round trip: Django's asks whether the key exists, then adds (two). No key: nil.
INCR_IF_EXISTS = """
if redis.call('exists', KEYS[1]) == 1 then return redis.call('incrby', KEYS[1], ARGV[1]) end
return false
"""
_incr_scripts: dict[int, Any] = {}  # by the id of their pool
# count_windows as one command: each key made at 0 with its timeout if new, then moved on by one;
# the new values in the keys' order. (A pipeline of SET NX and INCR per key is one round trip
# too, but twice as many commands to pack and replies to parse, on every booking.)
COUNT_WINDOWS = """
local counts = {}
for i, key in ipairs(KEYS) do
  redis.call('set', key, 0, 'NX', 'EX', ARGV[i])
  counts[i] = redis.call('incr', key)
end
return counts
"""
_count_scripts: dict[int, Any] = {}
# A number in a line, drawn once: the one the holder key keeps, else the counter moved on by one
# (made at 0 with the timeout if new) and kept there, with the same timeout.
DRAW_NUMBER = """
local held = redis.call('get', KEYS[2])
if held then return tonumber(held) end
redis.call('set', KEYS[1], 0, 'NX', 'EX', ARGV[1])
local drawn = redis.call('incr', KEYS[1])
redis.call('set', KEYS[2], drawn, 'EX', ARGV[1])
return drawn
"""
_draw_scripts: dict[int, Any] = {}
# Keys read as they are (the hint last), then, when the hint is there, the keys of ARGV[2...] with
# the hint's value in place of the placeholder ARGV[1]: for a caller that would otherwise read
# the hint (say, the account a session was signed in as) and then the keys it names.
READ_WITH_HINT = """
local values = redis.call('mget', unpack(KEYS))
local hint = values[#KEYS]
if hint then
  local placeholder = ARGV[1]
  for i = 2, #ARGV do
    local key = ARGV[i]
    local at = string.find(key, placeholder, 1, true)
    if at then key = string.sub(key, 1, at - 1) .. hint .. string.sub(key, at + #placeholder) end
    values[#values + 1] = redis.call('get', key)
  end
end
return values
"""
_hint_scripts: dict[int, Any] = {}
# Several counters moved at once: each by its delta, made at 0 with its timeout if new, or, with
# no timeout, only if it is there (no key: nil in its place).
MOVE_COUNTERS = """
local values = {}
for i, key in ipairs(KEYS) do
  local delta, timeout = ARGV[2 * i - 1], ARGV[2 * i]
  if timeout ~= '' then redis.call('set', key, 0, 'NX', 'EX', timeout) end
  if timeout ~= '' or redis.call('exists', key) == 1 then
    values[i] = redis.call('incrby', key, delta)
  else
    values[i] = false
  end
end
return values
"""
_move_scripts: dict[int, Any] = {}


def _script(scripts: dict[int, Any], client: Any, source: str) -> Any:
    """The Lua script registered once per pool (its SHA is the same on every connection),
    called with a thread's client."""
    script = scripts.get(id(client.connection_pool))
    if script is None:
        script = scripts.setdefault(id(client.connection_pool), client.register_script(source))
    return script


def _run_script(
    scripts: dict[int, Any], client: Any, source: str, keys: list[Any], args: list[Any]
) -> Any:
    """The Lua script's reply, sent by its SHA on the connection a thread's client holds
    (SharedPoolRedisCacheClient.get_client) without redis-py's command layer (its lock, its
    retry wrapper, its reply callbacks, of which EVALSHA has none): 45-53 us of CPU a call
    where the script object's took 62 (bench/redis_calls.py), on each of a booking's four
    calls and on every request in a drive's line. A server that does not know the script
    (restarted, or its scripts flushed) is sent it, as the script object does; a connection
    that worked before and that the server has closed since (a restart, a timeout) is made
    again once, rather than the call failing and the limits' counters starting again."""
    script = _script(scripts, client, source)
    connection = client.connection

    def once() -> Any:
        connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
        return connection.read_response()

    # redis-py's own attribute: the socket of a connection made and not yet closed.
    made_before = connection._sock is not None
    try:
        return once()
    except NoScriptError:
        script.sha = client.script_load(source)
        return once()
    except RedisConnectionError:
        connection.disconnect()
        if not made_before:
            raise  # not reached at all: Redis is down (the caller goes on without it)
        return once()


class SharedPoolRedisCacheClient(RedisCacheClient):
    """Django's Redis client, taking its pools from the process's rather than its own. redis-py's
    pools are thread-safe and start afresh in a forked child (Celery's workers)."""

    def _get_connection_pool(self, write: bool) -> Any:
        django_client: Any = self  # its attributes are not in django-stubs
        index = django_client._get_connection_pool_index(write)
        kept: dict[int, Any] = django_client.__dict__.setdefault("_kept_pools", {})
        pool = kept.get(index)  # the process's pool for the server, found once per client
        if pool is not None:
            return pool
        server = django_client._servers[index]
        options = django_client._pool_options
        key = (server, repr(sorted(options.items())))
        pool = _pools.get(key)
        if pool is None:
            with _pools_lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = django_client._pool_class.from_url(server, **options)
                    _pools[key] = pool
        kept[index] = pool
        return pool

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        """One client per pool and thread, holding one connection of the pool: Django makes a
        new client for every command, and a redis-py client builds its table of reply parsers
        when made (about 0.15 ms of CPU, most of what a cache read costs); a client that takes
        a connection from the pool for each command checks it for stray data first (one more
        system call) and locks the pool twice, about a quarter of a read's CPU."""
        pool = self._get_connection_pool(write)
        held: _Held | None = getattr(_thread_clients, "held", None)
        if held is None:
            held = _thread_clients.held = _Held()
        client = held.clients.get(id(pool))
        if client is None:
            try:
                client = _idle_clients.get(id(pool), []).pop()
            except IndexError:
                django_client: Any = self
                client = django_client._client(connection_pool=pool, single_connection_client=True)
            held.clients[id(pool)] = client
        return client

    def incr(self, key: Any, delta: int) -> int:
        """As Django's (ValueError when there is no such key), in one round trip: a counter
        moved on every booking in a surge."""
        client = self.get_client(key, write=True)
        value = _run_script(_incr_scripts, client, INCR_IF_EXISTS, [key], [delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return int(value)


class ResilientRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient

    def validate_key(self, key: Any) -> None:
        """Nothing to check: Redis takes any key. Django's own check warns about keys memcached
        would refuse (over 250 characters, spaces, control characters) with a regular
        expression on every key of every command: about 2.6 us of CPU a key, nearly half of
        make_and_validate_key, and a poll in a drive's line reads about six keys."""

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except UNREACHABLE:
            _unreachable("get")
            return default

    def add(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> bool:
        try:
            return bool(super().add(key, value, timeout, version))
        except UNREACHABLE:
            _unreachable("add")
            return True

    def set(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> None:
        try:
            super().set(key, value, timeout, version)
        except UNREACHABLE:
            _unreachable("set")

    def delete(self, key: Any, version: int | None = None) -> bool:
        try:
            return bool(super().delete(key, version))
        except UNREACHABLE:
            _unreachable("delete")
            return False

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        try:
            return int(super().incr(key, delta, version))
        except UNREACHABLE:
            _unreachable("incr")
            return delta

    def count_windows(self, windows: list[tuple[str, int]]) -> list[int]:
        """Add one to each counter (made with 0 and its timeout if new, as add then incr do)
        and give their new values, in one round trip for them all. Counters start again while
        Redis is down."""
        keys = [self.make_and_validate_key(key) for key, _ in windows]
        if not keys:
            return []
        try:
            client = self._cache.get_client(keys[0], write=True)  # type: ignore[attr-defined]
            timeouts = [timeout for _, timeout in windows]
            counts = _run_script(_count_scripts, client, COUNT_WINDOWS, keys, timeouts)
        except UNREACHABLE:
            _unreachable("count_windows")
            return [1] * len(windows)
        return [int(count) for count in counts]

    def draw_number(self, counter: str, holder: str, timeout: int) -> int:
        """The number `holder` keeps, else the next of `counter` (from 1), kept in `holder`:
        in one round trip, and drawn once however many ask at the same moment. 1 while Redis
        is down (the waiting room then lets everyone through)."""
        keys = [self.make_and_validate_key(counter), self.make_and_validate_key(holder)]
        try:
            client = self._cache.get_client(keys[0], write=True)  # type: ignore[attr-defined]
            return int(_run_script(_draw_scripts, client, DRAW_NUMBER, keys, [timeout]))
        except UNREACHABLE:
            _unreachable("draw_number")
            return 1

    def read_with_hint(
        self, keys: list[str], hint: str, placeholder: str, hinted: list[str]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """get_many(keys + [hint]) and, should the hint be there, get_many of the `hinted` keys
        with its value in place of `placeholder`, in one round trip: what was found of the
        first (the hint's value included), and of the second by their names with the value in
        (None when there was no hint). Nothing is found while Redis is down."""
        made = [self.make_and_validate_key(key) for key in [*keys, hint]]
        try:
            client = self._cache.get_client(made[0])  # type: ignore[attr-defined]
            args = [placeholder, *(self.make_and_validate_key(key) for key in hinted)]
            values = _run_script(_hint_scripts, client, READ_WITH_HINT, made, args)
        except UNREACHABLE:
            _unreachable("read_with_hint")
            return {}, None
        loads = self._cache._serializer.loads  # type: ignore[attr-defined]
        found = {
            key: loads(value)
            for key, value in zip([*keys, hint], values, strict=False)
            if value is not None
        }
        if hint not in found:
            return found, None
        named = [key.replace(placeholder, str(found[hint])) for key in hinted]
        return found, {
            key: loads(value)
            for key, value in zip(named, values[len(made) :], strict=True)
            if value is not None
        }

    def move_counters(self, moves: list[tuple[str, int, int | None]]) -> list[int | None]:
        """Move each counter (key, delta, timeout) by its delta, made at 0 with its timeout if
        new, or, with no timeout, only if it is there (None if not), in one round trip; the
        new values in order. Nothing is moved while Redis is down (None for each)."""
        keys = [self.make_and_validate_key(key) for key, _, _ in moves]
        if not keys:
            return []
        args: list[Any] = []
        for _, delta, timeout in moves:
            args += [delta, "" if timeout is None else timeout]
        try:
            client = self._cache.get_client(keys[0], write=True)  # type: ignore[attr-defined]
            values = _run_script(_move_scripts, client, MOVE_COUNTERS, keys, args)
        except UNREACHABLE:
            _unreachable("move_counters")
            return [None] * len(moves)
        return [None if value is None else int(value) for value in values]

    def get_or_set(
        self, key: Any, default: Any, timeout: Any = None, version: int | None = None
    ) -> Any:
        try:
            return super().get_or_set(key, default, timeout, version)
        except UNREACHABLE:
            _unreachable("get_or_set")
            return default() if callable(default) else default

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        try:
            return dict(super().get_many(keys, version))
        except UNREACHABLE:
            _unreachable("get_many")
            return {}

    def has_key(self, key: Any, version: int | None = None) -> bool:
        # Asked by the cached_db session engine before it makes a new session key.
        try:
            return bool(super().has_key(key, version))
        except UNREACHABLE:
            _unreachable("has_key")
            return False

    def touch(self, key: Any, timeout: Any = None, version: int | None = None) -> bool:
        try:
            return bool(super().touch(key, timeout, version))
        except UNREACHABLE:
            _unreachable("touch")
            return False


REDIS_BACKENDS = {"config.cache.ResilientRedisCache", "django.core.cache.backends.redis.RedisCache"}
_loop_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]" = (
    weakref.WeakKeyDictionary()
)


def loop_redis() -> Any:
    """An asyncio client of the cache's Redis server for the running event loop (one per loop,
    each with its own pool), or None when the cache is not Redis."""
    default = settings.CACHES["default"]
    if default["BACKEND"] not in REDIS_BACKENDS:
        return None
    loop = asyncio.get_running_loop()
    client = _loop_clients.get(loop)
    if client is None:
        client = redis.asyncio.Redis.from_url(default["LOCATION"], **default.get("OPTIONS", {}))
        _loop_clients[loop] = client
    return client
