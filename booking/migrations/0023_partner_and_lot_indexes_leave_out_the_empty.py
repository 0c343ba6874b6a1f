"""Most appointments are booked through no partner, and have no vaccine lot until the dose is
given, yet each booking wrote an entry for its empty partner and lot in their indexes. The two
indexes now hold only the appointments that have one (a look-up of a partner's or a lot's
appointments names one, so it still finds them there). Only the indexes change: the
foreign-key constraints stay, not checked again over the whole table as AlterField would."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# (table, column, index): the foreign keys' own indexes, of every row.
INDEXES = (
    ("booking_appointment", "lot_id", "booking_appointment_lot_id_b75f6345"),
    ("booking_appointment", "partner_id", "booking_appointment_partner_id_a401d452"),
)


class Migration(migrations.Migration):
    dependencies = [
        ("booking", "0022_slot_places_taken_without_rewriting_its_indexes"),
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
                    model_name="appointment",
                    name="lot",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="booking.vaccinelot",
                        verbose_name="vaccine lot given",
                    ),
                ),
                migrations.AlterField(
                    model_name="appointment",
                    name="partner",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="appointments",
                        to="booking.partner",
                        verbose_name="booked through partner",
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="appointment",
            index=models.Index(
                condition=models.Q(("partner__isnull", False)),
                fields=["partner"],
                name="appointment_partner",
            ),
        ),
        migrations.AddIndex(
            model_name="appointment",
            index=models.Index(
                condition=models.Q(("lot__isnull", False)), fields=["lot"], name="appointment_lot"
            ),
        ),
    ]
