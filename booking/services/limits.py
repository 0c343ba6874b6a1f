"""Abuse limits per phone, per national ID, per account and per network address: fixed
windows counted in the cache (Redis when configured, shared by every process). Phone numbers
and national IDs are hashed before they become cache keys. Limits are generous per address:
many patients share one address behind a mobile carrier's NAT."""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache

from booking.exceptions import TooManyRequests


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


def check_search_rate(*, address: str | None) -> None:
    """Open-slot searches per network address, per minute."""
    check_rate(
        scope="search-address",
        key=address or "",
        limit=settings.SEARCHES_PER_ADDRESS_PER_MINUTE,
        window_seconds=60,
    )


def check_booking_rate(*, account_id: int, national_id: str, address: str | None) -> None:
    """Bookings per account and per network address each hour, and per national ID each day."""
    check_rate(
        scope="book-account",
        key=str(account_id),
        limit=settings.BOOKINGS_PER_ACCOUNT_PER_HOUR,
        window_seconds=3600,
    )
    check_rate(
        scope="book-address",
        key=address or "",
        limit=settings.BOOKINGS_PER_ADDRESS_PER_HOUR,
        window_seconds=3600,
    )
    check_rate(
        scope="book-national-id",
        key=national_id,
        limit=settings.BOOKINGS_PER_NATIONAL_ID_PER_DAY,
        window_seconds=86400,
    )
