"""The slot search's answer cache in front of Django: what is kept, for whom, for how long, and
that the search limits still hold. Driven through ASGI, with a stand-in app and a clock the
tests set, then through the project's own application (config.asgi.build_application)."""

import asyncio
import json
from collections.abc import Iterator
from datetime import date, time
from typing import Any

import pytest
from django.core.signals import request_started
from django.db import connection
from pytest_django import Settings

from clinics.models import HealthCentre, Service
from config.public_cache import PublicAnswerCache
from tests.asgi_post import post
from tests.factories import SlotFactory, bangkok

SEARCH = "/api/v1/slots"
QUESTION = "service=vaccine-influenza&district=1001&date_from=2026-11-30"
Headers = list[tuple[bytes, bytes]]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class StandInApp:
    """An ASGI app that answers each request with `status`, `headers` and a body naming how
    many requests it has answered; while `held`, it waits for the test to release it."""

    def __init__(self, status: int = 200, headers: Headers | None = None) -> None:
        self.status = status
        self.headers = headers or [(b"content-type", b"application/json; charset=utf-8")]
        self.asked: list[dict[str, Any]] = []
        self.held = False
        self.release = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.asked.append(scope)
        if self.held:
            await self.release.wait()
        body = json.dumps({"answer": len(self.asked)}).encode()
        headers = [*self.headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def ask(
    app: Any,
    path: str = SEARCH,
    query: str = QUESTION,
    *,
    method: str = "GET",
    headers: Headers | None = None,
    address: str = "203.0.113.9",
) -> tuple[int, dict[str, str], bytes]:
    """One request through ASGI: (status, headers, body)."""
    start, body = await post(
        app,
        path,
        b"",
        [(b"host", b"testserver"), *(headers or [])],
        method=method,
        query=query,
        client=(address, 50000),
    )
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body


async def allow(address: str | None) -> bool:
    return True


async def refuse(address: str | None) -> bool:
    return False


def counting(counted: list[str | None]) -> Any:
    async def count(address: str | None) -> bool:
        counted.append(address)
        return True

    return count


def cached(
    inner: StandInApp, *, clock: Clock | None = None, counted: list[str | None] | None = None
) -> PublicAnswerCache:
    async def count(address: str | None) -> bool:
        if counted is not None:
            counted.append(address)
        return True

    return PublicAnswerCache(
        inner,
        paths={SEARCH: count},
        seconds=2,
        max_entries=100,
        clock=clock or Clock(),
    )


def test_a_repeated_search_within_the_window_is_answered_without_the_app():
    async def scenario() -> None:
        inner = StandInApp()
        app = cached(inner)

        first = await ask(app)
        second = await ask(app)

        assert len(inner.asked) == 1
        assert first[0] == second[0] == 200
        assert first[2] == second[2] == b'{"answer": 1}'

    asyncio.run(scenario())


def test_different_questions_and_languages_are_different_answers():
    async def scenario() -> None:
        inner = StandInApp()
        app = cached(inner)

        await ask(app)
        await ask(app, query="date_from=2026-11-30&district=1001&service=vaccine-influenza")
        assert len(inner.asked) == 1  # the same question, its parameters in another order

        await ask(app, query="service=vaccine-influenza&district=1002&date_from=2026-11-30")
        assert len(inner.asked) == 2

        await ask(app, headers=[(b"accept-language", b"en-GB,en;q=0.9")])
        assert len(inner.asked) == 3  # English: the centres' names differ
        await ask(app, headers=[(b"accept-language", b"en")])
        await ask(app, headers=[(b"cookie", b"django_language=en")])
        assert len(inner.asked) == 3  # English again, asked for in other words
        await ask(app, headers=[(b"accept-language", b"th-TH,th;q=0.9")])
        await ask(app, headers=[(b"accept-language", b"fr")])
        assert len(inner.asked) == 3  # Thai, the default, as the first answer was

    asyncio.run(scenario())


def test_credentials_other_paths_and_other_methods_always_reach_the_app():
    async def scenario() -> None:
        inner = StandInApp()
        app = cached(inner)

        for _ in range(2):
            await ask(app, headers=[(b"authorization", b"Bearer partner-key")])
            await ask(app, "/api/v1/partner/slots")
            await ask(app, "/api/v1/centres", query="")
            await ask(app, method="POST")
            await ask(app, query=QUESTION + "&centre=%00")

        assert len(inner.asked) == 10

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (404, []),
        (422, []),
        (429, [(b"retry-after", b"30")]),
        (503, []),
        (200, [(b"set-cookie", b"sessionid=abc; HttpOnly")]),
    ],
)
def test_only_200_answers_that_set_no_cookie_are_kept(status: int, headers: Headers):
    async def scenario() -> None:
        inner = StandInApp(status=status, headers=headers)
        app = cached(inner)

        answers = [await ask(app) for _ in range(3)]

        assert len(inner.asked) == 3
        assert [answer[2] for answer in answers] == [
            b'{"answer": 1}',
            b'{"answer": 2}',
            b'{"answer": 3}',
        ]

    asyncio.run(scenario())


def test_an_answer_is_kept_for_the_window_and_then_asked_again():
    async def scenario() -> None:
        clock = Clock()
        inner = StandInApp()
        app = cached(inner, clock=clock)

        await ask(app)
        clock.now += 1.9
        assert (await ask(app))[2] == b'{"answer": 1}'
        clock.now += 0.1  # two seconds since it was answered
        assert (await ask(app))[2] == b'{"answer": 2}'
        assert len(inner.asked) == 2

    asyncio.run(scenario())


def test_an_expired_answer_is_served_while_one_new_answer_is_made_in_the_background():
    async def scenario() -> None:
        clock = Clock()
        inner = StandInApp()
        counted: list[str | None] = []
        app = PublicAnswerCache(
            inner,
            paths={SEARCH: counting(counted)},
            seconds=2,
            stale_seconds=2,
            clock=clock,
        )
        await ask(app)
        inner.held = True
        clock.now += 2.5

        old = [await ask(app, address="203.0.113.9") for _ in range(3)]

        assert {body for _, _, body in old} == {b'{"answer": 1}'}
        assert old[0][1]["age"] == "2"
        for _ in range(5):
            await asyncio.sleep(0)  # the new answer is being made
        assert len(inner.asked) == 2  # one new answer, asked for once
        assert "client" not in inner.asked[1]  # counted against nobody
        assert counted == ["203.0.113.9"] * 3  # each answer served is counted
        clock.now += 2  # past the stale window, but the new answer is slow in coming
        assert (await ask(app))[2] == b'{"answer": 1}'
        inner.release.set()
        while app._asking:
            await asyncio.sleep(0)
        assert (await ask(app))[2] == b'{"answer": 2}'
        assert len(inner.asked) == 2

        clock.now += 4  # past the window and the time an old answer may still be served
        inner.held = False
        assert (await ask(app))[2] == b'{"answer": 3}'

    asyncio.run(scenario())


def test_a_stale_answer_stays_while_making_a_new_one_fails_and_the_next_request_tries_again():
    async def scenario() -> None:
        clock = Clock()
        inner = StandInApp()
        app = PublicAnswerCache(
            inner, paths={SEARCH: allow}, seconds=2, stale_seconds=2, clock=clock
        )
        await ask(app)
        inner.status = 429  # the shedder turns the new search away
        clock.now += 2.5

        assert (await ask(app))[2] == b'{"answer": 1}'
        while app._asking:
            await asyncio.sleep(0)
        assert (await ask(app))[2] == b'{"answer": 1}'
        while app._asking:
            await asyncio.sleep(0)

        assert len(inner.asked) == 3  # one new attempt per request that found it stale
        inner.status = 200
        clock.now += 2  # past the stale window, nothing being made: this one waits
        assert (await ask(app))[2] == b'{"answer": 4}'

    asyncio.run(scenario())


def test_a_burst_of_the_same_question_is_asked_of_the_app_once():
    async def scenario() -> None:
        inner = StandInApp()
        inner.held = True
        app = cached(inner)

        burst = [asyncio.create_task(ask(app)) for _ in range(20)]
        while not inner.asked:
            await asyncio.sleep(0)
        for _ in range(5):
            await asyncio.sleep(0)  # the other nineteen arrive while the first is answered
        inner.release.set()
        answers = await asyncio.gather(*burst)

        assert len(inner.asked) == 1
        assert {(status, body) for status, _, body in answers} == {(200, b'{"answer": 1}')}

    asyncio.run(scenario())


def test_a_burst_asks_for_itself_when_the_first_answer_cannot_be_shared():
    async def scenario() -> None:
        inner = StandInApp(status=503)
        inner.held = True
        app = cached(inner)

        burst = [asyncio.create_task(ask(app)) for _ in range(5)]
        while not inner.asked:
            await asyncio.sleep(0)
        for _ in range(5):
            await asyncio.sleep(0)
        inner.release.set()
        answers = await asyncio.gather(*burst)

        assert len(inner.asked) == 5  # each waiting request went on to the app itself
        assert {status for status, _, _ in answers} == {503}

    asyncio.run(scenario())


def test_the_answers_headers_are_kept():
    async def scenario() -> None:
        original = [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"etag", b'"abc"'),
            (b"cache-control", b"max-age=2"),
            (b"vary", b"Accept-Language"),
            (b"content-language", b"th"),
        ]
        clock = Clock()
        app = cached(StandInApp(headers=original), clock=clock)

        _, first, _ = await ask(app)
        clock.now += 1.5
        _, again, _ = await ask(app)

        assert again.pop("age") == "1"
        assert again == first
        assert first["etag"] == '"abc"'
        assert first["content-length"] == str(len(b'{"answer": 1}'))

    asyncio.run(scenario())


def test_head_is_answered_as_get_without_its_body():
    async def scenario() -> None:
        inner = StandInApp()
        app = cached(inner)

        status, headers, body = await ask(app, method="HEAD")
        assert (status, body) == (200, b"")
        assert headers["content-length"] == str(len(b'{"answer": 1}'))
        assert inner.asked[0]["method"] == "GET"  # Django answers GET on this path

        assert (await ask(app))[2] == b'{"answer": 1}'  # the GET after it is kept
        assert (await ask(app, method="HEAD"))[:2] == (200, headers | {"age": "0"})
        assert len(inner.asked) == 1

    asyncio.run(scenario())


def test_every_answer_from_the_cache_is_counted_for_the_asker_and_past_the_limit_asked_anew():
    async def scenario() -> None:
        inner = StandInApp(status=200)
        counted: list[str | None] = []
        app = cached(inner, counted=counted)

        await ask(app, address="203.0.113.9")  # the app counts this one itself
        await ask(app, address="203.0.113.9")
        await ask(app, address="203.0.113.10")
        assert counted == ["203.0.113.9", "203.0.113.10"]

        refusing = PublicAnswerCache(inner, paths={SEARCH: refuse}, seconds=2, clock=Clock())
        await ask(refusing)
        await ask(refusing)
        assert len(inner.asked) == 3  # past the limit: the app answers (and refuses)

    asyncio.run(scenario())


def test_the_oldest_answers_make_way_when_the_cache_is_full():
    async def scenario() -> None:
        inner = StandInApp()
        app = PublicAnswerCache(inner, paths={SEARCH: allow}, seconds=2, max_entries=2)

        for district in (1001, 1002, 1003):
            await ask(app, query=f"service=vaccine-influenza&district={district}")
        await ask(app, query="service=vaccine-influenza&district=1003")
        assert len(inner.asked) == 3
        await ask(app, query="service=vaccine-influenza&district=1001")
        assert len(inner.asked) == 4

    asyncio.run(scenario())


class SharedStore:
    """The project's cache as the processes share it: a dictionary, with the timeouts asked."""

    def __init__(self) -> None:
        self.kept: dict[str, Any] = {}
        self.timeouts: list[int] = []

    def get(self, name: str) -> Any:
        return self.kept.get(name)

    def set(self, name: str, value: Any, seconds: int) -> None:
        self.kept[name] = value
        self.timeouts.append(seconds)


def process(inner: StandInApp, store: SharedStore, clock: Clock) -> PublicAnswerCache:
    return PublicAnswerCache(
        inner,
        paths={SEARCH: allow},
        seconds=2,
        shared=store,
        clock=clock,
        wall_clock=clock,
    )


def test_another_process_serves_an_answer_for_what_is_left_of_its_window():
    async def scenario() -> None:
        clock = Clock()
        store = SharedStore()
        first, second = StandInApp(), StandInApp()
        one, other = process(first, store, clock), process(second, store, clock)

        await ask(one)
        clock.now += 1.2
        status, headers, body = await ask(other)

        assert (status, body) == (200, b'{"answer": 1}')
        assert headers["age"] == "1"
        assert (len(first.asked), len(second.asked)) == (1, 0)
        assert store.timeouts == [2]
        clock.now += 0.8  # two seconds since the first process asked
        await ask(other)
        assert len(second.asked) == 1

    asyncio.run(scenario())


def test_an_answer_that_cannot_be_kept_is_not_shared_either():
    async def scenario() -> None:
        clock = Clock()
        store = SharedStore()
        one = process(StandInApp(status=503), store, clock)
        second = StandInApp()

        await ask(one)
        assert store.kept == {}
        await ask(process(second, store, clock))

        assert len(second.asked) == 1

    asyncio.run(scenario())


# --- Through the project's own application ------------------------------------------------------


@pytest.fixture
def django_requests() -> Iterator[list[object]]:
    """Every request Django itself starts on, while the test runs."""
    started: list[object] = []

    def seen(**_: object) -> None:
        started.append(object())

    request_started.connect(seen)
    yield started
    request_started.disconnect(seen)


@pytest.fixture
def site(transactional_db: None, reference_data: None, settings: Settings) -> Any:
    """The project's ASGI application, with an answer kept long enough that no test depends on
    how fast it runs."""
    settings.SLOT_SEARCH_CACHE_SECONDS = 60
    from config.asgi import build_application

    flu = Service.objects.get(code="vaccine-influenza")
    SlotFactory(
        centre=HealthCentre.objects.get(number=9),
        service=flu,
        start=bangkok(date(2026, 12, 2), time(9, 0)),
    )
    return build_application()


def test_a_second_identical_search_is_answered_without_django(site, django_requests, clock):
    async def scenario() -> None:
        first = await ask(site)
        second = await ask(site)

        assert len(django_requests) == 1
        assert first[0] == second[0] == 200
        assert first[2] == second[2]
        assert json.loads(first[2])["count"] == 1
        second[1].pop("age")
        assert second[1] == first[1]
        assert first[1]["content-language"] == "th"
        assert first[1]["vary"] == "Accept-Language"

    asyncio.run(scenario())


def test_english_is_a_different_answer_and_a_session_cookie_changes_nothing(
    site, django_requests, clock, patient, client_for
):
    session = client_for(patient).cookies["sessionid"].value

    async def scenario() -> None:
        thai = await ask(site)
        english = await ask(site, headers=[(b"accept-language", b"en")])
        signed_in = await ask(site, headers=[(b"cookie", f"sessionid={session}".encode())])

        assert len(django_requests) == 2
        assert english[1]["content-language"] == "en"
        thai_name = json.loads(thai[2])["items"][0]["centre"]["name"]
        english_name = json.loads(english[2])["items"][0]["centre"]["name"]
        assert thai_name != english_name
        assert signed_in[2] == thai[2]

    asyncio.run(scenario())


def test_the_per_address_search_limit_still_counts_answers_from_the_cache(
    site, django_requests, clock, settings
):
    settings.SEARCHES_PER_ADDRESS_PER_MINUTE = 2

    async def scenario() -> None:
        answers = [await ask(site, address="203.0.113.9") for _ in range(3)]
        other = await ask(site, address="203.0.113.10")

        assert [status for status, _, _ in answers] == [200, 200, 429]
        assert json.loads(answers[2][2])["code"] == "too_many_requests"
        assert other[0] == 200
        assert len(django_requests) == 2  # the first search, and the refusal

    asyncio.run(scenario())


def test_a_search_with_credentials_or_by_a_partner_always_goes_through_django(
    site, django_requests, clock
):
    async def scenario() -> None:
        for _ in range(2):
            assert (await ask(site, headers=[(b"authorization", b"Bearer x")]))[0] == 200
            assert (await ask(site, "/api/v1/partner/slots"))[0] == 401

        assert len(django_requests) == 4

    asyncio.run(scenario())


def test_django_makes_the_new_answer_in_the_background(site, django_requests, clock):
    from django.core.asgi import get_asgi_application

    from config.public_cache import count_search

    watch = Clock()
    app = PublicAnswerCache(
        get_asgi_application(),
        paths={SEARCH: count_search},
        seconds=2,
        stale_seconds=2,
        clock=watch,
        wall_clock=watch,
    )

    def another_slot() -> None:
        try:
            SlotFactory(
                centre=HealthCentre.objects.get(number=1),
                service=Service.objects.get(code="vaccine-influenza"),
                start=bangkok(date(2026, 12, 3), time(9, 0)),
            )
        finally:
            connection.close()  # this thread's own

    async def scenario() -> None:
        first = await ask(app)
        await asyncio.to_thread(another_slot)
        watch.now += 3
        stale = await ask(app)
        while app._asking:
            await asyncio.sleep(0.01)
        fresh = await ask(app)

        assert json.loads(first[2])["count"] == json.loads(stale[2])["count"] == 1
        assert json.loads(fresh[2])["count"] == 2
        assert len(django_requests) == 2

    asyncio.run(scenario())
