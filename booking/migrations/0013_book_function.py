"""booking_book_slot_v1: a booking's whole decision and all its writes in one call, on
PostgreSQL (see booking/sql/book_slot_v1.sql and booking/services/booking_sql/). Nothing on
SQLite, where bookings run through the ORM."""

from pathlib import Path

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# This migration names its own file: a later version is a new file and a new migration.
FUNCTION_FILE = Path(__file__).resolve().parent.parent / "sql" / "book_slot_v1.sql"
DROP = "DROP FUNCTION IF EXISTS booking_book_slot_v1"


def create_function(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION_FILE.read_text(encoding="utf-8"), params=None)


def drop_function(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("booking", "0012_slot_open_by_centre_index"),
        ("clinics", "0007_centre_names_are_readable_and_never_formulas"),
        ("notifications", "0004_message_kind_record_moved"),
    ]

    operations = [migrations.RunPython(create_function, drop_function, elidable=False)]
