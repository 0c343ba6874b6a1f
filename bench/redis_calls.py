"""Benchmark: the CPU one of the cache's scripts costs this process, as a booking calls it.

A booking calls four Lua scripts of config/cache.py (the session read with its hint, the number
in a drive's line, the limits' windows, the drive's counters), and every request in a drive's
line one or two. This bench times the limits' call (`count_windows`, three keys) as the cache
makes it (keys made, answer read), its script as the cache sends it (`_run_script`), and the
same script through redis-py's script object (how the cache sent it until 7 December 2026),
one call at a time on one connection, in turns, and prints CPU and wall microseconds a call,
the median of `--runs`. It asserts nothing.

    REDIS_URL=redis://127.0.0.1:6379/11 .venv/bin/python bench/redis_calls.py [--calls 5000]
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from config.cache import COUNT_WINDOWS, ResilientRedisCache, _count_scripts, _run_script  # noqa: E402


def timed(call: Callable[[], object], calls: int) -> tuple[float, float]:
    """CPU and wall microseconds a call."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        call()
    return (
        (time.process_time() - cpu) / calls * 1e6,
        (time.perf_counter() - wall) / calls * 1e6,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    url = os.environ.get("REDIS_URL") or settings.CACHES["default"]["LOCATION"]
    if not url.startswith("redis"):
        sys.exit("Set REDIS_URL: this bench times calls to a Redis server.")
    cache = ResilientRedisCache(url, {})
    prefix = f"bench-redis-calls:{uuid.uuid4().hex}"
    windows = [(f"{prefix}:{n}", 3600) for n in range(3)]
    keys = [cache.make_and_validate_key(key) for key, _ in windows]
    client = cache._cache.get_client(keys[0], write=True)  # type: ignore[attr-defined]
    script = client.register_script(COUNT_WINDOWS)
    ways: dict[str, Callable[[], object]] = {
        "count_windows, as the cache makes the call": lambda: cache.count_windows(windows),
        "its script, as the cache sends it": lambda: _run_script(
            _count_scripts, client, COUNT_WINDOWS, keys, [3600] * 3
        ),
        "its script, through redis-py's script object": lambda: script(
            keys=keys, args=[3600] * 3, client=client
        ),
    }
    for call in ways.values():
        call()  # connected, and the script loaded
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for _ in range(options.runs):
        for name, call in ways.items():
            figures[name].append(timed(call, options.calls))
    for name, runs in figures.items():
        cpu = statistics.median(run[0] for run in runs)
        wall = statistics.median(run[1] for run in runs)
        print(f"{name}: {cpu:.1f} us of CPU, {wall:.1f} us a call")
    client.delete(*keys)


if __name__ == "__main__":
    main()
