"""The signalling protocol: what a browser may send, checked before anything is done with it.

Every message is a JSON object with a "type". Unknown types, missing or wrong fields and
oversized messages are refused with an "error" event; the connection and the room carry on.
"""

import json
from typing import Any, Literal, TypedDict

from django.utils.translation import gettext as _

ClientType = Literal["offer", "answer", "ice", "chat", "admit", "lobby", "end", "leave"]
CLIENT_TYPES: tuple[ClientType, ...] = (
    "offer",
    "answer",
    "ice",
    "chat",
    "admit",
    "lobby",
    "end",
    "leave",
)
# What only a clinician may send.
CLINICIAN_ONLY = frozenset({"admit", "lobby", "end"})
# What needs the patient to be in the call, not the lobby.
IN_CALL_ONLY = frozenset({"offer", "answer", "ice"})
MAX_SDP = 20_000
MAX_CANDIDATE = 2_000
MAX_CHAT = 1_000


class ClientMessage(TypedDict):
    type: ClientType
    sdp: str  # offer, answer
    candidate: dict[str, Any] | None  # ice; None: end of candidates
    text: str  # chat


class InvalidMessage(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_client_message(raw: str, *, max_bytes: int) -> ClientMessage:
    """The message a browser sent, or InvalidMessage saying what is wrong with it."""
    if len(raw.encode()) > max_bytes:
        raise InvalidMessage("too_large", _("The message is too large."))
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidMessage("not_json", _("The message is not JSON.")) from None
    if not isinstance(data, dict) or data.get("type") not in CLIENT_TYPES:
        raise InvalidMessage(
            "unknown_type",
            _("Send a JSON object whose type is one of: %(types)s.")
            % {"types": ", ".join(CLIENT_TYPES)},
        )
    kind = data["type"]
    message: ClientMessage = {"type": kind, "sdp": "", "candidate": None, "text": ""}
    if kind in ("offer", "answer"):
        sdp = data.get("sdp")
        if not isinstance(sdp, str) or not sdp or len(sdp) > MAX_SDP:
            raise InvalidMessage("invalid_sdp", _("An offer or answer needs its SDP text."))
        message["sdp"] = sdp
    elif kind == "ice":
        candidate = data.get("candidate")
        if candidate is not None and (
            not isinstance(candidate, dict)
            or not isinstance(candidate.get("candidate", ""), str)
            or len(json.dumps(candidate)) > MAX_CANDIDATE
        ):
            raise InvalidMessage("invalid_candidate", _("The ICE candidate is not valid."))
        message["candidate"] = candidate
    elif kind == "chat":
        text = data.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_CHAT:
            raise InvalidMessage(
                "invalid_chat",
                _("A chat message is text of 1 to %(max)d characters.") % {"max": MAX_CHAT},
            )
        message["text"] = text.strip()
    return message


class ServerEvent(TypedDict, total=False):
    """What the server sends: the relayed offer/answer/ice/chat, and the room's state."""

    type: Literal[
        "welcome",
        "waiting",
        "admitted",
        "patient_waiting",
        "sent_to_lobby",
        "peer_joined",
        "peer_left",
        "offer",
        "answer",
        "ice",
        "chat",
        "ended",
        "error",
    ]
    role: str
    name: str
    sdp: str
    candidate: dict[str, Any] | None
    text: str
    at: str
    code: str
    message: str
    ice_servers: list[dict[str, object]]
    admitted: bool
