"""booking_book_slot_v2 (booking/sql/book_slot_v2.sql): v1 with texts that may be left out by a
caller that read the slot full. v1 stays, for web processes not yet updated while this one
rolls out; nothing calls it once they are. Nothing on SQLite, where bookings run through the
ORM."""

from pathlib import Path

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# This migration names its own file: a later version is a new file and a new migration.
FUNCTION_FILE = Path(__file__).resolve().parent.parent / "sql" / "book_slot_v2.sql"
DROP = "DROP FUNCTION IF EXISTS booking_book_slot_v2"


def create_function(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION_FILE.read_text(encoding="utf-8"), params=None)


def drop_function(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("booking", "0018_service_triggers_after_cvx_code")]

    operations = [migrations.RunPython(create_function, drop_function, elidable=False)]
