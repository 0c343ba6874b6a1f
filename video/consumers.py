"""Signalling for a consultation room over a WebSocket: /ws/rooms/<code>/[?token=<join token>].

The consumer authenticates in `connect` (a signed-in patient or clinician, or the patient's
join link), takes a place in the room (video.limits: a room and a join link have only so many
connections at once, across every server process), joins the room's group and forwards typed
events (video.events) between the two browsers; the media itself goes browser to browser
(WebRTC). Room state that must survive a dropped connection or another server process
(waiting, let in, ended) is in the database.

Refusals are an "error" event saying why, then a close code from 4400 to 4503 (see
CLOSE_CODES); the page shows the message and offers to join again. Chatting faster than
VIDEO_CHATS_PER_10_SECONDS is refused message by message with a "too_many_messages" error;
the connection carries on.
"""

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from clinics.exceptions import DomainError
from video import limits, services
from video.events import (
    CLINICIAN_ONLY,
    IN_CALL_ONLY,
    ClientMessage,
    InvalidMessage,
    ServerEvent,
    parse_client_message,
)
from video.limits import ChatAllowance, Places
from video.models import ConsultationRoom
from video.services import Participant, Role

logger = logging.getLogger(__name__)

# WebSocket close codes for refusals (4000-4999 are the application's): 4429 is one connection
# too many for the room or the join link; 4503, the channel layer (Redis) unreachable.
CLOSE_CODES = {401: 4401, 403: 4403, 404: 4404, 409: 4409, 429: 4429}


class ConsultationConsumer(AsyncWebsocketConsumer):
    participant: Participant | None = None
    places: Places | None = None
    renewal: "asyncio.Task[None] | None" = None
    chat_allowance: ChatAllowance | None = None
    group = ""
    admitted = False
    accepted = False
    language = "th"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the consumer; if the channel layer cannot be reached (Redis down), tell the
        browser that video is unavailable rather than dropping the connection unexplained."""
        query = parse_qs(scope.get("query_string", b"").decode())
        self.language = "en" if query.get("lang", [""])[0] == "en" else "th"
        try:
            await super().__call__(scope, receive, send)
        except (OSError, RedisError):
            logger.warning("Channel layer unreachable; a video room connection was refused")
            if not self.accepted:
                await receive()  # the browser's websocket.connect
                await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": json.dumps(self._unavailable())})
            await send({"type": "websocket.close", "code": 4503})

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        await super().accept(subprotocol, headers)
        self.accepted = True

    def _unavailable(self) -> ServerEvent:
        with translation.override(self.language):
            return {
                "type": "error",
                "code": "unavailable",
                "message": _(
                    "Video calls are unavailable for a moment. Please try again in a few "
                    "minutes, or call the health centre."
                ),
            }

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.language = "en" if query.get("lang", [""])[0] == "en" else "th"
        code = str(self.scope["url_route"]["kwargs"]["code"])
        await self.accept()
        try:
            self.participant, self.places = await database_sync_to_async(_enter_room)(
                code,
                self.scope["user"],
                query.get("token", [None])[0],
                self.language,
                self.channel_name,
            )
        except DomainError as error:
            with translation.override(self.language):
                await self.send_event(
                    {"type": "error", "code": error.code, "message": str(error.message)}
                )
            await self.close(code=CLOSE_CODES.get(error.status, 4400))
            return
        me = self.participant
        self.group = f"room.{me.room_code}"
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
        except (OSError, RedisError):
            # Without the channel layer (Redis down) the two sides cannot reach each other.
            logger.warning("Channel layer unreachable; video room %s refused", me.room_code)
            self.participant = None
            await self.give_back_places()
            await self.send_event(self._unavailable())
            await self.close(code=4503)
            return
        self.renewal = asyncio.create_task(self.keep_places())
        self.chat_allowance = ChatAllowance(limit=settings.VIDEO_CHATS_PER_10_SECONDS)
        await self.send_event(
            {
                "type": "welcome",
                "role": me.role,
                "name": me.name,
                "ice_servers": services.ice_servers(who=f"{me.role}-{me.appointment_id}"),
            }
        )
        if me.role == Role.PATIENT:
            self.admitted = await database_sync_to_async(services.wait_in_lobby)(room_id=me.room_id)
            # The clinician hears first: once the patient reads "waiting", anyone who joins
            # later learns of the wait from the room's state instead.
            await self.broadcast(
                {"type": "peer_joined" if self.admitted else "patient_waiting", "name": me.name},
                to=Role.CLINICIAN,
            )
            await self.send_event({"type": "admitted" if self.admitted else "waiting"})
        else:
            await self.broadcast({"type": "peer_joined", "name": me.name}, to=Role.PATIENT)
            waiting, admitted = await database_sync_to_async(_room_state)(me.room_id)
            if waiting:
                await self.send_event({"type": "patient_waiting"})
            if admitted:
                await self.send_event({"type": "admitted"})

    async def keep_places(self) -> None:
        """Renew the connection's places while it is open, well within their lease."""
        while self.places is not None:
            await asyncio.sleep(settings.VIDEO_SOCKET_LEASE_SECONDS / 3)
            await sync_to_async(limits.renew_places)(places=self.places)

    async def give_back_places(self) -> None:
        if self.renewal is not None:
            self.renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.renewal
            self.renewal = None
        if self.places is not None:
            places, self.places = self.places, None
            await sync_to_async(limits.release_places)(places=places)

    async def disconnect(self, code: int) -> None:
        await self.give_back_places()
        me = self.participant
        if me is None:
            return
        await self.channel_layer.group_discard(self.group, self.channel_name)
        if me.role == Role.PATIENT:
            await database_sync_to_async(services.leave_lobby)(room_id=me.room_id)
        await self.broadcast({"type": "peer_left", "role": me.role, "name": me.name})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        me = self.participant
        if me is None:
            return
        with translation.override(self.language):
            try:
                if text_data is None:
                    raise InvalidMessage("not_text", _("Send text messages (JSON), not binary."))
                message = parse_client_message(
                    text_data, max_bytes=settings.VIDEO_MAX_MESSAGE_BYTES
                )
                await self.act(me, message)
            except InvalidMessage as error:
                await self.send_event(
                    {"type": "error", "code": error.code, "message": error.message}
                )
            except DomainError as error:
                await self.send_event(
                    {"type": "error", "code": error.code, "message": str(error.message)}
                )

    async def act(self, me: Participant, message: ClientMessage) -> None:
        kind = message["type"]
        if kind in CLINICIAN_ONLY and me.role != Role.CLINICIAN:
            raise InvalidMessage("not_allowed", _("Only the clinician can do this."))
        if kind in IN_CALL_ONLY and me.role == Role.PATIENT and not self.admitted:
            raise InvalidMessage(
                "not_admitted", _("Please wait: the clinician will let you in shortly.")
            )
        if kind == "chat" and self.chat_allowance and not self.chat_allowance.take():
            raise InvalidMessage(
                "too_many_messages",
                _("You are sending messages too quickly. Wait a few seconds, then send again."),
            )
        if kind == "offer" or kind == "answer":
            await self.broadcast({"type": kind, "sdp": message["sdp"]})
        elif kind == "ice":
            await self.broadcast({"type": "ice", "candidate": message["candidate"]})
        elif kind == "chat":
            await self.broadcast(
                {
                    "type": "chat",
                    "role": me.role,
                    "name": me.name,
                    "text": message["text"],
                    "at": timezone.now().isoformat(),
                },
                include_me=True,
            )
        elif kind == "admit":
            await database_sync_to_async(services.admit_patient)(room_id=me.room_id)
            await self.broadcast({"type": "admitted"}, include_me=True)
        elif kind == "lobby":
            await database_sync_to_async(services.send_back_to_lobby)(room_id=me.room_id)
            await self.broadcast({"type": "sent_to_lobby"}, include_me=True)
        elif kind == "end":
            await database_sync_to_async(services.end_visit)(room_id=me.room_id)
            await self.broadcast({"type": "ended"}, include_me=True)
        elif kind == "leave":
            await self.close(code=1000)

    async def broadcast(
        self, event: ServerEvent, *, to: Role | None = None, include_me: bool = False
    ) -> None:
        await self.channel_layer.group_send(
            self.group,
            {
                "type": "room.event",
                "event": event,
                "sender": None if include_me else self.channel_name,
                "to": to,
            },
        )

    async def room_event(self, message: dict[str, Any]) -> None:
        """An event from the room's group: pass it to this browser unless it sent it, or it
        is for the other role."""
        if message["sender"] == self.channel_name:
            return
        if (
            message["to"] is not None
            and self.participant
            and message["to"] != self.participant.role
        ):
            return
        event: ServerEvent = message["event"]
        if event["type"] == "admitted":
            self.admitted = True
        elif event["type"] == "sent_to_lobby":
            self.admitted = False
        await self.send_event(event)
        if event["type"] == "ended":
            await self.close(code=1000)

    async def send_event(self, event: ServerEvent) -> None:
        await self.send(text_data=json.dumps(event, ensure_ascii=False))


def _enter_room(
    code: str, user: User | AnonymousUser, join_token: str | None, language: str, holder: str
) -> tuple[Participant, Places]:
    # In the thread the ORM runs in, so that a refusal is worded in the reader's language.
    with translation.override(language):
        participant = services.enter_room(room_code=code, user=user, join_token=join_token)
        places = limits.take_places(
            room_code=participant.room_code, join_token=join_token, holder=holder
        )
        return participant, places


def _room_state(room_id: int) -> tuple[bool, bool]:
    room = ConsultationRoom.objects.get(pk=room_id)
    return room.patient_waiting_since is not None, room.admitted_at is not None
