"""The services the settings point at work: the database mode for concurrent writers, the
channel layer (in memory, or Redis with REDIS_URL) and the Celery broker."""

import asyncio
import uuid

import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

from config.celery import app


@pytest.mark.django_db
def test_the_database_is_set_up_for_concurrent_writers():
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
            assert connection.transaction_mode == "IMMEDIATE"
            assert settings.DATABASES["default"]["OPTIONS"]["timeout"] >= 10
        else:
            assert connection.vendor == "postgresql"
            cursor.execute("SHOW default_transaction_isolation")
            assert cursor.fetchone()[0] == "read committed"


def test_a_message_sent_to_a_group_reaches_its_member():
    async def round_trip() -> dict:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        group = f"test-{uuid.uuid4().hex}"
        await layer.group_add(group, channel)
        await layer.group_send(group, {"type": "room.event", "text": "สวัสดี"})
        message = await asyncio.wait_for(layer.receive(channel), timeout=5)
        await layer.group_discard(group, channel)
        return message

    assert asyncio.run(round_trip()) == {"type": "room.event", "text": "สวัสดี"}


def test_the_layer_and_broker_follow_redis_url():
    layer = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if settings.REDIS_URL:
        assert layer == "channels_redis.pubsub.RedisPubSubChannelLayer"
        assert app.conf.broker_url == settings.REDIS_URL
    else:
        assert layer == "channels.layers.InMemoryChannelLayer"
        assert app.conf.broker_url == "filesystem://"


def test_a_message_published_to_the_broker_can_be_consumed():
    from kombu import Exchange, Queue

    queue = Queue(f"test-{uuid.uuid4().hex}", Exchange("test-exchange", type="direct"), "test")
    with app.connection_for_write() as conn:
        producer = conn.Producer()
        producer.publish(
            {"hello": "world"}, exchange=queue.exchange, routing_key="test", declare=[queue]
        )
        with conn.SimpleQueue(queue) as simple:
            message = simple.get(timeout=5)
            message.ack()
            assert message.payload == {"hello": "world"}
        queue(conn.default_channel).delete()
