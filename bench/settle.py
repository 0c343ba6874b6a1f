"""PostgreSQL brought to rest before a bench measures: the statistics autovacuum would have by
now, and the pages written flushed (bench/surge.py, bench/booking.py, bench/booking_cpu.py)."""

from django.db import connection

# Each table of the project's, with the number of rows written before autovacuum first analyzes
# it: the table's own threshold (booking/0020 sets one for the tables bookings grow), else the
# server's.
ANALYSIS_THRESHOLDS_SQL = """
    SELECT c.oid::regclass::text,
           coalesce((SELECT option_value FROM pg_options_to_table(c.reloptions)
                      WHERE option_name = 'autovacuum_analyze_threshold'),
                    current_setting('autovacuum_analyze_threshold'))::integer
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND n.nspname = current_schema()
"""


def settle() -> None:
    """Let PostgreSQL catch up before a scenario: statistics for the rows just written, and
    their pages (and pgbench's WAL) flushed, so that neither autovacuum nor a checkpoint falls
    in the middle of the measurement (the first run after set-up had been the slowest).

    Only the tables autovacuum would have analyzed by now are vacuumed and analyzed: those
    holding more rows than their analysis threshold. A table analyzed while (nearly) empty is
    planned by its size when a plan is made, and the plans the web processes' connections keep
    (the booking function's, the foreign-key checks' of its inserts) would walk the whole table
    as a surge fills it; one never analyzed is planned as at least ten pages, where an index
    lookup wins, as booking/0020 arranges for a new deployment. Analyzing everything, as this
    did until 7 December 2026, set the trap for the appointments and courses a bench writes."""
    with connection.cursor() as cursor:
        cursor.execute(ANALYSIS_THRESHOLDS_SQL)
        for table, threshold in cursor.fetchall():
            cursor.execute(
                f"SELECT count(*) FROM (SELECT FROM {table} LIMIT %s) AS enough", [threshold + 1]
            )
            if cursor.fetchone()[0] > threshold:
                cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("CHECKPOINT")
