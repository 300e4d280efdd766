"""The customer's invoice list, newest first, a page at a time (billing_center.keyset)."""

from django.db import migrations, models

from billing_center.migration_operations import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("tickets", "0008_alter_historicaltransferticket_account_and_more"),
    ]

    operations = [
        AddIndexOnline(
            model_name="invoice",
            index=models.Index(fields=["account", "-issue_date", "-id"], name="invoice_account_recent"),
        ),
    ]
