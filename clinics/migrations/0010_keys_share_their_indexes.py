"""A foreign key's own index is dropped where another index already leads with its column
(tests/config/test_indexes.py): every booking writes an audit event, whose actor and centre
indexes repeated the first column of audit_actor_at and audit_centre_at, as a dose's service
and a membership's user did their unique indexes'. Only the indexes are dropped: the foreign-key
constraints stay as they are."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# (table, column, index): a foreign key's own index, whose column another index leads with.
INDEXES = (
    ("clinics_auditevent", "actor_id", "clinics_auditevent_actor_id_3587abde"),
    ("clinics_auditevent", "centre_id", "clinics_auditevent_centre_id_b6bdcf3e"),
    ("clinics_servicedose", "service_id", "clinics_servicedose_service_id_70b0d0ef"),
    ("clinics_staffmembership", "user_id", "clinics_staffmembership_user_id_9ceb3df8"),
)


class Migration(migrations.Migration):
    dependencies = [
        ("clinics", "0009_service_cvx_code"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {name}",
                    reverse_sql=f"CREATE INDEX {name} ON {table} ({column})",
                )
                for table, column, name in INDEXES
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="account",
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="centre",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="clinics.healthcentre",
                        verbose_name="health centre",
                    ),
                ),
                migrations.AlterField(
                    model_name="servicedose",
                    name="service",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="doses",
                        to="clinics.service",
                        verbose_name="service",
                    ),
                ),
                migrations.AlterField(
                    model_name="staffmembership",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="user",
                    ),
                ),
            ],
        ),
    ]
