"""Load shedding: which requests a web process takes, driven with measurements and a clock the
tests set (no timing), then through ASGI, a real uvicorn, and the API's own 429."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from django.db import OperationalError
from django.test import Client
from psycopg_pool import PoolTimeout

from config.load_shedding import Shedder, ShedLoad

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def shedder(
    *, capacity: int = 10, ceiling: int = 50, target: float = 0.5, clock: Clock | None = None
) -> Shedder:
    return Shedder(
        capacity=capacity, ceiling=ceiling, target_seconds=target, clock=clock or Clock()
    )


def busy(shed: Shedder, in_flight: int) -> None:
    for _ in range(in_flight):
        shed.started()


def test_every_request_is_taken_while_a_pooled_connection_is_free_however_slow_answers_are():
    shed = shedder(capacity=10)
    shed.answered(30.0)
    busy(shed, 9)

    assert shed.admits()


def test_a_survivor_with_twice_its_usual_load_keeps_taking_requests_while_it_answers_quickly():
    # Two workers with a pool of 10 each; one dies and all 40 of their clients come to the
    # survivor. It answers in 80 ms, well within the target: nobody is turned away.
    shed = shedder(capacity=10, ceiling=50, target=0.5)
    for _ in range(20):
        shed.answered(0.08)
    busy(shed, 40)

    assert shed.admits()


def test_requests_beyond_capacity_are_turned_away_once_answers_take_longer_than_the_target():
    shed = shedder(capacity=10, target=0.5)
    for _ in range(20):
        shed.answered(2.0)

    busy(shed, 10)
    assert not shed.admits()
    shed.finished()  # one finishes: a connection is free again
    assert shed.admits()


def test_a_few_slow_answers_among_quick_ones_do_not_start_shedding():
    shed = shedder(capacity=10, target=0.5)
    for _ in range(20):
        shed.answered(0.05)
    shed.answered(1.5)
    busy(shed, 15)

    assert shed.latency < 0.5
    assert shed.admits()


def test_never_more_than_the_ceiling_are_in_flight_however_quick_answers_are():
    shed = shedder(capacity=10, ceiling=30)
    shed.answered(0.01)
    busy(shed, 29)
    assert shed.admits()
    shed.started()
    assert not shed.admits()


def test_a_slow_spell_fades_so_that_a_process_takes_requests_again_after_it():
    clock = Clock()
    shed = shedder(capacity=10, target=0.5, clock=clock)
    for _ in range(20):
        shed.answered(4.0)
    busy(shed, 12)
    assert not shed.admits()

    clock.now += 20  # four half-lives with no answer measured
    assert shed.latency == pytest.approx(4.0 / 16, rel=0.05)
    assert shed.admits()


def test_no_capacity_set_turns_shedding_off():
    shed = shedder(capacity=0, ceiling=0)
    shed.answered(60.0)
    busy(shed, 1000)

    assert shed.admits()


# --- Through ASGI -------------------------------------------------------------------------------


class HeldApp:
    """An ASGI app whose requests answer when the test lets them, after `work` seconds on the
    test's clock, and then send their body."""

    def __init__(self, clock: Clock, work: float = 0.0, download: float = 0.0) -> None:
        self.clock = clock
        self.work = work
        self.download = download
        self.release = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.release.wait()
        self.clock.now += self.work
        await send({"type": "http.response.start", "status": 200, "headers": []})
        self.clock.now += self.download
        await send({"type": "http.response.body", "body": b"ok"})


async def request(app: ShedLoad) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "method": "GET", "path": "/"}, receive, send)
    return sent


def headers_of(start: dict[str, Any]) -> dict[str, str]:
    return {name.decode(): value.decode() for name, value in start["headers"]}


def test_a_turned_away_request_gets_429_busy_with_retry_after_and_connection_close():
    async def scenario() -> None:
        clock = Clock()
        shed = shedder(capacity=2, ceiling=2, clock=clock)
        inner = HeldApp(clock)
        app = ShedLoad(inner, shedder=shed)
        held = [asyncio.create_task(request(app)) for _ in range(2)]
        while shed.in_flight < 2:
            await asyncio.sleep(0)

        start, body = await request(app)

        assert start["status"] == 429
        headers = headers_of(start)
        assert headers["connection"] == "close"
        assert headers["retry-after"] == "1"
        assert json.loads(body["body"])["code"] == "busy"
        inner.release.set()
        for task in held:
            assert (await task)[0]["status"] == 200
        assert shed.in_flight == 0

    asyncio.run(scenario())


def test_the_time_to_the_first_byte_is_measured_not_the_download():
    async def scenario() -> None:
        clock = Clock()
        shed = shedder(clock=clock)
        inner = HeldApp(clock, work=0.2, download=30.0)
        inner.release.set()
        app = ShedLoad(inner, shedder=shed)

        await request(app)

        clock.now -= inner.download  # as it was when the answer began
        assert shed.latency == pytest.approx(0.2 * 0.2, rel=0.01)  # one measurement of 0.2 s

    asyncio.run(scenario())


def test_websockets_pass_by_the_shedder():
    async def scenario() -> None:
        seen: list[str] = []

        async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
            seen.append(scope["type"])

        shed = shedder(capacity=1, ceiling=1)
        shed.started()
        await ShedLoad(inner, shedder=shed)({"type": "websocket"}, None, None)
        assert seen == ["websocket"]

    asyncio.run(scenario())


def test_uvicorn_closes_the_kept_alive_connection_after_a_busy_429():
    """So that the client's next request opens a new connection, which the operating system may
    give to another worker, instead of staying on a process that is turning it away."""
    shed = shedder(capacity=1, ceiling=1)
    shed.started()  # full: every request is turned away
    server = uvicorn.Server(
        uvicorn.Config(
            ShedLoad(HeldApp(Clock()), shedder=shed),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(
                b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n"
            )
            answer = b""
            while chunk := connection.recv(65536):  # the server closing ends the loop
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 429 ")
        assert b"\r\nconnection: close\r\n" in answer.lower()
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# --- The API's own 429 and the capacity setting -------------------------------------------------


def test_no_pooled_connection_in_time_is_a_busy_429_that_closes_the_connection(
    reference_data, monkeypatch
):
    def pool_exhausted(*args: object, **kwargs: object) -> None:
        raise OperationalError("couldn't get a connection") from PoolTimeout("timed out")

    monkeypatch.setattr("clinics.api.District.objects.all", pool_exhausted)

    response = Client().get("/api/v1/districts")

    assert response.status_code == 429
    assert response.json()["code"] == "busy"
    assert response["Retry-After"]
    assert response["Connection"] == "close"


def capacity_with(**environment: str) -> int:
    code = "from django.conf import settings; print(settings.WEB_CAPACITY)"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "DATABASE_POOL_SIZE", "WEB_CAPACITY", "ASGI_THREADS")
    }
    env.update(DJANGO_SETTINGS_MODULE="config.settings", **environment)
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout)


def test_a_process_capacity_is_its_database_pool_or_else_its_threads():
    pooled = capacity_with(
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none", DATABASE_POOL_SIZE="7"
    )
    unpooled = capacity_with(ASGI_THREADS="6")

    assert (pooled, unpooled) == (7, 6)
