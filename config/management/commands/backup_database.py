"""manage.py backup_database [FILE]: a consistent copy of the live database."""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from config.backups import BackupFailed, back_up_database, private_folder


class Command(BaseCommand):
    help = "Back up the database (pg_dump custom format on PostgreSQL, a copy on SQLite)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "file",
            nargs="?",
            help="Where to write it (default: var/backups/<time>.backup). The file is made 0600.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        if options["file"]:
            to = Path(options["file"])
        else:
            to = private_folder(settings.VAR_DIR / "backups") / f"{stamp}.backup"
        try:
            written = back_up_database(to=to)
        except BackupFailed as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{written} ({written.stat().st_size} bytes)")
