"""A foreign key's own index is dropped where another index already leads with its column
(tests/config/test_indexes.py). Booking a place inserts an appointment and raises its slot's
`booked`, which the open-slot index's condition reads, so PostgreSQL writes an entry in every
index of both rows. The slot's centre, service, schedule and drive indexes (led by
slot_centre_start, slot_service_start and the unique schedule and drive indexes, partial on the
key being set, which a look-up by key satisfies) and the appointment's patient and slot indexes
(led by appointment_patient_status and appointment_slot_status) cost every booking and answered
nothing the others did not. Seven more such indexes go too: on walk-ins, walk-in counters,
consents, vaccine lots, partner keys' uses and published figures. Only the indexes are dropped:
the foreign-key constraints stay, not checked again over the whole table as Django's AlterField
would."""

import django.db.models.deletion
from django.db import migrations, models

# (table, column, index): a foreign key's own index, whose column another index leads with.
INDEXES = (
    ("booking_appointment", "patient_id", "booking_appointment_patient_id_f60c2527"),
    ("booking_appointment", "slot_id", "booking_appointment_slot_id_72b9094f"),
    ("booking_centredayfigures", "centre_id", "booking_centredayfigures_centre_id_a4602db9"),
    ("booking_partnerkeyuse", "key_id", "booking_partnerkeyuse_key_id_b3ebd8f7"),
    ("booking_patientconsent", "patient_id", "booking_patientconsent_patient_id_e956dd16"),
    ("booking_slot", "centre_id", "booking_slot_centre_id_1616f895"),
    ("booking_slot", "drive_id", "booking_slot_drive_id_ef929289"),
    ("booking_slot", "service_id", "booking_slot_service_id_8f1a8c13"),
    ("booking_slot", "template_id", "booking_slot_template_id_10aaf7a7"),
    ("booking_vaccinelot", "centre_id", "booking_vaccinelot_centre_id_adec8454"),
    ("booking_walkin", "centre_id", "booking_walkin_centre_id_4b2b6605"),
    ("booking_walkin", "patient_id", "booking_walkin_patient_id_9c52b5d9"),
    ("booking_walkincounter", "centre_id", "booking_walkincounter_centre_id_2bedb5b1"),
)


class Migration(migrations.Migration):
    dependencies = [
        ("booking", "0020_analyze_growing_tables_later"),
        ("clinics", "0010_keys_share_their_indexes"),
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
                    name="patient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="appointments",
                        to="booking.patient",
                        verbose_name="patient",
                    ),
                ),
                migrations.AlterField(
                    model_name="appointment",
                    name="slot",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="appointments",
                        to="booking.slot",
                        verbose_name="slot",
                    ),
                ),
                migrations.AlterField(
                    model_name="centredayfigures",
                    name="centre",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="clinics.healthcentre",
                        verbose_name="health centre",
                    ),
                ),
                migrations.AlterField(
                    model_name="partnerkeyuse",
                    name="key",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="uses",
                        to="booking.partnerkey",
                        verbose_name="key",
                    ),
                ),
                migrations.AlterField(
                    model_name="patientconsent",
                    name="patient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="consents",
                        to="booking.patient",
                        verbose_name="patient",
                    ),
                ),
                migrations.AlterField(
                    model_name="slot",
                    name="centre",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="slots",
                        to="clinics.healthcentre",
                        verbose_name="health centre",
                    ),
                ),
                migrations.AlterField(
                    model_name="slot",
                    name="drive",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="slots",
                        to="booking.vaccinationdrive",
                        verbose_name="vaccination drive",
                    ),
                ),
                migrations.AlterField(
                    model_name="slot",
                    name="service",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="slots",
                        to="clinics.service",
                        verbose_name="service",
                    ),
                ),
                migrations.AlterField(
                    model_name="slot",
                    name="template",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="slots",
                        to="clinics.scheduletemplate",
                        verbose_name="weekly schedule",
                    ),
                ),
                migrations.AlterField(
                    model_name="vaccinelot",
                    name="centre",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="vaccine_lots",
                        to="clinics.healthcentre",
                        verbose_name="health centre",
                    ),
                ),
                migrations.AlterField(
                    model_name="walkin",
                    name="centre",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="walk_ins",
                        to="clinics.healthcentre",
                        verbose_name="health centre",
                    ),
                ),
                migrations.AlterField(
                    model_name="walkin",
                    name="patient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="walk_ins",
                        to="booking.patient",
                        verbose_name="patient",
                    ),
                ),
                migrations.AlterField(
                    model_name="walkincounter",
                    name="centre",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="clinics.healthcentre",
                        verbose_name="health centre",
                    ),
                ),
            ],
        ),
    ]
