"""A partial index for the reconciliation sweep's open deposit payments (purpose deposit, status
created, by created_at): the sweep runs every 30 s and scanned every payment, orders' included."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0005_order_timeline_chain"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="payment",
            index=models.Index(
                condition=models.Q(("purpose", "deposit"), ("status", "created")),
                fields=["created_at"],
                name="mkt_payment_open_deposit_idx",
            ),
        ),
    ]
