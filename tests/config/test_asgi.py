"""The ASGI entry point, as a web process loads it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_what_start_up_made_is_kept_out_of_the_collectors_walks() -> None:
    """A full collection walks only what requests made, not the whole application (a web
    process's tail latency was full collections over the heap), and the young generation is
    collected once thousands of objects have been made, not every 700."""
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gc, config.asgi; print(gc.get_freeze_count(), *gc.get_threshold())",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    frozen, young, *_ = (int(number) for number in found.stdout.split()[-4:])
    assert frozen > 10_000
    assert young >= 10_000
