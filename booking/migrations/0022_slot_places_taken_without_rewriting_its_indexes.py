"""Taking a place in a slot changes its `booked`, which the open-slot index's condition read, so
PostgreSQL wrote a new entry in each of the slot's indexes for every booking, and a slot booked
a thousand times in a drive left a thousand dead entries in each until the next vacuum. The
condition now reads `is_full`, a column the database keeps (booked >= capacity), which changes
only with the last place: every other booking is a HOT update, writing no index at all. A HOT
update needs room on the row's page, so slots' pages are filled to 80 % (new pages; a table
rewrite, such as VACUUM FULL, applies it to the old ones)."""

from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

FILL_SLOT_PAGES_TO = 80  # percent


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
    ]
