"""manage.py restore_database FILE [--into NAME]: replace the database's tables with a backup's.
Stop the web and worker processes first; they would otherwise write between the two."""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from config.backups import BackupFailed, restore_database


class Command(BaseCommand):
    help = "Restore the database from a backup_database file, in one transaction."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", help="A file written by backup_database.")
        parser.add_argument(
            "--into",
            help="Restore into this database (PostgreSQL) or file (SQLite) instead, e.g. to "
            "check a backup without touching the live one.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            restore_database(source=Path(options["file"]), into=options["into"])
        except BackupFailed as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Restored {options['file']}")
