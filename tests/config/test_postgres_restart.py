"""PostgreSQL restarted under booking load (tests/config/postgres_restart_drill.py, on a server
of its own): the app answers bookings again by itself, never with a 500, and no booking is
half-written."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("postgres_restart_drill.py")


def test_the_app_recovers_from_a_postgres_restart_under_load_with_every_booking_whole():
    run = subprocess.run(
        [sys.executable, str(SCRIPT)],
        cwd=SCRIPT.parents[2],
        capture_output=True,
        text=True,
        timeout=180,
    )

    lines = run.stdout.strip().splitlines()
    assert lines, f"no result (exit {run.returncode}): {run.stderr[-3000:]}"
    result = json.loads(lines[-1])
    report = json.dumps(result, indent=1)
    assert result["ok"], report
    assert result["before"].get("201", 0) > 0, report
    assert result["after"].get("201", 0) > 0, report
    assert result["appointments"] > 0, report
