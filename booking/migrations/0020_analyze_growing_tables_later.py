"""PostgreSQL's autovacuum first analyzes a table once about 50 rows have changed. The tables a
booking looks rows up in by index, and which grow with every booking or registration, are then
nearly empty: plans made by the web processes' connections in the next minute (the booking
function's, and the foreign-key checks' of its inserts) walk the whole table, since a page or
two is cheaper to read than an index, and are kept while the table grows to thousands of rows,
until the next analysis (autovacuum looks at most once a minute). Measured in one process, a
booking then cost PostgreSQL 2.5-6 times its CPU (README, "Booking through HTTP"): a new
deployment's first drive could fall into it. A table never analyzed is planned as at least ten
pages, where an index lookup wins: so these tables are first analyzed once 1,000 rows have
changed, when they are past 25 pages. Later analyses come as before, when a tenth of the table
has changed. Nothing on SQLite."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

FIRST_ANALYSIS_AFTER = 1000
TABLES = (
    "booking_appointment",
    "booking_patient",
    "booking_vaccinationseries",
    "auth_user",
    "notifications_message",
)


def _alter_each_table(schema_editor: BaseDatabaseSchemaEditor, change: str) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(f"ALTER TABLE {table} {change}", params=None)


def analyze_later(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _alter_each_table(schema_editor, f"SET (autovacuum_analyze_threshold = {FIRST_ANALYSIS_AFTER})")


def analyze_as_before(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _alter_each_table(schema_editor, "RESET (autovacuum_analyze_threshold)")


class Migration(migrations.Migration):
    dependencies = [
        ("booking", "0019_book_function_v2"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("notifications", "0004_message_kind_record_moved"),
    ]

    operations = [migrations.RunPython(analyze_later, analyze_as_before, elidable=False)]
