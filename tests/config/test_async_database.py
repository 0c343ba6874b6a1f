"""The event loop's own PostgreSQL connections (config/async_database.py)."""

import asyncio

import pytest
from django.db import connection
from pytest_django import Settings

from config.async_database import PREPARE_THRESHOLD, AsyncConnections

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def test_a_connection_is_reused_on_its_loop_and_commits_each_statement() -> None:
    connections = AsyncConnections(2)

    async def twice() -> tuple[int, int, str, bool]:
        async with connections.connection() as conn:
            first = conn.info.backend_pid
            async with conn.cursor() as cursor:
                await cursor.execute("SHOW TimeZone")
                row = await cursor.fetchone()
        async with connections.connection() as conn:
            return first, conn.info.backend_pid, row[0], conn.autocommit

    first, second, zone, autocommit = asyncio.run(twice())

    assert first == second
    assert (zone, autocommit) == ("UTC", True)
    connections.close()


def test_a_connection_left_in_a_transaction_is_closed_not_handed_out_again() -> None:
    connections = AsyncConnections(1)

    async def leave_one_in_a_transaction() -> tuple[bool, int, int]:
        async with connections.connection() as conn:
            left = conn
            await conn.execute("BEGIN")
            await conn.execute("SELECT 1")
            pid = conn.info.backend_pid
        async with connections.connection() as conn:
            return left.closed, pid, conn.info.backend_pid

    closed, before, after = asyncio.run(leave_one_in_a_transaction())

    assert closed
    assert before != after
    connections.close()


def test_no_more_than_size_connections_are_used_at_once() -> None:
    connections = AsyncConnections(2)
    busy = 0
    most = 0

    async def use() -> None:
        nonlocal busy, most
        async with connections.connection() as conn:
            busy += 1
            most = max(most, busy)
            await conn.execute("SELECT pg_sleep(0.05)")
            busy -= 1

    async def many() -> None:
        await asyncio.gather(*(use() for _ in range(8)))

    asyncio.run(many())

    assert most == 2
    connections.close()


def test_a_new_event_loop_closes_the_connections_of_the_last_one() -> None:
    connections = AsyncConnections(1)

    async def one() -> object:
        async with connections.connection() as conn:
            return conn

    old = asyncio.run(one())
    new = asyncio.run(one())

    assert old.closed  # type: ignore[attr-defined]
    assert new is not old
    connections.close()
    assert new.closed  # type: ignore[attr-defined]


def _prepared_after_repeating(runs: int) -> list[tuple[str, int]]:
    """Run one statement `runs` times on a connection: the statements PostgreSQL holds
    prepared for it then, with how many times each was run prepared."""
    connections = AsyncConnections(1)

    async def repeat() -> list[tuple[str, int]]:
        async with connections.connection() as conn:
            for number in range(runs):
                await conn.execute("SELECT %s::integer + 1", [number])
            found = await conn.execute(
                "SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements"
            )
            return [(str(statement), int(times)) for statement, times in await found.fetchall()]

    try:
        return asyncio.run(repeat())
    finally:
        connections.close()


def test_a_statement_a_connection_repeats_is_prepared_there_and_a_one_off_is_not() -> None:
    assert _prepared_after_repeating(PREPARE_THRESHOLD) == []

    prepared = _prepared_after_repeating(PREPARE_THRESHOLD + 3)

    assert [statement for statement, _ in prepared] == ["SELECT $1::integer + 1"]
    assert prepared[0][1] == 3  # every run after the first PREPARE_THRESHOLD, parsed once


def test_statements_are_not_prepared_when_told_not_to_as_for_an_older_pgbouncer(
    settings: Settings,
) -> None:
    settings.LEAN_PREPARED_STATEMENTS = False

    assert _prepared_after_repeating(PREPARE_THRESHOLD + 3) == []


def _setting_on_an_async_connection(name: str) -> str:
    connections = AsyncConnections(1)

    async def show() -> str:
        async with connections.connection() as conn, conn.cursor() as cursor:
            await cursor.execute(f"SHOW {name}")
            row = await cursor.fetchone()
            return str(row[0])

    try:
        return asyncio.run(show())
    finally:
        connections.close()


def test_libpqs_pgoptions_reach_the_connections_as_they_reach_djangos(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=4321")

    assert _setting_on_an_async_connection("statement_timeout") == "4321ms"
    assert _setting_on_an_async_connection("TimeZone") == "UTC"


def test_options_in_the_settings_win_over_pgoptions_as_in_libpq(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=4321")
    options = {**connection.settings_dict["OPTIONS"], "options": "-c statement_timeout=1234"}
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)

    assert _setting_on_an_async_connection("statement_timeout") == "1234ms"
