"""The SMART Scheduling Links change log's triggers on the centres' table, again.

Adding the centre's address, phone and opening hours (clinics 0008) makes SQLite rebuild the
table (it cannot add a NOT NULL column in place), and a rebuilt table has lost its triggers:
a change to a centre would no longer reach the Locations file. PostgreSQL adds the columns in
place and keeps its trigger, so there is nothing to do there."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

LOG = "booking_schedulinglinkschange"
TABLE = "clinics_healthcentre"
EVENTS = ("INSERT", "UPDATE", "DELETE")


def recreate_centre_triggers(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return
    for event in EVENTS:
        name = f"links_{TABLE}_{event.lower()}"
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")
        schema_editor.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON {TABLE} "
            f"BEGIN INSERT INTO {LOG} (slot_start) VALUES (NULL); END"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("booking", "0014_slot_open_by_centre_carries_opens_at"),
        ("clinics", "0008_centre_address_phone_and_opening_hours"),
    ]

    operations = [
        migrations.RunPython(recreate_centre_triggers, migrations.RunPython.noop, elidable=False),
    ]
