"""Benchmark: the public slot search (GET /api/v1/slots) at a steady rate, through HTTP.

On a throw-away PostgreSQL database (and Redis, if REDIS_URL is set) it loads the reference
data and opens `--slots` slots of a service across the centres and the coming weeks, starts
uvicorn workers serving the project's ASGI application as production would, and asks for the
first page of open times for the service, from a home district (a different district each
request, in turn), `--rate` times a second for `--duration` seconds (an open loop: arrivals do
not wait for answers). Prints the achieved rate, p50/p95/p99, the answers that were not 200,
how many came from the answer cache (config/public_cache/; they carry an Age header) and the
web processes' CPU per answer. The per-address search limit is lifted (every request comes
from 127.0.0.1). `--warmup` sends the same load for that long first and measures only what
follows: the steady state, once the processes have warmed and the cache holds answers. A
benchmark prints figures: it asserts nothing.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bma REDIS_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python bench/search.py [--rate 300] [--duration 20] [--warmup 5] [--slots 20000]
"""

import argparse
import asyncio
import gc
import importlib.util
import os
import re
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import uvloop
from django.db import connection
from django.utils import timezone
from surge import free_port, percentile, settle, wait_until_up  # also sets Django up

from bench.lean_client import LeanClient
from clinics.models import District
from clinics.services import load_reference_data

# The booking bench, by path: its name is the booking app's.
_spec = importlib.util.spec_from_file_location(
    "booking_bench", Path(__file__).with_name("booking.py")
)
assert _spec is not None
assert _spec.loader is not None
booking_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(booking_bench)
open_slots, start_server = booking_bench.open_slots, booking_bench.start_server
web_processes, cpu_seconds = booking_bench.web_processes, booking_bench.cpu_seconds

SERVICE = "general-checkup"


async def search(
    base: str, districts: list[int], rate: float, duration: float, days: tuple[str, str]
) -> tuple[list[tuple[str, float]], float, int]:
    """(status, latency) of every search, the seconds from the first sent to the last
    answered, and how many answers came from the answer cache (they carry an Age)."""
    answers: list[tuple[str, float]] = []
    cached = 0
    count = int(rate * duration)
    async with LeanClient.at(base, limit=2000) as client:
        begin = time.time() + 0.2

        async def one(number: int) -> None:
            await asyncio.sleep(max(begin + number / rate - time.time(), 0))
            query = urlencode(
                {
                    "service": SERVICE,
                    "district": str(districts[number % len(districts)]),
                    "date_from": days[0],
                    "date_to": days[1],
                }
            )
            nonlocal cached
            sent = time.time()
            try:
                answer = await client.get(f"/api/v1/slots?{query}")
            except (TimeoutError, ConnectionError, OSError) as error:
                answers.append((f"connection error {type(error).__name__}", time.time() - sent))
                return
            found = re.search(r'"code":\s*"([a-z_]+)"', answer.text())
            kind = f"{answer.status} {found.group(1) if found else ''}".strip()
            cached += "age" in answer.headers
            answers.append((kind, time.time() - sent))

        await asyncio.gather(*(one(n) for n in range(count)))
        ended = time.time()
    return answers, ended - begin, cached


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=300, help="searches per second")
    parser.add_argument("--duration", type=float, default=20, help="seconds")
    parser.add_argument(
        "--warmup",
        type=float,
        default=0,
        help="seconds of the same load first, not measured (the cache and the processes warm)",
    )
    parser.add_argument("--slots", type=int, default=20_000)
    parser.add_argument("--web-workers", type=int, default=2, help="uvicorn worker processes")
    options = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server: searches are measured there.")

    test_db = connection.creation.create_test_db(verbosity=0, keepdb=False)
    server = None
    try:
        load_reference_data(years=[timezone.localdate().year, timezone.localdate().year + 1])
        open_slots(options.slots, capacity=5)
        settle()  # as autovacuum would: the count reads the open-slot index alone
        districts = list(District.objects.order_by("code").values_list("code", flat=True))
        connection.close()
        # The client's own heap out of its collector's walks, as bench/booking.py's: a pause of
        # the load generator shows as the server's latency.
        gc.collect()
        gc.freeze()
        port = free_port()
        server = start_server(port, options.web_workers, count_dir="")
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_until_up(base))
        today = timezone.localdate()
        days = (today.isoformat(), (today + timedelta(days=28)).isoformat())
        if options.warmup > 0:
            uvloop.run(search(base, districts, options.rate, options.warmup, days))
        load = os.getloadavg()[0]
        pids = web_processes(server)
        cpu_before = cpu_seconds(pids)
        answers, seconds, cached = uvloop.run(
            search(base, districts, options.rate, options.duration, days)
        )
        web_cpu = cpu_seconds(pids) - cpu_before
        latencies = [latency for _, latency in answers]
        kinds = Counter(status for status, _ in answers)
        print(
            f"Search: {options.slots:,} slots of {SERVICE}; uvicorn x{options.web_workers}; "
            f"{f'after {options.warmup:g} s of warm-up; ' if options.warmup > 0 else ''}"
            f"load average before {load:.2f}, after {os.getloadavg()[0]:.2f}"
        )
        print(
            f"Asked {len(answers):,} at {options.rate:,.0f}/s; achieved "
            f"{len(answers) / seconds:,.0f}/s answered; "
            f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
            f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms; "
            f"answers {dict(sorted(kinds.items()))}; errors {len(answers) - kinds['200']}"
        )
        print(
            f"{cached:,} answers from the answer cache; web processes' CPU "
            f"{web_cpu * 1000 / max(len(answers), 1):.2f} ms per answer"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        connection.close()
        connection.creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    main()
