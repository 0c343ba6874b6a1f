"""The benches' web server: uvicorn with several worker processes, handed back only once every
worker serves.

A worker still loading the application accepts nothing, so connections opened meanwhile all go
to the first worker up and stay with it for as long as they are kept alive. The surge bench
once had one worker answer the whole surge (40 s of CPU against 1 s for the other) and sell out
after 28-30 s; opened once both served, 2,000 connections split 996 and 1,004."""

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from config.event_loop import UVICORN_LOOP  # the web processes' loop, as in production

# What uvicorn logs, at INFO, once a worker has loaded the application and serves.
WORKER_STARTED = b"Application startup complete."


def free_port() -> int:
    """A port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_uvicorn(
    options: Sequence[str],
    *,
    workers: int,
    cwd: Path,
    env: dict[str, str],
    app: str = "config.asgi:application",
    timeout: float = 300,
) -> subprocess.Popen[bytes]:
    """`uvicorn app --workers N options…`, returned once each of its workers has logged its
    start-up. uvicorn's own INFO lines are left out of the log passed on to this process's
    stderr; anything else (warnings, errors) is passed on as it comes."""
    server = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", app, "--workers", str(workers),
            "--loop", UVICORN_LOOP, *options, "--log-level", "info",
        ],
        cwd=cwd,
        env=env,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert server.stderr is not None
    started = threading.Semaphore(0)
    threading.Thread(target=_relay_log, args=(server.stderr, started), daemon=True).start()
    deadline = time.monotonic() + timeout
    for _ in range(workers):
        while not started.acquire(timeout=0.5):
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"the {workers} web workers did not all start")
    return server


def _relay_log(log: IO[bytes], started: threading.Semaphore) -> None:
    for line in log:
        if WORKER_STARTED in line:
            started.release()
        if not line.startswith(b"INFO:"):
            sys.stderr.buffer.write(line)
            sys.stderr.buffer.flush()
