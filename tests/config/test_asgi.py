"""The ASGI entry point, as a web process loads it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_what_start_up_made_is_kept_out_of_the_collectors_walks() -> None:
    """A full collection walks only what requests made, not the whole application (a web
    process's tail latency was full collections over the heap)."""
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gc, config.asgi; print(gc.get_freeze_count())",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert int(found.stdout.split()[-1]) > 10_000
