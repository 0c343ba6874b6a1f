"""Telling the staff desks of a centre that its queue changed (an appointment or a walk-in),
over the channel layer: the today page (config/static/site/queue.js) listens on
`centre.<number>.queue` and reloads its queue. Sent only once the change has committed, and
never at the cost of the change: with the channel layer down, the desk finds out on its next
reload."""

import asyncio
import logging
import weakref
from contextvars import ContextVar
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueChange:
    centre_id: int
    appointment_id: int
    change: str


# Set by an async caller (the lean route) that runs a booking in a thread: the changes are
# collected here and sent from its event loop, where the channel layer's connection lives,
# instead of through async_to_sync in the thread (a new event loop and connection each time).
deferred_changes: ContextVar[list[QueueChange] | None] = ContextVar(
    "deferred_changes", default=None
)
_sending: set[asyncio.Task[None]] = set()


def _message(change: QueueChange) -> dict[str, object]:
    return {
        "type": "queue.changed",  # handled by CentreQueueConsumer.queue_changed
        "appointment_id": change.appointment_id,
        "change": change.change,
    }


def queue_group(centre_id: int) -> str:
    return f"centre.{centre_id}.queue"


def announce_queue_change(*, centre_id: int, appointment_id: int, change: str) -> None:
    """After the transaction commits, tell the centre's desks that an appointment changed."""
    transaction.on_commit(
        lambda: send_queue_change(centre_id=centre_id, appointment_id=appointment_id, change=change)
    )


def send_queue_change(*, centre_id: int, appointment_id: int, change: str) -> None:
    """Tell the centre's desks now (for a caller that has seen its transaction commit)."""
    collected = deferred_changes.get()
    if collected is not None:
        collected.append(QueueChange(centre_id, appointment_id, change))
        return
    _send_now(centre_id, _message(QueueChange(centre_id, appointment_id, change)))


def announce_walk_in_change(*, centre_id: int, walk_in_id: int, change: str) -> None:
    """After the transaction commits, tell the centre's desks that a walk-in changed."""
    message = {
        "type": "walk_in.changed",  # handled by CentreQueueConsumer.walk_in_changed
        "walk_in_id": walk_in_id,
        "change": change,
    }
    transaction.on_commit(lambda: _send_now(centre_id, message))


def _send_now(centre_id: int, message: dict[str, object]) -> None:
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        async_to_sync(layer.group_send)(queue_group(centre_id), message)
    except Exception:
        logger.warning("Could not tell centre %s's desks of a change", centre_id, exc_info=True)


async def _asend_queue_change(change: QueueChange) -> None:
    """send_queue_change from the event loop."""
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        await layer.group_send(queue_group(change.centre_id), _message(change))
    except Exception:
        logger.warning(
            "Could not tell centre %s's desks of a change", change.centre_id, exc_info=True
        )


# Each event loop's sends, by centre: the latest change not yet sent, or None while a send is
# on its way (or the pause after it, QUEUE_CHANGE_PAUSE_MS) and nothing has come since. One send
# per centre is on its way at a time, and the changes that come meanwhile make one message,
# sent next (the page reloads the whole queue on any message), so a busy process tells each
# centre once for the changes of a moment. In bench/booking.py's steady bookings, a send for
# each booking had queued for the channel layer and left the web processes 0.6-0.9 s of CPU of
# sends still to make after the last answer; with one send per booking still (a few bookings a
# second at each of 69 centres), the sends took about 8 % of the web processes' CPU, and the
# pause makes them at most one a second per centre.
_waiting: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, QueueChange | None]]" = (
    weakref.WeakKeyDictionary()
)


def send_soon(changes: list[QueueChange]) -> None:
    """Send the collected changes from the running event loop, without waiting for them: a
    change at once when no send to its centre is on its way, else as the next (the latest of
    those that came meanwhile)."""
    loop = asyncio.get_running_loop()
    waiting = _waiting.setdefault(loop, {})
    for change in changes:
        on_its_way = change.centre_id in waiting
        waiting[change.centre_id] = change
        if not on_its_way:
            task = loop.create_task(_send_while_waiting(waiting, change.centre_id))
            _sending.add(task)
            task.add_done_callback(_sending.discard)


async def _send_while_waiting(waiting: dict[int, QueueChange | None], centre_id: int) -> None:
    """The centre's latest change, then, after QUEUE_CHANGE_PAUSE_MS, the latest of those that
    came while it was on its way or during the pause, until none has."""
    pause = settings.QUEUE_CHANGE_PAUSE_MS / 1000
    try:
        while (change := waiting.get(centre_id)) is not None:
            waiting[centre_id] = None
            await _asend_queue_change(change)
            if pause > 0:
                await asyncio.sleep(pause)
    finally:
        waiting.pop(centre_id, None)
