"""No query looks messages up by recipient (the admin's search matches part of a number, which a
b-tree cannot), and every text a booking queues wrote an entry in that index: it is dropped."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0004_message_kind_record_moved"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="message",
            name="message_recipient",
        ),
    ]
