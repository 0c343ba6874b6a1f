"""Benchmark: many clients taking places in one slot, four ways, on PostgreSQL (+ Redis).

Each client has its own connection and books until the slot is full: take a place, write an
appointment row, spend `--hold-ms` doing the rest of a booking's work while the transaction
is open (the engine writes the appointment, its texts and reminders), commit. The ways:

  update    one conditional UPDATE ... WHERE booked < capacity on the slot row (the engine's)
  advisory  pg_advisory_xact_lock(slot), then read the count and write it back
  skip      one row per place, the first free one claimed with FOR UPDATE SKIP LOCKED
  redis     a Redis counter refuses once it is empty; the conditional UPDATE still guards
  slots     for comparison, what a drive is: the same places as slots of 5, each client
            taking the first slot not locked by another (SKIP LOCKED), then the
            conditional UPDATE on it, as "book the best for me" does

Prints bookings per second until full, latency of successful bookings, refusals, and checks
that exactly `capacity` places were taken. A benchmark prints figures: it asserts nothing.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bma REDIS_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python bench/hot_slot.py [--clients 64] [--capacity 2000] [--hold-ms 0 5]
"""

import argparse
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
import redis

SCHEMA = """
DROP TABLE IF EXISTS hot_slot, hot_place, hot_appointment;
CREATE UNLOGGED TABLE hot_slot (id int PRIMARY KEY, capacity int NOT NULL, booked int NOT NULL
    CHECK (booked <= capacity));
CREATE UNLOGGED TABLE hot_place (slot_id int NOT NULL, n int NOT NULL, taken boolean NOT NULL
    DEFAULT false, PRIMARY KEY (slot_id, n));
CREATE UNLOGGED TABLE hot_appointment (id bigserial PRIMARY KEY, slot_id int NOT NULL,
    client int NOT NULL, place int);
"""

Way = Callable[[psycopg.Connection, int, float], bool]


def by_update(conn: psycopg.Connection, client: int, hold: float) -> bool:
    with conn.transaction():
        taken = conn.execute(
            "UPDATE hot_slot SET booked = booked + 1 WHERE id = 1 AND booked < capacity"
        ).rowcount
        if not taken:
            return False
        conn.execute("INSERT INTO hot_appointment (slot_id, client) VALUES (1, %s)", [client])
        time.sleep(hold)
    return True


def by_advisory_lock(conn: psycopg.Connection, client: int, hold: float) -> bool:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(1)")
        booked, capacity = conn.execute(
            "SELECT booked, capacity FROM hot_slot WHERE id = 1"
        ).fetchone()  # type: ignore[misc]
        if booked >= capacity:
            return False
        conn.execute("UPDATE hot_slot SET booked = %s WHERE id = 1", [booked + 1])
        conn.execute("INSERT INTO hot_appointment (slot_id, client) VALUES (1, %s)", [client])
        time.sleep(hold)
    return True


def by_skip_locked(conn: psycopg.Connection, client: int, hold: float) -> bool:
    with conn.transaction():
        row = conn.execute(
            "UPDATE hot_place SET taken = true WHERE (slot_id, n) = (SELECT slot_id, n FROM"
            " hot_place WHERE slot_id = 1 AND NOT taken LIMIT 1 FOR UPDATE SKIP LOCKED)"
            " RETURNING n"
        ).fetchone()
        if row is None:
            # Nothing free that is not locked: full, or every free place is being claimed.
            if conn.execute("SELECT 1 FROM hot_place WHERE slot_id = 1 AND NOT taken").fetchone():
                return by_skip_locked(conn, client, hold)
            return False
        conn.execute(
            "INSERT INTO hot_appointment (slot_id, client, place) VALUES (1, %s, %s)",
            [client, row[0]],
        )
        time.sleep(hold)
    return True


def by_small_slots(conn: psycopg.Connection, client: int, hold: float) -> bool:
    with conn.transaction():
        row = conn.execute(
            "SELECT id FROM hot_slot WHERE booked < capacity ORDER BY id LIMIT 1"
            " FOR UPDATE SKIP LOCKED"
        ).fetchone()
        if row is None:
            # Nothing free that is not locked: full, or every free slot is being booked.
            if conn.execute("SELECT 1 FROM hot_slot WHERE booked < capacity").fetchone():
                return by_small_slots(conn, client, hold)
            return False
        conn.execute(
            "INSERT INTO hot_appointment (slot_id, client) VALUES (%s, %s)", [row[0], client]
        )
        time.sleep(hold)
        conn.execute("UPDATE hot_slot SET booked = booked + 1 WHERE id = %s", [row[0]])
    return True


def by_redis_counter(cache: redis.Redis, key: str) -> Way:
    def take(conn: psycopg.Connection, client: int, hold: float) -> bool:
        if int(cache.decr(key)) < 0:  # type: ignore[arg-type]  # sync client: an int
            cache.incr(key)
            return False
        try:
            booked = by_update(conn, client, hold)
        except Exception:
            cache.incr(key)
            raise
        if not booked:
            cache.incr(key)
        return booked

    return take


def run(dsn: str, way: Way, clients: int, capacity: int, hold: float) -> dict[str, float]:
    latencies: list[float] = []
    refusals = 0
    lock = threading.Lock()
    start = threading.Event()

    def client(number: int) -> None:
        nonlocal refusals
        with psycopg.connect(dsn, autocommit=True) as conn:
            start.wait()
            while True:
                began = time.perf_counter()
                booked = way(conn, number, hold)
                with lock:
                    if booked:
                        latencies.append(time.perf_counter() - began)
                    else:
                        refusals += 1
                if not booked:
                    return

    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client, n) for n in range(clients)]
        time.sleep(0.5)
        began = time.perf_counter()
        start.set()
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - began
    with psycopg.connect(dsn) as conn:
        taken = conn.execute("SELECT count(*) FROM hot_appointment").fetchone()[0]  # type: ignore[index]
    ordered = sorted(latencies)
    return {
        "per_second": len(latencies) / elapsed,
        "seconds": elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99)] * 1000,
        "refusals": refusals,
        "taken": taken,
    }


def reset(dsn: str, capacity: int, *, small_slots: bool = False) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        if small_slots:
            conn.execute(
                "INSERT INTO hot_slot SELECT n, 5, 0 FROM generate_series(1, %s) n",
                [capacity // 5],
            )
            return
        conn.execute("INSERT INTO hot_slot VALUES (1, %s, 0)", [capacity])
        conn.execute(
            "INSERT INTO hot_place (slot_id, n) SELECT 1, n FROM generate_series(1, %s) n",
            [capacity],
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--capacity", type=int, default=2000)
    parser.add_argument("--hold-ms", type=float, nargs="+", default=[0, 5])
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL server.")
    cache = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/11"))
    name = f"bench_hot_slot_{os.getpid()}"
    base = url.rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    dsn = f"{base}/{name}"
    try:
        print(f"One slot, {options.capacity:,} places, {options.clients} clients; "
              f"median of {options.rounds} rounds")  # fmt: skip
        print(f"{'hold':>6} {'way':>9} {'bookings/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'refused':>8} {'taken':>6}")  # fmt: skip
        for hold_ms in options.hold_ms:
            for label in ("update", "advisory", "skip", "redis", "slots"):
                results = []
                for _ in range(options.rounds):
                    reset(dsn, options.capacity, small_slots=label == "slots")
                    key = f"bench-hot-slot:{uuid.uuid4().hex}"
                    cache.set(key, options.capacity, ex=600)
                    way: Way = {
                        "update": by_update,
                        "advisory": by_advisory_lock,
                        "skip": by_skip_locked,
                        "redis": by_redis_counter(cache, key),
                        "slots": by_small_slots,
                    }[label]
                    results.append(run(dsn, way, options.clients, options.capacity, hold_ms / 1000))
                middle = sorted(results, key=lambda r: r["per_second"])[len(results) // 2]
                print(f"{hold_ms:>4.0f}ms {label:>9} {middle['per_second']:>11,.0f} "
                      f"{middle['p50_ms']:>8.1f} {middle['p99_ms']:>8.1f} "
                      f"{middle['refusals']:>8.0f} {middle['taken']:>6.0f}")  # fmt: skip
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")


if __name__ == "__main__":
    main()
