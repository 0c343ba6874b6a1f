"""Taking a place in a slot changes its `booked`, which the open-slot index's condition read, so
PostgreSQL wrote a new entry in each of the slot's indexes for every booking, and a slot booked
a thousand times in a drive left a thousand dead entries in each until the next vacuum. The
condition now reads `is_full`, a column the database keeps (booked >= capacity), which changes
only with the last place: every other booking is a HOT update, writing no index at all. A HOT
update needs room on the row's page, so slots' pages are filled to 80 % (new pages; a table
rewrite, such as VACUUM FULL, applies it to the old ones).

SQLite adds the generated column by rebuilding the slots' table, and a rebuilt table has lost
its triggers: the SMART Scheduling Links change log's are made again (as in 0011)."""

from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

FILL_SLOT_PAGES_TO = 80  # percent
LOG = "booking_schedulinglinkschange"
SLOT_COLUMNS = 'booked, capacity, closed, start, "end", opens_at, drive_id, service_id, centre_id'
SQLITE_SLOT_TRIGGERS = {
    "links_slot_insert": f"""CREATE TRIGGER links_slot_insert AFTER INSERT ON booking_slot
    BEGIN INSERT INTO {LOG} (slot_start) VALUES (NEW.start); END""",
    "links_slot_update": f"""CREATE TRIGGER links_slot_update AFTER UPDATE OF {SLOT_COLUMNS}
    ON booking_slot
    BEGIN
        INSERT INTO {LOG} (slot_start) VALUES (OLD.start);
        INSERT INTO {LOG} (slot_start) SELECT NEW.start WHERE NEW.start <> OLD.start;
    END""",
    "links_slot_delete": f"""CREATE TRIGGER links_slot_delete AFTER DELETE ON booking_slot
    BEGIN INSERT INTO {LOG} (slot_start) VALUES (OLD.start); END""",
}


def recreate_slot_triggers(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return
    for name, sql in SQLITE_SLOT_TRIGGERS.items():
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")
        schema_editor.execute(sql)


def leave_room_on_slot_pages(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"ALTER TABLE booking_slot SET (fillfactor = {FILL_SLOT_PAGES_TO})", params=None
        )


def fill_slot_pages(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE booking_slot RESET (fillfactor)", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("booking", "0021_keys_share_their_indexes"),
        ("clinics", "0010_keys_share_their_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Undone, the column's removal rebuilds the table again: the triggers come back last.
        migrations.RunPython(migrations.RunPython.noop, recreate_slot_triggers, elidable=False),
        migrations.RemoveIndex(
            model_name="slot",
            name="slot_open_by_centre",
        ),
        migrations.AddField(
            model_name="slot",
            name="is_full",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.ExpressionWrapper(
                    models.Q(("booked__gte", models.F("capacity"))),
                    output_field=models.BooleanField(),
                ),
                output_field=models.BooleanField(verbose_name="full"),
            ),
        ),
        migrations.AddIndex(
            model_name="slot",
            index=models.Index(
                condition=models.Q(("closed", False), ("is_full", False)),
                fields=["service", "centre", "start", "id"],
                include=("opens_at",),
                name="slot_open_by_centre",
            ),
        ),
        migrations.RunPython(leave_room_on_slot_pages, fill_slot_pages),
        migrations.RunPython(recreate_slot_triggers, migrations.RunPython.noop, elidable=False),
    ]
