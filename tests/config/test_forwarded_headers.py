"""The web server believes X-Forwarded-For only from the proxies FORWARDED_ALLOW_IPS names, so
that a client cannot pick the address the per-address limits count. The Procfile's own web
command starts uvicorn on loopback, on the test database."""

import http.cookiejar
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

from booking.models import SignInCode

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
Ask = Callable[[str, str], int]


def web_command() -> str:
    """The Procfile's web line, which honcho runs through /bin/sh."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.removeprefix("web:").strip()
    raise AssertionError("The Procfile has no web process.")


def url_of_the_test_database() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(settings['NAME']).resolve()}"
    user, host, port = settings["USER"], settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[Callable[[str | None], Ask]]:
    """Start the Procfile's web process with FORWARDED_ALLOW_IPS set as given (None: unset);
    the answer asks for a passcode for a phone, claiming to come from an address."""
    started: list[subprocess.Popen[bytes]] = []

    def start(forwarded_allow_ips: str | None) -> Ask:
        port = free_port()
        env = {
            **os.environ,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "DATABASE_URL": url_of_the_test_database(),
            "DATABASE_POOL_SIZE": "2",
            "SMS_WAKE_WORKER": "false",
            "SIGN_IN_CODES_PER_ADDRESS_PER_HOUR": "1",
            "VAR_DIR": str(tmp_path),
        }
        env.pop("FORWARDED_ALLOW_IPS", None)
        env.pop("REDIS_URL", None)
        if forwarded_allow_ips is not None:
            env["FORWARDED_ALLOW_IPS"] = forwarded_allow_ips
        with (tmp_path / f"uvicorn-{port}.log").open("wb") as log:
            server = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {web_command()} --log-level warning"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        started.append(server)
        base = f"http://127.0.0.1:{port}"
        cookies = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
        token = _csrf_token_once_up(browser, base, server)

        def ask(phone: str, claimed_address: str) -> int:
            request = urllib.request.Request(
                f"{base}/api/v1/auth/passcode",
                data=json.dumps({"phone": phone}).encode(),
                headers={
                    "Content-Type": "application/json",
                    "X-CSRFToken": token,
                    "X-Forwarded-For": claimed_address,
                },
            )
            try:
                with browser.open(request, timeout=30) as response:
                    return int(response.status)
            except urllib.error.HTTPError as refused:
                return int(refused.code)

        return ask

    yield start
    for server in started:
        server.terminate()
        server.wait(timeout=10)


def _csrf_token_once_up(
    browser: urllib.request.OpenerDirector, base: str, server: subprocess.Popen[bytes]
) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"uvicorn stopped with {server.returncode}; see its log in tmp_path")
        try:
            with browser.open(f"{base}/api/v1/auth/csrf", timeout=30) as response:
                return str(json.load(response)["csrf_token"])
        except OSError:  # not listening yet (URLError), or reset while starting
            time.sleep(0.1)
    pytest.fail("uvicorn did not start")


def test_a_client_cannot_pick_its_address_with_x_forwarded_for(reference_data, web_server):
    ask = web_server(None)  # FORWARDED_ALLOW_IPS unset: uvicorn alone would trust 127.0.0.1

    first = ask("+66812345001", "198.51.100.1")
    second = ask("+66812345002", "198.51.100.2")  # the same client, claiming to be another

    assert first == 202
    assert second == 429  # one code an hour from this address (the test's limit)
    assert list(SignInCode.objects.values_list("requested_from", flat=True)) == ["127.0.0.1"]


def test_a_proxy_named_in_forwarded_allow_ips_passes_on_the_clients_address(
    reference_data, web_server
):
    ask = web_server("127.0.0.1")  # the test plays the proxy

    first = ask("+66812345001", "198.51.100.1")
    second = ask("+66812345002", "198.51.100.2")

    assert (first, second) == (202, 202)
    assert sorted(SignInCode.objects.values_list("requested_from", flat=True)) == [
        "198.51.100.1",
        "198.51.100.2",
    ]
