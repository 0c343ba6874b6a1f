"""How many connections a consultation room and a join link may have open at once, and how fast
one connection may chat.

Connections are counted as places in the cache (Redis when REDIS_URL is set, so that every
server process counts the same places; one process's memory otherwise). A room has
VIDEO_SOCKETS_PER_ROOM places and each join link VIDEO_SOCKETS_PER_JOIN_LINK: a connection
takes one of each that it needs with the cache's atomic add, and gives them back when it
closes. A place is a lease that the open connection renews, so that the places of a process
that died free themselves after VIDEO_SOCKET_LEASE_SECONDS instead of keeping people out.
"""

import hashlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _

from clinics.exceptions import DomainError


class TooManyConnections(DomainError):
    code = "too_many_connections"
    status = 429
    default_message = _(
        "This video visit is already open in too many windows or devices. Close the others, "
        "then join again."
    )


@dataclass(frozen=True)
class Places:
    """The places one connection holds (cache keys), under its own name."""

    keys: tuple[str, ...]
    holder: str


def _hashed(value: str) -> str:
    return hashlib.sha256(f"{settings.SECRET_KEY}:{value}".encode()).hexdigest()[:24]


def _take_one(prefix: str, limit: int, holder: str) -> str | None:
    keys = [f"{prefix}:{number}" for number in range(limit)]
    held = cache.get_many(keys)
    for key in keys:
        if key not in held and cache.add(key, holder, timeout=settings.VIDEO_SOCKET_LEASE_SECONDS):
            return key
    return None


def take_places(*, room_code: str, join_token: str | None, holder: str) -> Places:
    """Take a place in the room, and in its join link if the connection came by one; give
    back what was taken and raise TooManyConnections if either is full. 0 is no limit."""
    wanted = [(f"video-sockets:room:{_hashed(room_code)}", settings.VIDEO_SOCKETS_PER_ROOM)]
    if join_token:
        wanted.append(
            (f"video-sockets:link:{_hashed(join_token)}", settings.VIDEO_SOCKETS_PER_JOIN_LINK)
        )
    taken: list[str] = []
    for prefix, limit in wanted:
        if limit <= 0:
            continue
        key = _take_one(prefix, limit, holder)
        if key is None:
            release_places(places=Places(keys=tuple(taken), holder=holder))
            raise TooManyConnections()
        taken.append(key)
    return Places(keys=tuple(taken), holder=holder)


def renew_places(*, places: Places) -> None:
    """Keep the connection's places for another lease (and take back any that lapsed)."""
    lease = settings.VIDEO_SOCKET_LEASE_SECONDS
    for key in places.keys:
        if cache.get(key) == places.holder:
            cache.touch(key, lease)
        else:
            cache.add(key, places.holder, timeout=lease)


def release_places(*, places: Places) -> None:
    """Give the connection's places back."""
    for key in places.keys:
        if cache.get(key) == places.holder:
            cache.delete(key)


class ChatAllowance:
    """At most `limit` chat messages from one connection in any `window_seconds`; 0 is no
    limit. It lives in the connection, so it needs nothing shared."""

    def __init__(
        self,
        *,
        limit: int,
        window_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.clock = clock
        self.sent: deque[float] = deque()

    def take(self) -> bool:
        """Whether one more message may go now (and count it if so)."""
        if self.limit <= 0:
            return True
        now = self.clock()
        while self.sent and self.sent[0] <= now - self.window_seconds:
            self.sent.popleft()
        if len(self.sent) >= self.limit:
            return False
        self.sent.append(now)
        return True
