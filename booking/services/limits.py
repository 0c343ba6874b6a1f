"""Abuse limits per phone, per national ID, per account and per network address: fixed
windows counted in the cache (Redis when configured, shared by every process). Phone numbers
and national IDs are hashed before they become cache keys. Limits are generous per address:
many patients share one address behind a mobile carrier's NAT."""

from django.conf import settings

from clinics.limits import check_rate


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
