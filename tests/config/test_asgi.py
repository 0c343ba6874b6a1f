"""The ASGI entry point, as a web process loads it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _in_a_web_process(code: str) -> list[str]:
    """What `code` prints in a fresh process that has loaded the ASGI entry point, as a web
    process starts, word by word."""
    found = subprocess.run(
        [sys.executable, "-c", f"import config.asgi\n{code}"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return found.stdout.split()


def test_what_start_up_made_is_kept_out_of_the_collectors_walks() -> None:
    """A full collection walks only what requests made, not the whole application (a web
    process's tail latency was full collections over the heap), and the young generation is
    collected once thousands of objects have been made, not every 700."""
    printed = _in_a_web_process("import gc; print(gc.get_freeze_count(), *gc.get_threshold())")
    frozen, young, *_ = (int(number) for number in printed[-4:])
    assert frozen > 10_000
    assert young >= 10_000


def test_a_web_process_loads_its_urls_and_translations_before_its_first_request() -> None:
    """The URL patterns (every view module) and each language's catalogs are made at start-up,
    not on the first request through Django (about a second of a process's event loop, at a
    drive's release)."""
    printed = _in_a_web_process(
        "import sys\n"
        "from django.utils.translation import trans_real\n"
        "print('config.urls' in sys.modules, 'booking.views.staff.today' in sys.modules,"
        " *sorted(trans_real._translations))"
    )
    assert printed[-4:] == ["True", "True", "en", "th"]
