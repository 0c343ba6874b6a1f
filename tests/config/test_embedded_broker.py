"""The embedded Celery broker: a message is seen by a worker only once it is whole."""

import os
import uuid
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from kombu import Connection

from config import embedded_broker
from config.celery import app


@pytest.fixture
def channel(tmp_path: Path) -> Any:
    """A channel of the embedded broker on a folder of its own."""
    folder = str(tmp_path)
    options = {"data_folder_in": folder, "data_folder_out": folder, "control_folder": folder}
    with Connection("filesystem://", transport=embedded_broker.Transport) as conn:
        conn.transport_options.update(options)
        yield conn.default_channel


def test_the_embedded_broker_is_the_one_writing_whole_messages() -> None:
    if app.conf.broker_url == "filesystem://":
        with app.connection_for_write() as conn:
            assert isinstance(conn.default_channel, embedded_broker.Channel)
    else:
        assert app.conf.broker_url.startswith("redis://")


def test_a_message_being_written_is_not_taken_and_is_taken_whole_once_written(
    channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What stopped the worker of scripts/run once: it took a message file before the
    producer had written it, and read nothing."""
    queue = f"test-{uuid.uuid4().hex}"
    payload = {"body": "x" * 10_000, "headers": {"task": "notifications.tasks.send"}}
    seen_while_writing: list[Any] = []
    replace = os.replace

    def into_place(written: str, name: str) -> None:
        # The file is complete here, under a name the worker passes over.
        assert Path(written).read_bytes()
        try:
            seen_while_writing.append(channel._get(queue))
        except Empty:
            seen_while_writing.append(None)
        replace(written, name)

    monkeypatch.setattr(embedded_broker.os, "replace", into_place)

    channel._put(queue, payload)

    assert seen_while_writing == [None]
    assert channel._get(queue) == payload
    with pytest.raises(Empty):
        channel._get(queue)
    assert os.listdir(channel.data_folder_in) == []  # nothing left behind
