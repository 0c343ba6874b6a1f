"""Telling the staff desks of a centre that its queue changed, over the channel layer: the
today page (config/static/site/queue.js) listens on `centre.<number>.queue` and reloads its
queue. Sent only once the change has committed, and never at the cost of the change: with the
channel layer down, the desk finds out on its next reload."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def queue_group(centre_id: int) -> str:
    return f"centre.{centre_id}.queue"


def announce_queue_change(*, centre_id: int, appointment_id: int, change: str) -> None:
    """After the transaction commits, tell the centre's desks that an appointment changed."""
    transaction.on_commit(
        lambda: send_queue_change(centre_id=centre_id, appointment_id=appointment_id, change=change)
    )


def send_queue_change(*, centre_id: int, appointment_id: int, change: str) -> None:
    """Tell the centre's desks now (for a caller that has seen its transaction commit)."""
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        async_to_sync(layer.group_send)(
            queue_group(centre_id),
            {
                "type": "queue.changed",  # handled by CentreQueueConsumer.queue_changed
                "appointment_id": appointment_id,
                "change": change,
            },
        )
    except Exception:
        logger.warning("Could not tell centre %s's desks of a change", centre_id, exc_info=True)
