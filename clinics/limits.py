"""Limits that are not about booking: fixed windows counted in the cache (Redis when
configured, shared by every process), and password sign-in per user name and per address,
counted in the database so that it holds while Redis is down. Keys are hashed before they are
stored. booking/services/limits.py builds the booking limits on the cache's windows, which
may let everyone through while Redis is down."""

import hashlib
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from redis.exceptions import RedisError

from clinics.exceptions import TooManyRequests
from clinics.models import SignInCount


def _hashed(value: str) -> str:
    return hashlib.sha256(f"{settings.SECRET_KEY}:{value}".encode()).hexdigest()[:24]


def _rate_window(*, scope: str, key: str, window_seconds: int, now: float) -> str:
    return f"rate:{scope}:{_hashed(key)}:{int(now // window_seconds)}"


def check_rate(*, scope: str, key: str, limit: int, window_seconds: int) -> None:
    """Count one more request for `key` in this window; TooManyRequests past `limit`."""
    check_rates(Limit(scope=scope, key=key, limit=limit, window_seconds=window_seconds))


@dataclass(frozen=True)
class Limit:
    scope: str
    key: str
    limit: int
    window_seconds: int


def count_windows(windows: list[tuple[str, int]]) -> list[int]:
    """Add one to each counter (made at 0 with its timeout if new) and give the new values: in
    one round trip where the cache is Redis (config.cache), one key at a time otherwise."""
    in_one_trip = getattr(cache, "count_windows", None)
    if in_one_trip is not None:
        return [int(count) for count in in_one_trip(windows)]
    counts = []
    for name, timeout in windows:  # the in-memory cache of the embedded default
        cache.add(name, 0, timeout=timeout)
        counts.append(int(cache.incr(name)))
    return counts


def check_rates(*limits: Limit) -> None:
    """check_rate for several limits at once: each counted once, in one round trip to Redis;
    TooManyRequests for the first one past its limit."""
    now = time.time()
    counted = [limit for limit in limits if limit.limit > 0 and limit.key]
    windows = [
        (
            _rate_window(
                scope=limit.scope, key=limit.key, window_seconds=limit.window_seconds, now=now
            ),
            limit.window_seconds + 5,
        )
        for limit in counted
    ]
    if not windows:
        return
    counts = count_windows(windows)
    for limit, count in zip(counted, counts, strict=True):
        if count > limit.limit:
            raise TooManyRequests(
                retry_after=int(limit.window_seconds - now % limit.window_seconds) + 1
            )


async def within_rate(*, scope: str, key: str, limit: int, window_seconds: int, redis: Any) -> bool:
    """check_rate for code on an event loop, with an asyncio Redis client of the cache's
    server: the same count, in one round trip and no thread. False past `limit`; True when
    Redis cannot be reached, as the cache's own counters start again then (config/cache.py)."""
    if limit <= 0 or not key:
        return True
    name = cache.make_key(
        _rate_window(scope=scope, key=key, window_seconds=window_seconds, now=time.time())
    )
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.set(name, 0, nx=True, ex=window_seconds + 5)  # as cache.add(name, 0)
            pipe.incr(name)
            _, count = await pipe.execute()
    except (RedisError, OSError):
        return True
    return int(count) <= limit


def check_rate_in_database(*, scope: str, key: str, limit: int, window_seconds: int) -> None:
    """As check_rate, counted in the database: for limits that must not lapse with Redis.

    One statement adds the request (INSERT ... ON CONFLICT, on SQLite and PostgreSQL alike),
    so parallel requests are all counted; the first request of a window clears ended ones."""
    if limit <= 0 or not key:
        return
    now = time.time()
    end = (now // window_seconds + 1) * window_seconds
    ends_at = datetime.fromtimestamp(end, tz=UTC)
    quote = connection.ops.quote_name
    table = quote(SignInCount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({quote('scope')}, {quote('key')}, {quote('ends_at')}, "
            f"{quote('count')}) VALUES (%s, %s, %s, 1) "
            f"ON CONFLICT ({quote('scope')}, {quote('key')}, {quote('ends_at')}) "
            f"DO UPDATE SET {quote('count')} = {table}.{quote('count')} + 1 "
            f"RETURNING {quote('count')}",
            [scope, _hashed(key), connection.ops.adapt_datetimefield_value(ends_at)],
        )
        (count,) = cursor.fetchone()
    if count == 1:
        SignInCount.objects.filter(ends_at__lte=datetime.fromtimestamp(now, tz=UTC)).delete()
    if count > limit:
        raise TooManyRequests(retry_after=max(1, math.ceil(end - now)))


def check_sign_in_rate(*, username: str, address: str | None) -> None:
    """Password sign-ins: per user name and per network address, in ten-minute windows."""
    check_rate_in_database(
        scope="sign-in-user",
        key=username.strip().lower(),
        limit=settings.SIGN_INS_PER_USER_PER_10_MINUTES,
        window_seconds=600,
    )
    check_rate_in_database(
        scope="sign-in-address",
        key=address or "",
        limit=settings.SIGN_INS_PER_ADDRESS_PER_10_MINUTES,
        window_seconds=600,
    )


def check_not_refused_too_often(*, scope: str, key: str, limit: int, window_seconds: int) -> None:
    """TooManyRequests while `key` has had `limit` refusals in this window (see
    count_refusal): a caller probing with many tries is stopped, one who succeeds is not."""
    if limit <= 0 or not key:
        return
    now = time.time()
    name = f"refused:{scope}:{_hashed(key)}:{int(now // window_seconds)}"
    if (cache.get(name) or 0) >= limit:
        raise TooManyRequests(retry_after=int(window_seconds - now % window_seconds) + 1)


def count_refusal(*, scope: str, key: str, window_seconds: int) -> None:
    """Count one refusal for `key` in this window."""
    if not key:
        return
    name = f"refused:{scope}:{_hashed(key)}:{int(time.time() // window_seconds)}"
    cache.add(name, 0, timeout=window_seconds + 5)
    try:
        cache.incr(name)
    except ValueError:  # evicted between add and incr
        cache.set(name, 1, timeout=window_seconds + 5)
