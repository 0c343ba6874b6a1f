"""Benchmark: 100,000 due reminders dispatched by one Celery worker to a local fake Twilio.

Fills a throw-away test database with due outbox rows, starts real worker processes (the
project's Celery app, Redis broker when REDIS_URL is set, else the embedded file broker) with
the Twilio backend pointed at a local fake of Twilio's Messages API, queues the send task,
and waits until every row has an outcome. Prints messages per second and proves there are no
duplicates: every row sent once, one provider id per row, one request per message at the fake.
A benchmark prints figures: it asserts nothing.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bma REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python bench/reminders.py [--messages 100000] [--workers 1] [--concurrency 1]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Its own data folder: the embedded broker's queue, and the SQLite database if no PostgreSQL.
os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="bench-reminders-")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.utils import timezone  # noqa: E402

from notifications.messages import count_segments  # noqa: E402
from notifications.models import Message  # noqa: E402
from tests.fakes.twilio_api import FakeTwilio  # noqa: E402

BODY = "กทม. เตือนนัด ศบส.{centre} {n} พรุ่งนี้ 10:00 น. ยืนยัน/ยกเลิก: https://bkk.example/a/{n:x}"


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    host = db["HOST"] or "127.0.0.1"
    return f"postgres://{db['USER']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def fill_outbox(count: int) -> None:
    due = timezone.now() - timedelta(seconds=1)
    batch: list[Message] = []
    for n in range(count):
        body = BODY.format(centre=n % 69 + 1, n=n)
        segments = count_segments(body)
        batch.append(
            Message(
                recipient=f"+668{n:08d}",
                language="th",
                kind=Message.Kind.REMINDER,
                body=body,
                encoding=segments.encoding,
                segments=segments.segments,
                due_at=due,
            )
        )
        if len(batch) == 5000:
            Message.objects.bulk_create(batch)
            batch = []
    Message.objects.bulk_create(batch)


def start_workers(fake: FakeTwilio, count: int, concurrency: int) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_MESSAGING_SERVICE_SID": fake.messaging_service_sid,
        "TWILIO_API_BASE_URL": fake.base_url,
        "SMS_MAX_PER_SECOND": "0",
        "SMS_QUIET_HOURS_START": "24",  # measure sending, whatever the hour
        "SMS_QUIET_HOURS_END": "0",
        "LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker",
        *(["--pool=solo"] if concurrency == 1 else ["--concurrency", str(concurrency)]),
        "--queues", "bench-reminders", "--without-heartbeat", "--without-gossip",
        "--without-mingle", "--loglevel=WARNING",
    ]  # fmt: skip
    return [
        subprocess.Popen([*command, "--hostname", f"bench{n}@%h"], cwd=ROOT, env=env)
        for n in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (celery worker)")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="child processes per worker (1: solo pool)"
    )
    options = parser.parse_args()

    test_db = connection.creation.create_test_db(verbosity=0, keepdb=False)
    fake = FakeTwilio().start()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        started = time.perf_counter()
        fill_outbox(options.messages)
        print(f"Outbox: {options.messages:,} due reminders written in "
              f"{time.perf_counter() - started:.1f} s ({connection.vendor})")  # fmt: skip
        workers = start_workers(fake, options.workers, options.concurrency)
        from notifications.tasks import send_due_messages

        time.sleep(3)  # let the workers connect before the clock starts
        started = time.perf_counter()
        for _ in range(options.workers * options.concurrency):
            send_due_messages.apply_async(
                kwargs={"batch_size": 200, "time_budget": 3600.0}, queue="bench-reminders"
            )
        left = options.messages
        while left:
            time.sleep(1)
            left = Message.objects.filter(
                status__in=[Message.Status.PENDING, Message.Status.SENDING]
            ).count()
            print(f"  {options.messages - left:,} done", end="\r", flush=True)
        elapsed = time.perf_counter() - started

        statuses = Counter(dict(Message.objects.values_list("status").annotate(n=Count("pk"))))
        ids = Message.objects.exclude(provider_id="").values("provider_id").distinct().count()
        received = fake.messages
        per_body = Counter(m.body for m in received)
        broker = settings.CELERY_BROKER_URL.split(":")[0]
        print(
            f"Workers: {options.workers}, processes each: {options.concurrency}, broker: {broker}"
        )
        print(f"Dispatched {options.messages:,} messages in {elapsed:.1f} s: "
              f"{options.messages / elapsed:,.0f} messages/s")  # fmt: skip
        print(f"Outbox statuses: {dict(statuses)}")
        print(f"Requests at the fake Twilio: {len(received):,}; distinct messages: "
              f"{len(per_body):,}; sent more than once: "
              f"{sum(1 for n in per_body.values() if n > 1)}")  # fmt: skip
        print(f"Distinct provider ids in the outbox: {ids:,}; TCP connections: "
              f"{fake.connections_accepted}")  # fmt: skip
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        fake.stop()
        connection.creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    main()
