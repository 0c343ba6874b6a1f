"""A local OpenID Connect provider standing in for ThaID, for tests.

It serves discovery, a JWKS, an authorization endpoint that approves at once the person set on
it (a real provider would have them prove who they are in the ThaID app first) and a token
endpoint that checks the client's secret, the redirect URI and the PKCE verifier (S256) before
it issues an RS256-signed ID token. Knobs let a test break one thing at a time::

    with FakeThaID(client_id="bma", client_secret="s3cret") as thaid:
        thaid.person = {"pid": "1101700207030", "given_name": "มาลี", ...}
        thaid.tamper["nonce"] = "not-yours"  # or exp_offset, sign_with, drop

Standard library, plus joserfc for the keys and the signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey


class FakeThaID:
    """An OpenID Connect provider on 127.0.0.1, on a free port."""

    def __init__(self, *, client_id: str, client_secret: str, key: RSAKey | None = None) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = key or RSAKey.generate_key(2048, parameters={"kid": "thaid-1"})
        self.person: dict[str, Any] = {}
        self.subject = "thaid-subject-1"
        # Things to get wrong on purpose: "nonce" (a value), "exp_offset" (seconds from now),
        # "sign_with" (another RSAKey), "drop" (a claim to leave out), "aud", "iss", "extra"
        # (claims to add).
        self.tamper: dict[str, Any] = {}
        self.token_requests: list[dict[str, str]] = []
        self._codes: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- Running ---------------------------------------------------------------------------

    def start(self) -> FakeThaID:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.fake = self  # type: ignore[attr-defined]
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="fake-thaid", kwargs={"poll_interval": 0.05}
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeThaID:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def issuer(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- What the endpoints answer ---------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        }

    def jwks(self) -> dict[str, Any]:
        return dict(KeySet([self.key]).as_dict(private=False))

    def authorize(self, query: dict[str, str]) -> str:
        """The redirect back to the client, with a code for the person set on the fake."""
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            raise ValueError("unknown client or response type")
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = {
                "redirect_uri": query["redirect_uri"],
                "nonce": query.get("nonce"),
                "challenge": query.get("code_challenge"),
                "method": query.get("code_challenge_method"),
            }
        back = {"code": code, "state": query.get("state", "")}
        return f"{query['redirect_uri']}?{urlencode(back)}"

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        client = self._client_from(authorization, form)
        if client != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client"}
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None:
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if grant["method"] != "S256" or not verifier or expected != grant["challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verifier"}
        return 200, {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.id_token(grant["nonce"]),
        }

    def id_token(self, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.tamper.get("iss", self.issuer),
            "sub": self.subject,
            "aud": self.tamper.get("aud", self.client_id),
            "iat": now,
            "exp": now + self.tamper.get("exp_offset", 300),
            "nonce": self.tamper.get("nonce", nonce),
            **self.person,
            **self.tamper.get("extra", {}),
        }
        claims.pop(self.tamper.get("drop", ""), None)
        key = self.tamper.get("sign_with", self.key)
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    @staticmethod
    def _client_from(authorization: str, form: dict[str, str]) -> tuple[str, str]:
        scheme, _space, value = authorization.partition(" ")
        if scheme.lower() == "basic":
            user, _colon, password = base64.b64decode(value).decode().partition(":")
            from urllib.parse import unquote

            return unquote(user), unquote(password)
        return form.get("client_id", ""), form.get("client_secret", "")


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def fake(self) -> FakeThaID:
        fake: FakeThaID = self.server.fake  # type: ignore[attr-defined]
        return fake

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        if url.path == "/.well-known/openid-configuration":
            self._json(200, self.fake.discovery())
        elif url.path == "/jwks":
            self._json(200, self.fake.jwks())
        elif url.path == "/authorize":
            try:
                location = self.fake.authorize(query)
            except (KeyError, ValueError) as error:
                self._json(400, {"error": "invalid_request", "error_description": str(error)})
                return
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length).decode()
        form = {name: values[0] for name, values in parse_qs(raw).items()}
        if urlsplit(self.path).path != "/token":
            self._json(404, {"error": "not_found"})
            return
        status, body = self.fake.token(form, self.headers.get("Authorization", ""))
        self._json(status, body)
