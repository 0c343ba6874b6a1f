"""Abuse limits per phone, per national ID, per account and per network address: fixed
windows counted in the cache (Redis when configured, shared by every process). Phone numbers
and national IDs are hashed before they become cache keys. Limits are generous per address:
many patients share one address behind a mobile carrier's NAT."""

from typing import Any

from django.conf import settings

from clinics.limits import (
    Limit,
    check_not_refused_too_often,
    check_rate,
    check_rates,
    count_refusal,
    within_rate,
)


def check_search_rate(*, address: str | None) -> None:
    """Open-slot searches per network address, per minute."""
    check_rate(
        scope="search-address",
        key=address or "",
        limit=settings.SEARCHES_PER_ADDRESS_PER_MINUTE,
        window_seconds=60,
    )


async def search_within_rate(*, address: str | None, redis: Any) -> bool:
    """check_search_rate on an event loop (see clinics.limits.within_rate): False past it."""
    return await within_rate(
        scope="search-address",
        key=address or "",
        limit=settings.SEARCHES_PER_ADDRESS_PER_MINUTE,
        window_seconds=60,
        redis=redis,
    )


def check_booking_rate(*, account_id: int, national_id: str, address: str | None) -> None:
    """Bookings per account and per network address each hour, and per national ID each day
    (counted together, in one round trip to Redis)."""
    check_rates(
        Limit(
            scope="book-account",
            key=str(account_id),
            limit=settings.BOOKINGS_PER_ACCOUNT_PER_HOUR,
            window_seconds=3600,
        ),
        Limit(
            scope="book-address",
            key=address or "",
            limit=settings.BOOKINGS_PER_ADDRESS_PER_HOUR,
            window_seconds=3600,
        ),
        Limit(
            scope="book-national-id",
            key=national_id,
            limit=settings.BOOKINGS_PER_NATIONAL_ID_PER_DAY,
            window_seconds=86400,
        ),
    )


def check_national_id_lookup_rate(*, account_id: int) -> None:
    """Adding a person with a national ID, or changing one, per account each hour: each is a
    look-up of whether the ID is on file."""
    check_rate(
        scope="national-id-account",
        key=str(account_id),
        limit=settings.NATIONAL_ID_LOOKUPS_PER_ACCOUNT_PER_HOUR,
        window_seconds=3600,
    )


def check_partner_refusal_rate(*, key_id: int) -> None:
    """A partner key whose people were refused too often this hour waits for the next."""
    check_not_refused_too_often(
        scope="partner-person-refused",
        key=str(key_id),
        limit=settings.PARTNER_PERSON_REFUSALS_PER_KEY_PER_HOUR,
        window_seconds=3600,
    )


def count_partner_refusal(*, key_id: int) -> None:
    count_refusal(scope="partner-person-refused", key=str(key_id), window_seconds=3600)
