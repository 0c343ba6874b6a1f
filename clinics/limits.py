"""Limits that are not about booking: fixed windows counted in the cache (Redis when
configured, shared by every process), and password sign-in per user name and per address.
Keys are hashed before they become cache keys. booking/services/limits.py builds the
booking limits on the same windows."""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache

from clinics.exceptions import TooManyRequests


def _hashed(value: str) -> str:
    return hashlib.sha256(f"{settings.SECRET_KEY}:{value}".encode()).hexdigest()[:24]


def check_rate(*, scope: str, key: str, limit: int, window_seconds: int) -> None:
    """Count one more request for `key` in this window; TooManyRequests past `limit`."""
    if limit <= 0 or not key:
        return
    now = time.time()
    window = int(now // window_seconds)
    name = f"rate:{scope}:{_hashed(key)}:{window}"
    cache.add(name, 0, timeout=window_seconds + 5)
    if cache.incr(name) > limit:
        raise TooManyRequests(retry_after=int(window_seconds - now % window_seconds) + 1)


def check_sign_in_rate(*, username: str, address: str | None) -> None:
    """Password sign-ins: per user name and per network address, in ten-minute windows."""
    check_rate(
        scope="sign-in-user",
        key=username.strip().lower(),
        limit=settings.SIGN_INS_PER_USER_PER_10_MINUTES,
        window_seconds=600,
    )
    check_rate(
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
