"""Backing up and restoring the database: PostgreSQL with pg_dump's custom format and
pg_restore in one transaction; SQLite with its online backup API. Both copy a live database
consistently, so the app need not stop for a backup; a restore replaces every table.

A backup holds national ID numbers and phone numbers: only the owner of the process may read
it (0600), in a folder only they may open (0700)."""

import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from django.db import connections

BACKUP_FILE_MODE = 0o600
BACKUP_FOLDER_MODE = 0o700


class BackupFailed(Exception):
    pass


def _engine(alias: str) -> str:
    return str(connections[alias].settings_dict["ENGINE"])


def _postgres_environment(database: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    for key, variable in (
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
    ):
        if database.get(key):
            env[variable] = str(database[key])
    return env


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupFailed(f"{command[0]} failed: {result.stderr.strip()[-2000:]}")


def private_folder(folder: Path) -> Path:
    """`folder`, made if missing, and opened to its owner alone (0700)."""
    folder.mkdir(mode=BACKUP_FOLDER_MODE, parents=True, exist_ok=True)
    folder.chmod(BACKUP_FOLDER_MODE)
    return folder


def _private_file(to: Path) -> None:
    """Create `to` empty and readable by its owner alone before anything is written to it: a
    file made by pg_dump or SQLite would take the umask's mode (0644 on most systems) and be
    readable by everyone until changed. A missing folder is made 0700; a folder the operator
    named is theirs, and left as it is."""
    if not to.parent.exists():
        private_folder(to.parent)
    descriptor = os.open(to, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, BACKUP_FILE_MODE)
    os.close(descriptor)
    to.chmod(BACKUP_FILE_MODE)  # a file that was there keeps its old mode through os.open


def back_up_database(*, to: Path, alias: str = "default") -> Path:
    """Write a consistent copy of the database to `to`, readable by its owner alone."""
    database = connections[alias].settings_dict
    _private_file(to)
    if _engine(alias).endswith("postgresql"):
        try:
            _run(
                ["pg_dump", "--format=custom", "--no-owner", f"--file={to}", str(database["NAME"])],
                _postgres_environment(database),
            )
        except BackupFailed:
            to.unlink(missing_ok=True)  # no empty file to be mistaken for a backup
            raise
        return to
    source = sqlite3.connect(str(database["NAME"]))
    target = sqlite3.connect(str(to))
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return to


def restore_database(*, source: Path, into: str | None = None, alias: str = "default") -> None:
    """Replace the database's tables (or another database's, `into`) with a backup's, all at
    once: a restore that fails part-way leaves the database as it was."""
    if not source.exists():
        raise BackupFailed(f"There is no backup at {source}.")
    database = connections[alias].settings_dict
    target = into or str(database["NAME"])
    if _engine(alias).endswith("postgresql"):
        _run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={target}",
                str(source),
            ],
            _postgres_environment(database),
        )
        return
    backup = sqlite3.connect(str(source))
    restored = sqlite3.connect(target)
    try:
        backup.backup(restored)
    finally:
        restored.close()
        backup.close()
