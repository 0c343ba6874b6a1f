"""Backing up and restoring the database: PostgreSQL with pg_dump's custom format and
pg_restore in one transaction; SQLite with its online backup API. Both copy a live database
consistently, so the app need not stop for a backup; a restore replaces every table."""

import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from django.db import connections


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


def back_up_database(*, to: Path, alias: str = "default") -> Path:
    """Write a consistent copy of the database to `to`."""
    database = connections[alias].settings_dict
    to.parent.mkdir(parents=True, exist_ok=True)
    if _engine(alias).endswith("postgresql"):
        _run(
            ["pg_dump", "--format=custom", "--no-owner", f"--file={to}", str(database["NAME"])],
            _postgres_environment(database),
        )
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
