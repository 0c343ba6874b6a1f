"""The embedded Celery broker (no Redis): kombu's file transport, with each message written
whole before a worker can see it.

Kombu's own transport creates the message's file under its final name, then writes it; a
worker listing the folder in between takes the empty file and stops on a JSONDecodeError
(seen once in the smoke run of scripts/run: the worker died, and with it the whole run). Here
the message is written under a name the worker passes over, then renamed into place in one
step, as a file is made whole on the same file system."""

import os
import tempfile
import uuid
from contextlib import suppress
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    # As kombu's file channel takes it: its base class names the message `message`, and it
    # names it `payload`; one signature cannot match both.
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Put the message on `queue`, as kombu names it (its order comes first), once whole:
        a worker takes only names ending `.<queue>.msg`, and the file is written as
        `.<random>.part` before it is renamed."""
        folder = self.data_folder_out
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        written = None
        try:
            with tempfile.NamedTemporaryFile(
                dir=folder, prefix=".", suffix=".part", delete=False
            ) as part:
                written = part.name
                part.write(str_to_bytes(dumps(payload)))
            os.replace(written, os.path.join(folder, name))
        except OSError as exc:
            if written is not None:
                with suppress(OSError):
                    os.remove(written)
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
