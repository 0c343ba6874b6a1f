"""A real Celery worker, in its own process, takes the send task from the Redis broker on this
machine and sends a committed outbox row to the fake Twilio."""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection
from kombu import Connection

from notifications.models import Message
from notifications.services.outbox import Recipient, queue_message
from notifications.tasks import send_due_messages
from tests.fakes.twilio_api import FakeTwilio
from tests.redis_server import redis_for_tests

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    """The Redis of REDIS_URL when it is set (a run against the machine's services), else a
    redis-server of the tests' own: the README's test command needs no Redis running."""
    with redis_for_tests() as url:
        yield url


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(
    fake_twilio: FakeTwilio, queue: str, var_dir: Path, broker_url: str, **settings: str
) -> subprocess.Popen[str]:
    """A worker process consuming a queue of its own, so parallel test runs never meet."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": broker_url,
        "VAR_DIR": str(var_dir),
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": fake_twilio.account_sid,
        "TWILIO_AUTH_TOKEN": fake_twilio.auth_token,
        "TWILIO_MESSAGING_SERVICE_SID": fake_twilio.messaging_service_sid,
        "TWILIO_API_BASE_URL": fake_twilio.base_url,
        "SMS_MAX_PER_SECOND": "0",
        # The worker runs on the machine's clock: no quiet hours, whatever hour CI runs at.
        "SMS_QUIET_HOURS_START": "24",
        "SMS_QUIET_HOURS_END": "0",
        **settings,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
         "--queues", queue, "--loglevel=INFO", "--without-heartbeat", "--without-gossip",
         "--without-mingle"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


@pytest.fixture
def worker(fake_twilio: FakeTwilio, tmp_path: Path, broker_url: str) -> Iterator[str]:
    queue = f"test-{uuid.uuid4().hex[:12]}"
    process = start_worker(fake_twilio, queue, tmp_path, broker_url)
    try:
        yield queue
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
        print(output[-4000:])


@pytest.mark.django_db(transaction=True)
def test_a_worker_sends_a_committed_message_through_the_redis_broker(
    fake_twilio, worker, settings, broker_url
):
    settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END = 24, 0  # as in the worker
    message = queue_message(
        recipient=Recipient("+66812345678", "th"),
        kind=Message.Kind.REMINDER,
        body="BMA: เตือนนัด ศบส.1 สะพานมอญ พรุ่งนี้ 10:00 น.",
    )

    with Connection(broker_url) as broker:
        send_due_messages.apply_async(connection=broker, queue=worker)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        message.refresh_from_db()
        if message.status not in (Message.Status.PENDING, Message.Status.SENDING):
            break
        time.sleep(0.2)

    assert message.status == Message.Status.SENT, message.last_error
    (received,) = fake_twilio.messages
    assert received.body == message.body
    assert message.provider_id == received.sid


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"Timed out waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_loses_no_message_and_repeats_at_most_the_one_in_flight(
    fake_twilio, tmp_path, settings, broker_url
):
    """The duplicate policy: a text goes out at least once. A worker killed between Twilio
    accepting a text and recording it leaves that one text claimed; after the claim's lease
    another worker sends it again, so a kill can repeat at most the one text in flight (the
    worker sends one at a time). Everything else it had claimed goes out once."""
    settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END = 24, 0
    queued = [
        queue_message(
            recipient=Recipient(f"+6681234{n:04d}", "th"),
            kind=Message.Kind.REMINDER,
            body=f"BMA: reminder number {n}",
        )
        for n in range(20)
    ]
    queue = f"test-{uuid.uuid4().hex[:12]}"
    lease = {"SMS_CLAIM_LEASE_SECONDS": "3"}
    # Five texts a second: the batch takes four seconds, long enough to kill it half-way.
    first = start_worker(fake_twilio, queue, tmp_path, broker_url, SMS_MAX_PER_SECOND="5", **lease)
    second = None
    try:
        with Connection(broker_url) as broker:
            send_due_messages.apply_async(connection=broker, queue=queue)
        wait_until(lambda: len(fake_twilio.messages) >= 5, "the first worker to send five")
        first.kill()
        first.wait()
        sent_before_the_kill = len(fake_twilio.messages)

        second = start_worker(fake_twilio, queue, tmp_path, broker_url, **lease)
        time.sleep(3.5)  # the killed worker's claims run out
        with Connection(broker_url) as broker:
            send_due_messages.apply_async(connection=broker, queue=queue)
        wait_until(
            lambda: (
                not Message.objects.filter(
                    pk__in=[m.pk for m in queued],
                    status__in=[Message.Status.PENDING, Message.Status.SENDING],
                ).exists()
            ),
            "every text to be sent",
        )
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.communicate(timeout=30)

    bodies = [received.body for received in fake_twilio.messages]
    assert 5 <= sent_before_the_kill < 20
    assert set(bodies) == {message.body for message in queued}
    assert len(bodies) - len(set(bodies)) <= 1
    assert set(
        Message.objects.filter(pk__in=[m.pk for m in queued]).values_list("status", flat=True)
    ) == {Message.Status.SENT}
