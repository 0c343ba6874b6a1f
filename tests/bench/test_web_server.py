"""The benches' web server (bench/web_server.py): handed back only once every uvicorn worker
serves, with a worker slow to load its application (tests/bench/slow_start_app.py)."""

import os
from pathlib import Path

import pytest

from bench.web_server import free_port, start_uvicorn

ROOT = Path(__file__).resolve().parent.parent.parent


def _serve(app: str, folder: Path, *, workers: int) -> None:
    server = start_uvicorn(
        ["--host", "127.0.0.1", "--port", str(free_port())],
        workers=workers,
        cwd=ROOT,
        env={**os.environ, "SLOW_START_DIR": str(folder), "SLOW_START_SECONDS": "3"},
        app=app,
        timeout=120,
    )
    try:
        started = sorted(path.name for path in folder.glob("started-*"))
        assert len(started) == workers, f"handed over with only {started} started"
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_the_server_is_handed_over_once_every_worker_has_started(tmp_path: Path) -> None:
    _serve("tests.bench.slow_start_app:app", tmp_path, workers=2)


def test_a_server_that_cannot_start_is_said_so_rather_than_waited_for(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="did not all start"):
        _serve("tests.bench.no_such_module:app", tmp_path, workers=2)
