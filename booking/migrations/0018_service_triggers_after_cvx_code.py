"""The SMART Scheduling Links change log's triggers on the services' table, again.

Adding the service's CVX code (clinics 0009) makes SQLite rebuild the table (it cannot add a
NOT NULL column with a default in place), and a rebuilt table has lost its triggers: a change
to a service (its name, its CVX code) would no longer reach the Schedule and Slot files.
PostgreSQL adds the column in place and keeps its trigger, so there is nothing to do there.
The same as 0015 did for the centres' table."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

LOG = "booking_schedulinglinkschange"
TABLE = "clinics_service"
EVENTS = ("INSERT", "UPDATE", "DELETE")


def recreate_service_triggers(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
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
        ("booking", "0017_walk_ins"),
        ("clinics", "0009_service_cvx_code"),
    ]

    operations = [
        migrations.RunPython(recreate_service_triggers, migrations.RunPython.noop, elidable=False),
    ]
