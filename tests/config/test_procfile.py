"""The Procfile's web process (what scripts/run starts) serves the app as the settings expect."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from config.event_loop import UVICORN_LOOP

ROOT = Path(__file__).resolve().parents[2]


def web_arguments(env: dict[str, str]) -> list[str]:
    """The web line's arguments after the shell has expanded them, as honcho runs it."""
    line = next(
        line.removeprefix("web:").strip()
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith("web:")
    )
    result = subprocess.run(
        ["bash", "-c", f'set -- {line}; printf "%s\\n" "$@"'],
        env={"PATH": os.environ["PATH"], "PORT": "8000", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


def setting(name: str, env: dict[str, str]) -> str:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("VIDEO_")}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import django; django.setup(); from django.conf import settings; "
            f"print(settings.{name})",
        ],
        cwd=ROOT,
        env={**inherited, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@pytest.mark.parametrize("env", [{}, {"VIDEO_MAX_MESSAGE_BYTES": "20000"}], ids=["default", "set"])
def test_websocket_frames_are_limited_to_the_apps_signalling_message_limit(env):
    arguments = web_arguments(env)

    assert "--ws-max-size" in arguments, shlex.join(arguments)
    limit = arguments[arguments.index("--ws-max-size") + 1]
    assert limit == setting("VIDEO_MAX_MESSAGE_BYTES", env)


def test_the_web_process_accepts_connections_with_the_projects_event_loop():
    # uvloop's own loop accepts one connection a turn: config/event_loop.py.
    arguments = web_arguments({})

    assert "--loop" in arguments, shlex.join(arguments)
    assert arguments[arguments.index("--loop") + 1] == UVICORN_LOOP
