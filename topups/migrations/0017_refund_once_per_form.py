"""A refund form's one-time key: a double click on the confirmation had refunded twice (two refunds, two calls
to the gateway, each under its own idempotency key). The constraint is built concurrently on PostgreSQL."""

from django.db import migrations, models

from billing_center.migration_operations import AddUniqueConstraintOnline


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("topups", "0016_delivery_body_changed"),
    ]

    operations = [
        migrations.AddField(
            model_name="historicalrefund",
            name="request_key",
            field=models.CharField(blank=True, editable=False, max_length=64, verbose_name="request key"),
        ),
        migrations.AddField(
            model_name="refund",
            name="request_key",
            field=models.CharField(blank=True, editable=False, max_length=64, verbose_name="request key"),
        ),
        AddUniqueConstraintOnline(
            model_name="refund",
            constraint=models.UniqueConstraint(
                condition=models.Q(("request_key", ""), _negated=True),
                fields=("topup", "request_key"),
                name="refund_once_per_form",
            ),
        ),
    ]
