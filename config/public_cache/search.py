"""The public slot search's answers from the cache: each counted against the asker's search
limit as the API counts one (count_search), and the cache put in front of the app as the
settings say (cache_public_answers)."""

import asyncio

from django.conf import settings

from booking.services.limits import check_search_rate, search_within_rate
from clinics.exceptions import TooManyRequests
from config.cache import loop_redis
from config.public_cache.answers import SharedAnswers
from config.public_cache.middleware import PublicAnswerCache
from config.public_cache.wire import ASGIApp


async def count_search(address: str | None) -> bool:
    """Count a search served from the cache, as the API counts one; False past the limit. On
    the event loop with Redis; in a thread with any other cache."""
    redis = loop_redis()
    if redis is not None:
        return await search_within_rate(address=address, redis=redis)
    return await asyncio.get_running_loop().run_in_executor(None, _count_search_in_thread, address)


def _count_search_in_thread(address: str | None) -> bool:
    try:
        check_search_rate(address=address)
    except TooManyRequests:
        return False
    return True


def cache_public_answers(app: ASGIApp) -> ASGIApp:
    """The public slot search cached in front of `app`, for SLOT_SEARCH_CACHE_SECONDS (0:
    not at all)."""
    if settings.SLOT_SEARCH_CACHE_SECONDS <= 0:
        return app
    return PublicAnswerCache(
        app,
        paths={"/api/v1/slots": count_search},
        seconds=settings.SLOT_SEARCH_CACHE_SECONDS,
        stale_seconds=settings.SLOT_SEARCH_CACHE_STALE_SECONDS,
        max_entries=settings.SLOT_SEARCH_CACHE_ENTRIES,
        shared=SharedAnswers(),
    )
