"""A local stand-in for Twilio's Programmable Messaging API, for tests and benchmarks.

It answers ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` the way api.twilio.com
does (status codes, error codes, the Message resource JSON), so the real ``twilio`` SDK can be
pointed at it::

    with FakeTwilio() as fake:
        client = Client(fake.account_sid, fake.auth_token, http_client=TwilioHttpClient())
        client.api.base_url = fake.base_url
        client.messages.create(to="+66812345678", body="สวัสดี",
                               messaging_service_sid=fake.messaging_service_sid)
        assert fake.messages[0].num_segments == 1

Standard library only. The handler is kept lean because a benchmark sends 100,000 messages
through it over kept-alive connections.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_VERSION = "2010-04-01"
MAX_BODY_CHARACTERS = 1600

# GSM 03.38 default alphabet, row by row (0x00-0x7F). 0x1B is the escape to the extension
# table, not a character, so it is left out: 127 characters.
GSM_BASIC_ALPHABET = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# The extension table: each costs two septets (escape + character). \f is the page break.
GSM_EXTENSION_TABLE = frozenset("\f^{}\\[~]|€")

GSM_SINGLE_SEGMENT_SEPTETS = 160
GSM_CONCATENATED_SEGMENT_SEPTETS = 153
UCS2_SINGLE_SEGMENT_UNITS = 70
UCS2_CONCATENATED_SEGMENT_UNITS = 67

MESSAGES_PATH = re.compile(rf"/{API_VERSION}/Accounts/([^/]+)/Messages\.json")
E164 = re.compile(r"\+[1-9][0-9]{7,14}")

# Status of a scripted failure -> (Twilio error code, message).
SCRIPTED_FAILURES: dict[int, tuple[int, str]] = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20500, "Internal Server Error"),
}


def count_segments(body: str) -> int:
    """Count the SMS segments Twilio bills for ``body``.

    GSM-7 when every character is in the default alphabet or its extension table, else UCS-2
    counted in UTF-16 code units. A character that takes two units (an escaped GSM character, a
    surrogate pair) is never split across two segments; Twilio's segment calculator does the
    same (and goes further, keeping whole grapheme clusters together).
    """
    if all(c in GSM_BASIC_ALPHABET or c in GSM_EXTENSION_TABLE for c in body):
        costs = [2 if c in GSM_EXTENSION_TABLE else 1 for c in body]
        single, concatenated = GSM_SINGLE_SEGMENT_SEPTETS, GSM_CONCATENATED_SEGMENT_SEPTETS
    else:
        costs = [2 if ord(c) > 0xFFFF else 1 for c in body]
        single, concatenated = UCS2_SINGLE_SEGMENT_UNITS, UCS2_CONCATENATED_SEGMENT_UNITS
    if sum(costs) <= single:
        return 1
    segments, used = 1, 0
    for cost in costs:
        if used + cost > concatenated:
            segments, used = segments + 1, 0
        used += cost
    return segments


@dataclass(frozen=True)
class ReceivedMessage:
    """A message the fake accepted, as it arrived."""

    sid: str
    to: str
    from_: str  # "" when sent through a messaging service without a From
    messaging_service_sid: str  # "" when sent from a number
    body: str
    status_callback: str
    num_segments: int
    received_at: float


class _Refusal(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class FakeTwilio:
    """An HTTP server on 127.0.0.1 that behaves like Twilio's Messages endpoint."""

    def __init__(self, *, from_number: str = "+15005550006") -> None:
        self.account_sid = "AC" + uuid.uuid4().hex
        self.auth_token = uuid.uuid4().hex
        self.messaging_service_sid = "MG" + uuid.uuid4().hex
        self.from_number = from_number
        self.invalid_numbers: set[str] = set()
        self.unsubscribed_numbers: set[str] = set()
        self._expected_authorization = "Basic " + base64.b64encode(
            f"{self.account_sid}:{self.auth_token}".encode()
        ).decode("ascii")
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []
        self._refused: list[tuple[int, int, str]] = []
        self._scripted_failures: deque[int] = deque()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        if self._server is not None:
            raise RuntimeError("FakeTwilio is already running")
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="fake-twilio", kwargs={"poll_interval": 0.05}
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeTwilio has not been started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- what tests look at and script -------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        """The accepted messages, oldest first (a copy)."""
        with self._lock:
            return list(self._messages)

    @property
    def connections_accepted(self) -> int:
        """How many TCP connections clients have opened: 1 for any number of kept-alive requests."""
        return self._server.connections_accepted if self._server is not None else 0

    @property
    def refused(self) -> list[tuple[int, int, str]]:
        """(HTTP status, Twilio code, message) of every error answered, oldest first (a copy)."""
        with self._lock:
            return list(self._refused)

    def fail_next(self, status: int, *, times: int = 1) -> None:
        """Answer the next ``times`` requests, whatever they ask, with ``status`` (429/500/503)."""
        if status not in SCRIPTED_FAILURES:
            raise ValueError(f"can script only {sorted(SCRIPTED_FAILURES)}, not {status}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._scripted_failures.extend([status] * times)

    def clear(self) -> None:
        """Forget accepted and refused messages and any scripted failures still pending."""
        with self._lock:
            self._messages.clear()
            self._refused.clear()
            self._scripted_failures.clear()

    # --- the API -----------------------------------------------------------------------------

    def _handle(
        self, method: str, path: str, authorization: str | None, form: bytes
    ) -> tuple[int, dict[str, Any]]:
        """Answer one request: (HTTP status, JSON document)."""
        try:
            with self._lock:
                scripted = self._scripted_failures.popleft() if self._scripted_failures else None
            if scripted is not None:
                raise _Refusal(scripted, *SCRIPTED_FAILURES[scripted])
            if authorization is None:
                raise _Refusal(401, 20003, "Authentication Error - No credentials provided")
            if authorization != self._expected_authorization:
                raise _Refusal(401, 20003, "Authentication Error - invalid username")
            match = MESSAGES_PATH.fullmatch(urlsplit(path).path)
            if match is None:
                raise _Refusal(404, 20404, f"The requested resource {path} was not found")
            if match.group(1) != self.account_sid:
                raise _Refusal(401, 20003, "Authentication Error - invalid username")
            if method != "POST":
                raise _Refusal(405, 20004, "Method not allowed")
            message = self._accept(form)
        except _Refusal as refusal:
            with self._lock:
                self._refused.append((refusal.status, refusal.code, refusal.message))
            return refusal.status, {
                "code": refusal.code,
                "message": refusal.message,
                "more_info": f"https://www.twilio.com/docs/errors/{refusal.code}",
                "status": refusal.status,
            }
        with self._lock:
            self._messages.append(message)
        return 201, self._resource(message)

    def _accept(self, form: bytes) -> ReceivedMessage:
        fields = parse_qs(form.decode("utf-8", "replace"), keep_blank_values=True)
        to = fields.get("To", [""])[0]
        from_ = fields.get("From", [""])[0]
        service = fields.get("MessagingServiceSid", [""])[0]
        body = fields.get("Body", [""])[0]
        status_callback = fields.get("StatusCallback", [""])[0]

        if not to:
            raise _Refusal(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            raise _Refusal(400, 21603, "A 'From' phone number is required.")
        if service and service != self.messaging_service_sid:
            raise _Refusal(400, 21705, "Invalid Messaging Service")
        # With a messaging service, a From is optional and picks a sender from its pool; the
        # pool here holds the one number.
        if from_ and from_ != self.from_number:
            raise _Refusal(
                400,
                21606,
                f"The From phone number {from_} is not a valid, SMS-capable inbound phone "
                "number or short code for your account.",
            )
        if not E164.fullmatch(to) or to in self.invalid_numbers:
            raise _Refusal(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not body:
            raise _Refusal(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY_CHARACTERS:
            raise _Refusal(
                400,
                21617,
                f"The concatenated message body exceeds the {MAX_BODY_CHARACTERS} character limit.",
            )
        if status_callback:
            callback = urlsplit(status_callback)
            if callback.scheme not in ("http", "https") or not callback.hostname:
                raise _Refusal(400, 21609, "Invalid StatusCallback url")
        if to in self.unsubscribed_numbers:
            raise _Refusal(400, 21610, "Attempt to send to unsubscribed recipient")

        return ReceivedMessage(
            sid="SM" + uuid.uuid4().hex,
            to=to,
            from_=from_,
            messaging_service_sid=service,
            body=body,
            status_callback=status_callback,
            num_segments=count_segments(body),
            received_at=time.time(),
        )

    def _resource(self, message: ReceivedMessage) -> dict[str, Any]:
        """The Message resource as Twilio returns it on creation."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message.sid}"
        # Twilio writes dates as RFC 2822 with a numeric zone: "Mon, 30 Nov 2026 00:00:00 +0000".
        created = formatdate(message.received_at, usegmt=True).removesuffix("GMT") + "+0000"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": message.body,
            "date_created": created,
            "date_sent": None,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": message.from_ or None,
            "messaging_service_sid": message.messaging_service_sid or None,
            "num_media": "0",
            "num_segments": str(message.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": message.sid,
            "status": "accepted" if message.messaging_service_sid else "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": message.to,
            "uri": f"{uri}.json",
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeTwilio

    def __init__(
        self, server_address: tuple[str, int], handler: type[BaseHTTPRequestHandler]
    ) -> None:
        super().__init__(server_address, handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.connections_accepted = 0

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)
            self.connections_accepted += 1

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """End kept-alive connections, so their handler threads finish instead of waiting."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-request is not news; anything else is a bug in the fake.
        if not isinstance(sys.exception(), ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-twilio"
    # Headers and body go out in one write; without Nagle the client never waits on a delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        self.server.untrack(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = self.rfile.read(length) if length > 0 else b""
        status, document = self.server.fake._handle(
            self.command, self.path, self.headers.get("Authorization"), form
        )
        payload = json.dumps(document, ensure_ascii=False).encode()
        head = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            f"Date: {self.date_time_string()}",
            "Content-Type: application/json; charset=utf-8",
            f"Content-Length: {len(payload)}",
            f"Twilio-Request-Id: RQ{uuid.uuid4().hex}",
        ]
        if status == 401:
            head.append('WWW-Authenticate: Basic realm="Twilio API"')
        if self.close_connection:
            head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _serve
