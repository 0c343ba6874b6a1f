"""The staff desk's live queue: a WebSocket per open today page, in the centre's group, told
when an appointment there changes (booked, checked in, waiting in the video lobby, seen,
cancelled…) or a walk-in does (added, seen, left). It carries no patient data: the page
reloads its queue to see what changed."""

import contextlib
import logging
from typing import Any, Literal, TypedDict

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from redis.exceptions import RedisError

from booking.services.queue_events import queue_group
from clinics.permissions import StaffAction, can_act_at

logger = logging.getLogger(__name__)


class QueueChanged(TypedDict):
    type: Literal["queue_changed"]
    appointment_id: int
    change: str


class WalkInChanged(TypedDict):
    type: Literal["walk_in_changed"]
    walk_in_id: int
    change: str


class CentreQueueConsumer(AsyncJsonWebsocketConsumer):
    group = ""

    async def connect(self) -> None:
        number = int(self.scope["url_route"]["kwargs"]["number"])
        user = self.scope.get("user")
        allowed = user is not None and await database_sync_to_async(can_act_at)(
            user, StaffAction.VIEW_APPOINTMENTS, number
        )
        if not allowed:
            await self.refuse(4403)
            return
        try:
            await self.channel_layer.group_add(queue_group(number), self.channel_name)
        except (OSError, RedisError):
            logger.warning("Channel layer unreachable; the live queue of centre %s is off", number)
            await self.refuse(4503)
            return
        # Joined before accepting: once the desk sees the socket open, it hears every change.
        self.group = queue_group(number)
        await self.accept()

    async def refuse(self, code: int) -> None:
        """Accept, then close with a code: a browser sees the code (4403: stop trying; 4503:
        try later) only on a socket that opened, a refused handshake reads as a network drop."""
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if self.group:
            with contextlib.suppress(OSError, RedisError):
                await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The desk only listens."""

    async def queue_changed(self, message: dict[str, Any]) -> None:
        event: QueueChanged = {
            "type": "queue_changed",
            "appointment_id": int(message["appointment_id"]),
            "change": str(message["change"]),
        }
        await self.send_json(event)

    async def walk_in_changed(self, message: dict[str, Any]) -> None:
        event: WalkInChanged = {
            "type": "walk_in_changed",
            "walk_in_id": int(message["walk_in_id"]),
            "change": str(message["change"]),
        }
        await self.send_json(event)
