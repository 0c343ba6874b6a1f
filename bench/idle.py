"""Benchmark: what the whole system costs while nobody uses it ("low cost" is a city requirement).

Starts scripts/run (web, Celery worker and beat on the embedded default: SQLite, a file broker)
in a scratch var directory, so it sets up the demo data itself; waits until the web answers and
the start-up publishing of the SMART Scheduling Links files is done, lets it settle, then reads
the CPU time of every process of the system from /proc over a window and prints each one's share
of one core, and the total. Then it stops the system. A benchmark prints figures: it asserts
nothing. The machine's load (from /proc/loadavg) is printed too: other work on the machine
slows the system's own work, so compare figures taken on a quiet machine.

    .venv/bin/python bench/idle.py [--seconds 300] [--settle 60] [--port 8765]
"""

import argparse
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    name: str
    cpu_seconds: float  # its own and that of its children it has waited for


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def children_of() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def system_processes(root: int) -> list[int]:
    tree, found, todo = children_of(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += tree.get(pid, [])
    return found


def name_of(pid: int) -> str:
    """What the process runs (honcho's process name), and its program (sh: honcho's wrapper)."""
    words = [word.decode() for word in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
    program = Path(words[0]).name if words and words[0] else "?"
    line = " ".join(words)
    for label in ("uvicorn", "worker", "beat", "honcho", "scripts/run"):
        if label in line:
            return f"{label} ({program})"
    return line[:40]


def usage(pids: list[int]) -> dict[int, Usage]:
    found: dict[int, Usage] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            name = name_of(pid)
        except OSError:
            continue  # it ended
        # utime, stime, cutime, cstime: fields 14-17 of stat, 11-14 after the name.
        ticks = sum(int(value) for value in fields[11:15])
        found[pid] = Usage(name=name, cpu_seconds=ticks / TICKS)
    return found


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def wait_until_ready(port: int, database: Path, system: subprocess.Popen[bytes]) -> None:
    """The web answers, the first publishing run is done and no change waits to be published."""
    while True:
        if system.poll() is not None:
            sys.exit(f"scripts/run stopped (exit {system.returncode}); see its output above")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/services", timeout=5).close()
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
                published = db.execute(
                    "SELECT count(*) FROM booking_publishedfile WHERE name LIKE '%$bulk-publish'"
                ).fetchone()[0]
                waiting = db.execute(
                    "SELECT count(*) FROM booking_schedulinglinkschange"
                ).fetchone()[0]
            if published and not waiting:
                return
        except (OSError, urllib.error.URLError, sqlite3.Error):
            pass
        time.sleep(2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=300.0, help="measuring window")
    parser.add_argument("--settle", type=float, default=60.0, help="wait after start-up")
    parser.add_argument("--port", type=int, default=0, help="default: a free one")
    options = parser.parse_args()
    port = options.port or free_port()

    var = Path(tempfile.mkdtemp(prefix="bma-idle-"))
    env = {key: value for key, value in os.environ.items()
           if key not in {"DATABASE_URL", "REDIS_URL", "VAR_DIR", "PORT"}}  # fmt: skip
    env |= {"VAR_DIR": str(var), "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    log = (var / "run.log").open("wb")
    started = time.monotonic()
    system = subprocess.Popen(
        [str(ROOT / "scripts" / "run")], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        print(f"var directory: {var} (its run.log has the system's output); port {port}")
        wait_until_ready(port, var / "db.sqlite3", system)
        print(
            f"ready after {time.monotonic() - started:.0f} s; settling for {options.settle:.0f} s"
        )
        time.sleep(options.settle)
        before_load = load()
        before = usage(system_processes(system.pid))
        window_start = time.monotonic()
        time.sleep(options.seconds)
        after = usage(system_processes(system.pid))
        window = time.monotonic() - window_start
        after_load = load()
    finally:
        os.killpg(system.pid, signal.SIGINT)
        try:
            system.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(system.pid, signal.SIGKILL)
            system.wait()
        log.close()

    print(f"window: {window:.0f} s; load average (1, 5, 15 min) before {before_load}, "
          f"after {after_load}")  # fmt: skip
    total = 0.0
    for pid, end in sorted(after.items(), key=lambda item: item[1].name):
        spent = end.cpu_seconds - (before[pid].cpu_seconds if pid in before else 0.0)
        total += spent
        share = 100 * spent / window
        print(f"  {end.name:<24} pid {pid:>7}: {spent:7.2f} s CPU = {share:5.2f}% of one core")
    ended = set(before) - set(after)
    if ended:
        print(f"  ({len(ended)} processes ended during the window; their parents count them)")
    share = 100 * total / window
    print(f"whole system: {total:.2f} s CPU in {window:.0f} s = {share:.2f}% of one core")


if __name__ == "__main__":
    main()
