"""Django's requests on kept threads (config/request_threads.py): the web process's application
runs each request's synchronous code on a thread kept from an earlier one, not on a thread
started for it, and never on a thread a cancelled view still runs on."""

import asyncio
import contextlib
import threading
import time
from typing import Any

import pytest
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.core.signals import request_finished

from config.asgi import build_application
from config.request_threads import KeptRequestThreads
from tests.asgi_post import post

pytestmark = pytest.mark.django_db(transaction=True)


def test_requests_through_django_run_on_one_kept_thread() -> None:
    """Three requests one after the other through the web process's application: Django
    finishes each on the same thread (asgiref would start a thread per request, and another
    to join it, each start blocking the event loop until the thread ran)."""
    finished_on: list[threading.Thread] = []

    def note(**kwargs: Any) -> None:
        finished_on.append(threading.current_thread())  # kept: no thread object is reused

    request_finished.connect(note)
    try:

        async def three() -> list[int]:
            application = build_application()
            statuses = []
            for _ in range(3):
                start, _body = await post(application, "/api/v1/services", b"", [], method="GET")
                statuses.append(start["status"])
            return statuses

        assert asyncio.run(three()) == [200, 200, 200]
    finally:
        request_finished.disconnect(note)
    assert len(finished_on) == 3
    assert finished_on[0] is not threading.main_thread()
    assert all(thread is finished_on[0] for thread in finished_on)


def _blocking_app(release: threading.Event, ran_on: list[threading.Thread]) -> Any:
    """An app like Django's handler (a ThreadSensitiveContext of its own per request) whose
    request gives up waiting for its synchronous work after a moment, as a cancelled view
    does, while that work goes on on its thread until `release`."""

    def work() -> None:
        ran_on.append(threading.current_thread())
        release.wait(timeout=60)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async with ThreadSensitiveContext():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sync_to_async(work)(), timeout=0.01)

    return app


def test_a_thread_still_working_for_a_cancelled_request_is_not_lent_until_it_is_done() -> None:
    release = threading.Event()
    ran_on: list[threading.Thread] = []
    kept = KeptRequestThreads(_blocking_app(release, ran_on))

    async def requests() -> None:
        await kept({"type": "http"}, None, None)
        assert kept.idle == []  # its thread still works for it
        release.set()
        deadline = time.monotonic() + 30
        while not kept.idle:
            assert time.monotonic() < deadline, "the thread was never kept again"
            await asyncio.sleep(0.01)
        release.clear()
        await kept({"type": "http"}, None, None)  # lent again once done
        await kept({"type": "http"}, None, None)  # the first still works: another thread
        release.set()

    asyncio.run(requests())
    assert ran_on[1] is ran_on[0]
    assert ran_on[2] is not ran_on[0]


def test_other_connections_pass_through_without_a_thread() -> None:
    seen: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(SyncToAsync.thread_sensitive_context.get(None))

    kept = KeptRequestThreads(app)
    asyncio.run(kept({"type": "websocket"}, None, None))
    asyncio.run(kept({"type": "http"}, None, None))

    assert seen[0] is None
    assert isinstance(seen[1], ThreadSensitiveContext)
    assert len(kept.idle) == 1
