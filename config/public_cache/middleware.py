"""The ASGI middleware that keeps 200 answers to public GETs and serves repeats without the
app: the question's key, the answers kept in the process (and shared), the one request per
burst that asks the app, and the stale answer served while a new one is made."""

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.http.cookie import parse_cookie
from django.utils.translation import get_language_from_request

from config.public_cache.answers import CachedAnswer, SharedAnswers
from config.public_cache.wire import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    _as_get,
    _nowhere,
    _request_without_body,
    _to_asker,
)

logger = logging.getLogger(__name__)

# Counts one answer served from the cache against the address's limit: False when past it.
CountAnswer = Callable[[str | None], Awaitable[bool]]

NUL_MARKERS = (b"\x00", b"\\u0000", b"%00")  # as config.middleware.RefuseNulCharacters
# Headers that describe one connection, not the answer.
CONNECTION_HEADERS = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"date"})


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
