"""A real video call, end to end: two headless Chromium browsers with fake cameras and
microphones open the real pages against uvicorn, the clinician admits the patient, and media
flows both ways. Each run is tests/video/e2e_call_run.py in a network namespace of its own
(`unshare -n`), so the media stays on loopback; once on one server process, once on two
sharing a private Redis (the patient on one, the clinician on the other)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("e2e_call_run.py")
ROOT = SCRIPT.parents[2]


def require_tools(*, redis: bool) -> None:
    """Fail, never skip, when the machine cannot run the call: scripts/setup installs it all."""
    missing = [tool for tool in ("unshare", "ip") if shutil.which(tool) is None]
    if not Path("/usr/bin/chromium").exists():
        missing.append("/usr/bin/chromium")
    if redis and shutil.which("redis-server") is None:
        missing.append("redis-server")
    if missing:
        pytest.fail(f"The video call test needs {', '.join(missing)}: run scripts/setup.")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail(
            "The video call test runs in a network namespace of its own and `unshare -n` "
            f"was refused ({probe.stderr.strip()}): run it as root or with CAP_SYS_ADMIN."
        )


@pytest.mark.parametrize("processes", [1, 2], ids=["one-process", "two-processes-redis"])
def test_the_clinician_admits_the_patient_and_media_flows_both_ways(processes):
    require_tools(redis=processes == 2)

    run = subprocess.run(
        ["unshare", "-n", "--", sys.executable, str(SCRIPT), "--processes", str(processes)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # a ceiling for a loaded machine: the run ends as soon as media flows
    )

    lines = run.stdout.strip().splitlines()
    assert lines, f"no result (exit {run.returncode}): {run.stderr[-3000:]}"
    result = json.loads(lines[-1])
    report = json.dumps(result, ensure_ascii=False, indent=1)
    assert result["ok"], report
    assert run.returncode == 0, report
    assert len(result["servers"]) == processes
    for side in ("patient", "clinician"):
        media = result["media"][side]
        assert media["state"] == "connected"
        assert media["audio"] > 0  # bytesReceived of the inbound-rtp streams
        assert media["video"] > 0
        assert media["quality_shown"]
    assert result["media"]["patient"]["offers"] >= 1
    assert result["media"]["clinician"]["offers"] == 0  # the patient offers, the clinician answers
    assert result["appointment_status"] == "completed"
