"""Django's requests each run their synchronous code on a thread kept for the next one, rather
than on a thread made for them.

Django's ASGI handler gives every request a ThreadSensitiveContext of its own, and asgiref
makes a new one-thread executor for it: a thread started for the request's view and, once the
request is done, another started to join it. `Thread.start()` blocks the event loop until the
new thread runs, which on two busy cores can take milliseconds, twice per request through
Django (py-spy over bench/search.py: about a tenth of the event loop's time, while the public
search's answers were made again in the background). KeptRequestThreads enters a context with
an executor taken from those it keeps (asgiref's `ThreadSensitiveContext(executor=...)`), so
Django's own context inside it is left unset and the request runs on that thread; the
executor is kept for the next request once no work is left on it (a view cancelled when its
client went away still runs to its end first).
"""

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext


class RequestThread(ThreadPoolExecutor):
    """One thread, which says when no work is left on it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="django-request")
        self._lock = threading.Lock()
        self._pending = 0
        self._on_idle: Callable[[], None] | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            self._pending += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: object) -> None:
        with self._lock:
            self._pending -= 1
            idle = self._on_idle if self._pending == 0 else None
            if idle is not None:
                self._on_idle = None
        if idle is not None:
            idle()

    def when_idle(self, then: Callable[[], None]) -> None:
        """`then()` now if no work is left on the thread, else once the last is done (on
        the thread)."""
        with self._lock:
            if self._pending:
                self._on_idle = then
                return
        then()


class KeptRequestThreads:
    """ASGI middleware in front of Django: each HTTP request on a kept RequestThread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.idle: list[RequestThread] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        thread = self.idle.pop() if self.idle else RequestThread()
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.app(scope, receive, send)
        finally:
            thread.when_idle(self._keeper(thread, asyncio.get_running_loop()))

    def _keeper(self, thread: RequestThread, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """What keeps `thread` for the next request: called on the loop's thread (no work was
        left) or on `thread` itself (once its last work is done)."""
        loop_thread = threading.get_ident()

        def keep() -> None:
            if threading.get_ident() == loop_thread:
                self.idle.append(thread)
                return
            try:
                loop.call_soon_threadsafe(self.idle.append, thread)
            except RuntimeError:  # the loop is closed (a test's): the thread is let go
                thread.shutdown(wait=False)

        return keep
