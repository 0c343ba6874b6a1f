"""A short-lived answer cache for the public slot search, in front of Django.

`GET /api/v1/slots` is asked by everyone before they sign in, with the same few questions (a
service, a district, the coming weeks), and Django's synchronous request stack alone costs
7 to 9 ms of CPU per request on this machine. This ASGI middleware keeps each 200 answer for
SLOT_SEARCH_CACHE_SECONDS in the process's memory (and in Redis for the other processes) and
serves repeats of the same question without Django, so a search costs a dictionary look-up and
a rate count instead.

What makes a question the same: the path, the query string with its parameters in a stable
order (by name; repeated names keep their order), and the language LocaleMiddleware would pick
for it (the language cookie, else Accept-Language, else Thai): the answer's centre names are in
that language. Nothing else changes the answer. The search needs no account, reads no session
and sets no cookie, so a signed-in person's search is the same question as anyone's.

What is never cached: another path (the partner search, /api/v1/partner/slots, needs a key and
counts against that key's limits, so it always goes through Django), a method other than GET
and HEAD, a request with an Authorization header, a query with a NUL character in it (Django
refuses those), an answer other than 200 and an answer that sets a cookie.

Why a few seconds are safe: the answer says which slots had room when it was made. Booking
does not trust it: the engine checks every place as it takes it (a conditional update guarded
by a CHECK constraint), so someone who picks a slot that filled a second ago gets `slot_full`
with alternatives, exactly as if they had been a second slower to click.

An answer past its window is still served for up to SLOT_SEARCH_CACHE_STALE_SECONDS while one
new answer is made in the background (asked of Django without a client address, so that it
counts against nobody's limit), so that nobody waits for Django because an answer just
expired: under steady traffic an answer is at most the window plus the time one search takes
old (longer only while that search is slow, under load). Past that, with no new answer being
made (the last attempt failed), the next request asks Django and waits, as on a first search.

The per-address search limit still holds: each answer served from here is counted in the same
window as Django counts it (booking.services.limits: with Redis on the event loop, in one round
trip; with another cache, in a thread). Once an address is past its limit, its requests go on
to Django, which counts them and answers 429 in the request's language, as before.

A burst of the same question while no answer is kept is asked of Django once per process: the
first request asks, the others wait for its answer (and go through Django themselves if that
answer cannot be shared). Each answer is also put in the project's cache (Redis, when
configured) with the time it was made, so that the other web processes serve it too for what
is left of its window instead of asking Django again. HEAD is answered as GET without the
body, from the same entry.
"""

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.core.cache import cache
from django.http.cookie import parse_cookie
from django.utils.translation import get_language_from_request

from booking.services.limits import check_search_rate, search_within_rate
from clinics.exceptions import TooManyRequests
from config.cache import loop_redis

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# Counts one answer served from the cache against the address's limit: False when past it.
CountAnswer = Callable[[str | None], Awaitable[bool]]

NUL_MARKERS = (b"\x00", b"\\u0000", b"%00")  # as config.middleware.RefuseNulCharacters
# Headers that describe one connection, not the answer.
CONNECTION_HEADERS = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"date"})


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


@dataclass(frozen=True)
class CachedAnswer:
    headers: list[tuple[bytes, bytes]]
    body: bytes
    stored_at: float
    expires_at: float


class SharedAnswers:
    """Answers kept in the project's cache (Redis when configured), where every process finds
    them. Redis out of reach: nothing is found and nothing kept (config/cache.py)."""

    def get(self, name: str) -> Any:
        return cache.get(name)

    def set(self, name: str, value: Any, seconds: int) -> None:
        cache.set(name, value, timeout=seconds)


class _LanguageProbe:
    """What get_language_from_request reads of a request: its cookies and headers."""

    def __init__(self, scope: Scope) -> None:
        cookies: list[str] = []
        accept = ""
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                cookies.append(value.decode("latin1"))
            elif name == b"accept-language":
                accept = value.decode("latin1")
        self.COOKIES = parse_cookie("; ".join(cookies))
        self.META = {"HTTP_ACCEPT_LANGUAGE": accept}


class PublicAnswerCache:
    """ASGI middleware: 200 answers to GET (and HEAD) of `paths`, without credentials, kept for
    `seconds` per process and served again without calling `app`; each path names how an answer
    served from the cache is counted against the asker's rate limit."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        paths: Mapping[str, CountAnswer],
        seconds: float,
        stale_seconds: float = 0,
        max_entries: int = 1000,
        max_body_bytes: int = 512 * 1024,
        shared: "SharedAnswers | None" = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.shared = shared
        self.wall_clock = wall_clock
        self.paths = dict(paths)
        self.seconds = seconds
        self.stale_seconds = stale_seconds
        self.max_entries = max_entries
        self.max_body_bytes = max_body_bytes
        self.clock = clock
        self._answers: dict[tuple[str, str, str], CachedAnswer] = {}
        self._asking: dict[tuple[str, str, str], asyncio.Future[CachedAnswer | None]] = {}
        self._refreshing: set[asyncio.Task[Any]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        count = self._count_for(scope)
        if count is None:
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        key = self._key(scope)
        answer = self._kept(key)
        if answer is None:
            asking = self._asking.get(key)
            if asking is None:
                asking = self._start_asking(key)
                answer, answered = await self._ask_and_keep(key, asking, scope, receive, send)
                if answered:
                    return
            else:
                answer = await asyncio.shield(asking)
            if answer is None:  # the first asker's answer cannot be shared
                await self._through(scope, receive, send)
                return
        elif answer.expires_at <= self.clock() and key not in self._asking:
            self._refresh(key, scope)
        if not await self._counted(count, scope):
            await self._through(scope, receive, send)  # Django counts it and answers 429
            return
        await self._serve(answer, send, head=head)

    def _count_for(self, scope: Scope) -> CountAnswer | None:
        """How to count an answer to this request if it may come from the cache, else None."""
        if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD"):
            return None
        count = self.paths.get(scope.get("path", ""))
        if count is None:
            return None
        if any(name == b"authorization" for name, _ in scope.get("headers", [])):
            return None
        query = scope.get("query_string", b"").lower()
        if any(marker in query for marker in NUL_MARKERS):
            return None
        return count

    def _key(self, scope: Scope) -> tuple[str, str, str]:
        raw = scope.get("query_string", b"").decode("latin1")
        # As Django's QueryDict reads it; a stable sort keeps repeated names' values in order.
        pairs = sorted(parse_qsl(raw, keep_blank_values=True), key=lambda pair: pair[0])
        language = get_language_from_request(_LanguageProbe(scope))  # type: ignore[arg-type]
        return (scope["path"], urlencode(pairs), language)

    def _kept(self, key: tuple[str, str, str]) -> CachedAnswer | None:
        """The answer kept for this question, fresh or stale: stale for up to stale_seconds,
        and for as long as a new answer is being made (a slow one, under load, would otherwise
        leave every request waiting for it)."""
        answer = self._answers.get(key)
        if answer is None:
            return None
        if answer.expires_at + self.stale_seconds <= self.clock() and not (
            self.stale_seconds > 0 and key in self._asking
        ):
            del self._answers[key]
            return None
        return answer

    def _keep(self, key: tuple[str, str, str], answer: CachedAnswer) -> None:
        if len(self._answers) >= self.max_entries:
            end = self.clock() - self.stale_seconds
            for old in [k for k, kept in self._answers.items() if kept.expires_at <= end]:
                del self._answers[old]
            while len(self._answers) >= self.max_entries:
                del self._answers[next(iter(self._answers))]  # the oldest
        self._answers[key] = answer

    def _start_asking(self, key: tuple[str, str, str]) -> "asyncio.Future[CachedAnswer | None]":
        """Whoever asks the same question from now on waits for this answer."""
        asking: asyncio.Future[CachedAnswer | None] = asyncio.get_running_loop().create_future()
        self._asking[key] = asking
        return asking

    async def _ask_and_keep(
        self,
        key: tuple[str, str, str],
        asking: "asyncio.Future[CachedAnswer | None]",
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> tuple[CachedAnswer | None, bool]:
        """The answer another process shared, or else ask the app, answering this request as
        it goes, and keep its answer (here and for the other processes) if it may be shared;
        whoever asked the same meanwhile gets it too. (The answer, and whether this request
        has been answered.)"""
        answer: CachedAnswer | None = None
        try:
            answer = await self._shared_answer(key)
            if answer is not None:
                self._keep(key, answer)
                return answer, False
            answer = await self._ask(key, scope, receive, send)
        finally:
            asking.set_result(answer)
            if self._asking.get(key) is asking:
                del self._asking[key]
        if answer is not None:
            await self._share(key, answer)
        return answer, True

    async def _ask(
        self, key: tuple[str, str, str], scope: Scope, receive: Receive, send: Send
    ) -> CachedAnswer | None:
        """Ask the app, answering this request as it goes; its answer, kept, if it may be
        shared."""
        forward = _to_asker(scope, send)
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        complete = False

        async def recording(message: Message) -> None:
            nonlocal status, headers, complete
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(bytes(name), bytes(value)) for name, value in message["headers"]]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)
            await forward(message)

        await self.app(_as_get(scope), receive, recording)
        body = b"".join(chunks)
        if (
            status != 200
            or not complete
            or len(body) > self.max_body_bytes
            or any(name.lower() == b"set-cookie" for name, _ in headers)
        ):
            return None
        now = self.clock()
        answer = CachedAnswer(
            headers=[(n, v) for n, v in headers if n.lower() not in CONNECTION_HEADERS],
            body=body,
            stored_at=now,
            expires_at=now + self.seconds,
        )
        self._keep(key, answer)
        return answer

    def _shared_name(self, key: tuple[str, str, str]) -> str:
        return "public-answer:" + hashlib.sha256("\n".join(key).encode()).hexdigest()

    async def _shared_answer(self, key: tuple[str, str, str]) -> CachedAnswer | None:
        """The answer another process kept for the same question, if it is young enough."""
        if self.shared is None:
            return None
        try:
            found = await asyncio.get_running_loop().run_in_executor(
                None, self.shared.get, self._shared_name(key)
            )
        except Exception:  # ask the app instead
            return None
        if not found:
            return None
        answered_at, headers, body = found
        age = self.wall_clock() - answered_at
        if not 0 <= age < self.seconds:
            return None
        stored_at = self.clock() - age
        return CachedAnswer(
            headers=headers, body=body, stored_at=stored_at, expires_at=stored_at + self.seconds
        )

    async def _share(self, key: tuple[str, str, str], answer: CachedAnswer) -> None:
        if self.shared is None:
            return
        answered_at = self.wall_clock() - (self.clock() - answer.stored_at)
        try:
            await asyncio.get_running_loop().run_in_executor(
                None,
                self.shared.set,
                self._shared_name(key),
                (answered_at, answer.headers, answer.body),
                math.ceil(self.seconds),
            )
        except Exception:  # the other processes ask for themselves
            return

    def _refresh(self, key: tuple[str, str, str], scope: Scope) -> None:
        """Make a new answer to replace a stale one, in the background. It is nobody's search:
        asked without a client address, it counts against no one's limit (the request that
        found the stale answer is counted as it is served)."""
        quiet = {name: value for name, value in scope.items() if name != "client"}
        asking = self._start_asking(key)
        task = asyncio.get_running_loop().create_task(
            self._ask_and_keep(key, asking, quiet, _request_without_body(), _nowhere)
        )
        self._refreshing.add(task)
        task.add_done_callback(self._refreshed)

    def _refreshed(self, task: "asyncio.Task[Any]") -> None:
        self._refreshing.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            logger.warning("A slot search answer could not be made again.", exc_info=error)

    async def _through(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Ask the app for this request alone."""
        await self.app(_as_get(scope), receive, _to_asker(scope, send))

    async def _counted(self, count: CountAnswer, scope: Scope) -> bool:
        client = scope.get("client")
        address = client[0] if client else None  # Django's REMOTE_ADDR
        try:
            return await count(address)
        except Exception:  # let Django count it, and answer whatever went wrong its own way
            return False

    async def _serve(self, answer: CachedAnswer, send: Send, *, head: bool) -> None:
        age = max(0, int(self.clock() - answer.stored_at))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*answer.headers, (b"age", str(age).encode())],
            }
        )
        await send({"type": "http.response.body", "body": b"" if head else answer.body})


def _request_without_body() -> Receive:
    """`receive` for a request made here: its empty body, then nothing until it is over."""
    read = False

    async def receive() -> Message:
        nonlocal read
        if not read:
            read = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the app stops listening once it has answered
        return {"type": "http.disconnect"}

    return receive


async def _nowhere(message: Message) -> None:
    """`send` for a request made here: the answer is only kept."""


def _as_get(scope: Scope) -> Scope:
    """Django answers only GET on these paths: a HEAD is asked of it as a GET."""
    return {**scope, "method": "GET"} if scope["method"] == "HEAD" else scope


def _to_asker(scope: Scope, send: Send) -> Send:
    """The asker's `send`; for a HEAD, one that sends the answer without its body."""
    if scope["method"] != "HEAD":
        return send

    async def without_body(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b""}
        await send(message)

    return without_body


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
